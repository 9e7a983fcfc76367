//! The library as a job author uses it: a graph built with the public
//! builder (union, connect, side outputs, uids) and run in-process by the
//! public runner, with results checked against what the input implies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tidemark::operator::SubtaskInfo;
use tidemark::prelude::*;
use tidemark::source::Poll;

/// The numbers `from..to`, one subtask, resumable from its position.
struct Numbers {
    next: u64,
    to: u64,
}

impl Source<u64> for Numbers {
    fn open(&mut self, _: &SubtaskInfo) -> Result<()> {
        Ok(())
    }
    fn restore(&mut self, p: &[&[u8]]) -> Result<()> {
        self.next = bincode::deserialize(p[0])?;
        Ok(())
    }
    fn poll(&mut self, out: &mut Vec<u64>, max: usize) -> Result<Poll> {
        if self.next >= self.to {
            return Ok(Poll::Finished);
        }
        let end = self.to.min(self.next + max as u64);
        out.extend(self.next..end);
        self.next = end;
        Ok(Poll::Data)
    }
    fn position(&self) -> Result<Vec<u8>> {
        Ok(bincode::serialize(&self.next)?)
    }
}

fn numbers(env: &StreamEnv, from: u64, to: u64, uid: &str) -> DataStream<u64> {
    env.source(move || Box::new(Numbers { next: from, to }))
        .name(uid)
        .uid(uid)
        .parallelism(1)
}

/// Collects what reaches it (every subtask into one list).
struct Collect<T>(Arc<Mutex<Vec<T>>>);

impl<T: Data> Sink<T> for Collect<T> {
    fn open(&mut self, _: &SubtaskInfo, _: &[(usize, &[u8])]) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn collect<T: Data>(s: &DataStream<T>, uid: &str) -> Arc<Mutex<Vec<T>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    s.sink(move || Box::new(Collect(g.clone())))
        .name(uid)
        .uid(uid);
    got
}

fn config() -> Config {
    Config::from_pairs(&[
        ("parallelism.default".into(), "2".into()),
        ("rest.enabled".into(), "false".into()),
        ("metrics.reporter.prom.port".into(), "0".into()),
    ])
    .unwrap()
}

fn run(env: StreamEnv) -> Outcome {
    let graph = env.build(&config()).unwrap();
    Job::new(graph)
        .config(config())
        .status_interval(None)
        .run()
        .unwrap()
}

#[test]
fn a_union_feeds_one_keyed_operator_with_both_streams() {
    let env = StreamEnv::new("union");
    let sums = numbers(&env, 0, 5_000, "a")
        .union(numbers(&env, 10_000, 12_000, "b"))
        .map(|n| (n % 7, n))
        .name("key")
        .uid("key")
        .key_by(|r: &(u64, u64)| r.0)
        .reduce(|a, b| (a.0, a.1 + b.1))
        .name("sum")
        .uid("sum");
    let got = collect(&sums, "sink");
    let Outcome::Finished { records, .. } = run(env) else {
        panic!("the job did not finish")
    };
    assert_eq!(records, 7_000);
    // The last running sum of each key is the sum of its numbers in both inputs.
    let mut want: BTreeMap<u64, u64> = BTreeMap::new();
    for n in (0..5_000).chain(10_000..12_000) {
        *want.entry(n % 7).or_default() += n;
    }
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, s) in got.lock().unwrap().iter() {
        let e = last.entry(*k).or_default();
        *e = (*e).max(*s);
    }
    assert_eq!(last, want);
}

/// Emits each number of the first input once its key has been seen on the
/// second input (buffering it until then), and numbers of the second input
/// never seen on the first to the side output.
#[derive(Default)]
struct Gate {
    s: Option<(ValueStateDesc<bool>, ListStateDesc<u64>)>,
}

