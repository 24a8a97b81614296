//! Command-line definitions (clap derive). Defaults and validation live in
//! the library configs; here we only map flags onto them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use w2v::corpus::{Format, ReadConfig};
use w2v::normalize::{HyphenMode, NormalizeConfig, NumberMode, YoMode};
use w2v::pairs::PairsConfig;
use w2v::prep::PrepConfig;
use w2v::synth::SynthConfig;
use w2v::train::{EngineKind, TrainConfig};
use w2v::vocab::VocabConfig;

#[derive(Parser)]
#[command(
    name = "w2v",
    version,
    about = "word2vec (skip-gram, negative sampling) for Russian text"
)]
pub struct Cli {
    /// How to report progress on stderr.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Json,
    Plain,
    Silent,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Write a synthetic Russian-like corpus with planted word groups.
    Synth(SynthArgs),
    /// Normalize raw text (txt, gz, zst, jsonl, parquet, tar.gz, zip, conllu) into data/corpus.txt.
    Prep(PrepArgs),
    /// Build only the vocabulary (and unigram table) and show the top words.
    Vocab(VocabArgs),
    /// Build the vocabulary, the unigram table and the (target, context) shards.
    Pairs(PairsArgs),
    /// Train embeddings on the shards.
    Train(TrainArgs),
    /// Nearest neighbours by cosine (`-` reads one query per line from stdin).
    Neighbors(NeighborsArgs),
    /// Cosine similarity of two words.
    Similarity(SimilarityArgs),
    /// A is to B as C is to ?
    Analogy(AnalogyArgs),
    /// Word-pair similarity and analogy benchmarks.
    Eval(EvalArgs),
    /// Write the vectors as word2vec bin/text, .npy or a vocab TSV.
    Export(ExportArgs),
    /// Read word2vec bin/text vectors into a model directory.
    Import(ImportArgs),
    /// Show versions, libtorch location and whether CUDA is usable.
    Doctor(DoctorArgs),
}

#[derive(Args)]
pub struct SynthArgs {
    /// Output text file (the groups go to FILE.groups.json).
    #[arg(long, default_value = "data/sample.txt")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate size in bytes.
    #[arg(long, default_value_t = 4_000_000)]
    pub bytes: u64,
    #[arg(long, default_value_t = 40)]
    pub groups: usize,
    #[arg(long, default_value_t = 8)]
    pub group_size: usize,
}

