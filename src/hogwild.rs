//! Weight matrices shared by training threads without locks (Hogwild).
//!
//! Every element is an `AtomicU32` holding an `f32` bit pattern, read and
//! written with `Relaxed` ordering. Threads copy the rows they need into
//! their own buffers, do the maths there (SIMD), and store the rows back.
//! Two threads updating one row at once may lose one of the updates, which
//! is exactly Hogwild's semantics, but there is no data race and no aliased
//! `&mut`: loading, storing and sharing rows is safe Rust. The module's one
//! `unsafe` block is the x86-64 cache hint in [`SharedMatrix::prefetch`],
//! which reads and writes nothing; [`table`]'s `madvise` hint is the other.
//! On x86-64 a relaxed 32-bit atomic load or
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
        // std collects a vector into one of equal layout in place, so the
        // matrix keeps `values`' pages (huge ones, from [`table`]).
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

    /// Calls `f` with the values in order, `len` at a time (the last chunk
    /// shorter), through one buffer of `len`.
    pub fn for_each_chunk<E>(
        &self,
        len: usize,
        mut f: impl FnMut(&[f32]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let len = len.max(1);
        let mut buf = Vec::with_capacity(len.min(self.data.len()));
        for c in self.data.chunks(len) {
            buf.clear();
            buf.extend(c.iter().map(|a| f32::from_bits(a.load(Relaxed))));
            f(&buf)?;
        }
        Ok(())
    }

    /// The values, in the matrix's own memory: std collects into a vector
    /// of equal layout in place, so no second copy is ever held.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
            .into_iter()
            .map(|a| f32::from_bits(a.into_inner()))
            .collect()
    }
}

/// An empty vector with room for `len` values, for a weight table: on Linux
/// its memory is advised to be backed by transparent huge pages before
/// anything touches it. Training reads and writes rows of these tables at
/// random, and with 4 KiB pages nearly every row of a large table costs a TLB
/// miss; 2 MiB pages spare most of them (BENCHMARKS.md). The environment
/// variable `W2V_HUGE_PAGES=0` leaves the pages as they come (to measure it).
pub fn table<T>(len: usize) -> Vec<T> {
    let v = Vec::with_capacity(len);
    if std::env::var_os("W2V_HUGE_PAGES").is_none_or(|x| x != "0") {
        advise_huge_pages(v.as_ptr() as usize, len * std::mem::size_of::<T>());
    }
    v
}

/// Asks Linux to back the whole 2 MiB pages inside `[addr, addr + bytes)`
/// with transparent huge pages (a hint; where the kernel refuses it, as with
/// THP off, nothing changes).
fn advise_huge_pages(addr: usize, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = addr.next_multiple_of(HUGE);
        let end = (addr + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: madvise(MADV_HUGEPAGE) neither reads nor writes
            // memory, nor maps or unmaps it: it only sets how the kernel
            // backs the pages of [start, end) when they are first touched
            // (their contents stay as they are). That range lies inside the
            // allocation of `bytes` bytes at `addr` that the caller owns.
            // Its result is ignored on purpose: refusing is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_leave_in_chunks_or_in_their_own_memory() {
        let v: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let w = v.clone();
        let at = w.as_ptr();
        let m = SharedMatrix::from_vec(w, 2);
        let mut seen = Vec::new();
        m.for_each_chunk(4, |c| {
            seen.push(c.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(seen.concat(), v);
        // No copy: the training tables are the model's (a second copy of a
        // 1 GB table was the peak of a subword run).
        let out = m.into_vec();
        assert_eq!(out, v);
        assert_eq!(out.as_ptr(), at);
    }

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

    #[test]
    fn a_table_keeps_its_memory_when_it_becomes_a_matrix() {
        // The huge-page advice is given to `table`'s allocation; a matrix
        // that copied the values elsewhere would lose it.
        let mut t: Vec<f32> = table(5 << 20);
        assert!(t.capacity() >= 5 << 20);
        t.extend((0..5 << 20).map(|i| i as f32));
        let p = t.as_ptr() as usize;
        let m = SharedMatrix::from_vec(t, 128);
        assert_eq!(m.data.as_ptr() as usize, p);
        let mut r = [0f32; 128];
        m.load(3, &mut r);
        assert_eq!(r[5], (3 * 128 + 5) as f32);
    }
}
