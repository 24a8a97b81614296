//! `w2v import`: word2vec bin/text vectors into a model directory.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;

use super::Fail;

#[derive(Args)]
pub struct ImportArgs {
    /// word2vec .bin or .txt file.
    pub input: PathBuf,
    /// Model directory to write.
    #[arg(short, long, default_value = "model")]
    pub output: PathBuf,
}

pub fn run(a: ImportArgs, p: &Progress) -> std::result::Result<(), Fail> {
    let im = w2v::export::import(&a.input)?;
    w2v::query::write_model_dir(
        &a.output,
        &im.words,
        &im.data,
        im.dim,
        "import",
        serde_json::json!({"source": a.input, "invalid_utf8": im.invalid_utf8}),
    )?;
    p.info(&format!(
        "imported {} vectors of dim {} into {} ({} invalid UTF-8 sequences replaced)",
        im.words.len(),
        im.dim,
        a.output.display(),
        im.invalid_utf8
    ));
    Ok(())
}
