//! A model directory: the one reader and writer of what `train` and `import`
//! produce, and what every query reads.
//!
//! In ([`ModelDir::write`], from [`ModelParts`]): the word list, the input
//! vectors (optionally the output vectors), the normalization the corpus went
//! through, and the producing stage's provenance.
//! Out, in one directory:
//! - `input.npy`: float32 `V × dim`, C order, the word vectors;
//! - `output.npy`: float32 `V × dim`, the context vectors (`train --save-output`);
//! - `norms.npy`: float32 `V`, the L2 norm of each input row;
//! - `words.txt`: one word per line, line number = id;
//! - `ngrams.npy` (subword models, `train --subwords`): float32
//!   `buckets × dim`, the n-gram rows; `input.npy` then holds each word's
//!   composed vector (the mean of its own row and its n-gram rows), and the
//!   manifest's `subwords` the n-gram settings ([`crate::subword`]).
//! - [`MANIFEST_FILE`] ([`ModelManifest`]), written last: the usual
//!   [`Manifest`] fields (stage, version, seed, config, input and output
//!   fingerprints, summary) plus `format_version` ([`FORMAT_VERSION`]),
//!   `dim`, `vocab_size`, `normalize` (the [`NormalizeConfig`] queries must
//!   apply) and `normalize_source`;
//! - [`TRAIN_LOG`] (`train.jsonl`, written by `train` only): the training
//!   log ([`crate::train::log`]). It belongs to the directory but is not
//!   fingerprinted in the manifest: training appends to it while it runs
//!   (before the manifest exists), and no query reads it. `import` removes a
//!   stale one, which would describe other vectors.
//!
//! Every file goes through a temp file and a rename. All the new files are
//! written and synced under temp names first, so a full disk or a kill while
//! writing leaves the old model as it was; then the old manifest is removed,
//! the files are renamed into place and the new manifest lands last, so a
//! directory caught in those renames has no manifest and is refused rather
//! than read as a mix of two models.
//!
//! [`ModelDir::open`] trusts nothing it reads: the manifest must come from
//! `train` or `import` and carry a known format version; `input.npy` rows,
//! `words.txt` lines, `norms.npy` rows and the manifest's `vocab_size` must
//! agree; `input.npy` columns must equal `dim`; and `words.txt` and
//! `norms.npy` must hash to the fingerprints the manifest lists. Every
//! failure is an [`Error`] naming the file.
//!
//! **What is verified when.** `words.txt` and `norms.npy` are small (a few
//! bytes a word) and are hashed whole on every open. `input.npy` can be
//! gigabytes (2.5M × 128 is 1.3 GB) and a query maps it without reading
//! it, so open checks its shape and a sample of 1024 evenly spaced rows
//! (finite, and of the norm `norms.npy` records), which costs milliseconds
//! and catches a matrix from another model or a wholesale corruption. A
//! corrupt value elsewhere is caught where it is used: a query row must be
//! finite and of its recorded norm, and a non-finite score in a scan is an
//! error naming the row ([`crate::query`]), so a NaN never ranks first.
//! [`ModelDir::verify`] hashes `input.npy` (and `output.npy`) whole against
//! the manifest; `eval` and `export`, which read every row anyway or whose
//! results outlive the run, call it. BENCHMARKS.md has the measured costs. A directory written before format versions were recorded (no
//! `format_version`, no `normalize`) still opens with the default normalizer;
//! [`ModelDir::is_legacy`] says so, and the caller decides whether to warn.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::embeddings::{npy_file, row_norms, NpyMatrix};
use crate::error::{invalid, io_err, json_err, Error, Result};
use crate::manifest::{fingerprint_bytes, AtomicFile, Fingerprint, Manifest};
use crate::normalize::{NormalizeConfig, NormalizeSource};
use crate::subword::SubwordConfig;

/// The model format this build writes, and the newest it reads. Directories
/// without a `format_version` (written before it was recorded) are read as
/// legacy models.
pub const FORMAT_VERSION: u32 = 1;

/// The model manifest's file name. Directories written before manifests had
/// stage-specific names hold `manifest.json` instead, which is still read.
pub const MANIFEST_FILE: &str = crate::manifest::MODEL_MANIFEST;

/// The manifest of the model in `dir`: [`MANIFEST_FILE`], or a legacy
/// `manifest.json` when only that exists.
pub fn manifest_of(dir: &Path) -> PathBuf {
    let new = dir.join(MANIFEST_FILE);
    let legacy = dir.join(crate::manifest::LEGACY_FILE_NAME);
    if !new.exists() && legacy.is_file() {
        legacy
    } else {
        new
    }
}

/// The training log in a model directory ([`crate::train::log`]).
pub const TRAIN_LOG: &str = "train.jsonl";

const INPUT: &str = "input.npy";
const OUTPUT: &str = "output.npy";
const NORMS: &str = "norms.npy";
const WORDS: &str = "words.txt";
const NGRAMS: &str = "ngrams.npy";

/// Every file of a model directory besides its manifest.
pub(crate) const FILES: [&str; 6] = [INPUT, OUTPUT, NORMS, NGRAMS, WORDS, TRAIN_LOG];

