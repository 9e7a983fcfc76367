//! The engine's side of the metrics flow: per-task handles resolved once at
//! start, and a task-local accumulator published once per batch, so the record
//! path does no hashing, locking, allocation or clock read per record.

use tidemark_agent::catalogue as cat;
use tidemark_agent::{Counter, Gauge, Histogram, Registry};

/// Label values naming one subtask.
#[derive(Debug, Clone)]
pub struct TaskLabels {
    /// Job name.
    pub job_name: String,
    /// Job id (hex).
    pub job_id: String,
    /// Vertex (operator) name.
    pub vertex: String,
    /// Subtask index.
    pub subtask: usize,
}

/// The shared handles of one subtask.
#[derive(Clone, Debug)]
pub struct TaskMetrics {
    records_in: Counter,
    records_out: Counter,
    busy: Counter,
    idle: Counter,
    backpressured: Counter,
    state: Counter,
    input_queue: Gauge,
    output_queue: Gauge,
    input_wm: Gauge,
    output_wm: Gauge,
    wm_lag: Gauge,
}

/// A read of one subtask's shared counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct TaskReading {
    /// Records received.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Busy ns.
    pub busy_ns: u64,
    /// Idle ns.
    pub idle_ns: u64,
    /// Backpressured ns.
    pub backpressured_ns: u64,
    /// Ns in the state backend (part of the busy ns).
    pub state_ns: u64,
    /// The input watermark, event-time ms (0: none yet).
    pub input_watermark_ms: i64,
}

/// Counts accumulated by a task between publishes.
#[derive(Debug, Default)]
pub struct LocalCounts {
    /// Records received.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Nanoseconds waiting for input.
    pub idle_ns: u64,
    /// Nanoseconds blocked on output.
    pub backpressured_ns: u64,
    /// Nanoseconds of wall time covered.
    pub elapsed_ns: u64,
}

impl TaskMetrics {
    /// Registers (or finds) the series of one subtask.
    pub fn new(registry: &Registry, l: &TaskLabels) -> Self {
        let sub = l.subtask.to_string();
        let v = [
            l.job_name.as_str(),
            l.job_id.as_str(),
            l.vertex.as_str(),
            sub.as_str(),
        ];
        let c = |d| {
            registry
                .counter(d, &v)
                .expect("task metrics match the catalogue")
        };
        Self {
            records_in: c(&cat::TASK_RECORDS_IN),
            records_out: c(&cat::TASK_RECORDS_OUT),
            busy: c(&cat::TASK_BUSY),
            idle: c(&cat::TASK_IDLE),
            backpressured: c(&cat::TASK_BACKPRESSURED),
            state: c(&cat::TASK_STATE_TIME),
            input_queue: registry
                .gauge(&cat::TASK_INPUT_QUEUE_USAGE, &v)
                .expect("task metrics match the catalogue"),
            output_queue: registry
                .gauge(&cat::TASK_OUTPUT_QUEUE_USAGE, &v)
                .expect("task metrics match the catalogue"),
            input_wm: registry
                .gauge(&cat::TASK_INPUT_WATERMARK, &v)
                .expect("task metrics match the catalogue"),
            output_wm: registry
                .gauge(&cat::TASK_OUTPUT_WATERMARK, &v)
                .expect("task metrics match the catalogue"),
            wm_lag: registry
                .gauge(&cat::TASK_WATERMARK_LAG, &v)
                .expect("task metrics match the catalogue"),
        }
    }

    /// The current shared values (for the status line).
    pub fn read(&self) -> TaskReading {
        TaskReading {
            records_in: self.records_in.get(),
            records_out: self.records_out.get(),
            busy_ns: self.busy.get(),
            idle_ns: self.idle.get(),
            backpressured_ns: self.backpressured.get(),
            state_ns: self.state.get(),
            input_watermark_ms: self.input_wm.get(),
        }
    }

    /// The backpressured-time counter, which blocked sends advance while they
    /// block (so it is not added again here).
    pub fn backpressure_counter(&self) -> Counter {
        self.backpressured.clone()
    }

    /// The input watermark advanced (event time, ms).
    pub fn input_watermark(&self, wm: i64) {
        if wm != i64::MAX && wm > i64::MIN {
            self.input_wm.set(wm);
        }
    }

    /// The output watermark advanced (event time, ms).
    pub fn output_watermark(&self, wm: i64) {
        if wm != i64::MAX && wm > i64::MIN {
            self.output_wm.set(wm);
        }
    }

    /// Updates the watermark lag against the wall clock (ms since epoch).
    pub fn watermark_lag(&self, now_ms: i64) {
        let wm = self.input_wm.get();
        if wm != -1 {
            self.wm_lag.set((now_ms - wm).max(0));
        }
    }

    /// Sets the queue-usage gauges from (queued, capacity) of inputs and outputs.
    pub fn set_queue_usage(&self, input: (usize, usize), output: (usize, usize)) {
        let ppm = |(l, c): (usize, usize)| {
            if c == 0 {
                0
            } else {
                (l as u64 * 1_000_000 / c as u64) as i64
            }
        };
        self.input_queue.set(ppm(input));
        self.output_queue.set(ppm(output));
    }

