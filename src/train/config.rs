//! The training stage's settings, typed and resolved once.
//!
//! The CLI resolves every flag into a [`TrainConfig`] before anything runs:
//! `--engine auto` becomes a concrete [`EngineConfig`], `--threads 0` the
//! core count, `--device cuda` a [`Device::Cuda`], and an absent
//! `--batch-size` the measured default for that device and step. Nothing
//! downstream interprets a string or re-validates a flag.
//!
//! The same value is saved in every checkpoint: [`TrainConfig::resume_conflicts`]
//! names each setting that a resumed run changed and that changes its result.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The native engine's update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NativeUpdate {
    /// word2vec.c's: one pair at a time, K negatives per pair.
    Pair,
    /// pWord2Vec's: one centre's pairs at once, K negatives per window.
    Window,
}

/// Where the torch engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Device {
    /// libtorch on the CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| {
                    Error::InvalidConfig(format!("unknown device '{s}' (cpu, cuda, cuda:N)"))
                }),
        }
    }
}

impl TryFrom<String> for Device {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

/// The torch engine's step on CUDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CudaStep {
    /// One fused kernel, atomic row updates.
    Fused,
    /// The same kernel with plain stores (Hogwild).
    Hogwild,
    /// libtorch operations (`index_add_`), as on the CPU.
    Ops,
}

/// Settings of the native CPU engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativeConfig {
    /// The update. By default, window.
    pub update: NativeUpdate,
    /// Worker threads, resolved (≥ 1; 1 when deterministic). By default, the core count.
    pub threads: usize,
    /// Results depend only on the seed (one thread, pairs in order). By default, false.
    pub deterministic: bool,
    /// Prefetch upcoming rows (off only to measure what it buys; it does
    /// not change the result). By default, true.
    pub prefetch: bool,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            update: NativeUpdate::Window,
            threads: available_threads(),
            deterministic: false,
            prefetch: true,
        }
    }
}

/// Settings of the libtorch engine (the `w2v-torch` binary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorchConfig {
    /// Where it runs. By default, cuda:0.
    pub device: Device,
    /// The step on CUDA (the CPU always runs ops). By default, fused.
    pub step: CudaStep,
    /// Pairs per block, resolved. By default, [`default_batch`].
    pub batch: usize,
    /// Ops step: a row met n times in one batch gets min(1, row_cap / n) of
    /// its summed gradient; 0 sums them all. By default, [`ROW_CAP`].
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub row_cap: f32,
    /// libtorch CPU threads (the CPU device only). By default, the core count.
    pub threads: usize,
}

impl TorchConfig {
    /// The defaults for `device`.
    pub fn on(device: Device) -> Self {
        TorchConfig {
            device,
            step: CudaStep::Fused,
            batch: default_batch(device, CudaStep::Fused),
            row_cap: ROW_CAP,
            threads: available_threads(),
        }
    }

    /// The step this config runs: the CPU always runs ops.
    pub fn effective_step(&self) -> CudaStep {
        match self.device {
            Device::Cpu => CudaStep::Ops,
            Device::Cuda(_) => self.step,
        }
    }
}

/// Which engine trains, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EngineConfig {
    /// The multi-threaded Rust engine.
    Native(NativeConfig),
    /// libtorch, CPU or CUDA.
    Torch(TorchConfig),
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::Native(NativeConfig::default())
    }
}

impl EngineConfig {
    /// Pairs per block the driver hands the engine.
    pub fn block_size(&self) -> usize {
        match self {
            EngineConfig::Native(_) => super::native::BLOCK,
            EngineConfig::Torch(t) => t.batch,
        }
    }

    /// "native" or "torch".
    pub fn name(&self) -> &'static str {
        match self {
            EngineConfig::Native(_) => "native",
            EngineConfig::Torch(_) => "torch",
        }
    }
}

/// The core count (1 if unknown).
pub fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
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

/// The largest (negatives + 1) × dim whose rows one warp of the fused
/// kernel holds in registers; larger shapes run the ops step.
pub const FUSED_MAX_ROW_FLOATS: usize = 4096;

