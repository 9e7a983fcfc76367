//! The stream connectors a job file can name: `params.source` (a JetStream
//! stream or Kafka topics) with its parameters, and the sinks of
//! `params.sink: jetstream` and `params.sink: kafka`.

use super::{ParamSpec, Params};
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::source::format::RawRecord;
use crate::source::jetstream::{JetStreamConfig, JetStreamSource};
use crate::source::Source;
use std::sync::Arc;

/// Source connectors, `params.source`.
pub const SOURCES: &[&str] = &["jetstream", "kafka"];

const STARTING_OFFSETS: &[&str] = &["earliest", "latest", "committed", "timestamp"];

/// The stream source's parameters.
pub(crate) static SOURCE_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "source",
        default: None,
        kind: Kind::Enum(SOURCES),
        doc: "Where records come from: jetstream (a NATS JetStream stream) or kafka (Kafka topics); required.",
    },
    ParamSpec {
        name: "url",
        default: Some("nats://127.0.0.1:4222"),
        kind: Kind::Text,
        doc: "JetStream: the NATS server's URL.",
    },
    ParamSpec {
        name: "stream",
        default: None,
        kind: Kind::Text,
        doc: "JetStream: the stream to read (required; it must exist).",
    },
    ParamSpec {
        name: "subjects",
        default: None,
        kind: Kind::List,
        doc: "JetStream: the subjects to read, each a partition; subject i is read by source subtask i mod parallelism (required).",
    },
    ParamSpec {
        name: "bootstrap-servers",
        default: Some("127.0.0.1:9092"),
        kind: Kind::Text,
        doc: "Kafka: the brokers (bootstrap.servers).",
    },
    ParamSpec {
        name: "topics",
        default: None,
        kind: Kind::List,
        doc: "Kafka: the topics to read (or topic-pattern); partition p of topic t is read by the source subtask Flink's KafkaSource would pick.",
    },
    ParamSpec {
        name: "topic-pattern",
        default: None,
        kind: Kind::Text,
        doc: "Kafka: read every topic whose whole name matches this regular expression, found at start and by discovery.",
    },
    ParamSpec {
        name: "group-id",
        default: None,
        kind: Kind::Text,
        doc: "Kafka: the consumer group offsets are committed to when a checkpoint completes, for lag tools (default tidemark-JOBNAME); never read back for recovery.",
    },
    ParamSpec {
        name: "starting-offsets",
        default: Some("earliest"),
        kind: Kind::Enum(STARTING_OFFSETS),
        doc: "Kafka: where a partition without checkpointed state starts: earliest, latest, committed (the group's; earliest where none), or timestamp (params.starting-timestamp).",
    },
    ParamSpec {
        name: "starting-timestamp",
        default: None,
        kind: Kind::Int(0, i64::MAX),
        doc: "Kafka: with starting-offsets: timestamp, the first record at or after this time (ms since the epoch).",
    },
    ParamSpec {
        name: "partition-discovery-interval",
        default: Some("5 min"),
        kind: Kind::Duration,
        doc: "Kafka: how often partitions (and pattern topics) are listed again; new partitions are read from their earliest offset. 0 = only at start.",
    },
    ParamSpec {
        name: "properties",
        default: None,
        kind: Kind::List,
        doc: "Kafka: more librdkafka consumer properties, KEY=VALUE separated by ; (security.protocol=SSL;...).",
    },
    ParamSpec {
        name: "timestamp-field",
        default: None,
        kind: Kind::Text,
        doc: "Event time of each message: this field of its JSON payload (ms since the epoch, a number); unset, the time the broker stored it (Kafka record timestamp, JetStream publish time).",
    },
    ParamSpec {
        name: "out-of-orderness",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "How far behind the newest event time of its partition a message may be and still count in its window: the watermark trails by as much.",
    },
    ParamSpec {
        name: "idleness",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "A partition without messages for this long stops holding the watermark back (Flink's withIdleness); 0 = never, so an empty partition, or a subtask with none, holds event time back until it has data.",
    },
    ParamSpec {
        name: "bounded",
        default: Some("false"),
        kind: Kind::Bool,
        doc: "Read what the stream holds when each partition gets there, then finish (otherwise never finish).",
    },
    ParamSpec {
        name: "source-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the source (default parallelism.default).",
    },
];

