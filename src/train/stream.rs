//! Training from the token stream: `w2v train --corpus vocab/corpus.ids`.
//!
//! In: `vocab/corpus.ids` ([`crate::ids`]) and the vocabulary whose
//! manifest lists it (its directory, or `--vocab` holding the same
//! vocabulary). Out: what the shard path writes (the model directory).
//!
//! **The same pairs as `w2v pairs` would draw.** Each epoch draws fresh
//! subsampling and dynamic windows with [`crate::pairs::Sampler`], the
//! generator `pairs` uses, from the same keep probabilities: no pairs are
//! written anywhere. The stream is cut into chunks ([`IdsCorpus::chunks`],
//! about 1M values ending at a line end); the line at offset `a` of chunk
//! `k` in epoch `e` draws from its own random stream ([`line_rng`] of
//! `(seed, STREAM, e, k)` and `a`), so the pairs depend only on the seed and
//! the file, never on the thread count or on how a chunk is cut between
//! threads. (They are not the pairs `w2v pairs --seed` writes, which cuts
//! the text differently: the two agree in distribution, which
//! `the_stream_draws_the_statistics_of_pairs` checks with a chi-square
//! test.)
//!
//! **One driver for both paths.** Each chunk of each epoch is an entry of
//! the driver's plan, exactly as a shard is ([`super::Plan`]): before
//! training, every chunk's pairs are counted in parallel without writing
//! them ([`Stream::plan`], [`Stream::count`]), so the learning rate decays
//! linearly over the exact planned pairs, and the cursor, checkpoints,
//! resume, Ctrl-C, the NaN guard and `--deterministic` are the shard
//! path's. Two ways to train a chunk:
//!
//! - **The engine draws** ([`super::Engine::draws_pairs`]): the driver hands
//!   it the chunk's ids ([`TokenChunks`]). The native engine cuts the chunk
//!   at line ends, one range per thread, and applies each centre's window
//!   as [`windows`] draws it: the pairs the plan counted, never
//!   materialised. The fused CUDA step draws on the device by its own rules
//!   ([`device_rules`]). The cursor moves a chunk at a time.
//! - **The host draws** (a subword model, the torch ops step): a
//!   [`Producer`] thread draws the pairs with [`Stream::draw`], chunk by
//!   chunk in plan order, and hands them to the driver in pieces of
//!   [`PIECE`] pairs (8 MB), as the shard readers hand over row groups;
//!   resuming inside a chunk redraws it and drops the pairs already
//!   trained.
//!
//! A resumed run must read the same `corpus.ids` (its fingerprint, and the
//! chunk size, are the checkpoint's "shards" fingerprint) with the same
//! sampling settings (`--window`, `--sample`, `--no-dynamic-window`, which
//! [`super::TrainConfig::resume_conflicts`] compares).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rayon::prelude::*;

use crate::error::{joined, Error, Result};
use crate::ids::{lines_at, IdsCorpus, CHUNK_TOKENS};
use crate::pairs::{keep_probs, Pairs, PairsSummary, Sampler};
use crate::progress::Progress;
use crate::rng::{hash, mix64, purpose, Rng, SeedableRng};
use crate::shards::ShardInfo;
use crate::vocab::Vocab;
use crate::TokenId;

use super::config::{StreamConfig, TrainConfig};
use super::engine::TokenBlock;
use super::readers::{Chunk, Source};
use super::{PlannedShard, TrainInputs};

/// Pairs per piece handed to the driver (8 MB of ids).
pub const PIECE: usize = 1 << 20;

/// A verified token stream and the rules to draw pairs from it.
pub struct Stream {
    ids: IdsCorpus,
    chunks: Vec<Range<usize>>,
    keep: Vec<f32>,
    window: usize,
    dynamic_window: bool,
    seed: u64,
    n_words: usize,
}

impl Stream {
    /// The stream of `ids` for `vocab` under the settings `s`.
    pub fn new(ids: IdsCorpus, vocab: &Vocab, s: &StreamConfig, seed: u64) -> Stream {
        Stream {
            chunks: ids.chunks(),
            ids,
            keep: keep_probs(&vocab.counts, s.sample),
            window: s.window,
            dynamic_window: s.dynamic_window,
            seed,
            n_words: vocab.len(),
        }
    }

