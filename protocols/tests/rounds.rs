//! The round state machines driven in one thread with simulated time: every
//! message goes through `encode` → bytes → `handle_frame`, as on a network.
//!
//! `whole_round_with_dropouts_and_a_lost_member` is the whole-round
//! test: 20 clients, a 3-of-5 committee, 30 % of the clients drop out, one
//! member of the decrypting set is gone mid-decryption; the round completes
//! with exactly the sum of the surviving submissions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedhe_he::params::TEST_INSECURE_64;
use fedhe_he::{Committee, DealtCommittee, DecryptionBudget, HeContext};
use fedhe_protocols::round::*;
use fedhe_protocols::*;
use rand::RngExt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const FED: FederationId = FederationId([3; 16]);
const SERVER: ParticipantId = ParticipantId(1);
const DIM: usize = 50;
const BITS: u8 = 20;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

struct World {
    ctx: Arc<HeContext>,
    committee: DealtCommittee,
    pk: Arc<fedhe_he::PublicKey>,
    server_key: SigningKey,
    client_keys: BTreeMap<ParticipantId, SigningKey>,
    member_keys: BTreeMap<u16, (ParticipantId, SigningKey)>,
    roster: Arc<Roster>,
    encoders: Arc<EncoderCache>,
}

fn world(clients: u32, threshold: u16, members: u16) -> World {
    let p = TEST_INSECURE_64
        .deployment(64, Committee { threshold, members })
        .expect("deployment");
    let ctx = HeContext::new_insecure(p).expect("context");
    let mut r = rng(11);
    let committee = DealtCommittee::deal(&ctx, &mut r).expect("deal");
    let pk = Arc::new(committee.public_key.clone());
    let server_key = SigningKey::generate_with(&mut r);
    let mut roster = Roster::new();
    roster
        .add_server(SERVER, server_key.verifying_key())
        .expect("server");
    let client_keys: BTreeMap<_, _> = (0..clients)
        .map(|i| (ParticipantId(1000 + i), SigningKey::generate_with(&mut r)))
        .collect();
    for (&id, k) in &client_keys {
        roster.add_client(id, k.verifying_key()).expect("client");
    }
    let member_keys: BTreeMap<_, _> = (1..=members)
        .map(|m| {
            (
                m,
                (
                    ParticipantId(2000 + u32::from(m)),
                    SigningKey::generate_with(&mut r),
                ),
            )
        })
        .collect();
    for (&m, (id, k)) in &member_keys {
        roster
            .add_member(*id, m, k.verifying_key())
            .expect("member");
    }
    World {
        ctx,
        committee,
        pk,
        server_key,
        client_keys,
        member_keys,
        roster: Arc::new(roster),
        encoders: Arc::new(EncoderCache::new()),
    }
}

fn config(min_contributors: u32, noise: u128) -> RoundConfig {
    RoundConfig {
        clip: 1.0,
        gamma: 1e-3,
        bits: BITS,
        noise: NoiseRatio { num: noise, den: 1 },
        min_contributors,
        deadline_millis: 60_000,
    }
}

impl World {
    fn identity(&self, id: ParticipantId, key: &SigningKey) -> Identity {
        Identity {
            federation: FED,
            id,
            key: SigningKey::from_seed(&key.to_seed()),
            server: SERVER,
            server_key: self.server_key.verifying_key(),
        }
    }

    fn server(&self, now: Instant, round: u64, cfg: RoundConfig, quorum: usize) -> ServerRound {
        ServerRound::new(
            now,
            self.ctx.clone(),
            self.pk.clone(),
            SigningKey::from_seed(&self.server_key.to_seed()),
            self.roster.clone(),
            ServerRoundConfig {
                federation: FED,
                round: RoundId(round),
                server: SERVER,
                model: Model {
                    version: round,
                    parameters: vec![0.5; DIM],
                },
                config: cfg,
                seed: [round as u8; 32],
                invited: self.client_keys.keys().copied().collect(),
                quorum,
                share_timeout: Duration::from_secs(10),
            },
            &self.encoders,
            rng(round * 7 + 1),
        )
        .expect("server round")
    }

