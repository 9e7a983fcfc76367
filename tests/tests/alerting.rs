//! The shipped dashboards and rules against real servers.
//!
//! - Every dashboard query, evaluated by a real Prometheus scraping a real
//!   job, returns data whenever the job produces the metrics it reads.
//! - Paging end to end: a job with a slow sink → Prometheus (scraping the job,
//!   or a Pushgateway the job pushes to, with `honor_labels`) evaluating the
//!   shipped rules at test-sized windows → Alertmanager routed by the shipped
//!   example → a webhook receiver. `SustainedBackpressure` arrives at the pager
//!   receiver for the right job and vertex, names the sink as the bottleneck,
//!   and is resolved once the slowdown ends.

use serde_json::Value;
use std::time::Duration;
use tidemark_tests::dashboard_check::*;
use tidemark_tests::paging::*;
use tidemark_tests::servers::*;
use tidemark_tests::*;

const SINK: &str = "sink: blackhole";

/// The job id Prometheus sees for `job_name`.
fn job_id(prom: &Server, job_name: &str) -> String {
    wait_for(
        "the job's series in Prometheus",
        Duration::from_secs(60),
        || {
            let body = promql(
                prom,
                &format!("tidemark_job_uptime_seconds{{job_name=\"{job_name}\"}}"),
            );
            let v: Value = serde_json::from_str(&body).ok()?;
            v["data"]["result"][0]["metric"]["job_id"]
                .as_str()
                .map(String::from)
        },
    )
}

/// Runs the paging scenario; `push` sends the job's metrics through a Pushgateway.
fn pages_and_resolves(push: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hook = Webhook::start();
    let am = alertmanager(&alertmanager_config(&hook));
    let rules = rules(&["rate_window=5s", "backpressure_for=5s"]);
    let slow = d.join("slow");
    std::fs::write(&slow, "").unwrap();
    let name = if push { "paged-push" } else { "paged-scrape" };
    // The sink manages 20 k records/s while `slow` exists; the source offers 100 k/s.
    let reporters = if push {
        let pgw = pushgateway();
        let cfg = format!(
            "  metrics.reporters: pgw\n  metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://{}\n  metrics.reporter.pgw.interval: 1 s\n",
            pgw.addr
        );
        (cfg, Some(pgw))
    } else {
        ("  metrics.reporter.prom.port: 0\n".to_string(), None)
    };
    let yaml = format!(
        "name: {name}\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 100000\n  sink-delay: 50us\n  sink-delay-while-exists: {}\nconfig:\n{}",
        slow.display(),
        reporters.0
    );
    let job = write_file(d, "job.yaml", &yaml);
    let started = std::time::Instant::now();
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let target = match &reporters.1 {
        Some(pgw) => ("pushgateway", pgw.addr.clone()),
        None => ("tidemark", r.metrics_addr()),
    };
    let prom = prometheus_with(&[(target.0, &target.1)], Some(&rules), Some(&am.addr));
    let id = job_id(&prom, name);

    let firing = wait_for(
        "SustainedBackpressure at the pager receiver",
        Duration::from_secs(120),
        || {
            alerts(&hook, "/pager", "SustainedBackpressure", "firing")
                .into_iter()
                .find(|a| a["labels"]["vertex"] == "count")
        },
    );
    let fired_after = started.elapsed();
    let l = &firing["labels"];
    assert_eq!(l["job_name"], name, "{firing}");
    assert_eq!(l["job_id"], id.as_str(), "{firing}");
    assert_eq!(l["severity"], "page", "{firing}");
    assert_eq!(firing["annotations"]["bottleneck"], SINK, "{firing}");
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(name) && summary.contains("vertex count"),
        "{summary}"
    );
    assert!(
        firing["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("/SustainedBackpressure.md"),
        "{firing}"
    );
    // The sink is slow, not blocked: it is never the alerting vertex, and
    // nothing reached the ticket receiver as a page.
    assert!(alerts(&hook, "/pager", "SustainedBackpressure", "firing")
        .iter()
        .all(|a| a["labels"]["vertex"] != SINK));
    assert!(alerts(&hook, "/ticket", "SustainedBackpressure", "firing").is_empty());

    std::fs::remove_file(&slow).unwrap();
    let sped_up = std::time::Instant::now();
    let resolved = wait_for(
        "SustainedBackpressure resolved once the sink is fast again",
        Duration::from_secs(120),
        || {
            alerts(&hook, "/pager", "SustainedBackpressure", "resolved")
                .into_iter()
                .find(|a| a["labels"]["vertex"] == "count" && a["labels"]["job_id"] == id.as_str())
        },
    );
    assert!(resolved["endsAt"].as_str().unwrap() > firing["startsAt"].as_str().unwrap());
    // Reported, not asserted: with rate_window=5s and for: 5s.
    eprintln!(
        "{name}: page {:.1} s after the job started; resolved {:.1} s after the sink sped up",
        fired_after.as_secs_f64(),
        sped_up.elapsed().as_secs_f64()
    );
    r.kill();
}

#[test]
fn sustained_backpressure_pages_and_resolves_when_prometheus_scrapes_the_job() {
    pages_and_resolves(false);
}

#[test]
fn sustained_backpressure_pages_and_resolves_through_a_pushgateway() {
    pages_and_resolves(true);
}