    /// The chunks of the stream.
    pub fn chunks(&self) -> &[Range<usize>] {
        &self.chunks
    }

    /// The ids of chunk `k` (not checked against the vocabulary).
    pub fn chunk_ids(&self, k: usize) -> &[crate::TokenId] {
        &self.ids.ids()[self.chunks[k].clone()]
    }

    /// The `corpus.ids` file.
    pub fn path(&self) -> &std::path::Path {
        self.ids.path()
    }

    /// The keep probability of each word.
    pub fn keep(&self) -> &[f32] {
        &self.keep
    }

    /// The window and whether it is drawn per centre.
    pub fn window(&self) -> (usize, bool) {
        (self.window, self.dynamic_window)
    }

    /// Draws the pairs of chunk `k` in epoch `epoch` line by line into
    /// `out`, calling `emit(out, last)` whenever it holds at least `piece`
    /// pairs and once at the end (`last` = true); `emit` leaves `out`
    /// empty, or returns false to stop. Ids are bounds-checked first.
    pub fn draw(
        &self,
        epoch: u32,
        k: usize,
        piece: usize,
        out: &mut Pairs,
        mut emit: impl FnMut(&mut Pairs, bool) -> bool,
    ) -> Result<()> {
        let mut kept = Vec::new();
        let done = self.each_line(epoch, k, |sampler, line, rng| {
            sampler.line(line, rng, &mut kept, out);
            out.len() < piece || emit(out, false)
        })?;
        if done {
            emit(out, true);
        }
        Ok(())
    }

    /// The number of pairs [`Stream::draw`] draws from chunk `k` in epoch
    /// `epoch`, counted without writing them.
    pub fn count(&self, epoch: u32, k: usize) -> Result<u64> {
        let (mut kept, mut n) = (Vec::new(), 0u64);
        self.each_line(epoch, k, |sampler, line, rng| {
            n += sampler.count_line(line, rng, &mut kept);
            true
        })?;
        Ok(n)
    }

