//! A small INSECURE test committee and one instance of every message.
#![allow(dead_code)]

use std::sync::Arc;

use fedhe_he::params::TEST_INSECURE_64;
use fedhe_he::{
    CiphertextList, Committee, DealtCommittee, DecryptingSet, HeContext, MemberId, partial_decrypt,
};
use fedhe_protocols::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const FED: FederationId = FederationId([7; 16]);
pub const ROUND: RoundId = RoundId(42);
pub const SERVER: ParticipantId = ParticipantId(1);
pub const CLIENT: ParticipantId = ParticipantId(1001);
pub const MEMBER_PID: ParticipantId = ParticipantId(2002);
pub const VALUES: usize = 100;

pub struct Fixture {
    pub ctx: Arc<HeContext>,
    pub committee: DealtCommittee,
    pub list: CiphertextList,
    pub set: DecryptingSet,
    pub server_key: SigningKey,
    pub client_key: SigningKey,
    pub member_key: SigningKey,
    pub open: RoundOpen,
    pub submission: Submission,
    pub receipt: Receipt,
    pub request: DecryptRequest,
    pub share: DecryptShare,
    pub result: RoundResult,
    pub refusal: Refusal,
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn context() -> Arc<HeContext> {
    HeContext::new_insecure(TEST_INSECURE_64.params()).expect("test context")
}

/// A context with another committee, hence another parameter digest.
pub fn other_context() -> Arc<HeContext> {
    let p = TEST_INSECURE_64
        .deployment(
            16,
            Committee {
                threshold: 2,
                members: 4,
            },
        )
        .expect("deployment");
    HeContext::new_insecure(p).expect("test context")
}

pub fn fixture() -> Fixture {
    let ctx = context();
    let mut r = rng(1);
    let committee = DealtCommittee::deal(&ctx, &mut r).expect("deal");
    let values: Vec<u64> = (0..VALUES as u64).map(|i| i * 31 % 1000).collect();
    let list = CiphertextList::encrypt(&committee.public_key, &values, &mut r).expect("encrypt");
    let server_key = SigningKey::generate_with(&mut r);
    let client_key = SigningKey::generate_with(&mut r);
    let member_key = SigningKey::generate_with(&mut r);
    let set = DecryptingSet::new(
        &ctx,
        &[MemberId::new(1).expect("id"), MemberId::new(3).expect("id")],
    )
    .expect("set");
    let open = RoundOpen {
        federation: FED,
        round: ROUND,
        protocol_version: PROTOCOL_VERSION,
        params_digest: *ctx.digest(),
        public_key_digest: committee.public_key.digest(),
        model: Model {
            version: 3,
            parameters: (0..VALUES).map(|i| i as f32 * 0.25 - 3.0).collect(),
        },
        config: RoundConfig {
            clip: 1.5,
            gamma: 1e-3,
            bits: 20,
            noise: NoiseRatio { num: 25, den: 4 },
            min_contributors: 3,
            deadline_millis: 30_000,
        },
        seed: [9; 32],
    };
    let submission = Submission::new_signed(FED, ROUND, CLIENT, &list, &client_key);
    let receipt = Receipt::new_signed(FED, ROUND, SERVER, CLIENT, submission.digest, &server_key);
    let request = DecryptRequest {
        federation: FED,
        round: ROUND,
        request: RequestId(5),
        public_key_digest: committee.public_key.digest(),
        aggregate: WireBytes(list.to_bytes()),
        aggregate_digest: list.digest(),
        set: vec![1, 3],
        contributions: vec![submission.contribution()],
    };
    let key_share = &committee.key_shares[2];
    let he_share = partial_decrypt(key_share, &set, &list, &mut r).expect("share");
    let share = DecryptShare::new_signed(
        FED,
        ROUND,
        RequestId(5),
        MEMBER_PID,
        &ctx,
        &he_share,
        &member_key,
    );
    let result = RoundResult {
        federation: FED,
        round: ROUND,
        model_version: 4,
        model_digest: model_digest(4, &open.model.parameters),
        contributors: vec![CLIENT, ParticipantId(1002), ParticipantId(70_000)],
        epsilon_spent: 0.125,
    };
    let refusal = Refusal {
        federation: FED,
        round: ROUND,
        reason: RefusalReason::ReplayedSubmission,
    };
    Fixture {
        ctx,
        committee,
        list,
        set,
        server_key,
        client_key,
        member_key,
        open,
        submission,
        receipt,
        request,
        share,
        result,
        refusal,
    }
}

impl Fixture {
    pub fn messages(&self) -> Vec<Message> {
        vec![
            self.open.clone().into(),
            self.submission.clone().into(),
            self.receipt.clone().into(),
            self.request.clone().into(),
            self.share.clone().into(),
            self.result.clone().into(),
            self.refusal.clone().into(),
        ]
    }

    pub fn expectations(&self) -> Expectations {
        Expectations {
            federation: FED,
            round: ROUND,
            public_key_digest: Some(self.committee.public_key.digest()),
            values: Some(VALUES),
            request: Some(RequestId(5)),
            aggregate_digest: Some(self.list.digest()),
            set: Some(self.set.clone()),
        }
    }
}

pub fn encode(m: &Message) -> Vec<u8> {
    m.encode().expect("encode")
}
