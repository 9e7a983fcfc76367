//! Built-in pipelines a job file can name, with their parameters.
//!
//! | pipeline | what it does |
//! |---|---|
//! | `keyed-count` | datagen → key_by(key) → running count per key → sink |
//! | `windowed-aggregation` | datagen with event time → key_by → tumbling/sliding window aggregate → sink |
//! | `file-word-count` | line files → words → running count per word → sink |
//! | `nexmark` | the Nexmark generator → query q0, q1, q2, q3, q4, q5, q7 or q8 → sink |
//! | `stream-count` | a JetStream stream or Kafka topics → key per message → running count per key → sink |

mod connectors;
mod file_word_count;
mod keyed_count;
mod nexmark;
mod params;
mod stream_count;
mod windowed;

pub use crate::source::format::RawRecord;
pub use keyed_count::RunningCount;
pub use params::Params;

use crate::api::JobGraph;
use crate::config::value::closest;
use crate::config::Config;
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::jobfile::JobFile;

/// One parameter of a pipeline.
#[derive(Debug)]
pub struct ParamSpec {
    /// Name under `params:`.
    pub name: &'static str,
    /// Default; `None` = required.
    pub default: Option<&'static str>,
    /// Allowed values.
    pub kind: Kind,
    /// One line of documentation.
    pub doc: &'static str,
}

/// A built-in pipeline.
pub struct PipelineSpec {
    /// Name under `pipeline:`.
    pub name: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Its parameters, in groups (shared groups such as the generator's first).
    pub params: &'static [&'static [ParamSpec]],
    /// The metrics its functions declare (see [`crate::user_metrics`]):
    /// `metrics-doc` lists them, and the binary refuses to start when one
    /// breaks the naming rules.
    pub metrics: &'static [&'static crate::user_metrics::UserMetric],
    /// Builds the graph.
    pub build: fn(&str, &Params, &Config) -> Result<JobGraph>,
}

impl PipelineSpec {
    /// Every parameter.
    pub fn all_params(&self) -> impl Iterator<Item = &'static ParamSpec> {
        self.params.iter().flat_map(|g| g.iter())
    }
}

/// The generator's parameters, shared by the datagen pipelines.
pub(crate) static DATAGEN_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "keys",
        default: Some("100000"),
        kind: Kind::Int(1, i64::MAX),
        doc: "Distinct keys.",
    },
    ParamSpec {
        name: "events",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Records to generate; 0 = unbounded.",
    },
    ParamSpec {
        name: "rate",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Records per second for the whole job; 0 = as fast as possible.",
    },
    ParamSpec {
        name: "distribution",
        default: Some("uniform"),
        kind: Kind::Enum(&["uniform", "zipf"]),
        doc: "Key distribution.",
    },
    ParamSpec {
        name: "warmup",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "The first N records take keys 0, 1, 2, ... in turn, unthrottled (loads every key once); rate applies after.",
    },
    ParamSpec {
        name: "zipf-exponent",
        default: Some("1.0"),
        kind: Kind::Float,
        doc: "Skew of the zipf distribution.",
    },
    ParamSpec {
        name: "seed",
        default: Some("42"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Generator seed: the same seed gives the same records.",
    },
    ParamSpec {
        name: "source-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the source (default parallelism.default).",
    },
    ParamSpec {
        name: "stream-start",
        default: None,
        kind: Kind::Int(0, i64::MAX),
        doc: "With a rate: the wall-clock time (ms since the epoch) the generated stream began. The rate is kept against it across restarts, so a restored job finds the records that came due while it was down waiting, as from a log whose producers kept writing, and catches up (default: each start paces from itself).",
    },
    ParamSpec {
        name: "source-lag",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "Make source subtask 0 a lagging partition: every read blocks this long (to see barrier alignment).",
    },
    ParamSpec {
        name: "faults-while-exists",
        default: None,
        kind: Kind::Path,
        doc: "The generator's faults (a zipf distribution, source-lag) last only while this file exists; delete it to end them: keys turn uniform and reads prompt (records then depend on when the file went, so replay is exact only without this).",
    },
];

