//! `stream-count`: a stream (a JetStream stream or Kafka topics) → the key of
//! each message (its payload as text, or a field of its JSON) → running count
//! per key, emitting `key,count`, or count per key and tumbling event-time
//! window (`params.window`), emitting `key,start,end,count` → sink. A message
//! whose key or event time cannot be read is handled as `params.on-error`
//! says: fail the task, skip it and count it, or write it to the side
//! output's part files.

use super::connectors::{raw_source, raw_watermarks, SOURCE_PARAMS};
use super::keyed_count::RunningCount;
use super::{line_sink, ParamSpec, Params, PipelineSpec, SINK_PARAMS};
use crate::api::{JobGraph, StreamEnv};
use crate::config::Config;
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::operator::window::{AggKind, Aggregation, WindowAssigner, WindowResult};
use crate::sink::file::FileSink;
use crate::source::format::{event_time, BadRecord, OnError, RawRecord};
use std::sync::Arc;

static OWN: &[ParamSpec] = &[
    ParamSpec {
        name: "key-field",
        default: None,
        kind: Kind::Text,
        doc: "Each payload is a JSON object and the key is this field (a string or a number); unset, the key is the payload as UTF-8 text without surrounding whitespace.",
    },
    ParamSpec {
        name: "window",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "Count per key and tumbling event-time window of this length, emitting key,start,end,count once the watermark passes the window's end (messages later than that are dropped); 0 = a running count, key,count per message.",
    },
    ParamSpec {
        name: "on-error",
        default: Some("fail"),
        kind: Kind::Enum(ON_ERROR),
        doc: "A message whose key (or event time, with params.timestamp-field) cannot be read: fail (the task fails, naming the message; the restart strategy applies), skip (dropped), or side-output (written, with its place and the problem, as JSON lines to params.bad-records-output). Either way tidemark_task_records_in_errors_total of vertex keys counts it.",
    },
    ParamSpec {
        name: "bad-records-output",
        default: None,
        kind: Kind::Path,
        doc: "Directory of the side output's exactly-once part files (with on-error: side-output).",
    },
    ParamSpec {
        name: "count-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the key extraction and the count (default parallelism.default).",
    },
];

const ON_ERROR: &[&str] = &["fail", "skip", "side-output"];

pub(super) const SPEC: PipelineSpec = PipelineSpec {
    name: "stream-count",
    doc: "a JetStream stream or Kafka topics → key per message → running count per key → sink (key,count per message)",
    params: &[SOURCE_PARAMS, OWN, SINK_PARAMS],
    metrics: &[],
    build,
};

/// The sink of running counts, or of window counts.
enum Sink {
    Running(SinkFactory<(String, u64)>),
    Windowed(SinkFactory<WindowResult<String, f64>>),
}

type SinkFactory<T> = Arc<dyn Fn() -> Box<dyn crate::sink::Sink<T>> + Send + Sync>;

/// The key of `r`: its payload as trimmed text, or field `field` of its JSON.
fn key_of(r: &RawRecord, field: Option<&str>) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(&r.payload)
        .map_err(|e| format!("the payload is not UTF-8 text ({e})"))?;
    let Some(field) = field else {
        return match text.trim() {
            "" => Err("the payload is empty: a key is expected".into()),
            key => Ok(key.to_string()),
        };
    };
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("the payload is not JSON ({e}): a JSON object with field '{field}' is expected")
    })?;
    match doc.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!(
            "field '{field}' is {other}: a string or a number is expected"
        )),
        None => Err(format!(
            "the payload has no field '{field}': a JSON object with field '{field}' is expected"
        )),
    }
}

