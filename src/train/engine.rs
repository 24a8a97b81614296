//! The engine interface: what the training driver knows of a trainer.
//!
//! The driver ([`super::run`]) cuts the pair stream into [`Block`]s, sets
//! each block's learning rate and random stream, and hands it to an
//! [`Engine`]. Engines: the native CPU engine ([`super::native`]), and the
//! libtorch engine (ops step and fused CUDA kernel) in the `w2v-torch`
//! member crate, which implements this trait and an [`EngineBuilder`].
//!
//! # The update every engine applies
//! A pair is (centre, context) as `pairs` writes it. Every engine uses
//! word2vec.c's skip-gram roles: the **context's input row** is trained
//! against the **centre's output row** (label 1) and K negatives drawn from
//! `count^0.75` (label 0). **A negative equal to the centre is skipped**: it
//! gets no update and adds no loss ([`skips_negative`]), as word2vec.c's
//! `if (target == word) continue;` does. The rule is tested against each
//! engine through the f64 oracle in `oracle` (feature `test-support`).
//!
//! # Loss
//! [`Engine::block`] may run asynchronously (a GPU queues work and returns).
//! The loss is read back only by [`Engine::drain_loss`], an explicit step
//! that waits for every block handed in so far and returns the sum of their
//! sampled losses since the previous drain. The driver drains before each
//! epoch's figures, each checkpoint and the end, so nothing lags or drops.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::hogwild::table;
use crate::rng::{purpose, stream, unit_f32};
use crate::unigram::AliasTable;
use crate::TokenId;

use super::config::{EngineConfig, TrainConfig};

/// One block of pairs and how to train on it.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// The centre word of each pair.
    pub centres: &'a [TokenId],
    /// The context word of each pair.
    pub contexts: &'a [TokenId],
    /// Learning rate for the whole block.
    pub lr: f32,
    /// Seed of the block's random stream (negatives).
    pub seed: u64,
}

/// One chunk of the token stream, for an engine that draws its pairs
/// itself ([`Engine::draws_pairs`]; the CUDA stream kernel). The rules are
/// `w2v pairs`' ([`crate::pairs::Sampler`]): subsampling with `keep`,
/// windows of `1..=window` (or `window`), not crossing a line end.
#[derive(Clone, Copy, Debug)]
pub struct TokenBlock<'a> {
    /// Vocabulary ids, -1 at each line end; the chunk ends at a line end.
    /// Not checked: the engine checks every id before it indexes anything.
    pub ids: &'a [TokenId],
    /// The keep probability of each word (subsampling).
    pub keep: &'a [f32],
    /// Most words on each side of a centre.
    pub window: usize,
    /// Draw each centre's window from `1..=window`.
    pub dynamic_window: bool,
    /// The learning rate at the chunk's first and last token (linear between).
    pub lr_start: f32,
    pub lr_end: f32,
    /// Seed of the chunk's draws (subsampling, windows, negatives).
    pub seed: u64,
    /// Seed of the chunk's subsampling and windows by the host's rules
    /// ([`super::stream::windows`], which the native engine follows, so it
    /// trains exactly the pairs the plan counted).
    pub draw_seed: u64,
    /// The file the ids come from (for errors).
    pub source: &'a std::path::Path,
}

/// A sum of sampled per-pair losses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossSum {
    /// Sum of the sampled pairs' losses.
    pub sum: f64,
    /// Pairs sampled.
    pub count: u64,
}

impl LossSum {
    /// The mean, NaN when nothing was sampled.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

impl std::ops::AddAssign for LossSum {
    fn add_assign(&mut self, o: LossSum) {
        self.sum += o.sum;
        self.count += o.count;
    }
}

/// The two tables, `V × dim` row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    /// Input (word) vectors.
    pub input: Vec<f32>,
    /// Output (context) vectors.
    pub output: Vec<f32>,
}

impl Weights {
    /// word2vec.c initialisation: input uniform in ±0.5/dim, output zeros.
    pub fn init(vocab_size: usize, dim: usize, seed: u64) -> Weights {
        Weights::init_subword(vocab_size, 0, dim, seed)
    }

    /// A subword model's start: `V + buckets` input rows, all drawn as
    /// [`Weights::init`] draws word rows (the first `V` are the same), and
    /// `V` output rows of zeros.
    pub fn init_subword(vocab_size: usize, buckets: usize, dim: usize, seed: u64) -> Weights {
        let mut rng = stream(seed, &[purpose::INIT]);
        let mut input = table((vocab_size + buckets) * dim);
        input.extend(
            (0..(vocab_size + buckets) * dim).map(|_| (unit_f32(&mut rng) - 0.5) / dim as f32),
        );
        let mut output = table(vocab_size * dim);
        output.resize(vocab_size * dim, 0.0);
        Weights { input, output }
    }

    /// The first non-finite value, or one larger than `limit` in magnitude,
    /// as (table, index, value).
    pub fn first_bad(&self, limit: f32) -> Option<(&'static str, usize, f32)> {
        for (name, t) in [("input", &self.input), ("output", &self.output)] {
            if let Some(i) = first_bad_in(t, limit) {
                return Some((name, i, t[i]));
            }
        }
        None
    }
}

