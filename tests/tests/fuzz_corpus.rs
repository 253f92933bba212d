//! Replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the fuzz target's entry point
//! (`fedhe_protocols::fuzzing::run`), without cargo-fuzz: the seed corpus,
//! whatever the fuzzer kept, and every minimized crash stay green in the
//! normal test suite. Each entry point asserts its target's invariants.

use std::path::PathBuf;

use fedhe_protocols::fuzzing::{TARGETS, run};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_corpus_and_regression_file_replays() {
    let mut replayed = 0;
    for t in TARGETS {
        let mut files = 0;
        for kind in ["corpus", "regressions"] {
            let dir = fuzz_dir().join(kind).join(t);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.expect("dir entry").path();
                let data = std::fs::read(&path).expect("read corpus file");
                assert!(run(t, &data), "unknown target {t}");
                files += 1;
            }
        }
        assert!(
            files > 0,
            "target {t} has no corpus under {}",
            fuzz_dir().display()
        );
        replayed += files;
    }
    eprintln!("replayed {replayed} files");
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for t in TARGETS {
        let p = fuzz_dir().join("fuzz_targets").join(format!("{t}.rs"));
        assert!(p.exists(), "{} missing", p.display());
    }
}
