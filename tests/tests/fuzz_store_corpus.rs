//! Replays every file of `fuzz/corpus/store/` and `fuzz/regressions/store/`
//! through the `store` fuzz target's entry point
//! (`fedhe_node::fuzzing::run`, which asserts its invariants), without
//! cargo-fuzz, and checks that the committed seeds are still what the
//! generator writes (a change of the input format must regenerate them:
//! `cargo run -p fedhe-node --features fuzzing --example gen_fuzz_corpus -- fuzz/corpus`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use fedhe_node::fuzzing::{TARGETS, run, seed_corpus};

fn dir(kind: &str, target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target)
}

fn files(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir(kind, target)) else {
        return vec![];
    };
    entries
        .map(|e| std::fs::read(e.expect("dir entry").path()).expect("read corpus file"))
        .collect()
}

#[test]
fn every_store_corpus_and_regression_file_replays() {
    for t in TARGETS {
        let corpus = files("corpus", t);
        assert!(!corpus.is_empty(), "fuzz/corpus/{t} is empty");
        for data in corpus.iter().chain(&files("regressions", t)) {
            assert!(run(t, data), "unknown target {t}");
        }
    }
}

#[test]
fn the_committed_seeds_are_the_generated_ones() {
    let committed: BTreeSet<Vec<u8>> = files("corpus", "store").into_iter().collect();
    for s in seed_corpus() {
        assert!(
            committed.contains(&s),
            "a generated seed of the store target is not committed; run \
             cargo run -p fedhe-node --features fuzzing --example gen_fuzz_corpus -- fuzz/corpus"
        );
    }
}
