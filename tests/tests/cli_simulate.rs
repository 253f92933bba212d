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
