//! `w2v synth`: a synthetic Russian-like corpus with planted word groups.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::synth::SynthConfig;

use super::Fail;

#[derive(Args)]
pub struct SynthArgs {
    /// Output text file (the groups go to FILE.groups.json).
    #[arg(long, default_value = "data/sample.txt")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate size in bytes.
    #[arg(long, default_value_t = 4_000_000)]
    pub bytes: u64,
    #[arg(long, default_value_t = 40)]
    pub groups: usize,
    #[arg(long, default_value_t = 8)]
    pub group_size: usize,
}

impl From<SynthArgs> for SynthConfig {
    fn from(a: SynthArgs) -> Self {
        SynthConfig {
            out: a.out,
            seed: a.seed,
            bytes: a.bytes,
            n_groups: a.groups,
            group_size: a.group_size,
            ..Default::default()
        }
    }
}

pub fn run(a: SynthArgs, p: &Progress) -> std::result::Result<(), Fail> {
    let cfg: SynthConfig = a.into();
    let g = w2v::synth::generate(&cfg)?;
    p.info(&format!(
        "wrote {} and {} ({} groups)",
        cfg.out.display(),
        w2v::synth::groups_path(&cfg.out).display(),
        g.groups.len()
    ));
    Ok(())
}
