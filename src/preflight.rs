//! Preflight: disk and memory checked before a stage starts work.
//!
//! In: what a stage knows before it writes anything (the corpus size, the
//! counted vocabulary and its line lengths, the settings).
//! Out: nothing on disk. Estimates ([`vocab_memory`], [`PairsEstimate`],
//! `train::memory_estimate`), the two probes ([`free_bytes`],
//! [`mem_available`]) and the refusals ([`check_disk`], [`check_memory`]),
//! an [`Error::Insufficient`] that says how much is needed, how much there
//! is, and what to change.
//!
//! **The pairs estimate.** A token survives out-of-vocabulary removal and
//! subsampling with probability `p = Σ_w count_w · keep_prob_w / n_tokens`.
//! A line of `N` surviving tokens yields `2 · Σ_{d=1..W} w_d · (N − d)⁺`
//! pairs, where `w_d` is the chance that a centre's radius reaches `d`
//! (`(W − d + 1) / W` with dynamic windows, 1 without). Taking `N ~
//! Binomial(m, p)` for a line of `m` tokens, `E[(N − d)⁺] = m·p − d +
//! Σ_{k<d} (d − k)·P(N = k)`, summed over the corpus's line-length
//! histogram (counted by `vocab`): exact but for the spread of keep
//! probabilities within a line. Bytes on disk are that × draws ×
//! [`bytes_per_pair`].
//!
//! **Test hooks.** `W2V_FAKE_FREE_BYTES` and `W2V_FAKE_MEM_AVAILABLE`, read
//! only here, replace what the probes report, so the integration tests can
//! show each refusal without filling a disk. They are not for users.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pairs::{keep_probs, PairsConfig};
use crate::vocab::{LineLengths, Vocab, VocabConfig, CHUNK_BYTES};

/// Test hook: the free bytes [`free_bytes`] reports for every path.
pub const FAKE_FREE_BYTES: &str = "W2V_FAKE_FREE_BYTES";
/// Test hook: the bytes [`mem_available`] reports.
pub const FAKE_MEM_AVAILABLE: &str = "W2V_FAKE_MEM_AVAILABLE";

/// Disk refusals leave this share of the estimate as a margin.
pub const DISK_MARGIN: f64 = 0.10;
/// And at least this many bytes.
pub const DISK_MARGIN_MIN: u64 = 64 << 20;

/// Shard size per pair measured on ru_lit (vocab 130k, BENCHMARKS.md).
const BYTES_PER_PAIR_130K: f64 = 2.93;

/// A test hook's value, if set.
fn fake(var: &str) -> Option<u64> {
    std::env::var(var).ok()?.trim().parse().ok()
}

/// Bytes free to an unprivileged writer on the filesystem that holds `path`
/// (or would hold it: the nearest existing ancestor is asked). `None` when
/// the system cannot say.
pub fn free_bytes(path: &Path) -> Option<u64> {
    if let Some(b) = fake(FAKE_FREE_BYTES) {
        return Some(b);
    }
    statvfs_free(&existing_ancestor(path))
}

/// `path` or its nearest ancestor that exists (`.` for a relative path
/// none of whose parts exist).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path;
    loop {
        if p.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
        if p.exists() {
            return p.to_path_buf();
        }
        match p.parent() {
            Some(q) => p = q,
            None => return PathBuf::from("."),
        }
    }
}

#[cfg(unix)]
fn statvfs_free(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path that outlives the call, and `s`
    // points to writable memory the size of a `statvfs`, which the call
    // fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `s`.
    let s = unsafe { s.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types differ by platform
    Some(u64::from(s.f_bavail).saturating_mul(u64::from(s.f_frsize)))
}

#[cfg(not(unix))]
fn statvfs_free(_path: &Path) -> Option<u64> {
    None
}

/// Memory available for new work without swapping (`MemAvailable` in
/// `/proc/meminfo`); `None` when the system does not say.
pub fn mem_available() -> Option<u64> {
    if let Some(b) = fake(FAKE_MEM_AVAILABLE) {
        return Some(b);
    }
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&s)
}

