//! Metric handles and the families that own their series.
//!
//! A handle ([`Counter`], [`Gauge`]) is an `Arc` around one atomic: the engine
//! resolves it once when a task starts, keeps it, and adds to it once per batch.
//! No lookup, lock or allocation happens after registration. Encoders read a
//! consistent-enough [`Snapshot`] (each value is one atomic load).

use crate::catalogue::{MetricDef, MetricKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonic counter stored as an integer in the unit of its definition's `scale`.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n` stored units (records, nanoseconds, bytes).
    #[inline]
    pub fn add(&self, n: u64) {
        if n != 0 {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }
    /// Current stored value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A gauge stored as an `i64` in the unit of its definition's `scale`.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<std::sync::atomic::AtomicI64>);

impl Gauge {
    /// Replaces the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current stored value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Debug)]
enum Cell {
    Counter(Counter),
    Gauge(Gauge),
}

impl Cell {
    fn value(&self, scale: f64) -> f64 {
        match self {
            Cell::Counter(c) => c.get() as f64 * scale,
            Cell::Gauge(g) => {
                let v = g.get();
                // -1 is the catalogue's "not yet" marker and stays -1 whatever the scale.
                if v == -1 {
                    -1.0
                } else {
                    v as f64 * scale
                }
            }
        }
    }
}

type Series = BTreeMap<Vec<String>, Cell>;

/// All families of one process. Cheap to clone (shared).
#[derive(Clone, Default, Debug)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<&'static str, (&'static MetricDef, Series)>>>,
}

/// Why a registration was refused: a programming error in the engine, reported
/// with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The label values do not match the definition's label names.
    #[error("metric {name}: expected {expected} label values ({labels}), got {got}")]
    LabelCount {
        /// Family name.
        name: &'static str,
        /// Number of label names in the catalogue.
        expected: usize,
        /// The names.
        labels: String,
        /// Number of values given.
        got: usize,
    },
    /// A counter was asked for as a gauge or the reverse.
    #[error("metric {name} is a {actual}, not a {asked}")]
    Kind {
        /// Family name.
        name: &'static str,
        /// Catalogued type.
        actual: &'static str,
        /// Requested type.
        asked: &'static str,
    },
}

impl Registry {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(
        &self,
        def: &'static MetricDef,
        values: &[&str],
        kind: MetricKind,
    ) -> Result<Cell, RegistryError> {
        if values.len() != def.labels.len() {
            return Err(RegistryError::LabelCount {
                name: def.name,
                expected: def.labels.len(),
                labels: def.labels.join(","),
                got: values.len(),
            });
        }
        if def.kind != kind {
            return Err(RegistryError::Kind {
                name: def.name,
                actual: def.kind.as_str(),
                asked: kind.as_str(),
            });
        }
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let (_, series) = fams
            .entry(def.name)
            .or_insert_with(|| (def, BTreeMap::new()));
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Ok(series
            .entry(key)
            .or_insert_with(|| match kind {
                MetricKind::Counter => Cell::Counter(Counter::default()),
                MetricKind::Gauge => {
                    let g = Gauge::default();
                    g.set(-1);
                    Cell::Gauge(g)
                }
            })
            .clone())
    }

    /// The counter for `def` with these label values (created at 0 on first use).
    pub fn counter(
        &self,
        def: &'static MetricDef,
        values: &[&str],
    ) -> Result<Counter, RegistryError> {
        match self.cell(def, values, MetricKind::Counter)? {
            Cell::Counter(c) => Ok(c),
            Cell::Gauge(_) => unreachable!("kind checked"),
        }
    }

    /// The gauge for `def` with these label values (created at -1, "not yet").
    pub fn gauge(&self, def: &'static MetricDef, values: &[&str]) -> Result<Gauge, RegistryError> {
        match self.cell(def, values, MetricKind::Gauge)? {
            Cell::Gauge(g) => Ok(g),
            Cell::Counter(_) => unreachable!("kind checked"),
        }
    }

    /// Removes every series whose label `label` equals `value` (a finished job).
    pub fn remove_series(&self, label: &str, value: &str) {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        for (def, series) in fams.values_mut() {
            if let Some(i) = def.labels.iter().position(|l| *l == label) {
                series.retain(|k, _| k[i] != value);
            }
        }
    }

    /// A point-in-time copy of every family, for encoders.
    pub fn snapshot(&self) -> Vec<FamilySnapshot> {
        let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        fams.values()
            .map(|(def, series)| FamilySnapshot {
                def,
                series: series
                    .iter()
                    .map(|(k, c)| (k.clone(), c.value(def.scale)))
                    .collect(),
            })
            .collect()
    }
}

/// One family's series at one instant.
#[derive(Debug)]
pub struct FamilySnapshot {
    /// Its definition.
    pub def: &'static MetricDef,
    /// Label values (in `def.labels` order) and the exposed value.
    pub series: Vec<(Vec<String>, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_LAST_DURATION, TASK_BUSY, TASK_RECORDS_IN};

    #[test]
    fn handles_share_one_series_and_scale_on_read() {
        let r = Registry::new();
        let a = r.counter(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).unwrap();
        let b = r.counter(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).unwrap();
        a.add(3);
        b.add(4);
        let busy = r.counter(&TASK_BUSY, &["j", "id", "v", "0"]).unwrap();
        busy.add(1_500_000_000);
        let snap = r.snapshot();
        let find = |n: &str| snap.iter().find(|f| f.def.name == n).unwrap().series[0].1;
        assert_eq!(find("tidemark_task_records_in_total"), 7.0);
        assert_eq!(find("tidemark_task_busy_seconds_total"), 1.5);
    }

    #[test]
    fn wrong_label_count_and_kind_are_refused() {
        let r = Registry::new();
        assert!(r.counter(&TASK_RECORDS_IN, &["only-one"]).is_err());
        assert!(r.gauge(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).is_err());
        let g = r.gauge(&CHECKPOINT_LAST_DURATION, &["j", "id"]).unwrap();
        assert_eq!(g.get(), -1);
    }

    #[test]
    fn removing_a_job_drops_only_its_series() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["a", "1", "v", "0"]).unwrap();
        r.counter(&TASK_RECORDS_IN, &["b", "2", "v", "0"]).unwrap();
        r.remove_series("job_id", "1");
        let snap = r.snapshot();
        assert_eq!(snap[0].series.len(), 1);
        assert_eq!(snap[0].series[0].0[1], "2");
    }
}
