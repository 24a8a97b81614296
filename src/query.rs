//! Queries on a trained model: `neighbors`, `similarity`, `analogy`.
//!
//! In: a model directory, opened and checked by [`ModelDir`] (`input.npy`,
//! `norms.npy`, `words.txt`, `manifest.json`). The matrices are
//! memory-mapped and norms were computed at save time, so start-up parses
//! nothing but headers and the word list. Queries go through the
//! [`Normalizer`] the model's corpus went through (recorded in its manifest;
//! the default for directories written before it was recorded), so with the
//! default settings `Ёлка`, `елка` and `ЕЛКА` are one word, and after
//! `prep --yo keep` `ёлка` stays `ёлка`. A query that normalizes to several
//! words (`кто-то` after `prep --hyphens split`) is refused with
//! [`Error::NotOneWord`].
//!
//! Top-k is a bounded heap over SIMD dot products with a deterministic
//! tie-break (higher score first, then lower id). Several queries are
//! answered in one pass over the matrix.
//!
//! **Corrupt rows.** A query word's row must be finite and of the norm
//! `norms.npy` records, and a non-finite score met in a scan (a NaN or an
//! infinity in `input.npy`) is an error naming the row and its word, so a
//! damaged value never ranks first. [`ModelDir::open`] has already checked
//! the norms and a sample of rows; see [`crate::model`].
//!
//! **Subword models** (`train --subwords`) answer for any word: an
//! out-of-vocabulary query gets the mean of its n-gram rows (fastText's
//! `get_word_vector`), and [`QueryVector::oov`] says so, so the CLI can mark
//! it. Neighbours are still searched among the vocabulary words.
//!
//! **Imported models** (`w2v import`) record no normalization: their words
//! are whatever the file held. A query on one is first looked up exactly as
//! typed (trimmed), then through the default normalizer, so both `Кот` in a
//! cased model and `Кот` → `кот` in a lowercased one are found.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::Serialize;

use crate::embeddings::NpyMatrix;
use crate::error::{Error, Result};
use crate::model::{ModelDir, Producer};
use crate::normalize::Normalizer;
use crate::simd::Kernels;

/// A loaded (mapped) model.
pub struct Model {
    dir: ModelDir,
    normalizer: Normalizer,
    kernels: Kernels,
    /// Word ids sorted by word bytes, once [`Model::index_words`] built it:
    /// exact lookups by binary search and prefix completion.
    sorted: OnceLock<Vec<u32>>,
    /// Set once `ngrams.npy` matched its fingerprint (checked before the
    /// first out-of-vocabulary word is composed from it).
    ngrams_ok: OnceLock<()>,
}

/// A query word's unit vector, and where it came from.
#[derive(Clone, Debug)]
pub struct QueryVector {
    /// The word as looked up (normalized).
    pub word: String,
    /// Its id, when it is in the vocabulary.
    pub id: Option<usize>,
    /// The unit vector.
    pub unit: Vec<f32>,
    /// The vector as stored or composed (what fastText's `get_word_vector` gives).
    pub raw: Vec<f32>,
}

impl QueryVector {
    /// True for an out-of-vocabulary word composed from its n-grams.
    pub fn oov(&self) -> bool {
        self.id.is_none()
    }
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
    /// Opens `dir` (a model directory from `train` or `import`) through
    /// [`ModelDir::open`], with the normalizer its manifest records.
    pub fn open(dir: &Path) -> Result<Model> {
        let dir = ModelDir::open(dir)?;
        Ok(Model {
            normalizer: Normalizer::new(dir.normalize().clone()),
            dir,
            kernels: Kernels::detect(),
            sorted: OnceLock::new(),
            ngrams_ok: OnceLock::new(),
        })
    }

