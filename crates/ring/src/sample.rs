//! Samplers for `R_Q`: uniform, ternary, centred binomial (the RLWE error)
//! and rounded Gaussian (flooding noise).
//!
//! All of them take the caller's CSPRNG; production callers pass an
//! OS-seeded generator ([`crate::os_rng`]), tests may pass a seeded one.
//! Small polynomials come back as [`SmallPoly`], which zeroizes on drop since
//! secrets, encryption randomness and errors are all sampled here.

use rand_core::CryptoRng;
use rand_distr::{Distribution, StandardNormal};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Error, Poly, Result, RingContext};

/// Largest flooding standard deviation an `f64` Gaussian may be scaled to:
/// above `2^50` the low bits of `σ·z` are no longer random (53-bit mantissa),
/// and flooding with constant low bits would leak the low bits of the noise it
/// is meant to hide.
pub const MAX_ROUNDED_GAUSSIAN_SIGMA: f64 = (1u64 << 50) as f64;

/// A polynomial with small signed coefficients, held as `i64`; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SmallPoly {
    coeffs: Vec<i64>,
}

impl SmallPoly {
    /// Wraps coefficients (for known-answer tests and decoding).
    pub fn from_coeffs(coeffs: Vec<i64>) -> Self {
        Self { coeffs }
    }

    /// The coefficients.
    pub fn coeffs(&self) -> &[i64] {
        &self.coeffs
    }

    /// Lifts into `R_Q` (coefficient form).
    pub fn lift(&self, ctx: &RingContext) -> Poly {
        ctx.poly_from_signed(&self.coeffs)
    }
}

impl std::fmt::Debug for SmallPoly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmallPoly({} coefficients, redacted)", self.coeffs.len())
    }
}

/// A uniform polynomial of `R_Q`: per prime, masked 64-bit words rejected while `≥ q`.
pub fn sample_uniform<R: CryptoRng + ?Sized>(ctx: &RingContext, rng: &mut R) -> Poly {
    let mut data = Vec::with_capacity(ctx.poly_len());
    for m in ctx.moduli() {
        let mask = (1u64 << m.bits()) - 1;
        let mut produced = 0;
        while produced < ctx.degree() {
            let v = rng.next_u64() & mask;
            if v < m.value() {
                data.push(v);
                produced += 1;
            }
        }
    }
    Poly::from_raw(data)
}

/// `n` coefficients uniform in `{−1, 0, 1}` (variance 2/3).
///
/// A random byte `b < 243 = 3^5` gives five base-3 digits, each mapped to
/// `digit − 1`; bytes `≥ 243` are rejected. The rejection depends only on
/// discarded randomness, so the time taken says nothing about the values, and
/// the digit extraction is branch-free arithmetic.
pub fn sample_ternary<R: CryptoRng + ?Sized>(n: usize, rng: &mut R) -> SmallPoly {
    let mut coeffs = Vec::with_capacity(n + 4);
    let mut buf = [0u8; 256];
    while coeffs.len() < n {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            if b < 243 && coeffs.len() < n {
                let mut v = b;
                for _ in 0..5 {
                    coeffs.push(i64::from(v % 3) - 1);
                    v /= 3;
                }
            }
        }
    }
    coeffs.truncate(n);
    buf.zeroize();
    SmallPoly { coeffs }
}

/// One `CBD(η)` coefficient from the low `2η` bits of `w`: both η-bit fields
/// side by side in one word (`a` in bits 0..32, `b` in 32..64) and one SWAR
/// popcount for the pair, with shifts and adds only (constant time, and
/// vectorisable without a popcnt instruction).
#[inline(always)]
fn cbd_coefficient(w: u64, eta: u32) -> i64 {
    let mask = (1u64 << eta) - 1;
    let x = (w & mask) | (((w >> eta) & mask) << 32);
    let x = x - ((x >> 1) & 0x5555_5555_5555_5555);
    let x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    let x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    let x = x + (x >> 8);
    let x = x + (x >> 16);
    (x & 0x3f) as i64 - ((x >> 32) & 0x3f) as i64
}

