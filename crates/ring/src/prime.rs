//! Deterministic primality testing and the search for NTT-friendly primes.
//!
//! Miller–Rabin with the first twelve primes as bases (2, 3, …, 37) is exact
//! for every `n < 3.3·10^24` (Sorenson and Webster 2015), hence for all `u64`.

/// Bases that make Miller–Rabin deterministic for all 64-bit integers.
const MR_BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(m)) as u64
}

/// `base^exp mod m` by square-and-multiply (not constant time; used on public values only).
pub fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    let mut acc = 1 % m;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    acc
}

/// Exact primality test for any `u64`.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for &p in &MR_BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for &a in &MR_BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// The `count` largest primes `q < 2^bits` with `q ≡ 1 (mod 2·degree)`, in
/// decreasing order, searching `k·2N + 1` downwards.
///
/// Returns `None` if `bits` is outside `2..=62`, `degree` is not a power of
/// two, or fewer than `count` such primes exist.
pub fn ntt_primes(bits: u32, degree: usize, count: usize) -> Option<Vec<u64>> {
    if !(2..=62).contains(&bits) || !degree.is_power_of_two() {
        return None;
    }
    let m = 2 * degree as u64;
    let mut k = ((1u64 << bits) - 1) / m;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if k == 0 {
            return None;
        }
        let q = k * m + 1;
        if q < (1u64 << bits) && is_prime(q) {
            out.push(q);
        }
        k -= 1;
    }
    Some(out)
}

/// Modular inverse of `a` modulo the prime `q` (Fermat). `a` must be nonzero mod `q`.
pub fn inv_mod_prime(a: u64, q: u64) -> u64 {
    pow_mod(a, q - 2, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_is_prime(n: u64) -> bool {
        if n < 2 {
            return false;
        }
        let mut d = 2;
        while d * d <= n {
            if n.is_multiple_of(d) {
                return false;
            }
            d += 1;
        }
        true
    }

    #[test]
    fn agrees_with_trial_division() {
        for n in 0..20_000u64 {
            assert_eq!(is_prime(n), naive_is_prime(n), "n = {n}");
        }
    }

    #[test]
    fn strong_pseudoprimes_are_rejected() {
        // Strong pseudoprimes to many bases (OEIS A014233 entries) and Carmichael numbers.
        for n in [
            2047u64,
            1_373_653,
            25_326_001,
            3_215_031_751,
            2_152_302_898_747,
            3_474_749_660_383,
            341_550_071_728_321,
            3_825_123_056_546_413_051,
            561,
            41041,
            825_265,
        ] {
            assert!(!is_prime(n), "{n} is composite");
        }
        assert!(is_prime(18_446_744_073_709_551_557)); // largest 64-bit prime
        assert!(is_prime((1u64 << 61) - 1));
    }

    #[test]
    fn ntt_primes_are_ntt_friendly() {
        for degree in [2048usize, 4096, 8192, 16384] {
            for bits in [30u32, 50, 55, 62] {
                let ps = ntt_primes(bits, degree, 3).expect("primes exist");
                for (i, &q) in ps.iter().enumerate() {
                    assert!(is_prime(q));
                    assert_eq!(q % (2 * degree as u64), 1);
                    assert!(q < 1u64 << bits);
                    if i > 0 {
                        assert!(q < ps[i - 1]);
                    }
                }
            }
        }
        assert_eq!(
            ntt_primes(50, 4096, 2),
            Some(vec![1_125_899_906_826_241, 1_125_899_906_629_633])
        );
    }
}
