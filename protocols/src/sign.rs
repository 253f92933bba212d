//! Transcript hashing and Ed25519 signatures (SPEC.md §5).
//!
//! A signed message is never signed as its encoding: the signer builds a
//! *transcript*, a fixed-layout byte string of exactly the fields that
//! matter, hashes it with BLAKE3 in key-derivation mode under a context
//! string naming its purpose (`"fedhe 2026-11 <purpose> v1"`), and signs the
//! 32-byte hash with Ed25519 (RFC 8032, verified with `verify_strict`). The
//! context strings keep a signature for one purpose from ever verifying
//! for another.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::codec::PROTOCOL_VERSION;
use crate::error::{Error, Result};
use crate::ids::{Digest, FederationId, ParticipantId, RequestId, RoundId};

/// Context of the submission transcript.
pub const SUBMISSION_CONTEXT: &str = "fedhe 2026-11 submission transcript v1";
/// Context of the receipt transcript.
pub const RECEIPT_CONTEXT: &str = "fedhe 2026-11 receipt transcript v1";
/// Context of the decryption-share transcript.
pub const DECRYPT_SHARE_CONTEXT: &str = "fedhe 2026-11 decryption share transcript v1";
/// Context of a decryption share's digest (over its `D` wire form).
pub const SHARE_DIGEST_CONTEXT: &str = "fedhe 2026-11 decryption share digest v1";
/// Context of a model's digest.
pub const MODEL_DIGEST_CONTEXT: &str = "fedhe 2026-11 model digest v1";

/// An Ed25519 signature (64 bytes, `R || s`). Encoded as 64 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Signature;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Signature, A::Error> {
                let mut out = [0u8; 64];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

/// A participant's Ed25519 signing key. Zeroized on drop (ed25519-dalek's
/// `zeroize` feature), not `Clone`, printed as `redacted`.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(redacted)")
    }
}

impl SigningKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        use rand_core::TryRng;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::SysRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| Error::Rng(e.to_string()))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// A key from the caller's CSPRNG (tests seed it; production uses
    /// [`SigningKey::generate`]).
    pub fn generate_with<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A key from its 32-byte secret seed (a key file, decrypted by the
    /// caller).
    pub fn from_seed(seed: &Zeroizing<[u8; 32]>) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The secret seed, for writing to an encrypted key file.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs a transcript.
    pub fn sign(&self, transcript: &Transcript) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.0.sign(&transcript.0).to_bytes())
    }
}

/// A participant's Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Decodes a key, refusing an invalid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| Error::BadSignature("verifying key is not a valid Ed25519 key"))
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies `signature` over `transcript` (strict: refuses small-order
    /// keys and non-canonical signatures). `what` names it in the error.
    pub fn verify(
        &self,
        transcript: &Transcript,
        signature: &Signature,
        what: &'static str,
    ) -> Result<()> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(&transcript.0, &sig)
            .map_err(|_| Error::BadSignature(what))
    }
}

/// The 32-byte hash of a transcript: what is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transcript(pub [u8; 32]);

fn common(h: &mut blake3::Hasher, federation: FederationId, round: RoundId) {
    h.update(&[PROTOCOL_VERSION]);
    h.update(&federation.0);
    h.update(&round.0.to_le_bytes());
}

impl Transcript {
    /// Submission (SPEC.md §5.2): `version u8 | federation 16 | round u64
    /// | sender u32 | params digest 32 | ciphertext digest 32`.
    pub fn submission(
        federation: FederationId,
        round: RoundId,
        sender: ParticipantId,
        params_digest: &Digest,
        ciphertext_digest: &Digest,
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key(SUBMISSION_CONTEXT);
        common(&mut h, federation, round);
        h.update(&sender.0.to_le_bytes());
        h.update(params_digest);
        h.update(ciphertext_digest);
        Transcript(*h.finalize().as_bytes())
    }

    /// Receipt (SPEC.md §5.3): `version u8 | federation 16 | round u64 |
    /// server u32 | sender u32 | submission digest 32`.
    pub fn receipt(
        federation: FederationId,
        round: RoundId,
        server: ParticipantId,
        sender: ParticipantId,
        submission_digest: &Digest,
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key(RECEIPT_CONTEXT);
        common(&mut h, federation, round);
        h.update(&server.0.to_le_bytes());
        h.update(&sender.0.to_le_bytes());
        h.update(submission_digest);
        Transcript(*h.finalize().as_bytes())
    }

    /// Decryption share (SPEC.md §5.4): `version u8 | federation 16 | round
    /// u64 | request u64 | sender u32 | member u16 | params digest 32 |
    /// aggregate digest 32 | share digest 32`.
    #[expect(clippy::too_many_arguments, reason = "one argument per bound field")]
    pub fn decrypt_share(
        federation: FederationId,
        round: RoundId,
        request: RequestId,
        sender: ParticipantId,
        member: u16,
        params_digest: &Digest,
        aggregate_digest: &Digest,
        share_digest: &Digest,
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key(DECRYPT_SHARE_CONTEXT);
        common(&mut h, federation, round);
        h.update(&request.0.to_le_bytes());
        h.update(&sender.0.to_le_bytes());
        h.update(&member.to_le_bytes());
        h.update(params_digest);
        h.update(aggregate_digest);
        h.update(share_digest);
        Transcript(*h.finalize().as_bytes())
    }
}

/// Digest of a decryption share's `D` wire form.
pub fn share_digest(share_bytes: &[u8]) -> Digest {
    blake3::derive_key(SHARE_DIGEST_CONTEXT, share_bytes)
}

/// Digest of a model: `derive_key(MODEL_DIGEST_CONTEXT, version u64 LE |
/// count u64 LE | each parameter as f32 LE)`.
pub fn model_digest(version: u64, parameters: &[f32]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(MODEL_DIGEST_CONTEXT);
    h.update(&version.to_le_bytes());
    h.update(&(parameters.len() as u64).to_le_bytes());
    for p in parameters {
        h.update(&p.to_le_bytes());
    }
    *h.finalize().as_bytes()
}
