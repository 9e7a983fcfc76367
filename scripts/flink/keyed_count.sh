#!/usr/bin/env bash
# Adapted for Tidemark from the team's verified Flink peer tooling; run it through scripts/bench-flink.sh.
# Flink peer benchmark: keyed running count (datagen -> GROUP BY k COUNT(*) -> blackhole)
# on a local Flink MiniCluster started by PyFlink.  The record path is pure JVM (Flink SQL).
#
# Usage: keyed_count.sh [N] [K] [P] [rocksdb|hashmap]
# Env knobs (defaults): RECORDS=10000000 KEYS=100000 PARALLELISM=1 BACKEND=rocksdb
#   INCREMENTAL=true CKPT_INTERVAL="1 s" WORK_DIR=/tmp/flink-peer
#   CKPT_DIR=$WORK_DIR/checkpoints REST_PORT=8081
#   PROM=0 (1 = Prometheus reporter on PROM_PORT=9249)  LATENCY_MS=0 (e.g. 1000)
#   ROCKS_METRICS=0 (1 = RocksDB native metrics)  MINIBATCH=0  EXTRA_CONF="k=v;k2=v2"
#   JVM_ARGS="-Xms1g -Xmx1g" (heap of the single JVM that hosts JM + TM)
#   MODE=sql (Flink SQL, keyed_count.sql) | datastream (KeyedCountDS.java: keyBy + reduce)
#   FLINK_VENV=$HOME/.cache/tidemark-flink-venv (scripts/bench-flink.sh installs it)
# Prints:  flink records=N seconds=S records_per_sec=R   (+ checkpoint / memory lines)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RECORDS="${1:-${RECORDS:-10000000}}"
export KEYS="${2:-${KEYS:-100000}}"
export PARALLELISM="${3:-${PARALLELISM:-1}}"
export BACKEND="${4:-${BACKEND:-rocksdb}}"
export JVM_ARGS="${JVM_ARGS:--Xms1g -Xmx1g}"
FLINK_VENV="${FLINK_VENV:-$HOME/.cache/tidemark-flink-venv}"
WORK_DIR="${WORK_DIR:-/tmp/flink-peer}"
export WORK_DIR
mkdir -p "$WORK_DIR"

if [ ! -x "$FLINK_VENV/bin/python" ]; then
  echo "no venv at $FLINK_VENV: python3 -m venv $FLINK_VENV && $FLINK_VENV/bin/pip install apache-flink==2.3.0" >&2
  exit 2
fi

TIME_OUT="$WORK_DIR/time-v.txt"
OUT="$WORK_DIR/run-output.txt"
# PyFlink starts the JVM as a child it never waits for, so /usr/bin/time on python
# does not see it.  Wrap the java binary (PyFlink uses $JAVA_HOME/bin/java) so the
# JVM itself runs under /usr/bin/time -v.
REAL_JAVA="$(readlink -f "$(command -v java)")"
export JVM_TIME_OUT="$WORK_DIR/time-v-jvm.txt"
rm -f "$JVM_TIME_OUT"
mkdir -p "$WORK_DIR/jwrap/bin"
cat > "$WORK_DIR/jwrap/bin/java" <<EOF2
#!/bin/sh
exec /usr/bin/time -v -o "\$JVM_TIME_OUT" "$REAL_JAVA" "\$@"
EOF2
chmod +x "$WORK_DIR/jwrap/bin/java"
export JAVA_HOME="$WORK_DIR/jwrap"
# The local MiniCluster does not load plugins/ (its reporter lookup only sees the JVM
# classpath: "The reporter factory ... could not be found ... Available factories: []").
# PyFlink appends $HADOOP_CLASSPATH to the gateway JVM classpath, so put the reporter
# jars there.
PYFLINK_HOME="$("$FLINK_VENV/bin/python" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')"
for j in "$PYFLINK_HOME"/plugins/metrics-prometheus/*.jar "$PYFLINK_HOME"/plugins/metrics-influx/*.jar; do
  if [ -f "$j" ]; then HADOOP_CLASSPATH="${HADOOP_CLASSPATH:+$HADOOP_CLASSPATH:}$j"; fi
done
if [ "${MODE:-sql}" = "datastream" ]; then
  # compile the DataStream job against the bundled Flink jars (javac from the JDK)
  CLS="$WORK_DIR/classes"
  if [ ! -f "$CLS/KeyedCountDS.class" ] || [ "$HERE/KeyedCountDS.java" -nt "$CLS/KeyedCountDS.class" ]; then
    mkdir -p "$CLS"
    javac -nowarn -d "$CLS" -cp "$PYFLINK_HOME/lib/*" "$HERE/KeyedCountDS.java"
  fi
  HADOOP_CLASSPATH="$HADOOP_CLASSPATH:$CLS"
fi
export HADOOP_CLASSPATH
rc=0
/usr/bin/time -v -o "$TIME_OUT" "$FLINK_VENV/bin/python" "$HERE/keyed_count.py" >"$OUT" 2>&1 || rc=$?
if [ $rc -ne 0 ]; then
  echo "run failed (rc=$rc); last lines of $OUT and logs in $WORK_DIR/log:" >&2
  tail -40 "$OUT" >&2
  exit $rc
fi
grep -E '^flink(_details|_window)? ' "$OUT"
# The JVM exits once python has gone (its stdin pipe closes); wait for time's report.
for _ in $(seq 1 60); do
  grep -q 'Exit status' "$JVM_TIME_OUT" 2>/dev/null && break
  sleep 0.5
done
tv() { awk -F': ' -v k="$2" 'index($0, k) {print $2}' "$1"; }
echo "flink time_v_python max_rss_mb=$(( $(tv "$TIME_OUT" 'Maximum resident set size') / 1024 )) elapsed=$(tv "$TIME_OUT" 'Elapsed (wall clock)')"
if [ -s "$JVM_TIME_OUT" ]; then
  echo "flink time_v_jvm max_rss_mb=$(( $(tv "$JVM_TIME_OUT" 'Maximum resident set size') / 1024 )) elapsed=$(tv "$JVM_TIME_OUT" 'Elapsed (wall clock)') cpu=$(tv "$JVM_TIME_OUT" 'Percent of CPU this job got') user_s=$(tv "$JVM_TIME_OUT" 'User time (seconds)') sys_s=$(tv "$JVM_TIME_OUT" 'System time (seconds)')"
fi
