//! # fedhe-ring
//!
//! The polynomial ring `R_Q = Z_Q[X]/(X^N + 1)` that fedhe's threshold RLWE
//! scheme lives in, in residue-number-system form over at most two
//! NTT-friendly primes `q_i ≡ 1 (mod 2N)`, `q_i < 2^62` (so that a
//! CRT-composed coefficient fits a `u128`).
//!
//! What it provides:
//! - [`RingContext`]: the ring, its arithmetic (add, sub, neg, negacyclic
//!   product through the NTT, scalar products), CRT composition and exact
//!   scale-and-round;
//! - [`Poly`] (coefficients) and [`NttPoly`] (evaluation form) as distinct types;
//! - a deterministic prime search with exact Miller–Rabin ([`prime`]);
//! - BLAKE3-XOF expansion of a public seed into uniform polynomials
//!   ([`expand_uniform`]);
//! - samplers: uniform, ternary, constant-time centred binomial, rounded
//!   Gaussian for flooding ([`sample`]).
//!
//! What it does not do: encryption, keys, parameters' security (that is
//! `fedhe-he`), any IO.
//!
//! The negacyclic NTT comes from `tfhe-ntt` (BSD-3-Clause-Clear, with Zama's
//! patent notice); it is kept behind this crate's API so it can be swapped.

#![forbid(unsafe_code)]

mod context;
mod expand;
mod modulus;
mod poly;
pub mod prime;
pub mod sample;

pub use context::{MAX_DEGREE, MAX_MODULI, MAX_MODULUS_BITS, MIN_DEGREE, RingContext};
pub use expand::expand_uniform;
pub use modulus::Modulus;
pub use poly::{NttPoly, Poly};
pub use sample::SmallPoly;

