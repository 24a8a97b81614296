//! The native CPU engine: word2vec.c's per-pair SGD, multi-threaded.
//!
//! Roles and the negative rule are the ones every engine shares (see
//! [`super::engine`]): for a pair (centre t, context c), copy the input row
//! `h = in[c]`, then for the centre's output row and K negatives (a negative
//! equal to t is skipped) compute `g = (label − σ(h·u)) · lr`, accumulate
//! `e += g·u` and update `u += g·h` in place; finally `in[c] = h + e`. σ comes from a 4,096-point
//! table with linear interpolation (error < 1e-6 on [−8, 8], clamped beyond).
//!
//! `--native-update window` (the default) is pWord2Vec's scheme (Ji et al.,
//! 2016). The pairs of one centre `t` arrive together (`pairs` writes them
//! so); word2vec.c's roles are used, with the contexts `c_1..c_m` as inputs
//! and `t` as the output, and K negatives are drawn once per window and
//! shared by its m pairs. With rows `h_i = in[c_i]`, `o_0 = out[t]`,
//! `o_k = out[n_k]`:
//!
//! ```text
//! G_ik = (label_k − σ(h_i·o_k)) · lr      (label_0 = 1, else 0; m × (K+1))
//! in[c_i] = h_i + Σ_k G_ik o_k
//! out[o_k] = o_k + Σ_i G_ik h_i
//! ```
//!
//! The same m(K+1) dot products as m pair updates, but on m + K + 1 rows
//! instead of 1 + m(K+1): the rows stay in L1 and the cache misses, which
//! bound the pair update on a large vocabulary, drop about threefold.
//! Each input still meets K negatives; they are shared within one window.
//! A run of equal centres is cut into windows of at most [`MAX_WINDOW`].
//!
//! Threads share the tables through [`SharedMatrix`] (Hogwild over relaxed
//! atomics: the sharing needs no `unsafe`). The engine's `unsafe` is confined
//! to the SIMD kernels of [`crate::simd`] and the row prefetch hint of
//! [`SharedMatrix::prefetch`]; this file has none.
//! A block is split into one contiguous range per thread, each with its own
//! random stream `(block seed, thread)`. With `--deterministic` one thread
//! runs the block in order, so the result depends only on the seed.
//! No allocation happens per pair: scratch rows are allocated once per block.
//!
//! **From the token stream** (`train --corpus`, [`NativeEngine::run_tokens`]):
//! the engine draws a chunk's pairs itself. The chunk is cut at line ends
//! into one range per thread; each thread subsamples its lines and applies
//! every centre's window directly ([`super::stream::windows`]: the pairs the
//! plan counted, drawn per line so the cut does not change them), with the
//! learning rate falling linearly over the chunk. No pair is written or
//! read back.
//!
//! **Subwords** (`train --subwords`, [`crate::subword`]): the input table has
//! `V + buckets` rows and fastText's roles are used, the centre `t` being the
//! input. Per window (one run of equal centres), `h` is the mean of `in[t]`
//! and `in[V + g]` for t's n-gram buckets g, composed once; each context
//! `c_i` is trained as the output (label 1) against K negatives drawn fresh
//! for that pair (one equal to `c_i` is skipped), the output rows updated in
//! place; the gradient `e = Σ g·o` of the whole window is then added, once,
//! to every row `h` averaged (fastText's skipgram does not divide it by
//! their number). The n-gram rows are read and written once per window, not
//! once per pair, yet the pairs see what fastText's do: fastText adds each
//! pair's gradient to every averaged row and composes `h` afresh for the
//! next pair, which moves `h` by that gradient (times [`drift`](crate::subword::drift), 1 unless a
//! bucket is listed twice), so `h` is moved so here after each pair
//! ([`NativeEngine::apply_subword_window`]; `oracle.rs` runs fastText's
//! per-pair loop literally and the two agree).

use crate::error::{Error, Result};
use crate::hogwild::SharedMatrix;
use crate::ids::{first_outside, split_at_lines};
use crate::rng::{stream, RngCore};
use crate::simd::Kernels;
use crate::subword::NgramTable;
use crate::unigram::{sample, AliasTable, Entry};
use crate::TokenId;
use std::ops::Range;

use super::config::{NativeConfig, NativeUpdate};
use super::engine::{skips_negative, Block, Engine, LossSum, TableSink, TokenBlock, Weights};

/// Pairs per block.
pub const BLOCK: usize = 1 << 16;
/// The loss of one pair (window update: one window) in this many is reported.
const LOSS_EVERY: usize = 16;
/// Most pairs in one window update.
pub const MAX_WINDOW: usize = 32;

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

/// The native engine.
pub struct NativeEngine {
    input: SharedMatrix,
    output: SharedMatrix,
    table: Vec<Entry>,
    negative: usize,
    threads: usize,
    pool: rayon::ThreadPool,
    kernels: Kernels,
    sigmoid: Sigmoid,
    update: NativeUpdate,
    /// Prefetch the rows of upcoming pairs (off only to measure it).
    prefetch: bool,
    /// Sampled loss since the last drain.
    pending: LossSum,
    /// The n-gram buckets of each word, for a subword model.
    subwords: Option<NgramTable>,
}

