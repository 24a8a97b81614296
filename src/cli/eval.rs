//! `w2v eval`: word-pair similarity and analogy benchmarks.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;
use w2v::{Error, Result};

use super::common::ModelArg;
use super::{json, out, Fail};

#[derive(Args)]
pub struct EvalArgs {
    /// Word-pair files (TSV/CSV, score in column 3).
    #[arg(long, num_args = 1..)]
    pub pairs: Vec<PathBuf>,
    /// Analogy files (questions-words format).
    #[arg(long, num_args = 1..)]
    pub analogies: Vec<PathBuf>,
    /// Planted groups (`w2v synth`'s FILE.groups.json): precision@10 per
    /// frequency band.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// Analogies: search only the N most frequent words.
    #[arg(long, value_parser = super::positive_count)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: EvalArgs, p: &Progress) -> std::result::Result<(), Fail> {
    if a.pairs.is_empty() && a.analogies.is_empty() && a.groups.is_none() {
        return Err(Error::InvalidConfig(
            "eval needs --pairs FILE..., --analogies FILE... or --groups FILE".into(),
        )
        .into());
    }
    let m = Model::open(&a.model.model)?;
    // Every row is about to matter: check input.npy whole.
    m.model_dir().verify()?;
    let pairs: Vec<_> = a
        .pairs
        .iter()
        .map(|f| w2v::eval::eval_pairs(&m, f))
        .collect::<Result<_>>()?;
    let analogies: Vec<_> = a
        .analogies
        .iter()
        .map(|f| w2v::eval::eval_analogies(&m, f, a.restrict).map(|s| (f.clone(), s)))
        .collect::<Result<_>>()?;
    let groups = match &a.groups {
        Some(f) => Some((
            f.clone(),
            w2v::eval::eval_groups(&m, &w2v::synth::Groups::read(f)?, f, 10)?,
        )),
        None => None,
    };
    let skipped = pairs
        .iter()
        .map(|s| (&s.file, &s.malformed))
        .chain(analogies.iter().map(|(f, s)| (f, &s.malformed)));
    for (f, lines) in skipped.filter(|(_, l)| !l.is_empty()) {
        p.warn(&format!(
            "{}: skipped {} malformed line(s): {}",
            f.display(),
            lines.len(),
            w2v::eval::summarize(lines, 10)
        ));
    }
    // A file the model cannot score (too few pairs with vectors, scores
    // all equal, no question it can answer) is reported beside the others;
    // only when nothing at all was scored is that an error.
    let unscored: Vec<(&PathBuf, &String)> = pairs
        .iter()
        .filter_map(|s| s.unscored.as_ref().map(|u| (&s.file, u)))
        .chain(
            analogies
                .iter()
                .filter_map(|(f, s)| s.unscored.as_ref().map(|u| (f, u))),
        )
        .collect();
    if groups.is_none() && unscored.len() == pairs.len() + analogies.len() {
        // One line: the first file as the error's path, then the others.
        let (first, why) = unscored[0];
        let mut message = why.clone();
        for (f, u) in &unscored[1..] {
            message.push_str(&format!("; {}: {u}", f.display()));
        }
        return Err(w2v::error::invalid(first, message).into());
    }
    if a.json {
        for (f, u) in &unscored {
            p.warn(&format!("{}: not scored: {u}", f.display()));
        }
        return json(
            &serde_json::json!({"pairs": pairs, "analogies": analogies.iter().map(|(f, s)| serde_json::json!({"file": f, "sections": s.sections, "malformed": s.malformed, "unscored": s.unscored})).collect::<Vec<_>>(), "groups": groups.as_ref().map(|(_, b)| b)}),
        );
    }
    if let Some((f, bands)) = &groups {
        for b in bands {
            out(&format!(
                "{} [{}]: precision@10 {:.4} over {} members ({} not in vocabulary)",
                f.display(),
                b.band,
                b.precision,
                b.queries,
                b.missing
            ))?;
        }
    }
    let num = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.4}"));
    for s in &pairs {
        if let Some(u) = &s.unscored {
            out(&format!("{}: not scored: {u}", s.file.display()))?;
            continue;
        }
        out(&format!(
            "{}: spearman {} pearson {} coverage {}/{} ({:.1}%)",
            s.file.display(),
            num(s.spearman),
            num(s.pearson),
            s.found,
            s.total,
            100.0 * s.coverage
        ))?;
        if let Some(iv) = &s.in_vocab {
            out(&format!(
                "{}: in-vocabulary spearman {} over {}/{}",
                s.file.display(),
                num(iv.spearman),
                iv.found,
                s.total
            ))?;
        }
    }
    for (f, score) in &analogies {
        if let Some(u) = &score.unscored {
            out(&format!("{}: not scored: {u}", f.display()))?;
            continue;
        }
        for s in &score.sections {
            out(&format!(
                "{} [{}]: {}/{} = {} ({} skipped)",
                f.display(),
                s.name,
                s.correct,
                s.total,
                num(s.accuracy),
                s.skipped
            ))?;
        }
    }
    Ok(())
}
