//! `w2v import`: word2vec bin/text vectors into a model directory.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;

use super::Fail;

#[derive(Args)]
pub struct ImportArgs {
    /// word2vec .bin or .txt file. Words are kept exactly as spelled;
    /// queries find them as typed, else through the default normalizer.
    pub input: PathBuf,
    /// Model directory to write.
    #[arg(short, long, default_value = "model")]
    pub output: PathBuf,
    /// Replace a model already in the output directory.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: ImportArgs, p: &Progress) -> std::result::Result<(), Fail> {
    w2v::manifest::claim_model_dir(&a.output)?;
    if let (false, Some(m)) = (a.force, w2v::model::ModelDir::existing(&a.output)) {
        return Err(w2v::Error::InvalidInput {
            path: m,
            message: format!(
                "{} already holds a model; pass --force to replace it, or import into another directory",
                a.output.display()
            ),
        }
        .into());
    }
    let im = w2v::export::import(&a.input)?;
    // word2vec files record no normalization: queries use the default.
    w2v::model::ModelDir::write(
        &a.output,
        &w2v::model::ModelParts {
            producer: w2v::model::Producer::Import,
            words: &im.words,
            input: &im.data,
            output: None,
            dim: im.dim,
            normalize: Default::default(),
            normalize_source: w2v::normalize::NormalizeSource::Default,
            seed: 0,
            config: serde_json::json!({"source": a.input, "invalid_utf8": im.invalid_utf8}),
            inputs: vec![w2v::manifest::fingerprint(&a.input)?],
            summary: serde_json::json!({"vocab_size": im.words.len(), "dim": im.dim}),
        },
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
