//! Entry points for fuzzing (feature `fuzzing`), shared by the cargo-fuzz
//! targets in `fuzz/` and the corpus-replay regression tests of the normal
//! test suite. Each function takes arbitrary bytes, must never panic on its
//! own account, and **asserts the target's invariants** (a violated
//! invariant is a panic, which libFuzzer reports as a crash):
//!
//! - decoders: whatever decodes re-encodes to exactly the input bytes (one
//!   encoding per value); input that passes decoding and conformance never
//!   makes a later arithmetic step (addition, partial decryption,
//!   combination) panic;
//! - the frame reader: any split of the stream yields the same messages as
//!   whole-frame decoding, and its buffer never exceeds its bound;
//! - the state machines, fed arbitrary sequences of messages and timeouts:
//!   a member never emits two decryption shares for one aggregate, and a
//!   server never accepts two submissions from one sender in a round.
//!
//! Everything runs on the INSECURE, seeded test parameter set `N = 64`
//! (`fedhe-he`'s `insecure-test-params` feature, which `fuzzing` enables),
//! so that inputs can reach deep states quickly. Never enable this feature
//! in a production build.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use fedhe_he::params::TEST_INSECURE_64;
use fedhe_he::{
    CiphertextList, Committee, Crs, DealtCommittee, DecryptingSet, DecryptionBudget,
    DecryptionShare, HeContext, KeyShare, MemberId, MemberSecret, PublicKey, PublicKeyGen,
    PublicKeyShare, combine, partial_decrypt,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::round::{
    ClientEvent, ClientRound, CommitteeMember, EncoderCache, Identity, MemberEvent, MemberPolicy,
    Roster, ServerEvent, ServerRound, ServerRoundConfig,
};
use crate::{
    DecryptRequest, Digest, FederationId, FrameReader, Limits, Message, Model, NoiseRatio,
    ParticipantId, RequestId, RoundConfig, RoundId, SigningKey, Submission, WireBytes,
};

/// The federation of the fuzzing world.
pub const FED: FederationId = FederationId([0x46; 16]);
/// The server's id.
pub const SERVER: ParticipantId = ParticipantId(1);
/// Model parameters (padded to 64 values: one ciphertext).
pub const DIM: usize = 40;
const CLIENTS: u32 = 4;

/// A small seeded world: context, a dealt 2-of-3 key, keys for a server,
/// four clients and three members, and valid messages to start from.
pub struct World {
    /// The insecure context (committee 2-of-3).
    pub ctx: Arc<HeContext>,
    /// The dealt committee.
    pub committee: DealtCommittee,
    /// The collective key.
    pub pk: Arc<PublicKey>,
    /// One public-key share (for the `S` decoder's corpus).
    pub pk_share: PublicKeyShare,
    /// The roster.
    pub roster: Arc<Roster>,
    server_seed: [u8; 32],
    client_seeds: Vec<(ParticipantId, [u8; 32])>,
    member_seeds: Vec<(u16, ParticipantId, [u8; 32])>,
    /// A valid submission per client for round 1.
    pub submissions: Vec<Submission>,
    /// The sum of all clients' lists.
    pub sum: CiphertextList,
    /// A valid request for round 1 to set {1, 2}.
    pub request: DecryptRequest,
    /// Member 1's share answering `request`.
    pub share: DecryptionShare,
    encoders: Arc<EncoderCache>,
    frames: OnceLock<Vec<Vec<u8>>>,
    member_frames: OnceLock<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

fn seed(i: u8) -> [u8; 32] {
    [i; 32]
}

fn key(s: &[u8; 32]) -> SigningKey {
    SigningKey::from_seed(&zeroize::Zeroizing::new(*s))
}

/// The round configuration of the world (σ² = 4 scaled units, 16 bits).
pub fn round_config() -> RoundConfig {
    RoundConfig {
        clip: 1.0,
        gamma: 1e-3,
        bits: 16,
        noise: NoiseRatio { num: 4, den: 1 },
        min_contributors: 2,
        deadline_millis: 1_000,
    }
}

/// The shared world (built once per process).
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(build_world)
}

fn build_world() -> World {
    let p = TEST_INSECURE_64
        .deployment(
            16,
            Committee {
                threshold: 2,
                members: 3,
            },
        )
        .expect("deployment");
    let ctx = HeContext::new_insecure(p).expect("context");
    let mut rng = ChaCha20Rng::seed_from_u64(0xf022);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let pk = Arc::new(committee.public_key.clone());
    let pkg = PublicKeyGen::new(&ctx, Crs::generate(&mut rng));
    let secret = MemberSecret::generate(&ctx, &mut rng);
    let pk_share = pkg
        .gen_share(MemberId::new(1).expect("id"), &secret, &mut rng)
        .expect("share");
    let server_seed = seed(1);
    let mut roster = Roster::new();
    roster
        .add_server(SERVER, key(&server_seed).verifying_key())
        .expect("server");
    let client_seeds: Vec<_> = (0..CLIENTS)
        .map(|i| (ParticipantId(100 + i), seed(10 + i as u8)))
        .collect();
    for (id, s) in &client_seeds {
        roster
            .add_client(*id, key(s).verifying_key())
            .expect("client");
    }
    let member_seeds: Vec<_> = (1..=3u16)
        .map(|m| (m, ParticipantId(200 + u32::from(m)), seed(20 + m as u8)))
        .collect();
    for (m, id, s) in &member_seeds {
        roster
            .add_member(*id, *m, key(s).verifying_key())
            .expect("member");
    }
    let padded = DIM.next_power_of_two();
    let mut sum = CiphertextList::zero(&ctx, padded);
    let mut submissions = Vec::new();
    for (i, (id, s)) in client_seeds.iter().enumerate() {
        let values: Vec<u64> = (0..padded as u64)
            .map(|v| (v * (i as u64 + 3)) % 1000)
            .collect();
        let list = CiphertextList::encrypt(&pk, &values, &mut rng).expect("encrypt");
        sum.add_assign(&list).expect("add");
        submissions.push(Submission::new_signed(FED, RoundId(1), *id, &list, &key(s)));
    }
    let ids = [MemberId::new(1).expect("id"), MemberId::new(2).expect("id")];
    let set = DecryptingSet::new(&ctx, &ids).expect("set");
    let request = DecryptRequest {
        federation: FED,
        round: RoundId(1),
        request: RequestId(1),
        public_key_digest: pk.digest(),
        aggregate: WireBytes(sum.to_bytes()),
        aggregate_digest: sum.digest(),
        set: vec![1, 2],
        contributions: submissions.iter().map(Submission::contribution).collect(),
    };
    let share = partial_decrypt(&committee.key_shares[0], &set, &sum, &mut rng).expect("share");
    World {
        roster: Arc::new(roster),
        ctx,
        committee,
        pk,
        pk_share,
        server_seed,
        client_seeds,
        member_seeds,
        submissions,
        sum,
        request,
        share,
        encoders: Arc::new(EncoderCache::new()),
        frames: OnceLock::new(),
        member_frames: OnceLock::new(),
    }
}

impl World {
    fn identity(&self, id: ParticipantId, s: &[u8; 32]) -> Identity {
        Identity {
            federation: FED,
            id,
            key: key(s),
            server: SERVER,
            server_key: key(&self.server_seed).verifying_key(),
        }
    }

    /// A fresh member machine for index `m` (1..=3) that answered nothing.
    pub fn member(&self, m: u16) -> Option<CommitteeMember> {
        let (_, id, s) = self.member_seeds.iter().find(|(i, _, _)| *i == m)?;
        let share = KeyShare::from_bytes(
            &self.ctx,
            &self
                .committee
                .key_shares
                .get(usize::from(m) - 1)?
                .to_bytes(),
        )
        .ok()?;
        Some(CommitteeMember::new(
            self.ctx.clone(),
            share,
            self.pk.digest(),
            self.identity(*id, s),
            self.roster.clone(),
            MemberPolicy {
                min_contributors: 2,
                max_rounds: Some(8),
            },
            std::iter::empty(),
            DecryptionBudget::new(&self.ctx),
            ChaCha20Rng::seed_from_u64(u64::from(m)),
        ))
    }

    /// A server round 1 inviting every client, opened at `now`.
    pub fn server(&self, now: Instant) -> Option<ServerRound> {
        self.server_for(
            now,
            RoundId(1),
            Model {
                version: 0,
                parameters: vec![0.0; DIM],
            },
            round_config(),
            [7; 32],
            self.client_seeds.iter().map(|(id, _)| *id).collect(),
            CLIENTS as usize,
        )
        .ok()
    }

    /// A server machine of this world's federation for any round record
    /// (what a restarting `fedhe serve` rebuilds from its store): `Err` for
    /// a record the machine refuses.
    #[allow(clippy::too_many_arguments)]
    pub fn server_for(
        &self,
        now: Instant,
        round: RoundId,
        model: Model,
        config: RoundConfig,
        seed: [u8; 32],
        invited: Vec<ParticipantId>,
        quorum: usize,
    ) -> Result<ServerRound, crate::round::RoundError> {
        ServerRound::new(
            now,
            self.ctx.clone(),
            self.pk.clone(),
            key(&self.server_seed),
            self.roster.clone(),
            ServerRoundConfig {
                federation: FED,
                round,
                server: SERVER,
                model,
                config,
                seed,
                invited,
                quorum,
                share_timeout: Duration::from_millis(500),
            },
            &self.encoders,
            ChaCha20Rng::seed_from_u64(99),
        )
    }

    /// The roster ids of the world's clients.
    pub fn client_ids(&self) -> Vec<ParticipantId> {
        self.client_seeds.iter().map(|(id, _)| *id).collect()
    }

    /// A valid, signed submission of client `i` (0..4) for `round`
    /// (deterministic: its values and encryption randomness are seeded by
    /// `i` and `round`).
    pub fn submission_for(&self, i: usize, round: RoundId) -> Option<Submission> {
        let (id, s) = self.client_seeds.get(i)?;
        let padded = DIM.next_power_of_two();
        let values: Vec<u64> = (0..padded as u64)
            .map(|v| (v * (i as u64 + 3) + round.0) % 1000)
            .collect();
        let mut rng = ChaCha20Rng::seed_from_u64(round.0.wrapping_mul(31).wrapping_add(i as u64));
        let list = CiphertextList::encrypt(&self.pk, &values, &mut rng).ok()?;
        Some(Submission::new_signed(FED, round, *id, &list, &key(s)))
    }

    /// A client machine for client `i` (0..4).
    pub fn client(&self, i: usize) -> Option<ClientRound> {
        let (id, s) = self.client_seeds.get(i)?;
        Some(ClientRound::new(
            self.ctx.clone(),
            self.pk.clone(),
            self.identity(*id, s),
            self.encoders.clone(),
            None,
            ChaCha20Rng::seed_from_u64(u64::from(id.0)),
        ))
    }

    /// Every valid message of the world, as frames (the state-machine
    /// targets' building blocks and the message decoder's seed corpus),
    /// computed once.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.frames.get_or_init(|| self.make_frames()).clone()
    }

    /// [`Self::frames`] plus two re-randomized variants of the request.
    fn member_frames(&self) -> &[Vec<u8>] {
        self.member_frames.get_or_init(|| {
            let mut frames = self.frames();
            let mut rng = ChaCha20Rng::seed_from_u64(5);
            for _ in 0..2 {
                let mut agg = self.sum.clone();
                if agg.rerandomize(&self.pk, &mut rng).is_ok() {
                    let mut r = self.request.clone();
                    r.aggregate = WireBytes(agg.to_bytes());
                    r.aggregate_digest = agg.digest();
                    r.request = RequestId(r.request.0 + 1);
                    if let Ok(f) = Message::from(r).encode() {
                        frames.push(f);
                    }
                }
            }
            frames
        })
    }

    fn make_frames(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Message> = self
            .submissions
            .iter()
            .cloned()
            .map(Message::from)
            .collect();
        v.push(self.request.clone().into());
        if let Some(server) = self.server(Instant::now()).as_mut() {
            while let Some(t) = server.poll_transmit() {
                v.push(t.message);
            }
        }
        // Member 1 answers the world's request (set {1, 2}); members 2 and
        // 3 answer the server's own first request of round 1 (set {2, 3},
        // the sum of the four submissions), so scripts can reach decoding.
        let mut server_request = self.request.clone();
        server_request.set = vec![2, 3];
        for (m, req) in [
            (1, self.request.clone()),
            (2, server_request.clone()),
            (3, server_request),
        ] {
            if let Some(member) = self.member(m).as_mut() {
                member.handle_message(Instant::now(), SERVER, req.into());
                while let Some(e) = member.poll_event() {
                    if let MemberEvent::PersistAnswered {
                        aggregate_digest, ..
                    } = e
                    {
                        member.persisted(&aggregate_digest);
                    }
                }
                while let Some(t) = member.poll_transmit() {
                    v.push(t.message);
                }
            }
        }
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for f in v.iter().filter_map(|m| m.encode().ok()) {
            if !frames.contains(&f) {
                frames.push(f);
            }
        }
        frames
    }
}

