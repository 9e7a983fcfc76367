//! `tidemark doctor` against real jobs, one injected fault at a time, through
//! the command a user types: the top finding's cause and vertex within 30 s
//! of the fault's onset, and the finding gone once the fault ends. The
//! oracle for the vertex is the job's graph (`GET /jobs/:id`), not the
//! doctor.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tidemark_tests::doctor::*;
use tidemark_tests::stream_jobs::sets;
use tidemark_tests::*;

/// The uid of the job's vertex whose name starts with `prefix`.
fn vertex_id(url: &str, prefix: &str) -> String {
    let job = get_json(url);
    job["plan"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["description"].as_str().unwrap_or("").starts_with(prefix))
        .and_then(|n| n["id"].as_str())
        .unwrap_or_else(|| panic!("no vertex named {prefix}…: {job}"))
        .to_string()
}

fn healthy(v: &Value) -> bool {
    v["verdict"] == "healthy" && v["findings"].as_array().is_some_and(|f| f.is_empty())
}

/// README.md's slow sink (`examples/slow-sink.yaml`, slow from the start):
/// `sink-bottleneck` at the sink within 30 s, and healthy again once the
/// slowdown ends.
#[test]
fn a_slow_sink_is_named_within_30_s_and_the_finding_clears_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slow = d.join("slow");
    let started = std::time::Instant::now();
    let r = slow_sink(d, &[]);
    let url = r.rest_url();
    // Its measurements span less than the 5 s the doctor answers from: it
    // says so rather than calling a job it has not measured healthy.
    let early = std::process::Command::new(bin())
        .args(["doctor", &url])
        .current_dir(d)
        .output()
        .unwrap();
    if started.elapsed() < Duration::from_secs(5) {
        let err = String::from_utf8_lossy(&early.stderr);
        assert!(
            !early.status.success() && err.contains("ask again shortly"),
            "{err}"
        );
    }
    let sink = vertex_id(&url, "sink");
    let v = wait_doctor(
        d,
        &r,
        &url,
        "sink-bottleneck within 30 s of the start",
        Duration::from_secs(30).saturating_sub(started.elapsed()),
        |v| v["findings"][0]["cause"] == "sink-bottleneck",
    );
    assert_eq!(v["verdict"], "degraded", "{v}");
    assert_eq!(v["findings"][0]["vertex"], sink.as_str(), "{v}");
    let evidence = v["findings"][0]["evidence"].to_string();
    // With the CLI's default --profile, the busy sink was sampled on the
    // CPU too (asleep in its delay, it shows next to nothing).
    assert!(
        evidence.contains("tidemark_task_backpressured_seconds_total")
            && evidence.contains("tidemark_task_busy_seconds_total")
            && evidence.contains("\"on_cpu_samples\""),
        "{v}"
    );
    let capacity: Vec<&str> = v["capacity"]["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["vertex"].as_str())
        .collect();
    assert_eq!(capacity, ["datagen", "count", sink.as_str()], "{v}");
    // README: "the sink is the limit: it needs 4 subtasks" (2 subtasks busy
    // all the time, × (1 + 60 s / 30 min) / 0.7 = 2.95 → 3 → 4, the next
    // count that divides the 128 key groups).
    assert_eq!(v["capacity"]["vertices"][2]["needed_parallelism"], 4, "{v}");
    // The text form names the same.
    let (_, text) = run_stdout(d, &["doctor", &url]);
    assert!(
        text.contains("sink-bottleneck") && text.contains("\ncapacity: input "),
        "{text}"
    );
    std::fs::remove_file(&slow).unwrap();
    wait_doctor(
        d,
        &r,
        &url,
        "a healthy verdict after the slowdown",
        Duration::from_secs(60),
        healthy,
    );
    r.kill();
}

