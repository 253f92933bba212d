//! The binary starts, documents itself, and refuses unknown commands cleanly.
//! (Its presence also makes `cargo test --workspace` build the `fedhe`
//! binary that the end-to-end tests in `tests/` run.)

use std::process::Command;

fn fedhe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fedhe"))
        .args(args)
        .output()
        .expect("run fedhe")
}

#[test]
fn help_lists_the_commands() {
    let out = fedhe(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["params", "bench", "privacy", "dp", "train"] {
        assert!(text.contains(cmd), "--help does not mention {cmd}: {text}");
    }
}

#[test]
fn unknown_commands_and_flags_fail_without_panicking() {
    for args in [
        &["frobnicate"][..],
        &["params", "--no-such-flag"],
        &["bench", "nothing"],
    ] {
        let out = fedhe(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}
