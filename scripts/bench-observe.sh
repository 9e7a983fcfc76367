#!/usr/bin/env bash
# The cost of observing (docs/benchmarks.md): the keyed-count benchmark job with
# metrics off (A: no reporters, no host metrics), with the default metrics (C: the
# /metrics reporter, host metrics, subtask level, latency markers every second,
# the REST API) and with every exporter on (B:
# /metrics scraped by a real Prometheus every second, Pushgateway, InfluxDB,
# OTLP and remote-write every second, host metrics, subtask level, latency
# markers every 200 ms at operator granularity, the REST API), alternating
# A C B A C B … in one run; prints each run, the medians and the ratios.
# Usage: scripts/bench-observe.sh [ROUNDS] (default 3)
# EVENTS=N overrides the job's record count (100 M; 5 M with MEASURE=instructions).
# BACKEND=rocksdb runs all three with RocksDB state; B then adds the RocksDB
# statistics tickers to the native properties (ROCKS_STATISTICS=OFF leaves them
# off, to separate their cost), and A turns the properties off.
# MEASURE=instructions counts the job process's instructions with valgrind
# (cachegrind, no cache simulation) over 5 M records instead of timing it:
# immune to the machine's noise. Valgrind runs the job about 20x slower, so the
# time-driven work in B (exports, scrapes, markers, host sampling every
# second or 200 ms) is counted about 20x too often: an upper bound on B's cost.
# The checkpoint interval, which all three modes share, is stretched the same
# 20x (to 20 s) so that checkpoint work stays in its native proportion to the
# records: counted 20x too often, it would dilute the difference between modes
# (with RocksDB, 1 s checkpoints under valgrind made up most of the count).
# PROFILE_DIR=DIR keeps each run's per-function counts (DIR/<mode>.<pair>.out);
# `cg_diff DIR/A.1.out DIR/B.1.out | cg_annotate /dev/stdin` shows where B's
# extra instructions go.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/install-test-deps.sh
pairs="${1:-3}"
wrap=(); extra=()
if [ "${MEASURE:-time}" = instructions ]; then
  if ! command -v valgrind >/dev/null; then say "installing valgrind"; apt-get install -y valgrind >/dev/null; fi
  wrap=(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null)
  extra=(--set params.events=5000000 --set execution.checkpointing.interval=20s)
fi
if [ -n "${EVENTS:-}" ]; then extra+=(--set "params.events=$EVENTS"); fi
# TIDEMARK_BIN=PATH uses that binary instead of building one (the smoke tests).
if [ -z "${TIDEMARK_BIN:-}" ]; then cargo build --release --bins; fi
profile="${PROFILE_DIR:-}"
bin="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
work=$(mktemp -d)
extra+=(--set "execution.checkpointing.dir=$work/ck")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
profile="${profile:-$work/profile}"; mkdir -p "$profile"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_SCRAPE=$(port); P_PROM=$(port); P_PGW=$(port); P_INFLUX=$(port); P_RPC=$(port); P_OTLP=$(port)
mkdir -p "$work/prom" "$work/influx"
cat > "$work/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: tidemark
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:$P_SCRAPE']}]
YML
cat > "$work/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$P_RPC"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
[http]
  bind-address = "127.0.0.1:$P_INFLUX"
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
CONF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" --web.listen-address=127.0.0.1:$P_PROM --web.enable-remote-write-receiver --log.level=warn </dev/null >"$work/prom.log" 2>&1 & pids+=($!)
prometheus-pushgateway --web.listen-address=127.0.0.1:$P_PGW --persistence.file= --log.level=warn </dev/null >"$work/pgw.log" 2>&1 & pids+=($!)
influxd run -config "$work/influxdb.conf" </dev/null >"$work/influx.log" 2>&1 & pids+=($!)
python3 scripts/http_sink.py $P_OTLP </dev/null >"$work/sink.log" 2>&1 & pids+=($!)
for url in "http://127.0.0.1:$P_PROM/-/ready" "http://127.0.0.1:$P_PGW/-/ready" "http://127.0.0.1:$P_INFLUX/ping"; do
  for _ in $(seq 300); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
done
curl -s -XPOST "http://127.0.0.1:$P_INFLUX/query" --data-urlencode 'q=CREATE DATABASE "bench"' >/dev/null
A=(--set metrics.reporters= --set metrics.system-resource=false --set metrics.latency.interval=0 --set rest.enabled=false)
C=(--set metrics.reporter.prom.port=0 --set rest.bind-port=0)
B=(--set metrics.reporters=prom,pgw,influx,otel,rw --set metrics.reporter.prom.port=$P_SCRAPE
   --set metrics.reporter.pgw.factory.class=pushgateway --set metrics.reporter.pgw.hostUrl=http://127.0.0.1:$P_PGW --set metrics.reporter.pgw.interval=1s
   --set metrics.reporter.influx.factory.class=influxdb --set metrics.reporter.influx.host=127.0.0.1 --set metrics.reporter.influx.port=$P_INFLUX
   --set metrics.reporter.influx.db=bench --set metrics.reporter.influx.interval=1s
   --set metrics.reporter.otel.factory.class=otlp --set metrics.reporter.otel.endpoint=http://127.0.0.1:$P_OTLP --set metrics.reporter.otel.interval=1s
   --set metrics.reporter.rw.factory.class=remote-write --set metrics.reporter.rw.url=http://127.0.0.1:$P_PROM/api/v1/write --set metrics.reporter.rw.interval=1s
   --set metrics.system-resource=true --set metrics.system-resource-probing-interval=1s --set metrics.level=subtask
   --set metrics.latency.interval=200ms --set metrics.latency.granularity=operator --set rest.bind-port=0)
