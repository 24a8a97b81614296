//! The negative-sampling distribution: `count^0.75`, sampled in O(1).
//!
//! Out: `vocab/unigram.alias`, memory-mappable: `V` little-endian records of
//! `(threshold: u32, alias: i32)`. To sample, draw `i` uniform in `0..V` and
//! `u` uniform in `0..2^32`; the answer is `i` if `u < threshold[i]`, else
//! `alias[i]`. This is Walker's alias method (Vose's construction).
//!
//! **Why an alias table and not word2vec.c's table.** Both cost one uniform
//! draw and one random memory read per sample (the alias record is 8 bytes,
//! read at once). The word2vec.c table of `M` slots can only represent
//! probabilities in steps of `1/M`, so with `M = 1e8` and a 2.5M vocab the
//! rare words are off by up to 100%; it also takes 400 MB. The alias table
//! is exact to 2^-32 per word and takes 8 bytes per word. The test
//! `alias_is_more_exact_than_table` measures both errors and the `kernels`
//! bench their speed.

use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{io_err, Error, Result};
use crate::manifest::AtomicFile;
use crate::rng::{Rng, RngCore};
use crate::TokenId;

/// File name inside the vocab directory.
pub const FILE_NAME: &str = "unigram.alias";

/// One alias record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    pub threshold: u32,
    pub alias: TokenId,
}

/// An alias table over `0..V`.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasTable {
    pub entries: Vec<Entry>,
}

/// `count^power`, normalized to sum 1.
pub fn distribution(counts: &[u64], power: f64) -> Vec<f64> {
    let w: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(power)).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

impl AliasTable {
    /// Builds the table for `count^power` (Vose's method, deterministic).
    pub fn new(counts: &[u64], power: f64) -> AliasTable {
        AliasTable::from_probabilities(&distribution(counts, power))
    }