/// The sink parameters, shared by every pipeline.
pub(crate) static SINK_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "sink",
        default: Some("blackhole"),
        kind: Kind::Enum(SINKS),
        doc: "Where results go: blackhole, print, file (exactly-once part files), jetstream (exactly-once, deduplicated by message id), or kafka (at-least-once).",
    },
    ParamSpec {
        name: "output",
        default: None,
        kind: Kind::Path,
        doc: "Directory of the file sink.",
    },
    ParamSpec {
        name: "sink-url",
        default: None,
        kind: Kind::Text,
        doc: "JetStream sink: the NATS server's URL (default: the source's params.url, else nats://127.0.0.1:4222).",
    },
    ParamSpec {
        name: "sink-subject",
        default: None,
        kind: Kind::Text,
        doc: "JetStream sink: the subject every result is published on (a stream must hold it).",
    },
    ParamSpec {
        name: "sink-topic",
        default: None,
        kind: Kind::Text,
        doc: "Kafka sink: the topic every result is written to (at least once).",
    },
    ParamSpec {
        name: "sink-bootstrap-servers",
        default: None,
        kind: Kind::Text,
        doc: "Kafka sink: the brokers (default: the source's params.bootstrap-servers, else 127.0.0.1:9092).",
    },
    ParamSpec {
        name: "sink-properties",
        default: None,
        kind: Kind::List,
        doc: "Kafka sink: more librdkafka producer properties, KEY=VALUE separated by ;.",
    },
    ParamSpec {
        name: "sink-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the sink (default parallelism.default).",
    },
    ParamSpec {
        name: "sink-delay",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "Make the sink slow: this much time per record (to see backpressure).",
    },
    ParamSpec {
        name: "sink-delay-for",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "Slow only this long after the sink starts (0 = always).",
    },
    ParamSpec {
        name: "sink-delay-on",
        default: Some("sleep"),
        kind: Kind::Enum(&["sleep", "cpu"]),
        doc: "How the slow sink spends its delay: asleep (an external system taking its time) or computing on the CPU (an expensive serializer: `tidemark profile` shows where).",
    },
    ParamSpec {
        name: "sink-delay-while-exists",
        default: None,
        kind: Kind::Path,
        doc: "Slow only while this file exists; delete it to end the slowdown.",
    },
];

/// A datagen source for the shared parameters (see [`datagen`]), with
/// `source-lag`, `stream-start` and `faults-while-exists`.
pub(crate) fn datagen_source(
    p: &Params,
    event_time: Option<(u64, i64, i64)>,
) -> impl Fn() -> Box<dyn crate::source::Source<crate::source::datagen::Event>> + Send + Sync + 'static
{
    let (cfg, cdf) = datagen(p, event_time);
    let lag = p.duration("source-lag");
    let origin = p.opt_text("stream-start").map(|_| p.int("stream-start"));
    let faults_while = p
        .opt_text("faults-while-exists")
        .map(std::path::PathBuf::from);
    move || {
        Box::new(
            crate::source::datagen::DatagenSource::new(cfg.clone(), cdf.clone())
                .lagging_first_subtask(lag)
                .paced_from(origin)
                .faults_while_exists(faults_while.clone()),
        )
    }
}

/// The datagen source described by the shared parameters.
pub(crate) fn datagen(
    p: &Params,
    event_time: Option<(u64, i64, i64)>,
) -> (
    crate::source::datagen::DatagenConfig,
    Option<std::sync::Arc<Vec<f64>>>,
) {
    use crate::source::datagen::{zipf_cdf, DatagenConfig, KeyDistribution};
    let keys = p.int("keys") as u64;
    let distribution = if p.text("distribution") == "zipf" {
        KeyDistribution::Zipf(p.float("zipf-exponent"))
    } else {
        KeyDistribution::Uniform
    };
    let cdf = match distribution {
        KeyDistribution::Zipf(s) => Some(zipf_cdf(keys, s)),
        KeyDistribution::Uniform => None,
    };
    let (event_time_rate, ooo, event_time_start_ms) = event_time.unwrap_or((1000, 0, 0));
    let cfg = DatagenConfig {
        keys,
        distribution,
        rate: p.int("rate") as u64,
        events: Some(p.int("events") as u64).filter(|n| *n > 0),
        seed: p.int("seed") as u64,
        event_time_start_ms,
        event_time_rate,
        out_of_orderness_ms: ooo,
        warmup: p.int("warmup") as u64,
    };
    (cfg, cdf)
}

