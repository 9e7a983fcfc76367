//! Savepoints: taken through the CLI (REST, token-protected), canonical and
//! restorable at another parallelism and into another state backend, and by
//! two jobs side by side.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;
use tidemark_tests::{committed_lines, get_json, wait_for_or, Running};

const TOKEN: (&str, &str) = ("TIDEMARK_REST_TOKEN", "sp-token");

fn yaml(name: &str, count_p: usize, backend: &str, out: &str, rate: u64) -> String {
    [
        format!("name: {name}"),
        "pipeline: keyed-count".into(),
        "params:".into(),
        "  keys: 300".into(),
        "  events: 40000".into(),
        format!("  rate: {rate}"),
        "  sink: file".into(),
        format!("  output: {out}"),
        format!("  count-parallelism: {count_p}"),
        "config:".into(),
        "  parallelism.default: 1".into(),
        "  pipeline.max-parallelism: 128".into(),
        "  execution.checkpointing.interval: 200 ms".into(),
        "  execution.checkpointing.dir: ck".into(),
        format!("  state.backend.type: {backend}"),
        "  state.backend.rocksdb.localdir: rocks".into(),
        "  execution.checkpointing.savepoint-dir: savepoints".into(),
        "  execution.checkpointing.snapshot-compression: lz4".into(),
        "  metrics.reporter.prom.port: 0".into(),
        "  rest.bind-port: 0".into(),
        "  rest.auth.token-env: TIDEMARK_REST_TOKEN".into(),
    ]
    .join("\n")
        + "\n"
}

/// Runs `tidemark ARGS` to its end with the REST token set: (exit code, stderr).
fn run(d: &Path, args: &[&str]) -> (i32, String) {
    Running::start_with_env(d, args, &[TOKEN]).wait(Duration::from_secs(120))
}

/// Runs a job (restoring `from` if given) until a few checkpoints completed,
/// then stops it with a savepoint through `tidemark savepoint --stop`.
fn run_then_stop_with_savepoint(d: &Path, name: &str, yml: &str, from: Option<&str>) -> String {
    let job = tidemark_tests::write_file(d, &format!("{name}.yaml"), yml);
    let mut args = vec!["run", &job, "--status-interval", "0"];
    if let Some(f) = from {
        args.extend(["--restore", f]);
    }
    let r = Running::start_with_env(d, &args, &[TOKEN]);
    let url = r.rest_url();
    wait_for_or(
        "two completed checkpoints",
        Duration::from_secs(60),
        || {
            (get_json(&format!("{url}/checkpoints"))["counts"]["completed"].as_u64() >= Some(2))
                .then_some(())
        },
        || r.stderr(),
    );
    let out = std::process::Command::new(tidemark_tests::bin())
        .current_dir(d)
        .env(TOKEN.0, TOKEN.1)
        .args(["savepoint", &url, "--stop"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "savepoint failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        r.stderr()
    );
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("job stopped; savepoint kept at"), "{err}");
    assert!(stdout.contains("savepoints/savepoint-"), "{stdout}");
    stdout
}

/// Every key's counts are exactly 1..=last, each once, and they add up to
/// the records generated: nothing lost, nothing counted twice.
fn assert_exact(lines: &[String], events: u64) -> BTreeMap<u64, u64> {
    let mut seen = HashSet::new();
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for l in lines {
        assert!(seen.insert(l.clone()), "duplicate output line {l}");
        let (k, c) = l.split_once(',').unwrap();
        let (k, c): (u64, u64) = (k.parse().unwrap(), c.parse().unwrap());
        let m = last.entry(k).or_default();
        *m = (*m).max(c);
    }
    for (k, m) in &last {
        for c in 1..=*m {
            assert!(
                seen.contains(&format!("{k},{c}")),
                "key {k} lacks count {c}"
            );
        }
    }
    assert_eq!(
        last.values().sum::<u64>(),
        events,
        "counts add up to the records"
    );
    assert_eq!(lines.len() as u64, events);
    last
}

#[test]
fn rescaling_2_4_1_and_switching_heap_rocksdb_heap_keeps_every_count_exact() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let sp1 = run_then_stop_with_savepoint(
        p,
        "rescale",
        &yaml("rescale", 2, "hashmap", "out", 8000),
        None,
    );
    let sp2 = run_then_stop_with_savepoint(
        p,
        "rescale",
        &yaml("rescale", 4, "rocksdb", "out", 8000),
        Some(&sp1),
    );
    // The savepoint of the RocksDB run is canonical: the heap backend reads it.
    let job = tidemark_tests::write_file(p, "last.yaml", &yaml("rescale", 1, "hashmap", "out", 0));
    let (code, err) = run(
        p,
        &["run", &job, "--status-interval", "0", "--restore", &sp2],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("restoring from savepoint"), "{err}");
    assert_exact(&committed_lines(&p.join("out")), 40_000);
}

