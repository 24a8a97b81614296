//! `w2v pairs`: normalized corpus → vocabulary → (target, context) shards.
//!
//! In: `data/corpus.txt` (checked against its prep manifest).
//! Out: `vocab/` (see [`crate::vocab`], [`crate::unigram`]) and
//! `shards/epoch-XX/part-NNNNN.parquet` + `shards/shards.manifest.json` (see
//! [`crate::shards`]).
//!
//! **Sampling**, as word2vec.c does it: out-of-vocabulary tokens are removed;
//! each remaining token with frequency `f = count / n_covered` is kept with
//! probability `keep_prob = sqrt(t/f) + t/f` (`t` = `--sample`, 0 keeps all);
//! then every kept token gets a window radius `b` uniform in `1..=window`
//! (or exactly `window` with `dynamic_window = false`) and is paired with the
//! kept tokens at distance ≤ b on the same line. Lines are window boundaries.
//!
//! **Fresh draws per epoch.** word2vec.c and gensim redraw subsampling and
//! windows every epoch. We write one independent draw per training epoch
//! (`--epochs`, default 5) into `epoch-XX/`; training epoch `e` reads draw
//! `e % n_draws`. The corpus is tokenized once per chunk and all draws are
//! generated from it, so `--epochs 5` costs far less than five runs.
//!
//! **Checked before work.** The vocabulary is counted in memory first;
//! then [`crate::preflight::PairsEstimate`] gives the pairs, bytes and
//! memory the run will take, and the run is refused, with nothing written,
//! when they do not fit (the old shards that `--force` replaces count as
//! free space).
//!
//! **Determinism.** The corpus is cut into fixed-size newline-aligned chunks
//! (independent of `--threads`); chunk `k` of draw `d` uses the random stream
//! `(seed, d, k)`. The same seed gives byte-identical shards on any core count.

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, joined, pq_err, Error, Result};
use crate::manifest::{AtomicFile, Manifest};
use crate::parallel::{chunk_bounds, map_corpus};
use crate::progress::{Progress, Stage};
use crate::rng::{below, purpose, stream, unit_f32, Rng, RngCore, SeedableRng};
use crate::shards::{draw_dir, flushed_groups, schema, ShardInfo, ShardSums, ROW_GROUP};
use crate::vocab::{Vocab, VocabConfig};
use crate::TokenId;

/// Corpus bytes per generation task.
pub const PAIR_CHUNK_BYTES: usize = 1 << 20;

/// Settings of the pairs stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PairsConfig {
    /// Vocabulary settings (corpus path, output dir, min_count, ...).
    pub vocab: VocabConfig,
    /// Output directory. By default, `shards`.
    pub shards_dir: PathBuf,
    /// Maximum window radius. By default, 5.
    pub window: usize,
    /// Draw the radius uniformly in 1..=window per token. By default, true.
    pub dynamic_window: bool,
    /// Subsampling threshold `t` (0 = keep every token). By default, 1e-3.
    pub sample: f64,
    /// Independent draws to write, one per training epoch. By default, 5.
    pub epochs: u32,
    /// Pairs per shard file. By default, 50,000,000.
    pub shard_size: u64,
    /// Shuffle the rows of each shard (holds a whole shard in memory). By default, false.
    pub shuffle: bool,
    /// Overwrite a non-empty shards directory. By default, false.
    pub force: bool,
    /// Worker threads (0 = all cores). By default, 0.
    pub threads: usize,
    /// Master seed. By default, 1.
    pub seed: u64,
}

impl Default for PairsConfig {
    fn default() -> Self {
        PairsConfig {
            vocab: VocabConfig::default(),
            shards_dir: PathBuf::from("shards"),
            window: 5,
            dynamic_window: true,
            sample: 1e-3,
            epochs: 5,
            shard_size: 50_000_000,
            shuffle: false,
            force: false,
            threads: 0,
            seed: 1,
        }
    }
}

impl PairsConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.vocab.validate()?;
        if self.window == 0 || self.window > 64 {
            return Err(Error::InvalidConfig(
                "--window must be within 1..=64".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.sample) {
            return Err(Error::InvalidConfig("--sample must be within 0..1".into()));
        }
        if self.epochs == 0 || self.epochs > 100 {
            return Err(Error::InvalidConfig(
                "--epochs must be within 1..=100".into(),
            ));
        }
        if self.shard_size < 1000 {
            return Err(Error::InvalidConfig(
                "--shard-size must be at least 1000".into(),
            ));
        }
        Ok(())
    }
}

