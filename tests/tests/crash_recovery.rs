//! The exactly-once promise under process crashes: a bounded keyed count is
//! killed with SIGKILL at random points (some while a checkpoint is being
//! written), restarted each time with the same command (`--restore latest`),
//! and the committed output must hold every running count of every key
//! exactly once: nothing lost, nothing duplicated. The same holds with
//! unaligned checkpoints under sustained backpressure (in-flight records are
//! persisted and replayed); AT_LEAST_ONCE promises only that nothing is lost.

use std::collections::HashMap;
use std::time::Duration;
use tidemark_tests::*;

const EVENTS: u64 = 400_000;
const KEYS: u64 = 500;
const SEED: u64 = 7;

#[test]
fn sigkill_at_random_points_then_restore_gives_exact_counts() {
    let (seen, _) = crash_loop("", "");
    check(&seen, true);
}

#[test]
fn unaligned_under_backpressure_sigkill_then_restore_gives_exact_counts() {
    // The sinks (2 x 1/500 µs) are slower than the source (5 000/s): queues stay full.
    let (seen, logs) = crash_loop(
        "  sink-delay: 500us\n",
        "  execution.checkpointing.unaligned.enabled: true\n",
    );
    check(&seen, true);
    let replayed: u64 = logs
        .lines()
        .filter_map(|l| l.split(" replays ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        replayed > 0,
        "no restore replayed in-flight records: the unaligned path was not exercised"
    );
}

/// RocksDB with incremental checkpoints and task-local recovery across
/// process crashes: restores read the local copy the killed process left.
#[test]
fn rocksdb_incremental_local_recovery_sigkill_then_restore_gives_exact_counts() {
    let (seen, logs) = crash_loop(
        "",
        "  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: rocks\n  \
         execution.checkpointing.incremental: true\n  execution.state-recovery.from-local: true\n  \
         taskmanager.state.local.root-dirs: local\n",
    );
    check(&seen, true);
    assert!(
        logs.contains("restored RocksDB state from the task-local copy"),
        "no restore used the local copy:\n{logs}"
    );
}

#[test]
fn at_least_once_sigkill_then_restore_loses_nothing_and_does_duplicate() {
    // Source subtask 0 lags, so its barrier reaches each count subtask late:
    // AT_LEAST_ONCE does not block the other input meanwhile, so checkpoints
    // hold records that restores replay. Duplicates must show: were the mode
    // silently exactly-once, this test would fail.
    let (seen, _) = crash_loop(
        "  sink-delay: 60us\n  source-lag: 2ms\n",
        "  execution.checkpointing.mode: AT_LEAST_ONCE\n",
    );
    let duplicated = check(&seen, false);
    assert!(
        duplicated > 0,
        "AT_LEAST_ONCE replayed nothing twice after 8 kills"
    );
}

/// Runs the job, kills it six times, lets it finish; returns how often each
/// (key, count) line was committed, and every run's stderr.
/// A crash, then `--restore latest` to the end, then the same command again:
/// the crashed run's checkpoints are still on disk, and resuming one would
/// write the finished job's output a second time. The third run says the job
/// finished and exits 0; the output is the generator's, each line once.
#[test]
fn a_finished_job_is_not_resumed_from_an_earlier_run_s_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (keys, events) = (50, 60_000);
    let job = write_file(
        d,
        "job.yaml",
        &format!(
            "name: once\npipeline: keyed-count\nparams:\n  keys: {keys}\n  events: {events}\n  rate: 20000\n  seed: {SEED}\n  sink: file\n  output: out\nconfig:\n  execution.checkpointing.interval: 100 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n"
        ),
    );
    let args = restore_latest(&job);
    let ck = d.join("ck");
    let r = Running::start(d, &args);
    wait_for("a completed checkpoint", Duration::from_secs(30), || {
        (newest_completed(&ck) > 0).then_some(())
    });
    r.kill();
    let (code, err) = run(d, &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("restoring job 'once'") && err.contains("job finished"),
        "{err}"
    );
    let (code, err) = run(d, &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("job 'once' finished after its last checkpoint")
            && err.contains("nothing to resume")
            && !err.contains("restoring job"),
        "{err}"
    );
    assert_counts_match_generator(&committed_lines(&d.join("out")), keys, events, SEED);
    // `tidemark checkpoints` shows why: the crashed run's checkpoints, then the marker.
    let out = std::process::Command::new(bin())
        .args(["checkpoints", "ck"])
        .current_dir(d)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.contains("once") && l.contains("  ok"))
            && listing.lines().any(|l| l.contains("once")
                && l.contains("finished: --restore latest resumes no checkpoint older than this")),
        "{listing}"
    );
}