/// Whether the fused CUDA kernel can run this shape.
pub fn fused_supports(dim: usize, negative: usize) -> bool {
    (negative + 1) * dim <= FUSED_MAX_ROW_FLOATS
}

/// Default pairs per torch block. The ops step applies a batch's summed
/// gradients at once; with the row cap it keeps gensim's quality at 4,096
/// and 16,384 pairs (three seeds each), loses it at 65,536 and diverges at
/// 262,144 (BENCHMARKS.md), so ops batches stay small. On CUDA 16,384 runs
/// 2.6× faster than 4,096; on the CPU it was no faster. The fused kernel
/// applies each pair's update at once (Hogwild with atomics): its batch is
/// only a launch size.
pub fn default_batch(device: Device, step: CudaStep) -> usize {
    match (device, step) {
        (Device::Cpu, _) => 4096,
        (Device::Cuda(_), CudaStep::Ops) => 16_384,
        (Device::Cuda(_), _) => 1 << 20,
    }
}

/// Settings of training from the token stream (`--corpus`, [`super::stream`]):
/// the pairs are drawn as they train, with the rules of `w2v pairs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// The token-id corpus `w2v vocab` wrote. By default, `vocab/corpus.ids`.
    pub corpus: PathBuf,
    /// Maximum window radius. By default, 5.
    pub window: usize,
    /// Draw the radius uniformly in 1..=window per token. By default, true.
    pub dynamic_window: bool,
    /// Subsampling threshold `t` (0 = keep every token). By default, 1e-3.
    pub sample: f64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            corpus: PathBuf::from("vocab/corpus.ids"),
            window: 5,
            dynamic_window: true,
            sample: 1e-3,
        }
    }
}

/// Settings of the training stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Shards directory (unused when `stream` is set). By default, `shards`.
    pub shards_dir: PathBuf,
    /// Train from the token stream instead of shards. By default, none.
    pub stream: Option<StreamConfig>,
    /// Vocabulary directory. By default, the one recorded in the shards manifest.
    pub vocab_dir: Option<PathBuf>,
    /// Output directory. By default, `model`.
    pub output: PathBuf,
    /// The engine and its settings. By default, native with all cores.
    pub engine: EngineConfig,
    /// Vector size. By default, 128.
    pub dim: usize,
    /// Negatives per pair. By default, 5.
    pub negative: usize,
    /// Starting learning rate. By default, 0.025.
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub lr: f32,
    /// Final learning rate as a fraction of `lr`. By default, 1e-4.
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub min_lr_frac: f32,
    /// Epochs; epoch e reads draw e % n_draws. By default, 5.
    pub epochs: u32,
    /// Checkpoint every this many pairs (0 = only by time and at epoch ends). By default, 0.
    pub checkpoint_every_pairs: u64,
    /// Checkpoint every this many seconds (0 = off). By default, 600.
    pub checkpoint_every_secs: u64,
    /// Continue from the last checkpoint in `output`. By default, false.
    pub resume: bool,
    /// Without `resume`, discard a checkpoint found in `output` instead of
    /// refusing to start. By default, false.
    pub force: bool,
    /// Also save the output (context) table. By default, false.
    pub save_output: bool,
    /// Stop (as Ctrl-C would) once this many pairs are done; for tests. By default, none.
    pub stop_after_pairs: Option<u64>,
    /// Master seed. By default, 1.
    pub seed: u64,
    /// Word-pair files scored at each epoch end into `train.jsonl`
    /// ([`super::log`]). By default, none.
    pub eval_pairs: Vec<PathBuf>,
    /// Character n-grams (`--subwords 3-6 --buckets N`): each word's input
    /// vector is the mean of its own row and its n-grams' rows (see
    /// [`crate::subword`]). By default, none (word-level).
    pub subwords: Option<crate::subword::SubwordConfig>,
    /// Negatives are drawn from counts^this, the table rebuilt from the
    /// vocabulary's counts. By default, none: the table `w2v vocab` wrote
    /// (its `--ns-exponent`, 0.75 unless set there).
    pub ns_exponent: Option<f64>,
    /// A subword model's saved word vectors weigh the word's own row this
    /// many times one n-gram row (1 = fastText's plain mean). Applied when
    /// the model is written; training is fastText's either way. By default, 1.
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub own_weight: f32,
    /// Each saved word vector adds the word's output (context) vector, scaled
    /// to the input vector's length, times this (0 = the input vector alone;
    /// Levy, Goldberg & Dagan 2015's w + c). Applied when the model is
    /// written. By default, 0.
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub output_weight: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            shards_dir: PathBuf::from("shards"),
            stream: None,
            vocab_dir: None,
            output: PathBuf::from("model"),
            engine: EngineConfig::default(),
            dim: 128,
            negative: 5,
            lr: 0.025,
            min_lr_frac: 1e-4,
            epochs: 5,
            checkpoint_every_pairs: 0,
            checkpoint_every_secs: 600,
            resume: false,
            force: false,
            save_output: false,
            stop_after_pairs: None,
            seed: 1,
            eval_pairs: Vec::new(),
            subwords: None,
            ns_exponent: None,
            own_weight: 1.0,
            output_weight: 0.0,
        }
    }
}

