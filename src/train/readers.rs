//! Shard decoders running ahead of training.
//!
//! Row group u of the plan goes to reader u mod n, and [`Readers::recv`]
//! takes the readers' output in plan order, so the pairs arrive exactly as
//! one reader would deliver them while parquet decoding (about 80M pairs/s
//! per core) runs on several cores.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use crate::error::{joined, Error, Result};
use crate::shards::{shard_path, Shard, ShardInfo};
use crate::TokenId;

use super::PlannedShard;

/// Pairs of one row group, in plan order.
pub struct Chunk {
    /// Epoch of the plan entry.
    pub epoch: u32,
    /// Shard index within the epoch.
    pub shard: usize,
    /// Centres.
    pub centres: Vec<TokenId>,
    /// Contexts.
    pub contexts: Vec<TokenId>,
    /// The last chunk of its shard.
    pub end_of_shard: bool,
    /// On the stream path for an engine that draws its own pairs: the
    /// plan entry's token range of `corpus.ids` (the pair columns are empty).
    pub tokens: Option<std::ops::Range<usize>>,
}

/// Where the driver takes its pairs from, in plan order: the shard
/// [`Readers`], or the token stream's [`super::stream::Producer`].
pub trait Source {
    /// The next chunk in plan order; `None` when the plan is done.
    fn recv(&mut self) -> Option<Result<Chunk>>;
    /// Stops the threads behind it and joins them.
    fn stop(self: Box<Self>);
}

impl Source for Readers {
    fn recv(&mut self) -> Option<Result<Chunk>> {
        Readers::recv(self)
    }
    fn stop(self: Box<Self>) {
        Readers::stop(*self)
    }
}

/// One row group of one shard of the plan: the unit of parallel decoding.
struct Unit {
    epoch: u32,
    shard: usize,
    file: Shard,
    /// `None` for an empty shard, which still ends.
    row_group: Option<usize>,
    /// Pairs to drop from the start (resuming mid-shard).
    skip: u64,
    /// The row group's checksum from the shards manifest, if recorded.
    checksum: Option<String>,
    /// The shard's manifest entry, on its first unit only: that unit
    /// checks the whole file before handing anything on.
    check_file: Option<ShardInfo>,
    last_of_shard: bool,
}

/// The decoder threads and their channels.
pub struct Readers {
    rxs: Vec<Receiver<Result<Chunk>>>,
    handles: Vec<JoinHandle<()>>,
    /// Index of the next unit to receive.
    next: usize,
    total: usize,
}

/// Decoder threads: half the cores, 1 to 8 (the fused CUDA kernel consumes
/// pairs faster than 6 cores decode them; BENCHMARKS.md).
pub(crate) fn reader_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .clamp(1, 8)
}

/// The units of `todo`, dropping `skip_pairs` from the first shard.
fn plan_units(dir: &Path, todo: &[PlannedShard], skip_pairs: u64) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (k, p) in todo.iter().enumerate() {
        let path = shard_path(dir, &p.info);
        let opened = std::panic::catch_unwind(|| Shard::open(&path)).unwrap_or_else(|panic| {
            Err(Error::Mismatch {
                path: path.clone(),
                message: format!(
                    "cannot parse its footer ({})",
                    crate::error::panic_message(&*panic)
                ),
            })
        });
        // A shard that does not open is reported as corrupt when its hash
        // says so (clearer than the parquet error).
        let file = opened.map_err(|e| p.info.check_file(&path).err().unwrap_or(e))?;
        let groups = file.row_groups();
        let rows: u64 = groups.iter().sum();
        let bytes = std::fs::metadata(&path)
            .map_err(crate::error::io_err(&path, "stat shard"))?
            .len();
        if bytes != p.info.bytes {
            return Err(Error::Mismatch {
                path,
                message: format!(
                    "is {bytes} bytes but the shards manifest says {}; the shard changed after `w2v pairs` wrote it, re-run it",
                    p.info.bytes
                ),
            });
        }
        let sums = &p.info.checksums;
        if !sums.is_empty() && sums.len() != groups.len() {
            return Err(Error::Mismatch {
                path,
                message: format!(
                    "has {} row groups but the shards manifest records {} checksums; the shard is corrupt, re-run `w2v pairs`",
                    groups.len(),
                    sums.len()
                ),
            });
        }
        if rows != p.info.pairs {
            return Err(Error::Mismatch {
                path,
                message: format!(
                    "holds {rows} pairs but the shards manifest says {}; re-run `w2v pairs`",
                    p.info.pairs
                ),
            });
        }
        let mut first_row = 0u64;
        for (rg, rows) in groups.iter().enumerate() {
            let skip = if k == 0 {
                skip_pairs.saturating_sub(first_row).min(*rows)
            } else {
                0
            };
            first_row += rows;
            units.push(Unit {
                epoch: p.epoch,
                shard: p.shard,
                file: file.clone(),
                row_group: Some(rg),
                skip,
                checksum: sums.get(rg).cloned(),
                check_file: (rg == 0).then(|| p.info.clone()),
                last_of_shard: rg + 1 == groups.len(),
            });
        }
        if groups.is_empty() {
            units.push(Unit {
                epoch: p.epoch,
                shard: p.shard,
                file,
                row_group: None,
                skip: 0,
                checksum: None,
                check_file: Some(p.info.clone()),
                last_of_shard: true,
            });
        }
    }
    Ok(units)
}

