//! Weight matrices shared by training threads without locks (Hogwild).
//!
//! Every element is an `AtomicU32` holding an `f32` bit pattern, read and
//! written with `Relaxed` ordering. Threads copy the rows they need into
//! their own buffers, do the maths there (SIMD), and store the rows back.
//! Two threads updating one row at once may lose one of the updates, which
//! is exactly Hogwild's semantics, but there is no data race and no aliased
//! `&mut`.
//!
//! **The row copies are vectorised** on x86-64 ([`SharedMatrix::load`],
//! [`SharedMatrix::store`]): Rust has no vector atomics and does not
//! vectorise a loop of relaxed atomic accesses, and that scalar loop was a
//! third of a subword run's time (BENCHMARKS.md, session 13). So whole
//! multiples of 16 elements are moved by one `asm!` loop of 16-byte SSE2
//! moves (SSE2 is part of x86-64), the rest element by element. Every
//! element stays 4-byte aligned. The manuals let a move wider than 8 bytes
//! be carried out as several accesses, but x86-64 processors read and write
//! each naturally aligned 4-byte element inside it whole, which is what a
//! relaxed atomic access of that element is: the moves promise no order
//! among their elements, and `Relaxed` asks for none. An `asm!` block's
//! memory effects are what the processor does, so each move is four relaxed
//! atomic accesses, and the tables still see no data race. Elsewhere the
//! copies are the element-by-element loops ([`SharedMatrix::load_scalar`],
//! [`SharedMatrix::store_scalar`], also the tests' oracle).
//!
//! The module's `unsafe` is that copy loop, the x86-64 cache hint in
//! [`SharedMatrix::prefetch`] (which reads and writes nothing) and
//! [`table`]'s `madvise` hint.

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

    /// Copies row `i` into `out` (the shorter of the two lengths).
    #[inline]
    pub fn load(&self, i: usize, out: &mut [f32]) {
        let row = self.row(i);
        let n = vector_part(row.len().min(out.len()));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `row` and `out` each hold at least `n` elements of 4 bytes
        // (4-byte aligned), and they cannot overlap (`out` is a `&mut`).
        // The copy reads each shared element whole, as a relaxed atomic load
        // of it does (module docs).
        unsafe {
            copy_sse2(row.as_ptr().cast(), out.as_mut_ptr().cast(), n)
        };
        read_elements(&row[n..], &mut out[n..]);
    }

    /// Overwrites row `i` with `v` (the shorter of the two lengths).
    #[inline]
    pub fn store(&self, i: usize, v: &[f32]) {
        let row = self.row(i);
        let n = vector_part(row.len().min(v.len()));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `v` and `row` each hold at least `n` elements of 4 bytes
        // (4-byte aligned), and they cannot overlap (`v` is a plain `&[f32]`,
        // `row` atomics). Writing through the shared reference is allowed:
        // atomics are interior-mutable. The copy writes each shared element
        // whole, as a relaxed atomic store of it does (module docs).
        unsafe {
            copy_sse2(v.as_ptr().cast(), row.as_ptr().cast_mut().cast(), n)
        };
        write_elements(&row[n..], &v[n..]);
    }

    /// [`load`](Self::load) one relaxed atomic load per element.
    pub fn load_scalar(&self, i: usize, out: &mut [f32]) {
        read_elements(self.row(i), out);
    }

    /// [`store`](Self::store) one relaxed atomic store per element.
    pub fn store_scalar(&self, i: usize, v: &[f32]) {
        write_elements(self.row(i), v);
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

/// Copies `src` into `dst` (the shorter length), one relaxed atomic load
/// per element.
#[inline]
fn read_elements(src: &[AtomicU32], dst: &mut [f32]) {
    for (o, a) in dst.iter_mut().zip(src) {
        *o = f32::from_bits(a.load(Relaxed));
    }
}

/// Copies `src` into `dst` (the shorter length), one relaxed atomic store
/// per element.
#[inline]
fn write_elements(dst: &[AtomicU32], src: &[f32]) {
    for (a, x) in dst.iter().zip(src) {
        a.store(x.to_bits(), Relaxed);
    }
}

/// How many of `len` elements the vector copy moves: the whole multiples of
/// 16 on x86-64, none elsewhere.
#[inline]
fn vector_part(len: usize) -> usize {
    if cfg!(target_arch = "x86_64") {
        len / 16 * 16
    } else {
        0
    }
}

/// Copies `n` (a multiple of 16) 4-byte elements from `src` to `dst`, 16
/// bytes per move.
///
/// # Safety
/// `src` must be valid for reading and `dst` for writing `n` elements, both
/// 4-byte aligned, not overlapping; memory other threads share must be
/// accessed by them only atomically or by this copy.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn copy_sse2(src: *const u32, dst: *mut u32, n: usize) {
    debug_assert!(n.is_multiple_of(16));
    if n == 0 {
        return;
    }
    // SAFETY: the caller's promise; `i` runs over 0, 16, … < n, so every
    // move stays inside the n elements of `src` and `dst`.
    unsafe {
        std::arch::asm!(
            "2:",
            "movups {a}, [{s} + {i}*4]",
            "movups {b}, [{s} + {i}*4 + 16]",
            "movups {c}, [{s} + {i}*4 + 32]",
            "movups {d}, [{s} + {i}*4 + 48]",
            "movups [{t} + {i}*4], {a}",
            "movups [{t} + {i}*4 + 16], {b}",
            "movups [{t} + {i}*4 + 32], {c}",
            "movups [{t} + {i}*4 + 48], {d}",
            "add {i}, 16",
            "cmp {i}, {n}",
            "jb 2b",
            s = in(reg) src,
            t = in(reg) dst,
            n = in(reg) n,
            i = inout(reg) 0usize => _,
            a = out(xmm_reg) _,
            b = out(xmm_reg) _,
            c = out(xmm_reg) _,
            d = out(xmm_reg) _,
            options(nostack),
        );
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
    fn the_vector_copy_agrees_with_the_element_copy_at_every_length() {
        // Widths around the 16-element step, so the asm loop, the tail and
        // both together run (in CI too: every x86-64 CPU has SSE2).
        for dim in [1, 3, 15, 16, 17, 31, 32, 33, 100, 128, 300] {
            let rows = 5;
            let v: Vec<f32> = (0..rows * dim).map(|i| i as f32 * 0.5 - 7.0).collect();
            let m = SharedMatrix::from_vec(v.clone(), dim);
            let (mut a, mut b) = (vec![0f32; dim], vec![0f32; dim]);
            for r in 0..rows {
                m.load(r, &mut a);
                m.load_scalar(r, &mut b);
                assert_eq!(a, b, "dim {dim} row {r}");
                assert_eq!(a, v[r * dim..(r + 1) * dim], "dim {dim} row {r}");
            }
            // A store writes its row and nothing either side of it.
            let new: Vec<f32> = (0..dim).map(|i| -(i as f32) - 1.0).collect();
            m.store(2, &new);
            let s = SharedMatrix::from_vec(v.clone(), dim);
            s.store_scalar(2, &new);
            assert_eq!(m.to_vec(), s.to_vec(), "dim {dim}");
            let mut want = v.clone();
            want[2 * dim..3 * dim].copy_from_slice(&new);
            assert_eq!(m.to_vec(), want, "dim {dim}");
            // A shorter buffer moves only its own length.
            let mut short = vec![9f32; dim.saturating_sub(1)];
            m.load(1, &mut short);
            assert_eq!(short, v[dim..2 * dim - 1], "dim {dim}");
        }
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