    fn client(&self, id: ParticipantId, seed: u64) -> ClientRound {
        ClientRound::new(
            self.ctx.clone(),
            self.pk.clone(),
            self.identity(id, &self.client_keys[&id]),
            self.encoders.clone(),
            None,
            rng(seed),
        )
    }

    fn member(
        &self,
        m: u16,
        min_contributors: usize,
        answered: Vec<(RoundId, Digest)>,
    ) -> CommitteeMember {
        self.member_with(
            m,
            MemberPolicy {
                min_contributors,
                max_rounds: Some(3),
            },
            answered,
        )
    }

    fn member_with(
        &self,
        m: u16,
        policy: MemberPolicy,
        answered: Vec<(RoundId, Digest)>,
    ) -> CommitteeMember {
        let (id, key) = &self.member_keys[&m];
        CommitteeMember::new(
            self.ctx.clone(),
            fedhe_he::KeyShare::from_bytes(
                &self.ctx,
                &self.committee.key_shares[usize::from(m) - 1].to_bytes(),
            )
            .expect("key share"),
            self.pk.digest(),
            self.identity(*id, key),
            self.roster.clone(),
            policy,
            answered,
            DecryptionBudget::new(&self.ctx),
            rng(5000 + u64::from(m)),
        )
    }
}

fn bytes(m: &Message) -> Vec<u8> {
    m.encode().expect("encode")
}

/// The simulated network and the participants' hosts.
struct Sim {
    now: Instant,
    server: ServerRound,
    clients: BTreeMap<ParticipantId, ClientRound>,
    members: BTreeMap<ParticipantId, CommitteeMember>,
    /// (from, to, frame)
    queue: VecDeque<(ParticipantId, ParticipantId, Vec<u8>)>,
    /// Clients that never train (dropouts).
    dropouts: BTreeSet<ParticipantId>,
    /// Members that vanish when they receive their first request.
    vanish: BTreeSet<ParticipantId>,
    gone: BTreeSet<ParticipantId>,
    updates: BTreeMap<ParticipantId, Vec<f32>>,
    encoded: BTreeMap<ParticipantId, Vec<u64>>,
    server_events: Vec<ServerEvent>,
    client_refusals: Vec<(ParticipantId, RefusalReason)>,
    member_events: Vec<(ParticipantId, MemberEvent)>,
    receipts: BTreeSet<ParticipantId>,
    results: BTreeMap<ParticipantId, RoundResult>,
}

