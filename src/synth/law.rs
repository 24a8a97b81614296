//! A Taiga-sized synthetic corpus: Zipf–Mandelbrot word frequencies,
//! Russian-looking words and planted topic groups in three frequency bands.
//!
//! In: a seed, a token count `N` and the law `p(r) ∝ (r + q)^-s` over `M`
//! types (`r = 1..M`). Out: `--out FILE` (raw text, one sentence per line,
//! capitalised and punctuated so that `prep` has work to do) and
//! `FILE.groups.json` (the law, the summary and the planted groups).
//!
//! **The law.** The defaults are the *Taiga fit*: `s` and `q` fitted on
//! `ru_lit` (its top word's share, its type/token curve and its min_count-5
//! vocabulary) under the constraint that 5B tokens keep about 2.5M types at
//! min_count 5. [`expected_types`] gives the expected vocabulary at any size
//! (Poisson, exact over every rank), which is how the fits were checked; the
//! fit itself is `benches/fit_zipf.py`, recorded in BENCHMARKS.md.
//!
//! **Words.** Rank `r` maps to one word by construction, so no set of seen
//! words is kept: the 8 most frequent are single letters, the next 292 are
//! one consonant-vowel syllable with an optional final consonant, the next
//! 401,408 two syllables, the rest three. Only one consonant can end a word
//! and syllables are onset + vowel, so every spelling parses one way and the
//! words are distinct. Frequent words are short, as in real text.
//!
//! **Planted groups.** Each band (frequent, mid, rare) holds
//! `groups_per_band` groups of `group_size` words at consecutive ranks,
//! so the members of a group have nearly the same frequency. Members are
//! never drawn as filler: they appear only in *topical* sentences, which
//! hold [`PER_SENTENCE`] distinct members of one group among filler words.
//! The share of topical sentences per group is chosen so that each member
//! keeps the frequency the law gives its rank. A trainer that works puts a
//! member's group in its 10 nearest neighbours (`w2v eval --groups`).
//!
//! **Cost.** One alias table over the `M` types (8 bytes each) and a cache
//! of the most frequent spellings; nothing grows with `N`. Output is
//! streamed and deterministic for a seed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};
use crate::manifest::{write_atomic, AtomicFile};
use crate::progress::Progress;
use crate::rng::{below, purpose, stream, Rng, RngCore};
use crate::unigram::AliasTable;

use super::{groups_path, Group, Groups};

/// Planted members per topical sentence.
pub const PER_SENTENCE: usize = 3;
/// Expected count of the rare band's least frequent member.
pub const RARE_COUNT: f64 = 20.0;
/// Rank (0-based) where the frequent band starts.
pub const FREQUENT_RANK: usize = 200;
/// Sentence length in tokens: uniform in `MIN_LEN..=MAX_LEN` (mean 16, as
/// ru_lit's 15.8 tokens per line).
const MIN_LEN: u64 = 4;
const MAX_LEN: u64 = 28;
/// The largest `--types`: three-syllable words run out at about 90M, and
/// the alias table costs 8 bytes per type.
pub const MAX_TYPES: u64 = 50_000_000;

/// Settings of the law generator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LawConfig {
    /// Output text file.
    pub out: PathBuf,
    /// Master seed. By default, 1.
    pub seed: u64,
    /// Tokens to write (words, not counting punctuation).
    pub tokens: u64,
    /// Number of types `M` in the law. By default, 2,460,000 (the Taiga fit).
    pub types: u64,
    /// Exponent `s`. By default, 1.19 (the Taiga fit).
    pub s: f64,
    /// Mandelbrot shift `q`. By default, 4.0 (the Taiga fit).
    pub q: f64,
    /// Planted groups per frequency band. By default, 20.
    pub groups_per_band: usize,
    /// Words per planted group. By default, 11 (so a member has 10 partners).
    pub group_size: usize,
}

