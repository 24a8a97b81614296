//! Trained vectors on disk: `.npy` matrices, memory-mapped on load.
//!
//! A model directory holds `input.npy` (float32 `V × D`, C order, the
//! word vectors), optionally `output.npy`, `words.txt` (line = id),
//! `norms.npy` (float32 `V`, the L2 norm of each input row, computed once at
//! save time) and `manifest.json`. The `.npy` header is padded to 64 bytes, so
//! the mapped data is aligned and loading parses nothing but the header.

use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{invalid, io_err, Result};
use crate::manifest::AtomicFile;

/// Writes a float32 matrix as `.npy` atomically.
pub fn write_npy(path: &Path, data: &[f32], shape: &[usize]) -> Result<()> {
    npy_file(path, data, shape)?.commit()
}

/// A float32 matrix as `.npy`, written into an [`AtomicFile`] not yet
/// committed (for a caller that replaces several files together).
pub fn npy_file(path: &Path, data: &[f32], shape: &[usize]) -> Result<AtomicFile> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    let pad = (64 - total % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut f = AtomicFile::create(path)?;
    f.write_all(b"\x93NUMPY\x01\x00")
        .map_err(io_err(path, "write"))?;
    f.write_all(&(header.len() as u16).to_le_bytes())
        .map_err(io_err(path, "write"))?;
    f.write_all(header.as_bytes())
        .map_err(io_err(path, "write"))?;
    f.write_all(bytemuck::cast_slice(data))
        .map_err(io_err(path, "write"))?;
    Ok(f)
}

/// A memory-mapped float32 `.npy` matrix.
pub struct NpyMatrix {
    map: Mmap,
    offset: usize,
    /// Shape (1 or 2 dims).
    pub shape: Vec<usize>,
}

impl NpyMatrix {
    /// Maps `path` and parses its header.
    pub fn open(path: &Path) -> Result<NpyMatrix> {
        let f = std::fs::File::open(path).map_err(io_err(path, "open matrix"))?;
        // SAFETY: read-only map; model files are written once, atomically.
        let map = unsafe { Mmap::map(&f) }.map_err(io_err(path, "map matrix"))?;
        if map.len() < 10 || &map[..6] != b"\x93NUMPY" {
            return Err(invalid(path, "not a .npy file"));
        }
        let (hlen, start) = match map[6] {
            1 => (u16::from_le_bytes([map[8], map[9]]) as usize, 10),
            2 | 3 => {
                if map.len() < 12 {
                    return Err(invalid(path, "truncated .npy header"));
                }
                (
                    u32::from_le_bytes([map[8], map[9], map[10], map[11]]) as usize,
                    12,
                )
            }
            v => return Err(invalid(path, format!("unsupported .npy version {v}"))),
        };
        let header = std::str::from_utf8(
            map.get(start..start + hlen)
                .ok_or_else(|| invalid(path, "truncated .npy header"))?,
        )
        .map_err(|_| invalid(path, "bad .npy header"))?;
        if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
            return Err(invalid(path, "expected little-endian float32 in C order"));
        }
        let shape_s = header
            .split("'shape':")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .ok_or_else(|| invalid(path, "no shape in .npy header"))?;
        let shape: Vec<usize> = shape_s
            .trim_start_matches([' ', '('])
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| invalid(path, "bad shape in .npy header"))
            })
            .collect::<Result<_>>()?;
        let offset = start + hlen;
        // Checked: a corrupt header may claim a shape whose size overflows.
        let need = shape.iter().try_fold(4usize, |b, &d| b.checked_mul(d));
        if need.and_then(|b| b.checked_add(offset)) != Some(map.len()) {
            return Err(invalid(
                path,
                format!(
                    "holds {} bytes of data, shape {:?} needs {}",
                    map.len() - offset,
                    shape,
                    need.map_or_else(|| "more than fits in memory".into(), |b| b.to_string())
                ),
            ));
        }
        if offset % 4 != 0 {
            return Err(invalid(path, "data is not 4-byte aligned"));
        }
        Ok(NpyMatrix { map, offset, shape })
    }

    /// The whole file as mapped, header included (what its fingerprint
    /// covers).
    pub fn file_bytes(&self) -> &[u8] {
        &self.map
    }

    /// The data, row-major.
    pub fn data(&self) -> &[f32] {
        bytemuck::cast_slice(&self.map[self.offset..])
    }

    /// Rows (first dim).
    pub fn rows(&self) -> usize {
        self.shape[0]
    }

    /// Columns (second dim, 1 for vectors).
    pub fn cols(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(1)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.cols();
        &self.data()[i * d..(i + 1) * d]
    }
}

/// L2 norm of every row.
pub fn row_norms(data: &[f32], dim: usize) -> Vec<f32> {
    data.chunks_exact(dim)
        .map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_is_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        let data: Vec<f32> = (0..15).map(|x| x as f32 * 0.5).collect();
        write_npy(&p, &data, &[5, 3]).unwrap();
        let m = NpyMatrix::open(&p).unwrap();
        assert_eq!(m.shape, vec![5, 3]);
        assert_eq!(m.data(), &data[..]);
        assert_eq!(m.row(4), &[6.0, 6.5, 7.0]);
        assert_eq!(m.offset % 64, 0);
        write_npy(&p, &[1.0, 2.0], &[2]).unwrap();
        assert_eq!(NpyMatrix::open(&p).unwrap().shape, vec![2]);
        std::fs::write(&p, b"\x93NUMPY\x01\x00").unwrap();
        assert!(NpyMatrix::open(&p).is_err());
        // A header whose shape overflows is an error, not a panic.
        let mut bad = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 3), }\n";
        bad.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bad.extend_from_slice(h.as_bytes());
        std::fs::write(&p, &bad).unwrap();
        assert!(NpyMatrix::open(&p).is_err());
    }
}
