//! The ring `R_Q = Z_Q[X]/(X^N + 1)` in RNS form and its arithmetic.

use tfhe_ntt::prime64::Plan;

use crate::modulus::Modulus;
use crate::poly::{NttPoly, Poly};
use crate::prime::is_prime;
use crate::{Error, Result};

/// Smallest and largest supported ring degrees.
pub const MIN_DEGREE: usize = 16;
/// Largest supported ring degree.
pub const MAX_DEGREE: usize = 1 << 15;
/// At most two RNS limbs, so that a CRT-composed coefficient fits in a `u128`.
pub const MAX_MODULI: usize = 2;
/// Every RNS prime is below `2^62` (the NTT backend's fast reduction range).
pub const MAX_MODULUS_BITS: u32 = 62;

/// `R_Q` for `Q = q_1·…·q_L` (`L ≤ 2`), with one negacyclic NTT plan per
/// prime and the constants of CRT composition.
///
/// Polynomials ([`Poly`], [`NttPoly`]) do not carry their context: every
/// operation takes it, and mixing polynomials of different contexts is an API
/// misuse caught by length checks.
pub struct RingContext {
    degree: usize,
    moduli: Vec<Modulus>,
    plans: Vec<Plan>,
    q: u128,
    /// `q_1^{-1} mod q_2` and its Shoup constant (Garner's CRT), if `L = 2`.
    garner: Option<(u64, u64)>,
}

