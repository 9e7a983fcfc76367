use super::*;
use crate::catalogue::MetricDef;
use crate::registry::{RegistryOptions, Value as Exposed};
use serde_json::{json, Value};
use std::cell::RefCell;

/// A JobManager with one job `j1` of two vertices (src → sink, parallelism
/// 2), answering in Flink 2.3's shapes from its fields; every path asked is
/// recorded.
struct FakeJobManager {
    up: bool,
    /// j1's state in the overview ("": not listed).
    state: &'static str,
    /// The sink's accumulated busy ms, summed over its subtasks.
    busy_ms: f64,
    restarts: u64,
    /// Completed checkpoints (ids 1..=n); each subtask's phases are
    /// `10 × id` ms end to end, `id` sync, `2 × id` async, 0 alignment,
    /// `3 × id` start delay.
    completed: u64,
    /// j1's exception history, newest first: (timestamp, task, stack trace).
    history: Vec<(i64, Option<&'static str>, &'static str)>,
    asked: RefCell<Vec<String>>,
}

impl Default for FakeJobManager {
    fn default() -> Self {
        Self {
            up: true,
            state: "RUNNING",
            busy_ms: 2500.0,
            restarts: 0,
            completed: 0,
            history: Vec::new(),
            asked: RefCell::default(),
        }
    }
}

fn checkpoint(id: u64) -> Value {
    json!({"className": "completed", "id": id, "status": "COMPLETED", "end_to_end_duration": 10 * id,
           "checkpointed_size": 100 * id, "state_size": 1000 * id, "latest_ack_timestamp": 1_700_000_000_000u64 + id})
}