/// `shards/shards.manifest.json` summary.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PairsSummary {
    pub vocab_fingerprint: String,
    pub n_draws: u32,
    pub pairs_per_draw: Vec<u64>,
    pub total_pairs: u64,
    pub bytes_on_disk: u64,
    pub bytes_per_pair: f64,
    pub corpus_tokens: u64,
    pub shards: Vec<ShardInfo>,
    pub elapsed_s: f64,
    pub pairs_per_s: f64,
}

impl PairsSummary {
    /// Reads `dir/shards.manifest.json` (stage "pairs").
    pub fn read(dir: &Path) -> Result<(Manifest, PairsSummary)> {
        let m = Manifest::read(dir, "pairs")?;
        let s: PairsSummary = serde_json::from_value(m.summary.clone())
            .map_err(crate::error::json_err(&m.source, "parse pairs summary in"))?;
        Ok((m, s))
    }
}

/// Keep probability per id: `sqrt(t/f) + t/f`, capped at 1 (1 when t = 0).
pub fn keep_probs(counts: &[u64], sample: f64) -> Vec<f32> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if sample <= 0.0 {
                return 1.0;
            }
            let f = c as f64 / total as f64;
            ((sample / f).sqrt() + sample / f).min(1.0) as f32
        })
        .collect()
}

/// (target, context) pairs as two parallel columns, as a shard stores them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pairs {
    /// The centre word of each pair.
    pub targets: Vec<TokenId>,
    /// A word inside its window.
    pub contexts: Vec<TokenId>,
}

impl Pairs {
    /// Empty columns with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        Pairs {
            targets: Vec::with_capacity(n),
            contexts: Vec::with_capacity(n),
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// The pair generator for one chunk; owns no buffers across chunks.
pub struct Sampler<'a> {
    pub keep: &'a [f32],
    pub window: usize,
    pub dynamic_window: bool,
}

impl Sampler<'_> {
    /// Appends the pairs of one line of ids (already OOV-free) to `out`;
    /// `kept` is scratch and ends holding the ids that survived subsampling.
    pub fn line(&self, ids: &[TokenId], rng: &mut Rng, kept: &mut Vec<TokenId>, out: &mut Pairs) {
        self.windows(ids, rng, kept, |kept, i, b| {
            let lo = i.saturating_sub(b);
            let hi = (i + b + 1).min(kept.len());
            for j in lo..hi {
                if j != i {
                    out.targets.push(kept[i]);
                    out.contexts.push(kept[j]);
                }
            }
        });
    }

    /// The windows of one line of ids, in order: subsamples `ids` into
    /// `kept`, then calls `f(kept, i, b)` for each kept centre `i` with its
    /// window `b` (its contexts are `kept[i-b..=i+b]` without `i`, clipped
    /// to the line). [`Sampler::line`] writes these as pairs; the native
    /// engine trains them directly (`train --corpus`).
    #[inline]
    pub fn windows(
        &self,
        ids: &[TokenId],
        rng: &mut Rng,
        kept: &mut Vec<TokenId>,
        mut f: impl FnMut(&[TokenId], usize, usize),
    ) {
        kept.clear();
        for &id in ids {
            let p = self.keep[id as usize];
            if p >= 1.0 || unit_f32(rng) < p {
                kept.push(id);
            }
        }
        for i in 0..kept.len() {
            let b = self.reach(rng);
            f(kept, i, b);
        }
    }

    /// How many pairs [`Sampler::line`] would append for `ids`, drawing the
    /// same random numbers (so `rng` ends where `line` leaves it) without
    /// writing a pair; `kept` is scratch, as for [`Sampler::windows`].
    pub fn count_line(&self, ids: &[TokenId], rng: &mut Rng, kept: &mut Vec<TokenId>) -> u64 {
        let mut pairs = 0u64;
        self.windows(ids, rng, kept, |kept, i, b| {
            pairs += (i.min(b) + (kept.len() - 1 - i).min(b)) as u64;
        });
        pairs
    }

    /// The window of one centre: drawn in `1..=window`, or `window`.
    #[inline]
    fn reach(&self, rng: &mut Rng) -> usize {
        if self.dynamic_window {
            1 + below(rng, self.window as u64) as usize
        } else {
            self.window
        }
    }
}

