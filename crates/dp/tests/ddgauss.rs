//! DDGauss encoder/decoder, planner and ledger.

use fedhe_dp::Error;
use fedhe_dp::accountant::{DdgRound, integer_orders};
use fedhe_dp::ddgauss::{DdgConfig, DdgEncoder, add_mod};
use fedhe_dp::ledger::{Budget, Ledger, Mechanism, RoundRecord};
use fedhe_dp::planner::{DEFAULT_BETA, PlanInput, plan_ddgauss, wrap_probability_of};
use fedhe_dp::sampler::Rational;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn random_vec(rng: &mut ChaCha20Rng, d: usize, norm: f64) -> Vec<f64> {
    let v: Vec<f64> = (0..d)
        .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| x * norm / n).collect()
}

/// Encodes `xs`, sums mod 2^b, decodes; returns (mean estimate, true mean, suspected wraps, retries).
fn round_trip(cfg: DdgConfig, xs: &[Vec<f64>], seed: u64) -> (Vec<f64>, Vec<f64>, usize, u32) {
    let enc = DdgEncoder::new(cfg);
    let round_seed = [seed as u8; 32];
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut acc = vec![0u64; enc.config().padded_dim()];
    let mut retries = 0;
    for x in xs {
        let (z, report) = enc.encode(&round_seed, x, &mut rng).expect("valid input");
        retries += report.rounding_retries;
        add_mod(&mut acc, &z, enc.config().bits()).expect("same length");
        assert!(report.rounded_norm <= enc.config().norm_bound());
    }
    let (mean, rep) = enc
        .decode(&round_seed, &acc, xs.len() as u64)
        .expect("valid sum");
    let d = xs[0].len();
    let truth: Vec<f64> = (0..d)
        .map(|j| xs.iter().map(|x| x[j]).sum::<f64>() / xs.len() as f64)
        .collect();
    (mean, truth, rep.suspected_wraps, retries)
}

fn l2_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Without noise, the error of the decoded mean is the rotated-back rounding
/// error: per client ‖x̃ − x‖₂ < √d in scaled units, so ‖mean error‖₂ ≤ γ√d
/// deterministically, and ≈ γ·sqrt(d/(4n)) since rounding is unbiased with
/// variance ≤ 1/4 per coordinate.
#[test]
fn round_trip_without_noise_up_to_2_pow_20() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for (d0, n, gamma) in [
        (1usize, 3usize, 1e-3),
        (1000, 10, 1e-4),
        (1 << 16, 4, 1e-5),
        (1 << 20, 2, 1e-6),
    ] {
        let xs: Vec<Vec<f64>> = (0..n).map(|_| random_vec(&mut rng, d0, 0.9)).collect();
        let cfg = DdgConfig::new(d0, 1.0, gamma, DEFAULT_BETA, 62, None).expect("valid");
        let d = cfg.padded_dim() as f64;
        let (mean, truth, wraps, _) = round_trip(cfg, &xs, 12);
        let err = l2_dist(&mean, &truth);
        let hard = gamma * d.sqrt();
        let typical = gamma * (d / (4.0 * n as f64)).sqrt();
        println!(
            "d0 = {d0}, n = {n}, γ = {gamma:e}: ‖error‖ = {err:.3e} (bound {hard:.3e}, typical {typical:.3e})"
        );
        assert!(err <= hard, "error above the deterministic bound");
        assert!(
            err <= 3.0 * typical + 1e-12,
            "error far above the statistical size"
        );
        assert_eq!(wraps, 0);
    }
}

#[test]
fn clipping_is_reported_and_applied() {
    let cfg = DdgConfig::new(4, 1.0, 1e-4, 0.0, 40, None).expect("valid");
    let enc = DdgEncoder::new(cfg);
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let (z, rep) = enc
        .encode(&[0; 32], &[3.0, 4.0, 0.0, 0.0], &mut rng)
        .expect("valid");
    assert!(rep.clipped);
    assert_eq!(rep.input_norm, 5.0);
    assert!((rep.clipped_norm - 1.0).abs() < 1e-12);
    let (mean, _) = enc.decode(&[0; 32], &z, 1).expect("valid");
    assert!((mean[0] - 0.6).abs() < 1e-3 && (mean[1] - 0.8).abs() < 1e-3);
    // Bad input is a typed error, not a panic.
    assert!(enc.encode(&[0; 32], &[1.0; 3], &mut rng).is_err());
    assert!(
        enc.encode(&[0; 32], &[f64::NAN, 0.0, 0.0, 0.0], &mut rng)
            .is_err()
    );
    assert!(enc.decode(&[0; 32], &[0; 3], 1).is_err());
    assert!(enc.decode(&[0; 32], &[1 << 40, 0, 0, 0], 1).is_err());
    assert!(enc.decode(&[0; 32], &[0; 4], 0).is_err());
    assert!(DdgConfig::new(4, 1.0, 1e-4, 1.0, 40, None).is_err());
    assert!(DdgConfig::new(4, 1.0, 1e-4, 0.5, 63, None).is_err());
}

