//! The training log, `model/train.jsonl`: what a run did, as it went.
//!
//! Written by the driver ([`super::run`]) for every engine (the torch engine
//! trains through the same driver in `w2v-torch`); read by `w2v report`
//! and `w2v serve` through [`read`] / [`read_log`].
//!
//! One JSON object per line, each written whole with one `write` to a file
//! opened for appending, so a reader (or a run killed at any point) sees
//! whole lines. Kinds ([`LogRecord`]):
//! - `start`: a run began (`resumed`, `seed`, `pairs_seen` it starts from,
//!   `total_pairs`, `epochs`, `engine`, the resolved `config`, `unix_time`);
//! - `block`: at each loss read-back (about every 0.5 s, each epoch end and
//!   each checkpoint): `epoch` (1-based), `pairs_seen`, `elapsed_s`, the mean
//!   sampled `loss` since the previous record and the `loss_pairs` behind it,
//!   `lr` (the rate at `pairs_seen`) and `pairs_per_s` since the previous
//!   record;
//! - `eval`: at each epoch end, one per `--eval-pairs` file: `set` (the file
//!   name), `path`, `spearman`, `pearson`, `coverage` `[found, total]`, and
//!   the `seconds` the evaluation took;
//! - `end`: `pairs_seen`, `elapsed_s` and `outcome` (`done`, `interrupted`
//!   or `failed`, with `error`). A run killed outright (SIGKILL, power) has
//!   none; an error raised after the last block (writing the model) leaves
//!   none either.
//!
//! `elapsed_s` counts from the first run's start and continues across
//! resumptions (the time between runs left out). Readers ignore unknown
//! fields and skip unknown kinds.
//!
//! **Where it is.** A run writes its log beside its checkpoints,
//! `model/checkpoints/train.jsonl` ([`running_path_in`]), and moves it to
//! `model/train.jsonl` only once the model it describes is written: an
//! interrupted or failed run into a directory that holds a finished model
//! leaves that model's log as it was (its vectors and its curves stay
//! together). `w2v report` and `w2v serve` read `model/train.jsonl`, and the
//! unfinished run's log when there is no other.
//!
//! **Fresh runs and resumptions.** A run without `--resume` starts the log
//! afresh (the old one described another training). A resumed run restarts
//! from its checkpoint, made after `pairs_done` pairs: it first cuts the log
//! at the first record past `pairs_done` (the records that the interrupted
//! run wrote after its checkpoint describe work the resumption redoes),
//! then appends its `start` record with `resumed: true`. So `pairs_seen`
//! never goes back within a log, and there is one record per block of the
//! model's actual history. The cut goes through a temp file and a rename.
//!
//! The log is part of the model directory ([`crate::model::TRAIN_LOG`]) but
//! not in the manifest's fingerprints: it is appended while training runs,
//! and it is no input of any query.
//!
//! **Evaluations** (`--eval-pairs FILE...`) read the files once, before
//! training starts (an unreadable file or one without pairs stops the run
//! then), and at each epoch end score them on a copy of the input vectors
//! ([`Engine::weights`]) exactly as `w2v eval` scores a model: words go
//! through the corpus's normalizer, cosines through the same kernels and
//! norms, [`crate::eval::score_pairs`] ranks them. After the last epoch the
//! weights are the model's, so the last `eval` record equals `w2v eval` on
//! the model. Reading the weights waits for the engine but changes nothing:
//! a `--deterministic` run gives the same model with or without evaluations.
//! The time they take counts in the epoch's time, not in `pairs_per_s`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, io_err, Error, Result};
use crate::eval::{PairFile, SkippedLine};
use crate::manifest::write_atomic;
use crate::normalize::Normalizer;
use crate::simd::Kernels;
use crate::vocab::Vocab;

use super::config::TrainConfig;
use super::engine::{Engine, LossSum};

/// The log's file name in a model directory.
pub const FILE_NAME: &str = crate::model::TRAIN_LOG;

/// The log of the model in `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The log to read for the model directory `dir`: the finished run's, else
/// an unfinished run's (a first run still going, or interrupted).
pub fn log_of(dir: &Path) -> PathBuf {
    let done = path_in(dir);
    let running = running_path_in(dir);
    if !done.exists() && running.exists() {
        running
    } else {
        done
    }
}

