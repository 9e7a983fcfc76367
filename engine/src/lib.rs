//! Tidemark: a stateful stream processor whose every operator is observable.
//! This crate is the engine; a job is a graph built with [`StreamEnv`], run
//! by [`Job`] (or by the whole `tidemark` command, [`cli::main_with`]), and
//! observed through the metrics, REST API and checkpoints of every job.
//! `docs/guide.md` is the programming guide; this page is the map.
//!
//! ```
//! use tidemark::prelude::*;
//! use tidemark::source::datagen::{DatagenConfig, DatagenSource, Event};
//!
//! let env = StreamEnv::new("counts");
//! let cfg = DatagenConfig { keys: 10, events: Some(1_000), ..DatagenConfig::default() };
//! env.source(move || Box::new(DatagenSource::new(cfg.clone(), None)))
//!     .name("events").uid("events")
//!     .key_by(|e: &Event| e.key)
//!     .reduce(|a, b| Event { value: a.value + b.value, ..b })
//!     .name("sum").uid("sum")
//!     .sink(|| Box::new(BlackholeSink))
//!     .name("sink").uid("sink");
//! let config = Config::from_pairs(&[
//!     ("metrics.reporter.prom.port".into(), "0".into()),
//!     ("rest.enabled".into(), "false".into()),
//! ])?;
//! let graph = env.build(&config)?;
//! let outcome = Job::new(graph).config(config).status_interval(None).run()?;
//! assert!(matches!(outcome, Outcome::Finished { records: 1_000, .. }));
//! # Ok::<(), tidemark::Error>(())
//! ```
//!
//! | what | where |
//! |---|---|
//! | everything below in one import | [`prelude`] |
//! | building a graph: sources, `map`/`filter`/`flat_map`, `key_by`, windows, `union`, `connect`, joins, side outputs (`split`), sinks, `.name()`/`.uid()` | [`api`]: [`StreamEnv`], [`DataStream`](api::DataStream), [`KeyedStream`](api::KeyedStream), [`ConnectedKeyedStreams`](api::ConnectedKeyedStreams) |
//! | running it as `tidemark run` does: restore, metrics, REST, Ctrl-C | [`runner`]: [`Job`], [`Restore`](runner::Restore), [`Outcome`](runner::Outcome) |
//! | a binary of one's own with the whole CLI | [`cli::main_with`], [`pipelines::PipelineSpec`] |
//! | keyed logic: state, timers, output | [`operator::KeyedProcessFunction`], [`operator::KeyedCoProcessFunction`], [`operator::KeyedContext`], [`state`] (descriptors and handles) |
//! | operators of one's own | [`operator::Operator`] |
//! | sources and sinks of one's own, and the built-in ones | [`source::Source`], [`sink::Sink`] (two phases), [`source`], [`sink`] |
//! | event time | [`watermark::WatermarkStrategy`], [`operator::WindowAssigner`] |
//! | metrics of one's own | [`user_metrics`] |
//! | configuration (Flink's keys) | [`config::Config`], `docs/configuration.md` |
//! | errors and whose they are | [`Error`] |
//!
//! The runtime behind it (channels, tasks, barrier alignment, the checkpoint
//! coordinator, storage, the REST server) is private to the crate;
//! ARCHITECTURE.md maps its three flows (records, barriers, metrics) to the
//! files that own them.

#![warn(missing_docs)]

pub mod api;
pub(crate) mod channel;
pub(crate) mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod doctor;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod jobfile;
pub(crate) mod message;
pub(crate) mod metrics;
pub mod operator;
pub mod pipelines;
pub(crate) mod profile;
pub(crate) mod rest;
pub mod runner;
pub(crate) mod runtime;
pub mod sink;
pub mod source;
pub mod state;
pub(crate) mod task;
pub mod user_metrics;
pub mod watermark;

pub use api::StreamEnv;
pub use data::{Data, JavaHash, Key};
pub use runner::Job;

/// Reading what a job stored (checkpoint metadata, state files and where
/// they are), for the integration tests and tools; not a user API.
#[doc(hidden)]
pub mod inspect {
    pub use crate::checkpoint::blob::{crc32, Location, S3Settings};
    pub use crate::checkpoint::metadata::CheckpointMetadata;
    pub use crate::state::state_file::StateFile;
}

/// What a job author needs, in one import: `use tidemark::prelude::*;`.
pub mod prelude {
    pub use crate::api::{
        ConnectedKeyedStreams, ConnectedStreams, DataStream, JobGraph, KeyedStream, StreamEnv,
        WindowedConnectedStreams, WindowedStream,
    };
    pub use crate::config::Config;
    pub use crate::config::Kind;
    pub use crate::data::{Data, Key};
    pub use crate::error::{Error, Result};
    pub use crate::operator::{
        Aggregation, CoGroup, Either, KeyedCoProcessFunction, KeyedContext, KeyedOpenContext,
        KeyedProcessFunction, OpenContext, Operator, Output, WindowAssigner, WindowResult,
    };
    pub use crate::pipelines::{ParamSpec, Params, PipelineSpec};
    pub use crate::runner::{Job, Outcome, Restore};
    pub use crate::sink::blackhole::BlackholeSink;
    pub use crate::sink::print::PrintSink;
    pub use crate::sink::Sink;
    pub use crate::source::Source;
    pub use crate::state::{
        AggregateFunction, AggregatingStateDesc, ListStateDesc, MapStateDesc, ReducingStateDesc,
        TimeDomain, ValueStateDesc,
    };
    pub use crate::user_metrics::{
        CounterId, GaugeId, HistogramId, UserCounter, UserGauge, UserHistogram, UserLabel,
        UserMetric,
    };
    pub use crate::watermark::WatermarkStrategy;
}
pub use error::{Error, Result};
