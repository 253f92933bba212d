//! An exact table sampler (inverse CDF, "CDT") for the discrete Gaussian
//! `N_Z(0, σ²)` with a fixed rational `σ² = p/q`, for the DDGauss encoder,
//! which draws millions of values with one `σ²`.
//!
//! # Algorithm
//!
//! `|X|` is drawn by inversion and the sign from one random bit (only for
//! `|X| > 0`): `P[|X| = 0] = e_0/S`, `P[|X| = m] = 2·e_m/S` for `m ≥ 1`, with
//! `e_m = exp(−m²/(2σ²)) = r^{m²}`, `r = exp(−q/(2p))` and
//! `S = Σ_{x∈Z} e_x`. With `C(j) = e_0 + 2·Σ_{i=1}^{j} e_i` and
//! `F(j) = C(j)/S = P[|X| ≤ j]`, a uniform `U ∈ [0, 1)` gives
//! `|X| = #{j ≥ 0 : F(j) ≤ U}`, which has exactly the law above.
//!
//! **Interval arithmetic.** Every real number involved is carried as an
//! interval `[lo, hi]` of fixed-point integers with `P` fractional bits,
//! computed with *directed rounding*: lower bounds are rounded down and
//! upper bounds up at every operation, so each interval contains the true
//! value whatever the accumulated error. `r` comes from the alternating
//! Taylor series of `exp(−x)` (for `0 ≤ x ≤ 1` a partial sum ending with a
//! negative term is below `exp(−x)`, one ending with a positive term above),
//! with `x = q/(2p·2^k) ≤ 1/2` followed by `k` squarings. Then
//! `e_{m+1} = e_m·r^{2m+1}` and `r^{2m+3} = r^{2m+1}·r²` (both as intervals),
//! the partial sums `C(j)`, and `S ∈ [C(J), C(J) + 2·T]` where `T` bounds the
//! tail beyond a cut `J` geometrically: `Σ_{i>J} e_i ≤ e_J/(1 − r^{2J+1})`
//! (the ratios `e_{i+1}/e_i` decrease), with `1/(1 − r^{2J+1}) ≤ 2^s` read off
//! the bit length of `1 − r^{2J+1}` (no division). Nothing here is a
//! floating-point number and no error analysis is relied on: only the
//! inclusion property of directed rounding.
//!
//! **Fast path.** At construction, with `P = 128` (the `C(j)` bounds are
//! then rounded outwards to 100 fractional bits and divided by `S` through
//! rounded-down and rounded-up reciprocals), every boundary `F(j)`, `j < N`,
//! gets a 63-bit key `key_j ≤ 2^63·F(j)` (a rigorous lower bound), and
//! `δ = max_j (⌈2^63·F_hi(j)⌉ − key_j)` is recorded (δ = 1 in practice);
//! `N` stops where `1 − F(j) < 2^−60`. A draw takes one 64-bit
//! word: bit 0 is the sign, the upper 63 bits `x` are the first 63 bits of
//! `U`, so `U ∈ [x, x+1)/2^63`. Then `F(j) ≤ U` is certain when
//! `key_j + δ ≤ x` and `F(j) > U` is certain when `key_j > x`; the keys are
//! non-decreasing, so with `m = #{j : key_j ≤ x}` the answer is `|X| = m`
//! exactly when `m < N` and `key_{m−1} + δ ≤ x`. A guide table (Chen–Asau
//! indexed search) over the top 16 bits of `x` stores, per bucket, the first
//! candidate index and a flag saying that no key (with its `δ`) falls in the
//! bucket, in which case the guide entry *is* the answer: 75 % of the
//! draws at σ = 6650 cost one random word and one table load, the others a
//! short scan of the keys (usually one cache line).
//!
//! **Slow path** (probability below `(N·(δ+1) + 8)·2^−63`, about `2^−46` at
//! σ = 6650). When some boundary's interval meets `U`'s known prefix, or
//! `U` lies beyond the table, the sampler keeps every bit already looked at
//! and refines: at precision `P = 192, 256, …` it recomputes `r`, `S` and the
//! `C(j)` with the same directed rounding, and decides `F(j) ≤ U` by
//! `u·S_lo ≥ C_hi(j)·2^k` and `F(j) > U` by `(u+1)·S_hi ≤ C_lo(j)·2^k`
//! (`u` the `k`-bit prefix of `U`, exact big-integer products), walking
//! `j = 0, 1, …` past the table's end if needed. If a boundary is still
//! undecided, `U` is extended by 64 fresh random bits and the precision is
//! raised. Each decision is made only when `U`'s known interval and the
//! boundary's rigorous interval are disjoint, so the output is exactly
//! `N_Z(0, σ²)`; since both intervals shrink to points and `U = F(j)` has
//! probability 0, the loop ends with probability 1. The first levels are
//! cached; their cost (a walk of about `16σ` terms) is irrelevant at that
//! probability.
//!
//! **Not constant time.** The slow path, the guide flag and the key scan all
//! depend on the value drawn, like [`crate::sampler`]'s samplers. Samples
//! are secrets and are never logged; the table itself is public.
//!
//! **Cost.** At σ = 6650 (the encoder bench): `N = 58 860` keys (460 KiB)
//! plus a 2^16-entry guide (256 KiB), 716 KiB in all, built in about 45 ms (see
//! `benches/benches/dp.rs`, `dgauss_table_build`), and about 10 ns per
//! sample at σ ≤ 10^3 and 20 ns at σ = 6650 (where the tables outgrow the
//! L2 cache) against about 100 ns for CKS.
//!
//! **Relation to CKS.** [`crate::sampler::DiscreteGaussian`] (Canonne,
//! Kamath, Steinke, Algorithm 3) remains the reference sampler: it needs no
//! table and serves every `σ²` up to 10^12. The table serves
//! `σ² ≤` [`DiscreteGaussianTable::MAX_SIGMA2`] (`2^30`, so at most about
//! 2.4 MiB of keys); the tests compare the two laws.

