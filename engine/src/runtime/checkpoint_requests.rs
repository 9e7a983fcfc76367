//! Checkpoints triggered by hand (`POST /jobs/:id/checkpoints`) and their
//! outcomes, looked up by the request id the trigger handed back, as Flink's
//! `GET /jobs/:id/checkpoints/:triggerid` does. The request itself travels
//! to the job master as a message ([`super::control::Command`]).

use std::collections::HashMap;

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

/// Outcomes by request id.
#[derive(Debug, Default)]
pub struct CheckpointRequests {
    outcomes: HashMap<String, CheckpointOutcome>,
    next: u64,
}

/// Outcomes kept for lookup; older ones are forgotten first.
const KEPT: usize = 1000;

impl CheckpointRequests {
    /// Files a request (in progress until the job master records an
    /// outcome); returns its id, to be sent.
    pub fn request(&mut self) -> String {
        self.next += 1;
        let id = format!("{:016x}{:016x}", crate::operator::now_ms(), self.next);
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
    fn outcomes_are_looked_up_by_request_id() {
        let mut b = CheckpointRequests::default();
        let (a, c) = (b.request(), b.request());
        assert_ne!(a, c);
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
