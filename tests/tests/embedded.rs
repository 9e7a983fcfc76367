//! examples/embedded: a job run from a program of one's own with `Job` (no
//! CLI) serves its metrics like any job, and its own metric reaches a real
//! Prometheus with the value the input implies.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use tidemark::source::datagen::DatagenConfig;
use tidemark_tests::servers::{free_port, prometheus, promql};
use tidemark_tests::*;

#[test]
fn a_program_of_ones_own_serves_its_metric_to_prometheus() {
    const RECORDS: u64 = 50_000;
    // The oracle, from the generator the program uses: records that raise
    // their key's maximum, in the order one source subtask emits them.
    let gen = DatagenConfig {
        keys: 100,
        events: Some(RECORDS),
        seed: 5,
        ..DatagenConfig::default()
    };
    let mut max: HashMap<u64, i64> = HashMap::new();
    let mut raised = 0u64;
    for i in 0..RECORDS {
        let e = gen.record(i, None);
        if max.get(&e.key).is_none_or(|m| e.value > *m) {
            max.insert(e.key, e.value);
            raised += 1;
        }
    }
    let port = free_port();
    let prom = prometheus(&[("embedded", &format!("127.0.0.1:{port}"))]);
    let mut cmd = Command::new(workspace_bin("embedded"));
    cmd.args([port.to_string(), RECORDS.to_string()]);
    let r = Running::spawn(cmd);
    r.wait_stderr("job finished", Duration::from_secs(60));
    wait_for(
        &format!("Prometheus to hold {raised} new maxima"),
        Duration::from_secs(60),
        || {
            let body = promql(
                &prom,
                "sum(embedded_new_maxima_total{job_name=\"embedded\",vertex=\"maximum\"})",
            );
            body.contains(&format!("\"{raised}\"")).then_some(())
        },
    );
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
}
