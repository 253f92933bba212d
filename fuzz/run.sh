#!/usr/bin/env bash
# Runs one fuzz target (or all) for SECONDS each, starting from the
# committed corpus and regression inputs, with libFuzzer on the stable
# toolchain (no sanitizer).
#
#   fuzz/run.sh TARGET SECONDS     e.g. fuzz/run.sh message 600
#   fuzz/run.sh all SECONDS
#   fuzz/run.sh list
#
# Needs no cargo-fuzz: it builds with plain cargo exactly as
# `cargo fuzz build --sanitizer none --release` does (the flags of
# fuzz/rustflags plus -Ccodegen-units=1, --target HOST, line tables, into
# fuzz/target/HOST/release/), so cargo-fuzz's own commands reuse that build.
# Crashes land in fuzz/artifacts/TARGET/; minimize one with
#   cargo fuzz tmin --sanitizer none TARGET fuzz/artifacts/TARGET/crash-…
# (or the binary: fuzz/target/HOST/release/TARGET -minimize_crash=1 -runs=10000 FILE),
# fix the bug, and copy the input to fuzz/regressions/TARGET/ (replayed by
# `cargo test --workspace`).
set -euo pipefail
cd "$(dirname "$0")"
targets=$(awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 } bin && $1 == "name" { gsub(/"/, "", $3); print $3 }' Cargo.toml)
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
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="$(grep -v '^#' rustflags | tr '\n' ' ') -Ccodegen-units=1" \
  cargo build --manifest-path Cargo.toml --target "$host" --target-dir target \
  --release --config 'profile.release.debug="line-tables-only"' --bins
for t in $run; do
  mkdir -p "corpus/$t" "work/$t" "artifacts/$t"
  inputs=("corpus/$t")
  [[ -d "regressions/$t" ]] && inputs+=("regressions/$t")
  echo "== $t: ${secs}s"
  # work/ holds what libFuzzer adds; corpus/ and regressions/ stay as committed.
  "target/$host/release/$t" "work/$t" "${inputs[@]}" \
    -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" \
    2>&1 | tee "work/$t.log" | grep -E '^(#[0-9]+[[:space:]]+DONE|stat::|==|INFO: Seed|SUMMARY|.*panicked)' || true
  grep -q 'DONE' "work/$t.log" || { echo "$t did not finish cleanly: see fuzz/work/$t.log" >&2; exit 1; }
done