/// A modulus far too small for the sum: wrap-around happens, the decoder
/// counts suspects, and the same data under a planned-size modulus has none.
#[test]
fn wrap_around_is_forced_detected_and_counted() {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let (d0, n) = (1024usize, 64usize);
    // Identical vectors make the sum's norm n·c, the worst case.
    let x = random_vec(&mut rng, d0, 1.0);
    let xs: Vec<Vec<f64>> = vec![x; n];
    let gamma = 1e-3;
    // Aggregate coordinates have std ≈ n·c/(γ√d) = 2000 in scaled units; 2^10 holds ±512.
    let small = DdgConfig::new(d0, 1.0, gamma, DEFAULT_BETA, 10, None).expect("valid");
    assert!(wrap_probability_of(&small, n as u64) > 0.5);
    let (mean, truth, wraps, _) = round_trip(small, &xs, 15);
    let err = l2_dist(&mean, &truth);
    println!("forced wrap: {wraps} of 1024 coordinates suspected, ‖error‖ = {err:.3}");
    assert!(wraps > 20, "wrap-around not detected ({wraps} suspects)");
    assert!(err > 0.1, "a wrapped sum cannot decode correctly");
    let big = DdgConfig::new(d0, 1.0, gamma, DEFAULT_BETA, 24, None).expect("valid");
    assert!(wrap_probability_of(&big, n as u64) < 1e-6);
    let (mean, truth, wraps, _) = round_trip(big, &xs, 15);
    assert_eq!(wraps, 0);
    assert!(l2_dist(&mean, &truth) < gamma * 32.0);
}

/// With noise from a plan, the decoded mean is unbiased with the planned variance.
#[test]
fn planned_round_with_noise_decodes_within_noise() {
    let input = PlanInput::new(20, 16, 4096, 1.0, 20, 8.0, 1e-5, 100, 1.0, 28);
    let plan = plan_ddgauss(&input).expect("feasible plan");
    println!(
        "plan: γ = {:e}, σ = {:e}, σ²/γ² = {}, ε = {:.4}, wrap ≤ {:e}",
        plan.gamma, plan.local_sigma, plan.noise_sigma2, plan.epsilon, plan.wrap_probability
    );
    assert!(plan.epsilon <= 8.0 && plan.epsilon > 7.5);
    assert!(plan.wrap_probability <= 1e-6);
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let xs: Vec<Vec<f64>> = (0..20).map(|_| random_vec(&mut rng, 4096, 1.0)).collect();
    let (mean, truth, wraps, _) = round_trip(plan.config().expect("valid"), &xs, 17);
    assert_eq!(wraps, 0);
    // Mean error per coordinate: noise std σ·√n/n plus rounding γ/(2√n).
    let per_coord = plan.local_sigma / 20f64.sqrt() + plan.gamma / (2.0 * 20f64.sqrt());
    let rms = l2_dist(&mean, &truth) / (4096f64).sqrt();
    println!("rms error {rms:.4e}, expected ≈ {per_coord:.4e}");
    assert!(rms < 1.2 * per_coord && rms > 0.8 * plan.local_sigma / 20f64.sqrt());
}

#[test]
fn planner_refusals() {
    // Bits above the HE plaintext modulus.
    let r = plan_ddgauss(&PlanInput::new(
        100,
        80,
        1 << 16,
        1.0,
        30,
        3.0,
        1e-5,
        1000,
        0.01,
        28,
    ));
    assert!(matches!(r, Err(Error::PlanRefused(_))), "{r:?}");
    // Too few bits for 10^4 clients' rounding error: wrap probability cannot be met.
    let r = plan_ddgauss(&PlanInput::new(
        10_000,
        10_000,
        1 << 16,
        1.0,
        8,
        3.0,
        1e-5,
        1000,
        0.01,
        28,
    ));
    assert!(matches!(r, Err(Error::PlanRefused(_))), "{r:?}");
    // Invalid input.
    assert!(plan_ddgauss(&PlanInput::new(10, 11, 16, 1.0, 16, 3.0, 1e-5, 10, 0.1, 28)).is_err());
    assert!(plan_ddgauss(&PlanInput::new(10, 10, 16, 1.0, 16, 3.0, 2.0, 10, 0.1, 28)).is_err());
}

