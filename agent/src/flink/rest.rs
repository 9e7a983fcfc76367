//! The JobManager's REST answers the agent reads, parsed into what it maps.
//! Each function is one request; the shapes are those of Flink 2.3
//! (`tests/tests/flink_cluster.rs` checks them against a real cluster).

use serde_json::Value;
use std::collections::BTreeMap;

/// A GET of a path under the JobManager's REST address, answered as JSON.
pub type Fetch<'a> = &'a dyn Fn(&str) -> Result<Value, String>;

/// One vertex of a Flink job's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FlinkVertex {
    /// Flink's vertex id (32 hex characters).
    pub id: String,
    /// Its name (the chained operators' names: `Source: source -> to-key`).
    pub name: String,
    /// Its parallelism.
    pub parallelism: u64,
    /// The names of the vertices it reads from.
    pub inputs: Vec<String>,
}

/// A running job's identity and plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FlinkJob {
    /// Flink's job id.
    pub id: String,
    /// The job's name (`job_name`).
    pub name: String,
    /// `pipeline.max-parallelism` as the plan reports it (128 if not).
    pub max_parallelism: u64,
    /// Its vertices, as the plan lists them.
    pub vertices: Vec<FlinkVertex>,
}

/// A job as `/jobs/overview` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedJob {
    /// Flink's job id.
    pub id: String,
    /// The job's name.
    pub name: String,
    /// Flink's `JobStatus` (`RUNNING`, `RESTARTING`, `FAILED`, …).
    pub state: String,
}

impl ListedJob {
    /// Whether the job has ended: a globally terminal state (`FINISHED`,
    /// `CANCELED`, `FAILED`) or `SUSPENDED` (this JobManager gave it up).
    /// `RESTARTING`, `FAILING`, `CANCELLING`, `CREATED`, `INITIALIZING`
    /// and `RECONCILING` are a live job between two runs of its tasks.
    pub fn ended(&self) -> bool {
        matches!(
            self.state.as_str(),
            "FINISHED" | "CANCELED" | "FAILED" | "SUSPENDED"
        )
    }
}

/// The jobs in `/jobs/overview`, whatever their state.
pub fn jobs_overview(fetch: Fetch) -> Result<Vec<ListedJob>, String> {
    let v = fetch("/jobs/overview")?;
    let jobs = v["jobs"]
        .as_array()
        .ok_or_else(|| format!("/jobs/overview has no jobs list: {v}"))?;
    Ok(jobs
        .iter()
        .filter_map(|j| {
            Some(ListedJob {
                id: j["jid"].as_str()?.to_string(),
                name: j["name"].as_str()?.to_string(),
                state: j["state"].as_str()?.to_string(),
            })
        })
        .collect())
}

