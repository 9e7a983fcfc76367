//! Metrics a job declares for itself: counters, gauges and histograms with
//! the job's labels (`job_name`, `job_id`, `vertex`, `subtask`) and label
//! values of its own from a fixed set, so their series stay bounded.
//!
//! A metric is declared as a `static` [`UserMetric`] and listed in its
//! pipeline's [`PipelineSpec::metrics`](crate::pipelines::PipelineSpec), so
//! `metrics-doc` of the job's binary documents it; a keyed function registers
//! it in `open` and updates it through its context. Counts are kept in the
//! task and published once per batch, as the engine's own are, so a count per
//! record costs an integer add. They reach every exporter, obey
//! `metrics.level` and `metrics.series-limit`, and retire with the job.
//!
//! ```
//! use tidemark::user_metrics::{UserLabel, UserMetric};
//! static LATE: UserMetric = UserMetric::counter(
//!     "orders_late_payments_total",
//!     "Payments that came after their order was flagged unpaid.",
//! );
//! static SIZE: UserMetric = UserMetric::histogram(
//!     "orders_amount_cents",
//!     "cents",
//!     "Amount of each order.",
//!     &[100.0, 1_000.0, 10_000.0],
//! )
//! .with_labels(&[UserLabel { name: "verdict", values: &["paid", "unpaid"] }]);
//! assert!(LATE.problems().is_empty() && SIZE.problems().is_empty());
//! let bad = UserMetric::counter("Late-Payments", "…");
//! assert_eq!(bad.problems().len(), 2);
//! ```

use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tidemark_agent::catalogue::{Merge, MetricDef, MetricKind};
use tidemark_agent::labels::{JOB_ID, JOB_NAME, SUBTASK, VERTEX};
use tidemark_agent::registry::RegistryError;
use tidemark_agent::{Counter, Gauge, Histogram, Registry};

/// A label of a user metric and every value it may take.
#[derive(Debug)]
pub struct UserLabel {
    /// Label name (`[a-z_][a-z0-9_]*`).
    pub name: &'static str,
    /// The values allowed: a registration with another value is refused.
    pub values: &'static [&'static str],
}

/// What kind of metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserKind {
    /// Monotonic count; the name ends in `_total`.
    Counter,
    /// A value that goes up and down; several subtasks' values combine as `merge`.
    Gauge(Merge),
    /// Observations in these buckets (upper bounds in the unit).
    Histogram(&'static [f64]),
}

/// A metric a job declares (see the module documentation).
#[derive(Debug)]
pub struct UserMetric {
    /// Exposed name: lower case, `_`-separated, ending in the unit (and
    /// `_total` for counters), as Prometheus' naming conventions ask.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: UserKind,
    /// Base unit (`seconds`, `bytes`, …) or empty for plain counts.
    pub unit: &'static str,
    /// One sentence: what it measures.
    pub help: &'static str,
    /// Labels of its own, besides the job's.
    pub labels: &'static [UserLabel],
}

const RESERVED: &[&str] = &[JOB_NAME, JOB_ID, VERTEX, SUBTASK, "le", "quantile"];