/// The worked deployment of dp-reference.md: n = 100, d = 2^16, c = 1,
/// q = 0.01, T = 1000, δ = 1e-5, 20 bits. The plan meets ε and the wrap bound.
#[test]
fn planner_reference_deployment() {
    let plan = plan_ddgauss(&PlanInput::new(
        100,
        100,
        1 << 16,
        1.0,
        20,
        3.0,
        1e-5,
        1000,
        0.01,
        28,
    ))
    .expect("feasible");
    println!(
        "γ = {:e}, σ = {:.5}, z = {:.4}, ε = {:.4}, wrap ≤ {:e}, k = {:.2}",
        plan.gamma,
        plan.local_sigma,
        plan.noise_multiplier,
        plan.epsilon,
        plan.wrap_probability,
        plan.k_stddevs
    );
    assert!(plan.epsilon <= 3.0 && plan.epsilon > 2.9);
    assert!(plan.wrap_probability <= 1e-6);
    // Fewer contributors than planned cost more.
    let r100 = plan.round(100).expect("valid");
    let r50 = plan.round(50).expect("valid");
    let e100 = fedhe_dp::accountant::ddgauss_epsilon(&r100, 1000, 1e-5)
        .expect("valid")
        .0;
    let e50 = fedhe_dp::accountant::ddgauss_epsilon(&r50, 1000, 1e-5)
        .expect("valid")
        .0;
    assert!(e50 > e100);
}

fn ddg(contributors: u64) -> Mechanism {
    Mechanism::DdGauss(DdgRound {
        gamma: 1e-3,
        local_sigma: 0.1,
        contributors,
        clip: 1.0,
        beta: DEFAULT_BETA,
        dim: 1 << 16,
        sampling_rate: 0.01,
    })
}

fn record(round: u64, decrypted: u64) -> RoundRecord {
    RoundRecord {
        round,
        expected_contributors: 100,
        decrypted_contributors: decrypted,
        colluders: 0,
        noise_sigma2: Some(Rational::new(10_000, 1).expect("valid")),
        mechanism: ddg(decrypted),
    }
}