impl FakeJobManager {
    fn get(&self, path: &str) -> Result<Value, String> {
        self.asked.borrow_mut().push(path.to_string());
        if !self.up {
            return Err("connection refused".into());
        }
        match path {
            "/jobs/overview" => {
                let jobs = match self.state {
                    "" => json!([]),
                    state => json!([
                        {"jid": "j1", "name": "wc", "state": state},
                        {"jid": "j0", "name": "old", "state": "FINISHED"}
                    ]),
                };
                return Ok(json!({ "jobs": jobs }));
            }
            "/jobs/j1" => {
                return Ok(json!({
                    "name": "wc", "maxParallelism": 256,
                    "vertices": [
                        {"id": "a", "name": "Source: src", "parallelism": 2},
                        {"id": "b", "name": "sink", "parallelism": 2}
                    ],
                    "plan": {"nodes": [
                        {"id": "b", "inputs": [{"id": "a", "ship_strategy": "HASH"}]},
                        {"id": "a"}
                    ]}
                }))
            }
            "/jobs/j1/checkpoints/config" => return Ok(json!({"interval": 2000})),
            "/jobs/j1/exceptions?maxExceptions=16" => {
                let entries: Vec<Value> = self
                    .history
                    .iter()
                    .map(|(t, task, trace)| {
                        let name = trace.split(':').next().unwrap();
                        json!({"exceptionName": name, "stacktrace": trace, "timestamp": t,
                               "taskName": task, "endpoint": "127.0.0.1:40000", "failureLabels": {},
                               "concurrentExceptions": []})
                    })
                    .collect();
                return Ok(json!({"exceptionHistory": {"entries": entries, "truncated": false}}));
            }
            "/jobs/j1/checkpoints" => {
                let history: Vec<Value> = (1..=self.completed)
                    .rev()
                    .take(10)
                    .map(checkpoint)
                    .collect();
                let latest = (self.completed > 0).then(|| checkpoint(self.completed));
                return Ok(json!({
                    "counts": {"completed": self.completed, "failed": 1, "restored": 0, "in_progress": 1, "total": self.completed + 2},
                    "latest": {"completed": latest},
                    "history": history
                }));
            }
            _ => {}
        }
        if path == "/taskmanagers" {
            return Ok(json!({"taskmanagers": [{"id": "127.0.0.1:41561-0b6a2e"}]}));
        }
        if let Some(rest) = path.strip_prefix("/taskmanagers/127.0.0.1:41561-0b6a2e/metrics") {
            let all = [
                ("Status.JVM.CPU.Time", "2500000000"),
                ("Status.JVM.Memory.Heap.Used", "1048576"),
                ("Status.JVM.Memory.Heap.Max", "4194304"),
                ("Status.JVM.GarbageCollector.G1_Young_Generation.Count", "7"),
                (
                    "Status.JVM.GarbageCollector.G1_Young_Generation.Time",
                    "120",
                ),
                ("Status.JVM.Threads.Count", "60"),
            ];
            let Some(names) = rest.strip_prefix("?get=") else {
                return Ok(Value::Array(
                    all.iter().map(|(n, _)| json!({"id": n})).collect(),
                ));
            };
            let names: Vec<&str> = names.split(',').collect();
            assert!(!names.contains(&"Status.JVM.Threads.Count"), "{names:?}");
            return Ok(Value::Array(
                all.iter()
                    .filter(|(n, _)| names.contains(n))
                    .map(|(n, v)| json!({"id": n, "value": v}))
                    .collect(),
            ));
        }
        if path.starts_with("/jobs/j1/metrics?get=") {
            return Ok(json!([
                {"id": "numRestarts", "value": self.restarts.to_string()},
                {"id": "runningTime", "value": "5000"}
            ]));
        }
        if let Some(rest) = path.strip_prefix("/jobs/j1/checkpoints/details/") {
            let (cid, _vertex) = rest.split_once("/subtasks/").unwrap();
            let id: u64 = cid.parse().unwrap();
            let done = json!({"index": 0, "status": "completed", "end_to_end_duration": 10 * id,
                "checkpoint": {"sync": id, "async": 2 * id}, "alignment": {"duration": 0}, "start_delay": 3 * id});
            return Ok(json!({"subtasks": [done, {"index": 1, "status": "pending_or_failed"}]}));
        }
        if let Some(rest) = path.strip_prefix("/jobs/j1/vertices/") {
            let (vertex, query) = rest.split_once("/subtasks/").unwrap();
            // One subtask's: half of each sum, values as strings; a name it
            // lacks is left out.
            let (subtask, query) = query.split_once("/metrics").unwrap_or(("", query));
            let query = query.strip_prefix("metrics").unwrap_or(query);
            let all = match vertex {
                "a" => vec![
                    json!({"id": "accumulateBackPressuredTimeMs", "min": 500.0, "max": 1000.0, "sum": 1500.0}),
                    json!({"id": "accumulateBusyTimeMs", "min": 0.0, "max": 0.0, "sum": 0.0}),
                    json!({"id": "Source__src.pendingRecords", "min": 10.0, "max": 30.0, "sum": 40.0}),
                    json!({"id": "Source__src.currentEmitEventTimeLag", "min": 100.0, "max": 250.0, "sum": 350.0}),
                    json!({"id": "Source__src.sourceIdleTime", "min": -1.0, "max": 5.0, "sum": 4.0}),
                    json!({"id": "Source__src.numRecordsInErrors", "min": 0.0, "max": 0.0, "sum": 0.0}),
                ],
                _ => vec![
                    json!({"id": "accumulateBusyTimeMs", "min": 0.0, "max": self.busy_ms, "sum": self.busy_ms}),
                    json!({"id": "numRecordsIn", "min": 20.0, "max": 22.0, "sum": 42.0}),
                    json!({"id": "Shuffle.Netty.Input.Buffers.inPoolUsage", "min": 0.25, "max": 0.75, "sum": 1.0}),
                    json!({"id": "currentInputWatermark", "min": -9.223372036854776E18, "max": 1.0e12, "sum": 0.0}),
                    // RocksDB native metrics: properties per state, a
                    // ticker per operator, one Flink has that is not mapped.
                    json!({"id": "sink.window-contents.rocksdb_estimate-num-keys", "min": 100.0, "max": 300.0, "sum": 400.0}),
                    json!({"id": "sink.other-state.rocksdb_estimate-num-keys", "min": 1.0, "max": 1.0, "sum": 2.0}),
                    json!({"id": "sink.window-contents.rocksdb_num-running-compactions", "min": 0.0, "max": 1.0, "sum": 1.0}),
                    json!({"id": "sink.other-state.rocksdb_num-running-compactions", "min": 0.0, "max": 1.0, "sum": 1.0}),
                    json!({"id": "sink.rocksdb_bytes_written", "min": 1000.0, "max": 3000.0, "sum": 4000.0}),
                    json!({"id": "sink.window-contents.rocksdb_num-snapshots", "min": 0.0, "max": 0.0, "sum": 0.0}),
                ],
            };
            let Some(query) = query.strip_prefix("?get=") else {
                let names: Vec<Value> = all.iter().map(|m| json!({"id": m["id"]})).collect();
                return Ok(Value::Array(names));
            };
            if !subtask.is_empty() {
                let halves = all
                    .iter()
                    .filter(|m| query.split(',').any(|n| m["id"] == n))
                    .map(|m| json!({"id": m["id"], "value": (m["sum"].as_f64().unwrap() / 2.0).to_string()}))
                    .collect();
                return Ok(Value::Array(halves));
            }
            let (names, agg) = query.split_once("&agg=").unwrap();
            assert_eq!(agg, "min,max,sum");
            // As Flink: one name the vertex lacks, and the answer is empty.
            let asked: Vec<&str> = names.split(',').collect();
            if asked.iter().any(|n| !all.iter().any(|m| m["id"] == *n)) {
                return Ok(json!([]));
            }
            return Ok(Value::Array(all));
        }
        Err(format!("404 {path}"))
    }
}

