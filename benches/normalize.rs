//! Normalization throughput: fast scanner vs the segmentation path, on
//! synthetic Russian text (generated, so the bench needs no data files).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use w2v::normalize::{NormalizeConfig, Normalizer};

fn text() -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = w2v::synth::SynthConfig {
        out: dir.path().join("s.txt"),
        bytes: 2_000_000,
        ..Default::default()
    };
    w2v::synth::generate(&cfg).unwrap();
    std::fs::read_to_string(&cfg.out).unwrap()
}

fn bench(c: &mut Criterion) {
    let t = text();
    let n = Normalizer::new(NormalizeConfig::default());
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Bytes(t.len() as u64));
    g.sample_size(10);
    // As `prep` calls it: the byte scanner onto a byte buffer.
    g.bench_function("lines (fast path)", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(t.len());
            for line in t.lines() {
                n.normalize_into_bytes(line, &mut out);
                out.push(b'\n');
            }
            out.len()
        })
    });
    // A CJK character makes every line take the segmentation path.
    let slow: String = t.lines().map(|l| format!("{l} 字\n")).collect();
    g.bench_function("lines (segmentation path)", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(slow.len());
            for line in slow.lines() {
                n.normalize_into(line, &mut out);
                out.push('\n');
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
