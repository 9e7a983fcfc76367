//! Event time from a stream, as README.md and `examples/jetstream-windows.yaml`
//! state it: counts per key and tumbling window of the messages' own time,
//! with a watermark per partition. One source subtask reads two partitions
//! here, so a watermark over all its records would run ahead with the
//! faster partition and make the slower one's messages late (lost); the
//! per-partition watermark holds back instead. An empty partition holds
//! event time back until `idleness` says it is idle. The oracle is what the
//! test produced: each window's count from the produced events.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tidemark_tests::servers::{kafka, nats, Kafka, Nats};
use tidemark_tests::stream_jobs::*;
use tidemark_tests::*;

/// One produced click: a user and its event time (ms).
#[derive(Clone, Copy)]
struct Click {
    user: u64,
    ts: i64,
}

/// Clicks at `ts` for each `ts` in `times`, users taken in turn from `seed`.
fn clicks(times: impl Iterator<Item = i64>, seed: u64) -> Vec<Click> {
    times
        .enumerate()
        .map(|(i, ts)| Click {
            user: (seed + i as u64 * 7) % 5,
            ts,
        })
        .collect()
}

/// The JSON lines of `clicks`, as `tidemark produce` reads them.
fn lines(clicks: &[Click]) -> String {
    clicks
        .iter()
        .map(|c| format!("{{\"user\":\"u{}\",\"ts\":{}}}\n", c.user, c.ts))
        .collect()
}