/// Every built-in pipeline.
pub static PIPELINES: &[PipelineSpec] = &[
    keyed_count::SPEC,
    windowed::SPEC,
    file_word_count::SPEC,
    nexmark::SPEC,
    stream_count::SPEC,
];

/// The pipelines a job file may name: `own` (a user's binary's, see
/// [`crate::cli::main_with`]) first, then the built-in ones.
pub fn with_builtins(own: &'static [PipelineSpec]) -> Vec<&'static PipelineSpec> {
    own.iter().chain(PIPELINES).collect()
}

/// Builds the graph a job file names, checking its parameters.
pub fn build(
    pipelines: &[&'static PipelineSpec],
    job: &JobFile,
    config: &Config,
) -> Result<JobGraph> {
    let (spec, params) =
        check(pipelines, job).map_err(|errors| Error::Config(errors.join("\n  ")))?;
    (spec.build)(&job.name, &params, config)
}

/// The job's pipeline among `pipelines` and its checked parameters; on
/// failure, every problem, one line each.
pub fn check(
    pipelines: &[&'static PipelineSpec],
    job: &JobFile,
) -> std::result::Result<(&'static PipelineSpec, Params), Vec<String>> {
    let Some(spec) = pipelines.iter().copied().find(|p| p.name == job.pipeline) else {
        let names: Vec<&str> = pipelines.iter().map(|p| p.name).collect();
        let hint = closest(&job.pipeline, names.iter().copied())
            .map(|c| format!(" (did you mean '{c}'?)"))
            .unwrap_or_default();
        return Err(vec![format!(
            "pipeline: '{}' is not a known pipeline{hint}: expected one of {}",
            job.pipeline,
            names.join(", ")
        )]);
    };
    Ok((spec, Params::validate(spec, &job.params)?))
}

/// Sink parameter values shared by the pipelines.
pub const SINKS: &[&str] = &["blackhole", "print", "file", "jetstream", "kafka"];

/// The `sink` / `output` parameters as a sink for lines formatted by `format`.
pub(crate) fn line_sink<T: crate::Data>(
    p: &Params,
    format: std::sync::Arc<dyn Fn(&T, &mut String) + Send + Sync>,
) -> Result<std::sync::Arc<dyn Fn() -> Box<dyn crate::sink::Sink<T>> + Send + Sync>> {
    use crate::sink::slow::SlowSink;
    let make = plain_sink(p, format)?;
    let (delay, for_how_long) = (p.duration("sink-delay"), p.duration("sink-delay-for"));
    if delay.is_zero() {
        return Ok(make);
    }
    let limit = (!for_how_long.is_zero()).then_some(for_how_long);
    let while_exists = p
        .opt_text("sink-delay-while-exists")
        .map(std::path::PathBuf::from);
    let on_cpu = p.text("sink-delay-on") == "cpu";
    Ok(std::sync::Arc::new(move || {
        let sink = SlowSink::new(make(), delay, limit).on_cpu(on_cpu);
        Box::new(match &while_exists {
            Some(path) => sink.while_exists(path.clone()),
            None => sink,
        })
    }))
}

/// The sink named by `params.sink`, without slowdown.
fn plain_sink<T: crate::Data>(
    p: &Params,
    format: std::sync::Arc<dyn Fn(&T, &mut String) + Send + Sync>,
) -> Result<std::sync::Arc<dyn Fn() -> Box<dyn crate::sink::Sink<T>> + Send + Sync>> {
    use crate::sink::{blackhole::BlackholeSink, file::FileSink, print::PrintSink};
    Ok(match p.text("sink").as_str() {
        "print" => std::sync::Arc::new(move || Box::new(PrintSink::new(format.clone()))),
        "jetstream" => connectors::jetstream_sink(p, format)?,
        "kafka" => connectors::kafka_sink(p, format)?,
        "file" => {
            let out = p.opt_text("output").ok_or_else(|| {
                Error::Config("params.output: required when params.sink is 'file' (the directory for part files)".into())
            })?;
            let dir = std::path::PathBuf::from(out);
            std::sync::Arc::new(move || Box::new(FileSink::new(dir.clone(), format.clone())))
        }
        _ => std::sync::Arc::new(|| Box::new(BlackholeSink)),
    })
}
