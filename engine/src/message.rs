//! What travels on an edge between two subtasks. Records, watermarks, barriers
//! and end-of-input share one FIFO channel, so a barrier can never overtake the
//! records sent before it (aligned checkpoints depend on that). Unaligned
//! checkpoints add a priority lane per task that carries [`Announcement`]s:
//! "my barrier is queued behind what I sent you", which overtakes the queue.

/// One element of a channel.
#[derive(Debug)]
pub enum Message<T> {
    /// A batch of records: the unit of transfer, counting and timing.
    Batch(Vec<T>),
    /// Event time has advanced to this many milliseconds on this channel.
    Watermark(i64),
    /// The sender has had no data for a while; exclude it from the watermark
    /// minimum until it sends a record or watermark again.
    Idle,
    /// A checkpoint barrier.
    Barrier(Barrier),
    /// Unaligned checkpoints: the records from here up to this checkpoint's
    /// barrier were queued in the sender when it snapshotted, and the sender
    /// persisted them itself; the receiver must not record them again.
    PersistedFrom(Barrier),
    /// The sender will send nothing more.
    EndOfInput,
    /// A latency marker: travels behind the records queued before it and
    /// skips operator processing, so its age at a vertex is queueing time.
    LatencyMarker(LatencyMarker),
}

/// On the priority lane: the upstream of input channel `.0` snapshotted and
/// queued the barrier `.1` behind the records it sent before.
pub type Announcement = (usize, Barrier);

/// Where and when a latency marker was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyMarker {
    /// Source node index.
    pub source: u32,
    /// Source subtask index.
    pub source_subtask: u32,
    /// Wall-clock emission time, microseconds since the Unix epoch.
    pub emitted_us: i64,
}

/// Wall clock in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A checkpoint barrier, injected by sources and forwarded by every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// Checkpoint id, increasing within a job and across restores.
    pub id: u64,
    /// When the coordinator triggered it (ms since the Unix epoch).
    pub trigger_ms: i64,
    /// The checkpoint taken after all sources finished; tasks wait for its
    /// completion before they exit, so sinks can commit their last output.
    pub is_final: bool,
    /// Taken for a savepoint: state is written in the canonical format.
    pub savepoint: bool,
    /// Stop-with-savepoint with `drain`: sources emit the end of event time
    /// ([`MAX_WATERMARK`]) just before this barrier and read nothing more, so
    /// every window and event-time timer fires into the savepoint's output.
    pub drain: bool,
}

/// Event time meaning "no more records": fires every event-time timer.
pub const MAX_WATERMARK: i64 = i64::MAX;
