//! One state table in a RocksDB column family, behind [`KvStore`].
//!
//! Keyed functions borrow state (`get` returns `&S`), which RocksDB cannot
//! lend, so each table keeps a write-back cache of deserialised entries:
//! reads fill it, writes mark entries dirty, and dirty entries go to RocksDB
//! in one write batch (without WAL: checkpoints are the durability) when the
//! cache is full and before every snapshot. The cache is bounded in bytes
//! (serialised key and value sizes plus a per-entry overhead), so hot state
//! that fits is served at hash-map speed whatever the size of its values.
//!
//! When the cache is full it evicts in one sweep, with a second chance:
//! entries used again since they were loaded stay (their mark cleared),
//! entries used once go. Emptying the whole cache instead made every hot key
//! of a skewed stream a RocksDB lookup again after each sweep; a uniform
//! stream over a state far larger than the cache loses nothing by it.

use super::{key_group_prefix, SharedDb};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::assign_to_key_group;
use crate::state::state_file::TableSnapshot;
use crate::state::store::KvStore;
use rocksdb::{WriteBatch, WriteOptions};
use rustc_hash::FxHashMap;
use std::time::Instant;
use tidemark_agent::catalogue as cat;
use tidemark_agent::{Counter, Histogram};

/// Bytes a cached entry costs beyond its serialised key and value: the hash
/// map's slot, the `Option` and the dirty flag, roughly.
const ENTRY_OVERHEAD: usize = 48;

/// Largest write batch when dirty entries are written back, bytes.
const MAX_BATCH_BYTES: usize = 4 << 20;

