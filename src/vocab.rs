//! `w2v vocab`: the int32 vocabulary.
//!
//! In: `data/corpus.txt` (checked against its prep manifest,
//! `data/corpus.txt.prep.manifest.json`).
//! Out, in `vocab/`:
//! - `vocab.json`: `{"word": id, ...}` in id order, the original pipeline's format;
//! - `words.txt`: one word per line, line number = id (cheap to load);
//! - `counts.u64`: little-endian `u64` count per id, memory-mappable;
//! - `vocab.manifest.json`: corpus fingerprint, `n_tokens`, `n_types` before and
//!   after the filters, settings, the `vocab_fingerprint` later stages check,
//!   and `normalize`: the [`NormalizeConfig`] the corpus was prepared with,
//!   read from its prep manifest (`config.normalize`), which `train` carries
//!   into the model so that queries normalize as the corpus was
//!   (`normalize_source` is `prep`, or `default` when the corpus had no prep
//!   manifest and the default settings are assumed).
//!
//! [`build`] counts in memory and writes nothing (`pairs` runs its own
//! preflight between the two); [`save`] writes. Counting also records the
//! tokens per line ([`LineLengths`], `n_lines` in the manifest), which the
//! pairs estimate needs, and is refused up front when its memory bound
//! ([`crate::preflight::vocab_memory`]) exceeds what is available.
//!
//! Ids are ordered by count descending, then word ascending (byte order), so
//! the same corpus always gives byte-identical files.
//!
//! **Counting** is a rayon map-reduce over newline-aligned chunks of a fixed
//! size (`CHUNK_BYTES`, not tied to the thread count). Chunks are processed in
//! waves of one per thread, and the wave's tables are merged in chunk order.
//!
//! **Bounded memory.** As in word2vec.c's `ReduceVocab`, when the merged
//! table holds more than `max_table_types` types, every type with count ≤ r
//! is dropped and r grows by one for the next time. Counts of survivors can
//! then be underestimated; the manifest records `pruned_below` (the final r),
//! and with the default limit (30M types) it never triggers on corpora whose
//! distinct-word count fits that limit.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};
use crate::manifest::{commit_with_manifest, AtomicFile, Finished, Manifest, PendingManifest};
use crate::normalize::{NormalizeConfig, NormalizeSource};
use crate::parallel::{chunk_bounds, map_corpus, pool};
use crate::progress::Progress;
use crate::TokenId;

/// Size of a counting chunk. Fixed, so results do not depend on threads.
pub const CHUNK_BYTES: usize = 8 << 20;

/// Settings of the vocabulary stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct VocabConfig {
    /// Normalized corpus. By default, `data/corpus.txt`.
    pub corpus: PathBuf,
    /// Output directory. By default, `vocab`.
    pub vocab_dir: PathBuf,
    /// Words seen fewer times are dropped. By default, 5.
    pub min_count: u64,
    /// Keep at most this many most frequent words (0 = no limit). By default, 0.
    pub max_vocab: usize,
    /// Prune rare types when the count table passes this size. By default, 30,000,000.
    pub max_table_types: usize,
    /// Exponent of the negative-sampling distribution `count^x`. By default, 0.75.
    pub ns_exponent: f64,
    /// Worker threads (0 = all cores). By default, 0.
    pub threads: usize,
    /// Recorded for provenance; counting is exact and draws nothing. By default, 1.
    pub seed: u64,
    /// Also write the corpus as ids (`corpus.ids`, see [`crate::ids`]) for
    /// `train --corpus`. By default, true.
    pub corpus_ids: bool,
}

impl Default for VocabConfig {
    fn default() -> Self {
        VocabConfig {
            corpus: PathBuf::from("data/corpus.txt"),
            vocab_dir: PathBuf::from("vocab"),
            min_count: 5,
            max_vocab: 0,
            max_table_types: 30_000_000,
            ns_exponent: 0.75,
            threads: 0,
            seed: 1,
            corpus_ids: true,
        }
    }
}

