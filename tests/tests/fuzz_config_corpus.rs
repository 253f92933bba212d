//! Replays every file of `fuzz/corpus/config/` and `fuzz/regressions/config/`
//! through the `config` fuzz target's entry point, without cargo-fuzz: the
//! target's module (`fuzz/src/config_target.rs`) is compiled here as well,
//! and asserts the invariants. Also checks that the committed seeds include
//! an accepted configuration of each kind, and replays the documented
//! examples of `crates/config/examples/` (as they are now) too.

#[path = "../../fuzz/src/config_target.rs"]
mod config_target;

use std::path::PathBuf;

use config_target::{CONFIG_TARGET, config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(kind: &str) -> Vec<Vec<u8>> {
    let dir = root().join("fuzz").join(kind).join(CONFIG_TARGET);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    entries
        .map(|e| std::fs::read(e.expect("dir entry").path()).expect("read corpus file"))
        .collect()
}

#[test]
fn every_config_corpus_and_regression_file_replays() {
    let corpus = files("corpus");
    assert!(!corpus.is_empty(), "fuzz/corpus/config is empty");
    for data in corpus.iter().chain(&files("regressions")) {
        config(data);
    }
}

#[test]
fn the_seeds_hold_an_accepted_config_of_each_kind_and_the_examples_replay() {
    // Hand-written seeds are named after their kind (`serve-…`,
    // `example-client.toml`, …) and must be accepted by its parser.
    let dir = root().join("fuzz/corpus").join(CONFIG_TARGET);
    let mut kinds = [0usize; 3];
    for e in std::fs::read_dir(&dir).expect("corpus") {
        let path = e.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let kind = name.trim_start_matches("example-");
        let ok = if kind.starts_with("serve") {
            kinds[0] += 1;
            fedhe_config::ServeConfig::from_toml(&text).map(|_| ())
        } else if kind.starts_with("client") {
            kinds[1] += 1;
            fedhe_config::ClientConfig::from_toml(&text).map(|_| ())
        } else if kind.starts_with("committee") {
            kinds[2] += 1;
            fedhe_config::CommitteeConfig::from_toml(&text).map(|_| ())
        } else {
            continue;
        };
        if let Err(e) = ok {
            panic!("seed {name} is refused by its parser: {e}");
        }
    }
    assert!(
        kinds.iter().all(|&k| k > 0),
        "a seed of each kind: {kinds:?}"
    );
    let examples = root().join("crates/config/examples");
    for e in std::fs::read_dir(&examples).expect("examples") {
        config(&std::fs::read(e.expect("entry").path()).expect("read example"));
    }
}
