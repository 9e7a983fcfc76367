//! A task that fails mid-run restarts the job inside the process from the
//! latest completed checkpoint (restart strategy with delay and attempts), and
//! the exactly-once file sink still holds every running count exactly once.
//! Built with the library API, as a user's own job would be.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tidemark::pipelines::RunningCount;
use tidemark::prelude::*;
use tidemark::sink::file::FileSink;
use tidemark::source::datagen::{DatagenConfig, DatagenSource, Event};
use tidemark_agent::Registry;

static FAILED_HEAP: AtomicBool = AtomicBool::new(false);
static FAILED_ROCKS: AtomicBool = AtomicBool::new(false);

#[test]
fn a_failing_task_restarts_from_the_checkpoint_without_loss_or_duplicates() {
    let reg = run_case(&FAILED_HEAP, &[]);
    // Heap state without local recovery: the full snapshot is read from
    // checkpoint storage, and its restore is counted and timed as such.
    assert_restores_from(&reg, "remote");
    assert!(reg.contains("tidemark_state_restore_duration_seconds{"));
}

/// Every subtask's restore is counted, each with `source`.
fn assert_restores_from(reg: &str, source: &str) {
    let restores: Vec<&str> = reg
        .lines()
        .filter(|l| l.starts_with("tidemark_state_restores_total{"))
        .collect();
    assert!(!restores.is_empty(), "restores are counted:\n{reg}");
    let want = format!("source=\"{source}\"");
    assert!(
        restores.iter().all(|l| l.contains(&want)),
        "every subtask restored from {source}: {restores:?}"
    );
}

/// RocksDB with incremental checkpoints and task-local recovery: the restart
/// restores the count's instance from its local copy, and the result is exact.
#[test]
fn rocksdb_incremental_with_local_recovery_restarts_exactly_from_the_local_copy() {
    let local = tempfile::tempdir().unwrap();
    let rocks_dir = tempfile::tempdir().unwrap();
    let (local, rocks_dir) = (
        local.path().display().to_string(),
        rocks_dir.path().display().to_string(),
    );
    let reg = run_case(
        &FAILED_ROCKS,
        &[
            ("state.backend.type", "rocksdb"),
            ("execution.checkpointing.incremental", "true"),
            ("execution.state-recovery.from-local", "true"),
            ("taskmanager.state.local.root-dirs", &local),
            ("state.backend.rocksdb.localdir", &rocks_dir),
        ],
    );
    assert_restores_from(&reg, "local");
    assert!(
        reg.contains("tidemark_rocksdb_estimate_num_keys{"),
        "RocksDB native metrics are published"
    );
}

/// Runs the failing job with the configuration `state` adds; returns the
/// final Prometheus exposition.
fn run_case(failed: &'static AtomicBool, state: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let gen = DatagenConfig {
        keys: 200,
        rate: 100_000,
        events: Some(150_000),
        seed: 3,
        ..DatagenConfig::default()
    };
    let env = StreamEnv::new("restart-test");
    let g2 = gen.clone();
    let sink_dir = out.clone();
    env.source::<Event>(move || Box::new(DatagenSource::new(g2.clone(), None)))
        .name("datagen")
        .uid("datagen")
        .map(|e: Event| {
            // The first attempt dies two thirds of the way through.
            if e.seq == 100_000 && !failed.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record {}", e.seq);
            }
            e
        })
        .name("fail once")
        .uid("fail-once")
        .key_by(|e: &Event| e.key)
        .process(RunningCount::<u64, Event>::default)
        .name("count")
        .uid("count")
        .sink(move || {
            Box::new(FileSink::new(
                sink_dir.clone(),
                Arc::new(|(k, c): &(u64, u64), s: &mut String| s.push_str(&format!("{k},{c}"))),
            ))
        })
        .name("file")
        .uid("sink");
    let ck = dir.path().join("ck").display().to_string();
    let mut pairs: Vec<(String, String)> = [
        ("parallelism.default", "2"),
        ("pipeline.max-parallelism", "128"),
        ("execution.checkpointing.interval", "100 ms"),
        ("execution.checkpointing.dir", &ck),
        ("restart-strategy.type", "fixed-delay"),
        ("restart-strategy.fixed-delay.attempts", "2"),
        ("restart-strategy.fixed-delay.delay", "50 ms"),
        ("tidemark.runtime.channel-capacity", "4"),
        ("tidemark.runtime.batch-size", "256"),
        ("metrics.reporter.prom.port", "0"),
        ("rest.enabled", "false"),
    ]
    .iter()
    .chain(state)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    pairs.push(("execution.checkpointing.num-retained".into(), "1".into()));
    let config = Config::from_pairs(&pairs).unwrap();
    let graph = env.build(&config).unwrap();
    let registry = Registry::new();
    // A consumer keeps the job's series readable after it ends.
    let _consumer = registry.register_consumer();
    let outcome = Job::new(graph)
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .run()
        .unwrap();
    let Outcome::Finished {
        restarts, restores, ..
    } = outcome
    else {
        panic!("the job did not finish: {outcome:?}")
    };
    assert!(failed.load(Ordering::SeqCst), "the failure was injected");
    // The failure is the one restart, and the restart restored a checkpoint.
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(restarts[0].contains("injected failure"), "{restarts:?}");
    assert_eq!(restores, 1);

    let mut n: HashMap<u64, u64> = HashMap::new();
    for i in 0..150_000 {
        *n.entry(gen.record(i, None).key).or_default() += 1;
    }
    let lines = tidemark_tests::committed_lines(&out);
    assert_eq!(lines.len(), 150_000, "one committed line per record");
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        assert!(seen.insert(l.clone()), "duplicate line {l}");
    }
    for (k, total) in n {
        assert!(
            seen.contains(&format!("{k},{total}")),
            "key {k} must end at {total}"
        );
    }
    tidemark_agent::encode::prometheus::encode(&registry.snapshot())
}
