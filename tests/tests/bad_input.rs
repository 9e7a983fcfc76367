//! Bad input gets a clear error before anything runs (exit code 2), naming the
//! key, the value and what is allowed, and nothing stored is modified.

use std::path::Path;
use std::time::Duration;
use tidemark_tests::*;

fn job(d: &Path, name: &str, extra_config: &str) -> String {
    write_file(
        d,
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\npipeline: keyed-count\nparams:\n  keys: 100\n  rate: 20000\nconfig:\n  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.dir: ck\n  execution.checkpointing.num-retained: 3\n  metrics.reporter.prom.port: 0\n{extra_config}"
        ),
    )
}

fn expect_usage_error(d: &Path, args: &[&str], needles: &[&str]) {
    let (code, err) = run(d, args);
    assert_eq!(
        code, 2,
        "expected a usage error for {args:?}, got {code}:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "stderr of {args:?} lacks {n:?}:\n{err}");
    }
    assert!(
        !err.contains("subtasks):"),
        "nothing may start on bad input:\n{err}"
    );
}

/// Runs a job until it has completed `n` checkpoints, then kills it.
fn make_checkpoints(d: &Path, job: &str, n: usize) {
    let r = Running::start(d, &["run", job, "--status-interval", "0"]);
    wait_for("completed checkpoints", Duration::from_secs(60), || {
        (completed_checkpoints(&d.join("ck")).len() >= n).then_some(())
    });
    r.kill();
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "bad.yaml",
        "name: x\npipeline: keyed-count\nparams: {keys: 5\n",
    );
    expect_usage_error(dir.path(), &["run", &p], &["bad.yaml:", "malformed YAML"]);
    let (_, err) = run(dir.path(), &["run", &p]);
    assert!(
        err.contains("bad.yaml:4:1") || err.contains("bad.yaml:3:"),
        "location: {err}"
    );
}

#[test]
fn unknown_keys_suggest_the_closest_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = job(
        dir.path(),
        "j",
        "  execution.checkpointing.intervall: 1 s\n",
    );
    expect_usage_error(
        dir.path(),
        &["run", &p],
        &["unknown key 'execution.checkpointing.intervall' (did you mean 'execution.checkpointing.interval'?)"],
    );
    expect_usage_error(
        dir.path(),
        &[
            "run",
            &p.replace("intervall", "interval"),
            "--set",
            "parralelism.default=2",
        ],
        &["unknown key 'parralelism.default' (did you mean 'parallelism.default'?)"],
    );
    let p2 = write_file(
        dir.path(),
        "p.yaml",
        "pipeline: keyed-count\nparams:\n  kyes: 5\n",
    );
    expect_usage_error(
        dir.path(),
        &["run", &p2],
        &["params.kyes: unknown parameter", "(did you mean 'keys'?)"],
    );
    expect_usage_error(
        dir.path(),
        &["run", &p2, "--set", "params.keys=5"],
        &["params.kyes: unknown parameter", "(did you mean 'keys'?)"],
    );
    let p3 = write_file(dir.path(), "q.yaml", "pipeline: keyed-cuont\n");
    expect_usage_error(
        dir.path(),
        &["run", &p3],
        &["'keyed-cuont' is not a known pipeline (did you mean 'keyed-count'?)"],
    );
}

#[test]
fn invalid_values_name_key_value_and_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let p = job(dir.path(), "j", "");
    expect_usage_error(
        dir.path(),
        &[
            "run",
            &p,
            "--set",
            "execution.checkpointing.timeout=soon",
            "--set",
            "execution.checkpointing.mode=SOMETIMES",
            "--set",
            "metrics.reporter.prom.port=http",
        ],
        &[
            "execution.checkpointing.timeout: 'soon' is not valid: expected a duration",
            "execution.checkpointing.mode: 'SOMETIMES' is not valid: expected one of EXACTLY_ONCE, AT_LEAST_ONCE",
            "metrics.reporter.prom.port: 'http' is not valid",
        ],
    );
    expect_usage_error(
        dir.path(),
        &["run", &p, "--set", "keys"],
        &["--set 'keys': expected KEY=VALUE"],
    );
}

