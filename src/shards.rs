//! The shard format: the one parquet schema every pair file in the project uses.
//!
//! Layout: `shards/epoch-XX/part-NNNNN.parquet` plus `shards/manifest.json`.
//! Each `epoch-XX` directory is one independent draw of subsampling and
//! dynamic windows (see [`crate::pairs`]); training epoch `e` reads draw
//! `e % n_draws`.
//!
//! Schema (Arrow / parquet), one row per (target, context) pair:
//!
//! | column    | type          | meaning                                    |
//! |-----------|---------------|--------------------------------------------|
//! | `target`  | int32, non-null | id of the centre word (input embedding)  |
//! | `context` | int32, non-null | id of a word inside its window (output)  |
//!
//! Rows of one centre word are contiguous and in corpus order unless the
//! shard was written with `--shuffle`. Row groups hold [`ROW_GROUP`] rows so
//! readers stream in bounded memory. Both columns are dictionary + RLE
//! encoded and zstd compressed: `target` repeats in runs (one run per centre
//! word), which RLE makes almost free, and `context` ids are Zipf-distributed,
//! which the bit-packed dictionary indices and zstd exploit.
//!
//! **Integrity.** Each shard's entry in the shards manifest ([`ShardInfo`])
//! records its size in bytes, its pairs, the xxh3 of the whole file, and
//! one checksum per row group ([`PairSum`]: xxh3 of the decoded `target`
//! and `context` values). Training checks the size and row count when it
//! opens a shard, hashes the whole file before the shard's first row group
//! is handed on (so every byte is covered, footer and padding included),
//! and verifies each row group's checksum as it decodes it
//! ([`Shard::read_row_group_checked`]; this also covers a file changed
//! between the two reads). Pairs are consumed in plan order, so no pair of
//! a corrupt shard reaches an engine: a flipped byte is an error naming the
//! shard, never a silently altered pair. The file hash reads about 2.5
//! bytes a pair at several GB/s, the row-group checksums hash 8 bytes a
//! decoded pair; together a few percent of decoding (BENCHMARKS.md).
//! Manifests written before checksums were recorded have neither, and
//! their shards are checked for size and rows only.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

use crate::error::{arrow_err, invalid, pq_err, Result};
use crate::manifest::AtomicFile;
use crate::TokenId;

/// Rows per row group.
pub const ROW_GROUP: usize = 1 << 20;

/// The shard schema.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("target", DataType::Int32, false),
        Field::new("context", DataType::Int32, false),
    ]))
}

/// One written shard.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShardInfo {
    /// Path relative to the shards directory.
    pub file: String,
    /// Draw (epoch directory) it belongs to.
    pub draw: u32,
    /// Pairs in it.
    pub pairs: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// xxh3-64 of the whole file, hex (as [`crate::manifest::fingerprint`]
    /// computes it). `None` in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xxh3: Option<String>,
    /// The checksum of each row group, in order ([`PairSum::digest`]).
    /// Empty in manifests written before checksums were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<String>,
}

impl ShardInfo {
    /// Checks the whole file at `path` against the recorded size and
    /// hash (nothing to check when no hash was recorded).
    pub fn check_file(&self, path: &Path) -> Result<()> {
        let Some(want) = &self.xxh3 else {
            return Ok(());
        };
        let got = crate::manifest::fingerprint(path)?;
        if got.bytes != self.bytes || &got.xxh3 != want {
            return Err(crate::error::Error::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "does not match the shards manifest (xxh3 {} vs {want}, {} vs {} bytes); the shard is corrupt or changed after `w2v pairs` wrote it, re-run it",
                    got.xxh3, got.bytes, self.bytes
                ),
            });
        }
        Ok(())
    }
}

/// The checksum of a run of pairs: xxh3-64 over the `target` values and,
/// separately, over the `context` values (as little-endian i32), combined
/// by a final xxh3 of the two digests. It does not depend on how the rows
/// are split into batches, so a writer and a reader agree on it whatever
/// batch sizes each uses.
#[derive(Clone, Default)]
pub struct PairSum {
    t: xxhash_rust::xxh3::Xxh3,
    c: xxhash_rust::xxh3::Xxh3,
    rows: u64,
}

impl PairSum {
    /// Adds rows (the columns are of equal length).
    pub fn update(&mut self, targets: &[TokenId], contexts: &[TokenId]) {
        self.t.update(le_bytes(targets));
        self.c.update(le_bytes(contexts));
        self.rows += targets.len() as u64;
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The checksum, 16 hex digits.
    pub fn digest(&self) -> String {
        let mut both = [0u8; 16];
        both[..8].copy_from_slice(&self.t.digest().to_le_bytes());
        both[8..].copy_from_slice(&self.c.digest().to_le_bytes());
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&both))
    }
}

/// The bytes of `ids` as stored little-endian.
#[cfg(target_endian = "little")]
fn le_bytes(ids: &[TokenId]) -> &[u8] {
    bytemuck::cast_slice(ids)
}