    /// Builds the sorted word index (ids ordered by word bytes) that makes
    /// [`Model::id_exact`] a binary search and [`Model::complete`] possible.
    /// A long-lived process (`w2v serve`) calls this once; one-shot queries
    /// do not need it (without it a lookup scans `words.txt`).
    pub fn index_words(&self) {
        self.sorted.get_or_init(|| {
            let mut ids: Vec<u32> = (0..self.len() as u32).collect();
            ids.par_sort_unstable_by(|&a, &b| {
                self.word(a as usize)
                    .as_bytes()
                    .cmp(self.word(b as usize).as_bytes())
            });
            ids
        });
    }

    /// Up to `n` words that start with the normalized `prefix`, most
    /// frequent (lowest id) first. Needs [`Model::index_words`]; without
    /// the index it returns nothing. The cost is a binary search plus a
    /// pass over the ids sharing the prefix.
    pub fn complete(&self, prefix: &str, n: usize) -> Vec<(usize, &str)> {
        let (Some(sorted), false) = (self.sorted.get(), prefix.is_empty()) else {
            return Vec::new();
        };
        let p = prefix.as_bytes();
        let key = |i: &u32| self.word(*i as usize).as_bytes();
        let lo = sorted.partition_point(|i| key(i) < p);
        let hi = lo + sorted[lo..].partition_point(|i| key(i).starts_with(p));
        // The n smallest ids of the range, in order.
        let n = n.min(hi - lo);
        let mut best: BinaryHeap<u32> = BinaryHeap::with_capacity(n + 1);
        for &i in &sorted[lo..hi] {
            if best.len() < n {
                best.push(i);
            } else if best.peek().is_some_and(|&top| i < top) {
                best.pop();
                best.push(i);
            }
        }
        best.into_sorted_vec()
            .into_iter()
            .map(|i| (i as usize, self.word(i as usize)))
            .collect()
    }

    /// The checked directory (manifest, legacy flag).
    pub fn model_dir(&self) -> &ModelDir {
        &self.dir
    }

    /// The word vectors.
    pub fn vectors(&self) -> &NpyMatrix {
        self.dir.input()
    }

