#!/usr/bin/env bash
# What sampling a vertex on the CPU costs (docs/benchmarks.md): one unpaced
# keyed-count job (parallelism 2, heap state); windows of WINDOW_S seconds
# alternate without and with a flame graph of its `count` vertex being taken
# (`GET /jobs/:id/vertices/count/flamegraph?seconds=WINDOW_S`), A B B A,
# ROUNDS pairs; prints each pair's rates (records the source emitted per
# second), the medians and the cost (1 - the median of the pairs' with / without).
# Usage: scripts/bench-profile.sh [ROUNDS] (default 5)
# Environment: WINDOW_S (10) KEYS (100000) WORK (/tmp/tidemark-bench-profile)
#   TIDEMARK_BIN (a built binary: skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export ROUNDS="${1:-5}"
if [ -z "${TIDEMARK_BIN:-}" ]; then cargo build --release --bins; fi
export BIN="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
export WORK="${WORK:-/tmp/tidemark-bench-profile}"
rm -rf "$WORK"; mkdir -p "$WORK"
python3 scripts/bench_profile.py