impl VocabConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.min_count == 0 {
            return Err(Error::InvalidConfig(
                "--min-count must be at least 1".into(),
            ));
        }
        if !(0.0..=2.0).contains(&self.ns_exponent) {
            return Err(Error::InvalidConfig(
                "--ns-exponent must be within 0..=2".into(),
            ));
        }
        if self.max_table_types < 1000 {
            return Err(Error::InvalidConfig(
                "--max-table-types must be at least 1000".into(),
            ));
        }
        Ok(())
    }
}

/// A loaded vocabulary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vocab {
    /// Word of each id.
    pub words: Vec<String>,
    /// Count of each id.
    pub counts: Vec<u64>,
    /// Corpus tokens, including those of words below `min_count`.
    pub n_tokens: u64,
    /// The normalization the corpus was prepared with.
    pub normalize: NormalizeConfig,
    /// Where `normalize` came from (`Default` also for a vocabulary written
    /// before it was recorded).
    pub normalize_source: NormalizeSource,
}

impl Vocab {
    /// Number of types.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Word (as the corpus's bytes) → id map.
    pub fn index(&self) -> HashMap<&[u8], TokenId> {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_bytes(), i as TokenId))
            .collect()
    }

    /// Loads `dir/words.txt` and `dir/counts.u64`.
    pub fn load(dir: &Path) -> Result<Vocab> {
        let m = Manifest::read(dir, "vocab")?;
        // Small files: each is checked whole against the manifest, so an
        // edited, swapped or corrupted word or count is an error, not a
        // silently mislabelled model.
        for f in ["words.txt", "counts.u64", crate::unigram::FILE_NAME] {
            m.check_output(dir, &dir.join(f))?;
        }
        let words = read_words(&dir.join("words.txt"))?;
        let cpath = dir.join("counts.u64");
        let bytes = std::fs::read(&cpath).map_err(io_err(&cpath, "read vocab counts"))?;
        if bytes.len() != words.len() * 8 {
            return Err(Error::Mismatch {
                path: cpath,
                message: format!("holds {} counts for {} words", bytes.len() / 8, words.len()),
            });
        }
        let counts = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let n_tokens = m
            .summary
            .get("n_tokens")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let (normalize, normalize_source) = match m.summary.get("normalize") {
            Some(n) => (
                serde_json::from_value(n.clone())
                    .map_err(json_err(&m.source, "parse summary.normalize in"))?,
                serde_json::from_value(m.summary["normalize_source"].clone()).unwrap_or_default(),
            ),
            None => Default::default(),
        };
        Ok(Vocab {
            words,
            counts,
            n_tokens,
            normalize,
            normalize_source,
        })
    }

    /// The fingerprint recorded in `dir/vocab.manifest.json`.
    pub fn fingerprint_of(dir: &Path) -> Result<String> {
        let m = Manifest::read(dir, "vocab")?;
        m.summary
            .get("vocab_fingerprint")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Mismatch {
                path: m.source.clone(),
                message: "has no vocab_fingerprint; re-run `w2v vocab`".into(),
            })
    }
}

/// Reads a one-word-per-line file.
pub fn read_words(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read word list"))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// Summary written to the manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VocabSummary {
    pub n_tokens: u64,
    pub n_types_before: u64,
    pub n_types_after: u64,
    pub n_tokens_covered: u64,
    pub coverage: f64,
    pub pruned_below: u64,
    pub vocab_fingerprint: String,
    pub elapsed_s: f64,
    /// Lines holding at least one token.
    #[serde(default)]
    pub n_lines: u64,
    /// Tokens per line, for the pairs estimate ([`crate::preflight`]); not
    /// written to the manifest.
    #[serde(skip)]
    pub line_lengths: LineLengths,
    /// The normalization the corpus was prepared with.
    #[serde(default)]
    pub normalize: NormalizeConfig,
    /// `prep` when read from the corpus's prep manifest, `default` when the
    /// corpus had none and the default settings are assumed.
    #[serde(default)]
    pub normalize_source: NormalizeSource,
    /// Seconds spent writing `corpus.ids` (0 when not written).
    #[serde(default)]
    pub corpus_ids_s: f64,
}

/// Lines longer than this many tokens are pooled in [`LineLengths`].
pub const LONG_LINE: usize = 1024;

