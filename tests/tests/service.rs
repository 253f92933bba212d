//! The QUIC service as users deploy it: `fedhe serve`, `fedhe client` and
//! `fedhe committee` as separate processes on loopback, configured by TOML,
//! keys from the `fedhe keys` ceremony (see `tests/common_service/mod.rs`).
//!
//! - `full_run_with_dp_over_three_rounds`: every round completes, the
//!   clients and members exit 0 after the last round, the audit chain
//!   verifies and the model registry holds versions 0..=3;
//! - `refused_peers_and_the_server_keeps_serving`: no certificate, another
//!   CA's certificate, an admin certificate, a committee certificate
//!   sending a client's message; `fedhe client` with the wrong identity;
//!   the run completes for everyone else;
//! - `bad_frames_from_an_authenticated_client`: garbage, oversized,
//!   unknown-kind, truncated, malformed, role-violating, replayed and
//!   out-of-round frames over a real client certificate are refused and
//!   logged while the rounds complete with every honest contribution.
//!
//! Run: `cargo build -p fedhe && cargo test -p fedhe-tests --test service`
//! (or `cargo test --workspace`, which builds the binary first).

#[path = "../common_service/mod.rs"]
mod common_service;

use std::time::Duration;

use common_service::raw::{self, Attempt, RawClient};
use common_service::{
    ADMIN, CLIENTS, DIM, FIRST_CLIENT, Fixture, MEMBERS, RAW_CLIENT, Run, RunSpec, SPARE_COMMITTEE,
};
use fedhe_protocols::{FRAME_HEADER_LEN, FrameHeader, Kind, Message, RoundId};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(180);

fn round_done_ok(run: &Run, round: u64) -> Value {
    let v = run.server().wait_event("round_done", Some(round), LONG);
    assert!(
        v["failed"].is_null(),
        "round {round} failed: {v}\n{}",
        run.dump()
    );
    v
}