/// Pairs of chunk `k`, one [`Pairs`] per draw (index = draw).
fn chunk_pairs(
    chunk: &[u8],
    k: usize,
    index: &FxHashMap<&[u8], TokenId>,
    sampler: &Sampler,
    cfg: &PairsConfig,
) -> Vec<Pairs> {
    // The encoding `corpus.ids` holds (an empty line draws nothing).
    let mut ids = Vec::new();
    crate::ids::encode(chunk, index, &mut ids);
    let mut kept = Vec::new();
    (0..cfg.epochs)
        .map(|d| {
            let mut rng = stream(cfg.seed, &[purpose::SUBSAMPLE, d as u64, k as u64]);
            let mut out = Pairs::with_capacity(ids.len() * (cfg.window + 1));
            for line in crate::ids::lines(&ids) {
                sampler.line(line, &mut rng, &mut kept, &mut out);
            }
            out
        })
        .collect()
}

/// Streams one draw's pairs into `part-NNNNN.parquet` files.
struct DrawWriter {
    dir: PathBuf,
    rel: String,
    draw: u32,
    shard_size: u64,
    shuffle: Option<u64>,
    writer: Option<parquet::arrow::ArrowWriter<AtomicFile>>,
    path: PathBuf,
    in_shard: u64,
    t: Vec<TokenId>,
    c: Vec<TokenId>,
    /// Row-group checksums of the open shard.
    sums: ShardSums,
    shards: Vec<ShardInfo>,
}

impl DrawWriter {
    fn new(root: &Path, draw: u32, cfg: &PairsConfig) -> Result<Self> {
        let rel = draw_dir(draw);
        let dir = root.join(&rel);
        // Inside the staging directory: held against a signal's sweep.
        crate::manifest::create_temp_subdir(&dir)?;
        Ok(DrawWriter {
            dir,
            rel,
            draw,
            shard_size: cfg.shard_size,
            shuffle: cfg.shuffle.then_some(cfg.seed),
            writer: None,
            path: PathBuf::new(),
            in_shard: 0,
            t: Vec::new(),
            c: Vec::new(),
            sums: ShardSums::default(),
            shards: Vec::new(),
        })
    }

