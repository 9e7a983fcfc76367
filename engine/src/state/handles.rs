//! State types as a keyed function sees them: a descriptor registered once in
//! `open`, and an accessor scoped to the key of the record being processed.

use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::backend::TableId;
use crate::state::store::KvStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registered single-value state.
#[derive(Debug)]
pub struct ValueStateDesc<V>(pub(crate) TableId<V>);
impl<V> Clone for ValueStateDesc<V> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

/// Registered list state.
#[derive(Debug)]
pub struct ListStateDesc<V>(pub(crate) TableId<Vec<V>>);
impl<V> Clone for ListStateDesc<V> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

/// Registered map state (sorted by user key).
#[derive(Debug)]
pub struct MapStateDesc<UK, UV>(pub(crate) TableId<BTreeMap<UK, UV>>);
impl<UK, UV> Clone for MapStateDesc<UK, UV> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

/// Registered reducing state: values are folded with `reduce` as they are added.
pub struct ReducingStateDesc<V> {
    pub(crate) id: TableId<V>,
    pub(crate) reduce: Arc<dyn Fn(&V, V) -> V + Send + Sync>,
}
impl<V> Clone for ReducingStateDesc<V> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            reduce: self.reduce.clone(),
        }
    }
}

/// Incremental aggregation: an accumulator per key, as Flink's `AggregateFunction`.
pub trait AggregateFunction<I, A, O>: Send + Sync + 'static {
    /// A fresh accumulator.
    fn create(&self) -> A;
    /// Folds one input into the accumulator.
    fn add(&self, acc: &mut A, input: I);
    /// The result for an accumulator.
    fn result(&self, acc: &A) -> O;
    /// Folds `other` into `acc` (session windows merge when a record
    /// bridges them).
    fn merge(&self, acc: &mut A, other: A);
}

/// Registered aggregating state.
pub struct AggregatingStateDesc<I, A, O> {
    pub(crate) id: TableId<A>,
    pub(crate) agg: Arc<dyn AggregateFunction<I, A, O>>,
}
impl<I, A, O> Clone for AggregatingStateDesc<I, A, O> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            agg: self.agg.clone(),
        }
    }
}

// Every accessor returns the backend's error instead of "no state": a
// function passes it on with `?`, and the task fails (the restart strategy
// applies) before any record is processed against state it could not read.

/// Value state of the current key.
pub struct ValueState<'a, K, V> {
    pub(crate) store: &'a mut dyn KvStore<K, V>,
    pub(crate) key: &'a K,
}

impl<K: Key, V: Data> ValueState<'_, K, V> {
    /// The value, if set.
    pub fn get(&mut self) -> Result<Option<&V>> {
        self.store.get(self.key)
    }
    /// Mutable access to the value, if set.
    pub fn get_mut(&mut self) -> Result<Option<&mut V>> {
        self.store.get_mut(self.key)
    }
    /// Sets the value.
    pub fn set(&mut self, v: V) -> Result<()> {
        self.store.insert(self.key.clone(), v)
    }
    /// Removes the value.
    pub fn clear(&mut self) -> Result<()> {
        self.store.remove(self.key).map(drop)
    }
}

/// List state of the current key.
pub struct ListState<'a, K, V> {
    pub(crate) store: &'a mut dyn KvStore<K, Vec<V>>,
    pub(crate) key: &'a K,
}

impl<K: Key, V: Data> ListState<'_, K, V> {
    /// Appends a value.
    pub fn add(&mut self, v: V) -> Result<()> {
        match self.store.get_mut(self.key)? {
            Some(l) => {
                l.push(v);
                Ok(())
            }
            None => self.store.insert(self.key.clone(), vec![v]),
        }
    }
    /// The values (empty when unset).
    pub fn get(&mut self) -> Result<&[V]> {
        Ok(self.store.get(self.key)?.map(Vec::as_slice).unwrap_or(&[]))
    }
    /// Replaces the values.
    pub fn update(&mut self, v: Vec<V>) -> Result<()> {
        if v.is_empty() {
            self.clear()
        } else {
            self.store.insert(self.key.clone(), v)
        }
    }
    /// Removes all values.
    pub fn clear(&mut self) -> Result<()> {
        self.store.remove(self.key).map(drop)
    }
}

