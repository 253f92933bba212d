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
//! `Bernoulli(exp(−γ))` (CKS Algorithm 1) needs `K`, the first failure of
//! `Bernoulli(γ/1), Bernoulli(γ/2), …`, with `P[K > k] = γ^k/k!`. Instead of
//! one lazy comparison per trial, `K` is read off a single uniform `U`
//! compared with the exact thresholds `γ^k/k!` (same law; the first 16 or 32
//! bits of `U` decide unless they equal a threshold's leading bits, in which
//! case the comparison continues exactly; `K` beyond the last threshold
//! continues with fresh trials). For `γ < 1` with a denominator below 2^100,
//! `exp(−γ) = exp(−g/2^8)·exp(−δ)` with `g/2^8 ≤ γ` a lower bound from a
//! fixed-point reciprocal (no division) and `δ = γ − g/2^8 ≥ 0` the exact
//! rational remainder: two independent exact Bernoullis, the second almost
//! always decided by 8 random bits. `exp(−1)` uses a 16-bit word.
//!
//! **These samplers are not constant time.** The number of loop iterations,
//! and therefore the running time, depends on the value drawn. They must not
//! run where an adversary can time individual samples of a secret; in fedhe
//! the noise is drawn on the client, whose timing the server does not see per
//! coordinate.
//!
//! [`DiscreteGaussian`] is the reference sampler and needs no table. The
//! DDGauss encoder, which draws millions of values with one `σ²`, uses the
//! exact inverse-CDF table sampler [`crate::cdt::DiscreteGaussianTable`]
//! instead when `σ² ≤ 2^30` (a few ns per value against about 100 ns at
//! σ = 6650) and falls back to [`DiscreteGaussian`] beyond.
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

/// Scales `t` below which the discrete Laplace uses
/// [`BitSource::discrete_laplace_small`].
const LAPLACE_SMALL_T: u128 = 1 << 20;

/// A denominator `b` of `exp(−a/b)` with a fixed-point reciprocal, used by
/// [`BitSource::exp_neg_split`] to bound `2^8·(a/b)` from below for
/// `a < b` without a division: with `b_hi ≥ b/2^shift` (`b_hi = b` when
/// `shift = 0`, else `⌊b/2^shift⌋ + 1`, so `b_hi < 2^41`) and
/// `inv = ⌊2^56/b_hi⌋`, `g = ⌊(a >> shift)·inv / 2^48⌋ ≤ 2^8·a/b`.
/// `inv = 0` (for `b ≥ 2^100`) disables the split.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpSplit {
    den: u128,
    shift: u32,
    inv: u64,
}

impl ExpSplit {
    fn new(den: u128) -> Self {
        let bits = 128 - den.leading_zeros();
        if den == 0 || bits > 100 {
            return Self {
                den,
                shift: 0,
                inv: 0,
            };
        }
        let shift = bits.saturating_sub(40);
        let b_hi = if shift == 0 { den } else { (den >> shift) + 1 };
        // 1 ≤ b_hi ≤ 2^40, so 2^16 ≤ inv ≤ 2^56.
        let inv = ((1u128 << 56) / b_hi) as u64;
        Self { den, shift, inv }
    }
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

