//! `w2v synth`: a synthetic Russian-like corpus with planted word groups.
//!
//! Without `--tokens` it writes the small topical sample (`--bytes`); with
//! `--tokens N` the Taiga-sized corpus with Zipf–Mandelbrot frequencies.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::synth::law::LawConfig;
use w2v::synth::SynthConfig;

use super::Fail;

#[derive(Args)]
pub struct SynthArgs {
    /// Output text file (the groups go beside it: `data/sample.txt` gives `data/sample.groups.json`).
    #[arg(long, default_value = "data/sample.txt")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate size in bytes (the small sample; ignored with --tokens).
    #[arg(long, default_value_t = 4_000_000)]
    pub bytes: u64,
    /// Write a Taiga-like corpus of N tokens with Zipf–Mandelbrot word
    /// frequencies and planted groups in three frequency bands.
    #[arg(long)]
    pub tokens: Option<u64>,
    /// With --tokens: number of word types in the law (the Taiga fit keeps
    /// about 2.5M at min_count 5 from 5B tokens; 2,800,000 keeps 2.5M from 1B).
    #[arg(long, default_value_t = LawConfig::default().types)]
    pub types: u64,
    /// With --tokens: the law's exponent s in p(r) ∝ (r + q)^-s.
    #[arg(long, default_value_t = LawConfig::default().s)]
    pub zipf_s: f64,
    /// With --tokens: the law's shift q.
    #[arg(long, default_value_t = LawConfig::default().q)]
    pub zipf_q: f64,
    /// Planted groups (per frequency band with --tokens). By default, 40
    /// (20 per band with --tokens).
    #[arg(long)]
    pub groups: Option<usize>,
    /// Words per planted group. By default, 8 (11 with --tokens).
    #[arg(long)]
    pub group_size: Option<usize>,
}

pub fn run(a: SynthArgs, p: &Progress) -> std::result::Result<(), Fail> {
    if let Some(tokens) = a.tokens {
        let d = LawConfig::default();
        let cfg = LawConfig {
            out: a.out,
            seed: a.seed,
            tokens,
            types: a.types,
            s: a.zipf_s,
            q: a.zipf_q,
            groups_per_band: a.groups.unwrap_or(d.groups_per_band),
            group_size: a.group_size.unwrap_or(d.group_size),
        };
        let (_, sum) = w2v::synth::law::generate(&cfg, p)?;
        p.info(&format!(
            "wrote {} ({} tokens, {} lines, {:.2} GB; expected vocabulary {:.0} types, {:.0} at min_count 5) and {}",
            cfg.out.display(),
            sum.tokens,
            sum.lines,
            sum.bytes as f64 / 1e9,
            sum.expected_types_seen,
            sum.expected_types_min5,
            w2v::synth::groups_path(&cfg.out).display(),
        ));
        return Ok(());
    }
    let d = SynthConfig::default();
    let cfg = SynthConfig {
        out: a.out,
        seed: a.seed,
        bytes: a.bytes,
        n_groups: a.groups.unwrap_or(d.n_groups),
        group_size: a.group_size.unwrap_or(d.group_size),
        ..d
    };
    let g = w2v::synth::generate(&cfg)?;
    p.info(&format!(
        "wrote {} and {} ({} groups)",
        cfg.out.display(),
        w2v::synth::groups_path(&cfg.out).display(),
        g.groups.len()
    ));
    Ok(())
}
