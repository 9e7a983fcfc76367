//! The exposition is valid as the reference implementations read it: promtool
//! lints it clean, the Python prometheus_client parses both text formats, even
//! with label values full of quotes, backslashes, newlines, `=`, `,`, spaces,
//! `/` and non-ASCII text; and every catalogued metric is registered by a
//! running job.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tidemark_agent::catalogue;
use tidemark_tests::servers::curl;
use tidemark_tests::*;

const NASTY: &str = "a \"q\" b\\s\nnl =, / ünï 漢";

fn python_parse(body: &str, openmetrics: bool) -> String {
    let venv = std::env::var("TIDEMARK_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/tidemark-venv", std::env::var("HOME").unwrap()));
    let parser = if openmetrics {
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families"
    } else {
        "from prometheus_client.parser import text_string_to_metric_families"
    };
    let script = format!(
        "import sys\n{parser}\nfor f in text_string_to_metric_families(sys.stdin.read()):\n    for s in f.samples:\n        print(s.name, sorted(s.labels.items()), s.value)\n"
    );
    let mut c = Command::new(format!("{venv}/bin/python"))
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test venv exists (scripts/install-test-deps.sh)");
    c.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn exposition_passes_promtool_and_the_python_parsers_with_hostile_label_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_file(
        d,
        "j.yaml",
        &format!(
            "name: {}\npipeline: keyed-count\nparams:\n  keys: 100\n  rate: 20000\nconfig:\n  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  metrics.latency.interval: 100 ms\n  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: rocks\n  state.backend.rocksdb.statistics.level: TICKERS\n",
            serde_json::to_string(NASTY).unwrap()
        ),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let url = format!("http://{addr}/metrics");
    let text = wait_for(
        "a completed checkpoint in the exposition",
        Duration::from_secs(30),
        || {
            let (_, b) = curl(&[&url]);
            (b.contains("tidemark_checkpoint_duration_seconds_bucket")
                && b.contains("tidemark_latency_seconds_bucket")
                && b.contains("tidemark_rocksdb_estimate_num_keys{")
                // the capacity model's first estimate (after 5 s)
                && b.contains("tidemark_job_recovery_time_seconds{"))
            .then_some(b)
        },
    );
    let (om_code, om) = curl(&[
        "-H",
        "Accept: application/openmetrics-text; version=1.0.0",
        &url,
    ]);
    r.kill();
    assert_eq!(om_code, 200);

    let (code, findings) = promtool_check_metrics(&text);
    assert_eq!(
        code, 0,
        "promtool check metrics found problems:\n{findings}"
    );

    let parsed = python_parse(&text, false);
    assert!(
        parsed.contains("tidemark_task_records_in_total"),
        "{parsed}"
    );
    let nasty_repr = "('job_name', 'a \"q\" b\\\\s\\nnl =, / ünï 漢')";
    assert!(
        parsed.contains(nasty_repr),
        "label value survives the text format: {parsed}"
    );
    let parsed_om = python_parse(&om, true);
    assert!(
        parsed_om.contains(nasty_repr),
        "label value survives OpenMetrics: {parsed_om}"
    );
    assert!(
        parsed_om.contains("tidemark_checkpoint_duration_seconds_bucket"),
        "{parsed_om}"
    );

    // Every family in the output is catalogued (nothing is emitted behind the catalogue's back).
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            catalogue::ALL.iter().any(|d| d.name == name),
            "{name} is emitted but not in the catalogue"
        );
    }
    // Every catalogued family is registered by a running job (exporter- and
    // host-specific families excepted: they need their reporters on; the
    // sinks' event-time latency needs results with an event time, which this
    // keyed count does not have: windows.rs checks it; restores need a
    // restore: restart_in_process.rs checks them; source lag needs a source
    // with partitions, and records in errors a decoding operator:
    // jetstream.rs checks them; the Flink agent's own are the agent's:
    // flink_cluster.rs checks them).
    for def in catalogue::ALL {
        assert!(
            text.contains(&format!("# TYPE {} ", def.name))
                || def.name == "tidemark_metrics_series_dropped_total"
                || def.name == "tidemark_sink_event_time_latency_seconds"
                || def.name.starts_with("tidemark_state_restore")
                || def.name.starts_with("tidemark_source_")
                || def.name == "tidemark_task_records_in_errors_total"
                || def.name.starts_with("tidemark_bridge_")
                || def.name.starts_with("tidemark_taskmanager_"),
            "catalogued metric {} is never registered by a running job",
            def.name
        );
    }
}
