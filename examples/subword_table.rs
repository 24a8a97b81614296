//! Builds the n-gram table (`w2v::subword::NgramTable`) of a word list and
//! reports its build time and size: what `train --subwords` pays at start.
//!
//! `cargo run --release --example subword_table -- WORDS.txt [MINN-MAXN] [BUCKETS]`

use std::time::Instant;

use w2v::subword::{NgramTable, SubwordConfig};

fn main() -> w2v::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .map(String::as_str)
        .unwrap_or("vocab/words.txt");
    let range = args.get(1).map(String::as_str).unwrap_or("3-6");
    let buckets = args
        .get(2)
        .and_then(|b| b.parse().ok())
        .unwrap_or(2_000_000);
    let cfg = SubwordConfig::parse_range(range, buckets)?;
    let text = std::fs::read_to_string(path).map_err(|e| w2v::Error::Io {
        path: path.into(),
        action: "read word list",
        source: e,
    })?;
    let words: Vec<&str> = text.lines().collect();
    let t0 = Instant::now();
    let t = NgramTable::build(&cfg, &words);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"words\": {}, \"ngrams\": {}, \"bytes\": {}, \"build_s\": {secs:.3}, \"threads\": {}}}",
        t.len(),
        t.ids.len(),
        t.bytes(),
        rayon::current_num_threads()
    );
    Ok(())
}
