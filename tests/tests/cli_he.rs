//! `fedhe params` and `fedhe bench he` as a user runs them.

use fedhe_tests::{fedhe, fedhe_json};

#[test]
fn params_reports_margins_for_every_preset() {
    for preset in ["default", "compact"] {
        let v = fedhe_json(&["params", "--preset", preset, "--json"]);
        assert!(
            v["security_bits"].as_u64().expect("security_bits") >= 128,
            "{v}"
        );
        assert!(v["log2_failure_probability"].as_f64().expect("failure") <= -64.0);
        assert!(v["bytes_per_value"].as_f64().expect("bytes") > 0.0);
        assert!(v["flooding_sigma"].as_f64().expect("sigma") <= 2f64.powi(50));
    }
    let v = fedhe_json(&[
        "params",
        "--preset",
        "default",
        "--clients",
        "100",
        "--committee",
        "5/7",
        "--json",
    ]);
    assert_eq!(v["committee"]["threshold"], 5);
    assert_eq!(v["contributors"], 100);
    let list = fedhe_json(&["params", "--list", "--json"]);
    assert_eq!(list.as_array().expect("list").len(), 2);
}

#[test]
fn params_refuses_unsafe_or_malformed_requests_with_a_reason() {
    for (args, needle) in [
        (
            vec!["params", "--preset", "compact", "--clients", "100000"],
            "allows",
        ),
        (vec!["params", "--preset", "nope"], "unknown preset"),
        (vec!["params", "--committee", "4/3"], "1 <= T <= N"),
        (vec!["params", "--committee", "three"], "T/N"),
        (
            vec!["params", "--preset", "test-insecure-64"],
            "unknown preset",
        ),
    ] {
        let out = fedhe(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn bench_he_is_exact_and_reports_every_key() {
    for (preset, committee) in [("default", "3/5"), ("compact", "2/3")] {
        let v = fedhe_json(&[
            "bench",
            "he",
            "--preset",
            preset,
            "--values",
            "5000",
            "--clients",
            "4",
            "--committee",
            committee,
            "--threads",
            "1",
            "--json",
        ]);
        assert_eq!(v["exact"], true, "{v}");
        for key in [
            "encrypt_s_per_mvalue",
            "add_s_per_mvalue",
            "partial_decrypt_s_per_mvalue",
            "combine_s_per_mvalue",
            "bytes_per_value",
        ] {
            assert!(v[key].as_f64().expect(key) > 0.0, "{key} in {v}");
        }
    }
    let out = fedhe(&["bench", "he", "--values", "0"]);
    assert!(!out.status.success());
}