/// The checksums of a shard being written, one per [`ROW_GROUP`] rows:
/// the row groups the writer cuts ([`props`] caps them at `ROW_GROUP` rows
/// and [`ShardSums::check_groups`] checks they match).
#[derive(Default)]
pub struct ShardSums {
    done: Vec<String>,
    cur: PairSum,
}

impl ShardSums {
    /// Adds rows in shard order.
    pub fn update(&mut self, mut targets: &[TokenId], mut contexts: &[TokenId]) {
        while !targets.is_empty() {
            let room = ROW_GROUP - self.cur.rows() as usize;
            let k = room.min(targets.len());
            self.cur.update(&targets[..k], &contexts[..k]);
            (targets, contexts) = (&targets[k..], &contexts[k..]);
            if self.cur.rows() as usize == ROW_GROUP {
                self.done.push(std::mem::take(&mut self.cur).digest());
            }
        }
    }

    /// The checksums, after checking that the writer cut its row groups
    /// where they were computed (`groups`: rows per written row group).
    pub fn finish(mut self, path: &Path, groups: &[u64]) -> Result<Vec<String>> {
        if self.cur.rows() > 0 {
            self.done.push(self.cur.digest());
        }
        let rows: u64 = groups.iter().sum();
        let aligned = groups.len() == self.done.len()
            && groups
                .iter()
                .enumerate()
                .all(|(i, &n)| n == ROW_GROUP as u64 || (i + 1 == groups.len() && n > 0));
        if !aligned {
            return Err(invalid(
                path,
                format!(
                    "the parquet writer cut {} rows into row groups {groups:?}, not the {ROW_GROUP}-row groups the checksums cover (a bug)",
                    rows
                ),
            ));
        }
        Ok(self.done)
    }
}

/// Rows of each row group an [`ArrowWriter`] has flushed.
pub fn flushed_groups<W: std::io::Write + Send>(w: &ArrowWriter<W>) -> Vec<u64> {
    w.flushed_row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as u64)
        .collect()
}

/// The directory of draw `d`.
pub fn draw_dir(d: u32) -> String {
    format!("epoch-{d:02}")
}

/// Writer settings shared by every shard writer.
pub fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid zstd level"),
        ))
        .set_dictionary_enabled(true)
        .set_dictionary_page_size_limit(16 << 20)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_statistics_enabled(EnabledStatistics::None)
        .build()
}

/// Encodes one shard into `path` atomically and returns its size on disk
/// and its row-group checksums (what [`ShardInfo`] records).
pub fn write_shard(
    path: &Path,
    targets: &[TokenId],
    contexts: &[TokenId],
) -> Result<(u64, Vec<String>)> {
    assert_eq!(
        targets.len(),
        contexts.len(),
        "shard columns differ in length"
    );
    let out = AtomicFile::create(path)?;
    let mut w =
        ArrowWriter::try_new(out, schema(), Some(props())).map_err(pq_err(path, "start shard"))?;
    write_rows(&mut w, path, targets, contexts)?;
    w.flush().map_err(pq_err(path, "finish shard"))?;
    let mut sums = ShardSums::default();
    sums.update(targets, contexts);
    let sums = sums.finish(path, &flushed_groups(&w))?;
    let out = w.into_inner().map_err(pq_err(path, "finish shard"))?;
    out.commit()?;
    let bytes = std::fs::metadata(path)
        .map_err(crate::error::io_err(path, "stat shard"))?
        .len();
    Ok((bytes, sums))
}

/// Appends pairs to an open shard writer, one batch per [`ROW_GROUP`] rows.
pub fn write_rows<W: std::io::Write + Send>(
    w: &mut ArrowWriter<W>,
    path: &Path,
    targets: &[TokenId],
    contexts: &[TokenId],
) -> Result<()> {
    for start in (0..targets.len()).step_by(ROW_GROUP) {
        let end = (start + ROW_GROUP).min(targets.len());
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int32Array::from(targets[start..end].to_vec())),
                Arc::new(Int32Array::from(contexts[start..end].to_vec())),
            ],
        )
        .map_err(arrow_err(path, "build batch for"))?;
        w.write(&batch).map_err(pq_err(path, "write shard"))?;
    }
    Ok(())
}

/// Streams the pairs of one shard in batches of at most `batch` rows
/// (unchecked: see [`Shard::read_row_group_checked`]).
pub fn read_shard(
    path: &Path,
    batch: usize,
    mut f: impl FnMut(&[TokenId], &[TokenId]) -> Result<()>,
) -> Result<u64> {
    let shard = Shard::open(path)?;
    let mut n = 0;
    for rg in 0..shard.row_groups().len() {
        n += shard.read_row_group(rg, batch, &mut f)?;
    }
    Ok(n)
}

/// An open shard: its footer is parsed once, then row groups can be
/// decoded independently (and in parallel, from clones).
#[derive(Clone)]
pub struct Shard {
    path: PathBuf,
    meta: ArrowReaderMetadata,
}

