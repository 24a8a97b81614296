//! The command line shared by the two binaries: `w2v` (no libtorch linked,
//! so every command starts instantly) and `w2v-torch` (the torch engine).
//! `w2v` hands `train --engine torch` (and `auto` when a GPU is present) to
//! `w2v-torch`, found next to its own executable.
//!
//! This module holds the top-level parser, the output helpers, error
//! reporting and dispatch; each subcommand has its own module with its clap
//! args, their mapping onto the library config, and its `run`. Defaults and
//! validation live in the library configs; the CLI only maps flags onto them.

mod analogy;
mod common;
mod doctor;
mod eval;
mod export;
mod import;
mod neighbors;
mod pairs;
mod prep;
mod similarity;
mod synth;
mod train;
mod vocab;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use w2v::progress::{Mode, Progress};
use w2v::train::TorchHooks;
use w2v::Error;

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
    Synth(synth::SynthArgs),
    /// Normalize raw text (txt, gz, zst, jsonl, parquet, tar.gz, zip, conllu) into data/corpus.txt.
    Prep(prep::PrepArgs),
    /// Build only the vocabulary (and unigram table) and show the top words.
    Vocab(vocab::VocabArgs),
    /// Build the vocabulary, the unigram table and the (target, context) shards.
    Pairs(pairs::PairsArgs),
    /// Train embeddings on the shards.
    Train(train::TrainArgs),
    /// Nearest neighbours by cosine (`-` reads one query per line from stdin).
    Neighbors(neighbors::NeighborsArgs),
    /// Cosine similarity of two words.
    Similarity(similarity::SimilarityArgs),
    /// A is to B as C is to ?
    Analogy(analogy::AnalogyArgs),
    /// Word-pair similarity and analogy benchmarks.
    Eval(eval::EvalArgs),
    /// Write the vectors as word2vec bin/text, .npy or a vocab TSV.
    Export(export::ExportArgs),
    /// Read word2vec bin/text vectors into a model directory.
    Import(import::ImportArgs),
    /// Show versions, libtorch location and whether CUDA is usable.
    Doctor(doctor::DoctorArgs),
}

/// Output errors: a closed pipe (`w2v neighbors x | head`) is a quiet success.
enum Fail {
    Lib(Error),
    Pipe,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Lib(e)
    }
}

fn out(s: &str) -> std::result::Result<(), Fail> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{s}").map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Fail::Pipe
        } else {
            Fail::Lib(Error::Io {
                path: "<stdout>".into(),
                action: "write to",
                source: e,
            })
        }
    })
}

fn json<T: serde::Serialize>(v: &T) -> std::result::Result<(), Fail> {
    out(&serde_json::to_string_pretty(v).unwrap_or_default())
}

fn print_hits(title: &str, hits: &[w2v::query::Hit]) -> std::result::Result<(), Fail> {
    out(title)?;
    for (i, h) in hits.iter().enumerate() {
        out(&format!("{:>3}  {:<30} {:.4}", i + 1, h.word, h.score))?;
    }
    Ok(())
}

fn progress(p: ProgressArg) -> Progress {
    match p {
        ProgressArg::Auto => Progress::auto(),
        ProgressArg::Bar => Progress::new(Mode::Bar),
        ProgressArg::Json => Progress::new(Mode::Json),
        ProgressArg::Plain => Progress::new(Mode::Plain),
        ProgressArg::Silent => Progress::silent(),
    }
}

fn run(cli: Cli, torch: Option<&TorchHooks>) -> std::result::Result<Option<ExitCode>, Fail> {
    if torch.is_none() {
        if let Cmd::Train(a) = &cli.cmd {
            if train::wants_torch(a) {
                return train::delegate_to_torch().map(Some);
            }
        }
    }
    run_cmd(cli, torch).map(|()| None)
}

fn run_cmd(cli: Cli, torch: Option<&TorchHooks>) -> std::result::Result<(), Fail> {
    let p = progress(cli.progress);
    match cli.cmd {
        Cmd::Synth(a) => synth::run(a, &p),
        Cmd::Prep(a) => prep::run(a, &p),
        Cmd::Vocab(a) => vocab::run(a, &p),
        Cmd::Pairs(a) => pairs::run(a, &p),
        Cmd::Train(a) => train::run(a, &p, torch),
        Cmd::Neighbors(a) => neighbors::run(a, &p),
        Cmd::Similarity(a) => similarity::run(a, &p),
        Cmd::Analogy(a) => analogy::run(a, &p),
        Cmd::Eval(a) => eval::run(a, &p),
        Cmd::Export(a) => export::run(a, &p),
        Cmd::Import(a) => import::run(a, &p),
        Cmd::Doctor(a) => doctor::run(a, &p, torch),
    }
}

/// Entry point of both binaries; `torch` is `Some` in `w2v-torch`.
pub fn main_with(torch: Option<TorchHooks>) -> ExitCode {
    let cli = Cli::parse();
    match run(cli, torch.as_ref()) {
        Ok(Some(code)) => code,
        Ok(None) | Err(Fail::Pipe) => ExitCode::SUCCESS,
        Err(Fail::Lib(e)) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            eprintln!("w2v: error: {msg}");
            match e {
                Error::Interrupted { .. } => ExitCode::from(130),
                e if e.is_usage() => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}
