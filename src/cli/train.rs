//! `w2v train`: embeddings from the shards. Without libtorch linked (plain
//! `w2v`), `--engine torch` (and `auto` with a GPU) runs this same command
//! line under `w2v-torch`, found next to this executable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use w2v::progress::Progress;
use w2v::train::{EngineKind, TorchHooks, TrainConfig};
use w2v::Error;

use super::Fail;

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

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long, default_value = "shards")]
    pub shards: PathBuf,
    /// Vocabulary directory (default: the one the shards were built with).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    #[arg(short, long, default_value = "model")]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineArg,
    /// auto, cpu, cuda or cuda:N (torch engine).
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    #[arg(long, default_value_t = 5)]
    pub negative: usize,
    #[arg(long, default_value_t = 0.025)]
    pub lr: f32,
    #[arg(long, default_value_t = 5)]
    pub epochs: u32,
    /// Pairs per torch batch (default 4096 on CPU; on CUDA 1048576 fused, 16384 ops).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The CUDA step: fused (one kernel, atomic updates), hogwild (plain stores) or ops (libtorch ops).
    #[arg(long, default_value = "fused", value_parser = ["fused", "hogwild", "ops"])]
    pub cuda_kernel: String,
    /// Torch ops path (CPU, or --cuda-kernel ops): a row met n times in one batch gets min(1, CAP/n) of its summed gradient (0 = plain sum).
    #[arg(long, default_value_t = w2v::train::ROW_CAP)]
    pub row_cap: f32,
    /// Native engine: window (a centre's pairs at once, shared negatives; pWord2Vec) or pair (word2vec.c's).
    #[arg(long, value_enum, default_value = "window")]
    pub native_update: UpdateArg,
    /// Native engine: no prefetching of upcoming rows (to measure what it buys).
    #[arg(long, hide = true)]
    pub no_prefetch: bool,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Results depend only on the seed (native engine runs one thread).
    #[arg(long)]
    pub deterministic: bool,
    /// Checkpoint every N pairs (0 = by time only, and at an epoch end a minute or more after the last).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: u64,
    /// Checkpoint every N seconds (0 = off).
    #[arg(long, default_value_t = 600)]
    pub checkpoint_every_secs: u64,
    /// Continue from the last checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Also save the output (context) embeddings.
    #[arg(long)]
    pub save_output: bool,
    /// Stop with a checkpoint after N pairs, as Ctrl-C would (for tests).
    #[arg(long, hide = true)]
    pub stop_after_pairs: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl From<TrainArgs> for TrainConfig {
    fn from(a: TrainArgs) -> Self {
        TrainConfig {
            shards_dir: a.shards,
            vocab_dir: a.vocab,
            output: a.output,
            engine: match a.engine {
                EngineArg::Auto => EngineKind::Auto,
                EngineArg::Native => EngineKind::Native,
                EngineArg::Torch => EngineKind::Torch,
            },
            device: a.device,
            dim: a.dim,
            negative: a.negative,
            lr: a.lr,
            min_lr_frac: 1e-4,
            epochs: a.epochs,
            batch_size: a.batch_size,
            cuda_kernel: a.cuda_kernel,
            row_cap: a.row_cap,
            native_update: match a.native_update {
                UpdateArg::Window => w2v::train::NativeUpdate::Window,
                UpdateArg::Pair => w2v::train::NativeUpdate::Pair,
            },
            prefetch: !a.no_prefetch,
            threads: a.threads,
            deterministic: a.deterministic,
            checkpoint_every_pairs: a.checkpoint_every,
            checkpoint_every_secs: a.checkpoint_every_secs,
            resume: a.resume,
            save_output: a.save_output,
            stop_after_pairs: a.stop_after_pairs,
            seed: a.seed,
        }
    }
}

/// The helper binary next to this executable.
pub fn torch_helper() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let h = exe.with_file_name("w2v-torch");
    h.exists().then_some(h)
}

/// Runs this same command line under `w2v-torch`; returns its exit code.
pub fn delegate_to_torch() -> std::result::Result<ExitCode, Fail> {
    let Some(helper) = torch_helper() else {
        return Err(Error::InvalidConfig(
            "the torch engine lives in the w2v-torch binary, which is not next to this w2v; build it with `make build` (default features), or use --engine native".into(),
        )
        .into());
    };
    // Ctrl-C reaches both processes; the helper checkpoints, we just wait.
    let _ = ctrlc::set_handler(|| {});
    let status = std::process::Command::new(&helper)
        .args(std::env::args_os().skip(1))
        .status()
        .map_err(|e| Error::Io {
            path: helper.clone(),
            action: "run",
            source: e,
        })?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// Whether this `w2v` should hand training to `w2v-torch`.
pub fn wants_torch(a: &TrainArgs) -> bool {
    match a.engine {
        EngineArg::Torch => true,
        EngineArg::Native => false,
        EngineArg::Auto => {
            a.device != "cpu"
                && std::path::Path::new("/dev/nvidiactl").exists()
                && torch_helper().is_some()
        }
    }
}

pub fn run(
    a: TrainArgs,
    p: &Progress,
    torch: Option<&TorchHooks>,
) -> std::result::Result<(), Fail> {
    let cfg: TrainConfig = a.into();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let _ = ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed));
    let s = w2v::train::run(&cfg, p, Some(stop), torch)?;
    p.info(&format!(
        "train: {} on {} pairs in {:.1}s ({:.2}M pairs/s), final loss {:.4}; wrote {}",
        s.engine,
        s.total_pairs,
        s.seconds,
        s.pairs_per_s / 1e6,
        s.final_loss,
        cfg.output.display()
    ));
    Ok(())
}
