//! A client's side of one round (SPEC.md §8.3).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use fedhe_dp::ddgauss::{DdgEncoder, EncodeReport};
use fedhe_he::{CiphertextList, HeContext, PublicKey};
use rand_chacha::ChaCha20Rng;

use super::{EncoderCache, Identity, RoundError, Transmit, decode_frame, refusal};
use crate::check::Expectations;
use crate::codec::Limits;
use crate::ids::{Digest, ParticipantId, RoundId};
use crate::messages::{
    Message, Model, Receipt, RefusalReason, RoundConfig, RoundOpen, RoundResult, Submission,
};

/// What a client's host must know or act on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Train on local data from `model` and call
    /// [`ClientRound::submit_update`] with the update (new − old weights).
    Train {
        /// The round.
        round: RoundId,
        /// The global model.
        model: Model,
        /// The round's configuration (clip, DP, deadline).
        config: RoundConfig,
    },
    /// The encrypted update was queued for the server.
    Submitted {
        /// The round.
        round: RoundId,
        /// Its ciphertext-list digest.
        digest: Digest,
        /// Bytes of the ciphertext list.
        bytes: usize,
        /// The DDGauss residues that were encrypted (this client's own
        /// secret: for the host's tests and accounting, never to be sent).
        encoded: Vec<u64>,
        /// The encoder's report (clipping, rounding retries).
        report: EncodeReport,
    },
    /// The server's signed receipt arrived and verified: the submission is
    /// durable on the server.
    Receipted {
        /// The round.
        round: RoundId,
    },
    /// A message was refused, or the server refused ours.
    Refused {
        /// The peer.
        from: ParticipantId,
        /// Why.
        reason: RefusalReason,
        /// Details for the log.
        detail: String,
    },
    /// The round's result.
    Result(RoundResult),
}

enum State {
    AwaitingOpen,
    Training {
        open: Box<RoundOpen>,
        encoder: Arc<DdgEncoder>,
    },
    Submitted {
        round: RoundId,
        digest: Digest,
    },
    Receipted {
        round: RoundId,
    },
    Done,
}

/// A client's state machine for one round (create one per round it is
/// invited to; `after` is the last round it took part in, so an older or
/// repeated [`RoundOpen`] is refused as stale).
pub struct ClientRound {
    ctx: Arc<HeContext>,
    pk: Arc<PublicKey>,
    me: Identity,
    encoders: Arc<EncoderCache>,
    after: Option<RoundId>,
    rng: ChaCha20Rng,
    limits: Limits,
    state: State,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for ClientRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRound")
            .field("id", &self.me.id)
            .finish_non_exhaustive()
    }
}

