//! A real Apache Flink 2.3 standalone cluster (a JobManager and a
//! TaskManager, separate JVMs, from the installed package) running the slow
//! sink job submitted with `flink run`: the REST answers Tidemark's agent
//! for Flink reads (issue 18) have the shapes and the meanings it relies on,
//! and `tidemark agent flink` maps them into the catalogue; the shipped
//! rules page through a real Prometheus and Alertmanager, the dashboards
//! and `tidemark doctor --prometheus` work on the Flink job as they are, and
//! the agent outlives a JobManager that is down for 30 s. The oracle is the
//! job (its sink sleeps 1 ms every 10 records behind a faster source, so the
//! sink is busy and the source backpressured) and Flink's own REST values.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tidemark_tests::dashboard_check::*;
use tidemark_tests::doctor::doctor_through_prometheus;
use tidemark_tests::flink::FlinkCluster;
use tidemark_tests::paging::*;
use tidemark_tests::servers::*;
use tidemark_tests::*;

/// One cluster at a time: two JVMs each, on two cores.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn slow_sink_java() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flink/SlowSinkJob.java")
}

/// The agent polling `c` every second, served on a free port, with `more`
/// arguments.
fn agent(d: &Path, c: &FlinkCluster, cluster: &str, more: &[&str]) -> Running {
    let mut args = vec![
        "agent",
        "flink",
        "--rest",
        &c.rest,
        "--interval",
        "1 s",
        "--cluster",
        cluster,
        "--set",
        "metrics.reporter.prom.port=0",
    ];
    args.extend(more);
    Running::start(d, &args)
}

/// The container arguments of the Deployment in docs/flink.md.
fn documented_agent_args() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/flink.md")).unwrap();
    let yaml = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block in docs/flink.md");
    let deployment: serde_yaml::Value = serde_yaml::Deserializer::from_str(yaml)
        .next()
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .unwrap();
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<String> = args
        .as_sequence()
        .expect("the agent's container args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[..2], ["agent", "flink"], "{args:?}");
    args
}

/// The agent at `metrics.level: subtask`, scrape only.
fn agent_with_level_subtask(d: &Path, c: &FlinkCluster) -> Running {
    agent(d, c, "per-subtask", &["--set", "metrics.level=subtask"])
}

/// Pushes one series carrying `cluster` into a Pushgateway group of job
/// `id`, as an agent killed before it could delete its group left it.
fn leave_group(pgw: &Server, id: &str, cluster: &str) {
    let url = format!(
        "http://{}/metrics/job/tidemark/job_name/old/job_id/{id}/instance/gone-agent",
        pgw.addr
    );
    // HELP and TYPE as the catalogue's: the Pushgateway refuses a family
    // whose groups disagree on them.
    let busy = &tidemark_agent::catalogue::TASK_BUSY;
    let body = format!(
        "# HELP {0} {1}\n# TYPE {0} counter\n{0}{{cluster=\"{cluster}\"}} 1\n",
        busy.name, busy.help
    );
    let (code, answer) = curl(&["--data-binary", &body, &url]);
    assert_eq!(code, 200, "{answer}");
}

/// The agent's exposition lines of `family` for job `id`.
fn scraped(agent: &Running, family: &str, id: &str) -> Vec<String> {
    let (_, text) = curl(&[&format!("http://{}/metrics", agent.metrics_addr())]);
    text.lines()
        .filter(|l| {
            l.split(['{', ' ']).next() == Some(family) && l.contains(&format!("job_id=\"{id}\""))
        })
        .map(String::from)
        .collect()
}

/// The value of the agent's unlabelled-but-`cluster` self-metric `family`.
fn own(agent: &Running, family: &str) -> Option<f64> {
    let (_, text) = curl(&[&format!("http://{}/metrics", agent.metrics_addr())]);
    text.lines()
        .find(|l| l.split(['{', ' ']).next() == Some(family))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// (id, name) of the vertex of a job's plan whose name contains `part`.
fn vertex_name(detail: &Value, part: &str) -> (String, String) {
    detail["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str().unwrap().contains(part))
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["name"].as_str().unwrap().to_string(),
            )
        })
        .unwrap_or_else(|| panic!("no vertex named *{part}*: {detail}"))
}

