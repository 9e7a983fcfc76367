//! The Kafka source as README.md and `examples/kafka-count.yaml` state it,
//! through the commands a user types, against a real Kafka-protocol broker
//! (tansu 0.6.0; Apache Kafka is in no registry reachable here): the example
//! counts what was produced and resumes where it stopped; killed with
//! SIGKILL again and again while records arrive, it writes every running
//! count exactly once; a savepoint restored at another parallelism hands the
//! partitions to their new owners; a topic created mid-run is discovered and
//! read. The oracle is what the test produced.
//!
//! tansu reads nothing from an offset inside a batch of several records, so
//! the test producers send one record per batch (`batch.num.messages=1`).

use std::path::Path;
use std::time::Duration;
use tidemark_tests::servers::{curl, kafka, Kafka};
use tidemark_tests::stream_jobs::*;
use tidemark_tests::*;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("examples/kafka-count.yaml")
        .display()
        .to_string()
}

/// `tidemark produce --topic` arguments for `broker`, one record per batch.
fn to_topic<'a>(broker: &'a Kafka, topic: &'a str, partitions: &'a str) -> Vec<&'a str> {
    vec![
        "--topic",
        topic,
        "--partitions",
        partitions,
        "--bootstrap-servers",
        &broker.bootstrap,
        "--property",
        "batch.num.messages=1",
    ]
}

