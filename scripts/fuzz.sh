#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets in fuzz/ (docs/fuzzing.md), each for a
# bounded time, starting from its committed corpus and its regressions.
#
#   scripts/fuzz.sh                  # every target, 20 s each (what CI runs)
#   scripts/fuzz.sh 600 state_file   # one target for ten minutes
#
# New inputs go to a scratch corpus (printed at the end), not into fuzz/corpus.
# A crash stops the run with the input's path and the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/venv.sh

TARGETS=(job_file config_set metadata state_file rest exposition)
secs="${1:-${TIDEMARK_FUZZ_SECONDS:-20}}"
shift || true
[ "$#" -gt 0 ] && TARGETS=("$@")

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz
fi
ensure_test_venv
# cargo-fuzz needs nightly flags (-Zsanitizer); the machine has one stable
# toolchain, which accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
fuzz_target_dir="${TIDEMARK_FUZZ_TARGET_DIR:-$HOME/.cache/tidemark-fuzz-target}"

# RocksDB's C++ takes 10-20 minutes to compile and the sanitizer flags would
# compile it again: link the archive the main release build made (the same
# sources and version: fuzz/Cargo.lock pins librocksdb-sys as Cargo.lock does).
rocks_version=$(awk '/^name = "librocksdb-sys"/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
fuzz_rocks_version=$(awk '/^name = "librocksdb-sys"/ { getline; gsub(/"/, "", $3); print $3 }' fuzz/Cargo.lock)
if [ "$rocks_version" != "$fuzz_rocks_version" ]; then
  say "fuzz/Cargo.lock has librocksdb-sys $fuzz_rocks_version, Cargo.lock $rocks_version: make them agree (cargo update -p librocksdb-sys --precise $rocks_version in fuzz/)"
  exit 1
fi
archive=$(ls -t "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)
if [ -z "$archive" ]; then
  say "building the main release once for its RocksDB archive (cargo build --release --bins)"
  cargo build --release --bins
  archive=$(ls -t "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out/librocksdb.a | head -1)
fi
export ROCKSDB_LIB_DIR="$(dirname "$archive")" ROCKSDB_STATIC=1
say "fuzz build (cargo fuzz build, address sanitizer, debug assertions; RocksDB from $ROCKSDB_LIB_DIR)"
cargo fuzz build --debug-assertions --target-dir "$fuzz_target_dir"

# A folder per run: each run starts from the committed inputs alone, so what
# CI runs does not depend on what earlier runs on the machine found.
scratch="${TMPDIR:-/tmp}/tidemark-fuzz/$(date -u +%Y%m%dT%H%M%S)-$$"
mkdir -p "$scratch"
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t" "$scratch/$t/new" "$scratch/$t/artifacts"
  say "$t: fuzzing for $secs s from $(ls "fuzz/corpus/$t" | wc -l) corpus inputs and $(ls "fuzz/regressions/$t" | wc -l) regressions"
  # -rss_limit_mb / -malloc_limit_mb: an allocation out of proportion to a
  # small input is a bug; -timeout: so is an input that takes seconds.
  if ! cargo fuzz run --debug-assertions --target-dir "$fuzz_target_dir" "$t" \
      "$scratch/$t/new" "fuzz/corpus/$t" "fuzz/regressions/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -print_final_stats=1 \
      -artifact_prefix="$scratch/$t/artifacts/" 2>"$scratch/$t/log"; then
    tail -60 "$scratch/$t/log" >&2
    say "$t FAILED: the input is in $scratch/$t/artifacts/; reproduce with"
    say "  ROCKSDB_LIB_DIR=$ROCKSDB_LIB_DIR ROCKSDB_STATIC=1 RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions --target-dir $fuzz_target_dir $t <that file>"
    say "then fix it and copy the file into fuzz/regressions/$t/ (tests/tests/fuzz_corpora.rs replays it)"
    exit 1
  fi
  grep -a -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$scratch/$t/log" | tr '\n' ' ' >&2 || true
  echo >&2
done
say "fuzzing: ${#TARGETS[@]} targets passed; new inputs under $scratch/*/new"
