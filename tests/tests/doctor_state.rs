//! `tidemark doctor` on a job whose RocksDB state is far beyond its memory
//! budget: `state-backend-limit` at the keyed vertex, until the action's
//! larger write-back cache, applied through a savepoint, holds the state.
//! The control is the same job on the heap backend, which has no backend to
//! wait on. Its own test binary: the jobs run flat out.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tidemark_tests::doctor::*;
use tidemark_tests::stream_jobs::{sets, start_with_token, stop_with_savepoint, TOKEN};
use tidemark_tests::*;

/// keyed-count unpaced over 2 million keys at parallelism 1; with RocksDB,
/// a write-back cache of 256 KB (a few thousand of the keys) and a block
/// cache of 1 MB: nearly every record's state is read from RocksDB. No
/// periodic checkpoints; the storage is where the savepoint goes.
fn job(backend: &str) -> String {
    let rocks = if backend == "rocksdb" {
        "  state.backend.type: rocksdb
  state.backend.rocksdb.localdir: ./rocks
  state.backend.rocksdb.write-back-cache.size: 256kb
  state.backend.rocksdb.block.cache-size: 1mb
  execution.checkpointing.dir: ./ck
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
  rest.auth.token-env: TIDEMARK_REST_TOKEN
{rocks}"
    )
}

/// The doctor's answer (through the CLI, with its default 2 s profile of a
/// busy bottleneck) once it satisfies `ok`; when that is
/// `state-backend-limit`, also through Prometheus. The job goes on running
/// (its REST URL returned with it).
fn diagnosis(
    d: &Path,
    backend: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> (Running, String, Value) {
    let (r, url) = start_job(d, "doctor-state", &job(backend), &[TOKEN]);
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let v = wait_doctor(d, &r, &url, what, Duration::from_secs(30), ok);
    // The same rules over Prometheus's scrapes of the job name the same
    // state-backend-limit.
    if v["findings"][0]["cause"] == "state-backend-limit" {
        let prom_url = format!("http://{}", prom.addr);
        wait_prometheus_cause(d, &r, &prom_url, "doctor-state", "state-backend-limit");
    }
    (r, url, v)
}

fn causes(v: &Value) -> Vec<&Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["cause"])
        .collect()
}

#[test]
fn state_far_beyond_memory_is_named_state_backend_limit_and_heap_state_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url, v) = diagnosis(
        d,
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
    let action = f["action"].as_str().unwrap();
    assert!(
        action.contains("state.backend.rocksdb.write-back-cache.size"),
        "{action}"
    );

    // The action applied: the same state, restored from a savepoint with a
    // write-back cache that holds all 2 million keys. Once they are loaded,
    // a full window passes without state-backend-limit.
    let savepoint = stop_with_savepoint(d, r, &url);
    let mut args: Vec<String> = [
        "run",
        "doctor-state.yaml",
        "--status-interval",
        "0",
        "--restore",
    ]
    .map(String::from)
    .to_vec();
    args.push(savepoint);
    args.extend(sets(&["state.backend.rocksdb.write-back-cache.size=2gb"]));
    let r = start_with_token(d, &args);
    let url = r.rest_url();
    wait_doctor(
        d,
        &r,
        &url,
        "a full window without state-backend-limit once the cache holds the state",
        Duration::from_secs(60),
        |v| {
            v["window_seconds"].as_f64().unwrap() >= 9.5
                && !causes(v).contains(&&Value::from("state-backend-limit"))
        },
    );
    r.kill();

    // Over a full window, the heap backend is never the limit.
    let dir = tempfile::tempdir().unwrap();
    let (r, _, v) = diagnosis(
        dir.path(),
        "heap",
        "an answer over the full 10 s window",
        |v| v["window_seconds"].as_f64().unwrap() >= 9.5,
    );
    r.kill();
    assert!(
        !causes(&v).contains(&&Value::from("state-backend-limit")),
        "{v}"
    );
}
