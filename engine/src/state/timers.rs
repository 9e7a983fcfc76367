//! Per-key timers in event time and processing time. One timer per
//! (time, key, domain), as in Flink; timers are keyed state and are snapshotted
//! per key group with the tables.

use crate::data::Key;
use crate::state::snapshot::{ChunkWriter, TableSnapshot};
use std::collections::BTreeSet;

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeDomain {
    /// Fires when the watermark passes the time.
    EventTime,
    /// Fires when the wall clock passes the time.
    ProcessingTime,
}

/// Name of the pseudo-table timers are written under.
pub const TIMER_TABLE: &str = "_timers";

/// The timers of one keyed subtask.
pub struct TimerService<K> {
    event: BTreeSet<(i64, K)>,
    processing: BTreeSet<(i64, K)>,
}

impl<K: Key> Default for TimerService<K> {
    fn default() -> Self {
        Self {
            event: BTreeSet::new(),
            processing: BTreeSet::new(),
        }
    }
}

impl<K: Key> TimerService<K> {
    /// Registers a timer (idempotent).
    pub fn register(&mut self, domain: TimeDomain, time: i64, key: K) {
        match domain {
            TimeDomain::EventTime => self.event.insert((time, key)),
            TimeDomain::ProcessingTime => self.processing.insert((time, key)),
        };
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, domain: TimeDomain, time: i64, key: K) {
        match domain {
            TimeDomain::EventTime => self.event.remove(&(time, key)),
            TimeDomain::ProcessingTime => self.processing.remove(&(time, key)),
        };
    }

    /// Removes and returns the earliest timer due at `now` in `domain`.
    pub fn pop_due(&mut self, domain: TimeDomain, now: i64) -> Option<(i64, K)> {
        let set = match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        };
        if set.first().is_some_and(|(t, _)| *t <= now) {
            set.pop_first()
        } else {
            None
        }
    }

    /// The earliest processing-time timer, so the task knows how long it may wait.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.processing.first().map(|(t, _)| *t)
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous snapshot phase: a copy of all timers.
    pub fn snapshot(&self) -> Box<dyn TableSnapshot> {
        let mut entries = Vec::with_capacity(self.len());
        entries.extend(
            self.event
                .iter()
                .map(|(t, k)| (k.clone(), (TimeDomain::EventTime, *t))),
        );
        entries.extend(
            self.processing
                .iter()
                .map(|(t, k)| (k.clone(), (TimeDomain::ProcessingTime, *t))),
        );
        Box::new(TimerSnapshot { entries })
    }

    /// Loads restored timer chunks.
    pub fn restore(&mut self, chunks: Vec<Vec<u8>>) -> crate::Result<()> {
        for c in chunks {
            let entries: Vec<(K, (TimeDomain, i64))> = bincode::deserialize(&c)?;
            for (k, (d, t)) in entries {
                self.register(d, t, k);
            }
        }
        Ok(())
    }
}

struct TimerSnapshot<K> {
    entries: Vec<(K, (TimeDomain, i64))>,
}

impl<K: Key> TableSnapshot for TimerSnapshot<K> {
    fn name(&self) -> &str {
        TIMER_TABLE
    }
    fn write(&self, max_parallelism: u32, w: &mut ChunkWriter<'_>) -> crate::Result<()> {
        w.write_grouped(&self.entries, max_parallelism)
    }
}
