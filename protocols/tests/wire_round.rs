//! One round's traffic through the wire layer only (no state machines):
//! three clients submit, the server sums what conforms and verifies,
//! re-randomizes, asks a set of two members, and combines their shares.

mod common;

use std::collections::BTreeMap;

use common::*;
use fedhe_he::{CiphertextList, DecryptingSet, MemberId, combine, partial_decrypt};
use fedhe_protocols::*;

fn wire(m: impl Into<Message>) -> Message {
    let bytes = m.into().encode().expect("encode");
    let mut r = FrameReader::new(Limits::DEFAULT);
    r.push(&bytes).expect("push");
    r.next_message().expect("decode").expect("one frame")
}

#[test]
fn submissions_to_decrypted_sum_over_the_wire() {
    let f = fixture();
    let ctx = &f.ctx;
    let pd = *ctx.digest();
    let mut rng = rng(9);
    let exp = f.expectations();

    // Clients 10, 11, 12 with their keys; client 12 signs with a wrong key.
    let keys: BTreeMap<ParticipantId, SigningKey> = (10..13)
        .map(|i| (ParticipantId(i), SigningKey::generate_with(&mut rng)))
        .collect();
    let public = |p: ParticipantId| keys.get(&p).map(SigningKey::verifying_key);
    let impostor = SigningKey::generate_with(&mut rng);
    let mut expected = vec![0u64; VALUES];
    let mut sum = CiphertextList::zero(ctx, VALUES);
    let mut contributions = Vec::new();
    for (i, (&id, key)) in keys.iter().enumerate() {
        let values: Vec<u64> = (0..VALUES as u64).map(|v| v * (i as u64 + 1)).collect();
        let list =
            CiphertextList::encrypt(&f.committee.public_key, &values, &mut rng).expect("encrypt");
        let signer = if id.0 == 12 { &impostor } else { key };
        let Message::Submission(s) = wire(Submission::new_signed(FED, ROUND, id, &list, signer))
        else {
            panic!("kind")
        };
        let received = s.check(ctx, &exp).expect("conforms");
        let verified = s.verify(&pd, &public(s.sender).expect("known"));
        if id.0 == 12 {
            assert!(matches!(verified, Err(Error::BadSignature(_))));
            continue;
        }
        verified.expect("verifies");
        sum.add_assign(&received).expect("add");
        contributions.push(s.contribution());
        for (e, v) in expected.iter_mut().zip(values) {
            *e += v;
        }
    }
    sum.rerandomize(&f.committee.public_key, &mut rng)
        .expect("rerandomize");

    let members = [MemberId::new(1).expect("id"), MemberId::new(2).expect("id")];
    let set = DecryptingSet::new(ctx, &members).expect("set");
    let Message::DecryptRequest(req) = wire(DecryptRequest {
        federation: FED,
        round: ROUND,
        request: RequestId(1),
        public_key_digest: f.committee.public_key.digest(),
        aggregate: WireBytes(sum.to_bytes()),
        aggregate_digest: sum.digest(),
        set: members.iter().map(|m| m.get()).collect(),
        contributions,
    }) else {
        panic!("kind")
    };

    // Each member: conformance, contributions, then its share.
    let mut shares = Vec::new();
    for m in members {
        let mut e = exp.clone();
        e.values = Some(VALUES);
        let (aggregate, named) = req.check(ctx, &e).expect("conforms");
        assert_eq!(req.verify_contributions(&pd, public).expect("signed"), 2);
        let member_key = SigningKey::generate_with(&mut rng);
        let key_share = &f.committee.key_shares[usize::from(m.get()) - 1];
        let share = partial_decrypt(key_share, &named, &aggregate, &mut rng).expect("share");
        let sender = ParticipantId(100 + u32::from(m.get()));
        let Message::DecryptShare(msg) = wire(DecryptShare::new_signed(
            FED,
            ROUND,
            req.request,
            sender,
            ctx,
            &share,
            &member_key,
        )) else {
            panic!("kind")
        };
        // The server's side.
        let mut e = exp.clone();
        e.request = Some(req.request);
        e.aggregate_digest = Some(sum.digest());
        e.set = Some(set.clone());
        msg.verify(&pd, &sum.digest(), &member_key.verifying_key())
            .expect("share verifies");
        shares.push(msg.check(ctx, &e).expect("share conforms"));
    }
    let t = ctx.params().plaintext_modulus();
    let got = combine(&sum, &set, &shares).expect("combine");
    let want: Vec<u64> = expected.iter().map(|v| v % t).collect();
    assert_eq!(got, want);
}
