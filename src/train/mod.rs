//! `w2v train`: skip-gram with negative sampling over the pair shards.
//!
//! In: `shards/` (manifest + parquet), `vocab/` (words, counts, unigram
//! table; its fingerprint must match the one the shards were built with).
//! Out, in `model/`: `input.npy` (the word vectors), `output.npy` (with
//! `--save-output`), `norms.npy`, `words.txt`, `model.manifest.json`,
//! `train.jsonl` (the training log, [`log`]), and `checkpoints/` while
//! running.
//!
//! The output directory is claimed (it must not hold another stage's
//! output) and locked for the whole run, so a second training into it is
//! refused. A run without `--resume` into a directory that holds a
//! checkpoint is refused unless `--force` (which discards the checkpoint).
//!
//! The model: input table `V × dim` initialised uniform in ±0.5/dim, output
//! table zeros (word2vec.c). For a pair (centre t, context c) and K
//! negatives n drawn from `count^0.75`, the loss is
//! `−log σ(u_t·v_c) − Σ log σ(−u_n·v_c)` ([`engine`] states the roles and the
//! one rule for a negative equal to the centre), minimised by plain SGD
//! whose rate decays linearly from `lr` to `lr·min_lr_frac` over all
//! planned pairs.
//!
//! Layout:
//! - [`config`]: the typed settings ([`TrainConfig`], [`EngineConfig`]);
//! - [`engine`]: the [`Engine`] trait every trainer implements;
//! - [`native`]: the CPU engine (the torch engine is the `w2v-torch` crate);
//! - [`readers`]: shard decoding ahead of training;
//! - [`checkpoint`]: saving, loading and refusing changed resumptions;
//! - [`log`]: the training log `train.jsonl` (loss, lr, pairs/s, evaluations);
//! - this module: the driver, a loop of small steps over the plan.
//!
//! Work is cut into *blocks* ([`EngineConfig::block_size`] pairs). A block
//! never spans two shards; its learning rate is set from the pairs done
//! before it, and its randomness comes from the stream `(seed, epoch, shard,
//! block)`. The cursor `(epoch, shard, block, pairs into the shard)`, the
//! pair count and the weights are all a checkpoint needs, so a resumed run
//! repeats exactly what the uninterrupted run would have done.

pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod log;
pub mod native;
#[cfg(any(test, feature = "test-support"))]
pub mod oracle;
pub mod readers;
pub mod stream;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};
use crate::pairs::PairsSummary;
use crate::progress::{Progress, Stage};
use crate::rng::{mix64, purpose};
use crate::shards::{shard_path, ShardInfo};
use crate::unigram::AliasTable;
use crate::vocab::Vocab;
use crate::TokenId;

pub use config::{
    CudaStep, Device, EngineConfig, NativeConfig, NativeUpdate, StreamConfig, TorchConfig,
    TrainConfig, OPS_BATCH_TESTED, ROW_CAP,
};
pub use engine::{Block, Engine, EngineBuilder, LossSum, NativeBuilder, TokenBlock, Weights};

use checkpoint::{CheckpointState, Schedule};
use readers::{Chunk, Readers, Source};

/// Where training stands; saved in each checkpoint. It always points at the
/// next block to run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    /// Epoch.
    pub epoch: u32,
    /// Shard index within the epoch's draw.
    pub shard: usize,
    /// Block index within the shard (its random stream).
    pub block: u64,
    /// Pairs done within the shard (where a resumed reader starts).
    pub shard_pairs: u64,
    /// Pairs done in the whole run.
    pub pairs_done: u64,
}

/// Per-epoch figures in the model manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: u32,
    pub pairs: u64,
    /// Mean sampled loss over the epoch.
    pub loss: f64,
    /// Sampled pairs behind `loss`.
    pub loss_pairs: u64,
    pub seconds: f64,
    pub pairs_per_s: f64,
}

/// What training did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainSummary {
    pub engine: String,
    pub vocab_size: usize,
    pub total_pairs: u64,
    pub epochs: Vec<EpochStats>,
    pub seconds: f64,
    pub pairs_per_s: f64,
    pub input_wait_s: f64,
    pub final_loss: f64,
    pub corpus_tokens: u64,
    pub resumed_from: Option<Cursor>,
    /// libtorch version, when this run's binary links it.
    pub libtorch: Option<String>,
    /// Checkpoints written in this run and the seconds training waited
    /// for them (copying the tables out and writing them).
    #[serde(default)]
    pub checkpoints: u32,
    #[serde(default)]
    pub checkpoint_s: f64,
}

impl TrainSummary {
    /// The one-line report the binaries print when a run written to `output` ends.
    pub fn line(&self, output: &Path) -> String {
        // A resumed run's time and rate are this process's: say how many
        // pairs that was.
        let resumed = match &self.resumed_from {
            Some(c) => format!(
                " (resumed at pair {}: {} in this run)",
                c.pairs_done,
                self.total_pairs.saturating_sub(c.pairs_done)
            ),
            None => String::new(),
        };
        format!(
            "train: {} on {} pairs{resumed} in {:.1}s ({:.2}M pairs/s), final loss {:.4}, {} checkpoints ({:.1}s); wrote {}",
            self.engine,
            self.total_pairs,
            self.seconds,
            self.pairs_per_s / 1e6,
            self.final_loss,
            self.checkpoints,
            self.checkpoint_s,
            output.display()
        )
    }
}

/// The learning rate after `done` of `total` pairs.
pub fn lr_at(cfg: &TrainConfig, done: u64, total: u64) -> f32 {
    let frac = 1.0 - done as f64 / total.max(1) as f64;
    cfg.lr * (frac as f32).max(cfg.min_lr_frac)
}

