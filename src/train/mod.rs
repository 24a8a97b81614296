//! `w2v train`: skip-gram with negative sampling over the pair shards.
//!
//! In: `shards/` (manifest + parquet), `vocab/` (words, counts, unigram
//! table; its fingerprint must match the one the shards were built with).
//! Out, in `model/`: `input.npy` (the word vectors), `output.npy` (with
//! `--save-output`), `norms.npy`, `words.txt`, `manifest.json`, and
//! `checkpoints/` while running.
//!
//! The model: input table `V × dim` initialised uniform in ±0.5/dim, output
//! table zeros (word2vec.c). For a pair (t, c) and K negatives n drawn from
//! `count^0.75`, the loss is `−log σ(u_c·v_t) − Σ log σ(−u_n·v_t)`, minimised
//! by plain SGD whose rate decays linearly from `lr` to `lr·min_lr_frac` over
//! all planned pairs.
//!
//! Work is cut into *blocks* (a batch for the torch engine, 65,536 pairs for
//! the native one). A block never spans two shards; its learning rate is set
//! from the pairs done before it, and its randomness comes from the stream
//! `(seed, epoch, shard, block)`. The cursor `(epoch, shard, block)`, the
//! pair count and the weights are all a checkpoint needs, so a resumed run
//! repeats exactly what the uninterrupted run would have done.
//!
//! Engines: [`native`] (multi-threaded Rust, Hogwild) and `torch` (libtorch,
//! CPU or CUDA; feature `torch`, `src/torch_engine.rs`, compiled into the
//! `w2v-torch` binary only and reached through
//! [`TorchHooks`]). `--engine auto` takes torch on CUDA when a GPU is usable
//! and native otherwise (native is the faster CPU engine; see BENCHMARKS.md).

pub mod native;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};
use crate::manifest::write_atomic;
use crate::pairs::PairsSummary;
use crate::progress::Progress;
use crate::rng::{mix64, purpose, stream, unit_f32};
use crate::shards::{shard_path, ShardInfo};
use crate::unigram::AliasTable;
use crate::vocab::Vocab;
use crate::TokenId;

/// Which trainer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// torch on CUDA if usable, else native.
    Auto,
    /// The multi-threaded Rust engine.
    Native,
    /// libtorch (CPU or CUDA).
    Torch,
}

/// The native engine's update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NativeUpdate {
    /// word2vec.c's: one pair at a time, K negatives per pair.
    Pair,
    /// pWord2Vec's: one centre's pairs at once, K negatives per window.
    Window,
}

/// Default `--row-cap` (torch ops path). Summed duplicate-row gradients
/// wreck the ops step on a real corpus (a frequent negative met hundreds of
/// times per batch takes hundreds of steps at once); capping each row at 64
/// steps per batch brings it to gensim's quality at batches of 4,096 and
/// 16,384. BENCHMARKS.md has the study.
pub const ROW_CAP: f32 = 64.0;

/// The largest torch ops batch measured to keep quality at lr 0.025 with the
/// row cap (65,536 lost 0.015 on simlex at cap 64 and diverged at cap 256).
pub const OPS_BATCH_TESTED: usize = 16_384;

