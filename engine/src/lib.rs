//! Tidemark's runtime. Three flows, each one visible way:
//!
//! ```text
//! records : source ──► channel ──► operator ──► channel ──► sink
//!           source/     channel.rs  task/operator_task.rs    sink/
//! barriers: coordinator ─trigger─► source ─(in-band)─► operator (align, snapshot) ─► sink (pre-commit)
//!           checkpoint/coordinator.rs (decisions) · runtime/job_master.rs (I/O edge)
//!           task/source_task.rs · checkpoint/align.rs · task/snapshot.rs (async phase)
//!           ─ack─► coordinator ─► checkpoint/storage.rs (metadata last) ─► notify ─► sink/file.rs (commit)
//! metrics : task-local counts (metrics.rs LocalCounts) ─publish per batch─► agent registry ─► /metrics
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`api`] | the DataStream-style builder and the logical graph |
//! | [`message`] | what travels on an edge |
//! | [`channel`] | bounded edges, partitioners, output buffering and backpressure timing |
//! | [`task`] | one subtask's loop (operator or source) and the asynchronous snapshot |
//! | [`operator`] | operators: map/filter/flat_map, keyed process, reduce, windows |
//! | [`source`], [`sink`] | connectors: datagen, files, blackhole, print, exactly-once files |
//! | [`state`] | keyed state, key groups, timers, the state file format |
//! | [`checkpoint`] | alignment, the coordinator, metadata, storage, restore selection |
//! | [`watermark`] | watermark generation and combination |
//! | [`runner`] | [`runner::Job`]: runs a graph as `tidemark run` does |
//! | [`runtime`] | deployment, the job master, restarts, status |
//! | [`config`], [`jobfile`], [`pipelines`] | Flink-keyed configuration, job files, built-in pipelines |
//! | [`metrics`] | the engine's half of the metric flow |
//! | [`user_metrics`] | metrics a job declares for itself |
//! | [`rest`] | the Flink-shaped REST API |
//! | [`cli`] | the `tidemark` command |
//! | `fuzz` | what the fuzz targets feed each reader of untrusted bytes (not a user API) |

pub mod api;
pub mod channel;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod jobfile;
pub mod message;
pub mod metrics;
pub mod operator;
pub mod pipelines;
pub mod rest;
pub mod runner;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod state;
pub mod task;
pub mod user_metrics;
pub mod watermark;

pub use data::{Data, JavaHash, Key};

/// What a job author needs, in one import: `use tidemark::prelude::*;`.
pub mod prelude {
    pub use crate::api::{
        ConnectedKeyedStreams, ConnectedStreams, DataStream, JobGraph, KeyedStream, StreamEnv,
        WindowedConnectedStreams, WindowedStream,
    };
    pub use crate::channel::Collector;
    pub use crate::config::keys::Kind;
    pub use crate::config::Config;
    pub use crate::data::{Data, Key};
    pub use crate::error::{Error, Result};
    pub use crate::operator::{
        Aggregation, CoGroup, Either, KeyedCoProcessFunction, KeyedContext, KeyedOpenContext,
        KeyedProcessFunction, OpenContext, Operator, WindowAssigner, WindowResult,
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
    pub use crate::user_metrics::{CounterId, GaugeId, HistogramId, UserLabel, UserMetric};
    pub use crate::watermark::WatermarkStrategy;
}
pub use error::{Error, Result};
