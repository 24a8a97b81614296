//! Queries on a trained model: `neighbors`, `similarity`, `analogy`.
//!
//! In: a model directory (`input.npy`, `norms.npy`, `words.txt`, found
//! through `manifest.json`). Nothing is parsed at start-up: the matrix and the
//! word list are memory-mapped, a word is found by searching the mapped list,
//! and norms were computed at save time. Queries go through the same
//! [`Normalizer`] as `prep`, so `Ёлка`, `елка` and `ЕЛКА` are one word.
//!
//! Top-k is a bounded heap over SIMD dot products with a deterministic
//! tie-break (higher score first, then lower id). Several queries are
//! answered in one pass over the matrix.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;
use serde::Serialize;

use crate::embeddings::NpyMatrix;
use crate::error::{io_err, Error, Result};
use crate::manifest::Manifest;
use crate::normalize::Normalizer;
use crate::simd::Kernels;

/// A loaded (mapped) model.
pub struct Model {
    /// The word vectors.
    pub vectors: NpyMatrix,
    norms: NpyMatrix,
    words: Mmap,
    line_starts: std::sync::OnceLock<Vec<usize>>,
    normalizer: Normalizer,
    kernels: Kernels,
}

/// One answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hit {
    pub word: String,
    pub id: usize,
    pub score: f32,
}

#[derive(PartialEq)]
struct Scored(f32, usize);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    /// "Greater" = better: higher score, then lower id. The heap keeps the
    /// worst on top by storing `Reverse`.
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

impl Model {
    /// Opens `dir` (a model directory with `manifest.json` from `train` or `import`).
    pub fn open(dir: &Path) -> Result<Model> {
        // Either stage's manifest marks a complete model directory.
        Manifest::read(dir, "train").or_else(|_| Manifest::read(dir, "import"))?;
        let vectors = NpyMatrix::open(&dir.join("input.npy"))?;
        let norms = NpyMatrix::open(&dir.join("norms.npy"))?;
        let wpath = dir.join("words.txt");
        let f = std::fs::File::open(&wpath).map_err(io_err(&wpath, "open word list"))?;
        // SAFETY: read-only map of a file written once, atomically.
        let words = unsafe { Mmap::map(&f) }.map_err(io_err(&wpath, "map word list"))?;
        if norms.rows() != vectors.rows() {
            return Err(Error::Mismatch {
                path: dir.join("norms.npy"),
                message: format!(
                    "has {} rows, input.npy has {}",
                    norms.rows(),
                    vectors.rows()
                ),
            });
        }
        Ok(Model {
            vectors,
            norms,
            words,
            line_starts: std::sync::OnceLock::new(),
            normalizer: Normalizer::default(),
            kernels: Kernels::detect(),
        })
    }

    /// Uses `n` for queries instead of the default normalization.
    pub fn with_normalizer(mut self, n: Normalizer) -> Self {
        self.normalizer = n;
        self
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.vectors.rows()
    }