/// Map state of the current key.
pub struct MapState<'a, K, UK, UV> {
    pub(crate) store: &'a mut dyn KvStore<K, BTreeMap<UK, UV>>,
    pub(crate) key: &'a K,
}

impl<K: Key, UK: Data + Ord, UV: Data> MapState<'_, K, UK, UV> {
    /// The value under `uk`.
    pub fn get(&mut self, uk: &UK) -> Result<Option<&UV>> {
        Ok(self.store.get(self.key)?.and_then(|m| m.get(uk)))
    }
    /// Sets `uk` to `uv`.
    pub fn put(&mut self, uk: UK, uv: UV) -> Result<()> {
        match self.store.get_mut(self.key)? {
            Some(m) => {
                m.insert(uk, uv);
                Ok(())
            }
            None => self
                .store
                .insert(self.key.clone(), BTreeMap::from([(uk, uv)])),
        }
    }
    /// Mutable access to the value under `uk`, inserting `init()` when absent.
    pub fn entry(&mut self, uk: UK, init: impl FnOnce() -> UV) -> Result<&mut UV> {
        if self.store.get(self.key)?.is_none() {
            self.store.insert(self.key.clone(), BTreeMap::new())?;
        }
        let m = self.store.get_mut(self.key)?.ok_or_else(|| {
            Error::State("a map entry vanished between its insert and its read".into())
        })?;
        Ok(m.entry(uk).or_insert_with(init))
    }
    /// Removes `uk`; the key's state disappears with its last entry.
    pub fn remove(&mut self, uk: &UK) -> Result<Option<UV>> {
        let Some(m) = self.store.get_mut(self.key)? else {
            return Ok(None);
        };
        let v = m.remove(uk);
        if m.is_empty() {
            self.store.remove(self.key)?;
        }
        Ok(v)
    }
    /// All entries, in user-key order.
    pub fn entries(&mut self) -> Result<Vec<(UK, UV)>> {
        Ok(self
            .store
            .get(self.key)?
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }
    /// Whether the key has no entries.
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.store.get(self.key)?.is_none())
    }
}

/// Reducing state of the current key.
pub struct ReducingState<'a, K, V> {
    pub(crate) store: &'a mut dyn KvStore<K, V>,
    pub(crate) key: &'a K,
    pub(crate) reduce: &'a (dyn Fn(&V, V) -> V + Send + Sync),
}

impl<K: Key, V: Data> ReducingState<'_, K, V> {
    /// Folds `v` into the state.
    pub fn add(&mut self, v: V) -> Result<()> {
        match self.store.get_mut(self.key)? {
            Some(cur) => {
                *cur = (self.reduce)(cur, v);
                Ok(())
            }
            None => self.store.insert(self.key.clone(), v),
        }
    }
    /// The folded value.
    pub fn get(&mut self) -> Result<Option<&V>> {
        self.store.get(self.key)
    }
    /// Removes the value.
    pub fn clear(&mut self) -> Result<()> {
        self.store.remove(self.key).map(drop)
    }
}

/// Aggregating state of the current key.
pub struct AggregatingState<'a, K, I, A, O> {
    pub(crate) store: &'a mut dyn KvStore<K, A>,
    pub(crate) key: &'a K,
    pub(crate) agg: &'a dyn AggregateFunction<I, A, O>,
}

