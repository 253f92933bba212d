//! The durable store: round lifecycle, refusals that change nothing,
//! restarts, atomic completion, digest checks and the audit chain.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use fedhe_node::store::{
    self, AuditSummary, NewModel, RoundCompletion, Store, StoreError, model_params_digest,
};
use serde_json::json;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fedhe-store-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
    fn db(&self) -> PathBuf {
        self.0.join(store::DB_FILE)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn model(version: u64, parent: Option<u64>, n: usize) -> NewModel {
    NewModel {
        version,
        parent,
        params: (0..n).map(|i| i as f32 * 0.5 - version as f32).collect(),
        metrics_json: json!({"accuracy": 0.5 + version as f64 / 100.0, "loss": 1.0}).to_string(),
        hyperparams_json: json!({"lr": 0.1, "local_epochs": 1}).to_string(),
    }
}

fn completion(round: u64, version: u64, eps: f64) -> RoundCompletion {
    RoundCompletion {
        round,
        completed_at_ms: 1_000 * round as i64 + 900,
        model: model(version, Some(version - 1), 10),
        ledger_entry: Some(
            json!({"round": round, "epsilon": eps})
                .to_string()
                .into_bytes(),
        ),
        epsilon_spent: eps,
        summary_json: json!({"contributors": 3}).to_string(),
    }
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

#[test]
fn store_is_send() {
    fn send<T: Send>() {}
    send::<Store>();
    send::<StoreError>();
}

#[test]
fn round_lifecycle() {
    let dir = TempDir::new("lifecycle");
    let mut s = Store::open(&dir.db()).expect("open");
    assert_eq!(s.current_round().expect("current"), None);
    assert_eq!(s.last_round().expect("last"), None);
    let id0 = s
        .insert_initial_model(10, &model(0, None, 10))
        .expect("initial")
        .expect("inserted");
    assert_eq!(
        id0.digest,
        model_params_digest(0, &model(0, None, 10).params)
    );
    // A second initial model is a no-op.
    assert_eq!(
        s.insert_initial_model(11, &model(0, None, 3))
            .expect("again"),
        None
    );

    s.open_round(1, 1_000, b"round record").expect("open round");
    let open = s.current_round().expect("current").expect("open");
    assert_eq!(open.round, 1);
    assert_eq!(open.started_at_ms, 1_000);
    assert_eq!(open.record, b"round record");
    assert_eq!(open.closed_at_ms, None);
    // Another round may not open while 1 is open.
    assert!(matches!(
        s.open_round(2, 1_001, b"x"),
        Err(StoreError::RoundAlreadyOpen {
            open: 1,
            requested: 2
        })
    ));

    for sender in [7u32, 3, 5] {
        s.add_submission(1, sender, &[sender as u8; 20])
            .expect("submission");
    }
    // Submissions to a round that is not the open one are refused.
    assert!(matches!(
        s.add_submission(2, 9, b"f"),
        Err(StoreError::NotOpenRound {
            round: 2,
            open: Some(1)
        })
    ));
    let subs = s.submissions(1).expect("submissions");
    assert_eq!(
        subs.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![7, 3, 5]
    );
    assert_eq!(subs[1].1, vec![3u8; 20]);

    s.mark_collection_closed(1, 1_500).expect("close");
    assert_eq!(
        s.current_round()
            .expect("current")
            .expect("open")
            .closed_at_ms,
        Some(1_500)
    );
    assert!(matches!(
        s.add_submission(1, 8, b"late"),
        Err(StoreError::CollectionClosed { round: 1 })
    ));
    assert!(matches!(
        s.mark_collection_closed(1, 1_600),
        Err(StoreError::CollectionClosed { round: 1 })
    ));

    s.add_share(1, 0, [1; 32], b"share 0").expect("share");
    s.add_share(1, 2, [1; 32], b"share 2").expect("share");
    assert!(matches!(
        s.add_share(1, 2, [1; 32], b"again"),
        Err(StoreError::DuplicateShare {
            round: 1,
            member: 2
        })
    ));
    let shares = s.shares(1).expect("shares");
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[1].member, 2);
    assert_eq!(shares[1].aggregate_digest, [1; 32]);
    assert_eq!(shares[1].frame, b"share 2");

    let id1 = s.complete_round(&completion(1, 1, 0.5)).expect("complete");
    assert_eq!(id1.version, 1);
    assert_eq!(s.current_round().expect("current"), None);
    assert_eq!(s.last_round().expect("last"), Some(1));

    // Round ids only grow.
    assert!(matches!(
        s.open_round(1, 2_000, b"x"),
        Err(StoreError::RoundNotIncreasing {
            requested: 1,
            last: 1
        })
    ));
    s.open_round(3, 3_000, b"r3").expect("open 3");
    s.add_submission(3, 1, b"f").expect("submission");
    s.fail_round(3, 3_500, "too few contributors")
        .expect("fail");
    assert_eq!(s.current_round().expect("current"), None);
    assert!(s.submissions(3).expect("subs").is_empty());
    assert_eq!(s.last_round().expect("last"), Some(3));
    assert!(matches!(
        s.fail_round(3, 3_600, "again"),
        Err(StoreError::NotOpenRound {
            round: 3,
            open: None
        })
    ));

    let models = s.models().expect("models");
    assert_eq!(
        models.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(models[1].parent, Some(0));
    assert_eq!(models[1].round, Some(1));
    assert_eq!(models[1].n_params, 10);
    assert_eq!(models[1].epsilon_spent, 0.5);
    assert_eq!(models[0].round, None);
    let latest = s.latest_model().expect("latest").expect("some");
    assert_eq!(latest.summary.version, 1);
    assert_eq!(latest.params, model(1, Some(0), 10).params);
    assert!(matches!(s.model(9), Err(StoreError::Missing { .. })));

    let kinds: Vec<String> = s
        .audit_entries(1, 100)
        .expect("entries")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "initial_model",
            "round_opened",
            "submission_accepted",
            "submission_accepted",
            "submission_accepted",
            "collection_closed",
            "share_received",
            "share_received",
            "round_completed",
            "round_opened",
            "submission_accepted",
            "round_failed",
        ]
    );
    let v = s.verify_audit().expect("verify");
    assert_eq!(v.entries, 12);
}

