//! Operators: what a task calls for each batch, watermark, timer and checkpoint.
//!
//! One kind per file; each is small. A task owns exactly one operator and
//! drives it through the defaulted lifecycle hooks of [`Operator`].

pub mod co;
pub mod join;
pub mod keyed;
pub mod session;
pub mod simple;
pub mod window;

pub use crate::channel::Collector as Output;
use crate::error::Result;
use crate::state::state_file::{OperatorSnapshot, StateFile};
use crate::state::{RestoredNative, StateSettings};
use std::sync::Arc;

pub use co::{Either, KeyedCoProcessFunction};
pub use join::CoGroup;
pub use keyed::{KeyedContext, KeyedOpenContext, KeyedProcessFunction, KeyedProcessOperator};
pub use simple::{Filter, FlatMap, Map};
pub use window::{Aggregation, WindowAssigner, WindowOutput, WindowResult};

/// Who a subtask is: the labels of its metrics and the coordinates of its state.
#[derive(Debug, Clone)]
pub struct SubtaskInfo {
    /// Job name.
    pub job_name: String,
    /// Job id (32 hex chars).
    pub job_id: String,
    /// Vertex (operator) name.
    pub vertex: String,
    /// Stable operator id: state in a checkpoint is matched to operators by it.
    pub uid: String,
    /// Index of this parallel instance.
    pub index: usize,
    /// Number of parallel instances.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: u32,
    /// 0 for the first run of the job in this process, +1 per restart.
    pub attempt: u32,
    /// Where keyed state lives and how it is snapshotted.
    pub backend: Arc<StateSettings>,
}

/// State restored for one subtask.
#[derive(Clone, Default)]
pub struct RestoredState {
    /// Checkpoint id restored from.
    pub checkpoint_id: u64,
    /// Every state file of this operator (all old subtasks): keyed state is
    /// picked from them by key group.
    pub files: Vec<Arc<StateFile>>,
    /// The file of the old subtask with the same index: non-keyed state.
    pub own: Option<Arc<StateFile>>,
    /// Every old subtask's file by its index (`None`: it stored nothing), so
    /// that non-keyed state can be handed over at another parallelism:
    /// sources reassign their splits, sinks their pending transactions.
    pub old_subtasks: Vec<Option<Arc<StateFile>>>,
    /// RocksDB checkpoints of the old subtasks (incremental checkpoints).
    pub natives: Vec<RestoredNative>,
}

/// What `open` gets.
pub struct OpenContext<'a> {
    /// Who this subtask is.
    pub info: &'a SubtaskInfo,
    /// State from the checkpoint the job restored from, if any.
    pub restored: Option<&'a RestoredState>,
    /// For operators that register metrics of their own (sinks' event-time latency).
    pub registry: Option<&'a tidemark_agent::Registry>,
}

/// A one-input operator. Every hook but `process_batch` has a default.
pub trait Operator<I, O>: Send + 'static {
    /// Called once before any input; restores state.
    fn open(&mut self, _ctx: &OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Processes a batch of records.
    fn process_batch(&mut self, batch: Vec<I>, out: &mut Output<O>) -> Result<()>;
    /// Event time advanced to `watermark`: fire due event-time timers.
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output<O>) -> Result<()> {
        Ok(())
    }
    /// The wall clock reached `now_ms`: fire due processing-time timers.
    fn on_processing_time(&mut self, _now_ms: i64, _out: &mut Output<O>) -> Result<()> {
        Ok(())
    }
    /// Earliest processing-time timer, so the task wakes up for it.
    fn next_processing_time(&self) -> Option<i64> {
        None
    }
    /// The synchronous part of a checkpoint: copy what must be written. The
    /// returned snapshot is encoded and written off the task thread. A
    /// savepoint must be in the canonical format.
    fn snapshot(&mut self, _checkpoint_id: u64, _savepoint: bool) -> Result<OperatorSnapshot> {
        Ok(OperatorSnapshot::default())
    }
    /// The checkpoint completed (metadata durable): commit side effects.
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// All inputs ended. Output that must be covered by the final checkpoint
    /// belongs in `on_watermark(MAX_WATERMARK)`, which always comes first.
    fn end_input(&mut self, _out: &mut Output<O>) -> Result<()> {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (processing time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
