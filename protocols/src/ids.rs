//! Identifiers carried by every message.
//!
//! A participant is named by a [`ParticipantId`], a `u32`. A fixed-width
//! integer rather than a string because it has exactly one encoding (no
//! Unicode normalisation, case or length questions inside signed
//! transcripts), costs at most five bytes in a varint and four in a
//! transcript, and is what the runtime maps a certificate's subject to:
//! the federation CA issues each certificate with its participant number,
//! and human-readable names stay in the certificate. A committee member also
//! has a Shamir index ([`fedhe_he::MemberId`], `1..=n`); the two are distinct
//! and both appear where a member speaks (SPEC.md §4.5).

use serde::{Deserialize, Serialize};

/// A 32-byte BLAKE3 digest.
pub type Digest = [u8; 32];

/// Identifies a federation: 16 bytes fixed at its creation (random, or the
/// first 16 bytes of a digest of its CA certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FederationId(pub [u8; 16]);

/// A round number, strictly increasing within a federation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoundId(pub u64);

/// A decryption request number, unique within a round (a re-issued request
/// after a committee timeout gets a new one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// A participant (client, committee member, server) of a federation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParticipantId(pub u32);

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

impl std::fmt::Display for RoundId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "round {}", self.0)
    }
}
