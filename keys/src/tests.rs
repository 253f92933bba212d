//! Library-level ceremony tests on the INSECURE test preset (N = 64), so
//! that tampering can be checked at many offsets in debug builds.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::dkg::*;
use crate::encoding::to_file_bytes;
use crate::error::{Error, Refusal};
use crate::pki::*;
use crate::rotation::CurrentKey;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

struct Fed {
    ca: Ca,
    ca_cert: CaCert,
    roster: Roster,
}

fn federation(rng: &mut ChaCha20Rng) -> Fed {
    let (pem, key) = ca_generate("test", NOW - DAY, 365, rng).expect("ca");
    let ca = Ca::open("ca.crt", pem.as_bytes(), &key).expect("open ca");
    let ca_cert = CaCert::from_pem("ca.crt", pem.as_bytes()).expect("ca cert");
    let roster = ca
        .sign_roster(Roster::empty_body("test", &ca_cert, NOW))
        .expect("roster");
    Fed {
        ca,
        ca_cert,
        roster,
    }
}

fn add(fed: &mut Fed, id: u32, role: Role) {
    let mut body = fed.roster.body.clone();
    body.participants.push(RosterEntry {
        id,
        role,
        key: None,
    });
    body.version += 1;
    fed.roster = fed.ca.sign_roster(body).expect("sign");
}

fn req(id: u32, role: Role) -> IssueRequest {
    IssueRequest {
        id,
        role,
        not_before: NOW - DAY,
        days: 30,
        dns_names: vec![],
    }
}

struct Ceremony {
    init: CeremonyInit,
    ctx: std::sync::Arc<fedhe_he::HeContext>,
    keys: Vec<MemberKeys>,
    contributions: Vec<(String, Vec<u8>)>,
    bundle: Vec<u8>,
    accepted: Vec<Accepted>,
    acceptances: Vec<(String, Vec<u8>)>,
    fed: Fed,
}

fn ceremony(t: u16, n: u16, seed: u64) -> Ceremony {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut fed = federation(&mut rng);
    let keys: Vec<MemberKeys> = (0..n).map(|_| MemberKeys::generate(&mut rng)).collect();
    let mut members = vec![];
    for (k, i) in keys.iter().zip(100u32..) {
        add(&mut fed, i, Role::Committee);
        let cert = fed
            .ca
            .issue_for_key(&req(i, Role::Committee), &k.signing_key(), &mut rng)
            .expect("cert");
        let public =
            MemberPublic::from_file("m.pub.json", &to_file_bytes(&k.public(i))).expect("public");
        members.push((public, cert));
    }
    let init = CeremonyInit::new(
        "test-insecure-64",
        16,
        t,
        &members,
        &fed.ca_cert,
        &fed.roster,
        NOW,
        &mut rng,
    )
    .expect("init");
    let (init, ctx) = CeremonyInit::from_file("ceremony.json", &init.to_file()).expect("reload");
    let contributions: Vec<(String, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                format!("contribution-{}.json", i + 1),
                contribute(&init, &ctx, k, &mut rng)
                    .expect("contribute")
                    .to_file(),
            )
        })
        .collect();
    let bundle = collect(&init, &ctx, &contributions)
        .expect("collect")
        .to_file();
    let accepted: Vec<Accepted> = keys
        .iter()
        .map(|k| accept(&init, &ctx, "bundle.json", &bundle, k).expect("accept"))
        .collect();
    let acceptances = accepted
        .iter()
        .map(|a| {
            (
                format!("acceptance-{}.json", a.acceptance.body.member),
                a.acceptance.to_file(),
            )
        })
        .collect();
    Ceremony {
        init,
        ctx,
        keys,
        contributions,
        bundle,
        accepted,
        acceptances,
        fed,
    }
}

