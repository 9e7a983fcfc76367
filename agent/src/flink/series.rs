//! One Flink job's catalogue series and how each poll's REST answers update
//! them: the graph, per-vertex times, records, queues and watermarks,
//! job-level restarts and uptime, checkpoint counts and last-checkpoint
//! gauges, checkpoint phase histograms observed once per completed
//! checkpoint, and the failures behind the restarts.

use super::rest::{self, Aggregate, Fetch, FlinkJob};
use super::rocksdb::RocksSeries;
use crate::catalogue::{self, MetricDef};
use crate::labels::Level;
use crate::registry::{Counter, Gauge, Histogram, Registry};
use std::collections::BTreeMap;

/// Milliseconds to the nanoseconds times are stored in.
const MS_TO_NS: f64 = 1e6;

/// A catalogue counter fed from a Flink total. Two things make such a total
/// go down: the tasks behind it restarting (it starts again from zero), and
/// a source task's busy time, which Flink derives from the time not idle or
/// backpressured and which dips while a backpressured spell is still open
/// (measured: 666, 599, 743 ms one poll apart). So the counter follows the
/// total's high-water mark: it adds only what the total grows beyond the
/// highest value seen, a dip adds nothing and counts nothing twice, and a
/// fall below half the mark is a restart, after which the mark starts again
/// from the new total. What a restarted task did before the poll that sees
/// the restart is missed; at `metrics.level: vertex` a restart of one
/// subtask among several reads as a dip, and its earlier total is missed
/// until the sum passes the mark again. The counter never counts what did
/// not happen.
pub(super) struct Accumulated {
    counter: Counter,
    /// Stored units per Flink unit.
    scale: f64,
    /// The highest total seen since the last restart.
    mark: Option<f64>,
}

impl Accumulated {
    pub(super) fn new(counter: Counter, scale: f64) -> Self {
        Self {
            counter,
            scale,
            mark: None,
        }
    }

    pub(super) fn update(&mut self, total: f64) {
        match self.mark {
            // First read: the total so far (a series revived after the
            // JobManager came back keeps its higher value).
            None => {
                self.counter.set_total((total * self.scale).max(0.0) as u64);
                self.mark = Some(total);
            }
            Some(mark) if total >= mark => {
                self.counter
                    .add(((total - mark) * self.scale).round() as u64);
                self.mark = Some(total);
            }
            Some(mark) if total < mark / 2.0 => self.mark = Some(total),
            Some(_) => {}
        }
    }
}

/// The checkpoint phase histograms of one vertex, observed per subtask.
struct Phases {
    end_to_end: Histogram,
    sync: Histogram,
    async_: Histogram,
    alignment: Histogram,
    start_delay: Histogram,
}

/// One vertex's series.
struct VertexSeries {
    id: String,
    /// The [`rest::VERTEX_METRICS`] and source metrics it has; listed again
    /// until the listing has its busy time.
    names: Vec<String>,
    /// One for the vertex summed over its subtasks (`metrics.level:
    /// vertex`), or one per subtask (`subtask`).
    subtasks: Vec<SubtaskSeries>,
    phases: Option<Phases>,
}

