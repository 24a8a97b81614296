//! The fuzz targets' bodies, one function per target (`fuzz_targets/*.rs`
//! are one-line libFuzzer wrappers), and the seed inputs ([`seeds`]).
//!
//! Each target feeds arbitrary bytes to one reader of untrusted input
//! through the library's public API, the way the CLI calls it, and checks
//! that it returns (`Ok` or a clean `Err`) without panicking. The first
//! byte of an input picks a variant (format, settings, which file), the rest
//! is the content. Inputs reach the readers as files, as in real use: each
//! process writes them into one temp directory of its own.
//!
//! - [`reader_lines`]: plain text, JSONL, CoNLL-U (`corpus::Reader`), each
//!   unit then normalized;
//! - [`reader_parquet`]: parquet;
//! - [`reader_archive`]: Taiga `.tar` and `.zip` archives;
//! - [`normalize`]: the normalizer under every setting, with its invariants;
//! - [`import`]: word2vec text and binary import (`export::import`);
//! - [`model_dir`]: `ModelDir::open` (and queries) on a model directory
//!   with one file replaced, optionally re-fingerprinted in the manifest so
//!   the fuzzer gets past the hash checks.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use w2v::corpus::{Format, Input, ReadConfig, Reader};
use w2v::normalize::{HyphenMode, NormalizeConfig, Normalizer, NumberMode, YoMode};

pub mod seeds;

/// This process's scratch directory (removed at exit by nobody: libFuzzer
/// exits with `_exit`; it lives under the system temp directory).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("w2v-fuzz-")
            .tempdir()
            .expect("temp dir")
            .keep()
    })
}

/// With `W2V_FUZZ_WRITE_SEEDS=DIR` set, a target's first call writes its
/// seed inputs into `DIR/<target>/` (`scripts/fuzz.sh` runs each target
/// once that way: an extra binary would need libFuzzer's own `main`).
fn write_seeds_once(target: &str) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("W2V_FUZZ_WRITE_SEEDS") {
            let d = PathBuf::from(dir).join(target);
            std::fs::create_dir_all(&d).expect("create seed dir");
            for (i, s) in seeds::seeds(target).iter().enumerate() {
                std::fs::write(d.join(format!("seed-{i:03}")), s).expect("write seed");
            }
        }
    });
}

/// Writes `data` to `name` in the scratch directory.
fn file_with(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, data).expect("write fuzz input");
    p
}

/// Reads `data` as `format` with `cfg`, normalizing every unit.
fn read_as(name: &str, format: Format, cfg: &ReadConfig, data: &[u8]) {
    let path = file_with(name, data);
    let (_, compression) = match w2v::corpus::detect(&path, Some(format)) {
        Ok(d) => d,
        Err(_) => return,
    };
    let input = Input {
        path,
        format,
        compression,
        bytes: data.len() as u64,
    };
    let norm = Normalizer::new(NormalizeConfig::default());
    let mut out = Vec::new();
    let Ok(mut reader) = Reader::new(cfg) else {
        return;
    };
    let _ = reader.read(&input, Box::new(|_| {}), &mut |unit: &str| {
        out.clear();
        norm.normalize_into_bytes(unit, &mut out);
        Ok(())
    });
}

/// Read settings picked by bits of the selector byte: a tiny line limit
/// (so long lines are cut) and the Cyrillic-share filter.
fn read_config(sel: u8) -> ReadConfig {
    ReadConfig {
        max_line_bytes: if sel & 0x10 != 0 { 64 } else { 1 << 20 },
        min_cyrillic_share: if sel & 0x20 != 0 { 0.5 } else { 0.0 },
        ..ReadConfig::default()
    }
}

/// Plain text, JSONL or CoNLL-U (selector byte mod 3), uncompressed or, when
/// the content starts with a gzip or zstd magic number, decompressed first.
pub fn reader_lines(data: &[u8]) {
    write_seeds_once("reader_lines");
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (name, format) = match sel % 3 {
        0 => ("in.txt", Format::Text),
        1 => ("in.jsonl", Format::Jsonl),
        _ => ("in.conllu", Format::Conllu),
    };
    read_as(name, format, &read_config(sel), rest);
}

/// Parquet.
pub fn reader_parquet(data: &[u8]) {
    write_seeds_once("reader_parquet");
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    read_as("in.parquet", Format::Parquet, &read_config(sel), rest);
}

/// A Taiga archive: tar (even selector) or zip (odd).
pub fn reader_archive(data: &[u8]) {
    write_seeds_once("reader_archive");
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (name, format) = if sel % 2 == 0 {
        ("in.tar", Format::Tar)
    } else {
        ("in.zip", Format::Zip)
    };
    read_as(name, format, &read_config(sel), rest);
}

