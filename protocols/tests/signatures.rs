//! Signatures verify, and fail on any changed bound field.

mod common;

use common::*;
use fedhe_protocols::*;

fn is_bad_signature(r: Result<()>) -> bool {
    matches!(r, Err(Error::BadSignature(_)))
}

#[test]
fn submission_signature_binds_every_field() {
    let f = fixture();
    let pd = *f.ctx.digest();
    let vk = f.client_key.verifying_key();
    let s = &f.submission;
    s.verify(&pd, &vk).expect("verifies");

    let mut m = s.clone();
    m.round = RoundId(43);
    assert!(is_bad_signature(m.verify(&pd, &vk)), "round");
    let mut m = s.clone();
    m.sender = ParticipantId(1002);
    assert!(is_bad_signature(m.verify(&pd, &vk)), "sender");
    let mut m = s.clone();
    m.digest[0] ^= 1;
    assert!(is_bad_signature(m.verify(&pd, &vk)), "digest");
    let mut m = s.clone();
    m.federation.0[15] ^= 1;
    assert!(is_bad_signature(m.verify(&pd, &vk)), "federation");
    let mut other = pd;
    other[31] ^= 1;
    assert!(is_bad_signature(s.verify(&other, &vk)), "parameter digest");
    let mut m = s.clone();
    m.signature.0[10] ^= 1;
    assert!(is_bad_signature(m.verify(&pd, &vk)), "signature bytes");
    assert!(
        is_bad_signature(s.verify(&pd, &f.server_key.verifying_key())),
        "another key"
    );
    let e = s.verify(&other, &vk).expect_err("bad");
    assert_eq!(e.refusal_reason(), RefusalReason::BadSignature);
}

#[test]
fn contributions_carry_the_submission_signature() {
    let f = fixture();
    let pd = *f.ctx.digest();
    let vk = f.client_key.verifying_key();
    let c = f.submission.contribution();
    c.verify(FED, ROUND, &pd, &vk).expect("verifies");
    assert!(is_bad_signature(c.verify(FED, RoundId(41), &pd, &vk)));
    assert!(is_bad_signature(c.verify(
        FederationId([8; 16]),
        ROUND,
        &pd,
        &vk
    )));
    let mut d = c.clone();
    d.sender = ParticipantId(5);
    assert!(is_bad_signature(d.verify(FED, ROUND, &pd, &vk)));

    let r = &f.request;
    assert_eq!(
        r.verify_contributions(&pd, |p| (p == CLIENT).then_some(vk))
            .expect("verifies"),
        1
    );
    let e = r.verify_contributions(&pd, |_| None).expect_err("unknown");
    assert!(matches!(e, Error::UnknownSender(p) if p == CLIENT));
    assert_eq!(e.refusal_reason(), RefusalReason::UnknownSender);
    let mut bad = r.clone();
    bad.contributions[0].digest[3] ^= 1;
    assert!(matches!(
        bad.verify_contributions(&pd, |_| Some(vk)),
        Err(Error::BadSignature(_))
    ));
}

#[test]
fn receipt_signature_binds_every_field() {
    let f = fixture();
    let vk = f.server_key.verifying_key();
    let r = &f.receipt;
    r.verify(SERVER, &vk).expect("verifies");
    assert!(
        is_bad_signature(r.verify(ParticipantId(2), &vk)),
        "server id"
    );
    let mut m = r.clone();
    m.round = RoundId(0);
    assert!(is_bad_signature(m.verify(SERVER, &vk)), "round");
    let mut m = r.clone();
    m.sender = ParticipantId(0);
    assert!(is_bad_signature(m.verify(SERVER, &vk)), "sender");
    let mut m = r.clone();
    m.submission_digest[31] ^= 0x80;
    assert!(is_bad_signature(m.verify(SERVER, &vk)), "digest");
    let mut m = r.clone();
    m.federation.0[0] ^= 1;
    assert!(is_bad_signature(m.verify(SERVER, &vk)), "federation");
}

