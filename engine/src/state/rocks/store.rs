//! One state table in a RocksDB column family, behind [`KvStore`].
//!
//! Keyed functions borrow state (`get` returns `&S`), which RocksDB cannot
//! lend, so each table keeps a small write-back cache of deserialised
//! entries: reads fill it, writes mark entries dirty, and dirty entries go to
//! RocksDB in one write batch (without WAL: checkpoints are the durability)
//! when the cache is full and before every snapshot.

use super::{key_group_prefix, SharedDb};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::assign_to_key_group;
use crate::state::snapshot::TableSnapshot;
use crate::state::store::KvStore;
use rocksdb::{WriteBatch, WriteOptions};
use rustc_hash::FxHashMap;

struct Slot<S> {
    value: Option<S>,
    dirty: bool,
}

/// A table stored in RocksDB.
pub struct RocksStore<K, S> {
    db: SharedDb,
    cf: String,
    max_parallelism: u32,
    cache: FxHashMap<K, Slot<S>>,
    capacity: usize,
    key_buf: Vec<u8>,
    /// The first write error, reported at the next snapshot (the KvStore
    /// accessors cannot return errors).
    error: Option<String>,
}

impl<K: Key, S: Data> RocksStore<K, S> {
    /// A table over column family `cf` (created if missing).
    pub fn new(db: SharedDb, cf: &str, max_parallelism: u32, capacity: usize) -> Result<Self> {
        db.ensure_table(cf)?;
        Ok(Self {
            db,
            cf: cf.to_string(),
            max_parallelism,
            cache: FxHashMap::default(),
            capacity: capacity.max(1),
            key_buf: Vec::with_capacity(64),
            error: None,
        })
    }

    fn encode_key(&mut self, k: &K) -> Result<()> {
        self.key_buf.clear();
        self.key_buf
            .extend_from_slice(&key_group_prefix(assign_to_key_group(
                k,
                self.max_parallelism,
            )));
        bincode::serialize_into(&mut self.key_buf, k)?;
        Ok(())
    }

    fn read(&mut self, k: &K) -> Result<Option<S>> {
        self.encode_key(k)?;
        let cf =
            self.db.db().cf_handle(&self.cf).ok_or_else(|| {
                Error::Checkpoint(format!("column family '{}' vanished", self.cf))
            })?;
        match self.db.db().get_pinned_cf(&cf, &self.key_buf) {
            Ok(Some(v)) => Ok(Some(bincode::deserialize(&v)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::Checkpoint(format!(
                "RocksDB get in '{}': {e}",
                self.cf
            ))),
        }
    }

    /// Makes room, then loads `k` into the cache if it is not there.
    fn load(&mut self, k: &K) {
        if self.cache.contains_key(k) {
            return;
        }
        if self.cache.len() >= self.capacity {
            self.note(|s| s.flush_and_clear());
        }
        let value = match self.read(k) {
            Ok(v) => v,
            Err(e) => {
                self.error.get_or_insert(e.to_string());
                None
            }
        };
        self.cache.insert(
            k.clone(),
            Slot {
                value,
                dirty: false,
            },
        );
    }

    fn note(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) {
        if let Err(e) = f(self) {
            self.error.get_or_insert(e.to_string());
        }
    }

    fn flush_and_clear(&mut self) -> Result<()> {
        self.write_dirty()?;
        self.cache.clear();
        Ok(())
    }

    /// Writes dirty entries in one batch and marks them clean.
    pub fn write_dirty(&mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(Error::Checkpoint(format!("state '{}': {e}", self.cf)));
        }
        let db = self.db.clone();
        let cf = db
            .db()
            .cf_handle(&self.cf)
            .ok_or_else(|| Error::Checkpoint(format!("column family '{}' vanished", self.cf)))?;
        let mut batch = WriteBatch::default();
        let mut key = Vec::with_capacity(64);
        let mut val = Vec::with_capacity(64);
        for (k, slot) in self.cache.iter_mut().filter(|(_, s)| s.dirty) {
            key.clear();
            key.extend_from_slice(&key_group_prefix(assign_to_key_group(
                k,
                self.max_parallelism,
            )));
            bincode::serialize_into(&mut key, k)?;
            match &slot.value {
                Some(v) => {
                    val.clear();
                    bincode::serialize_into(&mut val, v)?;
                    batch.put_cf(&cf, &key, &val);
                }
                None => batch.delete_cf(&cf, &key),
            }
            slot.dirty = false;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        db.db()
            .write_opt(batch, &wo)
            .map_err(|e| Error::Checkpoint(format!("RocksDB write to '{}': {e}", self.cf)))
    }
}

impl<K: Key, S: Data> KvStore<K, S> for RocksStore<K, S> {
    fn get(&mut self, k: &K) -> Option<&S> {
        self.load(k);
        self.cache.get(k).and_then(|s| s.value.as_ref())
    }

    fn get_mut(&mut self, k: &K) -> Option<&mut S> {
        self.load(k);
        let slot = self.cache.get_mut(k)?;
        if slot.value.is_some() {
            slot.dirty = true;
        }
        slot.value.as_mut()
    }

    fn insert(&mut self, k: K, s: S) {
        if !self.cache.contains_key(&k) && self.cache.len() >= self.capacity {
            self.note(|st| st.flush_and_clear());
        }
        self.cache.insert(
            k,
            Slot {
                value: Some(s),
                dirty: true,
            },
        );
    }

    fn remove(&mut self, k: &K) -> Option<S> {
        self.load(k);
        let slot = self.cache.get_mut(k)?;
        let old = slot.value.take();
        slot.dirty = true;
        old
    }

    fn len(&self) -> usize {
        // RocksDB only estimates; exact counts would need a full scan.
        let db = self.db.db();
        db.cf_handle(&self.cf)
            .and_then(|cf| {
                db.property_int_value_cf(&cf, "rocksdb.estimate-num-keys")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0) as usize
    }

    fn flush(&mut self) -> Result<()> {
        self.write_dirty()
    }

    fn snapshot(&self, _name: &str) -> Box<dyn TableSnapshot> {
        unreachable!("RocksDB tables are snapshotted by their backend, from a native checkpoint")
    }

    fn restore_chunk(&mut self, bytes: &[u8]) -> Result<()> {
        let entries: Vec<(K, S)> = bincode::deserialize(bytes)?;
        for (k, s) in entries {
            self.insert(k, s);
        }
        self.write_dirty()
    }
}