fn crash_loop(params: &str, config: &str) -> (HashMap<(u64, u64), u32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The rounds of kills run at 5 000 events/s: 80 s of input, far more
    // than the rounds can use, so no run finishes the job before the final
    // phase wants it to, however slow the machine. The final runs read the
    // rest unpaced, without the rounds' delays: same name, same operators,
    // same generated events (the rate paces the source, it does not shape
    // the data), as a user redeploys a job with changed parameters.
    let job_file = |name: &str, pace: &str| {
        write_file(
            d,
            name,
            &format!(
                "name: crash-test\npipeline: keyed-count\nparams:\n  keys: {KEYS}\n  events: {EVENTS}\n  seed: {SEED}\n  sink: file\n  output: out\n  count-parallelism: 2\n{pace}config:\n  parallelism.default: 2\n  execution.checkpointing.interval: 150 ms\n  execution.checkpointing.dir: ck\n  execution.checkpointing.num-retained: 2\n  metrics.reporter.prom.port: 0\n  restart-strategy.type: none\n{config}"
            ),
        )
    };
    let job = job_file("job.yaml", &format!("  rate: 5000\n{params}"));
    let final_job = job_file("final.yaml", "");
    let final_args = restore_latest(&final_job);
    let args = restore_latest(&job);
    let ck = d.join("ck");
    let mut logs = String::new();
    let mut kills = 0;
    let mut kills_during_write = 0;
    let mut kills_during_restore = 0;
    let mut kills_after_metadata = 0;
    for round in 0..8 {
        let before = newest_completed(&ck);
        if round == 4 {
            // Kill during the restore: after the checkpoint was chosen and
            // loaded, before the job runs (its start-up lines follow the
            // restore, and the sinks commit the restored files as they
            // open). The process pauses there (TIDEMARK_FAULT_PAUSE); the
            // kill is checked on what the dead process printed.
            let paused = Running::start_with_env(d, &args, &[("TIDEMARK_FAULT_PAUSE", "restore")]);
            let (landed, err) = kill_on(paused, "fault pause: restore", "subtasks):");
            logs.push_str(&err);
            kills += 1;
            kills_during_restore += usize::from(landed && err.contains("restoring job"));
            continue;
        }
        let r = Running::start(d, &args);
        // Let the run make progress: a new checkpoint completes after the restore.
        wait_for(
            "a new completed checkpoint",
            Duration::from_secs(60),
            || (newest_completed(&ck) > before).then_some(()),
        );
        match round % 4 {
            1 | 3 => {
                // Kill while a checkpoint newer than every completed one is
                // being written (one being deleted has an older id).
                wait_for(
                    "a checkpoint being written",
                    Duration::from_secs(30),
                    || {
                        (!newer_in_progress(&ck).is_empty() || r.stderr().contains("job finished"))
                            .then_some(())
                    },
                );
            }
            2 => {
                // Kill between a checkpoint's metadata being written and the
                // sinks committing its files: the job master pauses there
                // (TIDEMARK_FAULT_PAUSE), and each kill is verified on disk
                // (the metadata names pending files that are still
                // uncommitted); a checkpoint without pending files restores
                // and tries again.
                logs.push_str(&r.stderr());
                r.kill();
                kills += 1;
                for t in 0..40 {
                    let r = Running::start_with_env(
                        d,
                        &args,
                        &[("TIDEMARK_FAULT_PAUSE", "after-metadata")],
                    );
                    let (_, err) = kill_on(r, "fault pause: after-metadata", "\0");
                    logs.push_str(&err);
                    kills += 1;
                    if uncommitted_in_newest(&ck, &d.join("out")) {
                        eprintln!("the kill after the metadata landed at try {}", t + 1);
                        kills_after_metadata += 1;
                        break;
                    }
                }
                continue;
            }
            _ => {
                let delay = random_below(400);
                let until = std::time::Instant::now() + Duration::from_millis(delay);
                wait_for("the random kill point", Duration::from_secs(5), || {
                    (std::time::Instant::now() >= until).then_some(())
                });
            }
        }
        logs.push_str(&r.stderr());
        r.kill();
        kills += 1;
        // Verified on what the dead process left, not on what it was doing
        // a moment before the signal.
        if round % 4 == 1 || round % 4 == 3 {
            kills_during_write += usize::from(!newer_in_progress(&ck).is_empty());
        }
    }
    // Kill the run that finishes the job during its final checkpoint: the
    // job master pauses at its first acknowledgement. (Tried by luck, a miss
    // finished the job, and no try was left.)
    let (killed_in_final, err) = kill_on(
        Running::start_with_env(
            d,
            &final_args,
            &[("TIDEMARK_FAULT_PAUSE", "final-checkpoint")],
        ),
        "fault pause: final-checkpoint",
        "job finished",
    );
    logs.push_str(&err);
    assert!(
        err.contains("taking the final checkpoint"),
        "the pause came during the final checkpoint:\n{err}"
    );
    let (code, err) = run(d, &final_args);
    assert_eq!(code, 0, "the final run must finish the job:\n{err}");
    logs.push_str(&err);
    assert!(kills >= 8);
    assert!(
        kills_during_write >= 1,
        "at least one kill landed while a new checkpoint was being written"
    );
    assert_eq!(
        kills_during_restore, 1,
        "the kill during the restore landed"
    );
    assert!(
        kills_after_metadata >= 1,
        "a kill landed after a checkpoint's metadata, before its sinks committed"
    );
    assert!(
        killed_in_final,
        "the kill landed during the final checkpoint"
    );
    let lines = committed_lines(&d.join("out"));
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    for l in &lines {
        let (k, c) = l.split_once(',').expect("key,count");
        *seen
            .entry((k.parse().unwrap(), c.parse().unwrap()))
            .or_default() += 1;
    }
    let leftovers: Vec<_> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".inprogress"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "uncommitted files remain after the job finished: {leftovers:?}"
    );
    (seen, logs)
}

