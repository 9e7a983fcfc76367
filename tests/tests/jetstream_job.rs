//! The JetStream job as README.md and `examples/jetstream-count.yaml` state
//! it, through the commands a user types (`tidemark produce`, `tidemark run
//! … --restore latest`), against a real nats-server: the example counts what
//! was produced and resumes where it stopped; killed with SIGKILL again and
//! again while messages arrive, it writes every running count exactly once,
//! into part files or into another JetStream stream. The oracle is what the
//! test produced.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tidemark_tests::servers::{nats, Nats};
use tidemark_tests::*;

const KEYS: u64 = 40;
const ROUNDS: u64 = 6;
const CHUNK: u64 = 6_000;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("examples/jetstream-count.yaml")
        .display()
        .to_string()
}

/// The key of line `i` (a fixed pseudo-random sequence).
fn key_of(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % KEYS
}

/// `tidemark produce` into the example's stream and subjects, `input` on
/// its standard input; returns its stderr after checking it succeeded.
fn produce_stdin(d: &Path, server: &Nats, stream: &str, subjects: &str, input: &str) -> String {
    let mut child = Command::new(bin())
        .args([
            "produce",
            "--url",
            &server.url,
            "--stream",
            stream,
            "--subjects",
            subjects,
        ])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tidemark produce failed: {err}");
    err
}

/// `tidemark run examples/jetstream-count.yaml --restore latest` against
/// `server`, with `extra` settings.
fn run_args(server: &Nats, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", &example(), "--restore", "latest"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--set".into(), format!("params.url={}", server.url)]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn start(d: &Path, args: &[String]) -> Running {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start(d, &args)
}

/// Waits for `n` committed lines under `out`, then stops the job with
/// Ctrl-C (exit 0) and returns the lines, sorted.
fn stop_at(r: Running, out: &Path, n: usize) -> Vec<String> {
    wait_for(
        &format!("{n} committed lines"),
        Duration::from_secs(60),
        || (committed_lines(out).len() >= n).then_some(()),
    );
    r.signal("-INT");
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    let mut lines = committed_lines(out);
    lines.sort();
    lines
}

#[test]
fn the_readme_example_counts_what_was_produced_and_resumes_where_it_stopped() {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let subjects = "events.0,events.1";
    let err = produce_stdin(d, &server, "events", subjects, "alice\nbob\nalice\n");
    assert!(err.contains("published 3 messages"), "{err}");
    let args = run_args(&server, &[]);
    let lines = stop_at(start(d, &args), &d.join("out"), 3);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1"]);
    // Published while the job is down: the same command reads them next,
    // counting on from the state it stopped with.
    produce_stdin(d, &server, "events", subjects, "bob\ncarol\n");
    let r = start(d, &args);
    let lines = stop_at(r, &d.join("out"), 5);
    assert_eq!(lines, ["alice,1", "alice,2", "bob,1", "bob,2", "carol,1"]);
}

/// Where the kill loop's job writes its counts.
#[derive(Clone, Copy)]
enum Output {
    Files,
    JetStream,
}

#[test]
fn killed_again_and_again_the_example_writes_every_count_once_to_files() {
    kill_loop(Output::Files);
}

#[test]
fn killed_again_and_again_the_example_writes_every_count_once_to_jetstream() {
    kill_loop(Output::JetStream);
}

/// Produces `ROUNDS` chunks of lines, each while a run of the job reads
/// them; kills every run with SIGKILL after a checkpoint completed in it;
/// then reads the rest with `params.bounded=true` to the end, and checks
/// the counts against what was produced.
fn kill_loop(output: Output) {
    let server = nats();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut extra = vec![
        "--status-interval",
        "0",
        "--set",
        "execution.checkpointing.interval=200 ms",
        "--set",
        "restart-strategy.type=none",
        "--set",
        "metrics.reporter.prom.port=0",
    ];
    // An empty input creates a stream: the job's source needs it to start.
    produce_stdin(d, &server, "events", "events.0,events.1", "");
    if let Output::JetStream = output {
        // And the stream the sink publishes to.
        produce_stdin(d, &server, "counts", "counts", "");
        extra.extend([
            "--set",
            "params.sink=jetstream",
            "--set",
            "params.sink-subject=counts",
        ]);
    }
    let args = run_args(&server, &extra);
    let ck = d.join("ck");
    let mut logs = String::new();
    for round in 0..ROUNDS {
        let chunk: String = (round * CHUNK..(round + 1) * CHUNK)
            .map(|i| format!("{}\n", key_of(i)))
            .collect();
        let file = write_file(d, &format!("chunk-{round}.txt"), &chunk);
        let before = newest_completed(&ck);
        let job = start(d, &args);
        let producer = Running::start(
            d,
            &[
                "produce",
                "--url",
                &server.url,
                "--stream",
                "events",
                "--subjects",
                "events.0,events.1",
                "--rate",
                "10000",
                &file,
            ],
        );
        wait_for_or(
            "a checkpoint completed in this run",
            Duration::from_secs(60),
            || (newest_completed(&ck) > before).then_some(()),
            || {
                format!(
                    "the job:\n{}\nthe producer:\n{}",
                    job.stderr(),
                    producer.stderr()
                )
            },
        );
        // Anywhere in the next checkpoint interval or so.
        std::thread::sleep(Duration::from_millis(random_below(300)));
        logs.push_str(&job.stderr());
        job.kill();
        let (code, err) = producer.wait(Duration::from_secs(120));
        assert_eq!(code, 0, "tidemark produce: {err}");
    }
    assert!(
        logs.matches("restoring job 'jetstream-count'").count() as u64 >= ROUNDS - 1,
        "the runs after the first did not restore:\n{logs}"
    );
    let mut final_args = args.clone();
    final_args.extend(["--set".into(), "params.bounded=true".into()]);
    let (code, err) = start(d, &final_args).wait(Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    let mut want: HashMap<u64, u64> = HashMap::new();
    for i in 0..ROUNDS * CHUNK {
        *want.entry(key_of(i)).or_default() += 1;
    }
    let lines = match output {
        Output::Files => committed_lines(&d.join("out")),
        Output::JetStream => server.messages("counts"),
    };
    assert_running_counts(&lines, &want);
}
