//! Character n-grams of words, hashed into buckets as fastText does
//! (Bojanowski et al., 2017), and the per-word table of them.
//!
//! A word `w` is read as `<w>`, with `<` and `>` marking its ends. Its
//! n-grams are the runs of `minn..=maxn` characters (UTF-8 characters, not
//! bytes) of `<w>`, except the one-character grams `<` and `>` themselves;
//! `<w>` as a whole is one of them when it is at most `maxn` characters. A
//! gram met twice in a word counts twice. Each gram's bucket is fastText's
//! hash — FNV-1a over the UTF-8 bytes, each byte sign-extended first — modulo
//! the bucket count, so ids, vectors and exports match fastText's
//! (`fasttext.get_subwords` is the cross-check in `tests/python`).
//!
//! In a subword model the input table has `V + buckets` rows: the words'
//! own rows, then one row per bucket. A word's vector is the mean of its own
//! row and its grams' rows; an out-of-vocabulary word's is the mean of its
//! grams' rows alone (fastText's `get_word_vector`).
//!
//! [`NgramTable`] holds the bucket ids of every vocabulary word in CSR form
//! (offsets + ids), computed in parallel when training starts: on the
//! 2.64M-word scale vocabulary (63.3M n-grams at 3-6) it took 3.5–4.2 s on
//! 2 busy cores in a dev build and holds 274 MB (BENCHMARKS.md), against
//! hours of training, so it is rebuilt rather than stored.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest n-gram accepted (fastText accepts any; longer grams only
/// repeat whole short words).
pub const MAX_N: usize = 10;

/// How words are cut into n-grams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubwordConfig {
    /// Shortest n-gram, in characters. By default, 4 ([`DEFAULT_RANGE`]).
    pub minn: usize,
    /// Longest n-gram, in characters. By default, 6.
    pub maxn: usize,
    /// Hash buckets (n-gram rows). By default, 2,000,000.
    pub buckets: u32,
}

/// The n-gram range of `--subwords` given without one: 4-6. On ru_lit over
/// three seeds it raised full-coverage simlex by 0.027 against fastText's
/// 3-6 (beyond the seed spread) with hj level, and the test halves by
/// +0.046 and +0.030; the fixed dev halves tied, but over 400 random
/// halves of the sets 4-6 led on simlex in 399 (+0.023 on average) and on
/// hj in 61%, so the dev half was the outlier (BENCHMARKS.md, sessions 18
/// and 19). It also costs less: three n-gram lengths instead of four.
pub const DEFAULT_RANGE: &str = "4-6";

impl Default for SubwordConfig {
    fn default() -> Self {
        SubwordConfig {
            minn: 4,
            maxn: 6,
            buckets: 2_000_000,
        }
    }
}

impl SubwordConfig {
    /// Parses `--subwords MINN-MAXN` (or `N` for one length).
    pub fn parse_range(s: &str, buckets: u32) -> Result<Self> {
        let bad = || {
            Error::InvalidConfig(format!(
                "--subwords takes MINN-MAXN such as 4-6, got '{}'",
                s.chars().take(60).collect::<String>()
            ))
        };
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let minn = a.trim().parse().map_err(|_| bad())?;
        let maxn = b.trim().parse().map_err(|_| bad())?;
        let c = SubwordConfig {
            minn,
            maxn,
            buckets,
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks 1 ≤ minn ≤ maxn ≤ [`MAX_N`] and buckets ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if !(1 <= self.minn && self.minn <= self.maxn && self.maxn <= MAX_N) {
            return Err(Error::InvalidConfig(format!(
                "--subwords {}-{}: need 1 ≤ MINN ≤ MAXN ≤ {MAX_N}",
                self.minn, self.maxn
            )));
        }
        if self.buckets == 0 {
            return Err(Error::InvalidConfig("--buckets must be at least 1".into()));
        }
        Ok(())
    }

    /// The bucket of each n-gram of `word` (not including the word's own
    /// row), in fastText's order, appended to `out`.
    pub fn ngrams_into(&self, word: &str, out: &mut Vec<u32>) {
        self.for_each_ngram(word, |_, h| out.push(h % self.buckets));
    }

    /// The bucket ids of `word`'s n-grams.
    pub fn ngrams(&self, word: &str) -> Vec<u32> {
        let mut v = Vec::new();
        self.ngrams_into(word, &mut v);
        v
    }

    /// Each n-gram of `word` with its bucket, as fastText's `get_subwords`
    /// lists them (less the word itself).
    pub fn ngram_strings(&self, word: &str) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        self.for_each_ngram(word, |g, h| {
            v.push((String::from_utf8_lossy(g).into_owned(), h % self.buckets))
        });
        v
    }

