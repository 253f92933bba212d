//! `fedhe audit verify` and `fedhe models list|show|export` against a store
//! built with the library API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use fedhe_node::store::{self, NewModel, RoundCompletion, Store};
use serde_json::{Value, json};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fedhe-cli-store-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fedhe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedhe"))
        .args(args)
        .output()
        .expect("run fedhe")
}

fn stdout_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

fn failed(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn params(v: u64) -> Vec<f32> {
    (0..12).map(|i| i as f32 * 0.25 - v as f32).collect()
}

/// Initial model, two completed rounds (versions 1 and 2), one failed round.
fn build(dir: &Path) {
    let mut s = Store::open(&dir.join(store::DB_FILE)).expect("open");
    s.insert_initial_model(
        1_700_000_000_000,
        &NewModel {
            version: 0,
            parent: None,
            params: params(0),
            metrics_json: "{}".into(),
            hyperparams_json: json!({"model": "logreg"}).to_string(),
        },
    )
    .expect("initial");
    for (round, version) in [(1u64, 1u64), (2, 2)] {
        s.open_round(round, 1_700_000_000_000 + round as i64 * 1000, b"rec")
            .expect("open round");
        for sender in 1..=3u32 {
            s.add_submission(round, sender, &[sender as u8; 8])
                .expect("submission");
        }
        s.complete_round(&RoundCompletion {
            round,
            completed_at_ms: 1_700_000_000_500 + round as i64 * 1000,
            model: NewModel {
                version,
                parent: Some(version - 1),
                params: params(version),
                metrics_json: json!({"accuracy": 0.8 + version as f64 / 100.0, "loss": 0.5})
                    .to_string(),
                hyperparams_json: json!({"lr": 0.1, "clip": 1.0}).to_string(),
            },
            ledger_entry: Some(json!({"round": round}).to_string().into_bytes()),
            epsilon_spent: 0.5 * round as f64,
            summary_json: "{}".into(),
        })
        .expect("complete");
    }
    s.open_round(3, 1_700_000_004_000, b"rec").expect("open");
    s.fail_round(3, 1_700_000_004_100, "too few contributors")
        .expect("fail");
}

fn d(dir: &TempDir) -> &str {
    dir.0.to_str().expect("utf-8 temp path")
}

#[test]
fn audit_verify_ok_and_tampered() {
    let dir = TempDir::new("audit");
    build(&dir.0);
    let head = Store::open_read_only(&dir.0.join(store::DB_FILE))
        .expect("open")
        .verify_audit()
        .expect("verify");

    let v = stdout_json(&fedhe(&[
        "audit",
        "verify",
        "--data-dir",
        d(&dir),
        "--json",
    ]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], head.entries);
    assert_eq!(v["head"], store::hex(&head.head));
    let human = fedhe(&["audit", "verify", "--data-dir", d(&dir)]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("verified"));

    // Edit the file directly (bypassing SQLite and its triggers): change the
    // sender of one accepted submission in its audit payload.
    let db = dir.0.join(store::DB_FILE);
    let mut bytes = std::fs::read(&db).expect("read db");
    let needle = br#""sender":2}"#;
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert!(!hits.is_empty(), "payload text in the main database file");
    bytes[hits[0] + needle.len() - 2] = b'7';
    std::fs::write(&db, &bytes).expect("write db");

    let o = fedhe(&["audit", "verify", "--data-dir", d(&dir), "--json"]);
    let err = failed(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("BROKEN at entry"), "{err}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    assert!(v["seq"].as_u64().expect("seq") >= 2);
    assert!(v["reason"].as_str().expect("reason").contains("hash"));
}

#[test]
fn models_list_show_export() {
    let dir = TempDir::new("models");
    build(&dir.0);

    let v = stdout_json(&fedhe(&["models", "list", "--data-dir", d(&dir), "--json"]));
    let models = v["models"].as_array().expect("models array");
    assert_eq!(models.len(), 3);
    for (i, m) in models.iter().enumerate() {
        for key in [
            "version",
            "parent",
            "round",
            "digest",
            "created_at_ms",
            "created",
            "epsilon_spent",
            "accuracy",
            "loss",
            "n_params",
        ] {
            assert!(m.get(key).is_some(), "key {key} in {m}");
        }
        assert_eq!(m["version"], i as u64);
        assert_eq!(
            m["digest"],
            store::hex(&store::model_params_digest(i as u64, &params(i as u64)))
        );
        assert_eq!(m["n_params"], 12);
    }
    assert!(models[0]["parent"].is_null());
    assert!(models[0]["accuracy"].is_null());
    assert_eq!(models[2]["parent"], 1);
    assert_eq!(models[2]["round"], 2);
    assert_eq!(models[2]["accuracy"], 0.8 + 2.0 / 100.0);
    assert_eq!(models[2]["epsilon_spent"], 1.0);
    assert_eq!(models[1]["created"], "2023-11-14T22:13:21Z");
    let human = fedhe(&["models", "list", "--data-dir", d(&dir)]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("version") && text.lines().count() == 4,
        "{text}"
    );

    let v = stdout_json(&fedhe(&[
        "models",
        "show",
        "latest",
        "--data-dir",
        d(&dir),
        "--json",
    ]));
    assert_eq!(v["version"], 2);
    assert_eq!(v["digest_verified"], true);
    assert_eq!(v["metrics"]["loss"], 0.5);
    assert_eq!(v["hyperparams"]["lr"], 0.1);
    assert_eq!(v["params"]["min"], -2.0);
    let v = stdout_json(&fedhe(&[
        "models",
        "show",
        "0",
        "--data-dir",
        d(&dir),
        "--json",
    ]));
    assert_eq!(v["hyperparams"]["model"], "logreg");
    assert!(
        fedhe(&["models", "show", "1", "--data-dir", d(&dir)])
            .status
            .success()
    );

    let out = dir.0.join("model.npy");
    let out_s = out.to_str().expect("utf-8");
    let v = stdout_json(&fedhe(&[
        "models",
        "export",
        "1",
        "--data-dir",
        d(&dir),
        "--out",
        out_s,
        "--json",
    ]));
    assert_eq!(v["path"], out_s);
    assert_eq!(v["n_params"], 12);
    assert_eq!(
        v["digest"],
        store::hex(&store::model_params_digest(1, &params(1)))
    );
    let arr: ndarray::Array1<f32> = ndarray_npy::read_npy(&out).expect("read npy");
    assert_eq!(arr.to_vec(), params(1));

    // No overwrite without --force.
    let err = failed(&fedhe(&[
        "models",
        "export",
        "latest",
        "--data-dir",
        d(&dir),
        "--out",
        out_s,
    ]));
    assert!(err.contains("--force"), "{err}");
    let arr: ndarray::Array1<f32> = ndarray_npy::read_npy(&out).expect("read npy");
    assert_eq!(arr.to_vec(), params(1));
    let o = fedhe(&[
        "models",
        "export",
        "latest",
        "--data-dir",
        d(&dir),
        "--out",
        out_s,
        "--force",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("12 float32"));
    let arr: ndarray::Array1<f32> = ndarray_npy::read_npy(&out).expect("read npy");
    assert_eq!(arr.to_vec(), params(2));
}

#[test]
fn bad_arguments_fail_cleanly() {
    let dir = TempDir::new("bad");
    // A directory without a store.
    let err = failed(&fedhe(&["audit", "verify", "--data-dir", d(&dir)]));
    assert!(
        err.contains("--data-dir") && err.contains(store::DB_FILE),
        "{err}"
    );
    assert!(
        !dir.0.join(store::DB_FILE).exists(),
        "readers never create a store"
    );
    let missing = dir.0.join("nope");
    let err = failed(&fedhe(&[
        "models",
        "list",
        "--data-dir",
        missing.to_str().expect("utf-8"),
    ]));
    assert!(err.contains("--data-dir"), "{err}");

    build(&dir.0);
    let err = failed(&fedhe(&["models", "show", "9", "--data-dir", d(&dir)]));
    assert!(err.contains("VERSION 9"), "{err}");
    let err = failed(&fedhe(&["models", "show", "newest", "--data-dir", d(&dir)]));
    assert!(err.contains("latest"), "{err}");
    let out = dir.0.join("x.npy");
    let err = failed(&fedhe(&[
        "models",
        "export",
        "9",
        "--data-dir",
        d(&dir),
        "--out",
        out.to_str().expect("utf-8"),
    ]));
    assert!(err.contains("VERSION 9"), "{err}");
    assert!(!out.exists());
    let err = failed(&fedhe(&[
        "models",
        "export",
        "1",
        "--data-dir",
        d(&dir),
        "--out",
        dir.0.join("no/such/dir/x.npy").to_str().expect("utf-8"),
    ]));
    assert!(err.contains("--out"), "{err}");

    // A file that is not a store.
    let other = TempDir::new("notstore");
    std::fs::write(other.0.join(store::DB_FILE), b"not a database at all").expect("write");
    let err = failed(&fedhe(&["models", "list", "--data-dir", d(&other)]));
    assert!(err.contains("--data-dir"), "{err}");
}
