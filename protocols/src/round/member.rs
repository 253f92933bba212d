//! A committee member's side of the decryption (SPEC.md §8.4).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use fedhe_he::{DecryptionBudget, HeContext, KeyShare, partial_decrypt};
use rand_chacha::ChaCha20Rng;

use super::{Identity, Roster, Transmit, decode_frame, refusal};
use crate::check::Expectations;
use crate::codec::Limits;
use crate::ids::{Digest, ParticipantId, RequestId, RoundId};
use crate::messages::{DecryptRequest, DecryptShare, Message, RefusalReason};

/// A member's own rules, independent of what the server asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberPolicy {
    /// Fewest distinct, signed contributions an aggregate must list.
    pub min_contributors: usize,
    /// Most distinct rounds this member helps decrypt (the privacy plan's
    /// `T`: each decrypted round spends privacy budget, and a member refuses
    /// to help spend more than the plan allows, whatever the server says).
    /// `None`: no limit beyond the key's decryption budget.
    pub max_rounds: Option<u64>,
}

/// What a member's host must know or act on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum MemberEvent {
    /// This member decided to answer `aggregate_digest`. Persist the digest
    /// (and the budget's new `budget_used`), then call
    /// [`CommitteeMember::persisted`]: only then does the share leave.
    PersistAnswered {
        /// The round.
        round: RoundId,
        /// The request.
        request: RequestId,
        /// The aggregate answered.
        aggregate_digest: Digest,
        /// Coefficients decrypted by this key so far, this one included.
        budget_used: u64,
    },
    /// The share for `aggregate_digest` was queued for the server.
    ShareReleased {
        /// The round.
        round: RoundId,
        /// The aggregate.
        aggregate_digest: Digest,
    },
    /// A message was refused.
    Refused {
        /// The peer.
        from: ParticipantId,
        /// Why.
        reason: RefusalReason,
        /// Details for the log.
        detail: String,
    },
}

/// A committee member's state machine, long-lived across rounds.
pub struct CommitteeMember {
    ctx: Arc<HeContext>,
    share: KeyShare,
    pk_digest: Digest,
    me: Identity,
    roster: Arc<Roster>,
    policy: MemberPolicy,
    answered: HashSet<Digest>,
    rounds: BTreeSet<RoundId>,
    pending: BTreeMap<Digest, DecryptShare>,
    budget: DecryptionBudget,
    latest: Option<RoundId>,
    rng: ChaCha20Rng,
    limits: Limits,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MemberEvent>,
}

impl std::fmt::Debug for CommitteeMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitteeMember")
            .field("id", &self.me.id)
            .field("member", &self.share.member())
            .finish_non_exhaustive()
    }
}

