//! Exact samplers for integer-valued DP noise.
//!
//! * [`DiscreteGaussian`]: `N_Z(0, σ²)`, `P[X = x] ∝ exp(−x²/(2σ²))`, by
//!   Algorithm 3 of Canonne, Kamath and Steinke, "The Discrete Gaussian for
//!   Differential Privacy" (NeurIPS 2020), for rational `σ² = p/q` in
//!   `[1/100, 10^12]`.
//! * [`discrete_laplace`]: `P[Y = y] ∝ exp(−|y|/t)` (CKS Algorithm 2, `s = 1`).
//! * [`bernoulli_exp_neg`]: `Bernoulli(exp(−γ))` for rational `γ ≥ 0`
//!   (CKS Algorithm 1 and its extension to `γ > 1`).
//! * [`Skellam`]: the difference of two independent `Poisson(σ²/2)`
//!   variables (Agarwal, Kairouz, Liu 2021), with an exact Poisson sampler.
//!
//! Every acceptance decision is exact integer arithmetic on `u128` (with a
//! 256-bit path where a square outgrows 128 bits): no floating point is used
//! anywhere in this module. A `Bernoulli(a/b)` is decided by comparing the
//! binary expansion of `a/b`, computed lazily by long division, with fresh
//! random bits; it consumes two random bits on average and has no modulo bias.
//!
//! **These samplers are not constant time.** The number of loop iterations,
//! and therefore the running time, depends on the value drawn. They must not
//! run where an adversary can time individual samples of a secret; in fedhe
//! the noise is drawn on the client, whose timing the server does not see per
//! coordinate.
//!
//! Randomness comes from any [`CryptoRng`]; production code uses
//! [`crate::noise_rng`] (ChaCha20 seeded from the operating system). Seeded
//! generators are for tests and reproducible statistical checks only.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, invalid};

/// A positive rational number `num/den` in lowest terms, with 128-bit parts.
///
/// Noise variances are rationals so that the value sampled and the value
/// accounted for are the same number (KLS 2021, Section A.1 step 6 of
/// `dp-reference.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rational {
    num: u128,
    den: u128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

impl Rational {
    /// `num/den`, reduced. `den` must be non-zero.
    pub fn new(num: u128, den: u128) -> Result<Self> {
        if den == 0 {
            return Err(invalid("den", "a non-zero denominator", den));
        }
        let g = gcd(num, den).max(1);
        Ok(Self {
            num: num / g,
            den: den / g,
        })
    }

    /// The dyadic rational `⌈x·2^frac_bits⌉ / 2^frac_bits`, i.e. `x` rounded
    /// **up** to a multiple of `2^−frac_bits`. Rounding up means the noise
    /// drawn is never smaller than the noise planned.
    pub fn from_f64_ceil(x: f64, frac_bits: u32) -> Result<Self> {
        if !(x.is_finite() && x > 0.0) {
            return Err(invalid("x", "a finite positive number", x));
        }
        if frac_bits > 60 {
            return Err(invalid("frac_bits", "at most 60", frac_bits));
        }
        let scaled = (x * (1u64 << frac_bits) as f64).ceil();
        if scaled >= 2f64.powi(100) {
            return Err(invalid("x", "below 2^100 / 2^frac_bits", x));
        }
        // Exact: `scaled` is an integer-valued f64 below 2^100.
        let num = scaled as u128;
        Self::new(num.max(1), 1u128 << frac_bits)
    }

    /// Numerator.
    pub fn num(&self) -> u128 {
        self.num
    }

    /// Denominator.
    pub fn den(&self) -> u128 {
        self.den
    }

    /// Nearest `f64` (for accounting and display only, never for sampling).
    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl core::fmt::Display for Rational {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// Random bits drawn 64 at a time from a [`CryptoRng`].
///
/// Buffering matters: the exact samplers consume a few bits per decision, so
/// drawing a whole `u64` per decision would make the generator the bottleneck.
pub(crate) struct BitSource<'a, R: ?Sized> {
    rng: &'a mut R,
    buf: u64,
    left: u32,
}

impl<R: ?Sized> core::fmt::Debug for BitSource<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print buffered randomness.
        f.debug_struct("BitSource").finish_non_exhaustive()
    }
}

