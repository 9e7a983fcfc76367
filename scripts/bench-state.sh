#!/usr/bin/env bash
# Large-state benchmark (docs/benchmarks.md): RocksDB with incremental checkpoints
# to a real S3 server (SeaweedFS on loopback) and task-local recovery.
#   1. loads KEYS keys of PAYLOAD bytes each (about KEYS*PAYLOAD bytes of state),
#      then changes about CHANGE of the keys per checkpoint interval, and reports
#      each steady-state checkpoint: bytes uploaded against full size, duration,
#      and the synchronous phase (the pause in processing);
#   2. restores the same checkpoint from the task-local copy and from S3;
#   3. throughput and peak RSS with the state several times the memory budget;
#   4. (PHASES=sweep) for each of SIZES and MODES: checkpoint duration, uploaded
#      and full size, peak RSS, then the restore from the task-local copy and
#      from S3 (one JSON line per size and mode; it keeps CHECKPOINTS/2
#      checkpoints after the load, at least 3).
# Usage: scripts/bench-state.sh   (env: KEYS=2000000 PAYLOAD=1000 INTERVAL_S=5 CHANGE=0.01
#        CHECKPOINTS=8 BUDGET=256mb WORK=/tmp/tidemark-bench-state
#        PHASES=incremental,restore,throughput EXTRA_CONFIG="key: value; key: value"
#        SIZES=100m,1g,4g MODES=full,incremental S3_PORT=18433 TIDEMARK_BIN=path)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/install-test-deps.sh
# TIDEMARK_BIN=PATH uses that binary instead of building one (the smoke tests).
if [ -z "${TIDEMARK_BIN:-}" ]; then cargo build --release --bins; fi
export BIN="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
export WORK="${WORK:-/tmp/tidemark-bench-state}"
scripts/s3-server.sh stop "$WORK/s3" 2>/dev/null || true
rm -rf "$WORK"; mkdir -p "$WORK"
eval "$(scripts/s3-server.sh start "$WORK/s3" "${S3_PORT:-18433}")"
trap 'scripts/s3-server.sh stop "$WORK/s3"' EXIT
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
python3 scripts/bench_state.py
