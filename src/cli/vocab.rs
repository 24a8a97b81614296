//! `w2v vocab`: build only the vocabulary (and unigram table) and show the
//! top words.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::vocab::VocabConfig;

use super::{out, Fail};

#[derive(Args, Clone)]
pub struct VocabArgs {
    #[arg(long, default_value = "data/corpus.txt")]
    pub corpus: PathBuf,
    #[arg(long, default_value = "vocab")]
    pub vocab_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub min_count: u64,
    /// Keep at most N most frequent words (0 = all).
    #[arg(long, default_value_t = 0)]
    pub max_vocab: usize,
    /// Negative-sampling exponent.
    #[arg(long, default_value_t = 0.75)]
    pub ns_exponent: f64,
    /// Prune rare words when the count table passes this many types.
    #[arg(long, default_value_t = 30_000_000)]
    pub max_table_types: usize,
    /// Show this many top words.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not write vocab/corpus.ids (the corpus as ids, for `train --corpus`; about 4 bytes per token).
    #[arg(long)]
    pub no_corpus_ids: bool,
}

impl From<VocabArgs> for VocabConfig {
    fn from(a: VocabArgs) -> Self {
        VocabConfig {
            corpus: a.corpus,
            vocab_dir: a.vocab_dir,
            min_count: a.min_count,
            max_vocab: a.max_vocab,
            max_table_types: a.max_table_types,
            ns_exponent: a.ns_exponent,
            threads: a.threads,
            seed: a.seed,
            corpus_ids: !a.no_corpus_ids,
        }
    }
}

pub fn run(a: VocabArgs, p: &Progress) -> std::result::Result<(), Fail> {
    let top = a.top;
    super::common::warn_threads(a.threads, p);
    let cfg: VocabConfig = a.into();
    let (v, s) = w2v::vocab::run(&cfg, p)?;
    out(&format!(
        "{} types kept of {} ({} tokens, coverage {:.2}%), min_count {}",
        s.n_types_after,
        s.n_types_before,
        s.n_tokens,
        100.0 * s.coverage,
        cfg.min_count
    ))?;
    for (i, (w, c)) in v.words.iter().zip(&v.counts).take(top).enumerate() {
        out(&format!("{i:>6}  {w:<24} {c}"))?;
    }
    Ok(())
}