/// Job `id`'s plan from `/jobs/:id`.
pub fn plan(fetch: Fetch, id: &str) -> Result<FlinkJob, String> {
    let v = fetch(&format!("/jobs/{id}"))?;
    let vertices = v["vertices"]
        .as_array()
        .ok_or_else(|| format!("/jobs/{id} has no vertices: {v}"))?;
    let name_of = |vid: &str| {
        vertices
            .iter()
            .find(|x| x["id"] == vid)
            .and_then(|x| x["name"].as_str())
            .unwrap_or(vid)
            .to_string()
    };
    let nodes = v["plan"]["nodes"].as_array().cloned().unwrap_or_default();
    let inputs_of = |vid: &str| -> Vec<String> {
        nodes
            .iter()
            .find(|n| n["id"] == vid)
            .and_then(|n| n["inputs"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
            .map(name_of)
            .collect()
    };
    Ok(FlinkJob {
        id: id.to_string(),
        name: v["name"].as_str().unwrap_or(id).to_string(),
        max_parallelism: v["maxParallelism"].as_u64().unwrap_or(128),
        vertices: vertices
            .iter()
            .filter_map(|x| {
                let vid = x["id"].as_str()?;
                Some(FlinkVertex {
                    id: vid.to_string(),
                    name: x["name"].as_str().unwrap_or(vid).to_string(),
                    parallelism: x["parallelism"].as_u64().unwrap_or(1),
                    inputs: inputs_of(vid),
                })
            })
            .collect(),
    })
}

/// A metric aggregated over a vertex's subtasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    /// The smallest subtask's value.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their sum.
    pub sum: f64,
}

/// The metrics read per vertex (those of them it has), aggregated over its
/// subtasks in one request: Flink's accumulated times (counters since the task started, in
/// ms; spelled "accumulate…"), record counts, buffer pool usage and the
/// input watermark.
pub const VERTEX_METRICS: &[&str] = &[
    "accumulateBusyTimeMs",
    "accumulateIdleTimeMs",
    "accumulateBackPressuredTimeMs",
    "numRecordsIn",
    "numRecordsOut",
    "Shuffle.Netty.Input.Buffers.inPoolUsage",
    "Shuffle.Netty.Output.Buffers.outPoolUsage",
    "currentInputWatermark",
];

/// FLIP-33 source metrics, which a source operator reports under its own
/// name (`Source__kafka.pendingRecords`): the suffixes the agent reads.
pub const SOURCE_METRICS: &[&str] = &[
    ".pendingRecords",
    ".currentEmitEventTimeLag",
    ".sourceIdleTime",
];

/// Which of [`VERTEX_METRICS`], of its operators' [`SOURCE_METRICS`] and of
/// their RocksDB native metrics the agent maps vertex `vertex` has (`/jobs/:job/vertices/:vertex/subtasks/metrics` lists
/// them): an aggregated read naming one it lacks is answered with nothing
/// at all, and a source has no input watermark. Empty until the
/// JobManager's metric fetcher has read the vertex's subtasks once.
pub fn vertex_metric_names(fetch: Fetch, job: &str, vertex: &str) -> Result<Vec<String>, String> {
    let v = fetch(&format!("/jobs/{job}/vertices/{vertex}/subtasks/metrics"))?;
    let list = v
        .as_array()
        .ok_or_else(|| format!("vertex {vertex}'s metric names are not a list: {v}"))?;
    let listed: Vec<&str> = list.iter().filter_map(|m| m["id"].as_str()).collect();
    let sources = listed
        .iter()
        .filter(|n| SOURCE_METRICS.iter().any(|s| n.ends_with(s)) || super::rocksdb::mapped(n))
        .map(|n| n.to_string());
    Ok(VERTEX_METRICS
        .iter()
        .filter(|name| listed.contains(name))
        .map(|n| n.to_string())
        .chain(sources)
        .collect())
}

/// `names` of a vertex, each as min, max and sum over its subtasks.
pub fn vertex_metrics(
    fetch: Fetch,
    job: &str,
    vertex: &str,
    names: &[String],
) -> Result<BTreeMap<String, Aggregate>, String> {
    let v = fetch(&format!(
        "/jobs/{job}/vertices/{vertex}/subtasks/metrics?get={}&agg=min,max,sum",
        names.join(",")
    ))?;
    let list = v
        .as_array()
        .ok_or_else(|| format!("vertex {vertex}'s metrics are not a list: {v}"))?;
    Ok(list
        .iter()
        .filter_map(|m| {
            let agg = Aggregate {
                min: m["min"].as_f64()?,
                max: m["max"].as_f64()?,
                sum: m["sum"].as_f64()?,
            };
            Some((m["id"].as_str()?.to_string(), agg))
        })
        .collect())
}

/// `names` of subtask `index` of a vertex (`/jobs/:job/vertices/:vertex/
/// subtasks/:index/metrics?get=…`, which leaves out a name it lacks), each
/// as its own min, max and sum.
pub fn subtask_metrics(
    fetch: Fetch,
    job: &str,
    vertex: &str,
    index: u64,
    names: &[String],
) -> Result<BTreeMap<String, Aggregate>, String> {
    let v = fetch(&format!(
        "/jobs/{job}/vertices/{vertex}/subtasks/{index}/metrics?get={}",
        names.join(",")
    ))?;
    let values = metric_values(&v)
        .ok_or_else(|| format!("subtask {index} of vertex {vertex}: not a list: {v}"))?;
    Ok(values
        .into_iter()
        .map(|(name, x)| {
            let agg = Aggregate {
                min: x,
                max: x,
                sum: x,
            };
            (name, agg)
        })
        .collect())
}

/// The job-level metrics read per poll: restarts, and the time running since
/// the last (re)start (`runningTime`, which replaced `uptime`).
pub const JOB_METRICS: &[&str] = &["numRestarts", "runningTime"];

/// [`JOB_METRICS`] of job `id` (`/jobs/:id/metrics?get=…`); Flink answers
/// gauges' values as strings.
pub fn job_metrics(fetch: Fetch, id: &str) -> Result<BTreeMap<String, f64>, String> {
    let v = fetch(&format!("/jobs/{id}/metrics?get={}", JOB_METRICS.join(",")))?;
    metric_values(&v).ok_or_else(|| format!("job {id}'s metrics are not a list: {v}"))
}

/// One failure in a job's exception history.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// When it happened (Unix ms).
    pub at_ms: i64,
    /// The task that failed (`slow-sink (1/2)#0`), or `None` for a failure
    /// of the job as a whole (a JobManager-side error).
    pub task: Option<String>,
    /// The exception's first line (`java.lang.IllegalStateException: …`).
    pub exception: String,
    /// The innermost `Caused by:` of its stack trace, when it has one: the
    /// root cause a wrapped exception hides.
    pub root_cause: Option<String>,
}

