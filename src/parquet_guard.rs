//! Checks a parquet file's column chunks before the `parquet` crate reads
//! them, so that a hostile file is refused with one line instead of
//! panicking or stalling the reader.
//!
//! Two defects of the crate (60.1) are guarded here, both found by fuzzing
//! (`tests/fuzz`, TESTING.md):
//!
//! - a column chunk whose footer offset or size is negative, or lies outside
//!   the file, makes it panic (`ColumnChunkMetaData::byte_range`);
//! - a page header holding a list, set or map of booleans makes its Thrift
//!   skip loop run once per announced element without consuming a byte, so
//!   a 1.5 kB file with a few such lists of 2³¹ elements stalls `prep` for
//!   minutes.
//!
//! [`check_row_group`] walks the page headers of the chunks that are about
//! to be read (one small read per page: pages are about a megabyte, headers
//! a few dozen bytes), with every loop bounded by the bytes left in the
//! chunk, and checks that the pages tile the chunk exactly, which is also
//! what the crate's page reader assumes. It reads only the Thrift compact
//! protocol's framing and the page sizes; decoding the pages is left to the
//! crate.

use crate::error::{invalid, io_err, Error, Result};
use parquet::file::metadata::ParquetMetaData;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Deepest nesting of structs and collections accepted in a page header
/// (real ones nest three deep; the crate itself stops at 64).
const MAX_DEPTH: u32 = 32;

/// Checks the column chunks `columns` of row group `rg` of the parquet file
/// `file` (at `path`, described by `meta`): their byte ranges lie inside the
/// file and their page headers are well formed and tile them.
pub(crate) fn check_row_group(
    path: &Path,
    file: &File,
    meta: &ParquetMetaData,
    rg: usize,
    columns: &[usize],
) -> Result<()> {
    let bad = |message: String| invalid(path, format!("corrupt parquet file: {message}"));
    let file_len = file.metadata().map_err(io_err(path, "read"))?.len();
    let group = meta
        .row_groups()
        .get(rg)
        .ok_or_else(|| bad(format!("no row group {rg}")))?;
    let mut r = BufReader::with_capacity(4096, file);
    for &col in columns {
        let c = group
            .columns()
            .get(col)
            .ok_or_else(|| bad(format!("row group {rg} has no column {col}")))?;
        let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
        let len = c.compressed_size();
        if start < 0 || len < 0 || (start as u64).saturating_add(len as u64) > file_len {
            return Err(bad(format!(
                "a column chunk at offset {start} of {len} bytes lies outside the file ({file_len} bytes)"
            )));
        }
        let (start, end) = (start as u64, start as u64 + len as u64);
        let plain = c.compression() == parquet::basic::Compression::UNCOMPRESSED;
        r.seek(SeekFrom::Start(start))
            .map_err(io_err(path, "read"))?;
        let mut pos = start;
        let mut page = 0u64;
        while pos < end {
            let mut w = Walker {
                r: &mut r,
                pos,
                end,
                io: None,
            };
            let header = w.page_header();
            if let Some(e) = w.io.take() {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    action: "read",
                    source: e,
                });
            }
            let page_info = header.map_err(|m| {
                bad(format!(
                    "row group {rg}, column {col}, page {page} at byte {pos}: {m}"
                ))
            })?;
            let Page { size, raw, values } = page_info;
            // The crate divides by the values count when it decodes a page
            // holding bytes (found by fuzzing: a dictionary page of 0
            // values panicked it).
            let holds_bytes = raw > 0 || (plain && size > 0);
            match values {
                Some(v) if v < 0 || (v == 0 && holds_bytes) => {
                    return Err(bad(format!(
                        "row group {rg}, column {col}, page {page} at byte {pos}: {v} values in a page of {raw} bytes"
                    )))
                }
                _ => {}
            }
            let body = w.pos;
            if size > end - body {
                return Err(bad(format!(
                    "row group {rg}, column {col}, page {page} at byte {pos}: its {size} bytes run past the end of the column chunk (byte {end})"
                )));
            }
            pos = body + size;
            r.seek_relative(size as i64).map_err(io_err(path, "read"))?;
            page += 1;
        }
    }
    Ok(())
}

