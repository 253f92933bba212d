//! Crash recovery of `fedhe serve` (separate processes on loopback, see
//! `tests/common_service/mod.rs`): the server is killed with SIGKILL at a
//! different point of each of three rounds and restarted on the same data
//! directory; clients and committee members reconnect by themselves.
//!
//! 1. round 1, during submissions: after at least one client printed its
//!    receipt, before collection closed;
//! 2. round 2, right after `collection_closed`, once the quorum's
//!    submissions are durable and before any decryption share (the members
//!    of round 2's decrypting set {3, 4, 5} are stopped with SIGSTOP so
//!    that the round cannot go on before the kill; continued after the
//!    restart);
//! 3. round 3, during decryption: after `decryption_requested` and the
//!    shares of members 101 and 105 stored by the server (member 104 of the
//!    set {1, 4, 5} stopped the same way).
//!
//! Our own QUIC client, connected before the others and reconnecting after
//! every restart, is invited to every round and never submits, so each
//! round's collection stays open until its deadline and the test stops
//! members at leisure; the test also waits for every running peer to be
//! connected before each kill (a peer caught in the middle of a handshake
//! by the kill can wait for its whole idle timeout, 60 s).
//!
//! After each restart the round completes; every client that printed a
//! receipt for it is among its contributors (the store's
//! `submission_accepted` entries, the `round_done` count, the model's
//! metrics); with DP off, `model_r − model_{r−1}` equals `server_lr ×` the
//! mean of the contributors' clipped local updates, recomputed here with
//! fedhe-learn exactly as the clients compute them, within the
//! quantization bound `γ·√d_padded` (L2); the audit chain verifies.
//!
//! Run: `cargo build -p fedhe && cargo test -p fedhe-tests --test service_crash`.

#[path = "../common_service/mod.rs"]
mod common_service;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common_service::raw;
use common_service::{
    BATCH, CLIENTS, DATA_SEED, DIM, EPOCHS, FIRST_CLIENT, Fixture, LR, MEMBERS, RAW_CLIENT, Run,
    RunSpec, l2,
};
use fedhe_learn::{FederatedData, ModelSpec, Partition, Samples, TrainConfig};
use fedhe_node::store::{DB_FILE, Store};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(180);

/// Each client's training part, as `fedhe client` loads it.
fn client_data() -> Vec<Samples> {
    let mut ds = fedhe_learn::digits().expect("digits");
    ds.standardize().expect("standardize");
    let p: Partition = "iid".parse().expect("iid");
    let parts = fedhe_learn::partition(p, ds.train.y(), ds.n_classes(), CLIENTS, DATA_SEED)
        .expect("partition");
    FederatedData::from_partition(&ds, &parts)
        .expect("split")
        .clients
}

/// Client `id`'s update in `round` from `params`, clipped to `clip` (L2).
fn clipped_update(params: &[f32], data: &Samples, round: u64, id: u32, clip: f64) -> Vec<f64> {
    let spec: ModelSpec = "softmax".parse().expect("spec");
    let train = TrainConfig {
        lr: LR as f32,
        batch_size: BATCH,
        epochs: EPOCHS,
        weight_decay: 0.0,
        prox_mu: 0.0,
    };
    let u = fedhe_learn::local_train(
        &spec,
        params,
        data,
        &train,
        fedhe_learn::client_seed(DATA_SEED, round as usize, id as usize),
    )
    .expect("local training");
    let x: Vec<f64> = u.delta.iter().map(|&v| f64::from(v)).collect();
    let n = l2(&x);
    let f = if n > clip { clip / n } else { 1.0 };
    x.into_iter().map(|v| v * f).collect()
}

/// The senders of the submissions the store accepted in `round`.
fn accepted(run: &Run, round: u64) -> BTreeSet<u32> {
    let s = Store::open_read_only(&run.server_dir().join(DB_FILE)).expect("store");
    s.audit_entries(0, 100_000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.kind == "submission_accepted")
        .filter_map(|e| {
            let p: Value = serde_json::from_str(&e.payload).expect("payload");
            (p["round"] == round).then(|| p["sender"].as_u64().expect("sender") as u32)
        })
        .collect()
}

