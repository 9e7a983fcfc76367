//! Flink's RocksDB native metrics (`state.backend.rocksdb.metrics.*`, all
//! off by default) as the catalogue's `tidemark_rocksdb_*` series, so that
//! the state-backend dashboard reads a Flink job's RocksDB as it reads a
//! Tidemark job's.
//!
//! Flink reports a property per column family, which is a state, and a
//! statistics ticker per RocksDB instance, which is an operator; its REST
//! API names them `<operator>.<state>.rocksdb_estimate-num-keys` and
//! `<operator>.rocksdb_bytes_written` (the `.` of Flink's
//! `rocksdb.estimate-num-keys` becomes `_`; read on a Flink 2.3 cluster).
//! A property the catalogue keeps per state gets the `state` label; one it
//! keeps per subtask (compactions, stalls, the block cache: the instance's,
//! whatever the column family Flink reads it through) takes the largest
//! over the column families, and tickers are summed over a vertex's
//! operators. Flink's block cache hits and misses are totals over the block
//! kinds: their `block` label is empty, as a Flink source's backlog over
//! all its splits has an empty `partition`.

use super::rest::Aggregate;
use super::series::Accumulated;
use crate::catalogue::{self, Merge, MetricDef, MetricKind};
use crate::registry::{Gauge, Registry};
use std::collections::BTreeMap;

/// Flink's metric name after `rocksdb_`, and the catalogue metric it feeds.
const MAPPED: &[(&str, &MetricDef)] = &[
    ("estimate-num-keys", &catalogue::ROCKS_NUM_KEYS),
    ("estimate-live-data-size", &catalogue::ROCKS_LIVE_DATA),
    ("total-sst-files-size", &catalogue::ROCKS_SST_SIZE),
    ("cur-size-all-mem-tables", &catalogue::ROCKS_MEMTABLES),
    ("num-immutable-mem-table", &catalogue::ROCKS_IMMUTABLE),
    (
        "estimate-pending-compaction-bytes",
        &catalogue::ROCKS_PENDING_COMPACTION,
    ),
    (
        "num-running-compactions",
        &catalogue::ROCKS_RUNNING_COMPACTIONS,
    ),
    ("num-running-flushes", &catalogue::ROCKS_RUNNING_FLUSHES),
    (
        "actual-delayed-write-rate",
        &catalogue::ROCKS_DELAYED_WRITE_RATE,
    ),
    ("is-write-stopped", &catalogue::ROCKS_WRITE_STOPPED),
    ("background-errors", &catalogue::ROCKS_BACKGROUND_ERRORS),
    ("block-cache-usage", &catalogue::ROCKS_CACHE_USAGE),
    ("block-cache-capacity", &catalogue::ROCKS_CACHE_CAPACITY),
    ("block-cache-pinned-usage", &catalogue::ROCKS_CACHE_PINNED),
    ("block_cache_hit", &catalogue::ROCKS_CACHE_HIT),
    ("block_cache_miss", &catalogue::ROCKS_CACHE_MISS),
    ("bytes_read", &catalogue::ROCKS_BYTES_READ),
    ("bytes_written", &catalogue::ROCKS_BYTES_WRITTEN),
    ("stall_micros", &catalogue::ROCKS_STALL),
    ("compact_read_bytes", &catalogue::ROCKS_COMPACTION_READ),
    ("compact_write_bytes", &catalogue::ROCKS_COMPACTION_WRITTEN),
];

/// The catalogue metric a listed Flink metric name feeds, and the state
/// (column family) it names, if it is one of [`MAPPED`]. The state is the
/// last dot-separated part before `.rocksdb_`: Flink's operator names in
/// metric ids may hold dots, its state names rarely do.
fn parse(name: &str) -> Option<(&'static MetricDef, &str)> {
    let (prefix, metric) = name.rsplit_once(".rocksdb_")?;
    let def = MAPPED.iter().find(|(m, _)| *m == metric)?.1;
    let state = prefix.rsplit_once('.').map(|(_, s)| s).unwrap_or("");
    Some((def, state))
}

/// Whether `name` is a RocksDB native metric the agent maps.
pub(super) fn mapped(name: &str) -> bool {
    parse(name).is_some()
}

/// How one catalogue series is fed.
enum Target {
    Gauge(Gauge),
    Counter(Accumulated),
}

/// One catalogue series and the Flink metrics it combines.
struct Fed {
    def: &'static MetricDef,
    names: Vec<String>,
    target: Target,
}

/// A subtask's (or a vertex's) RocksDB series.
#[derive(Default)]
pub(super) struct RocksSeries {
    fed: Vec<Fed>,
}

impl RocksSeries {
    /// The series the listed `names` feed, for the task labelled `task`
    /// (`job_name`, `job_id`, `vertex`, `subtask`).
    pub(super) fn register(registry: &Registry, task: [&str; 4], names: &[String]) -> Self {
        let mut by_series: BTreeMap<(&'static str, String), Fed> = BTreeMap::new();
        for name in names {
            let Some((def, state)) = parse(name) else {
                continue;
            };
            // The fifth label, where the metric has one: the state, or
            // (the block kind) empty.
            let fifth = match def.labels.last() == Some(&crate::labels::STATE) {
                true => state,
                false => "",
            };
            let key = (def.name, fifth.to_string());
            if let Some(fed) = by_series.get_mut(&key) {
                fed.names.push(name.clone());
                continue;
            }
            let five = [task[0], task[1], task[2], task[3], fifth];
            let labels: &[&str] = match def.labels.len() {
                5 => &five,
                _ => &task,
            };
            let target = match def.kind {
                MetricKind::Counter => registry
                    .counter(def, labels)
                    .ok()
                    .map(|c| Target::Counter(Accumulated::new(c, 1.0))),
                _ => registry.gauge(def, labels).ok().map(Target::Gauge),
            };
            if let Some(target) = target {
                let names = vec![name.clone()];
                by_series.insert(key, Fed { def, names, target });
            }
        }
        Self {
            fed: by_series.into_values().collect(),
        }
    }

    /// Feeds the series from one read: over subtasks, a gauge the catalogue
    /// merges by sum is summed and one it merges by max is the largest;
    /// over the Flink metrics a series combines, tickers and per-state
    /// properties are summed and an instance's properties are the largest.
    pub(super) fn update(&mut self, m: &BTreeMap<String, Aggregate>) {
        for fed in &mut self.fed {
            let over_subtasks = |a: &Aggregate| match fed.def.merge {
                Merge::Max => a.max,
                _ => a.sum,
            };
            let values = fed.names.iter().filter_map(|n| m.get(n)).map(over_subtasks);
            let per_instance = fed.def.labels.last() != Some(&crate::labels::STATE)
                && fed.def.kind == MetricKind::Gauge;
            let value = match per_instance {
                true => values.reduce(f64::max),
                false => values.reduce(|a, b| a + b),
            };
            let Some(x) = value else { continue };
            match &mut fed.target {
                Target::Gauge(g) => g.set(x.round() as i64),
                Target::Counter(c) => c.update(x),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_names_its_state_and_a_ticker_its_operator() {
        let (def, state) = parse("count._op_state.rocksdb_estimate-num-keys").unwrap();
        assert_eq!(
            (def.name, state),
            (catalogue::ROCKS_NUM_KEYS.name, "_op_state")
        );
        let (def, _) = parse("count.rocksdb_bytes_written").unwrap();
        assert_eq!(def.name, catalogue::ROCKS_BYTES_WRITTEN.name);
        assert!(parse("count.rocksdb_num-snapshots").is_none());
        assert!(parse("numRecordsIn").is_none());
    }
}
