//! The command-line application shared by the two binaries: `w2v` (no
//! libtorch linked, so every command starts instantly) and `w2v-torch` (the
//! torch engine). `w2v` hands `train --engine torch` (and `auto` when a GPU is
//! present) to `w2v-torch`, found next to its own executable.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;

use crate::cli::{self, Cli, Cmd, ProgressArg};
use w2v::progress::{Mode, Progress};
use w2v::query::Model;
use w2v::train::TorchHooks;
use w2v::{Error, Result};

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

fn progress(p: ProgressArg) -> Progress {
    match p {
        ProgressArg::Auto => Progress::auto(),
        ProgressArg::Bar => Progress::new(Mode::Bar),
        ProgressArg::Json => Progress::new(Mode::Json),
        ProgressArg::Plain => Progress::new(Mode::Plain),
        ProgressArg::Silent => Progress::silent(),
    }
}

fn print_hits(title: &str, hits: &[w2v::query::Hit]) -> std::result::Result<(), Fail> {
    out(title)?;
    for (i, h) in hits.iter().enumerate() {
        out(&format!("{:>3}  {:<30} {:.4}", i + 1, h.word, h.score))?;
    }
    Ok(())
}

/// The helper binary next to this executable.
fn torch_helper() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let h = exe.with_file_name("w2v-torch");
    h.exists().then_some(h)
}