/// The key and event time of `r`, or what is wrong with them.
fn keyed(
    r: &RawRecord,
    field: Option<&str>,
    time_field: Option<&str>,
) -> std::result::Result<(String, i64), String> {
    let key = key_of(r, field)?;
    match (r.timestamp_ms, time_field) {
        (i64::MIN, Some(f)) => Err(event_time(&r.payload, f)
            .err()
            .unwrap_or_else(|| format!("time field '{f}' is not in ms since the epoch"))),
        (t, _) => Ok((key, t)),
    }
}

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let on_error = match p.text("on-error").as_str() {
        "skip" => OnError::Skip,
        "side-output" => OnError::SideOutput,
        _ => OnError::Fail,
    };
    let bad_dir = p.opt_text("bad-records-output");
    let mut problems = Vec::new();
    if on_error == OnError::SideOutput && bad_dir.is_none() {
        problems.push(
            "params.bad-records-output: required with params.on-error: side-output (the directory for the side output's part files)".to_string(),
        );
    }
    let source = raw_source(p, name);
    let window = p.duration("window").as_millis() as i64;
    let sink = if window > 0 {
        line_sink::<WindowResult<String, f64>>(
            p,
            Arc::new(|r: &WindowResult<String, f64>, s: &mut String| {
                use std::fmt::Write;
                let _ = write!(s, "{},{},{},{}", r.key, r.start, r.end, r.value as u64);
            }),
        )
        .map(Sink::Windowed)
    } else {
        line_sink::<(String, u64)>(
            p,
            Arc::new(|(k, c): &(String, u64), s: &mut String| {
                use std::fmt::Write;
                let _ = write!(s, "{k},{c}");
            }),
        )
        .map(Sink::Running)
    };
    let (source, sink) = match (source, sink) {
        (Ok(source), Ok(sink)) if problems.is_empty() => (source, sink),
        (source, sink) => {
            problems.extend(
                [source.err(), sink.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| e.to_string()),
            );
            return Err(Error::Config(problems.join("\n  ")));
        }
    };
    let env = StreamEnv::new(name).with_pipeline(SPEC.name);
    let (sp, cp, kp) = (
        p.opt_usize("source-parallelism"),
        p.opt_usize("count-parallelism"),
        p.opt_usize("sink-parallelism"),
    );
    let (field, time_field) = (p.opt_text("key-field"), p.opt_text("timestamp-field"));
    let keys = env
        .source_with_watermarks::<RawRecord>(move || source(), raw_watermarks(p))
        .name(&format!("source: {}", p.text("source")))
        .uid("source")
        .with_parallelism(sp)
        .decode(
            Arc::new(move |r: &RawRecord| keyed(r, field.as_deref(), time_field.as_deref())),
            on_error,
        )
        .name("keys")
        .uid("keys")
        .with_parallelism(cp);
    let (keys, bad) = keys.split();
    let keyed = keys.key_by(|(k, _): &(String, i64)| k.clone());
    let sink_name = format!("sink: {}", p.text("sink"));
    match sink {
        Sink::Running(sink) => keyed
            .process(RunningCount::<String, (String, i64)>::default)
            .name("count")
            .uid("count")
            .with_parallelism(cp)
            .sink(move || sink())
            .name(&sink_name)
            .uid("sink")
            .with_parallelism(kp),
        Sink::Windowed(sink) => {
            // A window's result is as late as its last instant.
            let end: crate::sink::EventTimeFn<WindowResult<String, f64>> =
                Arc::new(|r: &WindowResult<String, f64>| r.end - 1);
            keyed
                .window(WindowAssigner::Tumbling { size_ms: window }, |(_, t)| *t)
                .aggregate(Aggregation {
                    kind: AggKind::Count,
                    field: Arc::new(|_: &(String, i64)| 1.0),
                })
                .name("window count")
                .uid("window")
                .with_parallelism(cp)
                .sink_timed(end, move || sink())
                .name(&sink_name)
                .uid("sink")
                .with_parallelism(kp)
        }
    };
    if let Some(dir) = bad_dir.filter(|_| on_error == OnError::SideOutput) {
        let dir = std::path::PathBuf::from(dir);
        let format: Arc<dyn Fn(&BadRecord, &mut String) + Send + Sync> =
            Arc::new(|r: &BadRecord, s: &mut String| s.push_str(&r.to_json_line()));
        bad.sink(move || Box::new(FileSink::new(dir.clone(), format.clone())))
            .name("sink: bad records")
            .uid("bad-records")
            .with_parallelism(cp);
    }
    env.build(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(payload: &[u8]) -> RawRecord {
        RawRecord {
            partition: "events.0".into(),
            offset: 7,
            timestamp_ms: 0,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn keys_are_read_from_text_or_a_json_field_and_problems_are_named() {
        assert_eq!(key_of(&raw(b" alice\n"), None).unwrap(), "alice");
        assert_eq!(
            key_of(&raw(br#"{"user":"bob","n":1}"#), Some("user")).unwrap(),
            "bob"
        );
        assert_eq!(key_of(&raw(br#"{"user":42}"#), Some("user")).unwrap(), "42");
        let no_field = key_of(&raw(br#"{"name":"x"}"#), Some("user")).unwrap_err();
        assert!(no_field.contains("no field 'user'"), "{no_field}");
        let not_json = key_of(&raw(b"alice"), Some("user")).unwrap_err();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let nested = key_of(&raw(br#"{"user":{"id":1}}"#), Some("user")).unwrap_err();
        assert!(nested.contains("a string or a number"), "{nested}");
        assert!(key_of(&raw(&[0xff, 0xfe]), None)
            .unwrap_err()
            .contains("not UTF-8"));
        assert!(key_of(&raw(b"  \n"), None).unwrap_err().contains("empty"));
    }

    #[test]
    fn event_time_comes_from_the_time_field_and_its_problems_are_named() {
        let mut r = raw(br#"{"user":"bob","ts":1500}"#);
        r.timestamp_ms = event_time(&r.payload, "ts").unwrap();
        assert_eq!(
            keyed(&r, Some("user"), Some("ts")).unwrap(),
            ("bob".into(), 1500)
        );
        for (payload, problem) in [
            (&br#"{"user":"bob"}"#[..], "no time field 'ts'"),
            (
                br#"{"user":"bob","ts":"noon"}"#,
                "a number (ms since the epoch)",
            ),
            (br#"{"user":"bob","ts":1.5}"#, "whole ms since the epoch"),
        ] {
            let mut r = raw(payload);
            r.timestamp_ms = i64::MIN;
            let e = keyed(&r, Some("user"), Some("ts")).unwrap_err();
            assert!(e.contains(problem), "{e}");
        }
    }
}