const M64: u128 = u64::MAX as u128;

/// `a·b` as a 256-bit `(hi, lo)` pair.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & M64);
    let (b1, b0) = (b >> 64, b & M64);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & M64) + (p10 & M64);
    let lo = (p00 & M64) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `(hi·2^128 + lo) = q·d + r` by schoolbook binary long division; `d > 0`.
fn divrem_wide(hi: u128, lo: u128, d: u128) -> ((u128, u128), u128) {
    let (mut q_hi, mut q_lo, mut r) = (0u128, 0u128, 0u128);
    for i in (0..256u32).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let carry = r >> 127;
        r = (r << 1) | bit;
        // With a carry the true remainder is r + 2^128 ≥ d, and r + 2^128 − d < d
        // fits, so the wrapping subtraction yields it.
        if carry == 1 || r >= d {
            r = r.wrapping_sub(d);
            if i >= 128 {
                q_hi |= 1 << (i - 128);
            } else {
                q_lo |= 1 << i;
            }
        }
    }
    ((q_hi, q_lo), r)
}

impl<'a, R: CryptoRng + ?Sized> BitSource<'a, R> {
    pub(crate) fn new(rng: &'a mut R) -> Self {
        Self {
            rng,
            buf: 0,
            left: 0,
        }
    }

    #[inline(always)]
    fn bit(&mut self) -> bool {
        if self.left == 0 {
            self.buf = self.rng.next_u64();
            self.left = 64;
        }
        let b = self.buf & 1 == 1;
        self.buf >>= 1;
        self.left -= 1;
        b
    }

    /// `k` uniform bits, `k ≤ 64`.
    #[inline(always)]
    fn bits64(&mut self, k: u32) -> u64 {
        debug_assert!(k <= 64);
        if k == 0 {
            return 0;
        }
        if self.left >= k {
            let v = if k == 64 {
                self.buf
            } else {
                self.buf & ((1u64 << k) - 1)
            };
            self.buf = if k == 64 { 0 } else { self.buf >> k };
            self.left -= k;
            return v;
        }
        // The buffer keeps only its `left` valid bits, higher bits are zero.
        let have = self.left;
        let lo = self.buf;
        let need = k - have;
        let fresh = self.rng.next_u64();
        let hi = if need == 64 {
            fresh
        } else {
            fresh & ((1u64 << need) - 1)
        };
        self.buf = if need == 64 { 0 } else { fresh >> need };
        self.left = 64 - need;
        lo | (hi << have)
    }

    /// Uniform integer in `[0, n)`, `n ≥ 1`, by rejection on `⌈log₂ n⌉` bits.
    pub(crate) fn uniform_below(&mut self, n: u128) -> u128 {
        if n <= 1 {
            return 0;
        }
        let k = 128 - (n - 1).leading_zeros();
        loop {
            let v = if k <= 64 {
                u128::from(self.bits64(k))
            } else {
                u128::from(self.bits64(64)) | (u128::from(self.bits64(k - 64)) << 64)
            };
            if v < n {
                return v;
            }
        }
    }

    /// `Bernoulli(a/b)`, `b > 0`: compares a uniform `U ∈ [0,1)`, revealed
    /// lazily, with `a/b`.
    ///
    /// Fast path (`b < 2^56`): the first 8 bits `r` of `U` decide unless
    /// `r = ⌊2^8·a/b⌋` (probability 2^−8): `(r+1)·b ≤ 2^8·a` means `U < a/b`,
    /// `r·b ≥ 2^8·a` means `U ≥ a/b`, and otherwise the comparison continues
    /// exactly with the remainder `a' = 2^8·a − r·b`, since then
    /// `U < a/b ⟺ U' < a'/b` for the remaining bits `U'`. This costs one
    /// multiplication and one unpredictable branch instead of a bit loop.
    #[inline(always)]
    pub(crate) fn bernoulli(&mut self, a: u128, b: u128) -> bool {
        if a == 0 {
            return false;
        }
        if a >= b {
            return true;
        }
        if b < 1 << 56 {
            // a < b < 2^56, r < 2^8: every product below fits in u64.
            let (a, b) = (a as u64, b as u64);
            let r = self.bits64(8);
            let lhs = r * b;
            let target = a << 8;
            if lhs + b <= target {
                return true;
            }
            if lhs >= target {
                return false;
            }
            return self.bernoulli_lazy(u128::from(target - lhs), u128::from(b));
        }
        self.bernoulli_lazy(a, b)
    }