impl<K: Key, I: 'static, A: Data, O: 'static> AggregatingState<'_, K, I, A, O> {
    /// Adds one input.
    pub fn add(&mut self, input: I) -> Result<()> {
        if self.store.get(self.key)?.is_none() {
            self.store.insert(self.key.clone(), self.agg.create())?;
        }
        let acc = self.store.get_mut(self.key)?.ok_or_else(|| {
            Error::State("an accumulator vanished between its insert and its read".into())
        })?;
        self.agg.add(acc, input);
        Ok(())
    }
    /// The current result, if any input was added.
    pub fn get(&mut self) -> Result<Option<O>> {
        let agg = self.agg;
        Ok(self.store.get(self.key)?.map(|a| agg.result(a)))
    }
    /// Removes the accumulator.
    pub fn clear(&mut self) -> Result<()> {
        self.store.remove(self.key).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::KeyedOpenContext;
    use crate::state::key_group::KeyGroupRange;
    use crate::state::KeyedStateBackend;

    struct Sum;
    impl AggregateFunction<i64, (i64, i64), f64> for Sum {
        fn create(&self) -> (i64, i64) {
            (0, 0)
        }
        fn add(&self, acc: &mut (i64, i64), v: i64) {
            acc.0 += v;
            acc.1 += 1;
        }
        fn result(&self, acc: &(i64, i64)) -> f64 {
            acc.0 as f64 / acc.1 as f64
        }
        fn merge(&self, acc: &mut (i64, i64), o: (i64, i64)) {
            acc.0 += o.0;
            acc.1 += o.1;
        }
    }

    #[test]
    fn every_state_type_is_scoped_to_its_key() {
        let mut b = KeyedStateBackend::<String>::new(128, KeyGroupRange { start: 0, end: 127 });
        let v = KeyedOpenContext::new(&mut b)
            .value_state::<u64>("v")
            .unwrap();
        let l = KeyedOpenContext::new(&mut b)
            .list_state::<u32>("l")
            .unwrap();
        let m = KeyedOpenContext::new(&mut b)
            .map_state::<String, u32>("m")
            .unwrap();
        let r = KeyedOpenContext::new(&mut b)
            .reducing_state::<u64>("r", |a, b| a.max(&b).to_owned())
            .unwrap();
        let a = KeyedOpenContext::new(&mut b)
            .aggregating_state("a", Sum)
            .unwrap();
        assert!(
            KeyedOpenContext::new(&mut b)
                .value_state::<u64>("v")
                .is_err(),
            "a name registers once"
        );
        let (k1, k2) = ("alice".to_string(), "bob".to_string());
        for (k, n) in [(&k1, 3u32), (&k2, 1)] {
            for i in 0..n {
                ValueState {
                    store: b.store(v.0),
                    key: k,
                }
                .set(u64::from(i))
                .unwrap();
                ListState {
                    store: b.store(l.0),
                    key: k,
                }
                .add(i)
                .unwrap();
                MapState {
                    store: b.store(m.0),
                    key: k,
                }
                .put(format!("x{i}"), i)
                .unwrap();
                ReducingState {
                    store: b.store(r.id),
                    key: k,
                    reduce: r.reduce.as_ref(),
                }
                .add(u64::from(10 - i))
                .unwrap();
                AggregatingState {
                    store: b.store(a.id),
                    key: k,
                    agg: a.agg.as_ref(),
                }
                .add(i64::from(i))
                .unwrap();
            }
        }
        assert_eq!(
            ValueState {
                store: b.store(v.0),
                key: &k1
            }
            .get()
            .unwrap(),
            Some(&2)
        );
        assert_eq!(
            ListState {
                store: b.store(l.0),
                key: &k1
            }
            .get()
            .unwrap(),
            &[0, 1, 2]
        );
        assert_eq!(
            ListState {
                store: b.store(l.0),
                key: &k2
            }
            .get()
            .unwrap(),
            &[0]
        );
        let mut ms = MapState {
            store: b.store(m.0),
            key: &k1,
        };
        assert_eq!(ms.get(&"x1".to_string()).unwrap(), Some(&1));
        assert_eq!(ms.remove(&"x1".to_string()).unwrap(), Some(1));
        assert_eq!(ms.entries().unwrap().len(), 2);
        assert_eq!(
            ReducingState {
                store: b.store(r.id),
                key: &k1,
                reduce: r.reduce.as_ref()
            }
            .get()
            .unwrap(),
            Some(&10)
        );
        assert_eq!(
            AggregatingState {
                store: b.store(a.id),
                key: &k1,
                agg: a.agg.as_ref()
            }
            .get()
            .unwrap(),
            Some(1.0)
        );
        let mut vs = ValueState {
            store: b.store(v.0),
            key: &k2,
        };
        vs.clear().unwrap();
        assert_eq!(vs.get().unwrap(), None);
        let snaps = b.snapshot_tables();
        assert_eq!(snaps.len(), 5);
    }
}