impl NativeEngine {
    /// An engine starting from `weights`, drawing negatives from `table`.
    pub fn new(
        cfg: &NativeConfig,
        dim: usize,
        negative: usize,
        weights: Weights,
        table: &AliasTable,
    ) -> Result<Self> {
        let threads = if cfg.deterministic { 1 } else { cfg.threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::InvalidConfig(format!("cannot start {threads} threads: {e}")))?;
        Ok(NativeEngine {
            input: SharedMatrix::from_vec(weights.input, dim),
            output: SharedMatrix::from_vec(weights.output, dim),
            table: table.entries.clone(),
            negative,
            threads,
            pool,
            kernels: Kernels::detect(),
            sigmoid: Sigmoid::default(),
            update: cfg.update,
            prefetch: cfg.prefetch,
            pending: LossSum::default(),
            subwords: None,
        })
    }

    /// The engine of a subword model: `weights.input` has `V + buckets`
    /// rows and `grams` lists each word's buckets.
    pub fn with_subwords(mut self, grams: NgramTable) -> Result<Self> {
        let v = self.output.rows();
        if grams.len() != v || self.input.rows() < v {
            return Err(Error::InvalidConfig(format!(
                "subword table for {} words, {} input rows, {v} output rows",
                grams.len(),
                self.input.rows()
            )));
        }
        let buckets = self.input.rows() - v;
        if grams.ids.iter().any(|&g| g as usize >= buckets) {
            return Err(Error::InvalidConfig(format!(
                "an n-gram bucket is outside the {buckets} buckets"
            )));
        }
        self.subwords = Some(grams);
        Ok(self)
    }