    /// `Bernoulli(a/b)` for `0 < a < b` by comparing `U` bit by bit with the
    /// binary expansion of `a/b` (long division); two bits on average.
    fn bernoulli_lazy(&mut self, a: u128, b: u128) -> bool {
        let mut a = a;
        loop {
            let (d, carry) = a.overflowing_add(a);
            let e = carry || d >= b;
            a = if e { d.wrapping_sub(b) } else { d };
            let r = self.bit();
            if r != e {
                // r = 0 < e = 1 means U < a/b.
                return e;
            }
            if a == 0 {
                // The remaining expansion of a/b is all zeros: U ≥ a/b.
                return false;
            }
        }
    }

    /// `Bernoulli(exp(−a/b))` for `0 ≤ a/b ≤ 1` (CKS Algorithm 1): count
    /// `K` with `Bernoulli(γ/K)` successes; `P[K odd] = e^{−γ}`.
    ///
    /// (Evaluating the first eight trials branch-free from one 64-bit word was
    /// tried and measured ~1.7× slower than this loop.)
    #[inline]
    pub(crate) fn bernoulli_exp_neg_unit(&mut self, a: u128, b: u128) -> bool {
        let mut k: u128 = 1;
        loop {
            let cont = match b.checked_mul(k) {
                Some(bk) => self.bernoulli(a, bk),
                // γ/K = (a/b)·(1/K): a product of independent Bernoullis.
                None => self.bernoulli(a, b) && self.bernoulli(1, k),
            };
            if !cont {
                break;
            }
            k += 1;
        }
        k & 1 == 1
    }

    /// `Bernoulli(exp(−a/b))` for any `a/b ≥ 0`: `exp(−γ) = exp(−1)^⌊γ⌋ ·
    /// exp(−(γ−⌊γ⌋))`, stopping at the first failure (expected O(1) draws).
    pub(crate) fn bernoulli_exp_neg(&mut self, a: u128, b: u128) -> bool {
        let mut a = a;
        // Subtraction instead of a u128 division: the loop exits early with
        // probability 1 − e^{−1} per step.
        while a > b {
            if !self.bernoulli_exp_neg_unit(1, 1) {
                return false;
            }
            a -= b;
        }
        self.bernoulli_exp_neg_unit(a, b)
    }

    /// `Bernoulli(exp(−N/b))` for a 256-bit numerator `N = hi·2^128 + lo`.
    fn bernoulli_exp_neg_wide(&mut self, (hi, lo): (u128, u128), b: u128) -> bool {
        let ((mut q_hi, mut q_lo), r) = divrem_wide(hi, lo, b);
        while q_hi != 0 || q_lo != 0 {
            if !self.bernoulli_exp_neg_unit(1, 1) {
                return false;
            }
            if q_lo == 0 {
                q_hi -= 1;
                q_lo = u128::MAX;
            } else {
                q_lo -= 1;
            }
        }
        self.bernoulli_exp_neg_unit(r, b)
    }

    /// Discrete Laplace with integer scale `t ≥ 1` (CKS Algorithm 2, `s = 1`),
    /// as (negative?, magnitude).
    pub(crate) fn discrete_laplace(&mut self, t: u128) -> (bool, u128) {
        loop {
            let u = self.uniform_below(t);
            if !self.bernoulli_exp_neg_unit(u, t) {
                continue;
            }
            let mut v: u128 = 0;
            while self.bernoulli_exp_neg_unit(1, 1) {
                v += 1;
            }
            // t·v + u overflows only after ~2^64 consecutive successes of a
            // Bernoulli(e^-1); restarting there is not a measurable bias.
            let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) else {
                continue;
            };
            let neg = self.bit();
            // Without this rejection the mass at 0 would be doubled.
            if neg && x == 0 {
                continue;
            }
            return (neg, x);
        }
    }
}

