//! Criterion benchmarks of fedhe-dp's hot paths:
//! exact discrete Gaussian samples/s with CKS at σ ∈ {1, 10^3, 10^6} and with
//! the table sampler at σ ∈ {1, 10^3, 6650} (plus the table's construction),
//! and DDGauss encoder/decoder values/s at d = 2^20 (encoder on the default
//! rayon pool and on a one-thread pool; its noise comes from the table).
//!
//! Run: `cargo bench -p fedhe-benches --bench dp`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fedhe_dp::cdt::DiscreteGaussianTable;
use fedhe_dp::ddgauss::{DdgConfig, DdgEncoder};
use fedhe_dp::planner::DEFAULT_BETA;
use fedhe_dp::rotation::fwht_unnormalized;
use fedhe_dp::sampler::{DiscreteGaussian, Rational, Skellam};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;

fn samplers(c: &mut Criterion) {
    let mut g = c.benchmark_group("dgauss_sample");
    const BATCH: usize = 4096;
    g.throughput(Throughput::Elements(BATCH as u64));
    for (label, sigma2) in [
        ("1", (1u128, 1u128)),
        ("1e3", (1_000_000, 1)),
        ("1e6", (1_000_000_000_000, 1)),
    ] {
        let Ok(r) = Rational::new(sigma2.0, sigma2.1) else {
            return;
        };
        let Ok(dg) = DiscreteGaussian::new(r) else {
            return;
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut out = vec![0i64; BATCH];
        g.bench_with_input(BenchmarkId::new("sigma", label), &dg, |b, dg| {
            b.iter(|| {
                dg.fill(&mut rng, &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("dgauss_table");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (label, sigma2) in [
        ("1", (1u128, 1u128)),
        ("1e3", (1_000_000, 1)),
        ("6650", (6650 * 6650, 1)),
    ] {
        let Ok(r) = Rational::new(sigma2.0, sigma2.1) else {
            return;
        };
        let Ok(t) = DiscreteGaussianTable::new(r) else {
            return;
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut out = vec![0i64; BATCH];
        g.bench_with_input(BenchmarkId::new("sigma", label), &t, |b, t| {
            b.iter(|| {
                t.fill(&mut rng, &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();

    // Construction of the σ = 6650 table (what the encoder does once per σ²).
    let mut g = c.benchmark_group("dgauss_table_build");
    g.sample_size(10);
    if let Ok(r) = Rational::new(6650 * 6650, 1) {
        g.bench_function("sigma/6650", |b| {
            b.iter(|| black_box(DiscreteGaussianTable::new(r).ok()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("skellam_sample");
    g.throughput(Throughput::Elements(256));
    let Ok(r) = Rational::new(1, 1) else { return };
    let Ok(sk) = Skellam::new(r) else { return };
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    g.bench_function("sigma/1", |b| {
        b.iter(|| {
            for _ in 0..256 {
                black_box(sk.sample(&mut rng).ok());
            }
        })
    });
    g.finish();
}

fn encoder(c: &mut Criterion) {
    const D: usize = 1 << 20;
    let mut g = c.benchmark_group("ddgauss_d2^20");
    g.sample_size(10);
    g.throughput(Throughput::Elements(D as u64));
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let x: Vec<f64> = (0..D)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    // Granularity and noise of a typical plan (20 bits, 100 clients, c = 1,
    // σ_local ≈ 0.09): σ/γ ≈ 6650 in scaled units.
    let gamma = 1.4e-5;
    let Ok(noise) = Rational::from_f64_ceil(6650.0f64 * 6650.0, 0) else {
        return;
    };
    let seed = [7u8; 32];
    for (label, noise) in [("encode_noisy", Some(noise)), ("encode_no_noise", None)] {
        let Ok(cfg) = DdgConfig::new(D, 1.0, gamma, DEFAULT_BETA, 20, noise) else {
            return;
        };
        let enc = DdgEncoder::new(cfg);
        g.bench_function(label, |b| {
            b.iter(|| black_box(enc.encode(&seed, &x, &mut rng).ok()))
        });
        // The same encoding on a one-thread pool (the default pool uses
        // every core), to compare with single-threaded HE encryption.
        if let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(1).build() {
            g.bench_function(format!("{label}_1thread"), |b| {
                b.iter(|| pool.install(|| black_box(enc.encode(&seed, &x, &mut rng).ok())))
            });
        }
    }
    let Ok(cfg) = DdgConfig::new(D, 1.0, gamma, DEFAULT_BETA, 20, Some(noise)) else {
        return;
    };
    let enc = DdgEncoder::new(cfg);
    let Ok((z, _)) = enc.encode(&seed, &x, &mut rng) else {
        return;
    };
    g.bench_function("decode", |b| {
        b.iter(|| black_box(enc.decode(&seed, &z, 100).ok()))
    });
    let mut v = x.clone();
    g.bench_function("fwht", |b| b.iter(|| black_box(fwht_unnormalized(&mut v))));
    // The noise alone, as the encoder draws it (table sampler), and with CKS.
    if let Ok(t) = DiscreteGaussianTable::new(noise) {
        let mut out = vec![0i64; D];
        g.bench_function("noise_only_sigma6650", |b| {
            b.iter(|| t.fill(&mut rng, &mut out))
        });
    }
    if let Ok(dg) = DiscreteGaussian::new(noise) {
        let mut out = vec![0i64; D];
        g.bench_function("noise_only_cks_sigma6650", |b| {
            b.iter(|| dg.fill(&mut rng, &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, samplers, encoder);
criterion_main!(benches);
