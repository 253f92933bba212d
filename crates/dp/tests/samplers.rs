//! Statistical tests of the exact samplers (fixed seeds, so deterministic).
//! Run with `--nocapture` to see the statistics quoted in reports.

mod common;

use common::{chi_square, dgauss_pmf, histogram, mean_var, rat};
use fedhe_dp::sampler::{
    DiscreteGaussian, Rational, Skellam, bernoulli, bernoulli_exp_neg, discrete_laplace, poisson,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const N: usize = 100_000;

fn dgauss_samples(sigma2: Rational, n: usize, seed: u64) -> Vec<i64> {
    let dg = DiscreteGaussian::new(sigma2).expect("supported variance");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut out = vec![0i64; n];
    dg.fill(&mut rng, &mut out);
    out
}

#[test]
fn discrete_gaussian_chi_square_sigma_half_and_one() {
    for (sigma2, label, seed) in [(rat(1, 4), "0.5", 1), (rat(1, 1), "1", 2)] {
        let s = dgauss_samples(sigma2, N, seed);
        let r = 8;
        let (stat, df, p) =
            chi_square(&histogram(&s, r), &dgauss_pmf(sigma2.to_f64(), r), N as u64);
        println!(
            "discrete Gaussian σ = {label}: chi2 = {stat:.3}, df = {df}, p = {p:.4} ({N} samples)"
        );
        assert!(
            p > 1e-4,
            "σ = {label}: chi-square rejects the exact sampler (p = {p})"
        );
    }
}

/// The same test must be able to fail: a rounded continuous Gaussian at
/// σ = 0.5 is a different distribution and is rejected.
#[test]
fn chi_square_rejects_rounded_continuous_gaussian() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let unif = |rng: &mut ChaCha20Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let s: Vec<i64> = (0..N)
        .map(|_| {
            // Box–Muller.
            let (u1, u2) = (unif(&mut rng), unif(&mut rng));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (0.5 * z).round() as i64
        })
        .collect();
    let r = 8;
    let (stat, df, p) = chi_square(&histogram(&s, r), &dgauss_pmf(0.25, r), N as u64);
    println!("rounded continuous Gaussian σ = 0.5: chi2 = {stat:.1}, df = {df}, p = {p:e}");
    assert!(
        p < 1e-6,
        "the test should reject a rounded continuous Gaussian (p = {p})"
    );
}

#[test]
fn bernoulli_exp_neg_frequencies() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    for gamma in [
        rat(0, 1),
        rat(1, 3),
        rat(1, 1),
        rat(5, 2),
        rat(7, 1),
        rat(123_456_789, 100_000_000),
    ] {
        let p = (-gamma.to_f64()).exp();
        let hits = (0..N)
            .filter(|_| bernoulli_exp_neg(&mut rng, gamma))
            .count() as f64;
        let sd = (N as f64 * p * (1.0 - p)).sqrt().max(1e-9);
        let z = (hits - N as f64 * p) / sd;
        assert!(
            z.abs() < 5.0 || (p == 1.0 && hits == N as f64),
            "γ = {gamma}: {hits} hits, expected {}",
            N as f64 * p
        );
    }
    // Plain Bernoulli(a/b), including probabilities near 0 and 1.
    for p in [rat(1, 2), rat(1, 1000), rat(999, 1000), rat(1, 3)] {
        let hits = (0..N).filter(|_| bernoulli(&mut rng, p)).count() as f64;
        let pf = p.to_f64();
        let z = (hits - N as f64 * pf) / (N as f64 * pf * (1.0 - pf)).sqrt();
        assert!(z.abs() < 5.0, "Bernoulli({p}): {hits}");
    }
}

#[test]
fn discrete_laplace_chi_square() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for t in [1u64, 3, 10] {
        let s: Vec<i64> = (0..N)
            .map(|_| discrete_laplace(&mut rng, t).expect("t ≥ 1"))
            .collect();
        let r = (12 * t) as i64;
        let w = |y: i64| (-(y.unsigned_abs() as f64) / t as f64).exp();
        let far = 80 * t as i64;
        let total: f64 = (-far..=far).map(w).sum();
        let tail: f64 = (r + 1..=far).map(w).sum();
        let mut probs: Vec<f64> = (-r..=r).map(|y| w(y) / total).collect();
        probs[0] += tail / total;
        let last = probs.len() - 1;
        probs[last] += tail / total;
        let (stat, df, p) = chi_square(&histogram(&s, r), &probs, N as u64);
        println!("discrete Laplace t = {t}: chi2 = {stat:.2}, df = {df}, p = {p:.4}");
        assert!(p > 1e-4, "t = {t}: p = {p}");
    }
    assert!(discrete_laplace(&mut rng, 0).is_err());
}

