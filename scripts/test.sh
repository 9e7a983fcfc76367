#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, rustdoc, the generated docs
# being current, then all unit and integration tests (release profile, one build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/install-test-deps.sh
export TIDEMARK_VENV="${TIDEMARK_VENV:-$HOME/.cache/tidemark-venv}"
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (warnings are errors)"
cargo clippy --release --workspace --all-targets -- -D warnings
say "cargo doc (the library's documentation, warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --workspace
say "building the tidemark binary the integration tests run"
cargo build --release --bins
say "checking that docs/metrics.md, docs/configuration.md and docs/doctor.md are generated from the code"
bin="$CARGO_TARGET_DIR/release/tidemark"
diff -u docs/metrics.md <("$bin" metrics-doc) || { say "docs/metrics.md is stale: run '$bin metrics-doc > docs/metrics.md'"; exit 1; }
diff -u docs/configuration.md <("$bin" config-doc) || { say "docs/configuration.md is stale: run '$bin config-doc > docs/configuration.md'"; exit 1; }
diff -u docs/doctor.md <("$bin" doctor-doc) || { say "docs/doctor.md is stale: run '$bin doctor-doc > docs/doctor.md'"; exit 1; }
say "fuzzing every target for ${TIDEMARK_FUZZ_SECONDS:-20} s (scripts/fuzz.sh; docs/fuzzing.md)"
bash scripts/fuzz.sh "${TIDEMARK_FUZZ_SECONDS:-20}"
say "cargo test (unit, property and integration tests)"
log="${TMPDIR:-/tmp}/tidemark-test-$$.log"
cargo test --release --workspace 2>&1 | tee "$log"
# One closing line with the totals over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
rm -f "$log"
