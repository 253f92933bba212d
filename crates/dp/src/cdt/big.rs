//! A small unsigned big integer (little-endian `u64` limbs) for the
//! fixed-point interval arithmetic of [`super`]: exact addition,
//! subtraction, multiplication and shifts, shifts right rounded down or up,
//! and long division rounded down or up. No floating point, no `unsafe`.

use core::cmp::Ordering;

/// An unsigned integer; the limb vector carries no trailing zero limbs.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Big(Vec<u64>);

impl core::fmt::Debug for Big {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Big(0x")?;
        if self.0.is_empty() {
            write!(f, "0")?;
        }
        for (i, l) in self.0.iter().rev().enumerate() {
            if i == 0 {
                write!(f, "{l:x}")?;
            } else {
                write!(f, "_{l:016x}")?;
            }
        }
        write!(f, ")")
    }
}

impl Big {
    fn trim(mut self) -> Self {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    pub(crate) fn zero() -> Self {
        Self(Vec::new())
    }

    pub(crate) fn from_u128(v: u128) -> Self {
        Self(vec![v as u64, (v >> 64) as u64]).trim()
    }

    /// `2^n`.
    pub(crate) fn pow2(n: u32) -> Self {
        let mut l = vec![0u64; n as usize / 64 + 1];
        l[n as usize / 64] = 1 << (n % 64);
        Self(l)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of significant bits (0 for zero).
    pub(crate) fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(&top) => 64 * (self.0.len() as u32 - 1) + (64 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }

    /// The low 64 bits.
    pub(crate) fn low_u64(&self) -> u64 {
        self.0.first().copied().unwrap_or(0)
    }

    /// The value if it fits in 128 bits.
    pub(crate) fn to_u128(&self) -> Option<u128> {
        (self.0.len() <= 2).then(|| {
            u128::from(self.low_u64()) | (u128::from(self.0.get(1).copied().unwrap_or(0)) << 64)
        })
    }

    /// The value if it fits in 64 bits.
    pub(crate) fn to_u64(&self) -> Option<u64> {
        (self.0.len() <= 1).then(|| self.low_u64())
    }

    pub(crate) fn add(&self, o: &Self) -> Self {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = o.0.get(i).copied().unwrap_or(0);
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            out.push(s2);
            carry = u64::from(c1) + u64::from(c2);
        }
        out.push(carry);
        Self(out).trim()
    }

    pub(crate) fn add_u64(&self, v: u64) -> Self {
        let mut out = self.clone();
        out.inc_by(v);
        out
    }

    /// `self += v` in place.
    fn inc_by(&mut self, v: u64) {
        let mut carry = v;
        for l in self.0.iter_mut() {
            if carry == 0 {
                return;
            }
            let (s, c) = l.overflowing_add(carry);
            *l = s;
            carry = u64::from(c);
        }
        if carry != 0 {
            self.0.push(carry);
        }
    }

    /// `self += 2·o` in place.
    pub(crate) fn add_twice(&mut self, o: &Self) {
        let n = self.0.len().max(o.0.len() + 1);
        self.0.resize(n + 1, 0);
        let mut carry = 0u64;
        let mut prev = 0u64;
        for i in 0..n {
            let cur = o.0.get(i).copied().unwrap_or(0);
            let b = (cur << 1) | (prev >> 63);
            prev = cur;
            let (s1, c1) = self.0[i].overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            self.0[i] = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        self.0[n] = carry;
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// `⌊self·o / 2^n⌋` (`ceil = false`) or `⌈self·o / 2^n⌉` (`ceil = true`),
    /// with one allocation.
    pub(crate) fn mul_shr(&self, o: &Self, n: u32, ceil: bool) -> Self {
        let mut v = self.mul(o).0;
        let (w, b) = (n as usize / 64, n % 64);
        if w >= v.len() {
            let lost = !v.is_empty();
            v.clear();
            let mut r = Self(v);
            if ceil && lost {
                r.inc_by(1);
            }
            return r;
        }
        let mut lost = v[..w].iter().any(|&l| l != 0);
        if b != 0 {
            lost |= v[w] & ((1u64 << b) - 1) != 0;
        }
        let len = v.len();
        for i in w..len {
            let lo = v[i] >> b;
            let hi = if b != 0 && i + 1 < len {
                v[i + 1] << (64 - b)
            } else {
                0
            };
            v[i - w] = lo | hi;
        }
        v.truncate(len - w);
        let mut r = Self(v).trim();
        if ceil && lost {
            r.inc_by(1);
        }
        r
    }

    /// `self − o`; `None` if negative.
    pub(crate) fn checked_sub(&self, o: &Self) -> Option<Self> {
        if self < o {
            return None;
        }
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0u64;
        for i in 0..self.0.len() {
            let a = self.0[i];
            let b = o.0.get(i).copied().unwrap_or(0);
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(borrow);
            out.push(d2);
            borrow = u64::from(b1) + u64::from(b2);
        }
        debug_assert_eq!(borrow, 0);
        Some(Self(out).trim())
    }

    pub(crate) fn mul(&self, o: &Self) -> Self {
        if self.is_zero() || o.is_zero() {
            return Self::zero();
        }
        let mut out = vec![0u64; self.0.len() + o.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u128;
            for (j, &b) in o.0.iter().enumerate() {
                let t = u128::from(a) * u128::from(b) + u128::from(out[i + j]) + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            out[i + o.0.len()] = carry as u64;
        }
        Self(out).trim()
    }

    #[cfg(test)]
    pub(crate) fn mul_u64(&self, v: u64) -> Self {
        self.mul(&Self::from_u128(u128::from(v)))
    }

    pub(crate) fn shl(&self, n: u32) -> Self {
        if self.is_zero() {
            return Self::zero();
        }
        let (w, b) = (n as usize / 64, n % 64);
        let mut out = vec![0u64; w + self.0.len() + 1];
        for (i, &l) in self.0.iter().enumerate() {
            out[w + i] |= l << b;
            if b != 0 {
                out[w + i + 1] |= l >> (64 - b);
            }
        }
        Self(out).trim()
    }

    /// `⌊self / 2^n⌋` and whether a non-zero bit was shifted out.
    fn shr_inexact(&self, n: u32) -> (Self, bool) {
        let (w, b) = (n as usize / 64, n % 64);
        if w >= self.0.len() {
            return (Self::zero(), !self.is_zero());
        }
        let mut lost = self.0[..w].iter().any(|&l| l != 0);
        if b != 0 {
            lost |= self.0[w] & ((1u64 << b) - 1) != 0;
        }
        let mut out = Vec::with_capacity(self.0.len() - w);
        for i in w..self.0.len() {
            let lo = self.0[i] >> b;
            let hi = if b != 0 {
                self.0.get(i + 1).map_or(0, |&h| h << (64 - b))
            } else {
                0
            };
            out.push(lo | hi);
        }
        (Self(out).trim(), lost)
    }

    /// `⌊self / 2^n⌋`.
    pub(crate) fn shr_floor(&self, n: u32) -> Self {
        self.shr_inexact(n).0
    }

    /// `⌈self / 2^n⌉`.
    pub(crate) fn shr_ceil(&self, n: u32) -> Self {
        let (q, lost) = self.shr_inexact(n);
        if lost { q.add_u64(1) } else { q }
    }

    /// `(⌊self / d⌋, self mod d ≠ 0)` by binary long division; `d > 0`.
    fn div_inexact(&self, d: &Self) -> (Self, bool) {
        assert!(!d.is_zero(), "division by zero");
        let mut q = vec![0u64; self.0.len()];
        let mut r = Self::zero();
        for i in (0..self.bits()).rev() {
            r = r.shl(1);
            if self.bit(i) {
                r = r.add_u64(1);
            }
            if let Some(s) = r.checked_sub(d) {
                r = s;
                q[i as usize / 64] |= 1 << (i % 64);
            }
        }
        (Self(q).trim(), !r.is_zero())
    }

    /// `⌊self / d⌋`, `d > 0`.
    pub(crate) fn div_floor(&self, d: &Self) -> Self {
        self.div_inexact(d).0
    }

    /// `⌈self / d⌉`, `d > 0`.
    pub(crate) fn div_ceil(&self, d: &Self) -> Self {
        let (q, rem) = self.div_inexact(d);
        if rem { q.add_u64(1) } else { q }
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Big {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u128) -> Big {
        Big::from_u128(v)
    }

    #[test]
    fn arithmetic_matches_u128() {
        let vals = [
            0u128,
            1,
            2,
            3,
            0xffff_ffff_ffff_ffff,
            1 << 64,
            (1 << 64) + 12345,
            0x1234_5678_9abc_def0_1111_2222_3333,
        ];
        for &x in &vals {
            for &y in &vals {
                assert_eq!(b(x).add(&b(y)), b(x + y), "{x} + {y}");
                assert_eq!(b(x).checked_sub(&b(y)), x.checked_sub(y).map(b));
                assert_eq!(b(x).cmp(&b(y)), x.cmp(&y));
                if x < (1 << 64) && y < (1 << 64) {
                    assert_eq!(b(x).mul(&b(y)), b(x * y));
                }
                if y != 0 {
                    assert_eq!(b(x).div_floor(&b(y)), b(x / y));
                    assert_eq!(b(x).div_ceil(&b(y)), b(x.div_ceil(y)));
                }
            }
            for n in [0u32, 1, 5, 63, 64, 65, 100, 130] {
                if n < 128 {
                    assert_eq!(b(x).shr_floor(n), b(x >> n));
                    let exact = (x >> n) << n == x;
                    assert_eq!(b(x).shr_ceil(n), b((x >> n) + u128::from(!exact)));
                    if x.leading_zeros() >= n {
                        assert_eq!(b(x).shl(n), b(x << n));
                    }
                } else {
                    assert_eq!(b(x).shr_floor(n), Big::zero());
                    assert_eq!(b(x).shr_ceil(n), b(u128::from(x != 0)));
                }
            }
        }
        for &x in &vals {
            for &y in &vals {
                let mut t = b(x);
                t.add_twice(&b(y >> 2));
                assert_eq!(t, b(x).add(&b(y >> 2)).add(&b(y >> 2)), "{x} + 2·{y}/4");
                if x < (1 << 64) && y < (1 << 64) {
                    for n in [0u32, 3, 64, 70, 127, 128, 200] {
                        let p = b(x * y);
                        assert_eq!(b(x).mul_shr(&b(y), n, false), p.shr_floor(n));
                        assert_eq!(b(x).mul_shr(&b(y), n, true), p.shr_ceil(n));
                    }
                }
            }
            assert_eq!(b(x).add_u64(u64::MAX), b(x + u128::from(u64::MAX)));
            assert_eq!(b(x).to_u128(), Some(x));
        }
        // (2^128 − 1)² = 2^256 − 2^129 + 1.
        let m = b(u128::MAX).mul(&b(u128::MAX));
        assert_eq!(m.bits(), 256);
        assert_eq!(m.shr_floor(129), b(u128::MAX >> 1));
        assert_eq!(
            m.add(&Big::pow2(129)).checked_sub(&Big::pow2(256)),
            Some(b(1))
        );
        assert_eq!(m.div_floor(&b(u128::MAX)), b(u128::MAX));
        assert_eq!(Big::pow2(200).shr_floor(137), Big::pow2(63));
        assert_eq!(Big::pow2(70).to_u64(), None);
        assert_eq!(Big::pow2(128).to_u128(), None);
        assert_eq!(Big::pow2(63).to_u64(), Some(1 << 63));
    }
}