/// The log of a run into `dir` that has not finished (running, interrupted
/// or failed): `dir/checkpoints/train.jsonl`, beside its checkpoint.
pub fn running_path_in(dir: &Path) -> PathBuf {
    super::checkpoint::checkpoint_dir(dir).join(FILE_NAME)
}

/// A run began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartRecord {
    /// Whether it continues from a checkpoint.
    pub resumed: bool,
    /// The master seed.
    pub seed: u64,
    /// Pairs done before it (the checkpoint's; 0 for a fresh run).
    #[serde(default)]
    pub pairs_seen: u64,
    /// Pairs the whole training plans.
    #[serde(default)]
    pub total_pairs: u64,
    /// Epochs planned.
    #[serde(default)]
    pub epochs: u32,
    /// The engine, as it describes itself.
    #[serde(default)]
    pub engine: String,
    /// The resolved settings.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub unix_time: u64,
}

/// The loss read back from the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Epoch, 1-based.
    pub epoch: u32,
    /// Pairs trained on so far.
    pub pairs_seen: u64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// Mean sampled loss since the previous record.
    pub loss: f64,
    /// Pairs sampled for `loss`.
    #[serde(default)]
    pub loss_pairs: u64,
    /// Learning rate at `pairs_seen`.
    pub lr: f64,
    /// Pairs per second since the previous record.
    pub pairs_per_s: f64,
}

/// One `--eval-pairs` file scored at an epoch end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Epoch just finished, 1-based.
    pub epoch: u32,
    /// Pairs trained on so far.
    pub pairs_seen: u64,
    /// Seconds of training so far.
    #[serde(default)]
    pub elapsed_s: f64,
    /// The file's name.
    pub set: String,
    /// The file as given.
    #[serde(default)]
    pub path: String,
    /// Spearman correlation with the human scores; NaN (`null` in the
    /// log) when the set could not be scored at that moment (the model gave
    /// every pair the same similarity).
    #[serde(deserialize_with = "null_as_nan")]
    pub spearman: f64,
    /// Pearson correlation, NaN (`null`) as `spearman`.
    #[serde(default, deserialize_with = "null_as_nan")]
    pub pearson: f64,
    /// Pairs with both words in the vocabulary, and all pairs.
    pub coverage: [usize; 2],
    /// Seconds the evaluation took (copying the weights included).
    #[serde(default)]
    pub seconds: f64,
}

/// An `f64` that may be `null` (serde_json writes NaN so), read as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Trained every planned pair.
    Done,
    /// Stopped by Ctrl-C, SIGTERM or `--stop-after-pairs`, with a checkpoint.
    Interrupted,
    /// Stopped by an error.
    Failed,
}

/// A run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndRecord {
    /// Pairs trained on so far.
    pub pairs_seen: u64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogRecord {
    Start(StartRecord),
    Block(BlockRecord),
    Eval(EvalRecord),
    End(EndRecord),
}

impl LogRecord {
    /// Pairs trained on when the record was written.
    pub fn pairs_seen(&self) -> u64 {
        match self {
            LogRecord::Start(r) => r.pairs_seen,
            LogRecord::Block(r) => r.pairs_seen,
            LogRecord::Eval(r) => r.pairs_seen,
            LogRecord::End(r) => r.pairs_seen,
        }
    }

    /// Seconds of training when the record was written (none for `start`).
    pub fn elapsed_s(&self) -> Option<f64> {
        match self {
            LogRecord::Start(_) => None,
            LogRecord::Block(r) => Some(r.elapsed_s),
            LogRecord::Eval(r) => Some(r.elapsed_s),
            LogRecord::End(r) => Some(r.elapsed_s),
        }
    }
}

/// A log as read: its records and the lines that gave none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainLog {
    /// The records, in file order.
    pub records: Vec<LogRecord>,
    /// Lines that are not a record (not JSON, no `kind`, a known kind
    /// missing a field), by line number with the reason.
    pub malformed: Vec<SkippedLine>,
    /// Lines of a kind this build does not know (skipped, not errors).
    pub unknown: usize,
}