/// The negative control: the same job without the slowdown is healthy,
/// with no findings, over a full 10 s window.
#[test]
fn a_healthy_job_is_healthy_with_no_findings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url) = start_job(d, "doctor-calm", &calm_job("doctor-calm"), &[]);
    let v = wait_doctor(
        d,
        &r,
        &url,
        "an answer over a full 10 s window",
        Duration::from_secs(60),
        |v| v["window_seconds"].as_f64().is_some_and(|w| w >= 9.5),
    );
    assert!(healthy(&v), "{v}");
    // The capacity model: the input is the generator's configured 20 000
    // records a second; the job keeps up with room to spare; it never
    // failed, so the recovery time is tidemark.doctor.recovery-time's
    // documented default.
    let c = &v["capacity"];
    let input = c["input_records_per_second"].as_f64().unwrap();
    assert!((18_000.0..=22_000.0).contains(&input), "{c}");
    let headroom = c["headroom"].as_f64().unwrap();
    assert!(headroom > 1.0, "{c}");
    let max = c["max_sustainable_records_per_second"].as_f64().unwrap();
    assert!((max - input * headroom).abs() < 1e-6 * max, "{c}");
    assert_eq!(c["recovery_measured"], false, "{c}");
    assert_eq!(c["recovery_seconds"].as_f64(), Some(60.0), "{c}");
    assert!(c["catch_up_seconds"].as_f64().is_some(), "{c}");
    r.kill();
}

/// keyed-count at 20 000 records a second, as `examples/slow-sink.yaml`
/// without the slowdown.
fn calm_job(name: &str) -> String {
    format!(
        "name: {name}
pipeline: keyed-count
params:
  keys: 1000
  rate: 20000
  sink: blackhole
config:
  parallelism.default: 2
  metrics.reporter.prom.port: 0
"
    )
}

/// Checkpoints that cannot complete (a 100 ms timeout while the slow sink
/// holds the barriers back): `checkpoint-failing`, critical, first, with
/// the reason the coordinator gave; the slow sink is named after it.
#[test]
fn checkpoints_that_expire_are_named_critical_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = slow_sink(
        d,
        &[
            "execution.checkpointing.interval=1 s",
            "execution.checkpointing.timeout=100 ms",
            "execution.checkpointing.dir=./ck",
        ],
    );
    let url = r.rest_url();
    let v = wait_doctor(
        d,
        &r,
        &url,
        "checkpoint-failing",
        Duration::from_secs(60),
        |v| v["findings"][0]["cause"] == "checkpoint-failing",
    );
    assert_eq!(v["verdict"], "critical", "{v}");
    assert_eq!(v["findings"][0]["severity"], "critical", "{v}");
    let why = v["findings"][0]["why"].as_str().unwrap_or("");
    assert!(why.contains("execution.checkpointing.timeout"), "{v}");
    let causes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["cause"].as_str())
        .collect();
    assert!(causes.contains(&"sink-bottleneck"), "{v}");
    r.kill();
}

/// A job that fails on a message it cannot read and restarts into it
/// again (JetStream, `on-error: fail`, a fixed-delay restart strategy):
/// `restarting`, critical, with the root exception naming the message.
#[test]
fn a_job_restarting_on_a_bad_message_is_named_with_its_root_exception() {
    let server = tidemark_tests::servers::nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tidemark_tests::stream_jobs::produce_stdin(
        d,
        &[
            "--url",
            &server.url,
            "--stream",
            "events",
            "--subjects",
            "events.0,events.1",
        ],
        "{\"user\":\"alice\"}\noops\n",
    );
    let r = run_example(
        d,
        &example("jetstream-count.yaml"),
        &[
            format!("params.url={}", server.url),
            "params.key-field=user".into(),
            "restart-strategy.type=fixed-delay".into(),
            "restart-strategy.fixed-delay.attempts=1000".into(),
            "restart-strategy.fixed-delay.delay=500 ms".into(),
        ],
    );
    let url = r.rest_url();
    let v = wait_doctor(d, &r, &url, "restarting", Duration::from_secs(60), |v| {
        v["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["cause"] == "restarting"))
    });
    assert_eq!(v["verdict"], "critical", "{v}");
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["cause"] == "restarting")
        .unwrap();
    let why = finding["why"].as_str().unwrap_or("");
    assert!(
        why.contains("partition 'events.1', offset 2") && why.contains("oops"),
        "{v}"
    );
    // Each recovery is timed from the failure until every subtask runs
    // again: at least the restart strategy's 500 ms delay.
    let v = wait_doctor(
        d,
        &r,
        &url,
        "a measured recovery",
        Duration::from_secs(60),
        |v| v["capacity"]["recovery_measured"] == true,
    );
    let recovery = v["capacity"]["recovery_seconds"].as_f64().unwrap();
    assert!(recovery >= 0.5, "{v}");
    let gauge = metric_sum(
        &scrape(&r.metrics_addr()),
        "tidemark_job_recovery_time_seconds",
        &[],
    );
    assert!(gauge >= 0.5, "tidemark_job_recovery_time_seconds = {gauge}");
    r.kill();
}