impl Default for LawConfig {
    fn default() -> Self {
        LawConfig {
            out: PathBuf::from("data/taiga-synth.txt"),
            seed: 1,
            tokens: 10_000_000,
            types: 2_460_000,
            s: 1.19,
            q: 4.0,
            groups_per_band: 20,
            group_size: 11,
        }
    }
}

impl LawConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.tokens == 0 {
            return bad("synth --tokens must be at least 1".into());
        }
        if self.types < 1000 || self.types > MAX_TYPES {
            return bad(format!(
                "synth --types {} is out of range (1000..={MAX_TYPES})",
                self.types
            ));
        }
        if !(self.s.is_finite() && self.s > 0.0 && self.s < 10.0) {
            return bad(format!("synth --zipf-s {} must be in (0, 10)", self.s));
        }
        if !(self.q.is_finite() && self.q >= 0.0 && self.q < 1e6) {
            return bad(format!("synth --zipf-q {} must be in [0, 1e6)", self.q));
        }
        if self.groups_per_band == 0 || self.group_size <= PER_SENTENCE {
            return bad(format!(
                "synth needs at least 1 group per band and more than {PER_SENTENCE} words per group"
            ));
        }
        Ok(())
    }
}

/// The law's probabilities by rank (0-based), summing to 1.
pub fn probabilities(types: u64, s: f64, q: f64) -> Vec<f64> {
    let mut p: Vec<f64> = (0..types).map(|r| (r as f64 + 1.0 + q).powf(-s)).collect();
    // Sum smallest first, so the tail is not lost to rounding.
    let z: f64 = p.iter().rev().sum();
    p.iter_mut().for_each(|x| *x /= z);
    p
}

/// Expected number of types seen at least `min_count` times in `n_tokens`
/// draws (each rank's count is Poisson with mean `n_tokens · p(r)`).
pub fn expected_types(p: &[f64], n_tokens: f64, min_count: u32) -> f64 {
    p.iter()
        .map(|&pr| {
            let lam = n_tokens * pr;
            // P(X >= k) = 1 - sum_{j<k} e^-lam lam^j / j!
            let mut term = (-lam).exp();
            let mut below = 0.0;
            for j in 0..min_count {
                below += term;
                term *= lam / (j as f64 + 1.0);
            }
            (1.0 - below).max(0.0)
        })
        .sum()
}

/// One frequency band of planted groups: ranks `start..start + len`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Band {
    pub name: String,
    /// First rank (0-based).
    pub start: usize,
    /// Ranks in the band.
    pub len: usize,
    /// Expected count of the band's first and last member at `tokens`.
    pub expected_count: (f64, f64),
}

/// Places the three bands: frequent from rank [`FREQUENT_RANK`], rare
/// ending where the expected count falls to [`RARE_COUNT`], mid at the
/// geometric mean of their counts.
pub fn bands(cfg: &LawConfig, p: &[f64]) -> Result<Vec<Band>> {
    let n = cfg.tokens as f64;
    let len = cfg.groups_per_band * cfg.group_size;
    let count = |r: usize| n * p[r];
    // Ranks are sorted by probability, so the search is a partition point.
    let last_at_least = |c: f64| p.partition_point(|&x| n * x >= c);
    let rare_end = last_at_least(RARE_COUNT);
    let freq = FREQUENT_RANK;
    let mid_count = (count(freq + len - 1) * RARE_COUNT).sqrt();
    let mid = last_at_least(mid_count);
    if freq + len > mid || mid + len > rare_end.saturating_sub(len) {
        return Err(Error::InvalidConfig(format!(
            "synth --tokens {} with --types {} is too small for three bands of {len} planted words \
             (the rare band needs ranks that occur about {RARE_COUNT} times); use more --tokens",
            cfg.tokens, cfg.types
        )));
    }
    let band = |name: &str, start: usize| Band {
        name: name.into(),
        start,
        len,
        expected_count: (count(start), count(start + len - 1)),
    };
    Ok(vec![
        band("frequent", freq),
        band("mid", mid),
        band("rare", rare_end - len),
    ])
}

