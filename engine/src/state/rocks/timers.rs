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
use crate::state::snapshot::{ChunkWriter, TableSnapshot};
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

    fn write(
        &self,
        f: impl FnOnce(&mut rocksdb::WriteBatch, &std::sync::Arc<rocksdb::BoundColumnFamily<'_>>),
    ) {
        let db = self.db.db();
        let Some(cf) = db.cf_handle(TIMER_TABLE) else {
            return;
        };
        let mut b = rocksdb::WriteBatch::default();
        f(&mut b, &cf);
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        if let Err(e) = db.write_opt(b, &wo) {
            log::error!("writing a timer to RocksDB failed: {e}");
        }
    }

    /// Registers a timer (idempotent).
    pub fn register(&mut self, d: TimeDomain, time: i64, key: K) {
        let k = self.key(d, time, &key);
        self.write(|b, cf| b.put_cf(cf, k, []));
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, d: TimeDomain, time: i64, key: K) {
        let k = self.key(d, time, &key);
        self.write(|b, cf| b.delete_cf(cf, k));
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
    }

    fn first(&self, d: TimeDomain) -> Option<(Vec<u8>, i64)> {
        let db = self.db.db();
        let cf = db.cf_handle(TIMER_TABLE)?;
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(vec![domain_byte(d) + 1]);
        let mut it = db.raw_iterator_cf_opt(&cf, ro);
        it.seek([domain_byte(d)]);
        let k = it.key()?.to_vec();
        let (_, t, _, _) = decode(&k)?;
        Some((k, t))
    }

    /// Removes and returns the earliest timer due at `now` in `domain`.
    pub fn pop_due(&mut self, d: TimeDomain, now: i64) -> Option<(i64, K)> {
        let (k, t) = self.first(d).filter(|(_, t)| *t <= now)?;
        let key: K = bincode::deserialize(decode(&k)?.3).ok()?;
        self.write(|b, cf| b.delete_cf(cf, &k));
        if d == TimeDomain::ProcessingTime {
            self.next_processing.set(None);
        }
        Some((t, key))
    }

    /// The earliest processing-time timer.
    pub fn next_processing_time(&self) -> Option<i64> {
        if let Some(v) = self.next_processing.get() {
            return v;
        }
        let v = self.first(TimeDomain::ProcessingTime).map(|(_, t)| t);
        self.next_processing.set(Some(v));
        v
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
    pub reader: std::sync::Arc<super::snapshot::CheckpointReader>,
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