#[test]
fn discrete_gaussian_mean_and_variance_at_large_sigma() {
    let n = 40_000;
    for (sigma2, sigma, seed) in [
        (rat(1_000_000, 1), 1e3, 6),
        (rat(1_000_000_000_000, 1), 1e6, 7),
        (rat(1_000_000_000_000 << 20, 1 << 20), 1e6, 8),
    ] {
        let s = dgauss_samples(sigma2, n, seed);
        let (mean, var) = mean_var(&s);
        let se_mean = sigma / (n as f64).sqrt();
        let se_var = sigma * sigma * (2.0 / n as f64).sqrt();
        println!(
            "σ = {sigma:e}: mean {mean:.3} (se {se_mean:.3}), var/σ² {:.5} (se {:.5})",
            var / (sigma * sigma),
            se_var / (sigma * sigma)
        );
        assert!(mean.abs() < 5.0 * se_mean, "σ = {sigma}: mean {mean}");
        assert!(
            (var - sigma * sigma).abs() < 5.0 * se_var,
            "σ = {sigma}: var {var}"
        );
    }
}

#[test]
fn skellam_and_poisson_moments() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let n = 20_000;
    for (lambda, lf) in [(rat(1, 3), 1.0 / 3.0), (rat(5, 2), 2.5), (rat(40, 1), 40.0)] {
        let s: Vec<i64> = (0..n)
            .map(|_| poisson(&mut rng, lambda).expect("small λ") as i64)
            .collect();
        let (mean, var) = mean_var(&s);
        assert!(
            (mean - lf).abs() < 5.0 * (lf / n as f64).sqrt(),
            "Poisson({lf}) mean {mean}"
        );
        assert!((var / lf - 1.0).abs() < 0.06, "Poisson({lf}) var {var}");
    }
    // Poisson(1/3) against its pmf.
    let s: Vec<i64> = (0..N)
        .map(|_| poisson(&mut rng, rat(1, 3)).expect("small λ") as i64)
        .collect();
    let l: f64 = 1.0 / 3.0;
    let mut probs = vec![0.0; 17];
    let mut fact = 1.0;
    for k in 0..=8usize {
        if k > 0 {
            fact *= k as f64;
        }
        probs[8 + k] = (-l).exp() * l.powi(k as i32) / fact;
    }
    let tail = 1.0 - probs.iter().sum::<f64>();
    probs[16] += tail;
    let (stat, df, p) = chi_square(&histogram(&s, 8), &probs, N as u64);
    println!("Poisson(1/3): chi2 = {stat:.2}, df = {df}, p = {p:.4}");
    assert!(p > 1e-4);

    let sk = Skellam::new(rat(9, 1)).expect("supported");
    let s: Vec<i64> = (0..n).map(|_| sk.sample(&mut rng).expect("ok")).collect();
    let (mean, var) = mean_var(&s);
    assert!(
        mean.abs() < 5.0 * (9.0 / n as f64).sqrt(),
        "Skellam mean {mean}"
    );
    assert!((var / 9.0 - 1.0).abs() < 0.06, "Skellam var {var}");
    assert!(Skellam::new(rat(1 << 40, 1)).is_err());
}

#[test]
fn samplers_reject_out_of_range_parameters() {
    assert!(DiscreteGaussian::new(rat(1, 1000)).is_err());
    assert!(DiscreteGaussian::new(rat(2_000_000_000_000, 1)).is_err());
    // A denominator so large that 2·p·q·t² overflows u128.
    assert!(DiscreteGaussian::new(rat((1 << 100) + 1, 1 << 70)).is_err());
}

/// Non-dyadic and extreme rational variances: σ² = 7/3 against its pmf, and
/// σ² = 1/100 (P[X ≠ 0] ≈ 4e-22) gives only zeros.
#[test]
fn discrete_gaussian_rational_variances() {
    let s = dgauss_samples(rat(7, 3), N, 10);
    let r = 12;
    let (stat, df, p) = chi_square(&histogram(&s, r), &dgauss_pmf(7.0 / 3.0, r), N as u64);
    println!("discrete Gaussian σ² = 7/3: chi2 = {stat:.3}, df = {df}, p = {p:.4}");
    assert!(p > 1e-4);
    assert!(
        dgauss_samples(rat(1, 100), 10_000, 11)
            .iter()
            .all(|&x| x == 0)
    );
}

/// Larger runs for manual checks (about a minute in release):
/// `cargo test -p fedhe-dp --release --test samplers -- --ignored --nocapture`
#[test]
#[ignore = "slow: 10^6 samples per σ"]
fn discrete_gaussian_chi_square_million() {
    for (num, den, seed) in [
        (1u128, 4u128, 31),
        (1, 1, 32),
        (4, 1, 33),
        (100, 1, 34),
        (10_000, 1, 35),
    ] {
        let n = 1_000_000;
        let s = dgauss_samples(rat(num, den), n, seed);
        let sigma2 = num as f64 / den as f64;
        let r = (8.0 * sigma2.sqrt()).ceil() as i64 + 2;
        let (stat, df, p) = chi_square(&histogram(&s, r), &dgauss_pmf(sigma2, r), n as u64);
        println!("σ² = {num}/{den}: chi2 = {stat:.2}, df = {df}, p = {p:.4}");
        assert!(p > 1e-5);
    }
}