    /// Calls `f(sampler, line, rng)` for each line of chunk `k` in epoch
    /// `epoch` with that line's random stream, after bounds-checking the
    /// chunk's ids, until `f` returns false; Ok(false) when it stopped early.
    fn each_line(
        &self,
        epoch: u32,
        k: usize,
        mut f: impl FnMut(&Sampler, &[TokenId], &mut Rng) -> bool,
    ) -> Result<bool> {
        let r = &self.chunks[k];
        self.ids.check_chunk(r, self.n_words)?;
        let sampler = Sampler {
            keep: &self.keep,
            window: self.window,
            dynamic_window: self.dynamic_window,
        };
        let h = self.chunk_seed(epoch, k);
        for (at, line) in lines_at(&self.ids.ids()[r.clone()]) {
            if !f(&sampler, line, &mut line_rng(h, at)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The seed of chunk `k`'s subsampling and windows in epoch `epoch`
    /// (each line's draws come from [`line_rng`] of it).
    pub fn chunk_seed(&self, epoch: u32, k: usize) -> u64 {
        hash(self.seed, &[purpose::STREAM, epoch as u64, k as u64])
    }

    /// The plan: every chunk of every epoch with its pair count, drawn and
    /// counted in parallel, as a pairs summary whose draw `e` is epoch `e`.
    ///
    /// With `first_only` (an engine that draws its pairs on the device),
    /// only epoch 0 is drawn and its counts stand for every epoch: the
    /// counts then set the learning rate's decay and the progress only, and
    /// the pairs trained come back from the engine.
    pub fn plan(
        &self,
        epochs: u32,
        first_only: bool,
        vocab_fingerprint: &str,
        progress: &Progress,
        stop: Option<&AtomicBool>,
    ) -> Result<PairsSummary> {
        let start = Instant::now();
        let n = self.chunks.len();
        let drawn = if first_only { epochs.min(1) } else { epochs };
        let stage = progress.stage("plan", drawn as u64 * n as u64, "chunks");
        let pool = crate::parallel::pool(0)?;
        let tasks: Vec<(u32, usize)> = (0..epochs)
            .flat_map(|e| (0..n).map(move |k| (e, k)))
            .collect();
        let mut counts: Vec<u64> = pool.install(|| {
            tasks[..drawn as usize * n]
                .par_iter()
                .map(|&(e, k)| {
                    if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                        return Err(Error::InterruptedEarly("planning the stream"));
                    }
                    let total = self.count(e, k)?;
                    stage.inc(1);
                    Ok(total)
                })
                .collect::<Result<_>>()
        })?;
        stage.finish();
        for e in drawn as usize..epochs as usize {
            counts.extend_from_within(..n);
            debug_assert_eq!(counts.len(), (e + 1) * n);
        }
        let name = self.ids.path().display().to_string();
        let shards: Vec<ShardInfo> = tasks
            .iter()
            .zip(&counts)
            .map(|(&(e, k), &pairs)| ShardInfo {
                file: format!("{name}#epoch-{e:02}/chunk-{k:05}"),
                draw: e,
                pairs,
                bytes: 0,
                xxh3: None,
                checksums: Vec::new(),
            })
            .collect();
        let pairs_per_draw: Vec<u64> = (0..epochs as usize)
            .map(|e| counts[e * n..(e + 1) * n].iter().sum())
            .collect();
        let total_pairs: u64 = counts.iter().sum();
        if total_pairs == 0 {
            return Err(Error::InvalidInput {
                path: self.ids.path().to_path_buf(),
                message: "draws no pairs: every line has fewer than two in-vocabulary words, or subsampling removed them (try --sample 0)".into(),
            });
        }
        let bytes = 4 * self.ids.ids().len() as u64;
        let elapsed_s = start.elapsed().as_secs_f64();
        Ok(PairsSummary {
            vocab_fingerprint: vocab_fingerprint.to_string(),
            n_draws: epochs,
            pairs_per_draw,
            total_pairs,
            bytes_on_disk: bytes,
            bytes_per_pair: bytes as f64 / total_pairs.max(1) as f64,
            corpus_tokens: 0,
            shards,
            elapsed_s,
            pairs_per_s: total_pairs as f64 / elapsed_s.max(1e-9),
        })
    }
}

/// Loads `corpus.ids`, its vocabulary and unigram table, and plans the run.
pub fn load_inputs(
    cfg: &TrainConfig,
    s: &StreamConfig,
    progress: &Progress,
    stop: Option<&AtomicBool>,
) -> Result<(TrainInputs, Arc<Stream>)> {
    let ids = IdsCorpus::open(&s.corpus)?;
    let vocab_dir = ids.vocab_dir().to_path_buf();
    let fp = Vocab::fingerprint_of(&vocab_dir)?;
    if let Some(d) = &cfg.vocab_dir {
        let other = Vocab::fingerprint_of(d)?;
        if other != fp {
            return Err(Error::Mismatch {
                path: s.corpus.clone(),
                message: format!(
                    "was written with vocabulary {fp} ({}) but --vocab {} holds {other}; drop --vocab or pass the matching one",
                    vocab_dir.display(),
                    d.display()
                ),
            });
        }
    }
    let (vocab, table) = super::load_vocab(&vocab_dir)?;
    let manifest = crate::manifest::manifest_path(&vocab_dir, "vocab");
    let shards_fingerprint = format!("ids:{}:{}", ids.fingerprint(), CHUNK_TOKENS);
    let stream = Stream::new(ids, &vocab, s, cfg.seed);
    let mut pairs = stream.plan(cfg.epochs, cfg.draws_on_device(), &fp, progress, stop)?;
    pairs.corpus_tokens = vocab.n_tokens;
    Ok((
        TrainInputs {
            pairs,
            shards_fingerprint,
            shards_manifest: manifest,
            vocab_dir,
            vocab,
            table,
        },
        Arc::new(stream),
    ))
}

/// The random stream of the line that starts at offset `at` of a chunk
/// whose draws are seeded `chunk` ([`Stream::chunk_seed`]). One stream per
/// line makes the draws independent of how the chunk is cut between
/// threads.
#[inline]
pub fn line_rng(chunk: u64, at: usize) -> Rng {
    Rng::seed_from_u64(mix64(chunk ^ at as u64))
}

/// Calls `f(at, kept, i, b)` for every window of the lines of `b.ids` in
/// `range` (which starts and ends at line ends), drawn exactly as
/// [`Stream::draw`] draws them: `at` is the line's offset in the chunk,
/// `kept` the line after subsampling, `i` the centre and `b` its window.
pub fn windows(
    b: &TokenBlock,
    range: Range<usize>,
    kept: &mut Vec<TokenId>,
    mut f: impl FnMut(usize, &[TokenId], usize, usize),
) {
    let sampler = Sampler {
        keep: b.keep,
        window: b.window,
        dynamic_window: b.dynamic_window,
    };
    let start = range.start;
    for (at, line) in lines_at(&b.ids[range]) {
        let at = start + at;
        sampler.windows(line, &mut line_rng(b.draw_seed, at), kept, |k, i, w| {
            f(at, k, i, w)
        });
    }
}

/// Draws the planned chunks on a thread of its own, in plan order.
pub struct Producer {
    rx: Option<Receiver<Result<Chunk>>>,
    handle: Option<JoinHandle<()>>,
    /// Chunks not yet ended.
    remaining: usize,
    corpus: PathBuf,
}

impl Producer {
    /// Starts drawing `todo` (the plan from the cursor on), dropping the
    /// first `skip_pairs` pairs of its first chunk.
    pub fn spawn(stream: Arc<Stream>, todo: &[PlannedShard], skip_pairs: u64) -> Producer {
        let work: Vec<(u32, usize)> = todo.iter().map(|p| (p.epoch, p.shard)).collect();
        let remaining = work.len();
        let corpus = stream.ids.path().to_path_buf();
        // Two pieces (16 MB) ahead of training.
        let (tx, rx) = sync_channel::<Result<Chunk>>(2);
        let handle = std::thread::spawn(move || {
            let mut skip = skip_pairs as usize;
            for (e, k) in work {
                let mut out = Pairs::with_capacity(PIECE + 64 * stream.window);
                let mut sent = true;
                let r = stream.draw(e, k, PIECE, &mut out, |p, last| {
                    let d = skip.min(p.len());
                    skip -= d;
                    let mut piece = std::mem::replace(p, Pairs::with_capacity(PIECE + 64));
                    piece.targets.drain(..d);
                    piece.contexts.drain(..d);
                    if piece.is_empty() && !last {
                        return true;
                    }
                    sent = tx
                        .send(Ok(Chunk {
                            epoch: e,
                            shard: k,
                            centres: piece.targets,
                            contexts: piece.contexts,
                            end_of_shard: last,
                            tokens: None,
                        }))
                        .is_ok();
                    sent
                });
                if let Err(err) = r {
                    let _ = tx.send(Err(err));
                    return;
                }
                if !sent {
                    return;
                }
            }
        });
        Producer {
            rx: Some(rx),
            handle: Some(handle),
            remaining,
            corpus,
        }
    }
}

/// The plan's chunks as token ranges, for an engine that draws its pairs
/// itself ([`super::Engine::draws_pairs`]): nothing is drawn on the host.
pub struct TokenChunks {
    todo: std::vec::IntoIter<(u32, usize)>,
    stream: Arc<Stream>,
}

impl TokenChunks {
    /// The chunks of `todo` (the plan from the cursor on).
    pub fn new(stream: Arc<Stream>, todo: &[PlannedShard]) -> TokenChunks {
        let todo: Vec<(u32, usize)> = todo.iter().map(|p| (p.epoch, p.shard)).collect();
        TokenChunks {
            todo: todo.into_iter(),
            stream,
        }
    }
}

impl Source for TokenChunks {
    fn recv(&mut self) -> Option<Result<Chunk>> {
        let (epoch, shard) = self.todo.next()?;
        Some(Ok(Chunk {
            epoch,
            shard,
            centres: Vec::new(),
            contexts: Vec::new(),
            end_of_shard: true,
            tokens: Some(self.stream.chunks[shard].clone()),
        }))
    }

    fn stop(self: Box<Self>) {}
}

impl Source for Producer {
    fn recv(&mut self) -> Option<Result<Chunk>> {
        if self.remaining == 0 {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Ok(c)) => {
                if c.end_of_shard {
                    self.remaining -= 1;
                }
                Some(Ok(c))
            }
            Ok(Err(e)) => Some(Err(e)),
            // The producer stopped early: it panicked (or, a bug, ended).
            Err(_) => {
                let h = self.handle.take()?;
                Some(match joined("stream producer", h.join()) {
                    Err(e) => Err(e),
                    Ok(()) => Err(Error::Mismatch {
                        path: self.corpus.clone(),
                        message: format!(
                            "the stream ended with {} planned chunks undrawn (a bug)",
                            self.remaining
                        ),
                    }),
                })
            }
        }
    }

    fn stop(mut self: Box<Self>) {
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The CUDA stream kernel's draw rules (`sgns_stream` in
/// `torch/src/sgns.cu`), on the host, bit for bit: the tests check the
/// kernel against them on a GPU, and their statistics against `w2v pairs`'
/// without one.
///
/// Every draw is a hash of the chunk's seed and a token position, so any
/// thread can tell whether a neighbour survived subsampling without a
/// compaction pass: token `j` is kept when `u(seed ^ KEEP, j) < keep[id]`;
/// centre `i` sees the nearest `b` kept tokens on each side within its line,
/// `b = 1 + (hash(seed ^ WIN, i) mod window)` (or `window`), left side
/// nearest first, then right side nearest first; its K negatives are drawn
/// once for the window from `hash(seed ^ NEG, i)`.
pub mod device_rules {
    use crate::pairs::Pairs;
    use crate::unigram::{sample, Entry};
    use crate::TokenId;

    /// Salts of the three draws (must match the kernel's).
    pub const SALT_KEEP: u64 = 0x243f_6a88_85a3_08d3;
    pub const SALT_WIN: u64 = 0x1319_8a2e_0370_7344;
    pub const SALT_NEG: u64 = 0xa409_3822_299f_31d0;
    const GOLD: u64 = 0x9e37_79b9_7f4a_7c15;

    /// The kernel's hash: splitmix64's finaliser.
    pub fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn at(seed: u64, salt: u64, pos: usize) -> u64 {
        mix((seed ^ salt) ^ (pos as u64).wrapping_mul(GOLD))
    }

    /// Whether the token at `pos` (keep probability `p`) survives.
    pub fn kept(seed: u64, pos: usize, p: f32) -> bool {
        p >= 1.0 || ((at(seed, SALT_KEEP, pos) >> 40) as f32 * (1.0 / 16_777_216.0)) < p
    }

    /// The window of the centre at `pos`.
    pub fn window_at(seed: u64, pos: usize, window: usize, dynamic: bool) -> usize {
        if dynamic {
            1 + (at(seed, SALT_WIN, pos) % window as u64) as usize
        } else {
            window
        }
    }

    /// The positions of the contexts of centre `i` (kept, and not a line
    /// end), in the kernel's order; empty when `i` itself is dropped.
    pub fn contexts(
        ids: &[TokenId],
        keep: &[f32],
        window: usize,
        dynamic: bool,
        seed: u64,
        i: usize,
    ) -> Vec<usize> {
        let ok = |j: usize| kept(seed, j, keep[ids[j] as usize]);
        if ids[i] < 0 || !ok(i) {
            return Vec::new();
        }
        let b = window_at(seed, i, window, dynamic);
        let mut out = Vec::new();
        let left = (0..i).rev();
        let right = i + 1..ids.len();
        for side in [left.collect::<Vec<_>>(), right.collect()] {
            let mut found = 0;
            for j in side {
                if ids[j] < 0 || found == b {
                    break;
                }
                if ok(j) {
                    out.push(j);
                    found += 1;
                }
            }
        }
        out
    }

    /// The K negatives of the window at `pos` (`None` where one equals the
    /// centre and is skipped).
    pub fn negatives(
        entries: &[Entry],
        seed: u64,
        pos: usize,
        k: usize,
        centre: usize,
    ) -> Vec<Option<usize>> {
        let base = at(seed, SALT_NEG, pos);
        (1..=k as u64)
            .map(|j| {
                let w = sample(entries, mix(base.wrapping_add(j))) as usize;
                (w != centre).then_some(w)
            })
            .collect()
    }

    /// Every pair of a chunk (ids below the vocabulary, -1 at line ends),
    /// centres grouped, in position order.
    pub fn draw(
        ids: &[TokenId],
        keep: &[f32],
        window: usize,
        dynamic: bool,
        seed: u64,
        out: &mut Pairs,
    ) {
        for i in 0..ids.len() {
            for j in contexts(ids, keep, window, dynamic, seed, i) {
                out.targets.push(ids[i]);
                out.contexts.push(ids[j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{EngineConfig, NativeBuilder, NativeConfig};

    /// The stream inputs of `cfg` (which has a stream config).
    fn load(cfg: &TrainConfig) -> (TrainInputs, Arc<Stream>) {
        load_inputs(cfg, cfg.stream.as_ref().unwrap(), &Progress::silent(), None).unwrap()
    }

    /// synth → prep → vocab in `dir`; a deterministic stream config.
    fn stream_cfg(dir: &std::path::Path, bytes: u64, epochs: u32) -> TrainConfig {
        let mut cfg = crate::train::oracle::test_shards(dir, bytes, epochs).unwrap();
        cfg.stream = Some(StreamConfig {
            corpus: dir.join("vocab").join(crate::ids::FILE_NAME),
            ..Default::default()
        });
        cfg.vocab_dir = None;
        cfg.engine = EngineConfig::Native(NativeConfig {
            threads: 1,
            deterministic: true,
            ..Default::default()
        });
        cfg
    }

    #[test]
    fn the_plan_counts_what_the_producer_draws() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = stream_cfg(dir.path(), 300_000, 2);
        let (inputs, stream) = load(&cfg);
        let plan = super::super::Plan::new(&inputs.pairs, cfg.epochs);
        assert_eq!(plan.shards.len(), 2 * stream.chunks().len());
        let mut p = Producer::spawn(stream.clone(), &plan.shards, 0);
        let mut per = vec![0u64; plan.shards.len()];
        let mut i = 0;
        while let Some(c) = Source::recv(&mut p) {
            let c = c.unwrap();
            assert_eq!(
                (c.epoch, c.shard),
                (plan.shards[i].epoch, plan.shards[i].shard)
            );
            per[i] += c.centres.len() as u64;
            if c.end_of_shard {
                i += 1;
            }
        }
        Box::new(p).stop();
        let want: Vec<u64> = plan.shards.iter().map(|s| s.info.pairs).collect();
        assert_eq!(per, want);
        // Two epochs draw differently.
        assert_ne!(
            inputs.pairs.pairs_per_draw[0],
            inputs.pairs.pairs_per_draw[1]
        );
        // Skipping into the first chunk drops exactly those pairs.
        let mut p = Producer::spawn(stream.clone(), &plan.shards[..1], 1000);
        let mut got = 0;
        while let Some(c) = Source::recv(&mut p) {
            got += c.unwrap().centres.len() as u64;
        }
        assert_eq!(got, want[0] - 1000);
        // The windows the native engine trains from the tokens are the
        // pairs the producer draws, pair for pair.
        for (i, p) in plan.shards.iter().enumerate().take(3) {
            let (window, dynamic_window) = stream.window();
            let b = TokenBlock {
                ids: stream.chunk_ids(p.shard),
                keep: stream.keep(),
                window,
                dynamic_window,
                lr_start: 0.0,
                lr_end: 0.0,
                seed: 0,
                draw_seed: stream.chunk_seed(p.epoch, p.shard),
                source: stream.path(),
            };
            let mut got = Pairs::default();
            let mut kept = Vec::new();
            windows(&b, 0..b.ids.len(), &mut kept, |_, k, i, r| {
                let (lo, hi) = (i.saturating_sub(r), (i + r + 1).min(k.len()));
                for j in (lo..hi).filter(|&j| j != i) {
                    got.targets.push(k[i]);
                    got.contexts.push(k[j]);
                }
            });
            let mut want = Pairs::default();
            stream
                .draw(p.epoch, p.shard, usize::MAX, &mut want, |_, _| true)
                .unwrap();
            assert_eq!(got.len() as u64, per[i]);
            assert!(got.targets == want.targets && got.contexts == want.contexts);
        }
        // For an engine that draws on the device, epoch 0's counts stand
        // for every epoch.
        let first = stream
            .plan(3, true, "fp", &Progress::silent(), None)
            .unwrap();
        let n = stream.chunks().len();
        assert_eq!(first.shards.len(), 3 * n);
        for e in 0..3 {
            let got: Vec<u64> = first.shards[e * n..(e + 1) * n]
                .iter()
                .map(|s| s.pairs)
                .collect();
            assert_eq!(got, want[..n], "epoch {e}");
            assert!(first.shards[e * n..(e + 1) * n]
                .iter()
                .all(|s| s.draw == e as u32));
        }
        assert_eq!(first.total_pairs, 3 * want[..n].iter().sum::<u64>());
    }

    #[test]
    fn stream_training_runs_and_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = stream_cfg(dir.path(), 300_000, 2);
        let a = crate::train::run(&cfg, &Progress::silent(), None, &NativeBuilder).unwrap();
        assert!(a.final_loss.is_finite() && a.total_pairs > 0);
        let wa = std::fs::read(cfg.output.join("input.npy")).unwrap();
        cfg.output = dir.path().join("model2");
        let b = crate::train::run(&cfg, &Progress::silent(), None, &NativeBuilder).unwrap();
        assert_eq!(a.total_pairs, b.total_pairs);
        assert_eq!(wa, std::fs::read(cfg.output.join("input.npy")).unwrap());
    }

    /// One draw summarised: runs of equal consecutive centres (a centre
    /// occurrence and its window) counted per (centre frequency band, run
    /// length) cell, and the pairs. A shard holds no positions, so the
    /// window is seen through the run length (2b contexts, fewer at line
    /// ends), which the same function reads from both paths.
    #[derive(Default)]
    struct Draw {
        cells: std::collections::BTreeMap<(usize, usize), f64>,
        runs: u64,
        pairs: u64,
        len_sq: f64,
    }

    impl Draw {
        fn add(&mut self, t: &[crate::TokenId]) {
            let band = |id: i32| (id as f64 + 1.0).log(4.0) as usize;
            let mut i = 0;
            while i < t.len() {
                let j = i + t[i..].iter().take_while(|&&x| x == t[i]).count();
                let len = j - i;
                *self.cells.entry((band(t[i]), len.min(12))).or_default() += 1.0;
                self.runs += 1;
                self.pairs += len as u64;
                self.len_sq += (len * len) as f64;
                i = j;
            }
        }
    }

    /// Chi-square homogeneity statistic of two count tables over cells
    /// where both expected counts are at least 5, and its degrees of freedom.
    fn chi_square(a: &Draw, b: &Draw) -> (f64, usize) {
        let (na, nb) = (a.runs as f64, b.runs as f64);
        let keys: std::collections::BTreeSet<_> = a.cells.keys().chain(b.cells.keys()).collect();
        let (mut stat, mut cells) = (0.0, 0usize);
        for k in keys {
            let (oa, ob) = (
                a.cells.get(k).copied().unwrap_or(0.0),
                b.cells.get(k).copied().unwrap_or(0.0),
            );
            let p = (oa + ob) / (na + nb);
            let (ea, eb) = (p * na, p * nb);
            if ea < 5.0 || eb < 5.0 {
                continue;
            }
            stat += (oa - ea).powi(2) / ea + (ob - eb).powi(2) / eb;
            cells += 1;
        }
        (stat, cells.saturating_sub(1))
    }

    /// The chi-square critical value at p = 0.001 (Wilson–Hilferty).
    fn critical_001(df: usize) -> f64 {
        let (k, z) = (df as f64, 3.0902);
        k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
    }

    /// Epoch 0 of the stream under `s`.
    fn stream_draw(inputs_cfg: &TrainConfig, s: StreamConfig) -> Draw {
        let mut cfg = inputs_cfg.clone();
        cfg.epochs = 1;
        cfg.stream = Some(s);
        let (_, st) = load(&cfg);
        let mut d = Draw::default();
        let mut out = Pairs::default();
        for k in 0..st.chunks().len() {
            st.draw(0, k, PIECE, &mut out, |p, _| {
                // Runs never span a piece: pieces end at line ends.
                d.add(&p.targets);
                p.targets.clear();
                p.contexts.clear();
                true
            })
            .unwrap();
        }
        d
    }

    /// Epoch 0 drawn by the CUDA kernel's rules ([`device_rules`]), each
    /// chunk with its own seed as the driver hands them out.
    fn device_draw(inputs_cfg: &TrainConfig, s: StreamConfig) -> Draw {
        let mut cfg = inputs_cfg.clone();
        cfg.epochs = 1;
        cfg.stream = Some(s);
        let (_, st) = load(&cfg);
        let mut d = Draw::default();
        let (window, dynamic) = st.window();
        for k in 0..st.chunks().len() {
            let mut out = Pairs::default();
            let seed = crate::rng::mix64(cfg.seed ^ k as u64);
            device_rules::draw(st.chunk_ids(k), st.keep(), window, dynamic, seed, &mut out);
            d.add(&out.targets);
        }
        d
    }

    #[test]
    fn the_stream_draws_the_statistics_of_pairs() {
        let dir = tempfile::tempdir().unwrap();
        // One draw of shards from `pairs` (window 5, sample 1e-3, seed 1).
        let cfg = stream_cfg(dir.path(), 2_000_000, 1);
        let (_, summary) = PairsSummary::read(&cfg.shards_dir).unwrap();
        // The shards of draw 0 in order, concatenated: `pairs` cuts shards
        // anywhere, and a run split by a cut is counted whole.
        let mut t = Vec::new();
        for s in summary.shards.iter().filter(|s| s.draw == 0) {
            let path = crate::shards::shard_path(&cfg.shards_dir, s);
            crate::shards::read_shard(&path, 1 << 20, |bt, _| {
                t.extend_from_slice(bt);
                Ok(())
            })
            .unwrap();
        }
        let mut shards = Draw::default();
        shards.add(&t);
        let base = cfg.stream.clone().unwrap();
        let same = stream_draw(&cfg, base.clone());
        check_same(&shards, &same, "the host stream");
        // The CUDA stream kernel's rules draw the same statistics.
        let dev = device_draw(&cfg, base.clone());
        check_same(&shards, &dev, "the CUDA kernel's rules");
        // The test can fail: a window one wider, or no subsampling, is rejected.
        for (what, wrong) in [
            (
                "window + 1",
                StreamConfig {
                    window: base.window + 1,
                    ..base.clone()
                },
            ),
            (
                "sample 0",
                StreamConfig {
                    sample: 0.0,
                    ..base.clone()
                },
            ),
        ] {
            for d in [
                stream_draw(&cfg, wrong.clone()),
                device_draw(&cfg, wrong.clone()),
            ] {
                let (stat, df) = chi_square(&shards, &d);
                eprintln!(
                    "{what}: chi2 {stat:.1} on {df} df (critical {:.1})",
                    critical_001(df)
                );
                assert!(
                    stat > critical_001(df),
                    "{what} was not rejected: {stat:.1}"
                );
            }
        }
    }

    /// Asserts that `same` draws `shards`' statistics: the run table by
    /// chi-square, and the pairs within sampling error.
    fn check_same(shards: &Draw, same: &Draw, what: &str) {
        let (stat, df) = chi_square(shards, same);
        let crit = critical_001(df);
        eprintln!(
            "{what}: chi2 {stat:.1} on {df} df (critical {crit:.1}); runs {} vs {}",
            shards.runs, same.runs
        );
        assert!(df >= 20, "{what}: {df}");
        assert!(
            stat < crit,
            "{what}: chi2 {stat:.1} >= {crit:.1} on {df} df"
        );
        // Pairs per token within sampling error: each draw's pair total
        // varies by about sqrt(runs·E[len²]) (window sizes and subsampling).
        let sd = (shards.len_sq).sqrt() * 2f64.sqrt();
        let diff = shards.pairs as f64 - same.pairs as f64;
        eprintln!(
            "pairs {} vs {} (diff {diff}, sd {sd:.0})",
            shards.pairs, same.pairs
        );
        assert!(diff.abs() < 4.0 * sd, "{what}: {diff} vs sd {sd}");
    }
}
