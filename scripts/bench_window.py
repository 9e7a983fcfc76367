"""One measurement window over a running keyed-count job, the same for Apache Flink and
Tidemark (both serve Flink's REST shapes): wait until the keyed vertex has read the load
(`warmup` records), then measure `window_s` seconds of steady state. Records come from the
vertex's `read-records`, CPU from the process's /proc/PID/stat over the same window, and
every checkpoint completed inside the window is collected from the REST history, polled
each `poll_s` (Flink keeps only the last few there). Used by scripts/bench_sweep.py for
Tidemark and by scripts/flink/keyed_count.py (WINDOW_S) for Flink."""
import json
import os
import statistics
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def read_records(job_url, word):
    """Records read by the vertex whose name contains `word`, and whether the job runs."""
    j = get(job_url)
    for v in j.get("vertices", []):
        if word in v.get("name", ""):
            return int(v.get("metrics", {}).get("read-records") or 0), j.get("state")
    return 0, j.get("state")


def fresh(job_url, word, prev, pid, timeout_s=30):
    """The vertex's count once it differs from `prev`, with the time and the process's CPU
    then. Flink's REST serves metrics its fetcher refreshed up to an interval ago; a changed
    value was fetched just now, so both ends of a window are read fresh."""
    deadline = time.monotonic() + timeout_s
    while True:
        n, _ = read_records(job_url, word)
        if n != prev:
            return n, time.monotonic(), proc_cpu_s(pid)
        if time.monotonic() > deadline:
            raise RuntimeError("read-records stayed at %d for %d s" % (n, timeout_s))
        time.sleep(0.05)


def measure(job_url, pid, word, warmup, window_s, load_timeout_s=3600, poll_s=1.0):
    """Returns a dict of figures, or raises if the job stops or the load never ends."""
    t_start = time.monotonic()
    while True:
        n, st = read_records(job_url, word)
        if st not in (None, "RUNNING", "CREATED", "INITIALIZING"):
            raise RuntimeError("job is %s before the window" % st)
        if n >= max(warmup, 1):
            break
        if time.monotonic() - t_start > load_timeout_s:
            raise RuntimeError("the load did not finish in %d s (%d of %d records)"
                               % (load_timeout_s, n, warmup))
        time.sleep(0.5)
    load_s = time.monotonic() - t_start
    seen = {}
    r0, t0, c0 = fresh(job_url, word, n, pid)
    wall0 = time.time() * 1000
    while time.monotonic() - t0 < window_s:
        time.sleep(poll_s)
        for h in get(job_url + "/checkpoints").get("history", []):
            if h.get("status") == "COMPLETED" and h.get("trigger_timestamp", 0) >= wall0:
                seen[h["id"]] = h
    r1, t1, c1 = fresh(job_url, word, read_records(job_url, word)[0], pid)
    dt, cpu = t1 - t0, c1 - c0
    durs = [h.get("end_to_end_duration", 0) for h in seen.values()]
    sizes = [h.get("checkpointed_size", 0) for h in seen.values()]
    full = [h.get("state_size", 0) for h in seen.values()]
    return {
        "load_s": round(load_s, 1),
        "window_s": round(dt, 1),
        "records": r1 - r0,
        "events_per_s": (r1 - r0) / dt,
        "cores": cpu / dt,
        "events_per_core_s": (r1 - r0) / cpu if cpu > 0 else None,
        "checkpoints": len(seen),
        "ckpt_ms_median": statistics.median(durs) if durs else None,
        "ckpt_bytes_median": statistics.median(sizes) if sizes else None,
        "state_bytes": max(full) if full else None,
        "peak_rss_mib": peak_rss_mib(pid),
    }
