//! `tidemark doctor` on a job whose RocksDB state is far beyond its memory
//! budget: `state-backend-limit` at the keyed vertex. The control is the same
//! job on the heap backend, which has no backend to wait on. Its own test
//! binary: the jobs run flat out.

use serde_json::Value;
use std::time::Duration;
use tidemark_tests::doctor::*;
use tidemark_tests::*;

/// keyed-count unpaced over 2 million keys at parallelism 1; with RocksDB,
/// a write-back cache of 256 KB (a few thousand of the keys) and a block
/// cache of 1 MB: nearly every record's state is read from RocksDB.
fn job(backend: &str) -> String {
    let rocks = if backend == "rocksdb" {
        "  state.backend.type: rocksdb
  state.backend.rocksdb.localdir: ./rocks
  state.backend.rocksdb.write-back-cache.size: 256kb
  state.backend.rocksdb.block.cache-size: 1mb
"
    } else {
        ""
    };
    format!(
        "name: doctor-state
pipeline: keyed-count
params:
  keys: 2000000
  rate: 0
  sink: blackhole
config:
  parallelism.default: 1
  metrics.reporter.prom.port: 0
{rocks}"
    )
}

/// The doctor's answer (through the CLI, with its default 2 s profile of a
/// busy bottleneck) once it satisfies `ok`.
fn diagnosis(backend: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url) = start_job(d, "doctor-state", &job(backend), &[]);
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let v = wait_doctor(d, &r, &url, what, Duration::from_secs(30), ok);
    // The same rules over Prometheus's scrapes of the job name the same
    // state-backend-limit.
    let prom_url = format!("http://{}", prom.addr);
    if v["findings"][0]["cause"] != "state-backend-limit" {
        r.kill();
        return v;
    }
    wait_prometheus_cause(d, &r, &prom_url, "doctor-state", "state-backend-limit");
    r.kill();
    v
}

#[test]
fn state_far_beyond_memory_is_named_state_backend_limit_and_heap_state_is_not() {
    let v = diagnosis(
        "rocksdb",
        "a finding at the keyed vertex within 30 s",
        |v| v["findings"][0]["vertex"] == "count",
    );
    let f = &v["findings"][0];
    assert_eq!(f["cause"], "state-backend-limit", "{v}");
    let share = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == "tidemark_task_state_seconds_total:ratio (of busy time)")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(share["value"].as_f64().unwrap() >= 0.5, "{v}");
    // And the subtask's RocksDB readings: its compaction debt, at least.
    assert!(
        f["evidence"].as_array().unwrap().iter().any(|e| e["metric"]
            == "tidemark_rocksdb_estimate_pending_compaction_bytes"
            && e["subtask"] == f["evidence"][1]["subtask"]),
        "{v}"
    );

    // Over a full window, the heap backend is never the limit.
    let v = diagnosis("heap", "an answer over the full 10 s window", |v| {
        v["window_seconds"].as_f64().unwrap() >= 9.5
    });
    let causes: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["cause"])
        .collect();
    assert!(
        !causes.contains(&&Value::from("state-backend-limit")),
        "{v}"
    );
}
