//! The REST API (Flink's paths and fields) and the CLI built on it, against a
//! job whose sink is slow for a while: backpressure levels per vertex, the
//! bottleneck, checkpoint statistics with per-subtask phases, the bearer token
//! on endpoints that change a job, and cancel.

use std::process::Command;
use std::time::Duration;
use tidemark_tests::servers::curl;
use tidemark_tests::*;

fn cli(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rest_api_and_cli_show_backpressure_checkpoints_and_act_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, job_url) = start_job(
        d,
        "j",
        "name: observed\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 200000\n  sink-delay: 20us\n  sink-delay-for: 10s\nconfig:\n  execution.checkpointing.interval: 300 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n  rest.auth.token-env: TIDEMARK_TEST_TOKEN\n",
        &[("TIDEMARK_TEST_TOKEN", "s3cret")],
    );
    let base = job_url.split("/jobs/").next().unwrap().to_string();
    let job_id = job_url.rsplit('/').next().unwrap().to_string();

    let jobs = get_json(&format!("{base}/jobs"));
    assert_eq!(jobs["jobs"][0]["id"], job_id.as_str());
    assert_eq!(jobs["jobs"][0]["status"], "RUNNING");
    let details = get_json(&job_url);
    assert_eq!(details["vertices"].as_array().unwrap().len(), 3);
    assert_eq!(
        details["plan"]["nodes"][1]["inputs"][0]["ship_strategy"],
        "HASH"
    );

    // Backpressure: upstream high, the sink busy and not backpressured.
    wait_for(
        "datagen and count HIGH, the sink busy",
        Duration::from_secs(30),
        || {
            let lvl = |v: &str| get_json(&format!("{job_url}/vertices/{v}/backpressure"));
            let sink = lvl("sink");
            (lvl("datagen")["backpressureLevel"] == "high"
                && lvl("count")["backpressureLevel"] == "high"
                && sink["backpressureLevel"] == "ok"
                && sink["subtasks"][0]["busyRatio"].as_f64().unwrap_or(0.0) > 0.5)
                .then_some(())
        },
    );
    let report = cli(&["backpressure", &base]);
    assert!(
        report.contains("likely bottleneck: sink: blackhole"),
        "{report}"
    );

    // Checkpoints: counts, latest completed with every vertex acknowledged, per-subtask phases.
    let stats = wait_for("two completed checkpoints", Duration::from_secs(30), || {
        let s = get_json(&format!("{job_url}/checkpoints"));
        (s["counts"]["completed"].as_u64().unwrap_or(0) >= 2).then_some(s)
    });
    let latest = stats["latest"]["completed"]["id"].as_u64().unwrap();
    assert_eq!(stats["latest"]["completed"]["className"], "completed");
    let d1 = get_json(&format!("{job_url}/checkpoints/details/{latest}"));
    for v in ["datagen", "count", "sink"] {
        assert_eq!(d1["tasks"][v]["num_acknowledged_subtasks"], 1, "{d1}");
    }
    let sub = get_json(&format!(
        "{job_url}/checkpoints/details/{latest}/subtasks/count"
    ));
    assert_eq!(sub["subtasks"][0]["className"], "completed");
    assert!(sub["summary"]["start_delay"]["max"].is_number());
    let cfg = get_json(&format!("{job_url}/checkpoints/config"));
    assert_eq!(
        (cfg["mode"].as_str(), cfg["interval"].as_u64()),
        (Some("exactly_once"), Some(300))
    );
    let history = cli(&["checkpoints", "--job", &base]);
    assert!(
        history.contains("COMPLETED") && history.contains("start delay"),
        "{history}"
    );

    // Changing endpoints need the token.
    let (code, _) = curl(&["-XPOST", &format!("{job_url}/checkpoints")]);
    assert_eq!(code, 401);
    let (code, _) = curl(&[
        "-XPOST",
        "-H",
        "Authorization: Bearer wrong",
        &format!("{job_url}/checkpoints"),
    ]);
    assert_eq!(code, 401);
    // Every checkpoint so far has an id at most this; the triggered one is newer.
    let before = get_json(&format!("{job_url}/checkpoints"))["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .max()
        .unwrap_or(0);
    let (code, body) = curl(&[
        "-XPOST",
        "-H",
        "Authorization: Bearer s3cret",
        &format!("{job_url}/checkpoints"),
    ]);
    assert_eq!(code, 202, "{body}");
    let request: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rid = request["request-id"]
        .as_str()
        .expect("a request-id")
        .to_string();
    let status_url = format!("{job_url}/checkpoints/{rid}");
    let done = wait_for(
        "the triggered checkpoint's status",
        Duration::from_secs(30),
        || {
            let v = get_json(&status_url);
            (v["status"]["id"] == "COMPLETED").then_some(v)
        },
    );
    let id = done["operation"]["checkpointId"]
        .as_u64()
        .unwrap_or_else(|| panic!("a completed trigger names its checkpoint: {done}"));
    assert!(id > before, "checkpoint {id} was triggered after {before}");
    assert_eq!(
        curl(&[&format!("{job_url}/checkpoints/{}", "0".repeat(32))]).0,
        404,
        "an unknown request id"
    );
    assert_eq!(curl(&[&format!("{base}/jobs/0000/checkpoints")]).0, 404);

    // After the slowdown the levels return to OK.
    wait_for("levels back to OK", Duration::from_secs(60), || {
        ["datagen", "count", "sink"]
            .iter()
            .all(|v| {
                get_json(&format!("{job_url}/vertices/{v}/backpressure"))["backpressureLevel"]
                    == "ok"
            })
            .then_some(())
    });

    // Cancel with the token.
    let (code, _) = curl(&["-XPATCH", &format!("{job_url}?mode=cancel")]);
    assert_eq!(code, 401);
    let (code, _) = curl(&[
        "-XPATCH",
        "-H",
        "Authorization: Bearer s3cret",
        &format!("{job_url}?mode=cancel"),
    ]);
    assert_eq!(code, 202);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("job cancelled"), "{err}");
}
