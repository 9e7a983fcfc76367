//! `file-word-count`: line files → words (lower-cased, split on anything not
//! alphanumeric) → running count per word → sink, emitting `word,count`.

use super::keyed_count::RunningCount;
use super::{line_sink, ParamSpec, Params, PipelineSpec, SINK_PARAMS};
use crate::api::{JobGraph, StreamEnv};
use crate::config::Config;
use crate::config::Kind;
use crate::error::Result;
use crate::source::file::FileSource;
use std::path::PathBuf;
use std::sync::Arc;

static OWN: &[ParamSpec] = &[
    ParamSpec {
        name: "input",
        default: None,
        kind: Kind::Path,
        doc: "A file, or a directory of files, read line by line (required).",
    },
    ParamSpec {
        name: "source-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the source.",
    },
    ParamSpec {
        name: "count-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the count.",
    },
];

pub(super) const SPEC: PipelineSpec = PipelineSpec {
    name: "file-word-count",
    doc: "line files → words → running count per word → sink (word,count per word)",
    params: &[OWN, SINK_PARAMS],
    metrics: &[],
    build,
};

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let input = PathBuf::from(p.opt_text("input").ok_or_else(|| {
        crate::Error::Config("params.input: required (a file or a directory of text files)".into())
    })?);
    FileSource::list(&input)?;
    let env = StreamEnv::new(name).with_pipeline(SPEC.name);
    let sink = line_sink::<(String, u64)>(
        p,
        Arc::new(|(w, c): &(String, u64), s: &mut String| {
            s.push_str(w);
            s.push(',');
            s.push_str(&c.to_string());
        }),
    )?;
    let (sp, cp, kp) = (
        p.opt_usize("source-parallelism"),
        p.opt_usize("count-parallelism"),
        p.opt_usize("sink-parallelism"),
    );
    let src = env
        .source::<String>(move || Box::new(FileSource::new(input.clone())))
        .name("lines")
        .uid("lines")
        .with_parallelism(sp);
    let words = src
        .flat_map(|line: String, out: &mut Vec<String>| {
            out.extend(
                line.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase),
            )
        })
        .name("words")
        .uid("words");
    let counts = words
        .key_by(|w: &String| w.clone())
        .process(RunningCount::<String, String>::default)
        .name("count")
        .uid("count")
        .with_parallelism(cp);
    counts
        .sink(move || sink())
        .name(&format!("sink: {}", p.text("sink")))
        .uid("sink")
        .with_parallelism(kp);
    env.build(config)
}
