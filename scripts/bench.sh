#!/usr/bin/env bash
# Keyed-count throughput (docs/benchmarks.md): runs examples/bench-keyed-count.yaml
# RUNS times (default 3) and prints each run and the medians.
# Usage: scripts/bench.sh [RUNS] [extra `tidemark run` args, e.g. --set params...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
runs="${1:-3}"; shift || true
cargo build --release --bins
bin="$CARGO_TARGET_DIR/release/tidemark"
rows=()
for i in $(seq 1 "$runs"); do
  rm -rf /tmp/tidemark-bench
  line=$("$bin" run examples/bench-keyed-count.yaml --status-interval 0 "$@" 2>&1 | grep '^summary:')
  say "run $i: $line"
  rows+=("$line")
done
printf '%s\n' "${rows[@]}" > /tmp/tidemark-bench-rows.txt
python3 - /tmp/tidemark-bench-rows.txt <<'PY'
import sys, statistics
rows = [dict(kv.split("=") for kv in l.split()[1:]) for l in open(sys.argv[1]) if l.strip()]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print("median of %d runs: %.2f M records/s, %.2f M records per CPU-second, CPU %.2f cores, peak RSS %.1f MiB" % (
    len(rows), med("records_per_s") / 1e6, med("records_per_cpu_s") / 1e6,
    med("cpu_s") / med("elapsed_s"), med("peak_rss_bytes") / 2**20))
PY