#[test]
fn duplicate_submission_refused_and_nothing_lost() {
    let dir = TempDir::new("dup");
    let mut s = Store::open(&dir.db()).expect("open");
    s.open_round(4, 0, b"r").expect("open round");
    s.add_submission(4, 11, b"first").expect("first");
    let head = s.verify_audit().expect("verify");
    let err = s
        .add_submission(4, 11, b"second")
        .expect_err("duplicate refused");
    assert!(matches!(
        err,
        StoreError::DuplicateSubmission {
            round: 4,
            sender: 11
        }
    ));
    assert!(err.to_string().contains("sender 11"), "{err}");
    assert_eq!(
        s.submissions(4).expect("subs"),
        vec![(11, b"first".to_vec())]
    );
    // The refusal left no audit entry either.
    assert_eq!(s.verify_audit().expect("verify"), head);
    s.add_submission(4, 12, b"other").expect("other sender");
    assert_eq!(s.submissions(4).expect("subs").len(), 2);
}

#[test]
fn reopen_keeps_everything() {
    let dir = TempDir::new("reopen");
    let head;
    {
        let mut s = Store::open(&dir.db()).expect("open");
        s.insert_initial_model(1, &model(0, None, 4))
            .expect("initial");
        s.open_round(1, 10, b"r1").expect("open");
        s.add_submission(1, 1, b"a").expect("sub");
        s.add_submission(1, 2, b"b").expect("sub");
        s.complete_round(&completion(1, 1, 0.25)).expect("complete");
        s.open_round(2, 20, b"r2").expect("open");
        s.add_submission(2, 5, b"pending").expect("sub");
        s.mark_collection_closed(2, 25).expect("close");
        s.add_share(2, 1, [9; 32], b"sh").expect("share");
        s.record_answered(2, [9; 32], 26).expect("answered");
        head = s.verify_audit().expect("verify");
        // Dropped without any explicit close or checkpoint: a restart.
    }
    let s = Store::open(&dir.db()).expect("reopen");
    let open = s.current_round().expect("current").expect("open round");
    assert_eq!((open.round, open.closed_at_ms), (2, Some(25)));
    assert_eq!(open.record, b"r2");
    assert_eq!(
        s.submissions(2).expect("subs"),
        vec![(5, b"pending".to_vec())]
    );
    assert_eq!(s.shares(2).expect("shares").len(), 1);
    assert_eq!(s.answered().expect("answered"), vec![(2, [9; 32])]);
    assert_eq!(s.models().expect("models").len(), 2);
    assert_eq!(s.ledger().expect("ledger").len(), 1);
    assert_eq!(s.verify_audit().expect("verify"), head);
    drop(s);
    // The read-only view sees the same.
    let r = Store::open_read_only(&dir.db()).expect("read-only");
    assert!(r.is_read_only());
    assert_eq!(r.verify_audit().expect("verify"), head);
    assert_eq!(r.last_round().expect("last"), Some(2));
}