impl Sim {
    fn pump(&mut self) -> bool {
        let mut busy = false;
        while let Some(t) = self.server.poll_transmit() {
            self.queue.push_back((SERVER, t.to, bytes(&t.message)));
        }
        while let Some(e) = self.server.poll_event() {
            busy = true;
            match &e {
                ServerEvent::Accepted { sender, .. } => {
                    assert!(self.server.acknowledge(*sender));
                }
                ServerEvent::Decoded { .. } => {
                    let model = vec![0.0f32; DIM];
                    self.server
                        .finish(2, model_digest(2, &model), 0.5)
                        .expect("finish");
                }
                _ => {}
            }
            self.server_events.push(e);
        }
        let ids: Vec<ParticipantId> = self.clients.keys().copied().collect();
        for id in ids {
            let c = self.clients.get_mut(&id).expect("client");
            while let Some(e) = c.poll_event() {
                busy = true;
                match e {
                    ClientEvent::Train { .. } if !self.dropouts.contains(&id) => {
                        let u = self.updates[&id].clone();
                        c.submit_update(self.now, &u).expect("submit");
                    }
                    ClientEvent::Submitted { encoded, .. } => {
                        self.encoded.insert(id, encoded);
                    }
                    ClientEvent::Receipted { .. } => {
                        self.receipts.insert(id);
                    }
                    ClientEvent::Refused { reason, .. } => self.client_refusals.push((id, reason)),
                    ClientEvent::Result(r) => {
                        self.results.insert(id, r);
                    }
                    _ => {}
                }
            }
            while let Some(t) = c.poll_transmit() {
                self.queue.push_back((id, t.to, bytes(&t.message)));
            }
        }
        let ids: Vec<ParticipantId> = self.members.keys().copied().collect();
        for id in ids {
            let m = self.members.get_mut(&id).expect("member");
            while let Some(e) = m.poll_event() {
                busy = true;
                if let MemberEvent::PersistAnswered {
                    aggregate_digest, ..
                } = &e
                {
                    // The host's durable write would happen here.
                    assert!(m.persisted(aggregate_digest));
                }
                self.member_events.push((id, e));
            }
            while let Some(t) = m.poll_transmit() {
                self.queue.push_back((id, t.to, bytes(&t.message)));
            }
        }
        while let Some((from, to, frame)) = self.queue.pop_front() {
            busy = true;
            if self.gone.contains(&to) || self.gone.contains(&from) {
                continue;
            }
            if to == SERVER {
                self.server.handle_frame(self.now, from, &frame);
            } else if let Some(c) = self.clients.get_mut(&to) {
                c.handle_frame(self.now, from, &frame);
            } else if let Some(m) = self.members.get_mut(&to) {
                if self.vanish.contains(&to) {
                    // Gone mid-decryption: the request arrived, the member
                    // never answers and never comes back.
                    self.gone.insert(to);
                    continue;
                }
                m.handle_frame(self.now, from, &frame);
            }
        }
        busy
    }

    fn run(&mut self) {
        for _ in 0..10_000 {
            if self.server.is_finished() && !self.pump() {
                return;
            }
            if !self.pump() {
                match self.server.poll_timeout() {
                    Some(t) => {
                        self.now = self.now.max(t);
                        self.server.handle_timeout(self.now);
                    }
                    None => return,
                }
            }
        }
        panic!("the simulation did not settle");
    }
}

fn sim(w: &World, now: Instant, server: ServerRound, seed: u64) -> Sim {
    let mut r = rng(seed);
    let clients = w
        .client_keys
        .keys()
        .map(|&id| (id, w.client(id, seed ^ u64::from(id.0))))
        .collect();
    let members = w
        .member_keys
        .iter()
        .map(|(&m, (id, _))| (*id, w.member(m, 5, vec![])))
        .collect();
    let updates = w
        .client_keys
        .keys()
        .map(|&id| {
            let u: Vec<f32> = (0..DIM).map(|_| r.random_range(-0.1f32..0.1)).collect();
            (id, u)
        })
        .collect();
    Sim {
        now,
        server,
        clients,
        members,
        queue: VecDeque::new(),
        dropouts: BTreeSet::new(),
        vanish: BTreeSet::new(),
        gone: BTreeSet::new(),
        updates,
        encoded: BTreeMap::new(),
        server_events: vec![],
        client_refusals: vec![],
        member_events: vec![],
        receipts: BTreeSet::new(),
        results: BTreeMap::new(),
    }
}