/// How many lines have how many tokens: what the pairs estimate needs to
/// count the window pairs lost at line ends ([`crate::preflight`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineLengths {
    /// `lines[m]`: lines of `m` tokens, for `1 <= m < LONG_LINE` (index 0 unused).
    pub lines: Vec<u64>,
    /// Lines of at least `LONG_LINE` tokens.
    pub long_lines: u64,
    /// Tokens in those lines.
    pub long_tokens: u64,
}

impl LineLengths {
    /// Records a line of `m` tokens (an empty line is not a line).
    pub fn add(&mut self, m: u64) {
        if m == 0 {
            return;
        }
        if m >= LONG_LINE as u64 {
            self.long_lines += 1;
            self.long_tokens += m;
            return;
        }
        let m = m as usize;
        if self.lines.len() <= m {
            self.lines.resize(m + 1, 0);
        }
        self.lines[m] += 1;
    }

    /// Adds another histogram's lines.
    pub fn merge(&mut self, o: &LineLengths) {
        if self.lines.len() < o.lines.len() {
            self.lines.resize(o.lines.len(), 0);
        }
        for (a, b) in self.lines.iter_mut().zip(&o.lines) {
            *a += b;
        }
        self.long_lines += o.long_lines;
        self.long_tokens += o.long_tokens;
    }

    /// Lines recorded.
    pub fn n_lines(&self) -> u64 {
        self.lines.iter().sum::<u64>() + self.long_lines
    }
}

/// The counts of one chunk.
struct ChunkCounts<'a> {
    /// Count of each type.
    types: HashMap<&'a [u8], u64>,
    /// Tokens in the chunk.
    n_tokens: u64,
    /// Tokens per line.
    lines: LineLengths,
}

fn count_chunk(text: &[u8]) -> ChunkCounts<'_> {
    let mut types: HashMap<&[u8], u64> = HashMap::default();
    let mut n_tokens = 0u64;
    let mut lines = LineLengths::default();
    for line in text.split(|&b| b == b'\n') {
        let mut m = 0u64;
        for tok in line.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
            *types.entry(tok).or_insert(0) += 1;
            m += 1;
        }
        lines.add(m);
        n_tokens += m;
    }
    ChunkCounts {
        types,
        n_tokens,
        lines,
    }
}