#[test]
fn ceremony_3_of_5_end_to_end_with_self_test_and_verify() {
    let c = ceremony(3, 5, 1);
    let (t, pk) =
        finalize(&c.init, &c.ctx, "bundle.json", &c.bundle, &c.acceptances).expect("finalize");
    let bytes = t.to_file();
    let (t2, pk2) = verify_transcript(
        "transcript.json",
        &bytes,
        Some((&c.fed.ca_cert, &c.fed.roster)),
    )
    .expect("verify");
    assert_eq!(t2, t);
    assert_eq!(pk2, pk);
    assert_eq!(t.key.key_id.0, pk.digest());
    assert_eq!(t.key.max_decrypted_coefficients, 1 << 20);
    let shares: Vec<_> = c.accepted.into_iter().map(|a| a.key_share).collect();
    let runs = self_test(&pk, &shares, &mut ChaCha20Rng::seed_from_u64(9)).expect("self-test");
    assert_eq!(runs.len(), 5);
    assert!(
        runs.iter()
            .all(|r| r.set.len() == 3 && !r.set.contains(&r.absent.expect("absent")))
    );
    // A key share from another ceremony makes the self-test fail.
    let other = ceremony(3, 5, 2);
    let mut mixed: Vec<_> = shares.into_iter().skip(1).collect();
    mixed.insert(
        0,
        other.accepted.into_iter().next().expect("share").key_share,
    );
    let e = self_test(&pk, &mixed, &mut ChaCha20Rng::seed_from_u64(9)).expect_err("mixed shares");
    assert!(e.to_string().contains("decrypting set"), "{e}");
    let _ = c.keys;
}

fn flip_offsets(len: usize) -> Vec<usize> {
    // Every byte of short files; a spread of ~400 offsets (always including the
    // first and last bytes) over long ones.
    let step = (len / 400).max(1);
    let mut v: Vec<usize> = (0..len).step_by(step).collect();
    v.push(len - 1);
    v
}

#[test]
fn every_flipped_byte_of_a_contribution_is_caught_by_collect_naming_file() {
    let c = ceremony(2, 3, 3);
    let (name, good) = &c.contributions[1];
    let mut caught = 0;
    for i in flip_offsets(good.len()) {
        let mut files = c.contributions.clone();
        files[1].1[i] ^= 0x01;
        let e = collect(&c.init, &c.ctx, &files).expect_err(&format!("flip at {i} accepted"));
        let msg = e.to_string();
        assert!(msg.contains(name.as_str()), "flip at {i}: {msg}");
        if matches!(e, Error::BadSignature { .. }) {
            assert!(msg.contains("member 2 (participant 101)"), "{msg}");
        }
        caught += 1;
    }
    assert!(caught > 100);
}

#[test]
fn every_flipped_byte_of_a_bundle_is_caught_by_accept_naming_member() {
    let c = ceremony(2, 3, 4);
    let mut by_member = 0;
    for i in flip_offsets(c.bundle.len()) {
        let mut b = c.bundle.clone();
        b[i] ^= 0x01;
        let e = accept(&c.init, &c.ctx, "bundle.json", &b, &c.keys[0])
            .expect_err(&format!("flip at {i} accepted"));
        let msg = e.to_string();
        assert!(msg.contains("bundle.json"), "flip at {i}: {msg}");
        by_member += usize::from(msg.contains("(participant "));
        // finalize reads the same bundle
        assert!(finalize(&c.init, &c.ctx, "bundle.json", &b, &c.acceptances).is_err());
    }
    assert!(
        by_member > 100,
        "most flips fall inside a member's contribution: {by_member}"
    );
}

#[test]
fn every_flipped_byte_of_an_acceptance_and_a_transcript_is_caught() {
    let c = ceremony(2, 3, 5);
    for i in flip_offsets(c.acceptances[2].1.len()) {
        let mut a = c.acceptances.clone();
        a[2].1[i] ^= 0x01;
        let e = finalize(&c.init, &c.ctx, "bundle.json", &c.bundle, &a)
            .expect_err(&format!("flip at {i}"));
        assert!(e.to_string().contains("acceptance-3.json"), "{e}");
    }
    let (t, _) =
        finalize(&c.init, &c.ctx, "bundle.json", &c.bundle, &c.acceptances).expect("finalize");
    let bytes = t.to_file();
    for i in flip_offsets(bytes.len()) {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let e = verify_transcript("transcript.json", &b, None)
            .expect_err(&format!("flip at {i} accepted"));
        assert!(
            e.to_string().contains("transcript.json"),
            "flip at {i}: {e}"
        );
    }
}