/// The task series of a vertex's subtask, or of all its subtasks together.
struct SubtaskSeries {
    /// The subtask read on its own, or `None`: the aggregated read.
    index: Option<u64>,
    /// `job_name`, `job_id`, `vertex`, `subtask`.
    labels: [String; 4],
    /// (Flink metric, its counter).
    totals: Vec<(&'static str, Accumulated)>,
    input_queue: Option<Gauge>,
    output_queue: Option<Gauge>,
    watermark: Option<Gauge>,
    watermark_lag: Option<Gauge>,
    pending: Option<Gauge>,
    emit_lag: Option<Gauge>,
    source_idle: Option<Gauge>,
    /// Its RocksDB native metrics, where the job turned them on.
    rocks: RocksSeries,
}

/// One watched job's series.
pub(super) struct JobSeries {
    id: String,
    name: String,
    registry: Registry,
    vertices: Vec<VertexSeries>,
    /// (Flink job metric, its counter).
    job_totals: Vec<(&'static str, Accumulated)>,
    uptime: Option<Gauge>,
    completed: Option<Accumulated>,
    failed: Option<Accumulated>,
    restored: Option<Accumulated>,
    gauges: BTreeMap<&'static str, Gauge>,
    /// The newest checkpoint whose phases are in the histograms.
    observed: Option<u64>,
    /// `numRestarts` at the last read.
    restarts: Option<f64>,
    /// When the newest failure reported (or, at first sight, already in the
    /// history) happened, Unix ms; `None` until that is known.
    reported_until: Option<i64>,
    /// Restarts whose failure the history did not hold yet.
    unexplained: u64,
    /// Polls left to look for them.
    looks_left: u32,
}

/// Polls after a restart in which the agent looks for its failure: Flink
/// counts the restart before its exception history holds the failure
/// (seen on the test cluster: `numRestarts` 1, the history empty).
const LOOKS: u32 = 5;

/// What one poll of a job found.
#[derive(Default)]
pub(super) struct JobPoll {
    /// Completed checkpoints whose phases were observed.
    pub(super) checkpoints_observed: u64,
    /// Failures behind the restarts since the last poll, oldest first.
    pub(super) failures: Vec<rest::Failure>,
}

impl JobSeries {
    /// Registers `job`'s graph (`tidemark_vertex_info`) and its series;
    /// `interval_ms` is its checkpoint interval when the JobManager gave it.
    pub(super) fn register(registry: &Registry, job: &FlinkJob, interval_ms: Option<u64>) -> Self {
        let max = job.max_parallelism.to_string();
        let (name, id) = (job.name.as_str(), job.id.as_str());
        let vertices = job
            .vertices
            .iter()
            .map(|v| {
                let (inputs, p) = (v.inputs.join(","), v.parallelism.to_string());
                let info = [name, id, &v.name, &v.id, &inputs, &p, &max];
                if let Ok(g) = registry.gauge(&catalogue::VERTEX_INFO, &info) {
                    g.set(1);
                }
                // Summed over subtasks (`metrics.level: vertex`, one
                // aggregated read), or each subtask read on its own.
                let per_subtask = registry.options().level == Level::Subtask;
                let subtasks = match per_subtask {
                    true => (0..v.parallelism)
                        .map(|i| SubtaskSeries::new(registry, [name, id, &v.name], Some(i)))
                        .collect(),
                    false => vec![SubtaskSeries::new(registry, [name, id, &v.name], None)],
                };
                let vertex = [name, id, v.name.as_str()];
                let hist = |def: &'static MetricDef| registry.histogram(def, &vertex).ok();
                VertexSeries {
                    id: v.id.clone(),
                    names: Vec::new(),
                    subtasks,
                    phases: (|| {
                        Some(Phases {
                            end_to_end: hist(&catalogue::CHECKPOINT_DURATION)?,
                            sync: hist(&catalogue::CHECKPOINT_SYNC_DURATION)?,
                            async_: hist(&catalogue::CHECKPOINT_ASYNC_DURATION)?,
                            alignment: hist(&catalogue::CHECKPOINT_ALIGNMENT_DURATION)?,
                            start_delay: hist(&catalogue::CHECKPOINT_START_DELAY)?,
                        })
                    })(),
                }
            })
            .collect();
        let labels = [name, id];
        let counter = |def: &'static MetricDef| {
            registry
                .counter(def, &labels)
                .ok()
                .map(|c| Accumulated::new(c, 1.0))
        };
        let gauges: BTreeMap<&'static str, Gauge> = [
            &catalogue::CHECKPOINT_INTERVAL,
            &catalogue::CHECKPOINT_IN_PROGRESS,
            &catalogue::CHECKPOINT_LAST_ID,
            &catalogue::CHECKPOINT_LAST_DURATION,
            &catalogue::CHECKPOINT_LAST_SIZE,
            &catalogue::CHECKPOINT_LAST_FULL_SIZE,
            &catalogue::CHECKPOINT_LAST_COMPLETION,
            &catalogue::CHECKPOINT_SINCE_LAST,
            &catalogue::CHECKPOINT_LAST_PROCESSED,
            &catalogue::CHECKPOINT_LAST_PERSISTED,
        ]
        .into_iter()
        .filter_map(|def| Some((def.name, registry.gauge(def, &labels).ok()?)))
        .collect();
        if let (Some(ms), Some(g)) = (interval_ms, gauges.get(catalogue::CHECKPOINT_INTERVAL.name))
        {
            g.set(ms as i64);
        }
        Self {
            id: id.to_string(),
            name: name.to_string(),
            registry: registry.clone(),
            vertices,
            job_totals: counter(&catalogue::JOB_RESTARTS)
                .map(|c| ("numRestarts", c))
                .into_iter()
                .collect(),
            uptime: registry.gauge(&catalogue::JOB_UPTIME, &labels).ok(),
            completed: counter(&catalogue::CHECKPOINTS_COMPLETED),
            failed: counter(&catalogue::CHECKPOINTS_FAILED),
            restored: counter(&catalogue::CHECKPOINTS_RESTORED),
            gauges,
            observed: None,
            restarts: None,
            reported_until: None,
            unexplained: 0,
            looks_left: 0,
        }
    }

