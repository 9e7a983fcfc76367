//! The agent against real servers: one job scraped by Prometheus, pushed to a
//! Pushgateway and written to InfluxDB reads the same in all three; per-job
//! Pushgateway groups never overwrite each other and disappear on shutdown and
//! after a crash-restart; an InfluxDB outage costs the job nothing and delivery
//! resumes by itself.

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use tidemark_tests::servers::*;
use tidemark_tests::*;

fn job_file(d: &std::path::Path, name: &str, params: &str, config: &str) -> String {
    write_file(
        d,
        &format!("{name}.yaml"),
        &format!("name: {name}\npipeline: keyed-count\nparams:\n{params}config:\n{config}"),
    )
}

/// Sum of `metric`'s samples whose labels contain `want` in the Pushgateway's JSON.
fn pushgateway_sum(pgw: &Server, metric: &str, want: &[(&str, &str)]) -> Option<f64> {
    let (code, body) = curl(&[&format!("http://{}/api/v1/metrics", pgw.addr)]);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut sum = None;
    for group in v["data"].as_array()? {
        let Some(m) = group.get(metric) else { continue };
        for s in m["metrics"].as_array()? {
            let l = &s["labels"];
            if want.iter().all(|(k, val)| l[*k].as_str() == Some(*val)) {
                *sum.get_or_insert(0.0) += s["value"].as_str()?.parse::<f64>().ok()?;
            }
        }
    }
    sum
}