struct Slot<S> {
    value: Option<S>,
    dirty: bool,
    /// Used again since it was loaded or since the last sweep.
    hot: bool,
    /// Loaded ahead of its first use by [`RocksStore::prefetch`]: that first
    /// use is not a second one.
    fresh: bool,
    /// Bytes counted for it in [`RocksStore::bytes`].
    size: u32,
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
    /// Lookups so far, to time one in [`cat::LOOKUP_SAMPLE`].
    lookups: u32,
    /// This table's lookup-latency histogram, once metrics are started.
    lookup_time: Option<Histogram>,
    /// The subtask's time in the state backend, once metrics are started.
    state_time: Option<Counter>,
    /// Reads and writes since the last prefetch, keys that missed the cache
    /// since then (in the prefetch or after it), and the size of the batch
    /// that prefetch was for: a table the function barely touches, or whose
    /// keys the cache already holds, is not prefetched, so that hot state
    /// pays no second hash lookup per record.
    accesses: usize,
    misses: usize,
    last_batch: usize,
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
            lookups: 0,
            lookup_time: None,
            state_time: None,
            accesses: 0,
            misses: 0,
            last_batch: 0,
        })
    }

    fn encode_key(&mut self, k: &K) -> Result<()> {
        self.key_buf.clear();
        encode_key(&mut self.key_buf, k, self.max_parallelism)
    }

    /// Records a lookup of `keys` keys that began at `start`, standing for
    /// `weight` such lookups (single ones are timed one in
    /// [`cat::LOOKUP_SAMPLE`]).
    fn observe_lookup(&mut self, start: Instant, keys: u32, weight: u32) {
        let ns = start.elapsed().as_nanos() as u64;
        if self.lookup_time.is_none() {
            self.lookup_time = self
                .db
                .lookup_metrics
                .get()
                .and_then(|m| m.histogram(&self.cf));
        }
        if let Some(h) = &self.lookup_time {
            h.observe(ns / u64::from(keys.max(1)));
        }
        self.add_state_time(ns * u64::from(weight));
    }

    /// Adds `ns` to the subtask's time in the state backend.
    fn add_state_time(&mut self, ns: u64) {
        if self.state_time.is_none() {
            self.state_time = self.db.lookup_metrics.get().and_then(|m| m.state_time());
        }
        if let Some(c) = &self.state_time {
            c.add(ns);
        }
    }

    /// Loads every key of `keys` that the cache lacks with one sorted
    /// multi-get, so that the records of a batch then find their state in
    /// the cache. RocksDB serves a sorted batch file by file, sharing index
    /// and filter probes and overlapping their memory stalls, where one
    /// lookup per record pays each alone.
    fn prefetch_keys(&mut self, keys: &[K]) -> Result<()> {
        // Worth it if the function used the table for at least half of the
        // last batch's records and at least 1 in 16 of them missed.
        let worth = 2 * self.accesses >= self.last_batch && 16 * self.misses >= self.last_batch;
        self.accesses = 0;
        self.misses = 0;
        self.last_batch = keys.len();
        if !worth {
            return Ok(());
        }
        // Encoded keys in one buffer: (start, end, index in `keys`).
        let mut buf = Vec::with_capacity(keys.len() * 16);
        let mut missing = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if !self.cache.contains_key(k) {
                let start = buf.len();
                encode_key(&mut buf, k, self.max_parallelism)?;
                missing.push((start, buf.len(), i));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
        missing.dedup_by(|a, b| buf[a.0..a.1] == buf[b.0..b.1]);
        self.misses += missing.len();
        if self.bytes >= self.capacity {
            self.evict()?;
        }
        // Its own handle: the values it returns borrow the database, not `self`.
        let db = self.db.clone();
        let cf = column_family(&db, &self.cf)?;
        let start = Instant::now();
        let got = db
            .db()
            .batched_multi_get_cf(&cf, missing.iter().map(|m| &buf[m.0..m.1]), true);
        self.lookups = self.lookups.wrapping_add(missing.len() as u32);
        self.observe_lookup(start, missing.len() as u32, 1);
        for (m, got) in missing.iter().zip(got) {
            let (value, size) = match got {
                Ok(Some(v)) => (Some(bincode::deserialize(&v)?), v.len()),
                Ok(None) => (None, 0),
                Err(e) => return Err(Error::State(format!("RocksDB read in '{}': {e}", self.cf))),
            };
            let size = ENTRY_OVERHEAD + (m.1 - m.0) + size;
            self.bytes += size;
            self.cache.insert(
                keys[m.2].clone(),
                Slot {
                    value,
                    dirty: false,
                    hot: false,
                    fresh: true,
                    size: size as u32,
                },
            );
        }
        Ok(())
    }

    /// Reads `k` from RocksDB; returns the value and its serialised size.
    fn read(&mut self, k: &K) -> Result<(Option<S>, usize)> {
        self.encode_key(k)?;
        self.lookups = self.lookups.wrapping_add(1);
        let timed = (self.lookups % cat::LOOKUP_SAMPLE == 0).then(Instant::now);
        let db = self.db.clone();
        let cf = column_family(&db, &self.cf)?;
        let got = db.db().get_pinned_cf(&cf, &self.key_buf);
        if let Some(start) = timed {
            self.observe_lookup(start, 1, cat::LOOKUP_SAMPLE);
        }
        match got {
            Ok(Some(v)) => Ok((Some(bincode::deserialize(&v)?), v.len())),
            Ok(None) => Ok((None, 0)),
            Err(e) => Err(Error::State(format!("RocksDB read in '{}': {e}", self.cf))),
        }
    }

    /// Makes room, then loads `k` into the cache if it is not there. A failed
    /// read or write-back is returned, never cached as "no state".
    fn load(&mut self, k: &K) -> Result<()> {
        self.accesses += 1;
        if let Some(slot) = self.cache.get_mut(k) {
            if slot.fresh {
                slot.fresh = false;
            } else {
                slot.hot = true;
            }
            return Ok(());
        }
        self.misses += 1;
        if self.bytes >= self.capacity {
            self.evict()?;
        }
        let (value, size) = self.read(k)?;
        let size = ENTRY_OVERHEAD + self.key_buf.len() + size;
        self.bytes += size;
        self.cache.insert(
            k.clone(),
            Slot {
                value,
                dirty: false,
                hot: false,
                fresh: false,
                size: size as u32,
            },
        );
        Ok(())
    }

    /// Writes every dirty entry back, then drops the entries not used again
    /// since the last sweep. If those that stay hold more than half the
    /// capacity, the hot set does not fit and everything goes, so that a
    /// sweep always frees room for many loads.
    fn evict(&mut self) -> Result<()> {
        let start = Instant::now();
        self.write_dirty()?;
        self.add_state_time(start.elapsed().as_nanos() as u64);
        let mut kept = 0usize;
        self.cache.retain(|_, slot| {
            let keep = std::mem::take(&mut slot.hot);
            if keep {
                kept += slot.size as usize;
            }
            keep
        });
        if kept > self.capacity / 2 {
            self.cache.clear();
            kept = 0;
        }
        self.bytes = kept;
        Ok(())
    }

    /// Writes dirty entries in key order, in bounded batches, and marks
    /// them clean. In key order because the memtable is a skip list:
    /// inserting sorted keys reuses each insert's search path, where the
    /// hash map's order made every insert search from the top.
    pub fn write_dirty(&mut self) -> Result<()> {
        // Encoded entries in one buffer: (key start, key end, value end,
        // whether it is a put rather than a delete).
        let mut buf = Vec::new();
        let mut entries = Vec::new();
        for (k, slot) in self.cache.iter_mut().filter(|(_, s)| s.dirty) {
            let start = buf.len();
            encode_key(&mut buf, k, self.max_parallelism)?;
            let key_end = buf.len();
            if let Some(v) = &slot.value {
                bincode::serialize_into(&mut buf, v)?;
            }
            entries.push((start, key_end, buf.len(), slot.value.is_some()));
            slot.dirty = false;
        }
        if entries.is_empty() {
            return Ok(());
        }
        entries.sort_unstable_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
        let cf = column_family(&self.db, &self.cf)?;
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        let write = |batch: WriteBatch| {
            self.db
                .db()
                .write_opt(batch, &wo)
                .map_err(|e| Error::State(format!("RocksDB write to '{}': {e}", self.cf)))
        };
        let mut batch = WriteBatch::default();
        for &(start, key_end, end, put) in &entries {
            if put {
                batch.put_cf(&cf, &buf[start..key_end], &buf[key_end..end]);
            } else {
                batch.delete_cf(&cf, &buf[start..key_end]);
            }
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

/// The handle of column family `name`; one dropped under a table is an error.
fn column_family<'a>(
    db: &'a SharedDb,
    name: &str,
) -> Result<std::sync::Arc<rocksdb::BoundColumnFamily<'a>>> {
    db.db()
        .cf_handle(name)
        .ok_or_else(|| Error::State(format!("column family '{name}' vanished")))
}

/// Appends the stored form of `k`: its key group's prefix, then its bytes.
fn encode_key<K: Key>(buf: &mut Vec<u8>, k: &K, max_parallelism: u32) -> Result<()> {
    buf.extend_from_slice(&key_group_prefix(assign_to_key_group(k, max_parallelism)));
    bincode::serialize_into(&mut *buf, k)?;
    Ok(())
}

impl<K: Key, S: Data> KvStore<K, S> for RocksStore<K, S> {
    fn get(&mut self, k: &K) -> Result<Option<&S>> {
        self.load(k)?;
        Ok(self.cache.get(k).and_then(|s| s.value.as_ref()))
    }

    fn get_mut(&mut self, k: &K) -> Result<Option<&mut S>> {
        self.load(k)?;
        let Some(slot) = self.cache.get_mut(k) else {
            return Ok(None);
        };
        if slot.value.is_some() {
            slot.dirty = true;
        }
        Ok(slot.value.as_mut())
    }

    fn insert(&mut self, k: K, s: S) -> Result<()> {
        let hot = match self.cache.get_mut(&k) {
            Some(slot) if slot.value.is_some() => {
                // An update in place, typically of the value just read: the
                // same use, so the mark stays. Sizes are not re-measured.
                slot.value = Some(s);
                slot.dirty = true;
                return Ok(());
            }
            Some(slot) => {
                // An absent or removed entry gets a value (typically right
                // after the read that found it missing, which already set its
                // mark): measure it again, keep the mark.
                self.bytes = self.bytes.saturating_sub(slot.size as usize);
                slot.hot
            }
            None => {
                self.accesses += 1;
                if self.bytes >= self.capacity {
                    self.evict()?;
                }
                false
            }
        };
        let size = ENTRY_OVERHEAD
            + 2
            + (bincode::serialized_size(&k)? + bincode::serialized_size(&s)?) as usize;
        self.bytes += size;
        self.cache.insert(
            k,
            Slot {
                value: Some(s),
                dirty: true,
                hot,
                fresh: false,
                size: size as u32,
            },
        );
        Ok(())
    }

    fn remove(&mut self, k: &K) -> Result<Option<S>> {
        self.load(k)?;
        let Some(slot) = self.cache.get_mut(k) else {
            return Ok(None);
        };
        let old = slot.value.take();
        slot.dirty = true;
        Ok(old)
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

    fn prefetch(&mut self, keys: &[K]) -> Result<()> {
        self.prefetch_keys(keys)
    }

    fn snapshot(&self, _name: &str) -> Box<dyn TableSnapshot> {
        unreachable!("RocksDB tables are snapshotted by their backend, from a native checkpoint")
    }

    fn restore_chunk(&mut self, bytes: &[u8]) -> Result<()> {
        let entries: Vec<(K, S)> = bincode::deserialize(bytes)?;
        for (k, s) in entries {
            self.insert(k, s)?;
        }
        self.write_dirty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::rocks::options::RocksShared;
    use crate::state::rocks::{DbHandle, RocksSettings};
    use std::sync::Arc;

    fn open(dir: &std::path::Path) -> SharedDb {
        Arc::new(
            DbHandle::open(
                dir.join("db"),
                &RocksSettings::default(),
                &RocksShared::default(),
                &[],
            )
            .unwrap(),
        )
    }

    /// A RocksDB read that fails (a data block whose checksum no longer
    /// matches) is an error: never "no state", never a wrong value, and not
    /// remembered as missing either.
    #[test]
    fn a_failed_read_is_an_error_not_missing_state() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let n = 2_000u64;
        {
            let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
            for k in 0..n {
                t.insert(k, k * 10).unwrap();
            }
            t.write_dirty().unwrap();
        }
        let cf = db.db().cf_handle("t").unwrap();
        db.db().flush_cf(&cf).unwrap();
        drop(cf);
        // Overwrite the first half of every table file in place: data blocks
        // come first, then filter, index and footer, which stay intact.
        let mut corrupted = 0;
        for e in std::fs::read_dir(db.dir()).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "sst") {
                let mut bytes = std::fs::read(e.path()).unwrap();
                let half = bytes.len() / 2;
                bytes[..half].fill(0xA5);
                use std::io::{Seek, Write};
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(e.path())
                    .unwrap();
                f.seek(std::io::SeekFrom::Start(0)).unwrap();
                f.write_all(&bytes).unwrap();
                f.sync_all().unwrap();
                corrupted += 1;
            }
        }
        assert!(corrupted > 0, "the flush wrote a table file");
        // A new table over the same family: an empty cache, every read goes to RocksDB.
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
        let mut failed = 0;
        for k in 0..n {
            match t.get(&k) {
                Ok(Some(v)) => assert_eq!(*v, k * 10, "key {k}"),
                Ok(None) => panic!("key {k} was written but reads as missing"),
                Err(e) => {
                    assert!(matches!(e, Error::State(_)), "{e}");
                    assert!(t.get(&k).is_err(), "key {k}: a failed read is not cached");
                    failed += 1;
                }
            }
        }
        assert!(failed > 0, "no read hit the corrupted blocks");
    }

    /// A key used again survives the sweeps that a stream of keys used once
    /// forces: it is read from RocksDB once, however many sweeps pass.
    #[test]
    fn a_hot_key_survives_sweeps_of_keys_used_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let n = 2_000u64;
        {
            let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
            for k in 0..n {
                t.insert(k, k).unwrap();
            }
            t.write_dirty().unwrap();
        }
        // Room for about 100 entries: the cold keys force about 19 sweeps.
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 100 * 70).unwrap();
        for k in 1..n {
            assert_eq!(t.get(&0).unwrap(), Some(&0));
            assert_eq!(t.get(&k).unwrap(), Some(&k));
        }
        assert!(t.bytes <= t.capacity + 70, "{} bytes", t.bytes);
        assert_eq!(
            t.lookups as u64, n,
            "every cold key once and the hot key once"
        );
    }

    /// A prefetch loads every missing key of a batch with one lookup each
    /// (duplicates once), the records then find their state in the cache,
    /// and a key used once after its prefetch is not taken for a hot one.
    #[test]
    fn a_prefetched_batch_is_served_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        {
            let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
            for k in 0..1_000u64 {
                t.insert(k, k + 7).unwrap();
            }
            t.write_dirty().unwrap();
        }
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
        // Keys 990..1010: 10 stored, 10 never written, 990 twice.
        let batch: Vec<u64> = (990..1_010).chain([990]).collect();
        t.prefetch(&batch).unwrap();
        assert_eq!(t.lookups, 20, "each distinct key looked up once");
        for k in &batch {
            let want = (*k < 1_000).then_some(k + 7);
            assert_eq!(t.get(k).unwrap().copied(), want, "key {k}");
        }
        assert_eq!(
            t.lookups, 20,
            "no record of the batch went to RocksDB again"
        );
        let hot: Vec<u64> = t
            .cache
            .iter()
            .filter(|(_, s)| s.hot)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(hot, vec![990], "only the key used twice is hot");
    }

    /// A batch whose keys all hit the cache turns the next prefetch off (no
    /// second hash per record for hot state); the misses that follow turn it
    /// back on.
    #[test]
    fn prefetch_follows_the_misses_of_the_last_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
        let cached: Vec<u64> = (0..64).collect();
        for k in &cached {
            t.insert(*k, *k).unwrap();
        }
        t.prefetch(&cached).unwrap();
        for k in &cached {
            assert_eq!(t.get(k).unwrap(), Some(k));
        }
        assert_eq!(t.lookups, 0);
        // No misses in the last batch: this prefetch looks nothing up.
        let new: Vec<u64> = (100..164).collect();
        t.prefetch(&new).unwrap();
        assert_eq!(
            t.lookups, 0,
            "prefetch skipped after a batch without misses"
        );
        for k in &new {
            assert_eq!(t.get(k).unwrap(), None);
        }
        assert_eq!(t.lookups, 64, "each new key looked up on its own");
        // That batch missed: the next one is prefetched whole.
        let more: Vec<u64> = (200..264).collect();
        t.prefetch(&more).unwrap();
        assert_eq!(t.lookups, 128);
        for k in &more {
            assert_eq!(t.get(k).unwrap(), None);
        }
        assert_eq!(t.lookups, 128, "served from the prefetch");
    }

    /// A prefetch that cannot read is an error, not missing state.
    #[test]
    fn a_failed_prefetch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1 << 20).unwrap();
        db.db().drop_cf("t").unwrap();
        let e = t.prefetch(&[1, 2, 3]).unwrap_err();
        assert!(matches!(&e, Error::State(m) if m.contains("'t'")), "{e}");
    }

    /// A write-back that cannot be written fails the access that caused it.
    #[test]
    fn a_failed_write_back_is_an_error_where_it_happens() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        // A cache of one byte: every new key writes the others back first.
        let mut t = RocksStore::<u64, u64>::new(db.clone(), "t", 128, 1).unwrap();
        t.insert(1, 10).unwrap();
        t.insert(2, 20).unwrap();
        db.db().drop_cf("t").unwrap();
        let e = t.insert(3, 30).unwrap_err();
        assert!(matches!(&e, Error::State(m) if m.contains("'t'")), "{e}");
        assert!(
            t.get(&4).is_err(),
            "a read through the same table fails too"
        );
    }
}
