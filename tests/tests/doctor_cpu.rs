//! `tidemark doctor` on a job that keeps every core busy: `cpu-saturated`,
//! and a headroom bounded by the cores. Its own test binary: a job flat
//! out on every core would slow the other doctor tests, which cargo runs
//! side by side within a binary but never across binaries.

use serde_json::Value;
use std::time::Duration;
use tidemark_tests::*;

/// keyed-count unpaced at one subtask per core: a source, a count and a
/// sink thread per subtask, three busy threads per core (the oracle: the
/// job and the machine's cores, not the doctor's reading). With
/// `tidemark.doctor.cpu-ratio` at 0.75: the job keeps 1.5 to 1.9 of 2
/// cores busy alone, less when anything else on the machine wants a core.
#[test]
fn a_job_flat_out_on_every_core_is_named_cpu_saturated() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let yaml = format!(
        "name: doctor-cpu
pipeline: keyed-count
params:
  keys: 100000
  rate: 0
  sink: blackhole
config:
  parallelism.default: {cores}
  metrics.reporter.prom.port: 0
  tidemark.doctor.cpu-ratio: 0.75
"
    );
    let (r, url) = start_job(d, "doctor-cpu", &yaml, &[]);
    let v: Value = wait_for_or(
        "cpu-saturated within 30 s",
        Duration::from_secs(30),
        || {
            let (code, body) = tidemark_tests::servers::curl(&[&format!("{url}/doctor")]);
            let v: Option<Value> = (code == 200).then(|| serde_json::from_str(&body).unwrap());
            let found = v.filter(|v| {
                v["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x["cause"] == "cpu-saturated"))
            });
            if found.is_none() {
                // The answer changes once a second; asking every 20 ms
                // would take the very cores the test measures.
                std::thread::sleep(Duration::from_millis(250));
            }
            found
        },
        || r.stderr(),
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["cause"] == "cpu-saturated")
        .unwrap();
    let used = f["evidence"][0]["value"].as_f64().unwrap();
    assert_eq!(
        f["evidence"][1]["value"].as_f64(),
        Some(cores as f64),
        "{v}"
    );
    assert!(used >= 0.75 * cores as f64, "{v}");
    // The cores bound the headroom: at most cores / cores used.
    let headroom = v["capacity"]["headroom"].as_f64().unwrap();
    assert!(headroom <= cores as f64 / used + 1e-9, "{v}");
    r.kill();
}
