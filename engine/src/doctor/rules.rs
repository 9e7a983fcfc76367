//! The doctor's rules: each a pure function of [`Facts`] and [`Thresholds`],
//! returning the findings it supports. The thresholds are config keys
//! (`tidemark.doctor.*`) with defaults that say why.

use super::capacity::Capacity;
use super::{Cause, Evidence, Facts, Finding, Severity, VertexFacts};
use crate::config::keys::{self as k, KeySpec};

/// The rules' thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A subtask at least this backpressured waits on its downstream.
    pub backpressured: f64,
    /// A subtask at least this busy has no room left.
    pub busy: f64,
    /// Siblings of the hottest subtask busy less than this fraction of it,
    /// on average, make the bottleneck skew rather than load.
    pub skew: f64,
    /// The utilization a recommended parallelism aims at.
    pub target_utilization: f64,
    /// A checkpoint at least this long (ms) is slow: which phase took its
    /// time is a finding.
    pub checkpoint_slow_ms: i64,
    /// A checkpoint taking at least this share of the interval runs back
    /// to back with the next.
    pub near_interval: f64,
    /// The downtime (ms) the capacity model assumes a failure costs until
    /// the job has recovered once and its own is measured.
    pub recovery_time_ms: i64,
    /// The longest catch-up after a failure (ms) that is acceptable; what
    /// a recommended parallelism also provides for.
    pub catch_up_ms: i64,
    /// A push exporter that failed and has not delivered for this long
    /// (ms) is failing.
    pub exporter_stale_ms: i64,
    /// A process keeping at least this share of its cores busy is short
    /// of CPU.
    pub cpu: f64,
    /// A bottleneck spending at least this share of its busy time in the
    /// state backend is limited by it.
    pub state: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            backpressured: 0.5,
            busy: 0.7,
            skew: 0.5,
            target_utilization: 0.7,
            checkpoint_slow_ms: 10_000,
            near_interval: 0.8,
            recovery_time_ms: 60_000,
            catch_up_ms: 30 * 60_000,
            exporter_stale_ms: 60_000,
            cpu: 0.9,
            state: 0.5,
        }
    }
}

/// The thresholds' keys, for docs/doctor.md.
pub const THRESHOLD_KEYS: &[&KeySpec] = &[
    k::TIDEMARK_DOCTOR_BACKPRESSURED_RATIO,
    k::TIDEMARK_DOCTOR_BUSY_RATIO,
    k::TIDEMARK_DOCTOR_SKEW_RATIO,
    k::TIDEMARK_DOCTOR_TARGET_UTILIZATION,
    k::TIDEMARK_DOCTOR_CHECKPOINT_SLOW,
    k::TIDEMARK_DOCTOR_NEAR_INTERVAL_RATIO,
    k::TIDEMARK_DOCTOR_RECOVERY_TIME,
    k::TIDEMARK_DOCTOR_CATCH_UP_DURATION,
    k::TIDEMARK_DOCTOR_EXPORTER_STALE,
    k::TIDEMARK_DOCTOR_CPU_RATIO,
    k::TIDEMARK_DOCTOR_STATE_RATIO,
];

