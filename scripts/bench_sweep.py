"""Driver of scripts/bench-sweep.sh: keyed count with RocksDB state, Apache Flink
(DataStream) against Tidemark, with equal work: each run loads every key once, then is
measured over the same steady-state window (scripts/bench_window.py), alternating
A B A B within each row. Prints one JSON line per run and a table of medians."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_window  # noqa: E402

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
ROWS = os.environ.get("ROWS", "100k:8:uniform 1m:8:uniform 5m:8:uniform").split()
ENGINES = os.environ.get("ENGINES", "flink tidemark").split()
PAIRS = int(os.environ.get("PAIRS", "1"))
WINDOW_S = float(os.environ.get("WINDOW_S", "60"))
BUDGET_MB = int(os.environ.get("BUDGET_MB", "256"))
INTERVAL_MS = int(os.environ.get("INTERVAL_MS", "1000"))
ZIPF_S = float(os.environ.get("ZIPF_S", "1.0"))
# CACHE: "on" (Tidemark's default write-back cache), "off" (1 byte: every record is a
# RocksDB get and put, as in Flink), or both, each a row of its own.
CACHES = os.environ.get("CACHES", "on").split()
EXTRA = os.environ.get("EXTRA_CONFIG", "")
# BACKEND: rocksdb (both engines, incremental checkpoints) or hashmap (state on the heap).
BACKEND = os.environ.get("BACKEND", "rocksdb")


def say(*a):
    print("==>", *a, file=sys.stderr, flush=True)


def count(s):
    mult = {"k": 1000, "m": 1000_000, "g": 1000_000_000}
    return int(float(s[:-1]) * mult[s[-1]]) if s[-1] in mult else int(s)


def tidemark(keys, value, dist, cache):
    shutil.rmtree(f"{WORK}/tm", ignore_errors=True)
    os.makedirs(f"{WORK}/tm")
    extra = "".join(f"  {kv.strip()}\n" for kv in EXTRA.split(";") if kv.strip())
    if cache == "off":
        extra += "  state.backend.rocksdb.write-back-cache.size: 1b\n"
    text = f"""name: sweep
pipeline: keyed-count
params:
  keys: {keys}
  events: 0
  warmup: {keys}
  distribution: {dist}
  zipf-exponent: {ZIPF_S}
  payload-bytes: {max(value - 8, 0)}
  sink: blackhole
config:
  parallelism.default: 1
  state.backend.type: {BACKEND}
  state.backend.rocksdb.localdir: {WORK}/tm/rocks
  taskmanager.memory.managed.size: {BUDGET_MB}mb
  execution.checkpointing.incremental: {str(BACKEND == "rocksdb").lower()}
  execution.checkpointing.interval: {INTERVAL_MS} ms
  execution.checkpointing.dir: {WORK}/tm/ck
  execution.checkpointing.num-retained: 1
  metrics.reporter.prom.port: 0
  rest.bind-port: 0
{extra}"""
    path = f"{WORK}/tm/sweep.yaml"
    open(path, "w").write(text)
    log = open(f"{WORK}/tm/run.log", "w+")
    p = subprocess.Popen([BIN, "run", path, "--status-interval", "0"], stderr=log,
                         stdout=subprocess.DEVNULL, cwd=f"{WORK}/tm")
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None:
            log.flush()
            for line in open(log.name):
                if "rest: http://" in line:
                    url = line.split("rest: ", 1)[1].split()[0]
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tidemark did not start:\n" + open(log.name).read()[-3000:])
            time.sleep(0.2)
        return bench_window.measure(url, p.pid, "count", keys, WINDOW_S)
    finally:
        p.kill()
        p.wait()


def flink(keys, value, dist):
    env = dict(os.environ, MODE="datastream", BACKEND=BACKEND, INCREMENTAL=str(BACKEND == "rocksdb").lower(), RECORDS="0", KEYS=str(keys),
               PARALLELISM="1", WINDOW_S=str(WINDOW_S), WARMUP=str(keys),
               PAYLOAD=str(max(value - 8, 0)), ZIPF=str(ZIPF_S if dist == "zipf" else 0),
               CKPT_INTERVAL=f"{INTERVAL_MS} ms", WORK_DIR=f"{WORK}/flink",
               EXTRA_CONF=f"taskmanager.memory.managed.size={BUDGET_MB}m")
    out = subprocess.run(["bash", "scripts/flink/keyed_count.sh"], env=env, text=True,
                         capture_output=True)
    for line in out.stdout.splitlines():
        if line.startswith("flink_window "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError("flink printed no window:\n" + out.stdout[-2000:] + out.stderr[-3000:])


def main():
    results = []
    for row in ROWS:
        k, v, dist = row.split(":")
        keys, value = count(k), int(v)
        for cache in CACHES:
            for pair in range(1, PAIRS + 1):
                for engine in ENGINES:
                    if engine == "flink" and cache == "off" and "on" in CACHES:
                        continue  # Flink has no write-back cache: one run serves both rows
                    say(f"{row} cache {cache} pair {pair}: {engine}")
                    m = flink(keys, value, dist) if engine == "flink" else \
                        tidemark(keys, value, dist, cache)
                    m.update(engine=engine, backend=BACKEND, keys=keys, value_bytes=value, dist=dist,
                             cache=cache if engine == "tidemark" else "-", pair=pair)
                    print(json.dumps(m), flush=True)
                    results.append(m)
    print()
    print("| keys | value | keys dist | engine | write-back cache | events/s | cores | "
          "per core | ckpts in window | ckpt median | uploaded median | state | peak RSS "
          "| load s | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    med = lambda rs, f: statistics.median([r[f] for r in rs if r.get(f) is not None] or [0])
    groups = {}
    for r in results:
        groups.setdefault((r["keys"], r["value_bytes"], r["dist"], r["engine"], r["cache"]),
                          []).append(r)
    for (keys, value, dist, engine, cache), rs in groups.items():
        print(f"| {keys:,} | {value} B | {dist} | {engine} | {cache} | "
              f"{med(rs, 'events_per_s') / 1e3:,.0f} k | {med(rs, 'cores'):.2f} | "
              f"{med(rs, 'events_per_core_s') / 1e3:,.0f} k | {med(rs, 'checkpoints'):.0f} | "
              f"{med(rs, 'ckpt_ms_median'):,.0f} ms | {med(rs, 'ckpt_bytes_median') / 1e6:,.1f} MB | "
              f"{med(rs, 'state_bytes') / 1e6:,.0f} MB | {med(rs, 'peak_rss_mib'):,.0f} MiB | "
              f"{med(rs, 'load_s'):,.0f} | {len(rs)} |")
    print()
    for (keys, value, dist, engine, cache), rs in groups.items():
        fl = groups.get((keys, value, dist, "flink", "-"))
        if engine == "tidemark" and fl:
            print(f"ratio tidemark/flink {keys:,} keys {value} B {dist} cache {cache}: "
                  f"events/s {med(rs, 'events_per_s') / med(fl, 'events_per_s'):.1f}x, "
                  f"per core {med(rs, 'events_per_core_s') / med(fl, 'events_per_core_s'):.1f}x")


main()
