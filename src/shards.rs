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

/// Encodes one shard into `path` atomically and returns its size on disk.
pub fn write_shard(path: &Path, targets: &[TokenId], contexts: &[TokenId]) -> Result<u64> {
    assert_eq!(
        targets.len(),
        contexts.len(),
        "shard columns differ in length"
    );
    let out = AtomicFile::create(path)?;
    let mut w =
        ArrowWriter::try_new(out, schema(), Some(props())).map_err(pq_err(path, "start shard"))?;
    write_rows(&mut w, path, targets, contexts)?;
    let out = w.into_inner().map_err(pq_err(path, "finish shard"))?;
    out.commit()?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
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

/// Streams the pairs of one shard in batches of at most `batch` rows.
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

    /// Streams the pairs of row group `rg` in batches of at most `batch` rows.
    pub fn read_row_group(
        &self,
        rg: usize,
        batch: usize,
        mut f: impl FnMut(&[TokenId], &[TokenId]) -> Result<()>,
    ) -> Result<u64> {
        let path = &self.path;
        let file = File::open(path).map_err(crate::error::io_err(path, "open shard"))?;
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
        let bytes = write_shard(&p, &t, &c).unwrap();
        assert!(bytes > 0);
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
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}
