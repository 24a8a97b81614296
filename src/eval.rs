//! `w2v eval`: word-pair similarity and analogy benchmarks.
//!
//! Pair files: TSV or CSV, with or without a header, `#` comments, words in
//! columns 1–2 and a human score in column 3. Words go through the model's
//! query normalizer, with the settings its corpus was prepared with (so
//! Latin look-alikes in a file are repaired, and ё is kept or folded as it
//! was in the corpus). We report the Spearman and Pearson correlations over
//! the pairs whose words are both in the vocabulary, and the coverage
//! (found / total), as gensim's `evaluate_word_pairs` does.
//!
//! Analogy files: the questions-words format, `: section` lines and
//! `a b c d` questions; accuracy per section and overall with 3CosAdd over
//! the `restrict` most frequent words, questions with an unknown word skipped.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{io_err, Result};
use crate::query::Model;
use crate::synth::Groups;

/// Result for one pair file.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairScore {
    pub file: PathBuf,
    pub spearman: f64,
    pub pearson: f64,
    pub found: usize,
    pub total: usize,
    pub coverage: f64,
}

/// One line of a pair file: two words and the human similarity score.
#[derive(Clone, Debug, PartialEq)]
pub struct RatedPair {
    pub first: String,
    pub second: String,
    pub score: f64,
}

/// Parses a pair file.
pub fn read_pairs(path: &Path) -> Result<Vec<RatedPair>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read pairs file"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = if line.contains('\t') {
            line.split('\t').collect()
        } else {
            line.split(',').collect()
        };
        if cols.len() < 3 {
            continue;
        }
        // A header (or any row whose score is not a number) is skipped.
        if let Ok(score) = cols[2].trim().parse::<f64>() {
            out.push(RatedPair {
                first: cols[0].trim().to_string(),
                second: cols[1].trim().to_string(),
                score,
            });
        }
    }
    Ok(out)
}

/// Pearson correlation.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Average ranks (ties share the mean rank), 1-based.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman correlation (Pearson of average ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Scores one pair file against `model`.
pub fn eval_pairs(model: &Model, path: &Path) -> Result<PairScore> {
    let pairs = read_pairs(path)?;
    let (mut human, mut ours) = (Vec::new(), Vec::new());
    for p in &pairs {
        if let Ok(sim) = model.similarity(&p.first, &p.second) {
            human.push(p.score);
            ours.push(sim as f64);
        }
    }
    Ok(PairScore {
        file: path.to_path_buf(),
        spearman: spearman(&human, &ours),
        pearson: pearson(&human, &ours),
        found: human.len(),
        total: pairs.len(),
        coverage: human.len() as f64 / pairs.len().max(1) as f64,
    })
}

/// Accuracy of one analogy section.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    pub name: String,
    pub correct: usize,
    pub total: usize,
    pub skipped: usize,
    pub accuracy: f64,
}

/// Evaluates a questions-words file; the last section is the overall total.
pub fn eval_analogies(model: &Model, path: &Path, restrict: Option<usize>) -> Result<Vec<Section>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read analogies file"))?;
    let mut sections: Vec<Section> = Vec::new();
    let new = |name: &str| Section {
        name: name.to_string(),
        correct: 0,
        total: 0,
        skipped: 0,
        accuracy: 0.0,
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix(':') {
            sections.push(new(name.trim()));
            continue;
        }
        if sections.is_empty() {
            sections.push(new("default"));
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let sec = sections.last_mut().expect("a section exists");
        if w.len() != 4 {
            sec.skipped += 1;
            continue;
        }
        let limit = restrict.unwrap_or(usize::MAX);
        let ids: Vec<Option<usize>> = w
            .iter()
            .map(|x| model.id(x).ok().filter(|&i| i < limit))
            .collect();
        if ids.iter().any(Option::is_none) {
            sec.skipped += 1;
            continue;
        }
        sec.total += 1;
        let hits = model.analogy(w[0], w[1], w[2], 1, false, restrict)?;
        if hits.first().map(|h| Some(h.id)) == Some(ids[3]) {
            sec.correct += 1;
        }
    }
    let mut all = new("total");
    for s in &mut sections {
        s.accuracy = s.correct as f64 / s.total.max(1) as f64;
        all.correct += s.correct;
        all.total += s.total;
        all.skipped += s.skipped;
    }
    all.accuracy = all.correct as f64 / all.total.max(1) as f64;
    sections.push(all);
    Ok(sections)
}

/// Precision@k of planted groups in one frequency band.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BandScore {
    /// `frequent`, `mid`, `rare`, or `all` for groups without a band.
    pub band: String,
    /// Mean over queries of (topic words among the k nearest) / k.
    pub precision: f64,
    /// Members queried (those in the vocabulary).
    pub queries: usize,
    /// Members not in the vocabulary.
    pub missing: usize,
}

/// Scores planted groups (`w2v synth`'s `FILE.groups.json`): each member in
/// the vocabulary is a query, and a neighbour counts when it belongs to the
/// member's topic (its group's members and context words). One pass over
/// the matrix answers every query. Bands come out in file order.
pub fn eval_groups(model: &Model, groups: &Groups, k: usize) -> Vec<BandScore> {
    let mut queries = Vec::new();
    let mut meta: Vec<(usize, Vec<usize>)> = Vec::new(); // (band index, topic ids)
    let mut bands: Vec<BandScore> = Vec::new();
    for g in &groups.groups {
        let name = g.band.clone().unwrap_or_else(|| "all".into());
        let bi = match bands.iter().position(|b| b.band == name) {
            Some(i) => i,
            None => {
                bands.push(BandScore {
                    band: name,
                    precision: 0.0,
                    queries: 0,
                    missing: 0,
                });
                bands.len() - 1
            }
        };
        let topic: Vec<usize> = g.topic().iter().filter_map(|w| model.id_exact(w)).collect();
        for m in &g.members {
            match model.id_exact(m) {
                Some(id) => {
                    queries.push(id);
                    meta.push((bi, topic.clone()));
                }
                None => bands[bi].missing += 1,
            }
        }
    }
    let vectors: Vec<Vec<f32>> = queries.iter().map(|&i| model.unit(i)).collect();
    let exclude: Vec<Vec<usize>> = queries.iter().map(|&i| vec![i]).collect();
    let hits = model.nearest_many(&vectors, k, &exclude, None);
    for ((bi, topic), h) in meta.iter().zip(&hits) {
        let good = h.iter().filter(|x| topic.contains(&x.id)).count();
        bands[*bi].precision += good as f64 / k as f64;
        bands[*bi].queries += 1;
    }
    for b in &mut bands {
        b.precision /= b.queries.max(1) as f64;
    }
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_against_hand_computed_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        // Spearman = 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*4/120 = 0.8.
        assert!((spearman(&x, &y) - 0.8).abs() < 1e-12);
        assert!((pearson(&x, &y) - 0.8).abs() < 1e-12);
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]) - 0.9933992677987828).abs() < 1e-12);
    }

    #[test]
    fn pair_files_with_headers_comments_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.csv");
        std::fs::write(&p, "# comment\nword1,word2,sim\nа,б,1.5\nв,г,2\nbad line\n").unwrap();
        let rated = |first: &str, second: &str, score| RatedPair {
            first: first.into(),
            second: second.into(),
            score,
        };
        assert_eq!(
            read_pairs(&p).unwrap(),
            vec![rated("а", "б", 1.5), rated("в", "г", 2.0)]
        );
        let t = dir.path().join("p.tsv");
        std::fs::write(&t, "а\tб\t3\n").unwrap();
        assert_eq!(read_pairs(&t).unwrap().len(), 1);
    }
}
