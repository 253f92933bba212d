//! # fedhe-he
//!
//! Threshold RLWE encryption for additive aggregation (BFV-style encoding,
//! no multiplication): the cryptographic core of fedhe.
//!
//! - [`Params`], its validator and the named presets ([`params`]);
//! - [`HeContext`]: a validated parameter set with its ring;
//! - keys: the CRS ([`Crs`]), members' secrets, public-key shares and the
//!   collective [`PublicKey`] ([`PublicKeyGen`]); Shamir `t`-of-`n` dealing
//!   ([`Thresholdizer`]) and Lagrange recombination for a named decrypting
//!   set ([`Combiner`], [`DecryptingSet`]);
//! - [`CiphertextList`]: encryption of a vector of any length (rayon),
//!   addition into a running sum, re-randomisation;
//! - [`partial_decrypt`] with flooding and [`combine`], bound to the
//!   ciphertext digest and the decrypting set;
//! - wire forms with strict decoders ([`wire`]).
//!
//! What it does not do: networking, files, key encryption at rest (the key
//! ceremony), or deciding *whether* to decrypt (the protocol's committee
//! member checks contributions, repeats and budgets).
//!
//! Secrets ([`MemberSecret`], [`ShamirPolynomial`], [`ShamirShare`],
//! [`KeyShare`]) zeroize on drop, are not `Clone`, and print as `redacted`.

#![forbid(unsafe_code)]

mod context;
mod decrypt;
mod encrypt;
mod error;
mod keys;
pub mod params;
mod threshold;
pub mod wire;

#[cfg(test)]
mod tests;

pub use context::HeContext;
pub use decrypt::{DecryptionBudget, DecryptionShare, combine, partial_decrypt};
pub use encrypt::{Ciphertext, CiphertextList};
pub use error::{Error, Result};
pub use keys::{CRS_CONTEXT, Crs, MemberId, MemberSecret, PublicKey, PublicKeyGen, PublicKeyShare};
pub use params::{Analysis, Committee, Params, Preset};
pub use threshold::{
    Combiner, DecryptingSet, KeyShare, ShamirPolynomial, ShamirShare, Thresholdizer,
};

/// A whole committee dealt in one process: what tests, benchmarks and the
/// in-process simulation use. A real deployment runs the key ceremony
/// instead, where no process ever holds more than one member's secrets.
#[derive(Debug)]
pub struct DealtCommittee {
    /// The collective public key.
    pub public_key: PublicKey,
    /// Every member's threshold key share, member `k` at index `k − 1`.
    pub key_shares: Vec<KeyShare>,
}

impl DealtCommittee {
    /// Runs key generation for the context's committee with the caller's
    /// CSPRNG: each member samples `s_i`, publishes `p_i`, and deals its
    /// Shamir shares; each member aggregates what it received.
    pub fn deal<R: rand_core::CryptoRng + ?Sized>(
        ctx: &std::sync::Arc<HeContext>,
        rng: &mut R,
    ) -> Result<Self> {
        Self::deal_with_secrets(ctx, rng).map(|(c, _)| c)
    }

    /// As [`DealtCommittee::deal`], also returning the members' secrets
    /// (tests measure noise with them).
    pub fn deal_with_secrets<R: rand_core::CryptoRng + ?Sized>(
        ctx: &std::sync::Arc<HeContext>,
        rng: &mut R,
    ) -> Result<(Self, Vec<MemberSecret>)> {
        let n = ctx.params().committee.members;
        let crs = Crs::generate(rng);
        let pkg = PublicKeyGen::new(ctx, crs);
        let th = Thresholdizer::new(ctx);
        let mut secrets = Vec::with_capacity(usize::from(n));
        let mut pk_shares = Vec::with_capacity(usize::from(n));
        let mut received: Vec<Vec<ShamirShare>> = (0..n).map(|_| Vec::new()).collect();
        for i in 1..=n {
            let id = MemberId::new(i)?;
            let s = MemberSecret::generate(ctx, rng);
            pk_shares.push(pkg.gen_share(id, &s, rng)?);
            let poly = th.gen_share_polynomial(id, &s, rng)?;
            for (k, inbox) in (1..=n).zip(received.iter_mut()) {
                inbox.push(th.gen_share(&poly, MemberId::new(k)?)?);
            }
            secrets.push(s);
        }
        let public_key = pkg.aggregate_shares(&pk_shares)?;
        let key_shares = (1..=n)
            .zip(received)
            .map(|(k, inbox)| th.aggregate_shares(MemberId::new(k)?, &inbox))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Self {
                public_key,
                key_shares,
            },
            secrets,
        ))
    }
}