/// A subword model's n-gram side, for [`ModelDir::write_locked_subwords`].
pub struct Subwords<'a> {
    /// How words are cut into n-grams.
    pub config: SubwordConfig,
    /// The n-gram rows, `buckets × dim`.
    pub ngrams: &'a [f32],
}

/// Which stage produced a model directory (the manifest's `stage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Producer {
    /// `w2v train`.
    Train,
    /// `w2v import` (word2vec vectors from elsewhere).
    Import,
}

impl Producer {
    /// The stage name recorded in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Producer::Train => "train",
            Producer::Import => "import",
        }
    }

    fn parse(stage: &str) -> Option<Producer> {
        match stage {
            "train" => Some(Producer::Train),
            "import" => Some(Producer::Import),
            _ => None,
        }
    }
}

/// The model manifest as stored. The model-specific fields are optional only
/// because legacy directories lack them; [`ModelDir::open`] requires them
/// from format version 1 on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Stage, crate version, seed, config, fingerprints, summary.
    #[serde(flatten)]
    pub manifest: Manifest,
    /// The model format ([`FORMAT_VERSION`] when written by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_version: Option<u32>,
    /// Vector dimension (`input.npy` columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Number of words (`input.npy` rows, `words.txt` lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// The normalization the corpus went through; queries apply the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<NormalizeConfig>,
    /// Where `normalize` came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize_source: Option<NormalizeSource>,
    /// A subword model's n-gram settings (`ngrams.npy` holds the rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subwords: Option<SubwordConfig>,
}

/// What [`ModelDir::write`] writes, borrowed from the caller.
pub struct ModelParts<'a> {
    /// The producing stage.
    pub producer: Producer,
    /// Word of each id.
    pub words: &'a [String],
    /// Input vectors, `words.len() × dim`, row-major.
    pub input: &'a [f32],
    /// Output (context) vectors, same shape, when they are to be saved.
    pub output: Option<&'a [f32]>,
    /// Vector dimension.
    pub dim: usize,
    /// The normalization the corpus went through.
    pub normalize: NormalizeConfig,
    /// Where `normalize` came from.
    pub normalize_source: NormalizeSource,
    /// The master seed of the producing stage.
    pub seed: u64,
    /// The producing stage's config.
    pub config: serde_json::Value,
    /// Fingerprints of the files the stage read.
    pub inputs: Vec<Fingerprint>,
    /// Stage-specific figures.
    pub summary: serde_json::Value,
}

/// An opened, checked model directory.
pub struct ModelDir {
    dir: PathBuf,
    manifest: ModelManifest,
    producer: Producer,
    input: NpyMatrix,
    norms: NpyMatrix,
    /// `words.txt`, checked to be UTF-8.
    words: String,
    /// Byte offset of each line of `words`, built on first use.
    line_starts: OnceLock<Vec<usize>>,
    dim: usize,
    vocab_size: usize,
    normalize: NormalizeConfig,
    legacy: bool,
    /// A subword model's settings and n-gram rows.
    ngrams: Option<(SubwordConfig, NpyMatrix)>,
}

fn mismatch(path: PathBuf, message: impl Into<String>) -> Error {
    Error::Mismatch {
        path,
        message: message.into(),
    }
}

/// Removes `path` if it exists.
fn remove_if_present(path: &Path, action: &'static str) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path, action)(e)),
        _ => Ok(()),
    }
}

/// Checks `got` (the fingerprint of `path` as read) against the one the
/// manifest lists under the same file name. Legacy `import` manifests list
/// no outputs; for them a missing entry is accepted.
fn check_fingerprint(
    manifest: &ModelManifest,
    legacy: bool,
    path: &Path,
    got: &Fingerprint,
) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stage = &manifest.manifest.stage;
    match manifest.manifest.output(name) {
        Some(want) if want.bytes != got.bytes || want.xxh3 != got.xxh3 => Err(mismatch(
            path.to_path_buf(),
            format!(
                "does not match {MANIFEST_FILE} (xxh3 {} vs {}, {} vs {} bytes); it changed after the '{stage}' stage wrote it",
                got.xxh3, want.xxh3, got.bytes, want.bytes
            ),
        )),
        Some(_) => Ok(()),
        None if legacy => Ok(()),
        None => Err(mismatch(
            path.with_file_name(MANIFEST_FILE),
            format!("does not list {name}; re-run the '{stage}' stage"),
        )),
    }
}

/// [`check_fingerprint`] of bytes in memory.
fn check_recorded(manifest: &ModelManifest, legacy: bool, path: &Path, bytes: &[u8]) -> Result<()> {
    check_fingerprint(manifest, legacy, path, &fingerprint_bytes(path, bytes))
}

/// Rows of `input.npy` checked at every open.
const SAMPLE_ROWS: usize = 1024;

