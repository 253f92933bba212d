#!/usr/bin/env bash
# Runs one fuzz target (or all) for SECONDS each with cargo-fuzz on the
# stable toolchain (no sanitizer), starting from the committed corpus.
#
#   fuzz/run.sh TARGET SECONDS     e.g. fuzz/run.sh message 600
#   fuzz/run.sh all SECONDS
#   fuzz/run.sh list
#
# Needs `cargo install cargo-fuzz --locked`. Crashes land in
# fuzz/artifacts/TARGET/; minimize one with
#   cargo fuzz tmin --sanitizer none TARGET fuzz/artifacts/TARGET/crash-…
# and copy the result to fuzz/regressions/TARGET/ (replayed by
# `cargo test --workspace`, tests/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^fedhe-fuzz$')
if [[ "${1:-}" == "list" ]]; then
  echo "$targets"
  exit 0
fi
if [[ $# -ne 2 ]]; then
  echo "usage: fuzz/run.sh TARGET|all SECONDS   (targets: fuzz/run.sh list)" >&2
  exit 2
fi
what=$1
secs=$2
if [[ "$what" == "all" ]]; then
  run=$targets
else
  echo "$targets" | grep -qx "$what" || { echo "unknown target '$what' (fuzz/run.sh list)" >&2; exit 2; }
  run=$what
fi
cargo fuzz build --sanitizer none --release
for t in $run; do
  mkdir -p "corpus/$t" "work/$t"
  echo "== $t: ${secs}s"
  # work/ holds what libFuzzer adds; corpus/ stays as committed.
  cargo fuzz run --sanitizer none --release "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 \
    2>&1 | tee "work/$t.log" | grep -E '^(#[0-9]+[[:space:]]+DONE|stat::|==|INFO: Seed|SUMMARY|.*panicked)' || true
  grep -q 'DONE' "work/$t.log" || { echo "$t did not finish cleanly: see fuzz/work/$t.log" >&2; exit 1; }
done
