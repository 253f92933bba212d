//! Replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` of the key-ceremony fuzz targets through
//! their entry points (`fedhe_keys::fuzzing::run`), without cargo-fuzz. Each
//! entry point asserts its target's invariants. Also checks that the
//! committed seeds still pass the production parsers of the fuzzing world
//! (a corpus made for another world would only exercise the first checks):
//! regenerate it with
//! `cargo run -p fedhe-keys --features fuzzing --example gen_fuzz_corpus -- fuzz/corpus`.

use std::path::PathBuf;

use fedhe_keys::fuzzing::{TARGETS, accepted, run, seeds};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(target: &str, kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut v: Vec<_> = entries
        .map(|e| {
            let path = e.expect("dir entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            (path, data)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_key_corpus_and_regression_file_replays() {
    let mut replayed = 0;
    for t in TARGETS {
        let mut n = 0;
        for kind in ["corpus", "regressions"] {
            for (path, data) in files(t, kind) {
                eprintln!("{}", path.display());
                assert!(run(t, &data), "unknown target {t}");
                n += 1;
            }
        }
        assert!(
            n > 0,
            "target {t} has no corpus under {}",
            fuzz_dir().display()
        );
        replayed += n;
    }
    eprintln!("replayed {replayed} files");
}

#[test]
fn the_committed_seeds_still_pass_the_parsers_of_the_fuzzing_world() {
    for t in TARGETS {
        assert!(
            seeds(t).iter().any(|s| accepted(t, s)),
            "no generated seed of {t} passes its parser"
        );
        assert!(
            files(t, "corpus").iter().any(|(_, d)| accepted(t, d)),
            "no committed file of fuzz/corpus/{t} passes its parser in the current fuzzing \
             world: regenerate the corpus (cargo run -p fedhe-keys --features fuzzing \
             --example gen_fuzz_corpus -- fuzz/corpus)"
        );
    }
}

#[test]
fn every_key_target_has_a_fuzz_target_file() {
    for t in TARGETS {
        let p = fuzz_dir().join("fuzz_targets").join(format!("{t}.rs"));
        assert!(p.exists(), "{} missing", p.display());
    }
}