fn value(r: &Registry, def: &MetricDef, label: &str) -> Option<f64> {
    r.series_of(def)
        .into_iter()
        .find(|(labels, _)| labels.iter().any(|l| l == label))
        .map(|(_, v)| match v {
            Exposed::Counter(x) | Exposed::Gauge(x) => x,
            Exposed::Histogram { count, .. } => count as f64,
        })
}

fn vertex_registry() -> Registry {
    Registry::with_options(RegistryOptions {
        level: crate::labels::Level::Vertex,
        ..Default::default()
    })
}

#[test]
fn a_job_s_plan_names_each_vertex_s_inputs() {
    let jm = FakeJobManager::default();
    let job = plan(&|p: &str| jm.get(p), "j1").unwrap();
    assert_eq!((job.name.as_str(), job.max_parallelism), ("wc", 256));
    assert_eq!(job.vertices[1].inputs, ["Source: src"]);
    assert!(job.vertices[0].inputs.is_empty());
}

#[test]
fn a_poll_maps_accumulated_times_into_counters_and_retires_a_job_that_ends() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager::default();
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    // The overview; the new job's plan, checkpoint configuration and each
    // vertex's metric names; one request per vertex; its job metrics and
    // checkpoint statistics; the TaskManagers, the new one's metric names
    // and its metrics.
    assert_eq!((out.requests, out.failures, out.jobs), (12, 0, 1));
    let tm = "127.0.0.1:41561-0b6a2e";
    assert_eq!(value(&registry, &catalogue::TASKMANAGER_CPU, tm), Some(2.5));
    assert_eq!(
        value(&registry, &catalogue::TASKMANAGER_HEAP_USED, tm),
        Some(1048576.0)
    );
    let gc = value(
        &registry,
        &catalogue::TASKMANAGER_GC_TIME,
        "G1_Young_Generation",
    )
    .unwrap();
    assert!((gc - 0.12).abs() < 1e-12, "{gc}");
    assert_eq!(
        value(
            &registry,
            &catalogue::TASKMANAGER_GC_COUNT,
            "G1_Young_Generation"
        ),
        Some(7.0)
    );
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(2.5));
    assert_eq!(
        value(&registry, &catalogue::TASK_RECORDS_IN, "sink"),
        Some(42.0)
    );
    assert_eq!(
        value(&registry, &catalogue::TASK_BACKPRESSURED, "Source: src"),
        Some(1.5)
    );
    // The fullest subtask's queue; no watermark while one subtask has none.
    assert_eq!(
        value(&registry, &catalogue::TASK_INPUT_QUEUE_USAGE, "sink"),
        Some(0.75)
    );
    assert_eq!(
        value(&registry, &catalogue::TASK_INPUT_WATERMARK, "sink"),
        Some(-1.0)
    );
    assert_eq!(
        value(&registry, &catalogue::CHECKPOINT_INTERVAL, "wc"),
        Some(2.0)
    );
    assert_eq!(value(&registry, &catalogue::JOB_UPTIME, "wc"), Some(5.0));
    // The source's FLIP-33 metrics, under its operator's name: the backlog
    // summed, the worst lag; an undefined (negative) one stays "not yet".
    assert_eq!(
        value(&registry, &catalogue::SOURCE_PENDING_RECORDS, "Source: src"),
        Some(40.0)
    );
    assert_eq!(
        value(
            &registry,
            &catalogue::SOURCE_EMIT_EVENT_TIME_LAG,
            "Source: src"
        ),
        Some(0.25)
    );
    assert_eq!(
        value(&registry, &catalogue::SOURCE_IDLE_TIME, "Source: src"),
        Some(-1.0)
    );
    assert_eq!(
        value(&registry, &catalogue::SOURCE_EMIT_EVENT_TIME_LAG, "sink"),
        None,
        "a vertex that is no source has no source series"
    );
    let asked = jm.asked.borrow().clone();
    assert!(
        !asked.iter().any(|p| p.contains("numRecordsInErrors")),
        "only the metrics read are asked for: {asked:?}"
    );
    let info = registry.series_of(&catalogue::VERTEX_INFO);
    assert!(
        info.iter().any(|(l, _)| l.contains(&"sink".to_string())
            && l.contains(&"Source: src".to_string())
            && l.contains(&"256".to_string())),
        "{info:?}"
    );
    // The next poll reads the metrics again, not the plan.
    jm.busy_ms = 4000.0;
    jm.asked.borrow_mut().clear();
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(out.requests, 7);
    assert!(!jm.asked.borrow().iter().any(|p| p == "/jobs/j1"));
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(4.0));
    let own = registry.series_of(&catalogue::BRIDGE_REQUESTS);
    assert_eq!(own, vec![(vec![], Exposed::Counter(19.0))]);
    // Gone from the overview: its series are retired.
    jm.state = "";
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(
        (out.jobs, out.retired.as_slice()),
        (0, ["j1".to_string()].as_slice())
    );
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), None);
}

