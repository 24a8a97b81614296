//! `w2v vector`: the vector of each word, as JSON lines (`word`, `oov`,
//! `vector`, and with `--ngrams` the word's n-grams and their buckets). On a
//! subword model an out-of-vocabulary word is composed from its n-grams.

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;

use super::common::ModelArg;
use super::{out, Fail};

#[derive(Args)]
pub struct VectorArgs {
    /// Query words.
    #[arg(required = true)]
    pub words: Vec<String>,
    /// Also list each word's n-grams and buckets (subword models).
    #[arg(long)]
    pub ngrams: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: VectorArgs, _p: &Progress) -> std::result::Result<(), Fail> {
    let m = Model::open(&a.model.model)?;
    for w in &a.words {
        let v = m.vector(w)?;
        let mut j = serde_json::json!({
            "query": w,
            "word": v.word,
            "oov": v.oov(),
            "vector": v.raw,
        });
        if a.ngrams {
            if let Some((cfg, _)) = m.model_dir().subwords() {
                j["ngrams"] = serde_json::json!(cfg.ngram_strings(&v.word));
            }
        }
        out(&j.to_string())?;
    }
    Ok(())
}
