//! Asking `tidemark doctor` from the tests, as a user types it.

use crate::{run_stdout, wait_for_or, Running};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// `tidemark doctor URL --json ARGS`, parsed; `None` while the job has too
/// few measurements to answer (the command says so and exits 1).
pub fn doctor(d: &Path, url: &str, args: &[&str]) -> Option<Value> {
    let mut all = vec!["doctor", url, "--json"];
    all.extend(args);
    let (code, out) = run_stdout(d, &all);
    (code == 0).then(|| serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")))
}

/// Waits until `tidemark doctor URL --json`'s answer satisfies `ok`, and
/// returns it.
pub fn wait_doctor(
    d: &Path,
    r: &Running,
    url: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    wait_doctor_with(d, r, url, &[], what, timeout, ok)
}

/// [`wait_doctor`] with more arguments (`--profile 0 s`).
pub fn wait_doctor_with(
    d: &Path,
    r: &Running,
    url: &str,
    args: &[&str],
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_or(
        what,
        timeout,
        || {
            let v = doctor(d, url, args).filter(|v| ok(v));
            if v.is_none() {
                // The answer changes once a second: a process every 20 ms
                // would only load the machine the jobs under test run on.
                std::thread::sleep(Duration::from_millis(200));
            }
            v
        },
        || r.stderr(),
    )
}

/// `tidemark doctor --prometheus URL --job-name JOB --window 10 s --json`
/// in `d`, parsed; `None` while it cannot answer (too few scrapes yet).
pub fn doctor_through_prometheus(d: &Path, prom_url: &str, job: &str) -> Option<Value> {
    doctor_through_prometheus_with(d, prom_url, job, &[])
}

/// [`doctor_through_prometheus`] with more arguments (`--set KEY=VALUE`).
pub fn doctor_through_prometheus_with(
    d: &Path,
    prom_url: &str,
    job: &str,
    args: &[&str],
) -> Option<Value> {
    let mut all = vec![
        "doctor",
        "--prometheus",
        prom_url,
        "--job-name",
        job,
        "--window",
        "10 s",
        "--json",
    ];
    all.extend(args);
    let (code, out) = run_stdout(d, &all);
    (code == 0).then(|| serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")))
}

/// Waits (30 s at most) until [`doctor_through_prometheus`]'s top finding
/// is `cause`, and returns the answer.
pub fn wait_prometheus_cause(
    d: &Path,
    r: &Running,
    prom_url: &str,
    job: &str,
    cause: &str,
) -> Value {
    wait_prometheus(
        d,
        r,
        (prom_url, job, &[]),
        &format!("{cause} through Prometheus within 30 s"),
        |v| v["findings"][0]["cause"] == cause,
    )
}

/// Waits (30 s at most) until [`doctor_through_prometheus_with`]'s answer
/// for `(prometheus URL, job name, more arguments)` satisfies `ok`, and
/// returns it.
pub fn wait_prometheus(
    d: &Path,
    r: &Running,
    (prom_url, job, args): (&str, &str, &[&str]),
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_or(
        what,
        Duration::from_secs(30),
        || {
            let v = doctor_through_prometheus_with(d, prom_url, job, args).filter(|v| ok(v));
            if v.is_none() {
                std::thread::sleep(Duration::from_millis(200));
            }
            v
        },
        || r.stderr(),
    )
}
