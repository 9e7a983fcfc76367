//! The main job's `/metrics` shows moving counters while it runs, and
//! checkpoints appear in the checkpoint directory.

use std::io::{Read, Write};
use std::time::Duration;
use tidemark_tests::*;

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn value(body: &str, prefix: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The value of the one series starting with `prefix`, `None` if it is not exposed.
fn single(body: &str, prefix: &str) -> Option<f64> {
    let mut it = body.lines().filter(|l| l.starts_with(prefix));
    let v = it.next()?.rsplit(' ').next()?.parse().ok();
    assert!(
        it.next().is_none(),
        "one series of {prefix} expected:\n{body}"
    );
    v
}

#[test]
fn counters_move_and_checkpoints_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/keyed-count.yaml");
    let job = examples.to_string_lossy().into_owned();
    let r = Running::start(
        d,
        &[
            "run",
            &job,
            "--set",
            "metrics.reporter.prom.port=0",
            "--set",
            "execution.checkpointing.interval=200ms",
            "--status-interval",
            "0",
        ],
    );
    let addr = r.metrics_addr();
    let first = wait_for("records counted", Duration::from_secs(30), || {
        let b = scrape(&addr);
        (value(&b, "tidemark_task_records_in_total{") > 0.0).then_some(b)
    });
    assert!(first.contains("200 OK"));
    assert!(first.contains("# TYPE tidemark_task_records_in_total counter"));
    let r0 = value(&first, "tidemark_task_records_in_total{");
    let later = wait_for(
        "counters to move and a checkpoint to complete",
        Duration::from_secs(30),
        || {
            let b = scrape(&addr);
            (value(&b, "tidemark_task_records_in_total{") > r0
                && value(&b, "tidemark_checkpoint_completed_total{") >= 1.0)
                .then_some(b)
        },
    );
    assert!(value(&later, "tidemark_checkpoint_last_size_bytes{") > 0.0);
    let clocked = wait_for(
        "uptime and time since the last checkpoint",
        Duration::from_secs(30),
        || {
            let b = scrape(&addr);
            // Both must be exposed: an absent series is not "0 seconds".
            let uptime = single(&b, "tidemark_job_uptime_seconds{")?;
            let since = single(&b, "tidemark_checkpoint_since_last_completion_seconds{")?;
            (uptime > 0.0 && since >= 0.0).then_some(b)
        },
    );
    assert!(
        value(
            &clocked,
            "tidemark_checkpoint_last_completion_timestamp_seconds{"
        ) > 1.6e9
    );
    assert!(later.contains("vertex=\"count\",subtask=\"0\""));
    let chk = completed_checkpoints(&d.join("ck"));
    assert!(
        !chk.is_empty(),
        "checkpoints appear in the checkpoint directory"
    );
    r.kill();
}