    fn push(&mut self, pairs: &Pairs, stage: &Stage) -> Result<()> {
        let (t, c) = (&pairs.targets, &pairs.contexts);
        let mut off = 0;
        while off < t.len() {
            let room = (self.shard_size - self.in_shard) as usize;
            let take = room.min(t.len() - off);
            self.t.extend_from_slice(&t[off..off + take]);
            self.c.extend_from_slice(&c[off..off + take]);
            self.in_shard += take as u64;
            off += take;
            if self.shuffle.is_none() && self.t.len() >= ROW_GROUP {
                self.flush_rows()?;
            }
            if self.in_shard == self.shard_size {
                self.close_shard(stage)?;
            }
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<()> {
        if self.t.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            self.path = self
                .dir
                .join(format!("part-{:05}.parquet", self.shards.len()));
            let out = AtomicFile::create(&self.path)?;
            let props = crate::shards::props();
            self.writer = Some(
                parquet::arrow::ArrowWriter::try_new(out, schema(), Some(props))
                    .map_err(pq_err(&self.path, "start shard"))?,
            );
        }
        if let Some(seed) = self.shuffle {
            // Fisher–Yates over the whole shard, seeded by (seed, draw, shard).
            let mut rng = Rng::seed_from_u64(crate::rng::mix64(
                seed ^ crate::rng::mix64(
                    purpose::SHUFFLE ^ ((self.draw as u64) << 32) ^ self.shards.len() as u64,
                ),
            ));
            for i in (1..self.t.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                self.t.swap(i, j);
                self.c.swap(i, j);
            }
        }
        let w = self.writer.as_mut().expect("writer opened above");
        self.sums.update(&self.t, &self.c);
        crate::shards::write_rows(w, &self.path, &self.t, &self.c)?;
        self.t.clear();
        self.c.clear();
        Ok(())
    }

    fn close_shard(&mut self, stage: &Stage) -> Result<()> {
        self.flush_rows()?;
        if let Some(mut w) = self.writer.take() {
            w.flush().map_err(pq_err(&self.path, "finish shard"))?;
            let checksums =
                std::mem::take(&mut self.sums).finish(&self.path, &flushed_groups(&w))?;
            let out = w.into_inner().map_err(pq_err(&self.path, "finish shard"))?;
            out.commit()?;
            // Read back from the page cache: the hash of what landed on disk.
            let fp = crate::manifest::fingerprint(&self.path)?;
            let name = self
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            self.shards.push(ShardInfo {
                file: format!("{}/{}", self.rel, name),
                draw: self.draw,
                pairs: self.in_shard,
                bytes: fp.bytes,
                xxh3: Some(fp.xxh3),
                checksums,
            });
            stage.message(format!("draw {} shard {}", self.draw, self.shards.len()));
        }
        self.in_shard = 0;
        Ok(())
    }
}

/// Refuses a shards directory that holds a complete shard set (a shards
/// manifest) unless `force`. Shards without a manifest are the debris of an
/// interrupted run: they never block, and are replaced at the swap.
fn check_existing(dir: &Path, force: bool) -> Result<()> {
    let complete = Manifest::read(dir, "pairs").is_ok();
    if complete && !force {
        return Err(Error::InvalidInput {
            path: dir.to_path_buf(),
            message: "already holds shards; pass --force to replace them (the new set is built beside the old one and swapped in only when complete)".into(),
        });
    }
    Ok(())
}

/// True for a name the shards stage owns in its directory.
fn is_shard_entry(name: &str) -> bool {
    name.starts_with("epoch-") || name.ends_with(".parquet")
}

/// Swaps the complete shard set built in `staging` into `dir`: the old
/// manifest goes first (so a crash in between leaves a directory that is
/// refused, not a mix), the old draws are moved aside, the new ones moved
/// in. Renames only: the window is short. The caller writes the manifest.
fn swap_in(dir: &Path, staging: &Path) -> Result<()> {
    for name in [
        crate::manifest::SHARDS_MANIFEST,
        crate::manifest::LEGACY_FILE_NAME,
    ] {
        let p = dir.join(name);
        let ours = name == crate::manifest::SHARDS_MANIFEST
            || Manifest::read(dir, "pairs").is_ok_and(|m| m.source == p);
        if ours && p.exists() {
            std::fs::remove_file(&p).map_err(io_err(&p, "remove the old shards manifest"))?;
        }
    }
    crate::manifest::commit_pause();
    let trash = crate::manifest::staging_dir(dir)?;
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(io_err(d, "list shards directory"))?
            .filter_map(|e| e.ok())
            .filter(|e| is_shard_entry(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        v.sort();
        Ok(v)
    };
    for old in list(dir)? {
        let to = trash.path().join(old.file_name().expect("listed entry"));
        std::fs::rename(&old, &to).map_err(io_err(&old, "move aside the old shards in"))?;
    }
    for new in list(staging)? {
        let to = dir.join(new.file_name().expect("listed entry"));
        std::fs::rename(&new, &to).map_err(io_err(&to, "move the new shards into"))?;
    }
    // `trash` is removed when dropped.
    Ok(())
}

/// True when some line of `data` has two words of `vocab` (so an empty
/// pair set came from subsampling, not from the corpus).
fn has_two_in_vocab(data: &[u8], vocab: &Vocab) -> bool {
    let index = vocab.index();
    data.split(|&b| b == b'\n').any(|line| {
        line.split(|&b| b == b' ')
            .filter(|t| index.contains_key(t))
            .nth(1)
            .is_some()
    })
}

/// Writes the shards of every draw for an already-built vocabulary under
/// `root` (`epoch-XX/part-NNNNN.parquet`); `expected_pairs` (all draws) is
/// the progress total.
pub fn write_pairs(
    data: &[u8],
    vocab: &Vocab,
    cfg: &PairsConfig,
    root: &Path,
    expected_pairs: u64,
    progress: &Progress,
) -> Result<PairsSummary> {
    let start = Instant::now();
    let pool = crate::parallel::pool(cfg.threads)?;
    let index = vocab.index();
    let keep = keep_probs(&vocab.counts, cfg.sample);
    let sampler = Sampler {
        keep: &keep,
        window: cfg.window,
        dynamic_window: cfg.dynamic_window,
    };
    let stage = progress.stage("pairs", expected_pairs, "pairs");
    let mut writers: Vec<DrawWriter> = (0..cfg.epochs)
        .map(|d| DrawWriter::new(root, d, cfg))
        .collect::<Result<_>>()?;
    let bounds = chunk_bounds(data, PAIR_CHUNK_BYTES);
    let wave = pool.current_num_threads() * 2;
    let mut pairs_per_draw = vec![0u64; cfg.epochs as usize];

    std::thread::scope(|scope| -> Result<()> {
        // One message per wave: for each of its chunks in order, the pairs
        // of every draw.
        let (tx, rx) = sync_channel::<Vec<Vec<Pairs>>>(1);
        let (index, sampler, bounds, pool) = (&index, &sampler, &bounds, &pool);
        let generator = scope.spawn(move || {
            for (w, group) in bounds.chunks(wave).enumerate() {
                let out: Vec<_> = pool.install(|| {
                    group
                        .par_iter()
                        .enumerate()
                        .map(|(i, r)| {
                            chunk_pairs(&data[r.clone()], w * wave + i, index, sampler, cfg)
                        })
                        .collect()
                });
                // The writer hung up: it failed, and reports why.
                if tx.send(out).is_err() {
                    return;
                }
            }
        });
        // The loop owns `rx`, so when it stops (done, or a write failed) the
        // channel closes and a generator blocked on `send` returns.
        let written = (|| -> Result<()> {
            for wave_out in rx {
                for per_draw in wave_out {
                    for (d, pairs) in per_draw.iter().enumerate() {
                        pairs_per_draw[d] += pairs.len() as u64;
                        stage.inc(pairs.len() as u64);
                        writers[d].push(pairs, &stage)?;
                    }
                }
            }
            Ok(())
        })();
        // A generator that panicked closed the channel early, which looks
        // like a finished stream to the writer: its panic comes first.
        joined("pairs generator", generator.join())?;
        written
    })?;
    for w in &mut writers {
        w.close_shard(&stage)?;
    }
    stage.set_total(stage.done());
    stage.finish();
    let shards: Vec<ShardInfo> = writers.into_iter().flat_map(|w| w.shards).collect();
    let total_pairs: u64 = pairs_per_draw.iter().sum();
    let bytes: u64 = shards.iter().map(|s| s.bytes).sum();
    let elapsed = start.elapsed().as_secs_f64();
    Ok(PairsSummary {
        vocab_fingerprint: String::new(),
        n_draws: cfg.epochs,
        pairs_per_draw,
        total_pairs,
        bytes_on_disk: bytes,
        bytes_per_pair: bytes as f64 / total_pairs.max(1) as f64,
        corpus_tokens: vocab.n_tokens,
        shards,
        elapsed_s: elapsed,
        pairs_per_s: total_pairs as f64 / elapsed.max(1e-9),
    })
}

/// Runs the whole stage: vocabulary, unigram table, shards, manifest.
///
/// Both directories are claimed (neither may hold another stage's output,
/// and they must differ) and locked. The vocabulary is counted in memory and
/// the shards are written into a staging directory inside the shards
/// directory; only when every shard is complete are the vocabulary files
/// written and the new shard set swapped in, so a failure (a full disk)
/// leaves the previous vocabulary and shards as they were.
///
/// Nothing is written until the vocabulary is counted and the preflight
/// ([`crate::preflight`]) has found room for the shards on disk (beside the
/// old set, which is replaced only at the swap) and for the stage in
/// memory; a refusal leaves every directory as it was.
pub fn run(cfg: &PairsConfig, progress: &Progress) -> Result<PairsSummary> {
    use crate::manifest::{claim_dir, lock_dir, refuse_same_dir, staging_dir, Owner};
    cfg.validate()?;
    let start = Instant::now();
    let (vdir, sdir) = (&cfg.vocab.vocab_dir, &cfg.shards_dir);
    claim_dir(vdir, Owner::Vocab)?;
    claim_dir(sdir, Owner::Shards)?;
    refuse_same_dir(vdir, "--vocab-dir", sdir, "--shards-dir")?;
    // A refusal or failure leaves no new directory: each lock removes the
    // directories it created while they stay empty (shards', then vocab's).
    let _vocab_lock = lock_dir(vdir)?;
    let _shards_lock = lock_dir(sdir)?;
    check_existing(sdir, cfg.force)?;
    let built = crate::vocab::build(&cfg.vocab, progress)?;
    let map = map_corpus(&cfg.vocab.corpus)?;
    let data: &[u8] = map.as_deref().unwrap_or(&[]);
    let estimate = crate::preflight::PairsEstimate::new(
        &built.vocab,
        &built.summary.line_lengths,
        data.len() as u64,
        cfg,
        crate::parallel::threads(cfg.threads),
    );
    preflight(cfg, &estimate)?;
    let corpus = built.corpus.clone();
    let staging = staging_dir(sdir)?;
    let mut summary = write_pairs(
        data,
        &built.vocab,
        cfg,
        staging.path(),
        estimate.total_pairs(),
        progress,
    )?;
    if summary.total_pairs == 0 {
        let message = if cfg.sample > 0.0 && has_two_in_vocab(data, &built.vocab) {
            format!(
                "produced no pairs: subsampling (--sample {}) removed every pair of in-vocabulary words (the corpus is tiny or a few words dominate it); try --sample 0",
                cfg.sample
            )
        } else {
            "produced no pairs: every line has fewer than two in-vocabulary words".into()
        };
        return Err(Error::InvalidInput {
            path: cfg.vocab.corpus.clone(),
            message,
        });
    }
    // Everything is written under temp names before anything is replaced,
    // so a full disk or a kill up to here leaves the old vocabulary and
    // shards as they were. Then only renames: the old shards manifest goes
    // first (in `swap_in`), so a directory caught in between is refused.
    let vocab = crate::vocab::prepare(&cfg.vocab, built)?;
    summary.vocab_fingerprint = vocab.summary().vocab_fingerprint.clone();
    summary.elapsed_s = start.elapsed().as_secs_f64();
    let mut m = Manifest::new("pairs", cfg.seed, cfg);
    m.inputs = vec![corpus];
    m.summary = serde_json::to_value(&summary).unwrap_or_default();
    let manifest = m.prepare(&crate::manifest::manifest_path(sdir, "pairs"))?;
    // A stop signal waits for the renames (shards, vocabulary, manifests).
    let _commit = crate::manifest::commit_guard();
    swap_in(sdir, staging.path())?;
    drop(staging);
    vocab.commit()?;
    manifest.commit()?;
    Ok(summary)
}

/// Refuses a run whose shards will not fit on the shards' filesystem or
/// whose peak memory exceeds what is available. Old shards do not count as
/// free: the new set is written beside them and swapped in at the end.
fn preflight(cfg: &PairsConfig, estimate: &crate::preflight::PairsEstimate) -> Result<()> {
    crate::preflight::check_memory(
        "writing pairs",
        estimate.memory,
        if cfg.shuffle {
            "drop --shuffle (it holds a whole shard per draw), lower --shard-size or --threads, or --epochs"
        } else {
            "lower --threads or --epochs, or shrink the vocabulary (--min-count, --max-vocab)"
        },
    )?;
    crate::preflight::check_disk(
        "pairs",
        &cfg.shards_dir,
        estimate.disk_bytes(),
        &estimate.describe(),
        0,
        "pass --epochs 1 (one draw, replayed every epoch), another --shards-dir, or a smaller vocabulary (--min-count, --max-vocab)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs_of(
        ids: &[TokenId],
        window: usize,
        dynamic: bool,
        keep: &[f32],
        seed: u64,
    ) -> Vec<(TokenId, TokenId)> {
        let s = Sampler {
            keep,
            window,
            dynamic_window: dynamic,
        };
        let mut rng = stream(seed, &[]);
        let (mut out, mut k) = (Pairs::default(), Vec::new());
        s.line(ids, &mut rng, &mut k, &mut out);
        out.targets.into_iter().zip(out.contexts).collect()
    }

    #[test]
    fn count_line_counts_what_line_draws_and_leaves_the_rng_alike() {
        let keep: Vec<f32> = (0..50).map(|i| 0.2 + i as f32 / 60.0).collect();
        for (dynamic, window) in [(true, 5), (false, 3), (true, 1)] {
            let s = Sampler {
                keep: &keep,
                window,
                dynamic_window: dynamic,
            };
            for len in [0usize, 1, 2, 7, 40, 300] {
                let ids: Vec<TokenId> = (0..len).map(|i| ((i * 7) % 50) as TokenId).collect();
                let (mut a, mut b) = (stream(9, &[len as u64]), stream(9, &[len as u64]));
                let (mut out, mut k) = (Pairs::default(), Vec::new());
                s.line(&ids, &mut a, &mut k, &mut out);
                assert_eq!(
                    s.count_line(&ids, &mut b, &mut k),
                    out.len() as u64,
                    "{len}"
                );
                assert_eq!(below(&mut a, 1 << 40), below(&mut b, 1 << 40), "{len}");
            }
        }
    }

    /// synth → prep in `dir`; returns the corpus path.
    fn sample_corpus(dir: &Path, bytes: u64) -> PathBuf {
        crate::train::oracle::test_corpus(dir, bytes).unwrap()
    }

    #[test]
    fn the_pairs_estimate_is_within_one_percent_of_what_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = sample_corpus(dir.path(), 2_000_000);
        let bytes = std::fs::metadata(&corpus).unwrap().len();
        let settings = [
            (5, true, 1e-3, 2),
            (5, false, 1e-3, 1),
            (2, true, 0.0, 1),
            (10, true, 1e-4, 1),
        ];
        for (i, (window, dynamic_window, sample, epochs)) in settings.into_iter().enumerate() {
            let cfg = PairsConfig {
                vocab: VocabConfig {
                    corpus: corpus.clone(),
                    vocab_dir: dir.path().join(format!("vocab{i}")),
                    ..Default::default()
                },
                shards_dir: dir.path().join(format!("shards{i}")),
                window,
                dynamic_window,
                sample,
                epochs,
                shard_size: 200_000,
                ..Default::default()
            };
            let counted = crate::vocab::build(&cfg.vocab, &Progress::silent()).unwrap();
            let est = crate::preflight::PairsEstimate::new(
                &counted.vocab,
                &counted.summary.line_lengths,
                bytes,
                &cfg,
                2,
            );
            let s = run(&cfg, &Progress::silent()).unwrap();
            // The manifest records what was written.
            let (_, written) = PairsSummary::read(&cfg.shards_dir).unwrap();
            assert_eq!(written.total_pairs, s.total_pairs);
            for &got in &written.pairs_per_draw {
                let rel = est.pairs_per_draw / got as f64 - 1.0;
                eprintln!("{window} {dynamic_window} {sample}: {got} pairs, estimate {rel:+.4}");
                assert!(
                    rel.abs() < 0.01,
                    "{window} {dynamic_window} {sample}: estimate {} vs {got} pairs ({rel:+.4})",
                    est.pairs_per_draw
                );
            }
            // The disk estimate covers what the shards took.
            assert!(
                est.shard_bytes >= written.bytes_on_disk,
                "{} < {}",
                est.shard_bytes,
                written.bytes_on_disk
            );
            assert!(est.bytes_per_pair >= written.bytes_per_pair);
        }
    }

    #[test]
    fn a_disk_refusal_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = sample_corpus(dir.path(), 300_000);
        let cfg = PairsConfig {
            vocab: VocabConfig {
                corpus,
                vocab_dir: dir.path().join("vocab"),
                ..Default::default()
            },
            shards_dir: dir.path().join("deep/shards"),
            ..Default::default()
        };
        let counted = crate::vocab::build(&cfg.vocab, &Progress::silent()).unwrap();
        let bytes = std::fs::metadata(&cfg.vocab.corpus).unwrap().len();
        let est = crate::preflight::PairsEstimate::new(
            &counted.vocab,
            &counted.summary.line_lengths,
            bytes,
            &cfg,
            2,
        );
        // Refused against an impossible need, through the stage's own check.
        let huge = crate::preflight::PairsEstimate {
            shard_bytes: u64::MAX / 4,
            ..est
        };
        let e = preflight(&cfg, &huge).unwrap_err().to_string();
        assert!(
            e.contains("--epochs 1") && e.contains("--shards-dir"),
            "{e}"
        );
        assert!(!dir.path().join("deep").exists());
        assert!(!cfg.vocab.vocab_dir.exists());
    }

