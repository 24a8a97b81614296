//! `w2v analogy`: A is to B as C is to ?

use clap::{Args, ValueEnum};

use w2v::progress::Progress;
use w2v::query::Model;

use super::common::ModelArg;
use super::{json, print_hits, Fail};

#[derive(Clone, Copy, ValueEnum)]
pub enum AnalogyMethod {
    #[value(name = "3cosadd")]
    CosAdd,
    #[value(name = "3cosmul")]
    CosMul,
}

#[derive(Args)]
pub struct AnalogyArgs {
    pub a: String,
    pub b: String,
    pub c: String,
    #[arg(short, default_value_t = 5, value_parser = super::positive_count)]
    pub k: usize,
    #[arg(long, value_enum, default_value = "3cosadd")]
    pub method: AnalogyMethod,
    #[arg(long, value_parser = super::positive_count)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: AnalogyArgs, _p: &Progress) -> std::result::Result<(), Fail> {
    let m = Model::open(&a.model.model)?;
    let mul = matches!(a.method, AnalogyMethod::CosMul);
    let hits = m.analogy(&a.a, &a.b, &a.c, a.k, mul, a.restrict)?;
    if a.json {
        json(&hits)
    } else {
        print_hits(&format!("{} : {} :: {} : ?", a.a, a.b, a.c), &hits)
    }
}
