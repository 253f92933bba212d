//! `fedhe simulate --transport memory` as a user runs it: a short private
//! run on the embedded digits data with the default (secure) preset.

use fedhe_tests::fedhe;

#[test]
fn simulate_memory_writes_report_and_plot() {
    let dir = std::env::temp_dir().join(format!("fedhe-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let report = dir.join("r.json");
    let plot = dir.join("r.png");
    let out = fedhe(&[
        "simulate",
        "--transport",
        "memory",
        "--clients",
        "40",
        "--clients-per-round",
        "20",
        "--min-clients",
        "10",
        "--rounds",
        "2",
        "--epsilon",
        "8",
        "--client-dropout",
        "0.2",
        "--report",
        report.to_str().expect("path"),
        "--plot",
        plot.to_str().expect("path"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report json");
    assert_eq!(v, file);
    assert_eq!(v["rounds"].as_array().expect("rounds").len(), 2);
    assert_eq!(v["committee_threshold"], 3);
    assert_eq!(v["committee_members"], 5);
    assert_eq!(v["preset"], "default");
    assert!(v["he"].as_bool().expect("he"));
    assert!(v["epsilon_spent"].as_f64().expect("eps") <= 8.0);
    assert!(v["bytes_uploaded_per_client"].as_f64().expect("bytes") > 0.0);
    for key in [
        "accuracy",
        "loss",
        "epsilon",
        "contributors",
        "bytes_uploaded_per_client",
        "time",
    ] {
        assert!(!v["rounds"][0][key].is_null(), "round key {key}");
    }
    let png = std::fs::read(&plot).expect("plot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Per-round lines went to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("round    1/2"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_refuses_bad_flags_with_their_names() {
    for (args, flag) in [
        (vec!["--transport", "carrier-pigeon"], "--transport"),
        (vec!["--committee", "6/5"], "--committee"),
        (vec!["--preset", "tiny"], "--preset"),
        (vec!["--clients-per-round", "0"], "--clients-per-round"),
        (vec!["--min-clients", "500"], "min clients"),
        (vec!["--bits", "40"], "bits"),
        (vec!["--client-dropout", "1.5"], "client dropout"),
    ] {
        let mut a = vec!["simulate", "--rounds", "1"];
        a.extend(args);
        let out = fedhe(&a);
        assert!(!out.status.success(), "{a:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{a:?}: {err}");
        assert!(!err.contains("panicked"), "{a:?}: {err}");
    }
}

/// The README's main job, small: the default transport is QUIC over
/// loopback with mutual TLS; the report says so and carries the server's
/// metrics, and `--server-dir` keeps the store, whose audit chain and model
/// registry the CLI reads back.
#[test]
fn simulate_over_quic_by_default_keeps_a_verifiable_store() {
    let dir = std::env::temp_dir().join(format!("fedhe-simq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let report = dir.join("r.json");
    let plot = dir.join("r.png");
    let server = dir.join("server");
    let out = fedhe(&[
        "simulate",
        "--clients",
        "30",
        "--clients-per-round",
        "15",
        "--min-clients",
        "8",
        "--rounds",
        "2",
        "--server-dir",
        server.to_str().expect("path"),
        "--report",
        report.to_str().expect("path"),
        "--plot",
        plot.to_str().expect("path"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["transport"], "quic");
    let rounds = v["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2);
    for r in rounds {
        assert!(r["failed"].is_null(), "{r}");
    }
    let accepted: u64 = rounds
        .iter()
        .map(|r| r["contributors"].as_array().expect("contributors").len() as u64)
        .sum();
    assert_eq!(v["metrics"]["submissions_accepted_total"], accepted);
    let data_dir = server.join("server");
    let d = data_dir.to_str().expect("path");
    let audit = fedhe_tests::fedhe_json(&["audit", "verify", "--data-dir", d, "--json"]);
    assert_eq!(audit["ok"], true);
    let models = fedhe_tests::fedhe_json(&["models", "list", "--data-dir", d, "--json"]);
    assert_eq!(models["models"].as_array().expect("models").len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
