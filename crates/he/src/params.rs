//! Parameter sets, their validator, and the named presets.
//!
//! A [`Params`] value describes a deployment of the scheme: the ring, the
//! plaintext modulus `T = 2^b`, the RLWE error, the number of contributors an
//! aggregate may hold, the committee `(t, n)`, the number of coefficients the
//! key may decrypt in its lifetime `M`, and the flooding slack `κ`.
//! [`Params::analyze`] computes every margin; [`Params::validate`] refuses a
//! set that is below 128-bit security by the HomomorphicEncryption.org
//! standard, whose decryption can fail with probability above `2^-64` per
//! coefficient, or whose flooding deviation exceeds `2^50`.
//!
//! ## Noise model (what the validator and the noise tests use)
//! With `σ_e² = η/2` (centred binomial `CBD(η)`), ternary secrets and
//! encryption randomness (variance 2/3) and `n` committee members, the
//! collective key is `p = −a·s + e` with `s = Σ s_i`, `e = Σ e_i`. A fresh
//! ciphertext decrypts to `Δ·m + v` with
//! `v = e·u + e_0 + e_1·s`, so per coefficient
//! `Var(v_fresh) = σ_e² · (1 + (4/3)·N·n)`.
//! An aggregate of `K` contributions re-randomised up to `R` times has
//! `Var(v_agg) = (K + R)·Var(v_fresh)`; its high-probability bound is
//! `B_agg = z·sqrt(Var(v_agg))` with `z = sqrt(2·ln 2^65) ≈ 9.49`
//! (sub-Gaussian tail `2·exp(−z²/2) ≤ 2^-64`, the usual CLT heuristic for
//! sums of `N` products).
//!
//! Flooding: each of the `t` partial decryptions adds a rounded Gaussian of
//! deviation `σ_f = κ·sqrt(M)·B_agg`. By the Rényi-divergence argument for
//! search problems (Bai, Langlois, Lepoint, Stehlé, Steinfeld, J. Cryptology
//! 2018), shifting `M` Gaussian coordinates by at most `B_agg` costs a factor
//! `RD_a ≤ exp(a·M·B_agg²/(2σ_f²)) = exp(a/(2κ²))` at order `a`, and an
//! attack of success `ε` on the real scheme gives one of success
//! `≥ ε^{a/(a−1)}/RD_a` on the ideal one; [`FloodingArgument`] reports the
//! best order and the security that survives.
//!
//! Decryption computes `⌊T·x/Q⌉` of `x = Δ·M + v'` where, besides the noise,
//! the reduction of the sum of `K + R` plaintexts modulo `T` contributes at
//! most `(K + R + 1)·(Q mod T)` and the rounding of `t` flooding samples at
//! most `t/2`. It is exact while `|v| < ⌊Δ/2⌋ − (K + R + 1)·(Q mod T) − t`,
//! with `Var(v) = Var(v_agg) + t·σ_f²`.

use crate::error::{Error, Result};

/// Security levels of the HomomorphicEncryption.org standard (Albrecht et al.,
/// 2018, Table 1, ternary secret, error σ ≈ 3.2, classical attacks): for each
/// ring degree, the largest `log2 Q` at 128, 192 and 256 bits.
pub const HE_STANDARD_TERNARY: [(usize, [u32; 3]); 6] = [
    (1024, [27, 19, 14]),
    (2048, [54, 37, 29]),
    (4096, [109, 75, 58]),
    (8192, [218, 152, 118]),
    (16384, [438, 305, 237]),
    (32768, [881, 611, 476]),
];

/// Tail factor `z` with `2·exp(−z²/2) = 2^-64`.
pub fn tail_factor() -> f64 {
    (2.0 * 65.0 * std::f64::consts::LN_2).sqrt()
}

/// The security level (128, 192 or 256) the standard's table gives to a ring
/// degree and a modulus size, or `None` below 128 bits or off the table.
pub fn security_bits(degree: usize, log2_q: f64) -> Option<u32> {
    let (_, bounds) = HE_STANDARD_TERNARY.iter().find(|(n, _)| *n == degree)?;
    [256u32, 192, 128]
        .into_iter()
        .zip([bounds[2], bounds[1], bounds[0]])
        .find(|(_, max)| log2_q <= f64::from(*max))
        .map(|(level, _)| level)
}

