//! `w2v train`: embeddings from the shards.
//!
//! The flags are resolved once into a [`TrainConfig`] ([`TrainArgs::resolve`],
//! as ripgrep goes from low-level args to `HiArgs`): `--engine auto` becomes
//! native or torch, `--threads 0` the core count, `--device` a typed device
//! and an absent `--batch-size` the measured default. A native run trains
//! here; a torch run is handed, as that resolved config in JSON, to the
//! `w2v-torch` binary next to this executable (the only one that links
//! libtorch), and this process forwards SIGINT/SIGTERM to it and waits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use w2v::progress::Progress;
use w2v::train::config::{
    available_threads, default_batch, fused_supports, OWN_WEIGHT_NEEDS_SUBWORDS, SUBWORD_LR,
    SUBWORD_OUTPUT_WEIGHT, SUBWORD_OWN_WEIGHT,
};
use w2v::train::{
    CudaStep, Device, EngineConfig, NativeBuilder, NativeConfig, NativeUpdate, StreamConfig,
    TorchConfig, TrainConfig,
};
use w2v::Error;

use super::{Fail, ProgressArg};

#[derive(Clone, Copy, ValueEnum)]
pub enum EngineArg {
    Auto,
    Native,
    Torch,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum UpdateArg {
    Window,
    Pair,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CudaKernelArg {
    Fused,
    Hogwild,
    Ops,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Pair shards written by `w2v pairs` (default: shards, unless only vocab/corpus.ids exists).
    #[arg(long, conflicts_with = "corpus")]
    pub shards: Option<PathBuf>,
    /// Train from the token stream: the ids `w2v vocab` wrote (vocab/corpus.ids), pairs drawn as they train.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// --corpus: maximum window radius.
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    /// --corpus: use the full window for every token instead of a radius uniform in 1..=window.
    #[arg(long)]
    pub no_dynamic_window: bool,
    /// --corpus: subsampling threshold (0 keeps every token).
    #[arg(long, default_value_t = 1e-3)]
    pub sample: f64,
    /// Vocabulary directory (default: the one the shards were built with).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    #[arg(short, long, default_value = "model")]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineArg,
    /// auto, cpu, cuda or cuda:N (torch engine; auto is cuda:0 when a GPU is present).
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    #[arg(long, default_value_t = 5)]
    pub negative: usize,
    /// Starting learning rate (default 0.025, word2vec's; 0.05 with --subwords, fastText's, which the sweep kept).
    #[arg(long)]
    pub lr: Option<f32>,
    #[arg(long, default_value_t = 5)]
    pub epochs: u32,
    /// Pairs per torch batch (default 4096 on CPU; on CUDA 1048576 fused, 16384 ops).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The CUDA step: fused (one kernel, atomic updates), hogwild (plain stores) or ops (libtorch ops).
    #[arg(long, value_enum, default_value = "fused")]
    pub cuda_kernel: CudaKernelArg,
    /// Torch ops path (CPU, or --cuda-kernel ops): a row met n times in one batch gets min(1, CAP/n) of its summed gradient (0 = plain sum).
    #[arg(long, default_value_t = w2v::train::ROW_CAP)]
    pub row_cap: f32,
    /// Native engine: window (a centre's pairs at once, shared negatives; pWord2Vec) or pair (word2vec.c's).
    #[arg(long, value_enum, default_value = "window")]
    pub native_update: UpdateArg,
    /// Native engine: no prefetching of upcoming rows (to measure what it buys).
    #[arg(long, hide = true)]
    pub no_prefetch: bool,
    /// Worker threads (0 = all cores; at most 4 per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Results depend only on the seed (native engine runs one thread).
    #[arg(long)]
    pub deterministic: bool,
    /// Checkpoint every N pairs (0 = by time only, and at an epoch end a minute or more after the last).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: u64,
    /// Checkpoint every N seconds (0 = off). Checked between blocks of
    /// pairs, or between 1M-token chunks when the native engine trains the
    /// token stream itself (a chunk takes about a second on 2 cores at the
    /// defaults), which also bounds how soon Ctrl-C stops.
    #[arg(long, default_value_t = 600)]
    pub checkpoint_every_secs: u64,
    /// Continue from the last checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Discard a checkpoint in the output directory and start afresh (without it, such a run is refused).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Also save the output (context) embeddings.
    #[arg(long)]
    pub save_output: bool,
    /// Stop with a checkpoint after N pairs, as Ctrl-C would (for tests).
    #[arg(long, hide = true)]
    pub stop_after_pairs: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Word-pair files (as for `w2v eval --pairs`) scored at each epoch end into OUTPUT/train.jsonl.
    #[arg(long, num_args = 1..)]
    pub eval_pairs: Vec<PathBuf>,
    /// Character n-grams MINN-MAXN: a word's vector is the mean of its own row and its n-grams' rows, and any word gets a vector (fastText's subwords; native engine). Given alone, 4-6, chosen by measurement (fastText's default is 3-6).
    #[arg(long, value_name = "MINN-MAXN", num_args = 0..=1, default_missing_value = w2v::subword::DEFAULT_RANGE)]
    pub subwords: Option<String>,
    /// Hash buckets (n-gram rows) with --subwords.
    #[arg(long, default_value_t = 2_000_000, requires = "subwords")]
    pub buckets: u32,
    /// Draw negatives from counts^X, rebuilding the unigram table from the vocabulary's counts (default: 0.5 with --subwords, as fastText; else the table `w2v vocab --ns-exponent` wrote, 0.75).
    #[arg(long, value_name = "X")]
    pub ns_exponent: Option<f64>,
    /// With --subwords: a word's saved vector weighs its own row A times one n-gram row (1 = fastText's plain mean; default 4, chosen by measurement). Applied as the model is written; training is the same.
    #[arg(long, value_name = "A")]
    pub own_weight: Option<f32>,
    /// Add B times each word's output (context) vector, at the input vector's length, to its saved vector (default 0.1 with --subwords, else 0). Applied as the model is written; training is the same.
    #[arg(long, value_name = "B")]
    pub output_weight: Option<f32>,
}

/// Threads per core beyond which `--threads` is capped (more only thrash).
const MAX_THREADS_PER_CORE: usize = 4;

/// What resolving the flags found worth telling the user.
pub struct Resolved {
    /// The configuration every stage below sees.
    pub cfg: TrainConfig,
    /// Notes to print before training.
    pub warnings: Vec<String>,
}

/// The helper binary next to this executable.
pub fn torch_helper() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let h = exe.with_file_name("w2v-torch");
    h.exists().then_some(h)
}

/// Whether a GPU driver is visible (the torch engine may use CUDA).
fn gpu_present() -> bool {
    std::path::Path::new("/dev/nvidiactl").exists()
}

/// Whether `w2v-torch` finds CUDA usable (asked only when a driver is present).
fn cuda_usable(helper: &std::path::Path) -> bool {
    super::doctor::torch_facts(helper).is_some_and(|f| f.cuda_available)
}

/// Where `train` reads when neither `--shards` nor `--corpus` is given.
const DEFAULT_SHARDS: &str = "shards";
const DEFAULT_IDS: &str = "vocab/corpus.ids";

impl TrainArgs {
    /// The input: `--shards` or `--corpus` as given; with neither, the
    /// shards in `shards/` when a shards manifest is there (the user ran
    /// `w2v pairs`, whose sampling settings it holds), else the token
    /// stream `vocab/corpus.ids` when it exists (measured as fast as the
    /// shards natively, with no shards on disk: BENCHMARKS.md), else
    /// `shards/`; with none of them there, an error that names both.
    fn input(&self, warnings: &mut Vec<String>) -> w2v::Result<(PathBuf, Option<StreamConfig>)> {
        let stream = |corpus: PathBuf| StreamConfig {
            corpus,
            window: self.window,
            dynamic_window: !self.no_dynamic_window,
            sample: self.sample,
        };
        let sampling_set = self.window != 5 || self.no_dynamic_window || self.sample != 1e-3;
        let (shards, stream) = match (&self.shards, &self.corpus) {
            (_, Some(c)) => (PathBuf::from(DEFAULT_SHARDS), Some(stream(c.clone()))),
            (Some(s), None) => (s.clone(), None),
            (None, None) => {
                let shards = PathBuf::from(DEFAULT_SHARDS);
                let has_shards = shards.join(w2v::manifest::SHARDS_MANIFEST).is_file()
                    || shards.join(w2v::manifest::LEGACY_FILE_NAME).is_file();
                let has_ids = std::path::Path::new(DEFAULT_IDS).is_file();
                if !has_shards && has_ids {
                    (shards, Some(stream(PathBuf::from(DEFAULT_IDS))))
                } else if !has_ids && !shards.exists() {
                    return Err(w2v::error::invalid(
                        &shards,
                        format!("not found, nor {DEFAULT_IDS}: run `w2v pairs` (or `w2v vocab`, to train from the token stream), or pass --shards DIR or --corpus FILE"),
                    ));
                } else {
                    (shards, None)
                }
            }
        };
        if stream.is_none() && sampling_set {
            warnings.push(
                "--window, --sample and --no-dynamic-window apply to --corpus only; shards hold the draws `w2v pairs` made".into(),
            );
        }
        Ok((shards, stream))
    }