    /// fastText's `computeSubwords` over `<word>`: calls `f(gram bytes, hash)`.
    fn for_each_ngram(&self, word: &str, mut f: impl FnMut(&[u8], u32)) {
        let mut w = Vec::with_capacity(word.len() + 2);
        w.push(b'<');
        w.extend_from_slice(word.as_bytes());
        w.push(b'>');
        let cont = |b: u8| b & 0xC0 == 0x80;
        for i in 0..w.len() {
            if cont(w[i]) {
                continue;
            }
            let (mut j, mut n) = (i, 1);
            while j < w.len() && n <= self.maxn {
                j += 1;
                while j < w.len() && cont(w[j]) {
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == w.len())) {
                    f(&w[i..j], hash(&w[i..j]));
                }
                n += 1;
            }
        }
    }
}

/// fastText's string hash: FNV-1a over the bytes, each sign-extended (its
/// `int8_t` cast), so bytes ≥ 0x80 (all of Cyrillic) hash as fastText's do.
#[inline]
pub fn hash(bytes: &[u8]) -> u32 {
    let mut h = 2_166_136_261u32;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// The n-gram buckets of every vocabulary word, in CSR form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NgramTable {
    /// Word i's buckets are `ids[offsets[i]..offsets[i + 1]]`.
    pub offsets: Vec<u64>,
    /// Bucket ids (`< buckets`).
    pub ids: Vec<u32>,
    /// Word i's [`drift`], computed once here rather than per window.
    pub drifts: Vec<f32>,
}

