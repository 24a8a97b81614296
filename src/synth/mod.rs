//! A synthetic Russian-like corpus with planted word groups.
//!
//! Two generators share the groups format: this module's small topical
//! sample (`make demo`, the tests) and [`law`], the Taiga-sized corpus with
//! Zipf–Mandelbrot frequencies.
//!
//! In: a seed and sizes. Out: `--out FILE` (raw text, the kind `prep`
//! reads) and `FILE.groups.json` (the ground truth).
//!
//! The corpus is made of Cyrillic pseudo-words built from syllables. There
//! are `n_groups` topics; each topic has `group_size` *member* words and
//! `n_context` *context* words. Each sentence picks one topic and mixes its
//! members, its context words and Zipf-distributed filler words. All words
//! of one topic (members and context words) therefore share contexts, and a
//! correct skip-gram trainer must put them next to each other: tests score
//! precision@10 of each member's nearest neighbours against its topic
//! ([`Group::topic`]), where a random ranking scores about 0.004.
//!
//! So that `prep` has work to do, the text also has capitalised sentence
//! starts, punctuation, digits, and `ё` written as `е` half the time (the
//! ground truth uses the folded spelling, as `prep` does by default).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};
use crate::manifest::AtomicFile;
use crate::rng::{below, purpose, stream, unit_f64, Rng};

pub mod law;

/// Generator settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Output text file. By default, `data/sample.txt`.
    pub out: PathBuf,
    /// Master seed. By default, 1.
    pub seed: u64,
    /// Approximate size of the text in bytes. By default, 4,000,000.
    pub bytes: u64,
    /// Number of planted topics. By default, 40.
    pub n_groups: usize,
    /// Member words per topic. By default, 8.
    pub group_size: usize,
    /// Context words per topic. By default, 6.
    pub n_context: usize,
    /// Filler vocabulary size (Zipf). By default, 3000.
    pub n_filler: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            out: PathBuf::from("data/sample.txt"),
            seed: 1,
            bytes: 4_000_000,
            n_groups: 40,
            group_size: 8,
            n_context: 6,
            n_filler: 3000,
        }
    }
}

impl SynthConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.n_groups == 0 || self.group_size < 2 || self.n_filler == 0 {
            return Err(Error::InvalidConfig(
                "synth needs n_groups >= 1, group_size >= 2, n_filler >= 1".into(),
            ));
        }
        if self.bytes == 0 {
            return Err(Error::InvalidConfig(
                "synth --bytes must be at least 1 (0 would write an empty corpus)".into(),
            ));
        }
        Ok(())
    }
}

/// One planted topic.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub name: String,
    /// Frequency band (law corpora only: `frequent`, `mid` or `rare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
    /// Words that must end up near each other (normalized spelling).
    pub members: Vec<String>,
    /// Words that co-occur with the members.
    pub contexts: Vec<String>,
}

/// The ground truth written next to the corpus.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Groups {
    pub seed: u64,
    /// The law and what was written (law corpora only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub law: Option<law::LawConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<law::LawSummary>,
    pub groups: Vec<Group>,
}

impl Group {
    /// Every word of the topic: members and context words.
    pub fn topic(&self) -> Vec<&str> {
        self.members
            .iter()
            .chain(&self.contexts)
            .map(String::as_str)
            .collect()
    }
}

impl Groups {
    /// Reads a groups file.
    pub fn read(path: &Path) -> Result<Groups> {
        let text = std::fs::read_to_string(path).map_err(io_err(path, "read groups file"))?;
        serde_json::from_str(&text).map_err(json_err(path, "parse groups file"))
    }
}

/// Path of the ground-truth file for a corpus path (`x.txt` → `x.groups.json`).
pub fn groups_path(out: &Path) -> PathBuf {
    out.with_extension("groups.json")
}

const ONSETS: &[&str] = &[
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
    "бр", "гл", "др", "кр", "пл", "ст", "тр", "зв", "сн",
];
const VOWELS: &[&str] = &["а", "е", "и", "о", "у", "ы", "я", "ю", "ё"];
const CODAS: &[&str] = &["", "", "", "н", "р", "л", "к", "т", "с", "й"];

fn pseudo_word(rng: &mut Rng, syllables: usize) -> String {
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(ONSETS[below(rng, ONSETS.len() as u64) as usize]);
        w.push_str(VOWELS[below(rng, VOWELS.len() as u64) as usize]);
        w.push_str(CODAS[below(rng, CODAS.len() as u64) as usize]);
    }
    w
}

/// Makes `n` distinct words (folded spelling distinct too).
fn distinct_words(rng: &mut Rng, n: usize, taken: &mut BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let syl = 2 + below(rng, 3) as usize;
        let w = pseudo_word(rng, syl);
        if taken.insert(w.replace('ё', "е")) {
            out.push(w);
        }
    }
    out
}

