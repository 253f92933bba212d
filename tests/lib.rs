//! Helpers for fedhe's end-to-end tests: they run the `fedhe` binary the way
//! a user does. `cargo test --workspace` builds the binary before any test runs.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Path of the `fedhe` binary built alongside this test executable.
pub fn fedhe_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/fedhe
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let bin = dir.join(format!("fedhe{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run the tests with `cargo test --workspace` so the CLI is built",
        bin.display()
    );
    bin
}

/// Runs `fedhe ARGS`, returning its output.
pub fn fedhe(args: &[&str]) -> Output {
    Command::new(fedhe_bin())
        .args(args)
        .output()
        .expect("run fedhe")
}

/// Runs `fedhe ARGS`, asserts success, and parses stdout as JSON.
pub fn fedhe_json(args: &[&str]) -> serde_json::Value {
    let out = fedhe(args);
    assert!(
        out.status.success(),
        "fedhe {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fedhe {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
