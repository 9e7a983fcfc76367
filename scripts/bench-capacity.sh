#!/usr/bin/env bash
# The capacity model against measurement (docs/benchmarks.md, docs/doctor.md):
# for each workload, a run paced at RATE_SHARE of a first unpaced run's rate
# reads the doctor's predicted maximum sustainable rate (`GET /jobs/:id/doctor`,
# capacity) after WINDOW_S seconds; an unpaced run of the same length reads the
# rate the job reaches. Paced and unpaced alternate (A B A B), ROUNDS times;
# prints each pair, the medians and the model's error (predicted / reached - 1).
# Usage: scripts/bench-capacity.sh [ROUNDS] (default 3)
# Environment: WORKLOADS ("heap-p1 rocksdb-p1 heap-p2") RATE_SHARE (0.3) WINDOW_S (15)
#   KEYS (100000) WORK (/tmp/tidemark-bench-capacity) TIDEMARK_BIN (a built binary: skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export ROUNDS="${1:-3}"
# TIDEMARK_BIN=PATH uses that binary instead of building one (the smoke tests).
if [ -z "${TIDEMARK_BIN:-}" ]; then cargo build --release --bins; fi
export BIN="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
export WORK="${WORK:-/tmp/tidemark-bench-capacity}"
rm -rf "$WORK"; mkdir -p "$WORK"
python3 scripts/bench_capacity.py