/// Counts, filters and orders the vocabulary of a normalized corpus.
pub fn count(
    data: &[u8],
    cfg: &VocabConfig,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> (Vocab, VocabSummary) {
    let bounds = chunk_bounds(data, CHUNK_BYTES);
    let stage = progress.stage("vocab", data.len() as u64, "bytes");
    let wave = pool.current_num_threads().max(1);
    let mut total: HashMap<&[u8], u64> = HashMap::default();
    let mut n_tokens = 0u64;
    let mut lines = LineLengths::default();
    let mut reduce = 1u64;
    let mut pruned_below = 0u64;
    for group in bounds.chunks(wave) {
        let maps: Vec<_> = pool.install(|| {
            group
                .par_iter()
                .map(|r| {
                    let counts = count_chunk(&data[r.clone()]);
                    stage.inc(r.len() as u64);
                    counts
                })
                .collect()
        });
        for chunk in maps {
            n_tokens += chunk.n_tokens;
            lines.merge(&chunk.lines);
            for (k, v) in chunk.types {
                *total.entry(k).or_insert(0) += v;
            }
            while total.len() > cfg.max_table_types {
                total.retain(|_, c| *c > reduce);
                pruned_below = reduce;
                reduce += 1;
            }
        }
    }
    stage.finish();
    let n_types_before = total.len() as u64;
    let mut kept: Vec<(&[u8], u64)> = total
        .into_iter()
        .filter(|&(_, c)| c >= cfg.min_count)
        .collect();
    kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    if cfg.max_vocab > 0 {
        kept.truncate(cfg.max_vocab);
    }
    let covered: u64 = kept.iter().map(|&(_, c)| c).sum();
    let vocab = Vocab {
        words: kept
            .iter()
            .map(|(w, _)| String::from_utf8_lossy(w).into_owned())
            .collect(),
        counts: kept.iter().map(|&(_, c)| c).collect(),
        n_tokens,
        ..Default::default()
    };
    let summary = VocabSummary {
        n_tokens,
        n_types_before,
        n_types_after: vocab.len() as u64,
        n_tokens_covered: covered,
        coverage: covered as f64 / n_tokens.max(1) as f64,
        pruned_below,
        n_lines: lines.n_lines(),
        line_lengths: lines,
        ..Default::default()
    };
    (vocab, summary)
}

/// Writes `words.txt`, `counts.u64` and `vocab.json` for `dir` under temp
/// names (renamed by the caller, see [`commit_with_manifest`]); returns them
/// and the vocab fingerprint (xxh3 over words and counts).
pub fn write(vocab: &Vocab, dir: &Path) -> Result<(Vec<Finished>, String)> {
    std::fs::create_dir_all(dir).map_err(io_err(dir, "create vocab directory"))?;
    let wpath = dir.join("words.txt");
    let mut w = AtomicFile::create(&wpath)?;
    for word in &vocab.words {
        writeln!(w, "{word}").map_err(io_err(&wpath, "write"))?;
    }
    let mut files = vec![w.finish()?];

    let cpath = dir.join("counts.u64");
    let mut c = AtomicFile::create(&cpath)?;
    for n in &vocab.counts {
        c.write_all(&n.to_le_bytes())
            .map_err(io_err(&cpath, "write"))?;
    }
    files.push(c.finish()?);

    let jpath = dir.join("vocab.json");
    let mut j = AtomicFile::create(&jpath)?;
    j.write_all(b"{").map_err(io_err(&jpath, "write"))?;
    for (i, word) in vocab.words.iter().enumerate() {
        let key = serde_json::to_string(word).map_err(json_err(&jpath, "encode"))?;
        let sep = if i == 0 { "" } else { "," };
        write!(j, "{sep}\n  {key}: {i}").map_err(io_err(&jpath, "write"))?;
    }
    j.write_all(b"\n}\n").map_err(io_err(&jpath, "write"))?;
    files.push(j.finish()?);

    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (w, n) in vocab.words.iter().zip(&vocab.counts) {
        h.update(w.as_bytes());
        h.update(b"\n");
        h.update(&n.to_le_bytes());
    }
    Ok((files, format!("{:016x}", h.digest())))
}

/// Checks that `corpus` is what its prep manifest recorded, and returns
/// that fingerprint. A corpus without a manifest is refused.
pub fn check_corpus(corpus: &Path) -> Result<crate::manifest::Fingerprint> {
    let dir = crate::manifest::parent_dir(corpus);
    let what = match std::fs::metadata(corpus) {
        Err(_) => Some("does not exist"),
        Ok(md) if md.is_dir() => Some("is a directory"),
        Ok(md) if !md.is_file() => Some("is not a regular file"),
        Ok(_) => None,
    };
    if let Some(what) = what {
        return Err(Error::InvalidInput {
            path: corpus.to_path_buf(),
            message: format!("{what}: give the corpus file `w2v prep` wrote"),
        });
    }
    let m = Manifest::read_prep(corpus).map_err(|e| match e {
        Error::Io { .. } => Error::Mismatch {
            path: corpus.to_path_buf(),
            message: format!(
                "no prep manifest at {}; produce the corpus with `w2v prep`",
                crate::manifest::prep_manifest_path(corpus).display()
            ),
        },
        other => other,
    })?;
    m.check_output(dir, corpus)
}

/// The tokens of `corpus` as its prep manifest records them (`None`
/// without one).
pub fn corpus_tokens(corpus: &Path) -> Option<u64> {
    let m = Manifest::read_prep(corpus).ok()?;
    m.summary.get("tokens_out")?.as_u64()
}

/// The normalization `corpus` was prepared with, from its prep manifest
/// (`config.normalize`): `Ok(None)` when there is no prep manifest (a text
/// file made by hand), an error when the manifest is unreadable or records
/// no settings.
pub fn corpus_normalize(corpus: &Path) -> Result<Option<NormalizeConfig>> {
    let dir = crate::manifest::parent_dir(corpus);
    if !crate::manifest::prep_manifest_path(corpus).exists()
        && !dir.join(crate::manifest::LEGACY_FILE_NAME).exists()
    {
        return Ok(None);
    }
    let m = Manifest::read_prep(corpus)?;
    let n = m.config.get("normalize").ok_or_else(|| Error::Mismatch {
        path: m.source.clone(),
        message: "records no config.normalize; re-run `w2v prep`".into(),
    })?;
    serde_json::from_value(n.clone())
        .map(Some)
        .map_err(json_err(&m.source, "parse config.normalize in"))
}

/// A counted vocabulary, not yet written ([`build`], then [`commit`]).
pub struct Built {
    /// The vocabulary.
    pub vocab: Vocab,
    /// Its figures (`vocab_fingerprint` is set by [`commit`]).
    pub summary: VocabSummary,
    /// The corpus it was counted from.
    pub corpus: crate::manifest::Fingerprint,
    start: std::time::Instant,
}

/// Counts and filters the vocabulary of `cfg.corpus`, writing nothing.
pub fn build(cfg: &VocabConfig, progress: &Progress) -> Result<Built> {
    cfg.validate()?;
    let start = std::time::Instant::now();
    let corpus = check_corpus(&cfg.corpus)?;
    let normalize = corpus_normalize(&cfg.corpus)?;
    let map = map_corpus(&cfg.corpus)?;
    let data: &[u8] = map.as_deref().unwrap_or(&[]);
    let pool = pool(cfg.threads)?;
    let need = crate::preflight::vocab_memory(
        cfg,
        data.len() as u64,
        corpus_tokens(&cfg.corpus),
        pool.current_num_threads(),
    );
    crate::preflight::check_memory(
        "counting the vocabulary",
        need,
        "lower --max-table-types (rare words are then pruned while counting) or --threads",
    )?;
    let (mut vocab, mut summary) = count(data, cfg, &pool, progress);
    (vocab.normalize_source, vocab.normalize) = match normalize {
        Some(n) => (NormalizeSource::Prep, n),
        // Only if a corpus without a prep manifest gets past check_corpus.
        None => (NormalizeSource::Default, NormalizeConfig::default()),
    };
    summary.normalize = vocab.normalize.clone();
    summary.normalize_source = vocab.normalize_source;
    if vocab.is_empty() {
        return Err(Error::InvalidInput {
            path: cfg.corpus.clone(),
            message: format!(
                "no word occurs at least {} times (--min-count)",
                cfg.min_count
            ),
        });
    }
    if vocab.len() > TokenId::MAX as usize {
        return Err(Error::InvalidInput {
            path: cfg.corpus.clone(),
            message: format!(
                "keeps {} words, more than int32 ids can number; raise --min-count or set --max-vocab",
                vocab.len()
            ),
        });
    }
    Ok(Built {
        vocab,
        summary,
        corpus,
        start,
    })
}

/// Writes a built vocabulary, its unigram table and its manifest into
/// `cfg.vocab_dir` (the caller holds the directory's lock).
pub fn commit(cfg: &VocabConfig, built: Built) -> Result<(Vocab, VocabSummary)> {
    prepare(cfg, built)?.commit()
}

/// A vocabulary whose files and manifest are written and synced under temp
/// names ([`prepare`]), replacing the old ones only at [`Prepared::commit`].
pub struct Prepared {
    vocab: Vocab,
    summary: VocabSummary,
    files: Vec<Finished>,
    manifest: PendingManifest,
    /// An old `corpus.ids` that no longer matches (`--no-corpus-ids`),
    /// removed once the new vocabulary is in place.
    stale_ids: Option<PathBuf>,
}

impl Prepared {
    /// Its figures (with `vocab_fingerprint`).
    pub fn summary(&self) -> &VocabSummary {
        &self.summary
    }

    /// Renames the files into place, the manifest last.
    pub fn commit(self) -> Result<(Vocab, VocabSummary)> {
        commit_with_manifest(self.files, self.manifest)?;
        if let Some(p) = &self.stale_ids {
            std::fs::remove_file(p).map_err(io_err(p, "remove the old"))?;
        }
        Ok((self.vocab, self.summary))
    }
}

/// Writes everything [`commit`] writes, under temp names: a full disk or a
/// kill before [`Prepared::commit`] leaves the old vocabulary as it was.
pub fn prepare(cfg: &VocabConfig, built: Built) -> Result<Prepared> {
    let Built {
        vocab,
        mut summary,
        corpus,
        start,
    } = built;
    let (mut files, fp) = write(&vocab, &cfg.vocab_dir)?;
    summary.vocab_fingerprint = fp;
    files.push(
        crate::unigram::AliasTable::new(&vocab.counts, cfg.ns_exponent)
            .file(&cfg.vocab_dir.join(crate::unigram::FILE_NAME))?
            .finish()?,
    );
    let ids_path = cfg.vocab_dir.join(crate::ids::FILE_NAME);
    let mut stale_ids = None;
    if cfg.corpus_ids {
        // 4 bytes per token at most (out-of-vocabulary ones are dropped),
        // and one line end per line: 20 GB for Taiga's 5B tokens. The old
        // file is replaced, so its bytes count as free.
        let need = 4 * (summary.n_tokens + summary.n_lines);
        let old = std::fs::metadata(&ids_path).map_or(0, |m| m.len());
        crate::preflight::check_disk(
            "vocab",
            &cfg.vocab_dir,
            need,
            &format!(
                "corpus.ids: {} tokens and {} line ends × 4 bytes",
                crate::preflight::count(summary.n_tokens as f64),
                crate::preflight::count(summary.n_lines as f64)
            ),
            old,
            "pass --no-corpus-ids (then train from `w2v pairs` shards), or another --vocab-dir",
        )?;
        let t0 = std::time::Instant::now();
        let map = map_corpus(&cfg.corpus)?;
        let (_, ids) = crate::ids::write(
            map.as_deref().unwrap_or(&[]),
            &vocab.index(),
            &ids_path,
            &pool(cfg.threads)?,
        )?;
        summary.corpus_ids_s = t0.elapsed().as_secs_f64();
        files.push(ids);
    } else if ids_path.exists() {
        // An old one would no longer match this vocabulary: it goes once
        // the new vocabulary is committed, not before.
        stale_ids = Some(ids_path);
    }
    summary.elapsed_s += start.elapsed().as_secs_f64();
    let mut m = Manifest::new("vocab", cfg.seed, cfg);
    m.inputs = vec![corpus];
    m.outputs = files
        .iter()
        .map(Finished::fingerprint)
        .collect::<Result<_>>()?;
    m.summary = serde_json::to_value(&summary).unwrap_or_default();
    let manifest = m.prepare(&crate::manifest::manifest_path(&cfg.vocab_dir, "vocab"))?;
    Ok(Prepared {
        vocab,
        summary,
        files,
        manifest,
        stale_ids,
    })
}

/// Runs the vocabulary stage: claim and lock the directory, count, filter,
/// write, manifest.
pub fn run(cfg: &VocabConfig, progress: &Progress) -> Result<(Vocab, VocabSummary)> {
    cfg.validate()?;
    crate::manifest::claim_dir(&cfg.vocab_dir, crate::manifest::Owner::Vocab)?;
    // A refusal (memory, an empty vocabulary) leaves no new directory:
    // the lock removes what it created while it stays empty.
    let _lock = crate::manifest::lock_dir(&cfg.vocab_dir)?;
    let built = build(cfg, progress)?;
    commit(cfg, built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_count_desc_then_word_asc_and_thread_independent() {
        let text = "б а в а б г\nа в д д д д\nв\n".repeat(50);
        let cfg = VocabConfig {
            min_count: 1,
            ..Default::default()
        };
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let p = pool(threads).unwrap();
            results.push(count(text.as_bytes(), &cfg, &p, &Progress::silent()).0);
        }
        let v = &results[0];
        assert_eq!(v.words, ["д", "а", "в", "б", "г"]);
        assert_eq!(v.counts, [200, 150, 150, 100, 50]);
        assert_eq!(v.n_tokens, 650);
        assert!(results.iter().all(|r| r == v));
    }

    #[test]
    fn filters_by_min_count_and_max_vocab() {
        let text = "а а а б б в\n";
        let cfg = VocabConfig {
            min_count: 2,
            max_vocab: 1,
            ..Default::default()
        };
        let (v, s) = count(
            text.as_bytes(),
            &cfg,
            &pool(1).unwrap(),
            &Progress::silent(),
        );
        assert_eq!(v.words, ["а"]);
        assert_eq!((s.n_types_before, s.n_types_after, s.n_tokens), (3, 1, 6));
    }

    #[test]
    fn the_corpus_normalization_comes_from_its_prep_manifest() {
        use crate::normalize::YoMode;
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.txt");
        std::fs::write(&corpus, "ёлка\n").unwrap();
        // A hand-made corpus: nothing recorded.
        assert_eq!(corpus_normalize(&corpus).unwrap(), None);
        let cfg = crate::prep::PrepConfig {
            normalize: NormalizeConfig {
                yo: YoMode::Keep,
                ..Default::default()
            },
            ..Default::default()
        };
        Manifest::new("prep", 1, &cfg).write(dir.path()).unwrap();
        let n = corpus_normalize(&corpus).unwrap().unwrap();
        assert_eq!(n.yo, YoMode::Keep);
        // A prep manifest without settings is refused, naming it.
        Manifest::new("prep", 1, &serde_json::json!({}))
            .write(dir.path())
            .unwrap();
        let e = corpus_normalize(&corpus).unwrap_err();
        assert!(
            e.to_string()
                .contains("manifest.json: records no config.normalize"),
            "{e}"
        );
    }

    #[test]
    fn line_lengths_and_token_counts_hold_taiga_sizes() {
        // 5B tokens: past u32, through the histogram, the merge and the manifest.
        let mut a = LineLengths::default();
        a.add(0);
        a.add(3);
        a.add(LONG_LINE as u64 + 10);
        assert_eq!(a.n_lines(), 2);
        let mut big = LineLengths {
            lines: vec![0, 0, 0, 4_000_000_000],
            long_lines: 1,
            long_tokens: 5_000_000_000,
        };
        big.merge(&a);
        assert_eq!(big.lines[3], 4_000_000_001);
        assert_eq!(big.n_lines(), 4_000_000_003);
        assert_eq!(big.long_tokens, 5_000_000_000 + LONG_LINE as u64 + 10);
        let s = VocabSummary {
            n_tokens: 5_000_000_003,
            n_tokens_covered: 4_900_000_001,
            n_lines: big.n_lines(),
            line_lengths: big,
            ..Default::default()
        };
        let back: VocabSummary = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back.n_tokens, 5_000_000_003);
        assert_eq!(back.n_tokens_covered, 4_900_000_001);
        assert_eq!(back.n_lines, 4_000_000_003);
        // The histogram stays out of the manifest.
        assert_eq!(back.line_lengths, LineLengths::default());
    }

    #[test]
    fn counting_records_tokens_per_line() {
        let text = "а б в\n\nг д\nе\n";
        let cfg = VocabConfig {
            min_count: 1,
            ..Default::default()
        };
        let (_, s) = count(
            text.as_bytes(),
            &cfg,
            &pool(1).unwrap(),
            &Progress::silent(),
        );
        assert_eq!((s.n_tokens, s.n_lines), (6, 3));
        assert_eq!(s.line_lengths.lines, [0, 1, 1, 1]);
    }

    #[test]
    fn pruning_bounds_the_table() {
        // 3000 singletons and one frequent word: a 1000-type limit prunes.
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("w{i} common "));
        }
        let cfg = VocabConfig {
            min_count: 1,
            max_table_types: 1000,
            ..Default::default()
        };
        let (v, s) = count(
            text.as_bytes(),
            &cfg,
            &pool(1).unwrap(),
            &Progress::silent(),
        );
        assert_eq!(s.pruned_below, 1);
        assert_eq!(v.words[0], "common");
        assert_eq!(v.counts[0], 3000);
        assert!(v.len() <= 1001);
    }
}