const SINGLE: [&str; 8] = ["и", "в", "с", "к", "а", "я", "о", "у"];
const ONSETS: [&str; 28] = [
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
    "бр", "гл", "др", "кр", "пл", "ст", "тр", "зв", "сн",
];
const VOWELS: [&str; 8] = ["а", "е", "и", "о", "у", "ы", "я", "ю"];
const CODAS: [&str; 8] = ["", "н", "р", "л", "к", "т", "с", "й"];
const SYLLABLES: u64 = (ONSETS.len() * VOWELS.len()) as u64;
/// Ranks of one-syllable words end here; two syllables end at
/// `ONE_SYLLABLE_END + SYLLABLES^2 * CODAS`.
const ONE_SYLLABLE_END: u64 = 300;
/// A multiplier coprime to every class size (`2^a 7^b`), so `j -> j·A mod
/// size` scatters ranks over spellings one-to-one.
const SCATTER: u64 = 1_000_003;

/// The spelling of rank `r` (0-based), appended to `out`.
pub fn spell(r: u64, out: &mut Vec<u8>) {
    if r < SINGLE.len() as u64 {
        out.extend_from_slice(SINGLE[r as usize].as_bytes());
        return;
    }
    let (syllables, j) = if r < ONE_SYLLABLE_END {
        (1, r - SINGLE.len() as u64)
    } else if r < ONE_SYLLABLE_END + SYLLABLES * SYLLABLES * CODAS.len() as u64 {
        (2, r - ONE_SYLLABLE_END)
    } else {
        (
            3,
            r - ONE_SYLLABLE_END - SYLLABLES * SYLLABLES * CODAS.len() as u64,
        )
    };
    let size = SYLLABLES.pow(syllables) * CODAS.len() as u64;
    let mut x = ((j as u128 * SCATTER as u128) % size as u128) as u64;
    let coda = (x % CODAS.len() as u64) as usize;
    x /= CODAS.len() as u64;
    for _ in 0..syllables {
        let syl = x % SYLLABLES;
        x /= SYLLABLES;
        out.extend_from_slice(ONSETS[(syl / VOWELS.len() as u64) as usize].as_bytes());
        out.extend_from_slice(VOWELS[(syl % VOWELS.len() as u64) as usize].as_bytes());
    }
    out.extend_from_slice(CODAS[coda].as_bytes());
}

fn spelled(r: u64) -> String {
    let mut b = Vec::new();
    spell(r, &mut b);
    String::from_utf8(b).expect("spellings are UTF-8")
}

/// What the generator wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LawSummary {
    pub tokens: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Expected types at min_count 1 and 5 for this many tokens.
    pub expected_types_seen: f64,
    pub expected_types_min5: f64,
    pub bands: Vec<Band>,
    /// Share of sentences that are topical.
    pub topical_share: f64,
}

/// Spellings of the most frequent ranks in fixed slots, so the hot path
/// copies a few bytes instead of spelling.
struct SpellCache {
    slots: Vec<([u8; CACHE_SLOT], u8)>,
}

/// Bytes per cached spelling (two syllables with a coda are at most 14).
const CACHE_SLOT: usize = 16;

impl SpellCache {
    fn new(n: u64) -> Self {
        let mut b = Vec::new();
        let slots = (0..n)
            .map(|r| {
                b.clear();
                spell(r, &mut b);
                let mut slot = [0u8; CACHE_SLOT];
                slot[..b.len()].copy_from_slice(&b);
                (slot, b.len() as u8)
            })
            .collect();
        SpellCache { slots }
    }

    #[inline]
    fn push(&self, r: u64, out: &mut Vec<u8>) {
        match self.slots.get(r as usize) {
            Some((slot, len)) => {
                // A fixed-size copy is one vector move; then drop the padding.
                let n = out.len();
                out.extend_from_slice(slot);
                out.truncate(n + *len as usize);
            }
            None => spell(r, out),
        }
    }
}