/// Runs this same command line under `w2v-torch`; returns its exit code.
fn delegate_to_torch() -> std::result::Result<ExitCode, Fail> {
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
fn wants_torch(a: &cli::TrainArgs) -> bool {
    match a.engine {
        cli::EngineArg::Torch => true,
        cli::EngineArg::Native => false,
        cli::EngineArg::Auto => {
            a.device != "cpu"
                && std::path::Path::new("/dev/nvidiactl").exists()
                && torch_helper().is_some()
        }
    }
}

fn run(cli: Cli, torch: Option<&TorchHooks>) -> std::result::Result<Option<ExitCode>, Fail> {
    if torch.is_none() {
        if let Cmd::Train(a) = &cli.cmd {
            if wants_torch(a) {
                return delegate_to_torch().map(Some);
            }
        }
    }
    run_cmd(cli, torch).map(|()| None)
}

fn run_cmd(cli: Cli, torch: Option<&TorchHooks>) -> std::result::Result<(), Fail> {
    let p = progress(cli.progress);
    match cli.cmd {
        Cmd::Synth(a) => {
            let cfg: w2v::synth::SynthConfig = a.into();
            let g = w2v::synth::generate(&cfg)?;
            p.info(&format!(
                "wrote {} and {} ({} groups)",
                cfg.out.display(),
                w2v::synth::groups_path(&cfg.out).display(),
                g.groups.len()
            ));
        }
        Cmd::Prep(a) => {
            let cfg: w2v::prep::PrepConfig = a.into();
            let s = w2v::prep::run(&cfg, &p)?;
            p.info(&format!(
                "prep: {} lines, {} tokens from {:.1} MB in {:.1}s ({:.1} MB/s); {} invalid UTF-8 sequences replaced; wrote {}",
                s.lines_out,
                s.tokens_out,
                s.read.bytes_in as f64 / 1e6,
                s.elapsed_s,
                s.mb_per_s,
                s.read.invalid_utf8,
                cfg.output.display()
            ));
        }
        Cmd::Vocab(a) => {
            let top = a.top;
            let cfg: w2v::vocab::VocabConfig = a.into();
            let (v, s) = w2v::vocab::run(&cfg, &p)?;
            out(&format!(
                "{} types kept of {} ({} tokens, coverage {:.2}%), min_count {}",
                s.n_types_after,
                s.n_types_before,
                s.n_tokens,
                100.0 * s.coverage,
                cfg.min_count
            ))?;
            for (i, (w, c)) in v.words.iter().zip(&v.counts).take(top).enumerate() {
                out(&format!("{i:>6}  {w:<24} {c}"))?;
            }
        }
        Cmd::Pairs(a) => {
            let cfg: w2v::pairs::PairsConfig = a.into();
            let s = w2v::pairs::run(&cfg, &p)?;
            p.info(&format!(
                "pairs: {} pairs in {} draws, {} shards, {:.2} bytes/pair, {:.1}M pairs/s; wrote {}",
                s.total_pairs,
                s.n_draws,
                s.shards.len(),
                s.bytes_per_pair,
                s.pairs_per_s / 1e6,
                cfg.shards_dir.display()
            ));
        }
        Cmd::Train(a) => {
            let cfg: w2v::train::TrainConfig = a.into();
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let _ = ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed));
            let s = w2v::train::run(&cfg, &p, Some(stop), torch)?;
            p.info(&format!(
                "train: {} on {} pairs in {:.1}s ({:.2}M pairs/s), final loss {:.4}; wrote {}",
                s.engine,
                s.total_pairs,
                s.seconds,
                s.pairs_per_s / 1e6,
                s.final_loss,
                cfg.output.display()
            ));
        }
        Cmd::Neighbors(a) => {
            let m = Model::open(&a.model.model)?;
            if !a.positive.is_empty() || !a.negative.is_empty() {
                let hits = m.most_similar(&a.positive, &a.negative, a.k, a.restrict)?;
                return if a.json {
                    json(&hits)
                } else {
                    print_hits("most similar", &hits)
                };
            }
            let mut words = a.words.clone();
            if words.iter().any(|w| w == "-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                    Error::Io {
                        path: "<stdin>".into(),
                        action: "read queries from",
                        source: e,
                    }
                })?;
                words.retain(|w| w != "-");
                words.extend(
                    s.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
            if words.is_empty() {
                return Err(Error::InvalidConfig(
                    "neighbors needs a WORD, `-`, or --positive".into(),
                )
                .into());
            }
            // In batch mode unknown words are reported and skipped; alone, they fail.
            let batch = words.len() > 1;
            let mut ids = Vec::new();
            for w in &words {
                match m.id(w) {
                    Ok(i) => ids.push((w.clone(), i)),
                    Err(e) if batch => eprintln!("w2v: warning: {e}"),
                    Err(e) => return Err(e.into()),
                }
            }
            let queries: Vec<Vec<f32>> = ids.iter().map(|(_, i)| m.unit(*i)).collect();
            let exclude: Vec<Vec<usize>> = ids.iter().map(|(_, i)| vec![*i]).collect();
            let hits = m.nearest_many(&queries, a.k, &exclude, a.restrict);
            if a.json {
                let v: Vec<_> = ids
                    .iter()
                    .zip(&hits)
                    .map(|((w, _), h)| serde_json::json!({"query": w, "neighbors": h}))
                    .collect();
                return json(&v);
            }
            for ((w, _), h) in ids.iter().zip(&hits) {
                print_hits(w, h)?;
            }
        }
        Cmd::Similarity(a) => {
            let m = Model::open(&a.model.model)?;
            let s = m.similarity(&a.a, &a.b)?;
            if a.json {
                json(&serde_json::json!({"a": a.a, "b": a.b, "similarity": s}))?;
            } else {
                out(&format!("{s:.4}"))?;
            }
        }
        Cmd::Analogy(a) => {
            let m = Model::open(&a.model.model)?;
            let mul = matches!(a.method, cli::AnalogyMethod::CosMul);
            let hits = m.analogy(&a.a, &a.b, &a.c, a.k, mul, a.restrict)?;
            if a.json {
                json(&hits)?;
            } else {
                print_hits(&format!("{} : {} :: {} : ?", a.a, a.b, a.c), &hits)?;
            }
        }
        Cmd::Eval(a) => {
            if a.pairs.is_empty() && a.analogies.is_empty() {
                return Err(Error::InvalidConfig(
                    "eval needs --pairs FILE... or --analogies FILE...".into(),
                )
                .into());
            }
            let m = Model::open(&a.model.model)?;
            let pairs: Vec<_> = a
                .pairs
                .iter()
                .map(|f| w2v::eval::eval_pairs(&m, f))
                .collect::<Result<_>>()?;
            let analogies: Vec<_> = a
                .analogies
                .iter()
                .map(|f| w2v::eval::eval_analogies(&m, f, a.restrict).map(|s| (f.clone(), s)))
                .collect::<Result<_>>()?;
            if a.json {
                return json(
                    &serde_json::json!({"pairs": pairs, "analogies": analogies.iter().map(|(f, s)| serde_json::json!({"file": f, "sections": s})).collect::<Vec<_>>()}),
                );
            }
            for s in &pairs {
                out(&format!(
                    "{}: spearman {:.4} pearson {:.4} coverage {}/{} ({:.1}%)",
                    s.file.display(),
                    s.spearman,
                    s.pearson,
                    s.found,
                    s.total,
                    100.0 * s.coverage
                ))?;
            }
            for (f, secs) in &analogies {
                for s in secs {
                    out(&format!(
                        "{} [{}]: {}/{} = {:.4} ({} skipped)",
                        f.display(),
                        s.name,
                        s.correct,
                        s.total,
                        s.accuracy,
                        s.skipped
                    ))?;
                }
            }
        }
        Cmd::Export(a) => {
            let m = Model::open(&a.model.model)?;
            w2v::export::export(&m, a.format, &a.output)?;
            p.info(&format!("wrote {} ({} words)", a.output.display(), m.len()));
        }
        Cmd::Import(a) => {
            let im = w2v::export::import(&a.input)?;
            // word2vec files record no normalization: queries use the default.
            w2v::model::ModelDir::write(
                &a.output,
                &w2v::model::ModelParts {
                    producer: w2v::model::Producer::Import,
                    words: &im.words,
                    input: &im.data,
                    output: None,
                    dim: im.dim,
                    normalize: Default::default(),
                    normalize_source: w2v::normalize::NormalizeSource::Default,
                    seed: 0,
                    config: serde_json::json!({"source": a.input, "invalid_utf8": im.invalid_utf8}),
                    inputs: vec![w2v::manifest::fingerprint(&a.input)?],
                    summary: serde_json::json!({"vocab_size": im.words.len(), "dim": im.dim}),
                },
            )?;
            p.info(&format!(
                "imported {} vectors of dim {} into {} ({} invalid UTF-8 sequences replaced)",
                im.words.len(),
                im.dim,
                a.output.display(),
                im.invalid_utf8
            ));
        }
        Cmd::Doctor(a) => {
            let mut r = w2v::doctor::report(torch);
            if torch.is_none() {
                // libtorch facts come from the helper, which links it.
                if let Some(h) = torch_helper() {
                    if let Ok(o) = std::process::Command::new(h)
                        .args(["doctor", "--json", "--progress", "silent"])
                        .output()
                    {
                        if let Ok(t) = serde_json::from_slice::<w2v::doctor::Report>(&o.stdout) {
                            r = w2v::doctor::Report {
                                simd: r.simd,
                                threads: r.threads,
                                ..t
                            };
                        }
                    }
                }
            }
            if a.json {
                json(&r)?;
            } else {
                out(&format!("w2v {}", r.w2v))?;
                out(&format!(
                    "libtorch {}",
                    r.libtorch.as_deref().unwrap_or("not loaded")
                ))?;
                out(&format!(
                    "libtorch loaded from {}",
                    r.libtorch_loaded_from.as_deref().unwrap_or("-")
                ))?;
                out(&format!(
                    "cuda available: {} ({} devices, cudnn {})",
                    r.cuda_available, r.cuda_devices, r.cudnn
                ))?;
                out(&format!("threads: {}, simd: {}", r.threads, r.simd))?;
                out(&r.advice)?;
            }
        }
    }
    Ok(())
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
