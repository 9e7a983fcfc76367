//! Each checkpoint setting behaves as Flink documents it, observed on running
//! jobs through the REST API and the checkpoint directory: timeout, tolerable
//! failures (exceeding them fails the job over), min pause, max concurrent,
//! retained checkpoints and retention on cancel.

use std::time::Duration;
use tidemark_tests::servers::curl;
use tidemark_tests::*;

/// A keyed count; with `slow` its sink manages 5 000 of the 50 000 records/s
/// offered, so aligned checkpoints take seconds.
fn yaml(name: &str, slow: bool, config: &str) -> String {
    let delay = if slow { "200us" } else { "0 ms" };
    format!(
        "name: {name}\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 50000\n  sink-delay: {delay}\nconfig:\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n  rest.auth.token-env: TIDEMARK_TEST_TOKEN\n{config}"
    )
}

const TOKEN: (&str, &str) = ("TIDEMARK_TEST_TOKEN", "s3cret");

#[test]
fn timeouts_fail_checkpoints_and_too_many_failures_fail_the_job_over() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url) = start_job(
        dir.path(),
        "timeout",
        &yaml(
            "timeout",
            true,
            "  execution.checkpointing.interval: 200 ms\n  execution.checkpointing.timeout: 300 ms\n  execution.checkpointing.tolerable-failed-checkpoints: 2\n  restart-strategy.type: fixed-delay\n  restart-strategy.fixed-delay.attempts: 100\n  restart-strategy.fixed-delay.delay: 100 ms\n",
        ),
        &[TOKEN],
    );
    let root = wait_for_or(
        "a failover caused by failed checkpoints",
        Duration::from_secs(60),
        || {
            let ex = get_json(&format!("{url}/exceptions"));
            ex["root-exception"].as_str().map(str::to_string)
        },
        || r.stderr(),
    );
    assert!(
        root.contains("3 consecutive checkpoint failures exceed execution.checkpointing.tolerable-failed-checkpoints=2"),
        "{root}"
    );
    let cps = get_json(&format!("{url}/checkpoints"));
    assert!(
        cps["counts"]["failed"].as_u64() >= Some(3),
        "{}",
        cps["counts"]
    );
    let failed = &cps["latest"]["failed"];
    assert!(
        failed["failure_message"]
            .as_str()
            .is_some_and(|m| m.contains("execution.checkpointing.timeout")),
        "{failed}"
    );
    r.kill();
}

#[test]
fn min_pause_spaces_a_checkpoint_from_the_previous_completion() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url) = start_job(
        dir.path(),
        "pause",
        &yaml(
            "pause",
            false,
            "  execution.checkpointing.interval: 50 ms\n  execution.checkpointing.min-pause: 600 ms\n",
        ),
        &[TOKEN],
    );
    let cs = rest_completed(&r, &url, 4);
    r.kill();
    for w in cs.windows(2) {
        let end = w[0]["trigger_timestamp"].as_i64().unwrap()
            + w[0]["end_to_end_duration"].as_i64().unwrap();
        let gap = w[1]["trigger_timestamp"].as_i64().unwrap() - end;
        assert!(
            gap >= 550,
            "checkpoint {} started {gap} ms after {} completed (min pause 600 ms)",
            w[1]["id"],
            w[0]["id"]
        );
    }
}

#[test]
fn max_concurrent_checkpoints_overlap_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url) = start_job(
        dir.path(),
        "concurrent",
        &yaml(
            "concurrent",
            true,
            "  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.max-concurrent-checkpoints: 2\n",
        ),
        &[TOKEN],
    );
    let mut most = 0;
    let mut samples = 0;
    wait_for_or(
        "two checkpoints in flight and three completed",
        Duration::from_secs(60),
        || {
            let c = get_json(&format!("{url}/checkpoints"))["counts"].clone();
            most = most.max(c["in_progress"].as_u64().unwrap());
            samples += 1;
            (most >= 2 && c["completed"].as_u64() >= Some(3)).then_some(())
        },
        || r.stderr(),
    );
    r.kill();
    assert_eq!(
        most, 2,
        "in flight at once, over {samples} samples (limit 2)"
    );
}

#[test]
fn retained_checkpoints_and_what_cancel_keeps() {
    for (retention, kept) in [("RETAIN_ON_CANCELLATION", 2), ("DELETE_ON_CANCELLATION", 0)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (r, url) = start_job(
            d,
            "retain",
            &yaml(
                "retain",
                false,
                &format!(
                    "  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.num-retained: 2\n  execution.checkpointing.externalized-checkpoint-retention: {retention}\n"
                ),
            ),
            &[TOKEN],
        );
        wait_for_or(
            "four completed checkpoints",
            Duration::from_secs(60),
            || {
                let c = get_json(&format!("{url}/checkpoints"))["counts"].clone();
                (c["completed"].as_u64() >= Some(4)).then_some(())
            },
            || r.stderr(),
        );
        let (code, _) = curl(&[
            "-XPATCH",
            "-H",
            "Authorization: Bearer s3cret",
            &format!("{url}?mode=cancel"),
        ]);
        assert_eq!(code, 202);
        let (code, err) = r.wait(Duration::from_secs(60));
        assert_eq!(code, 0, "{err}");
        let left = completed_checkpoints(&d.join("ck"));
        assert_eq!(
            left.len(),
            kept,
            "{retention} with num-retained 2 left {left:?}"
        );
    }
}
