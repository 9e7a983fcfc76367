//! Storage of one state table: a map from key to the per-key state value.
//!
//! Keyed functions reach a table only through [`KvStore`], so a second storage
//! (RocksDB behind a hot-state cache) slots in by implementing it.

use crate::data::{Data, Key};
use crate::state::state_file::{ChunkWriter, TableSnapshot};
use rustc_hash::FxHashMap;

/// A key → state map. `get` takes `&mut self` so that an implementation may
/// load the entry into a cache on first read.
///
/// Every access can fail (a RocksDB read or write-back that did not succeed):
/// the error fails the task there and then, so no record is ever processed
/// against state that could not be read, and none is answered with "no state".
pub trait KvStore<K, S>: Send + 'static {
    /// The state of `k`, if any.
    fn get(&mut self, k: &K) -> crate::Result<Option<&S>>;
    /// Mutable access to the state of `k`, if any (marks it changed).
    fn get_mut(&mut self, k: &K) -> crate::Result<Option<&mut S>>;
    /// Sets the state of `k`.
    fn insert(&mut self, k: K, s: S) -> crate::Result<()>;
    /// Removes the state of `k`.
    fn remove(&mut self, k: &K) -> crate::Result<Option<S>>;
    /// Number of keys with state.
    fn len(&self) -> usize;
    /// Whether no key has state.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes buffered changes to the underlying storage (before a snapshot).
    fn flush(&mut self) -> crate::Result<()> {
        Ok(())
    }
    /// Told the keys of the records about to be processed, a store whose
    /// reads are costly loads those it lacks at once (RocksDB's batched
    /// lookup); a failed load fails the batch.
    fn prefetch(&mut self, _keys: &[K]) -> crate::Result<()> {
        Ok(())
    }
    /// Synchronous part of a snapshot: a copy that the asynchronous part writes
    /// while processing goes on.
    fn snapshot(&self, name: &str) -> Box<dyn TableSnapshot>;
    /// Loads one restored chunk (a serialised `Vec<(K, S)>`).
    fn restore_chunk(&mut self, bytes: &[u8]) -> crate::Result<()>;
}

/// The heap store: a hash map of live objects (Flink's `hashmap` backend).
pub struct HeapStore<K, S> {
    map: FxHashMap<K, S>,
}

impl<K, S> Default for HeapStore<K, S> {
    fn default() -> Self {
        Self {
            map: FxHashMap::default(),
        }
    }
}

impl<K: Key, S: Data> KvStore<K, S> for HeapStore<K, S> {
    #[inline]
    fn get(&mut self, k: &K) -> crate::Result<Option<&S>> {
        Ok(self.map.get(k))
    }
    #[inline]
    fn get_mut(&mut self, k: &K) -> crate::Result<Option<&mut S>> {
        Ok(self.map.get_mut(k))
    }
    #[inline]
    fn insert(&mut self, k: K, s: S) -> crate::Result<()> {
        self.map.insert(k, s);
        Ok(())
    }
    #[inline]
    fn remove(&mut self, k: &K) -> crate::Result<Option<S>> {
        Ok(self.map.remove(k))
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn snapshot(&self, name: &str) -> Box<dyn TableSnapshot> {
        Box::new(HeapSnapshot {
            name: name.to_string(),
            entries: self
                .map
                .iter()
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect(),
        })
    }
    fn restore_chunk(&mut self, bytes: &[u8]) -> crate::Result<()> {
        let entries: Vec<(K, S)> = bincode::deserialize(bytes)?;
        self.map.extend(entries);
        Ok(())
    }
}

/// A copied table, written per key group by the asynchronous snapshot phase.
pub struct HeapSnapshot<K, S> {
    /// Table name.
    pub name: String,
    /// The copied entries.
    pub entries: Vec<(K, S)>,
}

impl<K: Key, S: Data> TableSnapshot for HeapSnapshot<K, S> {
    fn name(&self) -> &str {
        &self.name
    }
    fn write(&self, max_parallelism: u32, w: &mut ChunkWriter<'_, '_>) -> crate::Result<()> {
        w.write_grouped(&self.entries, max_parallelism)
    }
}
