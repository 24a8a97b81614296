//! Seeded random streams.
//!
//! One master `--seed`; every worker derives its own stream from
//! `(seed, purpose, index, epoch)` through [`stream`], so results depend on
//! the seed and never on the thread count. The generator is xoshiro256++
//! (crate `rand_xoshiro`), whose state serializes into checkpoints.

pub use rand_core::{RngCore, SeedableRng};
pub use rand_xoshiro::Xoshiro256PlusPlus as Rng;

/// SplitMix64 finalizer: a strong 64-bit mix.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A generator for one `(seed, parts...)` stream.
pub fn stream(seed: u64, parts: &[u64]) -> Rng {
    Rng::seed_from_u64(hash(seed, parts))
}

/// The 64-bit seed [`stream`] starts `(seed, parts...)` from.
pub fn hash(seed: u64, parts: &[u64]) -> u64 {
    let mut h = mix64(seed);
    for &p in parts {
        h = mix64(h ^ p);
    }
    h
}

/// Uniform integer in `0..n` (Lemire's multiply-shift; bias < n/2^64).
#[inline]
pub fn below(rng: &mut Rng, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}

/// Uniform f64 in `[0, 1)`.
#[inline]
pub fn unit_f64(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform f32 in `[0, 1)`.
#[inline]
pub fn unit_f32(rng: &mut Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Purposes, so two uses of the same seed never share a stream.
pub mod purpose {
    pub const SYNTH: u64 = 1;
    pub const SUBSAMPLE: u64 = 2;
    pub const WINDOW: u64 = 3;
    pub const SHUFFLE: u64 = 4;
    pub const INIT: u64 = 5;
    pub const NEGATIVES: u64 = 6;
    /// Subsampling and windows drawn by `train --corpus` (independent of
    /// the draws `pairs` writes from the same seed).
    pub const STREAM: u64 = 7;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, &[1, 2]), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, &[1, 2]), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, &[1, 3]), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = stream(1, &[]);
        let mut hist = [0u32; 10];
        for _ in 0..100_000 {
            hist[below(&mut r, 10) as usize] += 1;
        }
        for h in hist {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
    }
}
