//! `w2v prep`: raw text in, one normalized sentence per line out.

use std::path::PathBuf;

use clap::Args;

use w2v::corpus::{Format, ReadConfig};
use w2v::encoding::EncodingChoice;
use w2v::prep::PrepConfig;
use w2v::progress::Progress;

use super::common::NormArgs;
use super::Fail;

#[derive(Args)]
pub struct PrepArgs {
    /// Files, directories (walked recursively) or `-` for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The corpus to write (its manifest goes beside it); `-` writes the
    /// corpus to stdout, without a manifest.
    #[arg(short, long, default_value = "data/corpus.txt")]
    pub output: PathBuf,
    /// Force a format: text, jsonl, parquet, tar, zip, conllu.
    #[arg(long)]
    pub format: Option<Format>,
    /// JSONL field with the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Parquet column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Drop documents whose letters are less Cyrillic than this (e.g. 0.5 for Taiga Subtitles).
    #[arg(long, default_value_t = 0.0)]
    pub min_cyrillic_share: f32,
    /// Skip archive entries whose path matches this regex.
    #[arg(long)]
    pub skip_pattern: Option<String>,
    /// Text encoding: auto (decided per file by content), utf-8, cp1251, koi8-r or utf-16.
    #[arg(long, default_value = "auto")]
    pub encoding: EncodingChoice,
    /// Keep files with more than 1% invalid UTF-8 (replaced by U+FFFD) instead of refusing them.
    #[arg(long)]
    pub allow_invalid: bool,
    /// Drop output lines with fewer tokens.
    #[arg(long, default_value_t = 1)]
    pub min_tokens: usize,
    #[command(flatten)]
    pub norm: NormArgs,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl From<PrepArgs> for PrepConfig {
    fn from(a: PrepArgs) -> Self {
        PrepConfig {
            inputs: a.inputs,
            output: a.output,
            read: ReadConfig {
                format: a.format,
                text_field: a.text_field,
                text_column: a.text_column,
                min_cyrillic_share: a.min_cyrillic_share,
                skip_pattern: a.skip_pattern,
                encoding: a.encoding,
                allow_invalid: a.allow_invalid,
                ..Default::default()
            },
            normalize: a.norm.into(),
            min_tokens: a.min_tokens,
            threads: a.threads,
            seed: a.seed,
        }
    }
}

/// The warning for documents kept with invalid UTF-8: which, and why they
/// were kept.
fn invalid_warning(r: &w2v::corpus::ReadStats, allowed: bool) -> String {
    let listed: Vec<String> = r
        .invalid_files
        .iter()
        .take(3)
        .map(|(f, n)| format!("{f} ({n})"))
        .collect();
    let others = r.invalid_files.len().saturating_sub(listed.len());
    let more = match (
        others,
        r.invalid_files.len() >= w2v::corpus::INVALID_FILES_LISTED,
    ) {
        (0, _) => String::new(),
        (n, false) => format!(" and {n} more"),
        (_, true) => " and more".to_string(),
    };
    let why = if allowed {
        "kept by --allow-invalid".to_string()
    } else {
        format!(
            "kept: a document is refused only when it has {} or more and they are over {}% of its bytes",
            w2v::encoding::MIN_INVALID_TO_REFUSE,
            100.0 * w2v::encoding::MAX_INVALID_SHARE
        )
    };
    format!(
        "prep: {} invalid UTF-8 sequences were replaced by U+FFFD in {}{more} ({why})",
        r.invalid_utf8,
        listed.join(", ")
    )
}

pub fn run(a: PrepArgs, p: &Progress) -> std::result::Result<(), Fail> {
    super::common::warn_threads(a.threads, p);
    let cfg: PrepConfig = a.into();
    let s = w2v::prep::run(&cfg, p)?;
    for (enc, n) in &s.read.decoded {
        p.info(&format!("prep: decoded {n} document(s) from {enc}"));
    }
    if s.read.invalid_utf8 > 0 {
        p.warn(&invalid_warning(&s.read, cfg.read.allow_invalid));
    }
    p.info(&format!(
        "prep: {} lines, {} tokens from {:.1} MB in {:.1}s ({:.1} MB/s); {} invalid UTF-8 sequences replaced; wrote {}",
        s.lines_out,
        s.tokens_out,
        s.read.bytes_in as f64 / 1e6,
        s.elapsed_s,
        s.mb_per_s,
        s.read.invalid_utf8,
        if cfg.output.as_os_str() == "-" {
            "<stdout>".into()
        } else {
            cfg.output.display().to_string()
        }
    ));
    Ok(())
}
