//! Parallel plumbing shared by the corpus stages ([`crate::prep`],
//! [`crate::vocab`], [`crate::pairs`]).
//!
//! In: a thread count, and the normalized corpus that `prep` wrote.
//! Out: nothing on disk. This module owns no format; it holds the pieces
//! that each stage would otherwise repeat:
//! - [`threads`] and [`pool`]: the worker count (0 = all cores) and a rayon
//!   pool of that size;
//! - [`map_corpus`]: the normalized corpus mapped read-only into memory;
//! - [`chunk_bounds`]: newline-aligned chunks of a fixed byte size, so the
//!   work split, and every result derived from it, does not depend on the
//!   thread count.

use std::ops::Range;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{io_err, Error, Result};

/// Threads per core beyond which a thread count is capped (more only
/// contend, and `--threads 100000` would exhaust the machine).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The number of worker threads for `threads` (0 = all cores), capped at
/// [`MAX_THREADS_PER_CORE`] per core.
pub fn threads(threads: usize) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads == 0 {
        cores
    } else {
        threads.min(MAX_THREADS_PER_CORE * cores)
    }
}

/// Builds a thread pool of `threads` (0 = all cores).
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    let n = self::threads(threads);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::InvalidConfig(format!("cannot start {n} threads: {e}")))
}

/// Newline-aligned chunks of `data`, each about `size` bytes: every chunk
/// but the last ends just after a `\n` (or at the end of `data`).
pub fn chunk_bounds(data: &[u8], size: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let mut end = (start + size).min(data.len());
        if end < data.len() {
            end = match memchr::memchr(b'\n', &data[end..]) {
                Some(i) => end + i + 1,
                None => data.len(),
            };
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Maps the corpus file read-only (an empty file gives `None`, which callers
/// read as an empty slice).
pub fn map_corpus(path: &Path) -> Result<Option<Mmap>> {
    let f = std::fs::File::open(path).map_err(io_err(path, "open corpus"))?;
    let len = f.metadata().map_err(io_err(path, "stat corpus"))?.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: `Mmap::map` is unsafe because the mapped bytes would change
    // under the `&[u8]` (or fault with SIGBUS) if the file were modified or
    // truncated while mapped; opening it read-only does not prevent that.
    // w2v never writes a corpus in place: `prep` writes it through
    // `AtomicFile` (a temp file renamed over the name), which leaves an
    // existing map on the old inode unchanged, so a `w2v prep` running
    // beside us is harmless. Another program editing the corpus in place
    // while a stage runs is outside that guarantee, as for every mmap reader.
    let m = unsafe { Mmap::map(&f) }.map_err(io_err(path, "map corpus"))?;
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_at_newlines_and_cover_the_data() {
        let data = b"aa\nbb\ncc\n";
        assert_eq!(chunk_bounds(data, 4), vec![0..6, 6..9]);
        assert_eq!(chunk_bounds(data, 1), vec![0..3, 3..6, 6..9]);
        // No trailing newline: the last chunk runs to the end.
        assert_eq!(chunk_bounds(b"aa\nbb", 1), vec![0..3, 3..5]);
        assert!(chunk_bounds(b"", 4).is_empty());
    }

    #[test]
    fn zero_threads_means_all_cores() {
        assert!(threads(0) >= 1);
        assert_eq!(threads(3), 3);
        assert_eq!(pool(2).unwrap().current_num_threads(), 2);
    }

    #[test]
    fn empty_corpus_maps_to_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("corpus.txt");
        std::fs::write(&p, "").unwrap();
        assert!(map_corpus(&p).unwrap().is_none());
        std::fs::write(&p, "а б\n").unwrap();
        assert_eq!(&map_corpus(&p).unwrap().unwrap()[..], "а б\n".as_bytes());
    }
}