    /// Builds the table for probabilities `p` (summing to 1; Vose's method,
    /// deterministic). A word with probability 0 is never drawn except by
    /// the rounding leftovers of Vose's method; callers that must never see
    /// such a word check and redraw.
    pub fn from_probabilities(p: &[f64]) -> AliasTable {
        let n = p.len();
        let mut scaled: Vec<f64> = p.iter().map(|&x| x * n as f64).collect();
        let mut small: Vec<usize> = Vec::new();
        let mut large: Vec<usize> = Vec::new();
        for (i, &s) in scaled.iter().enumerate() {
            if s < 1.0 {
                small.push(i)
            } else {
                large.push(i)
            }
        }
        let mut entries = vec![
            Entry {
                threshold: u32::MAX,
                alias: 0
            };
            n
        ];
        for (i, e) in entries.iter_mut().enumerate() {
            e.alias = i as TokenId;
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            entries[s] = Entry {
                threshold: to_threshold(scaled[s]),
                alias: l as TokenId,
            };
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding: always themselves.
        AliasTable { entries }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Draws one word.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> TokenId {
        sample(&self.entries, rng.next_u64())
    }

    /// The probability of each word implied by the table.
    pub fn implied(&self) -> Vec<f64> {
        let n = self.entries.len() as f64;
        let mut p = vec![0.0; self.entries.len()];
        for (i, e) in self.entries.iter().enumerate() {
            let keep = if e.threshold == u32::MAX {
                1.0
            } else {
                e.threshold as f64 / 4294967296.0
            };
            p[i] += keep / n;
            p[e.alias as usize] += (1.0 - keep) / n;
        }
        p
    }

    /// Writes the table atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.file(path)?.commit()
    }

    /// The table written into an [`AtomicFile`] not yet committed.
    pub fn file(&self, path: &Path) -> Result<AtomicFile> {
        let mut f = AtomicFile::create(path)?;
        for e in &self.entries {
            f.write_all(&e.threshold.to_le_bytes())
                .map_err(io_err(path, "write"))?;
            f.write_all(&e.alias.to_le_bytes())
                .map_err(io_err(path, "write"))?;
        }
        Ok(f)
    }

    /// Reads a table written by [`AliasTable::write`].
    pub fn read(path: &Path) -> Result<AliasTable> {
        let f = std::fs::File::open(path).map_err(io_err(path, "open unigram table"))?;
        // SAFETY: `Mmap::map` is unsafe because the mapped bytes would change
        // under the `&[u8]` if the file were modified or truncated while
        // mapped. The map lives only until the entries are copied out below,
        // and w2v never writes this file in place: `AliasTable::write` goes
        // through `AtomicFile` (a temp file renamed over the name), which
        // leaves an existing map on the old inode unchanged. Another process
        // editing the file in place during those microseconds is outside
        // that guarantee, as for every mmap reader.
        let m = unsafe { Mmap::map(&f) }.map_err(io_err(path, "map unigram table"))?;
        if m.len() % 8 != 0 {
            return Err(Error::InvalidInput {
                path: path.to_path_buf(),
                message: "size is not a multiple of 8 bytes".into(),
            });
        }
        let entries = m
            .chunks_exact(8)
            .map(|c| Entry {
                threshold: u32::from_le_bytes(c[..4].try_into().expect("4 bytes")),
                alias: i32::from_le_bytes(c[4..].try_into().expect("4 bytes")),
            })
            .collect::<Vec<Entry>>();
        // Every alias must name an entry: `sample` returns it as an id.
        let n = entries.len();
        if let Some(i) = entries
            .iter()
            .position(|e| e.threshold != u32::MAX && !(0..n as i64).contains(&(e.alias as i64)))
        {
            return Err(Error::InvalidInput {
                path: path.to_path_buf(),
                message: format!(
                    "entry {i} aliases id {} outside the table of {n}; the file is corrupt, re-run `w2v vocab`",
                    entries[i].alias
                ),
            });
        }
        Ok(AliasTable { entries })
    }
}

#[inline]
fn to_threshold(x: f64) -> u32 {
    let t = (x * 4294967296.0).round();
    if t >= 4294967295.0 {
        u32::MAX
    } else {
        t as u32
    }
}

/// Samples with one 64-bit random word: the high 32 bits pick the slot, the
/// low 32 bits the coin.
#[inline]
pub fn sample(entries: &[Entry], r: u64) -> TokenId {
    let i = (((r >> 32) * entries.len() as u64) >> 32) as usize;
    let e = entries[i];
    if (r as u32) < e.threshold || e.threshold == u32::MAX {
        i as TokenId
    } else {
        e.alias
    }
}

/// word2vec.c's table of `size` slots, for comparison only.
pub fn w2v_table(counts: &[u64], power: f64, size: usize) -> Vec<TokenId> {
    let p = distribution(counts, power);
    let mut table = Vec::with_capacity(size);
    let mut i = 0usize;
    let mut acc = p[0];
    for a in 0..size {
        table.push(i as TokenId);
        if (a as f64 + 1.0) / size as f64 > acc && i + 1 < p.len() {
            i += 1;
            acc += p[i];
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn zipf(n: usize) -> Vec<u64> {
        (0..n)
            .map(|r| (1_000_000.0 / (r as f64 + 1.0)).ceil() as u64)
            .collect()
    }

    #[test]
    fn sampled_histogram_matches_count_pow_075() {
        let counts = zipf(50);
        let t = AliasTable::new(&counts, 0.75);
        let want = distribution(&counts, 0.75);
        let mut rng = stream(42, &[]);
        let n = 2_000_000usize;
        let mut hist = vec![0u64; counts.len()];
        for _ in 0..n {
            hist[t.sample(&mut rng) as usize] += 1;
        }
        for (i, (&h, &p)) in hist.iter().zip(&want).enumerate() {
            let expected = p * n as f64;
            let sigma = (expected * (1.0 - p)).sqrt();
            assert!(
                (h as f64 - expected).abs() < 5.0 * sigma,
                "word {i}: got {h}, expected {expected:.0} ± {sigma:.0}"
            );
        }
        // And it is not the plain unigram: the top word is damped.
        let raw = distribution(&counts, 1.0);
        assert!((hist[0] as f64 / n as f64) < raw[0] - 0.02);
    }

    #[test]
    fn alias_is_more_exact_than_table() {
        let counts = zipf(20_000);
        let want = distribution(&counts, 0.75);
        let alias = AliasTable::new(&counts, 0.75).implied();
        let table = w2v_table(&counts, 0.75, 1_000_000);
        let mut tp = vec![0.0; counts.len()];
        for &t in &table {
            tp[t as usize] += 1.0 / table.len() as f64;
        }
        let l1 = |q: &[f64]| want.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>();
        let (ea, et) = (l1(&alias), l1(&tp));
        assert!(ea < 1e-6, "alias L1 error {ea}");
        assert!(et > 100.0 * ea, "table L1 error {et} vs alias {ea}");
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = AliasTable::new(&[10, 5, 1, 1], 0.75);
        let p = dir.path().join(FILE_NAME);
        t.write(&p).unwrap();
        assert_eq!(AliasTable::read(&p).unwrap(), t);
        // An alias outside the table is refused, naming the file.
        let mut bytes = std::fs::read(&p).unwrap();
        let below = t
            .entries
            .iter()
            .position(|e| e.threshold != u32::MAX)
            .unwrap();
        bytes[below * 8 + 4..below * 8 + 8].copy_from_slice(&65535i32.to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        let e = AliasTable::read(&p).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME) && e.contains("65535"), "{e}");
    }
}
