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
use crate::user_metrics::{UserCounter, UserGauge, UserHistogram, UserMetric};
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

impl OpenContext<'_> {
    /// The operator state this subtask was handed by the restored checkpoint:
    /// what each old subtask's [`Operator::snapshot_state`] returned, with the
    /// old subtask's index. At the same parallelism that is its own; after a
    /// rescale, those of the old subtasks `i` with `i % parallelism == index`
    /// (an old subtask that stored nothing hands over empty bytes). Empty on
    /// a fresh start.
    pub fn restored_state(&self) -> Vec<(usize, &[u8])> {
        let (me, p) = (self.info.index, self.info.parallelism.max(1));
        self.restored
            .map(|r| {
                r.old_subtasks
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % p == me)
                    .filter_map(|(i, f)| Some((i, f.as_ref()?.operator_state())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn registry(&self, m: &UserMetric) -> Result<&tidemark_agent::Registry> {
        self.registry.ok_or_else(|| {
            crate::Error::Config(format!(
                "metric '{}': this operator runs without a metric registry",
                m.name
            ))
        })
    }

    /// Registers a counter of this subtask, with its own label values (as
    /// many as `m` declares, each one of its declared values).
    pub fn counter(&self, m: &'static UserMetric, labels: &[&str]) -> Result<UserCounter> {
        crate::user_metrics::counter(self.registry(m)?, self.info, m, labels)
    }

    /// Registers a gauge of this subtask.
    pub fn gauge(&self, m: &'static UserMetric, labels: &[&str]) -> Result<UserGauge> {
        crate::user_metrics::gauge(self.registry(m)?, self.info, m, labels)
    }

    /// Registers a histogram of this subtask.
    pub fn histogram(&self, m: &'static UserMetric, labels: &[&str]) -> Result<UserHistogram> {
        crate::user_metrics::histogram(self.registry(m)?, self.info, m, labels)
    }
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
    /// This subtask's non-keyed state at a checkpoint (Flink's operator
    /// state), encoded as the operator likes: the checkpoint keeps the bytes,
    /// and after a restore [`OpenContext::restored_state`] hands them back.
    /// Called on the task thread at the barrier, so it sees exactly the
    /// records before it.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    /// The synchronous part of a checkpoint, for the engine's own operators
    /// (keyed state, timers, sinks' transactions): copy what must be
    /// written; it is encoded and written off the task thread. A savepoint
    /// must be in the canonical format. Users implement
    /// [`Self::snapshot_state`] instead.
    #[doc(hidden)]
    fn snapshot(&mut self, checkpoint_id: u64, _savepoint: bool) -> Result<OperatorSnapshot> {
        Ok(OperatorSnapshot {
            operator_state: self.snapshot_state(checkpoint_id)?,
            ..OperatorSnapshot::default()
        })
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
