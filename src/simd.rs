//! SIMD kernels for the native engine: `dot` and `axpy` on `f32` slices.
//!
//! The implementation is picked once at run time ([`Kernels::detect`]):
//! AVX-512F, else AVX2+FMA, else a scalar loop. The scalar loop is also the
//! test oracle; tests run every path the CPU supports on odd lengths.
//!
//! `unsafe` here is of two kinds: calling a `#[target_feature]` function,
//! reached only through a [`Kernels`] value whose constructor checked the
//! feature at run time, and the kernels' unaligned loads and stores through
//! raw pointers, each bounded by its loop condition. The native engine's
//! only other `unsafe` is the prefetch hint of [`crate::hogwild`].

/// A pair of kernels.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// `sum(a[i] * b[i])`.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// `y[i] += alpha * x[i]`.
    pub axpy: fn(&mut [f32], f32, &[f32]),
    /// Which implementation.
    pub name: &'static str,
}

impl Kernels {
    /// The best kernels this CPU supports.
    pub fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Kernels {
                    dot: x86::dot_avx512,
                    axpy: x86::axpy_avx512,
                    name: "avx512f",
                };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernels {
                    dot: x86::dot_avx2,
                    axpy: x86::axpy_avx2,
                    name: "avx2+fma",
                };
            }
        }
        Kernels::scalar()
    }

    /// The portable kernels.
    pub fn scalar() -> Kernels {
        Kernels {
            dot: dot_scalar,
            axpy: axpy_scalar,
            name: "scalar",
        }
    }

    /// Every implementation this CPU can run (for tests and benches).
    pub fn available() -> Vec<Kernels> {
        let mut v = vec![Kernels::scalar()];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                v.push(Kernels {
                    dot: x86::dot_avx2,
                    axpy: x86::axpy_avx2,
                    name: "avx2+fma",
                });
            }
            if std::is_x86_feature_detected!("avx512f") {
                v.push(Kernels {
                    dot: x86::dot_avx512,
                    axpy: x86::axpy_avx512,
                    name: "avx512f",
                });
            }
        }
        v
    }
}