    /// One subword window (see the module docs): the centre `t`, composed
    /// from its own row and its buckets `grams` (whose [`crate::subword::drift`] is
    /// `drift`), against each context of
    /// `ctx` with its own `negs.len() / ctx.len()` negatives (a negative
    /// equal to that context is skipped). Returns the loss summed over the
    /// pairs when `want_loss`, else 0.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_subword_window(
        &self,
        t: usize,
        grams: &[u32],
        drift: f32,
        ctx: &[TokenId],
        negs: &[usize],
        lr: f32,
        want_loss: bool,
        s: &mut Scratch,
    ) -> f32 {
        let (dot, axpy) = (self.kernels.dot, self.kernels.axpy);
        let v = self.output.rows();
        let k = negs.len() / ctx.len().max(1);
        self.input.load(t, &mut s.h);
        for &g in grams {
            self.input.load(v + g as usize, &mut s.u);
            axpy(&mut s.h, 1.0, &s.u);
        }
        let inv = 1.0 / (1 + grams.len()) as f32;
        s.h.iter_mut().for_each(|x| *x *= inv);
        s.e.fill(0.0);
        let mut loss = 0f32;
        for (i, &c) in ctx.iter().enumerate() {
            let c = c as usize;
            let outs = std::iter::once(&c).chain(&negs[i * k..(i + 1) * k]);
            s.g.fill(0.0);
            for (j, &o) in outs.enumerate() {
                if j > 0 && skips_negative(o, c) {
                    continue;
                }
                self.output.load(o, &mut s.u);
                let sg = self.sigmoid.get(dot(&s.h, &s.u));
                if want_loss {
                    loss -= (if j == 0 { sg } else { 1.0 - sg }).max(1e-7).ln();
                }
                let g = (if j == 0 { 1.0 } else { 0.0 } - sg) * lr;
                axpy(&mut s.g, g, &s.u);
                axpy(&mut s.u, g, &s.h);
                self.output.store(o, &s.u);
            }
            // The next pair sees h as fastText would recompose it after
            // this pair's gradient reached every averaged row.
            axpy(&mut s.e, 1.0, &s.g);
            axpy(&mut s.h, drift, &s.g);
        }
        for r in std::iter::once(t).chain(grams.iter().map(|&g| v + g as usize)) {
            self.input.load(r, &mut s.u);
            axpy(&mut s.u, 1.0, &s.e);
            self.input.store(r, &s.u);
        }
        loss
    }

    /// Runs the pairs in order on this thread as subword windows (runs of
    /// equal `t`), drawing K negatives per pair from the stream `seed`.
    pub(crate) fn run_subword_windows(
        &self,
        grams: &NgramTable,
        t: &[TokenId],
        c: &[TokenId],
        lr: f32,
        seed: u64,
    ) -> LossSum {
        let mut rng = stream(seed, &[]);
        let k = self.negative.min(MAX_NEGATIVE);
        let v = self.output.rows();
        let mut s = Scratch::new(self.input.dim());
        let mut negs = [vec![0usize; MAX_WINDOW * k], vec![0usize; MAX_WINDOW * k]];
        let draw = |rng: &mut crate::rng::Rng, n: &mut [usize]| {
            for x in n.iter_mut() {
                *x = sample(&self.table, rng.next_u64()) as usize;
            }
        };
        let window_end = |lo: usize| {
            let hi = (lo + MAX_WINDOW).min(t.len());
            lo + t[lo..hi].iter().take_while(|&&x| x == t[lo]).count()
        };
        let (mut loss, mut nloss) = (0f64, 0u64);
        let (mut lo, mut w) = (0usize, 0usize);
        let mut hi = if t.is_empty() { 0 } else { window_end(0) };
        draw(&mut rng, &mut negs[0][..(hi - lo) * k]);
        while lo < t.len() {
            // The next window's negatives are drawn now and its rows
            // prefetched, so their misses overlap this window's arithmetic.
            let next_hi = if hi < t.len() { window_end(hi) } else { hi };
            if hi < t.len() {
                let nb = &mut negs[(w + 1) % 2];
                draw(&mut rng, &mut nb[..(next_hi - hi) * k]);
                if self.prefetch {
                    let nt = t[hi] as usize;
                    self.input.prefetch(nt);
                    for &g in grams.of(nt) {
                        self.input.prefetch(v + g as usize);
                    }
                    for &x in &c[hi..next_hi] {
                        self.output.prefetch(x as usize);
                    }
                    for &n in &nb[..(next_hi - hi) * k] {
                        self.output.prefetch(n);
                    }
                }
            }
            let want = w % LOSS_EVERY == 0;
            let centre = t[lo] as usize;
            let l = self.apply_subword_window(
                centre,
                grams.of(centre),
                grams.drift(centre),
                &c[lo..hi],
                &negs[w % 2][..(hi - lo) * k],
                lr,
                want,
                &mut s,
            );
            if want {
                loss += l as f64;
                nloss += (hi - lo) as u64;
            }
            (lo, hi, w) = (hi, next_hi, w + 1);
        }
        LossSum {
            sum: loss,
            count: nloss,
        }
    }

    /// One word2vec.c update: the input row `inp` (the context) against the
    /// output rows of `centre` and the negatives (one equal to `centre` is
    /// skipped). Returns the pair's loss.
    #[inline]
    pub(crate) fn apply_pair(
        &self,
        inp: usize,
        centre: usize,
        negs: &[usize],
        lr: f32,
        s: &mut Scratch,
    ) -> f32 {
        let (dot, axpy) = (self.kernels.dot, self.kernels.axpy);
        self.input.load(inp, &mut s.h);
        s.e.fill(0.0);
        let mut loss = 0f32;
        for (k, &o) in std::iter::once(&centre).chain(negs).enumerate() {
            if k > 0 && skips_negative(o, centre) {
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
        self.input.store(inp, &s.h);
        loss
    }

    /// One window update: the pairs `(t, ctx[i])` with shared negatives
    /// (a negative equal to `t` is skipped). Returns the loss summed over the
    /// pairs when `want_loss`, else 0.
    #[inline]
    pub(crate) fn apply_window(
        &self,
        t: usize,
        ctx: &[TokenId],
        negs: &[usize],
        lr: f32,
        want_loss: bool,
        s: &mut WindowScratch,
    ) -> f32 {
        let (dot, axpy) = (self.kernels.dot, self.kernels.axpy);
        let d = self.input.dim();
        let k1 = negs.len() + 1;
        let rows = std::iter::once(&t).chain(negs);
        for (k, &o) in rows.clone().enumerate() {
            self.output.load(o, &mut s.out[k * d..(k + 1) * d]);
        }
        s.dout[..k1 * d].fill(0.0);
        let mut loss = 0f32;
        for &c in ctx {
            // Loaded now, not up front, so a context met twice sees its
            // first update (the rows were prefetched a window ago).
            let (h, dh) = (&mut s.inp[..d], &mut s.din[..d]);
            self.input.load(c as usize, h);
            dh.fill(0.0);
            for k in 0..k1 {
                if k > 0 && skips_negative(negs[k - 1], t) {
                    continue;
                }
                let o = &s.out[k * d..(k + 1) * d];
                let sg = self.sigmoid.get(dot(h, o));
                if want_loss {
                    loss -= (if k == 0 { sg } else { 1.0 - sg }).max(1e-7).ln();
                }
                let g = (if k == 0 { 1.0 } else { 0.0 } - sg) * lr;
                axpy(dh, g, o);
                axpy(&mut s.dout[k * d..(k + 1) * d], g, h);
            }
            axpy(h, 1.0, dh);
            self.input.store(c as usize, h);
        }
        // A row drawn twice as a negative gets both updates; a negative
        // equal to t was skipped above and must not overwrite t's row.
        for (k, &o) in rows.enumerate() {
            if k > 0 {
                if skips_negative(o, t) || negs[..k - 1].contains(&o) {
                    continue;
                }
                // Later draws of this negative add their updates here.
                for j in k + 1..k1 {
                    if negs[j - 1] == o {
                        let (a, b) = s.dout.split_at_mut(j * d);
                        axpy(&mut a[k * d..(k + 1) * d], 1.0, &b[..d]);
                    }
                }
            }
            let row = &mut s.out[k * d..(k + 1) * d];
            axpy(row, 1.0, &s.dout[k * d..(k + 1) * d]);
            self.output.store(o, row);
        }
        loss
    }

    /// Runs the pairs in order on this thread as window updates (runs of
    /// equal `t`), drawing K negatives per window from the stream `seed`.
    pub(crate) fn run_windows(&self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> LossSum {
        let mut rng = stream(seed, &[]);
        let k = self.negative.min(MAX_NEGATIVE);
        let mut s = WindowScratch::new(self.input.dim(), k);
        let mut negs = [[0usize; MAX_NEGATIVE]; 2];
        let draw = |rng: &mut crate::rng::Rng, n: &mut [usize; MAX_NEGATIVE]| {
            for x in n.iter_mut().take(k) {
                *x = sample(&self.table, rng.next_u64()) as usize;
            }
        };
        let window_end = |lo: usize| {
            let hi = (lo + MAX_WINDOW).min(t.len());
            lo + t[lo..hi].iter().take_while(|&&x| x == t[lo]).count()
        };
        let (mut loss, mut nloss) = (0f64, 0u64);
        let (mut lo, mut w) = (0usize, 0usize);
        let mut hi = if t.is_empty() { 0 } else { window_end(0) };
        draw(&mut rng, &mut negs[0]);
        while lo < t.len() {
            // Draw the next window's negatives now and prefetch its rows, so
            // their cache misses overlap this window's arithmetic.
            let next_hi = if hi < t.len() { window_end(hi) } else { hi };
            if hi < t.len() {
                draw(&mut rng, &mut negs[(w + 1) % 2]);
            }
            if hi < t.len() && self.prefetch {
                self.output.prefetch(t[hi] as usize);
                for &n in &negs[(w + 1) % 2][..k] {
                    self.output.prefetch(n);
                }
                for &x in &c[hi..next_hi] {
                    self.input.prefetch(x as usize);
                }
            }
            let want = w % LOSS_EVERY == 0;
            let l = self.apply_window(
                t[lo] as usize,
                &c[lo..hi],
                &negs[w % 2][..k],
                lr,
                want,
                &mut s,
            );
            if want {
                loss += l as f64;
                nloss += (hi - lo) as u64;
            }
            (lo, hi, w) = (hi, next_hi, w + 1);
        }
        LossSum {
            sum: loss,
            count: nloss,
        }
    }

    /// Trains the windows of the lines of `b.ids` in `range` as
    /// [`super::stream::windows`] draws them (the pairs the plan counted),
    /// each centre's window applied directly with the configured update;
    /// negatives come from the stream `seed`, the learning rate falls
    /// linearly over the chunk.
    pub(crate) fn run_tokens(&self, b: &TokenBlock, range: Range<usize>, seed: u64) -> LossSum {
        let mut rng = stream(seed, &[]);
        let k = self.negative.min(MAX_NEGATIVE);
        let mut ws = WindowScratch::new(self.input.dim(), k);
        let mut ps = Scratch::new(self.input.dim());
        let mut negs = [0usize; MAX_NEGATIVE];
        // The window update's negatives are drawn one window ahead and
        // their rows prefetched, so their cache misses overlap this
        // window's arithmetic (as `run_windows` does; same draw order).
        let mut ahead = [[0usize; MAX_NEGATIVE]; 2];
        let draw = |rng: &mut crate::rng::Rng, n: &mut [usize; MAX_NEGATIVE]| {
            for x in n.iter_mut().take(k) {
                *x = sample(&self.table, rng.next_u64()) as usize;
            }
        };
        if self.update == NativeUpdate::Window {
            draw(&mut rng, &mut ahead[0]);
        }
        let mut ctx: Vec<TokenId> = Vec::with_capacity(2 * b.window);
        let mut kept = Vec::new();
        let per_token = (b.lr_end - b.lr_start) / b.ids.len().max(1) as f32;
        let (mut loss, mut nloss, mut w, mut pieces) = (0f64, 0u64, 0usize, 0usize);
        super::stream::windows(b, range, &mut kept, |at, kept, i, reach| {
            let lo = i.saturating_sub(reach);
            let hi = (i + reach + 1).min(kept.len());
            if hi - lo < 2 {
                return;
            }
            ctx.clear();
            ctx.extend_from_slice(&kept[lo..i]);
            ctx.extend_from_slice(&kept[i + 1..hi]);
            let t = kept[i] as usize;
            let lr = b.lr_start + per_token * (at + i) as f32;
            let want = w % LOSS_EVERY == 0;
            w += 1;
            match self.update {
                NativeUpdate::Window => {
                    if self.prefetch && i + 1 < kept.len() {
                        self.output.prefetch(kept[i + 1] as usize);
                        // The one context the next window may add.
                        self.input
                            .prefetch(kept[(i + 1 + b.window).min(kept.len() - 1)] as usize);
                    }
                    // As on the shard path, a window of over MAX_WINDOW
                    // contexts is cut, each piece with its own negatives.
                    for piece in ctx.chunks(MAX_WINDOW) {
                        let (cur, next) = (pieces % 2, (pieces + 1) % 2);
                        pieces += 1;
                        draw(&mut rng, &mut ahead[next]);
                        if self.prefetch {
                            for &n in &ahead[next][..k] {
                                self.output.prefetch(n);
                            }
                        }
                        let l = self.apply_window(t, piece, &ahead[cur][..k], lr, want, &mut ws);
                        if want {
                            loss += l as f64;
                            nloss += piece.len() as u64;
                        }
                    }
                }
                NativeUpdate::Pair => {
                    for (j, &c) in ctx.iter().enumerate() {
                        draw(&mut rng, &mut negs);
                        let l = self.apply_pair(c as usize, t, &negs[..k], lr, &mut ps);
                        if want && j == 0 {
                            loss += l as f64;
                            nloss += 1;
                        }
                    }
                }
            }
        });
        LossSum {
            sum: loss,
            count: nloss,
        }
    }

    /// Runs this thread's pairs with the configured update.
    fn run(&self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> LossSum {
        if let Some(g) = &self.subwords {
            return self.run_subword_windows(g, t, c, lr, seed);
        }
        match self.update {
            NativeUpdate::Pair => self.run_range(t, c, lr, seed),
            NativeUpdate::Window => self.run_windows(t, c, lr, seed),
        }
    }

    /// Runs pairs `t[i], c[i]` in order on this thread, drawing negatives
    /// from the stream `seed`.
    pub(crate) fn run_range(&self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> LossSum {
        let mut rng = stream(seed, &[]);
        let mut s = Scratch::new(self.input.dim());
        let mut negs = [0usize; MAX_NEGATIVE];
        let k = self.negative.min(MAX_NEGATIVE);
        let (mut loss, mut nloss) = (0f64, 0u64);
        for i in 0..t.len() {
            if i + 2 < t.len() && self.prefetch {
                self.input.prefetch(c[i + 2] as usize);
                self.output.prefetch(t[i + 2] as usize);
            }
            for n in negs.iter_mut().take(k) {
                *n = sample(&self.table, rng.next_u64()) as usize;
            }
            let l = self.apply_pair(c[i] as usize, t[i] as usize, &negs[..k], lr, &mut s);
            if i % LOSS_EVERY == 0 {
                loss += l as f64;
                nloss += 1;
            }
        }
        LossSum {
            sum: loss,
            count: nloss,
        }
    }
}

/// Parts a chunk of tokens is cut into (at line ends) for the threads.
const TOKEN_PARTS: usize = 16;

/// Most negatives per pair (the config allows up to 100).
pub const MAX_NEGATIVE: usize = 100;

/// Per-thread scratch of the window update, allocated once per block.
pub(crate) struct WindowScratch {
    /// The current input row.
    inp: Vec<f32>,
    /// Its output rows, t then the negatives ((K+1) × dim).
    out: Vec<f32>,
    /// One input row's update.
    din: Vec<f32>,
    /// The output rows' updates.
    dout: Vec<f32>,
}

impl WindowScratch {
    /// Buffers for rows of `dim` and `negative` negatives.
    pub fn new(dim: usize, negative: usize) -> Self {
        WindowScratch {
            inp: vec![0.0; dim],
            out: vec![0.0; (negative + 1) * dim],
            din: vec![0.0; dim],
            dout: vec![0.0; (negative + 1) * dim],
        }
    }
}

/// Per-thread scratch rows, allocated once per block.
pub(crate) struct Scratch {
    h: Vec<f32>,
    e: Vec<f32>,
    u: Vec<f32>,
    /// One pair's input gradient (subword windows).
    g: Vec<f32>,
}

impl Scratch {
    /// Buffers for rows of `dim`.
    pub fn new(dim: usize) -> Self {
        Scratch {
            h: vec![0.0; dim],
            e: vec![0.0; dim],
            u: vec![0.0; dim],
            g: vec![0.0; dim],
        }
    }
}

impl Engine for NativeEngine {
    fn describe(&self) -> String {
        let update = match self.update {
            NativeUpdate::Pair => "pair",
            NativeUpdate::Window => "window",
        };
        let update = if self.subwords.is_some() {
            "subword window"
        } else {
            update
        };
        format!("native {update} {} x{}", self.kernels.name, self.threads)
    }

    fn block(&mut self, b: Block<'_>) -> Result<()> {
        let (t, c, lr, seed) = (b.centres, b.contexts, b.lr, b.seed);
        if self.threads == 1 {
            let l = self.run(t, c, lr, seed);
            self.pending += l;
            return Ok(());
        }
        let per = t.len().div_ceil(self.threads);
        let this = &*self;
        let parts: Vec<LossSum> = this.pool.install(|| {
            use rayon::prelude::*;
            (0..this.threads)
                .into_par_iter()
                .map(|k| {
                    let lo = (k * per).min(t.len());
                    let hi = ((k + 1) * per).min(t.len());
                    this.run(
                        &t[lo..hi],
                        &c[lo..hi],
                        lr,
                        crate::rng::mix64(seed ^ k as u64),
                    )
                })
                .collect()
        });
        for p in parts {
            self.pending += p;
        }
        Ok(())
    }

    fn drain_loss(&mut self) -> Result<LossSum> {
        Ok(std::mem::take(&mut self.pending))
    }

    /// A word model draws the stream's windows itself (a subword model
    /// trains the pairs the stream's producer draws).
    fn draws_pairs(&self) -> bool {
        self.subwords.is_none()
    }

    fn tokens(&mut self, b: TokenBlock<'_>) -> Result<()> {
        let v = self.output.rows();
        if b.keep.len() != v {
            return Err(Error::InvalidConfig(format!(
                "the stream's keep table has {} words, the model {v} (a bug)",
                b.keep.len()
            )));
        }
        if let Some(i) = first_outside(b.ids, v) {
            return Err(Error::Mismatch {
                path: b.source.to_path_buf(),
                message: format!(
                    "holds id {} at value {i} of a chunk, outside the vocabulary of {v} words; it is corrupt, re-run `w2v vocab`",
                    b.ids[i]
                ),
            });
        }
        // More parts than threads, taken as threads come free, so no
        // thread waits long at the chunk's end; a fixed number, so the
        // negatives (a stream per part) do not depend on the threads.
        let parts = split_at_lines(b.ids, TOKEN_PARTS);
        let this = &*self;
        let part_seed = |k: usize| crate::rng::mix64(b.seed ^ k as u64);
        let sums: Vec<LossSum> = if self.threads == 1 {
            parts
                .iter()
                .enumerate()
                .map(|(k, r)| this.run_tokens(&b, r.clone(), part_seed(k)))
                .collect()
        } else {
            this.pool.install(|| {
                use rayon::prelude::*;
                parts
                    .par_iter()
                    .enumerate()
                    .map(|(k, r)| this.run_tokens(&b, r.clone(), part_seed(k)))
                    .collect()
            })
        };
        for l in sums {
            self.pending += l;
        }
        Ok(())
    }

    fn weights(&mut self) -> Result<Weights> {
        Ok(Weights {
            input: self.input.to_vec(),
            output: self.output.to_vec(),
        })
    }

    fn visit_weights(&mut self, sink: &mut TableSink<'_>) -> Result<()> {
        // 4 MiB at a time.
        const CHUNK: usize = 1 << 20;
        self.input.for_each_chunk(CHUNK, |c| sink("input", c))?;
        self.output.for_each_chunk(CHUNK, |c| sink("output", c))
    }

    fn into_weights(self: Box<Self>) -> Result<Weights> {
        let me = *self;
        Ok(Weights {
            input: me.input.into_vec(),
            output: me.output.into_vec(),
        })
    }

    fn block_size(&self) -> usize {
        BLOCK
    }
}

#[cfg(test)]
mod tests {
    use super::super::oracle::{test_weights, Tables};
    use super::*;
    use crate::ids::LINE_END;
    use crate::pairs::Pairs;
    use crate::subword::drift;

    fn engine(v: usize, dim: usize, negative: usize) -> NativeEngine {
        let cfg = NativeConfig {
            threads: 1,
            ..Default::default()
        };
        let table = AliasTable::new(&vec![1; v], 0.75);
        NativeEngine::new(&cfg, dim, negative, test_weights(v, dim, 3), &table).unwrap()
    }

    #[test]
    fn window_update_matches_the_oracle() {
        let (v, d, lr) = (30, 9, 0.2f32);
        let mut tr = engine(v, d, 4);
        let w0 = tr.weights().unwrap();
        // Negative 4 equals the centre and is skipped, negative 5 counts
        // twice, and the second 7 sees the first one's update.
        let (t, ctx, negs) = (4usize, [7, 11, 2, 7], [5usize, 4, 20, 5]);
        let mut s = WindowScratch::new(d, 4);
        let loss = tr.apply_window(t, &ctx, &negs, lr, true, &mut s);
        let mut want = Tables::from_weights(&w0, d);
        let ctx_rows: Vec<usize> = ctx.iter().map(|&c| c as usize).collect();
        let want_loss = want.window(t, &ctx_rows, &negs, lr as f64);
        let got = tr.weights().unwrap();
        assert!(want.max_diff(&got) < 1e-5, "{}", want.max_diff(&got));
        assert!(
            (loss as f64 - want_loss).abs() < 1e-3,
            "{loss} vs {want_loss}"
        );
        // The centre's row moved (label 1), and only by its positive term.
        assert_ne!(got.output[4 * d..5 * d], w0.output[4 * d..5 * d]);
        assert_eq!(got.input[3 * d..4 * d], w0.input[3 * d..4 * d]);
        assert_eq!(got.output[6 * d..7 * d], w0.output[6 * d..7 * d]);
    }

    fn subword_engine(v: usize, buckets: usize, dim: usize, negative: usize) -> NativeEngine {
        let cfg = NativeConfig {
            threads: 1,
            ..Default::default()
        };
        let table = AliasTable::new(&vec![1; v], 0.75);
        let mut w = Weights::init_subword(v, buckets, dim, 3);
        // Non-zero output rows, so every gradient term is exercised.
        w.output = test_weights(v, dim, 3).output;
        let words: Vec<String> = (0..v).map(|i| format!("сл{i}")).collect();
        let sw = crate::subword::SubwordConfig {
            minn: 2,
            maxn: 3,
            buckets: buckets as u32,
        };
        NativeEngine::new(&cfg, dim, negative, w, &table)
            .unwrap()
            .with_subwords(NgramTable::build(&sw, &words))
            .unwrap()
    }

    #[test]
    fn subword_window_matches_the_oracle() {
        let (v, b, d, lr) = (30, 7, 9, 0.2f32);
        let mut tr = subword_engine(v, b, d, 3);
        let w0 = tr.weights().unwrap();
        // Bucket 2 is listed twice (it gets the gradient twice); context 11
        // is met twice (the second sees the first's output update); pair 0
        // draws its own context as a negative (skipped) and negative 5 twice.
        let (t, grams, ctx) = (4usize, [2u32, 5, 2, 0], [11, 7, 11]);
        let negs = [5usize, 11, 5, 20, 4, 9, 3, 11, 6];
        let loss = tr.apply_subword_window(
            t,
            &grams,
            drift(&grams),
            &ctx,
            &negs,
            lr,
            true,
            &mut Scratch::new(d),
        );
        let mut want = Tables::from_weights(&w0, d);
        let g: Vec<usize> = grams.iter().map(|&g| g as usize).collect();
        let c: Vec<usize> = ctx.iter().map(|&c| c as usize).collect();
        let want_loss = want.subword_window(t, &g, v, &c, &negs, lr as f64);
        let got = tr.weights().unwrap();
        assert!(want.max_diff(&got) < 1e-5, "{}", want.max_diff(&got));
        assert!(
            (loss as f64 - want_loss).abs() < 1e-3,
            "{loss} vs {want_loss}"
        );
        // The centre's own row and its bucket rows moved; another word's did not.
        let row = |w: &Weights, r: usize| w.input[r * d..(r + 1) * d].to_vec();
        for r in [t, v + 2, v + 5, v] {
            assert_ne!(row(&got, r), row(&w0, r), "row {r}");
        }
        assert_eq!(row(&got, 3), row(&w0, 3));
        assert_eq!(row(&got, v + 1), row(&w0, v + 1));
    }

    #[test]
    fn drift_counts_a_repeated_bucket_in_the_mean_and_in_the_update() {
        assert_eq!(drift(&[]), 1.0);
        assert_eq!(drift(&[3, 1, 4]), 1.0);
        // Bucket 2 twice: it gets the gradient twice and counts twice.
        assert_eq!(drift(&[2, 5, 2, 0]), 7.0 / 5.0);
        assert_eq!(drift(&[9, 9, 9]), 10.0 / 4.0);
    }

    #[test]
    fn subword_runs_are_windows_of_equal_centres() {
        let (v, b, d) = (40, 11, 8);
        let t: Vec<TokenId> = vec![1, 1, 1, 2, 3, 3, 1, 1];
        let c: Vec<TokenId> = vec![5, 6, 7, 8, 9, 10, 11, 12];
        let a = subword_engine(v, b, d, 2);
        let grams = a.subwords.clone().unwrap();
        let mut a = a;
        a.block(Block {
            centres: &t,
            contexts: &c,
            lr: 0.1,
            seed: 99,
        })
        .unwrap();
        let mut bb = subword_engine(v, b, d, 2);
        assert_ne!(a.weights().unwrap().input, bb.weights().unwrap().input);
        let mut rng = stream(99, &[]);
        let mut s = Scratch::new(d);
        for (lo, hi) in [(0, 3), (3, 4), (4, 6), (6, 8)] {
            let negs: Vec<usize> = (0..2 * (hi - lo))
                .map(|_| sample(&bb.table, rng.next_u64()) as usize)
                .collect();
            let centre = t[lo] as usize;
            bb.apply_subword_window(
                centre,
                grams.of(centre),
                grams.drift(centre),
                &c[lo..hi],
                &negs,
                0.1,
                false,
                &mut s,
            );
        }
        assert_eq!(a.weights().unwrap(), bb.weights().unwrap());
    }

    #[test]
    fn pair_update_matches_the_oracle_and_skips_a_negative_equal_to_the_centre() {
        let (v, d, lr) = (30, 16, 0.15f32);
        let mut tr = engine(v, d, 4);
        let w0 = tr.weights().unwrap();
        // Centre 6, context 12; negative 6 collides with the centre, 9 is drawn twice.
        let negs = [9usize, 6, 14, 9];
        let loss = tr.apply_pair(12, 6, &negs, lr, &mut Scratch::new(d));
        let mut want = Tables::from_weights(&w0, d);
        let want_loss = want.pair(6, 12, &negs, lr as f64);
        let got = tr.weights().unwrap();
        assert!(want.max_diff(&got) < 1e-5, "{}", want.max_diff(&got));
        assert!((loss as f64 - want_loss).abs() < 1e-4);
    }

    #[test]
    fn one_pair_window_equals_the_pair_update() {
        let (v, d) = (25, 16);
        let (mut a, mut b) = (engine(v, d, 4), engine(v, d, 4));
        let negs = [3usize, 9, 14, 6];
        a.apply_window(6, &[12], &negs, 0.1, false, &mut WindowScratch::new(d, 4));
        b.apply_pair(12, 6, &negs, 0.1, &mut Scratch::new(d));
        let (wa, wb) = (a.weights().unwrap(), b.weights().unwrap());
        // Equal up to rounding: the window adds g·h to a zeroed buffer first.
        let md = max_abs_diff;
        assert!(md(&wa.input, &wb.input) < 1e-7 && md(&wa.output, &wb.output) < 1e-7);
        assert_ne!(wa.input, engine(v, d, 4).weights().unwrap().input);
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn windows_are_runs_of_equal_centres() {
        // Window updates over runs must equal applying each run by hand with
        // the same negative stream.
        let (v, d) = (40, 8);
        let t: Vec<TokenId> = vec![1, 1, 1, 2, 3, 3, 1, 1];
        let c: Vec<TokenId> = vec![5, 6, 7, 8, 9, 10, 11, 12];
        let mut a = engine(v, d, 2);
        a.run_windows(&t, &c, 0.1, 99);
        let mut b = engine(v, d, 2);
        let mut rng = stream(99, &[]);
        let mut s = WindowScratch::new(d, 2);
        assert_ne!(a.weights().unwrap().input, b.weights().unwrap().input);
        for (lo, hi) in [(0, 3), (3, 4), (4, 6), (6, 8)] {
            let negs: Vec<usize> = (0..2)
                .map(|_| sample(&b.table, rng.next_u64()) as usize)
                .collect();
            b.apply_window(t[lo] as usize, &c[lo..hi], &negs, 0.1, false, &mut s);
        }
        assert_eq!(a.weights().unwrap(), b.weights().unwrap());
    }

    /// A chunk of `n` ids over `v` words in lines of 1 to 30, no id equal
    /// to the one before it (so the pairs' runs of equal centres are
    /// exactly the windows), ending at a line end.
    fn token_chunk(n: usize, v: usize) -> Vec<TokenId> {
        let mut rng = stream(5, &[]);
        let mut ids = Vec::new();
        let mut prev = -1;
        while ids.len() < n {
            for _ in 0..1 + crate::rng::below(&mut rng, 30) {
                let mut x = crate::rng::below(&mut rng, v as u64) as TokenId;
                if x == prev {
                    x = (x + 1) % v as TokenId;
                }
                ids.push(x);
                prev = x;
            }
            ids.push(LINE_END);
        }
        ids
    }

    fn token_block<'a>(ids: &'a [TokenId], keep: &'a [f32], lr: (f32, f32)) -> TokenBlock<'a> {
        TokenBlock {
            ids,
            keep,
            window: 3,
            dynamic_window: true,
            lr_start: lr.0,
            lr_end: lr.1,
            seed: 77,
            draw_seed: 1234,
            source: std::path::Path::new("corpus.ids"),
        }
    }

    #[test]
    fn token_windows_train_what_the_pairs_of_the_same_draws_train() {
        // Without subsampling and at a constant rate, training a chunk's
        // windows straight from the tokens equals the window update over
        // the pairs the same draws give (one thread, same negatives).
        let (v, d) = (60, 8);
        let ids = token_chunk(3000, v);
        let keep = vec![1.0f32; v];
        let b = token_block(&ids, &keep, (0.05, 0.05));
        let mut pairs = Pairs::default();
        let mut kept = Vec::new();
        super::super::stream::windows(&b, 0..ids.len(), &mut kept, |_, k, i, r| {
            let (lo, hi) = (i.saturating_sub(r), (i + r + 1).min(k.len()));
            for j in (lo..hi).filter(|&j| j != i) {
                pairs.targets.push(k[i]);
                pairs.contexts.push(k[j]);
            }
        });
        assert!(pairs.len() > 5000, "{}", pairs.len());
        let mut a = engine(v, d, 3);
        a.run_windows(&pairs.targets, &pairs.contexts, 0.05, 77);
        let mut t = engine(v, d, 3);
        let l = t.run_tokens(&b, 0..ids.len(), 77);
        assert!(l.count > 0 && l.mean().is_finite());
        let (wa, wt) = (a.weights().unwrap(), t.weights().unwrap());
        assert_ne!(wt, engine(v, d, 3).weights().unwrap());
        assert_eq!(wa, wt);
    }

    #[test]
    fn token_windows_do_not_depend_on_the_threads() {
        // The draws come from one stream per line: any cut of the chunk
        // between threads draws the same windows.
        let v = 60;
        let ids = token_chunk(5000, v);
        let keep: Vec<f32> = (0..v).map(|i| 0.3 + i as f32 / 100.0).collect();
        let b = token_block(&ids, &keep, (0.05, 0.01));
        let collect = |parts: usize| {
            let mut out = Vec::new();
            let mut kept = Vec::new();
            for r in split_at_lines(&ids, parts) {
                super::super::stream::windows(&b, r, &mut kept, |at, k, i, w| {
                    out.push((at, k[i], w, k.len()));
                });
            }
            out
        };
        let one = collect(1);
        assert!(one.len() > 1000);
        for parts in [2, 3, 7] {
            let cuts = split_at_lines(&ids, parts);
            assert_eq!(cuts.len(), parts);
            assert!(cuts
                .iter()
                .all(|r| r.is_empty() || ids[r.end - 1] == LINE_END));
            assert_eq!(collect(parts), one, "{parts} parts");
        }
    }

    #[test]
    fn tokens_refuse_ids_outside_the_vocabulary() {
        let v = 60;
        let mut ids = token_chunk(500, v);
        ids[17] = v as TokenId;
        let keep = vec![1.0f32; v];
        let mut e = engine(v, 8, 3);
        let err = e
            .tokens(token_block(&ids, &keep, (0.05, 0.05)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("corpus.ids") && err.contains("holds id 60 at value 17"),
            "{err}"
        );
        ids[17] = -5;
        assert!(e.tokens(token_block(&ids, &keep, (0.05, 0.05))).is_err());
    }

    #[test]
    fn drain_returns_every_block_once() {
        let (v, d) = (50, 8);
        let t: Vec<TokenId> = (0..64).map(|i| i % 7).collect();
        let c: Vec<TokenId> = (0..64).map(|i| 10 + i % 13).collect();
        let block = |seed| Block {
            centres: &t,
            contexts: &c,
            lr: 0.05,
            seed,
        };
        let (mut a, mut b) = (engine(v, d, 3), engine(v, d, 3));
        let mut each = LossSum::default();
        for s in 0..3 {
            a.block(block(s)).unwrap();
            each += a.drain_loss().unwrap();
            b.block(block(s)).unwrap();
        }
        let once = b.drain_loss().unwrap();
        assert!(once.count > 0 && once.sum > 0.0);
        assert_eq!(once, each);
        assert_eq!(b.drain_loss().unwrap(), LossSum::default());
    }

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
