//! The server's side of one round (SPEC.md §8.2).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedhe_dp::ddgauss::{DdgEncoder, DecodeReport};
use fedhe_he::{
    CiphertextList, DecryptingSet, DecryptionShare, HeContext, MemberId, PublicKey, combine,
};
use rand_chacha::ChaCha20Rng;

use super::{EncoderCache, Roster, RoundError, Transmit, decode_frame, refusal};
use crate::check::Expectations;
use crate::codec::Limits;
use crate::ids::{Digest, FederationId, ParticipantId, RequestId, RoundId};
use crate::messages::{
    Contribution, DecryptRequest, DecryptShare, Message, Model, Receipt, RefusalReason,
    RoundConfig, RoundOpen, RoundResult, Submission, WireBytes,
};
use crate::sign::SigningKey;

/// What the server runs a round with.
#[derive(Clone, Debug)]
pub struct ServerRoundConfig {
    /// The federation.
    pub federation: FederationId,
    /// This round (strictly increasing across rounds).
    pub round: RoundId,
    /// The server's participant id (receipts are signed under it).
    pub server: ParticipantId,
    /// The model the clients train from.
    pub model: Model,
    /// DP and protocol configuration sent to the clients.
    pub config: RoundConfig,
    /// The round seed (the DDGauss rotation's signs). Public.
    pub seed: [u8; 32],
    /// The clients sampled for this round; only they may submit.
    pub invited: Vec<ParticipantId>,
    /// Close collection as soon as this many submissions are accepted
    /// (otherwise at the deadline `config.deadline_millis` after opening).
    pub quorum: usize,
    /// How long the decrypting set has to answer before the server picks
    /// another set.
    pub share_timeout: Duration,
}

/// Why collection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The quorum of submissions was reached.
    Quorum,
    /// The deadline passed.
    Deadline,
}

/// Why a round failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoundFailure {
    /// Fewer accepted submissions than the configured minimum.
    TooFewContributors {
        /// Accepted.
        accepted: usize,
        /// Required.
        required: usize,
    },
    /// Fewer responsive committee members than the threshold.
    CommitteeUnavailable {
        /// Members not yet marked unresponsive.
        available: usize,
        /// The threshold `t`.
        threshold: usize,
    },
    /// Combining or decoding failed (a bug or a malicious member's share
    /// that verified: the round's output is not trustworthy).
    Decode(String),
}

/// What the server's host must know or act on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A submission was accepted into the running sum. Make it durable,
    /// then call [`ServerRound::acknowledge`] to send its receipt.
    Accepted {
        /// The sender.
        sender: ParticipantId,
        /// Its ciphertext-list digest.
        digest: Digest,
        /// Bytes of its ciphertext list.
        bytes: usize,
    },
    /// A message was refused (and a refusal sent to `from`).
    Refused {
        /// The peer.
        from: ParticipantId,
        /// Why.
        reason: RefusalReason,
        /// Details for the log.
        detail: String,
    },
    /// Submissions are closed.
    CollectionClosed {
        /// Accepted submissions.
        contributors: usize,
        /// Why.
        by: CloseReason,
    },
    /// A decryption request went to a set.
    DecryptionRequested {
        /// The request.
        request: RequestId,
        /// The set's Shamir indices.
        set: Vec<u16>,
        /// The aggregate's digest.
        aggregate_digest: Digest,
    },
    /// Members of the set did not answer (or refused); they are excluded
    /// for the rest of the round.
    MembersUnavailable {
        /// The request they did not answer.
        request: RequestId,
        /// Their indices.
        members: Vec<u16>,
    },
    /// The aggregate is decrypted and decoded. Update the model, then call
    /// [`ServerRound::finish`].
    Decoded {
        /// The decrypted sum mod `2^bits` (scaled, rotated units).
        aggregate: Vec<u64>,
        /// The decoded mean update, `dim` values.
        mean_update: Vec<f64>,
        /// The contributors in the sum, ascending.
        contributors: Vec<ParticipantId>,
        /// The decoder's report (suspected wrap-arounds).
        report: DecodeReport,
    },
    /// The round's result was sent.
    Completed(RoundResult),
    /// The round failed; nothing was decrypted after this.
    Failed(RoundFailure),
}

struct Decryption {
    request: RequestId,
    set: DecryptingSet,
    members: Vec<u16>,
    aggregate: CiphertextList,
    digest: Digest,
    shares: BTreeMap<u16, DecryptionShare>,
    deadline: Instant,
}

