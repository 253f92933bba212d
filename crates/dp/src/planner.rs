//! Planning a DDGauss deployment: from the clients per round, the dimension,
//! the clip norm, the modulus bits and a target `(ε, δ)` over `T` rounds at
//! sampling rate `q`, derive the granularity γ and the local noise σ, and
//! bound the probability that the modular sum wraps around.
//!
//! Method (after `ddgauss_params` in the authors' `accounting_utils.py`, with
//! the modulus condition made explicit):
//!
//! * **Noise.** `σ(γ)` is the smallest local std for which
//!   [`crate::accountant::ddgauss_epsilon`] with `n_acc = min_clients −
//!   colluders` contributors meets the target (bisection, `σ/γ ≥ 1/2`). The
//!   noise is calibrated to the minimum the committee will decrypt for
//!   (`dp-reference.md` A.5), so any larger actual turnout only adds noise.
//! * **Wrap-around.** A coordinate of the aggregate (in scaled units) is
//!   sub-Gaussian with variance proxy
//!   `v = (n·c)²/(d·γ²) + n/4 + n·σ²/γ²`: the rotated signal is a Rademacher
//!   sum with coefficient norm `‖Σx_i‖/√d ≤ n·c/√d` (Hoeffding), the rounding
//!   error of each client is bounded in an interval of length 1, and
//!   `N_Z(0, s²)` is `s²`-sub-Gaussian (CKS 2020, Corollary 9). The union
//!   bound over the `d` coordinates gives
//!   `P[wrap] ≤ 2d·exp(−2^{2(b−1)}/(2v))`, reported as `wrap_probability`.
//!   The planner picks `k = sqrt(2·ln(4d/p_max))` standard deviations and
//!   the smallest γ with `2^{b−1} ≥ k·sqrt(v)`, iterating `γ ↔ σ(γ)` to a
//!   fixed point. `n` here is `clients`, the most that may contribute.
//!   Conditional rounding can make the rounding error slightly non-centred;
//!   that is not in the bound.
//! * **Refusals.** `bits > max_bits` (the HE plaintext modulus), a wrap
//!   probability above `max_wrap_probability` (default 1e-6), or a modulus too
//!   small for the rounding noise alone.
//! * The variance actually sampled, `σ²/γ²`, is rounded **up** to a rational
//!   and the reported σ and ε are recomputed from that rational.

use crate::accountant::{DdgRound, ddgauss_epsilon};
use crate::ddgauss::{DdgConfig, MAX_BITS};
use crate::error::{Error, Result, invalid};
use crate::sampler::Rational;

/// Google's default conditional-rounding parameter, `β = e^{−1/2}`.
pub const DEFAULT_BETA: f64 = 0.606_530_659_712_633_4;

/// Default refusal threshold on the wrap-around probability of a round.
pub const DEFAULT_MAX_WRAP_PROBABILITY: f64 = 1e-6;

/// Largest `σ/γ` the planner will choose: `2^15`, so that the per-client
/// noise `σ²/γ² ≤ 2^30` scaled units is drawn by the exact table sampler
/// ([`crate::cdt`], about 20 ns per value) rather than by CKS (about
/// 100 ns). Where the modulus would allow a finer γ, γ is coarsened; the
/// cost is nil: the rounding error's variance (at most 1/4 scaled unit² per
/// coordinate) is then below `2^−32` of the noise's.
pub const MAX_SIGMA_OVER_GAMMA: f64 = 32_768.0;

