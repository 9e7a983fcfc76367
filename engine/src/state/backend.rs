//! The keyed state backend of one subtask: the tables its functions registered,
//! the restored chunks waiting for their table, and the snapshot of all of them.

use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::KeyGroupRange;
use crate::state::snapshot::{StateFile, TableSnapshot};
use crate::state::store::{HeapStore, KvStore};
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;

/// Where keyed state lives (`state.backend.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBackendKind {
    /// Objects on the heap (`hashmap`).
    Heap,
}

/// A typed reference to a registered table, returned at registration.
#[derive(Debug)]
pub struct TableId<S> {
    idx: usize,
    _p: PhantomData<fn() -> S>,
}

impl<S> Clone for TableId<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for TableId<S> {}

trait ErasedTable<K>: Send {
    fn snapshot(&self) -> Box<dyn TableSnapshot>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

struct Table<K, S> {
    name: String,
    store: Box<dyn KvStore<K, S>>,
}

impl<K: Key, S: Data> ErasedTable<K> for Table<K, S> {
    fn snapshot(&self) -> Box<dyn TableSnapshot> {
        self.store.snapshot(&self.name)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// All keyed state of one subtask.
pub struct KeyedStateBackend<K> {
    kind: StateBackendKind,
    max_parallelism: u32,
    range: KeyGroupRange,
    tables: Vec<Box<dyn ErasedTable<K>>>,
    names: Vec<String>,
    /// Restored chunks by table name, consumed when the table is registered
    /// (a function registers its state in `open`, after restore).
    restored: HashMap<String, Vec<Vec<u8>>>,
}

impl<K: Key> KeyedStateBackend<K> {
    /// An empty backend owning `range` of `max_parallelism` key groups.
    pub fn new(kind: StateBackendKind, max_parallelism: u32, range: KeyGroupRange) -> Self {
        Self {
            kind,
            max_parallelism,
            range,
            tables: Vec::new(),
            names: Vec::new(),
            restored: HashMap::new(),
        }
    }

    /// Number of key groups.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// Takes the chunks of this subtask's key groups from restored state files
    /// (one per old subtask: after rescaling, several files hold our groups).
    pub fn restore_from(&mut self, files: &[std::sync::Arc<StateFile>]) {
        for f in files {
            for (name, bytes) in f.chunks_in(self.range) {
                self.restored
                    .entry(name.to_string())
                    .or_default()
                    .push(bytes.to_vec());
            }
        }
    }

    /// Takes restored chunks of a table that is not a registered state (timers).
    pub fn take_restored(&mut self, name: &str) -> Vec<Vec<u8>> {
        self.restored.remove(name).unwrap_or_default()
    }

    /// Registers a table named `name` holding `S` per key, filled from restored chunks.
    pub fn register<S: Data>(&mut self, name: &str) -> Result<TableId<S>> {
        if self.names.iter().any(|n| n == name) {
            return Err(Error::Task(format!(
                "state '{name}' is registered twice in one operator: give each state its own name"
            )));
        }
        let mut store: Box<dyn KvStore<K, S>> = match self.kind {
            StateBackendKind::Heap => Box::new(HeapStore::<K, S>::default()),
        };
        for chunk in self.restored.remove(name).unwrap_or_default() {
            store.restore_chunk(&chunk).map_err(|e| {
                Error::Checkpoint(format!(
                    "restoring state '{name}': {e} (was the state's type changed since the checkpoint?)"
                ))
            })?;
        }
        self.tables.push(Box::new(Table {
            name: name.to_string(),
            store,
        }));
        self.names.push(name.to_string());
        Ok(TableId {
            idx: self.tables.len() - 1,
            _p: PhantomData,
        })
    }

    /// The store behind a table id.
    #[inline]
    pub fn store<S: Data>(&mut self, id: TableId<S>) -> &mut dyn KvStore<K, S> {
        let t = self.tables[id.idx]
            .as_any_mut()
            .downcast_mut::<Table<K, S>>()
            .expect("a TableId always names a table of its own type");
        t.store.as_mut()
    }

    /// Restored tables nobody registered: state the new code no longer has.
    pub fn unclaimed(&self) -> Vec<String> {
        self.restored.keys().cloned().collect()
    }

    /// The synchronous snapshot phase: copies of every table.
    pub fn snapshot(&self) -> Vec<Box<dyn TableSnapshot>> {
        self.tables.iter().map(|t| t.snapshot()).collect()
    }
}
