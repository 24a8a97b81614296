//! Weight matrices shared by training threads without locks (Hogwild).
//!
//! Every element is an `AtomicU32` holding an `f32` bit pattern, read and
//! written with `Relaxed` ordering. Threads copy the rows they need into
//! their own buffers, do the maths there (SIMD), and store the rows back.
//! Two threads updating one row at once may lose one of the updates, which
//! is exactly Hogwild's semantics, but there is no data race and no aliased
//! `&mut`: loading, storing and sharing rows is safe Rust. The module's one
//! `unsafe` block is the x86-64 cache hint in [`SharedMatrix::prefetch`],
//! which reads and writes nothing. On x86-64 a relaxed 32-bit atomic load or
//! store is a plain `mov`, so the price is only that the copy loops are not
//! vectorised; the `kernels` bench measures it.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// A `rows × dim` matrix of atomically accessed `f32`.
pub struct SharedMatrix {
    data: Vec<AtomicU32>,
    dim: usize,
}

impl SharedMatrix {
    /// Wraps `values` (row-major, `rows × dim`).
    pub fn from_vec(values: Vec<f32>, dim: usize) -> Self {
        assert!(dim > 0 && values.len().is_multiple_of(dim), "matrix shape");
        SharedMatrix {
            data: values
                .into_iter()
                .map(|x| AtomicU32::new(x.to_bits()))
                .collect(),
            dim,
        }
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    #[inline]
    fn row(&self, i: usize) -> &[AtomicU32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Copies row `i` into `out`.
    #[inline]
    pub fn load(&self, i: usize, out: &mut [f32]) {
        for (o, a) in out.iter_mut().zip(self.row(i)) {
            *o = f32::from_bits(a.load(Relaxed));
        }
    }

    /// Overwrites row `i` with `v`.
    #[inline]
    pub fn store(&self, i: usize, v: &[f32]) {
        for (a, x) in self.row(i).iter().zip(v) {
            a.store(x.to_bits(), Relaxed);
        }
    }

    /// Hints the CPU to fetch row `i` (no effect on other architectures).
    #[inline]
    pub fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let row = self.row(i);
            let p = row.as_ptr() as *const i8;
            let lines = (row.len() * 4).div_ceil(64);
            for l in 0..lines {
                // SAFETY: `_mm_prefetch` is a cache hint: it never faults,
                // and it neither reads memory into the program nor writes it,
                // so it cannot race with other threads' atomic stores. It
                // needs SSE, which every x86-64 CPU has. `p.add` must stay
                // inside the allocation: `p` starts row `i`'s slice of
                // `self.data` (`row` bounds-checked it), and l < lines =
                // ceil(4·dim / 64) gives 64·l < 4·dim, inside the row.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(p.add(64 * l), std::arch::x86_64::_MM_HINT_T0)
                };
            }
        }
    }

    /// A plain copy of the whole matrix.
    pub fn to_vec(&self) -> Vec<f32> {
        self.data
            .iter()
            .map(|a| f32::from_bits(a.load(Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_threads_can_share() {
        let m = SharedMatrix::from_vec(vec![0.0; 4 * 3], 3);
        std::thread::scope(|s| {
            for t in 0..4 {
                let m = &m;
                s.spawn(move || m.store(t, &[t as f32, 1.0, 2.0]));
            }
        });
        let mut r = [0f32; 3];
        m.load(2, &mut r);
        assert_eq!(r, [2.0, 1.0, 2.0]);
        assert_eq!(m.rows(), 4);
        assert_eq!(m.to_vec()[9..], [3.0, 1.0, 2.0]);
    }
}