/// Errors of ring construction and of conformance checks on residues.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The ring degree is not a power of two in the supported range.
    #[error("ring degree {degree} is not a power of two in {MIN_DEGREE}..={MAX_DEGREE}")]
    InvalidDegree {
        /// The rejected degree.
        degree: usize,
    },
    /// Wrong number of RNS primes.
    #[error("{count} RNS moduli given, expected 1..={max}")]
    ModuliCount {
        /// How many were given.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// A modulus is not an NTT-friendly prime below `2^62`.
    #[error("modulus {modulus} is unusable: it {reason}")]
    InvalidModulus {
        /// The rejected modulus.
        modulus: u64,
        /// What was expected of it.
        reason: &'static str,
    },
    /// A residue vector has the wrong length.
    #[error("expected {expected} residues, found {found}")]
    Length {
        /// Expected count.
        expected: usize,
        /// Count found.
        found: usize,
    },
    /// A residue is not reduced.
    #[error("residue at index {index} is not below its modulus {modulus}")]
    ResidueOutOfRange {
        /// Index of the first offending residue.
        index: usize,
        /// The modulus it should be below.
        modulus: u64,
    },
    /// A sampler parameter is out of range.
    #[error("{what} out of range: expected {expected}")]
    Distribution {
        /// The parameter.
        what: &'static str,
        /// The accepted range.
        expected: &'static str,
    },
    /// The operating system's randomness source failed.
    #[error("the OS random number generator failed: {0}")]
    Rng(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A fresh ChaCha20 generator seeded from the operating system's CSPRNG.
///
/// Keys, encryption randomness and flooding noise each take their own
/// instance; seeded generators are for tests only.
pub fn os_rng() -> Result<rand_chacha::ChaCha20Rng> {
    use rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| Error::Rng(e.to_string()))
}

#[cfg(test)]
#[allow(
    clippy::needless_range_loop,
    reason = "index arithmetic mirrors the negacyclic convolution formula"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// Schoolbook negacyclic product mod q (the oracle the NTT is checked against).
    fn schoolbook(a: &[u64], b: &[u64], q: u64) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u128; n];
        let q128 = u128::from(q);
        for i in 0..n {
            for j in 0..n {
                let prod = u128::from(a[i]) * u128::from(b[j]) % q128;
                let k = i + j;
                if k < n {
                    out[k] = (out[k] + prod) % q128;
                } else {
                    out[k - n] = (out[k - n] + q128 - prod) % q128;
                }
            }
        }
        out.into_iter().map(|x| x as u64).collect()
    }

    /// Every ring degree the presets use, with the primes they use.
    #[test]
    fn ntt_product_equals_schoolbook() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        for degree in [2048usize, 4096, 8192, 16384] {
            let mut moduli = prime::ntt_primes(50, degree, 2).expect("primes");
            moduli.truncate(if degree == 4096 { 2 } else { 1 });
            if degree == 4096 {
                // the compact preset's 55-bit prime is exercised too
                moduli = vec![moduli[0], prime::ntt_primes(55, degree, 1).expect("p")[0]];
            }
            let ctx = RingContext::new(degree, &moduli).expect("ctx");
            let a = sample::sample_uniform(&ctx, &mut rng);
            let b = sample::sample_uniform(&ctx, &mut rng);
            let prod = ctx.mul_to_coeff(&ctx.forward(&a), &ctx.forward(&b));
            // The schoolbook product is O(N^2): check limb 0 fully at N ≤ 4096 and
            // sampled coefficients (computed directly) at larger N.
            for (j, m) in ctx.moduli().iter().enumerate() {
                let (ra, rb, rp) = (
                    ctx.residues(&a, j),
                    ctx.residues(&b, j),
                    ctx.residues(&prod, j),
                );
                if degree <= 4096 {
                    assert_eq!(
                        rp,
                        schoolbook(ra, rb, m.value()).as_slice(),
                        "N={degree} q={}",
                        m.value()
                    );
                } else {
                    for k in [0usize, 1, degree / 2, degree - 1] {
                        let mut acc = 0u128;
                        let q = u128::from(m.value());
                        for i in 0..degree {
                            let (jj, neg) = if i <= k {
                                (k - i, false)
                            } else {
                                (degree + k - i, true)
                            };
                            let p = u128::from(ra[i]) * u128::from(rb[jj]) % q;
                            acc = if neg {
                                (acc + q - p) % q
                            } else {
                                (acc + p) % q
                            };
                        }
                        assert_eq!(u128::from(rp[k]), acc, "N={degree} coefficient {k}");
                    }
                }
            }
            // forward then inverse is the identity
            assert_eq!(ctx.inverse(ctx.forward(&a)), a);
        }
    }

    /// The evaluation form is exactly `a(ψ^{2·rev(i)+1})` at position `i`,
    /// with `ψ` from `ntt_roots`: the convention the wire spec publishes.
    #[test]
    fn ntt_evaluation_points_are_documented() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for degree in [16usize, 4096] {
            let moduli = prime::ntt_primes(50, degree, 2).expect("primes");
            let ctx = RingContext::new(degree, &moduli).expect("ctx");
            let roots = ctx.ntt_roots();
            let a = sample::sample_uniform(&ctx, &mut rng);
            let fa = ctx.forward(&a);
            let logn = degree.trailing_zeros();
            for (j, m) in ctx.moduli().iter().enumerate() {
                let q = m.value();
                let psi = roots[j];
                assert_eq!(
                    prime::pow_mod(psi, degree as u64, q),
                    q - 1,
                    "ψ is a primitive 2N-th root"
                );
                for i in [0usize, 1, 2, degree / 2, degree - 1] {
                    let rev = (i as u64).reverse_bits() >> (64 - logn);
                    let w = prime::pow_mod(psi, 2 * rev + 1, q);
                    // Horner evaluation of limb j at w.
                    let coeffs = ctx.residues(&a, j);
                    let val = coeffs
                        .iter()
                        .rev()
                        .fold(0u64, |acc, &c| m.add(m.mul(acc, w), c));
                    assert_eq!(ctx.ntt_residues(&fa, j)[i], val, "N={degree} q={q} i={i}");
                }
            }
        }
    }

    #[test]
    fn crt_composition_is_exact() {
        let q1 = 1_125_899_906_826_241u64;
        let q2 = 1_125_899_906_629_633u64;
        let ctx = RingContext::new(16, &[q1, q2]).expect("ctx");
        let big_q = u128::from(q1) * u128::from(q2);
        let xs: Vec<u128> = vec![
            0,
            1,
            u128::from(q1) - 1,
            u128::from(q1),
            u128::from(q2),
            big_q / 2,
            big_q / 2 + 1,
            big_q - 1,
            big_q - u128::from(q1),
        ];
        let mut data = vec![0u64; 32];
        for (i, &x) in xs.iter().enumerate() {
            data[i] = (x % u128::from(q1)) as u64;
            data[16 + i] = (x % u128::from(q2)) as u64;
        }
        let p = ctx.poly_from_residues(data).expect("reduced");
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(ctx.compose(&p, i), x);
        }
    }

    #[test]
    fn scale_round_recovers_messages_at_the_noise_boundary() {
        // Δ·m + e decrypts to m exactly while |e| < Δ/2 − (Q mod t), at t = 2^28.
        let q1 = 1_125_899_906_826_241u64;
        let q2 = 1_125_899_906_629_633u64;
        let ctx = RingContext::new(16, &[q1, q2]).expect("ctx");
        let big_q = u128::from(q1) * u128::from(q2);
        let bits = 28;
        let t = 1u128 << bits;
        let delta = big_q / t;
        let slack = (big_q % t) + 1;
        let cases: Vec<(u128, i128)> = vec![
            (0, 0),
            (1, (delta / 2 - slack) as i128),
            (t - 1, -((delta / 2 - slack) as i128)),
            (t / 2, 12345),
            (0, -((delta / 2 - slack) as i128)), // wraps below zero
        ];
        let mut data = vec![0u64; 32];
        for (i, &(m, e)) in cases.iter().enumerate() {
            let x = ((m * delta) as i128 + e).rem_euclid(big_q as i128) as u128;
            data[i] = (x % u128::from(q1)) as u64;
            data[16 + i] = (x % u128::from(q2)) as u64;
        }
        let p = ctx.poly_from_residues(data).expect("reduced");
        let got = ctx.scale_round(&p, bits, cases.len());
        for (i, &(m, _)) in cases.iter().enumerate() {
            assert_eq!(u128::from(got[i]), m, "case {i}");
        }
    }

    #[test]
    fn residue_checks() {
        let q = 1_125_899_906_826_241u64;
        let ctx = RingContext::new(16, &[q]).expect("ctx");
        assert!(matches!(
            ctx.poly_from_residues(vec![0; 15]),
            Err(Error::Length { .. })
        ));
        let mut d = vec![0; 16];
        d[5] = q;
        assert_eq!(
            ctx.poly_from_residues(d),
            Err(Error::ResidueOutOfRange {
                index: 5,
                modulus: q
            })
        );
    }

    fn ctx2() -> RingContext {
        RingContext::new(64, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx")
    }

    proptest! {
        #[test]
        fn ring_axioms(seed in any::<u64>()) {
            let ctx = ctx2();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let a = sample::sample_uniform(&ctx, &mut rng);
            let b = sample::sample_uniform(&ctx, &mut rng);
            let c = sample::sample_uniform(&ctx, &mut rng);
            // (a + b) − b = a;  a + (−a) = 0
            let mut s = a.clone();
            ctx.add_assign(&mut s, &b);
            ctx.sub_assign(&mut s, &b);
            prop_assert_eq!(&s, &a);
            let mut n = a.clone();
            ctx.neg_assign(&mut n);
            ctx.add_assign(&mut n, &a);
            prop_assert_eq!(&n, &ctx.zero());
            // a·(b + c) = a·b + a·c and a·b = b·a
            let (fa, fb, fc) = (ctx.forward(&a), ctx.forward(&b), ctx.forward(&c));
            let mut bc = b.clone();
            ctx.add_assign(&mut bc, &c);
            let lhs = ctx.mul_to_coeff(&fa, &ctx.forward(&bc));
            let mut rhs = ctx.mul_to_coeff(&fa, &fb);
            ctx.add_assign(&mut rhs, &ctx.mul_to_coeff(&fa, &fc));
            prop_assert_eq!(&lhs, &rhs);
            prop_assert_eq!(ctx.mul_to_coeff(&fa, &fb), ctx.mul_to_coeff(&fb, &fa));
            // X^{N} = −1: multiplying by X^{N/2} twice negates.
            let mut xh = vec![0i64; 64];
            xh[32] = 1;
            let fx = ctx.forward(&ctx.poly_from_signed(&xh));
            let once = ctx.mul_to_coeff(&fa, &fx);
            let twice = ctx.mul_to_coeff(&ctx.forward(&once), &fx);
            let mut neg_a = a.clone();
            ctx.neg_assign(&mut neg_a);
            prop_assert_eq!(twice, neg_a);
        }

        #[test]
        fn scalar_product_in_ntt_domain(seed in any::<u64>(), s1 in 0u64..u64::MAX) {
            let ctx = ctx2();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let a = sample::sample_uniform(&ctx, &mut rng);
            let mut fa = ctx.forward(&a);
            let scalars: Vec<u64> = ctx.moduli().iter().map(|m| s1 % m.value()).collect();
            ctx.mul_scalar_assign_ntt(&mut fa, &scalars);
            let back = ctx.inverse(fa);
            for (j, m) in ctx.moduli().iter().enumerate() {
                for (x, y) in ctx.residues(&back, j).iter().zip(ctx.residues(&a, j)) {
                    prop_assert_eq!(*x, m.mul(*y, scalars[j]));
                }
            }
        }

        #[test]
        fn compose_matches_residues(x in 0u128..(1_125_899_906_826_241u128 * 1_125_899_906_629_633u128)) {
            let ctx = RingContext::new(16, &[1_125_899_906_826_241, 1_125_899_906_629_633]).expect("ctx");
            let mut d = vec![0u64; 32];
            d[3] = (x % 1_125_899_906_826_241) as u64;
            d[19] = (x % 1_125_899_906_629_633) as u64;
            let p = ctx.poly_from_residues(d).expect("reduced");
            prop_assert_eq!(ctx.compose(&p, 3), x);
        }
    }
}