/// Writes the corpus and its groups file; returns the groups.
pub fn generate(cfg: &SynthConfig) -> Result<Groups> {
    cfg.validate()?;
    let mut rng = stream(cfg.seed, &[purpose::SYNTH]);
    let mut taken = BTreeSet::new();
    let mut topics = Vec::with_capacity(cfg.n_groups);
    for g in 0..cfg.n_groups {
        let members = distinct_words(&mut rng, cfg.group_size, &mut taken);
        let contexts = distinct_words(&mut rng, cfg.n_context, &mut taken);
        topics.push((format!("g{g:02}"), members, contexts));
    }
    let filler = distinct_words(&mut rng, cfg.n_filler, &mut taken);
    // Zipf(1) cumulative weights over the filler words.
    let mut cum = Vec::with_capacity(filler.len());
    let mut acc = 0.0;
    for r in 0..filler.len() {
        acc += 1.0 / (r as f64 + 1.0);
        cum.push(acc);
    }

    let mut out = AtomicFile::create(&cfg.out)?;
    let mut written = 0u64;
    let mut para = String::new();
    while written < cfg.bytes {
        para.clear();
        let n_sent = 1 + below(&mut rng, 4);
        for s in 0..n_sent {
            let (_, members, contexts) = &topics[below(&mut rng, topics.len() as u64) as usize];
            let len = 4 + below(&mut rng, 17) as usize;
            if s > 0 {
                para.push(' ');
            }
            for i in 0..len {
                let u = unit_f64(&mut rng);
                let word = if u < 0.35 {
                    &members[below(&mut rng, members.len() as u64) as usize]
                } else if u < 0.6 && !contexts.is_empty() {
                    &contexts[below(&mut rng, contexts.len() as u64) as usize]
                } else {
                    let x = unit_f64(&mut rng) * acc;
                    &filler[cum.partition_point(|&c| c < x).min(filler.len() - 1)]
                };
                // ё is written as е half the time, as in real Russian text.
                let spelled = if word.contains('ё') && below(&mut rng, 2) == 0 {
                    word.replace('ё', "е")
                } else {
                    word.clone()
                };
                if i == 0 {
                    let mut cs = spelled.chars();
                    if let Some(c0) = cs.next() {
                        para.extend(c0.to_uppercase());
                        para.push_str(cs.as_str());
                    }
                } else {
                    para.push_str(&spelled);
                }
                if i + 1 < len {
                    match below(&mut rng, 40) {
                        0..=2 => para.push_str(", "),
                        3 => para.push_str(&format!(" {} ", 1 + below(&mut rng, 2024))),
                        4 => para.push_str(" — "),
                        _ => para.push(' '),
                    }
                }
            }
            para.push_str(match below(&mut rng, 10) {
                0 => "!",
                1 => "?",
                2 => "...",
                _ => ".",
            });
        }
        para.push('\n');
        out.write_all(para.as_bytes())
            .map_err(io_err(&cfg.out, "write"))?;
        written += para.len() as u64;
    }
    out.commit()?;

    let groups = Groups {
        seed: cfg.seed,
        law: None,
        summary: None,
        groups: topics
            .into_iter()
            .map(|(name, members, contexts)| Group {
                name,
                band: None,
                members: members.iter().map(|w| w.replace('ё', "е")).collect(),
                contexts: contexts.iter().map(|w| w.replace('ё', "е")).collect(),
            })
            .collect(),
    };
    law::write_groups(&cfg.out, &groups)?;
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let dir = tempfile::tempdir().unwrap();
        let mk = |name: &str, seed| SynthConfig {
            out: dir.path().join(name),
            seed,
            bytes: 50_000,
            ..Default::default()
        };
        let g1 = generate(&mk("a.txt", 3)).unwrap();
        let g2 = generate(&mk("b.txt", 3)).unwrap();
        let g3 = generate(&mk("c.txt", 4)).unwrap();
        let a = std::fs::read(dir.path().join("a.txt")).unwrap();
        let b = std::fs::read(dir.path().join("b.txt")).unwrap();
        let c = std::fs::read(dir.path().join("c.txt")).unwrap();
        assert_eq!(a, b);
        assert_eq!(g1, g2);
        assert_ne!(a, c);
        assert_ne!(g1, g3);
        assert!(a.len() >= 50_000 && a.len() < 60_000, "{}", a.len());
        assert_eq!(g1.groups.len(), 40);
        let text = String::from_utf8(a).unwrap();
        assert!(text.chars().any(|c| c.is_uppercase()));
        assert!(text.contains('ё') && text.chars().any(|c| c.is_ascii_digit()));
        let back = Groups::read(&groups_path(&dir.path().join("a.txt"))).unwrap();
        assert_eq!(back, g1);
    }
}
