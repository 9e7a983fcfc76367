//! The JetStream job as README.md and `examples/jetstream-count.yaml` state
//! it, through the commands a user types (`tidemark produce`, `tidemark run
//! … --restore latest`), against a real nats-server: the example counts what
//! was produced and resumes where it stopped; killed with SIGKILL again and
//! again while messages arrive, it writes every running count exactly once,
//! into part files or into another JetStream stream. The oracle is what the
//! test produced.

use std::path::Path;
use std::time::Duration;
use tidemark_tests::servers::{curl, nats, Nats};
use tidemark_tests::stream_jobs::*;
use tidemark_tests::*;

const ROUNDS: u64 = 6;
const CHUNK: u64 = 6_000;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("examples/jetstream-count.yaml")
        .display()
        .to_string()
}

/// `tidemark produce` into `server`'s stream `stream` on `subjects`, `input`
/// on its standard input.
fn publish(d: &Path, server: &Nats, stream: &str, subjects: &str, input: &str) -> String {
    produce_stdin(
        d,
        &[
            "--url",
            &server.url,
            "--stream",
            stream,
            "--subjects",
            subjects,
        ],
        input,
    )
}

/// `tidemark produce` arguments: the example's stream and subjects on
/// `server`, `rate` lines a second.
fn to_events(server: &Nats, rate: &str) -> Vec<String> {
    [
        "--url",
        &server.url,
        "--stream",
        "events",
        "--subjects",
        "events.0,events.1",
        "--rate",
        rate,
    ]
    .map(String::from)
    .to_vec()
}

/// `tidemark run examples/jetstream-count.yaml --restore latest` against
/// `server`, with `extra` settings.
fn run_args<S: AsRef<str>>(server: &Nats, extra: &[S]) -> Vec<String> {
    let mut args: Vec<String> = ["run", &example(), "--restore", "latest"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--set".into(), format!("params.url={}", server.url)]);
    args.extend(extra.iter().map(|s| s.as_ref().to_string()));
    args
}

#[test]
fn the_readme_example_counts_what_was_produced_and_resumes_where_it_stopped() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let subjects = "events.0,events.1";
    let err = publish(d, &server, "events", subjects, "alice\nbob\nalice\n");
    assert!(err.contains("published 3 messages"), "{err}");
    let args = run_args::<&str>(&server, &[]);
    let lines = stop_at(start(d, &args), &d.join("out"), 3);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1"]);
    // Published while the job is down: the same command reads them next,
    // counting on from the state it stopped with.
    publish(d, &server, "events", subjects, "bob\ncarol\n");
    let r = start(d, &args);
    let lines = stop_at(r, &d.join("out"), 5);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1", "bob,2", "carol,1"]);
}

/// Where the kill loop's job writes its counts.
#[derive(Clone, Copy)]
enum Output {
    Files,
    JetStream,
}

#[test]
fn killed_again_and_again_the_example_writes_every_count_once_to_files() {
    kill_loop_to(Output::Files);
}

#[test]
fn killed_again_and_again_the_example_writes_every_count_once_to_jetstream() {
    kill_loop_to(Output::JetStream);
}

/// The SIGKILL loop ([`kill_loop`]) on the example, into part files or a
/// JetStream stream.
fn kill_loop_to(output: Output) {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut extra = vec![
        "--status-interval",
        "0",
        "--set",
        "execution.checkpointing.interval=200 ms",
        "--set",
        "restart-strategy.type=none",
        "--set",
        "metrics.reporter.prom.port=0",
    ];
    // An empty input creates a stream: the job's source needs it to start.
    publish(d, &server, "events", "events.0,events.1", "");
    if let Output::JetStream = output {
        // And the stream the sink publishes to.
        publish(d, &server, "counts", "counts", "");
        extra.extend([
            "--set",
            "params.sink=jetstream",
            "--set",
            "params.sink-subject=counts",
        ]);
    }
    let produce = to_events(&server, "10000");
    let produce: Vec<&str> = produce.iter().map(String::as_str).collect();
    kill_loop(
        d,
        &run_args(&server, &extra),
        &produce,
        (ROUNDS, CHUNK),
        &["--set", "params.bounded=true"],
        |want| {
            let lines = match output {
                Output::Files => committed_lines(&d.join("out")),
                Output::JetStream => server.messages("counts"),
            };
            assert_running_counts(&lines, want)
        },
    );
}