    /// Adds the local counts to the shared handles and resets them. Busy time
    /// is what remains of the elapsed time after idle and backpressured time.
    pub fn publish(&self, l: &mut LocalCounts) {
        self.records_in.add(l.records_in);
        self.records_out.add(l.records_out);
        self.idle.add(l.idle_ns);
        self.busy
            .add(l.elapsed_ns.saturating_sub(l.idle_ns + l.backpressured_ns));
        *l = LocalCounts::default();
    }
}

/// Checkpoint phase histograms of one vertex, observed once per subtask per
/// completed checkpoint.
#[derive(Clone, Debug)]
pub struct VertexCheckpointMetrics {
    /// Trigger to acknowledgement.
    pub duration: Histogram,
    /// Synchronous phase.
    pub sync: Histogram,
    /// Asynchronous phase.
    pub async_: Histogram,
    /// Alignment.
    pub alignment: Histogram,
    /// Start delay.
    pub start_delay: Histogram,
}

impl VertexCheckpointMetrics {
    /// Registers the histograms of `vertex`.
    pub fn new(registry: &Registry, job_name: &str, job_id: &str, vertex: &str) -> Self {
        let v = [job_name, job_id, vertex];
        let h = |d| {
            registry
                .histogram(d, &v)
                .expect("vertex metrics match the catalogue")
        };
        Self {
            duration: h(&cat::CHECKPOINT_DURATION),
            sync: h(&cat::CHECKPOINT_SYNC_DURATION),
            async_: h(&cat::CHECKPOINT_ASYNC_DURATION),
            alignment: h(&cat::CHECKPOINT_ALIGNMENT_DURATION),
            start_delay: h(&cat::CHECKPOINT_START_DELAY),
        }
    }
}

/// The per-job handles the checkpoint coordinator and job master update.
#[derive(Clone, Debug)]
pub struct JobMetrics {
    /// Completed checkpoints.
    pub completed: Counter,
    /// Failed checkpoints.
    pub failed: Counter,
    /// Last completed id.
    pub last_id: Gauge,
    /// Last duration (ns).
    pub last_duration_ns: Gauge,
    /// Last size (bytes).
    pub last_size: Gauge,
    /// Restarts.
    pub restarts: Counter,
    /// Restores from checkpoints.
    pub restored: Counter,
    /// In-progress checkpoints.
    pub in_progress: Gauge,
    /// Last completion (ms since epoch).
    pub last_completion_ms: Gauge,
    /// Since the last completion (ms).
    pub since_last_ms: Gauge,
    /// The configured checkpoint interval (ms; 0 when off), set once.
    pub interval_ms: Gauge,
    /// Last full size (bytes).
    pub last_full_size: Gauge,
    /// Bytes processed during alignment by the last checkpoint.
    pub last_processed: Gauge,
    /// Bytes of in-flight records the last checkpoint persisted.
    pub last_persisted: Gauge,
    /// Uptime (ms).
    pub uptime_ms: Gauge,
}

impl JobMetrics {
    /// Registers the job-level series.
    pub fn new(registry: &Registry, job_name: &str, job_id: &str) -> Self {
        let v = [job_name, job_id];
        let c = |d| {
            registry
                .counter(d, &v)
                .expect("job metrics match the catalogue")
        };
        let g = |d| {
            registry
                .gauge(d, &v)
                .expect("job metrics match the catalogue")
        };
        Self {
            completed: c(&cat::CHECKPOINTS_COMPLETED),
            failed: c(&cat::CHECKPOINTS_FAILED),
            last_id: g(&cat::CHECKPOINT_LAST_ID),
            last_duration_ns: g(&cat::CHECKPOINT_LAST_DURATION),
            last_size: g(&cat::CHECKPOINT_LAST_SIZE),
            restarts: c(&cat::JOB_RESTARTS),
            restored: c(&cat::CHECKPOINTS_RESTORED),
            in_progress: g(&cat::CHECKPOINT_IN_PROGRESS),
            last_completion_ms: g(&cat::CHECKPOINT_LAST_COMPLETION),
            since_last_ms: g(&cat::CHECKPOINT_SINCE_LAST),
            interval_ms: g(&cat::CHECKPOINT_INTERVAL),
            last_full_size: g(&cat::CHECKPOINT_LAST_FULL_SIZE),
            last_processed: g(&cat::CHECKPOINT_LAST_PROCESSED),
            last_persisted: g(&cat::CHECKPOINT_LAST_PERSISTED),
            uptime_ms: g(&cat::JOB_UPTIME),
        }
    }
}

