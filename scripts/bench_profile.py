"""Driver of scripts/bench-profile.sh: a job's rate in windows without and
with a flame graph being taken, alternating, in one run of the job."""
import json, os, signal, statistics, sys, time, urllib.request
from bench_common import start_job

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
ROUNDS = int(os.environ.get("ROUNDS", 5))
WINDOW_S = float(os.environ.get("WINDOW_S", 10))
KEYS = int(os.environ.get("KEYS", 100_000))


def say(*a):
    print("==>", *a, file=sys.stderr, flush=True)


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def emitted(url):
    """Records the source has emitted so far, and when that was read."""
    job = get(url)
    src = next(v for v in job["vertices"] if v["name"] == "datagen")
    return src["metrics"]["write-records"], time.monotonic()


def rate(url, during):
    (a, t0) = emitted(url)
    during()
    (b, t1) = emitted(url)
    return (b - a) / (t1 - t0)


path = f"{WORK}/profile.yaml"
open(path, "w").write(f"""name: bench-profile
pipeline: keyed-count
params:
  keys: {KEYS}
  rate: 0
  sink: blackhole
config:
  parallelism.default: 2
  metrics.reporter.prom.port: 0
  rest.bind-port: 0
""")
p, url = start_job(BIN, path, WORK)
try:
    # Past the start: the state has its keys and the rate is steady.
    rate(url, lambda: time.sleep(2 * WINDOW_S))
    flame = f"{url}/vertices/count/flamegraph?type=on_cpu&seconds={WINDOW_S}"
    without, with_ = [], []
    samples = 0
    got = {}
    measure = {
        "without": lambda: without.append(rate(url, lambda: time.sleep(WINDOW_S))),
        "with": lambda: with_.append(rate(url, lambda: got.update(get(flame, timeout=WINDOW_S + 60)))),
    }
    for i in range(ROUNDS):
        # A B, then B A: a rate that drifts during the run favours neither.
        for side in (("without", "with") if i % 2 == 0 else ("with", "without")):
            measure[side]()
        samples = got["data"]["value"]
        say(f"pair {i + 1}: without {without[-1]:,.0f}/s, with {with_[-1]:,.0f}/s "
            f"({samples} samples of count)")
    a, b = statistics.median(without), statistics.median(with_)
    # Each pair's ratio: the windows of a pair are next to each other, so
    # their ratio is less exposed to the machine's drift than the medians'.
    ratios = [round(w / wo, 4) for w, wo in zip(with_, without)]
    cost = 1 - statistics.median(ratios)
    row = {"without": round(a), "with": round(b), "ratios": ratios, "cost": round(cost, 4),
           "pairs": ROUNDS, "window_s": WINDOW_S, "samples": samples}
    print(f"without sampling {a:>11,.0f}/s  while sampling {b:>11,.0f}/s  cost {cost:+.1%} "
          f"(median of {ROUNDS} pairs' ratios, {min(ratios):.3f} to {max(ratios):.3f}; windows of {WINDOW_S:.0f} s)",
          flush=True)
    print(json.dumps(row), flush=True)
finally:
    p.send_signal(signal.SIGKILL)
    p.wait()
