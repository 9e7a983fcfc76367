#!/usr/bin/env bash
# What observing a Flink job costs `tidemark agent flink`: a real standalone
# Flink cluster (a JobManager and a TaskManager from the apache-flink package)
# runs a job of VERTICES vertices at PARALLELISM (scripts/flink/WideJob.java);
# the agent polls it every INTERVAL for DURATION, and the script reports the
# requests per poll (against the formula 2 + T + 2 + V + V·C of docs/flink.md,
# one TaskManager here; at LEVEL=subtask, 2 + T + 2 + V·P: a read per subtask),
# the poll's duration, the series exported, and the agent's CPU and memory, over
# DURATION seconds that start once the agent's first two polls are done.
#
#   scripts/bench-flink-agent.sh
#
# Environment: VERTICES (50) PARALLELISM (8) INTERVAL ("10 s") DURATION (120,
#   seconds) CHECKPOINT_MS (0: none; checkpoints add V requests per new one)
#   LEVEL (vertex: the agent's default; subtask: metrics.level subtask)
#   FLINK_VENV ($HOME/.cache/tidemark-flink-venv) TIDEMARK_BIN (skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
VERTICES="${VERTICES:-50}" PARALLELISM="${PARALLELISM:-8}" INTERVAL="${INTERVAL:-10 s}"
DURATION="${DURATION:-120}" CHECKPOINT_MS="${CHECKPOINT_MS:-0}" LEVEL="${LEVEL:-vertex}"
export FLINK_VENV="${FLINK_VENV:-$HOME/.cache/tidemark-flink-venv}"
bash scripts/install-flink.sh
if [ -z "${TIDEMARK_BIN:-}" ]; then say "building tidemark"; cargo build --release --bins; fi
bin="${TIDEMARK_BIN:-$CARGO_TARGET_DIR/release/tidemark}"
home=$("$FLINK_VENV/bin/python" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rest_port=$(port)
mkdir -p "$work/conf" "$work/log" "$work/classes"
cp "$home/conf/log4j-console.properties" "$home/conf/log4j-cli.properties" "$work/conf/"
opts=$(grep -m1 '^ *all: ' "$home/conf/config.yaml" | sed 's/^ *all: //')
cat >"$work/conf/config.yaml" <<YAML
env.java.opts.all: $opts
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $(port)
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.rpc.port: $(port)
taskmanager.data.port: $(port)
taskmanager.numberOfTaskSlots: $PARALLELISM
taskmanager.memory.process.size: 3072m
taskmanager.memory.network.min: 768m
taskmanager.memory.network.max: 768m
blob.server.port: $(port)
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $rest_port
YAML
export FLINK_CONF_DIR="$work/conf" FLINK_LOG_DIR="$work/log"
say "starting a Flink JobManager and a TaskManager ($PARALLELISM slots)"
bash "$home/bin/jobmanager.sh" start-foreground >"$work/log/jm.out" 2>&1 & pids+=($!)
bash "$home/bin/taskmanager.sh" start-foreground >"$work/log/tm.out" 2>&1 & pids+=($!)
rest="http://127.0.0.1:$rest_port"
wait_until() { # what, seconds, command...
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { say "timed out waiting for $what"; tail -20 "$work"/log/*.out >&2; exit 1; }
    sleep 1
  done
}
wait_until "the TaskManager" 120 bash -c "curl -sf $rest/overview | grep -q '\"taskmanagers\":1'"
javac -cp "$home/lib/*" -d "$work/classes" scripts/flink/WideJob.java
jar cf "$work/wide.jar" -C "$work/classes" .
say "submitting a job of $VERTICES vertices at parallelism $PARALLELISM"
run=(run -d -p "$PARALLELISM")
[ "$CHECKPOINT_MS" = 0 ] || run+=("-Dexecution.checkpointing.interval=${CHECKPOINT_MS}ms")
bash "$home/bin/flink" "${run[@]}" -c WideJob "$work/wide.jar" wide "$VERTICES" 1000 >"$work/submit.out" 2>&1 \
  || { cat "$work/submit.out" >&2; exit 1; }
wait_until "every task running" 180 bash -c "curl -sf $rest/jobs/overview | python3 -c 'import json,sys; j=json.load(sys.stdin)[\"jobs\"][0]; sys.exit(0 if j[\"state\"]==\"RUNNING\" and j[\"tasks\"][\"running\"]==j[\"tasks\"][\"total\"] else 1)'"
say "the agent polls every $INTERVAL for $DURATION s at metrics.level $LEVEL"
"$bin" agent flink --rest "$rest" --interval "$INTERVAL" --set metrics.reporter.prom.port=0 \
  --set "metrics.level=$LEVEL" 2>"$work/agent.err" & agent=$!; pids+=($agent)
wait_until "the agent's endpoint" 30 grep -q "^metrics: " "$work/agent.err"
metrics=$(grep -m1 "^metrics: " "$work/agent.err" | cut -d' ' -f2)
# The window starts once two polls are done: the first ones of a job that has
# just started may find vertices whose metrics the JobManager has not fetched
# yet (a listing instead of the reads), which is not the steady cost.
wait_until "two polls" 120 bash -c "curl -s $metrics | awk '/^tidemark_bridge_poll_duration_seconds_count/ {exit !(\$2 >= 2)}'"
curl -s "$metrics" >"$work/metrics0.txt"; cut -d' ' -f14,15 "/proc/$agent/stat" >"$work/cpu0"
sleep "$DURATION"
curl -s "$metrics" >"$work/metrics.txt"; cut -d' ' -f14,15 "/proc/$agent/stat" >"$work/cpu1"
python3 - "$work" "$agent" "$VERTICES" "$PARALLELISM" "$INTERVAL" "$DURATION" "$LEVEL" <<'PY'
import os, sys
work, pid, vertices, parallelism, interval, duration, level = sys.argv[1:]
def values(path):
    vals = {}
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        name = line.split('{')[0].split(' ')[0]
        vals[name] = vals.get(name, 0.0) + float(line.rsplit(' ', 1)[1])
    return vals
before, vals = values(f'{work}/metrics0.txt'), values(f'{work}/metrics.txt')
delta = lambda k: vals.get(k, 0.0) - before.get(k, 0.0)
polls = delta('tidemark_bridge_poll_duration_seconds_count')
per_poll = delta('tidemark_bridge_requests_total') / polls
v, tms = int(vertices), 1
reads = v * int(parallelism) if level == 'subtask' else v
ticks = os.sysconf('SC_CLK_TCK')
cpu = lambda f: sum(int(x) for x in open(f).read().split()) / ticks
cpu_s = cpu(f'{work}/cpu1') - cpu(f'{work}/cpu0')
rss = int(open(f'/proc/{pid}/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
print(f"| vertices | parallelism | interval | level | polls | requests per poll (formula 2+T+2+V, at subtask 2+T+2+V·P) | poll duration (mean) | series | agent CPU | agent RSS |")
print(f"|---|---|---|---|---|---|---|---|---|---|")
print(f"| {v} | {parallelism} | {interval} | {level} | {polls:.0f} | {per_poll:.1f} ({4 + tms + reads}) | {delta('tidemark_bridge_poll_duration_seconds_sum') / polls * 1000:.0f} ms | {vals['tidemark_metrics_series']:.0f} | {cpu_s / float(duration) * 100:.2f} % of a core | {rss / 2**20:.1f} MiB |")
print(f"failed requests: {vals.get('tidemark_bridge_request_failures_total', 0):.0f}")
PY