/// The capacity model's series. Registered at the first estimate (after
/// the doctor's least window), not before: a zero headroom before any
/// measurement would be a false alarm.
pub struct CapacityMetrics {
    registry: Registry,
    job: [String; 2],
    /// Headroom and maximum sustainable rate: set once some subtask was
    /// busy (before, no bound is measured).
    job_gauges: Option<[Gauge; 2]>,
    /// Recovery time.
    recovery: Option<Gauge>,
    /// Per vertex (node index): utilization, true processing rate, needed
    /// parallelism.
    vertex_gauges: Vec<Option<[Gauge; 3]>>,
}

impl CapacityMetrics {
    /// Nothing registered yet.
    pub fn new(registry: &Registry, job_name: &str, job_id: &str) -> Self {
        Self {
            registry: registry.clone(),
            job: [job_name.into(), job_id.into()],
            job_gauges: None,
            recovery: None,
            vertex_gauges: Vec::new(),
        }
    }

    /// Sets the series from `cap`; `names` are the vertices' names (the
    /// `vertex` label), in `cap.vertices`' order. Rates and ratios are kept
    /// in thousandths.
    pub fn set(&mut self, names: &[&str], cap: &crate::doctor::Capacity) {
        let milli = |x: f64| (x * 1000.0).round() as i64;
        let [name, id] = &self.job;
        let registry = &self.registry;
        let gauge = |d, v: &[&str]| {
            registry
                .gauge(d, v)
                .expect("capacity metrics match the catalogue")
        };
        let job = [name.as_str(), id.as_str()];
        if let Some(h) = cap.headroom {
            let [headroom, max_rate] = self.job_gauges.get_or_insert_with(|| {
                [
                    gauge(&cat::JOB_HEADROOM, &job),
                    gauge(&cat::JOB_MAX_SUSTAINABLE_RATE, &job),
                ]
            });
            headroom.set(milli(h));
            max_rate.set(milli(h * cap.input_records_per_second));
        }
        self.recovery
            .get_or_insert_with(|| gauge(&cat::JOB_RECOVERY_TIME, &job))
            .set(milli(cap.recovery_seconds));
        self.vertex_gauges.resize_with(names.len(), || None);
        for ((v, vertex), slot) in cap.vertices.iter().zip(names).zip(&mut self.vertex_gauges) {
            let labels = [name.as_str(), id.as_str(), vertex];
            let [utilization, rate, needed] = slot.get_or_insert_with(|| {
                [
                    gauge(&cat::VERTEX_UTILIZATION, &labels),
                    gauge(&cat::VERTEX_TRUE_PROCESSING_RATE, &labels),
                    gauge(&cat::VERTEX_NEEDED_PARALLELISM, &labels),
                ]
            });
            utilization.set(milli(v.utilization));
            if let Some(r) = v.true_processing_rate {
                rate.set(milli(r));
            }
            needed.set(v.needed_parallelism as i64);
        }
    }
}

/// Which labels latency histograms carry (`metrics.latency.granularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyGranularity {
    /// Per vertex.
    Single,
    /// Per source vertex and vertex.
    Operator,
    /// Per source subtask and subtask.
    Subtask,
}

/// Records latency markers at one subtask. Histograms are resolved once per
/// (source, source subtask) seen; markers are rare, so the lookup is cheap.
pub struct LatencyRecorder {
    registry: Registry,
    labels: TaskLabels,
    granularity: LatencyGranularity,
    /// Vertex names by node index (labels carry names, not ids).
    names: std::sync::Arc<Vec<String>>,
    cache: Vec<((u32, u32), Histogram)>,
}

impl LatencyRecorder {
    /// A recorder for the subtask `labels`.
    pub fn new(
        registry: Registry,
        labels: TaskLabels,
        granularity: LatencyGranularity,
        names: std::sync::Arc<Vec<String>>,
    ) -> Self {
        Self {
            registry,
            labels,
            granularity,
            names,
            cache: Vec::new(),
        }
    }

    /// A marker from (`source`, `source_subtask`) arrived `age_us` after it was emitted.
    pub fn record(&mut self, source: u32, source_subtask: u32, age_us: i64) {
        let key = match self.granularity {
            LatencyGranularity::Single => (0, 0),
            LatencyGranularity::Operator => (source, 0),
            LatencyGranularity::Subtask => (source, source_subtask),
        };
        let h = match self.cache.iter().find(|(k, _)| *k == key) {
            Some((_, h)) => h.clone(),
            None => {
                let src = self.names.get(source as usize).cloned().unwrap_or_default();
                let (src, src_sub, sub) = match self.granularity {
                    LatencyGranularity::Single => (String::new(), String::new(), String::new()),
                    LatencyGranularity::Operator => (src, String::new(), String::new()),
                    LatencyGranularity::Subtask => (
                        src,
                        source_subtask.to_string(),
                        self.labels.subtask.to_string(),
                    ),
                };
                let l = &self.labels;
                let h = self
                    .registry
                    .histogram(
                        &cat::LATENCY,
                        &[&l.job_name, &l.job_id, &src, &l.vertex, &src_sub, &sub],
                    )
                    .expect("latency metrics match the catalogue");
                self.cache.push((key, h.clone()));
                h
            }
        };
        h.observe(age_us.max(0) as u64);
    }
}