impl KeyedCoProcessFunction<u64, u64, u64, Either<u64, u64>> for Gate {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.s = Some((ctx.value_state("open")?, ctx.list_state("waiting")?));
        Ok(())
    }
    fn process1(
        &mut self,
        n: u64,
        ctx: &mut KeyedContext<'_, u64, Either<u64, u64>>,
    ) -> Result<()> {
        let (open, waiting) = self.s.as_ref().unwrap();
        if ctx.value(open).get()?.is_some() {
            ctx.emit(Either::Left(n))
        } else {
            ctx.list(waiting).add(n)
        }
    }
    fn process2(
        &mut self,
        n: u64,
        ctx: &mut KeyedContext<'_, u64, Either<u64, u64>>,
    ) -> Result<()> {
        let (open, waiting) = self.s.as_ref().unwrap();
        ctx.value(open).set(true)?;
        let held = ctx.list(waiting).get()?.to_vec();
        ctx.list(waiting).clear()?;
        for h in held {
            ctx.emit(Either::Left(h))?;
        }
        ctx.emit(Either::Right(n))
    }
}

#[test]
fn connected_keyed_streams_share_state_and_a_side_output_carries_its_own_records() {
    let env = StreamEnv::new("connect");
    let a = numbers(&env, 0, 3_000, "a");
    let b = numbers(&env, 0, 3_000, "b")
        .filter(|n| n % 3 == 0)
        .name("thirds")
        .uid("thirds");
    let gated = a
        .key_by(|n: &u64| *n)
        .connect(&b.key_by(|n: &u64| *n))
        .process(Gate::default)
        .name("gate")
        .uid("gate");
    let (main, side) = gated.split();
    let passed = collect(&main, "passed");
    let openers = collect(&side, "openers");
    run(env);
    let mut passed = passed.lock().unwrap().clone();
    passed.sort();
    let want: Vec<u64> = (0..3_000).filter(|n| n % 3 == 0).collect();
    assert_eq!(
        passed, want,
        "the numbers whose key the second input opened"
    );
    let mut openers = openers.lock().unwrap().clone();
    openers.sort();
    assert_eq!(
        openers, want,
        "every record of the second input, once, on the side output"
    );
}

#[test]
fn a_graph_with_missing_duplicate_or_misplaced_ids_is_refused_with_every_problem() {
    let env = StreamEnv::new("bad");
    let a = env
        .source(|| Box::new(Numbers { next: 0, to: 1 }))
        .name("a");
    let b = numbers(&env, 0, 1, "b");
    let both = a.union(b.map(|n| n).name("copy").uid("b")).name("both");
    both.sink(|| Box::new(Collect(Arc::default()))).uid("sink");
    let err = match env.build(&config()) {
        Ok(_) => panic!("the graph was accepted"),
        Err(e) => e.to_string(),
    };
    for want in [
        "operator 'a' has no uid",
        "uid 'b' is used by two operators",
        ".name() on the union of 'a', 'copy'",
    ] {
        assert!(err.contains(want), "missing '{want}' in:\n{err}");
    }
}

static NUMBERS: tidemark::user_metrics::UserMetric =
    tidemark::user_metrics::UserMetric::counter("lib_numbers_total", "Numbers counted, by parity.")
        .with_labels(&[tidemark::user_metrics::UserLabel {
            name: "parity",
            values: &["even", "odd"],
        }]);

/// Counts each number in the user metric, under its parity.
#[derive(Default)]
struct CountParity {
    ids: Vec<tidemark::user_metrics::CounterId>,
}

impl KeyedProcessFunction<u64, u64, u64> for CountParity {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.ids = vec![
            ctx.counter(&NUMBERS, &["even"])?,
            ctx.counter(&NUMBERS, &["odd"])?,
        ];
        Ok(())
    }
    fn process(&mut self, n: u64, ctx: &mut KeyedContext<'_, u64, u64>) -> Result<()> {
        ctx.count(self.ids[(n % 2) as usize], 1);
        ctx.emit(n)
    }
}

