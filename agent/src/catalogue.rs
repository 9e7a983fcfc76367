//! Every metric Tidemark emits, defined once.
//!
//! The registry only accepts a `&'static MetricDef`, so a metric that is not in
//! [`ALL`] cannot be registered. `docs/metrics.md` is generated from this list
//! (see `tidemark metrics-doc`), and a test fails when the committed copy is stale.

use crate::labels::{BLOCK, JOB_ID, JOB_NAME, KIND, PARTITION, SOURCE, STATE, SUBTASK, VERTEX};

/// The Prometheus type a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Observations in fixed buckets, exposed as `_bucket`, `_sum`, `_count`.
    Histogram,
}

impl MetricKind {
    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric family: everything a reader needs to find and interpret it.
#[derive(Debug)]
pub struct MetricDef {
    /// Full exposed name, `tidemark_<area>_<name>_<unit>[_total]`.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Base unit (`seconds`, `bytes`) or empty for plain counts.
    pub unit: &'static str,
    /// One sentence: what it measures.
    pub help: &'static str,
    /// Label names, in exposition order.
    pub labels: &'static [&'static str],
    /// The nearest Apache Flink metric, so Flink users find the familiar quantity.
    pub flink: &'static str,
    /// Factor from the stored integer to the exposed value: handles count in
    /// integers (nanoseconds for time) so that the hot path adds without floats.
    pub scale: f64,
    /// Bucket upper bounds in the exposed unit (histograms only; `+Inf` is implied).
    pub buckets: &'static [f64],
    /// How the series of several writers combine when `metrics.level` drops
    /// a label that told them apart (subtasks at `vertex`, vertices at `job`).
    /// Counters and histograms always add; a gauge says what its value means
    /// for the group: the slowest watermark (`Min`), the fullest queue or
    /// worst lag (`Max`), a total size (`Sum`).
    pub merge: Merge,
}

/// How a gauge's writers combine into one series (see [`MetricDef::merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The total: sizes, counts of keys, running compactions.
    Sum,
    /// The smallest: watermarks (the group is as far as its slowest member).
    Min,
    /// The largest: queue usage, lag, durations, flags.
    Max,
}

impl Merge {
    /// The word `docs/metrics.md` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Merge::Sum => "sum",
            Merge::Min => "min",
            Merge::Max => "max",
        }
    }
}

/// Buckets for durations from a millisecond to ten minutes (checkpoint phases).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0,
];

/// Buckets of a state lookup, in seconds: a cached block answers in a few
/// microseconds, a read from the page cache in tens, from disk in hundreds.
pub const LOOKUP_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1,
];

const TASK: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK];
const JOB: &[&str] = &[JOB_NAME, JOB_ID];
const TASK_STATE: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, STATE];
const TASK_SOURCE: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, SOURCE];
const TASK_BLOCK: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, BLOCK];
const TASK_PARTITION: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, PARTITION];
const TASK_KIND: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, KIND];
const VERTEX_LABELS: &[&str] = &[JOB_NAME, JOB_ID, VERTEX];
const VERTEX_INFO_LABELS: &[&str] = &[
    JOB_NAME,
    JOB_ID,
    VERTEX,
    crate::labels::VERTEX_ID,
    crate::labels::INPUTS,
    crate::labels::PARALLELISM,
    crate::labels::MAX_PARALLELISM,
];

/// Buckets for record latencies, from 100 µs to a minute.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Latency-marker age at a vertex.
pub static LATENCY: MetricDef = MetricDef {
    name: "tidemark_latency_seconds",
    kind: MetricKind::Histogram,
    unit: "seconds",
    help: "Age of latency markers when they reach a vertex: time spent queued between a source and this vertex, excluding operator processing. Labels by metrics.latency.granularity: single (vertex), operator (+ source), subtask (+ source_subtask, subtask).",
    labels: &[JOB_NAME, JOB_ID, "source", VERTEX, "source_subtask", SUBTASK],
    flink: "latency (source_id, operator_id, operator_subtask_index)",
    scale: 1e-6,
    buckets: LATENCY_BUCKETS,
    merge: Merge::Sum,
};

/// End-to-end event-time latency of results at a sink.
pub static SINK_EVENT_TIME_LATENCY: MetricDef = MetricDef {
    name: "tidemark_sink_event_time_latency_seconds",
    kind: MetricKind::Histogram,
    unit: "seconds",
    help: "How late results are: wall-clock time when a sink receives a result minus the result's event time (for a window result, its end), per sink vertex. Only for sinks given an event-time extractor; Flink has no equivalent.",
    labels: VERTEX_LABELS,
    flink: "",
    scale: 1e-3,
    buckets: LATENCY_BUCKETS,
    merge: Merge::Sum,
};

/// A checkpoint-phase histogram per vertex.
/// One family with no buckets: kind, unit, labels, scale, Flink name, help.
macro_rules! metric {
    ($ident:ident, $name:expr, $kind:expr, $unit:expr, $labels:expr, $scale:expr, $flink:expr, $help:expr, $merge:expr) => {
        #[doc = $help]
        pub static $ident: MetricDef = MetricDef {
            name: $name,
            kind: $kind,
            unit: $unit,
            help: $help,
            labels: $labels,
            flink: $flink,
            scale: $scale,
            buckets: &[],
            merge: $merge,
        };
    };
}

macro_rules! phase {
    ($ident:ident, $name:expr, $help:expr, $flink:expr) => {
        #[doc = $help]
        pub static $ident: MetricDef = MetricDef {
            name: $name,
            kind: MetricKind::Histogram,
            unit: "seconds",
            help: $help,
            labels: VERTEX_LABELS,
            flink: $flink,
            scale: 1e-9,
            buckets: DURATION_BUCKETS,
            merge: Merge::Sum,
        };
    };
}