/// Decodes one unit whole and checks its checksum before handing it on
/// (the first unit of a shard hashes the whole file first), so no pair of
/// a corrupt shard reaches an engine: units are consumed in plan order.
/// Skipped pairs are hashed too. A decoder panic (parquet on corrupt pages) becomes an error
/// naming the shard.
fn read_unit(u: &Unit) -> Result<Chunk> {
    if let Some(info) = &u.check_file {
        info.check_file(u.file.path())?;
    }
    let (mut t, mut c) = (Vec::new(), Vec::new());
    if let Some(rg) = u.row_group {
        let mut skip = u.skip as usize;
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            u.file
                .read_row_group_checked(rg, 1 << 20, u.checksum.as_deref(), |bt, bc| {
                    let k = skip.min(bt.len());
                    skip -= k;
                    t.extend_from_slice(&bt[k..]);
                    c.extend_from_slice(&bc[k..]);
                    Ok(())
                })
        }));
        match read {
            Ok(r) => {
                r?;
            }
            Err(panic) => {
                return Err(Error::Mismatch {
                    path: u.file.path().to_path_buf(),
                    message: format!(
                    "cannot decode row group {rg} ({}); the shard is corrupt, re-run `w2v pairs`",
                    crate::error::panic_message(&*panic)
                ),
                })
            }
        }
    }
    Ok(Chunk {
        epoch: u.epoch,
        shard: u.shard,
        centres: t,
        contexts: c,
        end_of_shard: u.last_of_shard,
        tokens: None,
    })
}

impl Readers {
    /// Starts decoding `todo` (the plan from the cursor on), dropping the
    /// first `skip_pairs` pairs of its first shard.
    pub fn spawn(dir: &Path, todo: &[PlannedShard], skip_pairs: u64) -> Result<Readers> {
        let units = plan_units(dir, todo, skip_pairs)?;
        let n = reader_threads().min(units.len().max(1));
        let total = units.len();
        let mut per: Vec<Vec<Unit>> = (0..n).map(|_| Vec::new()).collect();
        for (i, u) in units.into_iter().enumerate() {
            per[i % n].push(u);
        }
        let mut rxs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for mine in per {
            // Two row groups (about 16 MB) buffered per reader.
            let (tx, rx) = sync_channel::<Result<Chunk>>(2);
            handles.push(std::thread::spawn(move || {
                for u in mine {
                    let r = read_unit(&u);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            }));
            rxs.push(rx);
        }
        Ok(Readers {
            rxs,
            handles,
            next: 0,
            total,
        })
    }

    /// The next chunk in plan order; `None` when every unit is done.
    pub fn recv(&mut self) -> Option<Result<Chunk>> {
        if self.next >= self.total {
            return None;
        }
        let k = self.next % self.rxs.len();
        self.next += 1;
        match self.rxs[k].recv() {
            Ok(r) => Some(r),
            // The reader stopped without sending: it panicked. Report why.
            Err(_) => Some(Err(self.reader_failure(k))),
        }
    }

    /// The panic message of reader `k`, which closed its channel early.
    fn reader_failure(&mut self, k: usize) -> Error {
        let h = std::mem::replace(&mut self.handles[k], std::thread::spawn(|| ()));
        match joined("shard reader", h.join()) {
            Err(e) => e,
            Ok(()) => Error::Cancelled,
        }
    }

    /// Stops the readers (they see their channel closed) and joins them.
    pub fn stop(self) {
        drop(self.rxs);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_reader_is_reported_with_its_message() {
        let (tx, rx) = sync_channel::<Result<Chunk>>(1);
        let h = std::thread::spawn(move || {
            let _keep = tx;
            panic!("row group 3 is garbage");
        });
        let mut r = Readers {
            rxs: vec![rx],
            handles: vec![h],
            next: 0,
            total: 1,
        };
        let e = r.recv().unwrap().err().unwrap().to_string();
        assert!(
            e.contains("shard reader") && e.contains("row group 3 is garbage"),
            "{e}"
        );
        r.stop();
    }
}