/// Which `fedhe-he` wire form a decoder target reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeForm {
    /// `P`: collective public key.
    PublicKey,
    /// `S`: a member's public-key share.
    PublicKeyShare,
    /// `C`: ciphertext list.
    CiphertextList,
    /// `K`: secret key share.
    KeyShare,
    /// `D`: decryption share.
    DecryptionShare,
}

impl HeForm {
    /// Every form.
    pub const ALL: [HeForm; 5] = [
        HeForm::PublicKey,
        HeForm::PublicKeyShare,
        HeForm::CiphertextList,
        HeForm::KeyShare,
        HeForm::DecryptionShare,
    ];

    /// The corpus directory name of the form's target.
    pub fn target(self) -> &'static str {
        match self {
            HeForm::PublicKey => "he_public_key",
            HeForm::PublicKeyShare => "he_public_key_share",
            HeForm::CiphertextList => "he_ciphertext_list",
            HeForm::KeyShare => "he_key_share",
            HeForm::DecryptionShare => "he_decryption_share",
        }
    }

    /// A valid encoding (seed corpus).
    pub fn sample(self) -> Vec<u8> {
        let w = world();
        match self {
            HeForm::PublicKey => w.pk.to_bytes(),
            HeForm::PublicKeyShare => w.pk_share.to_bytes(&w.ctx),
            HeForm::CiphertextList => w.sum.to_bytes(),
            HeForm::KeyShare => w.committee.key_shares[0].to_bytes().to_vec(),
            HeForm::DecryptionShare => w.share.to_bytes(&w.ctx),
        }
    }
}

