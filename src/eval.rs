//! `w2v eval`: word-pair similarity and analogy benchmarks.
//!
//! Pair files: words in columns 1–2 and a human score in column 3, columns
//! separated by tabs, `;`, commas (double quotes group a field) or spaces:
//! the first of that list a line holds, commas only where they give three
//! columns (so `кот пес 7,5` is space-separated); `#` comments; an optional
//! header (a first line whose score is not a number). Scores may use a
//! decimal comma (`7,5`, usual in Russian data) wherever that is not
//! ambiguous: in a tab-, `;`- or space-separated line, in a quoted field,
//! or in a comma-separated file whose header has three columns, where
//! `а,б,7,5` can only be 7.5. Elsewhere `а,б,7,5` is refused as ambiguous.
//! Every line that is not a comment, a blank or the header and does not
//! give a pair with a finite score is reported by line number with the
//! reason ([`SkippedLine`]), and a file with no usable pair is an error.
//!
//! Words go through the model's query normalizer, with the settings its
//! corpus was prepared with (so Latin look-alikes in a file are repaired,
//! and ё is kept or folded as it was in the corpus). We report the Spearman
//! and Pearson correlations over the pairs whose words are both in the
//! vocabulary, and the coverage (found / total), as gensim's
//! `evaluate_word_pairs` does. A file with fewer than two such pairs, or
//! whose human scores (or the model's similarities) are all equal, has no
//! score: its [`PairScore`] says why (`unscored`), with `null` correlations
//! in JSON, never a NaN, so one such file among several does not hide the
//! scores of the others.
//!
//! Files are read as `prep` reads a document: UTF-8, windows-1251, KOI8-R
//! or UTF-16, decided from their bytes, with `\n`, `\r\n` or a lone `\r`
//! ending a line.
//!
//! Analogy files: the questions-words format, `: section` lines and
//! `a b c d` questions; accuracy per section and overall with 3CosAdd over
//! the `restrict` most frequent words, questions with an unknown word
//! skipped and counted, lines that are not four words reported by number.
//! A file with no well-formed question is an error; one whose questions all
//! have a word the model cannot answer for has no score (`unscored`).
//!
//! A corrupt model row met on the way (see [`crate::query`]) is an error,
//! not a skipped pair.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{invalid, io_err, Error, Result};
use crate::query::Model;
use crate::synth::Groups;

/// A line of an input file that was not used, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was not used.
    pub reason: String,
}

/// Result for one pair file.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairScore {
    pub file: PathBuf,
    /// `None` when fewer than two pairs could be scored (see `unscored`).
    pub spearman: Option<f64>,
    pub pearson: Option<f64>,
    pub found: usize,
    pub total: usize,
    pub coverage: f64,
    /// Lines that gave no pair.
    pub malformed: Vec<SkippedLine>,
    /// On a subword model (which covers every pair, out-of-vocabulary words
    /// composed from their n-grams): the score over the pairs whose words
    /// are both in the vocabulary, comparable with a word-level model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_vocab: Option<InVocabScore>,
    /// Why the file has no score: fewer than two of its pairs have vectors
    /// for both words, or one side of the correlation is constant. `null`
    /// in JSON when it has one.
    pub unscored: Option<String>,
}

/// The in-vocabulary part of a subword model's [`PairScore`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InVocabScore {
    /// `None` when fewer than two pairs have both words in the vocabulary.
    pub spearman: Option<f64>,
    pub found: usize,
}

/// The correlation of two series, or `None` below the two points it needs
/// or when either series is constant (0/0).
fn correlation(f: fn(&[f64], &[f64]) -> f64, x: &[f64], y: &[f64]) -> Option<f64> {
    Some(f(x, y)).filter(|r| x.len() >= 2 && r.is_finite())
}

/// Whether every value of `x` is the same (a correlation is undefined).
pub fn constant(x: &[f64]) -> bool {
    x.windows(2).all(|w| w[0] == w[1])
}

/// A score as a message shows it: as written when short (`6.15`, `10`),
/// in exponent form when plain digits would run long (`1e300`, not 301
/// digits).
pub fn score_text(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() > 16 {
        format!("{x:e}")
    } else {
        plain
    }
}

/// One line of a pair file: two words and the human similarity score.
#[derive(Clone, Debug, PartialEq)]
pub struct RatedPair {
    pub first: String,
    pub second: String,
    pub score: f64,
}

/// A parsed pair file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairFile {
    /// The usable pairs, in file order.
    pub pairs: Vec<RatedPair>,
    /// The header's line number, if the file has one.
    pub header: Option<usize>,
    /// What the header has where a score goes (for the error when the
    /// header is the only line).
    pub header_score: Option<String>,
    /// Lines that gave no pair.
    pub malformed: Vec<SkippedLine>,
}