/// The random stream seed of one block.
pub fn block_seed(seed: u64, c: &Cursor) -> u64 {
    mix64(
        mix64(mix64(mix64(seed ^ purpose::NEGATIVES) ^ c.epoch as u64) ^ c.shard as u64) ^ c.block,
    )
}

/// Estimated peak bytes of host memory for training `vocab` words.
///
/// Native runs count only what the native engine holds: its two tables
/// (taken over from the initial weights without a copy), a copy of both
/// while a checkpoint or the model is written, the readers' row groups, the
/// vocabulary and per-thread scratch. Torch runs add libtorch's own copy of
/// the tables on the CPU and the ops step's gathered batch rows.
pub fn memory_estimate(cfg: &TrainConfig, vocab: usize) -> u64 {
    let table = vocab as u64 * cfg.dim as u64 * 4;
    // Both tables. The torch engine copies both out to save them (a
    // checkpoint, the model); the native engine streams its checkpoints
    // through a small buffer and hands its tables over to the model.
    let copies: u64 = match &cfg.engine {
        EngineConfig::Native(_) => 1,
        EngineConfig::Torch(_) => 2,
    };
    let mut tables = 2 * copies * table;
    if let Some(sw) = &cfg.subwords {
        // The n-gram rows (and the torch engine's copy), the CSR table
        // (about 20 n-grams of 4 bytes a word, and an 8-byte offset), and
        // the words composed from them as the model is written.
        tables += copies * sw.buckets as u64 * cfg.dim as u64 * 4 + vocab as u64 * 88 + table;
    }
    // Readers: per decoder thread, two row groups in its channel and one
    // being decoded, 8 bytes a pair; the driver holds one more.
    let readers = (readers::reader_threads() as u64 * 3 + 1) * crate::shards::ROW_GROUP as u64 * 8;
    // Words (String + about 16 bytes of text), counts, and the alias table
    // (loaded, then copied into the engine).
    let vocab_bytes = vocab as u64 * (24 + 16 + 8 + 8 + 8);
    let engine = match &cfg.engine {
        EngineConfig::Native(n) => {
            n.threads as u64 * (cfg.negative as u64 + 2) * cfg.dim as u64 * 8
        }
        EngineConfig::Torch(t) => {
            // The tables live once more inside libtorch on the CPU, and the
            // ops step materialises about four copies of a batch's rows.
            let host_tables = if t.device == Device::Cpu {
                2 * table
            } else {
                0
            };
            host_tables + t.batch as u64 * (cfg.negative as u64 + 2) * cfg.dim as u64 * 4 * 4
        }
    };
    tables + readers + vocab_bytes + engine
}

/// One shard of the plan.
#[derive(Clone, Debug)]
pub struct PlannedShard {
    /// Epoch it is trained in.
    pub epoch: u32,
    /// Index within the epoch's draw.
    pub shard: usize,
    /// The shard.
    pub info: ShardInfo,
}

/// Every shard of every epoch, in training order.
struct Plan {
    shards: Vec<PlannedShard>,
    total_pairs: u64,
}

impl Plan {
    fn new(summary: &PairsSummary, epochs: u32) -> Plan {
        let mut shards = Vec::new();
        for e in 0..epochs {
            let draw = e % summary.n_draws.max(1);
            for (i, s) in summary.shards.iter().filter(|s| s.draw == draw).enumerate() {
                shards.push(PlannedShard {
                    epoch: e,
                    shard: i,
                    info: s.clone(),
                });
            }
        }
        let total_pairs = shards.iter().map(|s| s.info.pairs).sum();
        Plan {
            shards,
            total_pairs,
        }
    }

    /// Index of the cursor's shard (the plan's length once done).
    fn index(&self, c: &Cursor) -> usize {
        self.shards
            .iter()
            .position(|p| (p.epoch, p.shard) == (c.epoch, c.shard))
            .unwrap_or(self.shards.len())
    }

    /// The cursor at the start of the shard after `c`'s.
    fn next_shard(&self, c: &Cursor) -> Cursor {
        let (epoch, shard) = match self.shards.get(self.index(c) + 1) {
            Some(p) => (p.epoch, p.shard),
            None => (c.epoch + 1, 0),
        };
        Cursor {
            epoch,
            shard,
            block: 0,
            shard_pairs: 0,
            pairs_done: c.pairs_done,
        }
    }
}

/// What training reads: the shards' summary and the vocabulary.
pub struct TrainInputs {
    /// The shards manifest's summary (on the stream path, the plan
    /// [`stream::Stream::plan`] counted).
    pub pairs: PairsSummary,
    /// Fingerprint of the shards manifest file.
    pub shards_fingerprint: String,
    /// The shards manifest file (on the stream path, the vocab manifest,
    /// which fingerprints `corpus.ids`).
    pub shards_manifest: PathBuf,
    /// Where the vocabulary was read from.
    pub vocab_dir: PathBuf,
    /// The vocabulary.
    pub vocab: Vocab,
    /// Its unigram table.
    pub table: AliasTable,
}

/// Loads the shards manifest and the vocabulary, and refuses a mismatch.
pub fn load_inputs(cfg: &TrainConfig) -> Result<TrainInputs> {
    let (pm, summary) = PairsSummary::read(&cfg.shards_dir)?;
    let vocab_dir = match &cfg.vocab_dir {
        Some(d) => d.clone(),
        None => pm
            .config
            .pointer("/vocab/vocab_dir")
            .and_then(|v| v.as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("vocab")),
    };
    let fp = Vocab::fingerprint_of(&vocab_dir)?;
    if fp != summary.vocab_fingerprint {
        return Err(Error::Mismatch {
            path: pm.source.clone(),
            message: format!(
                "shards were built against vocabulary {} but {} holds {fp}; re-run `w2v pairs` or pass the matching --vocab",
                summary.vocab_fingerprint,
                vocab_dir.display()
            ),
        });
    }
    let (vocab, table) = load_vocab(&vocab_dir)?;
    let shards_fingerprint = crate::manifest::fingerprint(&pm.source)?.xxh3;
    Ok(TrainInputs {
        pairs: summary,
        shards_fingerprint,
        shards_manifest: pm.source.clone(),
        vocab_dir,
        vocab,
        table,
    })
}

