//! `windowed-aggregation`: datagen with event time and bounded out-of-orderness
//! → key_by(key) → tumbling or sliding event-time windows aggregating `value`
//! (count/sum/min/max/avg) → sink, emitting `key,start,end,value` per window.

use super::{
    datagen_source, line_sink, ParamSpec, Params, PipelineSpec, DATAGEN_PARAMS, SINK_PARAMS,
};
use crate::api::{JobGraph, StreamEnv};
use crate::config::Config;
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::operator::window::{AggKind, Aggregation, WindowAssigner, WindowResult};
use crate::source::datagen::Event;
use crate::watermark::WatermarkStrategy;
use std::sync::Arc;

static OWN: &[ParamSpec] = &[
    ParamSpec {
        name: "window",
        default: Some("tumbling"),
        kind: Kind::Enum(&["tumbling", "sliding"]),
        doc: "Window kind.",
    },
    ParamSpec {
        name: "size",
        default: Some("1 s"),
        kind: Kind::Duration,
        doc: "Window length (event time).",
    },
    ParamSpec {
        name: "slide",
        default: Some("500 ms"),
        kind: Kind::Duration,
        doc: "Distance between sliding windows.",
    },
    ParamSpec {
        name: "aggregate",
        default: Some("count"),
        kind: Kind::Enum(&["count", "sum", "min", "max", "avg"]),
        doc: "Aggregate over the record's value.",
    },
    ParamSpec {
        name: "event-time-rate",
        default: Some("10000"),
        kind: Kind::Int(1, i64::MAX),
        doc: "Records per second of event time.",
    },
    ParamSpec {
        name: "event-time-start",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Event time of the first record, ms since the epoch. Set it to the current time, with event-time-rate equal to rate, and event time follows the wall clock (so lateness at the sink is meaningful).",
    },
    ParamSpec {
        name: "out-of-orderness",
        default: Some("200 ms"),
        kind: Kind::Duration,
        doc: "Maximum lateness of generated records; the watermark lags by as much.",
    },
    ParamSpec {
        name: "idle-timeout",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "Declare a source idle after this long without records (0 = never).",
    },
    ParamSpec {
        name: "window-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the window operator.",
    },
];

pub(super) const SPEC: PipelineSpec = PipelineSpec {
    name: "windowed-aggregation",
    doc: "datagen (event time) → key_by(key) → tumbling/sliding window aggregate → sink (key,start,end,value)",
    params: &[DATAGEN_PARAMS, OWN, SINK_PARAMS],
    metrics: &[],
    build,
};

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let ooo = p.duration("out-of-orderness").as_millis() as i64;
    let make_source = datagen_source(
        p,
        Some((
            p.int("event-time-rate") as u64,
            ooo,
            p.int("event-time-start"),
        )),
    );
    let size = p.duration("size").as_millis() as i64;
    let assigner = if p.text("window") == "sliding" {
        let slide = p.duration("slide").as_millis() as i64;
        if slide <= 0 || slide > size {
            return Err(Error::Config(format!(
                "params.slide: '{}' is not valid: expected more than 0 and at most params.size ({})",
                p.text("slide"),
                p.text("size")
            )));
        }
        WindowAssigner::Sliding {
            size_ms: size,
            slide_ms: slide,
        }
    } else {
        WindowAssigner::Tumbling { size_ms: size }
    };
    if size <= 0 {
        return Err(Error::Config(format!(
            "params.size: '{}' is not valid: expected at least 1 ms",
            p.text("size")
        )));
    }
    let kind: AggKind = p
        .text("aggregate")
        .parse()
        .map_err(|_| Error::Config("params.aggregate".into()))?;
    let idle = p.duration("idle-timeout");
    let wm = WatermarkStrategy::bounded(ooo, |e: &Event| e.ts)
        .with_idleness((!idle.is_zero()).then_some(idle));
    let env = StreamEnv::new(name).with_pipeline(SPEC.name);
    let sink = line_sink::<WindowResult<u64, f64>>(
        p,
        Arc::new(|r: &WindowResult<u64, f64>, s: &mut String| {
            use std::fmt::Write;
            let _ = write!(s, "{},{},{},{}", r.key, r.start, r.end, r.value);
        }),
    )?;
    let (sp, wp, kp) = (
        p.opt_usize("source-parallelism"),
        p.opt_usize("window-parallelism"),
        p.opt_usize("sink-parallelism"),
    );
    let src = env
        .source_with_watermarks::<Event>(make_source, wm)
        .name("datagen")
        .uid("datagen")
        .with_parallelism(sp);
    let win = src
        .key_by(|e: &Event| e.key)
        .window(assigner, |e: &Event| e.ts)
        .aggregate(Aggregation {
            kind,
            field: Arc::new(|e: &Event| e.value as f64),
        })
        .name(&format!(
            "window {} {}",
            p.text("window"),
            p.text("aggregate")
        ))
        .uid("window")
        .with_parallelism(wp);
    // A window result's event time is its last instant.
    let end: crate::sink::EventTimeFn<WindowResult<u64, f64>> =
        Arc::new(|r: &WindowResult<u64, f64>| r.end - 1);
    win.sink_timed(end, move || sink())
        .name(&format!("sink: {}", p.text("sink")))
        .uid("sink")
        .with_parallelism(kp);
    env.build(config)
}