/// Checks that row `i` of `input` is finite and has the norm `norms`
/// records (as [`row_norms`] computes it, within 1e-4 relative).
pub(crate) fn check_row(
    path: &Path,
    input: &NpyMatrix,
    norms: &NpyMatrix,
    i: usize,
    word: Option<&str>,
) -> Result<()> {
    let row = input.row(i);
    let what = || match word {
        Some(w) if w.chars().count() > 60 => {
            format!("row {i} ('{}…')", w.chars().take(60).collect::<String>())
        }
        Some(w) => format!("row {i} ('{w}')"),
        None => format!("row {i}"),
    };
    if row.iter().any(|x| !x.is_finite()) {
        return Err(mismatch(
            path.to_path_buf(),
            format!(
                "{} holds a non-finite value (NaN or infinity); the file is corrupt or was edited after it was written",
                what()
            ),
        ));
    }
    let got = row_norms(row, row.len())[0];
    let want = norms.data()[i];
    if (got - want).abs() > 1e-4 * got.max(want) + 1e-30 {
        return Err(mismatch(
            path.to_path_buf(),
            format!(
                "{} has norm {got} but norms.npy records {want}; the two files are not from one model",
                what()
            ),
        ));
    }
    Ok(())
}

/// [`check_row`] on [`SAMPLE_ROWS`] evenly spaced rows and the last.
fn check_sample(path: &Path, input: &NpyMatrix, norms: &NpyMatrix) -> Result<()> {
    let v = input.rows();
    let n = SAMPLE_ROWS.min(v);
    for k in 0..n {
        check_row(path, input, norms, k * v / n, None)?;
    }
    check_row(path, input, norms, v - 1, None)
}

