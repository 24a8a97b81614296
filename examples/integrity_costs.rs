//! What the integrity checks cost (BENCHMARKS.md, "Integrity checks").
//!
//! `cargo run --release --example integrity_costs -- model DIR [V D]`:
//! writes a `V × D` model into DIR if it holds none (default 2,500,000 ×
//! 128), then times `ModelDir::open` (norms hashed, 1024 rows sampled),
//! `ModelDir::verify` (input.npy hashed whole) and one neighbours scan.
//!
//! `cargo run --release --example integrity_costs -- shards DIR`: decodes
//! every shard of a shards directory on one thread, unchecked and as
//! training does (whole-file hash, then each row group against its
//! checksum), alternating ten times each (and with the file hash alone); prints the best
//! of each.
use std::path::Path;
use std::time::Instant;

use w2v::error::Result;

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn model(dir: &Path, v: usize, d: usize) -> Result<()> {
    if !dir.join("manifest.json").exists() {
        let words: Vec<String> = (0..v).map(|i| format!("w{i}")).collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<f32> = (0..v * d)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let t = Instant::now();
        w2v::model::ModelDir::write(
            dir,
            &w2v::model::ModelParts {
                producer: w2v::model::Producer::Import,
                words: &words,
                input: &data,
                output: None,
                dim: d,
                normalize: Default::default(),
                normalize_source: Default::default(),
                seed: 0,
                config: serde_json::Value::Null,
                inputs: Vec::new(),
                summary: serde_json::Value::Null,
            },
        )?;
        println!("wrote {v} x {d} in {:.2} s", secs(t));
    }
    for round in 0..5 {
        // What open did before the norms hash and the row sample: map both
        // matrices, read and hash the word list.
        let t = Instant::now();
        let a = w2v::embeddings::NpyMatrix::open(&dir.join("input.npy"))?;
        let b = w2v::embeddings::NpyMatrix::open(&dir.join("norms.npy"))?;
        let words = std::fs::read(dir.join("words.txt"))
            .map_err(w2v::error::io_err(dir.join("words.txt"), "read"))?;
        std::hint::black_box((a.rows(), b.rows(), xxhash_rust::xxh3::xxh3_64(&words)));
        let base = secs(t);
        let t = Instant::now();
        let m = w2v::query::Model::open(dir)?;
        let open = secs(t);
        let t = Instant::now();
        m.model_dir().verify()?;
        let verify = secs(t);
        let t = Instant::now();
        let q = m.unit(1)?;
        let hits = m.nearest_many(&[q], 10, &[vec![1]], None)?;
        let scan = secs(t);
        println!(
            "round {round}: open without the new checks {:.1} ms, open {:.1} ms, verify {:.1} ms, one neighbours scan {:.1} ms ({} hits)",
            base * 1e3,
            open * 1e3,
            verify * 1e3,
            scan * 1e3,
            hits[0].len()
        );
    }
    Ok(())
}

fn shards(dir: &Path) -> Result<()> {
    let (_, s) = w2v::pairs::PairsSummary::read(dir)?;
    // 0: unchecked, 1: file hash only, 2: file hash and row-group checksums.
    let mut best = [f64::MAX; 3];
    for round in 0..30 {
        let mode = round % 3;
        let checked = mode == 2;
        let t = Instant::now();
        let mut n = 0u64;
        for info in &s.shards {
            let path = w2v::shards::shard_path(dir, info);
            if mode > 0 {
                info.check_file(&path)?;
            }
            let shard = w2v::shards::Shard::open(&path)?;
            for rg in 0..shard.row_groups().len() {
                let want = if checked {
                    info.checksums.get(rg).map(String::as_str)
                } else {
                    None
                };
                n += shard.read_row_group_checked(rg, 1 << 20, want, |t, _| {
                    std::hint::black_box(t);
                    Ok(())
                })?;
            }
        }
        let s = secs(t);
        let b = &mut best[mode];
        *b = b.min(s);
        if round >= 27 {
            println!(
                "{}: {n} pairs, best of 10 {:.3} s, {:.1}M pairs/s (one thread)",
                ["unchecked", "file hash", "checked  "][mode],
                *b,
                n as f64 / *b / 1e6
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: integrity_costs model DIR [V D] | shards DIR";
    match args.first().map(String::as_str) {
        Some("model") if args.len() >= 2 => {
            let num = |i: usize, default: usize| {
                args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
            };
            model(Path::new(&args[1]), num(2, 2_500_000), num(3, 128))
        }
        Some("shards") if args.len() == 2 => shards(Path::new(&args[1])),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    }
}