    #[test]
    fn a_shards_manifest_of_100_billion_pairs_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = PairsSummary {
            vocab_fingerprint: "f".into(),
            n_draws: 5,
            pairs_per_draw: vec![20_000_000_007; 5],
            total_pairs: 100_000_000_035,
            bytes_on_disk: 350_000_000_000,
            bytes_per_pair: 3.5,
            corpus_tokens: 5_000_000_003,
            shards: vec![ShardInfo {
                file: "epoch-04/part-00399.parquet".into(),
                draw: 4,
                pairs: (1u64 << 32) + 5,
                bytes: 15_032_385_536,
                xxh3: None,
                checksums: Vec::new(),
            }],
            elapsed_s: 1.0,
            pairs_per_s: 1.0,
        };
        let mut m = Manifest::new("pairs", 1, &PairsConfig::default());
        m.summary = serde_json::to_value(&s).unwrap();
        m.write(dir.path()).unwrap();
        let (_, got) = PairsSummary::read(dir.path()).unwrap();
        assert_eq!(got.pairs_per_draw, s.pairs_per_draw);
        assert_eq!(got.total_pairs, 100_000_000_035);
        assert_eq!(got.bytes_on_disk, 350_000_000_000);
        assert_eq!(got.corpus_tokens, 5_000_000_003);
        assert_eq!(got.shards, s.shards);
    }

    #[test]
    fn golden_pairs_window_1_and_2() {
        let keep = vec![1.0; 10];
        let ids = [0, 1, 2, 3];
        assert_eq!(
            pairs_of(&ids, 1, true, &keep, 9),
            vec![(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]
        );
        assert_eq!(
            pairs_of(&ids, 2, false, &keep, 9),
            vec![
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 2),
                (1, 3),
                (2, 0),
                (2, 1),
                (2, 3),
                (3, 1),
                (3, 2)
            ]
        );
        // A dynamic window of 2 yields, per centre, a contiguous radius 1 or 2.
        let full = pairs_of(&ids, 2, false, &keep, 9);
        for seed in 0..20 {
            let dynp = pairs_of(&ids, 2, true, &keep, seed);
            assert!(dynp.iter().all(|p| full.contains(p)));
            for centre in 0..4 {
                let ctx: Vec<i32> = dynp.iter().filter(|p| p.0 == centre).map(|p| p.1).collect();
                let r1: Vec<i32> = [centre - 1, centre + 1]
                    .into_iter()
                    .filter(|x| (0..4).contains(x))
                    .collect();
                let r2: Vec<i32> = (centre - 2..=centre + 2)
                    .filter(|x| *x != centre && (0..4).contains(x))
                    .collect();
                assert!(ctx == r1 || ctx == r2, "centre {centre}: {ctx:?}");
            }
        }
    }

    #[test]
    fn subsampling_and_window_statistics() {
        // keep_prob matches sqrt(t/f) + t/f.
        let counts = [1000u64, 100, 10];
        let kp = keep_probs(&counts, 0.01);
        let f0 = 1000.0 / 1110.0;
        assert!((kp[0] as f64 - ((0.01f64 / f0).sqrt() + 0.01 / f0)).abs() < 1e-6);
        assert_eq!(kp[2], 1.0);
        // Empirical keep rate of id 0 is kp[0]; distance d appears ∝ (W - d + 1).
        let ids: Vec<TokenId> = vec![0; 200_000];
        let s = Sampler {
            keep: &kp,
            window: 1,
            dynamic_window: true,
        };
        let mut rng = stream(3, &[]);
        let (mut out, mut k) = (Pairs::default(), Vec::new());
        s.line(&ids, &mut rng, &mut k, &mut out);
        let rate = k.len() as f64 / ids.len() as f64;
        assert!(
            (rate - kp[0] as f64).abs() < 0.005,
            "keep rate {rate} vs {}",
            kp[0]
        );

        let keep = vec![1.0; 1];
        let w = 5;
        let s = Sampler {
            keep: &keep,
            window: w,
            dynamic_window: true,
        };
        let line: Vec<TokenId> = vec![0; 100_000];
        let mut hist = vec![0f64; w + 1];
        // Use positions, not ids: regenerate with distinct ids.
        let line_ids: Vec<TokenId> = (0..line.len() as i32).collect();
        let keep_all = vec![1.0; line.len()];
        let s2 = Sampler {
            keep: &keep_all,
            ..s
        };
        let mut out = Pairs::default();
        s2.line(&line_ids, &mut rng, &mut k, &mut out);
        for (a, b) in out.targets.iter().zip(&out.contexts) {
            hist[(a - b).unsigned_abs() as usize] += 1.0;
        }
        for d in 1..=w {
            let ratio = hist[d] / hist[1];
            let want = (w - d + 1) as f64 / w as f64;
            assert!(
                (ratio - want).abs() < 0.02,
                "distance {d}: {ratio} vs {want}"
            );
        }
    }
}
