//! `w2v export`: the vectors as word2vec bin/text, .npy or a vocab TSV.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;

use super::common::ModelArg;
use super::Fail;

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: w2v::export::ExportFormat,
    /// The file to write; `-` writes to stdout (word2vec-text, word2vec-bin, vocab-tsv).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: ExportArgs, p: &Progress) -> std::result::Result<(), Fail> {
    let m = Model::open(&a.model.model)?;
    w2v::export::export(&m, a.format, &a.output)?;
    let to = if a.output.as_os_str() == "-" {
        "<stdout>".into()
    } else {
        a.output.display().to_string()
    };
    p.info(&format!("wrote {to} ({} words)", m.len()));
    Ok(())
}
