//! Seconds-long smoke runs of the benchmark scripts (docs/benchmarks.md):
//! each runs end to end on a tiny workload and prints its rows. Nothing here
//! is timed; the figures themselves come from the full runs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tidemark_tests::bin;
use tidemark_tests::servers::free_port;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs `scripts/<script> args` with `env`, using the binary the tests built;
/// returns stdout, failing with both streams if the script fails.
/// The JSON line a benchmark script prints last.
fn json_row(out: &str) -> Value {
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON row in:\n{out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn run_script(script: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Command::new("bash")
        .arg(repo().join("scripts").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TIDEMARK_BIN", bin())
        .current_dir(repo())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A base port for `scripts/s3-server.sh`: it and the next four are free, and
/// so are the same five plus 10 000 (SeaweedFS's gRPC ports).
fn free_s3_base() -> u16 {
    loop {
        let p = free_port();
        if p > 50_000 {
            continue;
        }
        let all_free = (0..5).all(|i| {
            [p + i, p + i + 10_000]
                .iter()
                .all(|q| std::net::TcpListener::bind(("127.0.0.1", *q)).is_ok())
        });
        if all_free {
            return p;
        }
    }
}

#[test]
fn bench_observe_runs_the_three_modes_and_prints_their_ratios() {
    let out = run_script(
        "bench-observe.sh",
        &["1"],
        &[("EVENTS", "300000".to_string())],
    );
    for row in [
        "metrics off       median of 1:",
        "default metrics   median of 1:",
        "all exporters on  median of 1:",
        "C/A throughput:",
        "B/A throughput:",
    ] {
        assert!(out.contains(row), "no `{row}` in:\n{out}");
    }
}

#[test]
fn bench_state_sweep_prints_full_and_incremental_rows_with_both_restores() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-state.sh",
        &[],
        &[
            ("PHASES", "sweep".into()),
            ("SIZES", "2m".into()),
            ("MODES", "full,incremental".into()),
            ("CHECKPOINTS", "6".into()),
            ("INTERVAL_S", "1".into()),
            ("WORK", work.path().join("w").display().to_string()),
            ("S3_PORT", free_s3_base().to_string()),
        ],
    );
    let rows: Vec<Value> = out
        .lines()
        .filter_map(|l| l.strip_prefix("sweep: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for (row, mode) in rows.iter().zip(["full", "incremental"]) {
        assert_eq!(row["mode"], mode, "{row}");
        assert!(row["checkpoints"].as_u64().unwrap() >= 3, "{row}");
        let state = row["state_bytes"].as_f64().unwrap();
        let uploaded = row["uploaded_bytes"].as_f64().unwrap();
        assert!(state >= 1.8e6, "about 2 MB of state: {row}");
        if mode == "full" {
            assert_eq!(uploaded, state, "a full checkpoint uploads it all: {row}");
        } else {
            assert!(uploaded < state, "incremental uploads less: {row}");
        }
        for k in ["restore_local_ms", "restore_s3_ms", "peak_rss_bytes"] {
            assert!(row[k].is_u64(), "{k}: {row}");
        }
    }
}

#[test]
fn bench_flink_runs_flink_and_tidemark_and_prints_the_ratio() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-flink.sh",
        &["1"],
        &[
            ("BACKENDS", "hashmap".into()),
            // Paced: at least 0.4 s of Tidemark whatever the machine's speed
            // (unpaced, 100 k events took 5 ms and measured nothing).
            ("RECORDS", "200000".into()),
            ("TIDEMARK_RATE", "500000".into()),
            ("KEYS", "1000".into()),
            ("REST_PORT", free_port().to_string()),
            ("FLINK_WORK", work.path().display().to_string()),
        ],
    );
    for row in [
        "median flink    hashmap",
        "median tidemark hashmap",
        "ratio tidemark/flink hashmap",
    ] {
        assert!(out.contains(row), "no `{row}` in:\n{out}");
    }
}

#[test]
fn bench_sweep_measures_both_engines_over_equal_windows_and_prints_the_table() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-sweep.sh",
        &[],
        &[
            ("ROWS", "20k:8:uniform 5k:100:zipf".into()),
            ("CACHES", "on off".into()),
            ("WINDOW_S", "3".into()),
            ("REST_PORT", free_port().to_string()),
            ("SWEEP_WORK", work.path().display().to_string()),
        ],
    );
    let runs: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Per row: Flink once, Tidemark with its write-back cache on and off.
    assert_eq!(runs.len(), 6, "{out}");
    for r in &runs {
        assert!(r["records"].as_u64().unwrap() > 0, "{r}");
        assert!(r["window_s"].as_f64().unwrap() >= 3.0, "{r}");
        assert!(r["cores"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["checkpoints"].is_u64(), "{r}");
    }
    for (keys, value) in [(20_000, 8), (5_000, 100)] {
        for (engine, cache) in [("flink", "-"), ("tidemark", "on"), ("tidemark", "off")] {
            assert!(
                runs.iter().any(|r| r["keys"] == keys
                    && r["value_bytes"] == value
                    && r["engine"] == engine
                    && r["cache"] == cache),
                "no {engine} run (cache {cache}) of {keys} keys × {value} B in:\n{out}"
            );
        }
    }
    assert!(
        out.contains("ratio tidemark/flink 5,000 keys 100 B zipf cache off"),
        "{out}"
    );
}

