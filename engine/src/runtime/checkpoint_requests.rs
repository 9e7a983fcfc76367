//! Checkpoints triggered by hand (`POST /jobs/:id/checkpoints`) and their
//! outcomes, looked up by the request id the trigger handed back, as Flink's
//! `GET /jobs/:id/checkpoints/:triggerid` does.

use std::collections::{HashMap, VecDeque};

/// Where a triggered checkpoint stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// Filed, or triggered and not yet complete.
    InProgress,
    /// Completed as this checkpoint id.
    Completed(u64),
    /// Why it failed.
    Failed(String),
}

/// Requests waiting for the job master, and outcomes by request id.
#[derive(Debug, Default)]
pub struct CheckpointRequests {
    queue: VecDeque<String>,
    outcomes: HashMap<String, CheckpointOutcome>,
    next: u64,
}

/// Outcomes kept for lookup; older ones are forgotten first.
const KEPT: usize = 1000;

impl CheckpointRequests {
    /// Files a request; returns its id.
    pub fn request(&mut self) -> String {
        self.next += 1;
        let id = format!("{:016x}{:016x}", crate::operator::now_ms(), self.next);
        self.queue.push_back(id.clone());
        if self.outcomes.len() >= KEPT {
            // Ids start with their filing time, so the smallest is the oldest.
            if let Some(old) = self.outcomes.keys().min().cloned() {
                self.outcomes.remove(&old);
            }
        }
        self.outcomes
            .insert(id.clone(), CheckpointOutcome::InProgress);
        id
    }

    /// Every request waiting to be triggered (one checkpoint serves them all).
    pub fn take_all(&mut self) -> Vec<String> {
        self.queue.drain(..).collect()
    }

    /// Records how request `id` ended.
    pub fn finish(&mut self, id: &str, outcome: CheckpointOutcome) {
        if let Some(o) = self.outcomes.get_mut(id) {
            *o = outcome;
        }
    }

    /// Where request `id` stands.
    pub fn outcome(&self, id: &str) -> Option<CheckpointOutcome> {
        self.outcomes.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_taken_once_and_their_outcomes_looked_up_by_id() {
        let mut b = CheckpointRequests::default();
        let (a, c) = (b.request(), b.request());
        assert_ne!(a, c);
        assert_eq!(b.take_all(), vec![a.clone(), c.clone()]);
        assert!(b.take_all().is_empty());
        assert_eq!(b.outcome(&a), Some(CheckpointOutcome::InProgress));
        b.finish(&a, CheckpointOutcome::Completed(7));
        b.finish(&c, CheckpointOutcome::Failed("declined".into()));
        assert_eq!(b.outcome(&a), Some(CheckpointOutcome::Completed(7)));
        assert_eq!(
            b.outcome(&c),
            Some(CheckpointOutcome::Failed("declined".into()))
        );
        assert_eq!(b.outcome("nope"), None);
    }
}
