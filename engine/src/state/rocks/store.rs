//! One state table in a RocksDB column family, behind [`KvStore`].
//!
//! Keyed functions borrow state (`get` returns `&S`), which RocksDB cannot
//! lend, so each table keeps a write-back cache of deserialised entries:
//! reads fill it, writes mark entries dirty, and dirty entries go to RocksDB
//! in one write batch (without WAL: checkpoints are the durability) when the
//! cache is full and before every snapshot. The cache is bounded in bytes
//! (serialised key and value sizes plus a per-entry overhead), so hot state
//! that fits is served at hash-map speed whatever the size of its values.

use super::{key_group_prefix, SharedDb};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::assign_to_key_group;
use crate::state::snapshot::TableSnapshot;
use crate::state::store::KvStore;
use rocksdb::{WriteBatch, WriteOptions};
use rustc_hash::FxHashMap;

/// Bytes a cached entry costs beyond its serialised key and value: the hash
/// map's slot, the `Option` and the dirty flag, roughly.
const ENTRY_OVERHEAD: usize = 48;

/// Largest write batch when dirty entries are written back, bytes.
const MAX_BATCH_BYTES: usize = 4 << 20;

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
    /// Budget of the cache, bytes.
    capacity: usize,
    /// Estimated bytes in the cache: sizes when entries were loaded or inserted
    /// (updates in place are not re-measured; values rarely change size much).
    bytes: usize,
    key_buf: Vec<u8>,
    /// The first write error, reported at the next snapshot (the KvStore
    /// accessors cannot return errors).
    error: Option<String>,
}

impl<K: Key, S: Data> RocksStore<K, S> {
    /// A table over column family `cf` (created if missing), with a cache of
    /// about `capacity` bytes.
    pub fn new(db: SharedDb, cf: &str, max_parallelism: u32, capacity: usize) -> Result<Self> {
        db.ensure_table(cf)?;
        Ok(Self {
            db,
            cf: cf.to_string(),
            max_parallelism,
            cache: FxHashMap::default(),
            capacity: capacity.max(1),
            bytes: 0,
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

    /// Reads `k` from RocksDB; returns the value and its serialised size.
    fn read(&mut self, k: &K) -> Result<(Option<S>, usize)> {
        self.encode_key(k)?;
        let cf =
            self.db.db().cf_handle(&self.cf).ok_or_else(|| {
                Error::Checkpoint(format!("column family '{}' vanished", self.cf))
            })?;
        match self.db.db().get_pinned_cf(&cf, &self.key_buf) {
            Ok(Some(v)) => Ok((Some(bincode::deserialize(&v)?), v.len())),
            Ok(None) => Ok((None, 0)),
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
        if self.bytes >= self.capacity {
            self.note(|s| s.flush_and_clear());
        }
        let value = match self.read(k) {
            Ok((v, size)) => {
                self.bytes += ENTRY_OVERHEAD + self.key_buf.len() + size;
                v
            }
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
        self.bytes = 0;
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
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        let write = |batch: WriteBatch| {
            db.db()
                .write_opt(batch, &wo)
                .map_err(|e| Error::Checkpoint(format!("RocksDB write to '{}': {e}", self.cf)))
        };
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
            // Bounded batches: a whole cache's worth in one would be a second copy of it.
            if batch.size_in_bytes() >= MAX_BATCH_BYTES {
                write(std::mem::take(&mut batch))?;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        write(batch)
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
        let fresh = match self.cache.get(&k) {
            None => true,
            Some(slot) => slot.value.is_none(),
        };
        if fresh {
            if !self.cache.contains_key(&k) && self.bytes >= self.capacity {
                self.note(|st| st.flush_and_clear());
            }
            let size = bincode::serialized_size(&k).unwrap_or(0)
                + bincode::serialized_size(&s).unwrap_or(0);
            self.bytes += ENTRY_OVERHEAD + 2 + size as usize;
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