/// The decrypting committee: any `threshold` of `members` can decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Committee {
    /// `t`: members needed to decrypt.
    pub threshold: u16,
    /// `n`: members holding a key share.
    pub members: u16,
}

/// A named preset: a `const` whose doc says its security and intended use.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line on what the preset is for.
    pub summary: &'static str,
    /// Ring degree `N`.
    pub degree: usize,
    /// RNS primes.
    pub moduli: &'static [u64],
    /// `b` in `T = 2^b`.
    pub plaintext_bits: u32,
    /// `η` of the centred binomial error.
    pub error_eta: u32,
    /// Largest number of contributions an aggregate may hold.
    pub max_contributors: u32,
    /// Largest committee the preset is validated for.
    pub max_committee: u16,
    /// Default committee.
    pub committee: Committee,
    /// `M`: coefficients the key may decrypt over its lifetime.
    pub max_decrypted_coefficients: u64,
    /// `κ`: flooding slack.
    pub flooding_kappa: f64,
    /// Whether the set is insecure and only for tests.
    pub insecure: bool,
}

/// The default preset: `N = 4096`, two 50-bit primes (`log2 Q ≈ 100`, below
/// the standard's 109 for 128-bit security), `T = 2^28`, up to 8192
/// contributors per aggregate, committees up to 16, `M = 2^26` decrypted
/// coefficients per key (about 8000 rounds of an 8192-coordinate model),
/// `κ = 4`. Primes below `2^50` take tfhe-ntt's AVX-512 IFMA path where the
/// CPU has it. At its limits (8192 contributors, 16-of-16): `σ_f ≈ 2^34.6`,
/// decryption failure `≪ 2^-64` (see `fedhe params`).
pub const DEFAULT: Preset = Preset {
    name: "default",
    summary: "N=4096, 2x50-bit primes, T=2^28, <=8192 contributors, committees <=16",
    degree: 4096,
    moduli: &[1_125_899_906_826_241, 1_125_899_906_629_633],
    plaintext_bits: 28,
    error_eta: 21,
    max_contributors: 8192,
    max_committee: 16,
    committee: Committee {
        threshold: 3,
        members: 5,
    },
    max_decrypted_coefficients: 1 << 26,
    flooding_kappa: 4.0,
    insecure: false,
};

/// The compact preset: `N = 4096`, one 55-bit prime (`log2 Q ≈ 55`, 256-bit
/// security by the standard's table), about half the bytes of
/// [`DEFAULT`]; `T = 2^18`, up to 256 contributors, committees up to 8,
/// `M = 2^22`. For small federations and bandwidth-bound clients. At its
/// limits (256 contributors, 8-of-8): `σ_f ≈ 2^29.7`, the decryption noise is
/// within `⌊Δ/2⌋` by about 28 standard deviations (failure `≈ 2^-560`).
pub const COMPACT: Preset = Preset {
    name: "compact",
    summary: "N=4096, 1x55-bit prime, T=2^18, <=256 contributors, committees <=8",
    degree: 4096,
    moduli: &[36_028_797_018_652_673],
    plaintext_bits: 18,
    error_eta: 21,
    max_contributors: 256,
    max_committee: 8,
    committee: Committee {
        threshold: 3,
        members: 5,
    },
    max_decrypted_coefficients: 1 << 22,
    flooding_kappa: 4.0,
    insecure: false,
};

/// INSECURE, tests only: `N = 64` with the default preset's primes, so unit
/// tests, fuzzers and state-machine tests run in microseconds. The validator
/// refuses it; only [`crate::HeContext::new_insecure`] (behind the
/// `insecure-test-params` feature) accepts it.
pub const TEST_INSECURE_64: Preset = Preset {
    name: "test-insecure-64",
    summary: "INSECURE, tests only: N=64, 2x50-bit primes, T=2^20",
    degree: 64,
    moduli: &[1_125_899_906_826_241, 1_125_899_906_629_633],
    plaintext_bits: 20,
    error_eta: 21,
    max_contributors: 1024,
    max_committee: 16,
    committee: Committee {
        threshold: 2,
        members: 3,
    },
    max_decrypted_coefficients: 1 << 20,
    flooding_kappa: 4.0,
    insecure: true,
};

