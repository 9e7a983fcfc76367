//! What the doctor's rules read: a job's graph, each subtask's busy,
//! backpressured and idle shares and input rate over a window, and what its
//! checkpoints and restarts did in that window. Read at the edge: here from
//! a running job's own status (the window of `GET
//! /jobs/:id/vertices/:vid/backpressure`).

use crate::runtime::checkpoint_stats::Status;
use crate::runtime::status::{lock, JobStatus, BACKPRESSURE_WINDOW};

/// One subtask over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtaskFacts {
    /// Its index.
    pub subtask: usize,
    /// Share of the window spent processing (0 to 1).
    pub busy: f64,
    /// Share blocked on a full output.
    pub backpressured: f64,
    /// Share waiting for input.
    pub idle: f64,
    /// Share of its busy time spent in the state backend (0 to 1; 0 on
    /// the heap backend, which is not timed).
    pub state: f64,
    /// Records in per second.
    pub records_in_per_s: f64,
    /// Records out per second (a source's input to the job).
    pub records_out_per_s: f64,
    /// Its input watermark (event-time ms) at the window's start and end;
    /// `None`: none yet.
    pub watermark_ms: (Option<i64>, Option<i64>),
}

/// One vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexFacts {
    /// Its uid (the REST vertex id).
    pub id: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// The vertices it reads from, by index.
    pub inputs: Vec<usize>,
    /// Nothing reads from it.
    pub is_sink: bool,
    /// Its subtasks.
    pub subtasks: Vec<SubtaskFacts>,
    /// Sampled records per key group since the attempt started (keyed
    /// vertices; empty where unknown).
    pub key_group_records: Vec<u64>,
    /// Its most sampled keys since the attempt started, hottest first, and
    /// how many records were key-sampled in all (keyed vertices; empty
    /// where unknown).
    pub hot_keys: (Vec<crate::runtime::key_group_load::HotKey>, u64),
}

/// One phase of a checkpoint at the subtask where it took longest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseFacts {
    /// The vertex, by index.
    pub vertex: usize,
    /// The subtask (`None` where only the vertex is known: Prometheus'
    /// per-vertex histograms).
    pub subtask: Option<usize>,
    /// How long, ms.
    pub ms: u64,
}

/// Where the time of a completed checkpoint went (Flink's checkpoint
/// details: each phase's maximum over subtasks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointTiming {
    /// Its id.
    pub id: u64,
    /// Trigger to the last acknowledgement, ms.
    pub duration_ms: i64,
    /// The duration and the phases are means over the window's completed
    /// checkpoints (per subtask, at the slowest vertex), not the newest
    /// checkpoint's maxima: what Prometheus's histograms give.
    pub window_means: bool,
    /// The barrier's travel from the source to the subtask.
    pub start_delay: PhaseFacts,
    /// The longest a source subtask took to inject the barrier (it was in
    /// a read when the checkpoint was triggered): a lagging input.
    pub source_start_delay: PhaseFacts,
    /// From the first barrier to the last at a subtask of several inputs.
    pub alignment: PhaseFacts,
    /// The snapshot's synchronous part.
    pub sync: PhaseFacts,
    /// Writing it to checkpoint storage.
    pub upload: PhaseFacts,
    /// Bytes written.
    pub size: u64,
}

/// Checkpoints over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointFacts {
    /// `execution.checkpointing.interval`, ms (`None`: no checkpoints).
    pub interval_ms: Option<i64>,
    /// The newest checkpoint completed in the window.
    pub latest_completed: Option<CheckpointTiming>,
    /// Checkpoints that failed in the window.
    pub failed_in_window: u64,
    /// A checkpoint completed after the latest failure.
    pub completed_after_last_failure: bool,
    /// The latest failure's reason.
    pub last_failure: Option<String>,
}

/// One push exporter (Pushgateway, InfluxDB, OTLP, remote-write): its
/// deliveries so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterFacts {
    /// `metrics.reporter.<name>`.
    pub reporter: String,
    /// Its kind (`pushgateway`, `influxdb`, …).
    pub kind: String,
    /// Failed attempts so far.
    pub failed: u64,
    /// Payloads dropped so far (queue full, or rejected).
    pub dropped: u64,
    /// Seconds since its last delivery; `None`: it never delivered.
    pub since_success_s: Option<f64>,
}

