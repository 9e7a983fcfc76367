//! Sources: where records enter a job. A source reads in batches, reports a
//! replayable position for checkpoints, and resumes from it.

pub mod datagen;
pub mod file;
pub mod format;
pub mod jetstream;
pub mod kafka;
mod lag_sampler;
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
    /// Checkpoint `checkpoint_id` completed, with `position` (what
    /// [`Self::position`] returned at its barrier): tell the outside world,
    /// e.g. commit offsets to a consumer group for its lag tools. Recovery
    /// never depends on it.
    fn checkpoint_complete(&mut self, _checkpoint_id: u64, _position: &[u8]) -> Result<()> {
        Ok(())
    }
    /// How far behind its input each split this subtask reads is, once a
    /// second (`tidemark_source_pending_records`, `tidemark_source_lag_seconds`
    /// per `partition`). A source that cannot tell returns nothing.
    fn lag(&mut self) -> Result<Vec<SplitLag>> {
        Ok(Vec::new())
    }
    /// The lag when the source has ended: its last word, taken now (a
    /// source that samples lag in the background returns an earlier sample
    /// from [`Self::lag`]).
    fn final_lag(&mut self) -> Result<Vec<SplitLag>> {
        self.lag()
    }
    /// Errors recovered from so far, counted since the source was opened
    /// (`tidemark_source_errors_total`).
    fn recovered_errors(&self) -> RecoveredErrors {
        RecoveredErrors::default()
    }
    /// The splits this subtask reads now, named as in [`SplitLag::split`]:
    /// with per-split watermarks each holds event time back from the moment
    /// it is owned until its first record or its idleness. `None`: the
    /// source does not know them before their records.
    fn splits(&self) -> Option<Vec<String>> {
        None
    }
    /// Bytes of the records read since the source was opened (keys and
    /// payloads as the broker sent them: `tidemark_source_bytes_read_total`);
    /// `None` where bytes mean nothing (generators).
    fn bytes_read(&self) -> Option<u64> {
        None
    }
}

/// Errors a source recovered from by itself, since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecoveredErrors {
    /// Reads from the broker that failed and were tried again.
    pub read: u64,
    /// Offset commits to a consumer group that failed.
    pub commit: u64,
}

/// How far one split (a Kafka partition, a JetStream subject) is behind.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitLag {
    /// The split's name: the `partition` label.
    pub split: String,
    /// Records after the last one read.
    pub pending_records: u64,
    /// The newest record's timestamp minus the last read one's, in ms
    /// (0 when nothing is pending).
    pub lag_ms: i64,
}
