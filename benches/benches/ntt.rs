//! The negacyclic NTT and ring products behind fedhe-ring, at every preset's
//! ring degree.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fedhe_ring::{RingContext, prime, sample};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn ntt(c: &mut Criterion) {
    let mut g = c.benchmark_group("ntt");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for degree in [2048usize, 4096, 8192, 16384] {
        for bits in [50u32, 62] {
            let q = prime::ntt_primes(bits, degree, 1).expect("prime");
            let ctx = RingContext::new(degree, &q).expect("ctx");
            let a = sample::sample_uniform(&ctx, &mut rng);
            let fa = ctx.forward(&a);
            g.throughput(Throughput::Elements(degree as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("forward/{bits}bit"), degree),
                &a,
                |b, a| b.iter(|| ctx.forward(a)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("inverse/{bits}bit"), degree),
                &fa,
                |b, fa| b.iter(|| ctx.inverse(fa.clone())),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("product/{bits}bit"), degree),
                &fa,
                |b, fa| b.iter(|| ctx.mul_to_coeff(fa, fa)),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, ntt);
criterion_main!(benches);