#[test]
fn a_bundle_with_a_contribution_replaced_or_reordered_is_refused() {
    let c = ceremony(2, 3, 6);
    let mut b: Bundle = serde_json::from_slice(&c.bundle).expect("bundle");
    b.contributions.swap(0, 1);
    let e =
        accept(&c.init, &c.ctx, "bundle.json", &b.to_file(), &c.keys[2]).expect_err("reordered");
    assert!(e.to_string().contains("member 1 (participant 100)"), "{e}");
    // A contribution re-signed by another member's key is refused.
    let mut b: Bundle = serde_json::from_slice(&c.bundle).expect("bundle");
    b.contributions[0].signature = b.contributions[1].signature.clone();
    let e = accept(&c.init, &c.ctx, "bundle.json", &b.to_file(), &c.keys[2]).expect_err("bad sig");
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
}

#[test]
fn certificates_from_another_ca_expired_revoked_or_with_the_wrong_role_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut fed = federation(&mut rng);
    let other = federation(&mut rng);
    add(&mut fed, 1, Role::Client);
    add(&mut fed, 2, Role::Server);
    let (good, _) = fed
        .ca
        .issue(&req(1, Role::Client), &mut rng)
        .expect("issue");
    let p = verify_participant(
        &fed.ca_cert,
        &fed.roster,
        "c1.crt",
        good.as_bytes(),
        NOW,
        Some(Role::Client),
    )
    .expect("valid");
    assert_eq!((p.id, p.role), (1, Role::Client));
    let refusal = |r: crate::Result<Participant>| match r {
        Err(Error::CertificateRefused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (foreign, _) = other
        .ca
        .issue(&req(1, Role::Client), &mut rng)
        .expect("issue");
    assert!(matches!(
        refusal(verify_participant(
            &fed.ca_cert,
            &fed.roster,
            "x",
            foreign.as_bytes(),
            NOW,
            None
        )),
        Refusal::OtherCa(_)
    ));
    assert!(matches!(
        refusal(verify_participant(
            &fed.ca_cert,
            &fed.roster,
            "x",
            good.as_bytes(),
            NOW + 31 * DAY,
            None
        )),
        Refusal::Expired { .. }
    ));
    assert!(matches!(
        refusal(verify_participant(
            &fed.ca_cert,
            &fed.roster,
            "x",
            good.as_bytes(),
            NOW - 2 * DAY,
            None
        )),
        Refusal::NotYetValid { .. }
    ));
    assert!(matches!(
        refusal(verify_participant(
            &fed.ca_cert,
            &fed.roster,
            "x",
            good.as_bytes(),
            NOW,
            Some(Role::Committee)
        )),
        Refusal::RoleMismatch { .. }
    ));
    let (server_as_admin, _) = fed.ca.issue(&req(2, Role::Admin), &mut rng).expect("issue");
    assert!(matches!(
        refusal(verify_participant(
            &fed.ca_cert,
            &fed.roster,
            "x",
            server_as_admin.as_bytes(),
            NOW,
            None
        )),
        Refusal::NotOnRoster { .. }
    ));
    let (_, serial) = certificate_serial("c1.crt", good.as_bytes()).expect("serial");
    let mut body = fed.roster.body.clone();
    body.revoked.push(Revocation {
        serial: crate::encoding::Hex(serial),
        id: 1,
        at: NOW,
    });
    body.version += 1;
    let revoked = fed.ca.sign_roster(body).expect("sign");
    let r = refusal(verify_participant(
        &fed.ca_cert,
        &revoked,
        "c1.crt",
        good.as_bytes(),
        NOW,
        None,
    ));
    assert!(
        matches!(
            r,
            Refusal::Revoked {
                roster_version: 4,
                ..
            }
        ),
        "{r}"
    );
    // A roster signed by another CA, or altered, is refused.
    assert!(Roster::from_file("roster.json", &other.roster.to_file(), &fed.ca_cert).is_err());
    let mut b = revoked.to_file();
    let at = b.len() / 2;
    b[at] ^= 1;
    assert!(Roster::from_file("roster.json", &b, &fed.ca_cert).is_err());
    Roster::from_file("roster.json", &revoked.to_file(), &fed.ca_cert).expect("good roster");
}

#[test]
fn a_member_whose_certificate_is_not_committee_cannot_join_a_ceremony() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut fed = federation(&mut rng);
    let mut members = vec![];
    for (i, role) in [(1u32, Role::Committee), (2, Role::Client)] {
        add(&mut fed, i, role);
        let k = MemberKeys::generate(&mut rng);
        let cert = fed
            .ca
            .issue_for_key(&req(i, role), &k.signing_key(), &mut rng)
            .expect("cert");
        members.push((k.public(i), cert));
    }
    let e = CeremonyInit::new(
        "test-insecure-64",
        16,
        2,
        &members,
        &fed.ca_cert,
        &fed.roster,
        NOW,
        &mut rng,
    )
    .expect_err("client");
    assert!(e.to_string().contains("role client does not fit"), "{e}");
    // A certificate for another key than the member's.
    members[1].1 = members[0].1.clone();
    assert!(
        CeremonyInit::new(
            "test-insecure-64",
            16,
            2,
            &members,
            &fed.ca_cert,
            &fed.roster,
            NOW,
            &mut rng
        )
        .is_err()
    );
}

