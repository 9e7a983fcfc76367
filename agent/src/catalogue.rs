//! Every metric Tidemark emits, defined once.
//!
//! The registry only accepts a `&'static MetricDef`, so a metric that is not in
//! [`ALL`] cannot be registered. `docs/metrics.md` is generated from this list
//! (see `tidemark metrics-doc`), and a test fails when the committed copy is stale.

use crate::labels::{JOB_ID, JOB_NAME, SUBTASK, VERTEX};

/// The Prometheus type a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
}

impl MetricKind {
    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
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
}

const TASK: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK];
const JOB: &[&str] = &[JOB_NAME, JOB_ID];

/// Records a subtask received (from any input channel).
pub static TASK_RECORDS_IN: MetricDef = MetricDef {
    name: "tidemark_task_records_in_total",
    kind: MetricKind::Counter,
    unit: "",
    help: "Records received by a subtask.",
    labels: TASK,
    flink: "numRecordsIn",
    scale: 1.0,
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
};

/// Every metric Tidemark can register, in documentation order.
pub static ALL: &[&MetricDef] = &[
    &TASK_RECORDS_IN,
    &TASK_RECORDS_OUT,
    &TASK_BUSY,
    &TASK_IDLE,
    &TASK_BACKPRESSURED,
    &CHECKPOINTS_COMPLETED,
    &CHECKPOINTS_FAILED,
    &CHECKPOINT_LAST_ID,
    &CHECKPOINT_LAST_DURATION,
    &CHECKPOINT_LAST_SIZE,
    &JOB_RESTARTS,
];

/// Renders the catalogue as the Markdown table committed as `docs/metrics.md`.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Metrics\n\nGenerated from `agent/src/catalogue.rs` by `tidemark metrics-doc`; do not edit by hand.\n\n\
         | name | type | unit | labels | Flink equivalent | help |\n|---|---|---|---|---|---|\n",
    );
    for d in ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | `{}` | {} |\n",
            d.name,
            d.kind.as_str(),
            if d.unit.is_empty() { "-" } else { d.unit },
            d.labels.join(", "),
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
            assert!(d.name.starts_with("tidemark_"), "{}", d.name);
            assert_eq!(
                d.kind == MetricKind::Counter,
                d.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
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