#[test]
fn a_total_that_restarts_from_zero_adds_only_what_grew() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager {
        busy_ms: 10_000.0,
        restarts: 0,
        ..Default::default()
    };
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    // The sink's tasks restarted: Flink's total starts again from zero.
    (jm.busy_ms, jm.restarts) = (1_000.0, 1);
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(10.0));
    assert_eq!(value(&registry, &catalogue::JOB_RESTARTS, "wc"), Some(1.0));
    jm.busy_ms = 3_500.0;
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(12.5));
}

#[test]
fn a_total_that_dips_counts_nothing_twice() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager {
        busy_ms: 10_000.0,
        ..Default::default()
    };
    // A source's busy time, derived by Flink, dips and grows again.
    for (busy_ms, want) in [(10_000.0, 10.0), (9_500.0, 10.0), (10_200.0, 10.2)] {
        jm.busy_ms = busy_ms;
        bridge.poll(&|p: &str| jm.get(p)).unwrap();
        let got = value(&registry, &catalogue::TASK_BUSY, "sink").unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{busy_ms} ms read: {got} s exported"
        );
    }
}

#[test]
fn each_completed_checkpoint_s_phases_are_observed_once_per_subtask() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager {
        completed: 3,
        ..Default::default()
    };
    // First sight: the newest checkpoint only (one completed subtask per vertex).
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(out.checkpoints_observed, 1);
    let count = |def| value(&registry, def, "sink");
    assert_eq!(count(&catalogue::CHECKPOINT_SYNC_DURATION), Some(1.0));
    assert_eq!(
        value(&registry, &catalogue::CHECKPOINT_LAST_ID, "wc"),
        Some(3.0)
    );
    let last = value(&registry, &catalogue::CHECKPOINT_LAST_DURATION, "wc").unwrap();
    assert!((last - 0.03).abs() < 1e-12, "{last}");
    assert_eq!(
        value(&registry, &catalogue::CHECKPOINTS_COMPLETED, "wc"),
        Some(3.0)
    );
    // Nothing new: nothing observed, no detail read.
    jm.asked.borrow_mut().clear();
    assert_eq!(
        bridge
            .poll(&|p: &str| jm.get(p))
            .unwrap()
            .checkpoints_observed,
        0
    );
    assert!(!jm.asked.borrow().iter().any(|p| p.contains("/details/")));
    // Two completed between polls: both, once each.
    jm.completed = 5;
    assert_eq!(
        bridge
            .poll(&|p: &str| jm.get(p))
            .unwrap()
            .checkpoints_observed,
        2
    );
    assert_eq!(count(&catalogue::CHECKPOINT_SYNC_DURATION), Some(3.0));
    let sync = registry.series_of(&catalogue::CHECKPOINT_START_DELAY);
    let (_, Exposed::Histogram { sum, .. }) = sync
        .iter()
        .find(|(l, _)| l.contains(&"sink".to_string()))
        .unwrap()
    else {
        panic!("{sync:?}")
    };
    // Start delays 9, 12 and 15 ms.
    assert!((sum - 0.036).abs() < 1e-9, "{sum}");
}

