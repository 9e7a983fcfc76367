//! A job of one's own (examples/orders), run as its user runs it: the
//! `orders` binary is the whole `tidemark` command plus one pipeline. It is
//! killed with SIGKILL at random points and restarted with the same command
//! (`--restore latest`), once during its final checkpoint; the committed
//! output must hold exactly one verdict per order, the verdict the generator's
//! orders and payments call for (the oracle is computed from the input).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use tidemark_example_orders::model::Generator;
use tidemark_tests::*;

// The kill rounds read 1 500 orders a second: 80 s of input, far more than
// four rounds use however slow the machine, so no kill lands after the end.
// The final runs read the rest unthrottled (the rate paces the sources; the
// orders and payments are the generator's whatever it is).
const ORDERS: u64 = 120_000;
const SEED: u64 = 11;
const TIMEOUT_MS: i64 = 3_000;

fn orders(d: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(workspace_bin("orders"));
    cmd.args(args).envs(env.iter().copied()).current_dir(d);
    Running::spawn(cmd)
}

fn generator() -> Generator {
    Generator {
        orders: ORDERS,
        seed: SEED,
    }
}

/// Each order's expected line, from the generator alone.
fn expected() -> HashMap<u64, String> {
    let g = generator();
    (0..ORDERS)
        .map(|i| {
            let o = g.order(i);
            let paid = g
                .payment(i)
                .is_some_and(|p| p.time_ms <= o.time_ms + TIMEOUT_MS);
            let verdict = if paid { "paid" } else { "unpaid" };
            (
                i,
                format!("{},{},{},{verdict}", o.id, o.customer, o.amount_cents),
            )
        })
        .collect()
}

#[test]
fn the_orders_example_survives_sigkill_with_exact_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job_file = |name: &str, rate: u32| {
        write_file(
            d,
            name,
            &format!(
                "name: orders\npipeline: orders-payments\nparams:\n  orders: {ORDERS}\n  rate: {rate}\n  seed: {SEED}\n  timeout: {TIMEOUT_MS} ms\n  output: out\nconfig:\n  parallelism.default: 2\n  execution.checkpointing.interval: 200 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n  restart-strategy.type: none\n"
            ),
        )
    };
    let (job, final_job) = (job_file("job.yaml", 1500), job_file("final.yaml", 0));
    let args = ["run", &job, "--restore", "latest", "--status-interval", "0"];
    let final_args = [
        "run",
        &final_job,
        "--restore",
        "latest",
        "--status-interval",
        "0",
    ];
    let ck = d.join("ck");
    let mut kills = 0;
    for _ in 0..4 {
        let before = completed_checkpoints(&ck).len();
        let r = orders(d, &args, &[]);
        // The run is the job a user wrote, observed like a built-in one.
        let url = r.rest_url();
        wait_for(
            "a new completed checkpoint",
            Duration::from_secs(60),
            || {
                (completed_checkpoints(&ck).len() > before
                    || r.stderr().contains("restoring job")
                        && !completed_checkpoints(&ck).is_empty())
                .then_some(())
            },
        );
        let vertices = get_json(&url)["vertices"].clone();
        let names: Vec<&str> = vertices
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "orders",
                "payments",
                "payment check",
                "verdicts",
                "late payments"
            ]
        );
        let (_, metrics) = servers::curl(&[&format!("http://{}/metrics", r.metrics_addr())]);
        assert!(
            metrics.contains("vertex=\"payment check\""),
            "the user's operator is on /metrics"
        );
        assert!(
            metrics.contains("# TYPE orders_verdicts_total counter"),
            "the job's own metric is on /metrics"
        );
        let delay = random_below(300);
        let until = std::time::Instant::now() + Duration::from_millis(delay);
        wait_for("the random kill point", Duration::from_secs(5), || {
            (std::time::Instant::now() >= until).then_some(())
        });
        assert!(
            !r.stderr().contains("job finished"),
            "the kill must land while the job runs"
        );
        r.kill();
        kills += 1;
    }
    // The run that finishes is killed during its final checkpoint first.
    let r = orders(
        d,
        &final_args,
        &[("TIDEMARK_FAULT_PAUSE", "final-checkpoint")],
    );
    let err = r.wait_stderr("fault pause: final-checkpoint", Duration::from_secs(120));
    assert!(err.contains("taking the final checkpoint"), "{err}");
    r.kill();
    let last = orders(d, &final_args, &[]);
    let (code, err) = last.wait(Duration::from_secs(120));
    assert_eq!(code, 0, "the last run finishes the job:\n{err}");
    assert!(err.contains("restoring job 'orders'"), "{err}");
    assert_eq!(kills, 4);

    let want = expected();
    let mut got: HashMap<u64, Vec<String>> = HashMap::new();
    for l in committed_lines(&d.join("out/verdicts")) {
        let id: u64 = l.split(',').next().unwrap().parse().unwrap();
        got.entry(id).or_default().push(l);
    }
    let missing: Vec<_> = want
        .keys()
        .filter(|i| !got.contains_key(i))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "orders without a verdict, e.g. {missing:?}"
    );
    for (id, lines) in &got {
        assert_eq!(
            lines.len(),
            1,
            "order {id} has {} verdicts: {lines:?}",
            lines.len()
        );
        assert_eq!(Some(&lines[0]), want.get(id), "order {id}");
    }
    assert_eq!(got.len() as u64, ORDERS);
    let unpaid = want.values().filter(|l| l.ends_with("unpaid")).count();
    assert!(
        unpaid > 0 && unpaid < want.len(),
        "both verdicts occur ({unpaid} unpaid)"
    );
    // The side output: every payment later than its order's timeout, once.
    let g = generator();
    let mut late_want: Vec<String> = (0..ORDERS)
        .filter_map(|i| g.payment(i))
        .filter(|p| p.time_ms > g.order(p.order_id).time_ms + TIMEOUT_MS)
        .map(|p| format!("{},{}", p.order_id, p.time_ms))
        .collect();
    let mut late_got = committed_lines(&d.join("out/late-payments"));
    late_want.sort();
    late_got.sort();
    assert!(!late_want.is_empty());
    assert_eq!(late_got, late_want, "late payments on the side output");
}
