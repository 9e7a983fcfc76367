//! Per-key timers in event time and processing time. One timer per
//! (time, key, domain), as in Flink; timers are keyed state and are snapshotted
//! per key group with the tables.

use crate::data::Key;
use crate::state::rocks::timers::RocksTimers;
use crate::state::state_file::{ChunkWriter, TableSnapshot};
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

/// The timers of one keyed subtask: on the heap, or in RocksDB.
pub struct TimerService<K> {
    store: Store<K>,
}

enum Store<K> {
    Heap {
        event: BTreeSet<(i64, K)>,
        processing: BTreeSet<(i64, K)>,
    },
    Rocks(RocksTimers<K>),
}

impl<K: Key> Default for TimerService<K> {
    fn default() -> Self {
        Self {
            store: Store::Heap {
                event: BTreeSet::new(),
                processing: BTreeSet::new(),
            },
        }
    }
}

impl<K: Key> TimerService<K> {
    /// Timers kept in RocksDB (`state.backend.rocksdb.timer-service.factory: ROCKSDB`).
    pub fn in_rocksdb(timers: RocksTimers<K>) -> Self {
        Self {
            store: Store::Rocks(timers),
        }
    }

    /// Whether timers live on the heap (and are snapshotted from there).
    pub fn on_heap(&self) -> bool {
        matches!(self.store, Store::Heap { .. })
    }

    /// Registers a timer (idempotent).
    pub fn register(&mut self, domain: TimeDomain, time: i64, key: K) -> crate::Result<()> {
        match &mut self.store {
            Store::Heap { event, processing } => {
                match domain {
                    TimeDomain::EventTime => event.insert((time, key)),
                    TimeDomain::ProcessingTime => processing.insert((time, key)),
                };
                Ok(())
            }
            Store::Rocks(r) => r.register(domain, time, key),
        }
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, domain: TimeDomain, time: i64, key: K) -> crate::Result<()> {
        match &mut self.store {
            Store::Heap { event, processing } => {
                match domain {
                    TimeDomain::EventTime => event.remove(&(time, key)),
                    TimeDomain::ProcessingTime => processing.remove(&(time, key)),
                };
                Ok(())
            }
            Store::Rocks(r) => r.delete(domain, time, key),
        }
    }

    /// Removes and returns the earliest timer due at `now` in `domain`.
    pub fn pop_due(&mut self, domain: TimeDomain, now: i64) -> crate::Result<Option<(i64, K)>> {
        let set = match &mut self.store {
            Store::Heap { event, .. } if domain == TimeDomain::EventTime => event,
            Store::Heap { processing, .. } => processing,
            Store::Rocks(r) => return r.pop_due(domain, now),
        };
        Ok(if set.first().is_some_and(|(t, _)| *t <= now) {
            set.pop_first()
        } else {
            None
        })
    }

    /// The earliest processing-time timer, so the task knows how long it may wait.
    pub fn next_processing_time(&self) -> Option<i64> {
        match &self.store {
            Store::Heap { processing, .. } => processing.first().map(|(t, _)| *t),
            Store::Rocks(r) => r.next_processing_time(),
        }
    }

    /// Number of registered timers (estimated in RocksDB).
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Heap { event, processing } => event.len() + processing.len(),
            Store::Rocks(r) => r.estimated_len(),
        }
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous snapshot phase of heap timers: a copy of all of them.
    /// (RocksDB timers are part of the instance's snapshot.)
    pub fn snapshot(&self) -> Box<dyn TableSnapshot> {
        let mut entries = Vec::with_capacity(self.len());
        if let Store::Heap { event, processing } = &self.store {
            entries.extend(
                event
                    .iter()
                    .map(|(t, k)| (k.clone(), (TimeDomain::EventTime, *t))),
            );
            entries.extend(
                processing
                    .iter()
                    .map(|(t, k)| (k.clone(), (TimeDomain::ProcessingTime, *t))),
            );
        }
        Box::new(TimerSnapshot { entries })
    }

    /// Loads restored timer chunks.
    pub fn restore(&mut self, chunks: Vec<Vec<u8>>) -> crate::Result<()> {
        for c in chunks {
            let entries: Vec<(K, (TimeDomain, i64))> = bincode::deserialize(&c)?;
            for (k, (d, t)) in entries {
                self.register(d, t, k)?;
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
    fn write(&self, max_parallelism: u32, w: &mut ChunkWriter<'_, '_>) -> crate::Result<()> {
        w.write_grouped(&self.entries, max_parallelism)
    }
}