/// Splits a comma-separated line, double quotes grouping a field (`""`
/// inside quotes is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("one field").push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("one field").push(ch),
        }
    }
    out
}

/// The fields of a pair-file line and whether it was comma-separated.
fn fields(line: &str) -> (Vec<String>, bool) {
    let own = |v: Vec<&str>| v.into_iter().map(|x| x.trim().to_string()).collect();
    if line.contains('\t') {
        (own(line.split('\t').collect()), false)
    } else if line.contains(';') {
        (own(line.split(';').collect()), false)
    } else if line.contains(',') && split_csv(line).len() >= 3 {
        let f = split_csv(line)
            .into_iter()
            .map(|x| x.trim().to_string())
            .collect();
        (f, true)
    } else {
        (own(line.split_whitespace().collect()), false)
    }
}

/// A score: a decimal point or a single decimal comma (`7,5`).
pub fn parse_score(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(x) = s.parse::<f64>() {
        return Some(x);
    }
    if s.matches(',').count() == 1 && !s.contains('.') {
        return s.replace(',', ".").parse().ok();
    }
    None
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a pair file (see the module docs for the format).
pub fn read_pairs(path: &Path) -> Result<PairFile> {
    let text = read_text(path, "read pairs file")?;
    let mut out = PairFile::default();
    let mut header_cols = 0;
    let mut seen_data = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut bad = |reason: String| {
            out.malformed.push(SkippedLine { line: n, reason });
        };
        let (cols, csv) = fields(line);
        if cols.len() < 3 {
            bad(format!(
                "{} column(s); expected two words and a score",
                cols.len()
            ));
            seen_data = true;
            continue;
        }
        let score = if csv && cols.len() == 4 && digits(&cols[2]) && digits(&cols[3]) {
            let joined = format!("{},{}", cols[2], cols[3]);
            if header_cols == 3 {
                parse_score(&joined)
            } else {
                bad(format!(
                    "ambiguous score '{joined}': a decimal comma in a comma-separated line; quote it (\"{joined}\") or separate the columns with tabs or ';'"
                ));
                seen_data = true;
                continue;
            }
        } else {
            parse_score(&cols[2])
        };
        let Some(score) = score else {
            if !seen_data && out.header.is_none() {
                // The first line whose score is not a number: the header.
                out.header = Some(n);
                out.header_score = Some(crate::error::shown(&cols[2]));
                header_cols = cols.len();
            } else {
                bad(format!("score '{}' is not a number", cols[2]));
            }
            seen_data = true;
            continue;
        };
        seen_data = true;
        if !score.is_finite() {
            bad(format!("score '{}' is not finite", cols[2]));
            continue;
        }
        if cols[0].is_empty() || cols[1].is_empty() {
            bad("an empty word".into());
            continue;
        }
        out.pairs.push(RatedPair {
            first: cols[0].clone(),
            second: cols[1].clone(),
            score,
        });
    }
    Ok(out)
}

/// The text of an eval file, read as `prep` reads a document (encoding
/// decided, line ends `\n`, `\r\n` or `\r`; [`crate::encoding::decode_text`]).
fn read_text(path: &Path, action: &'static str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(io_err(path, action))?;
    crate::encoding::decode_text(&bytes)
        .map(|(text, _)| text)
        .map_err(|why| invalid(path, why))
}