/// The presets a user may select.
pub const PRESETS: [Preset; 2] = [DEFAULT, COMPACT];

impl Preset {
    /// Finds a selectable (secure) preset by name.
    pub fn by_name(name: &str) -> Result<Preset> {
        PRESETS
            .iter()
            .find(|p| p.name == name)
            .copied()
            .ok_or_else(|| Error::UnknownPreset {
                name: name.to_string(),
                known: PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The preset with its default committee, at its contributor limit.
    pub fn params(&self) -> Params {
        Params {
            preset: self.name.to_string(),
            degree: self.degree,
            moduli: self.moduli.to_vec(),
            plaintext_bits: self.plaintext_bits,
            error_eta: self.error_eta,
            max_contributors: self.max_contributors,
            committee: self.committee,
            max_decrypted_coefficients: self.max_decrypted_coefficients,
            flooding_kappa: self.flooding_kappa,
            max_rerandomizations: u32::from(self.committee.members),
            insecure: self.insecure,
        }
    }

    /// A deployment of the preset: `contributors` per aggregate and a
    /// committee, checked against the preset's limits.
    pub fn deployment(&self, contributors: u32, committee: Committee) -> Result<Params> {
        if contributors == 0 || contributors > self.max_contributors {
            return Err(Error::InvalidParams(format!(
                "{contributors} contributors per aggregate: preset {} allows 1..={}",
                self.name, self.max_contributors
            )));
        }
        if committee.members > self.max_committee {
            return Err(Error::InvalidParams(format!(
                "a committee of {} members: preset {} allows at most {}",
                committee.members, self.name, self.max_committee
            )));
        }
        let mut p = self.params();
        p.max_contributors = contributors;
        p.committee = committee;
        p.max_rerandomizations = u32::from(committee.members);
        Ok(p)
    }
}

/// A parameter set. Build it from a [`Preset`]; check it with
/// [`Params::validate`] (done by [`crate::HeContext::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Name of the preset it derives from.
    pub preset: String,
    /// Ring degree `N`.
    pub degree: usize,
    /// RNS primes `q_1, …, q_L`.
    pub moduli: Vec<u64>,
    /// `b` in `T = 2^b`.
    pub plaintext_bits: u32,
    /// `η` of the centred binomial error (`σ_e² = η/2`).
    pub error_eta: u32,
    /// `K`: most contributions in one aggregate.
    pub max_contributors: u32,
    /// The committee `(t, n)`.
    pub committee: Committee,
    /// `M`: coefficients the key may decrypt in its lifetime.
    pub max_decrypted_coefficients: u64,
    /// `κ` in `σ_f = κ·sqrt(M)·B_agg`.
    pub flooding_kappa: f64,
    /// `R`: re-randomisations of one aggregate (one per re-issued decryption).
    pub max_rerandomizations: u32,
    /// Insecure test-only set.
    pub insecure: bool,
}

/// The flooding argument's numbers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FloodingArgument {
    /// `κ`.
    pub kappa: f64,
    /// `M`.
    pub max_decrypted_coefficients: u64,
    /// The Rényi order `a` giving the best bound.
    pub renyi_order: u32,
    /// `log2 RD_a = a/(2κ²)·log2 e`.
    pub log2_renyi_divergence: f64,
    /// Security of the search problem that survives the argument, in bits.
    pub security_after_flooding_bits: f64,
}

/// Every margin of a parameter set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Analysis {
    /// `N`.
    pub degree: usize,
    /// `log2 Q`.
    pub log2_q: f64,
    /// Bits of each prime.
    pub moduli_bits: Vec<u32>,
    /// `b`.
    pub plaintext_bits: u32,
    /// HE-standard security level, `None` if below 128 bits.
    pub security_bits: Option<u32>,
    /// Largest `log2 Q` for 128-bit security at this `N`.
    pub max_log2_q_128: Option<u32>,
    /// `σ_e`.
    pub error_sigma: f64,
    /// `Var(v_fresh)`.
    pub fresh_noise_variance: f64,
    /// `Var(v_agg)` with `K + R` contributions.
    pub aggregate_noise_variance: f64,
    /// `B_agg`.
    pub aggregate_noise_bound: f64,
    /// `σ_f`.
    pub flooding_sigma: f64,
    /// `log2 σ_f`.
    pub log2_flooding_sigma: f64,
    /// The Rényi argument.
    pub flooding: FloodingArgument,
    /// Standard deviation of the noise of a combined decryption.
    pub decryption_noise_sigma: f64,
    /// Deterministic error from `Q mod T` and flooding rounding.
    pub deterministic_error: f64,
    /// `⌊Δ/2⌋`.
    pub half_delta: f64,
    /// Headroom `(⌊Δ/2⌋ − deterministic) / σ_dec`, in standard deviations.
    pub margin_sigmas: f64,
    /// `log2` of the per-coefficient decryption failure probability.
    pub log2_failure_probability: f64,
    /// Ciphertext bytes per encrypted value on the wire.
    pub bytes_per_value: f64,
}

