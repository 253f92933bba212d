//! The CI smoke run of the fuzz targets, inside `cargo test --workspace`
//! (CI runs nothing else and has no cargo-fuzz): builds every target of the
//! fuzz workspace (`fuzz/`, its own cargo workspace) the way cargo-fuzz
//! does, with plain cargo, the libFuzzer flags of `fuzz/rustflags` and the
//! `smoke` profile of `fuzz/Cargo.toml`, into `fuzz/target/<host>/smoke/`
//! (its own target directory, so the nested cargo never waits for the outer
//! one's lock); then runs each target for a few seconds over a copy of its
//! committed corpus and regression inputs in a temporary directory (the
//! committed corpus stays untouched), two at a time, and fails if any
//! crashes, hangs (`-timeout`), exceeds the allocation guard or the RSS
//! limit, or does not finish.
//!
//! Environment: `FEDHE_FUZZ_SMOKE_SECS` (seconds per target, default 5),
//! `FEDHE_FUZZ_SMOKE_TARGET_DIR` (build elsewhere, e.g. to time a clean
//! build), `FEDHE_SKIP_FUZZ_SMOKE=1` (skip it, outside CI only, while
//! iterating on something else). See `fuzz/README.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .canonicalize()
        .expect("fuzz/ next to tests/")
}

/// The flags of `fuzz/rustflags`, comments and blank lines left out.
fn rustflags(fuzz: &Path) -> String {
    std::fs::read_to_string(fuzz.join("rustflags"))
        .expect("fuzz/rustflags")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The host triple (cargo-fuzz builds with an explicit `--target` so that
/// the flags do not reach build scripts and proc macros).
fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_owned()
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`.
fn targets(fuzz: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut in_bin = false;
    let mut v = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(rest) = line.strip_prefix("name = \"") {
            v.push(rest.trim_end_matches('"').to_owned());
        }
    }
    v
}

fn copy_inputs(fuzz: &Path, target: &str, into: &Path) -> usize {
    std::fs::create_dir_all(into).expect("corpus copy");
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in entries {
            let from = e.expect("entry").path();
            let name = format!(
                "{kind}-{}",
                from.file_name().expect("name").to_string_lossy()
            );
            std::fs::copy(&from, into.join(name)).expect("copy corpus file");
            n += 1;
        }
    }
    n
}

struct Outcome {
    target: String,
    ok: bool,
    summary: String,
}

fn run_target(bin: &Path, work: &Path, target: &str, secs: u64, inputs: usize) -> Outcome {
    let dir = work.join(target);
    let log = work.join(format!("{target}.log"));
    let status = Command::new(bin)
        .arg(dir.join("corpus"))
        .arg(format!("-max_total_time={secs}"))
        .arg("-rss_limit_mb=1024")
        .arg("-timeout=30")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", dir.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::fs::File::create(work.join(format!("{target}.err"))).expect("log"))
        .status();
    let err = std::fs::read_to_string(work.join(format!("{target}.err"))).unwrap_or_default();
    let done = err
        .lines()
        .rev()
        .find(|l| l.contains("DONE"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    let ok = matches!(&status, Ok(s) if s.success()) && done.is_some();
    let summary = match (&status, done) {
        (Ok(s), Some(d)) if s.success() => format!("{inputs} inputs, {d}"),
        _ => {
            let tail: Vec<&str> = err.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!(
                "FAILED ({status:?}); artifacts in {}; last lines:\n{}",
                dir.display(),
                tail.join("\n")
            )
        }
    };
    Outcome {
        target: target.to_owned(),
        ok,
        summary,
    }
}

#[test]
fn every_fuzz_target_builds_and_survives_a_short_run() {
    if std::env::var_os("FEDHE_SKIP_FUZZ_SMOKE").is_some() && std::env::var_os("CI").is_none() {
        eprintln!("fuzz smoke skipped (FEDHE_SKIP_FUZZ_SMOKE)");
        return;
    }
    let secs: u64 = std::env::var("FEDHE_FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let fuzz = fuzz_dir();
    let triple = host_triple();
    let target_dir = std::env::var_os("FEDHE_FUZZ_SMOKE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let status = Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(fuzz.join("Cargo.toml"))
        .args(["--profile", "smoke", "--bins", "--target", &triple])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags(&fuzz))
        // Whatever the outer cargo or the shell set must not redirect or
        // re-flag the nested build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .status()
        .expect("run cargo build for fuzz/");
    assert!(
        status.success(),
        "building the fuzz targets failed ({status}); the build is \
         `RUSTFLAGS=\"$(grep -v '^#' fuzz/rustflags)\" cargo build --manifest-path fuzz/Cargo.toml \
         --profile smoke --bins --target {triple}`"
    );
    let built = started.elapsed();
    let bins = target_dir.join(&triple).join("smoke");
    let names = targets(&fuzz);
    assert!(names.len() >= 21, "fuzz targets: {names:?}");
    let work = std::env::temp_dir().join(format!("fedhe-fuzz-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let queue: Mutex<Vec<(String, usize)>> = Mutex::new(
        names
            .iter()
            .rev()
            .map(|t| {
                let n = copy_inputs(&fuzz, t, &work.join(t).join("corpus"));
                assert!(n > 0, "fuzz target {t} has no committed corpus");
                (t.clone(), n)
            })
            .collect(),
    );
    let outcomes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some((t, n)) = next else { break };
                    let o = run_target(&bins.join(&t), &work, &t, secs, n);
                    outcomes.lock().expect("outcomes").push(o);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("outcomes");
    outcomes.sort_by(|a, b| a.target.cmp(&b.target));
    for o in &outcomes {
        eprintln!("{}: {}", o.target, o.summary);
    }
    eprintln!(
        "fuzz smoke: built in {:.0?}, {} targets × {secs} s, {:.0?} in all",
        built,
        outcomes.len(),
        started.elapsed()
    );
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.target.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "fuzz targets failed the smoke run: {failed:?} (inputs and logs kept in {}; \
         reproduce with fuzz/run.sh TARGET SECONDS)",
        work.display()
    );
    let _ = std::fs::remove_dir_all(&work);
}