pub const SINK_BOTTLENECK: Cause = Cause {
    name: "sink-bottleneck",
    rule: "Some vertex is backpressured (a subtask at least `backpressured-ratio`) and the busiest vertex downstream of it that is not itself backpressured is a sink.",
    action: "Make the sink faster (batching, a faster target, more connections) or raise the sink's parallelism if the target scales; unaligned checkpoints keep checkpoints moving meanwhile but do not cure it.",
};
pub const OPERATOR_BOTTLENECK: Cause = Cause {
    name: "operator-bottleneck",
    rule: "As sink-bottleneck, but the bottleneck is an operator and neither data-skew nor under-provisioned explains it: its busiest subtask is below `busy-ratio`, so the time goes to waiting that is not backpressure (state access, a blocking call).",
    action: "Profile the vertex (where its busy time goes); look at its state backend metrics and any blocking calls in its function.",
};
pub const DATA_SKEW: Cause = Cause {
    name: "data-skew",
    rule: "The bottleneck's busiest subtask is at least `busy-ratio` busy while its siblings are, on average, below `skew-ratio` times as busy: its keys carry more records than theirs. From a running job the evidence names the subtask's three key groups with the largest share of the vertex's records (one record in 16 counted where the upstream partitioner computes the key group), and its three most sampled keys (one record in 1 024 formatted with `{:?}` into a space-saving sketch of 64 keys).",
    action: "Spread the hot keys: salt them and aggregate in two steps, pre-aggregate before the key_by, or choose a key with more even counts. More parallelism does not help: the hot key stays on one subtask.",
};
pub const UNDER_PROVISIONED: Cause = Cause {
    name: "under-provisioned",
    rule: "The bottleneck's subtasks are all at least `busy-ratio` busy on average (no skew): the vertex has too little parallelism for its input.",
    action: "Raise the vertex's parallelism to the recommended value (its busy time scaled to `target-utilization`, rounded up to a divisor-friendly count of key groups), through a savepoint.",
};
pub const STATE_BACKEND_LIMIT: Cause = Cause {
    name: "state-backend-limit",
    rule: "The bottleneck is not a sink and not skewed, and its busiest subtask spends at least `state-ratio` of its busy time in the RocksDB state backend (`tidemark_task_state_seconds_total` over `tidemark_task_busy_seconds_total`): lookups that miss the write-back cache, and write-backs, set its pace. From a running job the evidence adds the subtask's RocksDB readings: compaction debt, unflushed memtables, write stops, stall time and (with statistics tickers on) the block cache's hit ratio.",
    action: "Keep more of the state in memory: a larger `state.backend.rocksdb.write-back-cache.size` (the hot keys) and `state.backend.rocksdb.block.cache-size` or `state.backend.rocksdb.memory.managed` (the blocks); more parallelism spreads the keys over more caches and more instances; a TTL or a smaller state shrinks what must be read; `state.backend.rocksdb.statistics.level` set shows cache misses, stalls and compaction.",
};
pub const CHECKPOINT_FAILING: Cause = Cause {
    name: "checkpoint-failing",
    rule: "A checkpoint failed within the window, and none completed after it.",
    action: "Read the failure reason in the evidence and `GET /jobs/:id/checkpoints`; until checkpoints complete, a failure replays everything since the last one.",
};
pub const CHECKPOINT_NEAR_INTERVAL: Cause = Cause {
    name: "checkpoint-near-interval",
    rule: "The newest checkpoint completed in the window took at least `near-interval-ratio` of `execution.checkpointing.interval`: checkpoints run back to back, taking resources from processing all the time.",
    action: "Set `execution.checkpointing.min-pause` to at least the checkpoint duration (so processing gets time between checkpoints), or raise `execution.checkpointing.interval`; then look at the slow phase finding, if any.",
};
pub const CHECKPOINT_START_DELAY: Cause = Cause {
    name: "checkpoint-start-delay",
    rule: "A slow checkpoint (at least `checkpoint-slow`) spent at least half its time before its barrier reached a subtask: barriers queue behind records in full channels, i.e. backpressure.",
    action: "Cure the backpressure (see the bottleneck finding). `execution.checkpointing.unaligned.enabled: true` (or `execution.checkpointing.aligned-checkpoint-timeout`) lets barriers overtake queued records, so checkpoints complete, but it does not make the job faster.",
};
pub const CHECKPOINT_ALIGNMENT: Cause = Cause {
    name: "checkpoint-alignment",
    rule: "A slow checkpoint spent at least half its time aligning at a subtask of several inputs: one input's barrier arrived long after the others' (a lagging input or partition). A source's start delay as long (the source was in a read when the checkpoint was triggered) is the lagging input, named in the evidence, not checkpoint-start-delay.",
    action: "Find the lagging input (source lag per partition, the slow upstream subtask); `execution.checkpointing.unaligned.enabled: true` removes the wait.",
};
pub const CHECKPOINT_SYNC_SLOW: Cause = Cause {
    name: "checkpoint-sync-slow",
    rule: "A slow checkpoint spent at least half its time in a subtask's synchronous phase (the snapshot taken while processing waits).",
    action: "With RocksDB, a large write buffer flushed at the barrier: lower `state.backend.rocksdb.writebuffer.size`; with heap state, move large state to RocksDB (`state.backend.type: rocksdb`).",
};
pub const CHECKPOINT_ASYNC_SLOW: Cause = Cause {
    name: "checkpoint-async-slow",
    rule: "A slow checkpoint spent at least half its time in a subtask's asynchronous phase: writing its state to checkpoint storage.",
    action: "Compare the bytes written with the storage's throughput: turn on incremental checkpoints (`execution.checkpointing.incremental: true`) to write less, or use faster checkpoint storage.",
};
pub const RESTARTING: Cause = Cause {
    name: "restarting",
    rule: "The job restarted within the window.",
    action: "Fix the root exception in the evidence (`GET /jobs/:id/exceptions`); every restart replays the input since the last checkpoint.",
};
pub const CANNOT_CATCH_UP: Cause = Cause {
    name: "cannot-catch-up",
    rule: "Nothing is backpressured (else the bottleneck finding says more: the input is what the bottleneck lets through), the job has input, and after a failure it would need longer than `catch-up-duration` to work off the backlog of its recovery and one checkpoint interval: `(recovery + interval) / (headroom − 1)`, where the headroom is one over the busiest subtask's busy share. Critical when the headroom is at most 1 (it never catches up).",
    action: "Raise the parallelism of the busiest vertex to its `needed_parallelism` in `capacity`, or make it cheaper; a shorter `execution.checkpointing.interval` shortens the replay, a faster recovery (local recovery: `state.backend.local-recovery: true`) the downtime.",
};
pub const EXPORTER_FAILING: Cause = Cause {
    name: "exporter-failing",
    rule: "A push exporter (Pushgateway, InfluxDB, OTLP, remote-write) has failed deliveries and has not delivered for `exporter-stale` (or never did): its server misses this job's metrics, and alerts fed by it go blind.",
    action: "Check that the reporter's server is up and reachable from the job (`metrics.reporter.<name>.*`); payloads queue meanwhile and are dropped when the queue is full (`tidemark_exporter_dropped_total`); the job itself is not slowed.",
};
pub const WATERMARK_STALLED: Cause = Cause {
    name: "watermark-stalled",
    rule: "Records reach a vertex over the whole window while its input watermark does not advance (or, while a source partition has a watermark, it has none): event time is held back, and its windows and timers do not fire. Names the vertex (the most upstream one) and what holds it: the source partition not idle with the least watermark (one without records first).",
    action: "A partition without records holds event time back until it is idle: set the source's idleness (`idleness`, WatermarkStrategy::with_idleness), or give the partition records; a partition far behind the others is read slower (its source lag).",
};
pub const CPU_SATURATED: Cause = Cause {
    name: "cpu-saturated",
    rule: "The job's process kept at least `cpu-ratio` of its cores busy over the window: its threads wait for a core, so busy time overstates each vertex's own cost, more parallelism does not help, and the capacity model's headroom is bounded by the cores (`capacity` takes the lower of the two).",
    action: "Fewer, busier subtasks (`parallelism.default` at most the cores), a cheaper job, or more cores: a bigger host, or, for a job that outgrows one machine, a cluster (Flink).",
};
pub const HEALTHY: Cause = Cause {
    name: "healthy",
    rule: "No other rule found anything: the verdict is healthy and there are no findings.",
    action: "Nothing.",
};

/// Every rule's findings; `cap` is the capacity model over `f`.
pub fn all(f: &Facts, t: &Thresholds, cap: &Capacity) -> Vec<Finding> {
    let mut out = Vec::new();
    let bottleneck = bottleneck(f, t, cap);
    if bottleneck.is_none() {
        out.extend(cannot_catch_up(f, t, cap));
    }
    out.extend(bottleneck);
    out.extend(checkpoint_failing(f));
    out.extend(checkpoint_time(f, t));
    out.extend(restarting(f));
    out.extend(exporter_failing(f, t));
    out.extend(watermark_stalled(f));
    out.extend(cpu_saturated(f, t));
    out
}

fn window(f: &Facts) -> String {
    format!("{}s", f.window_s.round() as u64)
}

fn max_by(v: &VertexFacts, share: fn(&super::SubtaskFacts) -> f64) -> (usize, f64) {
    v.subtasks
        .iter()
        .map(|s| (s.subtask, share(s)))
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a })
}

fn evidence(
    f: &Facts,
    metric: &str,
    v: &VertexFacts,
    subtask: Option<usize>,
    value: f64,
) -> Evidence {
    Evidence {
        metric: metric.into(),
        vertex: Some(v.id.clone()),
        subtask,
        value,
        window: window(f),
    }
}

/// Which vertices lie downstream of vertex `from`.
fn downstream(f: &Facts, from: usize) -> Vec<usize> {
    let mut seen = vec![false; f.vertices.len()];
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        for (i, v) in f.vertices.iter().enumerate() {
            if v.inputs.contains(&x) && !seen[i] {
                seen[i] = true;
                stack.push(i);
            }
        }
    }
    (0..f.vertices.len()).filter(|i| seen[*i]).collect()
}