#[test]
fn rotation_refuses_the_old_key_for_new_rounds() {
    let a = ceremony(2, 3, 10);
    let b = ceremony(2, 3, 11);
    let (ta, _) = finalize(&a.init, &a.ctx, "bundle.json", &a.bundle, &a.acceptances).expect("a");
    let (tb, _) = finalize(&b.init, &b.ctx, "bundle.json", &b.bundle, &b.acceptances).expect("b");
    assert_ne!(ta.key.key_id, tb.key.key_id);
    let cur = CurrentKey::new(ta.key.clone());
    cur.check_round_key(&ta.key.key_id.0).expect("current");
    assert!(cur.check_round_key(&tb.key.key_id.0).is_err());
    let cur = cur.rotate(tb.key.clone(), NOW + 10).expect("rotate");
    cur.check_round_key(&tb.key.key_id.0).expect("new key");
    let e = cur.check_round_key(&ta.key.key_id.0).expect_err("old key");
    assert!(e.to_string().contains("retired"), "{e}");
    assert!(
        cur.clone().rotate(ta.key.clone(), NOW + 20).is_err(),
        "a retired key does not come back"
    );
    let back = CurrentKey::from_file("current-key.json", &cur.to_file()).expect("round trip");
    assert_eq!(back, cur);
    assert_eq!(cur.current.budget(&b.ctx).expect("budget").used(), 0);
}

#[test]
fn a_roster_listing_a_key_refuses_a_certificate_for_another_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut fed = federation(&mut rng);
    let (first, _) = fed
        .ca
        .issue(&req(5, Role::Client), &mut rng)
        .expect("issue");
    let (second, _) = fed
        .ca
        .issue(&req(5, Role::Client), &mut rng)
        .expect("issue");
    let key = crate::pki::certificate_key("c.crt", first.as_bytes()).expect("key");
    let mut body = fed.roster.body.clone();
    body.participants.push(RosterEntry {
        id: 5,
        role: Role::Client,
        key: Some(crate::encoding::HexN(key)),
    });
    fed.roster = fed.ca.sign_roster(body).expect("sign");
    let p = verify_participant(&fed.ca_cert, &fed.roster, "a", first.as_bytes(), NOW, None)
        .expect("the listed key verifies");
    assert_eq!(p.public_key, key);
    match verify_participant(&fed.ca_cert, &fed.roster, "b", second.as_bytes(), NOW, None) {
        Err(Error::CertificateRefused {
            reason: Refusal::NotOnRoster { detail, .. },
            ..
        }) => assert!(detail.contains("another key"), "{detail}"),
        other => panic!("expected NotOnRoster, got {other:?}"),
    }
}
