//! Tidemark's observability core. Metrics flow one way through this crate:
//!
//! ```text
//! engine task-local counters ─flush per batch─► registry (handles = shared atomics)
//!     ─snapshot─► encode::prometheus ─► export::scrape (/metrics)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`catalogue`] | every metric Tidemark emits, defined once (name, type, unit, help, labels, Flink equivalent) |
//! | [`labels`] | the label names shared by all metrics |
//! | [`registry`] | metric handles, families and their series, the read-only snapshot encoders consume |
//! | [`encode`] | text wire formats: Prometheus 0.0.4 and OpenMetrics 1.0 |
//! | [`export`] | transports: scrape, Pushgateway, InfluxDB, OTLP, remote-write; the delivery contract |
//! | [`host`] | process and host metrics (sysinfo, /proc) |
//! | [`http`] | the small HTTP server behind `/metrics` and the REST API |
//! | [`monitoring`] | the shipped Grafana dashboards and Prometheus rules, generated from code |
//!
//! The engine depends on this crate, never the reverse: the catalogue names engine
//! metrics as data, so nothing here needs the engine's types.

pub mod catalogue;
pub mod encode;
pub mod export;
pub mod flink;
#[doc(hidden)]
pub mod fuzz;
pub mod host;
pub mod http;
pub mod labels;
pub mod monitoring;
pub mod registry;

pub use catalogue::{MetricDef, MetricKind};
pub use registry::{Counter, Gauge, Histogram, Registry};
