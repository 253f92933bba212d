//! Tests that need the crate's internals: measured noise against the
//! validator's formula, and what fewer than `t` shares give.

use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::params::{Committee, DEFAULT};
use crate::{
    CiphertextList, Combiner, DealtCommittee, DecryptingSet, HeContext, MemberId, partial_decrypt,
};

fn ctx(t: u16, n: u16, k: u32) -> Arc<HeContext> {
    HeContext::new(
        DEFAULT
            .deployment(
                k,
                Committee {
                    threshold: t,
                    members: n,
                },
            )
            .expect("deployment"),
    )
    .expect("valid")
}

fn random_values(ctx: &HeContext, len: usize, rng: &mut ChaCha20Rng) -> Vec<u64> {
    let mask = ctx.params().plaintext_modulus() - 1;
    (0..len).map(|_| rng.next_u64() & mask).collect()
}

/// Centred noise `x − Δ·m` of every coefficient, where `x` is a decryption
/// before rounding.
fn noise(ctx: &HeContext, x: &fedhe_ring::Poly, m: &[u64]) -> Vec<f64> {
    let ring = ctx.ring();
    let q = ring.modulus_product();
    let delta = q / u128::from(ctx.params().plaintext_modulus());
    (0..ring.degree())
        .map(|i| {
            let xi = ring.compose(x, i);
            let dm = (delta * u128::from(*m.get(i).unwrap_or(&0))) % q;
            let d = (xi + q - dm) % q;
            if d > q / 2 {
                -((q - d) as f64)
            } else {
                d as f64
            }
        })
        .collect()
}