/// Behind the slow sink, barriers queue behind records: the checkpoints'
/// time goes to their travel, named `checkpoint-start-delay` at the sink
/// (with `tidemark.doctor.checkpoint-slow` at 500 ms, so that seconds count
/// as slow), next to the sink bottleneck that causes it.
#[test]
fn barriers_stuck_behind_a_slow_sink_are_named_checkpoint_start_delay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = slow_sink(
        d,
        &[
            "execution.checkpointing.interval=1 s",
            "execution.checkpointing.dir=./ck",
            "tidemark.doctor.checkpoint-slow=500 ms",
        ],
    );
    let url = r.rest_url();
    let sink = vertex_id(&url, "sink");
    let finding = |v: &Value, cause: &str| -> Option<Value> {
        v["findings"]
            .as_array()?
            .iter()
            .find(|f| f["cause"] == cause)
            .cloned()
    };
    let v = wait_doctor(
        d,
        &r,
        &url,
        "checkpoint-start-delay",
        Duration::from_secs(60),
        |v| finding(v, "checkpoint-start-delay").is_some(),
    );
    let f = finding(&v, "checkpoint-start-delay").unwrap();
    assert_eq!(f["vertex"], sink.as_str(), "{v}");
    assert!(finding(&v, "sink-bottleneck").is_some(), "{v}");
    r.kill();
}