impl std::fmt::Debug for RingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingContext")
            .field("degree", &self.degree)
            .field(
                "moduli",
                &self.moduli.iter().map(Modulus::value).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RingContext {
    /// Builds `R_Q` for ring degree `degree` (a power of two in
    /// `16..=32768`) and distinct primes `q_i < 2^62`, `q_i ≡ 1 (mod 2N)`.
    pub fn new(degree: usize, moduli: &[u64]) -> Result<Self> {
        if !degree.is_power_of_two() || !(MIN_DEGREE..=MAX_DEGREE).contains(&degree) {
            return Err(Error::InvalidDegree { degree });
        }
        if moduli.is_empty() || moduli.len() > MAX_MODULI {
            return Err(Error::ModuliCount {
                count: moduli.len(),
                max: MAX_MODULI,
            });
        }
        let mut plans = Vec::with_capacity(moduli.len());
        for (i, &q) in moduli.iter().enumerate() {
            let reason = if q >= 1u64 << MAX_MODULUS_BITS {
                Some("must be below 2^62")
            } else if !is_prime(q) {
                Some("must be prime")
            } else if q % (2 * degree as u64) != 1 {
                Some("must be 1 modulo 2N")
            } else if moduli[..i].contains(&q) {
                Some("must differ from the other moduli")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::InvalidModulus { modulus: q, reason });
            }
            let plan = Plan::try_new(degree, q).ok_or(Error::InvalidModulus {
                modulus: q,
                reason: "no negacyclic NTT plan",
            })?;
            plans.push(plan);
        }
        let moduli: Vec<Modulus> = moduli.iter().map(|&q| Modulus::new(q)).collect();
        let q = moduli
            .iter()
            .fold(1u128, |acc, m| acc * u128::from(m.value()));
        let garner = match moduli.as_slice() {
            [q1, q2] => {
                let inv = q2.inv(q1.value()).ok_or(Error::InvalidModulus {
                    modulus: q1.value(),
                    reason: "moduli must be coprime",
                })?;
                Some((inv, q2.shoup(inv)))
            }
            _ => None,
        };
        Ok(Self {
            degree,
            moduli,
            plans,
            q,
            garner,
        })
    }

    /// The ring degree `N`.
    #[inline]
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// The RNS primes.
    #[inline]
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }

    /// The number of RNS limbs `L`.
    #[inline]
    pub fn num_moduli(&self) -> usize {
        self.moduli.len()
    }

    /// `Q = Π q_i`.
    #[inline]
    pub fn modulus_product(&self) -> u128 {
        self.q
    }

    /// `log2 Q` as a real number.
    pub fn log2_modulus(&self) -> f64 {
        self.moduli.iter().map(|m| (m.value() as f64).log2()).sum()
    }

    /// Number of `u64` words of one polynomial: `L·N`.
    #[inline]
    pub fn poly_len(&self) -> usize {
        self.degree * self.moduli.len()
    }

    /// The zero polynomial in coefficient form.
    pub fn zero(&self) -> Poly {
        Poly::from_raw(vec![0; self.poly_len()])
    }

    /// Builds a polynomial from residues laid out prime by prime
    /// (`L` blocks of `N` coefficients), checking every residue is `< q_i`.
    pub fn poly_from_residues(&self, data: Vec<u64>) -> Result<Poly> {
        if data.len() != self.poly_len() {
            return Err(Error::Length {
                expected: self.poly_len(),
                found: data.len(),
            });
        }
        for (j, m) in self.moduli.iter().enumerate() {
            let block = &data[j * self.degree..(j + 1) * self.degree];
            if let Some(pos) = block.iter().position(|&r| r >= m.value()) {
                return Err(Error::ResidueOutOfRange {
                    index: j * self.degree + pos,
                    modulus: m.value(),
                });
            }
        }
        Ok(Poly::from_raw(data))
    }

    /// Lifts small signed coefficients (`coeffs.len() ≤ N`, the rest zero) into `R_Q`.
    pub fn poly_from_signed(&self, coeffs: &[i64]) -> Poly {
        assert!(coeffs.len() <= self.degree, "at most N coefficients");
        let mut data = Vec::with_capacity(self.poly_len());
        for m in &self.moduli {
            data.extend(coeffs.iter().map(|&c| m.from_small(c)));
            data.resize(data.len() + self.degree - coeffs.len(), 0);
        }
        Poly::from_raw(data)
    }

    /// `a += coeffs` for small signed coefficients (`coeffs.len() ≤ N`).
    pub fn add_small_assign(&self, a: &mut Poly, coeffs: &[i64]) {
        self.check(a.data.len());
        assert!(coeffs.len() <= self.degree, "at most N coefficients");
        for (m, block) in self.moduli.iter().zip(a.data.chunks_exact_mut(self.degree)) {
            for (dst, &c) in block.iter_mut().zip(coeffs) {
                *dst = m.add(*dst, m.from_small(c));
            }
        }
    }

    /// `a += values·scale_j` modulo each `q_j` (`values.len() ≤ N`; used for `Δ·m`).
    pub fn add_scaled_assign(&self, a: &mut Poly, values: &[u64], scale: &[u64]) {
        self.check(a.data.len());
        assert!(values.len() <= self.degree && scale.len() == self.moduli.len());
        for ((m, &s), block) in self
            .moduli
            .iter()
            .zip(scale)
            .zip(a.data.chunks_exact_mut(self.degree))
        {
            let s_shoup = m.shoup(s);
            for (dst, &v) in block.iter_mut().zip(values) {
                *dst = m.add(*dst, m.mul_shoup(v, s, s_shoup));
            }
        }
    }

    /// The residues of prime `j` of a polynomial.
    pub fn residues<'a>(&self, p: &'a Poly, j: usize) -> &'a [u64] {
        &p.data[j * self.degree..(j + 1) * self.degree]
    }

    fn check(&self, len: usize) {
        assert_eq!(len, self.poly_len(), "polynomial from another ring context");
    }

    /// `a += b`.
    pub fn add_assign(&self, a: &mut Poly, b: &Poly) {
        self.add_raw(&mut a.data, &b.data);
    }

    /// `a −= b`.
    pub fn sub_assign(&self, a: &mut Poly, b: &Poly) {
        self.check(a.data.len());
        self.check(b.data.len());
        for ((m, x), y) in self
            .moduli
            .iter()
            .zip(a.data.chunks_exact_mut(self.degree))
            .zip(b.data.chunks_exact(self.degree))
        {
            for (x, &y) in x.iter_mut().zip(y) {
                *x = m.sub(*x, y);
            }
        }
    }

    /// `a = −a`.
    pub fn neg_assign(&self, a: &mut Poly) {
        self.check(a.data.len());
        for (m, x) in self.moduli.iter().zip(a.data.chunks_exact_mut(self.degree)) {
            for x in x.iter_mut() {
                *x = m.neg(*x);
            }
        }
    }

    /// `a += b` in the evaluation domain.
    pub fn add_assign_ntt(&self, a: &mut NttPoly, b: &NttPoly) {
        self.add_raw(&mut a.data, &b.data);
    }

    fn add_raw(&self, a: &mut [u64], b: &[u64]) {
        self.check(a.len());
        self.check(b.len());
        // Compiled for AVX2 and dispatched at run time (the baseline x86-64
        // target has no 64-bit vector compare).
        pulp::Arch::new().dispatch(
            #[inline(always)]
            || {
                for ((m, x), y) in self
                    .moduli
                    .iter()
                    .zip(a.chunks_exact_mut(self.degree))
                    .zip(b.chunks_exact(self.degree))
                {
                    let q = m.value();
                    for (x, &y) in x.iter_mut().zip(y) {
                        let s = *x + y;
                        *x = if s >= q { s - q } else { s };
                    }
                }
            },
        )
    }

    /// Multiplies every residue of prime `j` by `scalars[j]` (evaluation form).
    pub fn mul_scalar_assign_ntt(&self, a: &mut NttPoly, scalars: &[u64]) {
        self.mul_scalar_raw(&mut a.data, scalars);
    }

    /// Multiplies every coefficient modulo `q_j` by `scalars[j]`.
    pub fn mul_scalar_assign(&self, a: &mut Poly, scalars: &[u64]) {
        self.mul_scalar_raw(&mut a.data, scalars);
    }

    fn mul_scalar_raw(&self, a: &mut [u64], scalars: &[u64]) {
        self.check(a.len());
        assert_eq!(scalars.len(), self.moduli.len());
        for ((m, &s), x) in self
            .moduli
            .iter()
            .zip(scalars)
            .zip(a.chunks_exact_mut(self.degree))
        {
            let s = s % m.value();
            let s_shoup = m.shoup(s);
            for x in x.iter_mut() {
                *x = m.mul_shoup(*x, s, s_shoup);
            }
        }
    }

    /// Forward negacyclic NTT of every limb.
    pub fn forward(&self, p: &Poly) -> NttPoly {
        self.forward_owned(p.clone())
    }

    /// Forward negacyclic NTT, reusing the buffer.
    pub fn forward_owned(&self, mut p: Poly) -> NttPoly {
        self.check(p.data.len());
        for (plan, block) in self.plans.iter().zip(p.data.chunks_exact_mut(self.degree)) {
            plan.fwd(block);
        }
        NttPoly::from_raw(std::mem::take(&mut p.data))
    }

    /// Inverse negacyclic NTT of every limb (including the division by `N`).
    pub fn inverse(&self, mut p: NttPoly) -> Poly {
        self.check(p.data.len());
        for (plan, block) in self.plans.iter().zip(p.data.chunks_exact_mut(self.degree)) {
            plan.inv(block);
            plan.normalize(block);
        }
        Poly::from_raw(std::mem::take(&mut p.data))
    }

    /// The negacyclic product `a·b` of two transformed polynomials, returned
    /// in coefficient form (pointwise product, then inverse NTT).
    pub fn mul_to_coeff(&self, a: &NttPoly, b: &NttPoly) -> Poly {
        self.check(a.data.len());
        self.check(b.data.len());
        let mut out = a.data.clone();
        for ((plan, dst), rhs) in self
            .plans
            .iter()
            .zip(out.chunks_exact_mut(self.degree))
            .zip(b.data.chunks_exact(self.degree))
        {
            // Multiplies by N^{-1} too, so the inverse transform needs no normalisation.
            plan.mul_assign_normalize(dst, rhs);
            plan.inv(dst);
        }
        Poly::from_raw(out)
    }

    /// As [`RingContext::mul_to_coeff`], reusing `a`'s buffer for the result.
    pub fn mul_to_coeff_owned(&self, mut a: NttPoly, b: &NttPoly) -> Poly {
        self.check(a.data.len());
        self.check(b.data.len());
        for ((plan, dst), rhs) in self
            .plans
            .iter()
            .zip(a.data.chunks_exact_mut(self.degree))
            .zip(b.data.chunks_exact(self.degree))
        {
            plan.mul_assign_normalize(dst, rhs);
            plan.inv(dst);
        }
        Poly::from_raw(std::mem::take(&mut a.data))
    }

    /// `acc += a ⊙ b` in the evaluation domain (a product kept transformed).
    pub fn mul_accumulate_ntt(&self, acc: &mut NttPoly, a: &NttPoly, b: &NttPoly) {
        self.check(acc.data.len());
        self.check(a.data.len());
        self.check(b.data.len());
        for (((plan, dst), x), y) in self
            .plans
            .iter()
            .zip(acc.data.chunks_exact_mut(self.degree))
            .zip(a.data.chunks_exact(self.degree))
            .zip(b.data.chunks_exact(self.degree))
        {
            plan.mul_accumulate(dst, x, y);
        }
    }

    /// Builds a transformed polynomial from residues laid out prime by prime,
    /// checking every residue is `< q_i` (the evaluation-form twin of
    /// [`RingContext::poly_from_residues`]).
    pub fn ntt_poly_from_residues(&self, data: Vec<u64>) -> Result<NttPoly> {
        let p = self.poly_from_residues(data)?;
        Ok(NttPoly::from_raw(p.data))
    }

    /// The primitive `2N`-th root of unity `ψ_j` of each prime's NTT: the
    /// transform evaluates a polynomial at `ψ_j^{2·rev(i)+1}` in position `i`,
    /// `rev` reversing `log2 N` bits (checked by a test). Published so that
    /// an independent implementation can reproduce the evaluation form.
    pub fn ntt_roots(&self) -> Vec<u64> {
        let mut x = vec![0i64; self.degree];
        x[1] = 1;
        let fx = self.forward_owned(self.poly_from_signed(&x));
        (0..self.moduli.len())
            .map(|j| fx.data[j * self.degree])
            .collect()
    }

    /// The residues of prime `j` of a transformed polynomial.
    pub fn ntt_residues<'a>(&self, p: &'a NttPoly, j: usize) -> &'a [u64] {
        &p.data[j * self.degree..(j + 1) * self.degree]
    }

    /// `Q` residue composition (CRT) of coefficient `i`: the unique `x ∈ [0, Q)`.
    #[inline]
    pub fn compose(&self, p: &Poly, i: usize) -> u128 {
        let n = self.degree;
        match (self.moduli.as_slice(), self.garner) {
            ([_], _) => u128::from(p.data[i]),
            ([q1, q2], Some((inv, inv_shoup))) => {
                let x1 = p.data[i];
                let x2 = p.data[n + i];
                // Garner: x = x1 + q1·((x2 − x1)·q1^{-1} mod q2).
                let x1_mod_q2 = if x1 >= q2.value() {
                    x1 % q2.value()
                } else {
                    x1
                };
                let d = q2.sub(x2, x1_mod_q2);
                let y = q2.mul_shoup(d, inv, inv_shoup);
                u128::from(x1) + u128::from(q1.value()) * u128::from(y)
            }
            _ => unreachable!("at most two moduli, checked in the constructor"),
        }
    }

    /// Scale-and-round of every coefficient: `⌊t·x/Q⌉ mod t` for `t = 2^bits`,
    /// `bits ≤ 32`, with `x` the CRT composition. Exact: a floating-point
    /// estimate is corrected with wrapping 128-bit integer arithmetic.
    pub fn scale_round(&self, p: &Poly, bits: u32, count: usize) -> Vec<u64> {
        assert!((1..=32).contains(&bits) && count <= self.degree);
        let q = self.q;
        let t = 1u128 << bits;
        let half_q = q / 2;
        let out_mask = (1u64 << bits) - 1;
        let n = self.degree;
        match (self.moduli.as_slice(), self.garner) {
            ([_], _) => {
                let ratio = (t as f64) / (q as f64);
                p.data[..count]
                    .iter()
                    .map(|&x| round_div(u128::from(x), (x as f64) * ratio, t, q, half_q) & out_mask)
                    .collect()
            }
            ([q1, q2], Some((inv, inv_shoup))) => {
                // x = x1 + q1·y (Garner), so t·x/Q = y·(t/q2) + x1·(t/Q): an
                // estimate from two u64→f64 conversions instead of a u128 one.
                let r_q2 = (t as f64) / (q2.value() as f64);
                let r_q = (t as f64) / (q as f64);
                let (lo, hi) = p.data.split_at(n);
                lo[..count]
                    .iter()
                    .zip(&hi[..count])
                    .map(|(&x1, &x2)| {
                        let x1_mod_q2 = if x1 >= q2.value() {
                            x1 % q2.value()
                        } else {
                            x1
                        };
                        let y = q2.mul_shoup(q2.sub(x2, x1_mod_q2), inv, inv_shoup);
                        let x = u128::from(x1) + u128::from(q1.value()) * u128::from(y);
                        let est = (y as f64) * r_q2 + (x1 as f64) * r_q;
                        round_div(x, est, t, q, half_q) & out_mask
                    })
                    .collect()
            }
            _ => unreachable!("at most two moduli, checked in the constructor"),
        }
    }
}