/// Settings of the training stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Shards directory. By default, `shards`.
    pub shards_dir: PathBuf,
    /// Vocabulary directory. By default, the one recorded in the shards manifest.
    pub vocab_dir: Option<PathBuf>,
    /// Output directory. By default, `model`.
    pub output: PathBuf,
    /// Engine. By default, auto.
    pub engine: EngineKind,
    /// `auto`, `cpu`, `cuda` or `cuda:N` (torch engine). By default, auto.
    pub device: String,
    /// Vector size. By default, 128.
    pub dim: usize,
    /// Negatives per pair. By default, 5.
    pub negative: usize,
    /// Starting learning rate. By default, 0.025.
    pub lr: f32,
    /// Final learning rate as a fraction of `lr`. By default, 1e-4.
    pub min_lr_frac: f32,
    /// Epochs; epoch e reads draw e % n_draws. By default, 5.
    pub epochs: u32,
    /// Pairs per torch batch. By default, 4096 on CPU; on CUDA 1,048,576
    /// (fused kernel) or 4096 (ops).
    pub batch_size: Option<usize>,
    /// The CUDA step: `fused` (one kernel, atomic row updates), `hogwild`
    /// (the same kernel with plain stores) or `ops` (libtorch operations).
    /// By default, fused.
    pub cuda_kernel: String,
    /// Torch ops path: a row met n times in one batch gets min(1, row_cap / n)
    /// of its summed gradient; 0 sums them all. By default, ROW_CAP.
    pub row_cap: f32,
    /// The native engine's update. By default, window.
    pub native_update: NativeUpdate,
    /// Native engine: prefetch upcoming rows (off only to measure what it
    /// buys). By default, true.
    pub prefetch: bool,
    /// Native threads (0 = all cores). By default, 0.
    pub threads: usize,
    /// Results depend only on the seed (native: one thread in pair order). By default, false.
    pub deterministic: bool,
    /// Checkpoint every this many pairs (0 = only at the end of each epoch). By default, 0.
    pub checkpoint_every_pairs: u64,
    /// Checkpoint every this many seconds (0 = off). By default, 600.
    pub checkpoint_every_secs: u64,
    /// Continue from the last checkpoint in `output`. By default, false.
    pub resume: bool,
    /// Also save the output (context) table. By default, false.
    pub save_output: bool,
    /// Stop (as Ctrl-C would) once this many pairs are done; for tests. By default, none.
    pub stop_after_pairs: Option<u64>,
    /// Master seed. By default, 1.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            shards_dir: PathBuf::from("shards"),
            vocab_dir: None,
            output: PathBuf::from("model"),
            engine: EngineKind::Auto,
            device: "auto".into(),
            dim: 128,
            negative: 5,
            lr: 0.025,
            min_lr_frac: 1e-4,
            epochs: 5,
            batch_size: None,
            cuda_kernel: "fused".into(),
            row_cap: ROW_CAP,
            native_update: NativeUpdate::Window,
            prefetch: true,
            threads: 0,
            deterministic: false,
            checkpoint_every_pairs: 0,
            checkpoint_every_secs: 600,
            resume: false,
            save_output: false,
            stop_after_pairs: None,
            seed: 1,
        }
    }
}