    /// Reads the job's metrics and checkpoints into its series, and the
    /// failures behind restarts since the last poll. A request that fails
    /// leaves what it feeds as it was (the failure is counted by the
    /// caller's fetch).
    pub(super) fn update(&mut self, fetch: Fetch) -> JobPoll {
        let mut out = JobPoll::default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for v in &mut self.vertices {
            // Every task has a busy time: without it, the JobManager's
            // fetcher has not read the vertex's subtasks yet.
            let listed = |names: &[String]| names.iter().any(|n| n == "accumulateBusyTimeMs");
            if !listed(&v.names) {
                v.names = rest::vertex_metric_names(fetch, &self.id, &v.id).unwrap_or_default();
                if !listed(&v.names) {
                    continue;
                }
                for st in &mut v.subtasks {
                    st.register_listed(&self.registry, &v.names);
                }
            }
            for st in &mut v.subtasks {
                let read = match st.index {
                    None => rest::vertex_metrics(fetch, &self.id, &v.id, &v.names),
                    Some(i) => rest::subtask_metrics(fetch, &self.id, &v.id, i, &v.names),
                };
                if let Ok(m) = read {
                    st.update(&m, now_ms);
                }
            }
        }
        if let Ok(m) = rest::job_metrics(fetch, &self.id) {
            for (name, total) in &mut self.job_totals {
                if let Some(x) = m.get(*name) {
                    total.update(*x);
                }
            }
            if let (Some(g), Some(ms)) = (&self.uptime, m.get("runningTime")) {
                g.set(*ms as i64);
            }
            if let Some(&now) = m.get("numRestarts") {
                out.failures = self.follow_restarts(fetch, now);
            }
        }
        if let Ok(stats) = rest::checkpoint_stats(fetch, &self.id) {
            self.update_checkpoints(&stats, now_ms);
            out.checkpoints_observed = self.observe_phases(fetch, &stats);
        }
        out
    }

    /// `failure` as one of this job's; `job_failed` when it ended the job.
    pub(super) fn reported(&self, failure: rest::Failure, job_failed: bool) -> super::JobFailure {
        super::JobFailure {
            job_id: self.id.clone(),
            job_name: self.name.clone(),
            job_failed,
            failure,
        }
    }

    /// The failures behind the restarts `numRestarts` (`now`) shows since
    /// the last poll, read from the exception history: only in polls that
    /// follow a restart whose failure is not found yet (at most [`LOOKS`]),
    /// and once at first sight when the job restarted before (what is in
    /// the history then is not news).
    fn follow_restarts(&mut self, fetch: Fetch, now: f64) -> Vec<rest::Failure> {
        let before = self.restarts.replace(now);
        if self.reported_until.is_none() {
            if now < 1.0 {
                self.reported_until = Some(i64::MIN);
            } else if let Ok(history) = rest::exceptions(fetch, &self.id) {
                let newest = history.iter().map(|f| f.at_ms).max();
                self.reported_until = Some(newest.unwrap_or(i64::MIN));
            } else {
                // Unread: the next poll tries again.
                self.restarts = before;
            }
            return Vec::new();
        }
        if let Some(b) = before.filter(|b| now > *b) {
            self.unexplained += (now - b).round() as u64;
            self.looks_left = LOOKS;
        }
        if self.unexplained == 0 || self.looks_left == 0 {
            return Vec::new();
        }
        self.looks_left -= 1;
        let new = self.failures(fetch).unwrap_or_default();
        self.unexplained = match self.looks_left {
            0 => 0,
            _ => self.unexplained.saturating_sub(new.len() as u64),
        };
        new
    }