/// The index of the first value of `values` that is not finite or is
/// larger than `limit` in magnitude.
pub fn first_bad_in(values: &[f32], limit: f32) -> Option<usize> {
    values
        .iter()
        .position(|x| !x.is_finite() || x.abs() > limit)
}

/// Whether a negative drawn for a pair with this centre is skipped.
#[inline]
pub fn skips_negative(negative: usize, centre: usize) -> bool {
    negative == centre
}

/// Receives a table's values chunk by chunk: (`"input"` or `"output"`, values).
pub type TableSink<'a> = dyn FnMut(&'static str, &[f32]) -> Result<()> + 'a;

/// A trainer that applies SGNS updates block by block.
pub trait Engine {
    /// Short description ("native window avx2+fma ×2", "torch cuda:0 fused").
    fn describe(&self) -> String;
    /// Pairs per block the driver should hand in.
    fn block_size(&self) -> usize;
    /// Trains on one block. May return before the work is done.
    fn block(&mut self, block: Block<'_>) -> Result<()>;
    /// Waits for every block handed in so far and returns the sum of their
    /// sampled losses since the previous drain.
    fn drain_loss(&mut self) -> Result<LossSum>;
    /// Copies out both tables (after every block handed in so far).
    fn weights(&mut self) -> Result<Weights>;
    /// Calls `sink` with the input table's values, then the output
    /// table's, in order and in chunks (after every block handed in so
    /// far). An engine holding them in host memory hands out chunks through
    /// one small buffer, so a checkpoint never holds a second copy of the
    /// tables; the default copies through [`Engine::weights`].
    fn visit_weights(&mut self, sink: &mut TableSink<'_>) -> Result<()> {
        let w = self.weights()?;
        sink("input", &w.input)?;
        sink("output", &w.output)
    }
    /// Hands over both tables at the end of a run. An engine that holds
    /// them in host memory moves them out instead of copying them, so the
    /// final save does not hold every table twice; the default copies.
    fn into_weights(mut self: Box<Self>) -> Result<Weights> {
        self.weights()
    }
    /// Notes on settings known to cost quality, shown once at the start.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether this engine draws the pairs of a token stream itself
    /// ([`Engine::tokens`]); the stream path then hands it chunks of ids.
    fn draws_pairs(&self) -> bool {
        false
    }
    /// Draws and trains the pairs of one chunk of tokens. May return before
    /// the work is done; [`Engine::drain_loss`] then reports the pairs it
    /// trained (its `count`) and any id it found outside the vocabulary.
    fn tokens(&mut self, block: TokenBlock<'_>) -> Result<()> {
        let _ = block;
        Err(crate::Error::InvalidConfig(format!(
            "{} trains on pairs; it cannot draw them from tokens",
            self.describe()
        )))
    }
}

/// Builds the engine a config asks for.
pub trait EngineBuilder {
    /// An engine for `cfg.engine`, starting from `weights`, drawing
    /// negatives from `table`.
    fn build(
        &self,
        cfg: &TrainConfig,
        weights: Weights,
        table: &AliasTable,
    ) -> Result<Box<dyn Engine>>;
    /// The libtorch version this builder links, if any (for the manifest).
    fn libtorch(&self) -> Option<String> {
        None
    }
    /// An engine for a subword model (`cfg.subwords`): `weights.input` has
    /// `V + buckets` rows and `grams` lists each word's buckets. Only the
    /// native engine trains subwords.
    fn build_subword(
        &self,
        cfg: &TrainConfig,
        weights: Weights,
        table: &AliasTable,
        grams: crate::subword::NgramTable,
    ) -> Result<Box<dyn Engine>> {
        let _ = (cfg, weights, table, grams);
        Err(crate::Error::InvalidConfig(
            "--subwords runs on the native engine only (--engine native)".into(),
        ))
    }
}

/// Builds the native engine; refuses the torch engine (it lives in the
/// `w2v-torch` binary).
pub struct NativeBuilder;

impl EngineBuilder for NativeBuilder {
    fn build(
        &self,
        cfg: &TrainConfig,
        weights: Weights,
        table: &AliasTable,
    ) -> Result<Box<dyn Engine>> {
        match &cfg.engine {
            EngineConfig::Native(n) => Ok(Box::new(super::native::NativeEngine::new(
                n,
                cfg.dim,
                cfg.negative,
                weights,
                table,
            )?)),
            EngineConfig::Torch(_) => Err(crate::Error::InvalidConfig(
                "the torch engine runs in the w2v-torch binary (built by `make build`); use --engine native".into(),
            )),
        }
    }

    fn build_subword(
        &self,
        cfg: &TrainConfig,
        weights: Weights,
        table: &AliasTable,
        grams: crate::subword::NgramTable,
    ) -> Result<Box<dyn Engine>> {
        match &cfg.engine {
            EngineConfig::Native(n) => Ok(Box::new(
                super::native::NativeEngine::new(n, cfg.dim, cfg.negative, weights, table)?
                    .with_subwords(grams)?,
            )),
            EngineConfig::Torch(_) => Err(crate::Error::InvalidConfig(
                "--subwords runs on the native engine only (--engine native)".into(),
            )),
        }
    }
}