/// Best Rényi order for the flooding argument at `κ` and base security `sec`.
fn flooding_argument(kappa: f64, m: u64, sec: f64) -> FloodingArgument {
    let log2e = std::f64::consts::LOG2_E;
    let (order, log2_rd, after) = (2u32..=512)
        .map(|a| {
            let af = f64::from(a);
            let log2_rd = af / (2.0 * kappa * kappa) * log2e;
            (a, log2_rd, (sec - log2_rd) * (af - 1.0) / af)
        })
        .fold(
            (2, 0.0, f64::MIN),
            |best, x| if x.2 > best.2 { x } else { best },
        );
    FloodingArgument {
        kappa,
        max_decrypted_coefficients: m,
        renyi_order: order,
        log2_renyi_divergence: log2_rd,
        security_after_flooding_bits: after,
    }
}

impl Params {
    /// `T = 2^b`.
    pub fn plaintext_modulus(&self) -> u64 {
        1u64 << self.plaintext_bits
    }

    /// `σ_e² = η/2`.
    pub fn error_variance(&self) -> f64 {
        f64::from(self.error_eta) / 2.0
    }

    /// `Var(v_fresh) = σ_e²·(1 + (4/3)·N·n)` (module docs).
    pub fn fresh_noise_variance(&self) -> f64 {
        let n = f64::from(self.committee.members);
        self.error_variance() * (1.0 + 4.0 / 3.0 * self.degree as f64 * n)
    }