/// Coefficients per chunk of the RNS samplers: 64 blocks of 128 bits.
const CBD_CHUNK: usize = 192;

/// Produces `N` coefficients of `CBD(η)`, `η ≤ 21`, three per 128 random
/// bits, handing them to `emit(start, chunk)` in chunks of up to 192.
#[inline(always)]
fn cbd_chunks<R: CryptoRng + ?Sized>(
    n: usize,
    eta: u32,
    rng: &mut R,
    mut emit: impl FnMut(usize, &[i64]),
) {
    debug_assert!(eta <= 21);
    let mut buf = [0u8; 16 * 64];
    let mut coeffs = [0i64; CBD_CHUNK];
    let mut start = 0;
    while start < n {
        rng.fill_bytes(&mut buf);
        for (block, out) in buf.chunks_exact(16).zip(coeffs.chunks_exact_mut(3)) {
            let mut w = [0u8; 16];
            w.copy_from_slice(block);
            let x = u128::from_le_bytes(w);
            out[0] = cbd_coefficient(x as u64, eta);
            out[1] = cbd_coefficient((x >> 42) as u64, eta);
            out[2] = cbd_coefficient((x >> 84) as u64, eta);
        }
        let take = CBD_CHUNK.min(n - start);
        emit(start, &coeffs[..take]);
        start += take;
    }
    buf.zeroize();
    coeffs.zeroize();
}

/// Test helper: the same stream, one coefficient at a time.
#[cfg(test)]
fn cbd_stream<R: CryptoRng + ?Sized>(
    n: usize,
    eta: u32,
    rng: &mut R,
    mut emit: impl FnMut(usize, i64),
) {
    cbd_chunks(n, eta, rng, |start, c| {
        for (k, &x) in c.iter().enumerate() {
            emit(start + k, x);
        }
    });
}

/// A `CBD(η)` polynomial sampled straight into `R_Q` (no intermediate
/// integer vector), for `1 ≤ η ≤ 21`.
pub fn sample_cbd_poly<R: CryptoRng + ?Sized>(
    ctx: &RingContext,
    eta: u32,
    rng: &mut R,
) -> Result<Poly> {
    if !(1..=21).contains(&eta) {
        return Err(Error::Distribution {
            what: "centred binomial η (RNS sampler)",
            expected: "1..=21",
        });
    }
    let n = ctx.degree();
    let mut data = vec![0u64; ctx.poly_len()];
    cbd_chunks(n, eta, rng, |start, c| {
        for (m, limb) in ctx.moduli().iter().zip(data.chunks_exact_mut(n)) {
            let q = m.value();
            // |c| ≤ 21 < q: a negative c wraps to q + c.
            for (dst, &x) in limb[start..start + c.len()].iter_mut().zip(c) {
                *dst = (x as u64).wrapping_add(q & ((x >> 63) as u64));
            }
        }
    });
    Ok(Poly::from_raw(data))
}

/// `a += e + values·scale_j` for a fresh `e ← CBD(η)` (`1 ≤ η ≤ 21`): the
/// `e_0 + Δ·m` of encryption, without an intermediate error vector.
pub fn add_cbd_and_scaled<R: CryptoRng + ?Sized>(
    ctx: &RingContext,
    a: &mut Poly,
    eta: u32,
    values: &[u64],
    scale: &[u64],
    rng: &mut R,
) -> Result<()> {
    if !(1..=21).contains(&eta) {
        return Err(Error::Distribution {
            what: "centred binomial η (RNS sampler)",
            expected: "1..=21",
        });
    }
    let n = ctx.degree();
    assert!(a.data.len() == ctx.poly_len() && values.len() <= n && scale.len() == ctx.num_moduli());
    cbd_chunks(n, eta, rng, |start, c| {
        for (m, limb) in ctx.moduli().iter().zip(a.data.chunks_exact_mut(n)) {
            let q = m.value();
            for (dst, &x) in limb[start..start + c.len()].iter_mut().zip(c) {
                let s = *dst + (x as u64).wrapping_add(q & ((x >> 63) as u64));
                *dst = if s >= q { s - q } else { s };
            }
        }
    });
    ctx.add_scaled_assign(a, values, scale);
    Ok(())
}

