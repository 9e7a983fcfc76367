//! A task that fails mid-run restarts the job inside the process from the
//! latest completed checkpoint (restart strategy with delay and attempts), and
//! the exactly-once file sink still holds every running count exactly once.
//! Built with the library API, as a user's own job would be.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tidemark::api::StreamEnv;
use tidemark::checkpoint::blob::Location;
use tidemark::checkpoint::coordinator::CheckpointSettings;
use tidemark::pipelines::RunningCount;
use tidemark::runtime::deploy::RuntimeKnobs;
use tidemark::runtime::job_master::Retention;
use tidemark::runtime::restart::RestartStrategy;
use tidemark::runtime::{JobMaster, JobOptions, JobOutcome};
use tidemark::sink::file::FileSink;
use tidemark::source::datagen::{DatagenConfig, DatagenSource, Event, KeyDistribution};
use tidemark::state::{StateBackendKind, StateSettings};
use tidemark_agent::Registry;

static FAILED_HEAP: AtomicBool = AtomicBool::new(false);
static FAILED_ROCKS: AtomicBool = AtomicBool::new(false);

#[test]
fn a_failing_task_restarts_from_the_checkpoint_without_loss_or_duplicates() {
    let reg = run_case(&FAILED_HEAP, StateSettings::default());
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
    let mut s = StateSettings {
        kind: StateBackendKind::RocksDb,
        incremental: true,
        local_recovery: Some(local.path().to_path_buf()),
        ..StateSettings::default()
    };
    s.rocks.local_dir = rocks_dir.path().to_path_buf();
    let reg = run_case(&FAILED_ROCKS, s);
    assert_restores_from(&reg, "local");
    assert!(
        reg.contains("tidemark_rocksdb_estimate_num_keys{"),
        "RocksDB native metrics are published"
    );
}

/// Runs the failing job with `state`; returns the final Prometheus exposition.
fn run_case(failed: &'static AtomicBool, state: StateSettings) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let gen = DatagenConfig {
        keys: 200,
        distribution: KeyDistribution::Uniform,
        rate: 100_000,
        events: Some(150_000),
        seed: 3,
        event_time_start_ms: 0,
        event_time_rate: 1000,
        out_of_orderness_ms: 0,
        warmup: 0,
    };
    let env = StreamEnv::new("restart-test").with_pipeline("custom");
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
    let graph = env
        .build(
            &tidemark::config::Config::from_pairs(&[
                ("parallelism.default".into(), "2".into()),
                ("pipeline.max-parallelism".into(), "128".into()),
            ])
            .unwrap(),
        )
        .unwrap();
    let opts = JobOptions {
        checkpoint: CheckpointSettings {
            interval: Some(Duration::from_millis(100)),
            timeout: Duration::from_secs(60),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            tolerable_failed: 0,
            num_retained: 1,
        },
        checkpoint_dir: Some(Location::local(&dir.path().join("ck"))),
        savepoint_dir: None,
        retention: Retention::NoExternalized,
        allow_non_restored_state: false,
        restart: RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(50),
        },
        knobs: RuntimeKnobs {
            channel_capacity: 4,
            batch_size: 256,
            buffer_timeout: Duration::from_millis(50),
            watermark_interval: Duration::from_millis(200),
            backend: Arc::new(state),
            s3: Default::default(),
            align: tidemark::checkpoint::align::AlignMode::Aligned { block: true },
            latency: None,
        },
    };
    let registry = Registry::new();
    // A consumer keeps the job's series readable after it ends.
    let _consumer = registry.register_consumer();
    let jm = JobMaster::new(
        graph,
        opts,
        registry.clone(),
        "0123456789abcdef0123456789abcdef".into(),
    )
    .unwrap();
    let status = jm.status();
    let outcome = jm.run(None).unwrap();
    assert!(matches!(outcome, JobOutcome::Finished));
    assert!(failed.load(Ordering::SeqCst), "the failure was injected");
    assert_eq!(status.restarts.load(Ordering::SeqCst), 1);
    // The failure is in the exception history, and the restart restored a checkpoint.
    let ex = status.exceptions.lock().unwrap().clone();
    assert_eq!(ex.len(), 1);
    assert!(ex[0].2.contains("injected failure"), "{ex:?}");
    assert_eq!(status.checkpoints.lock().unwrap().restored_count, 1);
    assert_eq!(*status.state.lock().unwrap(), "FINISHED");

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