/// Source subtask 0 a lagging partition (each read blocks 3 s,
/// `params.source-lag`) while subtask 1 keeps up: the count's barrier from
/// subtask 1 arrives at once and the one from subtask 0 up to 3 s later, so
/// checkpoints spend their time aligning at the count, the vertex with both
/// sources as inputs (the oracle: the job's graph), and the late barrier's
/// source subtask is named. The lagging subtask is saturated by its reads,
/// so the job also cannot catch up (critical, first); the checkpoint
/// finding is the first about checkpoints. The same through Prometheus;
/// and once the partition reads promptly again (`params.faults-while-exists`
/// deleted), the finding clears.
#[test]
fn a_lagging_partition_is_named_checkpoint_alignment_at_the_vertex_that_waits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let yaml = calm_job("doctor-align").replace(
        "  sink: blackhole\n",
        "  sink: blackhole\n  source-lag: 3 s\n  faults-while-exists: ./lagging\n",
    );
    let job = write_file(d, "doctor-align.yaml", &yaml);
    std::fs::write(d.join("lagging"), "").unwrap();
    let r = run_example(
        d,
        &job,
        &[
            "execution.checkpointing.interval=5 s".into(),
            "execution.checkpointing.dir=./ck".into(),
            "tidemark.doctor.checkpoint-slow=500 ms".into(),
        ],
    );
    let url = r.rest_url();
    let count = vertex_id(&url, "count");
    let v = wait_doctor(
        d,
        &r,
        &url,
        "checkpoint-alignment",
        Duration::from_secs(30),
        |v| first_checkpoint_finding(v).is_some_and(|f| f["cause"] == "checkpoint-alignment"),
    );
    let f = first_checkpoint_finding(&v).unwrap();
    assert_eq!(f["vertex"], count.as_str(), "{v}");
    let late = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["metric"]
                .as_str()
                .unwrap()
                .starts_with("tidemark_checkpoint_start_delay_seconds")
        })
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (&late["vertex"], &late["subtask"]),
        (&Value::from("datagen"), &Value::from(0)),
        "{v}"
    );
    // The same from Prometheus's scrapes of the job, with the job's
    // threshold given to the command (Prometheus does not hold it).
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let prom_url = format!("http://{}", prom.addr);
    let p = wait_prometheus(
        d,
        &r,
        (
            &prom_url,
            "doctor-align",
            &["--set", "tidemark.doctor.checkpoint-slow=500 ms"],
        ),
        "checkpoint-alignment through Prometheus",
        |v| first_checkpoint_finding(v).is_some_and(|f| f["cause"] == "checkpoint-alignment"),
    );
    assert_eq!(
        first_checkpoint_finding(&p).unwrap()["vertex"],
        count.as_str(),
        "{p}"
    );
    std::fs::remove_file(d.join("lagging")).unwrap();
    wait_doctor(
        d,
        &r,
        &url,
        "no checkpoint-alignment once the partition reads promptly",
        Duration::from_secs(30),
        |v| first_checkpoint_finding(v).is_none_or(|f| f["cause"] != "checkpoint-alignment"),
    );
    r.kill();
}

/// The first finding whose cause is about checkpoints.
fn first_checkpoint_finding(v: &Value) -> Option<&Value> {
    v["findings"].as_array()?.iter().find(|f| {
        f["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("checkpoint-"))
    })
}

/// Checkpoint storage slow to write to: SeaweedFS's S3 behind a proxy of
/// the test's own that passes uploads at 256 KB/s, under a count whose heap
/// state is about 600 KB (2 000 keys of 256 random bytes: incompressible),
/// written whole at each checkpoint. `checkpoint-async-slow` at the count
/// (the vertex with the state: the oracle is the job), with the bytes in
/// the evidence; once the proxy lets uploads through at full speed, the
/// next checkpoints are fast and the finding clears.
#[test]
fn slow_checkpoint_storage_is_named_checkpoint_async_slow_until_it_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s3 = servers::s3();
    let throttle = servers::Throttle::start(&s3.addr, 256 * 1024);
    let endpoint = format!("http://{}", throttle.addr);
    let yaml = "name: doctor-async
pipeline: keyed-count
params:
  keys: 2000
  payload-bytes: 256
  rate: 2000
  sink: blackhole
config:
  parallelism.default: 1
  metrics.reporter.prom.port: 0
  execution.checkpointing.interval: 4 s
  execution.checkpointing.timeout: 60 s
  execution.checkpointing.dir: s3://checkpoints/doctor-async
  tidemark.doctor.checkpoint-slow: 1 s
";
    let (r, url) = start_job(
        d,
        "doctor-async",
        yaml,
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "tidemark"),
            ("AWS_SECRET_ACCESS_KEY", "tidemark-secret"),
        ],
    );
    let count = vertex_id(&url, "count");
    let v = wait_doctor(
        d,
        &r,
        &url,
        "checkpoint-async-slow",
        Duration::from_secs(30),
        |v| v["findings"][0]["cause"] == "checkpoint-async-slow",
    );
    let f = &v["findings"][0];
    assert_eq!(f["vertex"], count.as_str(), "{v}");
    let size = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == "tidemark_checkpoint_last_size_bytes")
        .and_then(|e| e["value"].as_f64())
        .unwrap_or_else(|| panic!("{v}"));
    // At least the count's payloads: 2 000 × 256 bytes.
    assert!(size >= 512_000.0, "{v}");
    // The same from Prometheus's scrapes of the job, with the job's
    // threshold given to the command (Prometheus does not hold it).
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let prom_url = format!("http://{}", prom.addr);
    let p = wait_prometheus(
        d,
        &r,
        (
            &prom_url,
            "doctor-async",
            &["--set", "tidemark.doctor.checkpoint-slow=1 s"],
        ),
        "checkpoint-async-slow through Prometheus",
        |v| v["findings"][0]["cause"] == "checkpoint-async-slow",
    );
    assert_eq!(p["findings"][0]["vertex"], count.as_str(), "{p}");
    throttle.release();
    let v = wait_doctor(
        d,
        &r,
        &url,
        "no checkpoint-async-slow once uploads are fast",
        Duration::from_secs(30),
        |v| {
            v["findings"]
                .as_array()
                .is_some_and(|f| f.iter().all(|x| x["cause"] != "checkpoint-async-slow"))
        },
    );
    assert!(healthy(&v), "{v}");
    r.kill();
}