/// The watermarks of a stream source: per partition, from each record's
/// event time, with `params.out-of-orderness` and `params.idleness`.
pub(crate) fn raw_watermarks(p: &Params) -> crate::watermark::WatermarkStrategy<RawRecord> {
    let idle = p.duration("idleness");
    crate::watermark::WatermarkStrategy::bounded(
        p.duration("out-of-orderness").as_millis() as i64,
        |r: &RawRecord| r.timestamp_ms,
    )
    .per_split(|r: &RawRecord| r.partition.as_str())
    .with_idleness((!idle.is_zero()).then_some(idle))
}

/// A required parameter, or the error that names what it is for.
fn required(p: &Params, name: &str, what: &str) -> std::result::Result<String, String> {
    p.opt_text(name)
        .ok_or_else(|| format!("params.{name}: required with {what}"))
}

/// A factory of sources of [`RawRecord`]s.
pub(crate) type RawSource = Arc<dyn Fn() -> Box<dyn Source<RawRecord>> + Send + Sync>;

/// The source `params.source` names, making [`RawRecord`]s; every missing
/// parameter is reported at once. `job` names the default consumer group.
pub(crate) fn raw_source(p: &Params, job: &str) -> Result<RawSource> {
    match p.text("source").as_str() {
        "kafka" => kafka_source(p, job),
        _ => jetstream_source(p),
    }
}

/// A list parameter's items.
fn list(v: &str) -> Vec<String> {
    v.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A list parameter of librdkafka properties, `KEY=VALUE` each; a malformed
/// one is added to `errors`.
fn properties(p: &Params, name: &str, errors: &mut Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kv in list(&p.text(name)) {
        match kv.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_string(), v.trim().to_string())),
            None => errors.push(format!(
                "params.{name}: '{kv}' is not KEY=VALUE (e.g. linger.ms=5)"
            )),
        }
    }
    out
}

fn kafka_source(p: &Params, job: &str) -> Result<RawSource> {
    use crate::source::kafka::{KafkaConfig, KafkaSource, StartingOffsets, Topics};
    let mut errors = Vec::new();
    let topics = match (p.opt_text("topics"), p.opt_text("topic-pattern")) {
        (Some(t), None) => Some(Topics::List(list(&t))),
        (None, Some(re)) => Some(Topics::Pattern(re)),
        (Some(_), Some(_)) => {
            errors.push("params.topics and params.topic-pattern: set one, not both".to_string());
            None
        }
        (None, None) => {
            errors.push(
                "params.topics (or params.topic-pattern): required with params.source: kafka"
                    .to_string(),
            );
            None
        }
    };
    let starting_offsets = match p.text("starting-offsets").as_str() {
        "latest" => StartingOffsets::Latest,
        "committed" => StartingOffsets::Committed,
        "timestamp" => match p.opt_text("starting-timestamp") {
            Some(_) => StartingOffsets::Timestamp(p.int("starting-timestamp")),
            None => {
                errors.push("params.starting-timestamp: required with params.starting-offsets: timestamp (ms since the epoch)".to_string());
                StartingOffsets::Earliest
            }
        },
        _ => StartingOffsets::Earliest,
    };
    let properties = properties(p, "properties", &mut errors);
    let (Some(topics), true) = (topics, errors.is_empty()) else {
        return Err(Error::Config(errors.join("\n  ")));
    };
    let interval = p.duration("partition-discovery-interval");
    let cfg = KafkaConfig {
        bootstrap_servers: p.text("bootstrap-servers"),
        topics,
        group_id: p
            .opt_text("group-id")
            .unwrap_or_else(|| format!("tidemark-{job}")),
        starting_offsets,
        bounded: p.text("bounded") == "true",
        discovery_interval: (!interval.is_zero()).then_some(interval),
        properties,
    };
    let record = crate::source::format::kafka_records(p.opt_text("timestamp-field"));
    Ok(Arc::new(move || {
        Box::new(KafkaSource::new(cfg.clone(), record.clone())) as Box<dyn Source<RawRecord>>
    }))
}