/// Lines of a `words.txt` (the last one may lack its newline).
fn count_lines(text: &str) -> usize {
    let n = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    n + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

/// How long [`ModelDir::open`] waits for a writer's swap to complete.
pub const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl ModelDir {
    /// Writes a model directory into `dir` (created if needed) and returns
    /// the manifest written: claims the directory (it must not hold another
    /// stage's output) and holds its lock while writing.
    pub fn write(dir: &Path, parts: &ModelParts<'_>) -> Result<ModelManifest> {
        Self::check_parts(dir, parts)?;
        crate::manifest::claim_dir(dir, crate::manifest::Owner::Model)?;
        let _lock = crate::manifest::lock_dir(dir)?;
        Self::write_locked(dir, parts)
    }

    /// The manifest of a model already in `dir` (written by train or import), if any.
    pub fn existing(dir: &Path) -> Option<PathBuf> {
        let m = manifest_of(dir);
        let text = std::fs::read_to_string(&m).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let stage = v.get("stage")?.as_str()?;
        Producer::parse(stage).map(|_| m)
    }

    /// Refuses inconsistent parts before anything is written.
    fn check_parts(dir: &Path, parts: &ModelParts<'_>) -> Result<()> {
        let (v, dim) = (parts.words.len(), parts.dim);
        if dim == 0 || v == 0 {
            return Err(invalid(
                dir.join(INPUT),
                format!("a model needs at least one word and one dimension, got {v} × {dim}"),
            ));
        }
        for (name, data) in [(INPUT, Some(parts.input)), (OUTPUT, parts.output)] {
            if let Some(data) = data {
                if data.len() != v * dim {
                    return Err(invalid(
                        dir.join(name),
                        format!("{} values for {v} words × {dim} dimensions", data.len()),
                    ));
                }
            }
        }
        if let Some(i) = parts.words.iter().position(|w| w.contains('\n')) {
            return Err(invalid(
                dir.join(WORDS),
                format!("word {i} contains a newline"),
            ));
        }
        Ok(())
    }

    /// [`ModelDir::write`] for a caller that already holds `dir`'s lock.
    pub fn write_locked(dir: &Path, parts: &ModelParts<'_>) -> Result<ModelManifest> {
        Self::write_locked_subwords(dir, parts, None)
    }

    /// [`ModelDir::write_locked`], with a subword model's n-gram rows when
    /// `subwords` is given (`parts.input` then holds the composed vectors).
    pub fn write_locked_subwords(
        dir: &Path,
        parts: &ModelParts<'_>,
        subwords: Option<&Subwords<'_>>,
    ) -> Result<ModelManifest> {
        Self::check_parts(dir, parts)?;
        if let Some(sw) = subwords {
            if sw.ngrams.len() != sw.config.buckets as usize * parts.dim {
                return Err(invalid(
                    dir.join(NGRAMS),
                    format!(
                        "{} values for {} buckets × {} dimensions",
                        sw.ngrams.len(),
                        sw.config.buckets,
                        parts.dim
                    ),
                ));
            }
        }
        let (v, dim) = (parts.words.len(), parts.dim);
        crate::manifest::claim_dir(dir, crate::manifest::Owner::Model)?;
        std::fs::create_dir_all(dir).map_err(io_err(dir, "create model directory"))?;
        // Every new file is written and synced under a temp name first, so a
        // full disk or a kill while writing leaves the old model as it was.
        let mut staged = vec![(
            INPUT,
            npy_file(&dir.join(INPUT), parts.input, &[v, dim])?.finish()?,
        )];
        staged.push((
            NORMS,
            npy_file(&dir.join(NORMS), &row_norms(parts.input, dim), &[v])?.finish()?,
        ));
        if let Some(sw) = subwords {
            staged.push((
                NGRAMS,
                npy_file(
                    &dir.join(NGRAMS),
                    sw.ngrams,
                    &[sw.config.buckets as usize, dim],
                )?
                .finish()?,
            ));
        }
        let mut text = String::with_capacity(v * 10);
        for w in parts.words {
            text.push_str(w);
            text.push('\n');
        }
        let wpath = dir.join(WORDS);
        let mut wf = AtomicFile::create(&wpath)?;
        std::io::Write::write_all(&mut wf, text.as_bytes()).map_err(io_err(&wpath, "write"))?;
        staged.push((WORDS, wf.finish()?));
        if let Some(output) = parts.output {
            staged.push((
                OUTPUT,
                npy_file(&dir.join(OUTPUT), output, &[v, dim])?.finish()?,
            ));
        }
        let mut m = Manifest::new(parts.producer.as_str(), parts.seed, &parts.config);
        m.inputs = parts.inputs.clone();
        m.outputs = staged
            .iter()
            .map(|(_, f)| f.fingerprint())
            .collect::<Result<_>>()?;
        m.summary = parts.summary.clone();
        let mm = ModelManifest {
            manifest: m,
            format_version: Some(FORMAT_VERSION),
            dim: Some(dim),
            vocab_size: Some(v),
            normalize: Some(parts.normalize.clone()),
            normalize_source: Some(parts.normalize_source),
            subwords: subwords.map(|s| s.config),
        };
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_string_pretty(&mm).map_err(json_err(&path, "encode manifest"))?;
        let mut mf = AtomicFile::create(&path)?;
        std::io::Write::write_all(&mut mf, json.as_bytes()).map_err(io_err(&path, "write"))?;
        let manifest_file = mf.finish()?;

        // Only renames from here. Until the new manifest lands the directory
        // has none, so a reader refuses it rather than mixing two models;
        // a stop signal waits for them.
        let _commit = crate::manifest::commit_guard();
        remove_if_present(&dir.join(MANIFEST_FILE), "remove the old manifest")?;
        crate::manifest::commit_pause();
        if Self::existing(dir).is_some() {
            // A legacy model manifest: replaced by the new name below.
            remove_if_present(
                &dir.join(crate::manifest::LEGACY_FILE_NAME),
                "remove the old manifest",
            )?;
        }
        for (_, f) in staged {
            f.commit()?;
        }
        if parts.output.is_none() {
            // An output.npy from an earlier run would not match this model.
            remove_if_present(&dir.join(OUTPUT), "remove the stale")?;
        }
        if subwords.is_none() {
            remove_if_present(&dir.join(NGRAMS), "remove the stale")?;
        }
        if parts.producer == Producer::Import {
            // A log of an earlier training would not describe these vectors.
            remove_if_present(&dir.join(TRAIN_LOG), "remove the stale training log")?;
        }
        manifest_file.commit()?;
        Ok(mm)
    }

    /// Opens `dir` and checks it (see the module docs). A writer swapping a
    /// new model in (`train`, `import`; it holds the directory's lock)
    /// removes the manifest first and puts it back last, so a query caught
    /// between the two finds no manifest, or files of two models. While the
    /// lock is held and the writer's temp files are there, such an open is
    /// tried again for up to [`WRITER_WAIT`], then fails saying a writer is
    /// at work. (A training that has not reached its swap leaves no temp
    /// files in the directory, so an open fails at once, as before.)
    pub fn open(dir: &Path) -> Result<ModelDir> {
        let start = std::time::Instant::now();
        // The writer may finish between a failed open and the look at its
        // lock and temp files: one more try after a failure with no writer
        // in sight (a query loop beside an import loop failed 12 in 2,028).
        let mut tried_again = false;
        loop {
            match Self::open_once(dir) {
                Err(e) if crate::manifest::has_temps(dir) && crate::manifest::is_locked(dir) => {
                    if start.elapsed() >= WRITER_WAIT {
                        return Err(mismatch(
                            dir.to_path_buf(),
                            format!(
                                "another w2v is writing this model directory (it holds the lock), and it did not become complete within {} s: {e}",
                                WRITER_WAIT.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(_) if !tried_again => {
                    tried_again = true;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<ModelDir> {
        let mpath = manifest_of(dir);
        let text = match std::fs::read_to_string(&mpath) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(mismatch(
                    mpath,
                    format!(
                        "not found: {} is not a complete model directory; write one with `w2v train` or `w2v import`",
                        dir.display()
                    ),
                ))
            }
            r => r.map_err(io_err(&mpath, "read model manifest"))?,
        };
        let manifest: ModelManifest =
            serde_json::from_str(&text).map_err(json_err(&mpath, "parse model manifest"))?;
        let stage = manifest.manifest.stage.as_str();
        let producer = Producer::parse(stage).ok_or_else(|| {
            mismatch(
                mpath.clone(),
                format!(
                    "written by stage '{stage}', not by 'train' or 'import': not a model directory"
                ),
            )
        })?;
        let legacy = match manifest.format_version {
            None => true,
            Some(v) if (1..=FORMAT_VERSION).contains(&v) => false,
            Some(v) => {
                return Err(mismatch(
                    mpath,
                    format!(
                        "model format version {v} is not one this w2v reads (1 to {FORMAT_VERSION}); use the w2v that wrote it, or a newer one"
                    ),
                ))
            }
        };
        let require = |what: &str| {
            mismatch(
                mpath.clone(),
                format!("format version {FORMAT_VERSION} manifest lacks `{what}`; re-run the '{stage}' stage"),
            )
        };
        let (want_dim, want_v, normalize) = if legacy {
            // Before format versions, dim and vocab_size lived in the summary.
            let from_summary = |k: &str| {
                manifest
                    .manifest
                    .summary
                    .get(k)
                    .and_then(|x| x.as_u64())
                    .map(|x| x as usize)
            };
            (
                from_summary("dim"),
                from_summary("vocab_size"),
                NormalizeConfig::default(),
            )
        } else {
            (
                Some(manifest.dim.ok_or_else(|| require("dim"))?),
                Some(manifest.vocab_size.ok_or_else(|| require("vocab_size"))?),
                manifest
                    .normalize
                    .clone()
                    .ok_or_else(|| require("normalize"))?,
            )
        };

        let ipath = dir.join(INPUT);
        let input = NpyMatrix::open(&ipath)?;
        let [rows, cols] = input.shape[..] else {
            return Err(mismatch(
                ipath,
                format!(
                    "has shape {:?}; expected 2 dimensions (words × dim)",
                    input.shape
                ),
            ));
        };
        if let Some(d) = want_dim {
            if cols != d {
                return Err(mismatch(
                    ipath,
                    format!("has {cols} columns but {MANIFEST_FILE} records dim {d}"),
                ));
            }
        }
        if cols == 0 || rows == 0 {
            return Err(mismatch(
                ipath,
                format!(
                    "has shape {rows} × {cols}; a model needs at least one word and one dimension"
                ),
            ));
        }
        let v = want_v.unwrap_or(rows);
        if rows != v {
            return Err(mismatch(
                ipath,
                format!("has {rows} rows but {MANIFEST_FILE} records {v} words"),
            ));
        }
        let npath = dir.join(NORMS);
        let norms = NpyMatrix::open(&npath)?;
        if norms.shape[..] != [v] {
            return Err(mismatch(
                npath,
                format!(
                    "has shape {:?}; expected [{v}] (one norm per word)",
                    norms.shape
                ),
            ));
        }

        // norms.npy is small: hashed whole, as mapped.
        check_recorded(&manifest, legacy, &npath, norms.file_bytes())?;
        if let Some(i) = norms.data().iter().position(|x| !x.is_finite() || *x < 0.0) {
            return Err(mismatch(
                npath,
                format!(
                    "row {i} holds {}, not a vector norm; the file is corrupt",
                    norms.data()[i]
                ),
            ));
        }
        check_sample(&ipath, &input, &norms)?;

        let wpath = dir.join(WORDS);
        let bytes = std::fs::read(&wpath).map_err(io_err(&wpath, "read word list"))?;
        // Hash what was read, not the file again: the check covers exactly
        // the words in use.
        let got = fingerprint_bytes(&wpath, &bytes);
        let words = String::from_utf8(bytes).map_err(|e| {
            invalid(
                &wpath,
                format!("is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        let lines = count_lines(&words);
        if lines != v {
            return Err(mismatch(
                wpath,
                format!("has {lines} lines but {MANIFEST_FILE} records {v} words"),
            ));
        }
        check_fingerprint(&manifest, legacy, &wpath, &got)?;
        let ngrams = match manifest.subwords {
            None => None,
            Some(sw) => {
                sw.validate()
                    .map_err(|e| mismatch(mpath.clone(), e.to_string()))?;
                let gpath = dir.join(NGRAMS);
                let g = NpyMatrix::open(&gpath)?;
                if g.shape[..] != [sw.buckets as usize, cols] {
                    return Err(mismatch(
                        gpath,
                        format!(
                            "has shape {:?}; {MANIFEST_FILE} records {} buckets × dim {cols}",
                            g.shape, sw.buckets
                        ),
                    ));
                }
                Some((sw, g))
            }
        };
        Ok(ModelDir {
            dir: dir.to_path_buf(),
            manifest,
            producer,
            input,
            norms,
            words,
            line_starts: OnceLock::new(),
            dim: cols,
            vocab_size: v,
            normalize,
            legacy,
            ngrams,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the directory's training log is ([`TRAIN_LOG`]; it may not
    /// exist: imported models and models trained before it was written
    /// have none).
    pub fn train_log(&self) -> PathBuf {
        self.dir.join(TRAIN_LOG)
    }

    /// The manifest as read.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The stage that wrote the directory.
    pub fn producer(&self) -> Producer {
        self.producer
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.vocab_size
    }

    /// True when the model has no words (never, for a checked directory).
    pub fn is_empty(&self) -> bool {
        self.vocab_size == 0
    }

    /// The normalization queries must apply: the recorded one, or the
    /// default for a legacy directory.
    pub fn normalize(&self) -> &NormalizeConfig {
        &self.normalize
    }

    /// True for a directory written before format versions: it records no
    /// normalization, so the default is assumed (wrong if its corpus was
    /// prepared with other settings).
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The word vectors, `len() × dim()`.
    pub fn input(&self) -> &NpyMatrix {
        &self.input
    }

    /// A subword model's n-gram settings and rows (`buckets × dim`).
    pub fn subwords(&self) -> Option<(&SubwordConfig, &NpyMatrix)> {
        self.ngrams.as_ref().map(|(c, g)| (c, g))
    }

    /// The L2 norm of each word vector.
    pub fn norms(&self) -> &NpyMatrix {
        &self.norms
    }

    /// `output.npy` when the manifest lists it (`train --save-output`),
    /// checked to be `len() × dim()`.
    pub fn output(&self) -> Result<Option<NpyMatrix>> {
        if self.manifest.manifest.output(OUTPUT).is_none() {
            return Ok(None);
        }
        let path = self.dir.join(OUTPUT);
        let m = NpyMatrix::open(&path)?;
        if m.shape[..] != [self.vocab_size, self.dim] {
            return Err(mismatch(
                path,
                format!(
                    "has shape {:?}; expected [{}, {}]",
                    m.shape, self.vocab_size, self.dim
                ),
            ));
        }
        Ok(Some(m))
    }

    /// Hashes `input.npy` (and `output.npy` when listed) whole and checks
    /// them against the manifest; for a legacy directory, which records no
    /// fingerprints, checks every row instead (finite, of its recorded
    /// norm). Reads every byte of the matrices: see the module docs for
    /// who calls it.
    pub fn verify(&self) -> Result<()> {
        let ipath = self.dir.join(INPUT);
        if self.manifest.manifest.output(INPUT).is_some() {
            check_recorded(&self.manifest, self.legacy, &ipath, self.input.file_bytes())?;
        } else {
            for i in 0..self.vocab_size {
                check_row(&ipath, &self.input, &self.norms, i, self.word(i))?;
            }
        }
        self.verify_ngrams()?;
        if let Some(out) = self.output()? {
            check_recorded(
                &self.manifest,
                self.legacy,
                &self.dir.join(OUTPUT),
                out.file_bytes(),
            )?;
        }
        Ok(())
    }

    /// Checks `ngrams.npy` (a subword model's) against its fingerprint in
    /// the manifest; queries ask before their first out-of-vocabulary word.
    pub fn verify_ngrams(&self) -> Result<()> {
        if let Some((_, g)) = &self.ngrams {
            check_recorded(
                &self.manifest,
                self.legacy,
                &self.dir.join(NGRAMS),
                g.file_bytes(),
            )?;
        }
        Ok(())
    }

    /// `words.txt`, one word per line.
    pub fn words_text(&self) -> &str {
        &self.words
    }

    fn starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let mut v = Vec::with_capacity(self.vocab_size + 1);
            v.push(0);
            v.extend(memchr::memchr_iter(b'\n', self.words.as_bytes()).map(|i| i + 1));
            // The line count was checked at open: drop the end-of-text start.
            v.truncate(self.vocab_size);
            v
        })
    }

    /// The word of id `i`, or `None` past the end.
    pub fn word(&self, i: usize) -> Option<&str> {
        let s = *self.starts().get(i)?;
        let rest = &self.words[s..];
        Some(&rest[..memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len())])
    }

    /// The id of an already-normalized word, by searching the word list.
    pub fn find(&self, w: &str) -> Option<usize> {
        let data = self.words.as_bytes();
        let wb = w.as_bytes();
        if wb.is_empty() || wb.contains(&b'\n') {
            return None;
        }
        let mut pat = Vec::with_capacity(wb.len() + 2);
        pat.push(b'\n');
        pat.extend_from_slice(wb);
        pat.push(b'\n');
        let pos = if data.starts_with(&pat[1..]) {
            Some(0)
        } else {
            memchr::memmem::find(data, &pat).map(|p| p + 1)
        }
        .or_else(|| {
            // The last line may lack its newline.
            let tail = data.len().checked_sub(wb.len())?;
            (data.ends_with(wb) && (tail == 0 || data[tail - 1] == b'\n')).then_some(tail)
        })?;
        Some(memchr::memchr_iter(b'\n', &data[..pos]).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embeddings::write_npy;
    use crate::normalize::{HyphenMode, YoMode};

    fn words(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|s| s.to_string()).collect()
    }

    /// Writes a 4-word, 3-dim model with non-default normalization.
    fn written(dir: &Path) -> ModelManifest {
        let data: Vec<f32> = (0..12).map(|x| x as f32 - 5.5).collect();
        ModelDir::write(
            dir,
            &ModelParts {
                producer: Producer::Train,
                words: &words(&["ёлка", "елка", "кто", "то"]),
                input: &data,
                output: None,
                dim: 3,
                normalize: NormalizeConfig {
                    yo: YoMode::Keep,
                    hyphens: HyphenMode::Split,
                    ..Default::default()
                },
                normalize_source: NormalizeSource::Prep,
                seed: 7,
                config: serde_json::json!({"dim": 3}),
                inputs: Vec::new(),
                summary: serde_json::json!({"note": "test"}),
            },
        )
        .unwrap()
    }

    fn err_of(dir: &Path) -> Error {
        match ModelDir::open(dir) {
            Ok(_) => panic!("{} opened", dir.display()),
            Err(e) => e,
        }
    }

    /// The error names `file` (its path ends with it).
    fn names(e: &Error, file: &str) -> bool {
        match e {
            Error::Mismatch { path, .. }
            | Error::InvalidInput { path, .. }
            | Error::Io { path, .. } => path.ends_with(file),
            _ => false,
        }
    }

    #[test]
    fn round_trip_keeps_vectors_words_and_normalizer() {
        let d = tempfile::tempdir().unwrap();
        let written = written(d.path());
        let m = ModelDir::open(d.path()).unwrap();
        assert!(!m.is_legacy());
        assert_eq!(m.producer(), Producer::Train);
        assert_eq!((m.len(), m.dim()), (4, 3));
        assert_eq!(m.normalize().yo, YoMode::Keep);
        assert_eq!(m.normalize().hyphens, HyphenMode::Split);
        assert_eq!(m.normalize(), written.normalize.as_ref().unwrap());
        assert_eq!(m.manifest().format_version, Some(FORMAT_VERSION));
        assert_eq!(m.manifest().normalize_source, Some(NormalizeSource::Prep));
        assert_eq!(m.manifest().manifest.seed, 7);
        assert_eq!(m.manifest().manifest.summary["note"], "test");
        assert_eq!(m.input().row(1), &[-2.5, -1.5, -0.5]);
        assert!((m.norms().data()[0] - (5.5f32 * 5.5 + 4.5 * 4.5 + 3.5 * 3.5).sqrt()).abs() < 1e-5);
        assert_eq!(m.word(0), Some("ёлка"));
        assert_eq!(m.word(3), Some("то"));
        assert_eq!(m.word(4), None);
        assert_eq!(m.find("то"), Some(3));
        assert_eq!(m.find("ёлка"), Some(0));
        assert_eq!(m.find("т"), None);
        assert!(m.output().unwrap().is_none());
        // The manifest is JSON with the model fields at the top level.
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join(MANIFEST_FILE)).unwrap())
                .unwrap();
        assert_eq!(j["stage"], "train");
        assert_eq!(j["format_version"], FORMAT_VERSION);
        assert_eq!(j["normalize"]["yo"], "keep");
        assert_eq!(j["normalize_source"], "prep");
        assert_eq!(
            (j["dim"].as_u64(), j["vocab_size"].as_u64()),
            (Some(3), Some(4))
        );
    }

    fn import_parts<'a>(
        words: &'a [String],
        input: &'a [f32],
        output: Option<&'a [f32]>,
    ) -> ModelParts<'a> {
        ModelParts {
            producer: Producer::Import,
            words,
            input,
            output,
            dim: 3,
            normalize: NormalizeConfig::default(),
            normalize_source: NormalizeSource::Default,
            seed: 0,
            config: serde_json::Value::Null,
            inputs: Vec::new(),
            summary: serde_json::Value::Null,
        }
    }

    #[test]
    fn output_vectors_are_written_checked_and_removed_when_stale() {
        let d = tempfile::tempdir().unwrap();
        let data = vec![1.0f32; 6];
        let ws = words(&["а", "б"]);
        ModelDir::write(d.path(), &import_parts(&ws, &data, Some(&data))).unwrap();
        let m = ModelDir::open(d.path()).unwrap();
        assert_eq!(m.producer(), Producer::Import);
        assert_eq!(m.output().unwrap().unwrap().shape, vec![2, 3]);
        ModelDir::write(d.path(), &import_parts(&ws, &data, None)).unwrap();
        assert!(!d.path().join(OUTPUT).exists());
        assert!(ModelDir::open(d.path())
            .unwrap()
            .output()
            .unwrap()
            .is_none());
        // Inconsistent parts are refused before anything is written.
        let x = d.path().join("x");
        let bad = ModelDir::write(&x, &import_parts(&ws[..1], &data, None));
        assert!(bad.is_err_and(|e| names(&e, INPUT)));
        let bad = ModelDir::write(&x, &import_parts(&ws, &data, Some(&data[1..])));
        assert!(bad.is_err_and(|e| names(&e, OUTPUT)));
        let nl = words(&["а\nб", "в"]);
        let bad = ModelDir::write(&x, &import_parts(&nl, &data, None));
        assert!(bad.is_err_and(|e| names(&e, WORDS)));
        assert!(!x.exists());
    }

    /// Rewrites `words.txt` of a written model with `f` applied to its lines.
    fn edit_words(dir: &Path, f: impl FnOnce(&mut Vec<&str>)) {
        let text = std::fs::read_to_string(dir.join(WORDS)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        f(&mut lines);
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(dir.join(WORDS), out).unwrap();
    }

    #[test]
    fn a_deleted_word_line_is_refused() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        edit_words(d.path(), |l| {
            l.remove(1);
        });
        let e = err_of(d.path());
        assert!(names(&e, WORDS), "{e}");
        assert!(
            e.to_string()
                .contains("has 3 lines but model.manifest.json records 4 words"),
            "{e}"
        );
    }

    #[test]
    fn an_extra_word_line_is_refused() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        edit_words(d.path(), |l| l.push("лишнее"));
        let e = err_of(d.path());
        assert!(names(&e, WORDS), "{e}");
        assert!(e.to_string().contains("has 5 lines"), "{e}");
        // A missing final newline is still 4 lines, and the fingerprint catches it.
        written(d.path());
        let text = std::fs::read_to_string(d.path().join(WORDS)).unwrap();
        std::fs::write(d.path().join(WORDS), text.trim_end()).unwrap();
        let e = err_of(d.path());
        assert!(
            names(&e, WORDS) && e.to_string().contains("does not match"),
            "{e}"
        );
    }

    #[test]
    fn swapped_word_lines_fail_the_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        edit_words(d.path(), |l| l.swap(0, 1));
        let e = err_of(d.path());
        assert!(names(&e, WORDS), "{e}");
        assert!(
            e.to_string().contains("does not match model.manifest.json"),
            "{e}"
        );
        assert!(
            e.to_string().contains("changed after the 'train' stage"),
            "{e}"
        );
    }

    #[test]
    fn a_matrix_of_another_dim_or_size_is_refused() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        // Same 12 values, 4 × 3 seen as 3 × 4.
        write_npy(&d.path().join(INPUT), &[0.0; 12], &[3, 4]).unwrap();
        let e = err_of(d.path());
        assert!(names(&e, INPUT), "{e}");
        assert!(
            e.to_string()
                .contains("has 4 columns but model.manifest.json records dim 3"),
            "{e}"
        );
        write_npy(&d.path().join(INPUT), &[0.0; 15], &[5, 3]).unwrap();
        let e = err_of(d.path());
        assert!(
            names(&e, INPUT) && e.to_string().contains("has 5 rows"),
            "{e}"
        );
        // A 1-D or 3-D matrix is refused, not indexed.
        write_npy(&d.path().join(INPUT), &[0.0; 12], &[12]).unwrap();
        assert!(names(&err_of(d.path()), INPUT));
        write_npy(&d.path().join(INPUT), &[0.0; 12], &[4, 3, 1]).unwrap();
        assert!(names(&err_of(d.path()), INPUT));
        // norms.npy of the wrong length.
        written(d.path());
        write_npy(&d.path().join(NORMS), &[1.0; 3], &[3]).unwrap();
        let e = err_of(d.path());
        assert!(names(&e, NORMS), "{e}");
        // A dim edited in the manifest.
        written(d.path());
        let mp = d.path().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mp).unwrap();
        std::fs::write(
            &mp,
            text.replace("\"dim\": 3,\n  \"vocab", "\"dim\": 5,\n  \"vocab"),
        )
        .unwrap();
        let e = err_of(d.path());
        assert!(names(&e, INPUT) && e.to_string().contains("dim 5"), "{e}");
    }

    #[test]
    fn a_missing_or_foreign_manifest_is_refused() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        let mp = d.path().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mp).unwrap();
        std::fs::remove_file(&mp).unwrap();
        let e = err_of(d.path());
        assert!(names(&e, MANIFEST_FILE), "{e}");
        assert!(
            e.to_string().contains("not a complete model directory"),
            "{e}"
        );
        // Another stage's manifest.
        std::fs::write(
            &mp,
            text.replace("\"stage\": \"train\"", "\"stage\": \"vocab\""),
        )
        .unwrap();
        let e = err_of(d.path());
        assert!(
            names(&e, MANIFEST_FILE) && e.to_string().contains("'vocab'"),
            "{e}"
        );
        // A format from the future.
        std::fs::write(
            &mp,
            text.replace("\"format_version\": 1", "\"format_version\": 99"),
        )
        .unwrap();
        let e = err_of(d.path());
        assert!(
            names(&e, MANIFEST_FILE) && e.to_string().contains("version 99"),
            "{e}"
        );
        // A current-format manifest without its normalizer.
        let mut j: serde_json::Value = serde_json::from_str(&text).unwrap();
        j.as_object_mut().unwrap().remove("normalize");
        std::fs::write(&mp, j.to_string()).unwrap();
        let e = err_of(d.path());
        assert!(
            names(&e, MANIFEST_FILE) && e.to_string().contains("`normalize`"),
            "{e}"
        );
        // Not JSON.
        std::fs::write(&mp, "{").unwrap();
        assert!(matches!(err_of(d.path()), Error::Json { .. }));
        // A missing data file is an I/O error naming it.
        std::fs::write(&mp, &text).unwrap();
        std::fs::remove_file(d.path().join(WORDS)).unwrap();
        assert!(names(&err_of(d.path()), WORDS));
    }

    #[test]
    fn a_legacy_directory_opens_with_the_default_normalizer() {
        let d = tempfile::tempdir().unwrap();
        written(d.path());
        // What `import` wrote before format versions: no model fields, dim
        // and vocab_size in the summary, no output fingerprints.
        let mut m = Manifest::new("import", 0, &serde_json::json!({}));
        m.summary = serde_json::json!({"vocab_size": 4, "dim": 3});
        m.write(d.path()).unwrap();
        let md = ModelDir::open(d.path()).unwrap();
        assert!(md.is_legacy());
        assert_eq!(md.normalize(), &NormalizeConfig::default());
        assert_eq!((md.len(), md.dim()), (4, 3));
        // Its sizes are still checked.
        m.summary = serde_json::json!({"vocab_size": 5, "dim": 3});
        m.write(d.path()).unwrap();
        assert!(names(&err_of(d.path()), INPUT));
        edit_words(d.path(), |l| {
            l.pop();
        });
        m.summary = serde_json::json!({});
        m.write(d.path()).unwrap();
        assert!(names(&err_of(d.path()), WORDS));
    }
}