    /// The failures in the job's exception history not reported yet, oldest
    /// first (before anything is known of the history: the newest only).
    /// `None` when the history could not be read.
    pub(super) fn failures(&mut self, fetch: Fetch) -> Option<Vec<rest::Failure>> {
        let history = rest::exceptions(fetch, &self.id).ok()?;
        let mut new: Vec<rest::Failure> = match self.reported_until {
            Some(t) => history.into_iter().filter(|f| f.at_ms > t).collect(),
            None => history.into_iter().take(1).collect(),
        };
        new.reverse();
        if let Some(last) = new.iter().map(|f| f.at_ms).max() {
            self.reported_until = Some(last);
        }
        Some(new)
    }

    fn update_checkpoints(&mut self, s: &rest::CheckpointStats, now_ms: i64) {
        for (total, x) in [
            (&mut self.completed, s.completed),
            (&mut self.failed, s.failed),
            (&mut self.restored, s.restored),
        ] {
            if let Some(t) = total {
                t.update(x as f64);
            }
        }
        let set = |def: &MetricDef, v: i64| {
            if let Some(g) = self.gauges.get(def.name) {
                g.set(v);
            }
        };
        set(&catalogue::CHECKPOINT_IN_PROGRESS, s.in_progress as i64);
        if let Some(c) = &s.latest {
            set(&catalogue::CHECKPOINT_LAST_ID, c.id as i64);
            set(
                &catalogue::CHECKPOINT_LAST_DURATION,
                (c.duration_ms * 1_000_000) as i64,
            );
            set(&catalogue::CHECKPOINT_LAST_SIZE, c.checkpointed_size as i64);
            set(&catalogue::CHECKPOINT_LAST_FULL_SIZE, c.state_size as i64);
            set(
                &catalogue::CHECKPOINT_LAST_COMPLETION,
                c.completed_at_ms as i64,
            );
            set(
                &catalogue::CHECKPOINT_SINCE_LAST,
                (now_ms - c.completed_at_ms as i64).max(0),
            );
        }
    }

    /// Observes, once each, the per-subtask phases of the checkpoints
    /// completed since the last poll (those the history still lists; at a
    /// job's first poll, the newest only), oldest first.
    fn observe_phases(&mut self, fetch: Fetch, s: &rest::CheckpointStats) -> u64 {
        let Some(latest) = &s.latest else {
            // None completed yet: every one from now on is new.
            self.observed = Some(0);
            return 0;
        };
        let ids: Vec<u64> = match self.observed {
            None => vec![latest.id],
            Some(seen) => {
                let mut ids: Vec<u64> = s
                    .history
                    .iter()
                    .map(|c| c.id)
                    .filter(|id| *id > seen)
                    .collect();
                ids.sort_unstable();
                ids
            }
        };
        let mut observed = 0;
        for cid in ids {
            for v in &self.vertices {
                let (Some(p), Ok(subtasks)) =
                    (&v.phases, rest::subtask_phases(fetch, &self.id, cid, &v.id))
                else {
                    continue;
                };
                for s in subtasks {
                    let ns = |ms: u64| ms.saturating_mul(1_000_000);
                    p.end_to_end.observe(ns(s.end_to_end));
                    p.sync.observe(ns(s.sync));
                    p.async_.observe(ns(s.async_));
                    p.alignment.observe(ns(s.alignment));
                    p.start_delay.observe(ns(s.start_delay));
                }
            }
            observed += 1;
            self.observed = Some(cid);
        }
        observed
    }
}