    /// True when the model is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let mut v = vec![0usize];
            v.extend(memchr::memchr_iter(b'\n', &self.words).map(|i| i + 1));
            v.pop();
            v
        })
    }

    /// The word of id `i`.
    pub fn word(&self, i: usize) -> &str {
        let s = self.starts()[i];
        let e = memchr::memchr(b'\n', &self.words[s..])
            .map(|k| s + k)
            .unwrap_or(self.words.len());
        std::str::from_utf8(&self.words[s..e]).unwrap_or("\u{FFFD}")
    }

    /// Id of an already-normalized word, by searching the mapped list.
    pub fn id_exact(&self, w: &str) -> Option<usize> {
        let data: &[u8] = &self.words;
        let wb = w.as_bytes();
        if wb.is_empty() || wb.contains(&b'\n') {
            return None;
        }
        let mut pat = Vec::with_capacity(wb.len() + 2);
        pat.push(b'\n');
        pat.extend_from_slice(wb);
        pat.push(b'\n');
        let pos = if data.starts_with(&pat[1..]) {
            Some(0)
        } else {
            memchr::memmem::find(data, &pat).map(|p| p + 1)
        }?;
        Some(memchr::memchr_iter(b'\n', &data[..pos]).count())
    }

    /// Normalizes `q` and looks it up; unknown words give suggestions.
    pub fn id(&self, q: &str) -> Result<usize> {
        let norm = self.normalizer.normalize_query(q).unwrap_or_default();
        self.id_exact(&norm).ok_or_else(|| Error::UnknownWord {
            word: q.to_string(),
            suggestions: self.suggest(&norm, 5),
        })
    }

    /// The closest spellings by edit distance (frequent words first on ties).
    pub fn suggest(&self, w: &str, n: usize) -> Vec<String> {
        if w.is_empty() {
            return Vec::new();
        }
        let target: Vec<char> = w.chars().collect();
        let limit = (target.len() / 3).max(1);
        let text = std::str::from_utf8(&self.words).unwrap_or("");
        let mut scored: Vec<(usize, usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, c)| c.chars().count().abs_diff(target.len()) <= limit)
            .filter_map(|(i, c)| {
                let d = edit_distance(&target, c);
                (d <= limit).then_some((d, i, c))
            })
            .collect();
        scored.sort();
        scored
            .into_iter()
            .take(n)
            .map(|(_, _, c)| c.to_string())
            .collect()
    }

    /// Unit vector of id `i`.
    pub fn unit(&self, i: usize) -> Vec<f32> {
        let n = self.norms.data()[i].max(1e-12);
        self.vectors.row(i).iter().map(|x| x / n).collect()
    }

    /// Cosine similarity of two words.
    pub fn similarity(&self, a: &str, b: &str) -> Result<f32> {
        let (ia, ib) = (self.id(a)?, self.id(b)?);
        Ok((self.kernels.dot)(&self.unit(ia), &self.unit(ib)))
    }

    /// Top-`k` rows by cosine to each query vector, in one pass over the
    /// matrix (split across threads). `exclude[q]` ids are skipped;
    /// `restrict` limits the search to the first N (most frequent) rows.
    pub fn nearest_many(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        exclude: &[Vec<usize>],
        restrict: Option<usize>,
    ) -> Vec<Vec<Hit>> {
        let rows = restrict.unwrap_or(usize::MAX).min(self.len());
        let dim = self.vectors.cols();
        let data = self.vectors.data();
        let norms = self.norms.data();
        let dot = self.kernels.dot;
        let chunk = 16_384;
        let heaps: Vec<Vec<BinaryHeap<std::cmp::Reverse<Scored>>>> = (0..rows.div_ceil(chunk))
            .into_par_iter()
            .map(|ci| {
                let mut hs: Vec<BinaryHeap<std::cmp::Reverse<Scored>>> = queries
                    .iter()
                    .map(|_| BinaryHeap::with_capacity(k + 1))
                    .collect();
                for r in ci * chunk..((ci + 1) * chunk).min(rows) {
                    let row = &data[r * dim..(r + 1) * dim];
                    let inv = 1.0 / norms[r].max(1e-12);
                    for (qi, q) in queries.iter().enumerate() {
                        if exclude.get(qi).is_some_and(|e| e.contains(&r)) {
                            continue;
                        }
                        let s = Scored(dot(q, row) * inv, r);
                        let h = &mut hs[qi];
                        if h.len() < k {
                            h.push(std::cmp::Reverse(s));
                        } else if let Some(top) = h.peek() {
                            if s > top.0 {
                                h.pop();
                                h.push(std::cmp::Reverse(s));
                            }
                        }
                    }
                }
                hs
            })
            .collect();
        (0..queries.len())
            .map(|qi| {
                let mut all: Vec<Scored> = heaps
                    .iter()
                    .flat_map(|hs| hs[qi].iter().map(|r| Scored(r.0 .0, r.0 .1)))
                    .collect();
                all.sort_by(|a, b| b.cmp(a));
                all.truncate(k);
                all.into_iter()
                    .map(|s| Hit {
                        word: self.word(s.1).to_string(),
                        id: s.1,
                        score: s.0,
                    })
                    .collect()
            })
            .collect()
    }

    /// gensim `most_similar`: mean of unit vectors of `positive` minus those
    /// of `negative`, query words excluded.
    pub fn most_similar(
        &self,
        positive: &[String],
        negative: &[String],
        k: usize,
        restrict: Option<usize>,
    ) -> Result<Vec<Hit>> {
        let mut q = vec![0f32; self.vectors.cols()];
        let mut ex = Vec::new();
        for (words, sign) in [(positive, 1.0f32), (negative, -1.0)] {
            for w in words {
                let i = self.id(w)?;
                ex.push(i);
                (self.kernels.axpy)(&mut q, sign, &self.unit(i));
            }
        }
        let n = q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        q.iter_mut().for_each(|x| *x /= n);
        Ok(self.nearest_many(&[q], k, &[ex], restrict).remove(0))
    }

    /// A is to B as C is to ?: 3CosAdd (`b − a + c`) or 3CosMul (Levy &
    /// Goldberg 2014, cosines shifted to [0, 1], ε = 1e-3).
    pub fn analogy(
        &self,
        a: &str,
        b: &str,
        c: &str,
        k: usize,
        mul: bool,
        restrict: Option<usize>,
    ) -> Result<Vec<Hit>> {
        if !mul {
            return self.most_similar(
                &[b.to_string(), c.to_string()],
                &[a.to_string()],
                k,
                restrict,
            );
        }
        let (ia, ib, ic) = (self.id(a)?, self.id(b)?, self.id(c)?);
        let (ua, ub, uc) = (self.unit(ia), self.unit(ib), self.unit(ic));
        let rows = restrict.unwrap_or(usize::MAX).min(self.len());
        let dot = self.kernels.dot;
        let mut scored: Vec<Scored> = (0..rows)
            .into_par_iter()
            .filter(|r| ![ia, ib, ic].contains(r))
            .map(|r| {
                let inv = 1.0 / self.norms.data()[r].max(1e-12);
                let row = self.vectors.row(r);
                let cos = |u: &[f32]| (dot(u, row) * inv + 1.0) / 2.0;
                Scored(cos(&ub) * cos(&uc) / (cos(&ua) + 1e-3), r)
            })
            .collect();
        scored.sort_by(|x, y| y.cmp(x));
        Ok(scored
            .into_iter()
            .take(k)
            .map(|s| Hit {
                word: self.word(s.1).to_string(),
                id: s.1,
                score: s.0,
            })
            .collect())
    }
}

