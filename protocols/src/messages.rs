//! The round's messages (SPEC.md §4): one struct per message, and
//! [`Message`], the sum of them that the codec frames.
//!
//! Every message carries the federation and round it belongs to; the
//! protocol version travels in the frame header. Fields are public: a
//! message is plain data, and nothing here is trusted until
//! [`Message::check`](crate::Message::check) (conformance against an
//! [`fedhe_he::HeContext`]) and the `verify` methods (signatures) pass.

use serde::{Deserialize, Serialize};

use crate::ids::{Digest, FederationId, ParticipantId, RequestId, RoundId};
use crate::sign::Signature;

/// An opaque byte string embedded verbatim: a `fedhe-he` wire form (SPEC.md
/// §3.3). Encoded as a varint length then the bytes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct WireBytes(pub Vec<u8>);

impl std::fmt::Debug for WireBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WireBytes({} bytes)", self.0.len())
    }
}

impl WireBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for WireBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WireBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<WireBytes, E> {
                Ok(WireBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<WireBytes, E> {
                Ok(WireBytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A global model: its version and flat parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Version in the model registry.
    pub version: u64,
    /// Flat parameters, in the learning engine's order.
    pub parameters: Vec<f32>,
}

/// A non-negative rational `num/den` (the exact noise variance the samplers
/// use; `den > 0` is checked by conformance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseRatio {
    /// Numerator.
    pub num: u128,
    /// Denominator.
    pub den: u128,
}

/// What clients need to encode their update (DESIGN §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundConfig {
    /// L2 clip norm `c`.
    pub clip: f64,
    /// Granularity `γ`.
    pub gamma: f64,
    /// Bits `b` of the modulus the sum is computed in (at most the HE
    /// plaintext bits).
    pub bits: u8,
    /// Per-client noise variance in scaled units, `σ²/γ²`, exactly.
    pub noise: NoiseRatio,
    /// Fewest distinct signed contributions the committee decrypts for.
    pub min_contributors: u32,
    /// Time from the round's opening until submissions close, in
    /// milliseconds.
    pub deadline_millis: u64,
}

impl RoundConfig {
    /// The deadline as a duration.
    pub fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.deadline_millis)
    }
}

/// Server → clients: a round opens (SPEC.md §4.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundOpen {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// Protocol version the round runs (equals the frame's version).
    pub protocol_version: u8,
    /// Full [`fedhe_he::Params::digest`] of the round's parameter set.
    pub params_digest: Digest,
    /// [`fedhe_he::PublicKey::digest`] of the collective key to encrypt under.
    pub public_key_digest: Digest,
    /// The global model to train from.
    pub model: Model,
    /// Encoding and round limits.
    pub config: RoundConfig,
    /// Round seed: the randomized rotation's signs (the same for all clients).
    pub seed: [u8; 32],
}

/// Client → server: an encrypted update (SPEC.md §4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// Sender.
    pub sender: ParticipantId,
    /// The ciphertext list, `fedhe-he` `C` wire form.
    pub ciphertexts: WireBytes,
    /// [`fedhe_he::CiphertextList::digest`] of `ciphertexts`.
    pub digest: Digest,
    /// The sender's signature over the submission transcript (SPEC.md §5.2).
    pub signature: Signature,
}

/// Server → client: the submission is durable and counted (SPEC.md §4.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// The submission's sender.
    pub sender: ParticipantId,
    /// The submission's ciphertext digest.
    pub submission_digest: Digest,
    /// The server's signature over the receipt transcript (SPEC.md §5.3).
    pub signature: Signature,
}

/// One accepted submission, as the committee sees it: who sent which
/// ciphertext digest, and the sender's own signature over it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Sender.
    pub sender: ParticipantId,
    /// Its ciphertext digest.
    pub digest: Digest,
    /// Its submission signature.
    pub signature: Signature,
}

/// Server → each member of the decrypting set (SPEC.md §4.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecryptRequest {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// Request number.
    pub request: RequestId,
    /// Digest of the collective public key the aggregate is encrypted
    /// under (the round's [`RoundOpen::public_key_digest`]).
    pub public_key_digest: Digest,
    /// The (re-randomized) aggregate, `fedhe-he` `C` wire form.
    pub aggregate: WireBytes,
    /// Its [`fedhe_he::CiphertextList::digest`].
    pub aggregate_digest: Digest,
    /// The decrypting set: `t` Shamir indices, strictly increasing.
    pub set: Vec<u16>,
    /// The contributions summed into the aggregate, senders strictly
    /// increasing.
    pub contributions: Vec<Contribution>,
}

/// Committee member → server: its partial decryption (SPEC.md §4.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecryptShare {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// The request answered.
    pub request: RequestId,
    /// The member as a participant (whose key signs).
    pub sender: ParticipantId,
    /// The member's Shamir index.
    pub member: u16,
    /// The share, `fedhe-he` `D` wire form.
    pub share: WireBytes,
    /// The member's signature over the share transcript (SPEC.md §5.4).
    pub signature: Signature,
}

/// Server → everyone: the round's outcome (SPEC.md §4.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundResult {
    /// Federation.
    pub federation: FederationId,
    /// Round.
    pub round: RoundId,
    /// The new global model's version.
    pub model_version: u64,
    /// Its [`model_digest`](crate::model_digest).
    pub model_digest: Digest,
    /// Whose submissions are in the aggregate, strictly increasing.
    pub contributors: Vec<ParticipantId>,
    /// ε spent by this round (at the federation's δ).
    pub epsilon_spent: f64,
}

