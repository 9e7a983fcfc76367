//! The encoders over series built from the bytes (`tidemark_agent::fuzz`):
//! both text formats are read back by Prometheus' own Python parsers (one
//! long-lived process, `reference_parsers.py`) and line protocol by
//! InfluxData's parser, and every label value that went in comes out
//! unchanged. `tests/tests/fuzz_corpora.rs` replays the corpus the same way
//! and through promtool.
#![no_main]

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use tidemark_agent::encode::{openmetrics, prometheus};
use tidemark_agent::export::influxdb::encode_lines;

type Parsers = Mutex<(ChildStdin, BufReader<ChildStdout>)>;

fn reference_parsers() -> &'static Parsers {
    static P: OnceLock<Parsers> = OnceLock::new();
    P.get_or_init(|| {
        let venv = std::env::var("TIDEMARK_VENV").unwrap_or_else(|_| {
            format!(
                "{}/.cache/tidemark-venv",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/reference_parsers.py");
        let mut child = Command::new(format!("{venv}/bin/python"))
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test venv with prometheus-client (scripts/fuzz.sh makes it)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Mutex::new((stdin, stdout))
    })
}

fn check_text_formats(case: &tidemark_agent::fuzz::Case, text: &str, om: &str) {
    let line = serde_json::json!({ "text": text, "openmetrics": om, "series": case.series });
    let mut p = reference_parsers().lock().unwrap();
    writeln!(p.0, "{line}").expect("reference parsers alive");
    let mut answer = String::new();
    p.1.read_line(&mut answer)
        .expect("reference parsers answer");
    let findings: Vec<String> = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("reference parsers said {answer:?}: {e}"));
    assert!(
        findings.is_empty(),
        "{findings:#?}\n--- text:\n{text}\n--- openmetrics:\n{om}"
    );
}

fn check_line_protocol(case: &tidemark_agent::fuzz::Case, line: &str) {
    let parsed: Vec<_> = influxdb_line_protocol::parse_lines(line).collect();
    assert_eq!(parsed.len(), 1, "one line in, one line out: {line:?}");
    let l = parsed.into_iter().next().unwrap();
    let l = l.unwrap_or_else(|e| panic!("line protocol refused: {e}: {line:?}"));
    let written: Vec<_> = case
        .series
        .iter()
        .filter(|(n, _)| *n == l.series.measurement.as_str())
        .map(|(_, labels)| labels)
        .collect();
    if written.is_empty() {
        return; // the registry's own families (series counts)
    }
    let tags: Vec<(String, String)> = l
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A value with `\`, a newline, a carriage return or a tab is stored
    // differently by design (influxdb.rs: line protocol cannot carry them
    // everywhere); every other one exactly, and an empty one as no tag.
    let plain = |v: &str| !v.contains(['\\', '\n', '\r', '\t']);
    let matches = written.iter().any(|labels| {
        labels.iter().all(|(k, v)| {
            let got = tags
                .iter()
                .find(|(tk, _)| tk == k)
                .map(|(_, tv)| tv.as_str());
            !plain(v) || got.unwrap_or("") == v.as_str()
        })
    });
    assert!(matches, "tags {tags:?} match no series written: {line:?}");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let case = tidemark_agent::fuzz::case(data);
    let families = case.registry.snapshot();
    check_text_formats(
        &case,
        &prometheus::encode(&families),
        &openmetrics::encode(&families),
    );
    for line in encode_lines(&families, 1_700_000_000_000) {
        check_line_protocol(&case, &line);
    }
});