const KINDS: [&str; 4] = ["start", "block", "eval", "end"];

/// What one line holds.
enum Line {
    Blank,
    Record(LogRecord),
    Unknown,
    Bad(String),
}

fn parse_line(line: &str) -> Line {
    if line.trim().is_empty() {
        return Line::Blank;
    }
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Line::Bad(format!("not JSON ({e})")),
    };
    let Some(kind) = v.get("kind").and_then(|k| k.as_str()) else {
        return Line::Bad("not an object with a string \"kind\"".into());
    };
    if !KINDS.contains(&kind) {
        return Line::Unknown;
    }
    let kind = kind.to_string();
    match serde_json::from_value(v) {
        Ok(r) => Line::Record(r),
        Err(e) => Line::Bad(format!("not a valid {kind} record ({e})")),
    }
}

/// Parses a log's text.
pub fn parse(text: &str) -> TrainLog {
    let mut out = TrainLog::default();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Line::Blank => {}
            Line::Record(r) => out.records.push(r),
            Line::Unknown => out.unknown += 1,
            Line::Bad(reason) => out.malformed.push(SkippedLine {
                line: i + 1,
                reason,
            }),
        }
    }
    out
}

/// Reads the log at `path`, reporting the lines that are not records.
/// A missing or unreadable file is an error naming it; an empty file is an
/// empty log.
pub fn read_log(path: &Path) -> Result<TrainLog> {
    let bytes = read_bounded(path).map_err(io_err(path, "read training log"))?;
    Ok(parse(&String::from_utf8_lossy(&bytes)))
}

/// The most bytes a training log is read to: a log line per half second
/// for a month of training is under a tenth of it.
pub const MAX_LOG_BYTES: u64 = 512 << 20;

/// The bytes of the log at `path`, refusing what is not a regular file (a
/// FIFO would hang the read, a link to `/dev/zero` would never end) or is
/// past [`MAX_LOG_BYTES`].
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Asked before the open, which would wait on a FIFO for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.take(MAX_LOG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_LOG_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {MAX_LOG_BYTES} bytes, past what a training log is read to"),
        ));
    }
    Ok(bytes)
}

/// The records of the log at `path` (lines that are not records are left
/// out; [`read_log`] lists them).
pub fn read(path: &Path) -> Result<Vec<LogRecord>> {
    read_log(path).map(|l| l.records)
}