mod big;

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

use big::Big;
use rand_core::CryptoRng;

use crate::error::{Error, Result, invalid};
use crate::sampler::Rational;

/// Fractional bits of the table's fixed point.
const TABLE_FRAC_BITS: u32 = 128;
/// The table's last key is at least this close to `2^63`.
const TABLE_TOP_GAP: u64 = 8;
/// Largest guide table: `2^16` buckets.
const GUIDE_BITS_MAX: u32 = 16;
/// Guide entry flag: the bucket decides the magnitude by itself.
const CLEAN: u32 = 1 << 31;
/// Slow-path levels whose `r`, `S` bounds are cached.
const CACHED_LEVELS: usize = 32;
/// `C(j)` is kept with `TABLE_FRAC_BITS − RECORD_SHIFT` fractional bits
/// between the walk and the key computation.
const RECORD_SHIFT: u32 = 28;
/// Steps between the walk's stopping tests.
const TAIL_CHECK: u64 = 32;
/// The tail bound is accepted once `2·T ≤ 2^16` units in the last place.
const TAIL_ULPS_LOG2: u32 = 16;

/// Knobs of [`DiscreteGaussianTable`] for tests of the slow path. The
/// [`Default`] is the production setting; other values keep the sampler
/// exact and only send more draws through the slow path.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableTuning {
    /// Bits of `U` the fast path reads (6..=63).
    pub prefix_bits: u32,
    /// Added to the measured key uncertainty `δ`.
    pub extra_slack: u64,
    /// At most this many boundaries in the table (≥ 1).
    pub max_len: usize,
    /// First slow-path precision (fractional bits, ≥ 8).
    pub slow_bits: u32,
    /// Precision added per slow-path level (≥ 1).
    pub slow_step: u32,
    /// Random bits appended to `U` per slow-path level (1..=64).
    pub ext_bits: u32,
}

impl Default for TableTuning {
    fn default() -> Self {
        Self {
            prefix_bits: 63,
            extra_slack: 0,
            max_len: usize::MAX,
            slow_bits: 192,
            slow_step: 64,
            ext_bits: 64,
        }
    }
}

