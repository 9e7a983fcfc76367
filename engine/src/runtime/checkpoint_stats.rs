//! Checkpoint statistics as Flink's REST API reports them: counts, a summary
//! over completed checkpoints, the latest completed / failed / restored, and a
//! history of the most recent checkpoints with each subtask's phases.

use crate::checkpoint::coordinator::SubtaskAck;
use std::collections::VecDeque;

/// How many recent checkpoints the history keeps (Flink's `web.checkpoints.history`).
pub const HISTORY: usize = 10;
/// How many completed checkpoints the summary statistics cover.
const SUMMARY_SAMPLES: usize = 1000;

/// A checkpoint's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Triggered, not all acknowledged.
    InProgress,
    /// Metadata written.
    Completed,
    /// Aborted or expired.
    Failed,
}

/// One subtask's acknowledgement, in milliseconds and bytes.
#[derive(Debug, Clone)]
pub struct SubtaskRecord {
    /// Node index.
    pub node: usize,
    /// Subtask index.
    pub subtask: usize,
    /// When its state was durable.
    pub ack_ms: i64,
    /// Synchronous phase.
    pub sync_ms: u64,
    /// Asynchronous phase.
    pub async_ms: u64,
    /// Alignment.
    pub alignment_ms: u64,
    /// Start delay.
    pub start_delay_ms: u64,
    /// Bytes written.
    pub size: u64,
    /// Full state size, bytes (shared RocksDB files included).
    pub full_size: u64,
    /// Bytes processed during alignment.
    pub processed: u64,
    /// Bytes of in-flight records persisted (unaligned).
    pub persisted: u64,
    /// Whether it snapshotted unaligned.
    pub unaligned: bool,
}

/// What the summary keeps of one completed checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// End-to-end duration, ms.
    pub e2e_ms: i64,
    /// Checkpointed size, bytes.
    pub size: u64,
    /// Full state size, bytes.
    pub full_size: u64,
    /// Bytes processed during alignment.
    pub processed: u64,
    /// Bytes of in-flight records persisted.
    pub persisted: u64,
}

/// One checkpoint.
#[derive(Debug, Clone)]
pub struct Record {
    /// Id.
    pub id: u64,
    /// Status.
    pub status: Status,
    /// Trigger time.
    pub trigger_ms: i64,
    /// Subtasks expected.
    pub num_subtasks: usize,
    /// Acknowledgements so far.
    pub subtasks: Vec<SubtaskRecord>,
    /// Completion or failure time.
    pub end_ms: Option<i64>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Where it is (completed).
    pub path: Option<String>,
}

impl Record {
    /// Latest acknowledgement time (trigger time before any).
    pub fn latest_ack_ms(&self) -> i64 {
        self.subtasks
            .iter()
            .map(|s| s.ack_ms)
            .max()
            .unwrap_or(self.trigger_ms)
    }
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.subtasks.iter().map(|s| s.size).sum()
    }
    /// Full state size so far (with incremental checkpoints, more than written).
    pub fn full_size(&self) -> u64 {
        self.subtasks.iter().map(|s| s.full_size).sum()
    }
    /// Bytes processed during alignment, over all subtasks.
    pub fn processed(&self) -> u64 {
        self.subtasks.iter().map(|s| s.processed).sum()
    }
    /// Bytes of in-flight records persisted, over all subtasks.
    pub fn persisted(&self) -> u64 {
        self.subtasks.iter().map(|s| s.persisted).sum()
    }
    /// Whether any subtask snapshotted unaligned.
    pub fn unaligned(&self) -> bool {
        self.subtasks.iter().any(|s| s.unaligned)
    }
    /// Trigger to completion (or to the latest ack while in progress).
    pub fn end_to_end_ms(&self) -> i64 {
        self.end_ms.unwrap_or_else(|| self.latest_ack_ms()) - self.trigger_ms
    }
}

/// The restored checkpoint.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Id.
    pub id: u64,
    /// When restored.
    pub restore_ms: i64,
    /// Where from.
    pub path: String,
}

/// Everything the REST API reports about checkpoints.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    /// Triggered.
    pub total: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Restores.
    pub restored_count: u64,
    /// Recent checkpoints, newest first.
    pub history: VecDeque<Record>,
    /// Latest completed.
    pub latest_completed: Option<Record>,
    /// Latest failed.
    pub latest_failed: Option<Record>,
    /// Latest restore.
    pub restored: Option<Restored>,
    /// Recent completed checkpoints, for the summary.
    pub samples: VecDeque<Sample>,
}

impl CheckpointStats {
    fn find(&mut self, id: u64) -> Option<&mut Record> {
        self.history.iter_mut().find(|r| r.id == id)
    }

