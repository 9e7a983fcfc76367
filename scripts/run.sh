#!/usr/bin/env bash
# Builds Tidemark and runs the main job: a keyed running count over an
# unbounded generator, exactly-once checkpoints every second into ./ck, and
# Prometheus metrics on http://127.0.0.1:9249/metrics. Ctrl-C (or SIGTERM)
# stops it with a final checkpoint that is kept; run it again (it passes
# --restore latest) and it resumes from that checkpoint.
# Extra arguments go to `tidemark run`, e.g. --set parallelism.default=2.
# TIDEMARK_BIN=PATH runs that binary instead of building one (the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -z "${TIDEMARK_BIN:-}" ]; then
  say "building tidemark (release; the first build compiles RocksDB's C++: 10-20 minutes on 2 cores)"
  cargo build --release --bins
fi
say "running examples/keyed-count.yaml (metrics: curl 127.0.0.1:9249/metrics; checkpoints: ./ck; Ctrl-C stops it)"
exec "${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}" run examples/keyed-count.yaml --restore latest "$@"
