//! Records per key group of a keyed vertex, sampled where the upstream
//! partitioner computes the key group anyway (one record in
//! [`SAMPLE`]), for `tidemark doctor`'s data-skew: which key groups make
//! the hot subtask hot. One counter set per vertex and attempt.

use std::sync::atomic::{AtomicU64, Ordering};

/// One record in this many is counted: the hot path pays an increment and
/// a modulo, and the shared counters are touched rarely enough that upstream
/// subtasks do not fight over their cache lines.
pub const SAMPLE: u32 = 16;

/// Sampled records per key group of one vertex.
#[derive(Debug)]
pub struct KeyGroupLoad {
    counts: Vec<AtomicU64>,
}

impl KeyGroupLoad {
    /// Counters for `max_parallelism` key groups.
    pub fn new(max_parallelism: u32) -> Self {
        Self {
            counts: (0..max_parallelism).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts a sampled record of key group `kg`.
    #[inline]
    pub fn record(&self, kg: u32) {
        if let Some(c) = self.counts.get(kg as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sampled records per key group so far.
    pub fn snapshot(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}