/// Decodes `data` as the wire form `form`; asserts round-trip identity and
/// that a decoded ciphertext list or share survives the arithmetic that
/// would follow.
pub fn he_decode(form: HeForm, data: &[u8]) {
    let w = world();
    let ctx = &w.ctx;
    match form {
        HeForm::PublicKey => {
            if let Ok(pk) = PublicKey::from_bytes(ctx, data) {
                assert_eq!(pk.to_bytes(), data, "P form does not round-trip");
                let _ =
                    CiphertextList::encrypt(&pk, &[1, 2, 3], &mut ChaCha20Rng::seed_from_u64(1));
            }
        }
        HeForm::PublicKeyShare => {
            if let Ok(s) = PublicKeyShare::from_bytes(ctx, data) {
                assert_eq!(s.to_bytes(ctx), data, "S form does not round-trip");
            }
        }
        HeForm::CiphertextList => {
            if let Ok(mut list) = CiphertextList::from_bytes(ctx, data) {
                assert_eq!(list.to_bytes(), data, "C form does not round-trip");
                let copy = list.clone();
                let _ = list.add_assign(&copy);
                let _ = list.digest();
                let ids = [MemberId::new(1), MemberId::new(2)];
                if let [Ok(a), Ok(b)] = ids
                    && let Ok(set) = DecryptingSet::new(ctx, &[a, b])
                {
                    let mut rng = ChaCha20Rng::seed_from_u64(2);
                    let shares: Vec<_> = w.committee.key_shares[..2]
                        .iter()
                        .filter_map(|k| partial_decrypt(k, &set, &list, &mut rng).ok())
                        .collect();
                    let _ = combine(&list, &set, &shares);
                }
            }
        }
        HeForm::KeyShare => {
            if let Ok(k) = KeyShare::from_bytes(ctx, data) {
                assert_eq!(k.to_bytes().as_slice(), data, "K form does not round-trip");
            }
        }
        HeForm::DecryptionShare => {
            if let Ok(s) = DecryptionShare::from_bytes(ctx, data) {
                assert_eq!(s.to_bytes(ctx), data, "D form does not round-trip");
                let set = s.set().clone();
                let _ = combine(&w.sum, &set, &[s]);
            }
        }
    }
}

