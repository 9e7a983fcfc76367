//! The NATS JetStream source against a real server (Debian's nats-server,
//! started by the test): subjects as partitions, positions in checkpoints,
//! an exact result after a failure. The oracle is what the test published.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tidemark::pipelines::RunningCount;
use tidemark::prelude::*;
use tidemark::sink::file::FileSink;
use tidemark::source::jetstream::{JetStreamConfig, JetStreamMessage, JetStreamSource};
use tidemark_tests::servers::nats;
use tidemark_tests::{committed_lines, completed_checkpoints, wait_for};

const SUBJECTS: usize = 4;
const MESSAGES: u64 = 20_000;
const KEYS: u64 = 50;

/// The key of message `i` (a fixed pseudo-random sequence).
fn key_of(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % KEYS
}

/// A runtime for the test's own client.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Creates stream `events` (subjects `events.*`).
fn create_stream(url: &str) {
    create(url, "events", "events.*");
}

/// Creates stream `name` holding `subjects`.
fn create(url: &str, name: &str, subjects: &str) {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    });
}

/// How many messages stream `name` holds.
fn stored(url: &str, name: &str) -> u64 {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        let mut stream = js.get_stream(name).await.unwrap();
        stream.info().await.unwrap().state.messages
    })
}

/// Publishes messages `range` (message `i`: its key as text, on subject
/// `events.{i % SUBJECTS}`), each acknowledged by the server.
fn publish(url: &str, range: std::ops::Range<u64>) {
    publish_to(url, "events", SUBJECTS as u64, range);
}

/// Publishes message `i` of `range` on `{prefix}.{i % subjects}`.
fn publish_to(url: &str, prefix: &str, subjects: u64, range: std::ops::Range<u64>) {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        let mut acks = Vec::new();
        for i in range {
            let subject = format!("{prefix}.{}", i % subjects);
            acks.push(
                js.publish(subject, key_of(i).to_string().into())
                    .await
                    .unwrap(),
            );
            if acks.len() == 1000 {
                for a in acks.drain(..) {
                    a.await.unwrap();
                }
            }
        }
        for a in acks {
            a.await.unwrap();
        }
    });
}

/// Passes records on; fails once per process (`failed`), on its first batch
/// after a checkpoint completed, so the restart has a checkpoint to resume from.
struct FailAfterCheckpoint {
    failed: &'static AtomicBool,
    checkpointed: bool,
}

impl FailAfterCheckpoint {
    fn new(failed: &'static AtomicBool) -> Self {
        Self {
            failed,
            checkpointed: false,
        }
    }
}

impl Operator<u64, u64> for FailAfterCheckpoint {
    fn process_batch(&mut self, batch: Vec<u64>, out: &mut Output<u64>) -> tidemark::Result<()> {
        if self.checkpointed && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(Error::Task("injected failure".into()));
        }
        for k in batch {
            out.emit(k)?;
        }
        Ok(())
    }
    fn notify_checkpoint_complete(&mut self, _: u64) -> tidemark::Result<()> {
        self.checkpointed = true;
        Ok(())
    }
}

/// JetStream (keys as text) → fails once after a checkpoint (`failed`) →
/// the running count of each key.
fn counts(
    env: &StreamEnv,
    cfg: JetStreamConfig,
    failed: &'static AtomicBool,
) -> DataStream<(u64, u64)> {
    env.source(move || {
        let parse = |m: &JetStreamMessage<'_>| -> tidemark::Result<u64> {
            std::str::from_utf8(m.payload)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| Error::Task(format!("message {} is not a key", m.sequence)))
        };
        Box::new(JetStreamSource::new(cfg.clone(), Arc::new(parse)))
    })
    .name("jetstream")
    .uid("jetstream")
    .transform(move || Box::new(FailAfterCheckpoint::new(failed)))
    .name("fail once")
    .uid("fail-once")
    .key_by(|k: &u64| *k)
    .process(RunningCount::<u64, u64>::default)
    .name("count")
    .uid("count")
}

static FAILED: AtomicBool = AtomicBool::new(false);

