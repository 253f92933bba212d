//! The round protocol as sans-IO state machines (SPEC.md part 2), in the
//! shape of quinn-proto's `Connection`:
//!
//! - inputs: `handle_message(now, from, message)` for a decoded message
//!   from an authenticated peer, `handle_frame(now, from, bytes)` for raw
//!   frame bytes (decoding failures become refusals), and
//!   `handle_timeout(now)`;
//! - outputs: `poll_transmit()` (a message and its addressee),
//!   `poll_event()` (what the host must act on: train, persist, log) and
//!   `poll_timeout()` (when to call `handle_timeout` next).
//!
//! No machine opens a socket or a file, spawns a thread or reads a clock:
//! `now` comes from the host, and the host owns durability. Two steps wait
//! for the host on purpose: the server sends a [`crate::Receipt`] only after
//! the host calls [`ServerRound::acknowledge`] (once the submission is
//! durable), and a committee member releases a decryption share only after
//! the host calls [`CommitteeMember::persisted`] (once the record that this
//! ciphertext was answered is durable).
//!
//! - [`ServerRound`]: open → collect submissions until quorum or deadline →
//!   choose the decrypting set → collect shares (a member that times out or
//!   refuses leads to a new set and a re-randomized aggregate) → combine →
//!   decode → the host's model update → result.
//! - [`ClientRound`]: round open → the host trains ([`ClientEvent::Train`])
//!   → [`ClientRound::submit_update`] DP-encodes, encrypts, signs, submits →
//!   receipt → result.
//! - [`CommitteeMember`]: checks a decryption request (sender, ids,
//!   parameter and key digests, set membership, enough distinct signed
//!   contributions, never answered before, decryption budget), records the
//!   answer, and releases its share once the host persisted the record.

mod client;
mod member;
mod server;

pub use client::{ClientEvent, ClientRound};
pub use member::{CommitteeMember, MemberEvent, MemberPolicy};
pub use server::{CloseReason, RoundFailure, ServerEvent, ServerRound, ServerRoundConfig};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use fedhe_dp::ddgauss::{DdgConfig, DdgEncoder};
use fedhe_dp::planner::DEFAULT_BETA;
use fedhe_dp::sampler::Rational;
use fedhe_he::HeContext;

use crate::codec::Limits;
use crate::ids::{FederationId, ParticipantId, RoundId};
use crate::messages::{Message, Refusal, RefusalReason, RoundConfig};
use crate::sign::{SigningKey, VerifyingKey};

/// A message for one peer.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The addressee.
    pub to: ParticipantId,
    /// The message (the host encodes it with [`Message::encode`]).
    pub message: Message,
}

/// Errors of the state machines' host-facing calls (not of peers' messages,
/// which become refusals).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoundError {
    /// The call does not fit the machine's current state.
    #[error("{0}")]
    State(String),
    /// A wire-layer error (encoding, conformance of our own message).
    #[error(transparent)]
    Protocol(#[from] crate::Error),
    /// An HE error.
    #[error(transparent)]
    He(#[from] fedhe_he::Error),
    /// A DP encoding or decoding error.
    #[error(transparent)]
    Dp(#[from] fedhe_dp::Error),
    /// The roster does not allow this.
    #[error("roster: {0}")]
    Roster(String),
}

/// Who may do what: every participant's verifying key and roles.
///
/// The transport layer authenticates the peer and passes its id as `from`;
/// the machines check the roles here on every message (a client cannot send
/// shares, a member's share must come from the participant holding that
/// Shamir index, and so on).
#[derive(Clone, Debug, Default)]
pub struct Roster {
    entries: BTreeMap<ParticipantId, Entry>,
    members: BTreeMap<u16, ParticipantId>,
}

#[derive(Clone, Debug)]
struct Entry {
    key: VerifyingKey,
    server: bool,
    client: bool,
    member: Option<u16>,
}

impl Roster {
    /// An empty roster.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, id: ParticipantId, key: VerifyingKey) -> Result<&mut Entry, RoundError> {
        let e = self.entries.entry(id).or_insert(Entry {
            key,
            server: false,
            client: false,
            member: None,
        });
        if e.key != key {
            return Err(RoundError::Roster(format!(
                "participant {} is already listed with another key",
                id.0
            )));
        }
        Ok(e)
    }

    /// Adds (or extends) `id` as the server.
    pub fn add_server(&mut self, id: ParticipantId, key: VerifyingKey) -> Result<(), RoundError> {
        self.entry(id, key)?.server = true;
        Ok(())
    }

    /// Adds (or extends) `id` as a client.
    pub fn add_client(&mut self, id: ParticipantId, key: VerifyingKey) -> Result<(), RoundError> {
        self.entry(id, key)?.client = true;
        Ok(())
    }

    /// Adds (or extends) `id` as the committee member with Shamir index
    /// `member` (`1..=n`).
    pub fn add_member(
        &mut self,
        id: ParticipantId,
        member: u16,
        key: VerifyingKey,
    ) -> Result<(), RoundError> {
        if let Some(other) = self.members.get(&member)
            && *other != id
        {
            return Err(RoundError::Roster(format!(
                "member index {member} already belongs to participant {}",
                other.0
            )));
        }
        let e = self.entry(id, key)?;
        if let Some(m) = e.member
            && m != member
        {
            return Err(RoundError::Roster(format!(
                "participant {} already holds member index {m}",
                id.0
            )));
        }
        e.member = Some(member);
        self.members.insert(member, id);
        Ok(())
    }

    /// The participant's verifying key.
    pub fn key(&self, id: ParticipantId) -> Option<VerifyingKey> {
        self.entries.get(&id).map(|e| e.key)
    }

    /// Whether `id` is a client.
    pub fn is_client(&self, id: ParticipantId) -> bool {
        self.entries.get(&id).is_some_and(|e| e.client)
    }

    /// Whether `id` is the server.
    pub fn is_server(&self, id: ParticipantId) -> bool {
        self.entries.get(&id).is_some_and(|e| e.server)
    }

    /// `id`'s Shamir index, if it is a committee member.
    pub fn member_index(&self, id: ParticipantId) -> Option<u16> {
        self.entries.get(&id).and_then(|e| e.member)
    }

    /// The participant holding Shamir index `member`.
    pub fn member(&self, member: u16) -> Option<ParticipantId> {
        self.members.get(&member).copied()
    }

    /// Every committee member, by index.
    pub fn members(&self) -> impl Iterator<Item = (u16, ParticipantId)> + '_ {
        self.members.iter().map(|(&m, &p)| (m, p))
    }

    /// The key of `id` if it is a client.
    pub fn client_key(&self, id: ParticipantId) -> Option<VerifyingKey> {
        self.entries.get(&id).filter(|e| e.client).map(|e| e.key)
    }
}