/// The lines `user,start,end,count` of every 1 s window of `clicks` that ends
/// at or before `until` (ms).
fn windows(clicks: &[Click], until: i64) -> BTreeSet<String> {
    let mut counts = std::collections::BTreeMap::<(u64, i64), u64>::new();
    for c in clicks {
        *counts.entry((c.user, c.ts - c.ts % 1000)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|((_, start), _)| start + 1000 <= until)
        .map(|((user, start), n)| format!("u{user},{start},{},{n}", start + 1000))
        .collect()
}

/// Waits until the committed lines under `out` hold `want`, then checks they
/// hold nothing else.
fn expect_windows(r: &Running, out: &Path, want: &BTreeSet<String>) {
    let got = wait_for_or(
        &format!("{} window lines", want.len()),
        Duration::from_secs(60),
        || {
            let got: BTreeSet<String> = committed_lines(out).into_iter().collect();
            want.is_subset(&got).then_some(got)
        },
        || r.stderr(),
    );
    let extra: Vec<&String> = got.difference(want).collect();
    assert!(extra.is_empty(), "windows nobody asked for yet: {extra:?}");
}

/// Waits until `family{partition="split"}` on `metrics` is `want`.
fn wait_gauge(r: &Running, metrics: &str, family: &str, split: &str, want: f64) {
    let label = format!("partition=\"{split}\"");
    wait_for_or(
        &format!("{family}{{{label}}} = {want}"),
        Duration::from_secs(30),
        || ((metric_sum(&scrape(metrics), family, &[&label]) - want).abs() < 1e-6).then_some(()),
        || r.stderr(),
    );
}

/// `tidemark run examples/jetstream-windows.yaml --restore latest` against
/// `server`, with `sets` (`key=value`).
fn run_windows(d: &Path, server: &Nats, set: &[&str]) -> Running {
    let mut args: Vec<String> = [
        "run",
        &example("jetstream-windows.yaml"),
        "--restore",
        "latest",
    ]
    .map(String::from)
    .to_vec();
    args.extend(sets(&[format!("params.url={}", server.url)]));
    args.extend(sets(set));
    start(d, &args)
}

/// `tidemark produce` of `input` to `server`'s stream `clicks` on `subjects`.
fn publish(d: &Path, server: &Nats, subjects: &str, input: &str) {
    produce_stdin(
        d,
        &[
            "--url",
            &server.url,
            "--stream",
            "clicks",
            "--subjects",
            subjects,
        ],
        input,
    );
}

#[test]
fn the_readme_example_counts_clicks_per_second_of_event_time() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    publish(
        d,
        &server,
        "clicks.0,clicks.1",
        "{\"user\":\"alice\",\"ts\":1000}\n{\"user\":\"bob\",\"ts\":1500}\n{\"user\":\"alice\",\"ts\":2500}\n{\"user\":\"bob\",\"ts\":2500}\n",
    );
    let r = run_windows(d, &server, &[]);
    // Both subjects reached 2.5 s: window [1000, 2000) is complete, the
    // clicks at 2.5 s wait in [2000, 3000) for event time to pass 3 s on
    // both subjects (idleness does not close it: every subject is at 2.5 s).
    let want: BTreeSet<String> = ["alice,1000,2000,1", "bob,1000,2000,1"]
        .map(String::from)
        .into();
    expect_windows(&r, &d.join("out"), &want);
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_partition_read_ahead_makes_nothing_late_and_one_behind_holds_event_time_back() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    publish(d, &server, "clicks.0,clicks.1", "");
    // clicks.0 runs to 9.99 s of event time, clicks.1 only to 5 s.
    let ahead = clicks((0..1000).map(|i| i * 10), 0);
    let behind = clicks((0..=500).map(|i| i * 10), 3);
    publish(d, &server, "clicks.0", &lines(&ahead));
    publish(d, &server, "clicks.1", &lines(&behind));
    let r = run_windows(
        d,
        &server,
        &["params.idleness=0 ms", "params.source-parallelism=1"],
    );
    let metrics = r.metrics_addr();
    let out = d.join("out");
    let mut all = [ahead.clone(), behind.clone()].concat();
    expect_windows(&r, &out, &windows(&all, 5000));
    wait_gauge(
        &r,
        &metrics,
        "tidemark_source_partition_watermark_seconds",
        "clicks.0",
        9.989,
    );
    wait_gauge(
        &r,
        &metrics,
        "tidemark_source_partition_watermark_seconds",
        "clicks.1",
        4.999,
    );
    let bytes = lines(&all).len() - all.len(); // the newlines are not sent
    wait_for_or(
        &format!("{bytes} bytes read"),
        Duration::from_secs(30),
        || {
            (metric_sum(&scrape(&metrics), "tidemark_source_read_bytes_total", &[]) == bytes as f64)
                .then_some(())
        },
        || r.stderr(),
    );
    // The newest event time read is 9.99 s: that old, give or take the wait.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let lag = metric_sum(
        &scrape(&metrics),
        "tidemark_source_emit_event_time_lag_seconds",
        &[],
    );
    assert!(
        lag <= now && lag >= now - 9.99 - 120.0,
        "emit event-time lag {lag} s"
    );
    // clicks.1 catches up: its messages, behind clicks.0's, are on time.
    let caught_up = clicks((501..1000).map(|i| i * 10), 5);
    publish(d, &server, "clicks.1", &lines(&caught_up));
    all.extend(caught_up);
    expect_windows(&r, &out, &windows(&all, 9000));
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_empty_partition_stops_holding_event_time_back_once_idle_and_rejoins_on_time() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    publish(d, &server, "clicks.0,clicks.1", "");
    let first = clicks((0..1000).map(|i| i * 10), 0);
    publish(d, &server, "clicks.0", &lines(&first));
    let r = run_windows(
        d,
        &server,
        &["params.idleness=1 s", "params.source-parallelism=1"],
    );
    let metrics = r.metrics_addr();
    let out = d.join("out");
    // clicks.1 has nothing: idle after 1 s, event time follows clicks.0.
    expect_windows(&r, &out, &windows(&first, 9000));
    wait_gauge(
        &r,
        &metrics,
        "tidemark_source_partition_idle",
        "clicks.1",
        1.0,
    );
    // clicks.1 wakes with messages of the window still open, [9000, 10000),
    // and past it: they count, and time moves on with clicks.1 alone.
    let late_riser = clicks((900..1100).map(|i| i * 10), 2);
    publish(d, &server, "clicks.1", &lines(&late_riser));
    let all = [first, late_riser].concat();
    expect_windows(&r, &out, &windows(&all, 10_000));
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn kafka_partitions_have_watermarks_of_their_own() {
    let broker: Kafka = kafka();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Line i goes to partition i mod 2: partition 0's clicks run twice as far
    // in event time as partition 1's.
    let interleave = |p0: &[Click], p1: &[Click]| -> Vec<Click> {
        p0.iter().zip(p1).flat_map(|(a, b)| [*a, *b]).collect()
    };
    let produce = |input: &str| {
        produce_stdin(
            d,
            &[
                "--topic",
                "clicks",
                "--partitions",
                "2",
                "--bootstrap-servers",
                &broker.bootstrap,
                // tansu 0.6 answers fetches by whole batches (docs/connectors.md)
                "--property",
                "batch.num.messages=1",
            ],
            input,
        )
    };
    let first = interleave(
        &clicks((0..500).map(|i| i * 20), 0),
        &clicks((0..500).map(|i| i * 10), 1),
    );
    produce(&lines(&first));
    let mut args: Vec<String> = ["run", &example("kafka-count.yaml"), "--restore", "latest"]
        .map(String::from)
        .to_vec();
    args.extend(sets(&[
        format!("params.bootstrap-servers={}", broker.bootstrap),
        "params.topics=clicks".into(),
        "params.key-field=user".into(),
        "params.timestamp-field=ts".into(),
        "params.window=1 s".into(),
        "params.source-parallelism=1".into(),
    ]));
    let r = start(d, &args);
    let out = d.join("out");
    // Partition 1 reached 4.99 s: windows up to [3000, 4000) are complete.
    expect_windows(&r, &out, &windows(&first, 4000));
    let second = interleave(
        &clicks((500..1000).map(|i| i * 20), 2),
        &clicks((500..1000).map(|i| i * 10), 3),
    );
    produce(&lines(&second));
    let all = [first, second].concat();
    expect_windows(&r, &out, &windows(&all, 9000));
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
}
