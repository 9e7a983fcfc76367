//! The exactly-once promise under process crashes: a bounded keyed count is
//! killed with SIGKILL at random points (some while a checkpoint is being
//! written), restarted each time with the same command (`--restore latest`),
//! and the committed output must hold every running count of every key
//! exactly once: nothing lost, nothing duplicated. The same holds with
//! unaligned checkpoints under sustained backpressure (in-flight records are
//! persisted and replayed); AT_LEAST_ONCE promises only that nothing is lost.

use std::collections::HashMap;
use std::time::Duration;
use tidemark::source::datagen::{DatagenConfig, KeyDistribution};
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
    // The sinks (2 x 1/60 µs) are slower than the source (40 000/s): queues stay full.
    let (seen, logs) = crash_loop(
        "  sink-delay: 60us\n",
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
fn at_least_once_sigkill_then_restore_loses_nothing() {
    let (seen, _) = crash_loop(
        "  sink-delay: 60us\n",
        "  execution.checkpointing.mode: AT_LEAST_ONCE\n",
    );
    check(&seen, false);
}

/// Runs the job, kills it six times, lets it finish; returns how often each
/// (key, count) line was committed, and every run's stderr.
fn crash_loop(params: &str, config: &str) -> (HashMap<(u64, u64), u32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_file(
        d,
        "job.yaml",
        &format!(
            "name: crash-test\npipeline: keyed-count\nparams:\n  keys: {KEYS}\n  events: {EVENTS}\n  rate: 40000\n  seed: {SEED}\n  sink: file\n  output: out\n  count-parallelism: 2\n{params}config:\n  parallelism.default: 2\n  execution.checkpointing.interval: 150 ms\n  execution.checkpointing.dir: ck\n  execution.checkpointing.num-retained: 2\n  metrics.reporter.prom.port: 0\n  restart-strategy.type: none\n{config}"
        ),
    );
    let args = [
        "run",
        job.as_str(),
        "--restore",
        "latest",
        "--status-interval",
        "0",
    ];
    let ck = d.join("ck");
    let mut logs = String::new();
    let mut kills = 0;
    let mut kills_during_write = 0;
    for round in 0..6 {
        let before = completed_checkpoints(&ck).len();
        let r = Running::start(d, &args);
        // Let the run make progress: a new checkpoint completes after the restore.
        wait_for(
            "a new completed checkpoint",
            Duration::from_secs(60),
            || (completed_checkpoints(&ck).len() > before).then_some(()),
        );
        if round % 2 == 1 {
            // Kill while a checkpoint directory exists without its metadata.
            let hit = wait_for(
                "a checkpoint being written",
                Duration::from_secs(30),
                || {
                    if in_progress_checkpoints(&ck) > 0 {
                        Some(true)
                    } else if r.stderr().contains("job finished") {
                        Some(false)
                    } else {
                        None
                    }
                },
            );
            kills_during_write += usize::from(hit);
        } else {
            let delay = random_below(400);
            let until = std::time::Instant::now() + Duration::from_millis(delay);
            wait_for("the random kill point", Duration::from_secs(5), || {
                (std::time::Instant::now() >= until).then_some(())
            });
        }
        logs.push_str(&r.stderr());
        r.kill();
        kills += 1;
    }
    let (code, err) = run(d, &args);
    assert_eq!(code, 0, "the final run must finish the job:\n{err}");
    logs.push_str(&err);
    assert!(kills >= 5);
    assert!(
        kills_during_write >= 1,
        "at least one kill landed while a checkpoint was being written"
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

/// Every running count of every key is there; `exact`: each exactly once.
fn check(seen: &HashMap<(u64, u64), u32>, exact: bool) {
    // Expected: for every key, counts 1..=n(key).
    let gen = DatagenConfig {
        keys: KEYS,
        distribution: KeyDistribution::Uniform,
        rate: 0,
        events: Some(EVENTS),
        seed: SEED,
        event_time_start_ms: 0,
        event_time_rate: 1000,
        out_of_orderness_ms: 0,
        warmup: 0,
    };
    let mut n: HashMap<u64, u64> = HashMap::new();
    for i in 0..EVENTS {
        *n.entry(gen.record(i, None).key).or_default() += 1;
    }
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
}