/// The bottleneck: the busiest vertex, not itself backpressured, downstream
/// of a backpressured one; then why: a sink, skew, load, or something else.
fn bottleneck(f: &Facts, t: &Thresholds, cap: &Capacity) -> Option<Finding> {
    let bp = |v: &VertexFacts| max_by(v, |s| s.backpressured).1;
    let pressured: Vec<usize> = (0..f.vertices.len())
        .filter(|i| bp(&f.vertices[*i]) >= t.backpressured)
        .collect();
    let first = *pressured.first()?;
    let (pi, (ps, pv)) = (first, max_by(&f.vertices[first], |s| s.backpressured));
    let culprit = downstream(f, first)
        .into_iter()
        .filter(|i| bp(&f.vertices[*i]) < t.backpressured)
        .max_by(|a, b| {
            let busy = |i: &usize| max_by(&f.vertices[*i], |s| s.busy).1;
            busy(a).total_cmp(&busy(b))
        })?;
    let v = &f.vertices[culprit];
    let (hot, hot_busy) = max_by(v, |s| s.busy);
    let hot_state = v
        .subtasks
        .iter()
        .find(|s| s.subtask == hot)
        .map_or(0.0, |s| s.state);
    let mean_busy = v.subtasks.iter().map(|s| s.busy).sum::<f64>() / v.subtasks.len().max(1) as f64;
    let others: Vec<f64> = v
        .subtasks
        .iter()
        .filter(|s| s.subtask != hot)
        .map(|s| s.busy)
        .collect();
    let others_mean = others.iter().sum::<f64>() / others.len().max(1) as f64;
    let mut ev = vec![
        evidence(
            f,
            "tidemark_task_backpressured_seconds_total:ratio",
            &f.vertices[pi],
            Some(ps),
            pv,
        ),
        evidence(
            f,
            "tidemark_task_busy_seconds_total:ratio",
            v,
            Some(hot),
            hot_busy,
        ),
    ];
    let upstream = &f.vertices[pi].id;
    let (cause, subtask, why) = if v.is_sink {
        (
            SINK_BOTTLENECK,
            None,
            format!("{upstream} is backpressured, and {}, a sink downstream of it, is the busiest vertex that is not: it writes slower than records arrive.", v.id),
        )
    } else if v.subtasks.len() > 1 && hot_busy >= t.busy && others_mean < t.skew * hot_busy {
        ev.push(Evidence {
            metric: "tidemark_task_busy_seconds_total:ratio (mean of the other subtasks)".into(),
            vertex: Some(v.id.clone()),
            subtask: None,
            value: others_mean,
            window: window(f),
        });
        ev.extend(hot_key_groups(f, v, hot));
        ev.extend(hot_keys(f, v, hot));
        (
            DATA_SKEW,
            Some(hot),
            format!("Subtask {hot} of {} is {:.0} % busy while its siblings average {:.0} %: its keys carry more records than theirs.", v.id, hot_busy * 100.0, others_mean * 100.0),
        )
    } else if hot_state >= t.state {
        ev.push(Evidence {
            metric: "tidemark_task_state_seconds_total:ratio (of busy time)".into(),
            vertex: Some(v.id.clone()),
            subtask: Some(hot),
            value: hot_state,
            window: window(f),
        });
        // What makes its state access slow, where the job measures it.
        ev.extend(
            f.rocksdb
                .iter()
                .filter(|r| r.vertex == v.id && r.subtask == hot)
                .map(|r| Evidence {
                    metric: r.metric.clone(),
                    vertex: Some(v.id.clone()),
                    subtask: Some(hot),
                    value: r.value,
                    window: r.window.into(),
                }),
        );
        (
            STATE_BACKEND_LIMIT,
            None,
            format!("{upstream} waits on {}, whose busiest subtask spends {:.0} % of its busy time in the state backend: state access, not its function, sets its pace.", v.id, hot_state * 100.0),
        )
    } else if mean_busy >= t.busy {
        ev.push(Evidence {
            metric: "tidemark_task_busy_seconds_total:ratio (mean)".into(),
            vertex: Some(v.id.clone()),
            subtask: None,
            value: mean_busy,
            window: window(f),
        });
        (
            UNDER_PROVISIONED,
            None,
            format!("Every subtask of {} is busy ({:.0} % on average) and {upstream} waits on it: it has too few subtasks for its input.", v.id, mean_busy * 100.0),
        )
    } else {
        (
            OPERATOR_BOTTLENECK,
            None,
            format!("{upstream} is backpressured and {} downstream of it is the busiest vertex that is not, though not saturated ({:.0} %).", v.id, hot_busy * 100.0),
        )
    };
    let action = if cause == UNDER_PROVISIONED {
        let need = cap.vertices[culprit].needed_parallelism;
        format!(
            "Raise the parallelism of {} from {} to {need} (busy time at {:.0} % utilization with room to catch up, key groups spread evenly), through a savepoint. {}",
            v.id,
            v.parallelism,
            t.target_utilization * 100.0,
            cause.action
        )
    } else {
        cause.action.to_string()
    };
    Some(Finding {
        cause: cause.name,
        vertex: Some(v.id.clone()),
        subtask,
        severity: Severity::Warning,
        evidence: ev,
        why,
        action,
    })
}

/// The key groups of subtask `hot` of `v` that carried the most of the
/// vertex's records (sampled, since the attempt started), at most three.
fn hot_key_groups(f: &Facts, v: &VertexFacts, hot: usize) -> Vec<Evidence> {
    let total: u64 = v.key_group_records.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    let (max_p, p) = (f.max_parallelism, v.parallelism as u32);
    let mut mine: Vec<(usize, u64)> = v
        .key_group_records
        .iter()
        .copied()
        .enumerate()
        .filter(|(kg, n)| {
            *n > 0
                && crate::state::key_group::operator_index_for_key_group(max_p, p, *kg as u32)
                    as usize
                    == hot
        })
        .collect();
    mine.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    mine.into_iter()
        .take(3)
        .map(|(kg, n)| Evidence {
            metric: format!("records:share{{key_group=\"{kg}\"}} (of the vertex's, sampled)"),
            vertex: Some(v.id.clone()),
            subtask: Some(hot),
            value: n as f64 / total as f64,
            window: "since start".into(),
        })
        .collect()
}

/// The keys of subtask `hot` of `v` sampled most often (one record in
/// 1 024, since the attempt started), at most three, with their share of
/// the vertex's key samples: what to salt, pre-aggregate or route apart.
fn hot_keys(f: &Facts, v: &VertexFacts, hot: usize) -> Vec<Evidence> {
    let (keys, samples) = &v.hot_keys;
    if *samples == 0 {
        return Vec::new();
    }
    let (max_p, p) = (f.max_parallelism, v.parallelism as u32);
    keys.iter()
        .filter(|k| {
            crate::state::key_group::operator_index_for_key_group(max_p, p, k.key_group) as usize
                == hot
        })
        .take(3)
        .map(|k| Evidence {
            metric: format!(
                "records:share{{key=\"{}\",key_group=\"{}\"}} (of the vertex's, sampled)",
                k.key.replace('\\', "\\\\").replace('"', "\\\""),
                k.key_group
            ),
            vertex: Some(v.id.clone()),
            subtask: Some(hot),
            value: k.count as f64 / *samples as f64,
            window: "since start".into(),
        })
        .collect()
}