    /// Structural checks that do not involve security margins.
    fn check_shape(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParams(m));
        if !(1..=32).contains(&self.plaintext_bits) {
            return bad(format!(
                "plaintext bits {}: expected 1..=32",
                self.plaintext_bits
            ));
        }
        if let Some(&q) = self.moduli.iter().find(|&&q| q <= self.plaintext_modulus()) {
            return bad(format!(
                "modulus {q} must exceed T = 2^{}",
                self.plaintext_bits
            ));
        }
        if !(1..=21).contains(&self.error_eta) {
            return bad(format!("error η {}: expected 1..=21", self.error_eta));
        }
        let Committee {
            threshold: t,
            members: n,
        } = self.committee;
        if t == 0 || t > n {
            return bad(format!("committee {t}-of-{n}: expected 1 <= t <= n"));
        }
        if self.max_contributors == 0 {
            return bad("max contributors must be at least 1".into());
        }
        if self.max_decrypted_coefficients == 0 {
            return bad("the key's decryption budget M must be at least 1".into());
        }
        if !(self.flooding_kappa.is_finite() && self.flooding_kappa >= 1.0) {
            return bad(format!(
                "flooding κ {}: expected a finite value >= 1",
                self.flooding_kappa
            ));
        }
        Ok(())
    }

    /// Computes every margin (no refusal; see [`Params::validate`]).
    pub fn analyze(&self) -> Result<Analysis> {
        self.check_shape()?;
        let ctx = fedhe_ring::RingContext::new(self.degree, &self.moduli)?;
        let log2_q = ctx.log2_modulus();
        let big_q = ctx.modulus_product();
        let t_mod = u128::from(self.plaintext_modulus());
        let delta = big_q / t_mod;
        let r = big_q % t_mod;
        let security = security_bits(self.degree, log2_q);
        let max128 = HE_STANDARD_TERNARY
            .iter()
            .find(|(n, _)| *n == self.degree)
            .map(|(_, b)| b[0]);
        let fresh = self.fresh_noise_variance();
        let contributions = f64::from(self.max_contributors) + f64::from(self.max_rerandomizations);
        let agg = contributions * fresh;
        let b_agg = tail_factor() * agg.sqrt();
        let m = self.max_decrypted_coefficients as f64;
        let sigma_f = self.flooding_kappa * m.sqrt() * b_agg;
        let t = f64::from(self.committee.threshold);
        let dec_var = agg + t * sigma_f * sigma_f;
        let det = (contributions + 1.0) * r as f64 + t;
        let half_delta = (delta / 2) as f64;
        let margin = half_delta - det;
        let log2_fail = if margin <= 0.0 {
            0.0
        } else {
            (1.0 - margin * margin / (2.0 * dec_var) * std::f64::consts::LOG2_E).min(0.0)
        };
        let bits: Vec<u32> = ctx.moduli().iter().map(|m| m.bits()).collect();
        let bytes_per_value = 2.0 * f64::from(bits.iter().sum::<u32>()) / 8.0;
        Ok(Analysis {
            degree: self.degree,
            log2_q,
            moduli_bits: bits,
            plaintext_bits: self.plaintext_bits,
            security_bits: security,
            max_log2_q_128: max128,
            error_sigma: self.error_variance().sqrt(),
            fresh_noise_variance: fresh,
            aggregate_noise_variance: agg,
            aggregate_noise_bound: b_agg,
            flooding_sigma: sigma_f,
            log2_flooding_sigma: sigma_f.log2(),
            flooding: flooding_argument(
                self.flooding_kappa,
                self.max_decrypted_coefficients,
                f64::from(security.unwrap_or(0)),
            ),
            decryption_noise_sigma: dec_var.sqrt(),
            deterministic_error: det,
            half_delta,
            margin_sigmas: margin / dec_var.sqrt(),
            log2_failure_probability: log2_fail,
            bytes_per_value,
        })
    }

    /// Refuses any set below 128-bit security, with per-coefficient
    /// decryption failure above `2^-64`, or with `σ_f > 2^50`; returns the
    /// analysis of an accepted set.
    pub fn validate(&self) -> Result<Analysis> {
        if self.insecure {
            return Err(Error::Unsafe(format!(
                "parameter set {} is marked insecure (tests only)",
                self.preset
            )));
        }
        let a = self.validate_margins()?;
        if a.security_bits.is_none() {
            return Err(Error::Unsafe(match a.max_log2_q_128 {
                Some(max) => format!(
                    "log2 Q = {:.1} exceeds {max}, the HomomorphicEncryption.org bound for 128-bit security at N = {}",
                    a.log2_q, self.degree
                ),
                None => format!(
                    "ring degree {} is not covered by the HomomorphicEncryption.org table",
                    self.degree
                ),
            }));
        }
        Ok(a)
    }

    /// The correctness and flooding checks alone (no security level).
    pub(crate) fn validate_margins(&self) -> Result<Analysis> {
        let a = self.analyze()?;
        if a.log2_failure_probability > -64.0 {
            return Err(Error::Unsafe(format!(
                "decryption failure probability 2^{:.1} per coefficient exceeds 2^-64 ({} contributors, committee {}-of-{})",
                a.log2_failure_probability,
                self.max_contributors,
                self.committee.threshold,
                self.committee.members
            )));
        }
        if a.flooding_sigma > fedhe_ring::sample::MAX_ROUNDED_GAUSSIAN_SIGMA {
            return Err(Error::Unsafe(format!(
                "flooding σ_f = 2^{:.1} exceeds 2^50, where an f64 Gaussian loses integer resolution",
                a.log2_flooding_sigma
            )));
        }
        Ok(a)
    }

    /// Canonical encoding hashed into the parameter digest.
    pub(crate) fn canonical_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&(self.degree as u32).to_le_bytes());
        v.push(self.moduli.len() as u8);
        for q in &self.moduli {
            v.extend_from_slice(&q.to_le_bytes());
        }
        v.push(self.plaintext_bits as u8);
        v.push(self.error_eta as u8);
        v.extend_from_slice(&self.max_contributors.to_le_bytes());
        v.extend_from_slice(&self.committee.threshold.to_le_bytes());
        v.extend_from_slice(&self.committee.members.to_le_bytes());
        v.extend_from_slice(&self.max_decrypted_coefficients.to_le_bytes());
        v.extend_from_slice(&self.flooding_kappa.to_bits().to_le_bytes());
        v.extend_from_slice(&self.max_rerandomizations.to_le_bytes());
        v.push(u8::from(self.insecure));
        v
    }

    /// BLAKE3 digest identifying the set on the wire.
    pub fn digest(&self) -> [u8; 32] {
        blake3::derive_key(
            "fedhe 2026-11 parameter set digest v1",
            &self.canonical_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_at_their_limits() {
        for p in PRESETS {
            let full = p
                .deployment(
                    p.max_contributors,
                    Committee {
                        threshold: p.max_committee,
                        members: p.max_committee,
                    },
                )
                .expect("within limits");
            let a = full.validate().expect("preset is valid at its limits");
            assert!(a.log2_failure_probability <= -64.0);
            assert!(a.flooding_sigma <= 2f64.powi(50));
            assert!(a.security_bits.unwrap_or(0) >= 128);
            assert!(
                a.flooding.security_after_flooding_bits > 118.0,
                "{:?}",
                a.flooding
            );
            p.params().validate().expect("default committee");
        }
        let d = DEFAULT.params().validate().expect("valid");
        assert_eq!(d.bytes_per_value, 25.0);
        assert_eq!(d.security_bits, Some(128));
        let c = COMPACT.params().validate().expect("valid");
        assert_eq!(c.bytes_per_value, 13.75);
        assert_eq!(c.security_bits, Some(256));
    }

    #[test]
    fn validator_refuses_unsafe_sets() {
        // Too large a modulus for N = 2048.
        let mut p = DEFAULT.params();
        p.degree = 2048;
        p.moduli = fedhe_ring::prime::ntt_primes(50, 2048, 2).expect("primes");
        assert!(matches!(p.validate(), Err(Error::Unsafe(m)) if m.contains("128-bit")));
        // Too many contributors for the plaintext space: failure probability.
        let mut p = COMPACT.params();
        p.max_contributors = 1 << 20;
        assert!(matches!(p.validate(), Err(Error::Unsafe(m)) if m.contains("failure")));
        // A decryption budget so large that flooding exceeds 2^50.
        let mut p = DEFAULT.params();
        p.max_decrypted_coefficients = 1 << 62;
        assert!(matches!(p.validate(), Err(Error::Unsafe(_))));
        // Shape errors.
        let mut p = DEFAULT.params();
        p.committee = Committee {
            threshold: 4,
            members: 3,
        };
        assert!(matches!(p.validate(), Err(Error::InvalidParams(_))));
        assert!(TEST_INSECURE_64.params().validate().is_err());
        assert!(DEFAULT.deployment(9000, DEFAULT.committee).is_err());
        assert!(Preset::by_name("test-insecure-64").is_err());
    }

    #[test]
    fn security_table() {
        assert_eq!(security_bits(4096, 100.0), Some(128));
        assert_eq!(security_bits(4096, 109.0), Some(128));
        assert_eq!(security_bits(4096, 109.5), None);
        assert_eq!(security_bits(4096, 55.0), Some(256));
        assert_eq!(security_bits(4096, 70.0), Some(192));
        assert_eq!(security_bits(4000, 10.0), None);
    }

    #[test]
    fn digest_depends_on_every_field() {
        let base = DEFAULT.params();
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(base.digest()));
        let mut v = base.clone();
        v.plaintext_bits = 27;
        assert!(seen.insert(v.digest()));
        let mut v = base.clone();
        v.committee.threshold = 2;
        assert!(seen.insert(v.digest()));
        let mut v = base.clone();
        v.max_contributors = 100;
        assert!(seen.insert(v.digest()));
        let mut v = base;
        v.insecure = true;
        assert!(seen.insert(v.digest()));
    }
}
