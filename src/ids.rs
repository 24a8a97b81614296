//! `vocab/corpus.ids`: the corpus as vocabulary ids, for training from the
//! token stream (`w2v train --corpus vocab/corpus.ids`, [`crate::train::stream`]).
//!
//! In: the normalized corpus (`data/corpus.txt`) and its vocabulary.
//! Out: `vocab/corpus.ids`, written by `w2v vocab` and `w2v pairs` beside
//! the vocabulary (unless `--no-corpus-ids`) and fingerprinted (size and
//! xxh3) in `vocab.manifest.json` like the vocabulary's other files.
//!
//! **Format.** Little-endian `i32` ([`TokenId`]) values, no header, so the
//! file maps straight into a `&[TokenId]`. Each corpus line that keeps at
//! least one in-vocabulary token is written as its ids in order followed by
//! the sentinel [`LINE_END`] (`-1`). Out-of-vocabulary tokens are dropped,
//! as word2vec.c drops them (they neither count nor take a window
//! position); a line left empty is not written at all (it would yield no
//! pair). The file is `4 × (tokens kept + lines kept)` bytes: about 4 bytes
//! per token, for every epoch together.
//!
//! **Checked before use.** [`IdsCorpus::open`] refuses a file that no vocab
//! manifest beside it lists, whose size or xxh3 differs from the manifest's
//! (the full hash: about 0.1 s per GB read, BENCHMARKS.md), or that does not
//! end a line; ids are bounds-checked against the vocabulary chunk by chunk
//! before they index anything ([`IdsCorpus::check_chunk`]).
//!
//! **Chunks.** [`IdsCorpus::chunks`] cuts the stream into ranges of about
//! [`CHUNK_TOKENS`] values, each ending just after a sentinel. The cut
//! depends only on the file, never on the thread count, so everything drawn
//! per chunk is reproducible from the seed.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{io_err, Error, Result};
use crate::manifest::{AtomicFile, Manifest};
use crate::parallel::{chunk_bounds, map_corpus};
use crate::TokenId;

/// The file's name inside the vocabulary directory.
pub const FILE_NAME: &str = "corpus.ids";

/// The value that ends each line.
pub const LINE_END: TokenId = -1;

/// Values (ids and sentinels) per chunk of the stream, about.
pub const CHUNK_TOKENS: usize = 1 << 20;

/// Corpus bytes encoded per task while writing.
const ENCODE_CHUNK_BYTES: usize = 1 << 20;

/// Appends the ids of `text`'s lines to `out`, each non-empty line ended by
/// [`LINE_END`]; tokens missing from `index` are dropped.
pub fn encode(text: &[u8], index: &FxHashMap<&[u8], TokenId>, out: &mut Vec<TokenId>) {
    for line in text.split(|&b| b == b'\n') {
        let start = out.len();
        for tok in line.split(|&b| b == b' ') {
            if let Some(&id) = index.get(tok) {
                out.push(id);
            }
        }
        if out.len() > start {
            out.push(LINE_END);
        }
    }
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// In-vocabulary tokens.
    pub tokens: u64,
    /// Lines (sentinels).
    pub lines: u64,
}

/// Encodes `data` (a normalized corpus) with `index` into a temp file
/// beside `path`, renamed into place by the caller's
/// [`crate::manifest::Finished::commit`]. Chunks are encoded in parallel on
/// `pool` and written in order, a wave at a time.
pub fn write(
    data: &[u8],
    index: &FxHashMap<&[u8], TokenId>,
    path: &Path,
    pool: &rayon::ThreadPool,
) -> Result<(Written, crate::manifest::Finished)> {
    let mut f = AtomicFile::create(path)?;
    let bounds = chunk_bounds(data, ENCODE_CHUNK_BYTES);
    let wave = pool.current_num_threads().max(1) * 2;
    let mut done = Written::default();
    let mut bytes = Vec::new();
    for group in bounds.chunks(wave) {
        let parts: Vec<Vec<TokenId>> = pool.install(|| {
            group
                .par_iter()
                .map(|r| {
                    let mut ids = Vec::with_capacity(r.len() / 5);
                    encode(&data[r.clone()], index, &mut ids);
                    ids
                })
                .collect()
        });
        for ids in parts {
            let lines = ids.iter().filter(|&&x| x == LINE_END).count() as u64;
            done.lines += lines;
            done.tokens += ids.len() as u64 - lines;
            bytes.clear();
            bytes.extend(ids.iter().flat_map(|x| x.to_le_bytes()));
            f.write_all(&bytes).map_err(io_err(path, "write"))?;
        }
    }
    Ok((done, f.finish()?))
}

