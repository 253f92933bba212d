//! Arithmetic modulo one RNS prime `q < 2^62`.

use crate::prime::{inv_mod_prime, is_prime};

/// One NTT-friendly prime of the RNS basis, with the constants its
/// arithmetic needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modulus {
    q: u64,
    bits: u32,
}

impl Modulus {
    /// Wraps `q`; callers guarantee `q` is prime and below `2^62` (the
    /// [`RingContext`](crate::RingContext) constructor checks it).
    pub(crate) fn new(q: u64) -> Self {
        debug_assert!(is_prime(q) && q < (1u64 << 62));
        Self {
            q,
            bits: 64 - q.leading_zeros(),
        }
    }

    /// The prime `q`.
    #[inline]
    pub fn value(&self) -> u64 {
        self.q
    }

    /// `⌈log2 q⌉` for a prime that is not a power of two: the number of bits a
    /// residue takes on the wire.
    #[inline]
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `(a + b) mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.q { s - self.q } else { s }
    }

    /// `(a − b) mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b { a - b } else { a + self.q - b }
    }

    /// `(−a) mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 { 0 } else { self.q - a }
    }

    /// `(a · b) mod q` through a 128-bit product (slow path; hot loops use
    /// [`Modulus::shoup`] or the NTT backend).
    #[inline]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        ((u128::from(a) * u128::from(b)) % u128::from(self.q)) as u64
    }

    /// Shoup precomputation `⌊w·2^64/q⌋` for repeated multiplication by `w < q`.
    #[inline]
    pub fn shoup(&self, w: u64) -> u64 {
        ((u128::from(w) << 64) / u128::from(self.q)) as u64
    }

    /// `(a · w) mod q` given `w_shoup = shoup(w)`; exact for `a < 2^64`, `w < q < 2^63`.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let quot = ((u128::from(a) * u128::from(w_shoup)) >> 64) as u64;
        let r = a.wrapping_mul(w).wrapping_sub(quot.wrapping_mul(self.q));
        if r >= self.q { r - self.q } else { r }
    }

    /// `a^{-1} mod q` for `a ≢ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = a % self.q;
        if a == 0 {
            None
        } else {
            Some(inv_mod_prime(a, self.q))
        }
    }

    /// The residue of a signed integer.
    #[inline(always)]
    pub fn from_i64(&self, v: i64) -> u64 {
        let r = v.rem_euclid(self.q as i64);
        r as u64
    }

    /// The residue of a signed integer with `|v| < q` (branch-free); larger
    /// magnitudes fall back to [`Modulus::from_i64`].
    #[inline(always)]
    pub fn from_small(&self, v: i64) -> u64 {
        if v.unsigned_abs() < self.q {
            (v as u64).wrapping_add(self.q & ((v >> 63) as u64))
        } else {
            self.from_i64(v)
        }
    }

    /// The centred representative in `(−q/2, q/2]` of a residue.
    #[inline]
    pub fn centre(&self, a: u64) -> i64 {
        if a > self.q / 2 {
            a as i64 - self.q as i64
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Q: u64 = 1_125_899_906_826_241;

    proptest! {
        #[test]
        fn shoup_matches_u128(a in 0u64..u64::MAX, w in 0u64..Q) {
            let m = Modulus::new(Q);
            prop_assert_eq!(m.mul_shoup(a, w, m.shoup(w)), ((a as u128 * w as u128) % Q as u128) as u64);
        }

        #[test]
        fn add_sub_neg(a in 0u64..Q, b in 0u64..Q) {
            let m = Modulus::new(Q);
            prop_assert_eq!(m.add(a, b) as u128, (a as u128 + b as u128) % Q as u128);
            prop_assert_eq!(m.add(m.sub(a, b), b), a);
            prop_assert_eq!(m.add(a, m.neg(a)), 0);
        }

        #[test]
        fn signed_lift_and_centre(v in -(1i64 << 48)..(1i64 << 48), w in any::<i64>()) {
            let m = Modulus::new(Q);
            prop_assert_eq!(m.centre(m.from_i64(v)), v);
            prop_assert_eq!(m.from_small(v), m.from_i64(v));
            prop_assert_eq!(m.from_small(w), m.from_i64(w));
        }
    }

    #[test]
    fn inverse() {
        let m = Modulus::new(Q);
        for a in [1u64, 2, 3, 12345, Q - 1] {
            let i = m.inv(a).expect("nonzero");
            assert_eq!(m.mul(a, i), 1);
        }
        assert_eq!(m.inv(0), None);
        assert_eq!(m.inv(Q), None);
    }
}
