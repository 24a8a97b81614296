//! `w2v similarity`: the cosine similarity of two words.

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;

use super::common::ModelArg;
use super::{json, out, Fail};

#[derive(Args)]
pub struct SimilarityArgs {
    pub a: String,
    pub b: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: SimilarityArgs, _p: &Progress) -> std::result::Result<(), Fail> {
    let m = Model::open(&a.model.model)?;
    let s = m.similarity(&a.a, &a.b)?;
    if a.json {
        json(&serde_json::json!({"a": a.a, "b": a.b, "similarity": s}))
    } else {
        out(&format!("{s:.4}"))
    }
}
