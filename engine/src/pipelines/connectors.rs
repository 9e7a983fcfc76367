//! The stream connectors a job file can name: `params.source` (a JetStream
//! stream) with its parameters, and the sink of `params.sink: jetstream`.

use super::{ParamSpec, Params};
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::source::jetstream::{JetStreamConfig, JetStreamMessage, JetStreamSource};
use crate::source::Source;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One message of a stream as it arrived: where it was, when, and its bytes.
/// The pipeline decides what the bytes mean, so a record that does not parse
/// can be reported with its place.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawRecord {
    /// The partition (JetStream subject) it was read from.
    pub partition: String,
    /// Its offset in the stream (JetStream stream sequence).
    pub offset: u64,
    /// When the broker stored it (ms since the epoch).
    pub timestamp_ms: i64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Source connectors, `params.source`.
pub const SOURCES: &[&str] = &["jetstream"];

/// The stream source's parameters.
pub(crate) static SOURCE_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "source",
        default: None,
        kind: Kind::Enum(SOURCES),
        doc: "Where records come from: jetstream (a NATS JetStream stream; required).",
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

/// A required parameter, or the error that names what it is for.
fn required(p: &Params, name: &str, what: &str) -> std::result::Result<String, String> {
    p.opt_text(name)
        .ok_or_else(|| format!("params.{name}: required with {what}"))
}

/// The source `params.source` names, making [`RawRecord`]s; every missing
/// parameter is reported at once.
pub(crate) fn raw_source(
    p: &Params,
) -> Result<impl Fn() -> Box<dyn Source<RawRecord>> + Send + Sync + 'static> {
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
        subjects: subjects
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        bounded: p.text("bounded") == "true",
    };
    let record: crate::source::jetstream::MessageFn<RawRecord> =
        Arc::new(|m: &JetStreamMessage<'_>| {
            Ok(RawRecord {
                partition: m.subject.to_string(),
                offset: m.sequence,
                timestamp_ms: m.published_ms,
                payload: m.payload.to_vec(),
            })
        });
    Ok(move || {
        Box::new(JetStreamSource::new(cfg.clone(), record.clone())) as Box<dyn Source<RawRecord>>
    })
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