/// The filler distribution as two alias tables: the most frequent
/// [`HEAD`] ranks (small enough to stay in cache, and most of the draws)
/// and the rest. One alias table over millions of types would cost a cache
/// miss per token, because the alias method's slot is uniform.
struct Filler {
    head: AliasTable,
    tail: AliasTable,
    /// A draw below this picks the head.
    head_cut: u64,
}

/// Ranks in the filler's head table.
const HEAD: usize = 1 << 15;

impl Filler {
    fn new(p: &[f64], removed: &[bool]) -> Filler {
        let h = HEAD.min(p.len());
        let table = |part: &[f64], removed: &[bool]| {
            let mass: f64 = part.iter().sum();
            if mass <= 0.0 {
                return (
                    AliasTable {
                        entries: Vec::new(),
                    },
                    0.0,
                );
            }
            let q: Vec<f64> = part.iter().map(|x| x / mass).collect();
            let mut t = AliasTable::from_probabilities(&q);
            // Vose's rounding leftovers keep themselves with certainty; a
            // removed rank among them would still be drawn, so point it at
            // the table's first word of positive weight. (Aliases are
            // always words of positive weight.)
            let first = q.iter().position(|&x| x > 0.0).unwrap_or(0) as i32;
            for (e, _) in t.entries.iter_mut().zip(removed).filter(|(_, &k)| k) {
                if e.threshold == u32::MAX {
                    e.threshold = 0;
                    e.alias = first;
                }
            }
            (t, mass)
        };
        let (head, head_mass) = table(&p[..h], &removed[..h]);
        let (tail, tail_mass) = table(&p[h..], &removed[h..]);
        let share = head_mass / (head_mass + tail_mass);
        let head_cut = if tail.is_empty() || share >= 1.0 {
            u64::MAX
        } else {
            (share * 18446744073709551616.0) as u64
        };
        Filler {
            head,
            tail,
            head_cut,
        }
    }

    #[inline]
    fn sample(&self, rng: &mut Rng) -> u64 {
        if rng.next_u64() < self.head_cut || self.tail.is_empty() {
            self.head.sample(rng) as u64
        } else {
            (HEAD + self.tail.sample(rng) as usize) as u64
        }
    }
}

/// Upper-cases the first letter of `line[from..]` in place. The spellings
/// use only а–я, whose capitals are 32 code points lower; in UTF-8 that is
/// `D0 B0..BF → D0 90..9F` and `D1 80..8F → D0 A0..AF`.
fn capitalise(line: &mut [u8], from: usize) {
    match line[from..] {
        [0xD0, b, ..] if (0xB0..=0xBF).contains(&b) => line[from + 1] = b - 0x20,
        [0xD1, b, ..] if (0x80..=0x8F).contains(&b) => {
            line[from] = 0xD0;
            line[from + 1] = b + 0x20;
        }
        _ => {}
    }
}