#[test]
fn full_run_with_dp_over_three_rounds() {
    let mut run = Run::new(RunSpec::new("full"));
    run.start_server();
    run.start_participants();
    let mut eps = 0.0;
    let mut last_acc = 0.0;
    for r in 1..=3 {
        let v = round_done_ok(&run, r);
        eprintln!(
            "round {r}: accuracy {} loss {} epsilon {}",
            v["accuracy"], v["loss"], v["epsilon"]
        );
        let contributors = v["contributors"].as_u64().expect("contributors");
        assert!(
            contributors >= u64::from(run.spec.min_clients)
                && contributors == v["invited"].as_u64().expect("invited"),
            "round {r}: every invited client contributes: {v}"
        );
        let e = v["epsilon"].as_f64().expect("epsilon");
        assert!(e > eps, "round {r}: ε grows with DP on: {v}");
        eps = e;
        let acc = v["accuracy"].as_f64().expect("accuracy");
        assert!((0.0..=1.0).contains(&acc), "{v}");
        // Round 1 is one DP-noised step from the initial model and can sit
        // at chance (1/10) on a bad noise draw: CI once saw 0.091 there,
        // then 0.21 and 0.32. From round 2 on the model is above chance.
        if r >= 2 {
            assert!(acc > 0.1, "round {r}: above chance: {v}");
        }
        last_acc = acc;
    }
    // Eleven runs on this machine ended at 0.32 to 0.49 after round 3.
    assert!(
        last_acc > 0.2,
        "the model learns: twice chance after 3 rounds, got {last_acc}"
    );
    assert!(eps <= 8.0 * (1.0 + 1e-6), "ε within the target: {eps}");
    let fin = run
        .server()
        .wait_event("finished", None, Duration::from_secs(30));
    assert_eq!(fin["model_version"], 3, "{fin}");
    let st = run
        .server
        .as_mut()
        .expect("server")
        .wait_exit(Duration::from_secs(30));
    assert!(st.success(), "serve exited with {st}");
    // The server ends every connection with "run complete"; clients and
    // members then exit 0.
    run.expect_participants_exit_ok(Duration::from_secs(60));
    for (id, c) in &run.clients {
        assert!(
            !c.events("receipted").is_empty(),
            "client {id} had a submission receipted\n{}",
            c.tail(20)
        );
    }
    let released: usize = run
        .members
        .values()
        .map(|m| m.events("share_released").len())
        .sum();
    assert!(released >= 3 * 3, "3 shares per round at least: {released}");

    let audit = run.audit_verify();
    assert!(
        audit["entries"].as_u64().expect("entries") > 3 * 5,
        "{audit}"
    );
    let models = run.models();
    let versions: Vec<u64> = models
        .iter()
        .map(|m| m["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, vec![0, 1, 2, 3], "{models:?}");
    for (i, m) in models.iter().enumerate().skip(1) {
        assert_eq!(m["parent"], (i - 1) as u64, "{m}");
        assert_eq!(m["round"], i as u64, "{m}");
        assert_eq!(m["n_params"], DIM, "{m}");
    }
    assert!(models[3]["epsilon_spent"].as_f64().expect("ε") > 0.0);
    let show = run.model_show("latest");
    assert_eq!(show["digest_verified"], true, "{show}");
    assert!(
        show["hyperparams"]["dp"]["epsilon"].as_f64().is_some(),
        "{show}"
    );
    let latest = run.model_export("latest");
    let first = run.model_export("0");
    assert_eq!(latest.len(), DIM);
    assert!(latest.iter().all(|x| x.is_finite()));
    assert_ne!(latest, first, "three rounds moved the model");
}

/// Checks that the server printed a `refused` line after `from` whose
/// reason contains every one of `words`; returns the index after it.
fn expect_refused(run: &Run, from: usize, peer: Option<u32>, words: &[&str], what: &str) -> usize {
    let (i, v) = run.server().wait_from(from, what, LONG, |v| {
        let reason = v["reason"].as_str().unwrap_or("").to_lowercase();
        v["event"] == "refused"
            && peer.is_none_or(|p| v["peer"].as_u64() == Some(u64::from(p)))
            && words.iter().all(|w| reason.contains(&w.to_lowercase()))
    });
    eprintln!("{what}: {v}");
    i + 1
}

#[test]
fn refused_peers_and_the_server_keeps_serving() {
    let fx = Fixture::get();
    let mut spec = RunSpec::new("refused");
    spec.rounds = 2;
    let mut run = Run::new(spec);
    run.start_server();
    for id in MEMBERS {
        run.start_member(id);
    }
    let rt = raw::runtime();
    let trust = raw::trust(fx);
    let fed = raw::federation(fx);
    let addr = run.addr;
    // Our own client, connected first, is invited to round 1 and holds the
    // round open (it submits only after the refusals below): the server
    // refuses the intruders while a round is open.
    let me = raw::credentials(fx, &fx.cert("ca", RAW_CLIENT, "client"));
    let mut rc = rt.block_on(RawClient::connect(&trust, &me, RAW_CLIENT, addr));
    for i in 0..CLIENTS as u32 {
        run.start_client(FIRST_CLIENT + i);
    }
    let open = rt.block_on(rc.round_open(1, LONG));
    let opened = run.server().wait_event("round_opened", Some(1), LONG);
    eprintln!("{opened}");
    let cursor = run.server().len();

    // (a) No client certificate: the handshake fails.
    let a = rt.block_on(raw::attempt(
        raw::config_without_certificate(&trust),
        addr,
        Duration::from_secs(10),
    ));
    eprintln!("no certificate: {a:?}");
    assert!(
        matches!(&a, Attempt::HandshakeFailed(w) | Attempt::ClosedAfter(w) if w.contains("no certificates")),
        "{a:?}"
    );
    let c = expect_refused(
        &run,
        cursor,
        None,
        &["handshake", "no certificates"],
        "refusal of a client without a certificate",
    );

    // (b) A certificate of another CA.
    let other = raw::credentials(fx, &fx.cert("other/ca", FIRST_CLIENT, "client"));
    let a = rt.block_on(raw::attempt(
        raw::config_with(&trust, &other),
        addr,
        Duration::from_secs(10),
    ));
    eprintln!("another CA: {a:?}");
    assert!(
        matches!(&a, Attempt::HandshakeFailed(w) | Attempt::ClosedAfter(w) if w.contains("UnknownIssuer")),
        "{a:?}"
    );
    let c2 = expect_refused(
        &run,
        c,
        None,
        &["handshake", "invalid peer certificate", "UnknownIssuer"],
        "refusal of a client with another CA's certificate",
    );

    // (c) An admin certificate of this federation: a role the server does
    // not serve; the connection is closed after the handshake.
    let admin = raw::credentials(fx, &fx.cert("ca", ADMIN, "admin"));
    let a = rt.block_on(raw::attempt(
        raw::config_with(&trust, &admin),
        addr,
        Duration::from_secs(10),
    ));
    eprintln!("admin: {a:?}");
    assert!(
        matches!(&a, Attempt::ClosedAfter(why) if why.contains("role not served here")),
        "{a:?}"
    );
    expect_refused(
        &run,
        c2,
        Some(ADMIN),
        &["role", "admin"],
        "refusal of an admin",
    );

    // (d) A committee certificate (of a participant outside the committee)
    // sending a client's message: the connection is a committee one, the
    // submission is refused for its role.
    let spare = raw::credentials(fx, &fx.cert("ca", SPARE_COMMITTEE, "committee"));
    let wrong = rt.block_on(RawClient::connect(&trust, &spare, SPARE_COMMITTEE, addr));
    let mine = rc.submission(&fed, open.clone());
    let mut relabelled = match Message::decode(&mine, &fedhe_protocols::Limits::DEFAULT) {
        Ok(Message::Submission(s)) => s,
        other => panic!("{other:?}"),
    };
    relabelled.sender = fedhe_protocols::ParticipantId(SPARE_COMMITTEE);
    let cur = run.server().len();
    rt.block_on(wrong.send_raw(&Message::Submission(relabelled).encode().expect("encode")));
    expect_refused(
        &run,
        cur,
        Some(SPARE_COMMITTEE),
        &["role", "Submission", "committee"],
        "a submission on a committee connection",
    );
    wrong.conn.close(0u32.into(), b"done");
    drop(wrong);

    // (e) `fedhe client` with identities it must not run as: it refuses to
    // start (its own certificate is checked for the client role before it
    // connects), naming the problem, and exits non-zero.
    let cases = [
        ("admin", fx.cert("ca", ADMIN, "admin"), "admin"),
        (
            "committee",
            fx.cert("ca", SPARE_COMMITTEE, "committee"),
            "committee",
        ),
        (
            "other-ca",
            fx.cert("other/ca", FIRST_CLIENT, "client"),
            "not issued by this federation's CA",
        ),
    ];
    for (tag, cert, word) in cases {
        let cfg = run.write_client_config(9000, &cert, 0);
        let cfg_s = cfg.display().to_string();
        let p = run.spawn_other(&format!("client-as-{tag}"), &["client", "--config", &cfg_s]);
        let st = p.wait_exit(Duration::from_secs(60));
        let err = p.stderr();
        eprintln!("fedhe client as {tag}: {st}: {}", err.trim());
        assert!(!st.success(), "fedhe client with a {tag} certificate ran");
        assert!(err.contains(word), "fedhe client as {tag}: {err}");
        assert!(
            p.events("connected").is_empty(),
            "it never connected: {}",
            p.tail(10)
        );
    }

    // The round the intruders could not disturb completes, with every
    // invited client, ours included; then the run.
    rt.block_on(async {
        raw::send(&rc, &mine).await;
        rc.receipt(1, LONG).await;
    });
    let honest = rt.spawn(raw::keep_submitting(rc, fed.clone()));
    for r in 1..=2 {
        let v = round_done_ok(&run, r);
        assert_eq!(v["contributors"], v["invited"], "{v}");
    }
    run.server()
        .wait_event("finished", None, Duration::from_secs(30));
    run.expect_participants_exit_ok(Duration::from_secs(60));
    honest.abort();
    run.audit_verify();
}

/// A frame header for `kind` announcing `len` body bytes.
fn header(kind: u8, len: u32) -> Vec<u8> {
    let mut h = vec![b'F', b'H', b'P', fedhe_protocols::PROTOCOL_VERSION, kind];
    h.extend_from_slice(&len.to_le_bytes());
    assert_eq!(h.len(), FRAME_HEADER_LEN);
    h
}

#[test]
fn bad_frames_from_an_authenticated_client() {
    let fx = Fixture::get();
    let mut spec = RunSpec::new("frames");
    spec.rounds = 2;
    let mut run = Run::new(spec);
    run.start_server();
    for id in MEMBERS {
        run.start_member(id);
    }
    let rt = raw::runtime();
    let trust = raw::trust(fx);
    let fed = raw::federation(fx);
    let me = raw::credentials(fx, &fx.cert("ca", RAW_CLIENT, "client"));
    // Connected before the clients start: invited to round 1.
    let mut rc = rt.block_on(RawClient::connect(&trust, &me, RAW_CLIENT, run.addr));
    for i in 0..CLIENTS as u32 {
        run.start_client(FIRST_CLIENT + i);
    }
    let open = rt.block_on(rc.round_open(1, LONG));
    let cursor = run.server().len();
    let limits = fedhe_node::server::frame_limits(&fed, DIM);
    let s1 = rc.submission(&fed, open);
    let mut future = match Message::decode(&s1, &fedhe_protocols::Limits::DEFAULT) {
        Ok(Message::Submission(s)) => s,
        other => panic!("{other:?}"),
    };
    // A round that is not open (the server checks the round before the
    // signature, which covers the round).
    future.round = RoundId(999);
    let future = Message::Submission(future).encode().expect("encode");
    let mut truncated = header(Kind::Submission.byte(), 100);
    truncated.extend_from_slice(&[0u8; 10]);
    let mut malformed = header(Kind::Submission.byte(), 64);
    malformed.extend_from_slice(&[0xa5; 64]);
    let mut share = header(Kind::DecryptShare.byte(), 32);
    share.extend_from_slice(&[7; 32]);
    let over = header(Kind::Submission.byte(), limits.bulk + 1);
    assert!(FrameHeader::parse(over[..FRAME_HEADER_LEN].try_into().expect("9"), &limits).is_err());
    rt.block_on(async {
        raw::send(&rc, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        raw::send(&rc, &over).await;
        raw::send(&rc, &header(0x63, 0)).await;
        raw::send(&rc, &truncated).await;
        raw::send(&rc, &malformed).await;
        raw::send(&rc, &share).await;
        raw::send(&rc, &future).await;
        // The honest submission, then the same frame again at once (a
        // replay; the second arrives while the round is still open).
        raw::send(&rc, &s1).await;
        raw::send(&rc, &s1).await;
        rc.receipt(1, LONG).await;
    });
    let id = Some(RAW_CLIENT);
    for (words, what) in [
        (&["bad_header"][..], "garbage bytes"),
        (&["oversized"][..], "a header announcing an oversized body"),
        (&["unknown_kind"][..], "an unknown kind"),
        (&["truncated"][..], "a frame cut short"),
        (&["Malformed"][..], "a body that does not decode"),
        (
            &["role", "DecryptShare", "client connection"][..],
            "a decryption share from a client",
        ),
        (&["StaleRound", "999"][..], "a frame for round 999"),
        (&["ReplayedSubmission"][..], "the replayed submission"),
    ] {
        expect_refused(&run, cursor, id, words, what);
    }
    let v = round_done_ok(&run, 1);
    assert_eq!(
        v["contributors"], v["invited"],
        "every invited client, ours once: {v}"
    );

    // Round 2: our round-1 submission again (a replay from a closed round),
    // then an honest one.
    let cursor = run.server().len();
    rt.block_on(async {
        let open2 = rc.round_open(2, LONG).await;
        raw::send(&rc, &s1).await;
        let s2 = rc.submission(&fed, open2);
        raw::send(&rc, &s2).await;
        rc.receipt(2, LONG).await;
    });
    expect_refused(
        &run,
        cursor,
        id,
        &["StaleRound", "round 1 while 2 is open"],
        "a round-1 submission in round 2",
    );
    let v = round_done_ok(&run, 2);
    assert_eq!(v["contributors"], v["invited"], "{v}");
    run.server()
        .wait_event("finished", None, Duration::from_secs(30));
    run.expect_participants_exit_ok(Duration::from_secs(60));
    let refused = run
        .server()
        .events("refused")
        .into_iter()
        .filter(|v| v["peer"].as_u64() == Some(u64::from(RAW_CLIENT)))
        .count();
    assert!(refused >= 9, "{refused} refusals of our client");
    run.audit_verify();
    // Nothing of ours beyond the two honest submissions was stored.
    let audit = fedhe_node::store::Store::open_read_only(
        &run.server_dir().join(fedhe_node::store::DB_FILE),
    )
    .expect("store")
    .audit_entries(0, 10_000)
    .expect("audit");
    let ours = audit
        .iter()
        .filter(|e| e.kind == "submission_accepted")
        .filter(|e| {
            serde_json::from_str::<Value>(&e.payload).expect("payload")["sender"]
                == u64::from(RAW_CLIENT)
        })
        .count();
    assert_eq!(ours, 2, "one accepted submission of ours per round");
}
