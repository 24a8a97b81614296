//! The native CPU engine: word2vec.c's per-pair SGD, multi-threaded.
//!
//! Per pair (t, c): copy the input row `h = in[t]`, then for the context and K negatives
//! (a negative equal to c is skipped, as in word2vec.c) compute
//! `g = (label − σ(h·u)) · lr`, accumulate `e += g·u` and update
//! `u += g·h` in place; finally `in[t] = h + e`. σ comes from a 4,096-point
//! table with linear interpolation (error < 1e-6 on [−8, 8], clamped beyond).
//!
//! Threads share the tables through [`SharedMatrix`] (Hogwild, no `unsafe`).
//! A block is split into one contiguous range per thread, each with its own
//! random stream `(block seed, thread)`. With `--deterministic` one thread
//! runs the block in order, so the result depends only on the seed.
//! No allocation happens per pair: scratch rows are allocated once per block.

use crate::hogwild::SharedMatrix;
use crate::rng::{stream, RngCore};
use crate::simd::Kernels;
use crate::unigram::{sample, AliasTable, Entry};
use crate::{Result, TokenId};

use super::{TrainConfig, Trainer};

/// Pairs per block.
pub const BLOCK: usize = 1 << 16;
/// The loss of one pair in this many is reported.
const LOSS_EVERY: usize = 16;

const SIG_N: usize = 4096;
const SIG_MAX: f32 = 8.0;

/// σ(x) by table lookup with linear interpolation.
pub struct Sigmoid {
    table: Vec<f32>,
}

impl Default for Sigmoid {
    fn default() -> Self {
        let table = (0..=SIG_N)
            .map(|i| {
                let x = (i as f64 / SIG_N as f64) * 2.0 * SIG_MAX as f64 - SIG_MAX as f64;
                (1.0 / (1.0 + (-x).exp())) as f32
            })
            .collect();
        Sigmoid { table }
    }
}

impl Sigmoid {
    #[inline]
    pub fn get(&self, x: f32) -> f32 {
        if x <= -SIG_MAX {
            return self.table[0];
        }
        if x >= SIG_MAX {
            return self.table[SIG_N];
        }
        let pos = (x + SIG_MAX) * (SIG_N as f32 / (2.0 * SIG_MAX));
        let i = pos as usize;
        let f = pos - i as f32;
        let a = self.table[i];
        let b = self.table[(i + 1).min(SIG_N)];
        a + (b - a) * f
    }
}

/// The native trainer.
pub struct NativeTrainer {
    input: SharedMatrix,
    output: SharedMatrix,
    table: Vec<Entry>,
    negative: usize,
    threads: usize,
    pool: rayon::ThreadPool,
    kernels: Kernels,
    sigmoid: Sigmoid,
}

impl NativeTrainer {
    /// A trainer starting from the given weights.
    pub fn new(cfg: &TrainConfig, input: Vec<f32>, output: Vec<f32>, table: AliasTable) -> Self {
        let threads = if cfg.deterministic {
            1
        } else if cfg.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            cfg.threads
        };
        NativeTrainer {
            input: SharedMatrix::from_vec(input, cfg.dim),
            output: SharedMatrix::from_vec(output, cfg.dim),
            table: table.entries,
            negative: cfg.negative,
            threads,
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool"),
            kernels: Kernels::detect(),
            sigmoid: Sigmoid::default(),
        }
    }

    /// One word2vec.c update for pair (t, c) with the given negatives
    /// (a negative equal to `c` is skipped). Returns the pair's loss.
    #[inline]
    pub fn apply_pair(&self, t: usize, c: usize, negs: &[usize], lr: f32, s: &mut Scratch) -> f32 {
        let (dot, axpy) = (self.kernels.dot, self.kernels.axpy);
        self.input.load(t, &mut s.h);
        s.e.fill(0.0);
        let mut loss = 0f32;
        for (k, &o) in std::iter::once(&c).chain(negs).enumerate() {
            if k > 0 && o == c {
                continue;
            }
            let label = if k == 0 { 1.0f32 } else { 0.0 };
            self.output.load(o, &mut s.u);
            let sg = self.sigmoid.get(dot(&s.h, &s.u));
            loss -= (if k == 0 { sg } else { 1.0 - sg }).max(1e-7).ln();
            let g = (label - sg) * lr;
            axpy(&mut s.e, g, &s.u);
            axpy(&mut s.u, g, &s.h);
            self.output.store(o, &s.u);
        }
        axpy(&mut s.h, 1.0, &s.e);
        self.input.store(t, &s.h);
        loss
    }

    /// Runs pairs `t[i], c[i]` in order on this thread, drawing negatives
    /// from the stream `seed`.
    pub fn run_range(&self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> (f64, u64) {
        let mut rng = stream(seed, &[]);
        let mut s = Scratch::new(self.input.dim());
        let mut negs = [0usize; MAX_NEGATIVE];
        let k = self.negative.min(MAX_NEGATIVE);
        let (mut loss, mut nloss) = (0f64, 0u64);
        for i in 0..t.len() {
            if i + 2 < t.len() {
                self.input.prefetch(t[i + 2] as usize);
                self.output.prefetch(c[i + 2] as usize);
            }
            for n in negs.iter_mut().take(k) {
                *n = sample(&self.table, rng.next_u64()) as usize;
            }
            let l = self.apply_pair(t[i] as usize, c[i] as usize, &negs[..k], lr, &mut s);
            if i % LOSS_EVERY == 0 {
                loss += l as f64;
                nloss += 1;
            }
        }
        (loss, nloss)
    }
}

/// Most negatives per pair (the config allows up to 100).
pub const MAX_NEGATIVE: usize = 100;

/// Per-thread scratch rows, allocated once per block.
pub struct Scratch {
    h: Vec<f32>,
    e: Vec<f32>,
    u: Vec<f32>,
}

impl Scratch {
    /// Buffers for rows of `dim`.
    pub fn new(dim: usize) -> Self {
        Scratch {
            h: vec![0.0; dim],
            e: vec![0.0; dim],
            u: vec![0.0; dim],
        }
    }
}

impl Trainer for NativeTrainer {
    fn describe(&self) -> String {
        format!("native {} x{}", self.kernels.name, self.threads)
    }

    fn block(&mut self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> Result<(f64, u64)> {
        if self.threads == 1 {
            return Ok(self.run_range(t, c, lr, seed));
        }
        let per = t.len().div_ceil(self.threads);
        let this = &*self;
        let parts: Vec<(f64, u64)> = this.pool.install(|| {
            use rayon::prelude::*;
            (0..this.threads)
                .into_par_iter()
                .map(|k| {
                    let lo = (k * per).min(t.len());
                    let hi = ((k + 1) * per).min(t.len());
                    this.run_range(
                        &t[lo..hi],
                        &c[lo..hi],
                        lr,
                        crate::rng::mix64(seed ^ k as u64),
                    )
                })
                .collect()
        });
        Ok(parts.iter().fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1)))
    }

    fn weights(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.input.to_vec(), self.output.to_vec()))
    }

    fn block_size(&self) -> usize {
        BLOCK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_table_is_accurate() {
        let s = Sigmoid::default();
        for i in -650..=650 {
            let x = i as f32 * 0.0123;
            let exact = 1.0 / (1.0 + (-x as f64).exp());
            assert!((s.get(x) as f64 - exact).abs() < 2e-6, "x={x}");
        }
        assert!(s.get(100.0) > 0.9996 && s.get(-100.0) < 0.0004);
    }
}