/// What the planner needs to know about the deployment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanInput {
    /// Clients expected per round (the most whose vectors can be in the sum).
    pub clients: u64,
    /// Fewest contributors the committee will decrypt for.
    pub min_clients: u64,
    /// Clients assumed to collude with the server (their noise does not count).
    pub colluders: u64,
    /// Vector dimension before padding.
    pub dim: usize,
    /// L2 clip norm `c`.
    pub clip: f64,
    /// Modulus bits `b` (sum computed mod `2^b`).
    pub bits: u32,
    /// Target ε over all rounds.
    pub epsilon: f64,
    /// Target δ.
    pub delta: f64,
    /// Number of rounds `T`.
    pub rounds: u64,
    /// Poisson sampling rate `q` of clients per round.
    pub sampling_rate: f64,
    /// Conditional-rounding parameter β.
    pub beta: f64,
    /// Refuse plans whose wrap probability exceeds this.
    pub max_wrap_probability: f64,
    /// Bits of the HE plaintext modulus; plans with `bits > max_bits` are refused.
    pub max_bits: u32,
}

impl PlanInput {
    /// Input with `colluders = 0`, `β = e^{−1/2}` and a wrap threshold of 1e-6.
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the CLI flags one to one"
    )]
    pub fn new(
        clients: u64,
        min_clients: u64,
        dim: usize,
        clip: f64,
        bits: u32,
        epsilon: f64,
        delta: f64,
        rounds: u64,
        sampling_rate: f64,
        max_bits: u32,
    ) -> Self {
        Self {
            clients,
            min_clients,
            colluders: 0,
            dim,
            clip,
            bits,
            epsilon,
            delta,
            rounds,
            sampling_rate,
            beta: DEFAULT_BETA,
            max_wrap_probability: DEFAULT_MAX_WRAP_PROBABILITY,
            max_bits,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.min_clients == 0 || self.min_clients > self.clients {
            return Err(invalid(
                "min_clients",
                "between 1 and clients",
                self.min_clients,
            ));
        }
        if self.colluders >= self.min_clients {
            return Err(invalid(
                "colluders",
                "fewer than min_clients",
                self.colluders,
            ));
        }
        if self.dim == 0 || self.dim > 1 << 30 {
            return Err(invalid("dim", "between 1 and 2^30", self.dim));
        }
        if !(self.clip > 0.0 && self.clip.is_finite()) {
            return Err(invalid("clip", "a finite number > 0", self.clip));
        }
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(invalid("epsilon", "a finite number > 0", self.epsilon));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(invalid("delta", "a number in (0, 1)", self.delta));
        }
        if self.rounds == 0 {
            return Err(invalid("rounds", "at least 1", self.rounds));
        }
        if !(self.sampling_rate > 0.0 && self.sampling_rate <= 1.0) {
            return Err(invalid(
                "sampling_rate",
                "a number in (0, 1]",
                self.sampling_rate,
            ));
        }
        if !(0.0..1.0).contains(&self.beta) {
            return Err(invalid("beta", "a number in [0, 1)", self.beta));
        }
        if !(self.max_wrap_probability > 0.0 && self.max_wrap_probability < 1.0) {
            return Err(invalid(
                "max_wrap_probability",
                "a number in (0, 1)",
                self.max_wrap_probability,
            ));
        }
        if !(2..=MAX_BITS).contains(&self.bits) {
            return Err(invalid("bits", "between 2 and 62", self.bits));
        }
        Ok(())
    }
}

/// A DDGauss plan: everything clients and server need for a round, and what
/// it costs in privacy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// The input the plan was made from.
    pub input: PlanInput,
    /// Padded dimension.
    pub padded_dim: usize,
    /// Granularity γ.
    pub gamma: f64,
    /// Per-client noise variance in scaled units, `σ²/γ²`, as sampled.
    pub noise_sigma2: Rational,
    /// Per-client noise std in original units, `γ·sqrt(noise_sigma2)`.
    pub local_sigma: f64,
    /// Central noise multiplier `σ·√n_acc/c`.
    pub noise_multiplier: f64,
    /// Contributors used for accounting (`min_clients − colluders`).
    pub accounted_contributors: u64,
    /// ε over all rounds at δ with `accounted_contributors`.
    pub epsilon: f64,
    /// The optimal RDP order for that ε.
    pub order: f64,
    /// L2 sensitivity after rounding, original units.
    pub l2_sensitivity: f64,
    /// The τ term with `accounted_contributors`.
    pub tau: f64,
    /// Union bound on the probability that any coordinate of a round's sum wraps.
    pub wrap_probability: f64,
    /// Sub-Gaussian standard deviations the half-range covers.
    pub k_stddevs: f64,
}

