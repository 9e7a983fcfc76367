"""Driver of scripts/bench-catchup.sh: a predicted catch-up after a SIGKILL
and restore against the measured one."""
import json, os, signal, statistics, sys, time, urllib.error, urllib.request
from bench_common import start_job

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
ROUNDS = int(os.environ.get("ROUNDS", 3))
RATE = int(os.environ.get("RATE", 25000))
WORK_US = int(os.environ.get("WORK_US", 20))
WARM_S = float(os.environ.get("WARM_S", 22))
DOWN_S = float(os.environ.get("DOWN_S", 10))
INTERVAL_S = float(os.environ.get("INTERVAL_S", 5))


def say(*a):
    print("==>", *a, file=sys.stderr, flush=True)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def start(d, origin, restore):
    path = f"{d}/job.yaml"
    open(path, "w").write(f"""name: bench-catchup
pipeline: keyed-count
params:
  keys: 100000
  rate: {RATE}
  stream-start: {origin}
  count-work: {WORK_US}us
  sink: blackhole
config:
  parallelism.default: 1
  execution.checkpointing.interval: {INTERVAL_S} s
  execution.checkpointing.dir: {d}/ck
  metrics.reporter.prom.port: 0
  rest.bind-port: 0
  tidemark.doctor.recovery-time: {DOWN_S} s
""")
    return start_job(BIN, path, d, ["--restore", "latest"] if restore else [])


def emitted(url):
    try:
        job = get(url)
    except (urllib.error.URLError, ConnectionError):
        return None
    return next(v for v in job["vertices"] if v["name"] == "datagen")["metrics"]["write-records"]


def one_round(i):
    d = f"{WORK}/round{i}"
    os.makedirs(d)
    origin = int(time.time() * 1000)
    p, url = start(d, origin, False)
    time.sleep(WARM_S)  # the scenario: the job runs this long before it fails
    cap = get(f"{url}/doctor")["capacity"]
    latest = get(f"{url}/checkpoints")["latest"]["completed"]
    p.send_signal(signal.SIGKILL)
    killed = time.time()
    p.wait()
    time.sleep(DOWN_S)  # the scenario: the job is down this long
    p, url = start(d, origin, True)
    try:
        # Resumed: the restored job's source has emitted.
        resumed = None
        samples = []
        end = time.time() + 600
        while time.time() < end:
            n, t = emitted(url), time.time()
            if n:
                resumed = resumed or t
                samples.append((t, n))
                # Caught up: the source's rate over the last second is back
                # at the pace (records no longer wait for it).
                recent = [s for s in samples if s[0] >= t - 1.0]
                if t - resumed >= 1.0 and len(recent) >= 2:
                    r = (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])
                    if r <= 1.1 * RATE:
                        break
            time.sleep(0.1)
        else:
            raise SystemExit("the restored job did not catch up within 600 s")
        caught_up = t
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    replay = killed - latest["trigger_timestamp"] / 1000
    down = resumed - killed
    h = cap["headroom"]
    if h is None or h <= 1:
        raise SystemExit(f"round {i + 1}: headroom {h}: the paced job has no room to catch up; lower RATE")
    predicted = (down + replay) / (h - 1)
    measured = caught_up - resumed
    say(f"round {i + 1}: headroom {h:.2f}, down {down:.1f} s, replay {replay:.1f} s "
        f"-> predicted {predicted:.1f} s, measured {measured:.1f} s "
        f"(the model's own figure, with the interval as replay: {cap['catch_up_seconds']:.1f} s)")
    return predicted, measured, h


rows = [one_round(i) for i in range(ROUNDS)]
p = statistics.median(r[0] for r in rows)
m = statistics.median(r[1] for r in rows)
row = {"predicted": round(p, 3), "measured": round(m, 3), "error": round(p / m - 1, 4),
       "headroom": round(statistics.median(r[2] for r in rows), 2), "rounds": ROUNDS,
       "rate": RATE, "down_s": DOWN_S}
print(f"catch-up after a SIGKILL and {DOWN_S:.0f} s down at {RATE:,}/s: predicted {p:.1f} s, "
      f"measured {m:.1f} s, error {p / m - 1:+.1%} (median of {ROUNDS})", flush=True)
print(json.dumps(row), flush=True)