fn promql_sum(prom: &Server, q: &str) -> Option<f64> {
    let body = promql(prom, q);
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

fn influx_sum_of_last(influx: &Server, db: &str, measurement: &str, vertex: &str) -> Option<f64> {
    influx_field_sum(influx, db, measurement, "value", vertex)
}

/// The sum over series of the last `field` of `measurement` at `vertex`.
fn influx_field_sum(
    influx: &Server,
    db: &str,
    measurement: &str,
    field: &str,
    vertex: &str,
) -> Option<f64> {
    let body = influxql(influx, db, &format!("SELECT last(\"{field}\") FROM \"{measurement}\" WHERE \"vertex\"='{vertex}' GROUP BY *"));
    let v: Value = serde_json::from_str(&body).unwrap();
    let series = v["results"][0]["series"].as_array()?;
    Some(
        series
            .iter()
            .filter_map(|s| s["values"][0][1].as_f64())
            .sum(),
    )
}

fn job_id_of(stderr: &str) -> String {
    stderr
        .split("(id ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("the job prints its id when it starts")
        .to_string()
}

#[test]
fn one_counter_reads_the_same_in_prometheus_pushgateway_and_influxdb() {
    let pgw = pushgateway();
    let influx = influxdb("tidemark");
    let port = free_port();
    let prom = prometheus(&[("tidemark", &format!("127.0.0.1:{port}"))]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = 200_000u64;
    let (ihost, iport) = influx.addr.split_once(':').unwrap();
    let job = job_file(
        d,
        "three-ways",
        &format!("  keys: 100\n  events: {events}\n  rate: 100000\n  count-parallelism: 2\n"),
        &format!(
            "  metrics.reporters: prom,pgw,influx\n  metrics.reporter.prom.port: {port}\n  metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://{}\n  metrics.reporter.pgw.interval: 500 ms\n  metrics.reporter.pgw.deleteOnShutdown: false\n  metrics.reporter.influx.factory.class: org.apache.flink.metrics.influxdb.InfluxdbReporterFactory\n  metrics.reporter.influx.host: {ihost}\n  metrics.reporter.influx.port: {iport}\n  metrics.reporter.influx.db: tidemark\n  metrics.reporter.influx.interval: 500 ms\n  metrics.latency.interval: 100 ms\n",
            pgw.addr
        ),
    );
    let r = Running::start(
        d,
        &["run", &job, "--linger", "120s", "--status-interval", "0"],
    );
    r.wait_stderr("job finished", Duration::from_secs(60));
    let want = events as f64;
    let q = "sum(tidemark_task_records_in_total{job_name=\"three-ways\",vertex=\"count\"})";
    let in_prom = wait_for(
        "Prometheus to scrape the final count",
        Duration::from_secs(30),
        || promql_sum(&prom, q).filter(|v| *v == want),
    );
    // Generous: after transient failures under load, a retry may wait up to the 30 s backoff cap.
    let in_pgw = wait_for_or(
        "the Pushgateway to hold the final count",
        Duration::from_secs(75),
        || {
            pushgateway_sum(
                &pgw,
                "tidemark_task_records_in_total",
                &[("vertex", "count"), ("job_name", "three-ways")],
            )
            .filter(|v| *v == want)
        },
        || {
            let (_, state) = curl(&[&format!("http://{}/api/v1/metrics", pgw.addr)]);
            let (_, ours) = curl(&[&format!(
                "http://127.0.0.1:{port}/metrics?include=tidemark_exporter_*"
            )]);
            format!(
                "job stderr:\n{}\nexporter metrics:\n{ours}\nPushgateway: {}\nPushgateway log:\n{}",
                r.stderr(),
                &state[..state.len().min(3000)],
                pgw.log()
            )
        },
    );
    let in_influx = wait_for(
        "InfluxDB to hold the final count",
        Duration::from_secs(30),
        || {
            influx_sum_of_last(
                &influx,
                "tidemark",
                "tidemark_task_records_in_total",
                "count",
            )
            .filter(|v| *v == want)
        },
    );
    assert_eq!((in_prom, in_pgw, in_influx), (want, want, want));
    // The same job, per job: the group carries job_name, job_id and instance.
    let groups = pushgateway_groups(&pgw);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].1, job_id_of(&r.stderr()));
    // A histogram read back from InfluxDB: its count and sum fields are what
    // Prometheus scraped of the same finished job (frozen values, so both
    // servers come to agree), and there is something in it.
    let hq = |f: &str| {
        format!("sum(tidemark_latency_seconds_{f}{{job_name=\"three-ways\",vertex=\"count\"}})")
    };
    let (count, sum) = wait_for_or(
        "the latency histogram to read the same in InfluxDB and Prometheus",
        Duration::from_secs(60),
        || {
            let (pc, ps) = (
                promql_sum(&prom, &hq("count"))?,
                promql_sum(&prom, &hq("sum"))?,
            );
            let ic = influx_field_sum(
                &influx,
                "tidemark",
                "tidemark_latency_seconds",
                "count",
                "count",
            )?;
            let is = influx_field_sum(
                &influx,
                "tidemark",
                "tidemark_latency_seconds",
                "sum",
                "count",
            )?;
            (pc > 0.0 && ic == pc && (is - ps).abs() <= 1e-9 * ps.max(1.0)).then_some((ic, is))
        },
        || {
            influxql(
                &influx,
                "tidemark",
                "SELECT * FROM \"tidemark_latency_seconds\" ORDER BY time DESC LIMIT 5",
            )
        },
    );
    assert!(sum >= 0.0 && count >= 1.0, "{count} {sum}");
    r.kill();
}

#[test]
fn jobs_get_their_own_groups_which_vanish_on_shutdown_and_after_a_crash_restart() {
    let pgw = pushgateway();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = |ck: &str| {
        format!(
            "  metrics.reporters: prom,pgw\n  metrics.reporter.prom.port: 0\n  metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://{}\n  metrics.reporter.pgw.interval: 300 ms\n  execution.checkpointing.interval: 200 ms\n  execution.checkpointing.dir: {ck}\n",
            pgw.addr
        )
    };
    let a = job_file(d, "alpha", "  keys: 10\n  rate: 5000\n", &cfg("ck-a"));
    let b = job_file(d, "beta", "  keys: 10\n  rate: 5000\n", &cfg("ck-b"));
    let ra = Running::start(d, &["run", &a, "--status-interval", "0"]);
    let rb = Running::start(d, &["run", &b, "--status-interval", "0"]);
    wait_for("both jobs' groups", Duration::from_secs(30), || {
        let g = pushgateway_groups(&pgw);
        (g.iter().any(|x| x.0 == "alpha") && g.iter().any(|x| x.0 == "beta")).then_some(())
    });
    let beta_id = job_id_of(&rb.wait_stderr("subtasks):", Duration::from_secs(30)));
    // Both keep their own counters.
    wait_for("alpha's own records", Duration::from_secs(30), || {
        pushgateway_sum(
            &pgw,
            "tidemark_task_records_in_total",
            &[("job_name", "alpha")],
        )
        .filter(|v| *v > 0.0)
    });
    // A graceful stop deletes the group.
    assert!(Command::new("kill")
        .args(["-INT", &ra.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let (code, err) = ra.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    wait_for(
        "alpha's group to be deleted",
        Duration::from_secs(30),
        || (!pushgateway_groups(&pgw).iter().any(|x| x.0 == "alpha")).then_some(()),
    );
    // A crash leaves beta's group; the restarted run deletes it.
    wait_for("a beta checkpoint", Duration::from_secs(30), || {
        (!completed_checkpoints(&d.join("ck-b")).is_empty()).then_some(())
    });
    rb.kill();
    assert!(
        pushgateway_groups(&pgw).iter().any(|x| x.1 == beta_id),
        "a killed job cannot delete its group"
    );
    // The restarted run finds the Pushgateway hung (SIGSTOP): its delete of the
    // stale group times out, is said, and is tried again once it answers.
    pgw.freeze();
    let rb2 = Running::start(
        d,
        &[
            "run",
            &b,
            "--restore",
            "latest",
            "--status-interval",
            "0",
            "--set",
            "metrics.reporter.pgw.timeout=500 ms",
        ],
    );
    let new_id = job_id_of(&rb2.wait_stderr("subtasks):", Duration::from_secs(30)));
    assert_ne!(new_id, beta_id);
    rb2.wait_stderr("start-up request DELETE", Duration::from_secs(30));
    pgw.thaw();
    wait_for(
        "the crashed run's group gone and the new one present",
        Duration::from_secs(30),
        || {
            let g = pushgateway_groups(&pgw);
            (!g.iter().any(|x| x.1 == beta_id) && g.iter().any(|x| x.1 == new_id)).then_some(())
        },
    );
    rb2.kill();
}

fn scrape_value(addr: &str, metric_prefix: &str) -> f64 {
    let (_, body) = curl(&[&format!("http://{addr}/metrics")]);
    body.lines()
        .filter(|l| l.starts_with(metric_prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| {
                    l.strip_prefix("VmRSS:")
                        .map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
        * 1024
}

#[test]
fn an_influxdb_outage_costs_the_job_nothing_and_delivery_resumes() {
    influxdb_outage(false);
}

/// A hung server (SIGSTOP: it accepts connections and never answers) is
/// worse than a refused connection: every request waits for its timeout.
#[test]
fn a_hung_influxdb_costs_the_job_nothing_and_delivery_resumes() {
    influxdb_outage(true);
}

/// An InfluxDB down (`hung`: frozen) for 30 s under a job offering 50 k
/// records/s: the job keeps its pace and memory, failures are counted, the
/// queue stays bounded, and delivery resumes by itself afterwards.
fn influxdb_outage(hung: bool) {
    let mut influx = influxdb("tidemark");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ihost, iport) = influx.addr.split_once(':').unwrap();
    let job = job_file(
        d,
        "outage",
        "  keys: 1000\n  rate: 50000\n",
        &format!(
            "  metrics.reporters: prom,influx\n  metrics.reporter.prom.port: 0\n  metrics.reporter.influx.factory.class: influxdb\n  metrics.reporter.influx.host: {ihost}\n  metrics.reporter.influx.port: {iport}\n  metrics.reporter.influx.db: tidemark\n  metrics.reporter.influx.interval: 200 ms\n  metrics.reporter.influx.writeTimeout: 1 s\n"
        ),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let sent = |a: &str| scrape_value(a, "tidemark_exporter_sent_total{reporter=\"influx\"");
    let failed = |a: &str| scrape_value(a, "tidemark_exporter_failed_total{reporter=\"influx\"");
    wait_for("writes to InfluxDB", Duration::from_secs(30), || {
        (sent(&addr) >= 3.0).then_some(())
    });
    let rss_before = rss_bytes(r.child.id());

    if hung {
        influx.freeze();
    } else {
        influx.pause();
    }
    let down_at = Instant::now();
    let records_at_outage = scrape_value(
        &addr,
        "tidemark_task_records_in_total{job_name=\"outage\",job_id=",
    );
    let sent_at_outage = sent(&addr);
    wait_for(
        "30 s of outage with failures counted",
        Duration::from_secs(90),
        || (down_at.elapsed() >= Duration::from_secs(30) && failed(&addr) >= 2.0).then_some(()),
    );
    let records_during = scrape_value(
        &addr,
        "tidemark_task_records_in_total{job_name=\"outage\",job_id=",
    );
    let depth = scrape_value(&addr, "tidemark_exporter_queue_depth{reporter=\"influx\"");
    let rss_during = rss_bytes(r.child.id());
    assert!(
        records_during >= records_at_outage + 50_000.0 * 20.0,
        "the job kept its pace: {records_at_outage} -> {records_during}"
    );
    // 30 s at 200 ms made about 150 payloads: a full queue of 16 holds some,
    // the rest were dropped and counted (an unbounded queue drops none).
    let dropped = scrape_value(&addr, "tidemark_exporter_dropped_total{reporter=\"influx\"");
    assert!(
        (1.0..=16.0).contains(&depth),
        "the queue holds what waits, and is bounded: {depth}"
    );
    // Refused: failures are instant, so ticks keep coming. Hung: a tick can
    // wait out a 1 s timeout, and the backoff grows; still well beyond 16.
    let floor = if hung { 30.0 } else { 150.0 * 0.5 } - 16.0;
    assert!(
        dropped >= floor,
        "payloads beyond the bound are dropped and counted: {dropped}"
    );
    assert!(
        rss_during < rss_before + 64 * 1024 * 1024,
        "memory stays bounded: {rss_before} -> {rss_during}"
    );

    if hung {
        influx.thaw();
    } else {
        influx.resume();
    }
    let resumed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    wait_for(
        "delivery to resume by itself",
        Duration::from_secs(60),
        || (sent(&addr) > sent_at_outage).then_some(()),
    );
    wait_for(
        "points written after the outage",
        Duration::from_secs(60),
        || {
            let body = influxql(
                &influx,
                "tidemark",
                "SELECT last(\"value\") FROM \"tidemark_task_records_in_total\"",
            );
            let v: Value = serde_json::from_str(&body).ok()?;
            let t = v["results"][0]["series"][0]["values"][0][0].as_i64()?;
            (t >= resumed_ms).then_some(())
        },
    );
    r.kill();
}