    /// `k` uniform bits, `k ≤ 64`. When fewer than `k` bits are buffered
    /// they are discarded and a fresh word is drawn: unused random bits carry
    /// no information about later draws, so this costs randomness, never
    /// exactness, and keeps the common path to a mask and a shift.
    #[inline(always)]
    fn bits64(&mut self, k: u32) -> u64 {
        debug_assert!(k <= 64);
        if k == 64 {
            return self.rng.next_u64();
        }
        if self.left < k {
            self.buf = self.rng.next_u64();
            self.left = 64;
        }
        let v = self.buf & ((1u64 << k) - 1);
        self.buf >>= k;
        self.left -= k;
        v
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

    /// Uniform integer in `[0, n)`, `1 ≤ n < 2^64`, by rejection.
    #[inline(always)]
    fn uniform_below_u64(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let k = 64 - (n - 1).leading_zeros();
        loop {
            let v = self.bits64(k);
            if v < n {
                return v;
            }
        }
    }

    /// `#{j : U < θ_j}` for one uniform `U ∈ [0,1)` whose first `W` bits
    /// are `w`, and decreasing thresholds `θ_j = num[j] / (den[j]·2^W)`;
    /// the remaining bits of `U` are drawn lazily if needed.
    ///
    /// `U ∈ [w/2^W, (w+1)/2^W)` decides `U < θ_j` when `(w+1)·den ≤ num`
    /// (true) or `w·den ≥ num` (false). Otherwise (`w = ⌊2^W·θ_j⌋` and
    /// `2^W·θ_j` is not an integer, probability below `2^−W` per threshold)
    /// the comparison continues exactly on the remaining bits of `U` against
    /// `(num − w·den)/den`, like [`Self::bernoulli_lazy`].
    ///
    /// Requires `(2^W)·den[j] < 2^64` and consecutive thresholds more than
    /// `2^−W` apart, so that at most one of them is undecided by `w` (each
    /// caller states why its thresholds are).
    #[inline]
    fn count_below_w<const L: usize>(&mut self, w: u64, num: &[u64; L], den: &[u64; L]) -> u32 {
        let mut count = 0u32;
        for j in 0..L {
            let lo = w * den[j];
            let hi = lo + den[j];
            if hi <= num[j] {
                count += 1;
            } else if lo < num[j] {
                count +=
                    u32::from(self.bernoulli_lazy(u128::from(num[j] - lo), u128::from(den[j])));
            }
        }
        count
    }

    /// `Bernoulli(exp(−γ))`, `γ = a/b ∈ [0, 1]`, from the thresholds
    /// `θ_k = γ^k/k!`, `k = 1..=L`, in the form of [`Self::count_below_w`].
    ///
    /// CKS Algorithm 1 returns `[K odd]` where `K` is the first failure of
    /// `Bernoulli(γ/1), Bernoulli(γ/2), …`, so `P[K > k] = γ^k/k!`. The same
    /// law is obtained from a single uniform `U` as `K = min{k : U ≥ θ_k}`
    /// (the `θ_k` decrease): `K = 1 + #{k ≤ L : U < θ_k}` when that count is
    /// below `L`. If `U < θ_L`, i.e. `K > L`, the remaining factors are drawn
    /// as fresh trials `Bernoulli(γ/k)`, `k > L`, since
    /// `P[K > k | K > L] = Π_{j=L+1}^{k} γ/j`. One unpredictable branch per
    /// call instead of one per trial.
    #[inline(never)]
    fn exp_neg_levels_w<const L: usize>(
        &mut self,
        w: u64,
        num: &[u64; L],
        den: &[u64; L],
        a: u128,
        b: u128,
    ) -> bool {
        let c = self.count_below_w(w, num, den);
        if c < L as u32 {
            return c & 1 == 0;
        }
        self.exp_neg_continue(a, b, L as u128 + 1)
    }

    /// The CKS loop from `K = k0` on (all earlier trials succeeded).
    #[cold]
    #[inline(never)]
    fn exp_neg_continue(&mut self, a: u128, b: u128, k0: u128) -> bool {
        let mut k = k0;
        loop {
            let cont = match b.checked_mul(k) {
                Some(bk) => self.bernoulli(a, bk),
                None => self.bernoulli(a, b) && self.bernoulli(1, k),
            };
            if !cont {
                break;
            }
            k += 1;
        }
        k & 1 == 1
    }

    /// `Bernoulli(exp(−1))` from one 16-bit word `w`, by
    /// [`Self::exp_neg_levels_w`] with thresholds `1/k!`, `k ≤ 7` (at least
    /// `1/720 − 1/5040 > 2^−16` apart). `⌊2^16/2⌋ = 32768` and
    /// `⌊2^16/6⌋ = 10922`: for `w > 10922` the first two thresholds decide
    /// (`K = 2` if `U ≥ 1/2`, else `K = 3`); only `U < 1/6` needs the rest.
    #[inline(always)]
    pub(crate) fn exp_neg_one(&mut self) -> bool {
        let w = self.bits64(16);
        if w > 10922 {
            return w < 32768;
        }
        // ⌊2^16/k!⌋ for k = 3..=7; none of 2^16/k! is an integer, so
        // `w < F_k` decides U < 1/k! unless `w = F_k`.
        const F: [u64; 5] = [10922, 2730, 546, 91, 13];
        if w > 13 && !F.contains(&w) {
            // U < 1/2 and U ≥ 1/7!, so K = 3 + c with c = #{3 ≤ k ≤ 7 : U < 1/k!}.
            let c = F.iter().map(|&f| u32::from(w < f)).sum::<u32>();
            return c & 1 == 0;
        }
        const N: [u64; 7] = [1 << 16; 7];
        const D: [u64; 7] = [1, 2, 6, 24, 120, 720, 5040];
        self.exp_neg_levels_w::<7>(w, &N, &D, 1, 1)
    }

    /// `Bernoulli(exp(−g/2^8))` for `1 ≤ g < 2^8`: thresholds
    /// `θ_k = g^k/(2^{8k}·k!)`, `k ≤ 4`, against a 32-bit word `w`
    /// (`2^32·θ_k = n_k/k!` with `n_k = g^k·2^{32−8k}`). Since `γ ≥ 2^−8`,
    /// consecutive thresholds differ by at least `γ³/8 ≥ 2^−27 > 2^−32`.
    ///
    /// `U < θ_k` is certain iff `w < ⌊n_k/k!⌋`; `n_1/1` and `n_2/2` are
    /// integers, so only `w = ⌊n_3/6⌋` or `w = ⌊n_4/24⌋` may be undecided
    /// (then [`Self::exp_neg_levels_w`] resolves it exactly).
    #[inline(always)]
    fn exp_neg_dyadic8(&mut self, g: u64) -> bool {
        debug_assert!((1..256).contains(&g));
        let w = self.bits64(32);
        let g2 = g * g;
        let n3 = (g2 * g) << 8;
        let n4 = g2 * g2;
        let (f3, f4) = (n3 / 6, n4 / 24);
        if (w == f3) | (w == f4) {
            return self.exp_neg_levels_w::<4>(
                w,
                &[g << 24, g2 << 16, n3, n4],
                &[1, 2, 6, 24],
                u128::from(g),
                1 << 8,
            );
        }
        let c = u32::from(w < g << 24)
            + u32::from(w < g2 << 15)
            + u32::from(w < f3)
            + u32::from(w < f4);
        if c < 4 {
            return c & 1 == 0;
        }
        self.exp_neg_continue(u128::from(g), 1 << 8, 5)
    }

    /// [`Self::exp_neg_split`] for `a < b < 2^40` (`split.shift = 0`), in
    /// 64-bit arithmetic.
    #[inline(always)]
    fn exp_neg_frac_small(&mut self, a: u64, b: u64, inv: u64) -> bool {
        debug_assert!(a < b && b < 1 << 40);
        // a < b ≤ 2^40 and inv ≤ 2^56/b: a·inv < 2^56.
        let g = (a * inv) >> 48;
        if g != 0 && !self.exp_neg_dyadic8(g) {
            return false;
        }
        let rest = (a << 8) - g * b;
        if rest == 0 {
            return true;
        }
        let lo = self.bits64(8) * b;
        if lo >= rest {
            return true;
        }
        self.exp_neg_small_rest(u128::from(rest), u128::from(lo), u128::from(b))
    }

    /// `Bernoulli(exp(−a/b))` for any `a/b ≥ 0`, with `b = split.den`:
    /// `exp(−γ) = exp(−1)^⌊γ⌋ · exp(−g/2^8) · exp(−δ)` where
    /// `g/2^8 ≤ γ − ⌊γ⌋` is the lower bound of [`ExpSplit`] and
    /// `δ = (γ − ⌊γ⌋) − g/2^8 ≥ 0` (below `2^−7`) is the exact rational
    /// remainder `(a'·2^8 − g·b)/(b·2^8)`. The factors are independent
    /// Bernoullis, so the product is exact for any such `g`; the bound only
    /// makes `δ` small, so that its factor is almost always decided by the
    /// first 8 random bits.
    #[inline(always)]
    fn exp_neg_split(&mut self, a: u128, split: &ExpSplit) -> bool {
        let b = split.den;
        let mut a = a;
        while a >= b {
            if !self.exp_neg_one() {
                return false;
            }
            a -= b;
        }
        if a == 0 {
            return true;
        }
        if split.inv == 0 {
            return self.bernoulli_exp_neg_unit(a, b);
        }
        if split.shift == 0 && b < 1 << 40 {
            return self.exp_neg_frac_small(a as u64, b as u64, split.inv);
        }
        // a < b < 2^100: a >> shift < 2^40 and inv ≤ 2^56/b_hi, so the
        // product is below 2^56·(a >> shift)/b_hi < 2^57.
        let g = (((a >> split.shift) as u64) * split.inv) >> 48;
        if g != 0 && !self.exp_neg_dyadic8(g) {
            return false;
        }
        // δ = rest/(b·2^8) with rest = a·2^8 − g·b ≥ 0 (g ≤ 2^8·a/b).
        let rest = (a << 8) - u128::from(g) * b;
        if rest == 0 {
            return true;
        }
        // First trial of CKS for exp(−δ): U < δ, decided by 8 bits r unless
        // r = ⌊rest/b⌋: U ≥ r/2^8 ≥ δ when r·b ≥ rest (then K = 1: accept).
        let r = u128::from(self.bits64(8));
        let lo = r * b;
        if lo >= rest {
            return true;
        }
        self.exp_neg_small_rest(rest, lo, b)
    }

    /// The rest of [`Self::exp_neg_split`]'s `exp(−δ)` factor once the first
    /// 8 bits `r` of `U` satisfy `r·b < rest` (`lo = r·b`).
    #[cold]
    #[inline(never)]
    fn exp_neg_small_rest(&mut self, rest: u128, lo: u128, b: u128) -> bool {
        // U < δ ⟺ U' < (rest − r·b)/b for the remaining bits U'.
        let first = if lo + b <= rest {
            true
        } else {
            self.bernoulli_lazy(rest - lo, b)
        };
        if !first {
            return true;
        }
        self.exp_neg_continue(rest, b << 8, 2)
    }

    /// Discrete Laplace for `1 ≤ t < 2^20` (CKS Algorithm 2, `s = 1`) with
    /// the precomputed split of `t`: `Bernoulli(exp(−U/t))` and the
    /// geometric part by [`Self::exp_neg_one`].
    #[inline(always)]
    fn discrete_laplace_small(&mut self, t: u64, lap: &ExpSplit) -> (bool, u128) {
        loop {
            let u = self.uniform_below_u64(t);
            if !self.exp_neg_frac_small(u, t, lap.inv) {
                continue;
            }
            let mut v: u64 = 0;
            while self.exp_neg_one() {
                v += 1;
            }
            // t < 2^20: overflow needs ~2^44 consecutive successes.
            let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) else {
                continue;
            };
            let neg = self.bit();
            if neg && x == 0 {
                continue;
            }
            return (neg, u128::from(x));
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
        self.exp_neg_split(a, &ExpSplit::new(b))
    }

    /// `Bernoulli(exp(−N/b))` for a 256-bit numerator `N = hi·2^128 + lo`.
    fn bernoulli_exp_neg_wide(&mut self, (hi, lo): (u128, u128), b: u128) -> bool {
        let ((mut q_hi, mut q_lo), r) = divrem_wide(hi, lo, b);
        while q_hi != 0 || q_lo != 0 {
            if !self.exp_neg_one() {
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
        if t < LAPLACE_SMALL_T {
            let t = t as u64;
            return self.discrete_laplace_small(t, &ExpSplit::new(u128::from(t)));
        }
        loop {
            let u = self.uniform_below(t);
            if !self.bernoulli_exp_neg_unit(u, t) {
                continue;
            }
            let mut v: u128 = 0;
            while self.exp_neg_one() {
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
    /// `t` (`≤ 10^6 + 1 < 2^20`) with its fixed-point reciprocal.
    lap: ExpSplit,
    /// `2·p·q·t²` with its fixed-point reciprocal.
    split: ExpSplit,
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
        // σ² ≤ 10^12 gives t ≤ 10^6 + 1 < 2^20.
        if t >= LAPLACE_SMALL_T {
            return Err(Error::Overflow("t = ⌊σ⌋ + 1 for the discrete Gaussian"));
        }
        Ok(Self {
            sigma2,
            t,
            qt,
            lap: ExpSplit::new(t),
            split: ExpSplit::new(den),
        })
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
        let t = self.t as u64;
        loop {
            let (neg, y) = bits.discrete_laplace_small(t, &self.lap);
            // |Y| so large that |Y|·q·t overflows has acceptance probability
            // below exp(−2^100); rejecting it is not a measurable bias.
            let Some(yqt) = y.checked_mul(self.qt) else {
                continue;
            };
            let x = yqt.abs_diff(p);
            let accept = if x >> 64 == 0 {
                bits.exp_neg_split(x * x, &self.split)
            } else {
                bits.bernoulli_exp_neg_wide(mul_wide(x, x), self.split.den)
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
