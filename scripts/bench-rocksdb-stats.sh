#!/usr/bin/env bash
# The cost of RocksDB statistics levels (docs/benchmarks.md): the throughput phase
# of scripts/bench-state.sh with state.backend.rocksdb.statistics.level OFF,
# TICKERS and ALL, interleaved RUNS times (default 3), medians per level.
# Usage: scripts/bench-rocksdb-stats.sh [RUNS]   (env: KEYS=500000 PAYLOAD=100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
export KEYS="${KEYS:-500000}" PAYLOAD="${PAYLOAD:-100}" PHASES=throughput
out=$(mktemp)
for i in $(seq 1 "$runs"); do
  for level in OFF TICKERS ALL; do
    line=$(EXTRA_CONFIG="state.backend.rocksdb.statistics.level: $level" bash scripts/bench-state.sh 2>/dev/null | grep '^throughput')
    rate=$(sed -E 's/.*: ([0-9]+) k records\/s.*/\1/' <<<"$line")
    printf '==> run %d %-8s %s k records/s\n' "$i" "$level" "$rate" >&2
    echo "$level $rate" >>"$out"
  done
done
python3 - "$out" <<'PY'
import sys, statistics, collections
v = collections.defaultdict(list)
for l in open(sys.argv[1]):
    k, r = l.split(); v[k].append(float(r))
base = statistics.median(v["OFF"])
for k in ("OFF", "TICKERS", "ALL"):
    m = statistics.median(v[k])
    print(f"statistics {k:8} median {m:.0f} k records/s ({m / base:.3f} of OFF, {len(v[k])} runs)")
PY
rm -f "$out"