/// `n` lines of `skipped` as "line 3 (reason), line 7 (reason)", then how
/// many more.
pub fn summarize(skipped: &[SkippedLine], n: usize) -> String {
    let mut s: Vec<String> = skipped
        .iter()
        .take(n)
        .map(|l| format!("line {}: {}", l.line, l.reason))
        .collect();
    if skipped.len() > n {
        s.push(format!("and {} more", skipped.len() - n));
    }
    s.join("; ")
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

/// True for the query errors that mean "not in this model's vocabulary".
fn out_of_vocabulary(e: &Error) -> bool {
    matches!(e, Error::UnknownWord { .. } | Error::NotOneWord { .. })
}

/// Scores one pair file against `model`.
pub fn eval_pairs(model: &Model, path: &Path) -> Result<PairScore> {
    let file = read_pairs(path)?;
    score_pairs(path, &file, model.is_subword(), |a, b| {
        model.similarity_of(a, b)
    })
}

/// Refuses a pair file with no usable pair (before any scoring).
pub fn check_pair_file(path: &Path, file: &PairFile) -> Result<()> {
    if file.pairs.is_empty() {
        return Err(invalid(
            path,
            if let (true, Some(n), Some(score)) =
                (file.malformed.is_empty(), file.header, &file.header_score)
            {
                format!(
                    "holds no word pairs: its only line (line {n}) was read as a header, since '{score}' is not a number"
                )
            } else if file.malformed.is_empty() {
                "holds no word pairs".to_string()
            } else {
                format!(
                    "holds no usable word pair ({} malformed: {})",
                    file.malformed.len(),
                    summarize(&file.malformed, 3)
                )
            },
        ));
    }
    Ok(())
}

/// Scores the pairs of `file` (read from `path`) with `similarity`, the
/// cosine of two words as typed and whether both are in the vocabulary: a
/// query model's, or (`train --eval-pairs`) the weights of a running
/// training. A `subword` model also gets the in-vocabulary-only score. An unknown word
/// ([`Error::UnknownWord`], [`Error::NotOneWord`]) leaves its pair out;
/// any other error stops the scoring.
pub fn score_pairs(
    path: &Path,
    file: &PairFile,
    subword: bool,
    mut similarity: impl FnMut(&str, &str) -> Result<(f32, bool)>,
) -> Result<PairScore> {
    check_pair_file(path, file)?;
    let (mut human, mut ours) = (Vec::new(), Vec::new());
    let (mut human_iv, mut ours_iv) = (Vec::new(), Vec::new());
    for p in &file.pairs {
        match similarity(&p.first, &p.second) {
            Ok((sim, in_vocab)) => {
                human.push(p.score);
                ours.push(sim as f64);
                if in_vocab {
                    human_iv.push(p.score);
                    ours_iv.push(sim as f64);
                }
            }
            Err(e) if out_of_vocabulary(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let total = file.pairs.len();
    let (rho, r) = (
        correlation(spearman, &human, &ours),
        correlation(pearson, &human, &ours),
    );
    let unscored = if human.len() < 2 {
        Some(format!(
            "only {} of its {total} pairs {}; a correlation needs two",
            human.len(),
            if subword {
                "have vectors for both words"
            } else {
                "have both words in the model's vocabulary"
            }
        ))
    } else if constant(&human) {
        Some(format!(
            "the human scores of its {} scored pairs are all {}; a correlation needs them to differ",
            human.len(),
            score_text(human[0])
        ))
    } else if rho.is_none() || r.is_none() {
        Some(format!(
            "the model gives its {} scored pairs all the same similarity; a correlation needs them to differ",
            human.len()
        ))
    } else {
        None
    };
    Ok(PairScore {
        file: path.to_path_buf(),
        spearman: rho.filter(|_| unscored.is_none()),
        pearson: r.filter(|_| unscored.is_none()),
        found: human.len(),
        total,
        coverage: human.len() as f64 / total as f64,
        malformed: file.malformed.clone(),
        in_vocab: subword.then(|| InVocabScore {
            spearman: correlation(spearman, &human_iv, &ours_iv),
            found: human_iv.len(),
        }),
        unscored,
    })
}

/// Accuracy of one analogy section.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    pub name: String,
    pub correct: usize,
    pub total: usize,
    pub skipped: usize,
    /// `correct / total`; `None` when no question could be asked.
    pub accuracy: Option<f64>,
}

/// The result for one analogy file.
#[derive(Clone, Debug, Serialize)]
pub struct AnalogyScore {
    /// Accuracy per section; the last is the overall total.
    pub sections: Vec<Section>,
    /// Lines that are not a section header nor four words.
    pub malformed: Vec<SkippedLine>,
    /// Why the file has no score: every question has a word the model
    /// does not know (or, with `restrict`, a rarer one).
    pub unscored: Option<String>,
}

/// Evaluates a questions-words file.
pub fn eval_analogies(model: &Model, path: &Path, restrict: Option<usize>) -> Result<AnalogyScore> {
    let text = read_text(path, "read analogies file")?;
    let mut sections: Vec<Section> = Vec::new();
    let mut malformed = Vec::new();
    let new = |name: &str| Section {
        name: name.to_string(),
        correct: 0,
        total: 0,
        skipped: 0,
        accuracy: None,
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
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
            malformed.push(SkippedLine {
                line: i + 1,
                reason: format!("{} words; a question is four", w.len()),
            });
            continue;
        }
        let limit = restrict.unwrap_or(usize::MAX);
        let mut ids = Vec::with_capacity(4);
        for x in &w {
            match model.id(x) {
                Ok(i) if i < limit => ids.push(Some(i)),
                Ok(_) => ids.push(None),
                Err(e) if out_of_vocabulary(&e) => ids.push(None),
                Err(e) => return Err(e),
            }
        }
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
        all.correct += s.correct;
        all.total += s.total;
        all.skipped += s.skipped;
    }
    let (asked, skipped) = (all.total, all.skipped);
    sections.push(all);
    for s in &mut sections {
        s.accuracy = (s.total > 0).then(|| s.correct as f64 / s.total as f64);
    }
    if asked + skipped == 0 {
        let why = if malformed.is_empty() {
            "no question lines".to_string()
        } else {
            format!(
                "{} malformed line(s): {}",
                malformed.len(),
                summarize(&malformed, 3)
            )
        };
        return Err(invalid(
            path,
            format!("holds no question to evaluate ({why})"),
        ));
    }
    let unscored = (asked == 0).then(|| {
        let beyond = restrict
            .map(|n| format!(" or beyond the {n} most frequent words (--restrict)"))
            .unwrap_or_default();
        format!(
            "holds no question to evaluate: each of its {skipped} question(s) has a word outside the vocabulary{beyond}"
        )
    });
    Ok(AnalogyScore {
        sections,
        malformed,
        unscored,
    })
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
/// the matrix answers every query. Bands come out in file order. A file
/// (`path`) none of whose members the model knows is an error.
pub fn eval_groups(
    model: &Model,
    groups: &Groups,
    path: &std::path::Path,
    k: usize,
) -> Result<Vec<BandScore>> {
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
    if queries.is_empty() {
        let members: usize = bands.iter().map(|b| b.missing).sum();
        return Err(crate::error::invalid(
            path,
            format!("none of its {members} group members is in the model's vocabulary: nothing to evaluate"),
        ));
    }
    let vectors: Vec<Vec<f32>> = queries
        .iter()
        .map(|&i| model.unit(i))
        .collect::<Result<_>>()?;
    let exclude: Vec<Vec<usize>> = queries.iter().map(|&i| vec![i]).collect();
    let hits = model.nearest_many(&vectors, k, &exclude, None)?;
    for ((bi, topic), h) in meta.iter().zip(&hits) {
        let good = h.iter().filter(|x| topic.contains(&x.id)).count();
        bands[*bi].precision += good as f64 / k as f64;
        bands[*bi].queries += 1;
    }
    for b in &mut bands {
        b.precision /= b.queries.max(1) as f64;
    }
    Ok(bands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_in_messages_stay_short() {
        assert_eq!(score_text(6.15), "6.15");
        assert_eq!(score_text(10.0), "10");
        assert_eq!(score_text(-0.5), "-0.5");
        assert_eq!(score_text(1e300), "1e300");
        assert_eq!(score_text(-2.5e-200), "-2.5e-200");
        assert_eq!(score_text(123456789.0), "123456789");
    }

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
        let f = read_pairs(&p).unwrap();
        assert_eq!(f.pairs, vec![rated("а", "б", 1.5), rated("в", "г", 2.0)]);
        assert_eq!(f.header, Some(2));
        assert_eq!(f.malformed.len(), 1);
        assert_eq!(f.malformed[0].line, 5);
        let t = dir.path().join("p.tsv");
        std::fs::write(&t, "а\tб\t3\n").unwrap();
        assert_eq!(read_pairs(&t).unwrap().pairs.len(), 1);
    }

    #[test]
    fn decimal_commas_nan_scores_and_ambiguity() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.txt");
        let rows = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read_pairs(&p).unwrap()
        };
        // Tab, semicolon, space and quoted CSV: 7,5 is 7.5.
        let f = rows("а\tб\t7,5\nв;г;1,25\nд е 3,0\nж,з,\"0,5\"\n");
        let got: Vec<f64> = f.pairs.iter().map(|p| p.score).collect();
        assert_eq!(got, [7.5, 1.25, 3.0, 0.5]);
        assert!(f.malformed.is_empty() && f.header.is_none());
        // Comma-separated after a 3-column header: 7,5 is 7.5 too.
        let f = rows("w1,w2,score\nа,б,7,5\n");
        assert_eq!(f.pairs[0].score, 7.5);
        // Without a header it is ambiguous, and reported.
        let f = rows("а,б,7,5\nв,г,2\n");
        assert_eq!(f.pairs.len(), 1);
        assert_eq!(f.malformed[0].line, 1);
        assert!(
            f.malformed[0].reason.contains("ambiguous"),
            "{:?}",
            f.malformed
        );
        // NaN and infinite scores are malformed, with their lines.
        let f = rows("а\tб\tNaN\nв\tг\tinf\nд\tе\t1\nж\tз\tx\n");
        let lines: Vec<usize> = f.malformed.iter().map(|l| l.line).collect();
        assert_eq!(lines, [1, 2, 4]);
        assert!(f.malformed[0].reason.contains("not finite"));
        assert!(f.malformed[2].reason.contains("not a number"));
        assert_eq!(f.pairs.len(), 1);
    }
}