/// Settings that may change between a checkpoint and its resumption: they
/// change when or where things are written, never the weights.
const HARMLESS_ON_RESUME: &[&str] = &[
    "shards_dir",
    "stream.corpus",
    "vocab_dir",
    "output",
    "checkpoint_every_pairs",
    "checkpoint_every_secs",
    "resume",
    "force",
    "save_output",
    // Applied as the model is written; training is the same.
    "own_weight",
    "output_weight",
    "stop_after_pairs",
    "eval_pairs",
    "engine.prefetch",
];

/// The flag that sets a config field, for messages.
fn flag_of(path: &str) -> String {
    let name = match path {
        "engine.kind" => "engine",
        "engine.update" => "native-update",
        "engine.step" => "cuda-kernel",
        "engine.batch" => "batch-size",
        "engine.threads" => "threads",
        "engine.device" => "device",
        "engine.row_cap" => "row-cap",
        "engine.deterministic" => "deterministic",
        "subwords" | "subwords.minn" | "subwords.maxn" => "subwords",
        "subwords.buckets" => "buckets",
        "stream" => "corpus",
        p => p.rsplit('.').next().unwrap_or(p),
    };
    format!("--{}", name.replace('_', "-"))
}

/// Leaves of a JSON value as (dotted path, value).
fn leaves(v: &serde_json::Value, prefix: &str, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        x => out.push((prefix.to_string(), x.clone())),
    }
}

/// Leaves as the flags show them: a setting left out (null) is absent, so
/// it reads "not given"; `--subwords`' two ends are one value, `MIN-MAX`.
fn as_flags(mut v: Vec<(String, serde_json::Value)>) -> Vec<(String, serde_json::Value)> {
    v.retain(|(_, x)| !x.is_null());
    let end = |v: &[(String, serde_json::Value)], k: &str| {
        v.iter().find(|(p, _)| p == k).map(|(_, x)| x.to_string())
    };
    if let (Some(lo), Some(hi)) = (end(&v, "subwords.minn"), end(&v, "subwords.maxn")) {
        v.retain(|(p, _)| p != "subwords.minn" && p != "subwords.maxn");
        v.push((
            "subwords".into(),
            serde_json::Value::String(format!("{lo}-{hi}")),
        ));
    }
    v
}

/// The negative-sampling power of a subword model when `--ns-exponent` is
/// not given: fastText's 0.5. Over three seeds on ru_lit it beat 0.75 on
/// simlex's test half beyond the seed spread (+0.010) and tied on hj's
/// (BENCHMARKS.md, session 11).
pub const SUBWORD_NS_EXPONENT: f64 = 0.5;