phase!(
    CHECKPOINT_DURATION,
    "tidemark_checkpoint_duration_seconds",
    "Trigger to acknowledgement of each subtask of a vertex, per completed checkpoint.",
    "REST end_to_end_duration"
);
phase!(
    CHECKPOINT_SYNC_DURATION,
    "tidemark_checkpoint_sync_duration_seconds",
    "Synchronous snapshot phase (copying state) of each subtask, per completed checkpoint.",
    "REST sync_duration"
);
phase!(
    CHECKPOINT_ASYNC_DURATION,
    "tidemark_checkpoint_async_duration_seconds",
    "Asynchronous snapshot phase (encoding and writing state) of each subtask, per completed checkpoint.",
    "REST async_duration"
);
phase!(
    CHECKPOINT_ALIGNMENT_DURATION,
    "tidemark_checkpoint_alignment_duration_seconds",
    "First to last barrier at each subtask, per completed checkpoint.",
    "checkpointAlignmentTime"
);
phase!(
    CHECKPOINT_START_DELAY,
    "tidemark_checkpoint_start_delay_seconds",
    "Trigger to first barrier at each subtask, per completed checkpoint.",
    "checkpointStartDelayNanos"
);

const EXPORTER: &[&str] = &[crate::labels::REPORTER, KIND];