fn checkpoint_failing(f: &Facts) -> Option<Finding> {
    let c = &f.checkpoints;
    if c.failed_in_window == 0 || c.completed_after_last_failure {
        return None;
    }
    Some(Finding {
        cause: CHECKPOINT_FAILING.name,
        vertex: None,
        subtask: None,
        severity: Severity::Critical,
        evidence: vec![Evidence {
            metric: "tidemark_checkpoint_failed_total:increase".into(),
            vertex: None,
            subtask: None,
            value: c.failed_in_window as f64,
            window: window(f),
        }],
        why: format!(
            "{} checkpoint(s) failed in the last {} and none completed since: {}",
            c.failed_in_window,
            window(f),
            c.last_failure.as_deref().unwrap_or("no reason recorded")
        ),
        action: CHECKPOINT_FAILING.action.into(),
    })
}

/// Where the newest completed checkpoint's time went: back to back with
/// the next, and, when slow, the phase that took at least half of it.
fn checkpoint_time(f: &Facts, t: &Thresholds) -> Vec<Finding> {
    let c = &f.checkpoints;
    let Some(cp) = &c.latest_completed else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The newest checkpoint's maxima over subtasks, or (from Prometheus)
    // means over the window's checkpoints.
    let (of_duration, of_phase, when, checkpoint) = match cp.window_means {
        false => (
            "tidemark_checkpoint_last_duration_seconds",
            "max over subtasks",
            "now".to_string(),
            format!("Checkpoint {} took", cp.id),
        ),
        true => (
            "tidemark_checkpoint_duration_seconds (mean, slowest vertex)",
            "mean",
            window(f),
            format!("Checkpoints took on average (over {})", window(f)),
        ),
    };
    let duration = Evidence {
        metric: of_duration.into(),
        vertex: None,
        subtask: None,
        value: cp.duration_ms as f64 / 1000.0,
        window: when.clone(),
    };
    if let Some(interval) = c.interval_ms.filter(|i| *i > 0) {
        if cp.duration_ms as f64 >= t.near_interval * interval as f64 {
            let mut ev = vec![duration.clone()];
            ev.push(Evidence {
                metric: "tidemark_checkpoint_interval_seconds".into(),
                vertex: None,
                subtask: None,
                value: interval as f64 / 1000.0,
                window: "now".into(),
            });
            out.push(Finding {
                cause: CHECKPOINT_NEAR_INTERVAL.name,
                vertex: None,
                subtask: None,
                severity: Severity::Warning,
                evidence: ev,
                why: format!(
                    "{checkpoint} {} ms of a {interval} ms interval: the next starts as soon as one ends.",
                    cp.duration_ms
                ),
                action: CHECKPOINT_NEAR_INTERVAL.action.into(),
            });
        }
    }
    if cp.duration_ms < t.checkpoint_slow_ms {
        return out;
    }
    let phases = [
        (
            cp.start_delay,
            CHECKPOINT_START_DELAY,
            "tidemark_checkpoint_start_delay_seconds",
            "its barrier took",
        ),
        (
            cp.alignment,
            CHECKPOINT_ALIGNMENT,
            "tidemark_checkpoint_alignment_duration_seconds",
            "aligning its inputs took",
        ),
        (
            cp.sync,
            CHECKPOINT_SYNC_SLOW,
            "tidemark_checkpoint_sync_duration_seconds",
            "the synchronous phase took",
        ),
        (
            cp.upload,
            CHECKPOINT_ASYNC_SLOW,
            "tidemark_checkpoint_async_duration_seconds",
            "writing to checkpoint storage took",
        ),
    ];
    let half = |ms: u64| ms as f64 >= 0.5 * cp.duration_ms as f64;
    // A source's start delay is a read the task was blocked in when the
    // checkpoint was triggered (a lagging partition), not barriers queued
    // behind records: the vertex that waited for that barrier while its
    // other inputs' had come is where the time shows, as alignment (and
    // downstream of it as start delay too: the barrier left it late).
    let late_source =
        (half(cp.source_start_delay.ms) && half(cp.alignment.ms)).then_some(cp.source_start_delay);
    let phases: Vec<_> = phases
        .into_iter()
        .filter(|p| late_source.is_none() || p.1 != CHECKPOINT_START_DELAY)
        .collect();
    let Some((phase, cause, metric, what)) = phases.into_iter().max_by_key(|p| p.0.ms) else {
        return out;
    };
    if !half(phase.ms) {
        return out;
    }
    let vertex = f.vertices.get(phase.vertex).map(|v| v.id.clone());
    let mut ev = vec![
        duration,
        Evidence {
            metric: format!("{metric} ({of_phase})"),
            vertex: vertex.clone(),
            subtask: phase.subtask,
            value: phase.ms as f64 / 1000.0,
            window: when.clone(),
        },
    ];
    let mut late = String::new();
    if let Some(src) = late_source.filter(|_| cause == CHECKPOINT_ALIGNMENT) {
        let id = f.vertices.get(src.vertex).map(|v| v.id.clone());
        late = format!(
            " The late barrier came from {}{}, which was in a read for {} ms when the checkpoint was triggered: a lagging input.",
            id.as_deref().unwrap_or("?"),
            src.subtask.map_or(String::new(), |s| format!(" subtask {s}")),
            src.ms
        );
        ev.push(Evidence {
            metric: format!("tidemark_checkpoint_start_delay_seconds ({of_phase})"),
            vertex: id,
            subtask: src.subtask,
            value: src.ms as f64 / 1000.0,
            window: when.clone(),
        });
    }
    if cause == CHECKPOINT_ASYNC_SLOW {
        ev.push(Evidence {
            metric: "tidemark_checkpoint_last_size_bytes".into(),
            vertex: None,
            subtask: None,
            value: cp.size as f64,
            window: "now".into(),
        });
    }
    out.push(Finding {
        cause: cause.name,
        vertex: vertex.clone(),
        subtask: phase.subtask,
        severity: Severity::Warning,
        evidence: ev,
        why: format!(
            "{checkpoint} {} ms; at {}{}, {what} {} ms of it.{late}",
            cp.duration_ms,
            vertex.as_deref().unwrap_or("?"),
            phase
                .subtask
                .map_or(String::new(), |s| format!(" subtask {s}")),
            phase.ms
        ),
        action: cause.action.into(),
    });
    out
}

