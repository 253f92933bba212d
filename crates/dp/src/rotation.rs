//! The randomized Walsh–Hadamard rotation `x ↦ H·D_ξ·x` of DDGauss.
//!
//! `H` is the normalised Walsh–Hadamard matrix, `H_ij = (−1)^{popcount(i&j)}/√d`,
//! orthogonal and symmetric, so `H⁻¹ = H`; `D_ξ = diag(ξ)` with signs
//! `ξ ∈ {±1}^d` derived from the round's 32-byte seed, the same for every
//! client and the server of that round. The rotation spreads a vector's energy
//! evenly over coordinates (KLS 2021, Section 4.2), which keeps the modular
//! sum from wrapping and bounds the rounding error.

/// BLAKE3 `derive_key` context for the rotation signs. Changing it changes
/// every rotation, so it is versioned.
pub const SIGN_CONTEXT: &str = "fedhe 2026 ddgauss rotation signs v1";

/// The sign vector `ξ` for dimension `d` as a bit mask (bit set = −1):
/// BLAKE3 in `derive_key` mode with [`SIGN_CONTEXT`], keyed by the round seed,
/// read as an extendable output.
pub fn sign_mask(round_seed: &[u8; 32], d: usize) -> Vec<u64> {
    let mut hasher = blake3::Hasher::new_derive_key(SIGN_CONTEXT);
    hasher.update(round_seed);
    let mut reader = hasher.finalize_xof();
    let words = d.div_ceil(64);
    let mut bytes = vec![0u8; words * 8];
    reader.fill(&mut bytes);
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// Multiplies `x` by `D_ξ` in place (flips the sign where the mask bit is set).
pub fn apply_signs(x: &mut [f64], mask: &[u64]) {
    for (chunk, &word) in x.chunks_mut(64).zip(mask) {
        for (i, v) in chunk.iter_mut().enumerate() {
            // Branch-free: xor the IEEE sign bit.
            let flip = ((word >> i) & 1) << 63;
            *v = f64::from_bits(v.to_bits() ^ flip);
        }
    }
}

/// Block size (in values) within which all small butterflies run while the
/// block is in cache: 2^12 f64 = 32 KiB.
const BLOCK: usize = 1 << 12;

fn butterflies(x: &mut [f64], h: usize) {
    for chunk in x.chunks_exact_mut(2 * h) {
        let (a, b) = chunk.split_at_mut(h);
        for (u, v) in a.iter_mut().zip(b.iter_mut()) {
            let (s, t) = (*u + *v, *u - *v);
            *u = s;
            *v = t;
        }
    }
}

/// Unnormalised fast Walsh–Hadamard transform in place, `O(d log d)`:
/// `x ← √d·H·x`. `x.len()` must be a power of two (other lengths are left
/// untouched and reported as `false`).
pub fn fwht_unnormalized(x: &mut [f64]) -> bool {
    let d = x.len();
    if !d.is_power_of_two() {
        return false;
    }
    // Cache blocking: all strides below BLOCK are done block by block, so
    // each block is read from memory once for log2(BLOCK) passes.
    let inner = d.min(BLOCK);
    for block in x.chunks_exact_mut(inner) {
        let mut h = 1;
        while h < inner {
            butterflies(block, h);
            h *= 2;
        }
    }
    let mut h = inner;
    while h < d {
        butterflies(x, h);
        h *= 2;
    }
    true
}

/// Normalised transform `x ← H·x`.
pub fn fwht(x: &mut [f64]) -> bool {
    if !fwht_unnormalized(x) {
        return false;
    }
    let s = 1.0 / (x.len() as f64).sqrt();
    x.iter_mut().for_each(|v| *v *= s);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_hadamard(x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let s = 1.0 / (d as f64).sqrt();
        (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        let sign = if (i & j).count_ones() % 2 == 0 {
                            1.0
                        } else {
                            -1.0
                        };
                        sign * x[j]
                    })
                    .sum::<f64>()
                    * s
            })
            .collect()
    }

    #[test]
    fn matches_naive_and_is_involution() {
        for log_d in [0, 1, 3, 6, 13] {
            let d = 1usize << log_d;
            let x: Vec<f64> = (0..d).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect();
            let mut y = x.clone();
            assert!(fwht(&mut y));
            if d <= 1024 {
                let n = naive_hadamard(&x);
                for (a, b) in y.iter().zip(&n) {
                    assert!((a - b).abs() < 1e-9, "d={d}");
                }
            }
            let norm_x: f64 = x.iter().map(|v| v * v).sum();
            let norm_y: f64 = y.iter().map(|v| v * v).sum();
            assert!((norm_x - norm_y).abs() < 1e-9 * norm_x.max(1.0));
            assert!(fwht(&mut y));
            for (a, b) in y.iter().zip(&x) {
                assert!((a - b).abs() < 1e-9);
            }
        }
        let mut odd = vec![1.0; 3];
        assert!(!fwht(&mut odd));
    }

    #[test]
    fn signs_depend_on_seed_and_are_balanced() {
        let a = sign_mask(&[1u8; 32], 1 << 16);
        let b = sign_mask(&[2u8; 32], 1 << 16);
        assert_ne!(a, b);
        assert_eq!(a, sign_mask(&[1u8; 32], 1 << 16));
        let ones: u32 = a.iter().map(|w| w.count_ones()).sum();
        assert!((ones as i64 - 32768).abs() < 1000);
        let mut x = vec![1.0; 100];
        apply_signs(&mut x, &sign_mask(&[3u8; 32], 100));
        let mut y = x.clone();
        apply_signs(&mut y, &sign_mask(&[3u8; 32], 100));
        assert!(y.iter().all(|v| *v == 1.0));
    }
}
