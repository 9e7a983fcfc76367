//! The README's main job exactly as it states it: `./scripts/run.sh` runs it,
//! Ctrl-C stops it, `./scripts/run.sh` again resumes from the latest
//! checkpoint. SIGTERM (Kubernetes, systemd, `docker stop`) stops it as
//! gracefully: exit 0, a final checkpoint kept, its Pushgateway group deleted.
//!
//! The oracle is the generator: across both stops, the committed output holds
//! for every key each running count 1..n exactly once, where n is how often the
//! key occurs in the first N generated records (N = lines committed). State
//! lost at a stop would restart a key at 1 and duplicate its counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tidemark_tests::servers::{pushgateway, pushgateway_groups};
use tidemark_tests::*;

const KEYS: u64 = 200;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// `./scripts/run.sh` with the binary the tests built, checkpoints and output
/// in `d`, and a Pushgateway reporter beside the scrape endpoint.
fn run_sh(d: &Path, pgw: &str) -> Running {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/run.sh"))
        .current_dir(repo())
        .env("TIDEMARK_BIN", bin());
    for set in [
        format!("execution.checkpointing.dir={}", d.join("ck").display()),
        "execution.checkpointing.interval=200 ms".into(),
        "metrics.reporters=prom,pgw".into(),
        "metrics.reporter.prom.port=0".into(),
        "metrics.reporter.pgw.factory.class=pushgateway".into(),
        format!("metrics.reporter.pgw.hostUrl=http://{pgw}"),
        "metrics.reporter.pgw.interval=300 ms".into(),
        "rest.bind-port=0".into(),
        format!("params.keys={KEYS}"),
        "params.rate=20000".into(),
        "params.sink=file".into(),
        format!("params.output={}", d.join("out").display()),
    ] {
        cmd.args(["--set", &set]);
    }
    cmd.args(["--status-interval", "0"]);
    Running::spawn(cmd)
}

/// Waits until the run has completed a checkpoint of its own and pushed its group.
fn wait_running(r: &Running, d: &Path, pgw: &tidemark_tests::servers::Server) -> String {
    // (run.sh's own "running …" line names ./ck too: wait for the job's line.)
    let err = r.wait_stderr("subtasks):", Duration::from_secs(60));
    let id = err
        .split("(id ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("the job prints its id")
        .to_string();
    wait_for_or(
        "a checkpoint of this run and its Pushgateway group",
        Duration::from_secs(60),
        || {
            let own = completed_checkpoints(&d.join("ck"))
                .iter()
                .any(|c| c.to_string_lossy().contains(&id));
            let pushed = pushgateway_groups(pgw).iter().any(|g| g.1 == id);
            (own && pushed).then_some(())
        },
        || r.stderr(),
    );
    id
}

#[test]
fn run_sh_resumes_after_ctrl_c_and_after_sigterm() {
    let pgw = pushgateway();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // First run: fresh, then Ctrl-C.
    let r = run_sh(d, &pgw.addr);
    let first = wait_running(&r, d, &pgw);
    assert!(r.stderr().contains("starting fresh"), "{}", r.stderr());
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "Ctrl-C stops gracefully:\n{err}");
    assert!(err.contains("job stopped; checkpoint kept at"), "{err}");
    wait_for(
        "the first run's group to be deleted",
        Duration::from_secs(30),
        || (!pushgateway_groups(&pgw).iter().any(|g| g.1 == first)).then_some(()),
    );
    let kept = completed_checkpoints(&d.join("ck"));
    assert_eq!(kept.len(), 1, "the final checkpoint is kept: {kept:?}");
    let kept_name = kept[0].file_name().unwrap().to_string_lossy().into_owned();

    // Second run: the same command resumes from it, then SIGTERM.
    let r = run_sh(d, &pgw.addr);
    let second = wait_running(&r, d, &pgw);
    let started = r.stderr();
    let id = kept_name.trim_start_matches("chk-");
    assert!(
        started.contains(&format!(
            "restoring job 'keyed-count' from checkpoint {id} "
        )),
        "the second run resumes from {kept_name}:\n{started}"
    );
    r.signal("-TERM");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "SIGTERM stops gracefully (not 143):\n{err}");
    assert!(err.contains("job stopped; checkpoint kept at"), "{err}");
    wait_for(
        "the second run's group to be deleted",
        Duration::from_secs(30),
        || (!pushgateway_groups(&pgw).iter().any(|g| g.1 == second)).then_some(()),
    );
    // The second run keeps its own final checkpoint (the first run's stays
    // too: it belongs to that job id, as in Flink).
    let own: Vec<_> = completed_checkpoints(&d.join("ck"))
        .into_iter()
        .filter(|c| c.to_string_lossy().contains(&second))
        .collect();
    assert_eq!(own.len(), 1, "the second run's final checkpoint: {own:?}");

    // The committed output is a prefix of the generated stream (P=1, stopped
    // at checkpoints): as many records as lines, each key counted 1..n.
    let lines = committed_lines(&d.join("out"));
    assert!(
        lines.len() > 100,
        "the runs committed output: {}",
        lines.len()
    );
    assert_counts_match_generator(&lines, KEYS, lines.len() as u64, 42);
}