/// The identity a client or committee member acts with.
#[derive(Debug)]
pub struct Identity {
    /// The federation.
    pub federation: FederationId,
    /// This participant.
    pub id: ParticipantId,
    /// Its signing key.
    pub key: SigningKey,
    /// The server's id.
    pub server: ParticipantId,
    /// The server's verifying key (receipts).
    pub server_key: VerifyingKey,
}

type EncoderKey = (usize, u64, u64, u8, u128, u128);

/// DDGauss encoders shared across rounds and participants, keyed by the
/// model size and the round configuration, so per-configuration set-up (the
/// sampler's tables) is paid once per process, not once per client and
/// round.
#[derive(Debug, Default)]
pub struct EncoderCache {
    map: Mutex<HashMap<EncoderKey, Arc<DdgEncoder>>>,
}

impl EncoderCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoder of a round with `config` over `dim` values, checked
    /// against the context's plaintext modulus.
    pub fn get(
        &self,
        ctx: &HeContext,
        config: &RoundConfig,
        dim: usize,
    ) -> Result<Arc<DdgEncoder>, RoundError> {
        let key = (
            dim,
            config.clip.to_bits(),
            config.gamma.to_bits(),
            config.bits,
            config.noise.num,
            config.noise.den,
        );
        if let Ok(map) = self.map.lock()
            && let Some(e) = map.get(&key)
        {
            return Ok(e.clone());
        }
        let enc = Arc::new(DdgEncoder::new(ddg_config(ctx, config, dim)?));
        if let Ok(mut map) = self.map.lock() {
            map.insert(key, enc.clone());
        }
        Ok(enc)
    }
}

/// The DDGauss configuration a [`RoundConfig`] describes (β is the
/// protocol constant [`DEFAULT_BETA`]; a zero noise numerator means no
/// noise). The sum is taken mod `2^bits` inside the HE plaintext space, so
/// `2^bits` must divide the plaintext modulus `T`.
pub fn ddg_config(
    ctx: &HeContext,
    config: &RoundConfig,
    dim: usize,
) -> Result<DdgConfig, RoundError> {
    let t = ctx.params().plaintext_modulus();
    let bits = u32::from(config.bits);
    if bits == 0 || bits >= 64 || !t.is_multiple_of(1u64 << bits) {
        return Err(RoundError::State(format!(
            "2^{bits} does not divide the plaintext modulus {t}: the DDGauss sum would not reduce"
        )));
    }
    let noise = if config.noise.num == 0 {
        None
    } else {
        Some(Rational::new(config.noise.num, config.noise.den)?)
    };
    Ok(DdgConfig::new(
        dim,
        config.clip,
        config.gamma,
        DEFAULT_BETA,
        bits,
        noise,
    )?)
}

/// A refusal message for `reason`.
pub(crate) fn refusal(federation: FederationId, round: RoundId, reason: RefusalReason) -> Message {
    Message::Refusal(Refusal {
        federation,
        round,
        reason,
    })
}

/// Decodes one whole frame, or says why it is refused.
pub(crate) fn decode_frame(bytes: &[u8], limits: &Limits) -> Result<Message, crate::Error> {
    Message::decode(bytes, limits)
}