/// Decodes one frame; asserts round-trip identity; runs conformance and,
/// for what conforms, the arithmetic that would follow.
pub fn message(data: &[u8]) {
    let w = world();
    let Ok(m) = Message::decode(data, &Limits::DEFAULT) else {
        return;
    };
    let again = m.encode().unwrap_or_default();
    assert_eq!(
        again, data,
        "a decoded frame does not re-encode to its bytes"
    );
    let mut exp = crate::Expectations::new(FED, RoundId(1));
    exp.values = Some(DIM.next_power_of_two());
    match &m {
        Message::Submission(s) => {
            if let Ok(list) = s.check(&w.ctx, &exp) {
                let mut sum = w.sum.clone();
                let _ = sum.add_assign(&list);
            }
        }
        Message::DecryptRequest(r) => {
            if let Ok((agg, set)) = r.check(&w.ctx, &exp) {
                let mut rng = ChaCha20Rng::seed_from_u64(3);
                let _ = partial_decrypt(&w.committee.key_shares[0], &set, &agg, &mut rng);
            }
        }
        Message::DecryptShare(s) => {
            exp.aggregate_digest = Some(w.sum.digest());
            if let Ok(share) = s.check(&w.ctx, &exp) {
                let set = share.set().clone();
                let _ = combine(&w.sum, &set, &[share]);
            }
        }
        other => {
            let _ = other.check(&w.ctx, &exp);
        }
    }
}

