//! RocksDB's native metrics as gauges and counters of the subtask that owns
//! the instance. A sampler thread reads the properties once a second (they
//! are cheap: RocksDB keeps them up to date) and the statistics tickers when a
//! statistics level is set, until the instance is closed. Lookup latency is
//! timed by the tables themselves (one single lookup in
//! [`cat::LOOKUP_SAMPLE`], and each batch's multi-get) into histograms this
//! file registers.

use super::{DbHandle, SharedDb};
use crate::metrics::TaskLabels;
use rocksdb::statistics::Ticker;
use std::sync::Weak;
use std::time::Duration;
use tidemark_agent::catalogue as cat;
use tidemark_agent::Registry;
use tidemark_agent::{Counter, Gauge, Histogram};

/// Where an instance's tables find their lookup-latency histograms.
pub struct LookupMetrics {
    registry: Registry,
    labels: TaskLabels,
}

impl LookupMetrics {
    /// The subtask's label values (job name, job id, vertex, subtask),
    /// then `more`.
    fn values<'a>(&'a self, sub: &'a str, more: Option<&'a str>) -> Vec<&'a str> {
        let mut vals = vec![
            self.labels.job_name.as_str(),
            self.labels.job_id.as_str(),
            self.labels.vertex.as_str(),
            sub,
        ];
        vals.extend(more);
        vals
    }

    /// The histogram of state (column family) `state`.
    pub fn histogram(&self, state: &str) -> Option<Histogram> {
        let sub = self.labels.subtask.to_string();
        self.registry
            .histogram(&cat::ROCKS_GET_DURATION, &self.values(&sub, Some(state)))
            .ok()
    }

    /// The subtask's state-time counter (`tidemark_task_state_seconds_total`),
    /// the series its task metrics read.
    pub fn state_time(&self) -> Option<Counter> {
        let sub = self.labels.subtask.to_string();
        self.registry
            .counter(&cat::TASK_STATE_TIME, &self.values(&sub, None))
            .ok()
    }
}

/// Block-cache tickers by block kind: `(kind, hit, miss)`.
const BLOCK_TICKERS: [(&str, Ticker, Ticker); 3] = [
    (
        "data",
        Ticker::BlockCacheDataHit,
        Ticker::BlockCacheDataMiss,
    ),
    (
        "index",
        Ticker::BlockCacheIndexHit,
        Ticker::BlockCacheIndexMiss,
    ),
    (
        "filter",
        Ticker::BlockCacheFilterHit,
        Ticker::BlockCacheFilterMiss,
    ),
];

