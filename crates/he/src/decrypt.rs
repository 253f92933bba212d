//! Threshold decryption: partial decryption with flooding, and combination.
//!
//! Decryption is a fixed-set protocol. The server names the decrypting set
//! `S` (`|S| = t`) for one ciphertext list; member `k ∈ S` returns
//! `h_k = λ_k^S·sk_k·c_1 + e_flood` for every ciphertext, with `e_flood` a
//! rounded Gaussian of deviation `σ_f` (see [`crate::params`]); then
//! `c_0 + Σ_{k∈S} h_k = Δ·m + v + Σ e_flood` decrypts to `m`.
//!
//! Each share is bound to the digest of the ciphertext list and to `S`, and
//! [`combine`] refuses shares of another list or another set: re-issuing
//! shares of one ciphertext to a second set would leak the key, so a timed-out
//! member means a new set and a re-randomised list, never a second share.
//! Members record answered digests and refuse repeats (the protocol layer).

use std::sync::Arc;

use fedhe_ring::Poly;
use fedhe_ring::sample::add_rounded_gaussian;
use rand_chacha::ChaCha12Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;

use crate::context::HeContext;
use crate::encrypt::CiphertextList;
use crate::error::{Error, Result};
use crate::keys::MemberId;
use crate::threshold::{Combiner, DecryptingSet, KeyShare};

/// Member `k`'s partial decryption of one ciphertext list for one set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionShare {
    pub(crate) member: MemberId,
    pub(crate) set: DecryptingSet,
    pub(crate) ct_digest: [u8; 32],
    pub(crate) params_digest: [u8; 32],
    pub(crate) shares: Vec<Poly>,
}

impl DecryptionShare {
    /// The member that made it.
    pub fn member(&self) -> MemberId {
        self.member
    }
    /// The set it was made for.
    pub fn set(&self) -> &DecryptingSet {
        &self.set
    }
    /// The digest of the ciphertext list it decrypts.
    pub fn ciphertext_digest(&self) -> &[u8; 32] {
        &self.ct_digest
    }
}

/// `λ_k^S·sk_k·c_1 + e_flood` for each ciphertext of `cts`, with flooding
/// drawn from the caller's CSPRNG (one ChaCha12 stream per ciphertext, keyed
/// from it, as in encryption).
/// The flooding distribution is the context's, never a silent default.
pub fn partial_decrypt<R: CryptoRng + ?Sized>(
    key: &KeyShare,
    set: &DecryptingSet,
    cts: &CiphertextList,
    rng: &mut R,
) -> Result<DecryptionShare> {
    let ctx = &key.ctx;
    if ctx.digest() != cts.ctx.digest() {
        return Err(Error::ParamsMismatch(
            "key share and ciphertexts under different parameter sets",
        ));
    }
    let lambda = Combiner::lagrange_coefficient(ctx, set, key.member)?;
    let ring = ctx.ring();
    let mut sk = key.sk_ntt.clone();
    ring.mul_scalar_assign_ntt(&mut sk, &lambda);
    let sigma = ctx.flooding_sigma();
    let seeds: Vec<[u8; 32]> = cts
        .cts
        .iter()
        .map(|_| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        })
        .collect();
    let shares = cts
        .cts
        .par_iter()
        .zip(seeds)
        .map(|(ct, seed)| {
            let mut h = ring.mul_to_coeff(&ct.c1, &sk);
            let mut frng = ChaCha12Rng::from_seed(seed);
            add_rounded_gaussian(ring, &mut h, sigma, &mut frng)?;
            Ok(h)
        })
        .collect::<Result<Vec<_>>>();
    zeroize::Zeroize::zeroize(&mut sk);
    Ok(DecryptionShare {
        member: key.member,
        set: set.clone(),
        ct_digest: cts.digest(),
        params_digest: *ctx.digest(),
        shares: shares?,
    })
}

/// Combines the shares of exactly the members of `set` for `cts` and decodes
/// the values mod `T`. Shares of another list, another set, a missing or
/// repeated member, or another parameter set are refused.
pub fn combine(
    cts: &CiphertextList,
    set: &DecryptingSet,
    shares: &[DecryptionShare],
) -> Result<Vec<u64>> {
    let ctx: &Arc<HeContext> = &cts.ctx;
    let digest = cts.digest();
    for s in shares {
        if s.params_digest != *ctx.digest() {
            return Err(Error::ParamsMismatch(
                "decryption share under a different parameter set",
            ));
        }
        if s.set != *set {
            return Err(Error::ShareMismatch(format!(
                "the share of {} was made for another decrypting set",
                s.member
            )));
        }
        if s.ct_digest != digest {
            return Err(Error::ShareMismatch(format!(
                "the share of {} decrypts another ciphertext list",
                s.member
            )));
        }
        if s.shares.len() != cts.cts.len() {
            return Err(Error::ShareMismatch(format!(
                "the share of {} has the wrong number of polynomials",
                s.member
            )));
        }
    }
    let mut members: Vec<MemberId> = shares.iter().map(|s| s.member).collect();
    members.sort_unstable();
    if members != set.members() {
        return Err(Error::ShareMismatch(format!(
            "need exactly one share from each of {:?}, got {:?}",
            set.members().iter().map(|m| m.get()).collect::<Vec<_>>(),
            members.iter().map(|m| m.get()).collect::<Vec<_>>()
        )));
    }
    let ring = ctx.ring();
    let n = ring.degree();
    let bits = ctx.params().plaintext_bits;
    let chunks: Vec<Vec<u64>> = cts
        .cts
        .par_iter()
        .enumerate()
        .map(|(i, ct)| {
            let mut x = ct.c0.clone();
            for s in shares {
                ring.add_assign(&mut x, &s.shares[i]);
            }
            let count = (cts.len - i * n).min(n);
            ring.scale_round(&x, bits, count)
        })
        .collect();
    Ok(chunks.concat())
}

/// Counts the coefficients a key has decrypted against its lifetime budget
/// `M` (the flooding argument holds only up to it). A member charges it before
/// answering and persists it with the answered digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptionBudget {
    used: u64,
    limit: u64,
}

impl DecryptionBudget {
    /// A fresh budget for the context's key.
    pub fn new(ctx: &HeContext) -> Self {
        Self {
            used: 0,
            limit: ctx.params().max_decrypted_coefficients,
        }
    }

    /// Restores a persisted count.
    pub fn with_used(ctx: &HeContext, used: u64) -> Self {
        Self {
            used,
            limit: ctx.params().max_decrypted_coefficients,
        }
    }

    /// Coefficients decrypted so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Charges the decryption of `cts` (every coefficient of every ciphertext
    /// counts: padding is decrypted too), or refuses past the limit.
    pub fn charge(&mut self, cts: &CiphertextList) -> Result<()> {
        let requested = (cts.num_ciphertexts() * cts.ctx.params().degree) as u64;
        match self.used.checked_add(requested) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(Error::BudgetExhausted {
                used: self.used,
                requested,
                limit: self.limit,
            }),
        }
    }
}
