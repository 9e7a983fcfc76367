//! Metric handles and the families that own their series.
//!
//! A handle ([`Counter`], [`Gauge`], [`Histogram`]) is an `Arc` around atomics:
//! the engine resolves it once when a task starts, keeps it, and updates it once
//! per batch (or per checkpoint). No lookup, lock or allocation happens after
//! registration. Encoders read a [`FamilySnapshot`] list.
//!
//! Cardinality is bounded three ways: the [`Level`] drops labels finer than it
//! (so subtasks of a vertex share one series), each family holds at most
//! `series_limit` series (registrations beyond it get a detached handle and
//! count in `tidemark_metrics_series_dropped_total`), and the series of a
//! finished job are retired: kept until every consumer (scrape endpoint,
//! push exporter) has read them once more, then removed, so a consumer never
//! sees a live counter vanish and come back (which Prometheus reads as a reset).

use crate::catalogue::{self, Merge, MetricDef, MetricKind};
use crate::labels::Level;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Sets the total from a cumulative source (the kernel's CPU time, a NIC's
    /// byte count); never lower than before, so the counter stays monotonic.
    pub fn set_total(&self, v: u64) {
        self.0.fetch_max(v, Ordering::Relaxed);
    }
}

/// A gauge stored as an `i64` in the unit of its definition's `scale`.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

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

#[derive(Debug)]
struct HistogramInner {
    /// Upper bounds in stored units (exposed bound / scale).
    bounds: Vec<u64>,
    /// Observations per bucket (not cumulative); the last is +Inf.
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
}

/// A histogram with fixed buckets (a real Prometheus histogram, aggregatable
/// across series). Observations are in the stored unit (e.g. nanoseconds).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramInner>);

impl Histogram {
    fn new(def: &MetricDef) -> Self {
        let bounds = def
            .buckets
            .iter()
            .map(|b| (b / def.scale).round() as u64)
            .collect::<Vec<_>>();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self(Arc::new(HistogramInner {
            bounds,
            counts,
            sum: AtomicU64::new(0),
        }))
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: u64) {
        let i = self.0.bounds.partition_point(|b| *b < v);
        self.0.counts[i].fetch_add(1, Ordering::Relaxed);
        self.0.sum.fetch_add(v, Ordering::Relaxed);
    }
}

