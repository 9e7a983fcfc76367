//! One subtask's loop. A task runs on its own thread, owns one operator (or
//! source), reads its input channels and control channel, and reports to the
//! job master through one event channel.
//!
//! | file | owns |
//! |---|---|
//! | `input` | one input channel, converted on receipt for a two-input operator |
//! | [`operator_task`] | the input loop: batches, watermarks, barrier alignment, snapshots |
//! | [`source_task`] | polling a source, generating watermarks, injecting barriers |
//! | `source_metrics` | a source's own metrics: lag, per-split watermarks, idle time, bytes read |
//! | [`async_snapshot`] | the asynchronous snapshot phase and the acknowledgement |

pub mod async_snapshot;
pub(crate) mod input;
pub mod operator_task;
pub(crate) mod source_metrics;
pub mod source_task;

use crate::channel::CancelFlag;
use crate::checkpoint::coordinator::SubtaskAck;
use crate::checkpoint::storage::CheckpointStorage;
use crate::message::Barrier;
use crate::metrics::TaskMetrics;
use crate::operator::{RestoredState, SubtaskInfo};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// Identifies one subtask of the job graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// Node (operator) index in the graph.
    pub node: usize,
    /// Subtask index.
    pub subtask: usize,
}

/// From the job master to one task (FIFO, so a notification sent before a
/// cancel is seen first).
#[derive(Debug, Clone)]
pub enum TaskControl {
    /// Sources only: inject this barrier now.
    TriggerCheckpoint(Barrier),
    /// Checkpoint complete: commit.
    NotifyComplete(u64),
    /// Checkpoint aborted: stop aligning it.
    Abort(u64),
    /// Sources only, without checkpointing: send end-of-input now.
    EndInput,
    /// Stop now.
    Cancel,
}

/// From a task to the job master.
#[derive(Debug)]
pub enum TaskEvent {
    /// State for a checkpoint is durable.
    Ack {
        /// Checkpoint id.
        id: u64,
        /// The acknowledgement.
        ack: SubtaskAck,
    },
    /// State for a checkpoint could not be written.
    Decline {
        /// Checkpoint id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The task opened its operator and restored its state: it runs. The
    /// job master times a recovery by it.
    Opened(TaskId),
    /// A source read all its input.
    SourceExhausted(TaskId),
    /// The task ended normally.
    Finished(TaskId),
    /// The task failed; the job fails over.
    Failed {
        /// Which.
        task: TaskId,
        /// Error text, naming the operator.
        error: String,
    },
}

/// Everything a task needs besides its operator and channels.
pub struct TaskSetup {
    /// Who it is.
    pub info: SubtaskInfo,
    /// Its id in the graph.
    pub id: TaskId,
    /// Commands from the job master.
    pub control: Receiver<TaskControl>,
    /// Reports to the job master.
    pub events: Sender<TaskEvent>,
    /// Metric handles.
    pub metrics: TaskMetrics,
    /// Where state files go (None without checkpointing).
    pub storage: Option<Arc<CheckpointStorage>>,
    /// State to start from.
    pub restored: Option<RestoredState>,
    /// Shared by the attempt's tasks.
    pub cancel: CancelFlag,
    /// Longest time a record waits in an output buffer.
    pub buffer_timeout: Duration,
    /// Auto-watermark interval (sources).
    pub watermark_interval: Duration,
    /// How checkpoints are aligned: blocking (EXACTLY_ONCE), not blocking
    /// (AT_LEAST_ONCE), or unaligned (after a timeout).
    pub align: crate::checkpoint::align::AlignMode,
    /// Unaligned checkpoints: where upstream tasks announce their barriers.
    pub priority: Option<Receiver<crate::message::Announcement>>,
    /// Sources: how often to emit latency markers (None = never).
    pub latency_interval: Option<Duration>,
    /// The job's metric registry (operators' own metrics).
    pub registry: tidemark_agent::Registry,
    /// Operators: where arriving latency markers are recorded (None = off).
    pub latency: Option<crate::metrics::LatencyRecorder>,
}

/// Checkpoint `id` completed: task-local copies of older checkpoints go.
pub fn drop_older_local_copies(info: &SubtaskInfo, id: u64) {
    if let Some(root) = &info.backend.local_recovery {
        crate::checkpoint::local::LocalRecovery::new(root.clone()).retain_only(
            &info.job_id,
            &info.uid,
            info.index,
            id,
        );
    }
}

/// How often a task publishes its counters when nothing arrives, so idle time shows.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

/// Publishes a task's local counts (and its collector's) into the shared
/// handles: once per batch or wait, never per record.
pub(crate) fn publish<O: crate::Data>(
    metrics: &crate::metrics::TaskMetrics,
    local: &mut crate::metrics::LocalCounts,
    out: &mut crate::channel::Collector<O>,
    input_fill: (usize, usize),
    last: &mut std::time::Instant,
    now: std::time::Instant,
) {
    metrics.set_queue_usage(input_fill, out.queue_fill());
    local.records_out += std::mem::take(&mut out.emitted);
    local.backpressured_ns += std::mem::take(&mut out.io.backpressured_ns);
    local.elapsed_ns = (now - *last).as_nanos() as u64;
    *last = now;
    metrics.publish(local);
}
