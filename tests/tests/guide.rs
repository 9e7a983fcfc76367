//! docs/guide.md as a reader uses it: every code quote is the compiled
//! example's code, and the example runs as the guide says, with its own
//! metric scraped by a real Prometheus.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tidemark_example_orders::model::Generator;
use tidemark_tests::servers::{free_port, prometheus, promql};
use tidemark_tests::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repository")
        .to_path_buf()
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name` of `file`.
fn anchored(file: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let start = format!("// ANCHOR: {name}");
    let end = format!("// ANCHOR_END: {name}");
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        match l.trim() {
            t if t == start => inside = true,
            t if t == end => return out.join("\n"),
            _ if inside => out.push(l),
            _ => {}
        }
    }
    panic!("{}: no anchor '{name}'", file.display())
}

#[test]
fn every_quote_in_the_guide_is_the_compiled_code() {
    let guide = std::fs::read_to_string(repo().join("docs/guide.md")).unwrap();
    let mut quotes = 0;
    let mut lines = guide.lines();
    while let Some(l) = lines.next() {
        let Some(spec) = l
            .strip_prefix("<!-- quote: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let (file, anchor) = spec.split_once('#').expect("quote: FILE#ANCHOR");
        assert_eq!(
            lines.next(),
            Some("```rust"),
            "{spec}: a rust block follows"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        assert_eq!(
            block.join("\n"),
            anchored(&repo().join(file), anchor),
            "docs/guide.md quotes {spec} as it is not"
        );
        quotes += 1;
    }
    assert!(quotes >= 8, "{quotes} quotes");
}

#[test]
fn the_example_runs_as_the_guide_says_and_its_metric_reaches_prometheus() {
    let orders_bin = workspace_bin("orders");
    let listed = Command::new(&orders_bin).arg("pipelines").output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("orders-payments:") && listed.contains("keyed-count:"),
        "{listed}"
    );
    let doc = Command::new(&orders_bin)
        .arg("metrics-doc")
        .output()
        .unwrap();
    let doc = String::from_utf8_lossy(&doc.stdout);
    assert!(
        doc.contains("| `orders_verdicts_total` | counter |")
            && doc.contains("job_name, job_id, vertex, subtask, verdict"),
        "metrics-doc lists the job's own metric"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let prom = prometheus(&[("orders", &format!("127.0.0.1:{port}"))]);
    const ORDERS: u64 = 20_000;
    let sets = [
        format!("params.orders={ORDERS}"),
        "params.rate=0".into(),
        format!("params.output={}", d.join("out").display()),
        format!("execution.checkpointing.dir={}", d.join("ck").display()),
        format!("metrics.reporter.prom.port={port}"),
        "rest.bind-port=0".into(),
    ];
    let mut cmd = Command::new(&orders_bin);
    cmd.args(["run", "examples/orders/job.yaml", "--linger", "120s"])
        .current_dir(repo());
    for s in &sets {
        cmd.args(["--set", s]);
    }
    let r = Running::spawn(cmd);
    r.wait_stderr("job finished", Duration::from_secs(120));
    // The oracle comes from the generator: how many orders are paid in time.
    let g = Generator {
        orders: ORDERS,
        seed: 1,
    };
    let paid = (0..ORDERS)
        .filter(|&i| {
            g.payment(i)
                .is_some_and(|p| p.time_ms <= g.order(i).time_ms + 3_000)
        })
        .count() as u64;
    for (verdict, want) in [("paid", paid), ("unpaid", ORDERS - paid)] {
        let q = format!("sum(orders_verdicts_total{{job_name=\"orders\",verdict=\"{verdict}\"}})");
        wait_for(
            &format!("Prometheus to hold {want} {verdict} verdicts"),
            Duration::from_secs(60),
            || {
                let body = promql(&prom, &q);
                body.contains(&format!("\"{want}\"")).then_some(())
            },
        );
    }
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
}