/// After a failure the job needs longer than `catch-up-duration` to catch
/// up, or never does.
fn cannot_catch_up(f: &Facts, t: &Thresholds, cap: &Capacity) -> Option<Finding> {
    if cap.input_records_per_second <= 0.0 {
        return None;
    }
    let limit = t.catch_up_ms as f64 / 1000.0;
    if cap.catch_up_seconds.is_some_and(|c| c <= limit) {
        return None;
    }
    let (vi, v) = f.vertices.iter().enumerate().max_by(|a, b| {
        let peak = |v: &VertexFacts| max_by(v, |s| s.busy).1;
        peak(a.1).total_cmp(&peak(b.1))
    })?;
    let (hot, busy) = max_by(v, |s| s.busy);
    let headroom = cap.headroom.unwrap_or(f64::INFINITY);
    let now = |metric: &str, value: f64| Evidence {
        metric: metric.into(),
        vertex: None,
        subtask: None,
        value,
        window: "now".into(),
    };
    let ev = vec![
        evidence(
            f,
            "tidemark_task_busy_seconds_total:ratio",
            v,
            Some(hot),
            busy,
        ),
        Evidence {
            window: window(f),
            ..now("tidemark_job_headroom_ratio", headroom)
        },
        now("tidemark_job_recovery_time_seconds", cap.recovery_seconds),
        now("tidemark_checkpoint_interval_seconds", cap.replay_seconds),
    ];
    let (severity, when) = match cap.catch_up_seconds {
        Some(c) => (
            Severity::Warning,
            format!("would take {c:.0} s to catch up, more than the {limit:.0} s allowed"),
        ),
        None => (Severity::Critical, "would never catch up".to_string()),
    };
    Some(Finding {
        cause: CANNOT_CATCH_UP.name,
        vertex: Some(v.id.clone()),
        subtask: Some(hot),
        severity,
        evidence: ev,
        why: format!(
            "Subtask {hot} of {} is {:.0} % busy, so the job takes at most {headroom:.2} times its input; after a failure ({:.0} s down{}, {:.0} s replayed) it {when}.",
            v.id,
            busy * 100.0,
            cap.recovery_seconds,
            if cap.recovery_measured { ", measured" } else { " assumed" },
            cap.replay_seconds,
        ),
        action: {
            let need = cap.vertices[vi].needed_parallelism;
            if need > v.parallelism {
                format!(
                    "Raise the parallelism of {} from {} to {need}. {}",
                    v.id, v.parallelism, CANNOT_CATCH_UP.action
                )
            } else {
                // The vertex as a whole has room: one subtask is the limit.
                format!(
                    "{} has room on average (it needs no more than its {} subtasks); subtask {hot} is the limit: spread its load (hot keys, a lagging partition) or make its work cheaper. {}",
                    v.id, v.parallelism, CANNOT_CATCH_UP.action
                )
            }
        },
    })
}

/// The most upstream vertex taking records while its input watermark
/// stands still, and the partition holding it back.
fn watermark_stalled(f: &Facts) -> Option<Finding> {
    let event_time = f.partitions.iter().any(|p| p.watermark_ms.is_some());
    let stalled = |s: &super::SubtaskFacts| {
        s.records_in_per_s > 0.0
            && match s.watermark_ms {
                (Some(a), Some(b)) => a == b,
                (_, None) => event_time,
                (None, Some(_)) => false,
            }
    };
    let (v, s) = f
        .vertices
        .iter()
        .filter(|v| !v.inputs.is_empty())
        .find_map(|v| v.subtasks.iter().find(|s| stalled(s)).map(|s| (v, s)))?;
    let holder = f
        .partitions
        .iter()
        .filter(|p| !p.idle)
        .min_by_key(|p| p.watermark_ms.unwrap_or(i64::MIN));
    let wm = s.watermark_ms.1;
    let mut evidence = vec![
        Evidence {
            metric: "tidemark_task_input_watermark_seconds".into(),
            vertex: Some(v.id.clone()),
            subtask: Some(s.subtask),
            value: wm.map_or(-1.0, |w| w as f64 / 1000.0),
            window: window(f),
        },
        Evidence {
            metric: "tidemark_task_records_in_total:rate".into(),
            vertex: Some(v.id.clone()),
            subtask: Some(s.subtask),
            value: s.records_in_per_s,
            window: window(f),
        },
    ];
    let held = match holder {
        Some(p) => {
            evidence.push(Evidence {
                metric: format!(
                    "tidemark_source_partition_watermark_seconds{{partition=\"{}\"}}",
                    p.partition
                ),
                vertex: Some(p.vertex.clone()),
                subtask: Some(p.subtask),
                value: p.watermark_ms.map_or(-1.0, |w| w as f64 / 1000.0),
                window: "now".into(),
            });
            match p.watermark_ms {
                None => format!(
                    "partition '{}' of {} (subtask {}) has had no record and is not idle, so it holds event time back",
                    p.partition, p.vertex, p.subtask
                ),
                Some(_) => format!(
                    "partition '{}' of {} (subtask {}) has the least watermark of the partitions not idle",
                    p.partition, p.vertex, p.subtask
                ),
            }
        }
        None => "the least watermark among its inputs holds it".into(),
    };
    Some(Finding {
        cause: WATERMARK_STALLED.name,
        vertex: Some(v.id.clone()),
        subtask: Some(s.subtask),
        severity: Severity::Warning,
        evidence,
        why: format!(
            "Subtask {} of {} takes {:.0} records/s but its input watermark {} over the last {}: {held}.",
            s.subtask,
            v.id,
            s.records_in_per_s,
            if wm.is_some() { "did not advance" } else { "never appeared" },
            window(f)
        ),
        action: WATERMARK_STALLED.action.into(),
    })
}

/// The process keeps (nearly) every core busy.
fn cpu_saturated(f: &Facts, t: &Thresholds) -> Option<Finding> {
    let cpu = f.cpu?;
    if cpu.cores_used < t.cpu * cpu.cores {
        return None;
    }
    let now = |metric: &str, value: f64, window: String| Evidence {
        metric: metric.into(),
        vertex: None,
        subtask: None,
        value,
        window,
    };
    Some(Finding {
        cause: CPU_SATURATED.name,
        vertex: None,
        subtask: None,
        severity: Severity::Warning,
        evidence: vec![
            now("process_cpu_seconds_total:rate", cpu.cores_used, window(f)),
            now("cores available to the process", cpu.cores, "now".into()),
        ],
        why: format!(
            "The job kept {:.2} of its {:.0} cores busy over the last {}: its threads queue for a core.",
            cpu.cores_used,
            cpu.cores,
            window(f)
        ),
        action: CPU_SATURATED.action.into(),
    })
}