#[test]
fn committed_data_survives_a_dropped_handle_mid_use() {
    // Each method commits before returning: whatever returned Ok is in the
    // file even if the process never gets to clean up (the second handle
    // reads it while the first is still alive, then the first is dropped).
    let dir = TempDir::new("crash");
    let mut a = Store::open(&dir.db()).expect("open");
    a.open_round(1, 0, b"r").expect("open");
    a.add_submission(1, 42, b"acked").expect("sub");
    let b = Store::open_read_only(&dir.db()).expect("second handle");
    assert_eq!(
        b.submissions(1).expect("subs"),
        vec![(42, b"acked".to_vec())]
    );
    // A failed write leaves nothing half-done.
    assert!(a.add_submission(1, 42, b"dup").is_err());
    std::mem::forget(a); // no destructor: like a killed process
    drop(b);
    let c = Store::open(&dir.db()).expect("reopen");
    assert_eq!(
        c.submissions(1).expect("subs"),
        vec![(42, b"acked".to_vec())]
    );
    c.verify_audit().expect("verify");
}

#[test]
fn complete_round_is_atomic() {
    let dir = TempDir::new("atomic");
    let mut s = Store::open(&dir.db()).expect("open");
    s.insert_initial_model(0, &model(0, None, 10))
        .expect("initial");
    s.open_round(1, 0, b"r").expect("open");
    s.add_submission(1, 1, b"a").expect("sub");
    s.add_share(1, 0, [3; 32], b"s").expect("share");
    // A completion that fails half-way (model version not increasing) changes nothing.
    let mut bad = completion(1, 1, 0.5);
    bad.model.version = 0;
    bad.model.parent = None;
    assert!(matches!(
        s.complete_round(&bad),
        Err(StoreError::ModelVersion { version: 0, .. })
    ));
    let mut bad = completion(1, 1, 0.5);
    bad.model.parent = Some(77);
    assert!(matches!(
        s.complete_round(&bad),
        Err(StoreError::ModelVersion { version: 1, .. })
    ));
    let mut bad = completion(1, 1, 0.5);
    bad.epsilon_spent = f64::NAN;
    assert!(matches!(
        s.complete_round(&bad),
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(s.submissions(1).expect("subs").len(), 1);
    assert_eq!(s.shares(1).expect("shares").len(), 1);
    assert!(s.ledger().expect("ledger").is_empty());
    assert_eq!(s.models().expect("models").len(), 1);
    assert_eq!(s.current_round().expect("cur").map(|r| r.round), Some(1));

    let c = completion(1, 1, 0.5);
    let id = s.complete_round(&c).expect("complete");
    assert_eq!(id.digest, model_params_digest(1, &c.model.params));
    assert!(s.submissions(1).expect("subs").is_empty());
    assert!(s.shares(1).expect("shares").is_empty());
    let ledger = s.ledger().expect("ledger");
    assert_eq!(ledger, vec![(1, c.ledger_entry.clone().expect("entry"))]);
    let m = s.model(1).expect("model");
    assert_eq!(m.params, c.model.params);
    assert_eq!(m.summary.digest, id.digest);
    assert_eq!(m.summary.created_at_ms, c.completed_at_ms);
    let last = s.audit_entries(1, 100).expect("entries");
    let last = last.last().expect("an entry");
    assert_eq!(last.kind, "round_completed");
    let p: serde_json::Value = serde_json::from_str(&last.payload).expect("json");
    assert_eq!(p["model_version"], 1);
    assert_eq!(p["model_digest"], store::hex(&id.digest));
    assert_eq!(p["epsilon_spent"], 0.5);
    assert_eq!(p["submissions_discarded"], 1);
}

#[test]
fn submission_audit_holds_digest_not_frame() {
    let dir = TempDir::new("auditfr");
    let mut s = Store::open(&dir.db()).expect("open");
    s.open_round(1, 0, b"r").expect("open");
    let frame = b"SECRET-CIPHERTEXT-BYTES";
    s.add_submission(1, 3, frame).expect("sub");
    let e = s.audit_entries(2, 1).expect("entries");
    assert_eq!(e[0].kind, "submission_accepted");
    let p: serde_json::Value = serde_json::from_str(&e[0].payload).expect("json");
    assert_eq!(p["sender"], 3);
    assert_eq!(
        p["frame_digest"],
        store::hex(blake3::hash(frame).as_bytes())
    );
    assert!(!e[0].payload.contains("SECRET"));
}

#[test]
fn model_digest_verified_on_read() {
    let dir = TempDir::new("digest");
    let mut s = Store::open(&dir.db()).expect("open");
    s.insert_initial_model(0, &model(0, None, 8))
        .expect("initial");
    s.model(0).expect("intact");
    {
        let c = raw(&dir.db());
        let blob: Vec<u8> = c
            .query_row("SELECT params FROM models WHERE version = 0", [], |r| {
                r.get(0)
            })
            .expect("blob");
        let mut blob = blob;
        blob[5] ^= 0x40;
        c.execute("UPDATE models SET params = ?1 WHERE version = 0", [blob])
            .expect("tamper");
    }
    assert!(matches!(s.model(0), Err(StoreError::Corrupt { .. })));
    assert!(matches!(s.latest_model(), Err(StoreError::Corrupt { .. })));
    // A truncated blob is corrupt too, not a panic.
    raw(&dir.db())
        .execute("UPDATE models SET params = x'0102' WHERE version = 0", [])
        .expect("truncate");
    let err = s.model(0).expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    // Listing still works (it does not read the parameters).
    assert_eq!(s.models().expect("models").len(), 1);
}

fn filled(dir: &TempDir) -> AuditSummary {
    let mut s = Store::open(&dir.db()).expect("open");
    s.open_round(1, 100, b"r").expect("open");
    for sender in 0..4 {
        s.add_submission(1, sender, b"f").expect("sub");
    }
    s.append_audit(150, "note", &json!({"text": "hello"}))
        .expect("append");
    let v = s.verify_audit().expect("verify");
    assert_eq!(v.entries, 6);
    v
}

#[test]
fn audit_triggers_refuse_update_and_delete() {
    let dir = TempDir::new("trig");
    filled(&dir);
    let c = raw(&dir.db());
    assert!(
        c.execute("UPDATE audit SET payload = '{}' WHERE seq = 2", [])
            .is_err()
    );
    assert!(c.execute("DELETE FROM audit WHERE seq = 3", []).is_err());
    drop(c);
    Store::open_read_only(&dir.db())
        .expect("open")
        .verify_audit()
        .expect("still intact");
}

#[test]
fn audit_tampered_payload_detected() {
    let dir = TempDir::new("tamper");
    filled(&dir);
    let c = raw(&dir.db());
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .expect("drop triggers");
    c.execute(
        "UPDATE audit SET payload = replace(payload, '\"sender\":3', '\"sender\":9') WHERE seq = 5",
        [],
    )
    .expect("tamper");
    let p: String = c
        .query_row("SELECT payload FROM audit WHERE seq = 5", [], |r| r.get(0))
        .expect("payload");
    assert!(p.contains("\"sender\":9"), "{p}");
    drop(c);
    let s = Store::open_read_only(&dir.db()).expect("open");
    match s.verify_audit() {
        Err(StoreError::AuditBroken { seq, reason }) => {
            assert_eq!(seq, 5, "{reason}");
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("expected AuditBroken, got {other:?}"),
    }
    drop(s);
    // A read-write open re-creates the triggers.
    drop(Store::open(&dir.db()).expect("open rw"));
    assert!(
        raw(&dir.db())
            .execute("DELETE FROM audit WHERE seq = 1", [])
            .is_err()
    );
}

#[test]
fn audit_rehashed_entry_breaks_the_next_link() {
    let dir = TempDir::new("rehash");
    filled(&dir);
    let c = raw(&dir.db());
    c.execute_batch("DROP TRIGGER audit_no_update;")
        .expect("drop trigger");
    // Rewrite entry 3 consistently with its own hash: entry 4's prev no longer matches.
    let (at_ms, kind, prev): (i64, String, Vec<u8>) = c
        .query_row(
            "SELECT at_ms, kind, prev FROM audit WHERE seq = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    let payload = r#"{"forged":true}"#;
    let prev: [u8; 32] = prev.try_into().expect("32 bytes");
    let h = store::audit_entry_hash(3, at_ms, &kind, payload, &prev);
    c.execute(
        "UPDATE audit SET payload = ?1, hash = ?2 WHERE seq = 3",
        rusqlite::params![payload, &h[..]],
    )
    .expect("tamper");
    drop(c);
    let s = Store::open_read_only(&dir.db()).expect("open");
    match s.verify_audit() {
        Err(StoreError::AuditBroken { seq, reason }) => {
            assert_eq!(seq, 4, "{reason}");
            assert!(reason.contains("prev"), "{reason}");
        }
        other => panic!("expected AuditBroken, got {other:?}"),
    }
}

#[test]
fn audit_deleted_middle_row_detected() {
    let dir = TempDir::new("delete");
    filled(&dir);
    let c = raw(&dir.db());
    c.execute_batch("DROP TRIGGER audit_no_delete;")
        .expect("drop trigger");
    c.execute("DELETE FROM audit WHERE seq = 3", [])
        .expect("delete");
    drop(c);
    let s = Store::open_read_only(&dir.db()).expect("open");
    let err = s.verify_audit().expect_err("broken");
    assert!(
        matches!(err, StoreError::AuditBroken { seq: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("entry 3"), "{err}");
}

#[test]
fn audit_garbage_columns_are_reported_not_panicking() {
    let dir = TempDir::new("garbage");
    filled(&dir);
    let c = raw(&dir.db());
    c.execute_batch("DROP TRIGGER audit_no_update;")
        .expect("drop trigger");
    c.execute("UPDATE audit SET hash = x'00', kind = 7 WHERE seq = 2", [])
        .expect("tamper");
    drop(c);
    let s = Store::open_read_only(&dir.db()).expect("open");
    assert!(matches!(
        s.verify_audit(),
        Err(StoreError::AuditBroken { seq: 2, .. })
    ));
}

#[test]
fn read_only_open_of_missing_file() {
    let dir = TempDir::new("missing");
    let err = Store::open_read_only(&dir.db()).expect_err("missing");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(store::DB_FILE), "{err}");
    assert!(
        !dir.db().exists(),
        "read-only open must not create the file"
    );
}

#[test]
fn newer_schema_and_foreign_files_refused() {
    let dir = TempDir::new("schema");
    drop(Store::open(&dir.db()).expect("create"));
    raw(&dir.db())
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    assert!(matches!(
        Store::open(&dir.db()),
        Err(StoreError::SchemaVersion {
            found: 99,
            expected: 1
        })
    ));
    assert!(matches!(
        Store::open_read_only(&dir.db()),
        Err(StoreError::SchemaVersion { found: 99, .. })
    ));

    let other = dir.0.join("other.sqlite");
    raw(&other)
        .execute_batch("CREATE TABLE t (x INTEGER);")
        .expect("foreign db");
    assert!(matches!(
        Store::open(&other),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open_read_only(&other),
        Err(StoreError::NotAStore { .. })
    ));

    let junk = dir.0.join("junk.sqlite");
    std::fs::write(&junk, vec![0x5a; 8192]).expect("junk");
    assert!(Store::open(&junk).is_err());
    assert!(Store::open_read_only(&junk).is_err());
}

#[test]
fn answered_is_idempotent() {
    let dir = TempDir::new("answered");
    let mut s = Store::open(&dir.db()).expect("open");
    s.record_answered(5, [1; 32], 10).expect("answer");
    s.record_answered(5, [1; 32], 11).expect("again");
    s.record_answered(5, [2; 32], 12).expect("other aggregate");
    s.record_answered(6, [1; 32], 13).expect("next round");
    assert_eq!(
        s.answered().expect("answered"),
        vec![(5, [1; 32]), (5, [2; 32]), (6, [1; 32])]
    );
    assert_eq!(s.verify_audit().expect("verify").entries, 3);
}

#[test]
fn u64_out_of_range_refused() {
    let dir = TempDir::new("range");
    let mut s = Store::open(&dir.db()).expect("open");
    assert!(matches!(
        s.open_round(u64::MAX, 0, b"r"),
        Err(StoreError::OutOfRange { .. })
    ));
    assert_eq!(s.last_round().expect("last"), None);
}

#[test]
fn named_counters_persist() {
    let dir = TempDir::new("meta");
    {
        let mut s = Store::open(&dir.db()).expect("open");
        assert_eq!(s.meta_u64("budget").expect("read"), None);
        s.set_meta_u64("budget", 3).expect("set");
        s.set_meta_u64("budget", 3).expect("unchanged");
        s.set_meta_u64("budget", 4).expect("set");
        assert_eq!(s.verify_audit().expect("verify").entries, 2);
    }
    let s = Store::open(&dir.db()).expect("reopen");
    assert_eq!(s.meta_u64("budget").expect("read"), Some(4));
}