#[test]
fn whole_round_with_dropouts_and_a_lost_member() {
    let w = world(20, 3, 5);
    let t0 = Instant::now();
    let server = w.server(t0, 1, config(10, 9), 20);
    let mut s = sim(&w, t0, server, 77);
    // 30 % of the 20 clients drop out.
    s.dropouts = w.client_keys.keys().copied().step_by(3).take(6).collect();
    assert_eq!(s.dropouts.len(), 6);
    // The first set of round 1 starts at index 1 % 5 + 1 = 2: {2, 3, 4}.
    // Member 3 vanishes when its request arrives.
    let lost = w.member_keys[&3].0;
    s.vanish.insert(lost);
    s.run();

    let survivors: BTreeSet<ParticipantId> = w
        .client_keys
        .keys()
        .filter(|id| !s.dropouts.contains(id))
        .copied()
        .collect();
    assert_eq!(survivors.len(), 14);
    // Collection closed at the deadline (the quorum of 20 was never met).
    assert!(s.server_events.iter().any(|e| matches!(
        e,
        ServerEvent::CollectionClosed {
            contributors: 14,
            by: CloseReason::Deadline
        }
    )));
    // Two requests: the first set lost member 3, the second excluded it.
    let requests: Vec<(RequestId, Vec<u16>, Digest)> = s
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::DecryptionRequested {
                request,
                set,
                aggregate_digest,
            } => Some((*request, set.clone(), *aggregate_digest)),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].1.contains(&3));
    assert!(!requests[1].1.contains(&3));
    // The second aggregate was re-randomized: no member saw one ciphertext twice.
    assert_ne!(requests[0].2, requests[1].2);
    assert!(s.server_events.iter().any(|e| matches!(
        e,
        ServerEvent::MembersUnavailable { members, .. } if members == &vec![3]
    )));
    // No member answered the same aggregate twice.
    let mut answered = BTreeSet::new();
    for (id, e) in &s.member_events {
        if let MemberEvent::PersistAnswered {
            aggregate_digest, ..
        } = e
        {
            assert!(answered.insert((*id, *aggregate_digest)));
            assert_ne!(*id, lost);
        }
    }
    // Exactly the sum of the surviving submissions, mod 2^bits.
    let mask = (1u64 << BITS) - 1;
    let mut want = vec![0u64; DIM.next_power_of_two()];
    for id in &survivors {
        for (w, v) in want.iter_mut().zip(&s.encoded[id]) {
            *w = (*w + v) & mask;
        }
    }
    let decoded = s
        .server_events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Decoded {
                aggregate,
                contributors,
                mean_update,
                ..
            } => Some((aggregate.clone(), contributors.clone(), mean_update.clone())),
            _ => None,
        })
        .expect("decoded");
    assert_eq!(decoded.0, want);
    assert_eq!(
        decoded.1.iter().copied().collect::<BTreeSet<_>>(),
        survivors
    );
    // The decoded mean is the survivors' mean update up to quantization and
    // the (small) noise: σ = 3 scaled units per client.
    for (i, m) in decoded.2.iter().enumerate() {
        let true_mean: f64 = survivors
            .iter()
            .map(|id| f64::from(s.updates[id][i]))
            .sum::<f64>()
            / 14.0;
        assert!(
            (m - true_mean).abs() < 0.01,
            "coordinate {i}: {m} vs {true_mean}"
        );
    }
    // Every survivor holds a receipt and every invited client the result.
    assert_eq!(s.receipts, survivors);
    assert_eq!(s.results.len(), 20);
    assert!(s.server.is_finished());
}

/// A round in which only two members remain for a 3-of-5 key fails instead
/// of decrypting with fewer than `t` shares.
#[test]
fn round_fails_when_the_committee_cannot_answer() {
    let w = world(12, 3, 5);
    let t0 = Instant::now();
    let server = w.server(t0, 1, config(10, 0), 12);
    let mut s = sim(&w, t0, server, 5);
    for m in [1u16, 2, 3] {
        s.vanish.insert(w.member_keys[&m].0);
    }
    s.run();
    assert!(s.server_events.iter().any(|e| matches!(
        e,
        ServerEvent::Failed(RoundFailure::CommitteeUnavailable { .. })
    )));
    assert!(
        !s.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Decoded { .. }))
    );
}

/// Too few submissions by the deadline: the round fails, nothing is
/// decrypted.
#[test]
fn round_fails_below_the_minimum_contributors() {
    let w = world(12, 2, 3);
    let t0 = Instant::now();
    let server = w.server(t0, 1, config(10, 0), 12);
    let mut s = sim(&w, t0, server, 6);
    s.dropouts = w.client_keys.keys().copied().take(5).collect();
    s.run();
    assert!(s.server_events.iter().any(|e| matches!(
        e,
        ServerEvent::Failed(RoundFailure::TooFewContributors {
            accepted: 7,
            required: 10
        })
    )));
    assert!(s.member_events.is_empty());
}