/// A uniform ternary polynomial sampled straight into `R_Q` (same
/// distribution and rejection rule as [`sample_ternary`]). Only the RNS
/// buffer holds the secret afterwards; the caller consumes it.
pub fn sample_ternary_poly<R: CryptoRng + ?Sized>(ctx: &RingContext, rng: &mut R) -> Poly {
    let n = ctx.degree();
    let mut data = vec![0u64; ctx.poly_len()];
    let mut buf = [0u8; 256];
    let mut trits = [0i64; 5 * 256];
    let mut start = 0;
    while start < n {
        rng.fill_bytes(&mut buf);
        let mut k = 0;
        for &b in &buf {
            if b < 243 {
                let mut v = b;
                for t in &mut trits[k..k + 5] {
                    *t = i64::from(v % 3) - 1;
                    v /= 3;
                }
                k += 5;
            }
        }
        let take = k.min(n - start);
        for (m, limb) in ctx.moduli().iter().zip(data.chunks_exact_mut(n)) {
            let q = m.value();
            for (dst, &x) in limb[start..start + take].iter_mut().zip(&trits[..take]) {
                *dst = (x as u64).wrapping_add(q & ((x >> 63) as u64));
            }
        }
        start += take;
    }
    buf.zeroize();
    trits.zeroize();
    Poly::from_raw(data)
}

/// Rounds half away from zero, like `f64::round`, without the libm call
/// that baseline x86-64 (no SSE4.1) needs for it: truncation of `y ± 1/2`.
#[inline(always)]
fn round_to_i64(y: f64) -> i64 {
    (y + 0.5f64.copysign(y)) as i64
}

/// `a += e` for fresh flooding noise `e_i = ⌊σ·z_i⌉` (as
/// [`sample_rounded_gaussian`]), without an intermediate vector.
pub fn add_rounded_gaussian<R: CryptoRng + ?Sized>(
    ctx: &RingContext,
    a: &mut Poly,
    sigma: f64,
    rng: &mut R,
) -> Result<()> {
    if !(0.0..=MAX_ROUNDED_GAUSSIAN_SIGMA).contains(&sigma) {
        return Err(Error::Distribution {
            what: "rounded Gaussian σ",
            expected: "a finite value in [0, 2^50]",
        });
    }
    let n = ctx.degree();
    assert_eq!(a.data.len(), ctx.poly_len());
    let mut chunk = [0i64; 256];
    let mut start = 0;
    while start < n {
        let take = chunk.len().min(n - start);
        for x in &mut chunk[..take] {
            let z: f64 = StandardNormal.sample(rng);
            *x = round_to_i64(sigma * z);
        }
        for (m, limb) in ctx.moduli().iter().zip(a.data.chunks_exact_mut(n)) {
            for (dst, &x) in limb[start..start + take].iter_mut().zip(&chunk[..take]) {
                *dst = m.add(*dst, m.from_small(x));
            }
        }
        start += take;
    }
    chunk.zeroize();
    Ok(())
}