/// The exact discrete Gaussian `N_Z(0, σ²)` by table inversion with rigorous
/// interval bounds and lazy refinement (see the module docs).
#[derive(Clone)]
pub struct DiscreteGaussianTable {
    sigma2: Rational,
    /// Non-decreasing lower bounds of `2^63·F(j)`, `j < N`.
    keys: Vec<u64>,
    /// `⌈2^63·F_hi(j)⌉ − keys[j] ≤ slack` for every `j`.
    slack: u64,
    guide: Vec<u32>,
    guide_shift: u32,
    /// Keeps the `prefix_bits` top bits of a 63-bit word.
    prefix_mask: u64,
    /// `2^(63 − prefix_bits) − 1`.
    omega_m1: u64,
    tuning: TableTuning,
    /// `r = exp(−a/b)`.
    a: Big,
    b: Big,
    levels: Box<[OnceLock<Level>]>,
}

impl core::fmt::Debug for DiscreteGaussianTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DiscreteGaussianTable")
            .field("sigma2", &self.sigma2)
            .field("boundaries", &self.keys.len())
            .field("slack", &self.slack)
            .field("guide_bits", &(63 - self.guide_shift))
            .finish_non_exhaustive()
    }
}

/// Lower and upper bounds of `exp(−a/b)`, fixed point with `p` fractional
/// bits; `a/b ≤ 2^20`, `b > 0`.
fn exp_neg_bounds(a: &Big, b: &Big, p: u32) -> (Big, Big) {
    // k with a/(b·2^k) ≤ 1/2.
    let two_a = a.shl(1);
    let mut k = 0u32;
    while b.shl(k) < two_a {
        k += 1;
    }
    // Guard bits for the k squarings.
    let w = p + 2 * k + 64;
    let den = b.shl(k);
    let num = a.shl(w);
    let (x_lo, x_hi) = (num.div_floor(&den), num.div_ceil(&den));
    // exp is decreasing: the lower bound uses x_hi, the upper x_lo.
    let mut lo = exp_neg_series(&x_hi, w, true);
    let mut hi = exp_neg_series(&x_lo, w, false);
    let one = Big::pow2(w);
    for _ in 0..k {
        lo = lo.mul(&lo).shr_floor(w);
        hi = hi.mul(&hi).shr_ceil(w).min(one.clone());
    }
    (lo.shr_floor(w - p), hi.shr_ceil(w - p).min(Big::pow2(p)))
}

/// A partial sum of `exp(−x) = Σ (−x)^i/i!` for `0 ≤ x ≤ 1` (`x` with `w`
/// fractional bits): ending with a negative term and rounded down when
/// `lower`, so a lower bound of `exp(−x)`; ending with a positive term and
/// rounded up otherwise. Stops once the terms are at most one unit.
fn exp_neg_series(x: &Big, w: u32, lower: bool) -> Big {
    let mut t_lo = Big::pow2(w);
    let mut t_hi = t_lo.clone();
    let mut pos = t_lo.clone();
    let mut neg = Big::zero();
    let mut i = 1u64;
    loop {
        let iv = Big::from_u128(u128::from(i));
        t_lo = t_lo.mul(x).shr_floor(w).div_floor(&iv);
        t_hi = t_hi.mul(x).shr_ceil(w).div_ceil(&iv);
        let odd = i % 2 == 1;
        if odd {
            neg = neg.add(if lower { &t_hi } else { &t_lo });
        } else {
            pos = pos.add(if lower { &t_lo } else { &t_hi });
        }
        if t_hi.bits() <= 1 && odd == lower {
            break;
        }
        i += 1;
    }
    // A lower bound may be taken as 0 (exp(−x) > 0); an upper bound is
    // positive here because it is at least the true value.
    pos.checked_sub(&neg).unwrap_or_default()
}

/// Interval bounds of `e_m`, `r^{2m+1}` and `C(m)` at precision `p`,
/// advanced one `m` at a time.
struct Walk {
    p: u32,
    one: Big,
    r2: (Big, Big),
    t: (Big, Big),
    e: (Big, Big),
    c: (Big, Big),
    m: u64,
}

impl Walk {
    fn new(p: u32, r_lo: &Big, r_hi: &Big) -> Self {
        let one = Big::pow2(p);
        let r2 = (
            r_lo.mul(r_lo).shr_floor(p),
            r_hi.mul(r_hi).shr_ceil(p).min(one.clone()),
        );
        Self {
            p,
            r2,
            t: (r_lo.clone(), r_hi.clone()),
            e: (one.clone(), one.clone()),
            c: (one.clone(), one.clone()),
            one,
            m: 0,
        }
    }