/// Scalar dot product (the oracle).
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 4];
    let mut i = 0;
    while i + 4 <= n {
        for k in 0..4 {
            acc[k] += a[i + k] * b[i + k];
        }
        i += 4;
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

/// Scalar axpy (the oracle).
pub fn axpy_scalar(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The `#[target_feature]` kernels. Each is a safe function, so its
    //! arithmetic intrinsics need no `unsafe`; what does is (a) calling it,
    //! which the public wrappers do only for features [`super::Kernels`]
    //! checked, and (b) its unaligned loads and stores through raw pointers,
    //! each bounded by its loop condition.

    use std::arch::x86_64::*;

    pub fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the callee needs AVX2 and FMA. This wrapper is private to
        // `simd` and only stored in a `Kernels` by `detect`/`available`
        // right after `is_x86_feature_detected!` found both "avx2" and "fma".
        unsafe { dot_avx2_impl(a, b) }
    }

    pub fn axpy_avx2(y: &mut [f32], alpha: f32, x: &[f32]) {
        // SAFETY: the callee needs AVX2 and FMA. This wrapper is private to
        // `simd` and only stored in a `Kernels` by `detect`/`available`
        // right after `is_x86_feature_detected!` found both "avx2" and "fma".
        unsafe { axpy_avx2_impl(y, alpha, x) }
    }

    pub fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the callee needs AVX-512F. This wrapper is private to
        // `simd` and only stored in a `Kernels` by `detect`/`available`
        // right after `is_x86_feature_detected!("avx512f")` returned true.
        unsafe { dot_avx512_impl(a, b) }
    }

    pub fn axpy_avx512(y: &mut [f32], alpha: f32, x: &[f32]) {
        // SAFETY: the callee needs AVX-512F. This wrapper is private to
        // `simd` and only stored in a `Kernels` by `detect`/`available`
        // right after `is_x86_feature_detected!("avx512f")` returned true.
        unsafe { axpy_avx512_impl(y, alpha, x) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n <= a.len(), b.len(), so these four 8-lane
            // loads read a[i..i + 16] and b[i..i + 16], all in bounds;
            // `loadu` has no alignment requirement.
            let (a0, b0, a1, b1) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i)),
                    _mm256_loadu_ps(pb.add(i)),
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                )
            };
            acc0 = _mm256_fmadd_ps(a0, b0, acc0);
            acc1 = _mm256_fmadd_ps(a1, b1, acc1);
            i += 16;
        }
        if i + 8 <= n {
            // SAFETY: i + 8 <= n <= a.len(), b.len(), so the two 8-lane
            // loads read a[i..i + 8] and b[i..i + 8], in bounds; `loadu`
            // has no alignment requirement.
            let (a0, b0) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc0 = _mm256_fmadd_ps(a0, b0, acc0);
            i += 8;
        }
        let acc = _mm256_add_ps(acc0, acc1);
        let hi = _mm256_extractf128_ps(acc, 1);
        let lo = _mm256_castps256_ps128(acc);
        let s4 = _mm_add_ps(hi, lo);
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
        let mut s = _mm_cvtss_f32(s1);
        while i < n {
            s += a[i] * b[i];
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    fn axpy_avx2_impl(y: &mut [f32], alpha: f32, x: &[f32]) {
        let n = y.len().min(x.len());
        let (py, px) = (y.as_mut_ptr(), x.as_ptr());
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n <= y.len(), x.len(), so the loads read
            // x[i..i + 8] and y[i..i + 8] and the store writes y[i..i + 8],
            // all in bounds. `py` comes from the `&mut y` this function holds
            // and `x` is a shared borrow, so they cannot overlap; `loadu` and
            // `storeu` have no alignment requirement.
            unsafe {
                let r = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
                _mm256_storeu_ps(py.add(i), r);
            }
            i += 8;
        }
        while i < n {
            y[i] += alpha * x[i];
            i += 1;
        }
    }

    #[target_feature(enable = "avx512f")]
    fn dot_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n <= a.len(), b.len(), so these four 16-lane
            // loads read a[i..i + 32] and b[i..i + 32], all in bounds;
            // `loadu` has no alignment requirement.
            let (a0, b0, a1, b1) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i)),
                    _mm512_loadu_ps(pb.add(i)),
                    _mm512_loadu_ps(pa.add(i + 16)),
                    _mm512_loadu_ps(pb.add(i + 16)),
                )
            };
            acc0 = _mm512_fmadd_ps(a0, b0, acc0);
            acc1 = _mm512_fmadd_ps(a1, b1, acc1);
            i += 32;
        }
        if i + 16 <= n {
            // SAFETY: i + 16 <= n <= a.len(), b.len(), so the two 16-lane
            // loads read a[i..i + 16] and b[i..i + 16], in bounds; `loadu`
            // has no alignment requirement.
            let (a0, b0) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc0 = _mm512_fmadd_ps(a0, b0, acc0);
            i += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        while i < n {
            s += a[i] * b[i];
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx512f")]
    fn axpy_avx512_impl(y: &mut [f32], alpha: f32, x: &[f32]) {
        let n = y.len().min(x.len());
        let (py, px) = (y.as_mut_ptr(), x.as_ptr());
        let va = _mm512_set1_ps(alpha);
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n <= y.len(), x.len(), so the loads read
            // x[i..i + 16] and y[i..i + 16] and the store writes
            // y[i..i + 16], all in bounds. `py` comes from the `&mut y` this
            // function holds and `x` is a shared borrow, so they cannot
            // overlap; `loadu` and `storeu` have no alignment requirement.
            unsafe {
                let r = _mm512_fmadd_ps(va, _mm512_loadu_ps(px.add(i)), _mm512_loadu_ps(py.add(i)));
                _mm512_storeu_ps(py.add(i), r);
            }
            i += 16;
        }
        while i < n {
            y[i] += alpha * x[i];
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_matches_the_scalar_oracle_on_odd_lengths() {
        let mut rng = crate::rng::stream(5, &[]);
        let paths = Kernels::available();
        assert!(!paths.is_empty());
        for n in [
            0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 127, 128, 129, 300,
        ] {
            let a: Vec<f32> = (0..n)
                .map(|_| crate::rng::unit_f32(&mut rng) - 0.5)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|_| crate::rng::unit_f32(&mut rng) - 0.5)
                .collect();
            let want = dot_scalar(&a, &b);
            let mut want_y = b.clone();
            axpy_scalar(&mut want_y, 0.37, &a);
            for k in &paths {
                let got = (k.dot)(&a, &b);
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{} dot n={n}: {got} vs {want}",
                    k.name
                );
                let mut y = b.clone();
                (k.axpy)(&mut y, 0.37, &a);
                for (g, w) in y.iter().zip(&want_y) {
                    assert!((g - w).abs() <= 1e-6, "{} axpy n={n}", k.name);
                }
            }
        }
        // The detected path is one of those tested.
        let best = Kernels::detect().name;
        assert!(paths.iter().any(|k| k.name == best));
    }
}