#[test]
fn a_job_file_with_mistakes_everywhere_is_reported_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "everywhere.yaml",
        "name: everywhere\npipeline: keyed-count\nparms: {}\nparams:\n  keys: many\n  sinc: file\n\
         config:\n  execution.checkpointing.intervall: 1 s\n  execution.checkpointing.mode: SOMETIMES\n  \
         metrics.reporters: prom,pgw\n  metrics.reporter.prom.port: http\n  \
         metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://127.0.0.1:9\n  \
         metrics.reporter.pgw.interval: often\n  \
         rest.bind-port: abc\n",
    );
    let (code, err) = run(
        dir.path(),
        &[
            "run",
            &p,
            "--set",
            "state.backend.type=disk",
            "--set",
            "oops",
            "--linger",
            "forever",
        ],
    );
    assert_eq!(code, 2, "{err}");
    for needle in [
        "unknown top-level key 'parms' (did you mean 'params'?)",
        "params.keys: 'many' is not valid: expected an integer",
        "params.sinc: unknown parameter",
        "unknown key 'execution.checkpointing.intervall' (did you mean 'execution.checkpointing.interval'?)",
        "execution.checkpointing.mode: 'SOMETIMES' is not valid: expected one of EXACTLY_ONCE, AT_LEAST_ONCE",
        "metrics.reporter.prom.port: 'http' is not valid",
        "metrics.reporter.pgw.interval: 'often' is not valid",
        "rest.bind-port: 'abc' is not valid: expected a port",
        "state.backend.type: 'disk' is not valid: expected one of",
        "--set 'oops': expected KEY=VALUE",
        "--linger: 'forever' is not valid: expected",
    ] {
        assert!(err.contains(needle), "the one report lacks {needle:?}:\n{err}");
    }
    assert!(err.contains("everywhere.yaml: 11 problems"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "one report:\n{err}");
}

#[test]
fn unwritable_checkpoint_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a-file", "not a directory");
    let p = job(dir.path(), "j", "");
    expect_usage_error(
        dir.path(),
        &["run", &p, "--set", "execution.checkpointing.dir=a-file/ck"],
        &["execution.checkpointing.dir: 'a-file/ck' is not writable"],
    );
}

#[test]
fn missing_foreign_and_corrupted_restore_paths_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = job(d, "alpha", "");
    let b = job(d, "beta", "");
    expect_usage_error(
        d,
        &["run", &a, "--restore", "ck/nope/chk-1"],
        &["--restore: 'ck/nope/chk-1' does not exist"],
    );
    make_checkpoints(d, &a, 2);
    let chks = completed_checkpoints(&d.join("ck"));
    let newest = chks.last().unwrap().clone();
    let newest_s = newest.to_string_lossy().into_owned();
    let before = tree(&d.join("ck"));
    expect_usage_error(
        d,
        &["run", &b, "--restore", &newest_s],
        &["belongs to job 'alpha'", "not to this job 'beta'"],
    );
    assert!(
        tree(&d.join("ck")) == before,
        "a restore refused as foreign modifies nothing stored"
    );
    // Corrupt one byte of a state file of the newest checkpoint.
    let state = std::fs::read_dir(&newest)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "state"))
        .expect("a state file");
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    let before_corrupt = tree(&d.join("ck"));
    expect_usage_error(
        d,
        &["run", &a, "--restore", &newest_s],
        &["--restore:", "corrupted"],
    );
    assert_eq!(
        tree(&d.join("ck")),
        before_corrupt,
        "a refused restore modifies nothing stored"
    );
    // What is stored is what was there, but for the one byte this test changed.
    let mut expected = before;
    expected.insert(state.clone(), bytes);
    assert!(
        before_corrupt == expected,
        "only the corrupted file differs"
    );
}

#[test]
fn restore_latest_skips_a_damaged_checkpoint_and_uses_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = job(d, "alpha", "");
    make_checkpoints(d, &a, 2);
    let chks = completed_checkpoints(&d.join("ck"));
    let (older, newest) = (chks[chks.len() - 2].clone(), chks.last().unwrap().clone());
    let meta = newest.join("_metadata");
    let mut bytes = std::fs::read(&meta).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&meta, &bytes).unwrap();
    let older_id = older
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("chk-")
        .to_string();
    let r = Running::start(
        d,
        &["run", &a, "--restore", "latest", "--status-interval", "0"],
    );
    let err = r.wait_stderr(
        &format!("from checkpoint {older_id} ("),
        Duration::from_secs(60),
    );
    r.kill();
    assert!(err.contains("skipping damaged checkpoint"), "{err}");
    assert!(err.contains("corrupted"), "the reason is given: {err}");
}

#[test]
fn restore_latest_without_checkpoints_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "b.yaml",
        "pipeline: keyed-count\nparams:\n  events: 1000\nconfig:\n  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n",
    );
    let (code, err) = run(
        dir.path(),
        &["run", &p, "--restore", "latest", "--status-interval", "0"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("starting fresh"), "{err}");
    assert!(err.contains("job finished"), "{err}");
}
