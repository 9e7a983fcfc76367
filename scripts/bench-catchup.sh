#!/usr/bin/env bash
# The doctor's catch-up prediction against a measured catch-up (docs/benchmarks.md):
# a paced keyed-count whose source keeps its rate against the wall clock
# (`params.stream-start`, so records come due while the job is down) runs
# WARM_S seconds; its capacity (`GET /jobs/:id/doctor`) gives the headroom; it
# is SIGKILLed, stays down DOWN_S seconds, and is restored from its newest
# checkpoint. The backlog is the downtime and the replay since that
# checkpoint; the prediction is backlog time / (headroom - 1); the measurement
# is from when the restored job emits again until its source is back at the
# paced rate over a second (so it resolves about a second). ROUNDS rounds,
# each a fresh job; prints each, the medians and the error
# (predicted / measured - 1).
# Usage: scripts/bench-catchup.sh [ROUNDS] (default 3)
# Environment: RATE (25000) WORK_US (20: the count's CPU per record) WARM_S (22)
#   DOWN_S (10) INTERVAL_S (5) WORK (/tmp/tidemark-bench-catchup) TIDEMARK_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export ROUNDS="${1:-3}"
if [ -z "${TIDEMARK_BIN:-}" ]; then cargo build --release --bins; fi
export BIN="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
export WORK="${WORK:-/tmp/tidemark-bench-catchup}"
rm -rf "$WORK"; mkdir -p "$WORK"
python3 scripts/bench_catchup.py
