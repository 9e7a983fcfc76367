//! Savepoints: taken through the CLI (REST, token-protected), canonical and
//! restorable at another parallelism and into another state backend, and by
//! two jobs side by side.

use std::path::Path;
use std::time::Duration;
use tidemark_tests::{committed_lines, get_json, wait_for_or, Running};

const TOKEN: (&str, &str) = ("TIDEMARK_REST_TOKEN", "sp-token");

/// The job at parallelism `p` throughout: sources, keyed count and sinks.
fn yaml(name: &str, p: usize, backend: &str, out: &str, rate: u64) -> String {
    [
        format!("name: {name}"),
        "pipeline: keyed-count".into(),
        "params:".into(),
        "  keys: 300".into(),
        "  events: 40000".into(),
        format!("  rate: {rate}"),
        "  sink: file".into(),
        format!("  output: {out}"),
        "config:".into(),
        format!("  parallelism.default: {p}"),
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
/// then stops it with a savepoint through `tidemark savepoint --stop`;
/// returns the savepoint's folder.
fn run_then_stop_with_savepoint(d: &Path, name: &str, yml: &str, from: Option<&str>) -> String {
    let (stdout, _) = run_then_stop(d, name, yml, from, &[]);
    assert!(stdout.contains("savepoints/savepoint-"), "{stdout}");
    stdout
}

/// [`run_then_stop_with_savepoint`] with more `tidemark savepoint` flags;
/// returns what the savepoint command printed and the job's stderr.
fn run_then_stop(
    d: &Path,
    name: &str,
    yml: &str,
    from: Option<&str>,
    flags: &[&str],
) -> (String, String) {
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
        .args(flags)
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
    (stdout, err)
}

/// The whole job, sources and sinks included, moves 2 → 3 → 1 through
/// savepoints (and heap → RocksDB → heap): sources hand their splits over,
/// sinks their pending files, keyed state its key groups.
#[test]
fn the_whole_job_rescales_2_3_1_across_backends_and_every_count_stays_exact() {
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
        &yaml("rescale", 3, "rocksdb", "out", 8000),
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
    // The oracle is the generator: each key's counts are exactly 1..=n with n
    // from the records it generated, whatever the output says.
    let lines = committed_lines(&p.join("out"));
    tidemark_tests::assert_counts_match_generator(&lines, 300, 40_000, 42);
    // Every subtask of the first two runs wrote output: all three ran.
    for sub in 0..3 {
        assert!(
            std::fs::read_dir(p.join("out"))
                .unwrap()
                .flatten()
                .any(|e| e
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("part-{sub}-"))),
            "no committed output of sink subtask {sub}"
        );
    }
    // Nothing uncommitted is left behind by the subtasks that went away.
    let leftovers: Vec<_> = std::fs::read_dir(p.join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".inprogress"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
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
        let e = r.wait_stderr("keeping the metric reporters up", Duration::from_secs(120));
        // The job has ended and its REST API still answers (--linger): a
        // trigger is refused, not filed for nobody to carry out.
        let job_url = e.split("rest: ").nth(1).unwrap().lines().next().unwrap();
        let (code, body) = tidemark_tests::servers::curl(&[
            "-XPOST",
            "-H",
            &format!("Authorization: Bearer {}", TOKEN.1),
            &format!("{job_url}/checkpoints"),
        ]);
        assert_eq!(
            (code, body.as_str()),
            (409, r#"{"errors":["the job is no longer running"]}"#)
        );
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

/// Stop-with-savepoint with `--drain` ends event time before the savepoint:
/// an hour-long window that no watermark of a seconds-long run would close
/// fires, and its counts are exactly those of the records read up to the
/// savepoint (a prefix of the generated stream at parallelism 1).
#[test]
fn stop_with_drain_fires_every_window_into_the_committed_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let yml = [
        "name: drained",
        "pipeline: windowed-aggregation",
        "params:",
        "  keys: 50",
        "  rate: 5000",
        "  event-time-rate: 1000",
        "  out-of-orderness: 0 ms",
        "  window: tumbling",
        "  size: 1 h",
        "  aggregate: count",
        "  sink: file",
        "  output: out",
        "config:",
        "  parallelism.default: 1",
        "  execution.checkpointing.interval: 200 ms",
        "  execution.checkpointing.dir: ck",
        "  execution.checkpointing.savepoint-dir: savepoints",
        "  metrics.reporter.prom.port: 0",
        "  rest.bind-port: 0",
        "  rest.auth.token-env: TIDEMARK_REST_TOKEN",
    ]
    .join("\n")
        + "\n";
    let (_, err) = run_then_stop(p, "drained", &yml, None, &["--drain"]);

    let mut got = std::collections::BTreeMap::new();
    for l in committed_lines(&p.join("out")) {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!((f[1], f[2]), ("0", "3600000"), "one hour-long window: {l}");
        let v: f64 = f[3].parse().unwrap();
        assert!(
            got.insert(f[0].parse::<u64>().unwrap(), v as u64).is_none(),
            "{l}"
        );
    }
    let read: u64 = got.values().sum();
    assert!(read > 0, "the drained window fired: {err}");
    let want = tidemark_tests::generated_key_counts(50, read, 42);
    assert_eq!(
        got, want,
        "the window counts the {read} records read before the savepoint"
    );
}