fn get(url: &str) -> Value {
    let (code, body) = servers::curl(&[url]);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// `?get=…&agg=…` over a vertex's subtasks: `{metric: {agg: value}}`.
fn aggregated(c: &FlinkCluster, job: &str, vertex: &str, names: &str) -> Value {
    let v = get(&format!(
        "{}/jobs/{job}/vertices/{vertex}/subtasks/metrics?get={names}&agg=sum,max",
        c.rest
    ));
    let mut out = serde_json::Map::new();
    for m in v.as_array().into_iter().flatten() {
        out.insert(m["id"].as_str().unwrap().to_string(), m.clone());
    }
    Value::Object(out)
}

#[test]
fn a_real_cluster_serves_the_per_vertex_times_and_counts_the_agent_reads() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = FlinkCluster::start(1);
    let jar = c.compile(&slow_sink_java());
    // The sink fails once when `fail` appears.
    let fail_dir = tempfile::tempdir().unwrap();
    let fail = fail_dir.path().join("fail");
    let fail_path = fail.display().to_string();
    let args = [
        "flink-slow-sink",
        "1000",
        "10",
        "0",
        "0",
        "-",
        fail_path.as_str(),
    ];
    let id = c.submit(&[], &jar, "SlowSinkJob", &args);

    // Discovery: the job by name in the overview.
    let overview = get(&format!("{}/jobs/overview", c.rest));
    let job = overview["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["jid"] == id.as_str())
        .unwrap_or_else(|| panic!("{overview}"));
    assert_eq!(job["name"], "flink-slow-sink", "{overview}");
    assert_eq!(job["state"], "RUNNING", "{overview}");

    // The plan: three vertices (source chained with to-key, the count, the
    // slow sink chained with the discarding sink), each with its inputs.
    let detail = get(&format!("{}/jobs/{id}", c.rest));
    let vertices = detail["vertices"].as_array().unwrap();
    let by_name = |part: &str| -> String {
        vertices
            .iter()
            .find(|v| v["name"].as_str().unwrap().contains(part))
            .and_then(|v| v["id"].as_str())
            .unwrap_or_else(|| panic!("no vertex named *{part}*: {detail}"))
            .to_string()
    };
    assert_eq!(vertices.len(), 3, "{detail}");
    let (source, sink) = (by_name("source"), by_name("slow-sink"));
    let nodes = detail["plan"]["nodes"].as_array().unwrap();
    let sink_node = nodes.iter().find(|n| n["id"] == sink.as_str()).unwrap();
    assert_eq!(sink_node["inputs"].as_array().unwrap().len(), 1, "{detail}");

    // Per vertex, in one request each: the accumulated busy, idle and
    // backpressured milliseconds (counters, spelled "accumulate…") and the
    // records; within a minute (the metric fetcher refreshes every second
    // here) the sink is busy and the source backpressured.
    let names = "accumulateBusyTimeMs,accumulateIdleTimeMs,accumulateBackPressuredTimeMs,busyTimeMsPerSecond,backPressuredTimeMsPerSecond,numRecordsIn,numRecordsOut";
    let (sink_m, source_m) = wait_for_or(
        "the sink busy and the source backpressured, in Flink's REST",
        Duration::from_secs(60),
        || {
            let s = aggregated(&c, &id, &sink, names);
            let src = aggregated(&c, &id, &source, names);
            let busy = s["busyTimeMsPerSecond"]["max"].as_f64().unwrap_or(0.0);
            let bp = src["backPressuredTimeMsPerSecond"]["max"]
                .as_f64()
                .unwrap_or(0.0);
            (busy > 500.0 && bp > 500.0).then_some((s, src))
        },
        || c.logs(),
    );
    for m in [
        "accumulateBusyTimeMs",
        "accumulateIdleTimeMs",
        "accumulateBackPressuredTimeMs",
        "numRecordsIn",
        "numRecordsOut",
    ] {
        assert!(sink_m[m]["sum"].as_f64().is_some(), "{m}: {sink_m}");
    }
    assert!(
        sink_m["numRecordsIn"]["sum"].as_f64().unwrap() > 0.0,
        "{sink_m}"
    );
    // The accumulated times are counters: later reads are not smaller.
    let before = sink_m["accumulateBusyTimeMs"]["sum"].as_f64().unwrap();
    let later = wait_for_or(
        "the sink's accumulated busy time to grow",
        Duration::from_secs(30),
        || {
            let v = aggregated(&c, &id, &sink, "accumulateBusyTimeMs")["accumulateBusyTimeMs"]
                ["sum"]
                .as_f64()?;
            (v > before).then_some(v)
        },
        || c.logs(),
    );
    assert!(later > before);
    assert!(
        source_m["accumulateBackPressuredTimeMs"]["sum"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{source_m}"
    );

    // `tidemark agent flink`, polling every second, serves the same as
    // catalogue series: the graph, and counters that reach Flink's own
    // totals within a poll.
    // Started as docs/flink.md's Kubernetes Deployment starts it, with the
    // cluster's address, a free port, and a poll every second.
    let dir = tempfile::tempdir().unwrap();
    let mut documented: Vec<String> = documented_agent_args()
        .into_iter()
        .map(|a| {
            a.replace("http://my-flink-cluster-rest:8081", &c.rest)
                .replace("port=9249", "port=0")
        })
        .collect();
    documented.extend(["--interval".to_string(), "1 s".to_string()]);
    let agent = Running::start(
        dir.path(),
        &documented.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let metrics = format!("http://{}/metrics", agent.metrics_addr());
    let sink_name = vertices
        .iter()
        .find(|v| v["id"] == sink.as_str())
        .and_then(|v| v["name"].as_str())
        .unwrap()
        .to_string();
    let series = |family: &str, vertex: &str| -> Option<f64> {
        let want = format!("vertex=\"{vertex}\"");
        scraped(&agent, family, &id)
            .iter()
            .find(|l| l.contains(&want))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let flink_busy_s = aggregated(&c, &id, &sink, "accumulateBusyTimeMs")["accumulateBusyTimeMs"]
        ["sum"]
        .as_f64()
        .unwrap()
        / 1000.0;
    wait_for_or(
        "the agent's busy seconds of the sink to reach Flink's",
        Duration::from_secs(30),
        || series("tidemark_task_busy_seconds_total", &sink_name).filter(|b| *b >= flink_busy_s),
        || agent.stderr(),
    );
    let (_, text) = curl(&[&metrics]);
    let info = text
        .lines()
        .find(|l| {
            l.starts_with("tidemark_vertex_info") && l.contains(&format!("vertex_id=\"{sink}\""))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(info.contains("job_name=\"flink-slow-sink\""), "{info}");
    assert!(info.contains("inputs=\"count\""), "{info}");
    assert!(info.contains("cluster=\"my-flink-cluster\""), "{info}");
    let source_name = vertices
        .iter()
        .find(|v| v["id"] == source.as_str())
        .and_then(|v| v["name"].as_str())
        .unwrap();
    assert!(
        series("tidemark_task_backpressured_seconds_total", source_name).unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        series("tidemark_task_records_in_total", &sink_name).unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        series("tidemark_task_records_out_total", source_name).unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        series("tidemark_task_idle_seconds_total", &sink_name).is_some(),
        "{text}"
    );
    wait_for_or(
        "tidemark_bridge_up 1 and one job watched",
        Duration::from_secs(30),
        || {
            (own(&agent, "tidemark_bridge_up") == Some(1.0)
                && own(&agent, "tidemark_bridge_jobs") == Some(1.0))
            .then_some(())
        },
        || agent.stderr(),
    );

    // The TaskManager's JVM: its CPU time between Flink's reads before and
    // after, its heap's maximum as Flink gives it.
    let tms = get(&format!("{}/taskmanagers", c.rest));
    let tm = tms["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    let jvm = |name: &str| -> f64 {
        let v = get(&format!("{}/taskmanagers/{tm}/metrics?get={name}", c.rest));
        v[0]["value"].as_str().unwrap().parse().unwrap()
    };
    let tm_series = |family: &str| -> Option<f64> {
        let (_, text) = curl(&[&metrics]);
        text.lines()
            .find(|l| {
                l.split(['{', ' ']).next() == Some(family)
                    && l.contains(&format!("taskmanager=\"{tm}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let before = jvm("Status.JVM.CPU.Time") / 1e9;
    let seen = wait_for_or(
        "the TaskManager's CPU seconds to reach Flink's",
        Duration::from_secs(30),
        || tm_series("tidemark_taskmanager_cpu_seconds_total").filter(|v| *v >= before - 1e-6),
        || agent.stderr(),
    );
    let after = jvm("Status.JVM.CPU.Time") / 1e9;
    assert!(seen <= after + 1e-6, "{seen} s of CPU, Flink's {after}");
    assert_eq!(
        tm_series("tidemark_taskmanager_heap_max_bytes"),
        Some(jvm("Status.JVM.Memory.Heap.Max"))
    );
    let (_, text) = curl(&[&metrics]);
    assert!(
        text.contains("tidemark_taskmanager_gc_collections_total{taskmanager=")
            && text.contains("collector="),
        "{text}"
    );

    // A task failure: the sink throws once, and Flink restarts the job's
    // tasks under the same id. The agent keeps the job's series, counts the
    // restart as Flink does, and prints the exception, the task and the
    // root cause from Flink's exception history.
    std::fs::write(&fail, "").unwrap();
    wait_for_or(
        "Flink to count one restart",
        Duration::from_secs(60),
        || {
            let v = get(&format!("{}/jobs/{id}/metrics?get=numRestarts", c.rest));
            let n: f64 = v[0]["value"].as_str()?.parse().ok()?;
            (n >= 1.0).then_some(n)
        },
        || c.logs(),
    );
    assert!(!fail.exists(), "the sink consumed the file");
    // Flink counts the restart before its history holds the failure.
    let history = wait_for_or(
        "the failure in Flink's exception history",
        Duration::from_secs(30),
        || {
            let h = get(&format!("{}/jobs/{id}/exceptions", c.rest));
            let n = h["exceptionHistory"]["entries"].as_array()?.len();
            (n > 0).then_some(h)
        },
        || c.logs(),
    );
    let entry = &history["exceptionHistory"]["entries"][0];
    assert!(
        entry["taskName"]
            .as_str()
            .unwrap_or("")
            .contains("slow-sink")
            && entry["stacktrace"]
                .as_str()
                .unwrap_or("")
                .contains("injected failure"),
        "{history}"
    );
    let err = agent.wait_stderr(") restarted: ", Duration::from_secs(30));
    let line = err
        .lines()
        .find(|l| l.contains(") restarted: "))
        .unwrap()
        .to_string();
    let want = format!("agent: job \"flink-slow-sink\" ({id}) restarted: slow-sink");
    eprintln!("the agent printed: {line}");
    assert!(line.starts_with(&want), "{line}");
    assert!(
        line.contains(" failed at ") && line.contains(" UTC: "),
        "{line}"
    );
    assert!(
        line.contains("java.lang.IllegalStateException: injected failure")
            && line.contains("(root cause: java.io.IOException: the test asked for a failure)"),
        "{line}"
    );
    wait_for_or(
        "the agent's restarts counter at Flink's 1",
        Duration::from_secs(30),
        || {
            let line = scraped(&agent, "tidemark_job_restarts_total", &id);
            line.iter().any(|l| l.ends_with(" 1")).then_some(())
        },
        || agent.stderr(),
    );
    assert_eq!(own(&agent, "tidemark_bridge_jobs"), Some(1.0));
    // Reported once: two more polls print no second line for it.
    let polls = || own(&agent, "tidemark_bridge_poll_duration_seconds_count");
    let seen = polls().unwrap();
    wait_for_or(
        "two more polls",
        Duration::from_secs(30),
        || (polls()? >= seen + 2.0).then_some(()),
        || agent.stderr(),
    );
    let err = agent.stderr();
    assert_eq!(err.matches(") restarted: ").count(), 1, "{err}");

    // The JobManager down for 30 s: the agent says so, counts the failed
    // requests, withdraws the job's series rather than repeating them, and
    // keeps serving its own.
    let failures_before = own(&agent, "tidemark_bridge_request_failures_total").unwrap();
    c.stop_jobmanager();
    let stopped = Instant::now();
    agent.wait_stderr("agent: poll failed", Duration::from_secs(30));
    wait_for_or(
        "the job's series withdrawn and tidemark_bridge_up 0",
        Duration::from_secs(30),
        || {
            (own(&agent, "tidemark_bridge_up") == Some(0.0)
                && scraped(&agent, "tidemark_task_busy_seconds_total", &id).is_empty())
            .then_some(())
        },
        || agent.stderr(),
    );
    // The outage's length is the scenario (a JobManager restart), not a
    // synchronisation: what follows waits for conditions.
    std::thread::sleep(Duration::from_secs(30).saturating_sub(stopped.elapsed()));
    let failed = own(&agent, "tidemark_bridge_request_failures_total").unwrap() - failures_before;
    assert!(failed >= 2.0, "{failed} failed requests counted over 30 s");
    c.start_jobmanager();
    wait_for_or(
        "the agent reaching the JobManager again",
        Duration::from_secs(60),
        || (own(&agent, "tidemark_bridge_up") == Some(1.0)).then_some(()),
        || agent.stderr(),
    );
    // A standalone JobManager without high availability forgot the job: it
    // runs again under a new id; the old id's series stay retired.
    let again = c.submit(&[], &jar, "SlowSinkJob", &args);
    assert_ne!(again, id);
    wait_for_or(
        "the resubmitted job's series",
        Duration::from_secs(60),
        || (!scraped(&agent, "tidemark_task_busy_seconds_total", &again).is_empty()).then_some(()),
        || agent.stderr(),
    );
    assert!(scraped(&agent, "tidemark_task_busy_seconds_total", &id).is_empty());
    assert!(scraped(&agent, "tidemark_vertex_info", &id).is_empty());
    agent.kill();
}

/// Flink's REST value of `metric` summed over vertex `vertex`'s subtasks.
fn flink_sum(c: &FlinkCluster, job: &str, vertex: &str, metric: &str) -> f64 {
    aggregated(c, job, vertex, metric)[metric]["sum"]
        .as_f64()
        .unwrap_or_else(|| panic!("{metric} of {vertex}"))
}

/// Far below Flink's resolution (1 ms, one record), far above the error of
/// a value stored in ns and exposed in s.
const EPSILON: f64 = 1e-6;

/// A PromQL instant query's only value (`None` while it has none).
fn prom_value(prom: &Server, q: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(&promql(prom, q)).ok()?;
    let r = v["data"]["result"].as_array()?;
    assert!(r.len() <= 1, "{q}: {v}");
    r.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_flink_job_s_backpressure_pages_resolves_and_reads_the_same_through_prometheus() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = FlinkCluster::start(2);
    let jar = c.compile(&slow_sink_java());
    // Parallelism 2: each source subtask offers at most 20 k records/s, each
    // sink subtask takes 10 k/s while `slow` exists. No periodic
    // checkpoints: the test triggers one, to know which it compares.
    let slow = d.join("slow");
    std::fs::write(&slow, "").unwrap();
    let slow_path = slow.display().to_string();
    let name = "flink-paged";
    let args = [name, "1000", "10", "0", "20", slow_path.as_str()];
    // The count's state in RocksDB, with every native metric the agent
    // maps turned on.
    let mut options = vec![
        "-p".to_string(),
        "2".into(),
        "-Dstate.backend.type=rocksdb".into(),
    ];
    options.extend(
        ROCKSDB_METRICS
            .iter()
            .map(|m| format!("-Dstate.backend.rocksdb.metrics.{m}=true")),
    );
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let id = c.submit(&options, &jar, "SlowSinkJob", &args);
    let detail = get(&format!("{}/jobs/{id}", c.rest));
    let (source, source_name) = vertex_name(&detail, "source");
    let (sink, sink_name) = vertex_name(&detail, "slow-sink");
    let (count, count_name) = vertex_name(&detail, "count");

    // Two paths to the pager: Prometheus scraping the agent, and another
    // Prometheus scraping the Pushgateway the agent pushes each job's group
    // to (honor_labels), each with the shipped rules and its Alertmanager.
    // The Pushgateway holds groups a killed agent of this cluster left, and
    // another cluster's.
    let pgw = pushgateway();
    leave_group(&pgw, "0000000000000000000000000000dead", "test-cluster");
    leave_group(&pgw, "0000000000000000000000000000cafe", "other-cluster");
    let rules = rules(&["rate_window=5s", "backpressure_for=5s"]);
    // The other exporters too, each a stream per job: InfluxDB, OTLP, and
    // remote-write into a Prometheus of its own.
    let influx = influxdb("tidemark");
    let (otlp_addr, otlp_bodies) = otlp_receiver();
    let rw_prom = prometheus(&[]);
    let (ihost, iport) = influx.addr.split_once(':').unwrap();
    let sets = [
        "metrics.reporters=prom,pgw,influx,otel,rw".to_string(),
        "metrics.reporter.pgw.factory.class=pushgateway".into(),
        format!("metrics.reporter.pgw.hostUrl=http://{}", pgw.addr),
        "metrics.reporter.pgw.interval=1 s".into(),
        "metrics.reporter.influx.factory.class=influxdb".into(),
        format!("metrics.reporter.influx.host={ihost}"),
        format!("metrics.reporter.influx.port={iport}"),
        "metrics.reporter.influx.db=tidemark".into(),
        "metrics.reporter.influx.interval=1 s".into(),
        "metrics.reporter.otel.factory.class=otlp".into(),
        format!("metrics.reporter.otel.endpoint=http://{otlp_addr}"),
        "metrics.reporter.otel.interval=1 s".into(),
        "metrics.reporter.rw.factory.class=remote-write".into(),
        format!(
            "metrics.reporter.rw.url=http://{}/api/v1/write",
            rw_prom.addr
        ),
        "metrics.reporter.rw.interval=1 s".into(),
    ];
    let more: Vec<&str> = sets.iter().flat_map(|s| ["--set", s.as_str()]).collect();
    let agent = agent(d, &c, "test-cluster", &more);
    let paths: Vec<(Webhook, Server, Server)> = [
        ("flink-agent", agent.metrics_addr()),
        ("pushgateway", pgw.addr.clone()),
    ]
    .into_iter()
    .map(|(job, target)| {
        let hook = Webhook::start();
        let am = alertmanager(&alertmanager_config(&hook));
        let prom = prometheus_with(&[(job, &target)], Some(&rules), Some(&am.addr));
        (hook, am, prom)
    })
    .collect();
    let prom = &paths[0].2;
    let prom_url = format!("http://{}", prom.addr);

    // The stale group of this cluster is deleted at start, the other
    // cluster's kept; the job has its own group.
    wait_for_or(
        "the stale group deleted and the job's group pushed",
        Duration::from_secs(60),
        || {
            let ids: Vec<String> = pushgateway_groups(&pgw)
                .into_iter()
                .map(|(_, i)| i)
                .collect();
            (!ids.iter().any(|i| i.ends_with("dead")) && ids.contains(&id)).then_some(ids)
        },
        || agent.stderr(),
    );
    assert!(
        pushgateway_groups(&pgw)
            .iter()
            .any(|(_, i)| i.ends_with("cafe")),
        "{:?}",
        pushgateway_groups(&pgw)
    );

    // Paged on both paths: the source is backpressured, the slow sink is
    // the bottleneck.
    for (hook, _, _) in &paths {
        let firing = wait_for_or(
            "SustainedBackpressure for the Flink job's source at the pager receiver",
            Duration::from_secs(180),
            || {
                alerts(hook, "/pager", "SustainedBackpressure", "firing")
                    .into_iter()
                    .find(|a| a["labels"]["vertex"] == source_name.as_str())
            },
            || agent.stderr(),
        );
        let l = &firing["labels"];
        assert_eq!(l["job_name"], name, "{firing}");
        assert_eq!(l["job_id"], id.as_str(), "{firing}");
        assert_eq!(l["severity"], "page", "{firing}");
        assert_eq!(
            firing["annotations"]["bottleneck"],
            sink_name.as_str(),
            "{firing}"
        );
        assert!(alerts(hook, "/pager", "SustainedBackpressure", "firing")
            .iter()
            .all(|a| a["labels"]["vertex"] != sink_name.as_str()));
    }

    // `tidemark doctor --prometheus` names the slow sink.
    let answer = wait_for_or(
        "doctor --prometheus naming the slow sink",
        Duration::from_secs(60),
        || {
            doctor_through_prometheus(d, &prom_url, name)
                .filter(|v| v["findings"][0]["cause"] == "sink-bottleneck")
        },
        || agent.stderr(),
    );
    assert_eq!(
        answer["findings"][0]["vertex"],
        sink_name.as_str(),
        "{answer}"
    );

    // Values through PromQL are Flink's own within a poll: between Flink's
    // reads before and after.
    let sel = |vertex: &str| format!("job_id=\"{id}\",vertex=\"{vertex}\"");
    for (family, vertex, vid, metric, per) in [
        (
            "tidemark_task_records_in_total",
            &sink_name,
            &sink,
            "numRecordsIn",
            1.0,
        ),
        (
            "tidemark_task_records_out_total",
            &source_name,
            &source,
            "numRecordsOut",
            1.0,
        ),
        (
            "tidemark_task_busy_seconds_total",
            &sink_name,
            &sink,
            "accumulateBusyTimeMs",
            1e-3,
        ),
        (
            "tidemark_task_backpressured_seconds_total",
            &source_name,
            &source,
            "accumulateBackPressuredTimeMs",
            1e-3,
        ),
        (
            "tidemark_rocksdb_written_bytes_total",
            &count_name,
            &count,
            "count.rocksdb_bytes_written",
            1.0,
        ),
    ] {
        let q = format!("{family}{{{}}}", sel(vertex));
        let before = flink_sum(&c, &id, vid, metric) * per;
        let seen = wait_for_or(
            &format!("{q} to reach Flink's {metric} {before}"),
            Duration::from_secs(30),
            || prom_value(prom, &q).filter(|v| *v >= before - EPSILON),
            || agent.stderr(),
        );
        let after = flink_sum(&c, &id, vid, metric) * per;
        assert!(
            seen <= after + EPSILON,
            "{q} = {seen}, Flink's {metric} {after}"
        );
    }

    // RocksDB's properties per state: the count's (Flink names a keyed
    // reduce's state `_op_state`).
    let keys = format!(
        "tidemark_rocksdb_estimate_num_keys{{{}, state=\"_op_state\"}}",
        sel(&count_name)
    );
    wait_for_or(
        &format!("{keys} above 0"),
        Duration::from_secs(30),
        || prom_value(prom, &keys).filter(|k| *k > 0.0),
        || agent.stderr(),
    );

    // At `metrics.level: subtask`, an agent reads each subtask on its own:
    // the sink's subtasks' records, each between Flink's reads.
    let per_subtask = agent_with_level_subtask(d, &c);
    for i in 0..2 {
        let flink = || -> f64 {
            let url = format!(
                "{}/jobs/{id}/vertices/{sink}/subtasks/{i}/metrics?get=numRecordsIn",
                c.rest
            );
            get(&url)[0]["value"].as_str().unwrap().parse().unwrap()
        };
        let ours = || -> Option<f64> {
            scraped(&per_subtask, "tidemark_task_records_in_total", &id)
                .iter()
                .find(|l| {
                    l.contains(&format!("vertex=\"{sink_name}\""))
                        && l.contains(&format!("subtask=\"{i}\""))
                })
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        };
        let before = flink();
        let seen = wait_for_or(
            &format!("subtask {i}'s records to reach Flink's {before}"),
            Duration::from_secs(30),
            || ours().filter(|v| *v >= before),
            || per_subtask.stderr(),
        );
        let after = flink();
        assert!(
            seen <= after,
            "subtask {i}: {seen} records, Flink's {after}"
        );
    }
    per_subtask.kill();

    // InfluxDB, OTLP and remote-write carry the job's series, with the
    // cluster label.
    wait_for_or(
        "the job's records in InfluxDB, through OTLP and remote-write",
        Duration::from_secs(30),
        || {
            let influx_has = influxql(
                &influx,
                "tidemark",
                &format!("SELECT * FROM \"tidemark_task_records_in_total\" WHERE \"job_id\"='{id}' AND \"cluster\"='test-cluster' LIMIT 1"),
            )
            .contains("\"series\"");
            let otlp_has = otlp_bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| String::from_utf8_lossy(b).contains(&id));
            let rw_has = prom_value(
                &rw_prom,
                &format!("sum(tidemark_task_records_in_total{{job_id=\"{id}\",cluster=\"test-cluster\"}})"),
            )
            .is_some_and(|v| v > 0.0);
            (influx_has && otlp_has && rw_has).then_some(())
        },
        || agent.stderr(),
    );

    // A checkpoint (triggered through the REST API): its count, its
    // duration and each vertex's phases, summed over its subtasks, as
    // Flink's details give them.
    let url = format!("{}/jobs/{id}/checkpoints", c.rest);
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &url,
    ]);
    assert_eq!(code, 202, "{body}");
    let cid = wait_for_or(
        "the triggered checkpoint completed",
        Duration::from_secs(60),
        || get(&url)["latest"]["completed"]["id"].as_u64(),
        || c.logs(),
    );
    let job_sel = format!("job_id=\"{id}\"");
    wait_for_or(
        "the checkpoint in Prometheus",
        Duration::from_secs(30),
        || {
            let last = prom_value(
                prom,
                &format!("tidemark_checkpoint_last_completed_id{{{job_sel}}}"),
            );
            let seen = prom_value(
                prom,
                &format!(
                    "tidemark_checkpoint_sync_duration_seconds_count{{{}}}",
                    sel(&sink_name)
                ),
            );
            (last == Some(cid as f64) && seen == Some(2.0)).then_some(())
        },
        || agent.stderr(),
    );
    let stats = get(&url);
    let completed = &stats["latest"]["completed"];
    assert_eq!(
        prom_value(
            prom,
            &format!("tidemark_checkpoint_completed_total{{{job_sel}}}")
        ),
        stats["counts"]["completed"].as_f64()
    );
    let last = prom_value(
        prom,
        &format!("tidemark_checkpoint_last_duration_seconds{{{job_sel}}}"),
    )
    .unwrap();
    let want = completed["end_to_end_duration"].as_f64().unwrap() / 1000.0;
    assert!(
        (last - want).abs() < EPSILON,
        "last duration {last}, Flink {want}"
    );
    for (vid, vname) in [
        (&source, &source_name),
        (&count, &"count".to_string()),
        (&sink, &sink_name),
    ] {
        let detail = get(&format!("{url}/details/{cid}/subtasks/{vid}"));
        let subtasks = detail["subtasks"].as_array().unwrap();
        assert_eq!(subtasks.len(), 2, "{detail}");
        let total = |f: &dyn Fn(&Value) -> f64| subtasks.iter().map(f).sum::<f64>() / 1000.0;
        for (family, flink) in [
            (
                "tidemark_checkpoint_duration_seconds",
                total(&|s| s["end_to_end_duration"].as_f64().unwrap()),
            ),
            (
                "tidemark_checkpoint_sync_duration_seconds",
                total(&|s| s["checkpoint"]["sync"].as_f64().unwrap()),
            ),
            (
                "tidemark_checkpoint_async_duration_seconds",
                total(&|s| s["checkpoint"]["async"].as_f64().unwrap()),
            ),
            (
                "tidemark_checkpoint_alignment_duration_seconds",
                total(&|s| s["alignment"]["duration"].as_f64().unwrap()),
            ),
            (
                "tidemark_checkpoint_start_delay_seconds",
                total(&|s| s["start_delay"].as_f64().unwrap()),
            ),
        ] {
            let q = format!("{family}_sum{{{}}}", sel(vname));
            let ours = prom_value(prom, &q).unwrap_or_else(|| panic!("{q}: no value"));
            assert!(
                (ours - flink).abs() < EPSILON,
                "{q} = {ours}, Flink's subtasks sum to {flink}"
            );
            let n = prom_value(prom, &format!("{family}_count{{{}}}", sel(vname)));
            assert_eq!(n, Some(2.0), "{family} of {vname}");
        }
    }

    // The live dashboard check, as for a Tidemark job: each query whose
    // families the agent exposes for a Flink job returns data.
    let (_, text) = curl(&[&format!("http://{}/metrics", agent.metrics_addr())]);
    let exposed = exposed_families(&text);
    wait_for("10 s of scrapes", Duration::from_secs(60), || {
        let b = promql(
            prom,
            "count_over_time(tidemark_job_uptime_seconds[10s]) >= 8",
        );
        b.contains("\"job_name\"").then_some(())
    });
    let run = run_dashboard_queries(prom, name, &exposed);
    eprintln!(
        "Flink job: checked {} dashboard queries; skipped {}:\n{}",
        run.checked,
        run.skipped.len(),
        run.skipped.join("\n")
    );
    assert!(
        run.empty.is_empty(),
        "queries returned no data:\n{}",
        run.empty.join("\n")
    );
    let unexpected: Vec<&String> = run
        .skipped
        .iter()
        .filter(|s| {
            let missing = s.rsplit("produce ").next().unwrap_or("");
            let names = missing.split('"').skip(1).step_by(2);
            !names
                .into_iter()
                .all(|n| FLINK_LACKS.iter().any(|f| n.starts_with(f)))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "skipped queries the agent should feed: {unexpected:#?}"
    );

    // The sink fast again: resolved.
    std::fs::remove_file(&slow).unwrap();
    for (hook, _, _) in &paths {
        wait_for_or(
            "SustainedBackpressure resolved once the sink is fast again",
            Duration::from_secs(180),
            || {
                alerts(hook, "/pager", "SustainedBackpressure", "resolved")
                    .into_iter()
                    .find(|a| a["labels"]["vertex"] == source_name.as_str())
            },
            || agent.stderr(),
        );
    }

    // SIGTERM: the agent pushes once more, deletes the job's group (no one
    // would update it after) and exits 0, while the job runs on.
    agent.signal("-TERM");
    let (code, err) = agent.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert!(
        !pushgateway_groups(&pgw).iter().any(|(_, i)| *i == id),
        "{:?}",
        pushgateway_groups(&pgw)
    );
    assert_eq!(get(&format!("{}/jobs/{id}", c.rest))["state"], "RUNNING");

    // Another agent pushes the job's group again; the job cancelled, its
    // series leave the agent's exposition and its group is deleted.
    let pgw_only = [
        "--set",
        "metrics.reporters=prom,pgw",
        "--set",
        &sets[1],
        "--set",
        &sets[2],
        "--set",
        &sets[3],
    ];
    let agent = self::agent(d, &c, "test-cluster", &pgw_only);
    wait_for_or(
        "the job's group pushed by the next agent",
        Duration::from_secs(60),
        || {
            pushgateway_groups(&pgw)
                .iter()
                .any(|(_, i)| *i == id)
                .then_some(())
        },
        || agent.stderr(),
    );
    c.cancel(&id);
    wait_for_or(
        "the cancelled job's series retired and its group deleted",
        Duration::from_secs(30),
        || {
            (scraped(&agent, "tidemark_task_busy_seconds_total", &id).is_empty()
                && !pushgateway_groups(&pgw).iter().any(|(_, i)| *i == id))
            .then_some(())
        },
        || agent.stderr(),
    );
    agent.kill();
}

/// Flink's RocksDB native metrics the agent maps (`state.backend.rocksdb.metrics.*`).
const ROCKSDB_METRICS: &[&str] = &[
    "estimate-num-keys",
    "estimate-live-data-size",
    "total-sst-files-size",
    "cur-size-all-mem-tables",
    "num-immutable-mem-table",
    "estimate-pending-compaction-bytes",
    "num-running-compactions",
    "num-running-flushes",
    "actual-delayed-write-rate",
    "is-write-stopped",
    "background-errors",
    "block-cache-usage",
    "block-cache-capacity",
    "block-cache-pinned-usage",
    "block-cache-hit",
    "block-cache-miss",
    "bytes-read",
    "bytes-written",
    "stall-micros",
    "compaction-read-bytes",
    "compaction-write-bytes",
];

/// The catalogue families (by prefix) a Flink job's dashboards read that
/// the agent does not provide; docs/flink.md lists them with why.
const FLINK_LACKS: &[&str] = &[
    // RocksDB measurements Flink's native metrics do not make: lookup
    // latencies, keys read, SST bytes read by lookups.
    "tidemark_rocksdb_get_duration",
    "tidemark_rocksdb_keys_read",
    "tidemark_rocksdb_file_read",
    // A Tidemark process and host; Flink's JVMs are tidemark_taskmanager_*.
    "process_",
    "tidemark_host_",
    // Latency markers are off in Flink by default and not mapped.
    "tidemark_latency_seconds",
    // Tidemark's own measurements, which Flink does not make.
    "tidemark_sink_event_time_latency",
    "tidemark_task_state_seconds",
    "tidemark_state_restore",
    "tidemark_job_recovery_time",
    "tidemark_vertex_needed_parallelism",
    // A backlog (this job's sequence source reports no pendingRecords), a
    // lag in time and per-split series: FLIP-33 has none of them.
    "tidemark_source_pending_records",
    "tidemark_source_lag_seconds",
    "tidemark_source_partition_",
    // Only ever present when the series limit dropped something.
    "tidemark_metrics_series_dropped",
];

/// A REST address that is not one is refused before anything runs.
#[test]
fn the_flink_agent_refuses_a_rest_address_that_is_not_http() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["agent", "flink", "--rest", "127.0.0.1:8081"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--rest 127.0.0.1:8081") && err.contains("http://127.0.0.1:8081"),
        "{err}"
    );
}

/// A JobManager that accepts connections and, while `stalled`, never
/// answers (a JobManager in a long GC pause, or overloaded); otherwise an
/// empty cluster.
/// `held_count` counts the requests left unanswered.
fn stalling_jobmanager(
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held_count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            if stalled.load(std::sync::atomic::Ordering::SeqCst) {
                held.push(s);
                held_count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                continue;
            }
            let request = String::from_utf8_lossy(&buf[..n]);
            let body = match request.split(' ').nth(1) {
                Some("/jobs/overview") => r#"{"jobs":[]}"#,
                Some("/taskmanagers") => r#"{"taskmanagers":[]}"#,
                _ => "{}",
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// A JobManager slower than `--timeout`: each poll fails within the
/// timeout, the failures are counted, `tidemark_bridge_up` is 0, and the
/// agent runs on; once the JobManager answers, the agent is up again.
#[test]
fn a_jobmanager_slower_than_the_timeout_fails_polls_until_it_answers() {
    let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rest = stalling_jobmanager(stalled.clone(), held.clone());
    let dir = tempfile::tempdir().unwrap();
    let agent = Running::start(
        dir.path(),
        &[
            "agent",
            "flink",
            "--rest",
            &rest,
            "--interval",
            "1 s",
            "--timeout",
            "1 s",
            "--set",
            "metrics.reporter.prom.port=0",
        ],
    );
    let err = agent.wait_stderr("agent: poll failed", Duration::from_secs(30));
    assert!(err.contains("/jobs/overview"), "{err}");
    wait_for_or(
        "two failed requests counted and tidemark_bridge_up 0",
        Duration::from_secs(30),
        || {
            (own(&agent, "tidemark_bridge_request_failures_total")? >= 2.0
                && own(&agent, "tidemark_bridge_up")? == 0.0)
                .then_some(())
        },
        || agent.stderr(),
    );
    // The failures are requests the JobManager took and left unanswered
    // (not refused connections).
    assert!(held.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    stalled.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for_or(
        "tidemark_bridge_up 1 once the JobManager answers",
        Duration::from_secs(30),
        || (own(&agent, "tidemark_bridge_up")? == 1.0).then_some(()),
        || agent.stderr(),
    );
    agent.kill();
}