/// Loads the vocabulary in `dir` and its unigram table, refusing a table
/// of another size.
pub fn load_vocab(dir: &Path) -> Result<(Vocab, AliasTable)> {
    let vocab = Vocab::load(dir)?;
    let table = AliasTable::read(&dir.join(crate::unigram::FILE_NAME))?;
    if table.len() != vocab.len() {
        return Err(Error::Mismatch {
            path: dir.join(crate::unigram::FILE_NAME),
            message: format!("has {} entries for {} words", table.len(), vocab.len()),
        });
    }
    Ok((vocab, table))
}

/// Refuses a run whose estimated memory exceeds what is available.
fn check_memory(cfg: &TrainConfig, vocab: usize) -> Result<()> {
    let advice = match (cfg.engine.name() == "torch", cfg.subwords.is_some()) {
        (true, _) => "lower --dim, the vocabulary (--max-vocab) or --batch-size",
        (false, true) => "lower --buckets, --dim or the vocabulary (--max-vocab)",
        (false, false) => "lower --dim or the vocabulary (--max-vocab)",
    };
    crate::preflight::check_memory("training", memory_estimate(cfg, vocab), advice)
}

/// The running loss for the progress line: `-` until the first is known
/// (a fresh run's first second), not `NaN`.
fn loss_text(ema: f64) -> String {
    if ema.is_finite() {
        format!("{ema:.4}")
    } else {
        "-".into()
    }
}

/// The divergence guard: a non-finite loss stops the run. The error says
/// whether a checkpoint of the run writing to `output` is kept (looked up
/// only when the loss is bad).
pub fn check_loss(mean: f64, cursor: &Cursor, output: &Path) -> Result<()> {
    if mean.is_finite() {
        return Ok(());
    }
    Err(Error::Diverged {
        step: cursor.pairs_done,
        what: format!(
            "loss is {mean} at epoch {} shard {} block {}",
            cursor.epoch, cursor.shard, cursor.block
        ),
        checkpoint: checkpoint::existing(output),
    })
}

/// Refuses a checkpoint cursor that does not point into this run's plan.
fn check_cursor(plan: &Plan, c: &Cursor, output: &Path) -> Result<()> {
    let i = plan.index(c);
    let done_before: u64 = plan.shards[..i.min(plan.shards.len())]
        .iter()
        .map(|p| p.info.pairs)
        .sum();
    // Inside a shard, or just past the last one (a stop after the final block).
    let inside = match plan.shards.get(i) {
        Some(p) => c.shard_pairs < p.info.pairs.max(1),
        None => c.shard_pairs == 0 && c.epoch == plan.shards.last().map_or(0, |p| p.epoch + 1),
    };
    let fits = inside && c.pairs_done == done_before + c.shard_pairs;
    if fits {
        return Ok(());
    }
    Err(Error::Mismatch {
        path: checkpoint::checkpoint_dir(output).join("checkpoint.json"),
        message: format!(
            "its cursor (epoch {}, shard {}, {} pairs into the shard, {} in all) is not a point of this run's {} shards; start afresh with --force instead of --resume",
            c.epoch,
            c.shard,
            c.shard_pairs,
            c.pairs_done,
            plan.shards.len()
        ),
    })
}

/// The largest id as u32 (a negative id maps above any vocabulary size).
fn max_id(ids: &[TokenId]) -> u32 {
    ids.iter().fold(0u32, |m, &x| m.max(x as u32))
}

/// The loss is read back from the engine at least this often.
const DRAIN_EVERY: Duration = Duration::from_millis(500);

/// The running epoch's figures.
struct EpochAcc {
    loss: LossSum,
    pairs: u64,
    start: Instant,
}

/// The training loop's state: one run over the plan.
struct Driver<'a> {
    cfg: &'a TrainConfig,
    inputs: &'a TrainInputs,
    plan: Plan,
    engine: Box<dyn Engine>,
    stage: Stage,
    cursor: Cursor,
    epochs: Vec<EpochStats>,
    epoch: EpochAcc,
    ema: f64,
    last_drain: Instant,
    schedule: Schedule,
    stop: Arc<AtomicBool>,
    /// Checkpoints written, and the seconds spent writing them.
    checkpoints: (u32, f64),
    /// Pairs carried over from the last chunk, short of a block.
    buf: (Vec<TokenId>, Vec<TokenId>),
    /// `train.jsonl`.
    log: log::RunLog,
    /// The token stream, when the engine draws its own pairs from it.
    stream: Option<Arc<stream::Stream>>,
}

