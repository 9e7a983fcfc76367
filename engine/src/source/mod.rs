//! Sources: where records enter a job. A source reads in batches, reports a
//! replayable position for checkpoints, and resumes from it.

pub mod datagen;
pub mod file;
pub mod jetstream;
pub mod nexmark;
pub(crate) mod pacing;

use crate::error::Result;
use crate::operator::SubtaskInfo;
use std::time::Duration;

/// What a poll produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Records were appended (possibly none).
    Data,
    /// Nothing now; poll again after at most this long.
    Pending(Option<Duration>),
    /// The input is exhausted (bounded sources).
    Finished,
}

/// A parallel source instance.
pub trait Source<T>: Send + 'static {
    /// Called once with this subtask's coordinates, before `restore` and `poll`.
    fn open(&mut self, info: &SubtaskInfo) -> Result<()>;
    /// Continues from the positions every subtask of the checkpointed run
    /// returned from `position`, one per old subtask in subtask order, at this
    /// parallelism or another: a source keeps the part (splits) this subtask
    /// owns now, so a savepoint restores the whole job at another parallelism.
    fn restore(&mut self, positions: &[&[u8]]) -> Result<()>;
    /// Appends up to `max` records to `out`.
    fn poll(&mut self, out: &mut Vec<T>, max: usize) -> Result<Poll>;
    /// The position after the last record returned (taken at a barrier).
    fn position(&self) -> Result<Vec<u8>>;
}