/// Payloads an exporter delivered (scrapes served, pushes and writes accepted).
pub static EXPORTER_SENT: MetricDef = MetricDef {
    name: "tidemark_exporter_sent_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Payloads an exporter delivered: scrapes served, pushes and writes the server accepted.",
    labels: EXPORTER,
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Failed delivery attempts.
pub static EXPORTER_FAILED: MetricDef = MetricDef {
    name: "tidemark_exporter_failed_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Delivery attempts that failed (connection error, timeout or error status); they are retried.",
    labels: EXPORTER,
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Payloads given up on.
pub static EXPORTER_DROPPED: MetricDef = MetricDef {
    name: "tidemark_exporter_dropped_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Payloads dropped because the exporter's bounded queue was full or the server rejected them as invalid.",
    labels: EXPORTER,
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Payloads waiting.
pub static EXPORTER_QUEUE_DEPTH: MetricDef = MetricDef {
    name: "tidemark_exporter_queue_depth",
    kind: MetricKind::Gauge,
    unit: "",
    help: "Payloads waiting in the exporter's queue.",
    labels: EXPORTER,
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Time of the last success.
pub static EXPORTER_LAST_SUCCESS: MetricDef = MetricDef {
    name: "tidemark_exporter_last_success_timestamp_seconds",
    kind: MetricKind::Gauge,
    unit: "seconds",
    help: "Unix time of the exporter's last successful delivery; -1 before the first.",
    labels: EXPORTER,
    flink: "-",
    scale: 1e-3,
    buckets: &[],
    merge: Merge::Max,
};

/// The Flink agent's self-metrics (`tidemark agent flink`): what its polls
/// of the JobManager's REST API cost and whether they reach it.
macro_rules! bridge {
    ($ident:ident, $name:expr, $kind:expr, $unit:expr, $scale:expr, $buckets:expr, $help:expr) => {
        #[doc = $help]
        pub static $ident: MetricDef = MetricDef {
            name: $name,
            kind: $kind,
            unit: $unit,
            help: $help,
            labels: &[],
            flink: "-",
            scale: $scale,
            buckets: $buckets,
            merge: Merge::Max,
        };
    };
}

bridge!(
    BRIDGE_REQUESTS,
    "tidemark_bridge_requests_total",
    MetricKind::Counter,
    "",
    1.0,
    &[],
    "Requests the Flink agent made to the JobManager's REST API."
);
bridge!(
    BRIDGE_FAILURES,
    "tidemark_bridge_request_failures_total",
    MetricKind::Counter,
    "",
    1.0,
    &[],
    "Requests to the JobManager that failed (refused, timed out, an error status or an answer of another shape)."
);
bridge!(
    BRIDGE_POLL_DURATION,
    "tidemark_bridge_poll_duration_seconds",
    MetricKind::Histogram,
    "seconds",
    1e-9,
    DURATION_BUCKETS,
    "Time one poll of every watched job took."
);
bridge!(
    BRIDGE_JOBS,
    "tidemark_bridge_jobs",
    MetricKind::Gauge,
    "",
    1.0,
    &[],
    "Running jobs the Flink agent watches."
);
bridge!(
    BRIDGE_UP,
    "tidemark_bridge_up",
    MetricKind::Gauge,
    "",
    1.0,
    &[],
    "1 when the last poll reached the JobManager, 0 when it did not (the jobs' series are then withdrawn, not repeated)."
);

const TASKMANAGER: &[&str] = &[crate::labels::TASKMANAGER];
const TASKMANAGER_GC: &[&str] = &[crate::labels::TASKMANAGER, crate::labels::COLLECTOR];

metric!(
    TASKMANAGER_CPU,
    "tidemark_taskmanager_cpu_seconds_total",
    MetricKind::Counter,
    "seconds",
    TASKMANAGER,
    1e-9,
    "Status.JVM.CPU.Time",
    "CPU time a Flink TaskManager's JVM used (tidemark agent flink).",
    Merge::Sum
);
metric!(
    TASKMANAGER_HEAP_USED,
    "tidemark_taskmanager_heap_used_bytes",
    MetricKind::Gauge,
    "bytes",
    TASKMANAGER,
    1.0,
    "Status.JVM.Memory.Heap.Used",
    "Heap a Flink TaskManager's JVM uses (tidemark agent flink).",
    Merge::Sum
);
metric!(
    TASKMANAGER_HEAP_MAX,
    "tidemark_taskmanager_heap_max_bytes",
    MetricKind::Gauge,
    "bytes",
    TASKMANAGER,
    1.0,
    "Status.JVM.Memory.Heap.Max",
    "The most heap a Flink TaskManager's JVM may use (tidemark agent flink).",
    Merge::Sum
);
metric!(
    TASKMANAGER_GC_TIME,
    "tidemark_taskmanager_gc_seconds_total",
    MetricKind::Counter,
    "seconds",
    TASKMANAGER_GC,
    1e-9,
    "Status.JVM.GarbageCollector.<collector>.Time",
    "Time a Flink TaskManager's JVM spent in a garbage collector (tidemark agent flink).",
    Merge::Sum
);
metric!(
    TASKMANAGER_GC_COUNT,
    "tidemark_taskmanager_gc_collections_total",
    MetricKind::Counter,
    "",
    TASKMANAGER_GC,
    1.0,
    "Status.JVM.GarbageCollector.<collector>.Count",
    "Collections a garbage collector of a Flink TaskManager's JVM ran (tidemark agent flink).",
    Merge::Sum
);

/// A process or host metric with no labels or one: one writer per process,
/// never merged (no job, vertex or subtask label), so its merge is moot.
macro_rules! sys {
    ($ident:ident, $name:expr, $kind:expr, $unit:expr, $labels:expr, $scale:expr, $help:expr) => {
        metric!(
            $ident,
            $name,
            $kind,
            $unit,
            $labels,
            $scale,
            "System.* (metrics.system-resource)",
            $help,
            Merge::Sum
        );
    };
}

sys!(
    PROCESS_CPU,
    "process_cpu_seconds_total",
    MetricKind::Counter,
    "seconds",
    &[],
    1e-3,
    "User and system CPU time of the process."
);
sys!(
    PROCESS_RSS,
    "process_resident_memory_bytes",
    MetricKind::Gauge,
    "bytes",
    &[],
    1.0,
    "Resident memory of the process."
);
sys!(
    PROCESS_VMEM,
    "process_virtual_memory_bytes",
    MetricKind::Gauge,
    "bytes",
    &[],
    1.0,
    "Virtual memory of the process."
);
sys!(
    PROCESS_START,
    "process_start_time_seconds",
    MetricKind::Gauge,
    "seconds",
    &[],
    1.0,
    "Start time of the process since the Unix epoch."
);
sys!(
    PROCESS_OPEN_FDS,
    "process_open_fds",
    MetricKind::Gauge,
    "",
    &[],
    1.0,
    "Open file descriptors of the process."
);
sys!(
    PROCESS_MAX_FDS,
    "process_max_fds",
    MetricKind::Gauge,
    "",
    &[],
    1.0,
    "Limit on open file descriptors of the process."
);
sys!(
    PROCESS_THREADS,
    "process_threads",
    MetricKind::Gauge,
    "",
    &[],
    1.0,
    "Threads of the process."
);
sys!(
    HOST_CPU,
    "tidemark_host_cpu_utilization_ratio",
    MetricKind::Gauge,
    "ratio",
    &[],
    1e-6,
    "Share of the host's CPU time in use across all cores (0 to 1)."
);
sys!(
    HOST_MEM_TOTAL,
    "tidemark_host_memory_total_bytes",
    MetricKind::Gauge,
    "bytes",
    &[],
    1.0,
    "Memory of the host."
);
sys!(
    HOST_MEM_AVAILABLE,
    "tidemark_host_memory_available_bytes",
    MetricKind::Gauge,
    "bytes",
    &[],
    1.0,
    "Memory available to new processes on the host."
);
sys!(
    HOST_DISK_TOTAL,
    "tidemark_host_disk_total_bytes",
    MetricKind::Gauge,
    "bytes",
    &[crate::labels::MOUNTPOINT],
    1.0,
    "Size of a mounted file system."
);
sys!(
    HOST_DISK_AVAILABLE,
    "tidemark_host_disk_available_bytes",
    MetricKind::Gauge,
    "bytes",
    &[crate::labels::MOUNTPOINT],
    1.0,
    "Space available on a mounted file system."
);
sys!(
    HOST_NET_RX,
    "tidemark_host_network_receive_bytes_total",
    MetricKind::Counter,
    "bytes",
    &[crate::labels::DEVICE],
    1.0,
    "Bytes received by a network interface."
);
sys!(
    HOST_NET_TX,
    "tidemark_host_network_transmit_bytes_total",
    MetricKind::Counter,
    "bytes",
    &[crate::labels::DEVICE],
    1.0,
    "Bytes sent by a network interface."
);

/// Series the registry exports.
pub static METRICS_SERIES: MetricDef = MetricDef {
    name: "tidemark_metrics_series",
    kind: MetricKind::Gauge,
    unit: "",
    help: "Series currently exported by this process's registry.",
    labels: &[],
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Max,
};
/// Registrations refused by the per-family series limit.
pub static METRICS_SERIES_DROPPED: MetricDef = MetricDef {
    name: "tidemark_metrics_series_dropped_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Series not exported because their family reached metrics.series-limit.",
    labels: &[crate::labels::FAMILY],
    flink: "-",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};

/// Records a subtask received (from any input channel).
pub static TASK_RECORDS_IN: MetricDef = MetricDef {
    name: "tidemark_task_records_in_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Records received by a subtask.",
    labels: TASK,
    flink: "numRecordsIn",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Records a subtask emitted (counted once per record, before fan-out).
pub static TASK_RECORDS_OUT: MetricDef = MetricDef {
    name: "tidemark_task_records_out_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Records emitted by a subtask.",
    labels: TASK,
    flink: "numRecordsOut",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Records that could not be read (they did not decode).
pub static TASK_RECORDS_IN_ERRORS: MetricDef = MetricDef {
    name: "tidemark_task_records_in_errors_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Records a subtask could not read (a stream message that did not decode), whatever its error policy did with them: skipped, or sent to the side output (a policy of fail fails the task).",
    labels: TASK,
    flink: "numRecordsInErrors",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Time spent processing; rate() is the busy ratio.
pub static TASK_BUSY: MetricDef = MetricDef {
    name: "tidemark_task_busy_seconds_total",
    kind: MetricKind::Counter,
    unit: "seconds",
    help: "Time a subtask spent processing records and control messages; rate() is the busy ratio.",
    labels: TASK,
    flink: "busyTimeMsPerSecond",
    scale: 1e-9,
    buckets: &[],
    merge: Merge::Sum,
};
/// Time spent waiting for input; rate() is the idle ratio.
pub static TASK_IDLE: MetricDef = MetricDef {
    name: "tidemark_task_idle_seconds_total",
    kind: MetricKind::Counter,
    unit: "seconds",
    help: "Time a subtask spent waiting for input; rate() is the idle ratio.",
    labels: TASK,
    flink: "idleTimeMsPerSecond",
    scale: 1e-9,
    buckets: &[],
    merge: Merge::Sum,
};
/// Time blocked on a full output channel; rate() is the backpressured ratio.
pub static TASK_BACKPRESSURED: MetricDef = MetricDef {
    name: "tidemark_task_backpressured_seconds_total",
    kind: MetricKind::Counter,
    unit: "seconds",
    help:
        "Time a subtask spent blocked on a full output channel; rate() is the backpressured ratio.",
    labels: TASK,
    flink: "backPressuredTimeMsPerSecond",
    scale: 1e-9,
    buckets: &[],
    merge: Merge::Sum,
};
/// Time in the state backend; rate() over the busy rate is the share of
/// busy time that state access takes (`tidemark doctor`'s
/// state-backend-limit).
pub static TASK_STATE_TIME: MetricDef = MetricDef {
    name: "tidemark_task_state_seconds_total",
    kind: MetricKind::Counter,
    unit: "seconds",
    help: "Time a subtask spent in its RocksDB state backend: lookups that missed the write-back cache (single ones estimated from the one in 32 timed, batched ones timed whole) and write-backs when the cache makes room (with state.backend.rocksdb.metrics.native, the default); rate() over the busy rate is the share of busy time state access takes.",
    labels: TASK,
    flink: "-",
    scale: 1e-9,
    buckets: &[],
    merge: Merge::Sum,
};
/// Fill of the input channels.
pub static TASK_INPUT_QUEUE_USAGE: MetricDef = MetricDef {
    name: "tidemark_task_input_queue_usage_ratio",
    kind: MetricKind::Gauge,
    unit: "ratio",
    help: "Batches waiting in a subtask's input channels over their capacity (0 to 1); near 1 the subtask is the bottleneck or downstream of it.",
    labels: TASK,
    flink: "inPoolUsage",
    scale: 1e-6,
    buckets: &[],
    merge: Merge::Max,
};
/// Fill of the output channels.
pub static TASK_OUTPUT_QUEUE_USAGE: MetricDef = MetricDef {
    name: "tidemark_task_output_queue_usage_ratio",
    kind: MetricKind::Gauge,
    unit: "ratio",
    help: "Batches waiting in a subtask's output channels over their capacity (0 to 1); near 1 the subtask is backpressured.",
    labels: TASK,
    flink: "outPoolUsage",
    scale: 1e-6,
    buckets: &[],
    merge: Merge::Max,
};
/// A gauge of one subtask or job.
macro_rules! gauge {
    ($ident:ident, $name:expr, $unit:expr, $labels:expr, $scale:expr, $flink:expr, $help:expr, $merge:expr) => {
        metric!(
            $ident,
            $name,
            MetricKind::Gauge,
            $unit,
            $labels,
            $scale,
            $flink,
            $help,
            $merge
        );
    };
}

gauge!(
    TASK_INPUT_WATERMARK,
    "tidemark_task_input_watermark_seconds",
    "seconds",
    TASK,
    1e-3,
    "currentInputWatermark",
    "Event time (Unix seconds) a subtask's inputs have all reached; -1 before the first watermark.",
    Merge::Min
);
gauge!(
    TASK_OUTPUT_WATERMARK,
    "tidemark_task_output_watermark_seconds",
    "seconds",
    TASK,
    1e-3,
    "currentOutputWatermark",
    "Event time (Unix seconds) a subtask has emitted as its watermark; -1 before the first.",
    Merge::Min
);
gauge!(TASK_WATERMARK_LAG, "tidemark_task_watermark_lag_seconds", "seconds", TASK, 1e-3, "(wall clock - currentInputWatermark)",
    "Wall-clock time minus the subtask's input watermark: how far event time trails; -1 without event time.",
    Merge::Max
);
gauge!(
    SOURCE_PENDING_RECORDS,
    "tidemark_source_pending_records",
    "",
    TASK_PARTITION,
    1.0,
    "pendingRecords",
    "Records in the source's input after the last one the subtask read, per partition (a Kafka partition, a JetStream subject): the backlog it still has to read.",
    Merge::Sum
);
gauge!(
    SOURCE_LAG,
    "tidemark_source_lag_seconds",
    "seconds",
    TASK_PARTITION,
    1e-3,
    "(none; FLIP-33 has no lag in time)",
    "How far behind the newest record of its partition the subtask reads: the newest record's timestamp minus the last read one's (0 when nothing is pending), from the records' timestamps.",
    Merge::Max
);
metric!(
    SOURCE_ERRORS,
    "tidemark_source_errors_total",
    MetricKind::Counter,
    "",
    TASK_KIND,
    1.0,
    "(none; FLIP-33's numRecordsInErrors counts records)",
    "Errors a source recovered from by itself, by kind: read (a read from the broker that failed and was tried again), commit (offsets not committed to the consumer group), lag (a lag sample that failed). An error it cannot recover from fails the task instead.",
    Merge::Sum
);
gauge!(
    SOURCE_PARTITION_WATERMARK,
    "tidemark_source_partition_watermark_seconds",
    "seconds",
    TASK_PARTITION,
    1e-3,
    "(none; Flink keeps per-split watermarks unexported)",
    "Event time (Unix seconds) one partition of a source with per-partition watermarks has reached: its newest record's time less the out-of-orderness; -1 before its first record. The smallest over partitions not idle is the subtask's output watermark: this names the one holding it back.",
    Merge::Min
);
gauge!(
    SOURCE_PARTITION_IDLE,
    "tidemark_source_partition_idle",
    "",
    TASK_PARTITION,
    1.0,
    "(none)",
    "1 while a partition has had no record for the source's idle timeout, so it does not hold the watermark back; 0 while it does.",
    Merge::Max
);
gauge!(
    SOURCE_EMIT_EVENT_TIME_LAG,
    "tidemark_source_emit_event_time_lag_seconds",
    "seconds",
    TASK,
    1e-3,
    "currentEmitEventTimeLag",
    "Wall-clock time minus the event time of the last record the source subtask emitted: how old the data is as it enters the job; -1 without event time or before the first record.",
    Merge::Max
);
gauge!(
    SOURCE_IDLE_TIME,
    "tidemark_source_idle_time_seconds",
    "seconds",
    TASK,
    1e-3,
    "sourceIdleTime",
    "Time since the source subtask last read a record: long while its input is empty or it owns no partition.",
    Merge::Max
);
metric!(
    SOURCE_READ_BYTES,
    "tidemark_source_read_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "numBytesIn",
    "Bytes of the records a source subtask read from its broker (Kafka keys and values, JetStream payloads); rate() is its input throughput in bytes.",
    Merge::Sum
);
gauge!(
    CHECKPOINT_IN_PROGRESS,
    "tidemark_checkpoint_in_progress",
    "",
    JOB,
    1.0,
    "numberOfInProgressCheckpoints",
    "Checkpoints triggered and not yet completed or failed.",
    Merge::Max
);
gauge!(
    CHECKPOINT_LAST_COMPLETION,
    "tidemark_checkpoint_last_completion_timestamp_seconds",
    "seconds",
    JOB,
    1e-3,
    "lastCheckpointCompletedTimestamp",
    "Unix time the last checkpoint completed; -1 before the first.",
    Merge::Max
);
gauge!(
    CHECKPOINT_SINCE_LAST,
    "tidemark_checkpoint_since_last_completion_seconds",
    "seconds",
    JOB,
    1e-3,
    "-",
    "Seconds since the last checkpoint completed (updated every second); -1 before the first.",
    Merge::Max
);
gauge!(
    CHECKPOINT_INTERVAL,
    "tidemark_checkpoint_interval_seconds",
    "seconds",
    JOB,
    1e-3,
    "REST /jobs/:id/checkpoints/config interval",
    "The configured checkpoint interval (execution.checkpointing.interval); 0 when periodic checkpoints are off. Alert rules compare checkpoint age and duration with it.",
    Merge::Max
);
gauge!(CHECKPOINT_LAST_FULL_SIZE, "tidemark_checkpoint_last_full_size_bytes", "bytes", JOB, 1.0, "lastCheckpointFullSize",
    "Full size of the last completed checkpoint (equal to its size for full snapshots); -1 before the first.",
    Merge::Max
);
gauge!(
    CHECKPOINT_LAST_PROCESSED,
    "tidemark_checkpoint_last_processed_bytes",
    "bytes",
    JOB,
    1.0,
    "lastCheckpointProcessedData",
    "Bytes processed during barrier alignment in the last completed checkpoint (over all subtasks); -1 before the first.",
    Merge::Max
);
gauge!(
    CHECKPOINT_LAST_PERSISTED,
    "tidemark_checkpoint_last_persisted_bytes",
    "bytes",
    JOB,
    1.0,
    "lastCheckpointPersistedData",
    "Bytes of in-flight records persisted by the last completed checkpoint (unaligned only; 0 when aligned); -1 before the first.",
    Merge::Max
);
gauge!(
    JOB_UPTIME,
    "tidemark_job_uptime_seconds",
    "seconds",
    JOB,
    1e-3,
    "uptime",
    "Time the job has been running since its last (re)start; 0 while restarting.",
    Merge::Max
);

gauge!(
    VERTEX_INFO,
    "tidemark_vertex_info",
    "",
    VERTEX_INFO_LABELS,
    1.0,
    "(none: Flink's REST /jobs/:id plan)",
    "Always 1: the job's graph, one series per vertex (vertex: its name, as other series label it; vertex_id: its uid, its id in the REST API) with its upstream vertices (inputs, comma-separated names; empty for a source), its parallelism and the job's key groups (max_parallelism), so that `tidemark doctor --prometheus` can read the graph from Prometheus alone.",
    Merge::Max
);

// The capacity model (FLIP-271's quantities; see the engine's
// `doctor::capacity`), updated every second from the last 10 s.
gauge!(
    VERTEX_UTILIZATION,
    "tidemark_vertex_utilization_ratio",
    "ratio",
    VERTEX_LABELS,
    1e-3,
    "LOAD (Flink autoscaler)",
    "A vertex's subtasks' mean busy share over the last 10 s.",
    Merge::Max
);
gauge!(
    VERTEX_TRUE_PROCESSING_RATE,
    "tidemark_vertex_true_processing_rate",
    "",
    VERTEX_LABELS,
    1e-3,
    "TRUE_PROCESSING_RATE (Flink autoscaler)",
    "Records per second a vertex would take with every subtask busy all the time: its records in per second over its utilization (a source's records out).",
    Merge::Sum
);
gauge!(
    VERTEX_NEEDED_PARALLELISM,
    "tidemark_vertex_needed_parallelism",
    "",
    VERTEX_LABELS,
    1.0,
    "PARALLELISM (Flink autoscaler's recommendation)",
    "The parallelism that keeps a vertex at tidemark.doctor.target-utilization with room to catch up within tidemark.doctor.catch-up-duration after a failure, aligned to the key groups.",
    Merge::Max
);
gauge!(
    JOB_HEADROOM,
    "tidemark_job_headroom_ratio",
    "ratio",
    JOB,
    1e-3,
    "",
    "How many times its present input the job can take: one over the busiest subtask's busy share over the last 10 s, and at most the process's cores over the cores it keeps busy. At 1 it takes no more; catching up after a failure needs more than 1.",
    Merge::Max
);
gauge!(
    JOB_MAX_SUSTAINABLE_RATE,
    "tidemark_job_max_sustainable_rate",
    "",
    JOB,
    1e-3,
    "",
    "Records per second the sources could emit without backpressure: their present rate times the headroom.",
    Merge::Max
);
gauge!(
    JOB_RECOVERY_TIME,
    "tidemark_job_recovery_time_seconds",
    "seconds",
    JOB,
    1e-3,
    "",
    "The downtime the capacity model takes a failure to cost: the last recovery measured (from a task's failure until every subtask of the new attempt restored its state and runs), or tidemark.doctor.recovery-time before the first.",
    Merge::Max
);

/// Restores from a checkpoint.
pub static CHECKPOINTS_RESTORED: MetricDef = MetricDef {
    name: "tidemark_checkpoint_restored_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Times the job restored its state from a checkpoint (at start with --restore, and after failures).",
    labels: JOB,
    flink: "numberOfRestoredCheckpoints",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};

/// Completed checkpoints.
pub static CHECKPOINTS_COMPLETED: MetricDef = MetricDef {
    name: "tidemark_checkpoint_completed_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Checkpoints that completed (metadata durably written).",
    labels: JOB,
    flink: "numberOfCompletedCheckpoints",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Failed or aborted checkpoints.
pub static CHECKPOINTS_FAILED: MetricDef = MetricDef {
    name: "tidemark_checkpoint_failed_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Checkpoints that failed, expired or were aborted.",
    labels: JOB,
    flink: "numberOfFailedCheckpoints",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};
/// Id of the last completed checkpoint.
pub static CHECKPOINT_LAST_ID: MetricDef = MetricDef {
    name: "tidemark_checkpoint_last_completed_id",
    kind: MetricKind::Gauge,
    unit: "",
    help: "Id of the last completed checkpoint; -1 before the first.",
    labels: JOB,
    flink: "lastCompletedCheckpointId",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Max,
};
/// End-to-end duration of the last completed checkpoint.
pub static CHECKPOINT_LAST_DURATION: MetricDef = MetricDef {
    name: "tidemark_checkpoint_last_duration_seconds",
    kind: MetricKind::Gauge,
    unit: "seconds",
    help: "Trigger-to-completion time of the last completed checkpoint; -1 before the first.",
    labels: JOB,
    flink: "lastCheckpointDuration",
    scale: 1e-9,
    buckets: &[],
    merge: Merge::Max,
};
/// Size of the last completed checkpoint.
pub static CHECKPOINT_LAST_SIZE: MetricDef = MetricDef {
    name: "tidemark_checkpoint_last_size_bytes",
    kind: MetricKind::Gauge,
    unit: "bytes",
    help: "Bytes written by the last completed checkpoint; -1 before the first.",
    labels: JOB,
    flink: "lastCheckpointSize",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Max,
};
/// Job restarts from a checkpoint inside the process.
pub static JOB_RESTARTS: MetricDef = MetricDef {
    name: "tidemark_job_restarts_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Times the job was restarted after a task failure.",
    labels: JOB,
    flink: "numRestarts",
    scale: 1.0,
    buckets: &[],
    merge: Merge::Sum,
};

// RocksDB native metrics: properties read every second, and statistics tickers.
metric!(
    ROCKS_NUM_KEYS,
    "tidemark_rocksdb_estimate_num_keys",
    MetricKind::Gauge,
    "",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.estimate-num-keys",
    "Estimated keys in one state (column family) of a subtask.",
    Merge::Sum
);
metric!(
    ROCKS_LIVE_DATA,
    "tidemark_rocksdb_estimate_live_data_size_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.estimate-live-data-size",
    "Estimated bytes of live data in one state.",
    Merge::Sum
);
metric!(
    ROCKS_SST_SIZE,
    "tidemark_rocksdb_total_sst_files_size_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.total-sst-files-size",
    "Bytes of all SST files of one state.",
    Merge::Sum
);
metric!(
    ROCKS_MEMTABLES,
    "tidemark_rocksdb_cur_size_all_mem_tables_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.cur-size-all-mem-tables",
    "Bytes of the active and unflushed immutable memtables of one state.",
    Merge::Sum
);
metric!(
    ROCKS_IMMUTABLE,
    "tidemark_rocksdb_num_immutable_mem_tables",
    MetricKind::Gauge,
    "",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.num-immutable-mem-table",
    "Immutable memtables not yet flushed, per state.",
    Merge::Sum
);
metric!(
    ROCKS_PENDING_COMPACTION,
    "tidemark_rocksdb_estimate_pending_compaction_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK_STATE,
    1.0,
    "state.backend.rocksdb.metrics.estimate-pending-compaction-bytes",
    "Bytes compaction must rewrite to bring every level under its target.",
    Merge::Sum
);
metric!(
    ROCKS_RUNNING_COMPACTIONS,
    "tidemark_rocksdb_num_running_compactions",
    MetricKind::Gauge,
    "",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.num-running-compactions",
    "Compactions running in a subtask's instance.",
    Merge::Sum
);
metric!(
    ROCKS_RUNNING_FLUSHES,
    "tidemark_rocksdb_num_running_flushes",
    MetricKind::Gauge,
    "",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.num-running-flushes",
    "Memtable flushes running in a subtask's instance.",
    Merge::Sum
);
metric!(
    ROCKS_DELAYED_WRITE_RATE,
    "tidemark_rocksdb_actual_delayed_write_rate_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.actual-delayed-write-rate",
    "Bytes per second writes are throttled to; 0 when not throttled.",
    Merge::Max
);
metric!(
    ROCKS_WRITE_STOPPED,
    "tidemark_rocksdb_is_write_stopped",
    MetricKind::Gauge,
    "",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.is-write-stopped",
    "1 while RocksDB stops writes (too many L0 files or memtables).",
    Merge::Max
);
metric!(
    ROCKS_BACKGROUND_ERRORS,
    "tidemark_rocksdb_background_errors",
    MetricKind::Gauge,
    "",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.background-errors",
    "Background errors (failed flushes or compactions) since the instance opened.",
    Merge::Sum
);
metric!(ROCKS_CACHE_USAGE, "tidemark_rocksdb_block_cache_usage_bytes", MetricKind::Gauge, "bytes", TASK, 1.0,
    "state.backend.rocksdb.metrics.block-cache-usage", "Bytes in the block cache, memtables charged to it included (shared when the budget is managed).",
    Merge::Max
);
metric!(
    ROCKS_CACHE_CAPACITY,
    "tidemark_rocksdb_block_cache_capacity_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.block-cache-capacity",
    "Capacity of the block cache the instance uses.",
    Merge::Max
);
metric!(
    ROCKS_CACHE_PINNED,
    "tidemark_rocksdb_block_cache_pinned_usage_bytes",
    MetricKind::Gauge,
    "bytes",
    TASK,
    1.0,
    "state.backend.rocksdb.metrics.block-cache-pinned-usage",
    "Bytes pinned in the block cache.",
    Merge::Max
);
metric!(
    ROCKS_CACHE_HIT,
    "tidemark_rocksdb_block_cache_hits_total",
    MetricKind::Counter,
    "",
    TASK_BLOCK,
    1.0,
    "rocksdb.block.cache.{data,index,filter}.hit (state.backend.rocksdb.metrics.block-cache-hit)",
    "Block cache hits by block kind: data, index, filter (statistics ticker, state.backend.rocksdb.statistics.level TICKERS or more).",
    Merge::Sum
);
metric!(
    ROCKS_CACHE_MISS,
    "tidemark_rocksdb_block_cache_misses_total",
    MetricKind::Counter,
    "",
    TASK_BLOCK,
    1.0,
    "rocksdb.block.cache.{data,index,filter}.miss (state.backend.rocksdb.metrics.block-cache-miss)",
    "Block cache misses by block kind: each is a block read from an SST file (statistics ticker).",
    Merge::Sum
);
/// Sampled: one single lookup in [`LOOKUP_SAMPLE`] is timed, and every
/// batched lookup (a record batch's missing keys at once) is timed whole and
/// observed once, divided by its keys.
pub static ROCKS_GET_DURATION: MetricDef = MetricDef {
    name: "tidemark_rocksdb_get_duration_seconds",
    kind: MetricKind::Histogram,
    unit: "seconds",
    help: "Time per key of a RocksDB lookup (state reads that missed the write-back cache): one single lookup in 32 timed; each batched lookup of a record batch observed once, its time divided by its keys.",
    labels: TASK_STATE,
    flink: "rocksdb.db.get.micros",
    scale: 1e-9,
    buckets: LOOKUP_BUCKETS,
    merge: Merge::Sum,
};

/// One RocksDB lookup in this many is timed into [`ROCKS_GET_DURATION`]:
/// two clock reads per sample stay far below a lookup's own cost.
pub const LOOKUP_SAMPLE: u32 = 32;

metric!(
    ROCKS_CACHE_ADD_FAILURES,
    "tidemark_rocksdb_block_cache_add_failures_total",
    MetricKind::Counter,
    "",
    TASK,
    1.0,
    "rocksdb.block.cache.add.failures",
    "Blocks that could not be added to the block cache (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_KEYS_READ,
    "tidemark_rocksdb_keys_read_total",
    MetricKind::Counter,
    "",
    TASK,
    1.0,
    "rocksdb.number.keys.read",
    "Keys RocksDB looked up, by single gets and by the multi-gets that prefetch a record batch: state reads that missed the write-back cache (statistics tickers).",
    Merge::Sum
);
metric!(
    ROCKS_FILE_READ,
    "tidemark_rocksdb_file_read_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "rocksdb.{last,non.last}.level.read.bytes",
    "Bytes read from SST files by lookups, scans and compactions; minus compaction reads, per key read, it is the I/O a lookup costs (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_BYTES_READ,
    "tidemark_rocksdb_read_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "rocksdb.bytes.read (state.backend.rocksdb.metrics.bytes-read)",
    "Bytes read by gets (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_BYTES_WRITTEN,
    "tidemark_rocksdb_written_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "rocksdb.bytes.written (state.backend.rocksdb.metrics.bytes-written)",
    "Bytes written by puts and batches (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_STALL,
    "tidemark_rocksdb_stall_seconds_total",
    MetricKind::Counter,
    "seconds",
    TASK,
    1e-6,
    "rocksdb.stall.micros (state.backend.rocksdb.metrics.stall-micros)",
    "Time writers were stalled (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_COMPACTION_READ,
    "tidemark_rocksdb_compaction_read_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "rocksdb.compact.read.bytes (state.backend.rocksdb.metrics.compaction-read-bytes)",
    "Bytes read by compactions (statistics ticker).",
    Merge::Sum
);
metric!(
    ROCKS_COMPACTION_WRITTEN,
    "tidemark_rocksdb_compaction_written_bytes_total",
    MetricKind::Counter,
    "bytes",
    TASK,
    1.0,
    "rocksdb.compact.write.bytes (state.backend.rocksdb.metrics.compaction-write-bytes)",
    "Bytes written by compactions (statistics ticker).",
    Merge::Sum
);
metric!(STATE_RESTORE_DURATION, "tidemark_state_restore_duration_seconds", MetricKind::Gauge, "seconds", TASK_SOURCE, 1e-3,
    "restoreStateDuration (Flink's state.backend.local-recovery metrics)", "How long a subtask's last restore of keyed state took, by where it read from (local copy or checkpoint storage).",
    Merge::Max
);
metric!(STATE_RESTORES, "tidemark_state_restores_total", MetricKind::Counter, "", TASK_SOURCE, 1.0,
    "-", "Restores of a subtask's keyed state, by where they read from: local (task-local copy) or remote (checkpoint storage).",
    Merge::Sum
);
/// Every metric Tidemark can register, in documentation order.
pub static ALL: &[&MetricDef] = &[
    &TASK_RECORDS_IN,
    &TASK_RECORDS_OUT,
    &TASK_RECORDS_IN_ERRORS,
    &TASK_BUSY,
    &TASK_IDLE,
    &TASK_BACKPRESSURED,
    &TASK_STATE_TIME,
    &TASK_INPUT_QUEUE_USAGE,
    &TASK_OUTPUT_QUEUE_USAGE,
    &TASK_INPUT_WATERMARK,
    &TASK_OUTPUT_WATERMARK,
    &TASK_WATERMARK_LAG,
    &SOURCE_PENDING_RECORDS,
    &SOURCE_LAG,
    &SOURCE_ERRORS,
    &SOURCE_PARTITION_WATERMARK,
    &SOURCE_PARTITION_IDLE,
    &SOURCE_EMIT_EVENT_TIME_LAG,
    &SOURCE_IDLE_TIME,
    &SOURCE_READ_BYTES,
    &LATENCY,
    &SINK_EVENT_TIME_LATENCY,
    &CHECKPOINTS_COMPLETED,
    &CHECKPOINTS_FAILED,
    &CHECKPOINT_LAST_ID,
    &CHECKPOINT_LAST_DURATION,
    &CHECKPOINT_LAST_SIZE,
    &JOB_RESTARTS,
    &ROCKS_NUM_KEYS,
    &ROCKS_LIVE_DATA,
    &ROCKS_SST_SIZE,
    &ROCKS_MEMTABLES,
    &ROCKS_IMMUTABLE,
    &ROCKS_PENDING_COMPACTION,
    &ROCKS_RUNNING_COMPACTIONS,
    &ROCKS_RUNNING_FLUSHES,
    &ROCKS_DELAYED_WRITE_RATE,
    &ROCKS_WRITE_STOPPED,
    &ROCKS_BACKGROUND_ERRORS,
    &ROCKS_CACHE_USAGE,
    &ROCKS_CACHE_CAPACITY,
    &ROCKS_CACHE_PINNED,
    &ROCKS_CACHE_HIT,
    &ROCKS_CACHE_MISS,
    &ROCKS_CACHE_ADD_FAILURES,
    &ROCKS_KEYS_READ,
    &ROCKS_FILE_READ,
    &ROCKS_GET_DURATION,
    &ROCKS_BYTES_READ,
    &ROCKS_BYTES_WRITTEN,
    &ROCKS_STALL,
    &ROCKS_COMPACTION_READ,
    &ROCKS_COMPACTION_WRITTEN,
    &STATE_RESTORE_DURATION,
    &STATE_RESTORES,
    &CHECKPOINTS_RESTORED,
    &CHECKPOINT_IN_PROGRESS,
    &CHECKPOINT_LAST_COMPLETION,
    &CHECKPOINT_SINCE_LAST,
    &CHECKPOINT_INTERVAL,
    &CHECKPOINT_LAST_FULL_SIZE,
    &CHECKPOINT_LAST_PROCESSED,
    &CHECKPOINT_LAST_PERSISTED,
    &JOB_UPTIME,
    &VERTEX_INFO,
    &VERTEX_UTILIZATION,
    &VERTEX_TRUE_PROCESSING_RATE,
    &VERTEX_NEEDED_PARALLELISM,
    &JOB_HEADROOM,
    &JOB_MAX_SUSTAINABLE_RATE,
    &JOB_RECOVERY_TIME,
    &CHECKPOINT_DURATION,
    &CHECKPOINT_SYNC_DURATION,
    &CHECKPOINT_ASYNC_DURATION,
    &CHECKPOINT_ALIGNMENT_DURATION,
    &CHECKPOINT_START_DELAY,
    &METRICS_SERIES,
    &METRICS_SERIES_DROPPED,
    &EXPORTER_SENT,
    &EXPORTER_FAILED,
    &EXPORTER_DROPPED,
    &EXPORTER_QUEUE_DEPTH,
    &EXPORTER_LAST_SUCCESS,
    &BRIDGE_REQUESTS,
    &BRIDGE_FAILURES,
    &BRIDGE_POLL_DURATION,
    &BRIDGE_JOBS,
    &BRIDGE_UP,
    &TASKMANAGER_CPU,
    &TASKMANAGER_HEAP_USED,
    &TASKMANAGER_HEAP_MAX,
    &TASKMANAGER_GC_TIME,
    &TASKMANAGER_GC_COUNT,
    &PROCESS_CPU,
    &PROCESS_RSS,
    &PROCESS_VMEM,
    &PROCESS_START,
    &PROCESS_OPEN_FDS,
    &PROCESS_MAX_FDS,
    &PROCESS_THREADS,
    &HOST_CPU,
    &HOST_MEM_TOTAL,
    &HOST_MEM_AVAILABLE,
    &HOST_DISK_TOTAL,
    &HOST_DISK_AVAILABLE,
    &HOST_NET_RX,
    &HOST_NET_TX,
];

/// Renders the catalogue as the Markdown table committed as `docs/metrics.md`.
pub fn markdown() -> String {
    markdown_with(&[])
}

/// The catalogue followed by a job's own metrics (a user's binary's
/// `metrics-doc`), in one table.
pub fn markdown_with(own: &[&MetricDef]) -> String {
    let mut s = String::from(
        "# Metrics\n\nGenerated from `agent/src/catalogue.rs` by `tidemark metrics-doc`; do not edit by hand.\n\n\
         At `metrics.level: vertex` or `job` the series of subtasks (and vertices) merge: counters and\n\
         histograms add up, and each gauge combines as its *merge* column says (`min`: the slowest member,\n\
         as for watermarks; `max`: the worst, as for queue usage and lag; `sum`: a total, as for sizes).\n\n\
         | name | type | unit | labels | merge | Flink equivalent | help |\n|---|---|---|---|---|---|---|\n",
    );
    for d in ALL.iter().chain(own) {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | `{}` | {} |\n",
            d.name,
            d.kind.as_str(),
            if d.unit.is_empty() { "-" } else { d.unit },
            d.labels.join(", "),
            match d.kind {
                MetricKind::Gauge => d.merge.as_str(),
                _ => "sum",
            },
            d.flink,
            d.help
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for d in ALL {
            assert!(seen.insert(d.name), "{} defined twice", d.name);
            assert!(
                d.name.starts_with("tidemark_") || d.name.starts_with("process_"),
                "{}: tidemark_ prefix (process_ for the client libraries' process metrics)",
                d.name
            );
            assert_eq!(
                d.kind == MetricKind::Counter,
                d.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                d.name
            );
            assert_eq!(
                d.kind == MetricKind::Histogram,
                !d.buckets.is_empty(),
                "{}: buckets",
                d.name
            );
            if !d.unit.is_empty() {
                let stem = d.name.trim_end_matches("_total");
                assert!(
                    stem.ends_with(d.unit),
                    "{} must end in its unit {}",
                    d.name,
                    d.unit
                );
            }
            assert!(d
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
    }
}