/// `Bernoulli(exp(−γ))` for a rational `γ ≥ 0`, exactly.
pub fn bernoulli_exp_neg<R: CryptoRng + ?Sized>(rng: &mut R, gamma: Rational) -> bool {
    BitSource::new(rng).bernoulli_exp_neg(gamma.num, gamma.den)
}

/// `Bernoulli(num/den)` exactly (`num/den ≥ 1` gives `true`).
pub fn bernoulli<R: CryptoRng + ?Sized>(rng: &mut R, p: Rational) -> bool {
    BitSource::new(rng).bernoulli(p.num, p.den)
}

/// Discrete Laplace `P[Y = y] ∝ exp(−|y|/t)` for an integer scale `t ≥ 1`.
pub fn discrete_laplace<R: CryptoRng + ?Sized>(rng: &mut R, t: u64) -> Result<i64> {
    if t == 0 {
        return Err(invalid("t", "a positive integer scale", t));
    }
    let mut bits = BitSource::new(rng);
    loop {
        let (neg, x) = bits.discrete_laplace(u128::from(t));
        // Magnitudes beyond i64 have probability below exp(−2^63/t).
        if let Ok(v) = i64::try_from(x) {
            return Ok(if neg { -v } else { v });
        }
    }
}

/// The exact discrete Gaussian `N_Z(0, σ²)` for rational `σ² = p/q`
/// (Canonne, Kamath, Steinke 2020, Algorithm 3):
///
/// `t = ⌊σ⌋ + 1`; repeat `Y ~ Lap_Z(t)` until
/// `Bernoulli(exp(−(|Y| − σ²/t)²/(2σ²)))` accepts. In integers the exponent is
/// `(|Y|·q·t − p)² / (2·p·q·t²)`.
///
/// Expected iterations are at most 1.93 (at σ = 0.5) and tend to 1.3155; the
/// running time depends on the sample (**not constant time**).
#[derive(Debug, Clone)]
pub struct DiscreteGaussian {
    sigma2: Rational,
    t: u128,
    qt: u128,
    den: u128,
}

impl DiscreteGaussian {
    /// Smallest supported variance, 1/100.
    pub const MIN_SIGMA2: (u128, u128) = (1, 100);
    /// Largest supported variance, 10^12.
    pub const MAX_SIGMA2: u128 = 1_000_000_000_000;

    /// A sampler for `N_Z(0, σ²)`, `σ² ∈ [1/100, 10^12]`. Fails with
    /// [`Error::Overflow`] when `2·p·q·t²` does not fit in 128 bits; use a
    /// smaller denominator (for example 2^20).
    pub fn new(sigma2: Rational) -> Result<Self> {
        let (p, q) = (sigma2.num, sigma2.den);
        let too_small = p.checked_mul(100).is_none_or(|p100| p100 < q);
        let too_large = Self::MAX_SIGMA2.checked_mul(q).is_some_and(|m| p > m);
        if too_small || too_large || p == 0 {
            return Err(invalid(
                "sigma2",
                "a rational variance between 1/100 and 10^12",
                sigma2,
            ));
        }
        let t = (p / q).isqrt() + 1;
        let qt = q
            .checked_mul(t)
            .ok_or(Error::Overflow("q·t for the discrete Gaussian"))?;
        let den = p
            .checked_mul(2)
            .and_then(|v| v.checked_mul(q))
            .and_then(|v| v.checked_mul(t))
            .and_then(|v| v.checked_mul(t))
            .ok_or(Error::Overflow(
                "2·p·q·t² for the discrete Gaussian; use a smaller denominator for σ²",
            ))?;
        Ok(Self { sigma2, t, qt, den })
    }