/// `tidemark run JOB --restore latest`, as a supervisor restarts a job.
fn restore_latest(job: &str) -> [&str; 6] {
    ["run", job, "--restore", "latest", "--status-interval", "0"]
}

/// Whether the newest completed checkpoint names sink files that are still
/// uncommitted in `out`: a kill landed after its metadata was written and
/// before its sinks committed. Read from the checkpoint itself: the sink's
/// state is its pending files, `(checkpoint id, in-progress name, final name)`.
fn uncommitted_in_newest(ck: &std::path::Path, out: &std::path::Path) -> bool {
    use tidemark::inspect::CheckpointMetadata;
    use tidemark::inspect::Location;
    use tidemark::inspect::StateFile;
    let Some(newest) = completed_checkpoints(ck)
        .into_iter()
        .max_by_key(|p| chk_id(p))
    else {
        return false;
    };
    let dir = Location::local(&newest);
    let meta = CheckpointMetadata::load(&dir).unwrap();
    let sink = meta.operators.iter().find(|o| o.uid == "sink").unwrap();
    sink.subtasks.iter().flatten().any(|h| {
        let f = StateFile::open(&dir.join(&h.file), h).unwrap();
        if f.operator_state().is_empty() {
            return false;
        }
        let pending: Vec<(u64, String, String)> = bincode::deserialize(f.operator_state()).unwrap();
        pending.iter().any(|(id, in_progress, final_name)| {
            *id == meta.checkpoint_id
                && out.join(in_progress).exists()
                && !out.join(final_name).exists()
        })
    })
}

/// Checkpoint folders without metadata whose id is above every completed one:
/// checkpoints being written (a discarded old one has a lower id).
fn newer_in_progress(ck: &std::path::Path) -> Vec<u64> {
    let done = newest_completed(ck);
    checkpoint_dirs(ck)
        .iter()
        .filter(|p| !p.join("_metadata").exists())
        .filter_map(|p| chk_id(p))
        .filter(|i| *i > done)
        .collect()
}

/// SIGKILLs `r` the moment its stderr shows `needle` (polled every
/// millisecond); returns whether it died before printing `not_yet`, judged by
/// everything it printed, and that output.
fn kill_on(mut r: Running, needle: &str, not_yet: &str) -> (bool, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !r.stderr().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in:\n{}",
            r.stderr()
        );
        if let Ok(Some(status)) = r.child.try_wait() {
            panic!(
                "tidemark exited ({status}) before {needle:?}:\n{}",
                r.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Child::kill is SIGKILL without spawning kill(1): the windows are short.
    let _ = r.child.kill();
    let (_, err) = r.wait(Duration::from_secs(30));
    (!err.contains(not_yet), err)
}

/// Every running count of every key is there; `exact`: each exactly once.
/// Returns how many lines go beyond exactly-once: repeated (key, count) lines
/// and counts above what the generator gave a key (a record counted twice).
/// A key's running count is its records' sequence number, so `(key, c)` for
/// every c in 1..=n(key) being there is the per-record proof that nothing was
/// lost.
fn check(seen: &HashMap<(u64, u64), u32>, exact: bool) -> u64 {
    // Expected: for every key, counts 1..=n(key), n from the generator.
    let n = generated_key_counts(KEYS, EVENTS, SEED);
    if exact {
        let dupes: Vec<_> = seen.iter().filter(|(_, v)| **v > 1).take(5).collect();
        assert!(dupes.is_empty(), "duplicated output lines: {dupes:?}");
    }
    for (k, total) in &n {
        for c in 1..=*total {
            assert!(
                seen.contains_key(&(*k, c)),
                "lost: key {k} count {c} (of {total})"
            );
        }
    }
    if exact {
        assert_eq!(
            seen.len() as u64,
            EVENTS,
            "one committed line per input record"
        );
    }
    seen.iter()
        .map(|((k, c), times)| {
            let beyond = u64::from(*c > n.get(k).copied().unwrap_or(0));
            u64::from(*times - 1) + beyond * u64::from(*times)
        })
        .sum()
}
