//! Decode rate of pair shards: `cargo run --release --example read_shards -- DIR...`.
use std::time::Instant;

fn main() -> w2v::error::Result<()> {
    let mut n = 0u64;
    let t0 = Instant::now();
    for dir in std::env::args().skip(1) {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(w2v::error::io_err(std::path::Path::new(&dir), "list"))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        for f in files {
            n += w2v::shards::read_shard(&f, 1 << 20, |t, _| {
                std::hint::black_box(t);
                Ok(())
            })?;
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{n} pairs in {s:.2} s: {:.1}M pairs/s (one thread)",
        n as f64 / s / 1e6
    );
    Ok(())
}