/// Push exporters that failed and have not delivered for `exporter-stale`.
fn exporter_failing(f: &Facts, t: &Thresholds) -> Vec<Finding> {
    let stale = t.exporter_stale_ms as f64 / 1000.0;
    f.exporters
        .iter()
        .filter(|e| e.failed > 0 && e.since_success_s.is_none_or(|s| s >= stale))
        .map(|e| {
            let named = |metric: &str, value: f64| Evidence {
                metric: format!("{metric}{{reporter=\"{}\", kind=\"{}\"}}", e.reporter, e.kind),
                vertex: None,
                subtask: None,
                value,
                window: "now".into(),
            };
            let since = match e.since_success_s {
                Some(s) => format!("for {s:.0} s"),
                None => "since the job started".into(),
            };
            Finding {
                cause: EXPORTER_FAILING.name,
                vertex: None,
                subtask: None,
                severity: Severity::Warning,
                evidence: vec![
                    named(
                        "time() - tidemark_exporter_last_success_timestamp_seconds",
                        e.since_success_s.unwrap_or(-1.0),
                    ),
                    named("tidemark_exporter_failed_total", e.failed as f64),
                    named("tidemark_exporter_dropped_total", e.dropped as f64),
                ],
                why: format!(
                    "The {} reporter '{}' has not delivered {since} ({} failed attempts, {} payloads dropped): its server misses this job's metrics.",
                    e.kind, e.reporter, e.failed, e.dropped
                ),
                action: format!(
                    "Check the server behind `metrics.reporter.{}.*`. {}",
                    e.reporter, EXPORTER_FAILING.action
                ),
            }
        })
        .collect()
}

