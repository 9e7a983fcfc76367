//! Savepoint requests and their outcomes, by trigger id: the REST API files a
//! request here, sends it to the job master ([`super::control::Command`]) and
//! reads its outcome; the job master records the outcome.

use std::collections::HashMap;

/// One request: where to write, and whether to stop the job after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointRequest {
    /// Trigger id handed back to the caller.
    pub id: String,
    /// Target folder (a path or `s3://…`); `None` = the configured default.
    pub target: Option<String>,
    /// Stop the job once the savepoint is complete (stop-with-savepoint).
    pub stop: bool,
    /// With `stop`: end event time first (Flink's `drain`), so windows and
    /// timers fire and their results are part of what the savepoint commits.
    pub drain: bool,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointOutcome {
    /// Filed or running.
    InProgress,
    /// Written; the savepoint's folder.
    Completed(String),
    /// Why it failed.
    Failed(String),
}

/// Outcomes by trigger id.
#[derive(Debug, Default)]
pub struct SavepointBook {
    outcomes: HashMap<String, SavepointOutcome>,
    /// Finished stop-with-savepoint requests whose outcome nobody read yet:
    /// the process waits a little for the caller before it exits.
    unread_stops: std::collections::HashSet<String>,
    stops: std::collections::HashSet<String>,
    next: u64,
}

impl SavepointBook {
    /// Files a request (its outcome is in progress until the job master
    /// records one); returns it, with its trigger id, to be sent.
    pub fn request(&mut self, target: Option<String>, stop: bool, drain: bool) -> SavepointRequest {
        self.next += 1;
        let id = format!("{:016x}{:016x}", crate::operator::now_ms(), self.next);
        self.outcomes
            .insert(id.clone(), SavepointOutcome::InProgress);
        if stop {
            self.stops.insert(id.clone());
        }
        SavepointRequest {
            id,
            target,
            stop,
            drain: stop && drain,
        }
    }

    /// Records how request `id` ended.
    pub fn finish(&mut self, id: &str, outcome: SavepointOutcome) {
        if self.stops.contains(id) {
            self.unread_stops.insert(id.to_string());
        }
        self.outcomes.insert(id.to_string(), outcome);
    }

    /// Where request `id` stands (a finished outcome counts as read).
    pub fn outcome(&mut self, id: &str) -> Option<SavepointOutcome> {
        let o = self.outcomes.get(id).cloned();
        if !matches!(o, None | Some(SavepointOutcome::InProgress)) {
            self.unread_stops.remove(id);
        }
        o
    }

    /// Whether a stop-with-savepoint outcome still waits for its caller.
    pub fn has_unread_stop(&self) -> bool {
        !self.unread_stops.is_empty()
    }
}