fn jetstream_source(p: &Params) -> Result<RawSource> {
    let what = "params.source: jetstream";
    let (stream, subjects) = (required(p, "stream", what), required(p, "subjects", what));
    let (stream, subjects) = match (stream, subjects) {
        (Ok(s), Ok(l)) => (s, l),
        (s, l) => {
            let errors: Vec<String> = [s.err(), l.err()].into_iter().flatten().collect();
            return Err(Error::Config(errors.join("\n  ")));
        }
    };
    let cfg = JetStreamConfig {
        url: p.text("url"),
        stream,
        subjects: list(&subjects),
        bounded: p.text("bounded") == "true",
    };
    let record = crate::source::format::jetstream_records(p.opt_text("timestamp-field"));
    Ok(Arc::new(move || {
        Box::new(JetStreamSource::new(cfg.clone(), record.clone())) as Box<dyn Source<RawRecord>>
    }))
}

/// The JetStream sink of lines `format` makes, for `params.sink: jetstream`.
pub(crate) fn jetstream_sink<T: crate::Data>(
    p: &Params,
    format: Arc<dyn Fn(&T, &mut String) + Send + Sync>,
) -> Result<Arc<dyn Fn() -> Box<dyn crate::sink::Sink<T>> + Send + Sync>> {
    use crate::sink::jetstream::{JetStreamSink, JetStreamSinkConfig, RecordFn};
    let subject = required(p, "sink-subject", "params.sink: jetstream").map_err(Error::Config)?;
    let cfg = JetStreamSinkConfig {
        url: p
            .opt_text("sink-url")
            .or_else(|| p.opt_text("url"))
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
    };
    let record: RecordFn<T> = Arc::new(move |r: &T| {
        let mut line = String::new();
        format(r, &mut line);
        (subject.clone(), line.into_bytes())
    });
    Ok(Arc::new(move || {
        Box::new(JetStreamSink::new(cfg.clone(), record.clone()))
    }))
}

/// The at-least-once Kafka sink of lines `format` makes, for `params.sink: kafka`.
pub(crate) fn kafka_sink<T: crate::Data>(
    p: &Params,
    format: Arc<dyn Fn(&T, &mut String) + Send + Sync>,
) -> Result<Arc<dyn Fn() -> Box<dyn crate::sink::Sink<T>> + Send + Sync>> {
    use crate::sink::kafka::{KafkaSink, KafkaSinkConfig, RecordFn};
    let mut errors = Vec::new();
    let topic = required(p, "sink-topic", "params.sink: kafka").map_err(|e| errors.push(e));
    let properties = properties(p, "sink-properties", &mut errors);
    let (Ok(topic), true) = (topic, errors.is_empty()) else {
        return Err(Error::Config(errors.join("\n  ")));
    };
    let cfg = KafkaSinkConfig {
        bootstrap_servers: p
            .opt_text("sink-bootstrap-servers")
            .or_else(|| p.opt_text("bootstrap-servers"))
            .unwrap_or_else(|| "127.0.0.1:9092".into()),
        topic,
        properties,
    };
    let record: RecordFn<T> = Arc::new(move |r: &T| {
        let mut line = String::new();
        format(r, &mut line);
        (None, line.into_bytes())
    });
    Ok(Arc::new(move || {
        Box::new(KafkaSink::new(cfg.clone(), record.clone()))
    }))
}
