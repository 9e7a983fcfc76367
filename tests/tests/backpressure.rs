//! Backpressure is measured, not inferred: a slow sink makes every upstream
//! vertex read HIGH and the sink busy, the status line names the sink as the
//! bottleneck, levels return to OK when the slowdown ends, and a task blocked
//! on one send for seconds reads backpressured while the block lasts.

use std::time::Duration;
use tidemark_tests::servers::curl;
use tidemark_tests::*;

/// Sum of `metric` over the subtasks of `vertex` in a scrape of `addr`.
fn vertex_sum(addr: &str, metric: &str, vertex: &str) -> f64 {
    let (_, body) = curl(&[&format!("http://{addr}/metrics")]);
    let v = format!("vertex=\"{vertex}\"");
    body.lines()
        .filter(|l| l.starts_with(metric) && l.contains(&v))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_slow_sink_backpressures_everything_upstream_until_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The sink manages 50 k records/s for its first 12 s; the source offers 200 k/s.
    let job = write_file(
        d,
        "slow.yaml",
        "name: slow\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 200000\n  sink-delay: 20us\n  sink-delay-for: 12s\nconfig:\n  metrics.reporter.prom.port: 0\n",
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "1"]);
    let addr = r.metrics_addr();
    let high = wait_for(
        "upstream HIGH with the sink as bottleneck",
        Duration::from_secs(30),
        || {
            let s = r.stderr();
            s.lines()
                .find(|l| {
                    l.contains(
                        "datagen HIGH, count HIGH, sink: blackhole OK, bottleneck: sink: blackhole",
                    )
                })
                .map(str::to_string)
        },
    );
    assert!(high.contains("backpressured"), "{high}");
    // In metrics: the count is backpressured, the sink is busy and not backpressured.
    let bp = |v: &str| vertex_sum(&addr, "tidemark_task_backpressured_seconds_total", v);
    let busy = |v: &str| vertex_sum(&addr, "tidemark_task_busy_seconds_total", v);
    let (c0, s0, b0) = (bp("count"), bp("sink: blackhole"), busy("sink: blackhole"));
    wait_for(
        "a second of backpressure at the count",
        Duration::from_secs(20),
        || (bp("count") >= c0 + 1.0).then_some(()),
    );
    assert!(
        bp("sink: blackhole") - s0 < 0.5,
        "the sink itself is not backpressured"
    );
    assert!(busy("sink: blackhole") - b0 >= 0.5, "the sink is busy");
    // After the slowdown the levels return to OK.
    wait_for("levels back to OK", Duration::from_secs(60), || {
        r.stderr()
            .lines()
            .any(|l| l.contains("datagen OK, count OK, sink: blackhole OK"))
            .then_some(())
    });
    r.kill();
}

#[test]
fn a_long_block_reads_backpressured_while_it_lasts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 200 ms per record: the count blocks on its first full channel for minutes.
    let job = write_file(
        d,
        "stuck.yaml",
        "name: stuck\npipeline: keyed-count\nparams:\n  keys: 10\n  sink-delay: 200ms\nconfig:\n  metrics.reporter.prom.port: 0\n",
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let count_bp = || vertex_sum(&addr, "tidemark_task_backpressured_seconds_total", "count");
    let first = wait_for("the count to block", Duration::from_secs(30), || {
        let v = count_bp();
        (v > 0.5).then_some(v)
    });
    let later = wait_for(
        "backpressured time to grow during the block",
        Duration::from_secs(30),
        || {
            let v = count_bp();
            (v >= first + 2.0).then_some(v)
        },
    );
    // A 1024-record batch takes the sink 200 s: the growth came from a block in progress.
    assert!(later > first);
    let q = vertex_sum(&addr, "tidemark_task_output_queue_usage_ratio", "count");
    assert!(q > 0.0, "output queues are full: {q}");
    r.kill();
}