/// Runs 0..10 000 through two subtasks of `CountParity` at `level`; returns
/// the user metric's series lines.
fn parity_series(level: &str) -> Vec<String> {
    let graph = |config: &Config| {
        let env = StreamEnv::new("levels");
        let counted = numbers(&env, 0, 10_000, "numbers")
            .key_by(|n: &u64| n % 10)
            .process(CountParity::default)
            .name("parity")
            .uid("parity");
        collect(&counted, "out");
        env.build(config).unwrap()
    };
    let config = Config::from_pairs(&[
        ("parallelism.default".into(), "2".into()),
        ("rest.enabled".into(), "false".into()),
        ("metrics.reporter.prom.port".into(), "0".into()),
        ("metrics.level".into(), level.into()),
    ])
    .unwrap();
    if level != "subtask" {
        // A registry of one's own contradicting the configuration is refused.
        let e = Job::new(graph(&config))
            .config(config.clone())
            .registry(tidemark_agent::Registry::new())
            .run()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("metrics.level: the configuration says") && e.contains("with_options"),
            "{e}"
        );
    }
    let registry = tidemark_agent::Registry::with_options(config.registry);
    // A consumer keeps the job's series readable after it ends.
    let _consumer = registry.register_consumer();
    let outcome = Job::new(graph(&config))
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .run()
        .unwrap();
    assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
    tidemark_agent::encode::prometheus::encode(&registry.snapshot())
        .lines()
        .filter(|l| l.starts_with("lib_numbers_total{"))
        .map(str::to_string)
        .collect()
}

/// A user metric obeys `metrics.level`: at `vertex` the two subtasks' counts
/// are one series per label value, summed (5 000 even and 5 000 odd numbers);
/// at `subtask` each subtask has its own.
#[test]
fn a_user_metric_obeys_metrics_level() {
    let vertex = parity_series("vertex");
    assert_eq!(vertex.len(), 2, "{vertex:?}");
    for parity in ["even", "odd"] {
        let line = vertex
            .iter()
            .find(|l| l.contains(&format!("parity=\"{parity}\"")))
            .unwrap_or_else(|| panic!("no {parity} series: {vertex:?}"));
        assert!(!line.contains("subtask="), "{line}");
        assert!(line.contains("vertex=\"parity\""), "{line}");
        assert!(line.ends_with(" 5000"), "{line}");
    }
    let subtask = parity_series("subtask");
    assert!(
        subtask.iter().all(|l| l.contains("subtask=")),
        "{subtask:?}"
    );
    let total: f64 = subtask
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 10_000.0, "{subtask:?}");
    assert!(subtask.len() > 2, "{subtask:?}");
}

/// Set once a checkpoint completed; the source holds back its second half
/// until then, so the operator's failure comes after a checkpoint.
static CHECKPOINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set when the injected failure happened (once per process).
static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const TOTAL_TO: u64 = 20_000;

/// `1..=TOTAL_TO`, holding back the second half until a checkpoint completed.
struct HeldBack(Numbers);

impl Source<u64> for HeldBack {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        self.0.open(info)
    }
    fn restore(&mut self, p: &[&[u8]]) -> Result<()> {
        self.0.restore(p)
    }
    fn poll(&mut self, out: &mut Vec<u64>, max: usize) -> Result<Poll> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.0.next > TOTAL_TO / 2 && !CHECKPOINTED.load(SeqCst) {
            return Ok(Poll::Pending(Some(std::time::Duration::from_millis(5))));
        }
        let cap = (TOTAL_TO / 2 + 1).saturating_sub(self.0.next);
        let max = if cap > 0 { max.min(cap as usize) } else { max };
        self.0.poll(out, max)
    }
    fn position(&self) -> Result<Vec<u8>> {
        self.0.position()
    }
}