/// JetStream → keyed count → the exactly-once file sink, two subtasks
/// reading two subjects each. Half the messages are there at the start; the
/// rest come once a checkpoint completed, and the job fails on its next batch.
/// The restart resumes every subject from its checkpointed sequence: each
/// key's running counts are committed once each, none lost. The job is then
/// stopped as Ctrl-C stops it.
#[test]
fn jetstream_to_keyed_count_is_exact_through_a_failure() {
    let server = nats();
    create_stream(&server.url);
    publish(&server.url, 0..MESSAGES / 2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = JetStreamConfig {
        url: server.url.clone(),
        stream: "events".into(),
        subjects: (0..SUBJECTS).map(|s| format!("events.{s}")).collect(),
        bounded: false,
    };
    let env = StreamEnv::new("jetstream-count");
    let sink_dir = out.clone();
    counts(&env, cfg, &FAILED)
        .sink(move || {
            Box::new(FileSink::new(
                sink_dir.clone(),
                Arc::new(|(k, c): &(u64, u64), s: &mut String| s.push_str(&format!("{k},{c}"))),
            ))
        })
        .name("file")
        .uid("sink");
    let ck = dir.path().join("ck");
    let config = Config::from_pairs(
        &[
            ("parallelism.default", "2"),
            ("execution.checkpointing.interval", "50 ms"),
            ("execution.checkpointing.dir", &ck.display().to_string()),
            ("restart-strategy.type", "fixed-delay"),
            ("restart-strategy.fixed-delay.delay", "10 ms"),
            ("metrics.reporter.prom.port", "0"),
            ("rest.enabled", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let registry = tidemark_agent::Registry::with_options(config.registry);
    let _consumer = registry.register_consumer();
    let started = Job::new(env.build(&config).unwrap())
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .start()
        .unwrap();
    let stop = started.stop_handle().unwrap();
    let job = std::thread::spawn(move || started.wait());
    wait_for("a completed checkpoint", Duration::from_secs(60), || {
        (!completed_checkpoints(&ck).is_empty()).then_some(())
    });
    publish(&server.url, MESSAGES / 2..MESSAGES);
    wait_for(
        "a committed line per message",
        Duration::from_secs(60),
        || (committed_lines(&out).len() as u64 >= MESSAGES).then_some(()),
    );
    stop.stop();
    let outcome = job.join().unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Stopped { .. }), "{outcome:?}");
    assert!(FAILED.load(Ordering::SeqCst), "the failure was injected");
    // One restart, and it restored a checkpoint.
    let text = tidemark_agent::encode::prometheus::encode(&registry.snapshot());
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(value("tidemark_job_restarts_total"), 1.0, "{text}");
    assert_eq!(value("tidemark_checkpoint_restored_total"), 1.0, "{text}");

    let mut n: HashMap<u64, u64> = HashMap::new();
    for i in 0..MESSAGES {
        *n.entry(key_of(i)).or_default() += 1;
    }
    tidemark_tests::assert_running_counts(&committed_lines(&out), &n);
}

/// The value of every series of `name` in `registry`, by its `partition`.
fn by_partition(registry: &tidemark_agent::Registry, name: &str) -> HashMap<String, f64> {
    let text = tidemark_agent::encode::prometheus::encode(&registry.snapshot());
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| {
            let p = l
                .split("partition=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            Some((p, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// A job slower than its input: while it works through 20 000 messages
/// published before it started, each subject shows records pending (at most
/// what was published on it) and a lag in seconds; once it read everything,
/// nothing is pending and the lag is 0.
#[test]
fn source_lag_shows_the_backlog_and_falls_to_zero() {
    let server = nats();
    create_stream(&server.url);
    publish(&server.url, 0..MESSAGES);
    let cfg = JetStreamConfig {
        url: server.url.clone(),
        stream: "events".into(),
        subjects: (0..SUBJECTS).map(|s| format!("events.{s}")).collect(),
        bounded: true,
    };
    let env = StreamEnv::new("jetstream-lag");
    env.source(move || {
        Box::new(JetStreamSource::new(
            cfg.clone(),
            Arc::new(|m: &JetStreamMessage<'_>| Ok(m.sequence)),
        ))
    })
    .name("jetstream")
    .uid("jetstream")
    .sink(|| {
        // 200 µs a record: 4 s for what the source could read at once.
        Box::new(tidemark::sink::slow::SlowSink::new(
            Box::new(BlackholeSink),
            Duration::from_micros(200),
            None,
        ))
    })
    .name("slow")
    .uid("slow");
    let config = Config::from_pairs(
        &[
            ("parallelism.default", "1"),
            ("tidemark.runtime.batch-size", "100"),
            ("metrics.reporter.prom.port", "0"),
            ("rest.enabled", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let registry = tidemark_agent::Registry::with_options(config.registry);
    let _consumer = registry.register_consumer();
    let started = Job::new(env.build(&config).unwrap())
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .start()
        .unwrap();
    let job = std::thread::spawn(move || started.wait());
    let per_subject = MESSAGES / SUBJECTS as u64;
    let behind = wait_for(
        "records pending while the job works through its backlog",
        Duration::from_secs(60),
        || {
            let pending = by_partition(&registry, "tidemark_source_pending_records");
            let lag = by_partition(&registry, "tidemark_source_lag_seconds");
            (pending.values().any(|p| *p > 0.0) && !lag.is_empty()).then_some((pending, lag))
        },
    );
    for (subject, p) in &behind.0 {
        assert!(
            *p <= per_subject as f64,
            "{subject}: {p} pending of {per_subject}"
        );
    }
    assert!(behind.1.values().all(|l| *l >= 0.0), "{behind:?}");
    let outcome = job.join().unwrap().unwrap();
    assert!(
        matches!(outcome, Outcome::Finished { records, .. } if records == MESSAGES),
        "{outcome:?}"
    );
    let pending = by_partition(&registry, "tidemark_source_pending_records");
    assert_eq!(pending.len(), SUBJECTS, "{pending:?}");
    assert!(pending.values().all(|p| *p == 0.0), "{pending:?}");
    let lag = by_partition(&registry, "tidemark_source_lag_seconds");
    assert!(lag.values().all(|l| *l == 0.0), "{lag:?}");
}

static FAILED_SINK: AtomicBool = AtomicBool::new(false);

/// JetStream → keyed count → JetStream: half the input is there at the
/// start, the rest comes after a checkpoint completed, and the job fails on
/// its next batch. The output stream then holds every running count of
/// every key once (the restored checkpoint's records are published again,
/// and the server drops what it had), none lost.
#[test]
fn jetstream_to_jetstream_is_exact_through_a_failure() {
    let server = nats();
    create(&server.url, "input", "input.*");
    create(&server.url, "counts", "counts");
    publish_to(&server.url, "input", 2, 0..MESSAGES / 2);
    let cfg = JetStreamConfig {
        url: server.url.clone(),
        stream: "input".into(),
        subjects: vec!["input.0".into(), "input.1".into()],
        bounded: false,
    };
    let out = tidemark::sink::jetstream::JetStreamSinkConfig {
        url: server.url.clone(),
    };
    let env = StreamEnv::new("jetstream-to-jetstream");
    counts(&env, cfg, &FAILED_SINK)
        .sink(move || {
            Box::new(tidemark::sink::jetstream::JetStreamSink::new(
                out.clone(),
                Arc::new(|(k, c): &(u64, u64)| {
                    ("counts".to_string(), format!("{k},{c}").into_bytes())
                }),
            ))
        })
        .name("counts")
        .uid("counts");
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let config = Config::from_pairs(
        &[
            ("parallelism.default", "2"),
            ("execution.checkpointing.interval", "50 ms"),
            ("execution.checkpointing.dir", &ck.display().to_string()),
            ("restart-strategy.type", "fixed-delay"),
            ("restart-strategy.fixed-delay.delay", "10 ms"),
            ("tidemark.runtime.batch-size", "100"),
            ("metrics.reporter.prom.port", "0"),
            ("rest.enabled", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let started = Job::new(env.build(&config).unwrap())
        .config(config)
        .status_interval(None)
        .start()
        .unwrap();
    let stop = started.stop_handle().unwrap();
    let job = std::thread::spawn(move || started.wait());
    // The rest comes once a checkpoint completed: the failure follows it.
    wait_for("a completed checkpoint", Duration::from_secs(60), || {
        (!completed_checkpoints(&ck).is_empty()).then_some(())
    });
    publish_to(&server.url, "input", 2, MESSAGES / 2..MESSAGES);
    wait_for(
        "a message in counts per input message",
        Duration::from_secs(60),
        || (stored(&server.url, "counts") >= MESSAGES).then_some(()),
    );
    stop.stop();
    let outcome = job.join().unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Stopped { .. }), "{outcome:?}");
    assert!(
        FAILED_SINK.load(Ordering::SeqCst),
        "the failure was injected"
    );
    let mut n: HashMap<u64, u64> = HashMap::new();
    for i in 0..MESSAGES {
        *n.entry(key_of(i)).or_default() += 1;
    }
    tidemark_tests::assert_running_counts(&server.messages("counts"), &n);
}

/// An order as the library decodes it: JSON into the user's serde type.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
struct Order {
    id: u64,
    amount: u64,
}

/// The library's message formats: JSON into a serde type, with the messages
/// that do not decode set aside (`OnError::SideOutput`) with their place and
/// problem, and counted. The oracle is what the test published: every good
/// order once, every bad message once at its subject and stream sequence.
#[test]
fn decode_reads_json_into_serde_types_and_sets_bad_messages_aside() {
    use tidemark::source::format::{self, BadRecord, OnError};
    let server = nats();
    create(&server.url, "orders", "orders.*");
    // Message i (stream sequence i + 1) on orders.{i % 2}; every 10th is bad.
    let payload = |i: u64| match i % 10 {
        3 => "not json".to_string(),
        7 => format!("{{\"id\":{i},\"amount\":\"lots\"}}"),
        _ => format!("{{\"id\":{i},\"amount\":{}}}", i * 3),
    };
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&server.url).await.unwrap());
        for i in 0..200u64 {
            js.publish(format!("orders.{}", i % 2), payload(i).into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (good_dir, bad_dir) = (dir.path().join("good"), dir.path().join("bad"));
    let cfg = JetStreamConfig {
        url: server.url.clone(),
        stream: "orders".into(),
        subjects: vec!["orders.0".into(), "orders.1".into()],
        bounded: true,
    };
    let env = StreamEnv::new("orders");
    let (orders, bad) = env
        .source(move || {
            Box::new(JetStreamSource::new(
                cfg.clone(),
                format::jetstream_records(None),
            ))
        })
        .uid("source")
        .decode(format::json::<Order>(), OnError::SideOutput)
        .name("decode")
        .uid("decode")
        .split();
    let d = good_dir.clone();
    orders
        .sink(move || {
            Box::new(FileSink::new(
                d.clone(),
                Arc::new(|o: &Order, s: &mut String| s.push_str(&format!("{},{}", o.id, o.amount))),
            ))
        })
        .uid("good");
    let d = bad_dir.clone();
    bad.sink(move || {
        Box::new(FileSink::new(
            d.clone(),
            Arc::new(|b: &BadRecord, s: &mut String| s.push_str(&b.to_json_line())),
        ))
    })
    .uid("bad");
    let ck = dir.path().join("ck");
    let config = Config::from_pairs(
        &[
            ("parallelism.default", "2"),
            ("execution.checkpointing.interval", "100 ms"),
            ("execution.checkpointing.dir", &ck.display().to_string()),
            ("metrics.reporter.prom.port", "0"),
            ("rest.enabled", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let registry = tidemark_agent::Registry::with_options(config.registry);
    let _consumer = registry.register_consumer();
    let outcome = Job::new(env.build(&config).unwrap())
        .config(config)
        .registry(registry.clone())
        .status_interval(None)
        .start()
        .unwrap()
        .wait()
        .unwrap();
    assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
    let mut good = committed_lines(&good_dir);
    good.sort();
    let mut want: Vec<String> = (0..200u64)
        .filter(|i| i % 10 != 3 && i % 10 != 7)
        .map(|i| format!("{i},{}", i * 3))
        .collect();
    want.sort();
    assert_eq!(good, want);
    let mut bad: Vec<BadRecord> = committed_lines(&bad_dir)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    bad.sort_by_key(|b| b.offset);
    let bad_ones: Vec<u64> = (0..200u64).filter(|i| i % 10 == 3 || i % 10 == 7).collect();
    assert_eq!(bad.len(), bad_ones.len(), "{bad:?}");
    for (b, i) in bad.iter().zip(&bad_ones) {
        assert_eq!(
            (b.partition.as_str(), b.offset, b.payload.as_str()),
            (
                format!("orders.{}", i % 2).as_str(),
                i + 1,
                payload(*i).as_str()
            )
        );
        let problem = if i % 10 == 3 {
            "expected ident"
        } else {
            "invalid type"
        };
        assert!(
            b.problem.contains("not JSON of") && b.problem.contains(problem),
            "{b:?}"
        );
    }
    let text = tidemark_agent::encode::prometheus::encode(&registry.snapshot());
    let errors: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("tidemark_task_records_in_errors_total{")
                && l.contains("vertex=\"decode\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(errors, bad_ones.len() as f64, "{text}");
}