// ---- Refusals, one per reason the issue names. ----

fn server_refusals(s: &mut ServerRound) -> Vec<RefusalReason> {
    let mut v = vec![];
    while let Some(e) = s.poll_event() {
        if let ServerEvent::Refused { reason, .. } = e {
            v.push(reason);
        }
    }
    v
}

fn drain(s: &mut ServerRound) {
    while s.poll_event().is_some() {}
    while s.poll_transmit().is_some() {}
}

/// A client's submission for the open round, as frame bytes.
fn submission(w: &World, id: ParticipantId, round: u64, key: &SigningKey) -> Submission {
    let ctx = &w.ctx;
    let values = vec![1u64; DIM.next_power_of_two()];
    let list = fedhe_he::CiphertextList::encrypt(&w.pk, &values, &mut rng(u64::from(id.0)))
        .expect("encrypt");
    assert_eq!(list.context().digest(), ctx.digest());
    Submission::new_signed(FED, RoundId(round), id, &list, key)
}

/// Receipts sent by the server in its queued transmits, by recipient.
fn receipts(s: &mut ServerRound) -> Vec<ParticipantId> {
    let mut v = vec![];
    while let Some(t) = s.poll_transmit() {
        if let Message::Receipt(r) = t.message {
            assert_eq!(r.sender, t.to);
            v.push(t.to);
        }
    }
    v
}

#[test]
fn a_resent_durable_submission_gets_its_receipt_again_and_counts_once() {
    let w = world(4, 2, 3);
    let t0 = Instant::now();
    let mut server = w.server(t0, 5, config(2, 0), 4);
    drain(&mut server);
    let (&a, ka) = w.client_keys.iter().next().expect("client");
    let s = submission(&w, a, 5, ka);
    server.handle_frame(t0, a, &bytes(&s.clone().into()));
    assert!(server_refusals(&mut server).is_empty());
    // Not yet durable: the same bytes again get no receipt.
    server.handle_frame(t0, a, &bytes(&s.clone().into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::ReplayedSubmission]
    );
    assert!(
        receipts(&mut server).is_empty(),
        "no receipt before durable"
    );
    assert!(server.acknowledge(a));
    assert_eq!(receipts(&mut server), [a]);
    assert!(!server.acknowledge(a), "acknowledged once");
    // Durable: a re-send (its receipt was lost) is still not counted
    // twice, and the receipt goes out again.
    server.handle_frame(t0, a, &bytes(&s.clone().into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::ReplayedSubmission]
    );
    assert_eq!(receipts(&mut server), [a]);
    // A different submission from the same sender gets no receipt.
    let other = fedhe_he::CiphertextList::encrypt(&w.pk, &[2u64; 64], &mut rng(98)).expect("enc");
    let s2 = Submission::new_signed(FED, RoundId(5), a, &other, ka);
    server.handle_frame(t0, a, &bytes(&s2.into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::DuplicateSender]
    );
    assert!(receipts(&mut server).is_empty());
}