/// The lag gauges read through a real Prometheus follow what the test does:
/// it publishes 12 000 messages at 4 000 a second to a job that reads at most
/// 2 000 a second (two sink subtasks taking 1 ms a record). Records pending
/// rise, never above what was published on a subject, and fall to 0 once the
/// job has read everything; the seconds figure is the publish-time span of
/// the pending messages, which a steady producer makes pending / rate; and
/// the Sources row of the job overview dashboard returns data.
#[test]
fn lag_through_prometheus_grows_while_producing_faster_than_the_job_reads_then_falls_to_zero() {
    use tidemark_agent::monitoring::dashboards;
    use tidemark_tests::servers::{prometheus, promql};
    const LINES: u64 = 12_000;
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    publish(d, &server, "events", "events.0,events.1", "");
    let args = run_args(
        &server,
        &[
            "--status-interval",
            "0",
            "--set",
            "params.sink=blackhole",
            "--set",
            "params.sink-delay=1ms",
            "--set",
            "metrics.reporter.prom.port=0",
            // Small channels: the backlog stays in the stream, where the
            // source sees it, not in the job's queues.
            "--set",
            "tidemark.runtime.batch-size=16",
            "--set",
            "tidemark.runtime.channel-capacity=2",
        ],
    );
    let job = start(d, &args);
    let prom = prometheus(&[("tidemark", &job.metrics_addr())]);
    let input = key_lines(0..LINES);
    let file = write_file(d, "input.txt", &input);
    let started = std::time::Instant::now();
    let mut produce = vec!["produce".to_string()];
    produce.extend(to_events(&server, "4000"));
    produce.push(file);
    let (code, err) = start(d, &produce).wait(Duration::from_secs(120));
    assert_eq!(code, 0, "tidemark produce: {err}");
    // Messages a second per subject, as the producer managed them.
    let per_subject_rate = (LINES / 2) as f64 / started.elapsed().as_secs_f64();
    let value = |q: &str| -> Option<f64> {
        let body = promql(&prom, q);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let sel = r#"{job_name="jetstream-count"}"#;
    // Falls to 0: the job read everything (and Prometheus scraped it).
    wait_for_or(
        "0 records pending and 0 s of lag on both subjects",
        Duration::from_secs(120),
        || {
            let pending = value(&format!("sum(tidemark_source_pending_records{sel})"))?;
            let lag = value(&format!("max(tidemark_source_lag_seconds{sel})"))?;
            let subjects = value(&format!("count(tidemark_source_pending_records{sel})"))?;
            (pending == 0.0 && lag == 0.0 && subjects == 2.0).then_some(())
        },
        || job.stderr(),
    );
    let over_run = |q: &str| value(&format!("max_over_time(({q})[5m:1s])")).unwrap_or(0.0);
    let max_pending = over_run(&format!("max(tidemark_source_pending_records{sel})"));
    assert!(
        max_pending > 1_000.0 && max_pending <= (LINES / 2) as f64,
        "records pending on a subject peaked at {max_pending}: expected a backlog, and never more than the {} published on it",
        LINES / 2
    );
    let max_lag = over_run(&format!("max(tidemark_source_lag_seconds{sel})"));
    assert!(
        max_lag > 0.5 && max_lag <= started.elapsed().as_secs_f64(),
        "lag peaked at {max_lag} s"
    );
    // Seconds against records: pending / rate, within 0.25 s and 10 %.
    let off = over_run(&format!(
        "max(abs(tidemark_source_lag_seconds{sel} - on (subtask, partition) tidemark_source_pending_records{sel} / {per_subject_rate}) - 0.1 * tidemark_source_lag_seconds{sel})"
    ));
    assert!(
        off <= 0.25,
        "lag seconds and records pending / {per_subject_rate:.0} per s differ by {off} s beyond 10 %"
    );
    // The Sources row reads these series.
    let overview = dashboards::all()
        .into_iter()
        .find(|(f, _)| *f == "job-overview.json")
        .expect("the job overview dashboard")
        .1;
    let mut checked = 0;
    for (title, expr) in overview.queries() {
        if !expr.contains("tidemark_source_") {
            continue;
        }
        let q = expr
            .replace("$job_name", "jetstream-count")
            .replace("$job_id", ".*")
            .replace("$vertex", ".*")
            .replace("$__rate_interval", "10s");
        let body = promql(&prom, &format!("max_over_time(({q})[5m:1s])"));
        assert!(
            body.contains("\"result\":[{"),
            "{title}: no data for {q}: {body}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "the Sources row has four panels");
    job.kill();
}

/// The server stopped for 20 s while the job runs, then started again on the
/// same storage: the job rides it out (reconnecting, or failing and
/// restarting from its last checkpoint as its strategy allows), counts the
/// errors it recovered from, and once the server is back every running
/// count of everything produced, before and after, is committed exactly once.
#[test]
fn the_server_stopped_for_20_s_loses_nothing_and_duplicates_nothing() {
    let mut server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let subjects = "events.0,events.1";
    publish(d, &server, "events", subjects, &key_lines(0..3_000));
    let mut extra = vec!["--status-interval".to_string(), "0".into()];
    extra.extend(sets(&[
        "metrics.reporter.prom.port=0",
        "execution.checkpointing.interval=200 ms",
        "restart-strategy.type=fixed-delay",
        "restart-strategy.fixed-delay.attempts=1000",
        "restart-strategy.fixed-delay.delay=1 s",
    ]));
    let r = start(d, &run_args(&server, &extra));
    let metrics = r.metrics_addr();
    let out = d.join("out");
    wait_for_or(
        "3 000 committed lines",
        Duration::from_secs(60),
        || (committed_lines(&out).len() >= 3_000).then_some(()),
        || r.stderr(),
    );
    server.server.pause();
    // The outage itself, not a wait for anything.
    std::thread::sleep(Duration::from_secs(20));
    server.server.resume();
    publish(d, &server, "events", subjects, &key_lines(3_000..6_000));
    wait_for_or(
        "6 000 committed lines",
        Duration::from_secs(60),
        || (committed_lines(&out).len() >= 6_000).then_some(()),
        || r.stderr(),
    );
    // The outage was counted: the pull streams gave up (lag samples may
    // also have failed, or the task restarted: that depends on timing).
    let (_, body) = curl(&[&format!("http://{metrics}/metrics")]);
    let errors = |kind: &str| -> f64 {
        body.lines()
            .filter(|l| {
                l.starts_with("tidemark_source_errors_total{")
                    && l.contains(&format!("kind=\"{kind}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(errors("read") >= 1.0, "{body}\n{}", r.stderr());
    let lines = stop_at(r, &out, 6_000);
    assert_running_counts(&lines, &key_counts(6_000));
}

/// Messages whose key cannot be read, as README.md says: by default the job
/// fails naming the message's partition and offset; `on-error: skip` drops
/// them, counted in `tidemark_task_records_in_errors_total` of vertex
/// `keys`; `side-output` writes each with its place and problem to
/// `bad-records-output`. The good messages are counted the same way in every
/// mode.
#[test]
fn messages_without_a_key_fail_the_job_or_are_skipped_and_counted_or_set_aside() {
    let server = nats();
    let input =
        "{\"user\":\"alice\"}\nnot json\n{\"user\":\"bob\"}\n{\"name\":1}\n{\"user\":\"alice\"}\n";
    let run = |mode: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let mut extra = vec!["--status-interval".to_string(), "0".into()];
        extra.extend(sets(&[
            "metrics.reporter.prom.port=0",
            "params.key-field=user",
            "params.bounded=true",
            "restart-strategy.type=none",
        ]));
        extra.extend(mode.iter().map(|s| s.to_string()));
        let r = start(dir.path(), &run_args(&server, &extra));
        (dir, r)
    };
    publish(
        tempfile::tempdir().unwrap().path(),
        &server,
        "events",
        "events.0,events.1",
        input,
    );
    // fail: the second line is not JSON. Line i goes to subject i mod 2, so
    // it is on events.1, stream sequence 2.
    let (_dir, r) = run(&[]);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "the message at partition 'events.1', offset 2 cannot be read: the payload is not JSON"
        ) && err.contains("payload \"not json\"")
            && err.contains("(params.on-error in a job file) to skip or side-output"),
        "{err}"
    );
    // skip: counted, and the job finishes.
    let (dir, r) = run(&["--set", "params.on-error=skip", "--linger", "60s"]);
    let metrics = r.metrics_addr();
    r.wait_stderr("job finished", Duration::from_secs(60));
    let (_, body) = curl(&[&format!("http://{metrics}/metrics")]);
    let skipped = metric_sum(
        &body,
        "tidemark_task_records_in_errors_total",
        &["vertex=\"keys\""],
    );
    assert_eq!(skipped, 2.0, "{body}");
    let mut lines = committed_lines(&dir.path().join("out"));
    lines.sort();
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1"]);
    r.kill();
    // side-output: the two, with their place and problem.
    let (dir, r) = run(&[
        "--set",
        "params.on-error=side-output",
        "--set",
        "params.bad-records-output=bad",
    ]);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    let mut lines = committed_lines(&dir.path().join("out"));
    lines.sort();
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1"]);
    let mut bad: Vec<serde_json::Value> = committed_lines(&dir.path().join("bad"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    bad.sort_by_key(|v| v["offset"].as_u64());
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(
        (&bad[0]["partition"], &bad[0]["offset"], &bad[0]["payload"]),
        (&"events.1".into(), &2.into(), &"not json".into())
    );
    assert_eq!(
        (&bad[1]["partition"], &bad[1]["offset"], &bad[1]["payload"]),
        (&"events.1".into(), &4.into(), &"{\"name\":1}".into())
    );
    assert!(
        bad[1]["problem"]
            .as_str()
            .unwrap()
            .contains("no field 'user'"),
        "{bad:?}"
    );
}

/// A savepoint taken at parallelism 2 and restored at 3
/// ([`rescale_through_savepoint`]): each of 4 subjects is read on by its new
/// owner (subject i by subtask i mod 3) from the sequence the savepoint holds.
#[test]
fn a_savepoint_restored_at_another_parallelism_reassigns_subjects_exactly() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let subjects = "events.0,events.1,events.2,events.3";
    rescale_through_savepoint(
        d,
        &example(),
        &[
            format!("params.url={}", server.url),
            "params.subjects=events.0;events.1;events.2;events.3".into(),
        ],
        |range| {
            publish(d, &server, "events", subjects, &key_lines(range));
        },
    );
}
