//! Statistical tests of the exact Bernoulli building blocks: the lazy
//! `Bernoulli(a/b)` (bits of `a/b` against fresh random bits) and
//! `Bernoulli(exp(−γ))` on each of its internal paths (one 16-bit word for
//! `exp(−1)`, the dyadic split with a 64-bit or 128-bit denominator, the
//! generic path for denominators of 2^100 and more, long integer parts).
//! Fixed seeds, so deterministic.

mod common;

use common::chi_square;
use fedhe_dp::sampler::{
    DiscreteGaussian, Rational, bernoulli, bernoulli_exp_neg, discrete_laplace,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn rat(num: u128, den: u128) -> Rational {
    Rational::new(num, den).expect("non-zero denominator")
}

/// `|z| < 5` for `hits` successes out of `n` with probability `p`.
fn assert_binomial(label: &str, hits: usize, n: usize, p: f64) {
    let (hits, n) = (hits as f64, n as f64);
    let sd = (n * p * (1.0 - p)).sqrt();
    let z = (hits - n * p) / sd;
    println!("{label}: {hits} / {n}, expected {:.1}, z = {z:.2}", n * p);
    assert!(z.abs() < 5.0, "{label}: {hits} hits, expected {}", n * p);
}

#[test]
fn lazy_bernoulli_frequencies_near_0_near_1_and_huge_denominators() {
    let mut rng = ChaCha20Rng::seed_from_u64(101);
    let n = 200_000;
    let big = (1u128 << 127) - 1; // prime
    for (a, b) in [
        (1u128, 997u128),
        (996, 997),
        (1, 3),
        (3, 1 << 10),
        ((1 << 126) + 12_345, big),
        (3 * (1 << 100) + 7, (1 << 110) + 3),
        (big - (1 << 118), big),
        (big - 1, big),
        (1, big),
    ] {
        let p = rat(a, b);
        let hits = (0..n).filter(|_| bernoulli(&mut rng, p)).count();
        let pf = p.to_f64();
        if !(1e-6..=1.0 - 1e-6).contains(&pf) {
            // Expected count far below one: the exact sampler must not
            // produce more than a handful of the rare outcome.
            let rare = if pf < 0.5 { hits } else { n - hits };
            assert!(rare <= 2, "Bernoulli({p}): {hits} hits of {n}");
        } else {
            assert_binomial(&format!("Bernoulli({p})"), hits, n, pf);
        }
    }
    assert!(bernoulli(&mut rng, rat(5, 5)));
    assert!(!bernoulli(&mut rng, rat(0, 5)));
}

/// γ values reaching every internal path of `Bernoulli(exp(−γ))`.
fn gammas() -> Vec<Rational> {
    vec![
        rat(1, 1),
        rat(1, 3),
        rat(255, 256),
        rat(1, 256),
        rat(1, 257),
        rat(1, 1 << 30),
        rat((1 << 39) - 1, 1 << 39),
        rat((1 << 45) + 1, 1 << 46),
        rat((1 << 60) - 3, (1 << 61) + 1),
        rat((1 << 101) + 3, (1 << 102) + 1),
        rat((1 << 120) - 1, (1 << 121) + 1),
        rat(22, 7),
        rat(12, 1),
        rat(1_000_001, 1_000_000),
    ]
}

#[test]
fn bernoulli_exp_neg_frequencies_on_every_path() {
    let mut rng = ChaCha20Rng::seed_from_u64(102);
    let n = 100_000;
    for gamma in gammas() {
        let p = (-gamma.to_f64()).exp();
        let hits = (0..n)
            .filter(|_| bernoulli_exp_neg(&mut rng, gamma))
            .count();
        assert_binomial(&format!("exp(−{gamma})"), hits, n, p);
    }
}

/// Chi-square goodness of fit of `Bernoulli(exp(−γ))` over 5000 draws per γ,
/// and jointly (the sum of the per-γ statistics is χ² with one degree of
/// freedom per γ).
#[test]
fn bernoulli_exp_neg_chi_square() {
    let mut rng = ChaCha20Rng::seed_from_u64(103);
    let n = 5_000u64;
    let (mut total, mut df) = (0.0, 0usize);
    for gamma in gammas() {
        let p = (-gamma.to_f64()).exp();
        let hits = (0..n)
            .filter(|_| bernoulli_exp_neg(&mut rng, gamma))
            .count() as u64;
        let (stat, d, pv) = chi_square(&[hits, n - hits], &[p, 1.0 - p], n);
        println!("exp(−{gamma}): chi2 = {stat:.3}, df = {d}, p = {pv:.4}");
        assert!(pv > 1e-4, "exp(−{gamma}): p = {pv}");
        total += stat;
        df += d;
    }
    let pv = common::gamma_q(df as f64 / 2.0, total / 2.0);
    println!("joint: chi2 = {total:.2}, df = {df}, p = {pv:.4}");
    assert!(pv > 1e-4);
}

/// Discrete Laplace at a large scale (the 64-bit path, `t < 2^20`) and
/// beyond it (the generic path): mean 0 and variance
/// `2e^{−1/t}/(1 − e^{−1/t})²`.
#[test]
fn discrete_laplace_moments_at_large_scales() {
    let mut rng = ChaCha20Rng::seed_from_u64(104);
    let n = 40_000;
    for t in [1_000u64, (1 << 20) + 3] {
        let s: Vec<f64> = (0..n)
            .map(|_| discrete_laplace(&mut rng, t).expect("t ≥ 1") as f64)
            .collect();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        let q = (-1.0 / t as f64).exp();
        let v = 2.0 * q / (1.0 - q).powi(2);
        // Laplace kurtosis 6: Var(s²) ≈ 5·v².
        let se_var = v * (5.0 / n as f64).sqrt();
        println!("Laplace t = {t}: mean {mean:.1}, var/v {:.4}", var / v);
        assert!(
            mean.abs() < 5.0 * (v / n as f64).sqrt(),
            "t = {t}: mean {mean}"
        );
        assert!((var - v).abs() < 5.0 * se_var, "t = {t}: var {var} vs {v}");
    }
}

/// The discrete Gaussian against its pmf where the acceptance denominator
/// `2·p·q·t²` is small, between 2^40 and 2^100, and above 2^100.
#[test]
fn discrete_gaussian_chi_square_for_every_denominator_size() {
    let n = 100_000;
    for (sigma2, seed) in [
        (rat(30, 1), 105u64),
        (rat(5 * (1 << 40) + 1, 1 << 40), 106),
        (rat(3 * (1 << 60) + 1, 1 << 60), 107),
    ] {
        let dg = DiscreteGaussian::new(sigma2).expect("supported variance");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut s = vec![0i64; n];
        dg.fill(&mut rng, &mut s);
        let sf = sigma2.to_f64();
        let r = (6.0 * sf.sqrt()).ceil() as i64;
        let (stat, df, p) = chi_square(
            &common::histogram(&s, r),
            &common::dgauss_pmf(sf, r),
            n as u64,
        );
        println!("discrete Gaussian σ² = {sigma2}: chi2 = {stat:.2}, df = {df}, p = {p:.4}");
        assert!(p > 1e-4, "σ² = {sigma2}: p = {p}");
    }
}