fn parse_meminfo(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `bytes` for people: "1.5 GiB", "312.0 MiB".
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

/// Refuses work (`what`: "counting the vocabulary") whose estimated peak
/// memory `need` exceeds what is available; `advice` names the settings
/// that lower it.
pub fn check_memory(what: &str, need: u64, advice: &str) -> Result<()> {
    match mem_available() {
        Some(avail) if need > avail => Err(Error::Insufficient {
            resource: "memory",
            message: format!(
                "{what} needs about {} but only {} is available; {advice}",
                human(need),
                human(avail)
            ),
        }),
        _ => Ok(()),
    }
}

/// Refuses writing about `need` bytes (`what`, e.g. "5 draws × 20.3M pairs
/// × 2.93 bytes/pair") into `dir` when it does not fit, with the margin, in
/// the free space plus `reclaimable` (old output this run replaces).
pub fn check_disk(
    stage: &str,
    dir: &Path,
    need: u64,
    what: &str,
    reclaimable: u64,
    advice: &str,
) -> Result<()> {
    let Some(free) = free_bytes(dir) else {
        return Ok(());
    };
    let with_margin =
        need.saturating_add(((need as f64 * DISK_MARGIN) as u64).max(DISK_MARGIN_MIN));
    let room = free.saturating_add(reclaimable);
    if with_margin <= room {
        return Ok(());
    }
    let freed = if reclaimable > 0 {
        format!(" (+{} of old output it replaces)", human(reclaimable))
    } else {
        String::new()
    };
    Err(Error::Insufficient {
        resource: "disk space",
        message: format!(
            "{stage} would write about {} to {} ({what}), {} with a {:.0}% margin, but {} is free there{freed}; {advice}",
            human(need),
            dir.display(),
            human(with_margin),
            DISK_MARGIN * 100.0,
            human(free)
        ),
    })
}

/// Hash-table bytes for `n` entries of `entry` bytes (hashbrown: a power of
/// two of slots at most 7/8 full, one control byte per slot).
fn table_bytes(n: u64, entry: u64) -> u64 {
    let slots = (n.saturating_mul(8) / 7 + 1).next_power_of_two();
    slots.saturating_mul(entry + 1)
}

/// Estimated peak memory of counting the vocabulary of a corpus of
/// `corpus_bytes` bytes and `n_tokens` tokens (when its prep manifest says)
/// on `threads` threads, as `cfg` asks.
///
/// The merged table holds no more types than the text has tokens (one per
/// two bytes when the count is unknown), and pruning keeps it at
/// `max_table_types` plus the new types of one chunk; while it grows the old
/// table lives beside the new one. Each thread's chunk table (one per chunk
/// of a wave) holds at most a chunk's tokens. The list of kept words (at most `n_tokens / min_count`)
/// follows while the table is still allocated. The corpus itself is mapped,
/// not read into memory: its pages are page cache, which `MemAvailable`
/// already counts as available.
pub fn vocab_memory(
    cfg: &VocabConfig,
    corpus_bytes: u64,
    n_tokens: Option<u64>,
    threads: usize,
) -> u64 {
    // Entry: a `&[u8]` key (16 bytes) and a u64 count.
    const ENTRY: u64 = 24;
    let text_types = n_tokens.unwrap_or(corpus_bytes / 2) + 1;
    let chunk_share = (CHUNK_BYTES as f64 / corpus_bytes.max(1) as f64).min(1.0);
    let chunk_types = (text_types as f64 * chunk_share).ceil() as u64;
    let types = text_types.min(cfg.max_table_types as u64 + chunk_types);
    let merged = table_bytes(types, ENTRY) * 3 / 2;
    let n_chunks = corpus_bytes.div_ceil(CHUNK_BYTES as u64).max(1);
    let chunks = (threads as u64).min(n_chunks) * table_bytes(chunk_types, ENTRY);
    // (word, count) pairs, then each kept word as a String (24 + its bytes,
    // about 16) with its count.
    let kept = types.min(text_types / cfg.min_count.max(1) + 1) * (24 + 24 + 16 + 8);
    merged + chunks + kept
}

/// Estimated shard bytes per pair for a vocabulary of `v` words.
///
/// Measured (dictionary + RLE + zstd parquet, one draw): 2.93 on ru_lit at
/// 89k and 130k words, and 2.66 on the 1B-token synthetic corpus at 2.64M
/// words (BENCHMARKS.md, "Scale"). A larger vocabulary does not cost more
/// per pair in practice (frequent words dominate the columns), so the
/// estimate is the largest measured figure, whatever `v`.
pub fn bytes_per_pair(_v: usize) -> f64 {
    BYTES_PER_PAIR_130K
}

/// Expected pairs of a line of `m` tokens that each survive with
/// probability `p`, for radius weights `w` (`w[d - 1]`: the chance a
/// centre's radius reaches distance `d`).
pub fn line_pairs(m: u64, p: f64, w: &[f64]) -> f64 {
    let win = w.len();
    // P(N = k) for k < win, N ~ Binomial(m, p).
    let mut pmf = vec![0.0f64; win];
    if p >= 1.0 {
        if (m as usize) < win {
            pmf[m as usize] = 1.0;
        }
    } else if p <= 0.0 {
        pmf[0] = 1.0;
    } else {
        let q = 1.0 - p;
        let mut pk = (m as f64 * q.ln()).exp();
        for (k, slot) in pmf.iter_mut().enumerate().take((m as usize + 1).min(win)) {
            *slot = pk;
            pk *= (m - k as u64) as f64 / (k as f64 + 1.0) * p / q;
        }
    }
    let mean = m as f64 * p;
    let mut pairs = 0.0;
    for (i, wd) in w.iter().enumerate() {
        let d = i + 1;
        let short: f64 = (0..d).map(|k| (d - k) as f64 * pmf[k]).sum();
        pairs += wd * (mean - d as f64 + short).max(0.0);
    }
    2.0 * pairs
}

/// Expected pairs of one draw: the corpus's lines (`lines`, `n_tokens`
/// tokens), words kept with `keep[id]` (counts `counts`), windows of radius
/// up to `window` (uniform in 1..=window when `dynamic`).
pub fn expected_pairs(
    counts: &[u64],
    keep: &[f32],
    n_tokens: u64,
    lines: &LineLengths,
    window: usize,
    dynamic: bool,
) -> f64 {
    if n_tokens == 0 {
        return 0.0;
    }
    let survivors: f64 = counts
        .iter()
        .zip(keep)
        .map(|(&c, &k)| c as f64 * k as f64)
        .sum();
    let p = (survivors / n_tokens as f64).min(1.0);
    let w: Vec<f64> = (1..=window)
        .map(|d| {
            if dynamic {
                (window - d + 1) as f64 / window as f64
            } else {
                1.0
            }
        })
        .collect();
    let mut total = 0.0;
    for (m, &n) in lines.lines.iter().enumerate() {
        if n > 0 {
            total += n as f64 * line_pairs(m as u64, p, &w);
        }
    }
    if let Some(m) = lines.long_tokens.checked_div(lines.long_lines) {
        total += lines.long_lines as f64 * line_pairs(m, p, &w);
    }
    total
}

/// What `pairs` will write and hold, estimated before it writes anything.
#[derive(Clone, Debug, PartialEq)]
pub struct PairsEstimate {
    /// Expected pairs per draw.
    pub pairs_per_draw: f64,
    /// Draws (`--epochs`).
    pub draws: u32,
    /// Shard bytes per pair ([`bytes_per_pair`]).
    pub bytes_per_pair: f64,
    /// Bytes of every shard of every draw, with per-file overhead.
    pub shard_bytes: u64,
    /// Bytes of the vocabulary files written beside them.
    pub vocab_bytes: u64,
    /// Peak memory of generating and writing the pairs.
    pub memory: u64,
}

/// Parquet footer and page headers per shard file, generously.
const SHARD_OVERHEAD: u64 = 64 << 10;

impl PairsEstimate {
    /// The estimate for writing `vocab`'s pairs of a corpus of
    /// `corpus_bytes` bytes whose lines are `lines`, as `cfg` asks, on
    /// `threads` threads.
    pub fn new(
        vocab: &Vocab,
        lines: &LineLengths,
        corpus_bytes: u64,
        cfg: &PairsConfig,
        threads: usize,
    ) -> Self {
        let keep = keep_probs(&vocab.counts, cfg.sample);
        let pairs_per_draw = expected_pairs(
            &vocab.counts,
            &keep,
            vocab.n_tokens,
            lines,
            cfg.window,
            cfg.dynamic_window,
        );
        let v = vocab.len() as u64;
        let bpp = bytes_per_pair(vocab.len());
        let draws = cfg.epochs as u64;
        let shards_per_draw = (pairs_per_draw / cfg.shard_size as f64).ceil() as u64 + 1;
        let shard_bytes = (pairs_per_draw * bpp * draws as f64) as u64
            + draws * shards_per_draw * SHARD_OVERHEAD
            // The manifest: one entry per shard.
            + draws * shards_per_draw * 200 + 4096;
        let word_bytes: u64 = vocab.words.iter().map(|w| w.len() as u64).sum();
        // words.txt, counts.u64, vocab.json, unigram.alias, manifest, and
        // corpus.ids (4 bytes per token at most, and one per line end).
        let ids_bytes = if cfg.vocab.corpus_ids {
            4 * (vocab.n_tokens + lines.n_lines())
        } else {
            0
        };
        let vocab_bytes =
            (word_bytes + v) + 8 * v + (word_bytes + 16 * v) + 8 * v + 4096 + ids_bytes;

        // Memory. The vocabulary: words (String + bytes), counts, keep
        // probabilities, and the word → id index.
        let vocab_mem = word_bytes + 40 * v + 8 * v + 4 * v + table_bytes(v, 24);
        // Generation: waves of 2 × threads chunks; each chunk's pairs of
        // every draw (8 bytes a pair) live until written. One wave is being
        // generated, one waits in the channel, one is being written.
        let chunk_share = crate::pairs::PAIR_CHUNK_BYTES as f64 / corpus_bytes.max(1) as f64;
        let chunk_pairs = (pairs_per_draw * chunk_share.min(1.0)).ceil() as u64;
        let n_chunks = (corpus_bytes as f64 / crate::pairs::PAIR_CHUNK_BYTES as f64).ceil() as u64;
        let in_flight = (3 * 2 * threads as u64).min(n_chunks.max(1));
        // Each chunk's ids, with a separator per line.
        let chunk_tokens =
            ((vocab.n_tokens + lines.n_lines()) as f64 * chunk_share.min(1.0)).ceil() as u64;
        let generation = in_flight * (chunk_pairs * 8 * draws + chunk_tokens * 4);
        // Writers: a row group per draw (and its Arrow copy and encoding),
        // or with --shuffle a whole shard per draw (a growing Vec: up to
        // twice its length).
        let per_draw = if cfg.shuffle {
            2 * 8 * cfg.shard_size.min(pairs_per_draw.ceil() as u64)
        } else {
            4 * 8 * (crate::shards::ROW_GROUP as u64).min(pairs_per_draw.ceil() as u64)
        };
        let memory = vocab_mem + generation + draws * per_draw;
        PairsEstimate {
            pairs_per_draw,
            draws: cfg.epochs,
            bytes_per_pair: bpp,
            shard_bytes,
            vocab_bytes,
            memory,
        }
    }

    /// Expected pairs of every draw.
    pub fn total_pairs(&self) -> u64 {
        (self.pairs_per_draw * self.draws as f64).round() as u64
    }

    /// Every byte the stage writes: shards and vocabulary.
    pub fn disk_bytes(&self) -> u64 {
        self.shard_bytes + self.vocab_bytes
    }

    /// "5 draws × 20.3M pairs × 2.93 bytes/pair", for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} draw{} × {} pairs × {:.2} bytes/pair",
            self.draws,
            if self.draws == 1 { "" } else { "s" },
            count(self.pairs_per_draw),
            self.bytes_per_pair
        )
    }
}

