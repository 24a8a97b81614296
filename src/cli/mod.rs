//! The `w2v` command line. It links no libtorch, so every command starts
//! instantly; `train` hands torch runs to the `w2v-torch` binary (see
//! [`train`]).
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
mod report;
mod serve;
mod similarity;
mod synth;
mod train;
mod vector;
mod vocab;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use w2v::progress::Progress;
use w2v::Error;

#[derive(Parser)]
#[command(
    name = "w2v",
    version,
    about = "word2vec (skip-gram, negative sampling) for Russian text"
)]
pub struct Cli {
    /// How to report progress, warnings and notes on stderr (`silent`: errors only).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    /// A bar on a terminal, JSON lines otherwise.
    Auto,
    /// An indicatif bar (rate, ETA, loss).
    Bar,
    /// One JSON object per line: progress, warnings, notes.
    Json,
    /// Plain key=value progress lines and `w2v: warning:` lines.
    Plain,
    /// Errors only: no progress, and no warnings either.
    Silent,
}

impl ProgressArg {
    /// The flag's value, as typed.
    pub fn name(self) -> &'static str {
        match self {
            ProgressArg::Auto => "auto",
            ProgressArg::Bar => "bar",
            ProgressArg::Json => "json",
            ProgressArg::Plain => "plain",
            ProgressArg::Silent => "silent",
        }
    }
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
    /// Explore a model in the browser: a JSON API and one page (loopback by default).
    Serve(serve::ServeArgs),
    /// Print word vectors as JSON lines (any word on a subword model).
    Vector(vector::VectorArgs),
    /// Show versions, libtorch location and whether CUDA is usable.
    Doctor(doctor::DoctorArgs),
    /// Plot a model's training log (loss, pairs/s, lr, eval) and vocabulary as HTML and PNG.
    Report(report::ReportArgs),
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
    Progress::named(p.name()).unwrap_or_else(Progress::auto)
}

/// SIGINT/SIGTERM outside `train` (which checkpoints instead): remove the
/// temp files of the outputs being written, say so when there were any,
/// exit 128 + the signal (130, 143).
fn exit_on_signal(json: bool) {
    let _ = w2v::signals::on_stop(move |_| exit_interrupted(json));
}

/// Removes the temp files of the outputs being written and exits 128 + the
/// signal received, saying so.
fn exit_interrupted(json: bool) {
    // Not inside a stage's renames: the old outputs or the new ones stay,
    // each with its manifest.
    w2v::manifest::hold_commits();
    let code = w2v::signals::interrupted_exit_code();
    let what = if w2v::manifest::remove_temp_files() > 0 {
        "interrupted; unfinished outputs removed"
    } else {
        "interrupted"
    };
    // Not eprintln!: after SIGHUP stderr may be a closed terminal, and
    // a failed write must not stop the exit.
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        w2v::error::final_line(what, true, code, json)
    );
    std::process::exit(i32::from(code));
}

fn run(cli: Cli) -> std::result::Result<Option<ExitCode>, Fail> {
    let p = progress(cli.progress);
    if !matches!(cli.cmd, Cmd::Train(_)) {
        exit_on_signal(matches!(cli.progress, ProgressArg::Json));
    }
    let none = |r: std::result::Result<(), Fail>| r.map(|()| None);
    match cli.cmd {
        Cmd::Synth(a) => none(synth::run(a, &p)),
        Cmd::Prep(a) => none(prep::run(a, &p)),
        Cmd::Vocab(a) => none(vocab::run(a, &p)),
        Cmd::Pairs(a) => none(pairs::run(a, &p)),
        Cmd::Train(a) => train::run(a, &p, cli.progress),
        Cmd::Neighbors(a) => none(neighbors::run(a, &p)),
        Cmd::Similarity(a) => none(similarity::run(a, &p)),
        Cmd::Analogy(a) => none(analogy::run(a, &p)),
        Cmd::Eval(a) => none(eval::run(a, &p)),
        Cmd::Export(a) => none(export::run(a, &p)),
        Cmd::Import(a) => none(import::run(a, &p)),
        Cmd::Serve(a) => none(serve::run(a, &p)),
        Cmd::Vector(a) => none(vector::run(a, &p)),
        Cmd::Doctor(a) => none(doctor::run(a, &p)),
        Cmd::Report(a) => none(report::run(a, &p)),
    }
}

/// A count of at least 1 (`-k`).
fn positive_count(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The command line, with negative numbers taken as values in every
/// subcommand (`--lr -1` reaches the range check, not "unexpected argument").
fn parse() -> Cli {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .mut_subcommands(|s| s.allow_negative_numbers(true))
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    parsed.unwrap_or_else(|e| {
        let shown = matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        // A usage error under `--progress json` ends stderr with the same
        // JSON object as any other failure.
        if !shown && json_asked() {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let message = first.strip_prefix("error: ").unwrap_or(first);
            let code = u8::try_from(e.exit_code()).unwrap_or(2);
            let _ = writeln!(
                std::io::stderr(),
                "{}",
                w2v::error::final_line(message, false, code, true)
            );
            std::process::exit(i32::from(code));
        }
        e.exit()
    })
}

/// Whether the raw command line asks for `--progress json` (for errors
/// found before it is parsed).
fn json_asked() -> bool {
    // args_os: a file name that is not UTF-8 must not panic here.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.iter().any(|a| a == "--progress=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--progress" && w[1] == "json")
}

/// Entry point: parse, run, print the final line ([`Error::final_line`]) and set the exit code
/// (1 runtime, 2 usage, 130/143 interrupted by SIGINT/SIGTERM; a closed pipe is a quiet success).
pub fn main() -> ExitCode {
    let _ = w2v::signals::fail_writes_past_the_size_limit();
    let cli = parse();
    let json = matches!(cli.progress, ProgressArg::Json);
    match run(cli) {
        Ok(Some(code)) => code,
        Ok(None) | Err(Fail::Pipe) => ExitCode::SUCCESS,
        // `w2v prep data -o - | head`: the reader left; not an error.
        Err(Fail::Lib(Error::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(Fail::Lib(e)) => {
            let _ = writeln!(std::io::stderr(), "{}", e.final_line(json));
            ExitCode::from(e.exit_code())
        }
    }
}
