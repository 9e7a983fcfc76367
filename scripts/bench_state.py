"""Driver of scripts/bench-state.sh: runs the jobs, reads the REST API and the
logs, prints one line per measured figure (see docs/benchmarks.md)."""
import json, os, re, signal, statistics, subprocess, sys, threading, time, urllib.request

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
KEYS = int(os.environ.get("KEYS", 2_000_000))
PAYLOAD = int(os.environ.get("PAYLOAD", 1000))
INTERVAL = float(os.environ.get("INTERVAL_S", 5))
CHANGE = float(os.environ.get("CHANGE", 0.01))
CHECKPOINTS = int(os.environ.get("CHECKPOINTS", 8))
BUDGET = os.environ.get("BUDGET", "256mb")
# Extra config lines, `key: value` separated by `;` (tuning variants).
EXTRA = "".join(f"  {kv.strip()}\n" for kv in os.environ.get("EXTRA_CONFIG", "").split(";") if kv.strip())
PHASES = os.environ.get("PHASES", "incremental,restore,throughput").split(",")
# The sweep phase: state sizes (k/m/g suffixes, powers of 1000) and checkpoint kinds.
SIZES = os.environ.get("SIZES", "100m,1g,4g").split(",")
MODES = os.environ.get("MODES", "full,incremental").split(",")
RESTORE_RE = (r"restored (?:RocksDB|heap) state from the (task-local|checkpoint storage) copy "
              r"in (\d+) ms")


def say(*a):
    print("==>", *a, file=sys.stderr, flush=True)


def job(name, params, extra="", incremental=True):
    p = "\n".join(f"  {k}: {v}" for k, v in params.items())
    text = f"""name: {name}
pipeline: keyed-count
params:
{p}
config:
  parallelism.default: 1
  state.backend.type: rocksdb
  state.backend.rocksdb.localdir: {WORK}/rocks
  taskmanager.memory.managed.size: {BUDGET}
  execution.checkpointing.incremental: {str(incremental).lower()}
  execution.checkpointing.interval: {int(INTERVAL * 1000)} ms
  execution.checkpointing.timeout: 10 min
  execution.checkpointing.tolerable-failed-checkpoints: 100
  execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
  execution.state-recovery.from-local: true
  taskmanager.state.local.root-dirs: {WORK}/local
  metrics.reporter.prom.port: 0
  rest.bind-port: 0
{EXTRA}{extra}"""
    path = f"{WORK}/{name}.yaml"
    open(path, "w").write(text)
    return path