impl SubtaskSeries {
    /// The series of subtask `index` of vertex `[job_name, job_id, vertex]`
    /// (`None`: all its subtasks, labelled subtask 0, which `metrics.level:
    /// vertex` drops).
    fn new(registry: &Registry, vertex: [&str; 3], index: Option<u64>) -> Self {
        let subtask = index.unwrap_or(0).to_string();
        let task = [vertex[0], vertex[1], vertex[2], subtask.as_str()];
        let totals = [
            ("accumulateBusyTimeMs", &catalogue::TASK_BUSY, MS_TO_NS),
            ("accumulateIdleTimeMs", &catalogue::TASK_IDLE, MS_TO_NS),
            (
                "accumulateBackPressuredTimeMs",
                &catalogue::TASK_BACKPRESSURED,
                MS_TO_NS,
            ),
            ("numRecordsIn", &catalogue::TASK_RECORDS_IN, 1.0),
            ("numRecordsOut", &catalogue::TASK_RECORDS_OUT, 1.0),
        ]
        .into_iter()
        .filter_map(|(m, def, scale)| {
            Some((
                m,
                Accumulated::new(registry.counter(def, &task).ok()?, scale),
            ))
        })
        .collect();
        let gauge = |def: &'static MetricDef| registry.gauge(def, &task).ok();
        Self {
            index,
            labels: task.map(String::from),
            totals,
            input_queue: gauge(&catalogue::TASK_INPUT_QUEUE_USAGE),
            output_queue: gauge(&catalogue::TASK_OUTPUT_QUEUE_USAGE),
            watermark: gauge(&catalogue::TASK_INPUT_WATERMARK),
            watermark_lag: gauge(&catalogue::TASK_WATERMARK_LAG),
            pending: None,
            emit_lag: None,
            source_idle: None,
            rocks: RocksSeries::default(),
        }
    }

    /// A source's gauges and the RocksDB series, registered once the
    /// vertex's metric `names` show it reports them (a vertex that is no
    /// source, or keeps no state in RocksDB, has none, not a "not yet"
    /// series).
    fn register_listed(&mut self, registry: &Registry, names: &[String]) {
        let task = self.labels.each_ref().map(String::as_str);
        self.rocks = RocksSeries::register(registry, task, names);
        let reports = |suffix: &str| names.iter().any(|n| n.ends_with(suffix));
        // Flink's backlog is a source subtask's, over all its splits.
        let all_partitions = [task[0], task[1], task[2], task[3], ""];
        if reports(".pendingRecords") {
            self.pending = registry
                .gauge(&catalogue::SOURCE_PENDING_RECORDS, &all_partitions)
                .ok();
        }
        if reports(".currentEmitEventTimeLag") {
            self.emit_lag = registry
                .gauge(&catalogue::SOURCE_EMIT_EVENT_TIME_LAG, &task)
                .ok();
        }
        if reports(".sourceIdleTime") {
            self.source_idle = registry.gauge(&catalogue::SOURCE_IDLE_TIME, &task).ok();
        }
    }

    fn update(&mut self, m: &BTreeMap<String, Aggregate>, now_ms: i64) {
        self.rocks.update(m);
        for (name, total) in &mut self.totals {
            if let Some(a) = m.get(*name) {
                total.update(a.sum);
            }
        }
        // Ratios are stored in millionths; the fullest subtask's.
        let ratio = |g: &Option<Gauge>, name: &str| {
            if let (Some(g), Some(a)) = (g, m.get(name)) {
                g.set((a.max * 1e6).round() as i64);
            }
        };
        ratio(&self.input_queue, "Shuffle.Netty.Input.Buffers.inPoolUsage");
        ratio(
            &self.output_queue,
            "Shuffle.Netty.Output.Buffers.outPoolUsage",
        );
        // Source metrics, under the source operator's name: the backlog
        // summed, the lag and idle time of the worst subtask; negative
        // (Flink's "undefined") stays "not yet".
        for (suffix, gauge, combine) in [
            (
                ".pendingRecords",
                &self.pending,
                (|a: &Aggregate| a.sum) as fn(&Aggregate) -> f64,
            ),
            (".currentEmitEventTimeLag", &self.emit_lag, |a| a.max),
            (".sourceIdleTime", &self.source_idle, |a| a.max),
        ] {
            let value = m
                .iter()
                .filter(|(name, a)| name.ends_with(suffix) && a.min >= 0.0)
                .map(|(_, a)| combine(a))
                .reduce(f64::max);
            if let (Some(g), Some(x)) = (gauge, value) {
                g.set(x.round() as i64);
            }
        }
        // The slowest subtask's watermark; Flink reports Long.MIN_VALUE
        // before the first, which stays "not yet" (-1) here.
        if let Some(a) = m.get("currentInputWatermark") {
            if a.min > 0.0 {
                let wm = a.min as i64;
                if let Some(g) = &self.watermark {
                    g.set(wm);
                }
                if let Some(g) = &self.watermark_lag {
                    g.set((now_ms - wm).max(0));
                }
            }
        }
    }
}