#[test]
fn budget_refuses_crossing_rounds_and_recomputes_with_true_contributors() {
    // A budget that 20 full rounds fit and 21 do not.
    let Mechanism::DdGauss(full) = ddg(100) else {
        unreachable!()
    };
    let eps20 = fedhe_dp::accountant::ddgauss_epsilon(&full, 20, 1e-5)
        .expect("valid")
        .0;
    let eps21 = fedhe_dp::accountant::ddgauss_epsilon(&full, 21, 1e-5)
        .expect("valid")
        .0;
    assert!(eps21 > eps20);
    let cap = 0.5 * (eps20 + eps21);
    let mut budget = Budget::new(cap, 1e-5, integer_orders()).expect("valid");
    let mut spent_full = Vec::new();
    let mut round = 0;
    loop {
        round += 1;
        match budget.admit(&ddg(100)) {
            Ok(_) => {
                let p = budget
                    .record(record(round, 100))
                    .expect("admitted round fits");
                spent_full.push(p.epsilon);
            }
            Err(Error::BudgetExceeded { epsilon, .. }) => {
                assert!(epsilon > cap);
                break;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(round < 10_000);
    }
    let admitted = spent_full.len();
    println!("budget ε = {cap} admits {admitted} rounds at n = 100");
    assert_eq!(admitted, 20);
    assert!((spent_full[19] - eps20).abs() < 1e-9 * eps20);
    assert!(spent_full.windows(2).all(|w| w[0] <= w[1]));

    // A round planned for 100 that decrypts with 50 costs more; with a budget
    // that the planned round would fit but the actual one does not, the record
    // is refused and nothing is appended.
    let mut b2 = Budget::new(cap, 1e-5, integer_orders()).expect("valid");
    for r in 1..admitted as u64 {
        b2.record(record(r, 100)).expect("fits");
    }
    let before = b2.ledger().entries().len();
    assert!(b2.admit(&ddg(100)).is_ok());
    let res = b2.record(record(admitted as u64, 30));
    assert!(matches!(res, Err(Error::BudgetExceeded { .. })), "{res:?}");
    assert_eq!(b2.ledger().entries().len(), before);

    // Inconsistent records are rejected.
    let mut bad = record(admitted as u64 + 5, 60);
    bad.mechanism = ddg(100);
    assert!(matches!(b2.record(bad), Err(Error::Ledger(_))));
    assert!(matches!(b2.record(record(1, 100)), Err(Error::Ledger(_))));
}

#[test]
fn ledger_round_trips_and_rejects_tampering() {
    let mut budget = Budget::new(10.0, 1e-5, integer_orders()).expect("valid");
    budget.record(record(1, 100)).expect("fits");
    budget.record(record(2, 70)).expect("fits");
    budget
        .record(RoundRecord {
            round: 3,
            expected_contributors: 1,
            decrypted_contributors: 1,
            colluders: 0,
            noise_sigma2: None,
            mechanism: Mechanism::Gaussian {
                noise_multiplier: 1.0,
                sampling_rate: 0.01,
            },
        })
        .expect("fits");
    let json = budget.ledger().to_json().expect("serializes");
    let back = Ledger::from_json(&json).expect("conforms");
    assert_eq!(&back, budget.ledger());
    let spent = budget.spent().expect("valid").epsilon;
    let again = Budget::with_ledger(10.0, 1e-5, back)
        .expect("valid")
        .spent()
        .expect("valid")
        .epsilon;
    assert_eq!(spent, again);

    let tampered = json.replacen("\"contributors\": 70", "\"contributors\": 700", 1);
    assert!(Ledger::from_json(&tampered).is_err());
    let wrong_version = json.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(Ledger::from_json(&wrong_version).is_err());
    assert!(Ledger::from_json("{").is_err());
    assert!(Ledger::from_json(&json[..json.len() / 2]).is_err());
}

/// Parallel chunks draw child generators in order, so a seeded encoding is
/// reproducible regardless of the thread schedule.
#[test]
fn encoding_is_deterministic_given_the_generator() {
    let cfg = DdgConfig::new(
        100_000,
        1.0,
        1e-4,
        DEFAULT_BETA,
        30,
        Some(Rational::new(2500, 1).expect("valid")),
    )
    .expect("valid");
    let enc = DdgEncoder::new(cfg);
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let x = random_vec(&mut rng, 100_000, 1.0);
    let a = enc
        .encode(&[9; 32], &x, &mut ChaCha20Rng::seed_from_u64(22))
        .expect("valid")
        .0;
    let b = enc
        .encode(&[9; 32], &x, &mut ChaCha20Rng::seed_from_u64(22))
        .expect("valid")
        .0;
    let c = enc
        .encode(&[9; 32], &x, &mut ChaCha20Rng::seed_from_u64(23))
        .expect("valid")
        .0;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// The encoder's noise comes from the table sampler when σ² ≤ 2^30 and from
/// CKS beyond; either way a zero input encodes to `N_Z(0, σ²)` residues.
#[test]
fn encoder_noise_law_table_and_cks() {
    let d = 1usize << 15;
    for (sigma2, table) in [(2500u128, true), ((1 << 30) + 1, false)] {
        let cfg = DdgConfig::new(
            d,
            1.0,
            1e-4,
            DEFAULT_BETA,
            62,
            Some(Rational::new(sigma2, 1).expect("valid")),
        )
        .expect("valid");
        assert_eq!(cfg.noise_table().is_some(), table, "σ² = {sigma2}");
        let enc = DdgEncoder::new(cfg);
        let (z, _) = enc
            .encode(&[3; 32], &vec![0.0; d], &mut ChaCha20Rng::seed_from_u64(31))
            .expect("valid");
        let half = 1u64 << 61;
        let v: Vec<f64> = z
            .iter()
            .map(|&r| {
                (if r >= half {
                    r as i64 - (1i64 << 62)
                } else {
                    r as i64
                }) as f64
            })
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let s2 = sigma2 as f64;
        println!(
            "encoder σ² = {sigma2}: mean {mean:.2}, var/σ² {:.4}",
            var / s2
        );
        assert!(
            mean.abs() < 5.0 * (s2 / n).sqrt(),
            "σ² = {sigma2}: mean {mean}"
        );
        assert!(
            (var / s2 - 1.0).abs() < 5.0 * (2.0 / n).sqrt(),
            "σ² = {sigma2}: var {var}"
        );
    }
}

/// Plans with room in the modulus coarsen γ so that the noise stays within
/// the table sampler's range (σ/γ ≤ 2^15), at no cost in ε: the MNIST
/// deployment of the closing note (28 bits, 160–230 clients).
#[test]
fn plans_keep_the_noise_in_the_table_samplers_range() -> Result<(), Error> {
    for eps in [1.0, 3.0, 8.0] {
        let plan = plan_ddgauss(&PlanInput::new(
            230,
            160,
            7850,
            1.0,
            28,
            eps,
            1e-5,
            200,
            1.0 / 30.0,
            28,
        ))?;
        assert!(
            fedhe_dp::cdt::DiscreteGaussianTable::supports(plan.noise_sigma2),
            "ε = {eps}: σ²/γ² = {} is beyond the table",
            plan.noise_sigma2
        );
        assert!(plan.noise_sigma2.to_f64() > 0.99 * 2f64.powi(30));
        assert!(plan.epsilon <= eps * (1.0 + 1e-9));
    }
    Ok(())
}