/// `tidemark run examples/slow-sink.yaml` in `d`, slow (the file `slow`
/// made there), with `settings` (`key=value`) and its metrics on a free
/// port (tests run side by side).
fn slow_sink(d: &Path, settings: &[&str]) -> Running {
    std::fs::write(d.join("slow"), "").unwrap();
    let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    run_example(d, &example("slow-sink.yaml"), &settings)
}

/// `tidemark run JOB --status-interval 0` in `d` with `settings`
/// (`key=value`), its metrics on a free port (the default 9249 is taken
/// when tests run side by side).
fn run_example(d: &Path, job: &str, settings: &[String]) -> Running {
    let mut args: Vec<String> = ["run", job, "--status-interval", "0"]
        .map(String::from)
        .to_vec();
    args.extend(sets(&["metrics.reporter.prom.port=0"]));
    args.extend(sets(settings));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start(d, &args)
}

/// The Pushgateway stopped under a job that pushes to it every 500 ms:
/// `exporter-failing` naming the reporter within 30 s (with
/// `tidemark.doctor.exporter-stale` at 3 s), gone once it is back; the
/// same through a Prometheus that scrapes the job.
#[test]
fn a_stopped_pushgateway_is_named_exporter_failing_until_it_is_back() {
    let mut pgw = tidemark_tests::servers::pushgateway();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let yaml = format!(
        "{}  metrics.reporters: prom,pgw\n  metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://{}\n  metrics.reporter.pgw.interval: 500 ms\n  tidemark.doctor.exporter-stale: 3 s\n",
        calm_job("doctor-pgw"),
        pgw.addr
    );
    let (r, url) = start_job(d, "doctor-pgw", &yaml, &[]);
    // Prometheus scrapes the job itself: its exporters' self-metrics too.
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let prom_url = format!("http://{}", prom.addr);
    let stale = ["--set", "tidemark.doctor.exporter-stale=3 s"];
    let exporter = |v: &Value| -> Option<Value> {
        v["findings"]
            .as_array()?
            .iter()
            .find(|f| f["cause"] == "exporter-failing")
            .cloned()
    };
    // Delivering: the group is in the Pushgateway, and the doctor is calm.
    wait_for_or(
        "the job's group in the Pushgateway",
        Duration::from_secs(30),
        || (!tidemark_tests::servers::pushgateway_groups(&pgw).is_empty()).then_some(()),
        || r.stderr(),
    );
    let v = wait_doctor(d, &r, &url, "an answer", Duration::from_secs(30), |_| true);
    assert!(exporter(&v).is_none(), "{v}");
    pgw.pause();
    let stopped = std::time::Instant::now();
    let v = wait_doctor(
        d,
        &r,
        &url,
        "exporter-failing within 30 s of the stop",
        Duration::from_secs(30),
        |v| v["findings"][0]["cause"] == "exporter-failing",
    );
    assert!(stopped.elapsed() < Duration::from_secs(30));
    let f = exporter(&v).unwrap();
    assert_eq!(v["verdict"], "degraded", "{v}");
    assert!(
        f["why"]
            .as_str()
            .unwrap_or("")
            .contains("pushgateway reporter 'pgw'"),
        "{v}"
    );
    assert!(
        f["evidence"]
            .to_string()
            .contains("tidemark_exporter_failed_total"),
        "{v}"
    );
    // The same from Prometheus's scrapes of the job.
    let p = wait_prometheus(
        d,
        &r,
        (&prom_url, "doctor-pgw", &stale),
        "exporter-failing through Prometheus",
        |v| v["findings"][0]["cause"] == "exporter-failing",
    );
    assert!(
        p["findings"][0]["why"]
            .as_str()
            .unwrap_or("")
            .contains("pushgateway reporter 'pgw'"),
        "{p}"
    );
    pgw.resume();
    wait_doctor(
        d,
        &r,
        &url,
        "no exporter finding once the Pushgateway is back",
        Duration::from_secs(60),
        |v| exporter(v).is_none(),
    );
    wait_prometheus(
        d,
        &r,
        (&prom_url, "doctor-pgw", &stale),
        "no exporter finding through Prometheus once the Pushgateway is back",
        |v| exporter(v).is_none(),
    );
    r.kill();
}