/// Submissions the server stored for `round` (read while it runs).
fn stored_submissions(run: &Run, round: u64) -> usize {
    Store::open_read_only(&run.server_dir().join(DB_FILE))
        .and_then(|s| s.submissions(round))
        .map(|v| v.len())
        .unwrap_or(0)
}

/// Decryption shares the server stored for `round` (read while it runs).
fn stored_shares(run: &Run, round: u64) -> usize {
    Store::open_read_only(&run.server_dir().join(DB_FILE))
        .and_then(|s| s.shares(round))
        .map(|v| v.len())
        .unwrap_or(0)
}

/// Clients that printed a receipt for `round` so far.
fn receipted(run: &Run, round: u64) -> BTreeSet<u32> {
    run.clients
        .iter()
        .filter(|(_, p)| {
            p.events("receipted")
                .iter()
                .any(|v| v["round"].as_u64() == Some(round))
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Waits until `cond` holds, checking every 20 ms (for conditions with no
/// event line of their own: several processes' lines, the store).
fn until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the server killed last had not printed `round_done` for `round`.
fn not_done_at_kill(run: &Run, round: u64) -> bool {
    let killed = run.old_servers.last().expect("a killed server");
    killed
        .events("round_done")
        .iter()
        .all(|v| v["round"].as_u64() != Some(round))
}

fn restart(run: &mut Run, round: u64) {
    let t = Instant::now();
    run.start_server();
    let v = run.server().wait_event("round_opened", Some(round), LONG);
    assert_eq!(v["recovered"], true, "round {round} is recovered: {v}");
    eprintln!(
        "round {round}: restarted, recovered in {:.1} s: {v}",
        t.elapsed().as_secs_f64()
    );
}

/// Waits until every running client and member (all but `stopped`) is
/// connected to the current server incarnation (its last connection line
/// is a `connected` printed after the server's `listening`), and so is our
/// silent client (one connection per server incarnation). A peer caught in the middle of a
/// handshake by a kill can wait for its whole idle timeout (60 s): the test
/// kills only a fully connected federation.
fn all_connected(run: &Run, silent: &AtomicUsize, stopped: &[u32]) {
    let since = run.server_since.expect("a running server");
    let silent_min = run.old_servers.len() + 1;
    until("every peer connected to the current server", LONG, || {
        silent.load(Ordering::SeqCst) >= silent_min
            && run
                .clients
                .iter()
                .chain(run.members.iter())
                .filter(|(id, _)| !stopped.contains(id))
                .all(|(_, p)| {
                    p.lines_since(since)
                        .iter()
                        .rev()
                        .find(|v| v["event"] == "connected" || v["event"] == "disconnected")
                        .is_some_and(|v| v["event"] == "connected")
                })
    });
}

fn signal(run: &Run, members: &[u32], sig: &str) {
    for m in members {
        run.members[m].signal(sig);
    }
}

#[test]
fn server_killed_during_submissions_after_collection_and_during_decryption() {
    let fx = Fixture::get();
    let mut spec = RunSpec::new("crash");
    spec.rounds = 3;
    spec.dp = false;
    spec.min_clients = 4;
    spec.deadline_secs = 10;
    spec.share_timeout_secs = 10;
    spec.idle_secs = 4;
    let mut run = Run::new(spec);
    let t0 = Instant::now();
    run.start_server();
    // Our silent client, connected before the others and reconnecting
    // after every restart, is invited to every round and never submits:
    // each round's collection stays open until its deadline, so the test
    // stops members (SIGSTOP) at leisure after the round opens. The
    // clients connect next, and the members last: the server waits for
    // them before it opens round 1 to all seven.
    let rt = raw::runtime();
    let trust = raw::trust(fx);
    let me = raw::credentials(fx, &fx.cert("ca", RAW_CLIENT, "client"));
    let silent = raw::spawn_silent(&rt, &trust, &me, run.addr);
    until("our silent client connected", LONG, || {
        silent.load(Ordering::SeqCst) == 1
    });
    for i in 0..CLIENTS as u32 {
        run.start_client(FIRST_CLIENT + i);
    }
    all_connected(&run, &silent, &MEMBERS);
    for id in MEMBERS {
        run.start_member(id);
    }

    // (1) Round 1, during submissions. Member 102 (of round 1's set
    // {2, 3, 4}) is stopped until our client is back, so that round 2 opens
    // with it.
    let held = [MEMBERS[1]];
    let opened = run.server().wait_event("round_opened", Some(1), LONG);
    assert_eq!(opened["invited"], CLIENTS + 1, "ours too: {opened}");
    all_connected(&run, &silent, &[]);
    signal(&run, &held, "STOP");
    until("a receipt of round 1", LONG, || {
        !receipted(&run, 1).is_empty()
    });
    assert!(
        run.server().events("collection_closed").is_empty(),
        "collection of round 1 is still open"
    );
    let before = receipted(&run, 1);
    run.kill_server();
    eprintln!("round 1: killed after the receipts of {before:?}");
    restart(&mut run, 1);
    all_connected(&run, &silent, &held);
    signal(&run, &held, "CONT");
    let done1 = run.server().wait_event("round_done", Some(1), LONG);
    assert!(done1["failed"].is_null(), "{done1}\n{}", run.dump());

    // (2) Round 2, right after collection closed, once the quorum's
    // submissions are durable (`collection_closed` is printed when the last
    // one is taken, before the group commit) and before any decryption
    // share: round 2's decrypting set {3, 4, 5} is stopped.
    let set2 = [MEMBERS[2], MEMBERS[3], MEMBERS[4]];
    let opened = run.server().wait_event("round_opened", Some(2), LONG);
    assert_eq!(opened["invited"], CLIENTS + 1, "ours too: {opened}");
    signal(&run, &set2, "STOP");
    let closed = run.server().wait_event("collection_closed", Some(2), LONG);
    let quorum = closed["accepted"].as_u64().expect("accepted") as usize;
    until("the durable quorum of round 2", LONG, || {
        stored_submissions(&run, 2) == quorum
    });
    all_connected(&run, &silent, &set2);
    run.kill_server();
    assert!(
        not_done_at_kill(&run, 2),
        "round 2 was not done at the kill"
    );
    assert_eq!(stored_shares(&run, 2), 0, "no share before the kill");
    restart(&mut run, 2);
    all_connected(&run, &silent, &set2);
    signal(&run, &set2, "CONT");
    let done2 = run.server().wait_event("round_done", Some(2), LONG);
    assert!(done2["failed"].is_null(), "{done2}\n{}", run.dump());

    // (3) Round 3, during decryption: member 104 of the set {1, 4, 5} is
    // stopped; the kill comes once the server stored the other two shares.
    let held = [MEMBERS[3]];
    let opened = run.server().wait_event("round_opened", Some(3), LONG);
    assert_eq!(opened["invited"], CLIENTS + 1, "ours too: {opened}");
    signal(&run, &held, "STOP");
    let req = run
        .server()
        .wait_event("decryption_requested", Some(3), LONG);
    assert_eq!(req["set"], serde_json::json!([1, 4, 5]), "{req}");
    until("the shares of members 101 and 105 stored", LONG, || {
        stored_shares(&run, 3) == 2
    });
    all_connected(&run, &silent, &held);
    run.kill_server();
    assert!(
        not_done_at_kill(&run, 3),
        "round 3 was not done at the kill"
    );
    restart(&mut run, 3);
    all_connected(&run, &silent, &held);
    signal(&run, &held, "CONT");
    let done3 = run.server().wait_event("round_done", Some(3), LONG);
    assert!(done3["failed"].is_null(), "{done3}\n{}", run.dump());
    // The restarted server answers the request with the shares it had
    // stored and asks only the member that had not answered: no member is
    // asked twice about one aggregate (it would refuse), so no
    // re-randomized request.
    assert_eq!(
        done3["decryption_requests"], 1,
        "round 3 completes with the first request: {done3}"
    );
    run.server()
        .wait_event("finished", None, Duration::from_secs(30));
    run.expect_participants_exit_ok(Duration::from_secs(60));
    eprintln!(
        "three crashes and recoveries in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    for (id, m) in &run.members {
        let refused = m.events("refused");
        if !refused.is_empty() {
            eprintln!("member {id} refused: {refused:?}");
        }
    }
    for s in run.old_servers.iter().chain(run.server.iter()) {
        for v in s.events("decryption_requested") {
            eprintln!("{}: {v}", s.name);
        }
    }

    // Nothing acknowledged is lost; the update is the plaintext mean of
    // exactly the accepted submissions.
    run.audit_verify();
    let data = client_data();
    let models = run.models();
    assert_eq!(models.len(), 4, "{models:?}");
    let mut prev = run.model_export("0");
    for (r, done) in [(1u64, &done1), (2, &done2), (3, &done3)] {
        let c = accepted(&run, r);
        let rec = receipted(&run, r);
        assert!(
            rec.is_subset(&c),
            "round {r}: receipted {rec:?} ⊆ accepted {c:?}"
        );
        if r == 1 {
            assert!(before.is_subset(&c));
            assert!(!c.contains(&RAW_CLIENT), "the silent client sent nothing");
        }
        assert!(c.len() >= run.spec.min_clients as usize, "round {r}: {c:?}");
        assert_eq!(done["contributors"], c.len(), "round {r}: {done}");
        let show = run.model_show(&r.to_string());
        assert_eq!(show["metrics"]["contributors"], c.len(), "{show}");
        let gamma = show["hyperparams"]["gamma"].as_f64().expect("gamma");
        let server_lr = show["hyperparams"]["server_lr"].as_f64().expect("lr");
        let clip = run.spec.clip;
        let next = run.model_export(&r.to_string());
        assert_eq!(next.len(), DIM);
        let updates: Vec<(u32, Vec<f64>)> = c
            .iter()
            .map(|&id| {
                let u = clipped_update(&prev, &data[(id - FIRST_CLIENT) as usize], r, id, clip);
                (id, u)
            })
            .collect();
        let mean = |skip: Option<u32>| -> Vec<f64> {
            let us: Vec<&Vec<f64>> = updates
                .iter()
                .filter(|(id, _)| Some(*id) != skip)
                .map(|(_, u)| u)
                .collect();
            (0..DIM)
                .map(|j| us.iter().map(|u| u[j]).sum::<f64>() / us.len() as f64)
                .collect()
        };
        let step: Vec<f64> = next
            .iter()
            .zip(&prev)
            .map(|(a, b)| f64::from(*a) - f64::from(*b))
            .collect();
        let err = |m: &[f64]| -> f64 {
            let d: Vec<f64> = step.iter().zip(m).map(|(s, m)| s - server_lr * m).collect();
            l2(&d)
        };
        let padded = DIM.next_power_of_two() as f64;
        // Quantization, plus f32 rounding of the stored parameters.
        let bound = server_lr * gamma * padded.sqrt()
            + 1e-6 * (1.0 + l2(&prev.iter().map(|&x| f64::from(x)).collect::<Vec<_>>()));
        let m = mean(None);
        let e = err(&m);
        eprintln!(
            "round {r}: contributors {c:?}, |step| {:.4}, |error| {e:.2e} ≤ {bound:.2e} (γ = {gamma:.3e})",
            l2(&step)
        );
        assert!(
            e <= bound,
            "round {r}: the update differs from the plaintext mean of {c:?} by {e} > {bound}"
        );
        // The check tells contributor sets apart: the mean without any one
        // of them is far outside the bound.
        assert!(bound < 0.05 * l2(&m), "a meaningful bound: {bound}");
        for &id in &c {
            let e = err(&mean(Some(id)));
            assert!(e > 10.0 * bound, "round {r}: without {id}: {e} vs {bound}");
        }
        prev = next;
    }
}
