//! Writes the seed corpus of the `dataset` fuzz target:
//! `cargo run -p fedhe-learn --features fuzzing --example gen_fuzz_corpus -- fuzz/corpus`
//! (files named for what they hold, in `fuzz/corpus/dataset/`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus"), PathBuf::from);
    let dir = root.join("dataset");
    std::fs::create_dir_all(&dir)?;
    for (name, data) in fedhe_learn::fuzzing::seeds() {
        assert!(
            fedhe_learn::fuzzing::accepted(&data).is_some(),
            "seed {name} is refused"
        );
        std::fs::write(dir.join(name), &data)?;
        println!("{} ({} bytes)", dir.join(name).display(), data.len());
    }
    Ok(())
}
