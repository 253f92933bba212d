//! The cryptographic core's hot paths, per ciphertext of N = 4096 values, for
//! each preset: sampling, encryption, addition, partial decryption,
//! combination, and wire encoding/decoding.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedhe_he::params::{COMPACT, DEFAULT};
use fedhe_he::{
    CiphertextList, DealtCommittee, DecryptingSet, HeContext, MemberId, combine, partial_decrypt,
};
use fedhe_ring::sample;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn he(c: &mut Criterion) {
    // Single-threaded, like the comparison against fhe.rs.
    // (criterion is not Send, so the global pool is set instead of installing one).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    {
        for preset in [DEFAULT, COMPACT] {
            let ctx = HeContext::new(preset.params()).expect("valid");
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
            let n = ctx.params().degree;
            let mask = ctx.params().plaintext_modulus() - 1;
            let values: Vec<u64> = (0..n).map(|_| rng.next_u64() & mask).collect();
            let ct =
                CiphertextList::encrypt(&committee.public_key, &values, &mut rng).expect("encrypt");
            let set =
                DecryptingSet::new(&ctx, &[1u16, 2, 3].map(|i| MemberId::new(i).expect("id")))
                    .expect("set");
            let shares: Vec<_> = (0..3)
                .map(|k| {
                    partial_decrypt(&committee.key_shares[k], &set, &ct, &mut rng).expect("share")
                })
                .collect();
            let bytes = ct.to_bytes();

            let mut g = c.benchmark_group(format!("he/{}", preset.name));
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function("sample_ternary", |b| {
                b.iter(|| sample::sample_ternary(n, &mut rng))
            });
            g.bench_function("sample_cbd21", |b| {
                b.iter(|| sample::sample_cbd(n, 21, &mut rng))
            });
            g.bench_function("sample_flooding", |b| {
                b.iter(|| sample::sample_rounded_gaussian(n, ctx.flooding_sigma(), &mut rng))
            });
            g.bench_function("encrypt", |b| {
                b.iter(|| CiphertextList::encrypt(&committee.public_key, &values, &mut rng))
            });
            g.bench_function("add", |b| {
                let mut sum = ct.clone();
                b.iter(|| sum.add_assign(&ct))
            });
            g.bench_function("partial_decrypt", |b| {
                b.iter(|| partial_decrypt(&committee.key_shares[0], &set, &ct, &mut rng))
            });
            g.bench_function("combine", |b| b.iter(|| combine(&ct, &set, &shares)));
            let zero = CiphertextList::zero(&ctx, n);
            g.bench_function("digest", |b| {
                // Adding zero clears the cached digest, so each iteration hashes afresh.
                b.iter_batched(
                    || {
                        let mut c = ct.clone();
                        c.add_assign(&zero).expect("add");
                        c
                    },
                    |c| c.digest(),
                    criterion::BatchSize::SmallInput,
                )
            });
            g.bench_function("encode", |b| b.iter(|| ct.to_bytes()));
            g.bench_function("decode", |b| {
                b.iter(|| CiphertextList::from_bytes(&ctx, &bytes))
            });
            g.finish();
        }
    }
}

criterion_group!(benches, he);
criterion_main!(benches);