/// `tidemark run examples/kafka-count.yaml --restore latest` against
/// `broker`, with `extra` arguments.
fn run_args<S: AsRef<str>>(broker: &Kafka, extra: &[S]) -> Vec<String> {
    let mut args: Vec<String> = ["run", &example(), "--restore", "latest"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend([
        "--set".into(),
        format!("params.bootstrap-servers={}", broker.bootstrap),
    ]);
    args.extend(extra.iter().map(|s| s.as_ref().to_string()));
    args
}

const QUIET: [&str; 4] = [
    "--status-interval",
    "0",
    "--set",
    "metrics.reporter.prom.port=0",
];

#[test]
fn the_readme_example_counts_what_was_produced_and_resumes_where_it_stopped() {
    let broker = kafka();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topic = to_topic(&broker, "events", "3");
    let err = produce_stdin(d, &topic, "alice\nbob\nalice\n");
    assert!(err.contains("published 3 messages"), "{err}");
    let args = run_args(&broker, &QUIET);
    let lines = stop_at(start(d, &args), &d.join("out"), 3);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1"]);
    // Produced while the job is down: the same command reads them next.
    produce_stdin(d, &topic, "bob\ncarol\n");
    let lines = stop_at(start(d, &args), &d.join("out"), 5);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1", "bob,2", "carol,1"]);
    // The final checkpoint's offsets were committed to the job's consumer
    // group: together they are past the 5 records.
    assert_eq!(committed(&broker, "tidemark-kafka-count", "events", 3), 5);
}

/// The sum over partitions `0..partitions` of `topic` of the offsets `group`
/// committed.
fn committed(broker: &Kafka, group: &str, topic: &str, partitions: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// The SIGKILL loop ([`kill_loop`]) on the example, over 3 partitions,
/// with `settings` (`--set` values) added.
fn kafka_kill_loop(
    settings: &[&str],
    rounds: u64,
    check: impl FnOnce(&Kafka, &Path, &std::collections::HashMap<u64, u64>),
) {
    let broker = kafka();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The topics exist before the job lists their partitions.
    produce_stdin(d, &to_topic(&broker, "events", "3"), "");
    produce_stdin(d, &to_topic(&broker, "counts", "1"), "");
    let mut extra: Vec<String> = QUIET.iter().map(|s| s.to_string()).collect();
    extra.extend(sets(&[
        "execution.checkpointing.interval=200 ms",
        "restart-strategy.type=none",
        // Partitions listed only at start.
        "params.partition-discovery-interval=0",
    ]));
    extra.extend(sets(settings));
    let mut produce = to_topic(&broker, "events", "3");
    produce.extend(["--rate", "5000"]);
    kill_loop(
        d,
        &run_args(&broker, &extra),
        &produce,
        (rounds, 3_000),
        &["--set", "params.bounded=true"],
        |want| check(&broker, d, want),
    );
}

#[test]
fn killed_again_and_again_the_example_writes_every_count_once() {
    kafka_kill_loop(&[], 5, |_, d, want| {
        assert_running_counts(&committed_lines(&d.join("out")), want)
    });
}

/// The same loop into a Kafka topic (`sink: kafka`, at least once): every
/// running count reaches the topic, some perhaps twice, none lost.
#[test]
fn killed_again_and_again_the_kafka_sink_loses_nothing() {
    kafka_kill_loop(
        &["params.sink=kafka", "params.sink-topic=counts"],
        4,
        |broker, _, want| {
            let total: u64 = want.values().sum();
            let lines = read_topic(broker, "counts", total as usize);
            assert_running_counts_at_least_once(&lines, want);
        },
    );
}

/// Every record of partition 0 of `topic` from its start, once at least
/// `n` have arrived.
fn read_topic(broker: &Kafka, topic: &str, n: usize) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut lines = Vec::new();
    wait_for(
        &format!("{n} records in {topic}"),
        Duration::from_secs(60),
        || {
            while let Some(m) = c.poll(Duration::from_millis(100)) {
                let m = m.unwrap();
                lines.push(String::from_utf8(m.payload().unwrap_or(&[]).to_vec()).unwrap());
            }
            (lines.len() >= n).then_some(())
        },
    );
    lines
}

/// A savepoint taken at parallelism 2 and restored at 3
/// ([`rescale_through_savepoint`]): each of 5 partitions is read on by its
/// owner under Flink's rule, from the offset the savepoint holds.
#[test]
fn a_savepoint_restored_at_another_parallelism_reassigns_partitions_exactly() {
    let broker = kafka();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topic = to_topic(&broker, "events", "5");
    rescale_through_savepoint(
        d,
        &example(),
        &[format!("params.bootstrap-servers={}", broker.bootstrap)],
        |range| {
            produce_stdin(d, &topic, &key_lines(range));
        },
    );
}

/// With a topic pattern and a 1 s discovery interval, a topic created while
/// the job runs is read from its start; its partition's lag is published.
#[test]
fn a_topic_created_mid_run_is_discovered_and_read() {
    let broker = kafka();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    produce_stdin(d, &to_topic(&broker, "events-a", "2"), &key_lines(0..300));
    let mut extra = QUIET.to_vec();
    extra.extend([
        "--set",
        "params.topics=",
        "--set",
        "params.topic-pattern=events-.*",
        "--set",
        "params.partition-discovery-interval=1 s",
    ]);
    let r = start(d, &run_args(&broker, &extra));
    let metrics = r.metrics_addr();
    wait_for_or(
        "300 committed lines",
        Duration::from_secs(60),
        || (committed_lines(&d.join("out")).len() >= 300).then_some(()),
        || r.stderr(),
    );
    produce_stdin(d, &to_topic(&broker, "events-b", "1"), &key_lines(300..450));
    r.wait_stderr("reading new partition events-b-0", Duration::from_secs(60));
    wait_for_or(
        "events-b-0 read to its end, as its lag says",
        Duration::from_secs(60),
        || {
            let (_, body) = curl(&[&format!("http://{metrics}/metrics")]);
            body.lines()
                .any(|l| {
                    l.starts_with("tidemark_source_pending_records{")
                        && l.contains("partition=\"events-b-0\"")
                        && l.ends_with(" 0")
                })
                .then_some(())
        },
        || r.stderr(),
    );
    let lines = stop_at(r, &d.join("out"), 450);
    assert_running_counts(&lines, &key_counts(450));
}
