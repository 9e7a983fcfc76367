//! Timers in RocksDB (`state.backend.rocksdb.timer-service.factory: ROCKSDB`):
//! a column family `_timers` ordered by (domain, time), so the next due timer
//! is the first key of its domain and millions of timers cost no heap.
//!
//! Key: `[domain: 0 event | 1 processing][time as big-endian with the sign bit
//! flipped][key group: u16][bincode(key)]`; the value is empty. The key group
//! is inside the key, so a key-group range is a filter, not a prefix scan
//! (restoring at another parallelism scans the whole family).

use super::SharedDb;
use crate::data::Key;
use crate::error::{Error, Result};
use crate::state::key_group::{assign_to_key_group, KeyGroupRange};
use crate::state::state_file::{ChunkWriter, TableSnapshot};
use crate::state::timers::{TimeDomain, TIMER_TABLE};
use rocksdb::WriteOptions;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

fn domain_byte(d: TimeDomain) -> u8 {
    match d {
        TimeDomain::EventTime => 0,
        TimeDomain::ProcessingTime => 1,
    }
}

/// Encodes a timer key.
pub fn encode(d: TimeDomain, time: i64, kg: u32, key_bytes: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + key_bytes.len());
    k.push(domain_byte(d));
    k.extend_from_slice(&((time as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&(kg as u16).to_be_bytes());
    k.extend_from_slice(key_bytes);
    k
}

/// Decodes (domain, time, key group, key bytes).
pub fn decode(k: &[u8]) -> Option<(TimeDomain, i64, u32, &[u8])> {
    if k.len() < 11 {
        return None;
    }
    let d = if k[0] == 0 {
        TimeDomain::EventTime
    } else {
        TimeDomain::ProcessingTime
    };
    let t = (u64::from_be_bytes(k[1..9].try_into().ok()?) ^ (1 << 63)) as i64;
    let kg = u16::from_be_bytes([k[9], k[10]]) as u32;
    Some((d, t, kg, &k[11..]))
}

/// The timers of one subtask, in its RocksDB instance.
pub struct RocksTimers<K> {
    db: SharedDb,
    max_parallelism: u32,
    /// The earliest processing-time timer, recomputed after a change.
    next_processing: Cell<Option<Option<i64>>>,
    _p: PhantomData<fn(K)>,
}

impl<K: Key> RocksTimers<K> {
    /// Timers in `db`'s `_timers` family (created if missing).
    pub fn new(db: SharedDb, max_parallelism: u32) -> Result<Self> {
        db.ensure_table(TIMER_TABLE)?;
        Ok(Self {
            db,
            max_parallelism,
            next_processing: Cell::new(None),
            _p: PhantomData,
        })
    }

    fn key(&self, d: TimeDomain, time: i64, key: &K) -> Vec<u8> {
        let kb = bincode::serialize(key).expect("keys serialise");
        encode(d, time, assign_to_key_group(key, self.max_parallelism), &kb)
    }

    fn cf_missing() -> Error {
        Error::State(format!("the timer column family '{TIMER_TABLE}' vanished"))
    }

    fn write(
        &self,
        f: impl FnOnce(&mut rocksdb::WriteBatch, &std::sync::Arc<rocksdb::BoundColumnFamily<'_>>),
    ) -> Result<()> {
        let db = self.db.db();
        let cf = db.cf_handle(TIMER_TABLE).ok_or_else(Self::cf_missing)?;
        let mut b = rocksdb::WriteBatch::default();
        f(&mut b, &cf);
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        db.write_opt(b, &wo)
            .map_err(|e| Error::State(format!("writing a timer to RocksDB: {e}")))
    }

    /// Registers a timer (idempotent).
    pub fn register(&mut self, d: TimeDomain, time: i64, key: K) -> Result<()> {
        let k = self.key(d, time, &key);
        self.write(|b, cf| b.put_cf(cf, k, []))?;
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
        Ok(())
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, d: TimeDomain, time: i64, key: K) -> Result<()> {
        let k = self.key(d, time, &key);
        self.write(|b, cf| b.delete_cf(cf, k))?;
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
        Ok(())
    }

    /// The earliest timer of `d` and its time; an iterator error is returned,
    /// not read as "no timer".
    fn first(&self, d: TimeDomain) -> Result<Option<(Vec<u8>, i64)>> {
        let db = self.db.db();
        let cf = db.cf_handle(TIMER_TABLE).ok_or_else(Self::cf_missing)?;
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(vec![domain_byte(d) + 1]);
        let mut it = db.raw_iterator_cf_opt(&cf, ro);
        it.seek([domain_byte(d)]);
        it.status()
            .map_err(|e| Error::State(format!("reading timers from RocksDB: {e}")))?;
        let Some(k) = it.key() else { return Ok(None) };
        let k = k.to_vec();
        let (_, t, _, _) = decode(&k)
            .ok_or_else(|| Error::State("a timer's key in RocksDB is malformed".into()))?;
        Ok(Some((k, t)))
    }

    /// Removes and returns the earliest timer due at `now` in `domain`.
    pub fn pop_due(&mut self, d: TimeDomain, now: i64) -> Result<Option<(i64, K)>> {
        let Some((k, t)) = self.first(d)?.filter(|(_, t)| *t <= now) else {
            return Ok(None);
        };
        let raw = decode(&k)
            .ok_or_else(|| Error::State("a timer's key in RocksDB is malformed".into()))?
            .3;
        let key: K = bincode::deserialize(raw)?;
        self.write(|b, cf| b.delete_cf(cf, &k))?;
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
        Ok(Some((t, key)))
    }

    /// The earliest processing-time timer. A read error fails the next
    /// `pop_due`, which reads the same position; here it means "look now".
    pub fn next_processing_time(&self) -> Option<i64> {
        if let Some(v) = self.next_processing.get() {
            return v;
        }
        match self.first(TimeDomain::ProcessingTime) {
            Ok(first) => {
                let v = first.map(|(_, t)| t);
                self.next_processing.set(Some(v));
                v
            }
            Err(_) => Some(i64::MIN),
        }
    }

    /// Estimated number of timers (RocksDB's estimate).
    pub fn estimated_len(&self) -> usize {
        let db = self.db.db();
        db.cf_handle(TIMER_TABLE)
            .and_then(|cf| {
                db.property_int_value_cf(&cf, "rocksdb.estimate-num-keys")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0) as usize
    }
}

/// The timer family of a native checkpoint, written as canonical timer
/// chunks (`bincode(Vec<(K, (TimeDomain, i64))>)` per key group).
pub struct TimerTableSnapshot {
    /// The native checkpoint.
    pub reader: std::sync::Arc<super::native_checkpoint::CheckpointReader>,
}

impl TableSnapshot for TimerTableSnapshot {
    fn name(&self) -> &str {
        TIMER_TABLE
    }

    fn write(&self, _max_parallelism: u32, w: &mut ChunkWriter<'_, '_>) -> Result<()> {
        let mut groups: BTreeMap<u32, (u64, Vec<u8>)> = BTreeMap::new();
        self.reader.scan_all(TIMER_TABLE, &mut |k, _| {
            let (d, t, kg, key) =
                decode(k).ok_or_else(|| Error::Checkpoint("malformed timer key".into()))?;
            let g = groups.entry(kg).or_default();
            g.0 += 1;
            g.1.extend_from_slice(key);
            g.1.extend_from_slice(&(d as u32).to_le_bytes());
            g.1.extend_from_slice(&t.to_le_bytes());
            Ok(())
        })?;
        for (kg, (n, body)) in groups {
            let mut chunk = n.to_le_bytes().to_vec();
            chunk.extend_from_slice(&body);
            w.write_raw(kg, &chunk)?;
        }
        Ok(())
    }
}

/// Whether a stored timer key lies in `range`.
pub fn in_range(k: &[u8], range: KeyGroupRange) -> bool {
    decode(k).is_some_and(|(_, _, kg, _)| range.contains(kg))
}