/// The normalizer with the settings the selector byte's bits pick. Checks:
/// the returned count is the number of space-separated tokens written, no
/// token is empty or longer than `max_token_chars`, and the `String` and
/// byte paths agree.
pub fn normalize(data: &[u8]) {
    write_seeds_once("normalize");
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let cfg = NormalizeConfig {
        yo: if sel & 1 != 0 {
            YoMode::Keep
        } else {
            YoMode::Fold
        },
        numbers: if sel & 2 != 0 {
            NumberMode::Token
        } else {
            NumberMode::Drop
        },
        hyphens: if sel & 4 != 0 {
            HyphenMode::Split
        } else {
            HyphenMode::Keep
        },
        repair_homoglyphs: sel & 8 == 0,
        max_token_chars: if sel & 16 != 0 { 3 } else { 40 },
    };
    let line = String::from_utf8_lossy(rest);
    let norm = Normalizer::new(cfg.clone());
    let mut bytes = Vec::new();
    let n = norm.normalize_into_bytes(&line, &mut bytes);
    let text = std::str::from_utf8(&bytes).expect("the normalizer writes UTF-8");
    let tokens: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(' ').collect()
    };
    assert_eq!(n, tokens.len(), "count vs tokens written: {text:?}");
    for t in &tokens {
        assert!(!t.is_empty(), "empty token in {text:?}");
        assert!(
            t.chars().count() <= cfg.max_token_chars.max(w2v::normalize::NUM_TOKEN.len()),
            "token {t:?} longer than {}",
            cfg.max_token_chars
        );
        assert!(!t.contains(char::is_whitespace), "whitespace in {t:?}");
    }
    let mut s = String::new();
    assert_eq!(norm.normalize_into(&line, &mut s), n);
    assert_eq!(s, text);
}

/// word2vec text or binary import.
pub fn import(data: &[u8]) {
    write_seeds_once("import");
    let path = file_with("vectors.bin", data);
    let _ = w2v::export::import(&path);
}

/// The model directory's files, in the order the selector byte picks them.
const MODEL_FILES: [&str; 5] = [
    "model.manifest.json",
    "words.txt",
    "input.npy",
    "norms.npy",
    "output.npy",
];

/// A valid model directory (4 words, dim 3, with `output.npy`), written
/// once per process; returns its directory and the bytes of each file.
fn base_model() -> &'static (PathBuf, Vec<Vec<u8>>) {
    static BASE: OnceLock<(PathBuf, Vec<Vec<u8>>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = scratch().join("model");
        seeds::write_model(&dir);
        let files = MODEL_FILES
            .iter()
            .map(|f| std::fs::read(dir.join(f)).expect("read model file"))
            .collect();
        (dir, files)
    })
}

/// Opens a model directory in which the file the selector picks (mod 5)
/// holds the content; with selector bit 0x80 the manifest's fingerprint of
/// that file is updated to match, so the fuzzer reaches the checks behind
/// the hash. When it opens, runs the queries and `verify` on it.
pub fn model_dir(data: &[u8]) {
    write_seeds_once("model_dir");
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (dir, files) = base_model();
    let which = (sel & 0x7f) as usize % MODEL_FILES.len();
    let name = MODEL_FILES[which];
    for (f, bytes) in MODEL_FILES.iter().zip(files) {
        std::fs::write(dir.join(f), bytes).expect("restore model file");
    }
    std::fs::write(dir.join(name), rest).expect("write model file");
    if sel & 0x80 != 0 && which != 0 {
        refingerprint(dir, name);
    }
    let Ok(m) = w2v::query::Model::open(dir) else {
        return;
    };
    let _ = m.model_dir().verify();
    let _ = m.model_dir().output();
    let n = m.len();
    for i in 0..n.min(3) {
        let w = m.word(i).to_string();
        let _ = m.id(&w);
        let _ = m.suggest(&w, 3);
        let _ = m.most_similar(std::slice::from_ref(&w), &[], 3, None);
        let _ = m.similarity(&w, m.word(n - 1));
    }
    if n >= 3 {
        let _ = m.analogy(m.word(0), m.word(1), m.word(2), 2, false, None);
        let _ = m.analogy(m.word(0), m.word(1), m.word(2), 2, true, Some(2));
    }
}

/// Sets the manifest's fingerprint of `name` to the file's current one.
fn refingerprint(dir: &Path, name: &str) {
    let mpath = dir.join(MODEL_FILES[0]);
    let Ok(text) = std::fs::read_to_string(&mpath) else {
        return;
    };
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let Ok(fp) = w2v::manifest::fingerprint(&dir.join(name)) else {
        return;
    };
    if let Some(outs) = v["outputs"].as_array_mut() {
        for o in outs {
            if o["path"].as_str().is_some_and(|p| p.ends_with(name)) {
                o["bytes"] = fp.bytes.into();
                o["xxh3"] = fp.xxh3.clone().into();
            }
        }
    }
    std::fs::write(&mpath, v.to_string()).expect("write manifest");
}