/// `--lr` with `--subwords` when not given: fastText's 0.05. On the
/// similarity sets' test halves over three seeds, 0.025 (the word-level
/// default) lost hj by 0.05 and tied simlex; the dev sweep's 0.075 lost
/// both (BENCHMARKS.md, session 15).
pub const SUBWORD_LR: f32 = 0.05;

/// `--own-weight` with `--subwords` when not given: a word's saved vector
/// weighs its own row 4 times one n-gram row. Chosen with
/// [`SUBWORD_OUTPUT_WEIGHT`] on the similarity sets' dev halves over three
/// seeds (of 1, 2, 4, 8 × 0, 0.1, 0.25, 0.4, the pair that raised both sets
/// most: +0.015 simlex, +0.013 hj); on the test halves it gained +0.022 on
/// simlex, beyond the seed spread, and tied hj (−0.003) (BENCHMARKS.md,
/// session 15). fastText's plain mean is 1.
pub const SUBWORD_OWN_WEIGHT: f32 = 4.0;

/// Why `--own-weight` is refused without `--subwords` (by the CLI even at
/// 1, which changes nothing; by [`TrainConfig::validate`] otherwise).
pub const OWN_WEIGHT_NEEDS_SUBWORDS: &str =
    "--own-weight weighs a word's own row against its n-grams; it needs --subwords";

/// `--output-weight` with `--subwords` when not given (see
/// [`SUBWORD_OWN_WEIGHT`]); word-level models keep 0.
pub const SUBWORD_OUTPUT_WEIGHT: f32 = 0.1;

/// Most epochs of one run: the plan holds an entry per chunk (or shard) of
/// each epoch (Taiga: about 5,000 chunks).
pub const MAX_EPOCHS: u32 = 1000;