enum Phase {
    Collecting { deadline: Instant },
    Decrypting(Box<Decryption>),
    Decoded,
    Done,
    Failed,
}

/// The server's state machine for one round.
pub struct ServerRound {
    ctx: Arc<HeContext>,
    pk: Arc<PublicKey>,
    key: SigningKey,
    roster: Arc<Roster>,
    cfg: ServerRoundConfig,
    encoder: Arc<DdgEncoder>,
    values: usize,
    rng: ChaCha20Rng,
    limits: Limits,
    phase: Phase,
    invited: BTreeSet<ParticipantId>,
    accepted: BTreeMap<ParticipantId, Contribution>,
    digests: HashSet<Digest>,
    unacked: BTreeSet<ParticipantId>,
    sum: CiphertextList,
    unavailable: BTreeSet<u16>,
    requests: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ServerEvent>,
}

impl std::fmt::Debug for ServerRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRound")
            .field("round", &self.cfg.round)
            .field("accepted", &self.accepted.len())
            .finish_non_exhaustive()
    }
}

impl ServerRound {
    /// Opens the round at `now`: queues the [`RoundOpen`] for every invited
    /// client. `rng` re-randomizes aggregates; production hosts seed it from
    /// the operating system.
    ///
    /// Fails if the round's own configuration does not conform to `ctx`, if
    /// an invited participant is not a client of the roster, or if the
    /// quorum is 0.
    #[expect(clippy::too_many_arguments, reason = "the round's whole context")]
    pub fn new(
        now: Instant,
        ctx: Arc<HeContext>,
        pk: Arc<PublicKey>,
        key: SigningKey,
        roster: Arc<Roster>,
        cfg: ServerRoundConfig,
        encoders: &EncoderCache,
        rng: ChaCha20Rng,
    ) -> Result<Self, RoundError> {
        let open = RoundOpen {
            federation: cfg.federation,
            round: cfg.round,
            protocol_version: crate::codec::PROTOCOL_VERSION,
            params_digest: *ctx.digest(),
            public_key_digest: pk.digest(),
            model: cfg.model.clone(),
            config: cfg.config.clone(),
            seed: cfg.seed,
        };
        open.check(&ctx, &Expectations::new(cfg.federation, cfg.round))?;
        let encoder = encoders.get(&ctx, &cfg.config, cfg.model.parameters.len())?;
        let values = encoder.config().padded_dim();
        if cfg.quorum == 0 {
            return Err(RoundError::State("the quorum must be at least 1".into()));
        }
        let mut transmits = VecDeque::new();
        let mut invited = BTreeSet::new();
        for &c in &cfg.invited {
            if !roster.is_client(c) {
                return Err(RoundError::Roster(format!(
                    "invited participant {} is not a client",
                    c.0
                )));
            }
            invited.insert(c);
        }
        for &c in &invited {
            transmits.push_back(Transmit {
                to: c,
                message: Message::RoundOpen(open.clone()),
            });
        }
        let deadline = now + cfg.config.deadline();
        let sum = CiphertextList::zero(&ctx, values);
        Ok(Self {
            ctx,
            pk,
            key,
            roster,
            encoder,
            values,
            rng,
            limits: Limits::DEFAULT,
            phase: Phase::Collecting { deadline },
            invited,
            accepted: BTreeMap::new(),
            digests: HashSet::new(),
            unacked: BTreeSet::new(),
            sum,
            unavailable: BTreeSet::new(),
            requests: 0,
            transmits,
            events: VecDeque::new(),
            cfg,
        })
    }

    /// The round.
    pub fn round(&self) -> RoundId {
        self.cfg.round
    }

    /// Senders accepted so far, ascending.
    pub fn accepted(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.accepted.keys().copied()
    }

