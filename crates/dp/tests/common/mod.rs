//! Statistics helpers shared by the integration tests.
#![allow(dead_code)]

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized upper incomplete gamma Q(a, x) (Numerical Recipes 6.2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let (mut ap, mut sum, mut del) = (a, 1.0 / a, 1.0 / a);
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// Pearson chi-square of `observed` counts against `probs` (which sum to 1)
/// for `n` draws; cells with expected count below 5 are pooled with their
/// neighbour. Returns (statistic, degrees of freedom, p-value).
pub fn chi_square(observed: &[u64], probs: &[f64], n: u64) -> (f64, usize, f64) {
    assert_eq!(observed.len(), probs.len());
    let mut cells: Vec<(f64, f64)> = Vec::new();
    let (mut o_acc, mut e_acc) = (0.0, 0.0);
    for (o, p) in observed.iter().zip(probs) {
        o_acc += *o as f64;
        e_acc += p * n as f64;
        if e_acc >= 5.0 {
            cells.push((o_acc, e_acc));
            o_acc = 0.0;
            e_acc = 0.0;
        }
    }
    if (e_acc > 0.0 || o_acc > 0.0)
        && let Some(last) = cells.last_mut()
    {
        last.0 += o_acc;
        last.1 += e_acc;
    }
    let stat: f64 = cells.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    let df = cells.len() - 1;
    (stat, df, gamma_q(df as f64 / 2.0, stat / 2.0))
}

/// Exact pmf of N_Z(0, σ²) on `[-r, r]`, normalised over all of Z (the mass
/// beyond r is added to the end cells).
pub fn dgauss_pmf(sigma2: f64, r: i64) -> Vec<f64> {
    let w = |y: i64| (-(y as f64).powi(2) / (2.0 * sigma2)).exp();
    let far = 60 * (sigma2.sqrt().ceil() as i64 + 1);
    let total: f64 = (-far..=far).map(w).sum();
    let tail: f64 = (r + 1..=far).map(w).sum();
    let mut p: Vec<f64> = (-r..=r).map(|y| w(y) / total).collect();
    if let Some(first) = p.first_mut() {
        *first += tail / total;
    }
    if let Some(last) = p.last_mut() {
        *last += tail / total;
    }
    p
}

/// Histogram of samples clamped to `[-r, r]`.
pub fn histogram(samples: &[i64], r: i64) -> Vec<u64> {
    let mut h = vec![0u64; (2 * r + 1) as usize];
    for &s in samples {
        let c = s.clamp(-r, r);
        h[(c + r) as usize] += 1;
    }
    h
}

/// Sample mean and unbiased sample variance.
pub fn mean_var(s: &[i64]) -> (f64, f64) {
    let n = s.len() as f64;
    let mean = s.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = s.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// `num/den` as a [`fedhe_dp::sampler::Rational`].
pub fn rat(num: u128, den: u128) -> fedhe_dp::sampler::Rational {
    fedhe_dp::sampler::Rational::new(num, den).expect("non-zero denominator")
}
