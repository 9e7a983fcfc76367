"""What the benchmark drivers share: starting a job and finding its REST URL."""
import re, subprocess, time


def start_job(bin_path, job, cwd, args=()):
    """Starts `tidemark run JOB` in `cwd` (stderr to a log there) and
    returns the process and its job URL (http://host:port/jobs/<id>) once it
    printed it; exits naming the log's end if it never does."""
    log = open(f"{cwd}/job.{time.time_ns()}.log", "w+")
    p = subprocess.Popen([bin_path, "run", job, "--status-interval", "0", *args],
                         stderr=log, stdout=subprocess.DEVNULL, cwd=cwd)
    end = time.time() + 60
    while True:
        m = re.search(r"rest: (http://\S+)", open(log.name).read())
        if m:
            return p, m.group(1)
        if time.time() > end or p.poll() is not None:
            raise SystemExit(f"no REST URL: {open(log.name).read()[-2000:]}")
        time.sleep(0.05)