impl UserMetric {
    /// A counter of plain counts.
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: UserKind::Counter,
            unit: "",
            help,
            labels: &[],
        }
    }

    /// A gauge in `unit`; subtasks' values add up when `metrics.level` merges them.
    pub const fn gauge(name: &'static str, unit: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: UserKind::Gauge(Merge::Sum),
            unit,
            help,
            labels: &[],
        }
    }

    /// A histogram in `unit` with these bucket upper bounds.
    pub const fn histogram(
        name: &'static str,
        unit: &'static str,
        help: &'static str,
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name,
            kind: UserKind::Histogram(buckets),
            unit,
            help,
            labels: &[],
        }
    }

    /// The same metric with labels of its own.
    pub const fn with_labels(mut self, labels: &'static [UserLabel]) -> Self {
        self.labels = labels;
        self
    }

    /// Every way this declaration breaks the naming rules, one sentence each
    /// naming the metric (empty when it is fine).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let n = self.name;
        let ident = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !ident(n) {
            p.push(format!(
                "metric '{n}': a name uses only a-z, 0-9 and '_' and starts with a letter"
            ));
        }
        if n.starts_with("tidemark_") || n.starts_with("flink_") {
            p.push(format!(
                "metric '{n}': names starting with tidemark_ or flink_ are the engines' own"
            ));
        }
        let stem = match self.kind {
            UserKind::Counter => n.strip_suffix("_total").unwrap_or_else(|| {
                p.push(format!("metric '{n}': a counter's name ends in _total"));
                n
            }),
            _ => {
                if n.ends_with("_total") {
                    p.push(format!(
                        "metric '{n}': only a counter's name ends in _total"
                    ));
                }
                n
            }
        };
        if !self.unit.is_empty() && !stem.ends_with(&format!("_{}", self.unit)) {
            p.push(format!(
                "metric '{n}': the name ends in its unit: '_{}'{}",
                self.unit,
                if self.kind == UserKind::Counter {
                    " before _total"
                } else {
                    ""
                }
            ));
        }
        if let UserKind::Histogram(b) = self.kind {
            if b.is_empty() || b.windows(2).any(|w| w[0] >= w[1]) {
                p.push(format!(
                    "metric '{n}': histogram buckets are at least one, increasing"
                ));
            }
        }
        for l in self.labels {
            if !ident(l.name) || l.name.starts_with("__") || RESERVED.contains(&l.name) {
                p.push(format!(
                    "metric '{n}': label '{}' must be a-z, 0-9, '_', and not one of {}",
                    l.name,
                    RESERVED.join(", ")
                ));
            }
            if l.values.is_empty() {
                p.push(format!("metric '{n}': label '{}' lists no values", l.name));
            }
        }
        p
    }

    /// The catalogue entry: made once per name per process (the registry
    /// keeps `'static` definitions), the same for every subtask and attempt.
    pub(crate) fn def(&'static self) -> Result<&'static MetricDef> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(Error::Config(problems.join("\n")));
        }
        static DEFS: OnceLock<Mutex<HashMap<&'static str, &'static MetricDef>>> = OnceLock::new();
        let mut defs = DEFS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(d) = defs.get(self.name) {
            return Ok(d);
        }
        let mut labels = vec![JOB_NAME, JOB_ID, VERTEX, SUBTASK];
        labels.extend(self.labels.iter().map(|l| l.name));
        let (kind, merge, buckets, scale) = match self.kind {
            UserKind::Counter => (MetricKind::Counter, Merge::Sum, &[][..], 1.0),
            UserKind::Gauge(m) => (MetricKind::Gauge, m, &[][..], 1.0),
            // Observations are stored as integers: nanoseconds for seconds,
            // thousandths of the unit otherwise.
            UserKind::Histogram(b) if self.unit == "seconds" => {
                (MetricKind::Histogram, Merge::Sum, b, 1e-9)
            }
            UserKind::Histogram(b) => (MetricKind::Histogram, Merge::Sum, b, 1e-3),
        };
        let def: &'static MetricDef = Box::leak(Box::new(MetricDef {
            name: self.name,
            kind,
            unit: self.unit,
            help: self.help,
            labels: Box::leak(labels.into_boxed_slice()),
            flink: "user-defined",
            scale,
            buckets,
            merge,
        }));
        defs.insert(self.name, def);
        Ok(def)
    }
}

/// A counter a plain [`Operator`](crate::operator::Operator) registered in
/// `open` ([`OpenContext::counter`](crate::operator::OpenContext::counter)).
/// Each `add` is one atomic add: count a batch's records in a local variable
/// and add them once per batch, as the engine's own counters do.
#[derive(Debug, Clone)]
pub struct UserCounter(Counter);

impl UserCounter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.add(n);
    }
}

/// A gauge a plain operator registered in `open`.
#[derive(Debug, Clone)]
pub struct UserGauge(Gauge);

impl UserGauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.0.set(v);
    }
}

/// A histogram a plain operator registered in `open`.
#[derive(Debug, Clone)]
pub struct UserHistogram {
    h: Histogram,
    per_unit: f64,
}

impl UserHistogram {
    /// Observes `v`, in the histogram's unit.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.h.observe((v * self.per_unit).max(0.0) as u64);
    }
}

/// Registers `m` for a plain operator's subtask (see [`UserCounter`]).
pub(crate) fn counter(
    reg: &Registry,
    info: &SubtaskInfo,
    m: &'static UserMetric,
    own: &[&str],
) -> Result<UserCounter> {
    let (c, _) = UserMetrics::resolve(reg, info, m, own, "counter", Registry::counter)?;
    Ok(UserCounter(c))
}

/// Registers gauge `m` for a plain operator's subtask.
pub(crate) fn gauge(
    reg: &Registry,
    info: &SubtaskInfo,
    m: &'static UserMetric,
    own: &[&str],
) -> Result<UserGauge> {
    let (g, _) = UserMetrics::resolve(reg, info, m, own, "gauge", Registry::gauge)?;
    Ok(UserGauge(g))
}

/// Registers histogram `m` for a plain operator's subtask.
pub(crate) fn histogram(
    reg: &Registry,
    info: &SubtaskInfo,
    m: &'static UserMetric,
    own: &[&str],
) -> Result<UserHistogram> {
    let (h, def) = UserMetrics::resolve(reg, info, m, own, "histogram", Registry::histogram)?;
    Ok(UserHistogram {
        h,
        per_unit: 1.0 / def.scale,
    })
}