impl CommitteeMember {
    /// A member holding `share` of the key whose public digest is
    /// `pk_digest`. `answered` are the `(round, aggregate digest)` records
    /// of what it answered before (from its durable store); `budget` the key's decryption budget with
    /// what was already used. `rng` draws the flooding noise: production
    /// hosts seed it from the operating system.
    #[expect(clippy::too_many_arguments, reason = "the member's whole context")]
    pub fn new(
        ctx: Arc<HeContext>,
        share: KeyShare,
        pk_digest: Digest,
        me: Identity,
        roster: Arc<Roster>,
        policy: MemberPolicy,
        answered: impl IntoIterator<Item = (RoundId, Digest)>,
        budget: DecryptionBudget,
        rng: ChaCha20Rng,
    ) -> Self {
        let mut latest = None;
        let mut digests = HashSet::new();
        let mut rounds = BTreeSet::new();
        for (r, d) in answered {
            digests.insert(d);
            rounds.insert(r);
            latest = latest.max(Some(r));
        }
        Self {
            ctx,
            share,
            pk_digest,
            me,
            roster,
            policy,
            answered: digests,
            rounds,
            pending: BTreeMap::new(),
            budget,
            latest,
            rng,
            limits: Limits::DEFAULT,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// This member's participant id.
    pub fn id(&self) -> ParticipantId {
        self.me.id
    }

    /// This member's Shamir index.
    pub fn member(&self) -> u16 {
        self.share.member().get()
    }

    /// Coefficients decrypted with this key share so far.
    pub fn budget_used(&self) -> u64 {
        self.budget.used()
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the host.
    pub fn poll_event(&mut self) -> Option<MemberEvent> {
        self.events.pop_front()
    }

    /// Members keep no timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Nothing is timed on a member.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn refuse(
        &mut self,
        from: ParticipantId,
        round: RoundId,
        reason: RefusalReason,
        detail: impl Into<String>,
    ) {
        self.transmits.push_back(Transmit {
            to: from,
            message: refusal(self.me.federation, round, reason),
        });
        self.events.push_back(MemberEvent::Refused {
            from,
            reason,
            detail: detail.into(),
        });
    }

    /// Raw frame bytes from `from` (see [`Self::handle_message`]).
    pub fn handle_frame(&mut self, now: Instant, from: ParticipantId, bytes: &[u8]) {
        match decode_frame(bytes, &self.limits) {
            Ok(m) => self.handle_message(now, from, m),
            Err(e) => {
                let round = self.latest.unwrap_or(RoundId(0));
                self.refuse(from, round, e.refusal_reason(), e.to_string());
            }
        }
    }

    /// A decoded message from the authenticated peer `from`.
    pub fn handle_message(&mut self, _now: Instant, from: ParticipantId, message: Message) {
        let round = self.latest.unwrap_or(RoundId(0));
        match message {
            Message::DecryptRequest(r) => self.on_request(from, r),
            // Round results and refusals are informational for a member.
            Message::RoundResult(_) | Message::Refusal(_) if from == self.me.server => {}
            other => self.refuse(
                from,
                round,
                RefusalReason::Malformed,
                format!("a {:?} is not a message a member accepts", other.kind()),
            ),
        }
    }

    /// The checks, in order (each one's refusal names it):
    ///
    /// 1. the sender is the server;
    /// 2. the federation;
    /// 3. the round is not older than the latest one answered;
    /// 4. conformance: parameter digest, key digest, the aggregate against
    ///    its digest, the set;
    /// 5. this member is in the set;
    /// 6. the aggregate was never answered before;
    /// 7. at least the policy's minimum of distinct contributions, each
    ///    signed by a client of the roster;
    /// 8. the privacy budget: a new round beyond the policy's `max_rounds`
    ///    is refused;
    /// 9. the key's decryption budget.
    fn on_request(&mut self, from: ParticipantId, r: DecryptRequest) {
        let round = r.round;
        if from != self.me.server || !self.roster.is_server(from) {
            return self.refuse(from, round, RefusalReason::UnknownSender, "not the server");
        }
        if r.federation != self.me.federation {
            return self.refuse(
                from,
                round,
                RefusalReason::WrongFederation,
                "other federation",
            );
        }
        if self.latest.is_some_and(|l| round < l) {
            return self.refuse(
                from,
                round,
                RefusalReason::StaleRound,
                "older than answered",
            );
        }
        let mut exp = Expectations::new(self.me.federation, round);
        exp.public_key_digest = Some(self.pk_digest);
        let (aggregate, set) = match r.check(&self.ctx, &exp) {
            Ok(v) => v,
            Err(e) => return self.refuse(from, round, e.refusal_reason(), e.to_string()),
        };
        if !set.contains(self.share.member()) {
            return self.refuse(
                from,
                round,
                RefusalReason::NotInDecryptingSet,
                format!("member {} not in {:?}", self.member(), r.set),
            );
        }
        if self.answered.contains(&r.aggregate_digest) {
            return self.refuse(
                from,
                round,
                RefusalReason::CiphertextAlreadyAnswered,
                "this aggregate was answered before",
            );
        }
        if r.contributions.len() < self.policy.min_contributors {
            return self.refuse(
                from,
                round,
                RefusalReason::BelowMinimumContributors,
                format!(
                    "{} contributions, policy requires {}",
                    r.contributions.len(),
                    self.policy.min_contributors
                ),
            );
        }
        let roster = self.roster.clone();
        if let Err(e) = r.verify_contributions(self.ctx.digest(), |p| roster.client_key(p)) {
            return self.refuse(from, round, e.refusal_reason(), e.to_string());
        }
        if let Some(max) = self.policy.max_rounds
            && !self.rounds.contains(&round)
            && self.rounds.len() as u64 >= max
        {
            return self.refuse(
                from,
                round,
                RefusalReason::BudgetExceeded,
                format!("already helped decrypt {max} rounds, the plan's limit"),
            );
        }
        if let Err(e) = self.budget.charge(&aggregate) {
            return self.refuse(from, round, RefusalReason::BudgetExceeded, e.to_string());
        }
        let share = match partial_decrypt(&self.share, &set, &aggregate, &mut self.rng) {
            Ok(s) => s,
            Err(e) => return self.refuse(from, round, RefusalReason::Malformed, e.to_string()),
        };
        let msg = DecryptShare::new_signed(
            self.me.federation,
            round,
            r.request,
            self.me.id,
            &self.ctx,
            &share,
            &self.me.key,
        );
        self.latest = Some(round);
        self.answered.insert(r.aggregate_digest);
        self.rounds.insert(round);
        self.pending.insert(r.aggregate_digest, msg);
        self.events.push_back(MemberEvent::PersistAnswered {
            round,
            request: r.request,
            aggregate_digest: r.aggregate_digest,
            budget_used: self.budget.used(),
        });
    }

    /// The host made the record of answering `aggregate_digest` durable:
    /// the share leaves. Returns whether a share was released.
    pub fn persisted(&mut self, aggregate_digest: &Digest) -> bool {
        let Some(msg) = self.pending.remove(aggregate_digest) else {
            return false;
        };
        let round = msg.round;
        self.transmits.push_back(Transmit {
            to: self.me.server,
            message: Message::DecryptShare(msg),
        });
        self.events.push_back(MemberEvent::ShareReleased {
            round,
            aggregate_digest: *aggregate_digest,
        });
        true
    }
}