impl NgramTable {
    /// The table for `words`, computed in parallel.
    pub fn build<S: AsRef<str> + Sync>(cfg: &SubwordConfig, words: &[S]) -> NgramTable {
        const CHUNK: usize = 16_384;
        type Part = (Vec<u32>, Vec<u32>, Vec<f32>);
        let parts: Vec<Part> = words
            .par_chunks(CHUNK)
            .map(|ws| {
                let mut lens = Vec::with_capacity(ws.len());
                let mut ids = Vec::with_capacity(ws.len() * 16);
                let mut drifts = Vec::with_capacity(ws.len());
                for w in ws {
                    let before = ids.len();
                    cfg.ngrams_into(w.as_ref(), &mut ids);
                    lens.push((ids.len() - before) as u32);
                    drifts.push(drift(&ids[before..]));
                }
                (lens, ids, drifts)
            })
            .collect();
        let total: usize = parts.iter().map(|p| p.1.len()).sum();
        let mut offsets = Vec::with_capacity(words.len() + 1);
        let mut ids = Vec::with_capacity(total);
        let mut drifts = Vec::with_capacity(words.len());
        offsets.push(0u64);
        for (lens, part, ds) in parts {
            for l in lens {
                offsets.push(offsets.last().copied().unwrap_or(0) + l as u64);
            }
            ids.extend_from_slice(&part);
            drifts.extend_from_slice(&ds);
        }
        NgramTable {
            offsets,
            ids,
            drifts,
        }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when the table has no words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `i`'s bucket ids.
    #[inline]
    pub fn of(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Word `i`'s [`drift`].
    #[inline]
    pub fn drift(&self, i: usize) -> f32 {
        self.drifts[i]
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.offsets.len() * 8 + self.ids.len() * 4 + self.drifts.len() * 4
    }
}

/// How far the mean of a word's own row and its bucket rows `grams` moves
/// when a gradient is added to each listed row (a bucket listed n times gets
/// it n times and counts n times in the mean): `(1 + Σ n²) / (1 + len)` over
/// the distinct buckets, 1 when none repeats.
pub fn drift(grams: &[u32]) -> f32 {
    let listed: usize = grams
        .iter()
        .map(|g| grams.iter().filter(|&x| x == g).count())
        .sum();
    (1 + listed) as f32 / (1 + grams.len()) as f32
}

/// The mean of `own` (a word's row, when it has one) and the rows
/// `row(g)` of its buckets, into `out`; zeros when there is nothing to
/// average (an out-of-vocabulary word with no n-gram of the lengths asked).
pub fn compose<'a>(
    own: Option<&'a [f32]>,
    buckets: &[u32],
    row: impl Fn(u32) -> &'a [f32],
    out: &mut [f32],
) {
    out.fill(0.0);
    let mut n = 0usize;
    for r in own.into_iter().chain(buckets.iter().map(|&g| row(g))) {
        for (o, x) in out.iter_mut().zip(r) {
            *o += x;
        }
        n += 1;
    }
    if n > 0 {
        let inv = 1.0 / n as f32;
        out.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Every vocabulary word's vector, `V × dim`: the mean of its own row
/// (`input[i]`), weighted `own_weight`, and its n-gram rows
/// (`input[V + g]`), where `input` is a subword model's
/// `(V + buckets) × dim` training table. `own_weight` 1 is fastText's plain
/// mean.
pub fn compose_vocab<S: AsRef<str> + Sync>(
    cfg: &SubwordConfig,
    words: &[S],
    input: &[f32],
    dim: usize,
    own_weight: f32,
) -> Vec<f32> {
    let v = words.len();
    let (own, grams) = input.split_at(v * dim);
    let mut out = vec![0f32; v * dim];
    out.par_chunks_mut(dim)
        .enumerate()
        .for_each_init(Vec::new, |ids, (i, o)| {
            ids.clear();
            cfg.ngrams_into(words[i].as_ref(), ids);
            let row = |g: u32| &grams[g as usize * dim..(g as usize + 1) * dim];
            let mine = &own[i * dim..(i + 1) * dim];
            if own_weight == 1.0 {
                compose(Some(mine), ids, row, o);
            } else {
                // (a·own + Σ rows) / (a + n): the plain mean of the n-grams
                // and of the own row counted a times.
                compose(None, ids, row, o);
                let n = ids.len() as f32;
                let k = 1.0 / (own_weight + n);
                for (x, m) in o.iter_mut().zip(mine) {
                    *x = (*x * n + own_weight * m) * k;
                }
            }
        });
    out
}

/// The inverse of fastText's mean for one word: the own row that makes the
/// plain mean of it and the n-gram rows equal `composed`,
/// `composed · (1 + n) − Σ n-gram rows`, into `out` (for exports that store
/// raw rows, such as fastText's `.bin`). With `--own-weight 1` and no
/// `--output-weight` it is the trained row; otherwise it carries the saved
/// vector, so fastText composes what w2v saved.
pub fn own_row<'a>(
    composed: &[f32],
    buckets: &[u32],
    row: impl Fn(u32) -> &'a [f32],
    out: &mut [f32],
) {
    let n = (1 + buckets.len()) as f32;
    for (o, x) in out.iter_mut().zip(composed) {
        *o = x * n;
    }
    for &g in buckets {
        for (o, x) in out.iter_mut().zip(row(g)) {
            *o -= x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(c: &SubwordConfig, w: &str) -> Vec<String> {
        c.ngram_strings(w).into_iter().map(|g| g.0).collect()
    }

    #[test]
    fn ngrams_follow_fasttext_boundaries_and_characters() {
        let c = SubwordConfig {
            minn: 3,
            maxn: 4,
            buckets: 100,
        };
        // "<кот>" is 5 characters: 3-grams and 4-grams, whole word too long.
        assert_eq!(grams(&c, "кот"), ["<ко", "<кот", "кот", "кот>", "от>"]);
        // 1-grams exclude the boundary markers alone; the whole "<a>" fits.
        let one = SubwordConfig {
            minn: 1,
            maxn: 3,
            buckets: 100,
        };
        assert_eq!(grams(&one, "a"), ["<a", "<a>", "a", "a>"]);
        // Characters, not bytes: a 2-byte letter is one character.
        let two = SubwordConfig {
            minn: 2,
            maxn: 2,
            buckets: 100,
        };
        assert_eq!(grams(&two, "ёж"), ["<ё", "ёж", "ж>"]);
        // A gram met twice counts twice.
        assert_eq!(grams(&two, "аа").iter().filter(|g| *g == "аа").count(), 1);
        assert_eq!(grams(&two, "ааа").iter().filter(|g| *g == "аа").count(), 2);
    }

    #[test]
    fn hash_is_fasttexts_sign_extended_fnv1a() {
        // Values computed by fastText's Dictionary::hash (the cross-check
        // against the fasttext package itself is in tests/python).
        assert_eq!(hash(b""), 2_166_136_261);
        // Pure ASCII: plain FNV-1a 32.
        assert_eq!(hash(b"a"), 0xe40c292c);
        assert_eq!(hash(b"foobar"), 0xbf9cf968);
        // A byte ≥ 0x80 is sign-extended: differs from plain FNV-1a.
        let plain = |b: &[u8]| {
            b.iter().fold(2_166_136_261u32, |h, &x| {
                (h ^ x as u32).wrapping_mul(16_777_619)
            })
        };
        assert_eq!(hash(b"abc"), plain(b"abc"));
        assert_ne!(hash("кот".as_bytes()), plain("кот".as_bytes()));
    }

    #[test]
    fn csr_table_matches_per_word_ngrams() {
        let c = SubwordConfig {
            minn: 2,
            maxn: 5,
            buckets: 1000,
        };
        let words: Vec<String> = (0..40_000).map(|i| format!("слово{i}")).collect();
        let t = NgramTable::build(&c, &words);
        assert_eq!(t.len(), words.len());
        for i in [0, 1, 16_383, 16_384, 39_999] {
            assert_eq!(t.of(i), &c.ngrams(&words[i])[..]);
        }
        assert!(t.ids.iter().all(|&g| g < 1000));
        // Each word's drift sits beside its buckets, across chunk seams too;
        // 1000 buckets make some words repeat one.
        assert_eq!(t.drifts.len(), words.len());
        assert!((0..t.len()).all(|i| t.drift(i) == drift(t.of(i))));
        assert!(t.drifts.iter().any(|&d| d > 1.0));
    }

    #[test]
    fn parse_and_validate_ranges() {
        let c = SubwordConfig::parse_range("3-6", 10).unwrap();
        assert_eq!((c.minn, c.maxn, c.buckets), (3, 6, 10));
        assert_eq!(SubwordConfig::parse_range("4", 10).unwrap().maxn, 4);
        for bad in ["0-3", "5-3", "3-11", "x", "3-"] {
            assert!(SubwordConfig::parse_range(bad, 10).is_err(), "{bad}");
        }
        assert!(SubwordConfig::parse_range("3-6", 0).is_err());
    }

    #[test]
    fn compose_is_the_mean_of_own_and_bucket_rows() {
        let rows = [[1.0f32, 2.0], [3.0, 4.0], [5.0, 4.0]];
        let mut out = [0f32; 2];
        compose(Some(&[0.0, 0.0]), &[0, 2], |g| &rows[g as usize], &mut out);
        assert_eq!(out, [2.0, 2.0]);
        compose(None, &[1, 1], |g| &rows[g as usize], &mut out);
        assert_eq!(out, [3.0, 4.0]);
        compose(None, &[], |g| &rows[g as usize], &mut out);
        assert_eq!(out, [0.0, 0.0]);
        // own_row undoes it.
        let own = [0.5f32, -1.0];
        compose(Some(&own), &[0, 2, 2], |g| &rows[g as usize], &mut out);
        let mut back = [0f32; 2];
        own_row(&out, &[0, 2, 2], |g| &rows[g as usize], &mut back);
        assert!((back[0] - 0.5).abs() < 1e-5 && (back[1] + 1.0).abs() < 1e-5);
    }

    #[test]
    fn compose_vocab_uses_own_then_bucket_rows() {
        let c = SubwordConfig {
            minn: 3,
            maxn: 3,
            buckets: 5,
        };
        let words = ["да", "нет"];
        let dim = 2;
        let input: Vec<f32> = (0..(2 + 5) * dim).map(|x| x as f32).collect();
        let out = compose_vocab(&c, &words, &input, dim, 1.0);
        // Own weight 3: the plain mean with the own row listed three times.
        let heavy = compose_vocab(&c, &words, &input, dim, 3.0);
        for (i, w) in words.iter().enumerate() {
            let mut want = [0f32; 2];
            let own = &input[i * dim..(i + 1) * dim];
            let row = |g: u32| &input[(2 + g as usize) * dim..(3 + g as usize) * dim];
            compose(Some(own), &c.ngrams(w), row, &mut want);
            assert_eq!(out[i * dim..(i + 1) * dim], want);
            let mut thrice = c.ngrams(w);
            let own_at = u32::MAX;
            thrice.extend([own_at; 3]);
            let row3 = |g: u32| if g == own_at { own } else { row(g) };
            compose(None, &thrice, row3, &mut want);
            for (a, b) in heavy[i * dim..(i + 1) * dim].iter().zip(want) {
                assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{w}: {a} vs {b}");
            }
        }
    }
}