#[test]
fn bench_capacity_compares_the_predicted_rate_with_the_reached_one() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-capacity.sh",
        &["1"],
        &[
            ("WORKLOADS", "heap-p1".to_string()),
            ("WINDOW_S", "10".to_string()),
            ("WORK", work.path().display().to_string()),
        ],
    );
    let row = json_row(&out);
    assert_eq!(row["workload"], "heap-p1", "{out}");
    // Both sides measured something, and the error is what they say.
    let (p, r) = (
        row["predicted"].as_f64().unwrap(),
        row["reached"].as_f64().unwrap(),
    );
    assert!(p > 0.0 && r > 0.0, "{out}");
    assert!(
        (row["error"].as_f64().unwrap() - (p / r - 1.0)).abs() < 1e-3,
        "{out}"
    );
}

#[test]
fn bench_profile_compares_the_rate_with_and_without_sampling() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-profile.sh",
        &["1"],
        &[
            ("WINDOW_S", "2".to_string()),
            ("WORK", work.path().display().to_string()),
        ],
    );
    let row = json_row(&out);
    // Both windows measured records, the profile sampled the busy vertex,
    // and the cost is what the rates say.
    let (a, b) = (
        row["without"].as_f64().unwrap(),
        row["with"].as_f64().unwrap(),
    );
    assert!(a > 0.0 && b > 0.0, "{out}");
    assert!(row["samples"].as_u64().unwrap() > 0, "{out}");
    let ratios: Vec<f64> = row["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert_eq!(ratios.len(), 1, "{out}");
    assert!((ratios[0] - b / a).abs() < 1e-3, "{out}");
    assert!(
        (row["cost"].as_f64().unwrap() - (1.0 - ratios[0])).abs() < 1e-3,
        "{out}"
    );
}

#[test]
fn bench_catchup_compares_the_predicted_catch_up_with_the_measured_one() {
    let work = tempfile::tempdir().unwrap();
    let out = run_script(
        "bench-catchup.sh",
        &["1"],
        &[
            ("WARM_S", "12".to_string()),
            ("DOWN_S", "3".to_string()),
            ("RATE", "10000".to_string()),
            ("INTERVAL_S", "2".to_string()),
            ("WORK", work.path().display().to_string()),
        ],
    );
    let row = json_row(&out);
    // A backlog formed and was worked off, both sides measured something,
    // and the error is what they say.
    let (p, m) = (
        row["predicted"].as_f64().unwrap(),
        row["measured"].as_f64().unwrap(),
    );
    assert!(p > 0.0 && m > 0.0, "{out}");
    assert!(row["headroom"].as_f64().unwrap() > 1.0, "{out}");
    assert!(
        (row["error"].as_f64().unwrap() - (p / m - 1.0)).abs() < 0.01,
        "{out}"
    );
}

#[test]
fn bench_flink_agent_counts_the_requests_a_poll_makes_against_the_formula() {
    // 4 vertices on 1 TaskManager: 2 + 1 + 2 + 4 requests per poll without
    // checkpoints.
    let out = run_script(
        "bench-flink-agent.sh",
        &[],
        &[
            ("VERTICES", "4".into()),
            ("PARALLELISM", "2".into()),
            ("INTERVAL", "1 s".into()),
            ("DURATION", "3".into()),
        ],
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("| 4 | 2 |"))
        .unwrap_or_else(|| panic!("no row in:\n{out}"));
    assert!(row.contains("| 9.0 (9) |"), "{row}");
    assert!(out.contains("failed requests: 0"), "{out}");
}
