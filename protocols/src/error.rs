//! The crate's error type.

use crate::messages::{Kind, RefusalReason};

/// A field that conformance compares against what the receiver expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The federation id.
    Federation,
    /// The round id.
    Round,
    /// The request id.
    Request,
    /// The protocol version inside a message.
    ProtocolVersion,
    /// The parameter-set digest.
    ParamsDigest,
    /// The public-key digest.
    PublicKeyDigest,
    /// A stated ciphertext-list digest against its bytes.
    CiphertextDigest,
    /// The aggregate a share answers.
    AggregateDigest,
    /// The number of values in a ciphertext list.
    Values,
    /// A committee member index.
    Member,
    /// The decrypting set.
    DecryptingSet,
    /// The list of contributions (order, distinctness).
    Contributions,
    /// The list of contributors of a result.
    Contributors,
    /// The round configuration.
    Config,
    /// The model.
    Model,
}

/// Errors of decoding, conformance and signatures.
///
/// Every variant but [`Error::Encode`] and [`Error::Rng`] is the peer's
/// fault: grounds to refuse the message (see [`Error::refusal_reason`]) and
/// possibly drop the peer, never to stop the receiver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the frame needs.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs.
        needed: u64,
        /// Bytes present.
        available: usize,
    },
    /// The frame does not start with `"FHP"`.
    #[error("bad frame magic {0:02x?}: expected \"FHP\"")]
    BadMagic([u8; 3]),
    /// A frame version this implementation does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// A frame kind this implementation does not know.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// A frame whose declared body length exceeds its kind's limit: refused
    /// from the header alone, before any allocation.
    #[error("oversized {kind} frame: body of {len} bytes, limit {limit}")]
    Oversized {
        /// The frame's kind.
        kind: Kind,
        /// Declared body length.
        len: u32,
        /// The limit for the kind.
        limit: u32,
    },
    /// Bytes after the frame, or after the body's encoding inside the frame.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A body that does not decode as its kind.
    #[error("malformed {kind} body: {reason}")]
    Malformed {
        /// The frame's kind.
        kind: Kind,
        /// The decoder's complaint.
        reason: String,
    },
    /// A body that decodes but is not the canonical encoding of its value
    /// (an over-long varint).
    #[error("{kind} body is not canonically encoded")]
    NonCanonical {
        /// The frame's kind.
        kind: Kind,
    },
    /// A frame reader's buffer would exceed its bound (drain frames with
    /// `next_frame` before pushing more), or the reader failed earlier.
    #[error("frame reader: {0}")]
    Reader(&'static str),
    /// An embedded `fedhe-he` wire form failed its strict decoder.
    #[error(transparent)]
    He(#[from] fedhe_he::Error),
    /// A field does not match what the receiver expects.
    #[error("{field:?} does not conform: {detail}")]
    Mismatch {
        /// Which field.
        field: Field,
        /// What was expected.
        detail: String,
    },
    /// A signature does not verify (or a key is not a valid Ed25519 key).
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// A sender whose verifying key the receiver does not know.
    #[error("unknown sender {0}")]
    UnknownSender(crate::ids::ParticipantId),
    /// Encoding failed (a body over 4 GiB, or a serializer failure): the
    /// local caller's fault.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Rng(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The reason to send back in a [`crate::Refusal`].
    pub fn refusal_reason(&self) -> RefusalReason {
        match self {
            Error::UnsupportedVersion(_) => RefusalReason::UnsupportedVersion,
            Error::UnknownKind(_) => RefusalReason::UnknownMessageKind,
            Error::Oversized { .. } => RefusalReason::OversizedFrame,
            Error::BadSignature(_) => RefusalReason::BadSignature,
            Error::UnknownSender(_) => RefusalReason::UnknownSender,
            Error::Mismatch { field, .. } => match field {
                Field::Federation => RefusalReason::WrongFederation,
                Field::Round | Field::Request => RefusalReason::StaleRound,
                Field::ProtocolVersion => RefusalReason::UnsupportedVersion,
                Field::ParamsDigest => RefusalReason::WrongParameterDigest,
                Field::PublicKeyDigest => RefusalReason::WrongPublicKeyDigest,
                Field::CiphertextDigest | Field::AggregateDigest => RefusalReason::DigestMismatch,
                _ => RefusalReason::Malformed,
            },
            _ => RefusalReason::Malformed,
        }
    }

    pub(crate) fn mismatch(field: Field, detail: impl Into<String>) -> Self {
        Error::Mismatch {
            field,
            detail: detail.into(),
        }
    }
}