#[test]
fn a_changed_max_parallelism_or_another_pipeline_is_refused_with_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let sp =
        run_then_stop_with_savepoint(p, "guard", &yaml("guard", 2, "hashmap", "out", 8000), None);
    let y = yaml("guard", 2, "hashmap", "out", 0).replace(
        "pipeline.max-parallelism: 128",
        "pipeline.max-parallelism: 256",
    );
    let job = tidemark_tests::write_file(p, "mp.yaml", &y);
    let (code, err) = run(p, &["run", &job, "--restore", &sp]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pipeline.max-parallelism=128"), "{err}");
    // A job of another pipeline cannot take this savepoint's state.
    let w = "name: other\npipeline: windowed-aggregation\nparams:\n  keys: 10\n  events: 1000\nconfig:\n  pipeline.max-parallelism: 128\n";
    let job = tidemark_tests::write_file(p, "w.yaml", w);
    let (code, err) = run(p, &["run", &job, "--restore", &sp]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pipeline 'keyed-count'"),
        "a savepoint of another pipeline is refused: {err}"
    );
}

#[test]
fn two_jobs_restored_from_one_savepoint_run_side_by_side_under_their_own_job_ids() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let sp = run_then_stop_with_savepoint(p, "ab", &yaml("ab", 2, "hashmap", "out", 8000), None);
    let pgw = tidemark_tests::servers::pushgateway();
    let start = |name: &str, backend: &str, out: &str| {
        let y = yaml(name, 2, backend, out, 0).replace("sink: file", "sink: blackhole")
            + &format!(
                "  metrics.reporters: prom,pgw\n  metrics.reporter.pgw.factory.class: pushgateway\n  \
                 metrics.reporter.pgw.hostUrl: http://{}\n  metrics.reporter.pgw.interval: 200 ms\n  \
                 metrics.reporter.pgw.deleteOnShutdown: false\n",
                pgw.addr
            );
        let job = tidemark_tests::write_file(p, &format!("{name}.yaml"), &y);
        Running::start_with_env(
            p,
            &[
                "run",
                &job,
                "--status-interval",
                "0",
                "--restore",
                &sp,
                "--linger",
                "60s",
            ],
            &[TOKEN],
        )
    };
    let a = start("ab-a", "hashmap", "out-a");
    let b = start("ab-b", "rocksdb", "out-b");
    let id = |r: &Running| {
        let e = r.wait_stderr("/jobs/", Duration::from_secs(30));
        e.split("/jobs/")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    let (ida, idb) = (id(&a), id(&b));
    assert_ne!(ida, idb);
    for (r, mine, other) in [(&a, &ida, &idb), (&b, &idb, &ida)] {
        r.wait_stderr("keeping the metric reporters up", Duration::from_secs(120));
        let (_, body) =
            tidemark_tests::servers::curl(&[&format!("http://{}/metrics", r.metrics_addr())]);
        assert!(
            body.contains(&format!("job_id=\"{mine}\"")),
            "own job id in metrics"
        );
        assert!(!body.contains(other.as_str()), "no series of the other job");
    }
    // The Pushgateway holds one group per job, each under its own job_id,
    // and each group's series carry only that id.
    tidemark_tests::wait_for(
        "both jobs' groups in the Pushgateway",
        Duration::from_secs(30),
        || {
            let groups = tidemark_tests::servers::pushgateway_groups(&pgw);
            (groups.contains(&("ab-a".into(), ida.clone()))
                && groups.contains(&("ab-b".into(), idb.clone())))
            .then_some(())
        },
    );
    let (_, body) =
        tidemark_tests::servers::curl(&[&format!("http://{}/api/v1/metrics", pgw.addr)]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for g in v["data"].as_array().unwrap() {
        let own = g["labels"]["job_id"].as_str().unwrap_or("");
        let other = if own == ida { &idb } else { &ida };
        assert!(
            !g.to_string().contains(other.as_str()),
            "group {own} holds series of {other}"
        );
    }
    a.kill();
    b.kill();
}