/// The lines of `text` before the first record past `pairs_done`, and the
/// largest `elapsed_s` among them.
fn cut_at(text: &str, pairs_done: u64) -> (&str, f64) {
    let (mut end, mut elapsed, mut pos) = (0, 0.0f64, 0);
    for line in text.split_inclusive('\n') {
        pos += line.len();
        if !line.ends_with('\n') {
            // A line cut short by a crash: dropped with what follows.
            break;
        }
        if let Line::Record(r) = parse_line(line) {
            if r.pairs_seen() > pairs_done {
                break;
            }
            elapsed = elapsed.max(r.elapsed_s().unwrap_or(0.0));
        }
        end = pos;
    }
    (&text[..end], elapsed)
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One `--eval-pairs` file, read once.
struct EvalSet {
    path: PathBuf,
    file: PairFile,
}

/// The `--eval-pairs` files of a run and what scoring them needs.
pub struct Evals {
    sets: Vec<EvalSet>,
    normalizer: Normalizer,
    ids: HashMap<String, usize>,
    kernels: Kernels,
}

impl Evals {
    /// Reads `cfg.eval_pairs` for a run on `vocab`, refusing a file without
    /// a usable pair or with fewer than two pairs in the vocabulary.
    pub fn load(cfg: &TrainConfig, vocab: &Vocab) -> Result<Evals> {
        let mut sets = Vec::new();
        for p in &cfg.eval_pairs {
            let file = crate::eval::read_pairs(p)?;
            crate::eval::check_pair_file(p, &file)?;
            sets.push(EvalSet {
                path: p.clone(),
                file,
            });
        }
        let ids = if sets.is_empty() {
            HashMap::new()
        } else {
            vocab
                .words
                .iter()
                .enumerate()
                .map(|(i, w)| (w.clone(), i))
                .collect()
        };
        let evals = Evals {
            sets,
            normalizer: Normalizer::new(vocab.normalize.clone()),
            ids,
            kernels: Kernels::detect(),
        };
        // Coverage depends on the vocabulary alone: a set the run could
        // never score is refused now, not after the first epoch.
        for s in &evals.sets {
            let human: Vec<f64> = s
                .file
                .pairs
                .iter()
                .filter(|p| evals.id(&p.first).is_ok() && evals.id(&p.second).is_ok())
                .map(|p| p.score)
                .collect();
            let why = if human.len() < 2 {
                format!(
                    "only {} of its {} pairs have both words in the vocabulary; a correlation needs two",
                    human.len(),
                    s.file.pairs.len()
                )
            } else if crate::eval::constant(&human) {
                format!(
                    "the human scores of its {} pairs in the vocabulary are all {}; a correlation needs them to differ",
                    human.len(),
                    crate::eval::score_text(human[0])
                )
            } else {
                continue;
            };
            return Err(invalid(&s.path, format!("--eval-pairs: {why}")));
        }
        Ok(evals)
    }

    /// The id of `q` as `w2v eval` finds it in a trained model: normalized
    /// as the corpus was, one word.
    fn id(&self, q: &str) -> Result<usize> {
        let norm = self.normalizer.normalize_query(q).unwrap_or_default();
        if norm.contains(' ') {
            return Err(Error::NotOneWord {
                query: q.to_string(),
                words: norm.split(' ').map(str::to_owned).collect(),
            });
        }
        self.ids
            .get(&norm)
            .copied()
            .ok_or_else(|| Error::UnknownWord {
                word: q.to_string(),
                why: None,
                suggestions: Vec::new(),
            })
    }

    /// Row `i` of `input` over its norm, as a model's query computes it
    /// (the norm as `norms.npy` records it).
    fn unit(input: &[f32], dim: usize, i: usize) -> Vec<f32> {
        let row = &input[i * dim..(i + 1) * dim];
        let n = crate::embeddings::row_norms(row, dim)[0].max(1e-12);
        row.iter().map(|x| x / n).collect()
    }

    /// Scores every set on `input` (`V × dim`).
    fn score(
        &self,
        input: &[f32],
        dim: usize,
        pairs_seen: u64,
    ) -> Result<Vec<crate::eval::PairScore>> {
        self.sets
            .iter()
            .map(|s| {
                crate::eval::score_pairs(&s.path, &s.file, false, |a, b| {
                    let (ia, ib) = (self.id(a)?, self.id(b)?);
                    let sim = (self.kernels.dot)(
                        &Self::unit(input, dim, ia),
                        &Self::unit(input, dim, ib),
                    );
                    if sim.is_finite() {
                        Ok((sim, true))
                    } else {
                        Err(Error::Diverged {
                            step: pairs_seen,
                            what: format!("the similarity of '{a}' and '{b}' is {sim}"),
                            checkpoint: None,
                        })
                    }
                })
            })
            .collect()
    }
}

/// The log of one run, written as it goes.
pub struct RunLog {
    path: PathBuf,
    file: File,
    cfg_lr: (f32, f32),
    dim: usize,
    total_pairs: u64,
    clock: Instant,
    /// Seconds of earlier runs (a resumed log's last `elapsed_s`).
    offset_s: f64,
    /// `elapsed_s` and `pairs_seen` of the last block record (or the start).
    last: (f64, u64),
    evals: Evals,
}

impl RunLog {
    /// Starts the log of a run in `cfg.output` that begins after
    /// `pairs_done` pairs (a resumption's checkpoint; 0 afresh) of
    /// `total_pairs`, on `engine`: see the module docs for what happens to
    /// an existing log.
    pub fn open(
        cfg: &TrainConfig,
        pairs_done: u64,
        total_pairs: u64,
        engine: &str,
        evals: Evals,
    ) -> Result<RunLog> {
        let path = running_path_in(&cfg.output);
        let dir = super::checkpoint::checkpoint_dir(&cfg.output);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir, "create checkpoint directory"))?;
        // Before session 9 the unfinished run's log was written in place.
        let old = if cfg.resume && !path.exists() {
            path_in(&cfg.output)
        } else {
            path.clone()
        };
        let (mut text, offset_s) = if cfg.resume {
            match read_bounded(&old) {
                Ok(bytes) => {
                    let old = String::from_utf8_lossy(&bytes);
                    let (kept, elapsed) = cut_at(&old, pairs_done);
                    (kept.to_string(), elapsed)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), 0.0),
                Err(e) => return Err(io_err(&old, "read training log")(e)),
            }
        } else {
            (String::new(), 0.0)
        };
        let start = LogRecord::Start(StartRecord {
            resumed: cfg.resume,
            seed: cfg.seed,
            pairs_seen: pairs_done,
            total_pairs,
            epochs: cfg.epochs,
            engine: engine.to_string(),
            config: serde_json::to_value(cfg).unwrap_or_default(),
            unix_time: unix_now(),
        });
        text.push_str(&line_of(&start));
        write_atomic(&path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(&path, "open training log"))?;
        Ok(RunLog {
            path,
            file,
            cfg_lr: (cfg.lr, cfg.min_lr_frac),
            dim: cfg.dim,
            total_pairs,
            clock: Instant::now(),
            offset_s,
            last: (offset_s, pairs_done),
            evals,
        })
    }

    /// Seconds of training so far, earlier runs included.
    pub fn elapsed_s(&self) -> f64 {
        self.offset_s + self.clock.elapsed().as_secs_f64()
    }

    fn write(&mut self, r: &LogRecord) -> Result<()> {
        self.file
            .write_all(line_of(r).as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(io_err(&self.path, "append to training log"))
    }

    /// The loss `loss` read back after `pairs_seen` pairs, in `epoch`
    /// (0-based, as the cursor counts).
    pub fn drained(&mut self, epoch: u32, pairs_seen: u64, loss: LossSum) -> Result<()> {
        let elapsed = self.elapsed_s();
        let (t0, p0) = self.last;
        let frac = 1.0 - pairs_seen as f64 / self.total_pairs.max(1) as f64;
        let lr = self.cfg_lr.0 * (frac as f32).max(self.cfg_lr.1);
        let r = LogRecord::Block(BlockRecord {
            epoch: epoch + 1,
            pairs_seen,
            elapsed_s: elapsed,
            loss: loss.mean(),
            loss_pairs: loss.count,
            lr: lr as f64,
            pairs_per_s: pairs_seen.saturating_sub(p0) as f64 / (elapsed - t0).max(1e-9),
        });
        self.last = (elapsed, pairs_seen);
        self.write(&r)
    }

    /// At the end of `epoch` (0-based) after `pairs_seen` pairs: scores the
    /// `--eval-pairs` files on the engine's current weights (nothing
    /// without them).
    pub fn epoch_end(
        &mut self,
        epoch: u32,
        pairs_seen: u64,
        engine: &mut dyn Engine,
    ) -> Result<()> {
        if self.evals.sets.is_empty() {
            return Ok(());
        }
        let t0 = Instant::now();
        let weights = engine.weights()?;
        let scores = self.evals.score(&weights.input, self.dim, pairs_seen)?;
        drop(weights);
        let seconds = t0.elapsed().as_secs_f64();
        let elapsed = self.elapsed_s();
        for s in scores {
            let r = LogRecord::Eval(EvalRecord {
                epoch: epoch + 1,
                pairs_seen,
                elapsed_s: elapsed,
                set: s
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: s.file.display().to_string(),
                spearman: s.spearman.unwrap_or(f64::NAN),
                pearson: s.pearson.unwrap_or(f64::NAN),
                coverage: [s.found, s.total],
                seconds,
            });
            self.write(&r)?;
        }
        // The evaluation's time is not training throughput.
        self.last.0 = self.elapsed_s();
        Ok(())
    }

    /// Puts the log of a finished run in place of the model's
    /// (`model/train.jsonl`), once the model it describes is written.
    pub fn commit(&self, out: &Path) -> Result<()> {
        let to = path_in(out);
        std::fs::rename(&self.path, &to).map_err(io_err(&to, "write training log"))
    }

    /// Closes the run after `pairs_seen` pairs with how `result` ended it.
    pub fn end<T>(&mut self, pairs_seen: u64, result: &Result<T>) -> Result<()> {
        let (outcome, error) = match result {
            Ok(_) => (Outcome::Done, None),
            Err(Error::Interrupted { .. }) => (Outcome::Interrupted, None),
            Err(e) => (Outcome::Failed, Some(e.report())),
        };
        let r = LogRecord::End(EndRecord {
            pairs_seen,
            elapsed_s: self.elapsed_s(),
            outcome,
            error,
        });
        self.write(&r)
    }
}