#[test]
fn server_refuses_replays_stale_rounds_bad_signatures_and_strangers() {
    let w = world(4, 2, 3);
    let t0 = Instant::now();
    let mut server = w.server(t0, 5, config(2, 0), 4);
    drain(&mut server);
    let (&a, ka) = w.client_keys.iter().next().expect("client");
    let (&b, kb) = w.client_keys.iter().nth(1).expect("client");

    // Accepted once; the same bytes again are a replay.
    let s = submission(&w, a, 5, ka);
    server.handle_frame(t0, a, &bytes(&s.clone().into()));
    assert!(server_refusals(&mut server).is_empty());
    server.handle_frame(t0, a, &bytes(&s.clone().into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::ReplayedSubmission]
    );
    // The same ciphertext re-signed by another client is a replay too.
    let mut copied = s.clone();
    copied.sender = b;
    copied.signature = {
        let t = copied.transcript(w.ctx.digest());
        kb.sign(&t)
    };
    server.handle_frame(t0, b, &bytes(&copied.into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::ReplayedSubmission]
    );
    // A second, different submission from the same sender.
    let other = fedhe_he::CiphertextList::encrypt(&w.pk, &[2u64; 64], &mut rng(99)).expect("enc");
    let s2 = Submission::new_signed(FED, RoundId(5), a, &other, ka);
    server.handle_frame(t0, a, &bytes(&s2.into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::DuplicateSender]
    );

    // Stale round.
    let stale = submission(&w, b, 4, kb);
    server.handle_frame(t0, b, &bytes(&stale.into()));
    assert_eq!(server_refusals(&mut server), [RefusalReason::StaleRound]);

    // Bad signature: signed by someone else's key.
    let forged = submission(&w, b, 5, ka);
    server.handle_frame(t0, b, &bytes(&forged.into()));
    assert_eq!(server_refusals(&mut server), [RefusalReason::BadSignature]);

    // Unknown sender: not in the roster; and a client claiming another id.
    let stranger = SigningKey::generate_with(&mut rng(1));
    let s = submission(&w, ParticipantId(9999), 5, &stranger);
    server.handle_frame(t0, ParticipantId(9999), &bytes(&s.into()));
    let s = submission(&w, a, 5, ka);
    server.handle_frame(t0, b, &bytes(&s.into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::UnknownSender, RefusalReason::UnknownSender]
    );

    // Every refusal went back to its sender as a Refusal message.
    let mut refusals = 0;
    while let Some(t) = server.poll_transmit() {
        if let Message::Refusal(r) = t.message {
            assert_eq!(r.federation, FED);
            refusals += 1;
        }
    }
    assert_eq!(refusals, 7);
    // b is still welcome with an honest submission.
    let s = submission(&w, b, 5, kb);
    server.handle_frame(t0, b, &bytes(&s.into()));
    assert!(server_refusals(&mut server).is_empty());
    assert_eq!(server.accepted().count(), 2);
}

#[test]
fn server_refuses_a_wrong_parameter_digest() {
    let w = world(3, 2, 3);
    // The same ring with another committee: another parameter digest.
    let other = world(3, 3, 4);
    let t0 = Instant::now();
    let mut server = w.server(t0, 1, config(2, 0), 3);
    drain(&mut server);
    let (&a, ka) = w.client_keys.iter().next().expect("client");
    let list = fedhe_he::CiphertextList::encrypt(&other.pk, &[1u64; 64], &mut rng(3)).expect("enc");
    assert_ne!(other.ctx.digest(), w.ctx.digest());
    let s = Submission::new_signed(FED, RoundId(1), a, &list, ka);
    server.handle_frame(t0, a, &bytes(&s.into()));
    assert_eq!(
        server_refusals(&mut server),
        [RefusalReason::WrongParameterDigest]
    );
}

#[test]
fn oversized_frames_and_unknown_kinds_are_refused_by_every_machine() {
    let w = world(3, 2, 3);
    let t0 = Instant::now();
    let mut server = w.server(t0, 1, config(2, 0), 3);
    drain(&mut server);
    let (&a, ka) = w.client_keys.iter().next().expect("client");
    let good = bytes(&submission(&w, a, 1, ka).into());
    let mut oversized = good[..FRAME_HEADER_LEN].to_vec();
    oversized[5..9].copy_from_slice(&(Limits::DEFAULT.bulk + 1).to_le_bytes());
    let mut unknown = good.clone();
    unknown[4] = b'Z';
    server.handle_frame(t0, a, &oversized);
    server.handle_frame(t0, a, &unknown);
    assert_eq!(
        server_refusals(&mut server),
        [
            RefusalReason::OversizedFrame,
            RefusalReason::UnknownMessageKind
        ]
    );
    // The honest frame is still accepted afterwards.
    server.handle_frame(t0, a, &good);
    assert!(server_refusals(&mut server).is_empty());

    let mut member = w.member(1, 1, vec![]);
    member.handle_frame(t0, SERVER, &oversized);
    member.handle_frame(t0, SERVER, &unknown);
    let mut client = w.client(a, 1);
    client.handle_frame(t0, SERVER, &oversized);
    client.handle_frame(t0, SERVER, &unknown);
    let mut got = vec![];
    while let Some(e) = member.poll_event() {
        if let MemberEvent::Refused { reason, .. } = e {
            got.push(reason);
        }
    }
    while let Some(e) = client.poll_event() {
        if let ClientEvent::Refused { reason, .. } = e {
            got.push(reason);
        }
    }
    assert_eq!(
        got,
        [
            RefusalReason::OversizedFrame,
            RefusalReason::UnknownMessageKind,
            RefusalReason::OversizedFrame,
            RefusalReason::UnknownMessageKind
        ]
    );
}

