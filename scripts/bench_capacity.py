"""Driver of scripts/bench-capacity.sh: the doctor's predicted maximum
sustainable rate at a paced load against the rate the same job reaches
unpaced, alternating paced and unpaced runs of equal length."""
import json, os, signal, statistics, sys, time, urllib.error, urllib.request
from bench_common import start_job

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
ROUNDS = int(os.environ.get("ROUNDS", 3))
WORKLOADS = os.environ.get("WORKLOADS", "heap-p1 rocksdb-p1 heap-p2").split()
RATE_SHARE = float(os.environ.get("RATE_SHARE", 0.3))
WINDOW_S = float(os.environ.get("WINDOW_S", 15))
KEYS = int(os.environ.get("KEYS", 100_000))


def say(*a):
    print("==>", *a, file=sys.stderr, flush=True)


def job(workload, rate):
    backend, p = workload.split("-")
    extra = (f"  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: {WORK}/rocks\n"
             if backend == "rocksdb" else "")
    path = f"{WORK}/{workload}-{rate}.yaml"
    open(path, "w").write(f"""name: capacity-{workload}
pipeline: keyed-count
params:
  keys: {KEYS}
  rate: {rate}
  sink: blackhole
config:
  parallelism.default: {p[1:]}
  metrics.reporter.prom.port: 0
  rest.bind-port: 0
{extra}""")
    return path


def doctor(url):
    """The doctor's answer once it spans its full 10 s window."""
    while True:
        try:
            with urllib.request.urlopen(f"{url}/doctor", timeout=30) as r:
                d = json.load(r)
            if d["window_seconds"] >= 9.5:
                return d
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
        time.sleep(0.5)


def run(workload, rate):
    """Runs the job for WINDOW_S seconds (past the doctor's 10 s window) and
    returns its capacity answer at the end."""
    p, url = start_job(BIN, job(workload, rate), WORK)
    try:
        started = time.time()
        doctor(url)
        time.sleep(max(0.0, WINDOW_S - (time.time() - started)))
        return doctor(url)["capacity"]
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


rows = []
for w in WORKLOADS:
    # A first unpaced run sets the pace of the paced ones (RATE_SHARE of it).
    first = run(w, 0)["input_records_per_second"]
    rate = max(1000, int(first * RATE_SHARE))
    say(f"{w}: unpaced {first:,.0f} records/s; paced runs at {rate:,}/s")
    pred, reached = [], []
    for i in range(ROUNDS):
        c = run(w, rate)
        u = run(w, 0)
        pred.append(c["max_sustainable_records_per_second"])
        reached.append(u["input_records_per_second"])
        busiest = max(c["vertices"], key=lambda v: v["peak_utilization"])
        say(f"{w} pair {i + 1}: paced {c['input_records_per_second']:,.0f}/s, headroom "
            f"{c['headroom']:.2f} (busiest {busiest['vertex']} {busiest['peak_utilization']:.0%}) "
            f"-> predicted {pred[-1]:,.0f}/s; unpaced reached {reached[-1]:,.0f}/s")
    p, r = statistics.median(pred), statistics.median(reached)
    row = {"workload": w, "paced_rate": rate, "predicted": round(p), "reached": round(r),
           "error": round(p / r - 1, 3), "pairs": ROUNDS}
    rows.append(row)
    print(f"{w:12} paced at {rate:>9,}/s  predicted {p:>11,.0f}/s  reached {r:>11,.0f}/s  "
          f"error {p / r - 1:+.1%}  (median of {ROUNDS})", flush=True)
    print(json.dumps(row), flush=True)
