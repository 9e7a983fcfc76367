//! What a running job shows its operator: counters of the tasks at the edges
//! of the graph and the last completed checkpoint. Shared with the CLI.

use super::backpressure::{Level, Shares, Window};
use super::deploy::TaskEntry;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One completed checkpoint, as the status line shows it.
#[derive(Debug, Clone)]
pub struct CompletedInfo {
    /// Id.
    pub id: u64,
    /// Trigger to completion, ms.
    pub duration_ms: i64,
    /// Bytes of state files.
    pub size: u64,
}

/// A vertex as observers see it.
#[derive(Debug, Clone)]
pub struct VertexInfo {
    /// Stable id (the REST API's vertex id).
    pub uid: String,
    /// Name.
    pub name: String,
    /// Parallelism.
    pub parallelism: usize,
    /// Upstream node indices and the partitioner of each input.
    pub inputs: Vec<(usize, &'static str)>,
}

/// Locks a status field. A poisoned lock (a thread panicked while holding it)
/// still yields its data: a failing task must never make the job's status unreadable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared, cheaply readable job progress.
#[derive(Default)]
pub struct JobStatus {
    /// Every subtask of the current attempt.
    pub tasks: Mutex<Vec<TaskEntry>>,
    /// The vertices, by node index (upstream first).
    pub vertices: Mutex<Vec<VertexInfo>>,
    /// The current attempt's sampled records per key group, by node index.
    pub key_groups: Mutex<Vec<std::sync::Arc<super::key_group_load::KeyGroupLoad>>>,
    /// Counter samples for busy / idle / backpressured shares.
    pub window: Mutex<Option<Window>>,
    /// Checkpoint statistics.
    pub checkpoints: Mutex<super::checkpoint_stats::CheckpointStats>,
    /// RUNNING, RESTARTING, FINISHED, FAILED or CANCELED.
    pub state: Mutex<&'static str>,
    /// Task failures: (ms since epoch, task, message), oldest first.
    pub exceptions: Mutex<Vec<(i64, String, String)>>,
    /// Start and end (ms since epoch; end 0 while running).
    pub start_ms: std::sync::atomic::AtomicI64,
    /// End (ms since epoch).
    pub end_ms: std::sync::atomic::AtomicI64,
    /// Checkpoints triggered through the REST API, and their outcomes.
    pub checkpoint_requests: Mutex<super::checkpoint_requests::CheckpointRequests>,
    /// Savepoint requests and outcomes.
    pub savepoints: Mutex<super::savepoints::SavepointBook>,
    /// The last completed checkpoint.
    pub last_checkpoint: Mutex<Option<CompletedInfo>>,
    /// Restarts so far.
    pub restarts: std::sync::atomic::AtomicU64,
    /// Failed checkpoints so far.
    pub failed_checkpoints: std::sync::atomic::AtomicU64,
    /// The last recovery's downtime: from a task's failure until every
    /// subtask of the next attempt had restored its state and runs.
    pub last_recovery: Mutex<Option<std::time::Duration>>,
    /// The process's CPU seconds at each sample over the window (across
    /// attempts: the process is the same).
    cpu: Mutex<std::collections::VecDeque<(Instant, f64)>>,
}

/// Totals over the current attempt's subtasks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Records emitted by sources.
    pub source_out: u64,
    /// Records received by sinks.
    pub sink_in: u64,
    /// Backpressured ns summed over subtasks.
    pub backpressured_ns: u64,
    /// Wall ns accounted, summed over subtasks.
    pub accounted_ns: u64,
}

impl JobStatus {
    /// Sums the counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in lock(&self.tasks).iter() {
            let s = e.metrics.read();
            if e.is_source {
                t.source_out += s.records_out;
            }
            if e.is_sink {
                t.sink_in += s.records_in;
            }
            t.backpressured_ns += s.backpressured_ns;
            t.accounted_ns += s.busy_ns + s.idle_ns + s.backpressured_ns;
        }
        t
    }
}

/// How long the busy / idle / backpressured shares look back.
pub const BACKPRESSURE_WINDOW: Duration = Duration::from_secs(10);

/// One subtask's shares and level.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubtaskPressure {
    /// Subtask index.
    pub subtask: usize,
    /// Its level.
    pub level: Level,
    /// Its shares.
    pub shares: Shares,
}

