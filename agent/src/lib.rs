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
//! | [`encode`] | wire formats (Prometheus text 0.0.4 now; OpenMetrics, Influx, OTLP later) |
//! | [`export`] | transports: the scrape server now; push, write and remote-write later |
//!
//! The engine depends on this crate, never the reverse: the catalogue names engine
//! metrics as data, so nothing here needs the engine's types.

pub mod catalogue;
pub mod encode;
pub mod export;
pub mod labels;
pub mod registry;

pub use catalogue::{MetricDef, MetricKind};
pub use registry::{Counter, Gauge, Histogram, Registry};
