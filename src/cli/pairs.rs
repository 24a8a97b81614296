//! `w2v pairs`: the vocabulary, the unigram table and the (target, context)
//! shards.

use std::path::PathBuf;

use clap::Args;

use w2v::pairs::PairsConfig;
use w2v::progress::Progress;

use super::vocab::VocabArgs;
use super::Fail;

#[derive(Args)]
pub struct PairsArgs {
    #[command(flatten)]
    pub vocab: VocabArgs,
    #[arg(long, default_value = "shards")]
    pub shards_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    /// Use the full window for every token instead of a radius uniform in 1..=window.
    #[arg(long)]
    pub no_dynamic_window: bool,
    /// Subsampling threshold (0 keeps every token).
    #[arg(long, default_value_t = 1e-3)]
    pub sample: f64,
    /// Independent draws to write, one per training epoch.
    #[arg(long, default_value_t = 5)]
    pub epochs: u32,
    #[arg(long, default_value_t = 50_000_000)]
    pub shard_size: u64,
    /// Shuffle the rows within each shard (seeded).
    #[arg(long)]
    pub shuffle: bool,
    /// Replace existing shards (the new set is built beside the old one and
    /// swapped in only when complete).
    #[arg(long)]
    pub force: bool,
}

impl From<PairsArgs> for PairsConfig {
    fn from(a: PairsArgs) -> Self {
        let (threads, seed) = (a.vocab.threads, a.vocab.seed);
        PairsConfig {
            vocab: a.vocab.into(),
            shards_dir: a.shards_dir,
            window: a.window,
            dynamic_window: !a.no_dynamic_window,
            sample: a.sample,
            epochs: a.epochs,
            shard_size: a.shard_size,
            shuffle: a.shuffle,
            force: a.force,
            threads,
            seed,
        }
    }
}

pub fn run(a: PairsArgs, p: &Progress) -> std::result::Result<(), Fail> {
    super::common::warn_threads(a.vocab.threads, p);
    let cfg: PairsConfig = a.into();
    let s = w2v::pairs::run(&cfg, p)?;
    p.info(&format!(
        "pairs: {} pairs in {} draws, {} shards, {:.2} bytes/pair, {:.1}M pairs/s; wrote {}",
        s.total_pairs,
        s.n_draws,
        s.shards.len(),
        s.bytes_per_pair,
        s.pairs_per_s / 1e6,
        cfg.shards_dir.display()
    ));
    Ok(())
}