    /// Whether the round has ended (completed or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the host.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Collecting { deadline } => Some(*deadline),
            Phase::Decrypting(d) => Some(d.deadline),
            _ => None,
        }
    }

    fn refuse(&mut self, from: ParticipantId, reason: RefusalReason, detail: impl Into<String>) {
        self.transmits.push_back(Transmit {
            to: from,
            message: refusal(self.cfg.federation, self.cfg.round, reason),
        });
        self.events.push_back(ServerEvent::Refused {
            from,
            reason,
            detail: detail.into(),
        });
    }

    /// Raw frame bytes from `from`: decoded under the frame limits, then
    /// [`Self::handle_message`]; a frame that does not decode is refused.
    pub fn handle_frame(&mut self, now: Instant, from: ParticipantId, bytes: &[u8]) {
        match decode_frame(bytes, &self.limits) {
            Ok(m) => self.handle_message(now, from, m),
            Err(e) => self.refuse(from, e.refusal_reason(), e.to_string()),
        }
    }

    /// A decoded message from the authenticated peer `from`.
    pub fn handle_message(&mut self, now: Instant, from: ParticipantId, message: Message) {
        match message {
            Message::Submission(s) => self.on_submission(now, from, s),
            Message::DecryptShare(s) => self.on_share(now, from, s),
            Message::Refusal(r) => {
                // A member that refuses our request cannot answer it: pick
                // another set now rather than at the timeout.
                let refused_request = match (&self.phase, self.roster.member_index(from)) {
                    (Phase::Decrypting(d), Some(m)) if d.members.contains(&m) => {
                        Some((d.request, m))
                    }
                    _ => None,
                };
                self.events.push_back(ServerEvent::Refused {
                    from,
                    reason: r.reason,
                    detail: format!("peer refused our message: {:?}", r.reason),
                });
                if let Some((request, m)) = refused_request
                    && r.round == self.cfg.round
                {
                    self.unavailable.insert(m);
                    self.events.push_back(ServerEvent::MembersUnavailable {
                        request,
                        members: vec![m],
                    });
                    self.start_decryption(now);
                }
            }
            other => self.refuse(
                from,
                RefusalReason::Malformed,
                format!("a {:?} is not a message the server accepts", other.kind()),
            ),
        }
    }

    fn on_submission(&mut self, now: Instant, from: ParticipantId, s: Submission) {
        if !self.roster.is_client(from) || s.sender != from {
            return self.refuse(
                from,
                RefusalReason::UnknownSender,
                format!("submission from {} claiming sender {}", from.0, s.sender.0),
            );
        }
        if s.federation != self.cfg.federation {
            return self.refuse(from, RefusalReason::WrongFederation, "other federation");
        }
        if s.round != self.cfg.round {
            return self.refuse(
                from,
                RefusalReason::StaleRound,
                format!("round {} while {} is open", s.round.0, self.cfg.round.0),
            );
        }
        if !self.invited.contains(&from) {
            return self.refuse(
                from,
                RefusalReason::UnknownSender,
                "not sampled for this round",
            );
        }
        if let Some(c) = self.accepted.get(&from) {
            let (reason, detail) = if c.digest == s.digest {
                // The sender's own submission again, typically re-sent
                // because its receipt was lost (a server restart): it is
                // not counted twice, and if it is already durable the
                // receipt goes out again (receipts are idempotent).
                if !self.unacked.contains(&from) {
                    self.queue_receipt(from);
                }
                (RefusalReason::ReplayedSubmission, "already accepted")
            } else {
                (
                    RefusalReason::DuplicateSender,
                    "a second, different submission",
                )
            };
            return self.refuse(from, reason, detail);
        }
        if self.digests.contains(&s.digest) {
            return self.refuse(
                from,
                RefusalReason::ReplayedSubmission,
                "another sender's ciphertext",
            );
        }
        if !matches!(self.phase, Phase::Collecting { .. }) {
            return self.refuse(from, RefusalReason::DeadlinePassed, "collection closed");
        }
        let mut exp = Expectations::new(self.cfg.federation, self.cfg.round);
        exp.values = Some(self.values);
        let list = match s.check(&self.ctx, &exp) {
            Ok(l) => l,
            Err(e) => return self.refuse(from, e.refusal_reason(), e.to_string()),
        };
        let Some(key) = self.roster.key(from) else {
            return self.refuse(from, RefusalReason::UnknownSender, "no key");
        };
        if let Err(e) = s.verify(self.ctx.digest(), &key) {
            return self.refuse(from, e.refusal_reason(), e.to_string());
        }
        if let Err(e) = self.sum.add_assign(&list) {
            return self.refuse(from, RefusalReason::Malformed, e.to_string());
        }
        let bytes = s.ciphertexts.0.len();
        self.digests.insert(s.digest);
        self.accepted.insert(from, s.contribution());
        self.unacked.insert(from);
        self.events.push_back(ServerEvent::Accepted {
            sender: from,
            digest: s.digest,
            bytes,
        });
        if self.accepted.len() >= self.cfg.quorum {
            self.close(now, CloseReason::Quorum);
        }
    }

    /// Sends `sender`'s receipt: call once its accepted submission is
    /// durable. Returns whether a receipt was queued.
    pub fn acknowledge(&mut self, sender: ParticipantId) -> bool {
        if !self.unacked.remove(&sender) {
            return false;
        }
        self.queue_receipt(sender)
    }

    /// Queues the receipt of `sender`'s accepted submission.
    fn queue_receipt(&mut self, sender: ParticipantId) -> bool {
        let Some(c) = self.accepted.get(&sender) else {
            return false;
        };
        let receipt = Receipt::new_signed(
            self.cfg.federation,
            self.cfg.round,
            self.cfg.server,
            sender,
            c.digest,
            &self.key,
        );
        self.transmits.push_back(Transmit {
            to: sender,
            message: Message::Receipt(receipt),
        });
        true
    }

    fn fail(&mut self, f: RoundFailure) {
        self.phase = Phase::Failed;
        self.events.push_back(ServerEvent::Failed(f));
    }

    fn close(&mut self, now: Instant, by: CloseReason) {
        self.events.push_back(ServerEvent::CollectionClosed {
            contributors: self.accepted.len(),
            by,
        });
        let required = self.cfg.config.min_contributors as usize;
        if self.accepted.len() < required {
            return self.fail(RoundFailure::TooFewContributors {
                accepted: self.accepted.len(),
                required,
            });
        }
        self.start_decryption(now);
    }

    /// Sends the aggregate to the first `t` members not marked unavailable
    /// (rotating the start with the round). Every request after the first
    /// re-randomizes the aggregate, so no member is ever asked twice about
    /// one ciphertext and shares of different requests cannot be mixed.
    fn start_decryption(&mut self, now: Instant) {
        let committee = self.ctx.params().committee;
        let t = usize::from(committee.threshold);
        let n = committee.members;
        let available: Vec<u16> = (1..=n)
            .filter(|m| !self.unavailable.contains(m) && self.roster.member(*m).is_some())
            .collect();
        if available.len() < t {
            return self.fail(RoundFailure::CommitteeUnavailable {
                available: available.len(),
                threshold: t,
            });
        }
        let start = (self.cfg.round.0 % available.len() as u64) as usize;
        let mut members: Vec<u16> = available
            .iter()
            .cycle()
            .skip(start)
            .take(t)
            .copied()
            .collect();
        members.sort_unstable();
        let ids: Vec<MemberId> = match members.iter().map(|&m| MemberId::new(m)).collect() {
            Ok(v) => v,
            Err(e) => return self.fail(RoundFailure::Decode(e.to_string())),
        };
        let set = match DecryptingSet::new(&self.ctx, &ids) {
            Ok(s) => s,
            Err(e) => return self.fail(RoundFailure::Decode(e.to_string())),
        };
        let mut aggregate = self.sum.clone();
        if self.requests > 0
            && let Err(e) = aggregate.rerandomize(&self.pk, &mut self.rng)
        {
            return self.fail(RoundFailure::Decode(e.to_string()));
        }
        self.requests += 1;
        let request = RequestId(self.requests);
        let digest = aggregate.digest();
        let msg = DecryptRequest {
            federation: self.cfg.federation,
            round: self.cfg.round,
            request,
            public_key_digest: self.pk.digest(),
            aggregate: WireBytes(aggregate.to_bytes()),
            aggregate_digest: digest,
            set: members.clone(),
            contributions: self.accepted.values().cloned().collect(),
        };
        for &m in &members {
            if let Some(p) = self.roster.member(m) {
                self.transmits.push_back(Transmit {
                    to: p,
                    message: Message::DecryptRequest(msg.clone()),
                });
            }
        }
        self.events.push_back(ServerEvent::DecryptionRequested {
            request,
            set: members.clone(),
            aggregate_digest: digest,
        });
        self.phase = Phase::Decrypting(Box::new(Decryption {
            request,
            set,
            members,
            aggregate,
            digest,
            shares: BTreeMap::new(),
            deadline: now + self.cfg.share_timeout,
        }));
    }

    fn on_share(&mut self, _now: Instant, from: ParticipantId, s: DecryptShare) {
        let Some(m) = self.roster.member_index(from) else {
            return self.refuse(from, RefusalReason::UnknownSender, "not a committee member");
        };
        if s.sender != from || s.member != m {
            return self.refuse(
                from,
                RefusalReason::UnknownSender,
                format!(
                    "share from {} (member {m}) claiming sender {} member {}",
                    from.0, s.sender.0, s.member
                ),
            );
        }
        if s.federation != self.cfg.federation {
            return self.refuse(from, RefusalReason::WrongFederation, "other federation");
        }
        if s.round != self.cfg.round {
            return self.refuse(from, RefusalReason::StaleRound, "not the open round");
        }
        let Phase::Decrypting(d) = &self.phase else {
            return self.refuse(from, RefusalReason::StaleRound, "no decryption in progress");
        };
        if s.request != d.request {
            return self.refuse(
                from,
                RefusalReason::StaleRound,
                format!(
                    "answers request {} while {} is open",
                    s.request.0, d.request.0
                ),
            );
        }
        if !d.members.contains(&m) {
            return self.refuse(
                from,
                RefusalReason::NotInDecryptingSet,
                format!("member {m} is not in the set"),
            );
        }
        if d.shares.contains_key(&m) {
            return self.refuse(
                from,
                RefusalReason::ReplayedSubmission,
                "share already received",
            );
        }
        let Some(key) = self.roster.key(from) else {
            return self.refuse(from, RefusalReason::UnknownSender, "no key");
        };
        if let Err(e) = s.verify(self.ctx.digest(), &d.digest, &key) {
            return self.refuse(from, e.refusal_reason(), e.to_string());
        }
        let mut exp = Expectations::new(self.cfg.federation, self.cfg.round);
        exp.request = Some(d.request);
        exp.aggregate_digest = Some(d.digest);
        exp.set = Some(d.set.clone());
        let share = match s.check(&self.ctx, &exp) {
            Ok(sh) => sh,
            Err(e) => return self.refuse(from, e.refusal_reason(), e.to_string()),
        };
        let Phase::Decrypting(d) = &mut self.phase else {
            return;
        };
        d.shares.insert(m, share);
        if d.shares.len() == d.members.len() {
            self.decode();
        }
    }

    fn decode(&mut self) {
        let Phase::Decrypting(d) = std::mem::replace(&mut self.phase, Phase::Decoded) else {
            return;
        };
        let shares: Vec<DecryptionShare> = d.shares.into_values().collect();
        let plain = match combine(&d.aggregate, &d.set, &shares) {
            Ok(p) => p,
            Err(e) => return self.fail(RoundFailure::Decode(e.to_string())),
        };
        let mask = (1u64 << self.cfg.config.bits) - 1;
        let aggregate: Vec<u64> = plain.iter().map(|v| v & mask).collect();
        let n = self.accepted.len() as u64;
        match self.encoder.decode(&self.cfg.seed, &aggregate, n) {
            Ok((mean_update, report)) => self.events.push_back(ServerEvent::Decoded {
                aggregate,
                mean_update,
                contributors: self.accepted.keys().copied().collect(),
                report,
            }),
            Err(e) => self.fail(RoundFailure::Decode(e.to_string())),
        }
    }

    /// The host applied the decoded update: sends the [`RoundResult`] to
    /// every invited client and every committee member, and ends the round.
    pub fn finish(
        &mut self,
        model_version: u64,
        model_digest: Digest,
        epsilon_spent: f64,
    ) -> Result<RoundResult, RoundError> {
        if !matches!(self.phase, Phase::Decoded) {
            return Err(RoundError::State(
                "finish() is only valid after ServerEvent::Decoded".into(),
            ));
        }
        let result = RoundResult {
            federation: self.cfg.federation,
            round: self.cfg.round,
            model_version,
            model_digest,
            contributors: self.accepted.keys().copied().collect(),
            epsilon_spent,
        };
        let mut to: BTreeSet<ParticipantId> = self.invited.clone();
        to.extend(self.roster.members().map(|(_, p)| p));
        for p in to {
            self.transmits.push_back(Transmit {
                to: p,
                message: Message::RoundResult(result.clone()),
            });
        }
        self.phase = Phase::Done;
        self.events
            .push_back(ServerEvent::Completed(result.clone()));
        Ok(result)
    }

    /// Deadlines: closes collection, or replaces a set that did not answer.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.phase {
            Phase::Collecting { deadline } if now >= *deadline => {
                self.close(now, CloseReason::Deadline);
            }
            Phase::Decrypting(d) if now >= d.deadline => {
                let missing: Vec<u16> = d
                    .members
                    .iter()
                    .filter(|m| !d.shares.contains_key(m))
                    .copied()
                    .collect();
                let request = d.request;
                self.unavailable.extend(missing.iter().copied());
                self.events.push_back(ServerEvent::MembersUnavailable {
                    request,
                    members: missing,
                });
                self.start_decryption(now);
            }
            _ => {}
        }
    }
}