/// One split (Kafka partition, JetStream subject) of a source subtask.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionFacts {
    /// The source vertex's uid.
    pub vertex: String,
    /// The subtask that owns it.
    pub subtask: usize,
    /// Its name.
    pub partition: String,
    /// Its watermark, event-time ms; `None`: it has had no record.
    pub watermark_ms: Option<i64>,
    /// It is idle (holds no time back).
    pub idle: bool,
}

/// One RocksDB reading of a subtask, for the evidence of
/// state-backend-limit: what makes state access slow.
#[derive(Debug, Clone, PartialEq)]
pub struct RocksReading {
    /// The vertex's uid.
    pub vertex: String,
    /// The subtask.
    pub subtask: usize,
    /// The catalogue's metric, or the quantity derived from it, named so.
    pub metric: String,
    /// Its value, summed over the subtask's states.
    pub value: f64,
    /// `now` for a gauge, `since start` for a counter.
    pub window: &'static str,
}

/// The process's CPU over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuFacts {
    /// Cores it kept busy (CPU seconds per second, all threads).
    pub cores_used: f64,
    /// Cores it may use.
    pub cores: f64,
}

/// Everything the rules read.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The window, in seconds.
    pub window_s: f64,
    /// `pipeline.max-parallelism`: the key groups a parallelism divides.
    pub max_parallelism: u32,
    /// The vertices, upstream first.
    pub vertices: Vec<VertexFacts>,
    /// Checkpoints.
    pub checkpoints: CheckpointFacts,
    /// Restarts in the window.
    pub restarts_in_window: u64,
    /// The latest failure's message.
    pub root_exception: Option<String>,
    /// The last recovery's downtime, ms, if the job recovered once.
    pub recovery_ms: Option<i64>,
    /// The push exporters.
    pub exporters: Vec<ExporterFacts>,
    /// The sources' splits, where sources have them.
    pub partitions: Vec<PartitionFacts>,
    /// RocksDB's readings per subtask (a running job's registry only).
    pub rocksdb: Vec<RocksReading>,
    /// The process's CPU, where known (not through Prometheus).
    pub cpu: Option<CpuFacts>,
}