/// Two JetStream subjects with event time and no idleness, messages on one
/// only: the other holds event time back for ever. `watermark-stalled`
/// within 30 s, at a vertex after the source, naming the empty subject
/// (the oracle: where the test produced nothing); gone once that subject
/// has messages too.
#[test]
fn an_empty_subject_holding_event_time_back_is_named_watermark_stalled() {
    let server = tidemark_tests::servers::nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let produce = |subjects: &str, count: i64| {
        // One message every 10 ms of event time, two users.
        let lines: String = (0..count)
            .map(|i| {
                let user = ["alice", "bob"][(i % 2) as usize];
                format!("{{\"user\":\"{user}\",\"ts\":{}}}\n", i * 10)
            })
            .collect();
        tidemark_tests::stream_jobs::produce_stdin(
            d,
            &[
                "--url",
                &server.url,
                "--stream",
                "clicks",
                "--subjects",
                subjects,
            ],
            &lines,
        );
    };
    // The stream holds both subjects; messages go to clicks.0 only.
    produce("clicks.0,clicks.1", 0);
    produce("clicks.0", 2000);
    let started = std::time::Instant::now();
    let r = run_example(
        d,
        &example("jetstream-windows.yaml"),
        &[
            format!("params.url={}", server.url),
            "params.idleness=0 s".into(),
            "params.source-parallelism=1".into(),
        ],
    );
    let url = r.rest_url();
    let source = get_json(&url)["plan"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = wait_doctor(
        d,
        &r,
        &url,
        "watermark-stalled within 30 s",
        Duration::from_secs(30).saturating_sub(started.elapsed()),
        |v| v["findings"][0]["cause"] == "watermark-stalled",
    );
    let f = &v["findings"][0];
    assert!(
        f["vertex"].is_string() && f["vertex"] != source.as_str(),
        "{v}"
    );
    let why = f["why"].as_str().unwrap_or("");
    assert!(
        why.contains("partition 'clicks.1'") && why.contains("no record"),
        "{v}"
    );
    let stalled = f["vertex"].clone();
    produce("clicks.1", 2000);
    // Cleared while records still reach that vertex (not merely because the
    // stream went quiet).
    wait_doctor(
        d,
        &r,
        &url,
        "no watermark finding, with records flowing, once clicks.1 has messages",
        Duration::from_secs(60),
        |v| {
            let flowing = v["capacity"]["vertices"].as_array().is_some_and(|vs| {
                vs.iter().any(|x| {
                    x["vertex"] == stalled && x["records_in_per_second"].as_f64() > Some(0.0)
                })
            });
            flowing
                && v["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().all(|x| x["cause"] != "watermark-stalled"))
        },
    );
    r.kill();
}

/// The same scenarios through Prometheus alone (a real Prometheus scraping
/// the jobs every second; `tidemark doctor --prometheus URL --job-name
/// NAME`): the slow sink is `sink-bottleneck` at the sink within 30 s of
/// the start, as through the REST API, expiring checkpoints are
/// `checkpoint-failing`, a calm job is healthy, and a job Prometheus never
/// saw is an error.
#[test]
fn through_prometheus_the_same_scenarios_give_the_same_causes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started = std::time::Instant::now();
    let slow = slow_sink(d, &[]);
    let calm_dir = tempfile::tempdir().unwrap();
    let (calm, _) = start_job(
        calm_dir.path(),
        "doctor-prom-calm",
        &calm_job("doctor-prom-calm"),
        &[],
    );
    // The expiring checkpoints of `checkpoints_that_expire_…`, under a name
    // of their own.
    let ckpt_dir = tempfile::tempdir().unwrap();
    let c = ckpt_dir.path();
    std::fs::write(c.join("slow"), "").unwrap();
    let yaml = std::fs::read_to_string(example("slow-sink.yaml"))
        .unwrap()
        .replace("name: slow-sink", "name: slow-ckpt");
    let job = write_file(c, "slow-ckpt.yaml", &yaml);
    let ckpt = run_example(
        c,
        &job,
        &[
            "execution.checkpointing.interval=1 s".into(),
            "execution.checkpointing.timeout=100 ms".into(),
            "execution.checkpointing.dir=./ck".into(),
        ],
    );
    let prom = tidemark_tests::servers::prometheus(&[
        ("tidemark", &slow.metrics_addr()),
        ("tidemark-calm", &calm.metrics_addr()),
        ("tidemark-ckpt", &ckpt.metrics_addr()),
    ]);
    let prom_url = format!("http://{}", prom.addr);
    let through_prometheus = |job: &str| doctor_through_prometheus(d, &prom_url, job);
    // The sink's REST id (the oracle: the job's graph), as through REST.
    let sink = vertex_id(&slow.rest_url(), "sink");
    let v = wait_for_or(
        "sink-bottleneck through Prometheus within 30 s of the start",
        Duration::from_secs(30).saturating_sub(started.elapsed()),
        || {
            through_prometheus("slow-sink")
                .filter(|v| v["findings"][0]["cause"] == "sink-bottleneck")
        },
        || slow.stderr(),
    );
    assert_eq!(v["findings"][0]["vertex"], sink.as_str(), "{v}");
    // A full 10 s of scrapes of the calm job: healthy, no findings.
    let v = wait_for_or(
        "an answer for the calm job over 10 s of scrapes",
        Duration::from_secs(60),
        || {
            through_prometheus("doctor-prom-calm").filter(|v| {
                v["capacity"]["vertices"]
                    .as_array()
                    .is_some_and(|vs| vs.len() == 3)
                    && v["capacity"]["input_records_per_second"].as_f64() > Some(0.0)
            })
        },
        || calm.stderr(),
    );
    assert!(healthy(&v), "{v}");
    // Checkpoints that expire: checkpoint-failing, critical, first.
    let v = wait_for_or(
        "checkpoint-failing through Prometheus",
        Duration::from_secs(60),
        || {
            through_prometheus("slow-ckpt")
                .filter(|v| v["findings"][0]["cause"] == "checkpoint-failing")
        },
        || ckpt.stderr(),
    );
    assert_eq!(v["verdict"], "critical", "{v}");
    ckpt.kill();
    // A job Prometheus has never seen is an error naming it, not health.
    let (code, _) = run_stdout(
        d,
        &[
            "doctor",
            "--prometheus",
            &prom_url,
            "--job-name",
            "no-such-job",
            "--window",
            "10 s",
        ],
    );
    assert_ne!(code, 0);
    slow.kill();
    calm.kill();
}