impl TrainConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.dim > 4096 {
            return Err(Error::InvalidConfig("--dim must be within 1..=4096".into()));
        }
        if self.negative == 0 || self.negative > 100 {
            return Err(Error::InvalidConfig(
                "--negative must be within 1..=100".into(),
            ));
        }
        if !(self.lr > 0.0 && self.lr < 10.0) {
            return Err(Error::InvalidConfig("--lr must be within (0, 10)".into()));
        }
        if self.epochs == 0 {
            return Err(Error::InvalidConfig("--epochs must be at least 1".into()));
        }
        if !["fused", "hogwild", "ops"].contains(&self.cuda_kernel.as_str()) {
            return Err(Error::InvalidConfig(format!(
                "unknown --cuda-kernel '{}' (fused, hogwild, ops)",
                self.cuda_kernel
            )));
        }
        if !(self.row_cap >= 0.0 && self.row_cap.is_finite()) {
            return Err(Error::InvalidConfig(
                "--row-cap must be 0 (off) or positive".into(),
            ));
        }
        if self.batch_size == Some(0) {
            return Err(Error::InvalidConfig(
                "--batch-size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// One trainer: applies SGNS updates block by block.
pub trait Trainer {
    /// Short description ("native avx2+fma ×2", "torch cuda:0").
    fn describe(&self) -> String;
    /// Trains on one block at learning rate `lr` with randomness from
    /// `seed`; returns (sum of sampled losses, number sampled).
    fn block(&mut self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> Result<(f64, u64)>;
    /// Copies out (input, output) weights.
    fn weights(&self) -> Result<(Vec<f32>, Vec<f32>)>;
    /// Pairs per block.
    fn block_size(&self) -> usize;
    /// Notes on settings known to cost quality, shown once at the start.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// word2vec.c initialisation: input uniform in ±0.5/dim, output zeros.
pub fn init_weights(vocab_size: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = stream(seed, &[purpose::INIT]);
    let input = (0..vocab_size * dim)
        .map(|_| (unit_f32(&mut rng) - 0.5) / dim as f32)
        .collect();
    (input, vec![0.0; vocab_size * dim])
}

/// Where training stands; saved in each checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    pub epoch: u32,
    pub shard: usize,
    pub block: u64,
    pub pairs_done: u64,
}

/// Per-epoch figures in the model manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: u32,
    pub pairs: u64,
    pub loss: f64,
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

/// Estimated bytes of host memory for training.
pub fn memory_estimate(vocab: usize, dim: usize, batch: usize, negative: usize) -> u64 {
    let tables = 2 * vocab as u64 * dim as u64 * 4;
    let batch_bufs = batch as u64 * (negative as u64 + 2) * dim as u64 * 4 * 3;
    let shards = 2 * (1u64 << 20) * 8 * 4;
    tables + batch_bufs + shards + vocab as u64 * 8
}

fn mem_available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Plan {
    /// (epoch, shard index within the epoch's draw, shard).
    shards: Vec<(u32, usize, ShardInfo)>,
    total_pairs: u64,
}

fn plan(summary: &PairsSummary, epochs: u32) -> Plan {
    let mut shards = Vec::new();
    for e in 0..epochs {
        let draw = e % summary.n_draws.max(1);
        for (i, s) in summary.shards.iter().filter(|s| s.draw == draw).enumerate() {
            shards.push((e, i, s.clone()));
        }
    }
    let total_pairs = shards.iter().map(|s| s.2.pairs).sum();
    Plan {
        shards,
        total_pairs,
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    cursor: Cursor,
    vocab_fingerprint: String,
    config: TrainConfig,
    epochs: Vec<EpochStats>,
    dir: String,
}

fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes weights + cursor; the pointer file `checkpoint.json` is replaced
/// last, so a crash mid-write leaves the previous checkpoint in force.
fn save_checkpoint(
    out: &Path,
    trainer: &dyn Trainer,
    cursor: &Cursor,
    vocab_fp: &str,
    cfg: &TrainConfig,
    epochs: &[EpochStats],
) -> Result<()> {
    let (input, output) = trainer.weights()?;
    if let Some(i) = input.iter().chain(&output).position(|x| !x.is_finite()) {
        return Err(Error::Diverged {
            step: cursor.pairs_done,
            what: format!("weight {i} is not finite"),
        });
    }
    let root = checkpoint_dir(out);
    let name = format!("ckpt-{:015}", cursor.pairs_done);
    let dir = root.join(&name);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir, "create checkpoint directory"))?;
    write_atomic(&dir.join("input.f32"), bytemuck::cast_slice(&input))?;
    write_atomic(&dir.join("output.f32"), bytemuck::cast_slice(&output))?;
    let state = CheckpointState {
        cursor: cursor.clone(),
        vocab_fingerprint: vocab_fp.to_string(),
        config: cfg.clone(),
        epochs: epochs.to_vec(),
        dir: name.clone(),
    };
    let ptr = root.join("checkpoint.json");
    let text = serde_json::to_string_pretty(&state).map_err(json_err(&ptr, "encode checkpoint"))?;
    write_atomic(&ptr, text.as_bytes())?;
    // Older checkpoints are no longer needed.
    if let Ok(rd) = std::fs::read_dir(&root) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("ckpt-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

fn load_checkpoint(
    out: &Path,
    vocab_fp: &str,
    n: usize,
) -> Result<(CheckpointState, Vec<f32>, Vec<f32>)> {
    let root = checkpoint_dir(out);
    let ptr = root.join("checkpoint.json");
    let text = std::fs::read_to_string(&ptr)
        .map_err(io_err(&ptr, "read checkpoint (nothing to resume)"))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(json_err(&ptr, "parse checkpoint"))?;
    if state.vocab_fingerprint != vocab_fp {
        return Err(Error::Mismatch {
            path: ptr,
            message: "was made with another vocabulary; start afresh without --resume".into(),
        });
    }
    let read = |f: &str| -> Result<Vec<f32>> {
        let p = root.join(&state.dir).join(f);
        let bytes = std::fs::read(&p).map_err(io_err(&p, "read checkpoint weights"))?;
        if bytes.len() != n * 4 {
            return Err(Error::Mismatch {
                path: p,
                message: format!("holds {} floats, expected {n}", bytes.len() / 4),
            });
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    };
    let (i, o) = (read("input.f32")?, read("output.f32")?);
    Ok((state, i, o))
}

/// Loads the shards manifest and the vocabulary, and refuses a mismatch.
pub fn load_inputs(cfg: &TrainConfig) -> Result<(PairsSummary, PathBuf, Vocab, AliasTable)> {
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
    let fp = crate::vocab::Vocab::fingerprint_of(&vocab_dir)?;
    if fp != summary.vocab_fingerprint {
        return Err(Error::Mismatch {
            path: cfg.shards_dir.join(crate::manifest::FILE_NAME),
            message: format!(
                "shards were built against vocabulary {} but {} holds {fp}; re-run `w2v pairs` or pass the matching --vocab",
                summary.vocab_fingerprint,
                vocab_dir.display()
            ),
        });
    }
    let vocab = Vocab::load(&vocab_dir)?;
    let table = AliasTable::read(&vocab_dir.join(crate::unigram::FILE_NAME))?;
    if table.len() != vocab.len() {
        return Err(Error::Mismatch {
            path: vocab_dir.join(crate::unigram::FILE_NAME),
            message: format!("has {} entries for {} words", table.len(), vocab.len()),
        });
    }
    Ok((summary, vocab_dir, vocab, table))
}

/// Builds a torch trainer from (config, input weights, output weights, table).
pub type TorchFactory =
    fn(&TrainConfig, Vec<f32>, Vec<f32>, &AliasTable) -> Result<Box<dyn Trainer>>;

/// What a binary that links libtorch provides. Only `w2v-torch` has one, so
/// the plain `w2v` binary never loads libtorch.
pub struct TorchHooks {
    /// Builds the torch trainer.
    pub factory: TorchFactory,
    /// Whether CUDA is usable.
    pub cuda_available: fn() -> bool,
    /// (CUDA available, device count, cudnn available).
    pub cuda_info: fn() -> (bool, i64, bool),
}

/// Picks the engine for `cfg`.
pub fn make_trainer(
    cfg: &TrainConfig,
    input: Vec<f32>,
    output: Vec<f32>,
    table: AliasTable,
    progress: &Progress,
    torch: Option<&TorchHooks>,
) -> Result<Box<dyn Trainer>> {
    let want_torch = match cfg.engine {
        EngineKind::Torch => true,
        EngineKind::Native => false,
        EngineKind::Auto => cfg.device != "cpu" && torch.is_some_and(|t| (t.cuda_available)()),
    };
    if want_torch {
        return match torch {
            Some(t) => (t.factory)(cfg, input, output, &table),
            None => Err(Error::InvalidConfig(
                "the torch engine runs in the w2v-torch binary (built with the default `torch` feature); use --engine native".into(),
            )),
        };
    }
    if cfg.device.starts_with("cuda") {
        progress
            .warn("--device cuda applies to the torch engine only; training natively on the CPU");
    }
    Ok(Box::new(native::NativeTrainer::new(
        cfg, input, output, table,
    )))
}

/// Runs the training stage. `stop` is polled between blocks (Ctrl-C).
pub fn run(
    cfg: &TrainConfig,
    progress: &Progress,
    stop: Option<Arc<AtomicBool>>,
    torch: Option<&TorchHooks>,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let start = Instant::now();
    let (psum, vocab_dir, vocab, table) = load_inputs(cfg)?;
    let v = vocab.len();
    let n = v * cfg.dim;
    let batch_guess = cfg.batch_size.unwrap_or(65_536);
    let need = memory_estimate(v, cfg.dim, batch_guess, cfg.negative);
    if let Some(avail) = mem_available() {
        if need > avail {
            return Err(Error::InvalidConfig(format!(
                "training needs about {:.1} GiB but only {:.1} GiB is available; lower --dim, --batch-size or the vocabulary (--max-vocab)",
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            )));
        }
    }
    std::fs::create_dir_all(&cfg.output).map_err(io_err(&cfg.output, "create model directory"))?;

    let (mut cursor, input, output, mut epochs) = if cfg.resume {
        let (state, i, o) = load_checkpoint(&cfg.output, &psum.vocab_fingerprint, n)?;
        progress.info(&format!(
            "resuming at epoch {} shard {} block {}",
            state.cursor.epoch, state.cursor.shard, state.cursor.block
        ));
        (state.cursor, i, o, state.epochs)
    } else {
        let (i, o) = init_weights(v, cfg.dim, cfg.seed);
        (Cursor::default(), i, o, Vec::new())
    };
    let resumed_from = cfg.resume.then(|| cursor.clone());
    let mut trainer = make_trainer(cfg, input, output, table, progress, torch)?;
    for w in trainer.warnings() {
        progress.warn(&w);
    }
    let plan = plan(&psum, cfg.epochs);
    let bs = trainer.block_size();
    let stage = progress.stage("train", plan.total_pairs, "pairs");
    stage.inc(cursor.pairs_done);

    // Shards are decoded on their own thread, ahead of training.
    let first = plan
        .shards
        .iter()
        .position(|(e, s, _)| (*e, *s) == (cursor.epoch, cursor.shard))
        .unwrap_or(plan.shards.len());
    let skip_pairs = cursor.block * bs as u64;
    let todo: Vec<(u32, usize, ShardInfo)> = plan.shards[first..].to_vec();
    let mut readers = spawn_readers(&cfg.shards_dir, todo, skip_pairs)?;
    let mut ckpt = Checkpointer {
        cfg,
        vocab_fp: &psum.vocab_fingerprint,
        last: Instant::now(),
        last_pairs: cursor.pairs_done,
    };
    let mut wait = 0.0f64;
    let mut ema = f64::NAN;
    let (mut ep_loss, mut ep_n, mut ep_pairs) = (0.0f64, 0u64, 0u64);
    let mut ep_start = Instant::now();
    let (mut buf_t, mut buf_c): (Vec<TokenId>, Vec<TokenId>) = (Vec::new(), Vec::new());
    let stop_flag = stop.unwrap_or_else(|| Arc::new(AtomicBool::new(false)));

    let result = (|| -> Result<()> {
        loop {
            let w0 = Instant::now();
            let msg = match readers.recv() {
                Some(m) => m?,
                None => break,
            };
            wait += w0.elapsed().as_secs_f64();
            let (e, s, t, c, end_of_shard) = msg;
            if (e, s) != (cursor.epoch, cursor.shard) {
                cursor.epoch = e;
                cursor.shard = s;
                cursor.block = 0;
            }
            if buf_t.is_empty() {
                // The common case (row groups of whole blocks): no copy.
                (buf_t, buf_c) = (t, c);
            } else {
                buf_t.extend_from_slice(&t);
                buf_c.extend_from_slice(&c);
            }
            let mut off = 0;
            while buf_t.len() - off >= bs || (end_of_shard && off < buf_t.len()) {
                let end = (off + bs).min(buf_t.len());
                let lr = lr_at(cfg, cursor.pairs_done, plan.total_pairs);
                let (loss, nl) = trainer.block(
                    &buf_t[off..end],
                    &buf_c[off..end],
                    lr,
                    block_seed(cfg.seed, &cursor),
                )?;
                if nl > 0 {
                    let mean = loss / nl as f64;
                    if !mean.is_finite() {
                        return Err(Error::Diverged {
                            step: cursor.pairs_done,
                            what: format!(
                                "loss is {mean} at epoch {} shard {} block {}",
                                cursor.epoch, cursor.shard, cursor.block
                            ),
                        });
                    }
                    ema = if ema.is_nan() {
                        mean
                    } else {
                        0.95 * ema + 0.05 * mean
                    };
                    ep_loss += loss;
                    ep_n += nl;
                }
                let np = (end - off) as u64;
                off = end;
                cursor.block += 1;
                cursor.pairs_done += np;
                ep_pairs += np;
                stage.inc(np);
                stage.message(format!(
                    "epoch {}/{} shard {} loss {:.4} lr {:.5}",
                    cursor.epoch + 1,
                    cfg.epochs,
                    cursor.shard,
                    ema,
                    lr
                ));

                let stop_now = stop_flag.load(Ordering::Relaxed)
                    || cfg.stop_after_pairs.is_some_and(|p| cursor.pairs_done >= p);
                let due = ckpt.due(cursor.pairs_done);
                if stop_now || due {
                    // The cursor must point at the next block to run.
                    let mut next = cursor.clone();
                    if off >= buf_t.len() && end_of_shard {
                        next = next_shard(&plan, &cursor);
                    }
                    ckpt.save(trainer.as_ref(), &next, &epochs)?;
                    if stop_now {
                        return Err(Error::Interrupted {
                            path: checkpoint_dir(&cfg.output),
                        });
                    }
                }
            }
            buf_t.drain(..off);
            buf_c.drain(..off);
            if end_of_shard {
                let next = next_shard(&plan, &cursor);
                if next.epoch != cursor.epoch {
                    let secs = ep_start.elapsed().as_secs_f64();
                    epochs.push(EpochStats {
                        epoch: cursor.epoch,
                        pairs: ep_pairs,
                        loss: ep_loss / ep_n.max(1) as f64,
                        seconds: secs,
                        pairs_per_s: ep_pairs as f64 / secs.max(1e-9),
                    });
                    progress.info(&format!(
                        "epoch {}/{}: loss {:.4}, {:.2}M pairs/s",
                        cursor.epoch + 1,
                        cfg.epochs,
                        ep_loss / ep_n.max(1) as f64,
                        ep_pairs as f64 / secs.max(1e-9) / 1e6
                    ));
                    (ep_loss, ep_n, ep_pairs) = (0.0, 0, 0);
                    if cfg.checkpoint_every_pairs == 0
                        && next.epoch < cfg.epochs
                        && ckpt.last.elapsed().as_secs() >= EPOCH_CHECKPOINT_AFTER_S
                    {
                        ckpt.save(trainer.as_ref(), &next, &epochs)?;
                    }
                    // Epoch figures leave the epoch-end checkpoint out.
                    ep_start = Instant::now();
                }
            }
        }
        Ok(())
    })();
    readers.stop();
    stage.finish();
    result?;

    let (input, output) = trainer.weights()?;
    if input.iter().any(|x| !x.is_finite()) {
        return Err(Error::Diverged {
            step: cursor.pairs_done,
            what: "final weights are not finite".into(),
        });
    }
    let secs = start.elapsed().as_secs_f64();
    let summary = TrainSummary {
        engine: trainer.describe(),
        vocab_size: v,
        total_pairs: plan.total_pairs,
        final_loss: epochs.last().map(|e| e.loss).unwrap_or(f64::NAN),
        epochs,
        seconds: secs,
        pairs_per_s: (plan.total_pairs - resumed_from.as_ref().map(|c| c.pairs_done).unwrap_or(0))
            as f64
            / secs.max(1e-9),
        input_wait_s: wait,
        corpus_tokens: psum.corpus_tokens,
        resumed_from,
        libtorch: torch.and_then(|_| crate::doctor::libtorch_version()),
    };
    write_model(cfg, &vocab, &vocab_dir, &psum, &input, &output, &summary)?;
    let _ = std::fs::remove_dir_all(checkpoint_dir(&cfg.output));
    Ok(summary)
}

/// One message from a shard reader: (epoch, shard, targets, contexts, end of shard).
type Chunk = (u32, usize, Vec<TokenId>, Vec<TokenId>, bool);

/// One row group of one shard of the plan: the unit of parallel decoding.
struct Unit {
    epoch: u32,
    shard: usize,
    file: crate::shards::Shard,
    row_group: usize,
    /// Pairs to drop from the start (resuming mid-shard).
    skip: u64,
    last_of_shard: bool,
}

/// Shard decoders running ahead of training. Row group u of the plan goes
/// to reader u mod n, and [`Readers::recv`] takes the readers' output in plan
/// order, so the pairs arrive exactly as one reader would deliver them while
/// parquet decoding (about 80M pairs/s per core) runs on several cores.
struct Readers {
    rxs: Vec<std::sync::mpsc::Receiver<Result<Chunk>>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    /// Index of the next unit to receive.
    next: usize,
    total: usize,
}

/// Decoder threads: half the cores, 1 to 8 (the fused CUDA kernel consumes
/// pairs faster than 6 cores decode them; BENCHMARKS.md).
fn reader_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .clamp(1, 8)
}

fn plan_units(dir: &Path, todo: &[(u32, usize, ShardInfo)], skip_pairs: u64) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (k, (e, s, info)) in todo.iter().enumerate() {
        let file = crate::shards::Shard::open(&shard_path(dir, info))?;
        let groups = file.row_groups();
        let mut first_row = 0u64;
        for (rg, rows) in groups.iter().enumerate() {
            let skip = if k == 0 {
                skip_pairs.saturating_sub(first_row).min(*rows)
            } else {
                0
            };
            first_row += rows;
            units.push(Unit {
                epoch: *e,
                shard: *s,
                file: file.clone(),
                row_group: rg,
                skip,
                last_of_shard: rg + 1 == groups.len(),
            });
        }
        if groups.is_empty() {
            // An empty shard still ends.
            units.push(Unit {
                epoch: *e,
                shard: *s,
                file,
                row_group: usize::MAX,
                skip: 0,
                last_of_shard: true,
            });
        }
    }
    Ok(units)
}

fn read_unit(u: &Unit) -> Result<Chunk> {
    let (mut t, mut c) = (Vec::new(), Vec::new());
    if u.row_group != usize::MAX {
        let mut skip = u.skip as usize;
        u.file.read_row_group(u.row_group, 1 << 20, |bt, bc| {
            let k = skip.min(bt.len());
            skip -= k;
            t.extend_from_slice(&bt[k..]);
            c.extend_from_slice(&bc[k..]);
            Ok(())
        })?;
    }
    Ok((u.epoch, u.shard, t, c, u.last_of_shard))
}

fn spawn_readers(
    dir: &Path,
    todo: Vec<(u32, usize, ShardInfo)>,
    skip_pairs: u64,
) -> Result<Readers> {
    let units = plan_units(dir, &todo, skip_pairs)?;
    let n = reader_threads().min(units.len().max(1));
    let total = units.len();
    let mut per: Vec<Vec<Unit>> = (0..n).map(|_| Vec::new()).collect();
    for (i, u) in units.into_iter().enumerate() {
        per[i % n].push(u);
    }
    let mut rxs = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for mine in per {
        // Two row groups (about 16 MB) buffered per reader.
        let (tx, rx) = sync_channel::<Result<Chunk>>(2);
        handles.push(std::thread::spawn(move || {
            for u in mine {
                let r = read_unit(&u);
                let failed = r.is_err();
                if tx.send(r).is_err() || failed {
                    return;
                }
            }
        }));
        rxs.push(rx);
    }
    Ok(Readers {
        rxs,
        handles,
        next: 0,
        total,
    })
}

impl Readers {
    /// The next chunk in plan order; `None` when every unit is done.
    fn recv(&mut self) -> Option<Result<Chunk>> {
        if self.next >= self.total {
            return None;
        }
        let rx = &self.rxs[self.next % self.rxs.len()];
        self.next += 1;
        match rx.recv() {
            Ok(r) => Some(r),
            // A reader that stopped without finishing its units.
            Err(_) => Some(Err(Error::Cancelled)),
        }
    }

    /// Stops the readers (they see their channel closed) and joins them.
    fn stop(self) {
        drop(self.rxs);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// An epoch's end also writes a checkpoint when the last one is at least
/// this old: short epochs (seconds on a GPU) are not slowed by a full
/// weights copy each.
const EPOCH_CHECKPOINT_AFTER_S: u64 = 60;

/// When and where checkpoints are written during a run.
struct Checkpointer<'a> {
    cfg: &'a TrainConfig,
    vocab_fp: &'a str,
    last: Instant,
    last_pairs: u64,
}

impl Checkpointer<'_> {
    /// Whether `--checkpoint-every` (pairs or seconds) has come round.
    fn due(&self, pairs_done: u64) -> bool {
        (self.cfg.checkpoint_every_pairs > 0
            && pairs_done - self.last_pairs >= self.cfg.checkpoint_every_pairs)
            || (self.cfg.checkpoint_every_secs > 0
                && self.last.elapsed().as_secs() >= self.cfg.checkpoint_every_secs)
    }

    /// Saves a checkpoint whose cursor is `next` and restarts both clocks.
    fn save(&mut self, trainer: &dyn Trainer, next: &Cursor, epochs: &[EpochStats]) -> Result<()> {
        save_checkpoint(
            &self.cfg.output,
            trainer,
            next,
            self.vocab_fp,
            self.cfg,
            epochs,
        )?;
        self.last = Instant::now();
        self.last_pairs = next.pairs_done;
        Ok(())
    }
}

/// The divergence guard: a non-finite loss stops the run.
pub fn check_loss(mean: f64, cursor: &Cursor) -> Result<()> {
    if mean.is_finite() {
        return Ok(());
    }
    Err(Error::Diverged {
        step: cursor.pairs_done,
        what: format!(
            "loss is {mean} at epoch {} shard {} block {}",
            cursor.epoch, cursor.shard, cursor.block
        ),
    })
}

fn next_shard(plan: &Plan, c: &Cursor) -> Cursor {
    let i = plan
        .shards
        .iter()
        .position(|(e, s, _)| (*e, *s) == (c.epoch, c.shard))
        .unwrap_or(plan.shards.len());
    match plan.shards.get(i + 1) {
        Some((e, s, _)) => Cursor {
            epoch: *e,
            shard: *s,
            block: 0,
            pairs_done: c.pairs_done,
        },
        None => Cursor {
            epoch: c.epoch + 1,
            shard: 0,
            block: 0,
            pairs_done: c.pairs_done,
        },
    }
}

fn write_model(
    cfg: &TrainConfig,
    vocab: &Vocab,
    vocab_dir: &Path,
    psum: &PairsSummary,
    input: &[f32],
    output: &[f32],
    summary: &TrainSummary,
) -> Result<()> {
    let mut s = serde_json::to_value(summary).unwrap_or_default();
    s["vocab_fingerprint"] = serde_json::Value::String(psum.vocab_fingerprint.clone());
    s["dim"] = serde_json::json!(cfg.dim);
    let parts = crate::model::ModelParts {
        producer: crate::model::Producer::Train,
        words: &vocab.words,
        input,
        output: cfg.save_output.then_some(output),
        dim: cfg.dim,
        normalize: vocab.normalize.clone(),
        normalize_source: vocab.normalize_source,
        seed: cfg.seed,
        config: serde_json::to_value(cfg).unwrap_or_default(),
        inputs: vec![
            crate::manifest::fingerprint(&cfg.shards_dir.join(crate::manifest::FILE_NAME))?,
            crate::manifest::fingerprint(&vocab_dir.join("words.txt"))?,
        ],
        summary: s,
    };
    crate::model::ModelDir::write(&cfg.output, &parts).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nan;
    impl Trainer for Nan {
        fn describe(&self) -> String {
            "nan".into()
        }
        fn block(&mut self, _: &[TokenId], _: &[TokenId], _: f32, _: u64) -> Result<(f64, u64)> {
            Ok((f64::NAN, 1))
        }
        fn weights(&self) -> Result<(Vec<f32>, Vec<f32>)> {
            Ok((vec![1.0, f32::NAN], vec![0.0, 0.0]))
        }
        fn block_size(&self) -> usize {
            1
        }
    }

    #[test]
    fn nan_guard_names_the_step_and_keeps_the_last_checkpoint() {
        let c = Cursor {
            epoch: 1,
            shard: 2,
            block: 3,
            pairs_done: 77,
        };
        assert!(check_loss(1.5, &c).is_ok());
        let e = check_loss(f64::NAN, &c).unwrap_err().to_string();
        assert!(e.contains("step 77") && e.contains("block 3"), "{e}");
        // A checkpoint of non-finite weights is refused, so the previous one stays.
        let dir = tempfile::tempdir().unwrap();
        let root = checkpoint_dir(dir.path());
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("checkpoint.json"), "previous").unwrap();
        let err =
            save_checkpoint(dir.path(), &Nan, &c, "fp", &TrainConfig::default(), &[]).unwrap_err();
        assert!(matches!(err, Error::Diverged { step: 77, .. }));
        assert_eq!(
            std::fs::read_to_string(root.join("checkpoint.json")).unwrap(),
            "previous"
        );
    }

    #[test]
    fn lr_decays_linearly_to_the_floor() {
        let cfg = TrainConfig::default();
        assert_eq!(lr_at(&cfg, 0, 100), 0.025);
        assert!((lr_at(&cfg, 50, 100) - 0.0125).abs() < 1e-7);
        assert!((lr_at(&cfg, 100, 100) - 0.025 * 1e-4).abs() < 1e-9);
    }
}