/// A server round with `n` accepted submissions that is now asking for a
/// decryption; returns the request it sent to member `m`.
fn request_for(w: &World, n: usize, m: u16) -> DecryptRequest {
    let t0 = Instant::now();
    let mut server = w.server(t0, 1, config(1, 0), n);
    drain(&mut server);
    for (&id, k) in w.client_keys.iter().take(n) {
        server.handle_frame(t0, id, &bytes(&submission(w, id, 1, k).into()));
    }
    let pid = w.member_keys[&m].0;
    let mut found = None;
    while let Some(t) = server.poll_transmit() {
        if let (Message::DecryptRequest(r), true) = (t.message, t.to == pid) {
            found = Some(r);
        }
    }
    found.expect("a request for the member")
}

fn member_refusals(m: &mut CommitteeMember) -> Vec<RefusalReason> {
    let mut v = vec![];
    while let Some(e) = m.poll_event() {
        if let MemberEvent::Refused { reason, .. } = e {
            v.push(reason);
        }
    }
    v
}

#[test]
fn member_refuses_thin_aggregates_repeats_and_strangers() {
    let w = world(6, 2, 3);
    let t0 = Instant::now();
    // Round 1 starts its set at index 1 % 3: members {2, 3}.
    let req = request_for(&w, 3, 2);
    assert_eq!(req.set, vec![2, 3]);
    let frame = bytes(&req.clone().into());

    // Policy: at least 5 contributions; this aggregate lists 3.
    let mut strict = w.member(2, 5, vec![]);
    strict.handle_frame(t0, SERVER, &frame);
    assert_eq!(
        member_refusals(&mut strict),
        [RefusalReason::BelowMinimumContributors]
    );
    assert!(strict.poll_transmit().is_some_and(|t| matches!(
        t.message,
        Message::Refusal(Refusal {
            reason: RefusalReason::BelowMinimumContributors,
            ..
        })
    )));

    // Answers once, holds the share until persisted, refuses the same
    // ciphertext again.
    let mut m = w.member(2, 3, vec![]);
    m.handle_frame(t0, SERVER, &frame);
    let Some(MemberEvent::PersistAnswered {
        aggregate_digest, ..
    }) = m.poll_event()
    else {
        panic!("expected PersistAnswered")
    };
    assert!(m.poll_transmit().is_none(), "no share before persistence");
    assert!(m.persisted(&aggregate_digest));
    assert!(
        m.poll_transmit()
            .is_some_and(|t| matches!(t.message, Message::DecryptShare(_)))
    );
    while m.poll_event().is_some() {}
    m.handle_frame(t0, SERVER, &frame);
    assert_eq!(
        member_refusals(&mut m),
        [RefusalReason::CiphertextAlreadyAnswered]
    );
    // A restarted member with its persisted record refuses it too.
    let mut restarted = w.member(2, 3, vec![(RoundId(1), aggregate_digest)]);
    restarted.handle_frame(t0, SERVER, &frame);
    assert_eq!(
        member_refusals(&mut restarted),
        [RefusalReason::CiphertextAlreadyAnswered]
    );

    // Not the server.
    let mut m1 = w.member(2, 3, vec![]);
    m1.handle_frame(t0, ParticipantId(1000), &frame);
    // Not in the set.
    let mut m_out = w.member(1, 3, vec![]);
    m_out.handle_frame(t0, SERVER, &frame);
    // A contribution with a bad signature.
    let mut bad = req.clone();
    bad.contributions[0].signature.0[0] ^= 1;
    m1.handle_frame(t0, SERVER, &bytes(&bad.into()));
    // A wrong key digest.
    let mut wrong_key = req.clone();
    wrong_key.public_key_digest[0] ^= 1;
    m1.handle_frame(t0, SERVER, &bytes(&wrong_key.into()));
    assert_eq!(
        member_refusals(&mut m1),
        [
            RefusalReason::UnknownSender,
            RefusalReason::BadSignature,
            RefusalReason::WrongPublicKeyDigest
        ]
    );
    assert_eq!(
        member_refusals(&mut m_out),
        [RefusalReason::NotInDecryptingSet]
    );
}