impl Plan {
    /// The encoder configuration of this plan.
    pub fn config(&self) -> Result<DdgConfig> {
        DdgConfig::new(
            self.input.dim,
            self.input.clip,
            self.gamma,
            self.input.beta,
            self.input.bits,
            Some(self.noise_sigma2),
        )
    }

    /// The accounting record of one round in which `contributors` clients'
    /// noise is in the decrypted sum (the plan's colluders are subtracted).
    /// Fails if no honest contributor would remain.
    pub fn round(&self, contributors: u64) -> Result<DdgRound> {
        if contributors <= self.input.colluders {
            return Err(invalid(
                "contributors",
                "more decrypted contributors than assumed colluders",
                contributors,
            ));
        }
        Ok(DdgRound {
            gamma: self.gamma,
            local_sigma: self.local_sigma,
            contributors: contributors - self.input.colluders,
            clip: self.input.clip,
            beta: self.input.beta,
            dim: self.padded_dim,
            sampling_rate: self.input.sampling_rate,
        })
    }
}

fn round_for(input: &PlanInput, d: usize, n_acc: u64, gamma: f64, sigma: f64) -> DdgRound {
    DdgRound {
        gamma,
        local_sigma: sigma,
        contributors: n_acc,
        clip: input.clip,
        beta: input.beta,
        dim: d,
        sampling_rate: input.sampling_rate,
    }
}