static BATCHES: tidemark::user_metrics::UserMetric = tidemark::user_metrics::UserMetric::counter(
    "lib_total_records_total",
    "Records the running total has added (replays included).",
);

/// A plain operator with non-keyed state: the running total of every
/// number it has seen, emitted after each one. It fails once, on its first
/// batch after a checkpoint completed.
#[derive(Default)]
struct RunningTotal {
    total: u64,
    records: Option<UserCounter>,
    checkpointed: bool,
}

impl Operator<u64, u64> for RunningTotal {
    fn open(&mut self, ctx: &OpenContext<'_>) -> Result<()> {
        self.records = Some(ctx.counter(&BATCHES, &[])?);
        for (_, bytes) in ctx.restored_state() {
            self.total += bincode::deserialize::<u64>(bytes)?;
        }
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<u64>, out: &mut Output<u64>) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.checkpointed && !FAILED.swap(true, SeqCst) {
            return Err(Error::Task("injected failure after a checkpoint".into()));
        }
        self.records
            .as_ref()
            .expect("opened")
            .add(batch.len() as u64);
        for n in batch {
            self.total += n;
            out.emit(self.total)?;
        }
        Ok(())
    }
    fn snapshot_state(&mut self, _: u64) -> Result<Vec<u8>> {
        Ok(bincode::serialize(&self.total)?)
    }
    fn notify_checkpoint_complete(&mut self, _: u64) -> Result<()> {
        self.checkpointed = true;
        CHECKPOINTED.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A plain `Operator` keeps state of its own through a failure: the restart
/// restores the running total it checkpointed, and the exactly-once output
/// holds each prefix sum of 1..=20 000 once. Its own counter reaches
/// Prometheus' text with at least every record.
#[test]
fn a_plain_operator_restores_its_own_state_and_counts_in_its_own_metric() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let env = StreamEnv::new("running-total");
    let totals = env
        .source(move || {
            Box::new(HeldBack(Numbers {
                next: 1,
                to: TOTAL_TO + 1,
            }))
        })
        .name("numbers")
        .uid("numbers")
        .parallelism(1)
        .transform(|| Box::new(RunningTotal::default()))
        .name("total")
        .uid("total")
        .parallelism(1);
    let sink_dir = out.clone();
    totals
        .sink(move || {
            Box::new(tidemark::sink::file::FileSink::new(
                sink_dir.clone(),
                Arc::new(|t: &u64, s: &mut String| s.push_str(&t.to_string())),
            ))
        })
        .name("file")
        .uid("sink")
        .parallelism(1);
    let ck = dir.path().join("ck").display().to_string();
    let config = Config::from_pairs(
        &[
            ("rest.enabled", "false"),
            ("metrics.reporter.prom.port", "0"),
            ("execution.checkpointing.interval", "50 ms"),
            ("execution.checkpointing.dir", ck.as_str()),
            ("restart-strategy.type", "fixed-delay"),
            ("restart-strategy.fixed-delay.delay", "10 ms"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let registry = tidemark_agent::Registry::with_options(config.registry);
    let _consumer = registry.register_consumer();
    tidemark_tests::assert_one_injected_restart(
        Job::new(env.build(&config).unwrap())
            .config(config)
            .registry(registry.clone())
            .status_interval(None)
            .run()
            .unwrap(),
    );
    let mut got: Vec<u64> = tidemark_tests::committed_lines(&out)
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = (1..=TOTAL_TO).map(|n| n * (n + 1) / 2).collect();
    assert_eq!(got.len(), want.len(), "one committed total per number");
    assert!(
        got == want,
        "the committed totals are not 1, 3, 6, … once each"
    );
    let text = tidemark_agent::encode::prometheus::encode(&registry.snapshot());
    let counted: f64 = text
        .lines()
        .filter(|l| l.starts_with("lib_total_records_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(counted >= TOTAL_TO as f64, "counted {counted}:\n{text}");
}