    fn step(&mut self) {
        let p = self.p;
        self.e.0 = self.e.0.mul_shr(&self.t.0, p, false);
        self.e.1 = self.e.1.mul_shr(&self.t.1, p, true);
        self.t.0 = self.t.0.mul_shr(&self.r2.0, p, false);
        self.t.1 = self.t.1.mul_shr(&self.r2.1, p, true);
        if self.t.1 > self.one {
            self.t.1 = self.one.clone();
        }
        self.c.0.add_twice(&self.e.0);
        self.c.1.add_twice(&self.e.1);
        self.m += 1;
    }

    /// An upper bound of `Σ_{i>m} e_i`, or `None` if `r^{2m+1}` is not
    /// bounded away from 1 at this precision.
    fn tail_hi(&self) -> Option<Big> {
        let d = self.one.checked_sub(&self.t.1)?;
        if d.is_zero() {
            return None;
        }
        // 1 − t ≥ d ≥ 2^(bits(d) − 1 − p) = 2^−s.
        let s = self.p + 1 - d.bits();
        Some(self.e.1.shl(s))
    }
}

/// `r` and `S` bounds at one precision.
#[derive(Debug, Clone)]
struct Level {
    p: u32,
    r_lo: Big,
    r_hi: Big,
    s_lo: Big,
    /// `None` when the tail could not be bounded at this precision.
    s_hi: Option<Big>,
}

impl Level {
    fn new(a: &Big, b: &Big, p: u32) -> Self {
        Self::new_recording(a, b, p, None)
    }

    /// [`Self::new`], also pushing the bounds of every `C(j)` walked,
    /// rounded outwards to `p − RECORD_SHIFT` fractional bits, onto `record`
    /// when given (`None` if they do not fit in `u128`).
    fn new_recording(
        a: &Big,
        b: &Big,
        p: u32,
        mut record: Option<&mut Vec<Option<(u128, u128)>>>,
    ) -> Self {
        let (r_lo, r_hi) = exp_neg_bounds(a, b, p);
        let mut w = Walk::new(p, &r_lo, &r_hi);
        let small = Big::pow2(TAIL_ULPS_LOG2);
        let mut prev: Option<Big> = None;
        let s_hi = loop {
            if let Some(rec) = record.as_deref_mut() {
                let lo = w.c.0.shr_floor(RECORD_SHIFT);
                let hi = w.c.1.shr_ceil(RECORD_SHIFT);
                rec.push(lo.to_u128().zip(hi.to_u128()));
            }
            // The stopping tests every TAIL_CHECK steps (walking further
            // only tightens the bounds).
            if w.m.is_multiple_of(TAIL_CHECK) {
                if let Some(t) = w.tail_hi() {
                    let t2 = t.shl(1);
                    if t2 <= small {
                        break Some(w.c.1.add(&t2));
                    }
                }
                if prev.as_ref().is_some_and(|p| w.e.1 >= *p) {
                    // No progress (e_m's upper bound is stuck at this
                    // precision): take what bound there is.
                    break w.tail_hi().map(|t| w.c.1.add(&t.shl(1)));
                }
                prev = Some(w.e.1.clone());
            }
            w.step();
        };
        Self {
            p,
            s_lo: w.c.0.clone(),
            s_hi,
            r_lo,
            r_hi,
        }
    }

    /// `#{j : F(j) ≤ U}` for `U ∈ [u, u+1)/2^k`, if every boundary involved
    /// is decided at this precision.
    fn decide(&self, u: &Big, k: u32) -> Option<u64> {
        let mut w = Walk::new(self.p, &self.r_lo, &self.r_hi);
        let us = u.mul(&self.s_lo);
        let u1s = self.s_hi.as_ref().map(|s| u.add_u64(1).mul(s));
        loop {
            // F(j) ≤ C_hi/S_lo ≤ u/2^k ≤ U.
            if us >= w.c.1.shl(k) {
                w.step();
                continue;
            }
            // U < (u+1)/2^k ≤ C_lo/S_hi ≤ F(j).
            return match &u1s {
                Some(h) if *h <= w.c.0.shl(k) => Some(w.m),
                _ => None,
            };
        }
    }
}

