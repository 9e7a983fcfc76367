//! The fuzz targets' committed inputs (fuzz/corpus) and every crash the
//! fuzzers found (fuzz/regressions) replayed through the same entry points on
//! every test run, without the fuzz build: no reader panics, each regression
//! keeps the verdict its fix gave it, and the encoders' output for every
//! exposition input is read back by the reference parsers (promtool and
//! Prometheus' Python client, both formats) with every label value as it
//! went in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tidemark_agent::encode::{openmetrics, prometheus};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every committed input of `target`, corpus and regressions, by path.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        // A target with no regressions has no folder (git keeps no empty ones).
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert!(kind == "regressions", "{} is missing", dir.display());
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            out.push((p, bytes));
        }
    }
    out.sort();
    out
}

/// Runs `f` over every input of `target`; returns (path, verdict) and fails
/// naming every input that panicked.
fn replay<T>(target: &str, f: impl Fn(&[u8]) -> T) -> Vec<(PathBuf, T)> {
    let all = inputs(target);
    assert!(
        all.len() >= 5,
        "{target}: only {} committed inputs",
        all.len()
    );
    let mut verdicts = Vec::new();
    let mut panics = Vec::new();
    for (p, bytes) in all {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes))) {
            Ok(v) => verdicts.push((p, v)),
            Err(_) => panics.push(p.display().to_string()),
        }
    }
    assert!(panics.is_empty(), "{target}: panicked on {panics:#?}");
    verdicts
}

fn verdict_of<'a, T>(verdicts: &'a [(PathBuf, T)], name: &str) -> &'a T {
    &verdicts
        .iter()
        .find(|(p, _)| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no committed input named {name}"))
        .1
}

fn err_of<'a>(verdicts: &'a [(PathBuf, Result<(), String>)], name: &str) -> &'a str {
    match verdict_of(verdicts, name) {
        Ok(()) => panic!("{name} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn job_files_and_settings_get_a_verdict() {
    let v = replay("job_file", tidemark::fuzz::job_file);
    // The shipped examples are valid, as README.md runs them.
    for name in ["keyed-count", "file-to-file", "windowed-aggregation"] {
        assert!(
            verdict_of(&v, name).is_ok(),
            "{name}: {:?}",
            verdict_of(&v, name)
        );
    }
    let e = err_of(&v, "many-problems");
    for part in [
        "keys",
        "colour",
        "execution.checkpointing.interval",
        "parallelism.default",
        "no.such.key",
        "extra",
    ] {
        assert!(e.contains(part), "{part} not reported: {e}");
    }
    assert!(err_of(&v, "malformed").contains("malformed YAML"));

    let v = replay("config_set", tidemark::fuzz::config_set);
    assert!(
        verdict_of(&v, "basic").is_ok(),
        "{:?}",
        verdict_of(&v, "basic")
    );
    let e = err_of(&v, "reporters");
    assert!(e.contains("--set 'nonsense': expected KEY=VALUE"), "{e}");
    assert!(err_of(&v, "rocksdb").contains("--linger: 'forever' is not valid"));
}

/// A corpus file written by a real run (`ck-<job>-…`, docs/fuzzing.md).
fn is_seed_run(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("ck-"))
        && p.parent().and_then(Path::parent).and_then(Path::file_name) == Some("corpus".as_ref())
}

#[test]
fn checkpoint_files_get_a_clear_verdict() {
    let v = replay("metadata", tidemark::fuzz::metadata);
    // Every metadata file the seed runs wrote reads back, raw and as JSON.
    let seeds: Vec<_> = v.iter().filter(|(p, _)| is_seed_run(p)).collect();
    assert!(seeds.len() >= 10, "{} seed metadata files", seeds.len());
    for (p, verdict) in seeds {
        assert!(verdict.is_ok(), "{}: {verdict:?}", p.display());
    }
    assert!(err_of(&v, "escaping-names").contains("is not a plain file name"));

    let v = replay("state_file", tidemark::fuzz::state_file);
    let seeds: Vec<_> = v.iter().filter(|(p, _)| is_seed_run(p)).collect();
    assert!(seeds.len() >= 8, "{} seed state files", seeds.len());
    for (p, verdict) in &seeds {
        assert!(verdict.is_ok(), "{}: {verdict:?}", p.display());
    }
    assert!(
        seeds
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("zstd")),
        "no zstd-compressed seed"
    );
    assert!(err_of(&v, "chunk-beyond-the-end").contains("outside the file's"));
    assert!(err_of(&v, "snappy-bomb").contains("more than the format can encode"));
}

#[test]
fn rest_requests_get_a_client_answer() {
    let v = replay("rest", tidemark::fuzz::rest);
    for (p, code) in &v {
        assert!(
            (200..500).contains(code),
            "{}: answered {code}",
            p.display()
        );
    }
    let j = |n: &str| *verdict_of(&v, n);
    assert_eq!(j("GET__jobs"), 200);
    assert_eq!(j("GET__jobs_deadbeef"), 404);
    assert_eq!(j("post-checkpoint"), 202);
    assert_eq!(j("patch-wrong-token"), 401);
    assert_eq!(j("post-bad-json"), 400);
}

#[test]
fn encoder_output_for_every_exposition_input_reads_back_in_the_reference_parsers() {
    let mut cases = Vec::new();
    let mut promtool_failures = Vec::new();
    let mut paths = Vec::new();
    for (p, bytes) in inputs("exposition") {
        let case = tidemark_agent::fuzz::case(&bytes);
        let families = case.registry.snapshot();
        let text = prometheus::encode(&families);
        let (code, findings) = tidemark_tests::promtool_check_metrics(&text);
        if code != 0 {
            promtool_failures.push(format!("{}: {findings}", p.display()));
        }
        paths.push(p);
        cases.push(serde_json::json!({
            "text": text,
            "openmetrics": openmetrics::encode(&families),
            "series": case.series,
        }));
    }
    assert!(cases.len() >= 5, "{} exposition inputs", cases.len());
    assert!(promtool_failures.is_empty(), "{promtool_failures:#?}");
    let with_labels = cases
        .iter()
        .filter(|c| c["series"].as_array().is_some_and(|s| !s.is_empty()))
        .count();
    assert!(with_labels >= 5, "only {with_labels} inputs write a series");

    let venv = std::env::var("TIDEMARK_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/tidemark-venv", std::env::var("HOME").unwrap()));
    let mut c = Command::new(format!("{venv}/bin/python"))
        .arg(fuzz_dir().join("reference_parsers.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test venv exists (scripts/install-test-deps.sh)");
    let lines: String = cases.iter().map(|c| format!("{c}\n")).collect();
    c.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers = String::from_utf8_lossy(&out.stdout);
    assert_eq!(answers.lines().count(), cases.len(), "{answers}");
    let findings: Vec<String> = answers
        .lines()
        .zip(&paths)
        .filter(|(a, _)| *a != "[]")
        .map(|(a, p)| format!("{}: {a}", p.display()))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
}