    /// Resolves the flags into a typed configuration.
    pub fn resolve(self) -> w2v::Result<Resolved> {
        let mut warnings = Vec::new();
        let cores = available_threads();
        let threads = match self.threads {
            0 => cores,
            n if n > MAX_THREADS_PER_CORE * cores => {
                let cap = MAX_THREADS_PER_CORE * cores;
                warnings.push(format!(
                    "--threads {n} on {cores} cores: using {cap} (more threads only contend)"
                ));
                cap
            }
            n => n,
        };
        let device = match self.device.as_str() {
            "auto" => None,
            d => Some(d.parse::<Device>()?),
        };
        let subwords = self
            .subwords
            .as_deref()
            .map(|r| w2v::subword::SubwordConfig::parse_range(r, self.buckets))
            .transpose()?;
        if subwords.is_some() && !self.eval_pairs.is_empty() {
            return Err(Error::InvalidConfig(
                "--eval-pairs does not score subword models yet (they compose word vectors from n-grams); score the finished model with `w2v eval`".into(),
            ));
        }
        let torch = match self.engine {
            EngineArg::Torch => true,
            EngineArg::Native => false,
            EngineArg::Auto => {
                // Subwords train on the native engine only.
                subwords.is_none()
                    && device != Some(Device::Cpu)
                    && gpu_present()
                    && torch_helper().is_some_and(|h| cuda_usable(&h))
            }
        };
        let engine = if torch {
            let device = device.unwrap_or(if gpu_present() {
                Device::Cuda(0)
            } else {
                Device::Cpu
            });
            let mut step = match self.cuda_kernel {
                CudaKernelArg::Fused => CudaStep::Fused,
                CudaKernelArg::Hogwild => CudaStep::Hogwild,
                CudaKernelArg::Ops => CudaStep::Ops,
            };
            if matches!(device, Device::Cuda(_))
                && step != CudaStep::Ops
                && !fused_supports(self.dim, self.negative)
            {
                warnings.push(format!(
                    "the fused kernel does not fit --dim {} with --negative {}: using the ops step",
                    self.dim, self.negative
                ));
                step = CudaStep::Ops;
            }
            EngineConfig::Torch(TorchConfig {
                device,
                step,
                batch: self.batch_size.unwrap_or(default_batch(device, step)),
                row_cap: self.row_cap,
                threads,
            })
        } else {
            if matches!(device, Some(Device::Cuda(_))) {
                warnings.push(
                    "--device cuda applies to the torch engine only; training natively on the CPU"
                        .into(),
                );
            }
            if self.batch_size.is_some() {
                warnings.push(
                    "--batch-size applies to the torch engine only; the native engine ignores it"
                        .into(),
                );
            }
            EngineConfig::Native(NativeConfig {
                update: match self.native_update {
                    UpdateArg::Window => NativeUpdate::Window,
                    UpdateArg::Pair => NativeUpdate::Pair,
                },
                threads: if self.deterministic { 1 } else { threads },
                deterministic: self.deterministic,
                prefetch: !self.no_prefetch,
            })
        };
        let (shards_dir, stream) = self.input(&mut warnings)?;
        // --own-weight means nothing without n-grams, even at its no-op 1.
        if self.own_weight.is_some() && subwords.is_none() {
            return Err(Error::InvalidConfig(OWN_WEIGHT_NEEDS_SUBWORDS.into()));
        }
        // Subword models have their own measured defaults for these.
        let word_level = TrainConfig::default();
        let by_kind = |sub: f32, word: f32| if subwords.is_some() { sub } else { word };
        let cfg = TrainConfig {
            shards_dir,
            stream,
            vocab_dir: self.vocab,
            output: self.output,
            engine,
            dim: self.dim,
            negative: self.negative,
            lr: self.lr.unwrap_or(by_kind(SUBWORD_LR, word_level.lr)),
            epochs: self.epochs,
            checkpoint_every_pairs: self.checkpoint_every,
            checkpoint_every_secs: self.checkpoint_every_secs,
            resume: self.resume,
            force: self.force,
            save_output: self.save_output,
            stop_after_pairs: self.stop_after_pairs,
            seed: self.seed,
            eval_pairs: self.eval_pairs,
            subwords,
            // Recorded in the config, so a resume checks it like any other.
            ns_exponent: self.ns_exponent.or(subwords
                .is_some()
                .then_some(w2v::train::config::SUBWORD_NS_EXPONENT)),
            own_weight: self
                .own_weight
                .unwrap_or(by_kind(SUBWORD_OWN_WEIGHT, word_level.own_weight)),
            output_weight: self
                .output_weight
                .unwrap_or(by_kind(SUBWORD_OUTPUT_WEIGHT, word_level.output_weight)),
            ..Default::default()
        };
        cfg.validate()?;
        Ok(Resolved { cfg, warnings })
    }
}

/// The refusal of the torch engine when `w2v-torch` is not next to `w2v`.
const NO_TORCH_HELPER: &str = "the torch engine lives in the w2v-torch binary, which is not next to this w2v; build it with `make build` (or `cargo build --release --workspace`), or use --engine native";

/// Runs the resolved torch configuration under `w2v-torch`; returns its exit code.
fn delegate_to_torch(
    cfg: &TrainConfig,
    progress: ProgressArg,
) -> std::result::Result<ExitCode, Fail> {
    let Some(helper) = torch_helper() else {
        return Err(Error::InvalidConfig(NO_TORCH_HELPER.into()).into());
    };
    let json = serde_json::to_string(cfg).map_err(|e| {
        Error::InvalidConfig(format!("cannot encode the training configuration: {e}"))
    })?;
    let mut child = std::process::Command::new(&helper)
        .args([
            "train",
            "--config-json",
            &json,
            "--progress",
            progress.name(),
        ])
        .spawn()
        .map_err(|e| Error::Io {
            path: helper.clone(),
            action: "run",
            source: e,
        })?;
    // Ctrl-C reaches both processes from the terminal; a SIGTERM or SIGHUP
    // sent to this one alone is passed on, so the helper checkpoints either
    // way and exits with the signal's code, which this process passes
    // through. Until the helper's main() installs its handlers (libtorch
    // loads first, 0.2-0.8 s), a signal kills it or, where the shell started
    // us with SIGINT ignored (`w2v train ... &`), is lost: so it is sent
    // again every 300 ms until the helper has stopped.
    let _ = w2v::signals::on_stop(|_| {});
    let mut sent: Option<std::time::Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if let Some(sig) = w2v::signals::received() {
            if sent.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(300)) {
                // SAFETY: kill(2) has no memory-safety preconditions; the
                // pid is our own child's, not yet reaped (it has not been
                // waited for), so it cannot name another process.
                unsafe { libc::kill(child.id() as libc::pid_t, sig) };
                sent = Some(std::time::Instant::now());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    .map_err(|e| Error::Io {
        path: helper.clone(),
        action: "wait for",
        source: e,
    })?;
    {
        use std::os::unix::process::ExitStatusExt;
        if let (Some(sig), Some(_)) = (status.signal(), w2v::signals::received()) {
            if sig == libc::SIGINT || sig == libc::SIGTERM || sig == libc::SIGHUP {
                // Stopped before it could checkpoint: nothing had trained.
                return Err(Error::InterruptedEarly("the torch engine was starting").into());
            }
        }
    }
    match status.code() {
        Some(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        // Killed by a signal it could not handle (SIGKILL from the OOM
        // killer, a crash): it printed nothing, so say what happened.
        None => {
            use std::os::unix::process::ExitStatusExt;
            Err(Error::Torch(format!(
                "{} was killed by signal {} before it finished (out of memory?); the last checkpoint, if any, is in {}",
                helper.display(),
                status.signal().unwrap_or(0),
                w2v::train::checkpoint::checkpoint_dir(&cfg.output).display()
            ))
            .into())
        }
    }
}

pub fn run(
    a: TrainArgs,
    p: &Progress,
    progress: ProgressArg,
) -> std::result::Result<Option<ExitCode>, Fail> {
    // An explicit --engine torch without its helper is told so first: the
    // inputs would be the next thing to fix, not the first.
    if matches!(a.engine, EngineArg::Torch) && torch_helper().is_none() {
        return Err(Error::InvalidConfig(NO_TORCH_HELPER.into()).into());
    }
    let Resolved { cfg, warnings } = a.resolve()?;
    for w in &warnings {
        p.warn(w);
    }
    if !cfg.resume && w2v::model::manifest_of(&cfg.output).is_file() {
        // Replaced only once the new one is complete, but replaced.
        p.warn(&format!(
            "{} holds a finished model: this run replaces it when it completes (copy it elsewhere to keep it)",
            cfg.output.display()
        ));
    }
    if let EngineConfig::Torch(_) = cfg.engine {
        return delegate_to_torch(&cfg, progress).map(Some);
    }
    // SIGINT and SIGTERM: finish the block, checkpoint, exit 130 or 143. A
    // second one stops at once, leaving no unfinished output.
    let json = matches!(progress, ProgressArg::Json);
    let stop = w2v::signals::stop_flag_or(move |_| super::exit_interrupted(json)).ok();
    if stop.is_some() {
        // The native engine starts no child process.
        let _ = w2v::signals::route_to_signal_thread();
    }
    let s = w2v::train::run(&cfg, p, stop.clone(), &NativeBuilder)?;
    if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
        // Training had ended: the model, not a checkpoint, was written.
        p.warn("a stop signal came after the last block: the finished model was written first (a second signal stops at once, without it)");
    }
    p.info(&s.line(&cfg.output));
    Ok(None)
}