    /// A checkpoint was triggered.
    pub fn triggered(&mut self, id: u64, trigger_ms: i64, num_subtasks: usize) {
        self.total += 1;
        self.history.push_front(Record {
            id,
            status: Status::InProgress,
            trigger_ms,
            num_subtasks,
            subtasks: Vec::new(),
            end_ms: None,
            failure: None,
            path: None,
        });
        self.history.truncate(HISTORY);
    }

    /// A subtask acknowledged.
    pub fn acked(&mut self, id: u64, a: &SubtaskAck) {
        if let Some(r) = self.find(id) {
            if r.subtasks
                .iter()
                .any(|s| s.node == a.task.node && s.subtask == a.task.subtask)
            {
                return;
            }
            r.subtasks.push(SubtaskRecord {
                node: a.task.node,
                subtask: a.task.subtask,
                ack_ms: a.ack_ms,
                sync_ms: a.sync_ns / 1_000_000,
                async_ms: a.async_ns / 1_000_000,
                alignment_ms: a.alignment_ns / 1_000_000,
                start_delay_ms: a.start_delay_ns / 1_000_000,
                size: a.checkpointed_bytes,
                full_size: a.handle.as_ref().map(|h| h.full_size()).unwrap_or(0),
                processed: a.processed_bytes,
                persisted: a.persisted_bytes,
                unaligned: a.unaligned,
            });
        }
    }

    /// The metadata of `id` is durable.
    pub fn completed(&mut self, id: u64, end_ms: i64, path: String) {
        self.completed += 1;
        if let Some(r) = self.find(id) {
            r.status = Status::Completed;
            r.end_ms = Some(end_ms);
            r.path = Some(path);
            let r = r.clone();
            self.samples.push_back(Sample {
                e2e_ms: r.end_to_end_ms(),
                size: r.size(),
                full_size: r.full_size(),
                processed: r.processed(),
                persisted: r.persisted(),
            });
            if self.samples.len() > SUMMARY_SAMPLES {
                self.samples.pop_front();
            }
            self.latest_completed = Some(r);
        }
    }

    /// `id` failed.
    pub fn failed(&mut self, id: u64, end_ms: i64, why: String) {
        self.failed += 1;
        if let Some(r) = self.find(id) {
            r.status = Status::Failed;
            r.end_ms = Some(end_ms);
            r.failure = Some(why);
            let r = r.clone();
            self.latest_failed = Some(r);
        }
    }

    /// The job restored from checkpoint `id` at `path`.
    pub fn restored_from(&mut self, id: u64, restore_ms: i64, path: String) {
        self.restored_count += 1;
        self.restored = Some(Restored {
            id,
            restore_ms,
            path,
        });
    }

    /// In flight.
    pub fn in_progress(&self) -> usize {
        self.history
            .iter()
            .filter(|r| r.status == Status::InProgress)
            .count()
    }

    /// A record by id, from the history or the latest ones.
    pub fn get(&self, id: u64) -> Option<&Record> {
        self.history
            .iter()
            .chain(self.latest_completed.iter())
            .chain(self.latest_failed.iter())
            .find(|r| r.id == id)
    }
}

/// Flink's `StatsSummaryDto`: min, max, avg and percentiles.
pub fn summary(values: &[f64]) -> serde_json::Value {
    if values.is_empty() {
        return serde_json::json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    serde_json::json!({
        "min": v[0] as i64,
        "max": v[v.len() - 1] as i64,
        "avg": (v.iter().sum::<f64>() / v.len() as f64) as i64,
        "p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "p999": q(0.999),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_counts_and_summary() {
        let mut s = CheckpointStats::default();
        for id in 1..=12 {
            s.triggered(id, id as i64 * 1000, 1);
            if id % 4 == 0 {
                s.failed(id, id as i64 * 1000 + 5, "expired".into());
            } else {
                s.completed(id, id as i64 * 1000 + id as i64, format!("/ck/chk-{id}"));
            }
        }
        assert_eq!((s.total, s.completed, s.failed), (12, 9, 3));
        assert_eq!(s.history.len(), HISTORY);
        assert_eq!(s.history[0].id, 12, "newest first");
        assert_eq!(s.latest_completed.as_ref().unwrap().id, 11);
        assert_eq!(
            s.latest_failed.as_ref().unwrap().failure.as_deref(),
            Some("expired")
        );
        let e2e: Vec<f64> = s.samples.iter().map(|x| x.e2e_ms as f64).collect();
        let sm = summary(&e2e);
        assert_eq!(sm["min"], 1);
        assert_eq!(sm["max"], 11);
        assert_eq!(sm["p50"], 6.0);
    }
}