/// What [`check_row_group`] needs of a page header.
#[derive(Debug, PartialEq)]
struct Page {
    /// `compressed_page_size`: the bytes of the page body after the header.
    size: u64,
    /// `uncompressed_page_size`.
    raw: u64,
    /// The data or dictionary page header's `num_values`.
    values: Option<i64>,
}

/// Reads one page header in the Thrift compact protocol, never past `end`.
struct Walker<'a, R> {
    r: &'a mut R,
    pos: u64,
    end: u64,
    /// An I/O error met (reported as such, not as corruption).
    io: Option<std::io::Error>,
}

type Walk<T> = std::result::Result<T, String>;

impl<R: Read> Walker<'_, R> {
    fn left(&self) -> u64 {
        self.end - self.pos
    }

    fn byte(&mut self) -> Walk<u8> {
        if self.pos >= self.end {
            return Err("the page header runs past the end of the column chunk".into());
        }
        let mut b = [0u8];
        if let Err(e) = self.r.read_exact(&mut b) {
            self.io = Some(e);
            return Err(String::new());
        }
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> Walk<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn zigzag(&mut self) -> Walk<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: u64) -> Walk<()> {
        if n > self.left() {
            return Err(format!(
                "a {n}-byte value runs past the end of the column chunk"
            ));
        }
        for _ in 0..n {
            self.byte()?;
        }
        Ok(())
    }

    /// The page header (a struct): its sizes and its values count.
    fn page_header(&mut self) -> Walk<Page> {
        let (mut size, mut raw, mut values) = (None, None, None);
        let mut last = 0i64;
        while let Some((id, ty)) = self.field(&mut last)? {
            match (id, ty) {
                (2, 5) => raw = Some(self.size("uncompressed page size")?),
                (3, 5) => size = Some(self.size("page size")?),
                // The data page (v1, v2) or dictionary page header: a struct
                // whose field 1 is the number of values.
                (5 | 7 | 8, 12) => values = self.num_values()?.or(values),
                _ => self.value(ty, 1)?,
            }
        }
        Ok(Page {
            size: size.ok_or("a page header without its page size")?,
            raw: raw.ok_or("a page header without its uncompressed size")?,
            values,
        })
    }

    /// An i32 size field, refused when negative.
    fn size(&mut self, what: &str) -> Walk<u64> {
        let v = self.zigzag()?;
        u64::try_from(v).map_err(|_| format!("a negative {what} ({v})"))
    }

    /// The struct of a data or dictionary page header, returning its field
    /// 1 (`num_values`) if present.
    fn num_values(&mut self) -> Walk<Option<i64>> {
        let mut values = None;
        let mut last = 0i64;
        while let Some((id, ty)) = self.field(&mut last)? {
            if (id, ty) == (1, 5) {
                values = Some(self.zigzag()?);
            } else {
                self.value(ty, 2)?;
            }
        }
        Ok(values)
    }

    /// The next field header of a struct: its id and compact type, or None
    /// at the struct's stop byte. `last` is the previous field's id, which
    /// a short header gives its id as a delta from (and which it updates).
    fn field(&mut self, last: &mut i64) -> Walk<Option<(i64, u8)>> {
        let b = self.byte()?;
        let ty = b & 0x0f;
        if ty == 0 {
            return Ok(None);
        }
        *last = match b >> 4 {
            0 => self.zigzag()?,
            delta => last.wrapping_add(delta as i64),
        };
        Ok(Some((*last, ty)))
    }

    /// Skips one value of compact type `ty` (a struct field's value; a
    /// collection's elements go through [`Walker::elements`]).
    fn value(&mut self, ty: u8, depth: u32) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested over {MAX_DEPTH} deep"));
        }
        match ty {
            // A boolean field's value is in its type.
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                if h == 0 {
                    return Ok(());
                }
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => n as u64,
                };
                self.elements(h & 0x0f, n, depth)
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                self.elements(kv >> 4, n, depth)?;
                // Keys and values alternate; checking both kinds against the
                // bytes left bounds the loop below as well.
                self.elements(kv & 0x0f, 0, depth)
            }
            12 => {
                let mut last = 0i64;
                while let Some((_, ty)) = self.field(&mut last)? {
                    self.value(ty, depth + 1)?;
                }
                Ok(())
            }
            13 => self.skip(16),
            t => Err(format!("an unknown Thrift type {t}")),
        }
    }

    /// Skips `n` collection elements of compact type `ty`.
    fn elements(&mut self, ty: u8, n: u64, depth: u32) -> Walk<()> {
        if n == 0 {
            return Ok(());
        }
        if ty == 1 || ty == 2 {
            // One byte each on the wire, but the parquet crate skips them
            // without reading it: it would loop `n` times, misaligned.
            return Err(format!(
                "a collection of {n} booleans, which the parquet reader cannot skip"
            ));
        }
        if n > self.left() {
            return Err(format!(
                "a collection of {n} elements in the {} bytes left of the column chunk",
                self.left()
            ));
        }
        for _ in 0..n {
            self.value(ty, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn walk(bytes: &[u8]) -> Walk<u64> {
        page(bytes).map(|p| p.size)
    }

    fn page(bytes: &[u8]) -> Walk<Page> {
        let mut c = Cursor::new(bytes.to_vec());
        let mut w = Walker {
            r: &mut c,
            pos: 0,
            end: bytes.len() as u64,
            io: None,
        };
        w.page_header()
    }

    /// A data page header: type 0, sizes 100/60, then `extra` fields, stop.
    fn header(extra: &[u8]) -> Vec<u8> {
        // field 1 (delta 1, i32) = 0; field 2 (delta 1, i32) = 100 (zigzag
        // 200 = 0xc8 0x01); field 3 (delta 1, i32) = 60 (zigzag 120).
        let mut h = vec![0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x78];
        h.extend_from_slice(extra);
        h.push(0);
        h
    }

    #[test]
    fn a_plain_header_gives_its_page_size() {
        assert_eq!(walk(&header(&[])), Ok(60));
        // A nested struct (field 5, the data page header) with an i32 and a
        // binary inside is skipped.
        assert_eq!(
            walk(&header(&[0x2c, 0x15, 0x02, 0x18, 0x02, b'a', b'b', 0])),
            Ok(60)
        );
    }

    #[test]
    fn a_list_of_booleans_is_refused_at_once() {
        // field 9 (delta 6, list): 2^31-1 elements of type bool-true.
        let h = header(&[0x69, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07]);
        let e = walk(&h).unwrap_err();
        assert!(e.contains("booleans"), "{e}");
        // A map of booleans too.
        let h = header(&[0x6b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x11]);
        assert!(walk(&h).unwrap_err().contains("booleans"));
    }

    #[test]
    fn counts_and_lengths_are_bounded_by_the_bytes_left() {
        // A list of 2^31-1 i32s in a 20-byte chunk.
        let h = header(&[0x69, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(walk(&h).unwrap_err().contains("elements"));
        // A binary of 1 GB.
        let h = header(&[0x68, 0x80, 0x80, 0x80, 0x80, 0x04]);
        assert!(walk(&h).unwrap_err().contains("runs past"));
        // No stop byte.
        let mut h = header(&[]);
        h.pop();
        assert!(walk(&h).unwrap_err().contains("runs past"));
    }

    #[test]
    fn deep_nesting_and_missing_sizes_are_refused() {
        let mut extra = vec![0x6c];
        extra.extend(std::iter::repeat_n(0x1c, 40));
        extra.extend(std::iter::repeat_n(0, 41));
        assert!(walk(&header(&extra)).unwrap_err().contains("nested"));
        assert!(walk(&[0x15, 0x00, 0]).unwrap_err().contains("without"));
        assert!(walk(&[0x15, 0x00, 0x15, 0x02, 0x15, 0x03, 0])
            .unwrap_err()
            .contains("negative"));
    }

    #[test]
    fn the_values_count_of_data_and_dictionary_pages_is_read() {
        // Field 5 (delta 2, struct): the data page header, num_values 7.
        let p = page(&header(&[0x2c, 0x15, 0x0e, 0])).unwrap();
        assert_eq!((p.size, p.raw, p.values), (60, 100, Some(7)));
        // Field 7 (delta 4, struct), the dictionary page header, whose
        // num_values 0 comes after another field.
        let p = page(&header(&[0x4c, 0x25, 0x02, 0x05, 0x02, 0x00, 0])).unwrap();
        assert_eq!(p.values, Some(0));
        assert_eq!(page(&header(&[])).unwrap().values, None);
    }
}
