//! Encryption of value vectors into ciphertext lists, homomorphic addition,
//! and re-randomisation.
//!
//! `encrypt(pk, m)`: ternary `u`, errors `e_0, e_1 ← CBD(η)`;
//! `c_0 = p·u + e_0 + Δ·m`, `c_1 = a·u + e_1`. `c_0` is kept in coefficient
//! form and `c_1` in evaluation (NTT) form: `c_1` is only ever multiplied (by
//! key shares), so keeping it transformed saves one NTT per prime in every
//! partial decryption and costs none in encryption. A vector of any length is
//! packed one value per coefficient into `⌈len/N⌉` ciphertexts (the last one
//! zero-padded), encrypted in parallel with rayon. Each ciphertext draws its
//! randomness from its own ChaCha12 stream keyed by 32 bytes from the caller's
//! CSPRNG (OS-seeded ChaCha20 in production). ChaCha12 is the generator of
//! `rand::rngs::StdRng`; its margin against the best known attacks (7 rounds)
//! is ample, and it halves the sampling cost, which is a visible share of an
//! encryption.

use std::sync::{Arc, OnceLock};

use fedhe_ring::sample::{add_cbd_and_scaled, sample_cbd_poly, sample_ternary_poly};
use fedhe_ring::{NttPoly, Poly};
use rand_chacha::ChaCha12Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;

use crate::context::HeContext;
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// One RLWE ciphertext: `c_0` in coefficient form, `c_1` in evaluation form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub(crate) c0: Poly,
    pub(crate) c1: NttPoly,
}

/// The encryption of a vector of `len` values mod `T`: `⌈len/N⌉` ciphertexts.
#[derive(Clone, Debug)]
pub struct CiphertextList {
    pub(crate) ctx: Arc<HeContext>,
    pub(crate) len: usize,
    pub(crate) cts: Vec<Ciphertext>,
    /// The digest of the wire form, once known: set by the decoder from the
    /// bytes it accepted (which re-encode to themselves), or computed on first
    /// use; cleared by every mutation.
    pub(crate) digest: OnceLock<[u8; 32]>,
}

impl PartialEq for CiphertextList {
    fn eq(&self, other: &Self) -> bool {
        self.ctx.digest() == other.ctx.digest() && self.len == other.len && self.cts == other.cts
    }
}

/// Most values one list may hold (the wire form counts them in a `u32`).
pub const MAX_LIST_VALUES: usize = u32::MAX as usize;

fn check_len(len: usize) -> Result<()> {
    if len > MAX_LIST_VALUES {
        return Err(Error::ShapeMismatch(format!(
            "{len} values: a list holds at most {MAX_LIST_VALUES}"
        )));
    }
    Ok(())
}

/// The ciphertext-list digest of encoded bytes.
pub(crate) fn digest_bytes(bytes: &[u8]) -> [u8; 32] {
    blake3::derive_key("fedhe 2026-11 ciphertext list digest v1", bytes)
}

fn derive_seeds<R: CryptoRng + ?Sized>(count: usize, rng: &mut R) -> Vec<[u8; 32]> {
    (0..count)
        .map(|_| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        })
        .collect()
}

fn encrypt_one(pk: &PublicKey, values: &[u64], seed: [u8; 32]) -> Result<Ciphertext> {
    let ctx = &pk.ctx;
    let ring = ctx.ring();
    let eta = ctx.params().error_eta;
    let mut rng = ChaCha12Rng::from_seed(seed);
    let u_ntt = ring.forward_owned(sample_ternary_poly(ring, &mut rng));
    // c1 = NTT(e1) + â ⊙ û stays transformed; c0 reuses û's buffer. The
    // errors are sampled straight into RNS form (no intermediate vector).
    let mut c1 = ring.forward_owned(sample_cbd_poly(ring, eta, &mut rng)?);
    ring.mul_accumulate_ntt(&mut c1, &u_ntt, &pk.a_ntt);
    let mut c0 = ring.mul_to_coeff_owned(u_ntt, &pk.p_ntt);
    add_cbd_and_scaled(ring, &mut c0, eta, values, ctx.delta(), &mut rng)?;
    Ok(Ciphertext { c0, c1 })
}