/// A counter a function registered.
#[derive(Debug, Clone, Copy)]
pub struct CounterId(usize);
/// A gauge a function registered.
#[derive(Debug, Clone, Copy)]
pub struct GaugeId(usize);
/// A histogram a function registered.
#[derive(Debug, Clone, Copy)]
pub struct HistogramId(usize);

/// One subtask's user metrics: counts pending since the last publish, and the
/// shared handles they are published to.
#[derive(Default)]
pub(crate) struct UserMetrics {
    counters: Vec<(u64, Counter)>,
    gauges: Vec<(Option<i64>, Gauge)>,
    histograms: Vec<(f64, Histogram)>,
}

impl UserMetrics {
    fn values<'v>(
        m: &'static UserMetric,
        info: &'v SubtaskInfo,
        subtask: &'v str,
        own: &[&'v str],
    ) -> Result<Vec<&'v str>> {
        if own.len() != m.labels.len() {
            return Err(Error::Config(format!(
                "metric '{}': {} label value(s) given, it declares {}",
                m.name,
                own.len(),
                m.labels.len()
            )));
        }
        for (l, v) in m.labels.iter().zip(own) {
            if !l.values.contains(v) {
                return Err(Error::Config(format!(
                    "metric '{}': label {}='{v}' is not declared: expected one of {}",
                    m.name,
                    l.name,
                    l.values.join(", ")
                )));
            }
        }
        let mut v = vec![
            info.job_name.as_str(),
            info.job_id.as_str(),
            info.vertex.as_str(),
            subtask,
        ];
        v.extend(own);
        Ok(v)
    }

    pub fn counter(
        &mut self,
        reg: &Registry,
        info: &SubtaskInfo,
        m: &'static UserMetric,
        own: &[&str],
    ) -> Result<CounterId> {
        let (c, _) = Self::resolve(reg, info, m, own, "counter", Registry::counter)?;
        self.counters.push((0, c));
        Ok(CounterId(self.counters.len() - 1))
    }

    pub fn gauge(
        &mut self,
        reg: &Registry,
        info: &SubtaskInfo,
        m: &'static UserMetric,
        own: &[&str],
    ) -> Result<GaugeId> {
        let (g, _) = Self::resolve(reg, info, m, own, "gauge", Registry::gauge)?;
        self.gauges.push((None, g));
        Ok(GaugeId(self.gauges.len() - 1))
    }

    pub fn histogram(
        &mut self,
        reg: &Registry,
        info: &SubtaskInfo,
        m: &'static UserMetric,
        own: &[&str],
    ) -> Result<HistogramId> {
        let (h, def) = Self::resolve(reg, info, m, own, "histogram", Registry::histogram)?;
        self.histograms.push((1.0 / def.scale, h));
        Ok(HistogramId(self.histograms.len() - 1))
    }

    /// The handle of `m` for this subtask and these label values, made by
    /// `get` after checking that `m` is a `what` with valid labels.
    fn resolve<H>(
        reg: &Registry,
        info: &SubtaskInfo,
        m: &'static UserMetric,
        own: &[&str],
        what: &str,
        get: fn(&Registry, &'static MetricDef, &[&str]) -> Result<H, RegistryError>,
    ) -> Result<(H, &'static MetricDef)> {
        let kind_is = match m.kind {
            UserKind::Counter => "counter",
            UserKind::Gauge(_) => "gauge",
            UserKind::Histogram(_) => "histogram",
        };
        if kind_is != what {
            return Err(Error::Config(format!(
                "metric '{}' is a {kind_is}, registered as a {what}: register it with the method of its kind",
                m.name
            )));
        }
        let def = m.def()?;
        let sub = info.index.to_string();
        let h = get(reg, def, &Self::values(m, info, &sub, own)?)
            .map_err(|e| Error::Config(format!("metric '{}': {e}", m.name)))?;
        Ok((h, def))
    }

    #[inline]
    pub fn add(&mut self, id: CounterId, n: u64) {
        self.counters[id.0].0 += n;
    }

    #[inline]
    pub fn set(&mut self, id: GaugeId, v: i64) {
        self.gauges[id.0].0 = Some(v);
    }

    /// A histogram observation goes to the shared buckets at once (one
    /// bucket add and one sum add).
    #[inline]
    pub fn observe(&mut self, id: HistogramId, v: f64) {
        let (per_unit, h) = &self.histograms[id.0];
        h.observe((v * per_unit).max(0.0) as u64);
    }

    /// Publishes what accumulated (once per batch).
    pub fn publish(&mut self) {
        for (n, c) in &mut self.counters {
            c.add(std::mem::take(n));
        }
        for (v, g) in &mut self.gauges {
            if let Some(v) = v.take() {
                g.set(v);
            }
        }
    }
}
