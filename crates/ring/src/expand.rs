//! Expansion of a public seed into uniform polynomials with BLAKE3 in XOF mode.
//!
//! The stream is `BLAKE3.derive_key(context)` keyed hashing of
//! `seed ‖ N (u32 LE) ‖ L (u8) ‖ q_1 (u64 LE) ‖ … ‖ q_L`, read as an extendable
//! output. For each prime `q_j` in order and each coefficient in order, 8-byte
//! little-endian words are read, masked to `⌈log2 q_j⌉` bits, and rejected
//! while `≥ q_j`. The context string separates uses (the CRS, tests, …), and
//! binding the ring into the input makes different rings draw independent
//! polynomials. Anyone can recompute the result from the seed.

use crate::{Poly, RingContext};

/// Expands `seed` under the domain-separation `context` into a uniform
/// polynomial of `ctx` (coefficient form).
pub fn expand_uniform(ctx: &RingContext, seed: &[u8; 32], context: &str) -> Poly {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    hasher.update(seed);
    hasher.update(&(ctx.degree() as u32).to_le_bytes());
    hasher.update(&[ctx.num_moduli() as u8]);
    for m in ctx.moduli() {
        hasher.update(&m.value().to_le_bytes());
    }
    let mut reader = hasher.finalize_xof();
    let mut out = Vec::with_capacity(ctx.poly_len());
    let mut buf = [0u8; 8 * 256];
    let mut pos = buf.len();
    for m in ctx.moduli() {
        let mask = (1u64 << m.bits()) - 1;
        let mut produced = 0;
        while produced < ctx.degree() {
            if pos == buf.len() {
                reader.fill(&mut buf);
                pos = 0;
            }
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[pos..pos + 8]);
            pos += 8;
            let v = u64::from_le_bytes(w) & mask;
            if v < m.value() {
                out.push(v);
                produced += 1;
            }
        }
    }
    Poly::from_raw(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_domain_separated_and_uniform() {
        let ctx =
            RingContext::new(4096, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
        let a = expand_uniform(&ctx, &[7; 32], "fedhe test a");
        let b = expand_uniform(&ctx, &[7; 32], "fedhe test a");
        let c = expand_uniform(&ctx, &[7; 32], "fedhe test b");
        let d = expand_uniform(&ctx, &[8; 32], "fedhe test a");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Every residue is reduced, and the mean is close to q/2 for each prime.
        for (j, m) in ctx.moduli().iter().enumerate() {
            let r = ctx.residues(&a, j);
            assert!(r.iter().all(|&x| x < m.value()));
            let mean = r.iter().map(|&x| x as f64 / m.value() as f64).sum::<f64>() / r.len() as f64;
            // std of the mean of 4096 U(0,1) is 0.0045: 6 sigma.
            assert!((mean - 0.5).abs() < 0.027, "mean {mean}");
        }
        // A different ring gives a different stream even from the same seed.
        let ctx2 = RingContext::new(4096, &[1_125_899_906_826_241]).expect("ctx");
        let e = expand_uniform(&ctx2, &[7; 32], "fedhe test a");
        assert_ne!(ctx2.residues(&e, 0), ctx.residues(&a, 0));
    }
}