/// Writes the corpus and its groups file.
pub fn generate(cfg: &LawConfig, progress: &Progress) -> Result<(Groups, LawSummary)> {
    cfg.validate()?;
    let p = probabilities(cfg.types, cfg.s, cfg.q);
    let bands = bands(cfg, &p)?;
    let mean_len = (MIN_LEN + MAX_LEN) as f64 / 2.0;

    // Filler: the law with every planted rank removed.
    let mut planted = vec![false; p.len()];
    let mut groups = Vec::new();
    let mut topic_weights = Vec::new();
    for b in &bands {
        for g in 0..cfg.groups_per_band {
            let ranks: Vec<u64> = (0..cfg.group_size)
                .map(|i| (b.start + g * cfg.group_size + i) as u64)
                .collect();
            let mass: f64 = ranks.iter().map(|&r| p[r as usize]).sum();
            for &r in &ranks {
                planted[r as usize] = true;
            }
            // Each topical sentence carries PER_SENTENCE members; members
            // keep their share of all tokens.
            topic_weights.push(mass * mean_len / PER_SENTENCE as f64);
            groups.push((format!("{}-{g:02}", b.name), b.name.clone(), ranks));
        }
    }
    let topical_share: f64 = topic_weights.iter().sum();
    if topical_share > 0.9 {
        return Err(Error::InvalidConfig(format!(
            "synth: planted groups would fill {:.0}% of sentences; use fewer or smaller groups",
            100.0 * topical_share
        )));
    }
    let planted_mass: f64 = p
        .iter()
        .zip(&planted)
        .filter(|(_, &k)| k)
        .map(|(x, _)| x)
        .sum();
    let filler_p: Vec<f64> = p
        .iter()
        .zip(&planted)
        .map(|(&x, &k)| if k { 0.0 } else { x / (1.0 - planted_mass) })
        .collect();
    let filler = Filler::new(&filler_p, &planted);
    drop(filler_p);
    // The last entry is "no topic".
    topic_weights.push(1.0 - topical_share);
    let topics = AliasTable::from_probabilities(&topic_weights);
    let none = groups.len() as i32;
    let cache = SpellCache::new(cfg.types.min(1 << 16));
    let expected_types_seen = expected_types(&p, cfg.tokens as f64, 1);
    let expected_types_min5 = expected_types(&p, cfg.tokens as f64, 5);
    drop(p);

    let mut rng: Rng = stream(cfg.seed, &[purpose::SYNTH, 1]);
    let mut out = AtomicFile::create(&cfg.out)?;
    let stage = progress.stage("synth", cfg.tokens, "tokens");
    let (mut tokens, mut lines, mut bytes, mut reported) = (0u64, 0u64, 0u64, 0u64);
    let mut block: Vec<u8> = Vec::with_capacity(1 << 21);
    let mut slots = [0usize; PER_SENTENCE];
    let mut members = [0u64; PER_SENTENCE];
    let mut ranks = [0u64; MAX_LEN as usize];
    // Punctuation takes 8 random bits per token, 8 tokens per draw.
    let (mut bits, mut left) = (0u64, 0u32);
    while tokens < cfg.tokens {
        let len = (MIN_LEN + below(&mut rng, MAX_LEN - MIN_LEN + 1)).min(cfg.tokens - tokens);
        let topic = topics.sample(&mut rng);
        let mut placed = 0;
        if topic != none && len as usize >= PER_SENTENCE {
            let ranks = &groups[topic as usize].2;
            // PER_SENTENCE distinct positions and distinct members.
            while placed < PER_SENTENCE {
                let pos = below(&mut rng, len) as usize;
                let m = ranks[below(&mut rng, ranks.len() as u64) as usize];
                if !slots[..placed].contains(&pos) && !members[..placed].contains(&m) {
                    slots[placed] = pos;
                    members[placed] = m;
                    placed += 1;
                }
            }
        }
        // Draw the sentence's ranks first: the table reads are independent,
        // so the processor overlaps their cache misses.
        for r in &mut ranks[..len as usize] {
            *r = filler.sample(&mut rng);
        }
        for (&pos, &m) in slots[..placed].iter().zip(&members[..placed]) {
            ranks[pos] = m;
        }
        for (i, &r) in ranks[..len as usize].iter().enumerate() {
            let word_start = block.len();
            cache.push(r, &mut block);
            if i == 0 {
                capitalise(&mut block, word_start);
            }
            if left == 0 {
                bits = rng.next_u64();
                left = 8;
            }
            let punct = (bits & 0xff) as u8;
            bits >>= 8;
            left -= 1;
            if i + 1 < len as usize {
                block.extend_from_slice(match punct {
                    0..=17 => b", ",
                    18 => " — ".as_bytes(),
                    19 => b" 1917 ",
                    _ => b" ",
                });
            } else {
                block.extend_from_slice(match punct % 10 {
                    0 => b"!\n",
                    1 => b"?\n",
                    2 => b"...\n",
                    _ => b".\n",
                });
            }
        }
        tokens += len;
        lines += 1;
        if block.len() >= 1 << 20 {
            out.write_all(&block).map_err(io_err(&cfg.out, "write"))?;
            bytes += block.len() as u64;
            block.clear();
            stage.inc(tokens - reported);
            reported = tokens;
        }
    }
    out.write_all(&block).map_err(io_err(&cfg.out, "write"))?;
    bytes += block.len() as u64;
    out.commit()?;
    stage.inc(tokens - reported);
    stage.finish();

    let summary = LawSummary {
        tokens,
        lines,
        bytes,
        expected_types_seen,
        expected_types_min5,
        bands,
        topical_share,
    };
    let groups = Groups {
        seed: cfg.seed,
        law: Some(cfg.clone()),
        summary: Some(summary.clone()),
        groups: groups
            .into_iter()
            .map(|(name, band, ranks)| Group {
                name,
                band: Some(band),
                members: ranks.iter().map(|&r| spelled(r)).collect(),
                contexts: Vec::new(),
            })
            .collect(),
    };
    write_groups(&cfg.out, &groups)?;
    Ok((groups, summary))
}