impl DiscreteGaussianTable {
    /// Largest variance served by a table (`2^30`, σ ≤ 32 768: at most about
    /// 310 000 keys, 2.4 MiB).
    pub const MAX_SIGMA2: u128 = 1 << 30;

    /// Whether [`Self::new`] accepts `σ²` (`1/100 ≤ σ² ≤ 2^30`).
    pub fn supports(sigma2: Rational) -> bool {
        let (p, q) = (sigma2.num(), sigma2.den());
        p != 0
            && p.checked_mul(100).is_none_or(|v| v >= q)
            && Self::MAX_SIGMA2.checked_mul(q).is_none_or(|m| p <= m)
    }

    /// The table for `N_Z(0, σ²)`, `1/100 ≤ σ² ≤ 2^30`.
    pub fn new(sigma2: Rational) -> Result<Self> {
        Self::with_tuning(sigma2, TableTuning::default())
    }

    /// [`Self::new`] with test knobs (still exact).
    #[doc(hidden)]
    pub fn with_tuning(sigma2: Rational, tuning: TableTuning) -> Result<Self> {
        if !Self::supports(sigma2) {
            return Err(invalid(
                "sigma2",
                "a rational variance between 1/100 and 2^30",
                sigma2,
            ));
        }
        let t = tuning;
        if !(6..=63).contains(&t.prefix_bits)
            || t.max_len == 0
            || t.slow_bits < 8
            || t.slow_step == 0
            || !(1..=64).contains(&t.ext_bits)
            || t.extra_slack > 1 << 62
        {
            return Err(invalid("tuning", "knobs in range", format!("{t:?}")));
        }
        // r = exp(−q/(2p)).
        let a = Big::from_u128(sigma2.den());
        let b = Big::from_u128(sigma2.num()).shl(1);
        // C(j) bounds with TABLE_FRAC_BITS − RECORD_SHIFT = 100 fractional
        // bits: C(j) ≤ S < 2^17 for σ² ≤ 2^30, so they fit in u128.
        let mut cs = Vec::new();
        let lvl = Level::new_recording(&a, &b, TABLE_FRAC_BITS, Some(&mut cs));
        let s_hi = lvl
            .s_hi
            .clone()
            .ok_or(Error::Overflow("discrete Gaussian table: tail bound"))?;
        // inv_lo ≤ 2^X/S ≤ inv_hi (S with TABLE_FRAC_BITS fractional bits),
        // so 2^63·C(j)/S ≥ C_lo(j)·2^RECORD_SHIFT·inv_lo/2^(X+63) and
        // similarly from above.
        let x = s_hi.bits() + 100;
        let inv_lo = Big::pow2(x).div_floor(&s_hi);
        let inv_hi = Big::pow2(x).div_ceil(&lvl.s_lo);
        let shift = x - 63 - RECORD_SHIFT;
        let mut keys = Vec::new();
        let mut slack = 0u64;
        let top = (1u64 << 63) - TABLE_TOP_GAP;
        for c in cs {
            let Some((c_lo, c_hi)) = c else {
                return Err(Error::Overflow("discrete Gaussian table: C(j)"));
            };
            let lo = Big::from_u128(c_lo).mul_shr(&inv_lo, shift, false).to_u64();
            let hi = Big::from_u128(c_hi).mul_shr(&inv_hi, shift, true).to_u64();
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(Error::Overflow("discrete Gaussian table: key"));
            };
            slack = slack.max(hi.saturating_sub(lo));
            keys.push(lo);
            if lo >= top || keys.len() >= t.max_len {
                break;
            }
        }
        if slack > 1 << 20 {
            return Err(Error::Overflow("discrete Gaussian table: key precision"));
        }
        let slack = slack + t.extra_slack;
        let n = keys.len();
        let guide_bits = (usize::BITS - n.leading_zeros() + 3).clamp(6, GUIDE_BITS_MAX);
        let guide_bits = guide_bits.min(t.prefix_bits);
        let guide_shift = 63 - guide_bits;
        let omega_m1 = (1u64 << (63 - t.prefix_bits)) - 1;
        let below = |v: u64| keys.partition_point(|&k| k < v);
        let guide = (0..1u64 << guide_bits)
            .map(|g| {
                let s = g << guide_shift;
                let e = s + (1 << guide_shift);
                // No key whose uncertainty meets any x in [s, e): the count
                // below e + ω − 1 is the magnitude for the whole bucket.
                let start = (s + 1).saturating_sub(slack);
                let m = below(e + omega_m1);
                if below(start) == m && m < n {
                    m as u32 | CLEAN
                } else {
                    below(s) as u32
                }
            })
            .collect();
        Ok(Self {
            sigma2,
            keys,
            slack,
            guide,
            guide_shift,
            prefix_mask: ((1u64 << 63) - 1) & !omega_m1,
            omega_m1,
            tuning: t,
            a,
            b,
            levels: (0..CACHED_LEVELS).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The variance `σ²`.
    pub fn sigma2(&self) -> Rational {
        self.sigma2
    }

    /// Boundaries in the table (the largest magnitude it decides is one less).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true (a table has at least one boundary).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes held by the key and guide tables.
    pub fn table_bytes(&self) -> usize {
        self.keys.len() * 8 + self.guide.len() * 4
    }

    /// One sample (one 64-bit word from `rng`, more only on the slow path).
    #[inline]
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let w = rng.next_u64();
        let m = self.magnitude(w >> 1, rng);
        // Magnitudes beyond 2^63 have probability below exp(−2^95).
        let v = i64::try_from(m).unwrap_or(i64::MAX);
        if w & 1 == 1 { -v } else { v }
    }

    /// Fills `out` with independent samples.
    pub fn fill<R: CryptoRng + ?Sized>(&self, rng: &mut R, out: &mut [i64]) {
        for o in out {
            *o = self.sample(rng);
        }
    }

    /// A sample drawn by the slow path alone, from no bits of `U` (tests).
    #[doc(hidden)]
    pub fn sample_slow_path<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let neg = rng.next_u64() & 1 == 1;
        let v = i64::try_from(self.slow(Big::zero(), 0, rng)).unwrap_or(i64::MAX);
        if neg { -v } else { v }
    }