impl From<SynthArgs> for SynthConfig {
    fn from(a: SynthArgs) -> Self {
        SynthConfig {
            out: a.out,
            seed: a.seed,
            bytes: a.bytes,
            n_groups: a.groups,
            group_size: a.group_size,
            ..Default::default()
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum YoArg {
    Fold,
    Keep,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum NumArg {
    Drop,
    Token,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum HyphenArg {
    Keep,
    Split,
}

/// Normalization flags shared by prep and the query commands.
#[derive(Args, Clone)]
pub struct NormArgs {
    /// ё handling.
    #[arg(long, value_enum, default_value = "fold")]
    pub yo: YoArg,
    /// Digits: drop them, or emit <num>.
    #[arg(long, value_enum, default_value = "drop")]
    pub numbers: NumArg,
    /// Intra-word hyphens (кто-то).
    #[arg(long, value_enum, default_value = "keep")]
    pub hyphens: HyphenArg,
    /// Do not repair Latin look-alike letters inside Cyrillic words.
    #[arg(long)]
    pub no_homoglyph_repair: bool,
    /// Drop tokens longer than this many characters.
    #[arg(long, default_value_t = 40)]
    pub max_token_chars: usize,
}

impl From<NormArgs> for NormalizeConfig {
    fn from(a: NormArgs) -> Self {
        NormalizeConfig {
            yo: match a.yo {
                YoArg::Fold => YoMode::Fold,
                YoArg::Keep => YoMode::Keep,
            },
            numbers: match a.numbers {
                NumArg::Drop => NumberMode::Drop,
                NumArg::Token => NumberMode::Token,
            },
            hyphens: match a.hyphens {
                HyphenArg::Keep => HyphenMode::Keep,
                HyphenArg::Split => HyphenMode::Split,
            },
            repair_homoglyphs: !a.no_homoglyph_repair,
            max_token_chars: a.max_token_chars,
        }
    }
}

#[derive(Args)]
pub struct PrepArgs {
    /// Files, directories (walked recursively) or `-` for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(short, long, default_value = "data/corpus.txt")]
    pub output: PathBuf,
    /// Force a format: text, jsonl, parquet, tar, zip, conllu.
    #[arg(long)]
    pub format: Option<Format>,
    /// JSONL field with the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Parquet column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Drop documents whose letters are less Cyrillic than this (e.g. 0.5 for Taiga Subtitles).
    #[arg(long, default_value_t = 0.0)]
    pub min_cyrillic_share: f32,
    /// Skip archive entries whose path matches this regex.
    #[arg(long)]
    pub skip_pattern: Option<String>,
    /// Drop output lines with fewer tokens.
    #[arg(long, default_value_t = 1)]
    pub min_tokens: usize,
    #[command(flatten)]
    pub norm: NormArgs,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl From<PrepArgs> for PrepConfig {
    fn from(a: PrepArgs) -> Self {
        PrepConfig {
            inputs: a.inputs,
            output: a.output,
            read: ReadConfig {
                format: a.format,
                text_field: a.text_field,
                text_column: a.text_column,
                min_cyrillic_share: a.min_cyrillic_share,
                skip_pattern: a.skip_pattern,
                ..Default::default()
            },
            normalize: a.norm.into(),
            min_tokens: a.min_tokens,
            threads: a.threads,
            seed: a.seed,
        }
    }
}

#[derive(Args, Clone)]
pub struct VocabArgs {
    #[arg(long, default_value = "data/corpus.txt")]
    pub corpus: PathBuf,
    #[arg(long, default_value = "vocab")]
    pub vocab_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub min_count: u64,
    /// Keep at most N most frequent words (0 = all).
    #[arg(long, default_value_t = 0)]
    pub max_vocab: usize,
    /// Negative-sampling exponent.
    #[arg(long, default_value_t = 0.75)]
    pub ns_exponent: f64,
    /// Prune rare words when the count table passes this many types.
    #[arg(long, default_value_t = 30_000_000)]
    pub max_table_types: usize,
    /// Show this many top words.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl From<VocabArgs> for VocabConfig {
    fn from(a: VocabArgs) -> Self {
        VocabConfig {
            corpus: a.corpus,
            vocab_dir: a.vocab_dir,
            min_count: a.min_count,
            max_vocab: a.max_vocab,
            max_table_types: a.max_table_types,
            ns_exponent: a.ns_exponent,
            threads: a.threads,
            seed: a.seed,
        }
    }
}

#[derive(Args)]
pub struct PairsArgs {
    #[command(flatten)]
    pub vocab: VocabArgs,
    #[arg(long, default_value = "shards")]
    pub shards_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    /// Use the full window for every token instead of a radius uniform in 1..=window.
    #[arg(long)]
    pub no_dynamic_window: bool,
    /// Subsampling threshold (0 keeps every token).
    #[arg(long, default_value_t = 1e-3)]
    pub sample: f64,
    /// Independent draws to write, one per training epoch.
    #[arg(long, default_value_t = 5)]
    pub epochs: u32,
    #[arg(long, default_value_t = 50_000_000)]
    pub shard_size: u64,
    /// Shuffle the rows within each shard (seeded).
    #[arg(long)]
    pub shuffle: bool,
    /// Replace existing shards.
    #[arg(long)]
    pub force: bool,
}

impl From<PairsArgs> for PairsConfig {
    fn from(a: PairsArgs) -> Self {
        let (threads, seed) = (a.vocab.threads, a.vocab.seed);
        PairsConfig {
            vocab: a.vocab.into(),
            shards_dir: a.shards_dir,
            window: a.window,
            dynamic_window: !a.no_dynamic_window,
            sample: a.sample,
            epochs: a.epochs,
            shard_size: a.shard_size,
            shuffle: a.shuffle,
            force: a.force,
            threads,
            seed,
        }
    }
}

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

#[derive(Args)]
pub struct ModelArg {
    /// Model directory.
    #[arg(long, default_value = "model")]
    pub model: PathBuf,
}

#[derive(Args)]
pub struct NeighborsArgs {
    /// Query words; `-` reads one query per line from stdin.
    pub words: Vec<String>,
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// gensim most_similar: words to add.
    #[arg(long, num_args = 1..)]
    pub positive: Vec<String>,
    /// gensim most_similar: words to subtract.
    #[arg(long, num_args = 1..)]
    pub negative: Vec<String>,
    /// Search only the N most frequent words.
    #[arg(long)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args)]
pub struct SimilarityArgs {
    pub a: String,
    pub b: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AnalogyMethod {
    #[value(name = "3cosadd")]
    CosAdd,
    #[value(name = "3cosmul")]
    CosMul,
}

#[derive(Args)]
pub struct AnalogyArgs {
    pub a: String,
    pub b: String,
    pub c: String,
    #[arg(short, default_value_t = 5)]
    pub k: usize,
    #[arg(long, value_enum, default_value = "3cosadd")]
    pub method: AnalogyMethod,
    #[arg(long)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Word-pair files (TSV/CSV, score in column 3).
    #[arg(long, num_args = 1..)]
    pub pairs: Vec<PathBuf>,
    /// Analogy files (questions-words format).
    #[arg(long, num_args = 1..)]
    pub analogies: Vec<PathBuf>,
    /// Analogies: search only the N most frequent words.
    #[arg(long)]
    pub restrict: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: w2v::export::ExportFormat,
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args)]
pub struct ImportArgs {
    /// word2vec .bin or .txt file.
    pub input: PathBuf,
    /// Model directory to write.
    #[arg(short, long, default_value = "model")]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
}