/// The least span of measurements the doctor answers from: shorter, a
/// passing hiccup would look like a cause, and no data like health.
pub const MIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// The facts of a running job, from its status; or, before its
/// measurements span [`MIN_WINDOW`], how long they span.
pub(crate) fn from_status(
    status: &JobStatus,
    max_parallelism: u32,
    interval_ms: Option<i64>,
) -> Result<Facts, std::time::Duration> {
    let window = status.measured_span();
    if window < MIN_WINDOW {
        return Err(window);
    }
    let window = window.min(BACKPRESSURE_WINDOW);
    let since = crate::operator::now_ms() - window.as_millis() as i64;
    let graph = lock(&status.vertices).clone();
    let pressure = status.backpressure();
    let rates = status.record_rates();
    let watermarks = status.watermarks();
    let state = status.state_of_busy();
    let (key_groups, hot_keys): (Vec<Vec<u64>>, Vec<_>) = lock(&status.key_groups)
        .iter()
        .map(|l| (l.snapshot(), l.hot_keys()))
        .unzip();
    let tasks: Vec<(usize, usize)> = lock(&status.tasks)
        .iter()
        .map(|t| (t.node, t.subtask))
        .collect();
    let vertices = graph
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let subtasks = pressure
                .iter()
                .find(|p| p.node == i)
                .map(|p| {
                    p.subtasks
                        .iter()
                        .map(|s| {
                            let at = tasks.iter().position(|t| *t == (i, s.subtask));
                            let rate = at.and_then(|at| rates.get(at).copied()).unwrap_or_default();
                            let watermark_ms = at
                                .and_then(|at| watermarks.get(at).copied())
                                .unwrap_or_default();
                            SubtaskFacts {
                                subtask: s.subtask,
                                busy: s.shares.busy,
                                backpressured: s.shares.backpressured,
                                idle: s.shares.idle,
                                state: at.and_then(|at| state.get(at).copied()).unwrap_or(0.0),
                                records_in_per_s: rate.0,
                                records_out_per_s: rate.1,
                                watermark_ms,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            VertexFacts {
                id: v.uid.clone(),
                parallelism: v.parallelism,
                inputs: v.inputs.iter().map(|(from, _)| *from).collect(),
                is_sink: !graph.iter().any(|w| w.inputs.iter().any(|(f, _)| *f == i)),
                subtasks,
                key_group_records: key_groups.get(i).cloned().unwrap_or_default(),
                hot_keys: hot_keys.get(i).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let checkpoints = {
        let stats = lock(&status.checkpoints);
        let latest_failed = stats.history.iter().find(|r| r.status == Status::Failed);
        let latest_completed = stats
            .history
            .iter()
            .find(|r| r.status == Status::Completed && r.end_ms.is_some_and(|e| e >= since))
            .map(|r| {
                type Record = crate::runtime::checkpoint_stats::SubtaskRecord;
                let is_source =
                    |s: &&Record| graph.get(s.node).is_some_and(|v| v.inputs.is_empty());
                let slowest = |ms: fn(&Record) -> u64, only_sources: bool| {
                    r.subtasks
                        .iter()
                        .filter(|s| !only_sources || is_source(s))
                        .max_by_key(|s| ms(s))
                        .map(|s| PhaseFacts {
                            vertex: s.node,
                            subtask: Some(s.subtask),
                            ms: ms(s),
                        })
                        .unwrap_or_default()
                };
                let phase = |ms: fn(&Record) -> u64| slowest(ms, false);
                CheckpointTiming {
                    id: r.id,
                    duration_ms: r.end_to_end_ms(),
                    window_means: false,
                    start_delay: phase(|s| s.start_delay_ms),
                    source_start_delay: slowest(|s| s.start_delay_ms, true),
                    alignment: phase(|s| s.alignment_ms),
                    sync: phase(|s| s.sync_ms),
                    upload: phase(|s| s.async_ms),
                    size: r.size(),
                }
            });
        CheckpointFacts {
            interval_ms,
            latest_completed,
            failed_in_window: stats
                .history
                .iter()
                .filter(|r| r.status == Status::Failed && r.end_ms.unwrap_or(r.trigger_ms) >= since)
                .count() as u64,
            completed_after_last_failure: latest_failed.is_some_and(|f| {
                stats
                    .history
                    .iter()
                    .any(|r| r.status == Status::Completed && r.id > f.id)
            }),
            last_failure: latest_failed.and_then(|r| r.failure.clone()),
        }
    };
    let exceptions = lock(&status.exceptions);
    Ok(Facts {
        window_s: window.as_secs_f64(),
        max_parallelism,
        vertices,
        checkpoints,
        restarts_in_window: exceptions.iter().filter(|e| e.0 >= since).count() as u64,
        root_exception: exceptions.last().map(|e| e.2.clone()),
        recovery_ms: lock(&status.last_recovery).map(|d| d.as_millis() as i64),
        exporters: Vec::new(),
        partitions: Vec::new(),
        rocksdb: Vec::new(),
        cpu: status.cpu_cores_used().map(|cores_used| CpuFacts {
            cores_used,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        }),
    })
}

/// A counter's or gauge's series in `registry`: label values and value.
fn series(
    registry: &tidemark_agent::registry::Registry,
    def: &tidemark_agent::catalogue::MetricDef,
) -> Vec<(Vec<String>, f64)> {
    use tidemark_agent::registry::Value;
    registry
        .series_of(def)
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Counter(x) | Value::Gauge(x) => x,
                Value::Histogram { .. } => 0.0,
            };
            (k, v)
        })
        .collect()
}

/// The sources' splits with their watermarks and idleness, from the
/// per-partition gauges in `registry` (labels job, job id, vertex, subtask,
/// partition), for the job `job_id`; vertices by name are mapped to uids by
/// `uid_of`.
pub(crate) fn partitions(
    registry: &tidemark_agent::registry::Registry,
    job_id: &str,
    uid_of: impl Fn(&str) -> String,
) -> Vec<PartitionFacts> {
    use tidemark_agent::catalogue as cat;
    let idle = series(registry, &cat::SOURCE_PARTITION_IDLE);
    series(registry, &cat::SOURCE_PARTITION_WATERMARK)
        .into_iter()
        .filter(|(k, _)| k.len() == 5 && k[1] == job_id)
        .map(|(k, wm)| PartitionFacts {
            vertex: uid_of(&k[2]),
            subtask: k[3].parse().unwrap_or(0),
            partition: k[4].clone(),
            // Scaled to seconds in the catalogue; -1: no record yet.
            watermark_ms: (wm >= 0.0).then(|| (wm * 1000.0).round() as i64),
            idle: idle.iter().any(|(x, v)| *x == k && *v > 0.0),
        })
        .collect()
}

/// Each RocksDB subtask's compaction debt, unflushed memtables, write
/// stops and stalls, and block cache hit ratio (statistics tickers: only
/// when `state.backend.rocksdb.statistics.level` is set), from `registry`
/// for the job `job_id`; vertices by name are mapped to uids by `uid_of`.
pub(crate) fn rocksdb(
    registry: &tidemark_agent::registry::Registry,
    job_id: &str,
    uid_of: impl Fn(&str) -> String,
) -> Vec<RocksReading> {
    use tidemark_agent::catalogue as cat;
    let mut sums: std::collections::BTreeMap<(String, usize, &'static str, &'static str), f64> =
        Default::default();
    let reads: [(&tidemark_agent::MetricDef, &'static str); 6] = [
        (&cat::ROCKS_PENDING_COMPACTION, "now"),
        (&cat::ROCKS_IMMUTABLE, "now"),
        (&cat::ROCKS_WRITE_STOPPED, "now"),
        (&cat::ROCKS_STALL, "since start"),
        (&cat::ROCKS_CACHE_HIT, "since start"),
        (&cat::ROCKS_CACHE_MISS, "since start"),
    ];
    for (def, window) in reads {
        for (k, v) in series(registry, def) {
            if k.len() >= 4 && k[1] == job_id {
                let at = (uid_of(&k[2]), k[3].parse().unwrap_or(0), def.name, window);
                *sums.entry(at).or_default() += v;
            }
        }
    }
    let (hit, miss) = (cat::ROCKS_CACHE_HIT.name, cat::ROCKS_CACHE_MISS.name);
    let mut out: Vec<RocksReading> = sums
        .iter()
        .filter(|((_, _, m, _), _)| *m != hit && *m != miss)
        .map(|((vertex, subtask, metric, window), value)| RocksReading {
            vertex: vertex.clone(),
            subtask: *subtask,
            metric: (*metric).to_string(),
            value: *value,
            window,
        })
        .collect();
    for ((vertex, subtask, metric, _), hits) in &sums {
        if *metric != hit {
            continue;
        }
        let misses = sums
            .get(&(vertex.clone(), *subtask, miss, "since start"))
            .copied()
            .unwrap_or(0.0);
        if hits + misses > 0.0 {
            out.push(RocksReading {
                vertex: vertex.clone(),
                subtask: *subtask,
                metric: format!("{hit}:ratio (of block reads)"),
                value: hits / (hits + misses),
                window: "since start",
            });
        }
    }
    out
}

/// The push exporters' deliveries, from their self-metrics in `registry`.
pub(crate) fn exporters(registry: &tidemark_agent::registry::Registry) -> Vec<ExporterFacts> {
    use tidemark_agent::catalogue as cat;
    let read = |def| series(registry, def);
    let (failed, dropped) = (read(&cat::EXPORTER_FAILED), read(&cat::EXPORTER_DROPPED));
    let of = |all: &[(Vec<String>, f64)], k: &[String]| {
        all.iter().find(|(x, _)| x == k).map_or(0.0, |(_, v)| *v)
    };
    let now_s = crate::operator::now_ms() as f64 / 1000.0;
    read(&cat::EXPORTER_LAST_SUCCESS)
        .into_iter()
        .map(|(k, last)| ExporterFacts {
            reporter: k.first().cloned().unwrap_or_default(),
            kind: k.get(1).cloned().unwrap_or_default(),
            failed: of(&failed, &k) as u64,
            dropped: of(&dropped, &k) as u64,
            since_success_s: (last > 0.0).then(|| (now_s - last).max(0.0)),
        })
        .collect()
}