#[test]
fn client_checks_the_round_open_and_the_receipt() {
    let w = world(2, 2, 3);
    let t0 = Instant::now();
    let mut server = w.server(t0, 3, config(1, 0), 2);
    let (&a, _) = w.client_keys.iter().next().expect("client");
    let open = loop {
        let t = server.poll_transmit().expect("open");
        if t.to == a {
            break t.message;
        }
    };
    // From someone other than the server.
    let mut c = w.client(a, 1);
    c.handle_frame(t0, ParticipantId(1001), &bytes(&open));
    // A wrong key digest.
    let Message::RoundOpen(mut o) = open.clone() else {
        panic!()
    };
    o.public_key_digest[0] ^= 1;
    c.handle_frame(t0, SERVER, &bytes(&o.into()));
    let mut got = vec![];
    while let Some(e) = c.poll_event() {
        if let ClientEvent::Refused { reason, .. } = e {
            got.push(reason);
        }
    }
    assert_eq!(
        got,
        [
            RefusalReason::UnknownSender,
            RefusalReason::WrongPublicKeyDigest
        ]
    );
    // A client that already took part in round 3 refuses it again.
    let mut done = ClientRound::new(
        w.ctx.clone(),
        w.pk.clone(),
        w.identity(a, &w.client_keys[&a]),
        w.encoders.clone(),
        Some(RoundId(3)),
        rng(2),
    );
    done.handle_frame(t0, SERVER, &bytes(&open));
    assert!(matches!(
        done.poll_event(),
        Some(ClientEvent::Refused {
            reason: RefusalReason::StaleRound,
            ..
        })
    ));
    // submit_update before the round opened is a host error, not a panic.
    assert!(done.submit_update(t0, &[0.0; DIM]).is_err());
}

/// A member refuses to help decrypt more rounds than the privacy plan's
/// `T`, even across a restart (its records carry the rounds).
#[test]
fn member_refuses_rounds_beyond_the_privacy_plan() {
    let w = world(6, 2, 3);
    let t0 = Instant::now();
    let req = request_for(&w, 3, 2);
    let frame = bytes(&req.into());
    let policy = MemberPolicy {
        min_contributors: 3,
        max_rounds: Some(1),
    };
    // One round (round 0) already answered: round 1 would be the second.
    let mut m = w.member_with(2, policy, vec![(RoundId(0), [9; 32])]);
    m.handle_frame(t0, SERVER, &frame);
    assert_eq!(member_refusals(&mut m), [RefusalReason::BudgetExceeded]);
    // With room for two rounds it answers.
    let mut m = w.member_with(
        2,
        MemberPolicy {
            max_rounds: Some(2),
            ..policy
        },
        vec![(RoundId(0), [9; 32])],
    );
    m.handle_frame(t0, SERVER, &frame);
    assert!(matches!(
        m.poll_event(),
        Some(MemberEvent::PersistAnswered { .. })
    ));
}