    /// `|X|` from the 63-bit word `x` (the first bits of `U`).
    #[inline(always)]
    fn magnitude<R: CryptoRng + ?Sized>(&self, x: u64, rng: &mut R) -> u64 {
        let x = x & self.prefix_mask;
        let g = self.guide[(x >> self.guide_shift) as usize];
        if g & CLEAN != 0 {
            return u64::from(g & !CLEAN);
        }
        self.magnitude_scan(x, g as usize, rng)
    }

    #[inline(never)]
    fn magnitude_scan<R: CryptoRng + ?Sized>(&self, x: u64, start: usize, rng: &mut R) -> u64 {
        let keys = &self.keys[..];
        let n = keys.len();
        // key_j ≤ lim ⟺ key_j < x + ω: not certainly above U.
        let lim = x + self.omega_m1;
        let mut m = start;
        while m < n && keys[m] <= lim {
            m += 1;
            if m - start >= 8 {
                m += keys[m..].partition_point(|&k| k <= lim);
                break;
            }
        }
        // Boundaries j < m are certainly ≤ U when the largest key among
        // them is, boundary m is certainly above U.
        if m < n && (m == 0 || keys[m - 1] + self.slack <= x) {
            return m as u64;
        }
        let pb = self.tuning.prefix_bits;
        self.slow(Big::from_u128(u128::from(x >> (63 - pb))), pb, rng)
    }

    fn level(&self, i: usize) -> Cow<'_, Level> {
        let t = &self.tuning;
        let p = t.slow_bits + t.slow_step * i as u32;
        let build = || Level::new(&self.a, &self.b, p);
        match self.levels.get(i) {
            Some(cell) => Cow::Borrowed(cell.get_or_init(build)),
            None => Cow::Owned(build()),
        }
    }

    /// `|X|` for `U ∈ [u, u+1)/2^k`, refining `U` and the precision until
    /// decided.
    #[cold]
    #[inline(never)]
    fn slow<R: CryptoRng + ?Sized>(&self, mut u: Big, mut k: u32, rng: &mut R) -> u64 {
        let ext = self.tuning.ext_bits;
        let mut i = 0usize;
        loop {
            if let Some(m) = self.level(i).decide(&u, k) {
                return m;
            }
            let fresh = rng.next_u64() >> (64 - ext);
            u = u.shl(ext).add_u64(fresh);
            k += ext;
            i += 1;
        }
    }
}