impl TrainConfig {
    /// Whether the engine draws the stream's pairs itself (the fused CUDA
    /// step's stream kernel), so the host never draws them.
    pub fn draws_on_device(&self) -> bool {
        matches!(&self.engine, EngineConfig::Torch(t) if t.effective_step() != CudaStep::Ops)
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidConfig(m.into()));
        if self.dim == 0 || self.dim > 4096 {
            return bad("--dim must be within 1..=4096");
        }
        if self.negative == 0 || self.negative > 100 {
            return bad("--negative must be within 1..=100");
        }
        if !(self.lr > 0.0 && self.lr < 10.0) {
            return bad("--lr must be within (0, 10)");
        }
        if !(self.min_lr_frac >= 0.0 && self.min_lr_frac <= 1.0) {
            return bad("the final learning-rate fraction must be within [0, 1]");
        }
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            return bad(&format!("--epochs must be within 1..={MAX_EPOCHS}"));
        }
        if self.ns_exponent.is_some_and(|x| !(0.0..=2.0).contains(&x)) {
            return bad("--ns-exponent must be within 0..=2");
        }
        if !(self.own_weight > 0.0 && self.own_weight <= 100.0) {
            return bad("--own-weight must be within (0, 100]");
        }
        if self.own_weight != 1.0 && self.subwords.is_none() {
            return bad(OWN_WEIGHT_NEEDS_SUBWORDS);
        }
        if !(0.0..=10.0).contains(&self.output_weight) {
            return bad("--output-weight must be within 0..=10");
        }
        if let Some(sw) = &self.subwords {
            sw.validate()?;
            match &self.engine {
                EngineConfig::Native(n) if n.update == NativeUpdate::Window => {}
                EngineConfig::Native(_) => {
                    return bad("--subwords runs the window update; drop --native-update pair")
                }
                EngineConfig::Torch(_) => {
                    return bad("--subwords runs on the native engine only (--engine native)")
                }
            }
        }
        if let Some(s) = &self.stream {
            if s.window == 0 || s.window > 64 {
                return bad("--window must be within 1..=64");
            }
            if !(0.0..1.0).contains(&s.sample) {
                return bad("--sample must be within 0..1");
            }
        }
        match &self.engine {
            EngineConfig::Native(n) => {
                if n.threads == 0 {
                    return bad("--threads must be resolved to at least 1");
                }
                if n.deterministic && n.threads != 1 {
                    return bad("--deterministic runs the native engine on one thread");
                }
            }
            EngineConfig::Torch(t) => {
                if t.batch == 0 {
                    return bad("--batch-size must be at least 1");
                }
                if t.threads == 0 {
                    return bad("--threads must be resolved to at least 1");
                }
                if !(t.row_cap >= 0.0 && t.row_cap.is_finite()) {
                    return bad("--row-cap must be 0 (off) or positive");
                }
            }
        }
        Ok(())
    }

    /// The settings that differ from `saved` (a checkpoint's) and change the
    /// result, each as "--flag was X, now Y". Empty when resuming is safe.
    pub fn resume_conflicts(&self, saved: &TrainConfig) -> Vec<String> {
        let (mut now, mut then) = (Vec::new(), Vec::new());
        leaves(
            &serde_json::to_value(self).unwrap_or_default(),
            "",
            &mut now,
        );
        leaves(
            &serde_json::to_value(saved).unwrap_or_default(),
            "",
            &mut then,
        );
        let (now, then) = (as_flags(now), as_flags(then));
        // As typed: strings unquoted, f32 settings without their f64 widening.
        let show = |x: &serde_json::Value| match x {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) if !n.is_u64() && !n.is_i64() => {
                format!("{}", n.as_f64().unwrap_or(f64::NAN) as f32)
            }
            x => x.to_string(),
        };
        let get = |v: &[(String, serde_json::Value)], k: &str| {
            v.iter()
                .find(|(p, _)| p == k)
                .map(|(_, x)| show(x))
                .unwrap_or_else(|| "not given".into())
        };
        if get(&now, "engine.kind") != get(&then, "engine.kind") {
            return vec![format!(
                "--engine was {}, now {}",
                saved.engine.name(),
                self.engine.name()
            )];
        }
        let mut keys: Vec<&str> = now.iter().chain(&then).map(|(p, _)| p.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        // With --subwords given on one side only, a setting each side took
        // from its own kind's default (--lr 0.05 against 0.025, the
        // negative power 0.5 against the vocabulary's table) is not a
        // second conflict: giving --subwords as before settles it too.
        let kind_default = |c: &TrainConfig, k: &str| {
            let word = TrainConfig::default();
            let sub = c.subwords.is_some();
            match k {
                "lr" => c.lr == if sub { SUBWORD_LR } else { word.lr },
                "ns_exponent" => {
                    c.ns_exponent == if sub { Some(SUBWORD_NS_EXPONENT) } else { None }
                }
                _ => false,
            }
        };
        let derived = |k: &str| {
            self.subwords.is_some() != saved.subwords.is_some()
                && kind_default(self, k)
                && kind_default(saved, k)
        };
        keys.into_iter()
            .filter(|k| !HARMLESS_ON_RESUME.contains(k))
            .filter(|k| !derived(k))
            .filter_map(|k| {
                let (a, b) = (get(&then, k), get(&now, k));
                // A switch the flags turn off reads as the flag given or not.
                let given = |x: &str| if x == "false" { "given" } else { "not given" };
                (a != b).then(|| match k {
                    k if k.rsplit('.').next() == Some("dynamic_window") => {
                        format!("--no-dynamic-window was {}, now {}", given(&a), given(&b))
                    }
                    _ => format!("{} was {a}, now {b}", flag_of(k)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_parses_and_round_trips() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert!("gpu".parse::<Device>().is_err());
        let j = serde_json::to_string(&Device::Cuda(2)).unwrap();
        assert_eq!(j, "\"cuda:2\"");
        assert_eq!(serde_json::from_str::<Device>(&j).unwrap(), Device::Cuda(2));
    }

    #[test]
    fn resume_names_each_setting_that_changes_the_result() {
        let native = |threads| TrainConfig {
            engine: EngineConfig::Native(NativeConfig {
                threads,
                ..Default::default()
            }),
            ..Default::default()
        };
        let saved = native(2);
        // Harmless: checkpoint interval, output flag, prefetch.
        let mut ok = native(2);
        ok.checkpoint_every_secs = 5;
        ok.resume = true;
        ok.save_output = true;
        if let EngineConfig::Native(n) = &mut ok.engine {
            n.prefetch = false;
        }
        assert!(ok.resume_conflicts(&saved).is_empty());
        // Each of these alters the result.
        let c = native(4).resume_conflicts(&saved);
        assert_eq!(c, ["--threads was 2, now 4"]);
        let mut e = native(2);
        e.epochs = 7;
        e.lr = 0.05;
        let c = e.resume_conflicts(&saved);
        assert!(c.contains(&"--epochs was 5, now 7".to_string()), "{c:?}");
        assert!(c.contains(&"--lr was 0.025, now 0.05".to_string()), "{c:?}");
        // A switch that a --no- flag turns off is named by that flag.
        let mut streamed = native(2);
        streamed.stream = Some(StreamConfig::default());
        let mut fixed = streamed.clone();
        fixed.stream = Some(StreamConfig {
            dynamic_window: false,
            ..StreamConfig::default()
        });
        assert_eq!(
            fixed.resume_conflicts(&streamed),
            ["--no-dynamic-window was not given, now given"]
        );
        let torch = TrainConfig {
            engine: EngineConfig::Torch(TorchConfig::on(Device::Cpu)),
            ..Default::default()
        };
        assert_eq!(
            torch.resume_conflicts(&saved),
            ["--engine was native, now torch"]
        );
        let mut t2 = torch.clone();
        if let EngineConfig::Torch(t) = &mut t2.engine {
            t.batch = 8192;
        }
        assert_eq!(
            t2.resume_conflicts(&torch),
            ["--batch-size was 4096, now 8192"]
        );
        // A setting left out reads "not given", not JSON's null, and --subwords
        // is one value (its two ends were two garbled conflicts). The
        // settings --subwords chooses when not given (lr, the negative
        // power) are not listed beside it when each side took its own
        // kind's default; one given apart from those still is.
        let mut sub = native(2);
        sub.subwords = Some(crate::subword::SubwordConfig::default());
        sub.ns_exponent = Some(SUBWORD_NS_EXPONENT);
        sub.lr = SUBWORD_LR;
        assert_eq!(
            native(2).resume_conflicts(&sub),
            [
                "--subwords was 4-6, now not given",
                "--buckets was 2000000, now not given"
            ]
        );
        let mut typed = native(2);
        typed.lr = 0.04;
        typed.ns_exponent = Some(0.75);
        let c = typed.resume_conflicts(&sub);
        assert!(c.contains(&"--lr was 0.05, now 0.04".to_string()), "{c:?}");
        assert!(
            c.contains(&"--ns-exponent was 0.5, now 0.75".to_string()),
            "{c:?}"
        );
        assert_eq!(c.len(), 4, "{c:?}");
        let mut unset = native(2);
        unset.ns_exponent = Some(SUBWORD_NS_EXPONENT);
        let mut word = native(2);
        word.ns_exponent = Some(0.75);
        assert_eq!(
            unset.resume_conflicts(&word),
            ["--ns-exponent was 0.75, now 0.5"]
        );
        // The saved vectors' weights apply as the model is written: a
        // resumed run may change them.
        let mut weights = sub.clone();
        weights.own_weight = 2.0;
        weights.output_weight = 0.3;
        assert_eq!(weights.resume_conflicts(&sub), Vec::<String>::new());
    }

    #[test]
    fn validate_refuses_unresolved_or_out_of_range_settings() {
        let mut c = TrainConfig::default();
        assert!(c.validate().is_ok());
        c.engine = EngineConfig::Native(NativeConfig {
            threads: 0,
            ..Default::default()
        });
        assert!(c.validate().is_err());
        c.engine = EngineConfig::Native(NativeConfig {
            threads: 2,
            deterministic: true,
            ..Default::default()
        });
        assert!(c.validate().is_err());
        let mut t = TorchConfig::on(Device::Cuda(0));
        t.row_cap = f32::NAN;
        c.engine = EngineConfig::Torch(t);
        assert!(c.validate().is_err());
    }
}