/// How many times Prometheus has evaluated the shipped rule group, from its
/// own `/metrics`.
fn rule_iterations(prom: &Server) -> f64 {
    let (_, body) = curl(&[&format!("http://{}/metrics", prom.addr)]);
    body.lines()
        .filter(|l| l.starts_with("prometheus_rule_group_iterations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The negative control of paging: a healthy job (fast sink, checkpoints
/// completing, nothing failing) under the shipped rules at the same
/// test-sized windows and `for:` durations as the paging test raises no
/// alert, neither pending nor firing, over many evaluation cycles, and every
/// rule evaluates without error (a broken rule would never fire either).
#[test]
fn a_healthy_job_raises_no_alert_over_many_evaluation_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hook = Webhook::start();
    let am = alertmanager(&alertmanager_config(&hook));
    let rules = rules(&[
        "rate_window=5s",
        "backpressure_for=5s",
        "not_completing_for=5s",
        "checkpoint_timing_for=5s",
        "watermark_lag_for=5s",
        "write_stall_for=5s",
        "exporter_failing_for=5s",
        "target_down_for=5s",
    ]);
    let job = write_file(
        d,
        "healthy.yaml",
        "name: healthy\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 20000\nconfig:\n  execution.checkpointing.interval: 1 s\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n",
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let prom = prometheus_with(
        &[("tidemark", &r.metrics_addr())],
        Some(&rules),
        Some(&am.addr),
    );
    job_id(&prom, "healthy");
    // Past the longest window of the rules given above, then 30 more cycles.
    let start = rule_iterations(&prom);
    wait_for_or(
        "40 evaluation cycles of the shipped rules",
        Duration::from_secs(120),
        || (rule_iterations(&prom) >= start + 40.0).then_some(()),
        || r.stderr(),
    );
    let rules_state: Value =
        serde_json::from_str(&curl(&[&format!("http://{}/api/v1/rules", prom.addr)]).1).unwrap();
    let mut evaluated = 0;
    for g in rules_state["data"]["groups"].as_array().unwrap() {
        for rule in g["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "a rule that errs cannot page: {rule}");
            evaluated += 1;
        }
    }
    assert!(
        evaluated >= 12,
        "the shipped rules are loaded: {rules_state}"
    );
    let alerts: Value =
        serde_json::from_str(&curl(&[&format!("http://{}/api/v1/alerts", prom.addr)]).1).unwrap();
    assert_eq!(
        alerts["data"]["alerts"].as_array().map(Vec::len),
        Some(0),
        "a healthy job raises nothing: {alerts}"
    );
    assert!(
        hook.received().is_empty(),
        "nothing was sent: {:?}",
        hook.received()
    );
    r.kill();
}

#[test]
fn every_dashboard_query_returns_data_from_a_live_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = "dash-live";
    // RocksDB with statistics, checkpoints every 200 ms, latency markers: most families exist.
    let job = write_file(
        d,
        "job.yaml",
        &format!("name: {name}\npipeline: keyed-count\nparams:\n  keys: 2000\n  rate: 20000\nconfig:\n  execution.checkpointing.interval: 200 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  metrics.latency.interval: 100 ms\n  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: rocks\n  state.backend.rocksdb.statistics.level: TICKERS\n"),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let prom = prometheus(&[("tidemark", &addr)]);
    // The families the job exposes (histograms by their series names).
    let exposed = exposed_families(&wait_for(
        "checkpoint, latency and per-state RocksDB families exposed",
        Duration::from_secs(60),
        || {
            let (_, body) = curl(&[&format!("http://{addr}/metrics")]);
            // Checkpoint phases and latency markers have both been observed, and
            // the RocksDB sampler (once a second) has seen the first column family,
            // and the capacity model has its first estimate (after 5 s).
            (body.contains("tidemark_checkpoint_start_delay_seconds_count")
                && body.contains("tidemark_latency_seconds_bucket")
                && body.contains("tidemark_rocksdb_estimate_num_keys")
                && body.contains("tidemark_job_recovery_time_seconds"))
            .then_some(body)
        },
    ));
    // Wait until Prometheus has 10 s of scrapes, so rate() over 10 s has samples.
    wait_for("10 s of scrapes", Duration::from_secs(60), || {
        let b = promql(
            &prom,
            "count_over_time(tidemark_job_uptime_seconds[10s]) >= 8",
        );
        b.contains("\"job_name\"").then_some(())
    });
    let DashboardRun {
        checked,
        skipped,
        empty,
    } = run_dashboard_queries(&prom, name, &exposed);
    eprintln!(
        "checked {checked} queries; skipped {}:\n{}",
        skipped.len(),
        skipped.join("\n")
    );
    assert!(
        empty.is_empty(),
        "queries returned no data:\n{}",
        empty.join("\n")
    );
    // Only the families this job cannot produce are skipped: event-time latency
    // (no event time in keyed-count), restores (it never restored), series
    // dropped by the limit (it stays under it) and a stream source's lag and
    // partition watermarks (a generator has none; tests/tests/jetstream_job.rs
    // reads those panels from a stream job), and a Flink cluster's (the
    // agent's polls, the TaskManagers': tests/tests/flink_cluster.rs reads
    // those).
    for s in &skipped {
        assert!(
            [
                "sink_event_time_latency",
                "state_restore",
                "series_dropped",
                "source_pending",
                "source_lag",
                "source_partition_",
                "tidemark_bridge_",
                "tidemark_taskmanager_"
            ]
            .iter()
            .any(|f| s.contains(f)),
            "skipped a query the job should feed: {s}"
        );
    }
    assert!(checked >= 60, "only {checked} queries checked");
    r.kill();
}