/// Why a message was refused (SPEC.md §6). The wire code is the variant's
/// position, starting at 0; new reasons are only ever appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RefusalReason {
    /// 0: a submission (or share) whose digest was already accepted.
    ReplayedSubmission,
    /// 1: a round that is not the open one.
    StaleRound,
    /// 2: a parameter-set digest other than the round's.
    WrongParameterDigest,
    /// 3: a public-key digest other than the round's.
    WrongPublicKeyDigest,
    /// 4: a signature that does not verify.
    BadSignature,
    /// 5: a sender not in the federation, or not in the role it acts in.
    UnknownSender,
    /// 6: a decryption request with too few distinct signed contributions.
    BelowMinimumContributors,
    /// 7: a request for a ciphertext this member already answered.
    CiphertextAlreadyAnswered,
    /// 8: a frame over the size limit of its kind.
    OversizedFrame,
    /// 9: a frame kind this implementation does not know.
    UnknownMessageKind,
    /// 10: a protocol version this implementation does not speak.
    UnsupportedVersion,
    /// 11: bytes that do not decode or do not conform.
    Malformed,
    /// 12: a decryption the privacy or key budget does not allow.
    BudgetExceeded,
    /// 13: a request naming a set this member is not in.
    NotInDecryptingSet,
    /// 14: a federation id other than the receiver's.
    WrongFederation,
    /// 15: a stated digest that does not match the bytes.
    DigestMismatch,
    /// 16: a submission after the round's deadline or quorum.
    DeadlinePassed,
    /// 17: a second, different submission from the same sender in a round.
    DuplicateSender,
}

impl RefusalReason {
    /// The wire code.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Anyone → the peer whose message it refuses (SPEC.md §4.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Federation.
    pub federation: FederationId,
    /// Round of the refused message (or the receiver's current round when
    /// the message did not decode).
    pub round: RoundId,
    /// Why.
    pub reason: RefusalReason,
}

/// A frame kind: the header byte that says which message the body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`RoundOpen`].
    RoundOpen = 1,
    /// [`Submission`].
    Submission = 2,
    /// [`Receipt`].
    Receipt = 3,
    /// [`DecryptRequest`].
    DecryptRequest = 4,
    /// [`DecryptShare`].
    DecryptShare = 5,
    /// [`RoundResult`].
    RoundResult = 6,
    /// [`Refusal`].
    Refusal = 7,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 7] = [
        Kind::RoundOpen,
        Kind::Submission,
        Kind::Receipt,
        Kind::DecryptRequest,
        Kind::DecryptShare,
        Kind::RoundResult,
        Kind::Refusal,
    ];

    /// The kind for a header byte, if known.
    pub fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// The header byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Whether frames of this kind may be large (model parameters,
    /// ciphertexts, shares, contributor lists): they get the bulk limit.
    pub fn is_bulk(self) -> bool {
        !matches!(self, Kind::Receipt | Kind::Refusal)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Any protocol message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A round opens.
    RoundOpen(RoundOpen),
    /// An encrypted update.
    Submission(Submission),
    /// A submission's receipt.
    Receipt(Receipt),
    /// A decryption request.
    DecryptRequest(DecryptRequest),
    /// A partial decryption.
    DecryptShare(DecryptShare),
    /// The round's outcome.
    RoundResult(RoundResult),
    /// A refusal.
    Refusal(Refusal),
}

impl Message {
    /// The frame kind.
    pub fn kind(&self) -> Kind {
        match self {
            Message::RoundOpen(_) => Kind::RoundOpen,
            Message::Submission(_) => Kind::Submission,
            Message::Receipt(_) => Kind::Receipt,
            Message::DecryptRequest(_) => Kind::DecryptRequest,
            Message::DecryptShare(_) => Kind::DecryptShare,
            Message::RoundResult(_) => Kind::RoundResult,
            Message::Refusal(_) => Kind::Refusal,
        }
    }

    /// The federation the message names.
    pub fn federation(&self) -> FederationId {
        match self {
            Message::RoundOpen(m) => m.federation,
            Message::Submission(m) => m.federation,
            Message::Receipt(m) => m.federation,
            Message::DecryptRequest(m) => m.federation,
            Message::DecryptShare(m) => m.federation,
            Message::RoundResult(m) => m.federation,
            Message::Refusal(m) => m.federation,
        }
    }

    /// The round the message names.
    pub fn round(&self) -> RoundId {
        match self {
            Message::RoundOpen(m) => m.round,
            Message::Submission(m) => m.round,
            Message::Receipt(m) => m.round,
            Message::DecryptRequest(m) => m.round,
            Message::DecryptShare(m) => m.round,
            Message::RoundResult(m) => m.round,
            Message::Refusal(m) => m.round,
        }
    }
}

macro_rules! from_variant {
    ($($t:ident),*) => {$(
        impl From<$t> for Message {
            fn from(m: $t) -> Self {
                Message::$t(m)
            }
        }
    )*};
}
from_variant!(
    RoundOpen,
    Submission,
    Receipt,
    DecryptRequest,
    DecryptShare,
    RoundResult,
    Refusal
);