impl ClientRound {
    /// A client waiting for a round after `after`. `rng` draws the DP noise
    /// and the encryption randomness: production hosts seed it from the
    /// operating system.
    pub fn new(
        ctx: Arc<HeContext>,
        pk: Arc<PublicKey>,
        me: Identity,
        encoders: Arc<EncoderCache>,
        after: Option<RoundId>,
        rng: ChaCha20Rng,
    ) -> Self {
        Self {
            ctx,
            pk,
            me,
            encoders,
            after,
            rng,
            limits: Limits::DEFAULT,
            state: State::AwaitingOpen,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// This client's id.
    pub fn id(&self) -> ParticipantId {
        self.me.id
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the host.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Clients wait on the server's deadline, not their own.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Nothing is timed on the client.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn current_round(&self) -> RoundId {
        match &self.state {
            State::Training { open, .. } => open.round,
            State::Submitted { round, .. } | State::Receipted { round } => *round,
            _ => self.after.unwrap_or(RoundId(0)),
        }
    }

    fn refuse(&mut self, from: ParticipantId, reason: RefusalReason, detail: impl Into<String>) {
        let round = self.current_round();
        self.transmits.push_back(Transmit {
            to: from,
            message: refusal(self.me.federation, round, reason),
        });
        self.events.push_back(ClientEvent::Refused {
            from,
            reason,
            detail: detail.into(),
        });
    }

    /// Raw frame bytes from `from` (see [`Self::handle_message`]).
    pub fn handle_frame(&mut self, now: Instant, from: ParticipantId, bytes: &[u8]) {
        match decode_frame(bytes, &self.limits) {
            Ok(m) => self.handle_message(now, from, m),
            Err(e) => self.refuse(from, e.refusal_reason(), e.to_string()),
        }
    }

    /// A decoded message from the authenticated peer `from`. Only the
    /// server may talk to a client.
    pub fn handle_message(&mut self, _now: Instant, from: ParticipantId, message: Message) {
        if from != self.me.server {
            return self.refuse(from, RefusalReason::UnknownSender, "only the server");
        }
        match message {
            Message::RoundOpen(open) => self.on_open(from, open),
            Message::Receipt(r) => self.on_receipt(from, r),
            Message::RoundResult(r) => {
                if r.federation != self.me.federation {
                    return self.refuse(from, RefusalReason::WrongFederation, "other federation");
                }
                if r.round != self.current_round() {
                    return self.refuse(from, RefusalReason::StaleRound, "not our round");
                }
                self.state = State::Done;
                self.events.push_back(ClientEvent::Result(r));
            }
            Message::Refusal(r) => self.events.push_back(ClientEvent::Refused {
                from,
                reason: r.reason,
                detail: "the server refused our message".into(),
            }),
            other => self.refuse(
                from,
                RefusalReason::Malformed,
                format!("a {:?} is not a message a client accepts", other.kind()),
            ),
        }
    }

    fn on_open(&mut self, from: ParticipantId, open: RoundOpen) {
        if !matches!(self.state, State::AwaitingOpen) {
            return self.refuse(from, RefusalReason::StaleRound, "a round is already open");
        }
        if self.after.is_some_and(|a| open.round <= a) {
            return self.refuse(from, RefusalReason::StaleRound, "not after our last round");
        }
        let mut exp = Expectations::new(self.me.federation, open.round);
        exp.public_key_digest = Some(self.pk.digest());
        if let Err(e) = open.check(&self.ctx, &exp) {
            return self.refuse(from, e.refusal_reason(), e.to_string());
        }
        let encoder = match self
            .encoders
            .get(&self.ctx, &open.config, open.model.parameters.len())
        {
            Ok(e) => e,
            Err(e) => return self.refuse(from, RefusalReason::Malformed, e.to_string()),
        };
        self.events.push_back(ClientEvent::Train {
            round: open.round,
            model: open.model.clone(),
            config: open.config.clone(),
        });
        self.state = State::Training {
            open: Box::new(open),
            encoder,
        };
    }

    fn on_receipt(&mut self, from: ParticipantId, r: Receipt) {
        let State::Submitted { round, digest } = self.state else {
            return self.refuse(from, RefusalReason::StaleRound, "no submission pending");
        };
        if r.federation != self.me.federation || r.round != round || r.sender != self.me.id {
            return self.refuse(
                from,
                RefusalReason::StaleRound,
                "receipt for another submission",
            );
        }
        if r.submission_digest != digest {
            return self.refuse(
                from,
                RefusalReason::DigestMismatch,
                "receipt for other bytes",
            );
        }
        if let Err(e) = r.verify(self.me.server, &self.me.server_key) {
            return self.refuse(from, e.refusal_reason(), e.to_string());
        }
        self.state = State::Receipted { round };
        self.events.push_back(ClientEvent::Receipted { round });
    }

    /// The host's local update for the open round (`dim` values, new minus
    /// old weights): clipped, DP-encoded with noise, encrypted under the
    /// collective key, signed and queued for the server.
    pub fn submit_update(&mut self, _now: Instant, update: &[f32]) -> Result<(), RoundError> {
        let State::Training { open, encoder } = &self.state else {
            return Err(RoundError::State(
                "submit_update() is only valid after ClientEvent::Train".into(),
            ));
        };
        let round = open.round;
        let (encoded, report) = encoder.encode_f32(&open.seed, update, &mut self.rng)?;
        let list = CiphertextList::encrypt(&self.pk, &encoded, &mut self.rng)?;
        let s = Submission::new_signed(self.me.federation, round, self.me.id, &list, &self.me.key);
        let digest = s.digest;
        let bytes = s.ciphertexts.0.len();
        self.transmits.push_back(Transmit {
            to: self.me.server,
            message: Message::Submission(s),
        });
        self.events.push_back(ClientEvent::Submitted {
            round,
            digest,
            bytes,
            encoded,
            report,
        });
        self.state = State::Submitted { round, digest };
        Ok(())
    }
}