/// A verified, memory-mapped `corpus.ids`.
pub struct IdsCorpus {
    path: PathBuf,
    /// The vocabulary directory it belongs to.
    vocab_dir: PathBuf,
    map: Option<memmap2::Mmap>,
    /// Its fingerprint (xxh3, hex) as the vocab manifest records it.
    fingerprint: String,
}

// The mapped bytes are read as native `i32`s: the format is little-endian.
#[cfg(target_endian = "big")]
compile_error!("corpus.ids is read in place as little-endian i32");

impl IdsCorpus {
    /// Opens `path`, refusing a file that the vocab manifest in its
    /// directory does not list or that differs from what it recorded.
    pub fn open(path: &Path) -> Result<IdsCorpus> {
        let vocab_dir = crate::manifest::parent_dir(path).to_path_buf();
        let not_ids = |why: &str| {
            Error::InvalidInput {
            path: path.to_path_buf(),
            message: format!(
                "is not a token-id corpus written by `w2v vocab` ({why}); run `w2v vocab --corpus CORPUS.txt --vocab-dir DIR` and pass --corpus DIR/{FILE_NAME}"
            ),
        }
        };
        if !path.is_file() {
            return Err(not_ids(if path.exists() {
                "not a regular file"
            } else {
                "no such file"
            }));
        }
        let m = Manifest::read(&vocab_dir, "vocab")
            .map_err(|_| not_ids("no vocab manifest beside it"))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if m.output(name).is_none() {
            return Err(not_ids("the vocab manifest beside it does not list it"));
        }
        let fp = m.check_output(&vocab_dir, path)?;
        let map = map_corpus(path)?;
        let bytes = map.as_deref().unwrap_or(&[]);
        if bytes.is_empty() {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: "holds no ids; re-run `w2v vocab`".into(),
            });
        }
        if bytes.len() % 4 != 0 {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: format!("is {} bytes, not a whole number of ids", bytes.len()),
            });
        }
        let c = IdsCorpus {
            path: path.to_path_buf(),
            vocab_dir,
            map,
            fingerprint: fp.xxh3,
        };
        if c.ids().last().is_some_and(|&x| x != LINE_END) {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: "does not end a line; it is truncated, re-run `w2v vocab`".into(),
            });
        }
        Ok(c)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vocabulary directory whose manifest lists it.
    pub fn vocab_dir(&self) -> &Path {
        &self.vocab_dir
    }

    /// Its xxh3 (hex), as recorded and verified.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Every value: ids, each line ended by [`LINE_END`].
    pub fn ids(&self) -> &[TokenId] {
        let Some(bytes) = self.map.as_deref() else {
            return &[];
        };
        // A mapping is page-aligned and its length a multiple of 4 (checked
        // in `open`), so the cast cannot fail.
        bytemuck::cast_slice(bytes)
    }

    /// In-vocabulary tokens (values that are not sentinels).
    pub fn n_tokens(&self) -> u64 {
        self.ids().par_iter().filter(|&&x| x != LINE_END).count() as u64
    }

    /// The chunks of the stream ([`chunk_ranges`] with [`CHUNK_TOKENS`]).
    pub fn chunks(&self) -> Vec<Range<usize>> {
        chunk_ranges(self.ids(), CHUNK_TOKENS)
    }

    /// Refuses a chunk holding an id outside a vocabulary of `n_words`.
    pub fn check_chunk(&self, r: &Range<usize>, n_words: usize) -> Result<()> {
        let ids = &self.ids()[r.clone()];
        match first_outside(ids, n_words) {
            None => Ok(()),
            Some(i) => Err(Error::Mismatch {
                path: self.path.clone(),
                message: format!(
                    "holds id {} at value {}, outside the vocabulary of {n_words} words; it is corrupt, re-run `w2v vocab`",
                    ids[i],
                    r.start + i
                ),
            }),
        }
    }
}