/// `⌊(t·x + ⌊q/2⌋)/q⌋` for `x < q < 2^125`, `t ≤ 2^32`, given a
/// floating-point estimate `approx ≈ t·x/q`.
///
/// The true remainder `r = t·x + ⌊q/2⌋ − est·q` lies in `(−2q, 2q)` for the
/// rounded estimate `est`, so it is exact in wrapping `u128` arithmetic read
/// as `i128`; the estimate is then corrected step by step.
#[inline]
pub(crate) fn round_div(x: u128, approx: f64, t: u128, q: u128, half_q: u128) -> u64 {
    let mut est = (approx + 0.5).floor().max(0.0) as u128;
    let mut r = t
        .wrapping_mul(x)
        .wrapping_add(half_q)
        .wrapping_sub(est.wrapping_mul(q)) as i128;
    let qi = q as i128;
    while r < 0 {
        est -= 1;
        r += qi;
    }
    while r >= qi {
        est += 1;
        r -= qi;
    }
    est as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_div_exact_at_boundaries() {
        let ctx =
            RingContext::new(4096, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let q = ctx.modulus_product();
        for bits in [1u32, 8, 20, 28, 32] {
            let t = 1u128 << bits;
            let ratio = t as f64 / q as f64;
            // The value m·Q/t ± 1 around every rounding boundary must round exactly.
            for m in [0u128, 1, 2, t / 3, t / 2, t - 2, t - 1] {
                // boundary between m and m+1 sits at x = (m + 1/2)·Q/t.
                // ⌊(2m+1)·Q/(2t)⌋ without overflow, with Q = a·2t + r.
                let (a, r) = (q / (2 * t), q % (2 * t));
                let x_lo = (2 * m + 1) * a + (2 * m + 1) * r / (2 * t);
                for x in [x_lo.saturating_sub(1), x_lo, x_lo + 1, x_lo + 2] {
                    if x >= q {
                        continue;
                    }
                    let got = round_div(x, (x as f64) * ratio, t, q, q / 2);
                    let expected = naive_round(x, t, q);
                    assert_eq!(u128::from(got), expected, "bits {bits} m {m} x {x}");
                }
            }
        }
    }

    /// Schoolbook `⌊(t·x + ⌊q/2⌋)/q⌋` by long division, bit by bit.
    fn naive_round(x: u128, t: u128, q: u128) -> u128 {
        let bits = t.trailing_zeros();
        let mut quo = 0u128;
        let mut rem = x;
        for _ in 0..bits {
            rem <<= 1;
            quo <<= 1;
            if rem >= q {
                rem -= q;
                quo += 1;
            }
        }
        if rem + q / 2 >= q { quo + 1 } else { quo }
    }

    #[test]
    fn scale_round_matches_long_division() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for moduli in [
            vec![1_125_899_906_826_241u64, 1_125_899_906_629_633],
            vec![36_028_797_018_652_673],
        ] {
            let ctx = RingContext::new(4096, &moduli).expect("ctx");
            let p = crate::sample::sample_uniform(&ctx, &mut rng);
            for bits in [1u32, 18, 28, 32] {
                let got = ctx.scale_round(&p, bits, 4096);
                for (i, &g) in got.iter().enumerate() {
                    let expected =
                        naive_round(ctx.compose(&p, i), 1u128 << bits, ctx.modulus_product())
                            % (1u128 << bits);
                    assert_eq!(u128::from(g), expected, "bits {bits} coefficient {i}");
                }
            }
        }
    }

    #[test]
    fn rejects_bad_moduli() {
        assert!(matches!(
            RingContext::new(4096, &[97]),
            Err(Error::InvalidModulus { .. })
        ));
        assert!(matches!(
            RingContext::new(4096, &[8193 * 3]),
            Err(Error::InvalidModulus { .. })
        ));
        assert!(matches!(
            RingContext::new(3000, &[12289]),
            Err(Error::InvalidDegree { .. })
        ));
        assert!(matches!(
            RingContext::new(1024, &[]),
            Err(Error::ModuliCount { .. })
        ));
        let q = 1_125_899_906_826_241;
        assert!(matches!(
            RingContext::new(4096, &[q, q]),
            Err(Error::InvalidModulus { .. })
        ));
        assert!(matches!(
            RingContext::new(4096, &[q, q, q]),
            Err(Error::ModuliCount { .. })
        ));
    }
}
