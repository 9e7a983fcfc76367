//! Transports that carry encoded metrics to monitoring systems.
//!
//! | file | owns |
//! |---|---|
//! | [`config`] | reporter settings from Flink's `metrics.reporter.<name>.*` keys |
//! | [`reporters`] | starting and stopping a job's reporters |
//! | [`scrape`] | the pull endpoint `/metrics` |
//! | [`delivery`] | the push contract: bounded queue, timeouts, retries with backoff, self-metrics |
//! | [`pushgateway`] | PUT per job group, delete on shutdown and after a crash |
//! | [`influxdb`] | line protocol to the 1.x and 2.x write APIs |
//! | [`otlp`] | OTLP/HTTP protobuf |
//! | [`remote_write`] | Prometheus remote-write 1.0 (snappy protobuf) |

pub mod config;
pub mod delivery;
pub mod influxdb;
pub mod otlp;
pub mod pushgateway;
pub mod remote_write;
pub mod reporters;
pub mod scrape;
