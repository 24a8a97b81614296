//! `w2v neighbors`: nearest neighbours by cosine, for one word, a batch of
//! words (`-` reads them from stdin), or gensim-style `--positive`/`--negative`.

use std::io::{IsTerminal, Write};

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;
use w2v::Error;

use super::common::ModelArg;
use super::{json, print_hits, Fail};

#[derive(Args)]
pub struct NeighborsArgs {
    /// Query words; `-` reads one query per line from stdin.
    pub words: Vec<String>,
    #[arg(short, default_value_t = 10, value_parser = super::positive_count)]
    pub k: usize,
    /// gensim most_similar: words to add.
    #[arg(long, num_args = 1..)]
    pub positive: Vec<String>,
    /// gensim most_similar: words to subtract.
    #[arg(long, num_args = 1..)]
    pub negative: Vec<String>,
    /// Search only the N most frequent words.
    #[arg(long, value_parser = super::positive_count)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: NeighborsArgs, _p: &Progress) -> std::result::Result<(), Fail> {
    let m = Model::open(&a.model.model)?;
    if !a.positive.is_empty() || !a.negative.is_empty() {
        let hits = m.most_similar(&a.positive, &a.negative, a.k, a.restrict)?;
        return if a.json {
            json(&hits)
        } else {
            print_hits("most similar", &hits)
        };
    }
    let mut words = a.words.clone();
    let from_stdin = words.iter().any(|w| w == "-");
    if from_stdin && words.len() == 1 && !a.json && std::io::stdin().is_terminal() {
        // Typed at a terminal: answer each line as it comes.
        for line in std::io::stdin().lines() {
            let line = line.map_err(|e| Error::Io {
                path: "<stdin>".into(),
                action: "read queries from",
                source: e,
            })?;
            let w = line.trim();
            if !w.is_empty() {
                answer(&m, &[w.to_owned()], &a, true)?;
            }
        }
        return Ok(());
    }
    if from_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::Io {
            path: "<stdin>".into(),
            action: "read queries from",
            source: e,
        })?;
        words.retain(|w| w != "-");
        words.extend(
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    if words.is_empty() && from_stdin {
        return Err(Error::InvalidInput {
            path: "<stdin>".into(),
            message: "holds no queries (`neighbors -` reads one word per line)".into(),
        }
        .into());
    }
    if words.is_empty() {
        return Err(
            Error::InvalidConfig("neighbors needs a WORD, `-`, or --positive".into()).into(),
        );
    }
    // In batch mode unknown words are reported and skipped; alone, they fail.
    answer(&m, &words, &a, words.len() > 1)
}

/// Prints the neighbours of `words`, searched together. With `batch`, an
/// unknown word is a warning and is skipped; without, it is the error.
fn answer(
    m: &Model,
    words: &[String],
    a: &NeighborsArgs,
    batch: bool,
) -> std::result::Result<(), Fail> {
    // On a subword model an out-of-vocabulary word is composed from its
    // n-grams and marked `oov`.
    let mut ids = Vec::new();
    for w in words {
        match m.vector(w) {
            Ok(v) => ids.push((w.clone(), v)),
            Err(e) if batch => {
                let _ = writeln!(std::io::stderr(), "w2v: warning: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let queries: Vec<Vec<f32>> = ids.iter().map(|(_, v)| v.unit.clone()).collect();
    let exclude: Vec<Vec<usize>> = ids
        .iter()
        .map(|(_, v)| v.id.into_iter().collect())
        .collect();
    let hits = m.nearest_many(&queries, a.k, &exclude, a.restrict)?;
    if a.json {
        let v: Vec<_> = ids
            .iter()
            .zip(&hits)
            .map(|((w, v), h)| {
                let mut j = serde_json::json!({"query": w, "neighbors": h});
                if v.oov() {
                    j["oov"] = serde_json::Value::Bool(true);
                }
                j
            })
            .collect();
        return json(&v);
    }
    for ((w, v), h) in ids.iter().zip(&hits) {
        if v.oov() {
            print_hits(&format!("{w} (oov)"), h)?;
        } else {
            print_hits(w, h)?;
        }
    }
    Ok(())
}
