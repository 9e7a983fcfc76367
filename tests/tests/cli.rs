//! The CLI's lifecycle: Ctrl-C stops gracefully after a final checkpoint that
//! is kept and can be restored, and `tidemark checkpoints` lists what is stored.

use std::process::Command;
use std::time::Duration;
use tidemark_tests::*;

fn interrupt(r: &Running) {
    let ok = Command::new("kill")
        .args(["-INT", &r.child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -INT failed");
}

#[test]
fn ctrl_c_keeps_a_final_restorable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_file(
        d,
        "j.yaml",
        "name: stopper\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 50000\nconfig:\n  execution.checkpointing.interval: 10 s\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n",
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    // The periodic checkpoint is 10 s away, so the stop checkpoint is the only one.
    r.wait_stderr("checkpoints: ", Duration::from_secs(30));
    interrupt(&r);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("job stopped; checkpoint kept at"), "{err}");
    let chks = completed_checkpoints(&d.join("ck"));
    assert_eq!(
        chks.len(),
        1,
        "exactly the stop checkpoint is kept: {chks:?}"
    );

    let (code, listing) = {
        let out = Command::new(bin())
            .args(["checkpoints", "ck"])
            .current_dir(d)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(code, 0);
    assert!(
        listing.contains("stopper") && listing.contains(" ok"),
        "{listing}"
    );

    let chk = chks[0].to_string_lossy().into_owned();
    let r = Running::start(
        d,
        &["run", &job, "--restore", &chk, "--status-interval", "0"],
    );
    // The start-up lines come after the Ctrl-C handler is installed.
    let started = r.wait_stderr("checkpoints: ", Duration::from_secs(30));
    assert!(started.contains("restoring from checkpoint"), "{started}");
    interrupt(&r);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("job stopped"), "{err}");
}