/// Writes `FILE.groups.json` next to the corpus.
pub(super) fn write_groups(out: &Path, groups: &Groups) -> Result<()> {
    let gpath = groups_path(out);
    let text = serde_json::to_string_pretty(groups).map_err(json_err(&gpath, "encode groups"))?;
    write_atomic(&gpath, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn spellings_are_distinct_and_short_at_the_top() {
        let n = 600_000u64;
        let mut seen = HashSet::new();
        let mut buf = Vec::new();
        for r in 0..n {
            buf.clear();
            spell(r, &mut buf);
            let w = String::from_utf8(buf.clone()).unwrap();
            assert!(w.chars().all(|c| ('а'..='я').contains(&c)), "{w}");
            assert!(seen.insert(w.clone()), "rank {r} repeats {w}");
        }
        // Three-syllable ranks far out are distinct too (spot check).
        for r in (50_000_000u64..50_000_000 + 200_000).step_by(7) {
            buf.clear();
            spell(r, &mut buf);
            assert!(seen.insert(String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(spelled(0).chars().count(), 1);
        assert!(spelled(100).chars().count() <= 4);
        assert!(spelled(1_000_000).chars().count() >= 6);
    }

    #[test]
    fn expected_types_matches_a_direct_count() {
        // Poisson expectation against an exact simulation of the law.
        let p = probabilities(20_000, 1.19, 4.0);
        let table = AliasTable::from_probabilities(&p);
        let mut rng: Rng = stream(7, &[0]);
        let n = 300_000u64;
        let mut counts = vec![0u32; p.len()];
        for _ in 0..n {
            counts[table.sample(&mut rng) as usize] += 1;
        }
        for k in [1u32, 5] {
            let real = counts.iter().filter(|&&c| c >= k).count() as f64;
            let want = expected_types(&p, n as f64, k);
            assert!(
                (real - want).abs() < 0.01 * want + 4.0 * want.sqrt(),
                "min_count {k}: {real} vs {want}"
            );
        }
    }

    fn tiny(dir: &Path, seed: u64) -> LawConfig {
        LawConfig {
            out: dir.join(format!("s{seed}.txt")),
            seed,
            tokens: 2_000_000,
            types: 200_000,
            groups_per_band: 4,
            ..Default::default()
        }
    }

    #[test]
    fn corpus_follows_the_law_and_keeps_planted_frequencies() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tiny(dir.path(), 3);
        let (groups, sum) = generate(&cfg, &Progress::silent()).unwrap();
        let text = std::fs::read_to_string(&cfg.out).unwrap();
        assert_eq!(sum.bytes as usize, text.len());
        assert_eq!(sum.lines as usize, text.lines().count());
        // Tokens as prep sees them: lower-case letter runs.
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut n = 0u64;
        for w in text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(w.to_lowercase()).or_default() += 1;
            n += 1;
        }
        assert_eq!(n, cfg.tokens);
        let p = probabilities(cfg.types, cfg.s, cfg.q);
        // The top word's share.
        let top = counts[&spelled(0)] as f64 / n as f64;
        assert!((top - p[0]).abs() < 0.05 * p[0], "{top} vs {}", p[0]);
        // The vocabulary at min_count 1 and 5 against the expectation (the
        // planted words are ranks like any other).
        for k in [1u64, 5] {
            let real = counts.values().filter(|&&c| c >= k).count() as f64;
            let want = expected_types(&p, n as f64, k as u32);
            assert!(
                (real - want).abs() < 0.01 * want + 4.0 * want.sqrt(),
                "min {k}: {real} vs {want}"
            );
        }
        // Each band's members keep their law frequency (summed per band).
        for band in &sum.bands {
            let members: Vec<&Group> = groups
                .groups
                .iter()
                .filter(|g| g.band.as_deref() == Some(band.name.as_str()))
                .collect();
            assert_eq!(members.len(), cfg.groups_per_band);
            let real: u64 = members
                .iter()
                .flat_map(|g| &g.members)
                .map(|w| counts.get(w).copied().unwrap_or(0))
                .sum();
            let want: f64 = (band.start..band.start + band.len)
                .map(|r| p[r] * n as f64)
                .sum();
            assert!(
                (real as f64 - want).abs() < 0.1 * want + 5.0 * want.sqrt(),
                "{}: {real} vs {want}",
                band.name
            );
        }
        // Lines are sentence-length.
        let per_line = n as f64 / sum.lines as f64;
        assert!((14.0..18.0).contains(&per_line), "{per_line}");
    }

    #[test]
    fn planted_members_share_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tiny(dir.path(), 5);
        let (groups, _) = generate(&cfg, &Progress::silent()).unwrap();
        let text = std::fs::read_to_string(&cfg.out).unwrap();
        let g = &groups.groups[0];
        let set: HashSet<&str> = g.members.iter().map(String::as_str).collect();
        let (mut with, mut together) = (0, 0);
        for line in text.lines() {
            let lower = line.to_lowercase();
            let words: Vec<&str> = lower
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| !w.is_empty())
                .collect();
            let k = words.iter().filter(|w| set.contains(*w)).count();
            if k > 0 {
                with += 1;
                together += (k >= PER_SENTENCE) as usize;
            }
        }
        assert!(with > 100, "{with}");
        // Members appear only in topical sentences, PER_SENTENCE at a time.
        assert_eq!(together, with);
    }

    #[test]
    fn deterministic_for_a_seed_and_refuses_tiny_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = tiny(dir.path(), 9);
        a.tokens = 300_000;
        a.types = 20_000;
        a.groups_per_band = 2;
        let mut b = a.clone();
        b.out = dir.path().join("b.txt");
        let mut c = a.clone();
        c.out = dir.path().join("c.txt");
        c.seed = 10;
        let ga = generate(&a, &Progress::silent()).unwrap().0;
        let gb = generate(&b, &Progress::silent()).unwrap().0;
        generate(&c, &Progress::silent()).unwrap();
        let ra = std::fs::read(&a.out).unwrap();
        assert_eq!(ra, std::fs::read(&b.out).unwrap());
        assert_ne!(ra, std::fs::read(&c.out).unwrap());
        assert_eq!(ga.groups, gb.groups);
        let mut small = a.clone();
        small.tokens = 5_000;
        small.out = dir.path().join("small.txt");
        let e = generate(&small, &Progress::silent())
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small"), "{e}");
        assert!(!small.out.exists());
    }
}