if [ "${BACKEND:-heap}" = rocksdb ]; then
  common=(--set state.backend.type=rocksdb --set "state.backend.rocksdb.localdir=$work/rocksdb")
  A+=("${common[@]}" --set state.backend.rocksdb.metrics.native=false)
  C+=("${common[@]}")
  B+=("${common[@]}" --set "state.backend.rocksdb.statistics.level=${ROCKS_STATISTICS:-TICKERS}")
fi
: > "$work/rows"
for i in $(seq 1 "$pairs"); do
  for mode in A C B; do
    rm -rf "$work/ck"
    case "$mode" in A) args=("${A[@]}");; C) args=("${C[@]}");; *) args=("${B[@]}");; esac
    w=("${wrap[@]}")
    if [ ${#w[@]} -gt 0 ]; then
      w=("${w[@]/--cachegrind-out-file=\/dev\/null/--cachegrind-out-file=$profile/$mode.$i.out}")
    fi
    out=$("${w[@]}" "$bin" run examples/bench-keyed-count.yaml --status-interval 0 "${args[@]}" "${extra[@]}" 2>&1)
    line=$(grep '^summary:' <<<"$out")
    ir=$(grep -E 'I +refs' <<<"$out" | sed -E 's/.*refs: *//' | tr -d ', ' || true)
    [ -n "$ir" ] && line="$line instructions=$ir"
    say "pair $i $mode: $line"
    echo "$mode $line" >> "$work/rows"
  done
done
# The exporters delivered (the Pushgateway groups were deleted on shutdown, as configured).
points=$(curl -s -G "http://127.0.0.1:$P_INFLUX/query" --data-urlencode db=bench --data-urlencode 'q=SELECT count("value") FROM "tidemark_task_records_in_total"' | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1])')
series=$(curl -s -G "http://127.0.0.1:$P_PROM/api/v1/query" --data-urlencode 'query=count(count_over_time(tidemark_task_records_in_total[1h]))' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
say "delivered: $points InfluxDB points of records_in; $series records_in series in Prometheus (scrape + remote-write)"
python3 - "$work/rows" "$profile" <<'PY'
import sys, statistics, os, re, subprocess
rows = {"A": [], "B": [], "C": []}
for l in open(sys.argv[1]):
    mode, rest = l.split(" ", 1)
    rows[mode].append(dict(kv.split("=") for kv in rest.split()[1:]))
med = lambda m, k: statistics.median(float(r[k]) for r in rows[m])
for m, name in (("A", "metrics off"), ("C", "default metrics"), ("B", "all exporters on")):
    print("%-17s median of %d: %.2f M records/s, %.2f M per CPU-second, peak RSS %.1f MiB" % (
        name, len(rows[m]), med(m, "records_per_s") / 1e6, med(m, "records_per_cpu_s") / 1e6, med(m, "peak_rss_bytes") / 2**20))
print("C/A throughput: %.3f   C/A per CPU-second: %.3f" % (
    med("C", "records_per_s") / med("A", "records_per_s"), med("C", "records_per_cpu_s") / med("A", "records_per_cpu_s")))
print("B/A throughput: %.3f   B/A per CPU-second: %.3f" % (
    med("B", "records_per_s") / med("A", "records_per_s"), med("B", "records_per_cpu_s") / med("A", "records_per_cpu_s")))
if "instructions" in rows["A"][0]:
    ipr = lambda m: med(m, "instructions") / med(m, "records")
    print("instructions per record under valgrind: A %.1f, B %.1f; B/A %.4f (upper bound)" % (ipr("A"), ipr("B"), ipr("B") / ipr("A")))
    # Where B's extra instructions run, per function (cg_diff of pair 1): in
    # the engine's own code (the record path, tasks, checkpoints) or RocksDB
    # (statistics tickers count on every operation), both driven by records;
    # or elsewhere (the agent's exporters and encoders, compression, malloc),
    # driven by the clock.
    diff = subprocess.run(["cg_diff", f"{sys.argv[2]}/A.1.out", f"{sys.argv[2]}/B.1.out"],
                          capture_output=True, text=True, check=True).stdout
    open(f"{sys.argv[2]}/diff.out", "w").write(diff)
    ann = subprocess.run(["cg_annotate", "--threshold=0", f"{sys.argv[2]}/diff.out"],
                         capture_output=True, text=True, check=True).stdout
    engine = rest = 0
    for l in ann.splitlines():
        m = re.match(r"^\s*(-?[\d,]+) \([ \-\d.]+%\)\s+(\S.*)$", l)
        if not m or ":" not in m.group(2) or "PROGRAM TOTALS" in m.group(2):
            continue
        n = int(m.group(1).replace(",", ""))
        # (sched_getcpu: RocksDB's per-core statistics counters call it.)
        if any(x in m.group(2) for x in ("/engine/src/", "librocksdb-sys", "sched_getcpu")):
            engine += n
        else:
            rest += n
    r1 = lambda m: float(rows[m][0]["records"])
    per_rec = engine / r1("B")
    rate = rest / float(rows["B"][0]["elapsed_s"])  # per second of the run, under valgrind
    print("B minus A, pair 1: %.1f M instructions in the engine's and RocksDB's code (%.3f per record), %.1f M elsewhere "
          "(exporters, encoding, compression, malloc: %.1f M per second of the run)" % (engine / 1e6, per_rec, rest / 1e6, rate / 1e6))
    for x in (1e6, 1e7, 2e7):
        print("  at %.0f M records/s natively: B/A instructions %.4f" % (x / 1e6, 1 + (per_rec + rate / x) / ipr("A")))
PY
