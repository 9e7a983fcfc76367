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
    tidemark_tests::assert_one_injected_restart(
        Job::new(graph)
            .config(config)
            .registry(registry.clone())
            .status_interval(None)
            .run()
            .unwrap(),
    );
    assert!(failed.load(Ordering::SeqCst), "the failure was injected");

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

static FAILED_TWO_INPUT: AtomicBool = AtomicBool::new(false);

/// Counts each key's records over both inputs of a two-input operator.
#[derive(Default)]
struct CountBoth {
    state: Option<ValueStateDesc<u64>>,
}

impl CountBoth {
    fn bump(&self, ctx: &mut KeyedContext<'_, u64, (u64, u64)>) -> tidemark::Result<()> {
        let mut v = ctx.value(self.state.as_ref().expect("opened"));
        let count = v.get()?.copied().unwrap_or(0) + 1;
        v.set(count)?;
        let key = *ctx.key();
        ctx.emit((key, count))
    }
}

impl KeyedCoProcessFunction<u64, Event, Event, (u64, u64)> for CountBoth {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, u64>) -> tidemark::Result<()> {
        self.state = Some(ctx.value_state("count")?);
        Ok(())
    }
    fn process1(
        &mut self,
        _: Event,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> tidemark::Result<()> {
        self.bump(ctx)
    }
    fn process2(
        &mut self,
        _: Event,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> tidemark::Result<()> {
        self.bump(ctx)
    }
}

/// A keyed two-input operator behind a slow sink, with unaligned checkpoints:
/// barriers overtake the queued records of both inputs, which are persisted
/// with the checkpoint and replayed after the restart. Each key's count over
/// both inputs is exact: every running count once, none lost.
#[test]
fn a_two_input_operator_under_backpressure_restarts_exactly_from_unaligned_checkpoints() {
    const EVENTS: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let gen = |seed| DatagenConfig {
        keys: 100,
        rate: 40_000,
        events: Some(EVENTS),
        seed,
        ..DatagenConfig::default()
    };
    let (ga, gb) = (gen(3), gen(5));
    let env = StreamEnv::new("two-input-unaligned");
    let source = |g: DatagenConfig, name: &str| {
        env.source::<Event>(move || Box::new(DatagenSource::new(g.clone(), None)))
            .name(name)
            .uid(name)
    };
    let a = source(ga.clone(), "a")
        .map(|e: Event| {
            // The first attempt dies halfway through input a.
            if e.seq == EVENTS / 2 && !FAILED_TWO_INPUT.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record {}", e.seq);
            }
            e
        })
        .name("fail once")
        .uid("fail-once");
    let b = source(gb.clone(), "b");
    let sink_dir = out.clone();
    a.key_by(|e: &Event| e.key)
        .connect(&b.key_by(|e: &Event| e.key))
        .process(CountBoth::default)
        .name("count both")
        .uid("count-both")
        .sink(move || {
            let file = FileSink::new(
                sink_dir.clone(),
                Arc::new(|(k, c): &(u64, u64), s: &mut String| s.push_str(&format!("{k},{c}"))),
            );
            // Two sinks at 40 µs a record take 50 000/s; the sources give 80 000/s,
            // so queues fill up and barriers have records to overtake.
            Box::new(tidemark::sink::slow::SlowSink::new(
                Box::new(file),
                std::time::Duration::from_micros(40),
                None,
            ))
        })
        .name("slow file")
        .uid("sink");
    let ck = dir.path().join("ck").display().to_string();
    let pairs: Vec<(String, String)> = [
        ("parallelism.default", "2"),
        ("execution.checkpointing.interval", "100 ms"),
        ("execution.checkpointing.dir", &ck),
        ("execution.checkpointing.unaligned.enabled", "true"),
        ("restart-strategy.type", "fixed-delay"),
        ("restart-strategy.fixed-delay.attempts", "2"),
        ("restart-strategy.fixed-delay.delay", "50 ms"),
        ("metrics.reporter.prom.port", "0"),
        ("rest.enabled", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_pairs(&pairs).unwrap();
    let graph = env.build(&config).unwrap();
    let registry = Registry::new();
    let _consumer = registry.register_consumer();
    let started = Job::new(graph)
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .start()
        .unwrap();
    let job = std::thread::spawn(move || started.wait());
    // While it runs, a completed checkpoint persisted in-flight records.
    let persisted = || {
        let text = tidemark_agent::encode::prometheus::encode(&registry.snapshot());
        text.lines()
            .filter(|l| l.starts_with("tidemark_checkpoint_last_persisted_bytes{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .any(|v| v > 0.0)
    };
    let saw_persisted = tidemark_tests::wait_for(
        "a checkpoint that persisted in-flight records, or the job's end",
        std::time::Duration::from_secs(120),
        || (persisted() || job.is_finished()).then(persisted),
    );
    let outcome = job.join().unwrap().unwrap();
    assert!(
        saw_persisted,
        "no completed checkpoint persisted in-flight records"
    );
    tidemark_tests::assert_one_injected_restart(outcome);

    let mut n: HashMap<u64, u64> = HashMap::new();
    for g in [&ga, &gb] {
        for i in 0..EVENTS {
            *n.entry(g.record(i, None).key).or_default() += 1;
        }
    }
    tidemark_tests::assert_running_counts(&tidemark_tests::committed_lines(&out), &n);
}