impl Shard {
    /// Opens a shard and checks its schema.
    pub fn open(path: &Path) -> Result<Shard> {
        let file = File::open(path).map_err(crate::error::io_err(path, "open shard"))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
            .map_err(pq_err(path, "read shard"))?;
        let fields = meta.schema().fields();
        let ok = fields.len() == 2
            && fields[0].name() == "target"
            && fields[1].name() == "context"
            && fields.iter().all(|f| f.data_type() == &DataType::Int32);
        if !ok {
            return Err(invalid(
                path,
                "not a w2v shard: expected columns target:int32, context:int32",
            ));
        }
        Ok(Shard {
            path: path.to_path_buf(),
            meta,
        })
    }

    /// Rows in each row group.
    pub fn row_groups(&self) -> Vec<u64> {
        self.meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows().max(0) as u64)
            .collect()
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Shard::read_row_group`], then checks the rows read against the
    /// checksum `want` (from [`ShardInfo::checksums`]; `None` checks
    /// nothing). `f` has seen every batch when the check runs: a caller
    /// that must not use unverified pairs collects them and uses them only
    /// once this returns `Ok`.
    pub fn read_row_group_checked(
        &self,
        rg: usize,
        batch: usize,
        want: Option<&str>,
        mut f: impl FnMut(&[TokenId], &[TokenId]) -> Result<()>,
    ) -> Result<u64> {
        let Some(want) = want else {
            return self.read_row_group(rg, batch, f);
        };
        let mut sum = PairSum::default();
        let n = self.read_row_group(rg, batch, |t, c| {
            sum.update(t, c);
            f(t, c)
        })?;
        let got = sum.digest();
        if got != want {
            return Err(crate::error::Error::Mismatch {
                path: self.path.clone(),
                message: format!(
                    "row group {rg} fails its checksum (xxh3 {got}, the shards manifest records {want}); the shard is corrupt, re-run `w2v pairs`"
                ),
            });
        }
        Ok(n)
    }

    /// Streams the pairs of row group `rg` in batches of at most `batch` rows.
    pub fn read_row_group(
        &self,
        rg: usize,
        batch: usize,
        mut f: impl FnMut(&[TokenId], &[TokenId]) -> Result<()>,
    ) -> Result<u64> {
        let path = &self.path;
        let file = File::open(path).map_err(crate::error::io_err(path, "open shard"))?;
        crate::parquet_guard::check_row_group(path, &file, self.meta.metadata(), rg, &[0, 1])?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_row_groups(vec![rg])
            .with_batch_size(batch.max(1))
            .build()
            .map_err(pq_err(path, "read shard"))?;
        let mut n = 0u64;
        for b in reader {
            let b = b.map_err(arrow_err(path, "decode shard"))?;
            let t = b.column(0).as_primitive::<Int32Type>();
            let c = b.column(1).as_primitive::<Int32Type>();
            if t.null_count() > 0 || c.null_count() > 0 {
                return Err(invalid(path, "shard has null ids"));
            }
            n += t.len() as u64;
            f(t.values(), c.values())?;
        }
        Ok(n)
    }
}

/// Number of rows in a shard, from its footer.
pub fn count_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(crate::error::io_err(path, "open shard"))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq_err(path, "read shard"))?;
    Ok(builder.metadata().file_metadata().num_rows() as u64)
}

/// Absolute path of a shard listed in a manifest.
pub fn shard_path(dir: &Path, info: &ShardInfo) -> PathBuf {
    dir.join(&info.file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_over_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("part-00000.parquet");
        let n = ROW_GROUP + 12345;
        let t: Vec<i32> = (0..n as i32).map(|i| i / 6).collect();
        let c: Vec<i32> = (0..n as i64)
            .map(|i| ((i * 7919) % 100_000) as i32)
            .collect();
        let (bytes, sums) = write_shard(&p, &t, &c).unwrap();
        assert!(bytes > 0);
        assert_eq!(sums.len(), 2);
        assert_eq!(count_rows(&p).unwrap(), n as u64);
        let (mut rt, mut rc) = (Vec::new(), Vec::new());
        let got = read_shard(&p, 100_000, |a, b| {
            rt.extend_from_slice(a);
            rc.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, n as u64);
        assert_eq!((rt, rc), (t, c));
        // Each row group reads back to its checksum, whatever the batch size.
        let shard = Shard::open(&p).unwrap();
        assert_eq!(shard.row_groups(), vec![ROW_GROUP as u64, 12345]);
        for (rg, want) in sums.iter().enumerate() {
            shard
                .read_row_group_checked(rg, 777, Some(want), |_, _| Ok(()))
                .unwrap();
        }
        let e = shard
            .read_row_group_checked(1, 777, Some(&sums[0]), |_, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("part-00000.parquet") && e.contains("row group 1 fails its checksum"),
            "{e}"
        );
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}