#[test]
fn a_jobmanager_that_does_not_answer_withdraws_the_series_until_it_is_back() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager {
        busy_ms: 1000.0,
        ..Default::default()
    };
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    jm.up = false;
    let e = bridge.poll(&|p: &str| jm.get(p)).unwrap_err();
    assert!(e.contains("connection refused"), "{e}");
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), None);
    let up = registry.series_of(&catalogue::BRIDGE_UP);
    assert_eq!(up, vec![(vec![], Exposed::Gauge(0.0))]);
    let failed = registry.series_of(&catalogue::BRIDGE_FAILURES);
    assert_eq!(failed, vec![(vec![], Exposed::Counter(1.0))]);
    // Back: the series return with Flink's totals.
    (jm.up, jm.busy_ms) = (true, 3000.0);
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(3.0));
    let up = registry.series_of(&catalogue::BRIDGE_UP);
    assert_eq!(up, vec![(vec![], Exposed::Gauge(1.0))]);
}

#[test]
fn a_constant_label_is_added_to_every_exported_series() {
    let registry = Registry::default().with_constant_label(crate::labels::CLUSTER, "prod-eu");
    let mut bridge = Bridge::new(registry.clone());
    let jm = FakeJobManager::default();
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    let snapshot = registry.snapshot();
    assert!(snapshot.len() > 5);
    for fam in &snapshot {
        assert_eq!(fam.labels.last(), Some(&"cluster"), "{}", fam.def.name);
        for (values, _) in &fam.series {
            assert_eq!(values.len(), fam.labels.len(), "{}", fam.def.name);
            assert_eq!(values.last().map(String::as_str), Some("prod-eu"));
        }
    }
}

#[test]
fn at_subtask_level_each_subtask_is_read_and_exported_on_its_own() {
    let registry = Registry::default();
    let mut bridge = Bridge::new(registry.clone());
    let jm = FakeJobManager::default();
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    let asked = jm.asked.borrow().clone();
    for i in 0..2 {
        let path = format!("/jobs/j1/vertices/b/subtasks/{i}/metrics?get=");
        assert!(asked.iter().any(|p| p.starts_with(&path)), "{asked:?}");
    }
    assert!(!asked.iter().any(|p| p.contains("&agg=")), "{asked:?}");
    let busy: Vec<(Vec<String>, Exposed)> = registry
        .series_of(&catalogue::TASK_BUSY)
        .into_iter()
        .filter(|(l, _)| l[2] == "sink")
        .collect();
    assert_eq!(
        busy,
        vec![
            (
                vec!["wc".into(), "j1".into(), "sink".into(), "0".into()],
                Exposed::Counter(1.25)
            ),
            (
                vec!["wc".into(), "j1".into(), "sink".into(), "1".into()],
                Exposed::Counter(1.25)
            ),
        ]
    );
}

