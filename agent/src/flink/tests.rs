use super::*;
use crate::catalogue::MetricDef;
use serde_json::json;
use std::cell::RefCell;

/// A JobManager with one job `j1` of two vertices (src → sink, parallelism
/// 2) whose sink has been busy `busy_ms` in all; `running` says whether
/// the overview lists the job; every path asked is recorded.
struct FakeJobManager {
    running: bool,
    busy_ms: f64,
    asked: RefCell<Vec<String>>,
}

impl FakeJobManager {
    fn get(&self, path: &str) -> Result<Value, String> {
        self.asked.borrow_mut().push(path.to_string());
        if path == "/jobs/overview" {
            let jobs = match self.running {
                true => {
                    json!([{"jid": "j1", "name": "wc", "state": "RUNNING"}, {"jid": "j0", "name": "old", "state": "FINISHED"}])
                }
                false => json!([]),
            };
            return Ok(json!({ "jobs": jobs }));
        }
        if path == "/jobs/j1" {
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
            }));
        }
        if path.starts_with("/jobs/j1/vertices/b/subtasks/metrics?get=") {
            assert!(path.ends_with("&agg=sum"), "{path}");
            return Ok(json!([
                {"id": "accumulateBusyTimeMs", "sum": self.busy_ms},
                {"id": "numRecordsIn", "sum": 42.0}
            ]));
        }
        if path.starts_with("/jobs/j1/vertices/a/subtasks/metrics") {
            return Ok(json!([{"id": "accumulateBackPressuredTimeMs", "sum": 1500.0}]));
        }
        Err(format!("404 {path}"))
    }
}

fn value(r: &Registry, def: &MetricDef, vertex: &str) -> Option<f64> {
    r.series_of(def)
        .into_iter()
        .find(|(labels, _)| labels.iter().any(|l| l == vertex))
        .map(|(_, v)| match v {
            crate::registry::Value::Counter(x) | crate::registry::Value::Gauge(x) => x,
            _ => f64::NAN,
        })
}

#[test]
fn a_job_s_plan_names_each_vertex_s_inputs() {
    let jm = FakeJobManager {
        running: true,
        busy_ms: 0.0,
        asked: RefCell::default(),
    };
    let job = plan(&|p: &str| jm.get(p), "j1").unwrap();
    assert_eq!((job.name.as_str(), job.max_parallelism), ("wc", 256));
    assert_eq!(job.vertices[1].inputs, ["Source: src"]);
    assert!(job.vertices[0].inputs.is_empty());
}

#[test]
fn a_poll_maps_accumulated_times_into_counters_and_retires_a_job_that_ends() {
    let registry = Registry::with_options(crate::registry::RegistryOptions {
        level: crate::labels::Level::Vertex,
        ..Default::default()
    });
    let mut bridge = Bridge::new(registry.clone());
    let mut jm = FakeJobManager {
        running: true,
        busy_ms: 2500.0,
        asked: RefCell::default(),
    };
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    // The overview, the new job's plan, one request per vertex.
    assert_eq!((out.requests, out.failures, out.jobs), (4, 0, 1));
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(2.5));
    assert_eq!(
        value(&registry, &catalogue::TASK_RECORDS_IN, "sink"),
        Some(42.0)
    );
    assert_eq!(
        value(&registry, &catalogue::TASK_BACKPRESSURED, "Source: src"),
        Some(1.5)
    );
    let info = registry.series_of(&catalogue::VERTEX_INFO);
    assert!(
        info.iter().any(|(l, _)| l.contains(&"sink".to_string())
            && l.contains(&"Source: src".to_string())
            && l.contains(&"256".to_string())),
        "{info:?}"
    );
    // The next poll reads the counters again, not the plan.
    jm.busy_ms = 4000.0;
    jm.asked.borrow_mut().clear();
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(out.requests, 3);
    assert!(!jm.asked.borrow().iter().any(|p| p == "/jobs/j1"));
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(4.0));
    // Gone from the overview: its series are retired.
    jm.running = false;
    let out = bridge.poll(&|p: &str| jm.get(p)).unwrap();
    assert_eq!(
        (out.jobs, out.retired.as_slice()),
        (0, ["j1".to_string()].as_slice())
    );
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), None);
}

#[test]
fn a_jobmanager_that_does_not_answer_fails_the_poll_and_keeps_the_series() {
    let registry = Registry::default();
    let mut bridge = Bridge::new(registry.clone());
    let jm = FakeJobManager {
        running: true,
        busy_ms: 1000.0,
        asked: RefCell::default(),
    };
    bridge.poll(&|p: &str| jm.get(p)).unwrap();
    let down = |_: &str| -> Result<Value, String> { Err("connection refused".into()) };
    let e = bridge.poll(&down).unwrap_err();
    assert!(e.contains("connection refused"), "{e}");
    assert_eq!(value(&registry, &catalogue::TASK_BUSY, "sink"), Some(1.0));
}
