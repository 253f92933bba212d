//! # fedhe-protocols
//!
//! The wire layer of fedhe's round protocol, normative in `SPEC.md` (next to
//! this crate's `Cargo.toml`):
//!
//! - the messages of a round ([`RoundOpen`], [`Submission`], [`Receipt`],
//!   [`DecryptRequest`], [`DecryptShare`], [`RoundResult`], [`Refusal`]
//!   with a typed [`RefusalReason`]) and the ids they carry ([`ids`]);
//! - the versioned binary codec: `"FHP"` frames with per-kind size limits
//!   checked before allocation, postcard bodies, `fedhe-he` wire forms
//!   embedded verbatim ([`Message::encode`], [`Message::decode`],
//!   [`FrameReader`]);
//! - conformance of a decoded message against an [`fedhe_he::HeContext`] and
//!   what the receiver expects ([`Message::check`], [`Expectations`]);
//! - BLAKE3 transcripts with domain separation and Ed25519 signatures
//!   binding each submission, receipt and decryption share to its
//!   federation, round, sender and digests ([`Transcript`], [`SigningKey`],
//!   [`VerifyingKey`]).
//!
//! - the round's state machines in quinn-proto's sans-IO shape
//!   ([`round::ServerRound`], [`round::ClientRound`],
//!   [`round::CommitteeMember`]): they decide what to accept, when and from
//!   whom (replays, quorum, deadlines, decrypting sets, budgets).
//!
//! What it does not do: IO of any kind (no sockets, files or threads) or
//! read a clock; certificates are the transport's (a participant's
//! verifying key and roles come from the caller's [`round::Roster`]).
//!
//! Decoding never panics on any input: every failure is an [`Error`], and
//! [`Error::refusal_reason`] says what to answer the peer.

#![forbid(unsafe_code)]

mod check;
mod codec;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ids;
mod messages;
pub mod round;
mod sign;

pub use check::{Conformed, Expectations};
pub use codec::{
    FRAME_HEADER_LEN, Frame, FrameHeader, FrameReader, Limits, MAGIC, PROTOCOL_VERSION,
    decode_body, split_frame,
};
pub use error::{Error, Field, Result};
pub use ids::{Digest, FederationId, ParticipantId, RequestId, RoundId};
pub use messages::{
    Contribution, DecryptRequest, DecryptShare, Kind, Message, Model, NoiseRatio, Receipt, Refusal,
    RefusalReason, RoundConfig, RoundOpen, RoundResult, Submission, WireBytes,
};
pub use sign::{
    DECRYPT_SHARE_CONTEXT, MODEL_DIGEST_CONTEXT, RECEIPT_CONTEXT, SHARE_DIGEST_CONTEXT,
    SUBMISSION_CONTEXT, Signature, SigningKey, Transcript, VerifyingKey, model_digest,
    share_digest,
};