class Run:
    def __init__(self, path, *args):
        self.log = open(f"{path}.{time.time_ns()}.log", "w+")
        self.p = subprocess.Popen([BIN, "run", path, "--status-interval", "0", *args],
                                  stderr=self.log, stdout=subprocess.DEVNULL, cwd=WORK)

    def text(self):
        self.log.flush()
        return open(self.log.name).read()

    def wait_log(self, pattern, timeout):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                raise SystemExit(f"job exited: {self.text()[-3000:]}")
            time.sleep(0.2)
        raise SystemExit(f"timeout waiting for {pattern}: {self.text()[-3000:]}")

    def peak_rss(self):
        """The process's peak resident set so far, bytes (VmHWM)."""
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def incremental():
    rate = max(1, int(KEYS * CHANGE / INTERVAL))
    path = job("bench-state", {"keys": KEYS, "payload-bytes": PAYLOAD, "warmup": KEYS, "rate": rate,
                               "events": 0, "sink": "blackhole"},
               "  execution.checkpointing.dir: s3://checkpoints/bench\n")
    say(f"loading {KEYS} keys x {PAYLOAD} B, then {rate} records/s (~{CHANGE:.0%} of keys per {INTERVAL:g} s)")
    r = Run(path)
    url = r.wait_log(r"rest: (http://\S+)", 60).group(1)
    seen, rows = set(), []
    t0 = time.time()
    while len(rows) < CHECKPOINTS:
        if time.time() - t0 > 3600:
            raise SystemExit("no steady state within an hour")
        time.sleep(1)
        hist = get(f"{url}/checkpoints")["history"]
        for c in sorted(hist, key=lambda c: c["id"]):
            if c["status"] != "COMPLETED" or c["id"] in seen:
                continue
            seen.add(c["id"])
            full, delta = c["state_size"], c["checkpointed_size"]
            # Steady state: the full state is loaded and was uploaded once already.
            if full < 0.9 * KEYS * PAYLOAD or len(seen) < 3 or delta > 0.5 * full and not rows:
                say(f"checkpoint {c['id']}: {delta / 1e6:.1f} of {full / 1e6:.1f} MB (loading)")
                continue
            sub = get(f"{url}/checkpoints/details/{c['id']}/subtasks/count")
            sync = max(s["checkpoint"]["sync"] for s in sub["subtasks"])
            rows.append((c["id"], delta, full, c["end_to_end_duration"], sync))
            say(f"checkpoint {c['id']}: uploaded {delta / 1e6:.1f} MB of {full / 1e6:.1f} MB "
                f"({delta / full:.2%}), {c['end_to_end_duration']} ms, sync {sync} ms")
    latest = get(f"{url}/checkpoints")["latest"]["completed"]
    r.kill()
    ratios = [d / f for _, d, f, _, _ in rows]
    print(f"incremental: {len(rows)} checkpoints, full size median {statistics.median(f for _, _, f, _, _ in rows) / 1e9:.2f} GB; "
          f"uploaded median {statistics.median(ratios):.2%} (mean {statistics.mean(ratios):.2%}, max {max(ratios):.2%}); "
          f"duration median {statistics.median(e for *_, e, _ in rows):.0f} ms (max {max(e for *_, e, _ in rows)} ms); "
          f"sync median {statistics.median(s for *_, s in rows):.0f} ms, max {max(s for *_, s in rows)} ms")
    return path, latest["external_path"], latest["id"]


def restores(path, chk, cid):
    out = {}
    for source in ("local", "remote"):
        if source == "remote":
            subprocess.run(["rm", "-rf", f"{WORK}/local"], check=True)
        r = Run(path, "--restore", chk)
        m = r.wait_log(RESTORE_RE, 1800)
        r.kill()
        got = "local" if m.group(1) == "task-local" else "remote"
        if got != source:
            raise SystemExit(f"expected a {source} restore, the job used {got}")
        out[source] = int(m.group(2))
        say(f"restore of checkpoint {cid} from {source}: {out[source]} ms")
    print(f"restore of checkpoint {cid}: local {out['local']} ms, S3 {out['remote']} ms "
          f"(local {out['remote'] / max(out['local'], 1):.1f}x faster)")


def size_bytes(text):
    t = text.strip().lower().rstrip("b")
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(t[-1:], 1)
    return int(float(t.rstrip("kmg")) * mult)


VACUUMING = threading.Lock()


def vacuum():
    """Asks SeaweedFS, on a thread of its own, to give the space of deleted
    objects back to the disk (it keeps it until a vacuum; full checkpoints of
    4 GB fill a disk fast). A vacuum can take minutes; one at a time. The
    master listens on the S3 port + 1."""
    port = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]) + 1

    def run():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/vol/vacuum?garbageThreshold=0.01",
                                   timeout=600).read()
        except OSError as e:
            say(f"vacuum failed (disk space is given back later): {e}")
        finally:
            VACUUMING.release()

    if VACUUMING.acquire(blocking=False):
        threading.Thread(target=run, daemon=True).start()


def steady_checkpoints(url, keys, n, timeout=3600):
    """The first `n` checkpoints completed after the state is loaded and uploaded once."""
    seen, rows, t0 = set(), [], time.time()
    while len(rows) < n:
        if time.time() - t0 > timeout:
            raise SystemExit("no steady state in time")
        time.sleep(1)
        for c in sorted(get(f"{url}/checkpoints")["history"], key=lambda c: c["id"]):
            if c["status"] != "COMPLETED" or c["id"] in seen:
                continue
            seen.add(c["id"])
            vacuum()
            full = c["state_size"]
            # Loading, or (incremental) the first upload of the loaded state.
            if full < 0.9 * keys * PAYLOAD or len(seen) < 3 or (
                    not rows and 0.5 * full < c["checkpointed_size"] < full):
                say(f"checkpoint {c['id']}: {full / 1e6:.0f} MB (loading)")
                continue
            sub = get(f"{url}/checkpoints/details/{c['id']}/subtasks/count")["subtasks"]
            row = {"id": c["id"], "full": full, "uploaded": c["checkpointed_size"],
                   "duration": c["end_to_end_duration"],
                   "sync": max(s["checkpoint"]["sync"] for s in sub),
                   "async": max(s["checkpoint"]["async"] for s in sub)}
            say(f"checkpoint {c['id']}: {row}")
            rows.append(row)
    return rows