/// Cuts `ids` into ranges of about `size` values, each but the last ending
/// just after a [`LINE_END`] (a line longer than `size` stays whole).
pub fn chunk_ranges(ids: &[TokenId], size: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ids.len() {
        let mut end = (start + size).min(ids.len());
        if end < ids.len() && ids[end - 1] != LINE_END {
            end = match ids[end..].iter().position(|&x| x == LINE_END) {
                Some(i) => end + i + 1,
                None => ids.len(),
            };
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// The lines of a chunk (sentinels removed).
pub fn lines(ids: &[TokenId]) -> impl Iterator<Item = &[TokenId]> {
    ids.split(|&x| x == LINE_END).filter(|l| !l.is_empty())
}

/// The position of the first value of `ids` that is neither a line end nor
/// an id of a vocabulary of `n_words`.
pub fn first_outside(ids: &[TokenId], n_words: usize) -> Option<usize> {
    ids.iter()
        .position(|&x| x != LINE_END && (x < 0 || x as usize >= n_words))
}

/// [`lines`] with the offset of each line's first id in `ids`.
pub fn lines_at(ids: &[TokenId]) -> impl Iterator<Item = (usize, &[TokenId])> {
    let mut start = 0;
    ids.split(|&x| x == LINE_END).filter_map(move |l| {
        let at = start;
        start += l.len() + 1;
        (!l.is_empty()).then_some((at, l))
    })
}

/// Cuts `ids` into `parts` ranges (some possibly empty) that start and end
/// at line ends, of about equal length: the work of one thread each.
pub fn split_at_lines(ids: &[TokenId], parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let mut cuts = vec![0];
    for p in 1..parts {
        let at = (ids.len() * p / parts).max(*cuts.last().unwrap());
        let end = ids[at..]
            .iter()
            .position(|&x| x == LINE_END)
            .map_or(ids.len(), |i| at + i + 1);
        cuts.push(end);
    }
    cuts.push(ids.len());
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index<'a>(words: &[&'a str]) -> FxHashMap<&'a [u8], TokenId> {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_bytes(), i as TokenId))
            .collect()
    }

    #[test]
    fn encoding_drops_oov_tokens_and_empty_lines() {
        let idx = index(&["а", "б", "в"]);
        let mut out = Vec::new();
        encode("а x б\n\nyy zz\nв в\n".as_bytes(), &idx, &mut out);
        assert_eq!(out, [0, 1, -1, 2, 2, -1]);
        // No trailing newline: the last line still ends.
        out.clear();
        encode("б".as_bytes(), &idx, &mut out);
        assert_eq!(out, [1, -1]);
        assert_eq!(
            lines(&[0, 1, -1, 2, -1]).collect::<Vec<_>>(),
            [&[0, 1][..], &[2]]
        );
    }

    #[test]
    fn chunks_end_after_a_sentinel_and_cover_the_stream() {
        let ids = [0, 1, -1, 2, -1, 3, 4, 5, -1, 6, -1];
        let c = chunk_ranges(&ids, 2);
        assert_eq!(c, [0..3, 3..5, 5..9, 9..11]);
        assert_eq!(chunk_ranges(&ids, 100), std::slice::from_ref(&(0..11)));
        assert!(chunk_ranges(&[], 4).is_empty());
        // A cut that falls just after a sentinel stays there.
        assert_eq!(chunk_ranges(&ids, 3), [0..3, 3..9, 9..11]);
    }

    #[test]
    fn written_ids_round_trip_and_are_refused_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = crate::train::oracle::test_corpus(dir.path(), 200_000).unwrap();
        let cfg = crate::vocab::VocabConfig {
            corpus: corpus.clone(),
            vocab_dir: dir.path().join("vocab"),
            ..Default::default()
        };
        let (vocab, s) = crate::vocab::run(&cfg, &crate::progress::Progress::silent()).unwrap();
        let path = cfg.vocab_dir.join(FILE_NAME);
        let c = IdsCorpus::open(&path).unwrap();
        assert_eq!(c.n_tokens(), s.n_tokens_covered);
        // The same as encoding the text in one piece.
        let mut want = Vec::new();
        encode(&std::fs::read(&corpus).unwrap(), &vocab.index(), &mut want);
        assert_eq!(c.ids(), &want[..]);
        for r in c.chunks() {
            c.check_chunk(&r, vocab.len()).unwrap();
        }
        assert!(c.check_chunk(&(0..c.ids().len()), 3).is_err());
        drop(c);
        // One id changed, same size: the hash catches it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = IdsCorpus::open(&path).err().unwrap().to_string();
        assert!(e.contains("does not match"), "{e}");
        // Truncated: the size differs.
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert!(IdsCorpus::open(&path).is_err());
        // A text file is not an ids corpus.
        let e = IdsCorpus::open(&corpus).err().unwrap().to_string();
        assert!(e.contains("run `w2v vocab"), "{e}");
    }
}