fn restarting(f: &Facts) -> Option<Finding> {
    if f.restarts_in_window == 0 {
        return None;
    }
    Some(Finding {
        cause: RESTARTING.name,
        vertex: None,
        subtask: None,
        severity: Severity::Critical,
        evidence: vec![Evidence {
            metric: "tidemark_job_restarts_total:increase".into(),
            vertex: None,
            subtask: None,
            value: f.restarts_in_window as f64,
            window: window(f),
        }],
        why: format!(
            "The job restarted {} time(s) in the last {}; root exception: {}",
            f.restarts_in_window,
            window(f),
            f.root_exception.as_deref().unwrap_or("none recorded")
        ),
        action: RESTARTING.action.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{diagnose, CheckpointFacts, SubtaskFacts, Verdict};
    use super::*;

    /// A chain source → op → sink; each vertex's subtasks' (busy, backpressured).
    fn chain(vertices: &[(&str, bool, &[(f64, f64)])]) -> Facts {
        Facts {
            window_s: 10.0,
            max_parallelism: 128,
            vertices: vertices
                .iter()
                .enumerate()
                .map(|(i, (id, sink, subs))| VertexFacts {
                    id: id.to_string(),
                    parallelism: subs.len(),
                    inputs: if i == 0 { vec![] } else { vec![i - 1] },
                    is_sink: *sink,
                    subtasks: subs
                        .iter()
                        .enumerate()
                        .map(|(j, (busy, bp))| SubtaskFacts {
                            subtask: j,
                            busy: *busy,
                            backpressured: *bp,
                            idle: (1.0 - busy - bp).max(0.0),
                            state: 0.0,
                            records_in_per_s: 1000.0,
                            records_out_per_s: 1000.0,
                            watermark_ms: (None, None),
                        })
                        .collect(),
                    key_group_records: Vec::new(),
                    hot_keys: Default::default(),
                })
                .collect(),
            checkpoints: CheckpointFacts::default(),
            restarts_in_window: 0,
            root_exception: None,
            recovery_ms: None,
            exporters: Vec::new(),
            partitions: Vec::new(),
            rocksdb: Vec::new(),
            cpu: None,
        }
    }

    #[test]
    fn the_config_keys_default_to_the_thresholds_defaults() {
        let config = crate::config::Config::from_pairs(&[]).unwrap();
        assert_eq!(config.doctor, Thresholds::default());
    }

    #[test]
    fn a_slow_sink_is_named_and_a_calm_job_is_healthy() {
        let t = Thresholds::default();
        let calm = chain(&[("src", false, &[(0.2, 0.0)]), ("sink", true, &[(0.3, 0.0)])]);
        let d = diagnose(&calm, &t);
        assert_eq!((d.verdict, d.findings.len()), (Verdict::Healthy, 0));
        let slow = chain(&[
            ("src", false, &[(0.05, 0.95)]),
            ("map", false, &[(0.1, 0.9)]),
            ("sink", true, &[(0.99, 0.0)]),
        ]);
        let d = diagnose(&slow, &t);
        assert_eq!(d.verdict, Verdict::Degraded);
        assert_eq!(d.findings[0].cause, "sink-bottleneck");
        assert_eq!(d.findings[0].vertex.as_deref(), Some("sink"));
    }

    #[test]
    fn skew_names_the_hot_subtask_and_load_recommends_a_parallelism() {
        let t = Thresholds::default();
        let skew = chain(&[
            ("src", false, &[(0.05, 0.9)]),
            (
                "count",
                false,
                &[(0.1, 0.0), (0.95, 0.0), (0.1, 0.0), (0.2, 0.0)],
            ),
            ("sink", true, &[(0.05, 0.0)]),
        ]);
        let mut skew = skew;
        // Key groups 32 to 63 are subtask 1's (of 4, over 128).
        let mut records = vec![0u64; 128];
        (records[40], records[33], records[5]) = (600, 100, 300);
        skew.vertices[1].key_group_records = records;
        let key = |key: &str, key_group, count| crate::runtime::key_group_load::HotKey {
            key: key.into(),
            key_group,
            count,
        };
        // Sampled keys, hottest first; key 5's group is subtask 0's.
        skew.vertices[1].hot_keys = (
            vec![key("\"a\"", 40, 50), key("5", 5, 20), key("33", 33, 10)],
            100,
        );
        let d = diagnose(&skew, &t);
        assert_eq!(
            (
                d.findings[0].cause,
                d.findings[0].vertex.as_deref(),
                d.findings[0].subtask
            ),
            ("data-skew", Some("count"), Some(1))
        );
        let groups: Vec<(&str, f64)> = d.findings[0]
            .evidence
            .iter()
            .filter(|e| e.metric.starts_with("records:share"))
            .map(|e| (e.metric.as_str(), e.value))
            .collect();
        assert_eq!(
            groups,
            [
                (
                    "records:share{key_group=\"40\"} (of the vertex's, sampled)",
                    0.6
                ),
                (
                    "records:share{key_group=\"33\"} (of the vertex's, sampled)",
                    0.1
                ),
                (
                    "records:share{key=\"\\\"a\\\"\",key_group=\"40\"} (of the vertex's, sampled)",
                    0.5
                ),
                (
                    "records:share{key=\"33\",key_group=\"33\"} (of the vertex's, sampled)",
                    0.1
                )
            ]
        );
        let load = chain(&[
            ("src", false, &[(0.05, 0.9)]),
            ("count", false, &[(0.95, 0.0), (0.9, 0.0)]),
            ("sink", true, &[(0.05, 0.0)]),
        ]);
        let d = diagnose(&load, &t);
        assert_eq!(d.findings[0].cause, "under-provisioned");
        // 1.85 busy / 0.7 = 2.64 → 3 → the next divisor of 128: 4.
        assert!(
            d.findings[0].action.contains("from 2 to 4"),
            "{}",
            d.findings[0].action
        );
    }

    #[test]
    fn a_bottleneck_busy_in_its_state_backend_is_named_so() {
        let t = Thresholds::default();
        let with_state = |share: f64| {
            let mut f = chain(&[
                ("src", false, &[(0.05, 0.9)]),
                ("count", false, &[(0.95, 0.0), (0.9, 0.0)]),
                ("sink", true, &[(0.05, 0.0)]),
            ]);
            for s in &mut f.vertices[1].subtasks {
                s.state = share;
            }
            f.rocksdb = vec![super::super::RocksReading {
                vertex: "count".into(),
                subtask: 0,
                metric: "tidemark_rocksdb_estimate_pending_compaction_bytes".into(),
                value: 7e9,
                window: "now",
            }];
            diagnose(&f, &t)
        };
        let d = with_state(0.8);
        assert_eq!(
            (d.findings[0].cause, d.findings[0].vertex.as_deref()),
            ("state-backend-limit", Some("count"))
        );
        assert!(d.findings[0].evidence.iter().any(|e| e.metric
            == "tidemark_task_state_seconds_total:ratio (of busy time)"
            && e.value == 0.8
            && e.subtask == Some(0)));
        // With what makes the subtask's state access slow.
        assert!(d.findings[0].evidence.iter().any(|e| e.metric
            == "tidemark_rocksdb_estimate_pending_compaction_bytes"
            && e.value == 7e9));
        // Below the threshold the same load is the parallelism's.
        assert_eq!(with_state(0.4).findings[0].cause, "under-provisioned");
    }

    #[test]
    fn a_slow_checkpoint_names_the_phase_that_took_its_time() {
        use super::super::{CheckpointTiming, PhaseFacts};
        let t = Thresholds::default();
        let mut f = chain(&[("src", false, &[(0.1, 0.0)]), ("sink", true, &[(0.1, 0.0)])]);
        let phase = |vertex, ms| PhaseFacts {
            vertex,
            subtask: Some(0),
            ms,
        };
        f.checkpoints.interval_ms = Some(60_000);
        f.checkpoints.latest_completed = Some(CheckpointTiming {
            id: 7,
            duration_ms: 20_000,
            window_means: false,
            start_delay: phase(1, 2_000),
            source_start_delay: phase(0, 0),
            alignment: phase(1, 0),
            sync: phase(1, 100),
            upload: phase(1, 15_000),
            size: 1 << 30,
        });
        let d = diagnose(&f, &t);
        assert_eq!(
            (
                d.findings.len(),
                d.findings[0].cause,
                d.findings[0].vertex.as_deref()
            ),
            (1, "checkpoint-async-slow", Some("sink"))
        );
        // Back to back, and the barrier's travel dominates.
        let cp = f.checkpoints.latest_completed.as_mut().unwrap();
        (cp.start_delay.ms, cp.upload.ms) = (15_000, 2_000);
        f.checkpoints.interval_ms = Some(22_000);
        let causes: Vec<&str> = diagnose(&f, &t).findings.iter().map(|x| x.cause).collect();
        assert_eq!(
            causes,
            ["checkpoint-near-interval", "checkpoint-start-delay"]
        );
        // A source late with its barrier (in a read when triggered) and
        // its downstream aligning as long (and the barrier leaving that
        // vertex late, the longest start delay further down): the lagging
        // input, at the vertex that waited, with the source named.
        let cp = f.checkpoints.latest_completed.as_mut().unwrap();
        (cp.start_delay, cp.source_start_delay, cp.alignment) =
            (phase(1, 15_100), phase(0, 15_000), phase(1, 14_900));
        f.checkpoints.interval_ms = Some(60_000);
        let d = diagnose(&f, &t);
        assert_eq!(
            (d.findings[0].cause, d.findings[0].vertex.as_deref()),
            ("checkpoint-alignment", Some("sink"))
        );
        assert!(d.findings[0]
            .evidence
            .iter()
            .any(|e| e.vertex.as_deref() == Some("src")
                && e.metric
                    .starts_with("tidemark_checkpoint_start_delay_seconds")));
        // The same start delay at a vertex with inputs is barriers queued
        // behind records.
        let cp = f.checkpoints.latest_completed.as_mut().unwrap();
        (cp.start_delay, cp.source_start_delay, cp.alignment) =
            (phase(1, 15_000), phase(0, 0), phase(1, 0));
        assert_eq!(diagnose(&f, &t).findings[0].cause, "checkpoint-start-delay");
        // Fast checkpoints say nothing about their phases.
        let cp = f.checkpoints.latest_completed.as_mut().unwrap();
        cp.duration_ms = 9_999;
        f.checkpoints.interval_ms = Some(60_000);
        assert!(diagnose(&f, &t).findings.is_empty());
    }

    #[test]
    fn capacity_follows_the_busiest_subtask_and_the_recovery() {
        let t = Thresholds::default();
        let mut f = chain(&[("src", false, &[(0.2, 0.0)]), ("sink", true, &[(0.5, 0.0)])]);
        f.checkpoints.interval_ms = Some(60_000);
        let c = diagnose(&f, &t).capacity;
        // The source emits 1000/s; the sink is half busy: twice the input.
        assert_eq!(c.input_records_per_second, 1000.0);
        assert_eq!(c.headroom, Some(2.0));
        assert_eq!(c.max_sustainable_records_per_second, Some(2000.0));
        // 60 s assumed down + 60 s replayed, worked off at 1000/s spare.
        assert_eq!((c.recovery_seconds, c.recovery_measured), (60.0, false));
        assert_eq!(c.catch_up_seconds, Some(120.0));
        assert_eq!(c.vertices[1].true_processing_rate, Some(2000.0));
        assert_eq!(c.vertices[1].needed_parallelism, 1);
        f.recovery_ms = Some(5_000);
        let c = diagnose(&f, &t).capacity;
        assert_eq!((c.recovery_seconds, c.recovery_measured), (5.0, true));
        assert_eq!(c.catch_up_seconds, Some(65.0));
    }

    #[test]
    fn a_job_without_room_to_catch_up_is_named() {
        let t = Thresholds::default();
        let mut f = chain(&[
            ("src", false, &[(0.2, 0.0)]),
            ("sink", true, &[(0.95, 0.0)]),
        ]);
        f.checkpoints.interval_ms = Some(60_000);
        // 120 s / (1/0.95 - 1) = 2280 s, over the 1800 s allowed.
        let d = diagnose(&f, &t);
        let top = &d.findings[0];
        assert_eq!(
            (top.cause, top.vertex.as_deref(), top.subtask, top.severity),
            ("cannot-catch-up", Some("sink"), Some(0), Severity::Warning)
        );
        // Needs 0.95 × (1 + 120/1800) / 0.7 = 1.45 → 2 subtasks.
        assert!(top.action.contains("from 1 to 2"), "{}", top.action);
        // Busy all the time: never.
        f.vertices[1].subtasks[0].busy = 1.0;
        let d = diagnose(&f, &t);
        assert_eq!(d.capacity.catch_up_seconds, None);
        assert_eq!(
            (d.verdict, d.findings[0].cause),
            (Verdict::Critical, "cannot-catch-up")
        );
        // A fast measured recovery and a short interval: 15 s / 0.0526 = 285 s.
        f.vertices[1].subtasks[0].busy = 0.95;
        f.recovery_ms = Some(5_000);
        f.checkpoints.interval_ms = Some(10_000);
        assert!(diagnose(&f, &t).findings.is_empty());
        // Backpressure: the bottleneck finding says it instead.
        f.vertices[1].subtasks[0].busy = 1.0;
        f.vertices[0].subtasks[0].backpressured = 0.8;
        let causes: Vec<&str> = diagnose(&f, &t).findings.iter().map(|x| x.cause).collect();
        assert_eq!(causes, ["sink-bottleneck"]);
    }

    #[test]
    fn an_exporter_failing_for_long_is_named_and_a_passing_hiccup_is_not() {
        use super::super::ExporterFacts;
        let t = Thresholds::default();
        let mut f = chain(&[("src", false, &[(0.1, 0.0)]), ("sink", true, &[(0.1, 0.0)])]);
        let pgw = |failed, since_success_s| ExporterFacts {
            reporter: "pgw".into(),
            kind: "pushgateway".into(),
            failed,
            dropped: 0,
            since_success_s,
        };
        f.exporters = vec![pgw(3, Some(59.0))];
        assert!(diagnose(&f, &t).findings.is_empty(), "delivered 59 s ago");
        f.exporters = vec![pgw(0, Some(600.0))];
        assert!(diagnose(&f, &t).findings.is_empty(), "nothing failed");
        f.exporters = vec![pgw(3, Some(60.0))];
        let d = diagnose(&f, &t);
        assert_eq!(
            (d.verdict, d.findings[0].cause),
            (Verdict::Degraded, "exporter-failing")
        );
        assert!(d.findings[0].action.contains("metrics.reporter.pgw."));
        f.exporters = vec![pgw(1, None)];
        assert!(diagnose(&f, &t).findings[0]
            .why
            .contains("since the job started"));
    }

    #[test]
    fn a_watermark_held_back_by_an_empty_partition_is_named_with_it() {
        use super::super::PartitionFacts;
        let t = Thresholds::default();
        let mut f = chain(&[
            ("src", false, &[(0.1, 0.0)]),
            ("window", true, &[(0.1, 0.0)]),
        ]);
        let part = |name: &str, watermark_ms| PartitionFacts {
            vertex: "src".into(),
            subtask: 0,
            partition: name.into(),
            watermark_ms,
            idle: false,
        };
        // Without event time (no partition watermarks, none downstream): nothing.
        assert!(diagnose(&f, &t).findings.is_empty());
        // Advancing: nothing.
        f.vertices[1].subtasks[0].watermark_ms = (Some(1_000), Some(9_000));
        f.partitions = vec![part("p0", Some(9_000)), part("p1", Some(12_000))];
        assert!(diagnose(&f, &t).findings.is_empty());
        // p1 never had a record: the window's watermark never appears.
        f.vertices[1].subtasks[0].watermark_ms = (None, None);
        f.partitions = vec![part("p0", Some(9_000)), part("p1", None)];
        let d = diagnose(&f, &t);
        let w = &d.findings[0];
        assert_eq!(
            (w.cause, w.vertex.as_deref()),
            ("watermark-stalled", Some("window"))
        );
        assert!(
            w.why.contains("partition 'p1'") && w.why.contains("no record"),
            "{}",
            w.why
        );
        // Standing still, held by the slower partition; once it is idle, by none.
        f.vertices[1].subtasks[0].watermark_ms = (Some(5_000), Some(5_000));
        f.partitions = vec![part("p0", Some(5_000)), part("p1", Some(12_000))];
        assert!(diagnose(&f, &t).findings[0].why.contains("partition 'p0'"));
        // No records in: a quiet stream is not stalled.
        f.vertices[1].subtasks[0].records_in_per_s = 0.0;
        assert!(diagnose(&f, &t).findings.is_empty());
    }

    #[test]
    fn a_process_short_of_cores_is_named_and_bounds_the_headroom() {
        use super::super::CpuFacts;
        let t = Thresholds::default();
        let mut f = chain(&[
            ("src", false, &[(0.2, 0.0)]),
            ("sink", true, &[(0.25, 0.0)]),
        ]);
        f.cpu = Some(CpuFacts {
            cores_used: 1.7,
            cores: 2.0,
        });
        assert!(diagnose(&f, &t).findings.is_empty(), "1.7 of 2 cores");
        // Busy time says 4 times the input; the cores say 2 / 1.9 of it.
        f.cpu = Some(CpuFacts {
            cores_used: 1.9,
            cores: 2.0,
        });
        let d = diagnose(&f, &t);
        assert_eq!(d.findings[0].cause, "cpu-saturated");
        let h = d.capacity.headroom.unwrap();
        assert!((h - 2.0 / 1.9).abs() < 1e-9, "{h}");
    }

    #[test]
    fn failing_checkpoints_and_restarts_are_critical() {
        let mut f = chain(&[("src", false, &[(0.1, 0.0)]), ("sink", true, &[(0.1, 0.0)])]);
        f.checkpoints = CheckpointFacts {
            failed_in_window: 2,
            completed_after_last_failure: false,
            last_failure: Some("expired".into()),
            ..CheckpointFacts::default()
        };
        f.restarts_in_window = 1;
        f.root_exception = Some("boom".into());
        let d = diagnose(&f, &Thresholds::default());
        assert_eq!(d.verdict, Verdict::Critical);
        let causes: Vec<&str> = d.findings.iter().map(|x| x.cause).collect();
        assert_eq!(causes, ["checkpoint-failing", "restarting"]);
        assert!(d.findings[0].why.contains("expired") && d.findings[1].why.contains("boom"));
        f.checkpoints.completed_after_last_failure = true;
        let d = diagnose(&f, &Thresholds::default());
        assert_eq!(
            d.findings.len(),
            1,
            "a checkpoint completed after the failure"
        );
    }
}
