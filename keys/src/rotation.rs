//! Key records and rotation: which collective key new rounds may use.
//!
//! A ceremony yields a [`KeyRecord`] (key id = digest of the collective
//! public key, the parameters, and the decryption budget `M`). The server
//! keeps a [`CurrentKey`] file: the current record and the ids of the keys it
//! replaced. [`CurrentKey::check_round_key`] refuses a retired or unknown key
//! id for a new round; [`CurrentKey::rotate`] moves the current key to the
//! retired list.

use std::sync::Arc;

use fedhe_he::{DecryptionBudget, HeContext};
use serde::{Deserialize, Serialize};

use crate::dkg::CeremonyInit;
use crate::encoding::{HexN, from_file_bytes, to_file_bytes};
use crate::error::{Error, Result, malformed};

/// A collective key's public metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Key id: `PublicKey::digest`.
    pub key_id: HexN<32>,
    /// The ceremony that made it.
    pub ceremony_id: HexN<16>,
    /// Preset.
    pub preset: String,
    /// Most contributions per aggregate.
    pub contributors: u32,
    /// `t`.
    pub threshold: u16,
    /// `n`.
    pub members: u16,
    /// Parameter digest.
    pub params_digest: HexN<32>,
    /// `M`: coefficients this key may decrypt in its lifetime; rotate before.
    pub max_decrypted_coefficients: u64,
    /// Ceremony time (unix seconds).
    pub created_at: i64,
}

impl KeyRecord {
    /// The record of the key made by `init`.
    pub fn new(init: &CeremonyInit, ctx: &Arc<HeContext>, key_id: [u8; 32]) -> Self {
        Self {
            key_id: HexN(key_id),
            ceremony_id: init.ceremony_id,
            preset: init.preset.clone(),
            contributors: init.contributors,
            threshold: init.threshold,
            members: init.members,
            params_digest: init.params_digest,
            max_decrypted_coefficients: ctx.params().max_decrypted_coefficients,
            created_at: init.created_at,
        }
    }

    /// A fresh budget ledger for this key (nothing decrypted yet).
    pub fn budget(&self, ctx: &HeContext) -> Result<DecryptionBudget> {
        if *ctx.digest() != self.params_digest.0 {
            return Err(Error::KeyRefused {
                key_id: self.key_id.hex(),
                reason: "the context is not the key's parameter set".into(),
            });
        }
        Ok(DecryptionBudget::new(ctx))
    }
}

/// A key the federation no longer uses for new rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKey {
    /// Key id.
    pub key_id: HexN<32>,
    /// When it was replaced (unix seconds).
    pub retired_at: i64,
}

/// `current-key.json`: the server's record of the key new rounds use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentKey {
    /// `fedhe-current-key/1`.
    pub format: String,
    /// The key for new rounds.
    pub current: KeyRecord,
    /// Keys replaced, oldest first.
    pub retired: Vec<RetiredKey>,
}

/// Format tag of `current-key.json`.
pub const CURRENT_FORMAT: &str = "fedhe-current-key/1";

impl CurrentKey {
    /// The first key of a federation.
    pub fn new(current: KeyRecord) -> Self {
        Self {
            format: CURRENT_FORMAT.into(),
            current,
            retired: vec![],
        }
    }

    /// Replaces the current key by `next`, retiring it. Refuses to bring back
    /// a retired key or to "rotate" to the same key.
    pub fn rotate(mut self, next: KeyRecord, now: i64) -> Result<Self> {
        if next.key_id == self.current.key_id
            || self.retired.iter().any(|r| r.key_id == next.key_id)
        {
            return Err(Error::KeyRefused {
                key_id: next.key_id.hex(),
                reason: "already used by this federation; a rotation needs a new ceremony".into(),
            });
        }
        let old = std::mem::replace(&mut self.current, next);
        self.retired.push(RetiredKey {
            key_id: old.key_id,
            retired_at: now,
        });
        Ok(self)
    }

    /// The check a server runs before opening a round under `key_id`.
    pub fn check_round_key(&self, key_id: &[u8; 32]) -> Result<&KeyRecord> {
        if self.current.key_id.0 == *key_id {
            return Ok(&self.current);
        }
        let hex = crate::encoding::to_hex(key_id);
        if let Some(r) = self.retired.iter().find(|r| r.key_id.0 == *key_id) {
            return Err(Error::KeyRefused {
                key_id: hex,
                reason: format!(
                    "retired at {} (unix time); new rounds use key {}",
                    r.retired_at,
                    self.current.key_id.hex()
                ),
            });
        }
        Err(Error::KeyRefused {
            key_id: hex,
            reason: format!(
                "not a key of this federation; new rounds use key {}",
                self.current.key_id.hex()
            ),
        })
    }

    /// Decodes the file.
    pub fn from_file(file: &str, bytes: &[u8]) -> Result<Self> {
        let c: Self = from_file_bytes(file, "current-key record", bytes)?;
        if c.format != CURRENT_FORMAT {
            return Err(malformed(
                file,
                "current-key record",
                format!("format {:?}: expected {CURRENT_FORMAT:?}", c.format),
            ));
        }
        Ok(c)
    }

    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}
