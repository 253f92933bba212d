//! Writes the seed corpus of the `store` fuzz target:
//! `cargo run -p fedhe-node --features fuzzing --example gen_fuzz_corpus -- fuzz/corpus`.
//! File names are the first 16 hex digits of the content's BLAKE3 hash, so
//! rerunning it adds nothing twice.

use std::path::PathBuf;

use fedhe_node::fuzzing::{TARGETS, seed_corpus};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".to_owned()),
    );
    for t in TARGETS {
        let dir = root.join(t);
        std::fs::create_dir_all(&dir)?;
        for s in seed_corpus() {
            let h = blake3::hash(&s).to_hex();
            std::fs::write(dir.join(format!("seed-{}", &h[..16])), &s)?;
        }
        println!("{t}: {} files", std::fs::read_dir(&dir)?.count());
    }
    Ok(())
}
