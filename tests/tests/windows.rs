//! Event-time windows give exact results: every (key, window) count equals what
//! the deterministic generator produced, with out-of-order records and two
//! parallel sources whose watermarks are combined downstream.

use std::collections::HashMap;
use tidemark::source::datagen::{DatagenConfig, KeyDistribution};
use tidemark_tests::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn tumbling_window_counts_are_exact_with_out_of_order_records() {
    tumbling_exact("");
}

/// The same with window state and timers in RocksDB (timers ordered by time
/// in their own column family), and incremental checkpoints.
#[test]
fn tumbling_window_counts_are_exact_with_state_and_timers_in_rocksdb() {
    tumbling_exact(
        "  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: rocks\n  \
         state.backend.rocksdb.timer-service.factory: ROCKSDB\n  execution.checkpointing.incremental: true\n",
    );
}

fn tumbling_exact(config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (events, keys, ooo) = (30_000u64, 20u64, 50i64);
    let job = write_file(
        d,
        "w.yaml",
        &format!(
            "name: windows\npipeline: windowed-aggregation\nparams:\n  keys: {keys}\n  events: {events}\n  seed: 11\n  event-time-rate: 1000\n  out-of-orderness: {ooo} ms\n  window: tumbling\n  size: 1 s\n  aggregate: count\n  sink: file\n  output: out\n  source-parallelism: 2\nconfig:\n  parallelism.default: 2\n  execution.checkpointing.interval: 200 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n{config}"
        ),
    );
    let (code, err) = run(d, &["run", &job, "--status-interval", "0"]);
    assert_eq!(code, 0, "{err}");
    let gen = DatagenConfig {
        keys,
        distribution: KeyDistribution::Uniform,
        rate: 0,
        events: Some(events),
        seed: 11,
        event_time_start_ms: 0,
        event_time_rate: 1000,
        out_of_orderness_ms: ooo,
        warmup: 0,
    };
    let mut expected: HashMap<(u64, i64), u64> = HashMap::new();
    for i in 0..events {
        let e = gen.record(i, None);
        *expected
            .entry((e.key, e.ts.div_euclid(1000) * 1000))
            .or_default() += 1;
    }
    let mut got: HashMap<(u64, i64), u64> = HashMap::new();
    for l in committed_lines(&d.join("out")) {
        let f: Vec<&str> = l.split(',').collect();
        let (k, start, end, v): (u64, i64, i64, f64) = (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        assert_eq!(end - start, 1000);
        assert!(
            got.insert((k, start), v as u64).is_none(),
            "window ({k},{start}) emitted twice"
        );
    }
    assert_eq!(got.len(), expected.len(), "one result per key and window");
    assert_eq!(got, expected);
}

#[test]
fn watermarks_and_their_lag_are_exported_per_subtask() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let start_ms = now_ms() - 10 * 86_400_000;
    let job = write_file(
        d,
        "wm.yaml",
        &format!("name: wm\npipeline: windowed-aggregation\nparams:\n  keys: 10\n  rate: 20000\n  event-time-rate: 1000\n  event-time-start: {start_ms}\n  out-of-orderness: 100 ms\nconfig:\n  metrics.reporter.prom.port: 0\n"),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let get = |metric: &str, vertex: &str| -> f64 {
        let (_, body) = tidemark_tests::servers::curl(&[&format!("http://{addr}/metrics")]);
        let v = format!("vertex=\"{vertex}\"");
        body.lines()
            .find(|l| l.starts_with(metric) && l.contains(&v))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(-1.0)
    };
    let window = "window tumbling count";
    let wm = wait_for(
        "the window's input watermark",
        std::time::Duration::from_secs(30),
        || {
            let w = get("tidemark_task_input_watermark_seconds", window);
            (w > 0.0).then_some(w)
        },
    );
    // Event time starts ten days ago and advances 20 s per second: the lag is
    // the wall clock minus the watermark, about ten days, read between two
    // readings of the watermark (the gauges are sampled, hence the slack).
    let lag = get("tidemark_task_watermark_lag_seconds", window);
    let now_s = now_ms() as f64 / 1e3;
    let wm_after = get("tidemark_task_input_watermark_seconds", window);
    assert!(
        lag > now_s - wm_after - 60.0 && lag < now_s - wm + 60.0,
        "lag {lag} s is the wall clock {now_s} minus the watermark ({wm} .. {wm_after})"
    );
    let src = get("tidemark_task_output_watermark_seconds", "datagen");
    assert!(
        src >= wm,
        "the source's output watermark {src} leads the window's input {wm}"
    );
    r.kill();
}

/// With event time following the wall clock, the sink measures how late
/// window results are: never earlier than the out-of-orderness the watermark
/// waits for, never later than the time since the first event.
#[test]
fn the_lateness_of_window_results_is_measured_at_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let job = write_file(
        d,
        "late.yaml",
        &format!(
            "name: late\npipeline: windowed-aggregation\nparams:\n  keys: 10\n  rate: 2000\n  event-time-rate: 2000\n  event-time-start: {now_ms}\n  out-of-orderness: 300 ms\n  window: tumbling\n  size: 500 ms\n  aggregate: count\nconfig:\n  metrics.reporter.prom.port: 0\n"
        ),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let metric = "tidemark_sink_event_time_latency_seconds";
    let (sum, count) = wait_for_or(
        "40 window results measured at the sink",
        std::time::Duration::from_secs(60),
        || {
            let (sum, count) = histogram_sum_count(&addr, metric, "");
            (count >= 40.0).then_some((sum, count))
        },
        || r.stderr(),
    );
    let read_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    r.kill();
    let mean = sum / count;
    eprintln!("mean lateness of {count} window results: {mean:.3} s");
    // Physical bounds, whatever the machine's speed: a result waits at least
    // the out-of-orderness (event time never runs ahead of the wall clock
    // here), and no result was measured later than the reading, nor holds an
    // event time before the job's first event.
    let most = (read_ms - now_ms) as f64 / 1e3;
    assert!(
        (0.3..=most).contains(&mean),
        "results wait for the 300 ms out-of-orderness and were measured by {most:.3} s after the first event: mean {mean:.3} s"
    );
}