impl Driver<'_> {
    /// Trains on every chunk the readers deliver, then flushes the loss.
    fn run(&mut self, readers: &mut dyn Source) -> Result<f64> {
        let mut wait = 0.0;
        loop {
            let w0 = Instant::now();
            let Some(chunk) = readers.recv() else { break };
            wait += w0.elapsed().as_secs_f64();
            self.feed(chunk?)?;
        }
        self.drain()?;
        Ok(wait)
    }

    /// Trains on the whole blocks of a chunk (the rest waits for the next
    /// chunk, unless the shard ends here).
    fn feed(&mut self, chunk: Chunk) -> Result<()> {
        if (chunk.epoch, chunk.shard) != (self.cursor.epoch, self.cursor.shard) {
            return Err(Error::Mismatch {
                path: self.cfg.shards_dir.clone(),
                message: format!(
                    "readers delivered epoch {} shard {} where epoch {} shard {} was due (a bug)",
                    chunk.epoch, chunk.shard, self.cursor.epoch, self.cursor.shard
                ),
            });
        }
        if let Some(r) = chunk.tokens {
            self.token_block(r)?;
            self.end_shard()?;
            return self.stop_or_checkpoint();
        }
        let (mut t, mut c) = std::mem::take(&mut self.buf);
        if t.is_empty() {
            // The common case (row groups of whole blocks): no copy.
            (t, c) = (chunk.centres, chunk.contexts);
        } else {
            t.extend_from_slice(&chunk.centres);
            c.extend_from_slice(&chunk.contexts);
        }
        let bs = self.engine.block_size();
        let mut off = 0;
        while t.len() - off >= bs || (chunk.end_of_shard && off < t.len()) {
            let end = (off + bs).min(t.len());
            self.block(&t[off..end], &c[off..end])?;
            off = end;
            if !(chunk.end_of_shard && off == t.len()) {
                self.stop_or_checkpoint()?;
            }
        }
        if chunk.end_of_shard {
            self.end_shard()?;
            self.stop_or_checkpoint()?;
        } else {
            t.drain(..off);
            c.drain(..off);
            self.buf = (t, c);
        }
        Ok(())
    }

    /// One block: ids checked, learning rate set, handed to the engine.
    fn block(&mut self, t: &[TokenId], c: &[TokenId]) -> Result<()> {
        let v = self.inputs.vocab.len() as u32;
        let top = max_id(t).max(max_id(c));
        if top >= v {
            let p = &self.plan.shards[self.plan.index(&self.cursor)];
            return Err(Error::Mismatch {
                path: shard_path(&self.cfg.shards_dir, &p.info),
                message: format!(
                    "holds pair id {} near pair {} of the shard, outside the vocabulary of {v} words; the shard is corrupt, re-run `w2v pairs`",
                    top as i32, self.cursor.shard_pairs
                ),
            });
        }
        let lr = lr_at(self.cfg, self.cursor.pairs_done, self.plan.total_pairs);
        self.engine.block(Block {
            centres: t,
            contexts: c,
            lr,
            seed: block_seed(self.cfg.seed, &self.cursor),
        })?;
        self.advance(t.len() as u64, "shard", lr)
    }

    /// Moves the cursor past a block of `n` pairs handed to the engine,
    /// drains the loss when due, and updates the progress line.
    fn advance(&mut self, n: u64, unit: &str, lr: f32) -> Result<()> {
        self.cursor.block += 1;
        self.cursor.shard_pairs += n;
        self.cursor.pairs_done += n;
        self.epoch.pairs += n;
        self.stage.inc(n);
        if self.last_drain.elapsed() >= DRAIN_EVERY {
            self.drain()?;
        }
        self.stage.message(format!(
            "epoch {}/{} {unit} {} loss {} lr {:.5}",
            self.cursor.epoch + 1,
            self.cfg.epochs,
            self.cursor.shard,
            loss_text(self.ema),
            lr
        ));
        Ok(())
    }

    /// One chunk of tokens for an engine that draws its own pairs: the
    /// learning rate falls over the chunk's planned pairs, and the cursor
    /// moves by them (the pairs trained come back with the loss).
    fn token_block(&mut self, r: std::ops::Range<usize>) -> Result<()> {
        let st = self.stream.clone().ok_or_else(|| Error::Mismatch {
            path: self.cfg.shards_dir.clone(),
            message: "a token chunk came without a stream (a bug)".into(),
        })?;
        let planned = self.plan.shards[self.plan.index(&self.cursor)].info.pairs;
        // A checkpoint of the host-drawn path may stop inside a chunk: the
        // whole chunk is drawn again, and the cursor moves by what is left.
        let n = planned.saturating_sub(self.cursor.shard_pairs);
        let total = self.plan.total_pairs;
        let lr_start = lr_at(self.cfg, self.cursor.pairs_done, total);
        let lr_end = lr_at(self.cfg, self.cursor.pairs_done + n, total);
        let (window, dynamic_window) = st.window();
        self.engine.tokens(TokenBlock {
            ids: st.chunk_ids(self.cursor.shard),
            keep: st.keep(),
            window,
            dynamic_window,
            lr_start,
            lr_end,
            seed: block_seed(self.cfg.seed, &self.cursor),
            draw_seed: st.chunk_seed(self.cursor.epoch, self.cursor.shard),
            source: st.path(),
        })?;
        debug_assert_eq!(r, st.chunks()[self.cursor.shard]);
        self.advance(n, "chunk", lr_start)
    }

    /// Reads the engine's loss back into the epoch's figures; a non-finite
    /// loss stops the run.
    fn drain(&mut self) -> Result<()> {
        let l = self.engine.drain_loss()?;
        self.last_drain = Instant::now();
        if l.count == 0 {
            return Ok(());
        }
        check_loss(l.mean(), &self.cursor, &self.cfg.output)?;
        self.ema = if self.ema.is_nan() {
            l.mean()
        } else {
            0.9 * self.ema + 0.1 * l.mean()
        };
        self.epoch.loss += l;
        self.log
            .drained(self.cursor.epoch, self.cursor.pairs_done, l)
    }

    /// Moves the cursor past a finished shard, closing the epoch if it ends.
    fn end_shard(&mut self) -> Result<()> {
        let next = self.plan.next_shard(&self.cursor);
        let epoch_ends = next.epoch != self.cursor.epoch;
        if epoch_ends {
            self.drain()?;
            self.log.epoch_end(
                self.cursor.epoch,
                self.cursor.pairs_done,
                self.engine.as_mut(),
            )?;
            self.close_epoch();
        }
        self.cursor = next;
        if epoch_ends && self.cursor.epoch < self.cfg.epochs && self.schedule.due_at_epoch_end() {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Records the finished epoch's figures and starts the next epoch's.
    fn close_epoch(&mut self) {
        let secs = self.epoch.start.elapsed().as_secs_f64();
        let e = EpochStats {
            epoch: self.cursor.epoch,
            pairs: self.epoch.pairs,
            loss: self.epoch.loss.mean(),
            loss_pairs: self.epoch.loss.count,
            seconds: secs,
            pairs_per_s: self.epoch.pairs as f64 / secs.max(1e-9),
        };
        self.stage.message(format!(
            "epoch {}/{}: loss {:.4}, {:.2}M pairs/s",
            e.epoch + 1,
            self.cfg.epochs,
            e.loss,
            e.pairs_per_s / 1e6
        ));
        self.epochs.push(e);
        self.epoch = EpochAcc {
            loss: LossSum::default(),
            pairs: 0,
            start: Instant::now(),
        };
    }

    /// Stops with a checkpoint when asked (Ctrl-C, SIGTERM, `--stop-after-pairs`),
    /// or writes one when due.
    fn stop_or_checkpoint(&mut self) -> Result<()> {
        let stop_now = self.stop.load(Ordering::Relaxed)
            || self
                .cfg
                .stop_after_pairs
                .is_some_and(|p| self.cursor.pairs_done >= p);
        if stop_now {
            let path = self
                .checkpoint()
                .map_err(|e| Error::InterruptedUnsaved(Box::new(e)))?;
            return Err(Error::Interrupted { path });
        }
        if self.schedule.due(self.cursor.pairs_done) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Saves the weights and the cursor (the next block to run).
    fn checkpoint(&mut self) -> Result<PathBuf> {
        let t0 = Instant::now();
        self.drain()?;
        let state = CheckpointState {
            cursor: self.cursor.clone(),
            vocab_fingerprint: self.inputs.pairs.vocab_fingerprint.clone(),
            shards_fingerprint: self.inputs.shards_fingerprint.clone(),
            config: self.cfg.clone(),
            epochs: self.epochs.clone(),
            epoch_loss: self.epoch.loss,
            epoch_pairs: self.epoch.pairs,
            epoch_seconds: self.epoch.start.elapsed().as_secs_f64(),
            dir: String::new(),
            weights_xxh3: None,
        };
        let engine = &mut self.engine;
        let path = checkpoint::save(&self.cfg.output, state, |sink| engine.visit_weights(sink))?;
        self.schedule.saved(self.cursor.pairs_done);
        let secs = t0.elapsed().as_secs_f64();
        self.checkpoints = (self.checkpoints.0 + 1, self.checkpoints.1 + secs);
        self.stage.message(format!(
            "checkpoint {} written in {secs:.1}s",
            self.checkpoints.0
        ));
        Ok(path)
    }
}

/// Runs the training stage with engines from `builder`. `stop` is polled
/// between blocks (Ctrl-C, SIGTERM).
pub fn run(
    cfg: &TrainConfig,
    progress: &Progress,
    stop: Option<Arc<AtomicBool>>,
    builder: &dyn EngineBuilder,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let start = Instant::now();
    crate::manifest::claim_model_dir(&cfg.output)?;
    // A refusal before training starts leaves no new directory behind:
    // the lock removes what it created while it stays empty.
    let _lock = crate::manifest::lock_dir(&cfg.output)?;
    if !cfg.resume {
        if let Some(ckpt) = checkpoint::existing(&cfg.output) {
            if !cfg.force {
                return Err(Error::InvalidInput {
                    path: ckpt,
                    message: "holds a checkpoint of an unfinished run; continue it with --resume, or pass --force to discard it and start afresh".into(),
                });
            }
        }
    }
    let (inputs, stream) = match &cfg.stream {
        Some(s) => {
            let (i, st) = stream::load_inputs(cfg, s, progress, stop.as_deref())?;
            (i, Some(st))
        }
        None => (load_inputs(cfg)?, None),
    };
    let mut inputs = inputs;
    if let Some(x) = cfg.ns_exponent {
        // The negatives' distribution, rebuilt from the counts.
        inputs.table = AliasTable::new(&inputs.vocab.counts, x);
    }
    let v = inputs.vocab.len();
    check_memory(cfg, v)?;
    let evals = log::Evals::load(cfg, &inputs.vocab)?;
    if !cfg.resume && cfg.force {
        let ckpt = checkpoint::checkpoint_dir(&cfg.output);
        if ckpt.exists() {
            std::fs::remove_dir_all(&ckpt)
                .map_err(io_err(&ckpt, "remove the old checkpoints in"))?;
        }
    }
    checkpoint::clean_stale(&cfg.output);

    let (state, weights) = if cfg.resume {
        let (s, w) = checkpoint::load(
            &cfg.output,
            cfg,
            &inputs.pairs.vocab_fingerprint,
            &inputs.shards_fingerprint,
            v * cfg.dim,
        )?;
        progress.info(&format!(
            "resuming at epoch {} shard {} block {}",
            s.cursor.epoch, s.cursor.shard, s.cursor.block
        ));
        (Some(s), w)
    } else if let Some(sw) = &cfg.subwords {
        (
            None,
            Weights::init_subword(v, sw.buckets as usize, cfg.dim, cfg.seed),
        )
    } else {
        (None, Weights::init(v, cfg.dim, cfg.seed))
    };
    let engine = match &cfg.subwords {
        None => builder.build(cfg, weights, &inputs.table)?,
        Some(sw) => {
            let t0 = Instant::now();
            let grams = crate::subword::NgramTable::build(sw, &inputs.vocab.words);
            progress.info(&format!(
                "subwords {}-{}: {} n-grams of {v} words in {} buckets ({:.0} MB, {:.2}s)",
                sw.minn,
                sw.maxn,
                grams.ids.len(),
                sw.buckets,
                grams.bytes() as f64 / 1e6,
                t0.elapsed().as_secs_f64()
            ));
            builder.build_subword(cfg, weights, &inputs.table, grams)?
        }
    };
    for w in engine.warnings() {
        progress.warn(&w);
    }
    let plan = Plan::new(&inputs.pairs, cfg.epochs);
    let cursor = state.as_ref().map(|s| s.cursor.clone()).unwrap_or_default();
    if state.is_some() {
        check_cursor(&plan, &cursor, &cfg.output)?;
    }
    let run_log = log::RunLog::open(
        cfg,
        cursor.pairs_done,
        plan.total_pairs,
        &engine.describe(),
        evals,
    )?;
    let stage = progress.stage_from("train", plan.total_pairs, "pairs", cursor.pairs_done);
    let todo = &plan.shards[plan.index(&cursor)..];
    let draws = engine.draws_pairs();
    let mut readers: Box<dyn Source> = match &stream {
        Some(st) if draws => Box::new(stream::TokenChunks::new(st.clone(), todo)),
        Some(st) => Box::new(stream::Producer::spawn(
            st.clone(),
            todo,
            cursor.shard_pairs,
        )),
        None => Box::new(Readers::spawn(&cfg.shards_dir, todo, cursor.shard_pairs)?),
    };
    let mut d = Driver {
        cfg,
        inputs: &inputs,
        schedule: Schedule::new(cfg, cursor.pairs_done),
        epochs: state.as_ref().map(|s| s.epochs.clone()).unwrap_or_default(),
        epoch: EpochAcc {
            loss: state.as_ref().map(|s| s.epoch_loss).unwrap_or_default(),
            pairs: state.as_ref().map(|s| s.epoch_pairs).unwrap_or_default(),
            // A resumed epoch's clock includes its time before the checkpoint.
            start: state
                .as_ref()
                .and_then(|s| Duration::try_from_secs_f64(s.epoch_seconds).ok())
                .and_then(|d| Instant::now().checked_sub(d))
                .unwrap_or_else(Instant::now),
        },
        plan,
        engine,
        stage,
        cursor,
        // A resumed epoch shows its loss so far until the first drain.
        ema: state.as_ref().map_or(f64::NAN, |s| s.epoch_loss.mean()),
        last_drain: Instant::now(),
        stop: stop.unwrap_or_else(|| Arc::new(AtomicBool::new(false))),
        checkpoints: (0, 0.0),
        buf: (Vec::new(), Vec::new()),
        log: run_log,
        stream: stream.filter(|_| draws),
    };
    let result = d.run(&mut *readers);
    if result.is_err() {
        // The run's own error is the one to report.
        let _ = d.log.end(d.cursor.pairs_done, &result);
    }
    readers.stop();
    d.stage.finish();
    let wait = result?;

    let Driver {
        engine,
        plan,
        cursor,
        epochs,
        checkpoints,
        mut log,
        ..
    } = d;
    let engine_name = engine.describe();
    // Moved out, not copied: the save holds each table once.
    let weights = engine.into_weights()?;
    if let Some((table, i, x)) = weights.first_bad(checkpoint::WEIGHT_LIMIT) {
        return Err(Error::Diverged {
            step: cursor.pairs_done,
            what: format!("final {table} weight {i} is {x}"),
            checkpoint: checkpoint::existing(&cfg.output),
        });
    }
    let resumed_from = state.map(|s| s.cursor);
    let secs = start.elapsed().as_secs_f64();
    let done_here = plan.total_pairs - resumed_from.as_ref().map_or(0, |c| c.pairs_done);
    let summary = TrainSummary {
        engine: engine_name,
        vocab_size: v,
        total_pairs: plan.total_pairs,
        final_loss: epochs.last().map_or(f64::NAN, |e| e.loss),
        epochs,
        seconds: secs,
        pairs_per_s: done_here as f64 / secs.max(1e-9),
        input_wait_s: wait,
        corpus_tokens: inputs.pairs.corpus_tokens,
        resumed_from,
        libtorch: builder.libtorch(),
        checkpoints: checkpoints.0,
        checkpoint_s: checkpoints.1,
    };
    fault_delay("W2V_FAULT_SAVE_DELAY_MS");
    write_model(cfg, &inputs, &weights, &summary)?;
    log.end(cursor.pairs_done, &Ok(()))?;
    log.commit(&cfg.output)?;
    let _ = std::fs::remove_dir_all(checkpoint::checkpoint_dir(&cfg.output));
    Ok(summary)
}

/// Test hooks: `W2V_FAULT_SAVE_DELAY_MS` holds the final save back that
/// long, and `W2V_FAULT_CHECKPOINT_DELAY_MS` each checkpoint's write once
/// its files are open, so that a test can send a signal while they run.
fn fault_delay(var: &str) {
    let ms = std::env::var(var).ok();
    if let Some(ms) = ms.and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Adds `weight` times each word's output row, scaled to the length of its
/// input row, to the input row: `|w| (w/|w| + weight · c/|c|)` (rows of zero
/// length are left as they are). The word keeps its length, so vectors of
/// out-of-vocabulary words composed from n-grams stay on the same scale.
fn add_output_vectors(input: &mut [f32], output: &[f32], dim: usize, weight: f32) {
    use rayon::prelude::*;
    let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt();
    input
        .par_chunks_mut(dim)
        .zip(output.par_chunks(dim))
        .for_each(|(w, c)| {
            let (nw, nc) = (norm(w), norm(c));
            if nw > 0.0 && nc > 0.0 {
                let k = weight * nw / nc;
                for (x, y) in w.iter_mut().zip(c) {
                    *x += k * y;
                }
            }
        });
}

fn write_model(
    cfg: &TrainConfig,
    inputs: &TrainInputs,
    weights: &Weights,
    summary: &TrainSummary,
) -> Result<()> {
    let (input, output) = (&weights.input[..], &weights.output[..]);
    // A subword model's words are written composed (mean of own and n-gram
    // rows, what queries and word2vec exports use), its n-gram rows apart.
    let words_len = inputs.vocab.len() * cfg.dim;
    let mut words: std::borrow::Cow<[f32]> = match &cfg.subwords {
        Some(sw) => {
            let w = &inputs.vocab.words;
            crate::subword::compose_vocab(sw, w, input, cfg.dim, cfg.own_weight).into()
        }
        None => input[..words_len].into(),
    };
    if cfg.output_weight > 0.0 {
        let weight = cfg.output_weight;
        add_output_vectors(words.to_mut(), &output[..words_len], cfg.dim, weight);
    }
    let subwords = cfg.subwords.map(|config| crate::model::Subwords {
        config,
        ngrams: &input[words_len..],
    });
    let (vocab, vocab_dir, psum) = (&inputs.vocab, &inputs.vocab_dir, &inputs.pairs);
    let mut s = serde_json::to_value(summary).unwrap_or_default();
    s["vocab_fingerprint"] = serde_json::Value::String(psum.vocab_fingerprint.clone());
    s["dim"] = serde_json::json!(cfg.dim);
    let parts = crate::model::ModelParts {
        producer: crate::model::Producer::Train,
        words: &vocab.words,
        input: &words,
        output: cfg.save_output.then_some(output),
        dim: cfg.dim,
        normalize: vocab.normalize.clone(),
        normalize_source: vocab.normalize_source,
        seed: cfg.seed,
        config: serde_json::to_value(cfg).unwrap_or_default(),
        inputs: vec![
            crate::manifest::fingerprint(&inputs.shards_manifest)?,
            crate::manifest::fingerprint(&vocab_dir.join("words.txt"))?,
        ],
        summary: s,
    };
    crate::model::ModelDir::write_locked_subwords(&cfg.output, &parts, subwords.as_ref())
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_no_nan_loss() {
        assert_eq!(loss_text(f64::NAN), "-");
        assert_eq!(loss_text(2.34567), "2.3457");
    }

    #[test]
    fn nan_guard_names_the_step_and_whether_a_checkpoint_exists() {
        let c = Cursor {
            epoch: 1,
            shard: 2,
            block: 3,
            pairs_done: 77,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m");
        assert!(check_loss(1.5, &c, &out).is_ok());
        let e = check_loss(f64::NAN, &c, &out).unwrap_err().to_string();
        assert!(e.contains("step 77") && e.contains("block 3"), "{e}");
        assert!(e.contains("no checkpoint"), "{e}");
        std::fs::create_dir_all(out.join("checkpoints")).unwrap();
        std::fs::write(out.join("checkpoints/checkpoint.json"), "{}").unwrap();
        let e = check_loss(f64::INFINITY, &c, &out).unwrap_err().to_string();
        assert!(e.contains("kept in") && e.contains("m/checkpoints"), "{e}");
    }

    #[test]
    fn lr_decays_linearly_to_the_floor() {
        let cfg = TrainConfig::default();
        assert_eq!(lr_at(&cfg, 0, 100), 0.025);
        assert!((lr_at(&cfg, 50, 100) - 0.0125).abs() < 1e-7);
        assert!((lr_at(&cfg, 100, 100) - 0.025 * 1e-4).abs() < 1e-9);
    }

    /// Five Taiga epochs' worth of pairs: past u32 (4.29B) and past f32's
    /// exact integers (16.7M).
    const TAIGA_PAIRS: u64 = 20_000_000_000;

    #[test]
    fn the_lr_schedule_holds_at_20_billion_pairs() {
        let cfg = TrainConfig::default();
        assert_eq!(lr_at(&cfg, 0, TAIGA_PAIRS), 0.025);
        assert!((lr_at(&cfg, TAIGA_PAIRS / 2, TAIGA_PAIRS) - 0.0125).abs() < 1e-7);
        // Past 2^32 pairs the rate keeps falling; a count that wrapped
        // would start again near the top.
        let past = (1u64 << 32) + 1000;
        let want = 0.025 * (1.0 - past as f64 / TAIGA_PAIRS as f64);
        assert!((lr_at(&cfg, past, TAIGA_PAIRS) as f64 - want).abs() < 1e-7);
        assert!(lr_at(&cfg, past, TAIGA_PAIRS) < lr_at(&cfg, past - 2000, TAIGA_PAIRS));
        // 10M pairs before the end, 5e-4 of the run is left: above the
        // floor (1e-4), exactly.
        let near = lr_at(&cfg, TAIGA_PAIRS - 10_000_000, TAIGA_PAIRS);
        assert!((near - 0.025 * 5e-4).abs() < 1e-10, "{near}");
        assert!((lr_at(&cfg, TAIGA_PAIRS, TAIGA_PAIRS) - 0.025 * 1e-4).abs() < 1e-9);
    }

    #[test]
    fn the_plan_the_cursor_check_and_checkpoint_cadence_count_20_billion_pairs() {
        // One draw of five 4B-pair shards.
        let summary = PairsSummary {
            n_draws: 1,
            shards: (0..5)
                .map(|i| ShardInfo {
                    file: format!("epoch-00/part-{i:05}.parquet"),
                    draw: 0,
                    pairs: 4_000_000_000,
                    bytes: 14_000_000_000,
                    xxh3: None,
                    checksums: Vec::new(),
                })
                .collect(),
            ..Default::default()
        };
        let plan = Plan::new(&summary, 2);
        assert_eq!(plan.total_pairs, 2 * TAIGA_PAIRS);
        let out = Path::new("model");
        // The second epoch's last shard, a block from its end.
        let c = Cursor {
            epoch: 1,
            shard: 4,
            block: 3_999_999,
            shard_pairs: 3_999_999_000,
            pairs_done: TAIGA_PAIRS + 16_000_000_000 + 3_999_999_000,
        };
        check_cursor(&plan, &c, out).unwrap();
        // A count off by 2^32 (what a wrapped u32 would give) is refused.
        let wrapped = Cursor {
            pairs_done: c.pairs_done - (1u64 << 32),
            ..c.clone()
        };
        assert!(check_cursor(&plan, &wrapped, out).is_err());
        let end = plan.next_shard(&c);
        assert_eq!((end.epoch, end.shard, end.pairs_done), (2, 0, c.pairs_done));
        // Checkpoints every 5B pairs, the last at 15B.
        let every = TrainConfig {
            checkpoint_every_pairs: 5_000_000_000,
            checkpoint_every_secs: 0,
            ..Default::default()
        };
        let s = Schedule::new(&every, 15_000_000_000);
        assert!(!s.due(TAIGA_PAIRS - 1));
        assert!(s.due(TAIGA_PAIRS));
    }

    #[test]
    fn a_loss_sum_keeps_its_mean_over_20_billion_pairs() {
        // 20,000 drains of 1M pairs each, as a 20B-pair run reports them.
        let mean = 2.123456789f64;
        let mut acc = LossSum::default();
        for _ in 0..20_000 {
            acc += LossSum {
                sum: mean * 1e6,
                count: 1_000_000,
            };
        }
        assert_eq!(acc.count, TAIGA_PAIRS);
        assert!((acc.mean() - mean).abs() < 1e-9, "{}", acc.mean());
        // The epoch figures and the summary carry it through JSON exactly.
        let e = EpochStats {
            epoch: 4,
            pairs: TAIGA_PAIRS + 7,
            loss: acc.mean(),
            loss_pairs: acc.count,
            seconds: 36_000.0,
            pairs_per_s: 5.5e5,
        };
        let back: EpochStats = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(
            (back.pairs, back.loss_pairs),
            (TAIGA_PAIRS + 7, TAIGA_PAIRS)
        );
    }

    #[test]
    fn max_id_flags_negative_and_large_ids() {
        assert_eq!(max_id(&[0, 5, 3]), 5);
        assert!(max_id(&[1, -1]) >= u32::MAX / 2);
        assert_eq!(max_id(&[]), 0);
    }

    #[test]
    fn native_memory_estimate_leaves_out_torch_batches() {
        let native = TrainConfig::default();
        let torch = TrainConfig {
            engine: EngineConfig::Torch(TorchConfig::on(Device::Cuda(0))),
            ..Default::default()
        };
        // 130k words at dim 128: tables (2 × 66 MB) and reader buffers, not
        // a million-pair batch's gathered rows (about 3.6 GB).
        let n = memory_estimate(&native, 130_000);
        assert!(n < 600 << 20, "{n}");
        assert!(memory_estimate(&torch, 130_000) > n + (1 << 30));
    }
}

#[cfg(test)]
mod driver_tests {
    use super::*;

    /// An engine that reports loss only when drained, as a GPU does, and
    /// records each block's loss as the inner engine computed it.
    struct Deferred {
        inner: Box<dyn Engine>,
        held: LossSum,
        log: Arc<std::sync::Mutex<Vec<(u64, LossSum)>>>,
        pairs: u64,
    }

    impl Engine for Deferred {
        fn describe(&self) -> String {
            "deferred".into()
        }
        fn block_size(&self) -> usize {
            3000
        }
        fn block(&mut self, b: Block<'_>) -> Result<()> {
            self.inner.block(b)?;
            let l = self.inner.drain_loss()?;
            self.pairs += b.centres.len() as u64;
            self.log.lock().unwrap().push((self.pairs, l));
            self.held += l;
            Ok(())
        }
        fn drain_loss(&mut self) -> Result<LossSum> {
            Ok(std::mem::take(&mut self.held))
        }
        fn weights(&mut self) -> Result<Weights> {
            self.inner.weights()
        }
        fn into_weights(self: Box<Self>) -> Result<Weights> {
            self.inner.into_weights()
        }
    }

    struct DeferredBuilder(Arc<std::sync::Mutex<Vec<(u64, LossSum)>>>);

    impl EngineBuilder for DeferredBuilder {
        fn build(&self, cfg: &TrainConfig, w: Weights, t: &AliasTable) -> Result<Box<dyn Engine>> {
            Ok(Box::new(Deferred {
                inner: NativeBuilder.build(cfg, w, t)?,
                held: LossSum::default(),
                log: self.0.clone(),
                pairs: 0,
            }))
        }
    }

    #[test]
    fn each_epoch_reports_exactly_the_loss_of_its_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = oracle::test_shards(dir.path(), 300_000, 2).unwrap();
        cfg.engine = EngineConfig::Native(NativeConfig {
            threads: 1,
            deterministic: true,
            ..Default::default()
        });
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = run(
            &cfg,
            &Progress::silent(),
            None,
            &DeferredBuilder(log.clone()),
        )
        .unwrap();
        let log = log.lock().unwrap();
        assert_eq!(s.epochs.len(), 2);
        let mut start = 0u64;
        for e in &s.epochs {
            let end = start + e.pairs;
            let mut want = LossSum::default();
            for (p, l) in log.iter().filter(|(p, _)| *p > start && *p <= end) {
                let _ = p;
                want += *l;
            }
            assert!(want.count > 0);
            assert_eq!(e.loss_pairs, want.count, "epoch {}", e.epoch);
            assert!((e.loss - want.mean()).abs() < 1e-12, "epoch {}", e.epoch);
            start = end;
        }
        assert_eq!(start, s.total_pairs);
        // Nothing is left behind at the end: the last block's loss counted.
        let total: u64 = log.iter().map(|(_, l)| l.count).sum();
        assert_eq!(total, s.epochs.iter().map(|e| e.loss_pairs).sum::<u64>());
    }
}