/// A count for people: "20.3B", "4.1M", "950k", "12".
pub fn count(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.1}B", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed_and_the_hooks_are_read() {
        let s = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_meminfo(s), Some(8_000_000 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        // Without the hooks, the real probes answer on Linux.
        if std::env::var_os(FAKE_FREE_BYTES).is_none() {
            assert!(free_bytes(Path::new("surely/not/here")).is_some());
        }
        assert_eq!(existing_ancestor(Path::new("")), PathBuf::from("."));
        assert_eq!(
            existing_ancestor(Path::new("no/such/dir")),
            PathBuf::from(".")
        );
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            existing_ancestor(&tmp.path().join("a/b")),
            tmp.path().to_path_buf()
        );
    }

    #[test]
    fn line_pairs_match_counting_by_hand() {
        // Every token kept, fixed radius 2: a line of 4 gives 10 pairs
        // (the golden case in pairs.rs), of 1 none, of 2 two.
        let fixed = [1.0, 1.0];
        assert_eq!(line_pairs(4, 1.0, &fixed), 10.0);
        assert_eq!(line_pairs(1, 1.0, &fixed), 0.0);
        assert_eq!(line_pairs(2, 1.0, &fixed), 2.0);
        // Long lines: 2·(W+1)/2·2 = W+1 per token with dynamic windows.
        let w = 5;
        let dynamic: Vec<f64> = (1..=w).map(|d| (w - d + 1) as f64 / w as f64).collect();
        let per_token = line_pairs(1_000_000, 1.0, &dynamic) / 1e6;
        assert!((per_token - 6.0).abs() < 1e-3, "{per_token}");
        // Nothing kept, nothing paired; half kept of a long line: half the pairs.
        assert_eq!(line_pairs(100, 0.0, &dynamic), 0.0);
        let half = line_pairs(1_000_000, 0.5, &dynamic) / 1e6;
        assert!((half - 3.0).abs() < 1e-3, "{half}");
        // A binomial line against brute force: m = 3, p = 0.5, radius 1.
        // N = 0,1: 0 pairs; N = 2: 2; N = 3: 4. E = 2·3/8 + 4/8 = 1.25.
        assert!((line_pairs(3, 0.5, &[1.0]) - 1.25).abs() < 1e-12);
    }

    #[test]
    fn long_lines_are_estimated_at_their_mean_length() {
        let w5: Vec<f64> = (1..=5).map(|d| (5 - d + 1) as f64 / 5.0).collect();
        let mut lines = LineLengths::default();
        lines.add(5000);
        lines.add(7000);
        lines.add(4);
        let counts = [12_004u64];
        let e = expected_pairs(&counts, &[1.0], 12_004, &lines, 5, true);
        let want = 2.0 * line_pairs(6000, 1.0, &w5) + line_pairs(4, 1.0, &w5);
        assert!((e - want).abs() < 1e-6, "{e} vs {want}");
        // About W + 1 = 6 pairs a token on long lines.
        assert!((e / 12_004.0 - 6.0).abs() < 0.02, "{}", e / 12_004.0);
    }

    #[test]
    fn expected_pairs_at_taiga_scale_do_not_overflow() {
        // 5B tokens in 250M lines of 20, every word kept: 26.5B pairs a
        // draw, past u32 (and past f32's exact integers).
        let lines = LineLengths {
            lines: {
                let mut l = vec![0u64; 21];
                l[20] = 250_000_000;
                l
            },
            ..Default::default()
        };
        let counts = [5_000_000_000u64];
        let e = expected_pairs(&counts, &[1.0], 5_000_000_000, &lines, 5, true);
        // A line of 20 with dynamic radius ≤ 5: 2·Σ_d w_d·(20 − d) = 106 pairs,
        // so 26.5B a draw.
        let w5: Vec<f64> = (1..=5).map(|d| (5 - d + 1) as f64 / 5.0).collect();
        let per_line = line_pairs(20, 1.0, &w5);
        assert!((per_line - 106.0).abs() < 1e-9, "{per_line}");
        assert!((e - 26.5e9).abs() < 1.0, "{e}");
        assert!(e > u32::MAX as f64 * 4.0);
        let est = PairsEstimate {
            pairs_per_draw: e,
            draws: 5,
            bytes_per_pair: 3.5,
            shard_bytes: 0,
            vocab_bytes: 0,
            memory: 0,
        };
        assert_eq!(est.total_pairs(), 132_500_000_000);
        assert!(est.total_pairs() > 100_000_000_000);
        assert!(
            est.describe().starts_with("5 draws × 26.5B pairs × 3.50"),
            "{}",
            est.describe()
        );
    }

    #[test]
    fn bytes_per_pair_is_the_largest_measured_figure() {
        // 2.93 measured at 130k words; 2.66 at 2.64M words.
        for v in [1000, 130_000, 2_640_000, usize::MAX] {
            assert_eq!(bytes_per_pair(v), 2.93);
        }
    }

    #[test]
    fn vocab_memory_is_bounded_by_the_tokens_and_the_table_limit() {
        let cfg = VocabConfig::default();
        // A small corpus needs little, whatever the limit.
        assert!(vocab_memory(&cfg, 4_000_000, Some(200_000), 16) < 64 << 20);
        // Unknown tokens: one per two bytes at most, still bounded.
        assert!(vocab_memory(&cfg, 1000, None, 16) < 1 << 20);
        // Taiga (30 GB, 5B tokens): bounded by the 30M-type limit, a few GiB.
        let taiga = vocab_memory(&cfg, 30_000_000_000, Some(5_000_000_000), 2);
        assert!(
            ((2u64 << 30)..(8u64 << 30)).contains(&taiga),
            "{}",
            human(taiga)
        );
        // A lower limit lowers it.
        let pruned = VocabConfig {
            max_table_types: 5_000_000,
            ..Default::default()
        };
        assert!(vocab_memory(&pruned, 30_000_000_000, Some(5_000_000_000), 2) < taiga / 3);
    }

    #[test]
    fn refusals_say_what_is_needed_and_what_is_free() {
        let dir = tempfile::tempdir().unwrap();
        // Far more than any disk holds: refused, naming both figures.
        let e = check_disk("pairs", dir.path(), u64::MAX / 4, "a lot", 0, "do less")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not enough disk space: pairs would write about"),
            "{e}"
        );
        assert!(e.contains("is free there; do less"), "{e}");
        assert!(check_disk("pairs", dir.path(), 1, "a little", 0, "").is_ok());
        let e = check_memory("training", u64::MAX / 4, "lower --dim")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("training needs about") && e.ends_with("lower --dim"),
            "{e}"
        );
        assert!(check_memory("train", 1, "").is_ok());
    }
}