    /// The variance `σ²` this sampler draws from.
    pub fn sigma2(&self) -> Rational {
        self.sigma2
    }

    /// One sample.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        self.sample_bits(&mut BitSource::new(rng))
    }

    /// Fills `out` with independent samples (cheaper than repeated
    /// [`Self::sample`]: random bits are not discarded between samples).
    pub fn fill<R: CryptoRng + ?Sized>(&self, rng: &mut R, out: &mut [i64]) {
        let mut bits = BitSource::new(rng);
        for o in out {
            *o = self.sample_bits(&mut bits);
        }
    }

    #[inline]
    pub(crate) fn sample_bits<R: CryptoRng + ?Sized>(&self, bits: &mut BitSource<'_, R>) -> i64 {
        let p = self.sigma2.num;
        loop {
            let (neg, y) = bits.discrete_laplace(self.t);
            // |Y| so large that |Y|·q·t overflows has acceptance probability
            // below exp(−2^100); rejecting it is not a measurable bias.
            let Some(yqt) = y.checked_mul(self.qt) else {
                continue;
            };
            let x = yqt.abs_diff(p);
            let accept = if x >> 64 == 0 {
                bits.bernoulli_exp_neg(x * x, self.den)
            } else {
                bits.bernoulli_exp_neg_wide(mul_wide(x, x), self.den)
            };
            if accept && let Ok(v) = i64::try_from(y) {
                return if neg { -v } else { v };
            }
        }
    }
}

/// Exact Poisson(λ) for rational `λ = a/b`.
///
/// `λ` is split into `m = ⌈2λ⌉` equal parts `γ = λ/m ≤ 1/2`, and each part is
/// drawn by rejection: `Y` = number of successes of `Bernoulli(γ/1),
/// Bernoulli(γ/2), …` before the first failure has `P[Y ≥ k] = γ^k/k!`;
/// accepting `Y = k` with probability `(1−γ)(k+1)/(k+1−γ)` leaves
/// `P[k] ∝ γ^k/k!`, i.e. Poisson(γ), with acceptance rate `e^γ(1−γ) ≥ 0.82`.
///
/// The cost is `O(λ)`: this sampler is exact but only practical for
/// `λ ≤ 2^24` or so.
fn poisson_bits<R: CryptoRng + ?Sized>(
    bits: &mut BitSource<'_, R>,
    a: u128,
    b: u128,
) -> Result<u64> {
    if a == 0 {
        return Ok(0);
    }
    // m = ⌈2a/b⌉
    let two_a = a.checked_mul(2).ok_or(Error::Overflow("2λ for Poisson"))?;
    let m = two_a.div_ceil(b).max(1);
    let bm = b
        .checked_mul(m)
        .ok_or(Error::Overflow("λ denominator for Poisson"))?;
    let mut total: u64 = 0;
    let mut part = 0u128;
    while part < m {
        let k = loop {
            let mut k: u128 = 0;
            loop {
                let cont = match bm.checked_mul(k + 1) {
                    Some(d) => bits.bernoulli(a, d),
                    None => bits.bernoulli(a, bm) && bits.bernoulli(1, k + 1),
                };
                if !cont {
                    break;
                }
                k += 1;
            }
            let num = (bm - a)
                .checked_mul(k + 1)
                .ok_or(Error::Overflow("Poisson acceptance numerator"))?;
            let den = (k + 1)
                .checked_mul(bm)
                .map(|v| v - a)
                .ok_or(Error::Overflow("Poisson acceptance denominator"))?;
            if bits.bernoulli(num, den) {
                break k;
            }
        };
        let k = u64::try_from(k).map_err(|_| Error::Overflow("Poisson sample"))?;
        total = total.checked_add(k).ok_or(Error::Overflow("Poisson sum"))?;
        part += 1;
    }
    Ok(total)
}

