//! What the stream-count tests share, whichever broker they run against:
//! the keys they publish, `tidemark produce` fed from a string, stopping a
//! job at a number of committed lines, and the SIGKILL loop.

use crate::{
    assert_running_counts, bin, committed_lines, newest_completed, random_below, wait_for_or,
    write_file, Running,
};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The number of distinct keys [`key_of`] gives.
pub const KEYS: u64 = 40;

/// The key of line `i` (a fixed pseudo-random sequence).
pub fn key_of(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % KEYS
}

/// Lines `range`, each the key of its index.
pub fn key_lines(range: std::ops::Range<u64>) -> String {
    range.map(|i| format!("{}\n", key_of(i))).collect()
}

/// How often each key occurs in lines `0..n`.
pub fn key_counts(n: u64) -> HashMap<u64, u64> {
    let mut want = HashMap::new();
    for i in 0..n {
        *want.entry(key_of(i)).or_default() += 1;
    }
    want
}

/// `tidemark produce <args>` with `input` on its standard input; returns its
/// stderr after checking it succeeded.
pub fn produce_stdin(d: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new(bin())
        .arg("produce")
        .args(args)
        .current_dir(d)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tidemark produce failed: {err}");
    err
}

/// Starts `tidemark <args>` in `d`.
pub fn start(d: &Path, args: &[String]) -> Running {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start(d, &args)
}

/// Waits for `n` committed lines under `out`, then stops the job with
/// Ctrl-C (exit 0) and returns the lines, sorted.
pub fn stop_at(r: Running, out: &Path, n: usize) -> Vec<String> {
    wait_for_or(
        &format!("{n} committed lines"),
        Duration::from_secs(60),
        || (committed_lines(out).len() >= n).then_some(()),
        || r.stderr(),
    );
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    let mut lines = committed_lines(out);
    lines.sort();
    lines
}

/// The SIGKILL loop: `rounds` runs of `run` (a `tidemark run … --restore
/// latest` command line), each while `tidemark produce <produce> FILE`
/// publishes `chunk` more lines of [`key_lines`], each run killed with
/// SIGKILL at a random point after a checkpoint completed in it; then a run
/// with `finish` added reads the rest to the end. Checks that the runs
/// after the first restored, and hands `check` the counts of what was
/// produced (`assert_running_counts` for exactly once).
pub fn kill_loop(
    d: &Path,
    run: &[String],
    produce: &[&str],
    (rounds, chunk): (u64, u64),
    finish: &[&str],
    check: impl FnOnce(&HashMap<u64, u64>),
) {
    let ck = d.join("ck");
    let mut logs = String::new();
    for round in 0..rounds {
        let file = write_file(
            d,
            &format!("chunk-{round}.txt"),
            &key_lines(round * chunk..(round + 1) * chunk),
        );
        let before = newest_completed(&ck);
        let job = start(d, run);
        let mut args = vec!["produce"];
        args.extend_from_slice(produce);
        args.push(&file);
        let producer = Running::start(d, &args);
        wait_for_or(
            "a checkpoint completed in this run",
            Duration::from_secs(60),
            || (newest_completed(&ck) > before).then_some(()),
            || {
                format!(
                    "the job:\n{}\nthe producer:\n{}",
                    job.stderr(),
                    producer.stderr()
                )
            },
        );
        // Anywhere in the next checkpoint interval or so.
        std::thread::sleep(Duration::from_millis(random_below(300)));
        logs.push_str(&job.stderr());
        job.kill();
        let (code, err) = producer.wait(Duration::from_secs(120));
        assert_eq!(code, 0, "tidemark produce: {err}");
    }
    assert!(
        logs.matches("restoring job").count() as u64 >= rounds - 1,
        "the runs after the first did not restore:\n{logs}"
    );
    let mut last = run.to_vec();
    last.extend(finish.iter().map(|s| s.to_string()));
    let (code, err) = start(d, &last).wait(Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    check(&key_counts(rounds * chunk));
}

/// The REST token a job started with [`start_with_token`] and
/// [`stop_with_savepoint`] share.
pub const TOKEN: (&str, &str) = ("TIDEMARK_REST_TOKEN", "stream-job-token");

/// Starts `tidemark <args>` in `d` with its REST API token-protected by
/// [`TOKEN`] (add `--set rest.auth.token-env=TIDEMARK_REST_TOKEN` to `args`).
pub fn start_with_token(d: &Path, args: &[String]) -> Running {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start_with_env(d, &args, &[TOKEN])
}

/// `tidemark savepoint URL --stop --dir d/sp` on `r`, the job at REST `url`;
/// waits for the job to exit 0 and returns the savepoint's path.
pub fn stop_with_savepoint(d: &Path, r: Running, url: &str) -> String {
    let out = Command::new(bin())
        .args(["savepoint", url, "--stop", "--dir"])
        .arg(d.join("sp"))
        .env(TOKEN.0, TOKEN.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tidemark savepoint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `--set V` for each of `values`.
pub fn sets<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| ["--set".to_string(), v.as_ref().to_string()])
        .collect()
}

/// Stop-with-savepoint at parallelism 2 (the example's), then the savepoint
/// restored at 3: `produce(range)` publishes lines `range` of
/// [`key_lines`] (2 000 before, 1 000 after the savepoint); the restored run
/// reads to the end (`params.bounded=true`), and every running count of the
/// 3 000 is committed once. `settings` (`--set` values) point both runs at
/// the broker. A partition whose position got lost would be read again from
/// its start, and duplicate counts.
pub fn rescale_through_savepoint(
    d: &Path,
    example: &str,
    settings: &[String],
    produce: impl Fn(std::ops::Range<u64>),
) {
    produce(0..2_000);
    let mut first: Vec<String> = ["run", example, "--status-interval", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    first.extend(sets(settings));
    first.extend(sets(&[
        "metrics.reporter.prom.port=0",
        "rest.auth.token-env=TIDEMARK_REST_TOKEN",
    ]));
    let r = start_with_token(d, &first);
    let url = r.rest_url();
    wait_for_or(
        "2 000 committed lines",
        Duration::from_secs(60),
        || (committed_lines(&d.join("out")).len() >= 2_000).then_some(()),
        || r.stderr(),
    );
    let savepoint = stop_with_savepoint(d, r, &url);
    produce(2_000..3_000);
    let mut second: Vec<String> = vec!["run".into(), example.into(), "--restore".into(), savepoint];
    second.extend(sets(settings));
    second.extend(sets(&[
        "parallelism.default=3",
        "params.bounded=true",
        "metrics.reporter.prom.port=0",
    ]));
    let (code, err) = start(d, &second).wait(Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("parallelism=3"), "{err}");
    assert_running_counts(&committed_lines(&d.join("out")), &key_counts(3_000));
}
