//! Records per key group of a keyed vertex, sampled where the upstream
//! partitioner computes the key group anyway (one record in [`SAMPLE`]),
//! and its hottest keys (one record in [`KEY_SAMPLE`], into a small
//! space-saving sketch), for `tidemark doctor`'s data-skew: which key
//! groups, and which keys in them, make the hot subtask hot. One set per
//! vertex and attempt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One record in this many is counted: the hot path pays an increment and
/// a modulo, and the shared counters are touched rarely enough that upstream
/// subtasks do not fight over their cache lines.
pub const SAMPLE: u32 = 16;

/// One record in this many has its key formatted and counted: a `String`
/// and a lock per 1 024 records, nothing a keyed edge notices, and still
/// hundreds of samples a minute at a few thousand records a second.
pub const KEY_SAMPLE: u32 = SAMPLE * 64;

/// Keys the sketch follows: the hottest keys are among them as long as
/// each carries more than 1/`TRACKED_KEYS` of the samples (the
/// space-saving guarantee), which any key worth naming does.
const TRACKED_KEYS: usize = 64;

/// A key's text is cut to this many characters: the evidence names it, it
/// does not reproduce a large key.
const KEY_TEXT_MAX: usize = 80;

/// Sampled records per key group of one vertex, and its hot keys.
#[derive(Debug)]
pub struct KeyGroupLoad {
    counts: Vec<AtomicU64>,
    keys: Mutex<HotKeys>,
}

/// A sampled key: its text (`Debug`), its key group and its count (an
/// upper bound: the space-saving sketch counts a newcomer from the count of
/// the key it replaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    /// The key as `{:?}` shows it.
    pub key: String,
    /// Its key group.
    pub key_group: u32,
    /// Sampled records with it.
    pub count: u64,
}

/// Metwally et al.'s space-saving top-k: at most [`TRACKED_KEYS`] keys;
/// a key not followed replaces the one with the smallest count and starts
/// from that count plus one.
#[derive(Debug, Default)]
struct HotKeys {
    counts: HashMap<String, (u32, u64)>,
    samples: u64,
}

impl HotKeys {
    fn add(&mut self, key: String, key_group: u32) {
        self.samples += 1;
        if let Some((_, n)) = self.counts.get_mut(&key) {
            *n += 1;
            return;
        }
        let mut start = 0;
        if self.counts.len() >= TRACKED_KEYS {
            let coldest = self
                .counts
                .iter()
                .min_by_key(|(_, (_, n))| *n)
                .map(|(k, (_, n))| (k.clone(), *n));
            if let Some((k, n)) = coldest {
                self.counts.remove(&k);
                start = n;
            }
        }
        self.counts.insert(key, (key_group, start + 1));
    }
}

impl KeyGroupLoad {
    /// Counters for `max_parallelism` key groups.
    pub fn new(max_parallelism: u32) -> Self {
        Self {
            counts: (0..max_parallelism).map(|_| AtomicU64::new(0)).collect(),
            keys: Mutex::default(),
        }
    }

    /// Counts a sampled record of key group `kg`.
    #[inline]
    pub fn record(&self, kg: u32) {
        if let Some(c) = self.counts.get(kg as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a key-sampled record of key group `kg` whose key `text` shows.
    pub fn record_key(&self, kg: u32, text: String) {
        let text = match text.char_indices().nth(KEY_TEXT_MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.add(text, kg);
    }

    /// Sampled records per key group so far.
    pub fn snapshot(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The keys followed, most sampled first, and how many records were
    /// key-sampled in all.
    pub fn hot_keys(&self) -> (Vec<HotKey>, u64) {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut hot: Vec<HotKey> = keys
            .counts
            .iter()
            .map(|(k, (kg, n))| HotKey {
                key: k.clone(),
                key_group: *kg,
                count: *n,
            })
            .collect();
        hot.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        (hot, keys.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dominant_key_leads_among_many_cold_ones() {
        let load = KeyGroupLoad::new(128);
        // Key 7 in every third sample, 10 000 other keys once each: far
        // more keys than the sketch follows.
        for i in 0..30_000u64 {
            let key = if i % 3 == 0 { 7 } else { 1000 + i };
            load.record_key((key % 128) as u32, format!("{key:?}"));
        }
        let (hot, samples) = load.hot_keys();
        assert_eq!(samples, 30_000);
        assert_eq!(hot.len(), TRACKED_KEYS);
        assert_eq!((hot[0].key.as_str(), hot[0].key_group), ("7", 7));
        // Its count is an upper bound that is not far off.
        assert!((10_000..=10_000 + 30_000 / TRACKED_KEYS as u64).contains(&hot[0].count));
        assert!(hot[1].count < hot[0].count / 2, "{hot:?}");
    }

    #[test]
    fn long_keys_are_cut() {
        let load = KeyGroupLoad::new(1);
        load.record_key(0, "x".repeat(500));
        let (hot, _) = load.hot_keys();
        assert_eq!(hot[0].key.chars().count(), KEY_TEXT_MAX + 1);
    }
}