struct PerState {
    name: String,
    gauges: Vec<(&'static str, Gauge)>,
}

/// Starts sampling `db` into `registry` under `labels`.
pub fn start(db: &SharedDb, registry: &Registry, labels: &TaskLabels, with_tickers: bool) {
    let _ = db.lookup_metrics.set(LookupMetrics {
        registry: registry.clone(),
        labels: labels.clone(),
    });
    let weak = std::sync::Arc::downgrade(db);
    let registry = registry.clone();
    let labels = labels.clone();
    let _ = std::thread::Builder::new()
        .name(format!(
            "rocksdb-metrics-{}-{}",
            labels.vertex, labels.subtask
        ))
        .spawn(move || sample_loop(weak, registry, labels, with_tickers));
}

fn sample_loop(weak: Weak<DbHandle>, registry: Registry, labels: TaskLabels, with_tickers: bool) {
    let sub = labels.subtask.to_string();
    let base = [
        labels.job_name.as_str(),
        labels.job_id.as_str(),
        labels.vertex.as_str(),
        sub.as_str(),
    ];
    let g = |def: &'static tidemark_agent::catalogue::MetricDef| registry.gauge(def, &base).ok();
    let c = |def: &'static tidemark_agent::catalogue::MetricDef| registry.counter(def, &base).ok();
    let db_gauges: Vec<(&'static str, Option<Gauge>)> = vec![
        (
            "rocksdb.num-running-compactions",
            g(&cat::ROCKS_RUNNING_COMPACTIONS),
        ),
        (
            "rocksdb.num-running-flushes",
            g(&cat::ROCKS_RUNNING_FLUSHES),
        ),
        (
            "rocksdb.actual-delayed-write-rate",
            g(&cat::ROCKS_DELAYED_WRITE_RATE),
        ),
        ("rocksdb.is-write-stopped", g(&cat::ROCKS_WRITE_STOPPED)),
        (
            "rocksdb.background-errors",
            g(&cat::ROCKS_BACKGROUND_ERRORS),
        ),
    ];
    let cache = (
        g(&cat::ROCKS_CACHE_USAGE),
        g(&cat::ROCKS_CACHE_CAPACITY),
        g(&cat::ROCKS_CACHE_PINNED),
    );
    let by_block = |def: &'static tidemark_agent::catalogue::MetricDef, kind: &str| {
        let mut vals = base.to_vec();
        vals.push(kind);
        registry.counter(def, &vals).ok()
    };
    // Each counter is the sum of its tickers: RocksDB keeps apart reads
    // from SST files of the last level and of the others, and keys read by
    // single lookups and by the multi-gets that prefetch a record batch.
    let tickers: Vec<(Counter, Vec<Ticker>)> = if with_tickers {
        let mut t = Vec::new();
        for (kind, hit, miss) in BLOCK_TICKERS {
            t.push((by_block(&cat::ROCKS_CACHE_HIT, kind), vec![hit]));
            t.push((by_block(&cat::ROCKS_CACHE_MISS, kind), vec![miss]));
        }
        t.extend([
            (
                c(&cat::ROCKS_CACHE_ADD_FAILURES),
                vec![Ticker::BlockCacheAddFailures],
            ),
            (c(&cat::ROCKS_BYTES_READ), vec![Ticker::BytesRead]),
            (c(&cat::ROCKS_BYTES_WRITTEN), vec![Ticker::BytesWritten]),
            (c(&cat::ROCKS_STALL), vec![Ticker::StallMicros]),
            (
                c(&cat::ROCKS_COMPACTION_READ),
                vec![Ticker::CompactReadBytes],
            ),
            (
                c(&cat::ROCKS_COMPACTION_WRITTEN),
                vec![Ticker::CompactWriteBytes],
            ),
            (
                c(&cat::ROCKS_FILE_READ),
                vec![Ticker::LastLevelReadBytes, Ticker::NonLastLevelReadBytes],
            ),
            (
                c(&cat::ROCKS_KEYS_READ),
                vec![Ticker::NumberKeysRead, Ticker::NumberMultigetKeysRead],
            ),
        ]);
        t.into_iter()
            .filter_map(|(counter, t)| counter.map(|counter| (counter, t)))
            .collect()
    } else {
        Vec::new()
    };
    let mut states: Vec<PerState> = Vec::new();
    loop {
        {
            let Some(h) = weak.upgrade() else { return };
            let db = h.db();
            for (prop, gauge) in &db_gauges {
                if let (Some(gauge), Ok(Some(v))) = (gauge, db.property_int_value(*prop)) {
                    gauge.set(v as i64);
                }
            }
            if let Some(b) = &h.budget {
                if let Some(x) = &cache.0 {
                    x.set(b.usage() as i64);
                }
                if let Some(x) = &cache.1 {
                    x.set(b.capacity() as i64);
                }
                if let Some(x) = &cache.2 {
                    x.set(b.pinned() as i64);
                }
            }
            for (counter, ts) in &tickers {
                let o = h.options();
                counter.set_total(ts.iter().map(|t| o.get_ticker_count(*t)).sum());
            }
            for name in h.tables() {
                if !states.iter().any(|s| s.name == name) {
                    let mut vals: Vec<&str> = base.to_vec();
                    vals.push(&name);
                    let gs = [
                        ("rocksdb.estimate-num-keys", &cat::ROCKS_NUM_KEYS),
                        ("rocksdb.estimate-live-data-size", &cat::ROCKS_LIVE_DATA),
                        ("rocksdb.total-sst-files-size", &cat::ROCKS_SST_SIZE),
                        ("rocksdb.cur-size-all-mem-tables", &cat::ROCKS_MEMTABLES),
                        ("rocksdb.num-immutable-mem-table", &cat::ROCKS_IMMUTABLE),
                        (
                            "rocksdb.estimate-pending-compaction-bytes",
                            &cat::ROCKS_PENDING_COMPACTION,
                        ),
                    ]
                    .into_iter()
                    .filter_map(|(p, d)| registry.gauge(d, &vals).ok().map(|g| (p, g)))
                    .collect();
                    states.push(PerState { name, gauges: gs });
                }
            }
            for s in &states {
                let Some(cf) = db.cf_handle(&s.name) else {
                    continue;
                };
                for (prop, gauge) in &s.gauges {
                    if let Ok(Some(v)) = db.property_int_value_cf(&cf, *prop) {
                        gauge.set(v as i64);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