/// A record as one line of JSON.
fn line_of(r: &LogRecord) -> String {
    let mut s = serde_json::to_string(r).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(pairs: u64, elapsed: f64) -> LogRecord {
        LogRecord::Block(BlockRecord {
            epoch: 1,
            pairs_seen: pairs,
            elapsed_s: elapsed,
            loss: 2.5,
            loss_pairs: 10,
            lr: 0.02,
            pairs_per_s: 1e6,
        })
    }

    #[test]
    fn records_round_trip_and_match_the_shared_contract() {
        let b = block(123_456, 1.5);
        let line = line_of(&b);
        assert!(
            line.starts_with("{\"kind\":\"block\",\"epoch\":1,"),
            "{line}"
        );
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        assert_eq!(parse(&line).records, [b]);
        // The contract's own examples parse (extra fields ignored).
        let text = r#"{"kind":"start", "resumed":false, "seed":1, "config":{}}
{"kind":"block","epoch":1,"pairs_seen":123456,"elapsed_s":1.5,"loss":0.41,"lr":0.0248,"pairs_per_s":8.1e6,"future":true}
{"kind":"eval","epoch":1,"pairs_seen":9,"set":"hj.csv","spearman":0.41,"coverage":[253,398]}
{"kind":"end","pairs_seen":9,"elapsed_s":2.0,"outcome":"done"}
"#;
        let log = parse(text);
        assert!(log.malformed.is_empty(), "{:?}", log.malformed);
        assert_eq!(log.records.len(), 4);
        match &log.records[2] {
            LogRecord::Eval(e) => assert_eq!((e.set.as_str(), e.coverage), ("hj.csv", [253, 398])),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_unknown_kinds_skipped() {
        let text = format!(
            "{}not json\n\n{{\"kind\":\"block\",\"epoch\":1}}\n[1,2]\n{{\"kind\":\"histogram\",\"x\":1}}\n{}{{\"kind\":\"blo",
            line_of(&block(1, 0.5)),
            line_of(&block(2, 1.0)),
        );
        let log = parse(&text);
        assert_eq!(log.records, [block(1, 0.5), block(2, 1.0)]);
        assert_eq!(log.unknown, 1);
        let lines: Vec<usize> = log.malformed.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5, 8]);
        assert!(
            log.malformed[0].reason.contains("not JSON"),
            "{:?}",
            log.malformed
        );
        assert!(
            log.malformed[1].reason.contains("not a valid block record")
                && log.malformed[1].reason.contains("pairs_seen"),
            "{:?}",
            log.malformed
        );
        // Binary garbage is reported, not a panic.
        let junk = parse(&String::from_utf8_lossy(&[0xff, 0xfe, b'\n', 0, 1, 2]));
        assert_eq!(junk.malformed.len(), 2);
    }

    #[test]
    fn an_eval_record_without_a_score_reads_back_as_nan() {
        // serde_json writes a NaN as null; the reader takes null back.
        let line = r#"{"kind":"eval","epoch":1,"pairs_seen":5,"set":"a.tsv","spearman":null,"pearson":null,"coverage":[3,3]}"#;
        let log = parse(line);
        assert!(log.malformed.is_empty(), "{:?}", log.malformed);
        let [LogRecord::Eval(e)] = &log.records[..] else {
            panic!("{:?}", log.records);
        };
        assert!(e.spearman.is_nan() && e.pearson.is_nan(), "{e:?}");
        let written = line_of(&LogRecord::Eval(e.clone()));
        assert!(written.contains(r#""spearman":null"#), "{written}");
    }

    #[test]
    fn a_missing_log_is_an_error_naming_it_and_an_empty_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("read training log") && e.contains("train.jsonl"),
            "{e}"
        );
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_log(&p).unwrap(), TrainLog::default());
    }

    #[test]
    fn a_resumption_cuts_the_records_past_its_checkpoint() {
        let text = [
            line_of(&block(100, 1.0)),
            line_of(&block(200, 2.0)),
            "garbage\n".to_string(),
            line_of(&block(300, 3.0)),
            line_of(&block(400, 4.0)),
        ]
        .concat();
        let (kept, elapsed) = cut_at(&text, 250);
        let log = parse(kept);
        assert_eq!(log.records, [block(100, 1.0), block(200, 2.0)]);
        assert_eq!(log.malformed.len(), 1, "a bad line before the cut stays");
        assert_eq!(elapsed, 2.0);
        // A record exactly at the checkpoint stays; a torn last line goes.
        let (kept, _) = cut_at(&text, 400);
        assert_eq!(kept, text);
        let torn = format!("{}{{\"kind\":\"blo", line_of(&block(100, 1.0)));
        assert_eq!(cut_at(&torn, 1000).0, line_of(&block(100, 1.0)));
    }

    #[test]
    fn a_run_log_appends_flushed_lines_and_a_resume_continues_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = TrainConfig {
            output: dir.path().to_path_buf(),
            ..Default::default()
        };
        let vocab = Vocab::default();
        let mut log =
            RunLog::open(&cfg, 0, 1000, "test", Evals::load(&cfg, &vocab).unwrap()).unwrap();
        let loss = LossSum { sum: 5.0, count: 2 };
        log.drained(0, 300, loss).unwrap();
        log.drained(0, 600, loss).unwrap();
        // Visible to a reader before the run ends, beside the checkpoints.
        let seen = read(&running_path_in(dir.path())).unwrap();
        assert_eq!(log_of(dir.path()), running_path_in(dir.path()));
        assert!(!path_in(dir.path()).exists());
        assert_eq!(seen.len(), 3);
        match &seen[2] {
            LogRecord::Block(b) => {
                assert_eq!(
                    (b.epoch, b.pairs_seen, b.loss, b.loss_pairs),
                    (1, 600, 2.5, 2)
                );
                assert!((b.lr - 0.025 * 0.4).abs() < 1e-6, "{}", b.lr);
                assert!(b.pairs_per_s > 0.0 && b.elapsed_s >= 0.0);
            }
            r => panic!("{r:?}"),
        }
        log.end(600, &Err::<(), _>(Error::Interrupted { path: "x".into() }))
            .unwrap();
        drop(log);
        // Resumed from a checkpoint at 300: the records past it go.
        cfg.resume = true;
        let mut log =
            RunLog::open(&cfg, 300, 1000, "test", Evals::load(&cfg, &vocab).unwrap()).unwrap();
        log.drained(0, 700, loss).unwrap();
        log.end(700, &Ok(())).unwrap();
        // Once the model is written, the log takes its place in it.
        log.commit(dir.path()).unwrap();
        assert!(!running_path_in(dir.path()).exists());
        let seen = read(&path_in(dir.path())).unwrap();
        let pairs: Vec<u64> = seen.iter().map(LogRecord::pairs_seen).collect();
        assert_eq!(pairs, [0, 300, 300, 700, 700]);
        assert!(matches!(&seen[2], LogRecord::Start(s) if s.resumed && s.pairs_seen == 300));
        assert!(matches!(&seen[4], LogRecord::End(e) if e.outcome == Outcome::Done));
        // A fresh run starts its log afresh; the finished one stays.
        cfg.resume = false;
        drop(RunLog::open(&cfg, 0, 1000, "test", Evals::load(&cfg, &vocab).unwrap()).unwrap());
        assert_eq!(read(&running_path_in(dir.path())).unwrap().len(), 1);
        assert_eq!(read(&path_in(dir.path())).unwrap().len(), 5);
        assert_eq!(log_of(dir.path()), path_in(dir.path()));
    }
}
