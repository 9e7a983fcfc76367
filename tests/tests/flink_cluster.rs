//! A real Apache Flink 2.3 standalone cluster (a JobManager and a
//! TaskManager, separate JVMs, from the installed package) running the slow
//! sink job submitted with `flink run`: the REST answers Tidemark's agent
//! for Flink reads (issue 18) have the shapes and the meanings it relies on,
//! and `tidemark agent flink` maps them into the catalogue. The oracle is
//! the job (its sink sleeps 1 ms every 10 records behind an unbounded
//! source, so the sink is busy and the source backpressured) and Flink's own
//! REST values.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tidemark_tests::flink::FlinkCluster;
use tidemark_tests::*;

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
    let c = FlinkCluster::start(1);
    let java = Path::new(env!("CARGO_MANIFEST_DIR")).join("flink/SlowSinkJob.java");
    let jar = c.compile(&java);
    let id = c.submit(&jar, "SlowSinkJob", &["flink-slow-sink", "1000", "10", "0"]);

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
    let dir = tempfile::tempdir().unwrap();
    let agent = Running::start(
        dir.path(),
        &[
            "agent",
            "flink",
            "--rest",
            &c.rest,
            "--interval",
            "1 s",
            "--set",
            "metrics.reporter.prom.port=0",
        ],
    );
    let metrics = format!("http://{}/metrics", agent.metrics_addr());
    let sink_name = vertices
        .iter()
        .find(|v| v["id"] == sink.as_str())
        .and_then(|v| v["name"].as_str())
        .unwrap()
        .to_string();
    let series = |family: &str, vertex: &str| -> Option<f64> {
        let (_, text) = servers::curl(&[&metrics]);
        let want = format!("vertex=\"{vertex}\"");
        text.lines()
            .find(|l| {
                l.starts_with(family)
                    && l.contains(&want)
                    && l.contains(&format!("job_id=\"{id}\""))
            })
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
    let (_, text) = servers::curl(&[&metrics]);
    let info = text
        .lines()
        .find(|l| {
            l.starts_with("tidemark_vertex_info") && l.contains(&format!("vertex_id=\"{sink}\""))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(info.contains("job_name=\"flink-slow-sink\""), "{info}");
    assert!(info.contains("inputs=\"count\""), "{info}");
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
    // The JobManager gone: the agent says so and keeps running, its
    // series served as they were.
    drop(c);
    agent.wait_stderr("agent: poll failed", Duration::from_secs(30));
    assert!(
        series("tidemark_task_busy_seconds_total", &sink_name).is_some_and(|b| b >= flink_busy_s),
        "{}",
        agent.stderr()
    );
    agent.kill();
}

/// The push reporters are refused by name, before anything runs.
#[test]
fn the_flink_agent_refuses_push_reporters_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "agent",
            "flink",
            "--set",
            "metrics.reporters=pgw",
            "--set",
            "metrics.reporter.pgw.factory.class=pushgateway",
            "--set",
            "metrics.reporter.pgw.hostUrl=http://127.0.0.1:1",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("metrics.reporter.pgw") && err.contains("not supported yet"),
        "{err}"
    );
}
