//! # fedhe-keys
//!
//! The key ceremony of fedhe (DESIGN.md §8), as steps over files so that it
//! runs over a USB stick between air-gapped machines as well as through the
//! server:
//!
//! - [`pki`]: the federation CA (Ed25519, rcgen with ring), participant
//!   certificates whose SAN URI `fedhe://participant/<id>/<role>` names the
//!   participant and its role, the CA-signed roster with revocations, and
//!   [`pki::verify_participant`], the check the QUIC runtime runs on a peer.
//! - [`dkg`]: distributed generation of the committee's `t`-of-`n` key:
//!   init, contribute, collect, accept, finalize, verify, self-test.
//! - [`sealed`]: secrets at rest (Argon2id → XChaCha20-Poly1305, header as AAD).
//! - [`rotation`]: key records, the current key and retired key ids.
//! - [`encoding`]: canonical JSON and strict hex for every public file.
//!
//! Every step is a pure function over bytes with the time and the CSPRNG
//! passed in; the only IO here is [`files::write_private`]. It does not
//! prompt for passphrases, open sockets or choose who coordinates: the CLI
//! (`fedhe keys …`) and the runtime do. See `keys/README.md` for the key
//! hierarchy, the file formats and the ceremony step by step.

#![forbid(unsafe_code)]

pub mod dkg;
pub mod encoding;
mod error;
pub mod files;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod pki;
pub mod rotation;
pub mod sealed;

pub use error::{Error, Refusal, Result};

#[cfg(test)]
mod tests;