/// How many of the newest history entries the agent asks for; Flink keeps
/// `web.exception-history-size` (16) at most.
const EXCEPTIONS_ASKED: usize = 16;

/// Job `id`'s exception history, newest first (`/jobs/:id/exceptions`,
/// `exceptionHistory.entries`).
pub fn exceptions(fetch: Fetch, id: &str) -> Result<Vec<Failure>, String> {
    let v = fetch(&format!(
        "/jobs/{id}/exceptions?maxExceptions={EXCEPTIONS_ASKED}"
    ))?;
    let entries = v["exceptionHistory"]["entries"]
        .as_array()
        .ok_or_else(|| format!("/jobs/{id}/exceptions has no exceptionHistory.entries: {v}"))?;
    Ok(entries
        .iter()
        .map(|e| {
            let trace = e["stacktrace"].as_str().unwrap_or("");
            let first = trace.lines().next().unwrap_or("").trim();
            Failure {
                at_ms: e["timestamp"].as_i64().unwrap_or(0),
                task: e["taskName"].as_str().map(String::from),
                exception: match first {
                    "" => e["exceptionName"].as_str().unwrap_or("").to_string(),
                    _ => first.to_string(),
                },
                root_cause: trace
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("Caused by: "))
                    .next_back()
                    .map(String::from),
            }
        })
        .collect())
}

/// A completed checkpoint as `/jobs/:id/checkpoints` lists it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: u64,
    /// Trigger to the last acknowledgement, ms.
    pub duration_ms: u64,
    /// Bytes this checkpoint wrote (`checkpointed_size`: the increment).
    pub checkpointed_size: u64,
    /// The full state it holds (`state_size`).
    pub state_size: u64,
    /// When its last subtask acknowledged it (Unix ms).
    pub completed_at_ms: u64,
    /// Bytes processed during alignment (`processed_data`).
    pub processed_bytes: u64,
    /// In-flight bytes persisted, unaligned checkpoints only (`persisted_data`).
    pub persisted_bytes: u64,
}

impl CompletedCheckpoint {
    fn from_json(c: &Value) -> Option<Self> {
        Some(Self {
            id: c["id"].as_u64()?,
            duration_ms: c["end_to_end_duration"].as_u64().unwrap_or(0),
            checkpointed_size: c["checkpointed_size"].as_u64().unwrap_or(0),
            state_size: c["state_size"].as_u64().unwrap_or(0),
            completed_at_ms: c["latest_ack_timestamp"].as_u64().unwrap_or(0),
            processed_bytes: c["processed_data"].as_u64().unwrap_or(0),
            persisted_bytes: c["persisted_data"].as_u64().unwrap_or(0),
        })
    }
}

/// `/jobs/:id/checkpoints`: the JobManager's counts and the completed
/// checkpoints it still lists (`web.checkpoints.history`, newest first).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckpointStats {
    /// Checkpoints completed since the job was submitted.
    pub completed: u64,
    /// Checkpoints that failed.
    pub failed: u64,
    /// Restores from a checkpoint.
    pub restored: u64,
    /// Checkpoints triggered and not yet completed or failed.
    pub in_progress: u64,
    /// The newest completed checkpoint.
    pub latest: Option<CompletedCheckpoint>,
    /// The completed checkpoints of the history, newest first.
    pub history: Vec<CompletedCheckpoint>,
}

/// Job `id`'s checkpoint statistics.
pub fn checkpoint_stats(fetch: Fetch, id: &str) -> Result<CheckpointStats, String> {
    let v = fetch(&format!("/jobs/{id}/checkpoints"))?;
    let counts = &v["counts"];
    let count = |k: &str| {
        counts[k]
            .as_u64()
            .ok_or_else(|| format!("/jobs/{id}/checkpoints has no counts.{k}: {v}"))
    };
    Ok(CheckpointStats {
        completed: count("completed")?,
        failed: count("failed")?,
        restored: count("restored")?,
        in_progress: count("in_progress")?,
        latest: CompletedCheckpoint::from_json(&v["latest"]["completed"]),
        history: v["history"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "COMPLETED")
            .filter_map(CompletedCheckpoint::from_json)
            .collect(),
    })
}

