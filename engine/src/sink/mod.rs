//! Sinks: where records leave a job. A sink takes part in checkpoints in two
//! phases: `pre_commit` at the barrier makes its output durable but invisible,
//! `commit` after the checkpoint completes makes it visible.

pub mod blackhole;
pub mod file;
pub mod jetstream;
pub mod kafka;
pub mod print;
pub mod slow;

use crate::channel::Collector;
use crate::error::Result;
use crate::operator::{OpenContext, Operator, SubtaskInfo};
use crate::state::state_file::OperatorSnapshot;

/// A parallel sink instance.
pub trait Sink<T>: Send + 'static {
    /// Called once; `restored` holds what `pre_commit` returned in the
    /// checkpoint restored from, for each old subtask this subtask takes over
    /// (with that subtask's index): its own at the same parallelism; after a
    /// rescale, old subtask `i` goes to `i mod parallelism`, so every pending
    /// transaction is committed exactly once. Commit what they name, discard
    /// the rest.
    fn open(&mut self, info: &SubtaskInfo, restored: &[(usize, &[u8])]) -> Result<()>;
    /// Writes records.
    fn write(&mut self, batch: Vec<T>) -> Result<()>;
    /// At a barrier: make everything written so far durable and return the
    /// state needed to commit it.
    fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    /// Checkpoint `id` completed: make its output visible.
    fn commit(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// End of input with no checkpoint after the last record (checkpointing
    /// off): make the rest visible.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The event time (ms since the epoch) of a result, for the sink's latency histogram.
pub type EventTimeFn<T> = std::sync::Arc<dyn Fn(&T) -> i64 + Send + Sync>;

/// Runs a [`Sink`] as the last operator of a pipeline.
pub struct SinkOperator<T> {
    sink: Box<dyn Sink<T>>,
    event_time: Option<EventTimeFn<T>>,
    latency: Option<tidemark_agent::Histogram>,
}

impl<T> SinkOperator<T> {
    /// A sink operator; with `event_time`, each result's lateness is measured.
    pub fn new(sink: Box<dyn Sink<T>>, event_time: Option<EventTimeFn<T>>) -> Self {
        Self {
            sink,
            event_time,
            latency: None,
        }
    }
}

impl<T: crate::Data> Operator<T, ()> for SinkOperator<T> {
    fn open(&mut self, ctx: &OpenContext<'_>) -> Result<()> {
        if let (Some(_), Some(reg)) = (&self.event_time, ctx.registry) {
            let i = ctx.info;
            self.latency = reg
                .histogram(
                    &tidemark_agent::catalogue::SINK_EVENT_TIME_LATENCY,
                    &[&i.job_name, &i.job_id, &i.vertex],
                )
                .ok();
        }
        let restored = ctx.restored_state();
        self.sink.open(ctx.info, &restored)
    }
    fn process_batch(&mut self, batch: Vec<T>, _out: &mut Collector<()>) -> Result<()> {
        if let (Some(f), Some(h)) = (&self.event_time, &self.latency) {
            let now = crate::operator::now_ms();
            for r in &batch {
                h.observe((now - f(r)).max(0) as u64);
            }
        }
        self.sink.write(batch)
    }
    fn snapshot(&mut self, id: u64, _savepoint: bool) -> Result<OperatorSnapshot> {
        Ok(OperatorSnapshot {
            operator_state: self.sink.pre_commit(id)?,
            ..OperatorSnapshot::default()
        })
    }
    fn notify_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        self.sink.commit(id)
    }
    fn end_input(&mut self, _out: &mut Collector<()>) -> Result<()> {
        self.sink.finish()
    }
}
