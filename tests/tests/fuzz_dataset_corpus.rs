//! Replays every file of `fuzz/corpus/dataset/` and
//! `fuzz/regressions/dataset/` through the `dataset` fuzz target's entry
//! point (`fedhe_learn::fuzzing::run`), without cargo-fuzz; the entry point
//! asserts the target's invariants. Also checks that the committed seeds
//! hold an accepted input of every format, plain and gzip (regenerate them
//! with `cargo run -p fedhe-learn --features fuzzing --example
//! gen_fuzz_corpus -- fuzz/corpus`).

use std::path::PathBuf;

use fedhe_learn::fuzzing::{FORMATS, TARGETS, accepted, run};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join("dataset");
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
fn every_dataset_corpus_and_regression_file_replays() {
    assert_eq!(TARGETS, ["dataset"]);
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        for (path, data) in files(kind) {
            eprintln!("{}", path.display());
            assert!(run("dataset", &data), "unknown target dataset");
            n += 1;
        }
    }
    assert!(n > 0, "no dataset corpus under {}", fuzz_dir().display());
    assert!(
        fuzz_dir().join("fuzz_targets/dataset.rs").exists(),
        "fuzz/fuzz_targets/dataset.rs missing"
    );
    eprintln!("replayed {n} files");
}

#[test]
fn the_seeds_hold_an_accepted_input_of_every_format() {
    let seeds: Vec<_> = files("corpus")
        .into_iter()
        .filter_map(|(path, data)| accepted(&data).map(|a| (path, a)))
        .collect();
    for f in FORMATS {
        let of = |gzip: bool| seeds.iter().any(|(_, a)| a.format == *f && a.gzip == gzip);
        assert!(of(false), "no committed seed of format {f} is accepted");
        if *f != "npy" {
            // `load_npy` reads no gzip; the others gunzip `.gz` files.
            assert!(of(true), "no committed gzip seed of format {f} is accepted");
        }
    }
    // The multi-file readers: an IDX images/labels pair, `.npy` with and
    // without a split mask.
    assert!(
        seeds
            .iter()
            .any(|(_, a)| a.format == "idx-images" && a.files == 2)
    );
    assert!(seeds.iter().any(|(_, a)| a.format == "npy" && a.files == 2));
    assert!(seeds.iter().any(|(_, a)| a.format == "npy" && a.files == 3));
}