/// One vertex's backpressure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VertexPressure {
    /// Node index (graph order: upstream first).
    pub node: usize,
    /// Stable id.
    pub uid: String,
    /// Name.
    pub name: String,
    /// The worst subtask's level.
    pub level: Level,
    /// Per subtask.
    pub subtasks: Vec<SubtaskPressure>,
}

impl JobStatus {
    /// Takes a sample of every subtask's counters.
    pub fn sample(&self, now: Instant) {
        let readings = lock(&self.tasks).iter().map(|e| e.metrics.read()).collect();
        lock(&self.window)
            .get_or_insert_with(|| Window::new(BACKPRESSURE_WINDOW))
            .push(now, readings);
        let mut cpu = lock(&self.cpu);
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        cpu.push_back((now, t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9));
        while cpu.len() > 2 && now - cpu[1].0 >= BACKPRESSURE_WINDOW {
            cpu.pop_front();
        }
    }

    /// Cores the process kept busy over the window (CPU seconds per
    /// second, all threads); `None` before two samples.
    pub fn cpu_cores_used(&self) -> Option<f64> {
        let cpu = lock(&self.cpu);
        match (cpu.front(), cpu.back()) {
            (Some((t0, a)), Some((t1, b))) if t1 > t0 => Some((b - a) / (*t1 - *t0).as_secs_f64()),
            _ => None,
        }
    }

    /// When the last sample was taken.
    pub fn sampled_at(&self) -> Option<Instant> {
        lock(&self.window).as_ref().and_then(|w| w.end())
    }

    /// How much time the window's samples span now (zero before two).
    pub fn measured_span(&self) -> Duration {
        lock(&self.window)
            .as_ref()
            .map(|w| w.span())
            .unwrap_or_default()
    }

    /// Records in and out per second of each task entry over the window
    /// (empty until two samples exist).
    pub fn record_rates(&self) -> Vec<(f64, f64)> {
        self.over_window(Window::record_rates)
    }

    /// Each task entry's input watermark at the window's start and end
    /// (empty until two samples exist).
    pub fn watermarks(&self) -> Vec<(Option<i64>, Option<i64>)> {
        self.over_window(Window::watermarks)
    }

    /// Each task entry's share of busy time in the state backend over the
    /// window (empty until two samples exist).
    pub fn state_of_busy(&self) -> Vec<f64> {
        self.over_window(Window::state_of_busy)
    }

    fn over_window<T>(&self, f: impl Fn(&Window) -> Vec<T>) -> Vec<T> {
        lock(&self.window).as_ref().map(f).unwrap_or_default()
    }

    /// Backpressure per vertex over the window (empty until two samples exist).
    pub fn backpressure(&self) -> Vec<VertexPressure> {
        let shares = lock(&self.window)
            .as_ref()
            .map(|w| w.shares())
            .unwrap_or_default();
        let tasks = lock(&self.tasks).clone();
        let vertices = lock(&self.vertices).clone();
        if shares.len() != tasks.len() {
            return Vec::new();
        }
        let mut out: Vec<VertexPressure> = vertices
            .iter()
            .enumerate()
            .map(|(node, v)| VertexPressure {
                node,
                uid: v.uid.clone(),
                name: v.name.clone(),
                level: Level::Ok,
                subtasks: Vec::new(),
            })
            .collect();
        for (e, s) in tasks.iter().zip(shares) {
            let level = Level::of(s.backpressured);
            let v = &mut out[e.node];
            v.level = v.level.max(level);
            v.subtasks.push(SubtaskPressure {
                subtask: e.subtask,
                level,
                shares: s,
            });
        }
        out
    }
}

/// The likely bottleneck: the busiest vertex downstream of a backpressured
/// one (the vertex that is busy while its upstream waits on it).
pub fn bottleneck(v: &[VertexPressure]) -> Option<&VertexPressure> {
    let max = |p: &VertexPressure, f: fn(&Shares) -> f64| {
        p.subtasks.iter().map(|s| f(&s.shares)).fold(0.0, f64::max)
    };
    let first_bp = v.iter().position(|p| p.level != Level::Ok)?;
    v[first_bp + 1..]
        .iter()
        .filter(|p| p.level == Level::Ok)
        .max_by(|a, b| max(a, |s| s.busy).total_cmp(&max(b, |s| s.busy)))
}