def sweep():
    """Checkpoint duration and size against state size, full vs incremental,
    then the restore of the last one from the task-local copy and from S3."""
    n = max(3, CHECKPOINTS // 2)
    for size in SIZES:
        keys = max(1, size_bytes(size) // PAYLOAD)
        for mode in MODES:
            name = f"sweep-{size}-{mode}"
            rate = max(1, int(keys * CHANGE / INTERVAL))
            path = job(name, {"keys": keys, "payload-bytes": PAYLOAD, "warmup": keys, "rate": rate,
                              "events": 0, "sink": "blackhole"},
                       f"  execution.checkpointing.dir: s3://checkpoints/{name}\n",
                       incremental=(mode == "incremental"))
            say(f"{name}: loading {keys} keys x {PAYLOAD} B, then {rate} records/s")
            t0 = time.time()
            r = Run(path)
            url = r.wait_log(r"rest: (http://\S+)", 60).group(1)
            rows = steady_checkpoints(url, keys, n)
            latest = get(f"{url}/checkpoints")["latest"]["completed"]
            rss = r.peak_rss()
            r.kill()
            med = lambda k: statistics.median(x[k] for x in rows)
            restore = {}
            for source in ("local", "remote"):
                if source == "remote":
                    subprocess.run(["rm", "-rf", f"{WORK}/local"], check=True)
                rr = Run(path, "--restore", latest["external_path"])
                m = rr.wait_log(RESTORE_RE, 1800)
                restore[source] = (int(m.group(2)), rr.peak_rss())
                rr.kill()
                got = "local" if m.group(1) == "task-local" else "remote"
                if got != source:
                    raise SystemExit(f"{name}: expected a {source} restore, the job used {got}")
            out = {"size": size, "mode": mode, "checkpoints": len(rows),
                   "state_bytes": med("full"), "uploaded_bytes": med("uploaded"),
                   "duration_ms": med("duration"), "sync_ms": med("sync"), "async_ms": med("async"),
                   "max_duration_ms": max(x["duration"] for x in rows), "peak_rss_bytes": rss,
                   "restore_local_ms": restore["local"][0], "restore_local_rss_bytes": restore["local"][1],
                   "restore_s3_ms": restore["remote"][0], "restore_s3_rss_bytes": restore["remote"][1],
                   "wall_s": round(time.time() - t0)}
            print("sweep: " + json.dumps(out), flush=True)
            subprocess.run(["rm", "-rf", f"{WORK}/rocks", f"{WORK}/local"], check=True)


def throughput():
    events = 3 * KEYS
    path = job("bench-state-throughput", {"keys": KEYS, "payload-bytes": PAYLOAD, "warmup": KEYS,
                                          "events": events, "sink": "blackhole"},
               f"  execution.checkpointing.dir: {WORK}/ck-local\n")
    r = Run(path)
    r.p.wait()
    m = re.search(r"summary: .*", r.text())
    if not m:
        raise SystemExit(r.text()[-3000:])
    kv = dict(x.split("=") for x in m.group(0).split()[1:])
    print(f"throughput with {KEYS * PAYLOAD / 1e9:.1f} GB of state and a {BUDGET} budget: "
          f"{float(kv['records_per_s']) / 1e3:.0f} k records/s, peak RSS {int(kv['peak_rss_bytes']) / 2**20:.0f} MiB "
          f"({events} records: {KEYS} loading every key, then uniform updates)")


if "incremental" in PHASES:
    path, chk, cid = incremental()
    if "restore" in PHASES:
        restores(path, chk, cid)
if "throughput" in PHASES:
    throughput()
if "sweep" in PHASES:
    sweep()