/// Smallest local σ (≥ γ/2) meeting the target ε at granularity γ.
fn sigma_for(input: &PlanInput, d: usize, n_acc: u64, gamma: f64) -> Result<f64> {
    let eps = |s: f64| {
        ddgauss_epsilon(
            &round_for(input, d, n_acc, gamma, s),
            input.rounds,
            input.delta,
        )
        .map(|e| e.0)
    };
    let lo0 = gamma / 2.0;
    if eps(lo0)? <= input.epsilon {
        return Ok(lo0);
    }
    let (mut lo, mut hi) = (lo0, lo0.max(input.clip * 1e-3));
    while eps(hi)? > input.epsilon {
        lo = hi;
        hi *= 2.0;
        if hi > input.clip * 1e12 {
            return Err(Error::PlanRefused(format!(
                "no noise level reaches epsilon {} (rounding inflation too large at gamma {gamma:e}; add bits)",
                input.epsilon
            )));
        }
    }
    while hi - lo > 1e-10 * hi {
        let mid = 0.5 * (lo + hi);
        if eps(mid)? > input.epsilon {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Sub-Gaussian variance proxy of one aggregate coordinate, scaled units.
fn aggregate_variance(input: &PlanInput, d: usize, gamma: f64, noise_sigma2_scaled: f64) -> f64 {
    let n = input.clients as f64;
    let signal = n * input.clip / gamma;
    signal * signal / d as f64 + n / 4.0 + n * noise_sigma2_scaled
}

/// `min(1, 2d·exp(−h²/(2v)))` with `h = 2^{b−1}`.
fn wrap_probability(d: usize, bits: u32, v: f64) -> f64 {
    let h = 2f64.powi(bits as i32 - 1);
    (2.0 * d as f64 * (-(h * h) / (2.0 * v)).exp()).min(1.0)
}

/// Plans a DDGauss deployment (see the module docs), or refuses it.
pub fn plan_ddgauss(input: &PlanInput) -> Result<Plan> {
    input.validate()?;
    if input.bits > input.max_bits {
        return Err(Error::PlanRefused(format!(
            "bits {} exceed the HE plaintext modulus ({} bits)",
            input.bits, input.max_bits
        )));
    }
    let d = input.dim.next_power_of_two();
    let n = input.clients as f64;
    let n_acc = input.min_clients - input.colluders;
    // Aim at half the allowed probability so that rounding σ²/γ² up cannot
    // push the final bound over it.
    let k = (2.0 * (4.0 * d as f64 / input.max_wrap_probability).ln()).sqrt();
    let h = 2f64.powi(input.bits as i32 - 1);
    let room = h * h - k * k * n / 4.0;
    if room <= 0.0 {
        return Err(Error::PlanRefused(format!(
            "{} bits cannot hold the rounding noise of {} clients at {k:.2} standard deviations",
            input.bits, input.clients
        )));
    }
    let gamma_for = |sigma: f64| {
        let g = k * ((n * input.clip).powi(2) / d as f64 + n * sigma * sigma).sqrt() / room.sqrt();
        // A hair above σ/10^6, so that squaring and rounding σ²/γ² up to
        // the sampler's denominator cannot land above 10^12.
        g.max(sigma / MAX_SIGMA_OVER_GAMMA * (1.0 + 1e-9))
    };
    // Fixed point γ = gamma_for(σ(γ)), from below: both maps are increasing.
    let mut gamma = gamma_for(0.0);
    let mut sigma = sigma_for(input, d, n_acc, gamma)?;
    let mut converged = false;
    for _ in 0..60 {
        let g = gamma_for(sigma);
        let s = sigma_for(input, d, n_acc, g)?;
        let done = (g - gamma).abs() <= 1e-9 * gamma;
        gamma = g;
        sigma = s;
        if done {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(Error::PlanRefused(
            "granularity and noise did not converge".into(),
        ));
    }
    let scaled = (sigma / gamma).powi(2);
    // About 20 significant bits for σ²/γ², with a small denominator so that
    // the sampler's integers stay small.
    let frac_bits = (20 - scaled.log2().floor() as i32).clamp(0, 30) as u32;
    let noise_sigma2 = Rational::from_f64_ceil(scaled, frac_bits)?;
    if noise_sigma2.to_f64() > 1e12 {
        return Err(Error::PlanRefused(format!(
            "noise σ²/γ² = {scaled:e} exceeds the sampler's 10^12"
        )));
    }
    let local_sigma = gamma * noise_sigma2.to_f64().sqrt();
    let round = round_for(input, d, n_acc, gamma, local_sigma);
    let (epsilon, order) = ddgauss_epsilon(&round, input.rounds, input.delta)?;
    let v = aggregate_variance(input, d, gamma, noise_sigma2.to_f64());
    let p_wrap = wrap_probability(d, input.bits, v);
    if p_wrap > input.max_wrap_probability {
        return Err(Error::PlanRefused(format!(
            "wrap-around probability {p_wrap:e} exceeds {:e}",
            input.max_wrap_probability
        )));
    }
    Ok(Plan {
        input: *input,
        padded_dim: d,
        gamma,
        noise_sigma2,
        local_sigma,
        noise_multiplier: local_sigma * (n_acc as f64).sqrt() / input.clip,
        accounted_contributors: n_acc,
        epsilon,
        order,
        l2_sensitivity: round.l2_sensitivity(),
        tau: round.tau(),
        wrap_probability: p_wrap,
        k_stddevs: h / v.sqrt(),
    })
}

/// The wrap probability bound of an arbitrary configuration with `clients`
/// contributors (for checking a hand-made configuration).
pub fn wrap_probability_of(config: &DdgConfig, clients: u64) -> f64 {
    let n = clients as f64;
    let d = config.padded_dim();
    let signal = n * config.clip() / config.gamma();
    let s2 = config.noise_sigma2().map_or(0.0, |r| r.to_f64());
    wrap_probability(
        d,
        config.bits(),
        signal * signal / d as f64 + n / 4.0 + n * s2,
    )
}