/// Feeds `data` to a [`FrameReader`] in chunks whose sizes come from the
/// first byte; asserts the buffer bound and that every message read equals
/// whole-frame decoding of its bytes.
pub fn frame_reader(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        bulk: 1 << 16,
        control: 1 << 10,
    };
    let mut r = FrameReader::new(limits);
    let chunk = usize::from(step).max(1);
    for piece in rest.chunks(chunk) {
        if r.push(piece).is_err() {
            return;
        }
        assert!(
            r.buffered() <= r.capacity_bound(),
            "frame reader buffers {} bytes over its bound {}",
            r.buffered(),
            r.capacity_bound()
        );
        loop {
            match r.next_frame() {
                Ok(Some(frame)) => {
                    let whole = frame.decode();
                    if let Ok(m) = &whole {
                        let bytes = m.encode().unwrap_or_default();
                        let direct = Message::decode(&bytes, &limits);
                        assert!(direct.is_ok(), "a read message does not decode whole");
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// One step of a state-machine target.
#[derive(Clone, Debug, PartialEq, Eq, Arbitrary)]
pub enum Action {
    /// Deliver world frame `index` (mod the number of frames) from
    /// participant `from` (an index into server, clients and members).
    Deliver {
        /// Which valid frame.
        index: u8,
        /// Who sends it.
        from: u8,
        /// Flip one byte at this offset (mod length), if `Some`.
        flip: Option<u16>,
    },
    /// Deliver raw bytes.
    Raw {
        /// Who sends them.
        from: u8,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Deliver what the machine itself last sent back to it (a replay).
    Echo,
    /// Advance the simulated clock by `millis` and handle timeouts.
    Wait {
        /// Milliseconds.
        millis: u16,
    },
    /// The host acknowledges / persists what is pending.
    Persist,
}

fn participants(w: &World) -> Vec<ParticipantId> {
    let mut v = vec![SERVER];
    v.extend(w.client_seeds.iter().map(|(id, _)| *id));
    v.extend(w.member_seeds.iter().map(|(_, id, _)| *id));
    v.push(ParticipantId(9999));
    v
}

fn pick_frame(frames: &[Vec<u8>], index: u8, flip: Option<u16>) -> Vec<u8> {
    let mut f = frames[usize::from(index) % frames.len()].clone();
    if let Some(at) = flip
        && !f.is_empty()
    {
        let i = usize::from(at) % f.len();
        f[i] ^= 0x5a;
    }
    f
}

fn actions(data: &[u8]) -> Vec<Action> {
    let mut u = Unstructured::new(data);
    let mut v = Vec::new();
    while !u.is_empty() && v.len() < 64 {
        match Action::arbitrary(&mut u) {
            Ok(a) => v.push(a),
            Err(_) => break,
        }
    }
    v
}

/// A server round fed arbitrary actions. Asserts: at most one accepted
/// submission per sender, only invited senders accepted, a decoded
/// aggregate only with at least `min_contributors`.
pub fn server_round(data: &[u8]) {
    let w = world();
    let frames = w.frames.get_or_init(|| w.make_frames());
    let who = participants(w);
    let mut now = Instant::now();
    let Some(mut s) = w.server(now) else { return };
    let mut accepted: BTreeSet<ParticipantId> = BTreeSet::new();
    let mut pending: Vec<ParticipantId> = Vec::new();
    let mut last_sent: Option<(ParticipantId, Vec<u8>)> = None;
    for a in actions(data) {
        match a {
            Action::Deliver { index, from, flip } => {
                let f = pick_frame(frames, index, flip);
                s.handle_frame(now, who[usize::from(from) % who.len()], &f);
            }
            Action::Raw { from, bytes } => {
                s.handle_frame(now, who[usize::from(from) % who.len()], &bytes)
            }
            Action::Echo => {
                if let Some((to, f)) = &last_sent {
                    s.handle_frame(now, *to, f);
                }
            }
            Action::Wait { millis } => {
                now += Duration::from_millis(u64::from(millis));
                s.handle_timeout(now);
            }
            Action::Persist => {
                for p in pending.drain(..) {
                    s.acknowledge(p);
                }
            }
        }
        while let Some(t) = s.poll_transmit() {
            if let Ok(f) = t.message.encode() {
                last_sent = Some((t.to, f));
            }
        }
        while let Some(e) = s.poll_event() {
            match e {
                ServerEvent::Accepted { sender, .. } => {
                    assert!(
                        accepted.insert(sender),
                        "the server accepted two submissions from {sender:?}"
                    );
                    assert!(w.roster.is_client(sender));
                    pending.push(sender);
                }
                ServerEvent::Decoded { contributors, .. } => {
                    assert!(contributors.len() >= round_config().min_contributors as usize);
                    let _ = s.finish(1, [0; 32], 0.0);
                }
                _ => {}
            }
        }
    }
}

/// A committee member fed arbitrary actions (valid requests, re-randomized
/// ones, corrupted ones, replays). Asserts: never two shares for one
/// aggregate digest, and a share only after the host persisted its record.
pub fn committee_member(data: &[u8]) {
    let w = world();
    let frames = w.member_frames();
    let who = participants(w);
    let mut now = Instant::now();
    let Some(mut m) = w.member(1) else { return };
    let mut persisted: BTreeSet<Digest> = BTreeSet::new();
    let mut to_persist: Vec<Digest> = Vec::new();
    let mut shares_sent: BTreeMap<[u8; 32], u32> = BTreeMap::new();
    let mut last_sent: Option<Vec<u8>> = None;
    for a in actions(data) {
        match a {
            Action::Deliver { index, from, flip } => {
                let f = pick_frame(frames, index, flip);
                m.handle_frame(now, who[usize::from(from) % who.len()], &f);
            }
            Action::Raw { from, bytes } => {
                m.handle_frame(now, who[usize::from(from) % who.len()], &bytes)
            }
            Action::Echo => {
                if let Some(f) = &last_sent {
                    m.handle_frame(now, SERVER, f);
                }
            }
            Action::Wait { millis } => {
                now += Duration::from_millis(u64::from(millis));
                m.handle_timeout(now);
            }
            Action::Persist => {
                for d in to_persist.drain(..) {
                    persisted.insert(d);
                    m.persisted(&d);
                }
            }
        }
        while let Some(e) = m.poll_event() {
            if let MemberEvent::PersistAnswered {
                aggregate_digest, ..
            } = e
            {
                to_persist.push(aggregate_digest);
            }
        }
        while let Some(t) = m.poll_transmit() {
            if let Message::DecryptShare(s) = &t.message {
                let share = DecryptionShare::from_bytes(&w.ctx, s.share.as_slice());
                if let Ok(share) = share {
                    let d = *share.ciphertext_digest();
                    assert!(
                        persisted.contains(&d),
                        "a share left before its record was persisted"
                    );
                    let n = shares_sent.entry(d).or_default();
                    *n += 1;
                    assert_eq!(*n, 1, "two shares for one aggregate");
                }
            }
            last_sent = t.message.encode().ok();
        }
    }
}

/// A client fed arbitrary actions; the host trains (a zero update) when
/// asked. Asserts: at most one submission per round.
pub fn client_round(data: &[u8]) {
    let w = world();
    let frames = w.frames.get_or_init(|| w.make_frames());
    let who = participants(w);
    let mut now = Instant::now();
    let Some(mut c) = w.client(0) else { return };
    let mut submitted = 0;
    for a in actions(data) {
        match a {
            Action::Deliver { index, from, flip } => {
                let f = pick_frame(frames, index, flip);
                c.handle_frame(now, who[usize::from(from) % who.len()], &f);
            }
            Action::Raw { from, bytes } => {
                c.handle_frame(now, who[usize::from(from) % who.len()], &bytes)
            }
            Action::Echo | Action::Persist => {}
            Action::Wait { millis } => {
                now += Duration::from_millis(u64::from(millis));
                c.handle_timeout(now);
            }
        }
        while let Some(e) = c.poll_event() {
            match e {
                ClientEvent::Train { .. } => {
                    let _ = c.submit_update(now, &[0.01; DIM]);
                }
                ClientEvent::Submitted { .. } => {
                    submitted += 1;
                    assert_eq!(submitted, 1, "two submissions in one round");
                }
                _ => {}
            }
        }
        while c.poll_transmit().is_some() {}
    }
}

/// Every target's name, in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
pub const TARGETS: [&str; 10] = [
    "he_public_key",
    "he_public_key_share",
    "he_ciphertext_list",
    "he_key_share",
    "he_decryption_share",
    "message",
    "frame_reader",
    "server_round",
    "committee_member",
    "client_round",
];

/// Runs target `name` on `data` (corpus replay); `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "message" => message(data),
        "frame_reader" => frame_reader(data),
        "server_round" => server_round(data),
        "committee_member" => committee_member(data),
        "client_round" => client_round(data),
        other => match HeForm::ALL.iter().find(|f| f.target() == other) {
            Some(f) => he_decode(*f, data),
            None => return false,
        },
    }
    true
}

/// Seed corpus for target `name`: valid objects (and, for the state
/// machines, action scripts that reach decryption).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    if let Some(f) = HeForm::ALL.iter().find(|f| f.target() == name) {
        return vec![f.sample()];
    }
    let w = world();
    match name {
        "message" => w.frames(),
        "frame_reader" => {
            let mut all = vec![7u8];
            for f in w.frames() {
                all.extend(f);
            }
            vec![all]
        }
        "server_round" => {
            // The four submissions from their senders, persist, then the
            // shares of members 2 and 3: the round decodes.
            let mut script: Vec<Action> = (0..4u8)
                .map(|i| Action::Deliver {
                    index: i,
                    from: i + 1,
                    flip: None,
                })
                .collect();
            script.push(Action::Persist);
            script.push(Action::Deliver {
                index: FRAME_SHARE_M2,
                from: 6,
                flip: None,
            });
            script.push(Action::Deliver {
                index: FRAME_SHARE_M3,
                from: 7,
                flip: None,
            });
            let mut late = script.clone();
            late.insert(4, Action::Wait { millis: 2_000 });
            vec![encode_actions(&script), encode_actions(&late)]
        }
        "committee_member" => vec![encode_actions(&[
            Action::Deliver {
                index: FRAME_REQUEST,
                from: 0,
                flip: None,
            },
            Action::Persist,
            Action::Deliver {
                index: FRAME_REQUEST,
                from: 0,
                flip: None,
            },
            Action::Echo,
        ])],
        "client_round" => vec![encode_actions(&[
            Action::Deliver {
                index: FRAME_OPEN,
                from: 0,
                flip: None,
            },
            Action::Deliver {
                index: FRAME_OPEN,
                from: 0,
                flip: Some(40),
            },
        ])],
        _ => vec![],
    }
}

/// Positions in [`World::frames`]: four submissions, the request, the
/// round open, member 1's share, members 2 and 3's shares.
const FRAME_REQUEST: u8 = 4;
const FRAME_OPEN: u8 = 5;
const FRAME_SHARE_M2: u8 = 7;
const FRAME_SHARE_M3: u8 = 8;

/// The bytes that [`Action::arbitrary`] decodes back into `script`
/// (arbitrary 1.x: a `u32` little-endian variant selector scaled by the
/// variant count, `bool` as a byte's low bit, integers little-endian).
pub fn encode_actions(script: &[Action]) -> Vec<u8> {
    const VARIANTS: u64 = 5;
    let sel = |i: u64| -> [u8; 4] {
        (i << 32).div_ceil(VARIANTS).to_le_bytes()[..4]
            .try_into()
            .unwrap_or([0; 4])
    };
    let mut out = Vec::new();
    for a in script {
        match a {
            Action::Deliver { index, from, flip } => {
                out.extend(sel(0));
                out.push(*index);
                out.push(*from);
                match flip {
                    Some(f) => {
                        out.push(1);
                        out.extend(f.to_le_bytes());
                    }
                    None => out.push(0),
                }
            }
            Action::Raw { .. } => {}
            Action::Echo => out.extend(sel(2)),
            Action::Wait { millis } => {
                out.extend(sel(3));
                out.extend(millis.to_le_bytes());
            }
            Action::Persist => out.extend(sel(4)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_decode_to_themselves_and_frames_sit_where_the_seeds_expect() {
        let script = vec![
            Action::Deliver {
                index: 3,
                from: 4,
                flip: Some(700),
            },
            Action::Echo,
            Action::Wait { millis: 1234 },
            Action::Persist,
            Action::Deliver {
                index: 9,
                from: 0,
                flip: None,
            },
        ];
        assert_eq!(actions(&encode_actions(&script)), script);
        let frames = world().frames();
        let kind = |i: u8| frames[usize::from(i)].get(4).copied();
        for i in 0..4 {
            assert_eq!(kind(i), Some(crate::Kind::Submission.byte()));
        }
        assert_eq!(
            kind(FRAME_REQUEST),
            Some(crate::Kind::DecryptRequest.byte())
        );
        assert_eq!(kind(FRAME_OPEN), Some(crate::Kind::RoundOpen.byte()));
        assert_eq!(kind(FRAME_SHARE_M2), Some(crate::Kind::DecryptShare.byte()));
        assert_eq!(kind(FRAME_SHARE_M3), Some(crate::Kind::DecryptShare.byte()));
    }

    /// The server seed script reaches decoding (so fuzzing starts deep).
    #[test]
    fn server_seed_reaches_decoding() {
        let w = world();
        let frames = w.frames();
        let who = participants(w);
        let mut now = Instant::now();
        let mut s = w.server(now).expect("server");
        let mut decoded = false;
        for a in actions(&seeds("server_round")[0]) {
            match a {
                Action::Deliver { index, from, flip } => {
                    s.handle_frame(
                        now,
                        who[usize::from(from)],
                        &pick_frame(&frames, index, flip),
                    );
                }
                Action::Persist => {}
                Action::Wait { millis } => {
                    now += Duration::from_millis(u64::from(millis));
                    s.handle_timeout(now);
                }
                _ => {}
            }
            while let Some(e) = s.poll_event() {
                if let ServerEvent::Decoded { aggregate, .. } = e {
                    decoded = true;
                    assert_eq!(aggregate.len(), DIM.next_power_of_two());
                }
            }
        }
        assert!(decoded);
    }
}
