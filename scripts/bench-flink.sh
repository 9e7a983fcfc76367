#!/usr/bin/env bash
# Apache Flink side by side with Tidemark on this machine: the same keyed count
# (N events, K keys, parallelism P, checkpoints every CKPT_INTERVAL), first with
# in-memory state (Flink hashmap / Tidemark heap), then with RocksDB and
# incremental checkpoints, alternating Flink and Tidemark (A B A B ...).
#
#   scripts/bench-flink.sh [PAIRS]        # default 3 pairs per backend
#
# Environment: RECORDS (10000000) KEYS (100000) PARALLELISM (1) CKPT_INTERVAL ("1 s")
#   MODE (sql: datagen -> GROUP BY k COUNT(*) -> blackhole | datastream: keyBy + reduce)
#   BACKENDS ("hashmap rocksdb") FLINK_VENV ($HOME/.cache/tidemark-flink-venv)
#   FLINK_WORK (/tmp/tidemark-flink-peer) REST_PORT (8081, Flink's web UI)
#   TIDEMARK_BIN (a built tidemark binary: skips the build)
#   TIDEMARK_RATE (0: Tidemark's runs paced to this many events/s; the smoke test uses it so
#   that a small run lasts long enough to measure on any machine)
#
# Flink runs in a local MiniCluster started by PyFlink (no Python in the record
# path; scripts/flink/). Its JVM start-up and job submission are reported apart
# and excluded from throughput: Flink's events/s counts from the job's RUNNING
# to FINISHED, Tidemark's from its start to its end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
PAIRS="${1:-3}"
export RECORDS="${RECORDS:-10000000}" KEYS="${KEYS:-100000}" PARALLELISM="${PARALLELISM:-1}"
export CKPT_INTERVAL="${CKPT_INTERVAL:-1 s}" MODE="${MODE:-sql}"
BACKENDS="${BACKENDS:-hashmap rocksdb}"
export FLINK_VENV="${FLINK_VENV:-$HOME/.cache/tidemark-flink-venv}"
bash scripts/install-flink.sh
# TIDEMARK_BIN=PATH uses that binary instead of building one (the smoke tests).
if [ -z "${TIDEMARK_BIN:-}" ]; then say "building tidemark"; cargo build --release --bins; fi
bin="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
rows=$(mktemp)
interval="${CKPT_INTERVAL// /}"
for backend in $BACKENDS; do
  for i in $(seq 1 "$PAIRS"); do
    say "$backend pair $i: Flink ($MODE)"
    export WORK_DIR="${FLINK_WORK:-/tmp/tidemark-flink-peer}"
    out=$(scripts/flink/keyed_count.sh "$RECORDS" "$KEYS" "$PARALLELISM" "$backend")
    python3 - "$backend" "$i" "$out" >>"$rows" <<'PY'
import json, re, sys
backend, run, out = sys.argv[1], sys.argv[2], sys.argv[3]
kv = {}
for line in out.splitlines():
    if line.startswith("flink ") and "=" in line:
        kv.update(dict(p.split("=", 1) for p in line.split()[1:] if "=" in p))
eps = float(kv["records_per_sec"]); cores = float(kv["jvm_cores_busy"])
print(json.dumps({"engine": "flink", "backend": backend, "run": run, "events_per_s": eps,
    "cores": cores, "events_per_core_s": eps / cores, "peak_rss_mib": float(kv["jvm_peak_rss_mb"]),
    "startup_s": float(kv["jvm_start_s"]) + float(kv["plan_and_submit_s"]),
    "other_cores": float(kv.get("other_cores_busy", "nan")),
    "checkpoints": int(kv.get("checkpoints_completed", 0))}))
PY
    say "$backend pair $i: Tidemark"
    tm_backend=heap; extra=()
    if [ "$backend" = rocksdb ]; then tm_backend=rocksdb; extra=(--incremental); fi
    line=$("$bin" bench keyed-count --events "$RECORDS" --keys "$KEYS" --parallelism "$PARALLELISM" \
      --checkpoint-interval "$interval" --backend "$tm_backend" --rate "${TIDEMARK_RATE:-0}" "${extra[@]}" | grep '^{')
    python3 - "$backend" "$i" "$line" >>"$rows" <<'PY'
import json, sys
backend, run, line = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(json.dumps({"engine": "tidemark", "backend": backend, "run": run, "events_per_s": line["events_per_s"],
    "cores": line["cores"], "events_per_core_s": line["events_per_core_s"], "peak_rss_mib": line["peak_rss_mib"],
    "startup_s": 0.0, "other_cores": float("nan"), "checkpoints": int(line["checkpoints"])}))
PY
  done
done
python3 - "$rows" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("%-9s %-8s %-6s %12s %6s %12s %8s %9s %6s" % ("engine", "backend", "run", "events/s", "cores", "ev/core-s", "RSS MiB", "startup s", "ckpts"))
for r in rows:
    print("%-9s %-8s %-6s %12.0f %6.2f %12.0f %8.1f %9.1f %6d" % (r["engine"], r["backend"], r["run"], r["events_per_s"],
          r["cores"], r["events_per_core_s"], r["peak_rss_mib"], r["startup_s"], r["checkpoints"]))
print()
for b in dict.fromkeys(r["backend"] for r in rows):
    med = {}
    for e in ("flink", "tidemark"):
        sel = [r for r in rows if r["backend"] == b and r["engine"] == e]
        med[e] = {k: statistics.median(r[k] for r in sel) for k in ("events_per_s", "cores", "events_per_core_s", "peak_rss_mib")}
        print("median %-8s %-8s %12.0f events/s %5.2f cores %12.0f per core %8.1f MiB (%d runs)" % (
            e, b, med[e]["events_per_s"], med[e]["cores"], med[e]["events_per_core_s"], med[e]["peak_rss_mib"], len(sel)))
    print("ratio tidemark/flink %-8s events/s %.1fx, per core %.1fx" % (
        b, med["tidemark"]["events_per_s"] / med["flink"]["events_per_s"],
        med["tidemark"]["events_per_core_s"] / med["flink"]["events_per_core_s"]))
PY
rm -f "$rows"
