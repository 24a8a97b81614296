//! `w2v prep`: raw corpora in, one normalized segment per line out.
//!
//! In: any mix of files, directories and stdin (see [`crate::corpus`]).
//! Out: `data/corpus.txt` (tokens joined by single spaces, one segment per
//! line, no empty lines) and `data/corpus.txt.prep.manifest.json` (inputs,
//! settings, counts; see [`crate::manifest::prep_manifest_path`]). With
//! `-o -` the corpus goes to stdout and no manifest is written (later stages
//! refuse a corpus without one).
//!
//! Input discovery skips the output itself, every w2v manifest and every
//! hidden file (temp files included), so re-running prep on the directory it
//! writes into never reads its own output.
//!
//! A reader thread decodes inputs in order and packs text units into ~2 MiB
//! blocks; a rayon pool normalizes a window of blocks in parallel, and the
//! blocks are written back in order. Memory is bounded by the window, output
//! order does not depend on the thread count, and the output goes through a
//! temp file that is renamed only when everything succeeded.

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::corpus::{discover, Input, ReadConfig, ReadStats, Reader};
use crate::error::{io_err, joined, Error, Result};
use crate::manifest::{fingerprint_unless, Manifest, Sink};
use crate::normalize::{NormalizeConfig, Normalizer};
use crate::progress::Progress;

/// Block size handed to one normalizing task.
const BLOCK_BYTES: usize = 2 << 20;

/// Settings of the prep stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PrepConfig {
    /// Files, directories or `-`. By default, none (an error).
    pub inputs: Vec<PathBuf>,
    /// Output corpus. By default, `data/corpus.txt`.
    pub output: PathBuf,
    /// How inputs are read. By default, detected formats.
    pub read: ReadConfig,
    /// Normalization rules. By default, see [`NormalizeConfig`].
    pub normalize: NormalizeConfig,
    /// Segments with fewer tokens are dropped. By default, 1.
    pub min_tokens: usize,
    /// Worker threads; 0 means all cores. By default, 0.
    pub threads: usize,
    /// Recorded for provenance; prep itself draws no random numbers. By default, 1.
    pub seed: u64,
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            inputs: Vec::new(),
            output: PathBuf::from("data/corpus.txt"),
            read: ReadConfig::default(),
            normalize: NormalizeConfig::default(),
            min_tokens: 1,
            threads: 0,
            seed: 1,
        }
    }
}

impl PrepConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(Error::InvalidConfig("prep needs at least one input".into()));
        }
        if self.normalize.max_token_chars == 0 {
            return Err(Error::InvalidConfig(
                "--max-token-chars must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.read.min_cyrillic_share) {
            return Err(Error::InvalidConfig(
                "--min-cyrillic-share must be within 0..=1".into(),
            ));
        }
        Ok(())
    }
}

/// What prep did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrepSummary {
    pub inputs: Vec<Input>,
    pub read: ReadStats,
    pub lines_out: u64,
    pub tokens_out: u64,
    pub bytes_out: u64,
    pub segments_below_min_tokens: u64,
    pub elapsed_s: f64,
    pub mb_per_s: f64,
}

struct Block {
    text: String,
}

struct Normalized {
    text: Vec<u8>,
    lines: u64,
    tokens: u64,
    dropped: u64,
}

/// A normalized block on its way back to the writer.
struct Finished {
    /// The block's place in input order.
    seq: u64,
    /// The block, or the panic of the worker that normalized it.
    block: std::thread::Result<Normalized>,
}

fn normalize_block(norm: &Normalizer, min_tokens: usize, block: &Block) -> Normalized {
    let mut out = Vec::with_capacity(block.text.len());
    let (mut lines, mut tokens, mut dropped) = (0, 0, 0);
    for line in block.text.split('\n') {
        let start = out.len();
        let n = norm.normalize_into_bytes(line, &mut out);
        if n == 0 {
            continue;
        }
        if n < min_tokens {
            out.truncate(start);
            dropped += 1;
            continue;
        }
        out.push(b'\n');
        lines += 1;
        tokens += n as u64;
    }
    Normalized {
        text: out,
        lines,
        tokens,
        dropped,
    }
}