/// An exposed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter, scaled.
    Counter(f64),
    /// A gauge, scaled (-1 stays -1: "not yet").
    Gauge(f64),
    /// Cumulative buckets `(le, count)` ending with `+Inf`, the scaled sum and the count.
    Histogram {
        /// `(upper bound, cumulative count)`.
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

#[derive(Clone, Debug)]
enum Cell {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

impl Cell {
    fn value(&self, def: &MetricDef) -> Value {
        match self {
            Cell::Counter(c) => Value::Counter(c.get() as f64 * def.scale),
            Cell::Gauge(g) => {
                let v = g.get();
                Value::Gauge(if v == -1 { -1.0 } else { v as f64 * def.scale })
            }
            Cell::Histogram(h) => {
                let mut cum = 0;
                let mut buckets = Vec::with_capacity(def.buckets.len() + 1);
                for (i, c) in h.0.counts.iter().enumerate() {
                    cum += c.load(Ordering::Relaxed);
                    buckets.push((def.buckets.get(i).copied().unwrap_or(f64::INFINITY), cum));
                }
                Value::Histogram {
                    buckets,
                    sum: h.0.sum.load(Ordering::Relaxed) as f64 * def.scale,
                    count: cum,
                }
            }
        }
    }
}

#[derive(Debug)]
struct SeriesEntry {
    cell: Cell,
    /// A gauge whose family drops labels at this level: one gauge per writer
    /// (by its full label values), combined at read by the definition's
    /// [`Merge`]. A shared cell would show whichever writer came last.
    members: BTreeMap<Vec<String>, Gauge>,
    /// Set when retired: bit i = consumer i has read it since.
    retired_seen: Option<u64>,
}

impl SeriesEntry {
    fn value(&self, def: &MetricDef) -> Value {
        if self.members.is_empty() {
            return self.cell.value(def);
        }
        // -1 is "not yet": a member that has not written does not count.
        let written = self.members.values().map(Gauge::get).filter(|v| *v != -1);
        let merged = match def.merge {
            Merge::Sum => written.reduce(|a, b| a.saturating_add(b)),
            Merge::Min => written.min(),
            Merge::Max => written.max(),
        };
        Value::Gauge(merged.map_or(-1.0, |v| v as f64 * def.scale))
    }
}

#[derive(Debug)]
struct Family {
    def: &'static MetricDef,
    /// The label names kept at the registry's level, and their positions in `def.labels`.
    kept: Vec<(usize, &'static str)>,
    series: BTreeMap<Vec<String>, SeriesEntry>,
    dropped: Counter,
}

#[derive(Debug)]
struct Inner {
    families: BTreeMap<&'static str, Family>,
    /// The live consumers' ids, one bit each.
    consumers: u64,
}

/// Settings of a registry.
#[derive(Debug, Clone, Copy)]
pub struct RegistryOptions {
    /// Which labels exist (`metrics.level`).
    pub level: Level,
    /// Series per family before new ones are dropped (`metrics.series-limit`).
    pub series_limit: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            level: Level::Subtask,
            series_limit: 10_000,
        }
    }
}

/// All families of one process. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
    opts: RegistryOptions,
    /// Labels every exported series carries after its own (the Flink
    /// agent's `cluster`): the catalogue's label sets stay those of a job.
    constant: Arc<Vec<(&'static str, String)>>,
    /// A view's label and value (see [`Registry::view`]).
    filter: Option<Arc<(&'static str, String)>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_options(RegistryOptions::default())
    }
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
    /// A metric was asked for as another type.
    #[error("metric {name} is a {actual}, not a {asked}")]
    Kind {
        /// Family name.
        name: &'static str,
        /// Catalogued type.
        actual: &'static str,
        /// Requested type.
        asked: &'static str,
    },
    /// The registry's own families, which it computes at every snapshot.
    #[error("metric {name} is the registry's own: it is computed, never written")]
    SelfMetric {
        /// Family name.
        name: &'static str,
    },
}

/// Identifies a reader of the registry for series retirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerId(u32);

impl Registry {
    /// A new, empty registry at subtask level.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty registry with these options.
    pub fn with_options(opts: RegistryOptions) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                families: BTreeMap::new(),
                consumers: 0,
            })),
            opts,
            constant: Arc::default(),
            filter: None,
        }
    }

    /// This registry with `name="value"` added to every series it exports
    /// (its own families' included), after the series' own labels.
    pub fn with_constant_label(mut self, name: &'static str, value: &str) -> Self {
        let mut c = (*self.constant).clone();
        c.push((name, value.to_string()));
        self.constant = Arc::new(c);
        self
    }

    /// The options.
    pub fn options(&self) -> RegistryOptions {
        self.opts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a reader whose reads count for retirement (64 at once; a
    /// released id is given again).
    pub fn register_consumer(&self) -> ConsumerId {
        let mut g = self.lock();
        let id = (!g.consumers).trailing_zeros().min(63);
        g.consumers |= 1 << id;
        ConsumerId(id)
    }

    /// A reader that will not read again (a stopped exporter): retired
    /// series no longer wait for it.
    pub fn release_consumer(&self, consumer: ConsumerId) {
        self.lock().consumers &= !(1u64 << consumer.0);
    }

    /// The same registry, its snapshots holding only the series whose label
    /// `label` is `value` (one Flink job's, for its own Pushgateway group):
    /// families without that label, the registry's own included, are left
    /// out. Registrations and retirement are shared.
    pub fn view(&self, label: &'static str, value: &str) -> Registry {
        Registry {
            filter: Some(Arc::new((label, value.to_string()))),
            ..self.clone()
        }
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
        // A written series of these would be a second family of the same
        // name beside the computed one: an exposition no parser accepts.
        if [
            &catalogue::METRICS_SERIES,
            &catalogue::METRICS_SERIES_DROPPED,
        ]
        .iter()
        .any(|own| own.name == def.name)
        {
            return Err(RegistryError::SelfMetric { name: def.name });
        }
        if def.kind != kind {
            return Err(RegistryError::Kind {
                name: def.name,
                actual: def.kind.as_str(),
                asked: kind.as_str(),
            });
        }
        let level = self.opts.level;
        let limit = self.opts.series_limit;
        let mut g = self.lock();
        let fam = g.families.entry(def.name).or_insert_with(|| Family {
            def,
            kept: def
                .labels
                .iter()
                .enumerate()
                .filter(|(_, l)| crate::labels::level_of(l) <= level)
                .map(|(i, l)| (i, *l))
                .collect(),
            series: BTreeMap::new(),
            dropped: Counter::default(),
        });
        let key: Vec<String> = fam
            .kept
            .iter()
            .map(|(i, _)| values[*i].to_string())
            .collect();
        let new_gauge = || {
            let g = Gauge::default();
            g.set(-1);
            g
        };
        let new_cell = || match kind {
            MetricKind::Counter => Cell::Counter(Counter::default()),
            MetricKind::Gauge => Cell::Gauge(new_gauge()),
            MetricKind::Histogram => Cell::Histogram(Histogram::new(def)),
        };
        // Several writers may share this series: gauges keep one member each.
        let merged_gauge = kind == MetricKind::Gauge && fam.kept.len() < def.labels.len();
        let full = || values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        if let Some(e) = fam.series.get_mut(&key) {
            e.retired_seen = None; // registered again: alive
            if merged_gauge {
                return Ok(Cell::Gauge(
                    e.members.entry(full()).or_insert_with(new_gauge).clone(),
                ));
            }
            return Ok(e.cell.clone());
        }
        if fam.series.len() >= limit {
            fam.dropped.add(1);
            return Ok(new_cell()); // detached: counted, never exported
        }
        let cell = new_cell();
        let mut members = BTreeMap::new();
        if let (true, Cell::Gauge(g)) = (merged_gauge, &cell) {
            members.insert(full(), g.clone());
        }
        fam.series.insert(
            key,
            SeriesEntry {
                cell: cell.clone(),
                members,
                retired_seen: None,
            },
        );
        Ok(cell)
    }

    /// The counter for `def` with these label values (created at 0 on first use).
    pub fn counter(
        &self,
        def: &'static MetricDef,
        values: &[&str],
    ) -> Result<Counter, RegistryError> {
        match self.cell(def, values, MetricKind::Counter)? {
            Cell::Counter(c) => Ok(c),
            _ => unreachable!("kind checked"),
        }
    }

    /// The gauge for `def` with these label values (created at -1, "not yet").
    pub fn gauge(&self, def: &'static MetricDef, values: &[&str]) -> Result<Gauge, RegistryError> {
        match self.cell(def, values, MetricKind::Gauge)? {
            Cell::Gauge(g) => Ok(g),
            _ => unreachable!("kind checked"),
        }
    }

    /// The histogram for `def` with these label values.
    pub fn histogram(
        &self,
        def: &'static MetricDef,
        values: &[&str],
    ) -> Result<Histogram, RegistryError> {
        match self.cell(def, values, MetricKind::Histogram)? {
            Cell::Histogram(h) => Ok(h),
            _ => unreachable!("kind checked"),
        }
    }

    /// Retires every series whose label `label` equals `value` (a finished
    /// job): each consumer reads it once more, then it is removed. With no
    /// consumers it is removed at once.
    pub fn retire_series(&self, label: &str, value: &str) {
        let mut g = self.lock();
        let none = g.consumers == 0;
        for fam in g.families.values_mut() {
            if let Some(pos) = fam.kept.iter().position(|(_, l)| *l == label) {
                if none {
                    fam.series.retain(|k, _| k[pos] != value);
                } else {
                    for (k, e) in fam.series.iter_mut() {
                        if k[pos] == value && e.retired_seen.is_none() {
                            e.retired_seen = Some(0);
                        }
                    }
                }
            }
        }
    }

    /// Number of exported series (all families).
    pub fn series_count(&self) -> usize {
        self.lock().families.values().map(|f| f.series.len()).sum()
    }

    /// One family's series now (label values in the family's kept-label
    /// order), without copying the others: what a status query reads.
    pub fn series_of(&self, def: &MetricDef) -> Vec<(Vec<String>, Value)> {
        let g = self.lock();
        g.families
            .get(def.name)
            .map(|fam| {
                fam.series
                    .iter()
                    .map(|(k, e)| (k.clone(), e.value(fam.def)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A snapshot without marking retirement reads (tests, status).
    pub fn snapshot(&self) -> Vec<FamilySnapshot> {
        self.snapshot_inner(None)
    }

    /// A snapshot for `consumer`, counting as its read of retired series.
    pub fn snapshot_for(&self, consumer: ConsumerId) -> Vec<FamilySnapshot> {
        self.snapshot_inner(Some(consumer))
    }

    fn snapshot_inner(&self, consumer: Option<ConsumerId>) -> Vec<FamilySnapshot> {
        let mut g = self.lock();
        let all_seen = g.consumers;
        let mut out = Vec::with_capacity(g.families.len() + 2);
        let mut total = 0usize;
        let mut dropped = Vec::new();
        for fam in g.families.values_mut() {
            // A view's label, where this family has it.
            let only = match &self.filter {
                None => None,
                Some(f) => match fam.kept.iter().position(|(_, l)| *l == f.0) {
                    Some(pos) => Some((pos, f.1.as_str())),
                    None => Some((usize::MAX, "")),
                },
            };
            let series = fam
                .series
                .iter()
                .filter(|(k, _)| {
                    only.is_none_or(|(pos, v)| k.get(pos).map(String::as_str) == Some(v))
                })
                .map(|(k, e)| (k.clone(), e.value(fam.def)))
                .collect::<Vec<_>>();
            total += series.len();
            if fam.dropped.get() > 0 {
                dropped.push((fam.def.name.to_string(), fam.dropped.get()));
            }
            if only.is_none_or(|(pos, _)| pos != usize::MAX) {
                out.push(FamilySnapshot {
                    def: fam.def,
                    labels: fam.kept.iter().map(|(_, l)| *l).collect(),
                    series,
                });
            }
            // A view's reader has read all it ever will of the series
            // outside it too.
            if let Some(ConsumerId(c)) = consumer {
                fam.series.retain(|_, e| match &mut e.retired_seen {
                    None => true,
                    Some(seen) => {
                        *seen |= 1 << c;
                        *seen & all_seen != all_seen
                    }
                });
            }
        }
        // Self-metrics: how many series, and how many were refused by the
        // limit (the whole registry's: not in a view).
        if self.filter.is_none() {
            out.push(FamilySnapshot {
                def: &catalogue::METRICS_SERIES,
                labels: vec![],
                series: vec![(vec![], Value::Gauge(total as f64))],
            });
            out.push(FamilySnapshot {
                def: &catalogue::METRICS_SERIES_DROPPED,
                labels: vec![crate::labels::FAMILY],
                series: dropped
                    .into_iter()
                    .map(|(f, n)| (vec![f], Value::Counter(n as f64)))
                    .collect(),
            });
        }
        out.sort_by_key(|f| f.def.name);
        for fam in &mut out {
            for (name, value) in self.constant.iter() {
                fam.labels.push(name);
                for (values, _) in &mut fam.series {
                    values.push(value.clone());
                }
            }
        }
        out
    }
}

/// One family's series at one instant.
#[derive(Debug, Clone)]
pub struct FamilySnapshot {
    /// Its definition.
    pub def: &'static MetricDef,
    /// The label names present (the definition's, less those above the level).
    pub labels: Vec<&'static str>,
    /// Label values (in `labels` order) and the value.
    pub series: Vec<(Vec<String>, Value)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{
        CHECKPOINT_DURATION, CHECKPOINT_LAST_DURATION, TASK_BUSY, TASK_RECORDS_IN,
    };

    fn find<'a>(s: &'a [FamilySnapshot], n: &str) -> &'a FamilySnapshot {
        s.iter().find(|f| f.def.name == n).unwrap()
    }

    /// Found by the exposition fuzz target: a written `tidemark_metrics_series`
    /// made a second family of that name, which OpenMetrics parsers refuse.
    #[test]
    fn the_registry_s_own_families_cannot_be_written() {
        let r = Registry::new();
        let err = r.gauge(&catalogue::METRICS_SERIES, &[]).unwrap_err();
        assert!(matches!(err, RegistryError::SelfMetric { .. }), "{err}");
        let err = r
            .counter(&catalogue::METRICS_SERIES_DROPPED, &["f"])
            .unwrap_err();
        assert!(matches!(err, RegistryError::SelfMetric { .. }), "{err}");
        let snap = r.snapshot();
        assert_eq!(
            snap.iter()
                .filter(|f| f.def.name == catalogue::METRICS_SERIES.name)
                .count(),
            1
        );
    }

    #[test]
    fn handles_share_one_series_and_scale_on_read() {
        let r = Registry::new();
        let a = r.counter(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).unwrap();
        let b = r.counter(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).unwrap();
        a.add(3);
        b.add(4);
        r.counter(&TASK_BUSY, &["j", "id", "v", "0"])
            .unwrap()
            .add(1_500_000_000);
        let snap = r.snapshot();
        assert_eq!(
            find(&snap, "tidemark_task_records_in_total").series[0].1,
            Value::Counter(7.0)
        );
        assert_eq!(
            find(&snap, "tidemark_task_busy_seconds_total").series[0].1,
            Value::Counter(1.5)
        );
        assert_eq!(
            find(&snap, "tidemark_metrics_series").series[0].1,
            Value::Gauge(2.0)
        );
    }

    #[test]
    fn wrong_label_count_and_kind_are_refused() {
        let r = Registry::new();
        assert!(r.counter(&TASK_RECORDS_IN, &["only-one"]).is_err());
        assert!(r.gauge(&TASK_RECORDS_IN, &["j", "id", "v", "0"]).is_err());
        assert_eq!(
            r.gauge(&CHECKPOINT_LAST_DURATION, &["j", "id"])
                .unwrap()
                .get(),
            -1
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let r = Registry::new();
        let h = r
            .histogram(&CHECKPOINT_DURATION, &["j", "id", "v"])
            .unwrap();
        h.observe(5_000_000); // 5 ms
        h.observe(2_000_000_000); // 2 s
        h.observe(u64::MAX / 4); // beyond every bucket
        let snap = r.snapshot();
        let Value::Histogram {
            buckets,
            sum,
            count,
        } = &find(&snap, CHECKPOINT_DURATION.name).series[0].1
        else {
            panic!("a histogram")
        };
        assert_eq!(*count, 3);
        assert!(*sum > 2.0);
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 3));
        let le = |b: f64| buckets.iter().find(|(x, _)| *x == b).unwrap().1;
        assert_eq!(le(0.01), 1);
        assert_eq!(le(2.5), 2);
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
    }

    #[test]
    fn merged_gauges_combine_as_their_definition_says_not_by_last_writer() {
        use crate::catalogue::{ROCKS_NUM_KEYS, TASK_INPUT_QUEUE_USAGE, TASK_INPUT_WATERMARK};
        let r = Registry::with_options(RegistryOptions {
            level: Level::Vertex,
            series_limit: 100,
        });
        let gauge = |def, sub: &str, v: i64| {
            let g = r.gauge(def, &["j", "id", "map", sub]).unwrap();
            g.set(v);
            g
        };
        // Written in an order where the last writer is neither min, max nor sum.
        let _w = [
            gauge(&TASK_INPUT_WATERMARK, "0", 5_000),
            gauge(&TASK_INPUT_WATERMARK, "1", 2_000),
            gauge(&TASK_INPUT_WATERMARK, "2", 9_000),
            gauge(&TASK_INPUT_WATERMARK, "3", 3_000),
        ];
        for (sub, v) in [("0", 100), ("1", 900), ("2", 300)] {
            gauge(&TASK_INPUT_QUEUE_USAGE, sub, v);
        }
        // A subtask that has not written yet (-1) does not count.
        r.gauge(&TASK_INPUT_QUEUE_USAGE, &["j", "id", "map", "3"])
            .unwrap();
        let keys = |sub: &str, v: i64| {
            r.gauge(&ROCKS_NUM_KEYS, &["j", "id", "map", sub, "count"])
                .unwrap()
                .set(v)
        };
        keys("0", 10);
        keys("1", 20);
        keys("0", 15); // the same writer again replaces its own value
        let snap = r.snapshot();
        let one = |name: &str| match &find(&snap, name).series[..] {
            [(_, Value::Gauge(v))] => *v,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            one(TASK_INPUT_WATERMARK.name),
            2_000.0 * TASK_INPUT_WATERMARK.scale
        );
        assert_eq!(
            one(TASK_INPUT_QUEUE_USAGE.name),
            900.0 * TASK_INPUT_QUEUE_USAGE.scale
        );
        assert_eq!(one(ROCKS_NUM_KEYS.name), 35.0);
        // At subtask level nothing merges: each subtask keeps its own series.
        let r = Registry::new();
        r.gauge(&TASK_INPUT_WATERMARK, &["j", "id", "map", "0"])
            .unwrap()
            .set(1);
        r.gauge(&TASK_INPUT_WATERMARK, &["j", "id", "map", "1"])
            .unwrap()
            .set(2);
        assert_eq!(
            find(&r.snapshot(), TASK_INPUT_WATERMARK.name).series.len(),
            2
        );
    }

    #[test]
    fn vertex_level_merges_subtasks_and_the_limit_drops_new_series() {
        let r = Registry::with_options(RegistryOptions {
            level: Level::Vertex,
            series_limit: 2,
        });
        r.counter(&TASK_RECORDS_IN, &["j", "id", "map", "0"])
            .unwrap()
            .add(1);
        r.counter(&TASK_RECORDS_IN, &["j", "id", "map", "1"])
            .unwrap()
            .add(2);
        r.counter(&TASK_RECORDS_IN, &["j", "id", "sink", "0"])
            .unwrap()
            .add(1);
        r.counter(&TASK_RECORDS_IN, &["j", "id", "third", "0"])
            .unwrap()
            .add(5);
        let snap = r.snapshot();
        let f = find(&snap, TASK_RECORDS_IN.name);
        assert_eq!(f.labels, vec!["job_name", "job_id", "vertex"]);
        assert_eq!(f.series.len(), 2);
        assert_eq!(
            f.series[0],
            (
                vec!["j".into(), "id".into(), "map".into()],
                Value::Counter(3.0)
            )
        );
        let d = find(&snap, "tidemark_metrics_series_dropped_total");
        assert_eq!(
            d.series,
            vec![(vec![TASK_RECORDS_IN.name.to_string()], Value::Counter(1.0))]
        );
    }

    #[test]
    fn retired_series_stay_until_every_consumer_read_them_once() {
        let r = Registry::new();
        let scrape = r.register_consumer();
        let push = r.register_consumer();
        r.counter(&TASK_RECORDS_IN, &["a", "1", "v", "0"])
            .unwrap()
            .add(9);
        r.counter(&TASK_RECORDS_IN, &["b", "2", "v", "0"]).unwrap();
        r.retire_series("job_id", "1");
        let n = |s: Vec<FamilySnapshot>| find(&s, TASK_RECORDS_IN.name).series.len();
        assert_eq!(n(r.snapshot_for(scrape)), 2, "the final read still has it");
        assert_eq!(
            n(r.snapshot_for(scrape)),
            2,
            "until the pusher has read it too"
        );
        assert_eq!(n(r.snapshot_for(push)), 2);
        assert_eq!(n(r.snapshot_for(scrape)), 1, "then it is gone");
    }

    #[test]
    fn a_released_consumer_is_not_waited_for_and_its_id_is_given_again() {
        let r = Registry::new();
        let scrape = r.register_consumer();
        let push = r.register_consumer();
        r.counter(&TASK_RECORDS_IN, &["a", "1", "v", "0"]).unwrap();
        r.retire_series("job_id", "1");
        r.release_consumer(push);
        let n = |s: Vec<FamilySnapshot>| find(&s, TASK_RECORDS_IN.name).series.len();
        assert_eq!(n(r.snapshot_for(scrape)), 1, "the final read");
        assert_eq!(n(r.snapshot_for(scrape)), 0, "not waiting for the released");
        assert_eq!(r.register_consumer(), push);
    }

    #[test]
    fn a_view_holds_one_label_value_s_series_and_its_reads_count_for_all() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["a", "1", "v", "0"])
            .unwrap()
            .add(1);
        r.counter(&TASK_RECORDS_IN, &["b", "2", "v", "0"])
            .unwrap()
            .add(2);
        r.gauge(&crate::catalogue::BRIDGE_JOBS, &[]).unwrap().set(2);
        let view = r.view("job_id", "2");
        let push = view.register_consumer();
        let snap = view.snapshot_for(push);
        let names: Vec<&str> = snap.iter().map(|f| f.def.name).collect();
        assert_eq!(
            names,
            [TASK_RECORDS_IN.name],
            "no other family, not even the registry's own"
        );
        assert_eq!(
            snap[0].series,
            vec![(
                vec!["b".into(), "2".into(), "v".into(), "0".into()],
                Value::Counter(2.0)
            )]
        );
        // Job 1 retired: the view's reader is not waited for.
        let scrape = r.register_consumer();
        r.retire_series("job_id", "1");
        view.snapshot_for(push);
        r.snapshot_for(scrape);
        let all = r.snapshot_for(scrape);
        assert_eq!(find(&all, TASK_RECORDS_IN.name).series.len(), 1);
    }
}