/// Exact Poisson(λ) for rational `λ ≤ 2^32` (cost `O(λ)`, see the module docs).
pub fn poisson<R: CryptoRng + ?Sized>(rng: &mut R, lambda: Rational) -> Result<u64> {
    if lambda.to_f64() > Skellam::MAX_LAMBDA {
        return Err(invalid(
            "lambda",
            "at most 2^32 (the exact sampler is O(λ))",
            lambda,
        ));
    }
    poisson_bits(&mut BitSource::new(rng), lambda.num, lambda.den)
}

/// Skellam noise with variance `σ²`: `P₁ − P₂`, `P₁, P₂ ~ Poisson(σ²/2)`
/// independent (Agarwal, Kairouz, Liu, NeurIPS 2021). Sums of Skellam
/// variables are Skellam, so the distributed mechanism has no τ term.
///
/// The Poisson sampler is exact with cost `O(σ²)` per sample, so `σ²` is
/// limited to `2^33` (σ ≲ 92 000); at σ = 1000 one sample takes milliseconds.
#[derive(Debug, Clone)]
pub struct Skellam {
    sigma2: Rational,
    lambda: Rational,
}

impl Skellam {
    const MAX_LAMBDA: f64 = 4_294_967_296.0;

    /// A sampler for Skellam noise of variance `σ² = p/q`.
    pub fn new(sigma2: Rational) -> Result<Self> {
        let lambda = Rational::new(
            sigma2.num,
            sigma2
                .den
                .checked_mul(2)
                .ok_or(Error::Overflow("Skellam λ = σ²/2"))?,
        )?;
        if sigma2.num == 0 || lambda.to_f64() > Self::MAX_LAMBDA {
            return Err(invalid(
                "sigma2",
                "a positive variance of at most 2^33 (exact Poisson sampling is O(σ²))",
                sigma2,
            ));
        }
        Ok(Self { sigma2, lambda })
    }

    /// The variance `σ²`.
    pub fn sigma2(&self) -> Rational {
        self.sigma2
    }

    /// One sample.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        let mut bits = BitSource::new(rng);
        let a = poisson_bits(&mut bits, self.lambda.num, self.lambda.den)?;
        let b = poisson_bits(&mut bits, self.lambda.num, self.lambda.den)?;
        let a = i64::try_from(a).map_err(|_| Error::Overflow("Skellam sample"))?;
        let b = i64::try_from(b).map_err(|_| Error::Overflow("Skellam sample"))?;
        Ok(a - b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_arithmetic_matches_u128_when_small() {
        let (hi, lo) = mul_wide(u128::MAX, u128::MAX);
        // (2^128−1)² = 2^256 − 2^129 + 1
        assert_eq!(lo, 1);
        assert_eq!(hi, u128::MAX - 1);
        let ((qh, ql), r) = divrem_wide(hi, lo, u128::MAX);
        assert_eq!((qh, ql, r), (0, u128::MAX, 0));
        let ((qh, ql), r) = divrem_wide(0, 1000, 7);
        assert_eq!((qh, ql, r), (0, 142, 6));
        let ((qh, ql), r) = divrem_wide(5, 3, 1 << 127);
        assert_eq!((qh, ql, r), (0, 10, 3));
    }

    #[test]
    fn rational_reduces_and_rounds_up() -> Result<()> {
        let r = Rational::new(6, 4)?;
        assert_eq!((r.num(), r.den()), (3, 2));
        let r = Rational::from_f64_ceil(0.1, 20)?;
        assert!(r.to_f64() >= 0.1 && r.to_f64() < 0.1 + 1e-6);
        assert!(Rational::new(1, 0).is_err());
        assert!(Rational::from_f64_ceil(f64::NAN, 20).is_err());
        Ok(())
    }

    #[test]
    fn discrete_gaussian_range_checks() -> Result<()> {
        assert!(DiscreteGaussian::new(Rational::new(1, 101)?).is_err());
        assert!(DiscreteGaussian::new(Rational::new(1, 100)?).is_ok());
        assert!(DiscreteGaussian::new(Rational::new(1_000_000_000_001, 1)?).is_err());
        assert!(DiscreteGaussian::new(Rational::new(1_000_000_000_000 << 20, 1 << 20)?).is_ok());
        Ok(())
    }
}