/// `n` coefficients from the centred binomial distribution `CBD(η)`,
/// `Σ_{i<η} a_i − Σ_{i<η} b_i` for random bits (variance `η/2`), `1 ≤ η ≤ 32`.
///
/// Constant time: each coefficient takes `2η` fresh random bits and two
/// masked popcounts, with no branch on secret data. For `η ≤ 21` three
/// coefficients are cut from every 128 random bits.
pub fn sample_cbd<R: CryptoRng + ?Sized>(n: usize, eta: u32, rng: &mut R) -> Result<SmallPoly> {
    if !(1..=32).contains(&eta) {
        return Err(Error::Distribution {
            what: "centred binomial η",
            expected: "1..=32",
        });
    }
    let one = |w: u64| cbd_coefficient(w, eta);
    let mut coeffs = Vec::with_capacity(n + 2);
    if eta <= 21 {
        let mut buf = [0u8; 16 * 64];
        while coeffs.len() < n {
            rng.fill_bytes(&mut buf);
            for chunk in buf.chunks_exact(16) {
                let mut w = [0u8; 16];
                w.copy_from_slice(chunk);
                let x = u128::from_le_bytes(w);
                coeffs.push(one(x as u64));
                coeffs.push(one((x >> 42) as u64));
                coeffs.push(one((x >> 84) as u64));
            }
        }
        buf.zeroize();
        coeffs.truncate(n);
    } else {
        coeffs.extend((0..n).map(|_| one(rng.next_u64())));
    }
    Ok(SmallPoly { coeffs })
}