#[test]
fn the_failures_behind_restarts_are_reported_once_and_a_restarting_job_stays_watched() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    // Restarted once before the agent watched: that failure is not news.
    let mut jm = FakeJobManager {
        restarts: 1,
        history: vec![(
            1_000,
            Some("sink (1/2)#0"),
            "java.lang.RuntimeException: old",
        )],
        ..Default::default()
    };
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert!(out.job_failures.is_empty(), "{:?}", out.job_failures);
    // Restarting: still watched. Flink counts the restart before its
    // history holds the failure: nothing to report yet, and the next poll
    // looks again.
    jm.state = "RESTARTING";
    jm.restarts = 2;
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert!(out.job_failures.is_empty(), "{:?}", out.job_failures);
    assert_eq!(out.jobs, 1);
    // The failure in the history: reported with its root cause.
    jm.history.insert(
        0,
        (
            2_000,
            Some("sink (2/2)#1"),
            "java.lang.IllegalStateException: injected\n\tat Slow.map(Slow.java:9)\nCaused by: java.io.IOException: disk full\n\tat Slow.write(Slow.java:20)",
        ),
    );
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert!(out.retired.is_empty(), "{:?}", out.retired);
    assert_eq!(out.jobs, 1);
    assert_eq!(
        out.job_failures,
        vec![JobFailure {
            job_id: "j1".into(),
            job_name: "wc".into(),
            job_failed: false,
            failure: Failure {
                at_ms: 2_000,
                task: Some("sink (2/2)#1".into()),
                exception: "java.lang.IllegalStateException: injected".into(),
                root_cause: Some("java.io.IOException: disk full".into()),
            },
        }]
    );
    assert_eq!(value(&registry, &catalogue::JOB_RESTARTS, "wc"), Some(2.0));
    // No new restart: the history is not read again.
    jm.state = "RUNNING";
    jm.asked.borrow_mut().clear();
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert!(out.job_failures.is_empty());
    assert!(!jm.asked.borrow().iter().any(|p| p.contains("/exceptions")));
    // Failed for good: its last failure, once, and the job retired.
    jm.state = "FAILED";
    jm.history.insert(
        0,
        (
            3_000,
            None,
            "org.apache.flink.runtime.JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy",
        ),
    );
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(out.retired, ["j1".to_string()]);
    let failed: Vec<(bool, i64, Option<String>)> = out
        .job_failures
        .iter()
        .map(|f| (f.job_failed, f.failure.at_ms, f.failure.task.clone()))
        .collect();
    assert_eq!(failed, [(true, 3_000, None)]);
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), None);
}

#[test]
fn rocksdb_native_metrics_map_per_state_and_per_subtask() {
    let registry = vertex_registry();
    let mut bridge = Bridge::new(registry.clone());
    let jm = FakeJobManager::default();
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    let keys = |state: &str| {
        registry
            .series_of(&catalogue::ROCKS_NUM_KEYS)
            .into_iter()
            .find(|(l, _)| l.iter().any(|x| x == state))
            .map(|(_, v)| v)
    };
    // Per state, summed over the subtasks.
    assert_eq!(keys("window-contents"), Some(Exposed::Gauge(400.0)));
    assert_eq!(keys("other-state"), Some(Exposed::Gauge(2.0)));
    // The instance's compactions, read through either state: not doubled.
    assert_eq!(
        value(&registry, &catalogue::ROCKS_RUNNING_COMPACTIONS, "sink"),
        Some(1.0)
    );
    assert_eq!(
        value(&registry, &catalogue::ROCKS_BYTES_WRITTEN, "sink"),
        Some(4000.0)
    );
    let asked = jm.asked.borrow().clone();
    assert!(
        !asked.iter().any(|p| p.contains("num-snapshots")),
        "{asked:?}"
    );
    // A vertex without RocksDB has no RocksDB series.
    assert_eq!(
        value(&registry, &catalogue::ROCKS_BYTES_WRITTEN, "Source: src"),
        None
    );
}