/// Tables kept for reuse across encoder configurations (most recent last).
static SHARED: Mutex<Vec<(Rational, Arc<DiscreteGaussianTable>)>> = Mutex::new(Vec::new());
/// Tables kept in [`SHARED`].
const SHARED_MAX: usize = 4;

/// The table for `σ²`, built once per process and shared (the last
/// four variances are kept); `None` outside
/// [`DiscreteGaussianTable::supports`].
pub fn shared_table(sigma2: Rational) -> Option<Arc<DiscreteGaussianTable>> {
    if !DiscreteGaussianTable::supports(sigma2) {
        return None;
    }
    let mut cache = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pos) = cache.iter().position(|(s, _)| *s == sigma2) {
        let entry = cache.remove(pos);
        let t = entry.1.clone();
        cache.push(entry);
        return Some(t);
    }
    let t = Arc::new(DiscreteGaussianTable::new(sigma2).ok()?);
    if cache.len() >= SHARED_MAX {
        cache.remove(0);
    }
    cache.push((sigma2, t.clone()));
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(v: u128) -> Big {
        Big::from_u128(v)
    }

    /// `v / 2^p` as f64 (test display only).
    fn to_f64(v: &Big, p: u32) -> f64 {
        let b = v.bits();
        let sh = b.saturating_sub(60);
        (v.shr_floor(sh).low_u64() as f64) * 2f64.powi(sh as i32 - p as i32)
    }

    /// exp(−1) to 40 decimal places.
    const EXP_NEG_1: &str = "0.3678794411714423215955237701614608674458";

    /// Decimal digits of `v / 2^p` (rounded down).
    fn decimal(v: &Big, p: u32, digits: usize) -> String {
        let int = v.shr_floor(p);
        let mut frac = v.checked_sub(&int.shl(p)).unwrap_or_default();
        let mut s = format!("{}.", int.low_u64());
        for _ in 0..digits {
            frac = frac.mul_u64(10);
            let d = frac.shr_floor(p);
            s.push(char::from(b'0' + d.low_u64() as u8));
            frac = frac.checked_sub(&d.shl(p)).unwrap_or_default();
        }
        s
    }

    #[test]
    fn exp_neg_one_brackets_known_digits() {
        for p in [64u32, 128, 256] {
            let (lo, hi) = exp_neg_bounds(&big(1), &big(1), p);
            assert!(lo < hi, "p = {p}");
            // Width a few units in the last place.
            assert!(
                hi.checked_sub(&lo).is_some_and(|d| d.bits() <= 4),
                "p = {p}"
            );
            if p >= 128 {
                let (l, h) = (decimal(&lo, p, 37), decimal(&hi, p, 37));
                assert_eq!(l, EXP_NEG_1[..39], "p = {p}");
                assert_eq!(h, EXP_NEG_1[..39], "p = {p}");
            }
        }
    }

    #[test]
    fn exp_neg_bounds_bracket_f64() {
        for (a, b) in [
            (0u128, 1u128),
            (1, 3),
            (1, 2),
            (2, 1),
            (7, 3),
            (50, 1),
            (1, 88_445_000),
        ] {
            let (lo, hi) = exp_neg_bounds(&big(a), &big(b), 128);
            let want = (-(a as f64) / b as f64).exp();
            let (l, h) = (to_f64(&lo, 128), to_f64(&hi, 128));
            assert!(lo <= hi);
            assert!(
                l <= want * (1.0 + 1e-12) && h >= want * (1.0 - 1e-12),
                "{a}/{b}"
            );
            assert!((h - l) <= 1e-30, "{a}/{b}: width {}", h - l);
        }
        // exp(−0) = 1 exactly.
        let (lo, hi) = exp_neg_bounds(&big(0), &big(5), 64);
        assert_eq!((lo.clone(), hi), (Big::pow2(64), Big::pow2(64)));
    }

    /// S bounds against the f64 sum, and the mass of the known case σ² = 1:
    /// S = θ₃(0, e^{−1/2}) = 2.5066282880429...
    #[test]
    fn normaliser_bounds() {
        let lvl = Level::new(&big(1), &big(2), 128);
        let s_hi = lvl.s_hi.clone().expect("bounded tail");
        assert!(lvl.s_lo < s_hi);
        assert_eq!(decimal(&lvl.s_lo, 128, 12), "2.506628288042");
        assert_eq!(decimal(&s_hi, 128, 12), "2.506628288042");
        for sigma in [0.5f64, 3.0, 100.0] {
            let s2 = sigma * sigma;
            let p = (s2 * 4.0) as u128;
            let lvl = Level::new(&big(4), &big(2 * p), 128);
            let want: f64 = (-2000..=2000)
                .map(|x| (-(f64::from(x)).powi(2) / (2.0 * s2)).exp())
                .sum();
            let (l, h) = (
                to_f64(&lvl.s_lo, 128),
                to_f64(lvl.s_hi.as_ref().expect("tail"), 128),
            );
            assert!(
                l <= want * (1.0 + 1e-12) && h >= want * (1.0 - 1e-12),
                "σ = {sigma}"
            );
            assert!(h - l < 1e-25 * want, "σ = {sigma}");
        }
        // At 8 bits the tail of σ = 1000 cannot be bounded: no upper bound.
        assert!(Level::new(&big(1), &big(2_000_000), 8).s_hi.is_none());
    }

    #[test]
    fn table_keys_and_guide_are_consistent() -> Result<()> {
        for (num, den) in [(1u128, 4u128), (1, 1), (9, 1), (1_000_000, 1)] {
            let t = DiscreteGaussianTable::new(Rational::new(num, den)?)?;
            assert!(t.keys.windows(2).all(|w| w[0] <= w[1]));
            assert!(t.slack <= 4, "slack {}", t.slack);
            assert!(*t.keys.last().unwrap_or(&0) >= (1 << 63) - TABLE_TOP_GAP);
            let clean = t.guide.iter().filter(|&&g| g & CLEAN != 0).count();
            assert!(clean * 2 > t.guide.len(), "{clean} clean buckets");
            // F(0) = 1/S for σ² = 1: 2^63/2.5066 ≈ 3.6795e18.
            if (num, den) == (1, 1) {
                assert_eq!(t.keys[0] / 1_000_000_000_000, 3_679_593);
            }
        }
        Ok(())
    }

    /// The production slow path (192 bits, then +64 bits of precision and
    /// of U per level) on prefixes that the fast path cannot decide: `U`'s
    /// first 63 bits equal to a key (boundary j undecided, so |X| is j or
    /// j + 1), and `U` beyond the table's last key.
    #[test]
    fn production_slow_path_decides_undecided_prefixes() -> Result<()> {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let t = DiscreteGaussianTable::new(Rational::new(1_000_000, 1)?)?;
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let n = t.len() as u64;
        for j in [0usize, 1, 100, 2000] {
            let x = t.keys[j];
            let g = t.guide[(x >> t.guide_shift) as usize];
            assert_eq!(g & CLEAN, 0, "bucket of key {j} must not be clean");
            let mut seen = [false; 2];
            for _ in 0..4 {
                let m = t.magnitude(x, &mut rng);
                assert!(m == j as u64 || m == j as u64 + 1, "key {j}: {m}");
                seen[(m - j as u64) as usize] = true;
            }
            println!("key {j}: outcomes {seen:?}");
        }
        let m = t.magnitude((1 << 63) - 1, &mut rng);
        assert!(m + 1 >= n, "beyond the table: {m} (table {n})");
        Ok(())
    }

    #[test]
    fn tuning_out_of_range_is_refused() -> Result<()> {
        let s = Rational::new(1, 1)?;
        for t in [
            TableTuning {
                prefix_bits: 5,
                ..Default::default()
            },
            TableTuning {
                max_len: 0,
                ..Default::default()
            },
            TableTuning {
                ext_bits: 65,
                ..Default::default()
            },
        ] {
            assert!(DiscreteGaussianTable::with_tuning(s, t).is_err());
        }
        assert!(DiscreteGaussianTable::new(Rational::new(1, 101)?).is_err());
        assert!(DiscreteGaussianTable::new(Rational::new((1 << 30) + 1, 1)?).is_err());
        Ok(())
    }
}