/// Job `id`'s checkpoint interval in ms from `/jobs/:id/checkpoints/config`;
/// 0 when periodic checkpoints are off (Flink answers `Long.MAX_VALUE`).
pub fn checkpoint_interval_ms(fetch: Fetch, id: &str) -> Result<u64, String> {
    let v = fetch(&format!("/jobs/{id}/checkpoints/config"))?;
    let ms = v["interval"]
        .as_u64()
        .ok_or_else(|| format!("/jobs/{id}/checkpoints/config has no interval: {v}"))?;
    Ok(if ms >= i64::MAX as u64 { 0 } else { ms })
}

/// One subtask's phases of a completed checkpoint, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SubtaskPhases {
    /// Trigger to this subtask's acknowledgement.
    pub end_to_end: u64,
    /// The synchronous part of its snapshot.
    pub sync: u64,
    /// The asynchronous part (writing to storage).
    pub async_: u64,
    /// First to last barrier.
    pub alignment: u64,
    /// Trigger to the first barrier reaching it.
    pub start_delay: u64,
}

/// The phases of vertex `vertex`'s subtasks that completed checkpoint `cid`
/// (`/jobs/:id/checkpoints/details/:cid/subtasks/:vid`; pending or failed
/// subtasks carry none and are left out).
pub fn subtask_phases(
    fetch: Fetch,
    id: &str,
    cid: u64,
    vertex: &str,
) -> Result<Vec<SubtaskPhases>, String> {
    let v = fetch(&format!(
        "/jobs/{id}/checkpoints/details/{cid}/subtasks/{vertex}"
    ))?;
    let subtasks = v["subtasks"]
        .as_array()
        .ok_or_else(|| format!("checkpoint {cid} of vertex {vertex} has no subtasks: {v}"))?;
    Ok(subtasks
        .iter()
        .filter(|s| s["status"] == "completed")
        .map(|s| {
            let ms = |x: &Value| x.as_u64().unwrap_or(0);
            SubtaskPhases {
                end_to_end: ms(&s["end_to_end_duration"]),
                sync: ms(&s["checkpoint"]["sync"]),
                async_: ms(&s["checkpoint"]["async"]),
                alignment: ms(&s["alignment"]["duration"]),
                start_delay: ms(&s["start_delay"]),
            }
        })
        .collect())
}

/// The TaskManagers' ids (`/taskmanagers`).
pub fn taskmanagers(fetch: Fetch) -> Result<Vec<String>, String> {
    let v = fetch("/taskmanagers")?;
    let list = v["taskmanagers"]
        .as_array()
        .ok_or_else(|| format!("/taskmanagers has no taskmanagers list: {v}"))?;
    Ok(list
        .iter()
        .filter_map(|t| Some(t["id"].as_str()?.to_string()))
        .collect())
}

/// A TaskManager's JVM metrics the agent reads: CPU time (ns) and heap.
pub const TASKMANAGER_METRICS: &[&str] = &[
    "Status.JVM.CPU.Time",
    "Status.JVM.Memory.Heap.Used",
    "Status.JVM.Memory.Heap.Max",
];

/// Which of [`TASKMANAGER_METRICS`] and of its garbage collectors'
/// `Status.JVM.GarbageCollector.<name>.Count|Time` TaskManager `id` has.
pub fn taskmanager_metric_names(fetch: Fetch, id: &str) -> Result<Vec<String>, String> {
    let v = fetch(&format!("/taskmanagers/{id}/metrics"))?;
    let list = v
        .as_array()
        .ok_or_else(|| format!("TaskManager {id}'s metric names are not a list: {v}"))?;
    Ok(list
        .iter()
        .filter_map(|m| m["id"].as_str())
        .filter(|n| {
            TASKMANAGER_METRICS.contains(n)
                || (n.starts_with("Status.JVM.GarbageCollector.")
                    && (n.ends_with(".Count") || n.ends_with(".Time")))
        })
        .map(String::from)
        .collect())
}

/// `names` of TaskManager `id` (`/taskmanagers/:id/metrics?get=…`).
pub fn taskmanager_metrics(
    fetch: Fetch,
    id: &str,
    names: &[String],
) -> Result<BTreeMap<String, f64>, String> {
    let v = fetch(&format!(
        "/taskmanagers/{id}/metrics?get={}",
        names.join(",")
    ))?;
    metric_values(&v).ok_or_else(|| format!("TaskManager {id}'s metrics are not a list: {v}"))
}

/// `[{"id": …, "value": "…"}]`, Flink's answer for named metrics (values as
/// strings), as a map.
fn metric_values(v: &Value) -> Option<BTreeMap<String, f64>> {
    Some(
        v.as_array()?
            .iter()
            .filter_map(|m| {
                let x = match &m["value"] {
                    Value::String(s) => s.parse().ok()?,
                    other => other.as_f64()?,
                };
                Some((m["id"].as_str()?.to_string(), x))
            })
            .collect(),
    )
}
