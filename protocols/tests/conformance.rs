//! Conformance: decoded messages against the context and expectations.

mod common;

use common::*;
use fedhe_protocols::*;

fn refusal(r: Result<Conformed>) -> RefusalReason {
    r.expect_err("must not conform").refusal_reason()
}

#[test]
fn wrong_federation_round_and_parameters_are_refused() {
    let f = fixture();
    let exp = f.expectations();
    let other = other_context();
    for m in f.messages() {
        let mut e = exp.clone();
        e.federation = FederationId([0; 16]);
        assert_eq!(refusal(m.check(&f.ctx, &e)), RefusalReason::WrongFederation);
        if !matches!(m, Message::Refusal(_)) {
            let mut e = exp.clone();
            e.round = RoundId(41);
            assert_eq!(refusal(m.check(&f.ctx, &e)), RefusalReason::StaleRound);
        }
        if matches!(
            m,
            Message::RoundOpen(_) | Message::Submission(_) | Message::DecryptShare(_)
        ) {
            assert_eq!(
                refusal(m.check(&other, &exp)),
                RefusalReason::WrongParameterDigest,
                "{:?}",
                m.kind()
            );
        }
    }
    let m: Message = f.request.clone().into();
    let mut e = exp.clone();
    e.set = None;
    // The other context has n = 4, so {1, 3} is a valid set there: the
    // aggregate's parameter digest is what fails.
    assert_eq!(
        refusal(m.check(&other, &e)),
        RefusalReason::WrongParameterDigest
    );
}

#[test]
fn submissions_must_match_their_digest_and_length() {
    let f = fixture();
    let exp = f.expectations();
    let mut s = f.submission.clone();
    s.digest[0] ^= 1;
    assert_eq!(
        refusal(Message::from(s).check(&f.ctx, &exp)),
        RefusalReason::DigestMismatch
    );
    let mut e = exp.clone();
    e.values = Some(VALUES + 1);
    let m: Message = f.submission.clone().into();
    assert!(matches!(
        m.check(&f.ctx, &e),
        Err(Error::Mismatch {
            field: Field::Values,
            ..
        })
    ));
    // A residue out of range inside the wire form: fedhe-he's decoder.
    let mut s = f.submission.clone();
    let n = s.ciphertexts.0.len();
    for b in &mut s.ciphertexts.0[n - 8..] {
        *b = 0xff;
    }
    let r = Message::from(s).check(&f.ctx, &exp);
    assert!(matches!(r, Err(Error::He(_))), "{r:?}");
    let mut s = f.submission.clone();
    s.ciphertexts.0.pop();
    assert!(matches!(
        Message::from(s).check(&f.ctx, &exp),
        Err(Error::He(_))
    ));
}

#[test]
fn decrypt_requests_need_a_valid_set_and_distinct_contributors() {
    let f = fixture();
    let exp = f.expectations();
    for set in [
        vec![3, 1],
        vec![1, 1],
        vec![1],
        vec![1, 2, 3],
        vec![0, 1],
        vec![1, 4],
    ] {
        let mut r = f.request.clone();
        r.set = set.clone();
        let e = Message::from(r).check(&f.ctx, &exp).expect_err("bad set");
        assert!(
            matches!(
                e,
                Error::Mismatch {
                    field: Field::DecryptingSet,
                    ..
                }
            ),
            "{set:?}: {e}"
        );
    }
    let mut r = f.request.clone();
    r.contributions.push(f.submission.contribution());
    assert!(matches!(
        Message::from(r).check(&f.ctx, &exp),
        Err(Error::Mismatch {
            field: Field::Contributions,
            ..
        })
    ));
    let mut r = f.request.clone();
    r.aggregate_digest[5] ^= 1;
    assert_eq!(
        refusal(Message::from(r).check(&f.ctx, &exp)),
        RefusalReason::DigestMismatch
    );
}

#[test]
fn shares_must_answer_the_request_they_name() {
    let f = fixture();
    let exp = f.expectations();
    let m: Message = f.share.clone().into();
    let mut e = exp.clone();
    e.aggregate_digest = Some([0; 32]);
    assert_eq!(refusal(m.check(&f.ctx, &e)), RefusalReason::DigestMismatch);
    let mut e = exp.clone();
    e.request = Some(RequestId(6));
    assert_eq!(refusal(m.check(&f.ctx, &e)), RefusalReason::StaleRound);
    let mut e = exp.clone();
    e.set = Some(
        fedhe_he::DecryptingSet::new(
            &f.ctx,
            &[
                fedhe_he::MemberId::new(2).expect("id"),
                fedhe_he::MemberId::new(3).expect("id"),
            ],
        )
        .expect("set"),
    );
    assert!(matches!(
        m.check(&f.ctx, &e),
        Err(Error::Mismatch {
            field: Field::DecryptingSet,
            ..
        })
    ));
    let mut s = f.share.clone();
    s.member = 1;
    assert!(matches!(
        Message::from(s).check(&f.ctx, &exp),
        Err(Error::Mismatch {
            field: Field::Member,
            ..
        })
    ));
}

#[test]
fn round_open_config_is_checked() {
    let f = fixture();
    let exp = f.expectations();
    let mut e = exp.clone();
    e.public_key_digest = Some([1; 32]);
    assert_eq!(
        refusal(Message::from(f.open.clone()).check(&f.ctx, &e)),
        RefusalReason::WrongPublicKeyDigest
    );
    let cases: Vec<fn(&mut RoundOpen)> = vec![
        |o| o.config.clip = f64::NAN,
        |o| o.config.clip = 0.0,
        |o| o.config.gamma = f64::INFINITY,
        |o| o.config.bits = 0,
        |o| o.config.bits = 21,
        |o| o.config.noise.den = 0,
        |o| o.config.min_contributors = 0,
        |o| o.config.min_contributors = 1025,
        |o| o.config.deadline_millis = 0,
        |o| o.model.parameters.pop().map(drop).unwrap_or(()),
        |o| o.protocol_version = 2,
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let mut o = f.open.clone();
        c(&mut o);
        assert!(Message::from(o).check(&f.ctx, &exp).is_err(), "case {i}");
    }
    assert_eq!(f.open.config.deadline(), std::time::Duration::from_secs(30));
}

#[test]
fn round_results_are_checked() {
    let f = fixture();
    let exp = f.expectations();
    let mut r = f.result.clone();
    r.contributors.swap(0, 1);
    assert!(Message::from(r).check(&f.ctx, &exp).is_err());
    let mut r = f.result.clone();
    r.epsilon_spent = -1.0;
    assert!(Message::from(r).check(&f.ctx, &exp).is_err());
}
