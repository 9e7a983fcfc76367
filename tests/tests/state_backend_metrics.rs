//! What a RocksDB state shows on the job's own `/metrics` with the statistics
//! tickers on (`docs/state-backend.md`): lookups RocksDB served, block-cache
//! hits and misses by block kind (data, index, filter), SST bytes read, and
//! the lookup latency (always on). These tell a state that has outgrown its
//! memory, and why.

use std::time::Duration;
use tidemark_tests::*;

fn has(body: &str, family: &str, label: &str) -> bool {
    body.lines()
        .any(|l| l.starts_with(&format!("{family}{{")) && l.contains(label))
}

fn job(keys: u64, budget: &str, write_back: &str) -> String {
    format!(
        "name: state-metrics
pipeline: keyed-count
params: {{ keys: {keys}, events: 0, sink: blackhole }}
config:
  state.backend.type: rocksdb
  state.backend.rocksdb.localdir: ./rocks
  taskmanager.memory.managed.size: {budget}
  state.backend.rocksdb.write-back-cache.size: {write_back}
  state.backend.rocksdb.statistics.level: TICKERS
  execution.checkpointing.interval: 200 ms
  execution.checkpointing.incremental: true
  execution.checkpointing.dir: ./ck
  metrics.reporter.prom.port: 0
"
    )
}

/// 400 k keys of 18 bytes each (2-byte key group, 8-byte key, 8-byte count)
/// are 7.2 MB of state against a 4 MiB budget (a 3.3 MB cache that memtables
/// are charged to) and a 256 KiB write-back cache: lookups must go to RocksDB
/// and some of its data blocks must come from files.
#[test]
fn a_state_beyond_the_cache_names_its_misses_by_block_kind() {
    const KEYS: u64 = 400_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write_file(d, "big.yaml", &job(KEYS, "4mb", "256kb"));
    let r = Running::start(d, &["run", &file, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let count = "vertex=\"count\"";
    let body = wait_for_or(
        "every key counted twice, two checkpoints, and data blocks missing the cache",
        Duration::from_secs(120),
        || {
            let b = scrape(&addr);
            (metric_sum(&b, "tidemark_task_records_in_total", &[count]) >= 2.0 * KEYS as f64
                && metric_sum(&b, "tidemark_checkpoint_completed_total", &[]) >= 2.0
                && metric_sum(
                    &b,
                    "tidemark_rocksdb_block_cache_misses_total",
                    &[count, "block=\"data\""],
                ) > 0.0)
                .then_some(b)
        },
        || r.stderr(),
    );
    for kind in ["data", "index", "filter"] {
        let label = format!("block=\"{kind}\"");
        for family in [
            "tidemark_rocksdb_block_cache_hits_total",
            "tidemark_rocksdb_block_cache_misses_total",
        ] {
            assert!(has(&body, family, &label), "{family}{{{label}}} missing");
        }
    }
    let lookups = metric_sum(&body, "tidemark_rocksdb_keys_read_total", &[count]);
    assert!(lookups > 0.0, "no lookup reached RocksDB");
    assert!(
        metric_sum(&body, "tidemark_rocksdb_file_read_bytes_total", &[count]) > 0.0,
        "data blocks missed the cache, yet nothing was read from SST files"
    );
    let timed = metric_sum(
        &body,
        "tidemark_rocksdb_get_duration_seconds_count",
        &[count],
    );
    assert!(timed > 0.0, "no lookup was timed");
    assert!(
        timed <= lookups,
        "{timed} lookups timed of {lookups} RocksDB served"
    );
    r.kill();
}

/// 1 000 keys fit the write-back cache: each key is read from RocksDB once,
/// when it is first seen (and found missing), and never again, however
/// many records and checkpoints follow. So the lookups RocksDB counts are
/// exactly the keys, which the generator fixes.
#[test]
fn a_state_that_fits_the_write_back_cache_is_read_from_rocksdb_once_per_key() {
    const KEYS: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write_file(d, "small.yaml", &job(KEYS, "64mb", "16mb"));
    let r = Running::start(d, &["run", &file, "--status-interval", "0"]);
    let addr = r.metrics_addr();
    let count = "vertex=\"count\"";
    let lookups = |b: &str| metric_sum(b, "tidemark_rocksdb_keys_read_total", &[count]);
    let first = wait_for_or(
        "every key read once",
        Duration::from_secs(60),
        || {
            let b = scrape(&addr);
            (lookups(&b) >= KEYS as f64).then_some(b)
        },
        || r.stderr(),
    );
    assert_eq!(lookups(&first), KEYS as f64, "{first}");
    // Much later: ten times the records and three more checkpoints.
    let seen = metric_sum(&first, "tidemark_task_records_in_total", &[count]);
    let done = metric_sum(&first, "tidemark_checkpoint_completed_total", &[]);
    let later = wait_for_or(
        "many more records and checkpoints",
        Duration::from_secs(60),
        || {
            let b = scrape(&addr);
            (metric_sum(&b, "tidemark_task_records_in_total", &[count]) >= 10.0 * seen.max(1e5)
                && metric_sum(&b, "tidemark_checkpoint_completed_total", &[]) >= done + 3.0)
                .then_some(b)
        },
        || r.stderr(),
    );
    assert_eq!(
        lookups(&later),
        KEYS as f64,
        "hot state was read from RocksDB again"
    );
    r.kill();
}