    /// The normalizer queries go through.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.dir.len()
    }

    /// True when the model is empty.
    pub fn is_empty(&self) -> bool {
        self.dir.is_empty()
    }

    /// The word of id `i`; ids come from this model, so `i < len()`.
    pub fn word(&self, i: usize) -> &str {
        self.dir
            .word(i)
            .unwrap_or_else(|| panic!("word id {i} out of range ({} words)", self.len()))
    }

    /// Id of an already-normalized word, by searching the word list.
    pub fn id_exact(&self, w: &str) -> Option<usize> {
        match self.sorted.get() {
            Some(sorted) => {
                let i = sorted
                    .binary_search_by(|&i| self.word(i as usize).as_bytes().cmp(w.as_bytes()))
                    .ok()?;
                Some(sorted[i] as usize)
            }
            None => self.dir.find(w),
        }
    }

    /// Normalizes `q` as the model's corpus was and looks it up. Unknown
    /// words give suggestions; a query that normalizes to several words is
    /// [`Error::NotOneWord`].
    pub fn id(&self, q: &str) -> Result<usize> {
        if self.dir.producer() == Producer::Import {
            if let Some(i) = self.id_exact(q.trim()) {
                return Ok(i);
            }
        }
        let norm = self.normalizer.normalize_query(q).unwrap_or_default();
        if norm.contains(' ') {
            return Err(Error::NotOneWord {
                query: q.to_string(),
                words: norm.split(' ').map(str::to_owned).collect(),
            });
        }
        if norm.is_empty() && self.unbounded_norm(q).is_empty() {
            return Err(Error::NotOneWord {
                query: q.to_string(),
                words: Vec::new(),
            });
        }
        self.id_exact(&norm).ok_or_else(|| Error::UnknownWord {
            word: q.to_string(),
            why: None,
            suggestions: self.suggest(&norm, 5),
        })
    }

    /// `q` normalized as `prep` would, but keeping tokens of any length.
    fn unbounded_norm(&self, q: &str) -> String {
        Normalizer::new(crate::normalize::NormalizeConfig {
            max_token_chars: usize::MAX,
            ..self.normalizer.config().clone()
        })
        .normalize_query(q)
        .unwrap_or_default()
    }

    /// True for a subword model, which gives a vector for any word.
    pub fn is_subword(&self) -> bool {
        self.dir.subwords().is_some()
    }

    /// The unit vector of the query `q`: its row when it is in the
    /// vocabulary; on a subword model, otherwise, the mean of its n-gram
    /// rows (`oov`). Other unknown words are [`Error::UnknownWord`] with
    /// suggestions, as [`Model::id`] gives.
    pub fn vector(&self, q: &str) -> Result<QueryVector> {
        let err = match self.id(q) {
            Ok(i) => {
                return Ok(QueryVector {
                    word: self.word(i).to_string(),
                    id: Some(i),
                    unit: self.unit(i)?,
                    raw: self.vectors().row(i).to_vec(),
                })
            }
            Err(Error::UnknownWord {
                word, suggestions, ..
            }) => (word, suggestions),
            Err(e) => return Err(e),
        };
        let unknown = |why: Option<String>| {
            let (word, suggestions) = err;
            Error::UnknownWord {
                word,
                why,
                suggestions,
            }
        };
        let Some((cfg, grams)) = self.dir.subwords() else {
            return Err(unknown(None));
        };
        // prep drops a token over `max_token_chars`, so it is never in the
        // vocabulary; its n-grams still give it a vector.
        let norm = self.unbounded_norm(q);
        let ids = cfg.ngrams(&norm);
        if ids.is_empty() && !norm.is_empty() {
            // `я` in a 4-6 model: `<я>` is 3 characters, shorter than any
            // n-gram (fastText gives such a word zeros).
            return Err(unknown(Some(format!(
                ", and too short for the model's n-grams of {}-{} characters (counting the < and > around it)",
                cfg.minn, cfg.maxn
            ))));
        }
        if self.ngrams_ok.get().is_none() {
            self.dir.verify_ngrams()?;
            let _ = self.ngrams_ok.set(());
        }
        let mut v = vec![0f32; self.dir.dim()];
        crate::subword::compose(None, &ids, |g| grams.row(g as usize), &mut v);
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm.is_empty() || !n.is_finite() || n == 0.0 {
            return Err(unknown(None));
        }
        let raw = v.clone();
        v.iter_mut().for_each(|x| *x /= n);
        Ok(QueryVector {
            word: norm,
            id: None,
            unit: v,
            raw,
        })
    }

    /// The closest spellings by edit distance (frequent words first on ties).
    pub fn suggest(&self, w: &str, n: usize) -> Vec<String> {
        if w.is_empty() {
            return Vec::new();
        }
        let target: Vec<char> = w.chars().collect();
        let limit = (target.len() / 3).max(1);
        let text = self.dir.words_text();
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

    /// Unit vector of id `i`, after checking the row (finite, of its
    /// recorded norm).
    pub fn unit(&self, i: usize) -> Result<Vec<f32>> {
        crate::model::check_row(
            &self.dir.path().join("input.npy"),
            self.vectors(),
            self.dir.norms(),
            i,
            self.dir.word(i),
        )?;
        let n = self.dir.norms().data()[i].max(1e-12);
        Ok(self.vectors().row(i).iter().map(|x| x / n).collect())
    }

    /// The error for a non-finite score met at row `r` of a scan.
    fn corrupt_row(&self, r: usize) -> Error {
        match crate::model::check_row(
            &self.dir.path().join("input.npy"),
            self.vectors(),
            self.dir.norms(),
            r,
            self.dir.word(r),
        ) {
            Err(e) => e,
            // A finite row can still overflow a dot product.
            Ok(()) => Error::Mismatch {
                path: self.dir.path().join("input.npy"),
                message: format!(
                    "row {r} gives a non-finite similarity (values too large); the file is corrupt"
                ),
            },
        }
    }

    /// Cosine similarity of two words.
    /// On a subword model any word has a vector ([`Model::vector`]).
    pub fn similarity(&self, a: &str, b: &str) -> Result<f32> {
        Ok(self.similarity_of(a, b)?.0)
    }

    /// [`Model::similarity`], and whether both words are in the vocabulary.
    pub fn similarity_of(&self, a: &str, b: &str) -> Result<(f32, bool)> {
        let (va, vb) = (self.vector(a)?, self.vector(b)?);
        let s = (self.kernels.dot)(&va.unit, &vb.unit);
        if !s.is_finite() {
            return Err(self.corrupt_row(vb.id.or(va.id).unwrap_or(0)));
        }
        Ok((s, !va.oov() && !vb.oov()))
    }

    /// Top-`k` rows by cosine to each query vector, in one pass over the
    /// matrix (split across threads). `exclude[q]` ids are skipped;
    /// `restrict` limits the search to the first N (most frequent) rows.
    /// A non-finite score is an error naming its row.
    pub fn nearest_many(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        exclude: &[Vec<usize>],
        restrict: Option<usize>,
    ) -> Result<Vec<Vec<Hit>>> {
        let rows = restrict.unwrap_or(usize::MAX).min(self.len());
        // No more hits than rows searched (a huge k allocated its heaps first).
        let k = k.min(rows);
        let dim = self.dir.dim();
        let data = self.vectors().data();
        let norms = self.dir.norms().data();
        let dot = self.kernels.dot;
        let chunk = 16_384;
        let scanned: Vec<std::result::Result<_, usize>> = (0..rows.div_ceil(chunk))
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
                        if !s.0.is_finite() {
                            return Err(r);
                        }
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
                Ok(hs)
            })
            .collect();
        let mut heaps = Vec::with_capacity(scanned.len());
        for s in scanned {
            heaps.push(s.map_err(|r| self.corrupt_row(r))?);
        }
        Ok((0..queries.len())
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
            .collect())
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
        let (q, ex) = self.query_vector(positive, negative)?;
        Ok(self.nearest_many(&[q], k, &[ex], restrict)?.remove(0))
    }

    /// The unit query vector of [`Model::most_similar`] (the sum of the
    /// positive words' unit vectors minus the negative ones'), and the ids
    /// its answer leaves out (the query words in the vocabulary).
    pub fn query_vector(
        &self,
        positive: &[String],
        negative: &[String],
    ) -> Result<(Vec<f32>, Vec<usize>)> {
        let mut q = vec![0f32; self.dir.dim()];
        let mut ex = Vec::new();
        for (words, sign) in [(positive, 1.0f32), (negative, -1.0)] {
            for w in words {
                let v = self.vector(w)?;
                ex.extend(v.id);
                (self.kernels.axpy)(&mut q, sign, &v.unit);
            }
        }
        let n = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        // Unit vectors that cancel (a word both positive and negative)
        // leave nothing to rank by: every score would be 0.
        if n < 1e-4 {
            return Err(Error::InvalidConfig(
                "the positive and negative words cancel out: the query vector is zero".into(),
            ));
        }
        q.iter_mut().for_each(|x| *x /= n);
        Ok((q, ex))
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
        let (va, vb, vc) = (self.vector(a)?, self.vector(b)?, self.vector(c)?);
        let ex = [va.id, vb.id, vc.id];
        let (ua, ub, uc) = (va.unit, vb.unit, vc.unit);
        let rows = restrict.unwrap_or(usize::MAX).min(self.len());
        let dot = self.kernels.dot;
        let mut scored: Vec<Scored> = (0..rows)
            .into_par_iter()
            .filter(|r| !ex.contains(&Some(*r)))
            .map(|r| {
                let inv = 1.0 / self.dir.norms().data()[r].max(1e-12);
                let row = self.vectors().row(r);
                let cos = |u: &[f32]| (dot(u, row) * inv + 1.0) / 2.0;
                Scored(cos(&ub) * cos(&uc) / (cos(&ua) + 1e-3), r)
            })
            .collect();
        if let Some(s) = scored.iter().find(|s| !s.0.is_finite()) {
            return Err(self.corrupt_row(s.1));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelParts, Producer};
    use crate::normalize::{HyphenMode, NormalizeConfig, NormalizeSource, YoMode};

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
        let m = model_with(dir.path(), &words, &data, NormalizeConfig::default());
        (dir, m)
    }

    /// Writes and opens a 3-dim model whose corpus used `normalize`.
    fn model_with(dir: &Path, words: &[String], data: &[f32], normalize: NormalizeConfig) -> Model {
        ModelDir::write(
            dir,
            &ModelParts {
                producer: Producer::Train,
                words,
                input: data,
                output: None,
                dim: 3,
                normalize,
                normalize_source: NormalizeSource::Prep,
                seed: 0,
                config: serde_json::json!({}),
                inputs: Vec::new(),
                summary: serde_json::json!({}),
            },
        )
        .unwrap();
        Model::open(dir).unwrap()
    }

    #[test]
    fn queries_use_the_recorded_normalization() {
        let dir = tempfile::tempdir().unwrap();
        let words: Vec<String> = ["ёлка", "елка", "кто", "то"].map(String::from).to_vec();
        #[rustfmt::skip]
        let data = vec![
            1.0, 0.0, 0.0,
            0.0, 1.0, 0.0,
            0.0, 0.0, 1.0,
            1.0, 1.0, 1.0,
        ];
        let keep = NormalizeConfig {
            yo: YoMode::Keep,
            hyphens: HyphenMode::Split,
            ..Default::default()
        };
        let m = model_with(dir.path(), &words, &data, keep);
        // ё is kept: ёлка and елка are two words.
        assert_eq!(m.id("ЁЛКА").unwrap(), 0);
        assert_eq!(m.id("елка").unwrap(), 1);
        assert!(m.similarity("ёлка", "елка").unwrap().abs() < 1e-6);
        // Hyphens split: кто-то is two words, and says so.
        match m.id("Кто-то") {
            Err(Error::NotOneWord { query, words }) => {
                assert_eq!(query, "Кто-то");
                assert_eq!(words, ["кто", "то"]);
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(m.analogy("кто-то", "кто", "то", 1, false, None).is_err());
        // The default normalization folds ё.
        let m = model_with(dir.path(), &words, &data, NormalizeConfig::default());
        assert_eq!(m.id("ёлка").unwrap(), 1);
        assert!(matches!(m.id("кто-то"), Err(Error::UnknownWord { .. })));
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
        // A word both positive and negative leaves nothing to rank by.
        let e = m
            .most_similar(&["король".into()], &["Король".into()], 3, None)
            .unwrap_err();
        assert!(e.to_string().contains("cancel out"), "{e}");
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
    fn the_word_index_finds_words_and_completes_prefixes_by_frequency() {
        let (_d, m) = hand_model();
        // Without the index: lookups scan, completion gives nothing.
        assert_eq!(m.id_exact("королева"), Some(1));
        assert!(m.complete("кор", 5).is_empty());
        m.index_words();
        for (i, w) in ["король", "королева", "мужчина", "женщина", "стол", "елка"]
            .iter()
            .enumerate()
        {
            assert_eq!(m.id_exact(w), Some(i), "{w}");
        }
        assert_eq!(m.id_exact("коро"), None);
        assert_eq!(m.id_exact(""), None);
        assert_eq!(m.id("Ёлка").unwrap(), 5);
        // Frequency (id) order, not alphabetical; bounded by n.
        assert_eq!(m.complete("кор", 5), vec![(0, "король"), (1, "королева")]);
        assert_eq!(m.complete("кор", 1), vec![(0, "король")]);
        assert_eq!(m.complete("королев", 5), vec![(1, "королева")]);
        assert!(m.complete("я", 5).is_empty());
        assert!(m.complete("", 5).is_empty());
        assert_eq!(m.complete("е", 0), vec![]);
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