impl CiphertextList {
    /// Encrypts `values` (each `< T`) under `pk`, in parallel. The caller's
    /// CSPRNG seeds one ChaCha20 stream per ciphertext.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        pk: &PublicKey,
        values: &[u64],
        rng: &mut R,
    ) -> Result<Self> {
        let ctx = &pk.ctx;
        check_len(values.len())?;
        let bits = ctx.params().plaintext_bits;
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| **v >> bits != 0) {
            return Err(Error::PlaintextOutOfRange { index, value, bits });
        }
        let n = ctx.params().degree;
        let seeds = derive_seeds(values.len().div_ceil(n), rng);
        let cts = values
            .par_chunks(n)
            .zip(seeds)
            .map(|(chunk, seed)| encrypt_one(pk, chunk, seed))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            ctx: ctx.clone(),
            len: values.len(),
            cts,
            digest: OnceLock::new(),
        })
    }

    /// An encryption of the zero vector of length `len`.
    pub fn encrypt_zero<R: CryptoRng + ?Sized>(
        pk: &PublicKey,
        len: usize,
        rng: &mut R,
    ) -> Result<Self> {
        check_len(len)?;
        let n = pk.ctx.params().degree;
        let seeds = derive_seeds(len.div_ceil(n), rng);
        let cts = seeds
            .into_par_iter()
            .map(|seed| encrypt_one(pk, &[], seed))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            ctx: pk.ctx.clone(),
            len,
            cts,
            digest: OnceLock::new(),
        })
    }

    /// The all-zero (noiseless) list: the neutral element of
    /// [`CiphertextList::add_assign`]. `len` must not exceed [`MAX_LIST_VALUES`]
    /// (a caller's bug, not a peer's input: it panics).
    pub fn zero(ctx: &Arc<HeContext>, len: usize) -> Self {
        assert!(
            len <= MAX_LIST_VALUES,
            "a list holds at most {MAX_LIST_VALUES} values"
        );
        let cts = (0..ctx.ciphertexts_for(len))
            .map(|_| Ciphertext {
                c0: ctx.ring().zero(),
                c1: ctx.ring().forward_owned(ctx.ring().zero()),
            })
            .collect();
        Self {
            ctx: ctx.clone(),
            len,
            cts,
            digest: OnceLock::new(),
        }
    }

    /// Number of encrypted values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is encrypted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of ciphertexts.
    pub fn num_ciphertexts(&self) -> usize {
        self.cts.len()
    }

    /// The context.
    pub fn context(&self) -> &Arc<HeContext> {
        &self.ctx
    }

    fn check_compatible(&self, other: &Self) -> Result<()> {
        if self.ctx.digest() != other.ctx.digest() {
            return Err(Error::ParamsMismatch(
                "ciphertext lists under different parameter sets",
            ));
        }
        if self.len != other.len {
            return Err(Error::ShapeMismatch(format!(
                "{} values vs {} values",
                self.len, other.len
            )));
        }
        Ok(())
    }

    /// `self += other`, coefficient-wise modulo each prime: the running sum
    /// the server folds each accepted submission into.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.check_compatible(other)?;
        self.digest = OnceLock::new();
        let ring = self.ctx.ring();
        // Memory-bound: a plain loop beats spreading it over threads.
        for (a, b) in self.cts.iter_mut().zip(&other.cts) {
            ring.add_assign(&mut a.c0, &b.c0);
            ring.add_assign_ntt(&mut a.c1, &b.c1);
        }
        Ok(())
    }

    /// Adds a fresh encryption of zero under `pk`: a new ciphertext of the same
    /// plaintext whose decryption shares are independent of earlier ones. Used
    /// before re-issuing a decryption to a new set.
    pub fn rerandomize<R: CryptoRng + ?Sized>(
        &mut self,
        pk: &PublicKey,
        rng: &mut R,
    ) -> Result<()> {
        if pk.ctx.digest() != self.ctx.digest() {
            return Err(Error::ParamsMismatch(
                "public key and ciphertexts under different parameter sets",
            ));
        }
        let zero = Self::encrypt_zero(pk, self.len, rng)?;
        self.add_assign(&zero)
    }

    /// BLAKE3 digest of the wire form: what decryption shares are bound to
    /// (`derive_key("fedhe 2026-11 ciphertext list digest v1", bytes)`).
    pub fn digest(&self) -> [u8; 32] {
        *self.digest.get_or_init(|| digest_bytes(&self.to_bytes()))
    }
}