#[test]
fn share_signature_binds_every_field() {
    let f = fixture();
    let pd = *f.ctx.digest();
    let ad = f.list.digest();
    let vk = f.member_key.verifying_key();
    let s = &f.share;
    s.verify(&pd, &ad, &vk).expect("verifies");
    let mut m = s.clone();
    m.round = RoundId(1);
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "round");
    let mut m = s.clone();
    m.request = RequestId(6);
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "request");
    let mut m = s.clone();
    m.sender = ParticipantId(1);
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "sender");
    let mut m = s.clone();
    m.member = 1;
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "member");
    let mut m = s.clone();
    m.federation.0[3] ^= 1;
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "federation");
    let mut m = s.clone();
    let last = m.share.0.len() - 1;
    m.share.0[last] ^= 1;
    assert!(is_bad_signature(m.verify(&pd, &ad, &vk)), "share bytes");
    let mut other = ad;
    other[0] ^= 1;
    assert!(
        is_bad_signature(s.verify(&pd, &other, &vk)),
        "aggregate digest"
    );
    assert!(
        is_bad_signature(s.verify(&other, &ad, &vk)),
        "parameter digest"
    );
}

#[test]
fn purposes_are_domain_separated() {
    // The same fields under two purposes give different transcripts.
    let d = [5u8; 32];
    let a = Transcript::submission(FED, ROUND, CLIENT, &d, &d);
    let b = Transcript::receipt(FED, ROUND, CLIENT, CLIENT, &d);
    assert_ne!(a, b);
    let f = fixture();
    // A receipt signature is not a submission signature.
    let mut forged = f.submission.clone();
    forged.signature = f.server_key.sign(&Transcript::receipt(
        FED,
        ROUND,
        SERVER,
        CLIENT,
        &forged.digest,
    ));
    assert!(
        forged
            .verify(f.ctx.digest(), &f.server_key.verifying_key())
            .is_err()
    );
}

#[test]
fn keys_round_trip_and_generate_from_the_os() {
    let k = SigningKey::generate().expect("os rng");
    let seed = k.to_seed();
    let k2 = SigningKey::from_seed(&seed);
    assert_eq!(k.verifying_key(), k2.verifying_key());
    let vk = VerifyingKey::from_bytes(&k.verifying_key().to_bytes()).expect("valid");
    assert_eq!(vk, k.verifying_key());
    assert_eq!(format!("{k:?}"), "SigningKey(redacted)");
    let t = Transcript([1; 32]);
    vk.verify(&t, &k.sign(&t), "test").expect("verifies");
}

#[test]
fn model_digest_binds_version_and_values() {
    let p = [1.0f32, -0.0, 2.5];
    let d = model_digest(1, &p);
    assert_ne!(d, model_digest(2, &p));
    assert_ne!(d, model_digest(1, &[1.0, 0.0, 2.5]));
    assert_ne!(d, model_digest(1, &p[..2]));
}

/// The transcripts are the byte layouts SPEC.md §5 lists, hashed under
/// their contexts.
#[test]
fn transcripts_match_the_spec_layouts() {
    let pd = [0x11u8; 32];
    let cd = [0x22u8; 32];
    let sd = [0x33u8; 32];
    let mut t = vec![PROTOCOL_VERSION];
    t.extend_from_slice(&FED.0);
    t.extend_from_slice(&ROUND.0.to_le_bytes());
    let common = t.clone();
    t.extend_from_slice(&CLIENT.0.to_le_bytes());
    t.extend_from_slice(&pd);
    t.extend_from_slice(&cd);
    assert_eq!(t.len(), 93);
    assert_eq!(
        Transcript::submission(FED, ROUND, CLIENT, &pd, &cd).0,
        blake3::derive_key(SUBMISSION_CONTEXT, &t)
    );
    let mut t = common.clone();
    t.extend_from_slice(&SERVER.0.to_le_bytes());
    t.extend_from_slice(&CLIENT.0.to_le_bytes());
    t.extend_from_slice(&cd);
    assert_eq!(t.len(), 65);
    assert_eq!(
        Transcript::receipt(FED, ROUND, SERVER, CLIENT, &cd).0,
        blake3::derive_key(RECEIPT_CONTEXT, &t)
    );
    let mut t = common;
    t.extend_from_slice(&5u64.to_le_bytes());
    t.extend_from_slice(&MEMBER_PID.0.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&pd);
    t.extend_from_slice(&cd);
    t.extend_from_slice(&sd);
    assert_eq!(t.len(), 135);
    assert_eq!(
        Transcript::decrypt_share(FED, ROUND, RequestId(5), MEMBER_PID, 3, &pd, &cd, &sd).0,
        blake3::derive_key(DECRYPT_SHARE_CONTEXT, &t)
    );
    // The share digest is over the D form's bytes.
    let f = fixture();
    assert_eq!(
        share_digest(f.share.share.as_slice()),
        blake3::derive_key(SHARE_DIGEST_CONTEXT, f.share.share.as_slice())
    );
}
