//! Latency markers travel behind queued records: their age at the sink grows
//! with the queueing an overloaded sink causes upstream, and stays small when
//! the same flow is not held up, even when the sink is slow per record but
//! keeps up (markers skip operator processing, so an operator's own work
//! does not count, only the queue in front of it).

use std::time::Duration;
use tidemark_tests::servers::curl;
use tidemark_tests::*;

/// Mean latency-marker age at `vertex` (sum / count of the histogram), and the count.
fn mean_latency(addr: &str, vertex: &str) -> (f64, f64) {
    let (sum, count) = histogram_sum_count(
        addr,
        "tidemark_latency_seconds",
        &format!("vertex=\"{vertex}\""),
    );
    (if count > 0.0 { sum / count } else { 0.0 }, count)
}

#[test]
fn marker_latency_grows_with_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = |name: &str, rate: u32, delay: &str| {
        write_file(
            d,
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\npipeline: keyed-count\nparams:\n  keys: 100\n  rate: {rate}\n  sink-delay: {delay}\nconfig:\n  metrics.reporter.prom.port: 0\n  metrics.latency.interval: 100 ms\n  rest.bind-port: 0\n"
            ),
        )
    };
    // The slow sink manages 50 k records/s of the 200 k offered: everything upstream queues.
    // The busy sink spends 10 ms per record on 20 records/s: slow, but it keeps up.
    let (fast, slow, busy) = (
        job("fast", 200_000, "0 ms"),
        job("slow", 200_000, "20us"),
        job("busy", 20, "10ms"),
    );
    let rf = Running::start(d, &["run", &fast, "--status-interval", "0"]);
    let rs = Running::start(d, &["run", &slow, "--status-interval", "0"]);
    let rb = Running::start(d, &["run", &busy, "--status-interval", "0"]);
    let (af, aslow, abusy) = (rf.metrics_addr(), rs.metrics_addr(), rb.metrics_addr());
    let sink = "sink: blackhole";
    wait_for("30 markers at every sink", Duration::from_secs(60), || {
        [&af, &aslow, &abusy]
            .iter()
            .all(|a| mean_latency(a, sink).1 >= 30.0)
            .then_some(())
    });
    let (f, s, b) = (
        mean_latency(&af, sink).0,
        mean_latency(&aslow, sink).0,
        mean_latency(&abusy, sink).0,
    );
    eprintln!("mean marker age at the sink: fast {f:.4} s, queued {s:.4} s, busy {b:.4} s");
    assert!(s > 0.05, "queued markers wait: slow sink mean {s:.4} s");
    assert!(
        s > 2.0 * f,
        "queueing shows: slow {s:.4} s vs fast {f:.4} s"
    );
    assert!(
        b < 0.03 && s > 2.0 * b,
        "a sink's own processing (10 ms per record) is not queueing: busy {b:.4} s vs queued {s:.4} s"
    );
    // Labels carry vertex names, not ids.
    let (_, body) = curl(&[&format!("http://{af}/metrics")]);
    assert!(
        body.contains("tidemark_latency_seconds_count{job_name=\"fast\""),
        "{body}"
    );
    assert!(body.contains("source=\"datagen\",vertex=\"count\""));
    rf.kill();
    rs.kill();
    rb.kill();
}