fn variance(v: &[f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
}

/// `c_0 + c_1·s` with the collective secret `s = Σ s_i`.
fn decrypt_raw(ctx: &HeContext, ct: &crate::Ciphertext, s: &[i64]) -> fedhe_ring::Poly {
    let ring = ctx.ring();
    let s_ntt = ring.forward(&ring.poly_from_signed(s));
    let mut x = ring.mul_to_coeff(&ct.c1, &s_ntt);
    ring.add_assign(&mut x, &ct.c0);
    x
}

#[test]
fn measured_noise_matches_the_validator_formula() {
    let ctx = ctx(3, 5, 64);
    let mut rng = ChaCha20Rng::seed_from_u64(100);
    let (committee, secrets) = DealtCommittee::deal_with_secrets(&ctx, &mut rng).expect("deal");
    let n = ctx.params().degree;
    let mut s = vec![0i64; n];
    for sec in &secrets {
        for (a, b) in s.iter_mut().zip(sec.coefficients_for_tests()) {
            *a += b;
        }
    }
    let fresh_formula = ctx.params().fresh_noise_variance();

    // Fresh ciphertexts: 8 ciphertexts, 32768 noise samples (relative std of
    // the variance estimate ≈ 0.8 %).
    let len = 8 * n;
    let values = random_values(&ctx, len, &mut rng);
    let list = CiphertextList::encrypt(&committee.public_key, &values, &mut rng).expect("encrypt");
    let mut fresh = Vec::new();
    for (i, ct) in list.cts.iter().enumerate() {
        fresh.extend(noise(
            &ctx,
            &decrypt_raw(&ctx, ct, &s),
            &values[i * n..(i + 1) * n],
        ));
    }
    let ratio = variance(&fresh) / fresh_formula;
    assert!(
        (ratio - 1.0).abs() < 0.10,
        "fresh noise variance ratio {ratio}"
    );

    // Sum of K = 20 lists: variance K·Var(fresh).
    let k = 20;
    let mut sum = CiphertextList::zero(&ctx, len);
    // Integer sums, not reduced mod T: the noise is measured against Δ·Σm so
    // that the deterministic (Q mod T)·⌊Σm/T⌋ term of the module docs stays
    // out of the variance.
    let mut plain = vec![0u64; len];
    for _ in 0..k {
        let v = random_values(&ctx, len, &mut rng);
        for (p, x) in plain.iter_mut().zip(&v) {
            *p += x;
        }
        sum.add_assign(
            &CiphertextList::encrypt(&committee.public_key, &v, &mut rng).expect("encrypt"),
        )
        .expect("add");
    }
    let mut summed = Vec::new();
    for (i, ct) in sum.cts.iter().enumerate() {
        summed.extend(noise(
            &ctx,
            &decrypt_raw(&ctx, ct, &s),
            &plain[i * n..(i + 1) * n],
        ));
    }
    let ratio = variance(&summed) / (f64::from(k) * fresh_formula);
    assert!(
        (ratio - 1.0).abs() < 0.10,
        "summed noise variance ratio {ratio}"
    );

    // After threshold decryption the noise also holds t flooding samples.
    let set = DecryptingSet::new(
        &ctx,
        &[
            MemberId::new(1).expect("id"),
            MemberId::new(3).expect("id"),
            MemberId::new(5).expect("id"),
        ],
    )
    .expect("set");
    let shares: Vec<_> = set
        .members()
        .iter()
        .map(|m| {
            partial_decrypt(
                &committee.key_shares[usize::from(m.get()) - 1],
                &set,
                &sum,
                &mut rng,
            )
            .expect("share")
        })
        .collect();
    let ring = ctx.ring();
    let mut flooded = Vec::new();
    for (i, ct) in sum.cts.iter().enumerate() {
        let mut x = ct.c0.clone();
        for sh in &shares {
            ring.add_assign(&mut x, &sh.shares[i]);
        }
        flooded.extend(noise(&ctx, &x, &plain[i * n..(i + 1) * n]));
    }
    let expected = f64::from(k) * fresh_formula + 3.0 * ctx.flooding_sigma().powi(2);
    let ratio = variance(&flooded) / expected;
    assert!(
        (ratio - 1.0).abs() < 0.10,
        "flooded noise variance ratio {ratio}"
    );
    let t_mask = ctx.params().plaintext_modulus() - 1;
    let reduced: Vec<u64> = plain.iter().map(|p| p & t_mask).collect();
    assert_eq!(
        crate::combine(&sum, &set, &shares).expect("combine"),
        reduced
    );
}

#[test]
fn fewer_than_t_shares_do_not_decrypt() {
    // With t = 3, recombining two shares as if they were a 2-set gives a
    // value unrelated to the plaintext: Σ λ'_k·sk_k is not s.
    let ctx = ctx(3, 5, 8);
    let mut rng = ChaCha20Rng::seed_from_u64(101);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let values = random_values(&ctx, ctx.params().degree, &mut rng);
    let list = CiphertextList::encrypt(&committee.public_key, &values, &mut rng).expect("encrypt");
    let ring = ctx.ring();
    let pair = [MemberId::new(2).expect("id"), MemberId::new(4).expect("id")];
    let mut x = list.cts[0].c0.clone();
    for &m in &pair {
        // Lagrange at zero for {2, 4} computed by hand: λ_2 = 4/(4−2) = 2, λ_4 = 2/(2−4) = −1.
        let lambda: Vec<u64> = ring
            .moduli()
            .iter()
            .map(|q| if m.get() == 2 { 2 } else { q.value() - 1 })
            .collect();
        let mut sk = committee.key_shares[usize::from(m.get()) - 1]
            .sk_ntt
            .clone();
        ring.mul_scalar_assign_ntt(&mut sk, &lambda);
        ring.add_assign(&mut x, &ring.mul_to_coeff(&list.cts[0].c1, &sk));
    }
    let got = ring.scale_round(&x, ctx.params().plaintext_bits, values.len());
    let agree = got.iter().zip(&values).filter(|(a, b)| a == b).count();
    // A random guess agrees with probability 2^-28 per coefficient.
    assert!(agree <= 1, "{agree} coefficients decrypted with t−1 shares");
    // And the API refuses a set of t − 1 members outright.
    assert!(DecryptingSet::new(&ctx, &pair).is_err());
    // The Lagrange coefficients of a full set reconstruct the constant term.
    let set = DecryptingSet::new(
        &ctx,
        &[
            MemberId::new(1).expect("id"),
            MemberId::new(2).expect("id"),
            MemberId::new(4).expect("id"),
        ],
    )
    .expect("set");
    for q in ring.moduli() {
        let total = set.members().iter().fold(0u64, |acc, &m| {
            let l = Combiner::lagrange_coefficient(&ctx, &set, m).expect("λ");
            q.add(
                acc,
                l[ring.moduli().iter().position(|x| x == q).expect("prime")],
            )
        });
        assert_eq!(total, 1, "Σ λ_k = 1 (constant polynomial 1 reconstructs)");
    }
}

#[test]
fn insecure_test_preset_works_only_through_the_test_constructor() {
    use crate::params::TEST_INSECURE_64;
    assert!(HeContext::new(TEST_INSECURE_64.params()).is_err());
    let ctx = HeContext::new_insecure(TEST_INSECURE_64.params()).expect("margins hold");
    assert!(ctx.params().insecure);
    let mut rng = ChaCha20Rng::seed_from_u64(102);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let values = random_values(&ctx, 200, &mut rng);
    let list = CiphertextList::encrypt(&committee.public_key, &values, &mut rng).expect("encrypt");
    let set = DecryptingSet::new(
        &ctx,
        &[MemberId::new(1).expect("id"), MemberId::new(3).expect("id")],
    )
    .expect("set");
    let shares: Vec<_> = set
        .members()
        .iter()
        .map(|m| {
            partial_decrypt(
                &committee.key_shares[usize::from(m.get()) - 1],
                &set,
                &list,
                &mut rng,
            )
            .expect("share")
        })
        .collect();
    assert_eq!(
        crate::combine(&list, &set, &shares).expect("combine"),
        values
    );
    // Its digest differs from any secure set's, so its keys cannot be mistaken for real ones.
    assert_ne!(ctx.digest(), &DEFAULT.params().digest());
}
