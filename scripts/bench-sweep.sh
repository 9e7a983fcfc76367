#!/usr/bin/env bash
# Keyed count with RocksDB state against Apache Flink 2.3 (DataStream, RocksDB, incremental
# checkpoints), with equal work: every run first loads each key once, then is measured over
# the same steady-state window (WINDOW_S seconds: records the keyed vertex read, its process's
# CPU over that window, the checkpoints completed in it). Within a row the engines alternate,
# A B A B; rows sweep keys, value sizes, key distributions and Tidemark's write-back cache.
#
#   scripts/bench-sweep.sh
#
# Environment: ROWS ("100k:8:uniform 1m:8:uniform 5m:8:uniform": keys:value bytes:uniform|zipf)
#   ENGINES ("flink tidemark") PAIRS (1) WINDOW_S (60) BUDGET_MB (256: managed memory, both)
#   INTERVAL_MS (1000: checkpoints) CACHES ("on"; "on off": also with a 1-byte write-back
#   cache, every record a RocksDB get and put as in Flink) ZIPF_S (1.0)
#   BACKEND (rocksdb; hashmap: state on the heap, full checkpoints, for both engines)
#   EXTRA_CONFIG ("key: value; ...": Tidemark only) TIDEMARK_BIN (skips the build)
#   SWEEP_WORK (/tmp/tidemark-sweep: scratch, up to tens of GB at 50 M keys)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/install-flink.sh
if [ -z "${TIDEMARK_BIN:-}" ]; then say "building tidemark"; cargo build --release --bins; fi
export BIN="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
export WORK="${SWEEP_WORK:-/tmp/tidemark-sweep}"
mkdir -p "$WORK"
python3 scripts/bench_sweep.py