/// `n` samples of `⌊σ·z⌉` for standard normal `z` (ziggurat over the caller's
/// CSPRNG): the flooding distribution. Refuses `σ > 2^50` (see
/// [`MAX_ROUNDED_GAUSSIAN_SIGMA`]) and non-finite or negative `σ`.
pub fn sample_rounded_gaussian<R: CryptoRng + ?Sized>(
    n: usize,
    sigma: f64,
    rng: &mut R,
) -> Result<SmallPoly> {
    if !(0.0..=MAX_ROUNDED_GAUSSIAN_SIGMA).contains(&sigma) {
        return Err(Error::Distribution {
            what: "rounded Gaussian σ",
            expected: "a finite value in [0, 2^50]",
        });
    }
    let coeffs = (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            round_to_i64(sigma * z)
        })
        .collect();
    Ok(SmallPoly { coeffs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    fn moments(c: &[i64]) -> (f64, f64) {
        let n = c.len() as f64;
        let mean = c.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = c.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn ternary_is_uniform() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let s = sample_ternary(300_000, &mut rng);
        let mut counts = [0usize; 3];
        for &c in s.coeffs() {
            counts[(c + 1) as usize] += 1;
        }
        for c in counts {
            // expected 100_000, std ≈ 258: 6 sigma
            assert!((c as i64 - 100_000).abs() < 1550, "{counts:?}");
        }
    }

    #[test]
    fn cbd_coefficient_is_the_popcount_difference() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for eta in [1u32, 2, 3, 16, 21, 32] {
            let mask = (1u64 << eta) - 1;
            for _ in 0..10_000 {
                let w = rng.next_u64();
                let expected = i64::from((w & mask).count_ones())
                    - i64::from(((w >> eta) & mask).count_ones());
                assert_eq!(cbd_coefficient(w, eta), expected, "eta {eta} w {w:#x}");
            }
        }
    }

    #[test]
    fn rns_cbd_samplers_lift_correctly() {
        let ctx =
            RingContext::new(1024, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let p = sample_cbd_poly(&ctx, 21, &mut ChaCha20Rng::seed_from_u64(3)).expect("eta");
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut same = Vec::new();
        cbd_stream(1024, 21, &mut rng, |_, c| same.push(c));
        assert_eq!(p, ctx.poly_from_signed(&same));
        let (_, var) = moments(&same);
        assert!((var / 10.5 - 1.0).abs() < 0.1, "var {var}");
        // a += e + 7·values, checked against the separate operations.
        let values: Vec<u64> = (0..1000).collect();
        let scale = [7u64, 7];
        let mut a = sample_uniform(&ctx, &mut ChaCha20Rng::seed_from_u64(4));
        let mut b = a.clone();
        add_cbd_and_scaled(
            &ctx,
            &mut a,
            21,
            &values,
            &scale,
            &mut ChaCha20Rng::seed_from_u64(5),
        )
        .expect("eta");
        let e = sample_cbd_poly(&ctx, 21, &mut ChaCha20Rng::seed_from_u64(5)).expect("eta");
        ctx.add_assign(&mut b, &e);
        ctx.add_scaled_assign(&mut b, &values, &scale);
        assert_eq!(a, b);
        assert!(sample_cbd_poly(&ctx, 22, &mut rng).is_err());
    }

    #[test]
    fn rounding_matches_f64_round() {
        for y in [
            0.0,
            0.49,
            0.5,
            0.51,
            1.5,
            2.5,
            -0.49,
            -0.5,
            -0.51,
            -1.5,
            -2.5,
            1e15 + 0.5,
            -1e15 - 0.5,
            123456.7,
        ] {
            assert_eq!(round_to_i64(y), y.round() as i64, "{y}");
        }
    }

    #[test]
    fn fused_flooding_matches_the_small_sampler() {
        let ctx =
            RingContext::new(1024, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let mut a = sample_uniform(&ctx, &mut ChaCha20Rng::seed_from_u64(1));
        let mut b = a.clone();
        add_rounded_gaussian(&ctx, &mut a, 1e9, &mut ChaCha20Rng::seed_from_u64(2)).expect("sigma");
        let e =
            sample_rounded_gaussian(1024, 1e9, &mut ChaCha20Rng::seed_from_u64(2)).expect("sigma");
        ctx.add_small_assign(&mut b, e.coeffs());
        assert_eq!(a, b);
        assert!(
            add_rounded_gaussian(
                &ctx,
                &mut a,
                2f64.powi(51),
                &mut ChaCha20Rng::seed_from_u64(2)
            )
            .is_err()
        );
    }

    #[test]
    fn rns_ternary_matches_the_small_sampler() {
        let ctx =
            RingContext::new(4096, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let p = sample_ternary_poly(&ctx, &mut ChaCha20Rng::seed_from_u64(8));
        let s = sample_ternary(4096, &mut ChaCha20Rng::seed_from_u64(8));
        assert_eq!(p, s.lift(&ctx));
    }

    #[test]
    fn cbd_moments() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for eta in [1u32, 2, 21, 32] {
            let s = sample_cbd(200_000, eta, &mut rng).expect("eta");
            let (mean, var) = moments(s.coeffs());
            let expected = f64::from(eta) / 2.0;
            assert!(
                mean.abs() < 0.05 * expected.sqrt() + 0.01,
                "eta {eta} mean {mean}"
            );
            assert!((var / expected - 1.0).abs() < 0.03, "eta {eta} var {var}");
            assert!(
                s.coeffs()
                    .iter()
                    .all(|&c| c.unsigned_abs() <= u64::from(eta))
            );
        }
        assert!(sample_cbd(4, 0, &mut rng).is_err());
        assert!(sample_cbd(4, 33, &mut rng).is_err());
    }

    #[test]
    fn rounded_gaussian_moments_and_limits() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for sigma in [3.2f64, 1e6, 1e12] {
            let s = sample_rounded_gaussian(200_000, sigma, &mut rng).expect("sigma");
            let (mean, var) = moments(s.coeffs());
            assert!(mean.abs() < 0.02 * sigma, "sigma {sigma} mean {mean}");
            let expected = sigma * sigma + 1.0 / 12.0;
            assert!(
                (var / expected - 1.0).abs() < 0.03,
                "sigma {sigma} var {var}"
            );
        }
        assert!(sample_rounded_gaussian(1, 2f64.powi(51), &mut rng).is_err());
        assert!(sample_rounded_gaussian(1, f64::NAN, &mut rng).is_err());
    }

    #[test]
    fn uniform_is_reduced() {
        let ctx =
            RingContext::new(1024, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let p = sample_uniform(&ctx, &mut rng);
        for (j, m) in ctx.moduli().iter().enumerate() {
            assert!(ctx.residues(&p, j).iter().all(|&x| x < m.value()));
        }
    }
}
