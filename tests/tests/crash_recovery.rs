//! The exactly-once promise under process crashes: a bounded keyed count is
//! killed with SIGKILL at random points (some while a checkpoint is being
//! written), restarted each time with the same command (`--restore latest`),
//! and the committed output must hold every running count of every key
//! exactly once: nothing lost, nothing duplicated.

use std::collections::HashMap;
use std::time::Duration;
use tidemark::source::datagen::{DatagenConfig, KeyDistribution};
use tidemark_tests::*;

const EVENTS: u64 = 400_000;
const KEYS: u64 = 500;
const SEED: u64 = 7;

#[test]
fn sigkill_at_random_points_then_restore_gives_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_file(
        d,
        "job.yaml",
        &format!(
            "name: crash-test\npipeline: keyed-count\nparams:\n  keys: {KEYS}\n  events: {EVENTS}\n  rate: 40000\n  seed: {SEED}\n  sink: file\n  output: out\n  count-parallelism: 2\nconfig:\n  parallelism.default: 2\n  execution.checkpointing.interval: 150 ms\n  execution.checkpointing.dir: ck\n  execution.checkpointing.num-retained: 2\n  metrics.reporter.prom.port: 0\n  restart-strategy.type: none\n"
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
        r.kill();
        kills += 1;
    }
    let (code, err) = run(d, &args);
    assert_eq!(code, 0, "the final run must finish the job:\n{err}");
    assert!(kills >= 5);
    assert!(
        kills_during_write >= 1,
        "at least one kill landed while a checkpoint was being written"
    );

    // Expected: for every key, counts 1..=n(key), each exactly once.
    let gen = DatagenConfig {
        keys: KEYS,
        distribution: KeyDistribution::Uniform,
        rate: 0,
        events: Some(EVENTS),
        seed: SEED,
        event_time_start_ms: 0,
        event_time_rate: 1000,
        out_of_orderness_ms: 0,
    };
    let mut n: HashMap<u64, u64> = HashMap::new();
    for i in 0..EVENTS {
        *n.entry(gen.record(i, None).key).or_default() += 1;
    }
    let lines = committed_lines(&d.join("out"));
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    for l in &lines {
        let (k, c) = l.split_once(',').expect("key,count");
        *seen
            .entry((k.parse().unwrap(), c.parse().unwrap()))
            .or_default() += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, v)| **v > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicated output lines: {dupes:?}");
    for (k, total) in &n {
        for c in 1..=*total {
            assert!(
                seen.contains_key(&(*k, c)),
                "lost: key {k} count {c} (of {total})"
            );
        }
    }
    assert_eq!(
        lines.len() as u64,
        EVENTS,
        "one committed line per input record"
    );
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
}
