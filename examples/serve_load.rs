//! Load client for `w2v serve` (benches/serve_load.sh runs it): `n` GET
//! requests from `c` concurrent clients to a loopback server, bounded in
//! count and in time, each asking for the neighbours of a word drawn in
//! turn from a word list. Prints latency percentiles and requests/s.
//!
//! `cargo run --release --example serve_load -- URL WORDS_FILE [N] [C] [K] [MAX_SECS] [EXTRA_QUERY]`
//! (URL must be http://127.0.0.1:PORT or http://localhost:PORT).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: serve_load URL WORDS_FILE [N=2000] [C=16] [K=10] [MAX_SECS=300] [EXTRA_QUERY]"
        );
        std::process::exit(2);
    }
    let url = args[1].trim_end_matches('/').to_string();
    if !(url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:")) {
        eprintln!("serve_load: refusing {url}: loopback only");
        std::process::exit(2);
    }
    let words: Vec<String> = std::fs::read_to_string(&args[2])
        .expect("read the word list")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!words.is_empty(), "empty word list");
    let arg = |i: usize, d: u64| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (n, c, k, max_secs) = (
        arg(3, 2000) as usize,
        arg(4, 16) as usize,
        arg(5, 10),
        arg(6, 300),
    );
    let extra = args.get(7).cloned().unwrap_or_default();

    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let errors = Arc::new(AtomicUsize::new(0));
    let words = Arc::new(words);
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..c)
        .map(|_| {
            let (next, lat, errors, words) =
                (next.clone(), lat.clone(), errors.clone(), words.clone());
            let (url, extra) = (url.clone(), extra.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || Instant::now() > deadline {
                        break;
                    }
                    let w = &words[i % words.len()];
                    let mut req = agent
                        .get(format!("{url}/api/neighbors"))
                        .query("word", w)
                        .query("k", k.to_string());
                    for kv in extra.split('&').filter(|s| !s.is_empty()) {
                        let (a, b) = kv.split_once('=').unwrap_or((kv, ""));
                        req = req.query(a, b);
                    }
                    let t = Instant::now();
                    let ok = match req.call() {
                        Ok(mut r) => r.status() == 200 && r.body_mut().read_to_string().is_ok(),
                        Err(_) => false,
                    };
                    let dt = t.elapsed();
                    if ok {
                        lat.lock().unwrap().push(dt);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let mut lat = lat.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "requests {} ok, {} failed, {c} clients, k={k}{}: {:.1} req/s over {wall:.2} s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        lat.len(),
        errors.load(Ordering::Relaxed),
        if extra.is_empty() { String::new() } else { format!(" {extra}") },
        lat.len() as f64 / wall,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
}
