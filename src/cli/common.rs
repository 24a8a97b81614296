//! Args shared by several subcommands: the model directory and the
//! normalization flags.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use w2v::normalize::{HyphenMode, NormalizeConfig, NumberMode, YoMode};
use w2v::progress::Progress;

/// Warns when `--threads n` is past what [`w2v::parallel::threads`] uses.
pub fn warn_threads(n: usize, p: &Progress) {
    let used = w2v::parallel::threads(n);
    if n > used {
        p.warn(&format!(
            "--threads {n}: using {used} ({} per core at most; more only contend)",
            w2v::parallel::MAX_THREADS_PER_CORE
        ));
    }
}

#[derive(Args)]
pub struct ModelArg {
    /// Model directory.
    #[arg(long, default_value = "model")]
    pub model: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum YoArg {
    Fold,
    Keep,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum NumArg {
    Drop,
    Token,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum HyphenArg {
    Keep,
    Split,
}

/// Normalization flags shared by prep and the query commands.
#[derive(Args, Clone)]
pub struct NormArgs {
    /// ё handling.
    #[arg(long, value_enum, default_value = "fold")]
    pub yo: YoArg,
    /// Digits: drop them, or emit <num>.
    #[arg(long, value_enum, default_value = "drop")]
    pub numbers: NumArg,
    /// Intra-word hyphens (кто-то).
    #[arg(long, value_enum, default_value = "keep")]
    pub hyphens: HyphenArg,
    /// Do not repair Latin look-alike letters inside Cyrillic words.
    #[arg(long)]
    pub no_homoglyph_repair: bool,
    /// Drop tokens longer than this many characters.
    #[arg(long, default_value_t = 40)]
    pub max_token_chars: usize,
}

impl From<NormArgs> for NormalizeConfig {
    fn from(a: NormArgs) -> Self {
        NormalizeConfig {
            yo: match a.yo {
                YoArg::Fold => YoMode::Fold,
                YoArg::Keep => YoMode::Keep,
            },
            numbers: match a.numbers {
                NumArg::Drop => NumberMode::Drop,
                NumArg::Token => NumberMode::Token,
            },
            hyphens: match a.hyphens {
                HyphenArg::Keep => HyphenMode::Keep,
                HyphenArg::Split => HyphenMode::Split,
            },
            repair_homoglyphs: !a.no_homoglyph_repair,
            max_token_chars: a.max_token_chars,
        }
    }
}
