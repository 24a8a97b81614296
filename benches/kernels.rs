//! Hot kernels of the native engine: dot/axpy per SIMD path, Hogwild row
//! copies (relaxed atomics: the vector copy and element by element) vs plain
//! copies, and alias vs word2vec.c-table negative sampling.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use w2v::hogwild::SharedMatrix;
use w2v::rng::{stream, RngCore};
use w2v::simd::Kernels;
use w2v::unigram::{sample, w2v_table, AliasTable};

fn bench(c: &mut Criterion) {
    let dim = 128;
    let a: Vec<f32> = (0..dim).map(|i| i as f32 * 0.01).collect();
    let mut y: Vec<f32> = vec![0.5; dim];
    for k in Kernels::available() {
        c.bench_function(&format!("dot128/{}", k.name), |b| {
            b.iter(|| (k.dot)(black_box(&a), black_box(&y)))
        });
        c.bench_function(&format!("axpy128/{}", k.name), |b| {
            b.iter(|| (k.axpy)(black_box(&mut y), 1e-6, black_box(&a)))
        });
    }
    let rows = 100_000;
    let m = SharedMatrix::from_vec(vec![0.1; rows * dim], dim);
    let mut plain = vec![0.1f32; rows * dim];
    let mut buf = vec![0f32; dim];
    let mut rng = stream(1, &[]);
    // Both row benches load a random row and store it back.
    c.bench_function("row load/hogwild atomics, vector copy", |b| {
        b.iter(|| {
            let r = (rng.next_u32() as usize) % rows;
            m.load(r, &mut buf);
            m.store(r, &buf);
        })
    });
    c.bench_function("row load/hogwild atomics, element by element", |b| {
        b.iter(|| {
            let r = (rng.next_u32() as usize) % rows;
            m.load_scalar(r, &mut buf);
            m.store_scalar(r, &buf);
        })
    });
    c.bench_function("row load/plain copy", |b| {
        b.iter(|| {
            let r = (rng.next_u32() as usize) % rows;
            buf.copy_from_slice(&plain[r * dim..(r + 1) * dim]);
            black_box(&mut buf);
            plain[r * dim..(r + 1) * dim].copy_from_slice(&buf);
        })
    });
    let counts: Vec<u64> = (0..100_000)
        .map(|r| (1e7 / (r as f64 + 1.0)) as u64 + 1)
        .collect();
    let alias = AliasTable::new(&counts, 0.75);
    let table = w2v_table(&counts, 0.75, 10_000_000);
    c.bench_function("negative/alias", |b| {
        b.iter(|| sample(&alias.entries, rng.next_u64()))
    });
    c.bench_function("negative/w2v table", |b| {
        b.iter(|| table[(rng.next_u64() % table.len() as u64) as usize])
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