fn edit_distance(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The model directory: `--model`, else `model/`.
pub fn model_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| PathBuf::from("model"))
}

/// Writes a model directory from plain vectors (used by `import` and tests).
pub fn write_model_dir(
    dir: &Path,
    words: &[String],
    data: &[f32],
    dim: usize,
    stage: &str,
    extra: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir, "create model directory"))?;
    crate::embeddings::write_npy(&dir.join("input.npy"), data, &[words.len(), dim])?;
    crate::embeddings::write_npy(
        &dir.join("norms.npy"),
        &crate::embeddings::row_norms(data, dim),
        &[words.len()],
    )?;
    let mut text = String::new();
    for w in words {
        text.push_str(w);
        text.push('\n');
    }
    crate::manifest::write_atomic(&dir.join("words.txt"), text.as_bytes())?;
    let mut m = Manifest::new(stage, 0, &extra);
    m.summary = serde_json::json!({"vocab_size": words.len(), "dim": dim});
    m.write(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hand_model() -> (tempfile::TempDir, Model) {
        let dir = tempfile::tempdir().unwrap();
        let words: Vec<String> = ["король", "королева", "мужчина", "женщина", "стол", "елка"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        #[rustfmt::skip]
        let data = vec![
            1.0, 1.0, 0.0,   // король   = royal + male
            1.0, 0.0, 1.0,   // королева = royal + female
            0.0, 1.0, 0.0,   // мужчина  = male
            0.0, 0.0, 1.0,   // женщина  = female
            -1.0, 0.1, 0.1,  // стол
            0.9, 0.9, 0.1,   // елка: closest to король
        ];
        write_model_dir(
            dir.path(),
            &words,
            &data,
            3,
            "import",
            serde_json::json!({}),
        )
        .unwrap();
        let m = Model::open(dir.path()).unwrap();
        (dir, m)
    }

    #[test]
    fn known_answer_neighbours_and_similarity() {
        let (_d, m) = hand_model();
        let hits = m.most_similar(&["король".into()], &[], 3, None).unwrap();
        let words: Vec<&str> = hits.iter().map(|h| h.word.as_str()).collect();
        assert_eq!(words, ["елка", "мужчина", "королева"]);
        let want = (1.8f32) / (2f32.sqrt() * (0.81f32 + 0.81 + 0.01).sqrt());
        assert!((hits[0].score - want).abs() < 1e-5);
        assert!((m.similarity("Король", "КОРОЛЬ").unwrap() - 1.0).abs() < 1e-6);
        assert_eq!(m.id("Ёлка").unwrap(), 5);
        assert_eq!(m.id("король").unwrap(), 0);
        // restrict: only the first 4 rows.
        let r = m.most_similar(&["король".into()], &[], 1, Some(4)).unwrap();
        assert_eq!(r[0].word, "мужчина");
    }

    #[test]
    fn analogy_on_constructed_example() {
        let (_d, m) = hand_model();
        // мужчина : король :: женщина : ?
        let add = m
            .analogy("мужчина", "король", "женщина", 1, false, None)
            .unwrap();
        assert_eq!(add[0].word, "королева");
        let mul = m
            .analogy("мужчина", "король", "женщина", 1, true, None)
            .unwrap();
        assert_eq!(mul[0].word, "королева");
    }

    #[test]
    fn unknown_word_suggests_spellings() {
        let (_d, m) = hand_model();
        match m.id("каролева") {
            Err(Error::UnknownWord { suggestions, .. }) => assert_eq!(suggestions[0], "королева"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