/// Runs the prep stage.
pub fn run(cfg: &PrepConfig, progress: &Progress) -> Result<PrepSummary> {
    cfg.validate()?;
    let start = Instant::now();
    let to_stdout = cfg.output.as_os_str() == "-";
    let dir = crate::manifest::parent_dir(&cfg.output);
    let _lock = if to_stdout {
        None
    } else {
        crate::manifest::check_output_path(&cfg.output, "prep")?;
        crate::manifest::claim_dir(dir, crate::manifest::Owner::Prep)?;
        Some(crate::manifest::lock_dir(dir)?)
    };
    // The files a directory walk passes over are counted here.
    let mut walked = ReadStats::default();
    let inputs = without_output(discover(&cfg.inputs, &cfg.read, &mut walked)?, cfg)?;
    // Unknown (0) when stdin or a pipe is among the inputs: it has no size
    // up front.
    let total: u64 = if inputs.iter().any(|i| crate::corpus::is_stream(&i.path)) {
        0
    } else {
        inputs.iter().map(|i| i.bytes).sum()
    };
    let stage = progress.stage("prep", total, "bytes");
    let pool = crate::parallel::pool(cfg.threads)?;
    let threads = pool.current_num_threads();
    let norm = Normalizer::new(cfg.normalize.clone());
    let window = threads * 2;
    let (tx, rx) = sync_channel::<Block>(window * 2);

    let mut out = Sink::create(&cfg.output)?;
    let mut summary = PrepSummary {
        inputs: inputs.clone(),
        ..Default::default()
    };
    // The output's fingerprint, hashed as it is written (not read back).
    let mut out_hash = xxhash_rust::xxh3::Xxh3::new();

    let stop_prints = std::sync::atomic::AtomicBool::new(false);
    let ((mut read_stats, streams_read), input_prints) =
        std::thread::scope(|scope| -> Result<_> {
            // The inputs' fingerprints for the manifest, hashed alongside the
            // work instead of after it.
            let prints = scope.spawn(|| {
                inputs
                    .iter()
                    .filter(|i| !crate::corpus::is_stream(&i.path))
                    .map(|i| fingerprint_unless(&i.path, &stop_prints))
                    .collect::<Result<Vec<_>>>()
            });
            let reader_stage = stage.clone();
            let read_cfg = &cfg.read;
            let inputs = &inputs;
            let producer = scope.spawn(move || -> Result<(ReadStats, Vec<Input>)> {
                let mut reader = Reader::new(read_cfg)?;
                let mut block = String::with_capacity(BLOCK_BYTES + 4096);
                for input in inputs {
                    let st = reader_stage.clone();
                    let mut sink = |unit: &str| -> Result<()> {
                        // Units may hold newlines (documents): each line is a segment.
                        block.push_str(unit);
                        block.push('\n');
                        if block.len() >= BLOCK_BYTES {
                            let full = std::mem::replace(
                                &mut block,
                                String::with_capacity(BLOCK_BYTES + 4096),
                            );
                            // The consumer hung up: it failed, and reports why.
                            tx.send(Block { text: full })
                                .map_err(|_| Error::Cancelled)?;
                        }
                        Ok(())
                    };
                    reader.read(input, Box::new(move |n| st.inc(n)), &mut sink)?;
                }
                if !block.is_empty() {
                    let _ = tx.send(Block { text: block });
                }
                drop(tx);
                Ok((reader.stats, reader.streams))
            });

            // Blocks go to the pool as they arrive, up to `window` in flight,
            // and are written in order as they finish: the pool never waits for
            // the writer or for a batch to fill.
            let consume = (|| -> Result<()> {
                let (done_tx, done_rx) = std::sync::mpsc::channel::<Finished>();
                let mut finished = std::collections::BTreeMap::new();
                let (mut submitted, mut written) = (0u64, 0u64);
                let mut reader_done = false;
                loop {
                    while !reader_done && submitted - written < window as u64 {
                        // Block on the reader only when the pool has nothing.
                        let got = if submitted == written {
                            rx.recv().ok()
                        } else {
                            rx.try_recv().ok()
                        };
                        match got {
                            Some(block) => {
                                let (norm, done_tx, seq) =
                                    (norm.clone(), done_tx.clone(), submitted);
                                let min_tokens = cfg.min_tokens;
                                pool.spawn(move || {
                                    // A panic is caught and sent to the writer,
                                    // which reports it (in a rayon job it would
                                    // abort the process).
                                    let block =
                                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                            || normalize_block(&norm, min_tokens, &block),
                                        ));
                                    // The receiver is gone only if the writer failed.
                                    let _ = done_tx.send(Finished { seq, block });
                                });
                                submitted += 1;
                            }
                            None if submitted == written => reader_done = true,
                            None => break,
                        }
                    }
                    if submitted == written {
                        return Ok(());
                    }
                    let done = done_rx.recv().expect("prep worker lost its block");
                    finished.insert(done.seq, joined("prep normalizer", done.block)?);
                    while let Some(n) = finished.remove(&written) {
                        std::io::Write::write_all(&mut out, &n.text)
                            .map_err(io_err(&cfg.output, "write"))?;
                        out_hash.update(&n.text);
                        summary.lines_out += n.lines;
                        summary.tokens_out += n.tokens;
                        summary.bytes_out += n.text.len() as u64;
                        summary.segments_below_min_tokens += n.dropped;
                        written += 1;
                    }
                    stage.message(format!("{} tokens", summary.tokens_out));
                }
            })();
            drop(rx);
            let produced = joined("prep reader", producer.join()).and_then(|r| r);
            if produced.is_err() || consume.is_err() {
                stop_prints.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let prints = joined("prep fingerprint", prints.join()).and_then(|r| r);
            // A reader error explains a writer stop, so it comes first; but a
            // reader that only stopped because the writer failed defers to it.
            match (produced, consume) {
                (Err(Error::Cancelled), Err(e)) | (Ok(_), Err(e)) => Err(e),
                (Err(e), _) => Err(e),
                (Ok(stats), Ok(())) => Ok((stats, prints?)),
            }
        })?;
    stage.finish();
    read_stats.walk_metadata = walked.walk_metadata;
    read_stats.walk_unread = walked.walk_unread;
    read_stats.walk_unread_examples = walked.walk_unread_examples;
    read_stats.walk_metadata_examples = walked.walk_metadata_examples;
    read_stats.walk_own_outputs = walked.walk_own_outputs;
    read_stats.walk_special = walked.walk_special;
    read_stats.walk_special_examples = walked.walk_special_examples;
    read_stats.duplicates = walked.duplicates;
    if summary.lines_out == 0 && read_stats.bad_records > 0 {
        let jsonl = inputs
            .iter()
            .find(|i| i.format == crate::corpus::Format::Jsonl)
            .map_or_else(|| cfg.inputs[0].clone(), |i| i.path.clone());
        let message = if read_stats.not_json == read_stats.bad_records {
            format!(
                "no text read: its {} lines are not JSON; JSON Lines holds one object per line (convert a pretty-printed file first, e.g. jq -c . FILE > FILE.jsonl)",
                read_stats.bad_records
            )
        } else {
            format!(
                "no text read: {} JSONL records are not JSON or have no string field '{}'; name the field with --text-field",
                read_stats.bad_records,
                crate::error::shown(&cfg.read.text_field)
            )
        };
        return Err(Error::InvalidInput {
            path: jsonl,
            message,
        });
    }
    let out = out.finish()?;

    if read_stats.bad_records > 0 {
        let files = &read_stats.bad_record_files;
        let more = if files.len() >= crate::corpus::INVALID_FILES_LISTED {
            ", ..."
        } else {
            ""
        };
        let files: Vec<String> = files.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        progress.warn(&format!(
            "skipped {} JSONL records that are not JSON or have no string field '{}' (--text-field), in {}{more}",
            read_stats.bad_records,
            crate::error::shown(&cfg.read.text_field),
            files.join(", ")
        ));
    }
    if read_stats.walk_unread + read_stats.walk_metadata > 0 {
        let such = crate::corpus::such_as::<String>;
        progress.warn(&format!(
            "passed over {} files in the directories given, as an archive's entries would be: {} metadata{} (meta/, tagged_texts/, *metadata*, --skip-pattern) and {} of a kind prep reads only when named{}; name a file on the command line to read it",
            read_stats.walk_unread + read_stats.walk_metadata,
            read_stats.walk_metadata,
            such(&read_stats.walk_metadata_examples),
            read_stats.walk_unread,
            such(&read_stats.walk_unread_examples),
        ));
    }
    if read_stats.walk_special > 0 {
        progress.warn(&format!(
            "passed over {} entries in the directories given that are not regular files (FIFOs, sockets, devices or dangling links){}; name a FIFO on the command line to read it",
            read_stats.walk_special,
            crate::corpus::such_as(&read_stats.walk_special_examples),
        ));
    }
    if read_stats.walk_own_outputs > 0 {
        progress.info(&format!(
            "passed over {} of w2v's own outputs in the directories given (a corpus prep wrote, a vocabulary, shards or a model directory)",
            read_stats.walk_own_outputs
        ));
    }
    if read_stats.duplicates > 0 {
        progress.warn(&format!(
            "{} inputs were given more than once (named and also found in a directory, or reached through a link): each was read once",
            read_stats.duplicates
        ));
    }
    if read_stats.unread_entries > 0 {
        progress.warn(&format!(
            "skipped {} archive entries of a kind prep does not read inside an archive{}; extract them and pass them to prep directly",
            read_stats.unread_entries,
            crate::corpus::such_as(&read_stats.unread_examples)
        ));
    }
    for f in &read_stats.empty_files {
        let input = inputs.iter().find(|i| i.path.display().to_string() == *f);
        match input.filter(|i| i.bytes > 0) {
            // Bytes but no text: most likely the wrong --format.
            Some(i) => progress.warn(&format!(
                "{f}: no text read from its {} bytes as {}{}",
                i.bytes,
                i.format.name(),
                if cfg.read.format.is_some() {
                    "; is --format right?"
                } else {
                    ""
                }
            )),
            None => progress.warn(&format!("{f}: empty input, nothing read")),
        }
    }
    if summary.lines_out == 0 {
        let why = format!(
            "{} text units read, {} dropped by --min-cyrillic-share, {} segments under --min-tokens {}",
            read_stats.units,
            read_stats.non_cyrillic_dropped,
            summary.segments_below_min_tokens,
            cfg.min_tokens
        );
        // An empty result never replaces a corpus already there (the next
        // stages refuse an empty one anyway), nor any other file with
        // something in it: the run fails and keeps it.
        let kept = if is_prep_output(&cfg.output) {
            Some("the corpus already here")
        } else if std::fs::metadata(&cfg.output).is_ok_and(|m| m.is_file() && m.len() > 0) {
            Some("the file already here")
        } else {
            None
        };
        if let Some(what) = kept.filter(|_| !to_stdout) {
            return Err(Error::InvalidInput {
                path: cfg.output.clone(),
                message: format!("the inputs gave no text ({why}); {what} is kept, not replaced by an empty corpus"),
            });
        }
        progress.warn(&format!(
            "{}: wrote an empty corpus ({why}); the next stages need text",
            cfg.output.display()
        ));
    }
    // Stdin's entry as read: the size and compression its bytes showed.
    for seen in streams_read {
        for i in summary.inputs.iter_mut().filter(|i| i.path == seen.path) {
            *i = seen.clone();
        }
    }
    // (Replaced invalid UTF-8 is reported by the caller, from the summary.)
    summary.read = read_stats;
    summary.elapsed_s = start.elapsed().as_secs_f64();
    // What was read, not the inputs' sizes: stdin has none up front.
    summary.mb_per_s = summary.read.bytes_in as f64 / 1e6 / summary.elapsed_s.max(1e-9);

    if to_stdout {
        return Ok(summary);
    }
    let mut m = Manifest::new("prep", cfg.seed, cfg);
    m.inputs = input_prints;
    m.outputs = vec![crate::manifest::Fingerprint {
        path: cfg.output.display().to_string(),
        bytes: summary.bytes_out,
        xxh3: format!("{:016x}", out_hash.digest()),
    }];
    m.summary = serde_json::to_value(&summary).unwrap_or_default();
    // The corpus and its manifest are replaced together, only by renames.
    let manifest = m.prepare(&crate::manifest::prep_manifest_path(&cfg.output))?;
    crate::manifest::commit_with_manifest(out.into_iter().collect(), manifest)?;
    Ok(summary)
}

/// The inputs without prep's own output: dropped when a directory walk
/// found it, refused when named as an input.
/// Whether `path` is a corpus a previous run of prep wrote (its manifest
/// beside it).
fn is_prep_output(path: &std::path::Path) -> bool {
    path.is_file() && crate::manifest::prep_manifest_path(path).is_file()
}

fn without_output(inputs: Vec<Input>, cfg: &PrepConfig) -> Result<Vec<Input>> {
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let Some(out) = canon(&cfg.output) else {
        return Ok(inputs);
    };
    let mut kept = Vec::with_capacity(inputs.len());
    for i in inputs {
        if i.path.as_os_str() != "-" && canon(&i.path).as_ref() == Some(&out) {
            // Found by walking a directory, a previous prep output (its
            // manifest beside it) is left out; any other file there is the
            // user's text, which the run would overwrite.
            if cfg.inputs.contains(&i.path) || !is_prep_output(&i.path) {
                return Err(Error::InvalidConfig(format!(
                    "{} is both an input and the output (-o); write the corpus elsewhere",
                    i.path.display()
                )));
            }
            continue;
        }
        kept.push(i);
    }
    if kept.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "no input left once the output {} is left out",
            cfg.output.display()
        )));
    }
    Ok(kept)
}
