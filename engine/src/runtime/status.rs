//! What a running job shows its operator: counters of the tasks at the edges
//! of the graph and the last completed checkpoint. Shared with the CLI.

use crate::metrics::TaskMetrics;
use std::sync::Mutex;

/// One completed checkpoint, as the status line shows it.
#[derive(Debug, Clone)]
pub struct CompletedInfo {
    /// Id.
    pub id: u64,
    /// Trigger to completion, ms.
    pub duration_ms: i64,
    /// Bytes of state files.
    pub size: u64,
    /// Its directory.
    pub path: std::path::PathBuf,
}

/// Shared, cheaply readable job progress.
#[derive(Default)]
pub struct JobStatus {
    /// (is source, is sink, handles) of every subtask of the current attempt.
    pub tasks: Mutex<Vec<(bool, bool, TaskMetrics)>>,
    /// The last completed checkpoint.
    pub last_checkpoint: Mutex<Option<CompletedInfo>>,
    /// Restarts so far.
    pub restarts: std::sync::atomic::AtomicU64,
    /// Failed checkpoints so far.
    pub failed_checkpoints: std::sync::atomic::AtomicU64,
}

/// Totals over the current attempt's subtasks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Records emitted by sources.
    pub source_out: u64,
    /// Records received by sinks.
    pub sink_in: u64,
    /// Backpressured ns summed over subtasks.
    pub backpressured_ns: u64,
    /// Wall ns accounted, summed over subtasks.
    pub accounted_ns: u64,
}

impl JobStatus {
    /// Sums the counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (src, sink, m) in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let s = m.read();
            if *src {
                t.source_out += s.records_out;
            }
            if *sink {
                t.sink_in += s.records_in;
            }
            t.backpressured_ns += s.backpressured_ns;
            t.accounted_ns += s.busy_ns + s.idle_ns + s.backpressured_ns;
        }
        t
    }
}
