//! RocksDB settings from Flink's `state.backend.rocksdb.*` keys, and the one
//! memory budget that bounds block cache and write buffers together.
//!
//! As in Flink, the budget `M` is split so that memtables (charged to the
//! cache through a write-buffer manager) take at most `2/3 · M · ratio` and the
//! cache holds `(3 − ratio)/3 · M` in all, index and filter blocks included.
//! With `memory.managed` the budget is shared by every RocksDB instance of the
//! process; with `fixed-per-slot` each instance (one per stateful subtask) gets
//! its own.
//!
//! **Why the cache has few, large shards.** Inside a budget, index and
//! filter blocks live in the block cache. An SST file has one filter block of
//! about `bits-per-key / 8` bytes per key: 4 MB for a 3 M-key file. RocksDB
//! cuts a cache into shards of at least 512 KiB (64 shards of 3.3 MB for the
//! default budget's 213 MB), and a block larger than its shard cannot stay:
//! every lookup read and checksummed the whole filter block again, and keyed
//! count over 5 M keys fell from 385 k to 2.5 k records/s once compaction made
//! files that large. Shards of at least [`MIN_SHARD_BYTES`] hold any block a
//! 64 MB SST file has. `memory.partitioned-index-filters` cuts index and
//! filter blocks into small pieces instead; it costs a second index search per
//! lookup (1.6x slower on that job, `docs/benchmarks.md`), so it is off by
//! default, as in Flink: it is for budgets too small to hold whole filters.

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, DBCompactionStyle, Options, WriteBufferManager,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// `state.backend.rocksdb.predefined-options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// RocksDB's defaults, with Flink's tweaks (no WAL, one info log).
    #[default]
    Default,
    /// Fewer, larger files and more background work for spinning disks.
    SpinningDiskOptimized,
    /// As above with bigger memtables and blocks, for machines with memory to spare.
    SpinningDiskOptimizedHighMem,
    /// More background jobs, for SSDs.
    FlashSsdOptimized,
}

impl Profile {
    /// The accepted names.
    pub const NAMES: &'static [&'static str] = &[
        "DEFAULT",
        "SPINNING_DISK_OPTIMIZED",
        "SPINNING_DISK_OPTIMIZED_HIGH_MEM",
        "FLASH_SSD_OPTIMIZED",
    ];

    /// Parses a config value.
    pub fn parse(v: &str) -> Option<Self> {
        Some(match v.trim().to_ascii_uppercase().as_str() {
            "DEFAULT" => Self::Default,
            "SPINNING_DISK_OPTIMIZED" => Self::SpinningDiskOptimized,
            "SPINNING_DISK_OPTIMIZED_HIGH_MEM" => Self::SpinningDiskOptimizedHighMem,
            "FLASH_SSD_OPTIMIZED" => Self::FlashSsdOptimized,
            _ => return None,
        })
    }
}

/// `state.backend.rocksdb.statistics.level` (tickers cost a little per operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsLevel {
    /// No statistics object at all (the default: tickers cost 12 % of a
    /// keyed count whose state is beyond the cache, `docs/benchmarks.md`,
    /// far over the observability budget).
    #[default]
    Off,
    /// Tickers only: block-cache hits and misses by block kind, lookups,
    /// SST bytes read, stalls.
    Tickers,
    /// Tickers and histograms, no timers.
    Histograms,
    /// Everything but the mutex timers.
    All,
}

impl StatsLevel {
    /// The accepted names.
    pub const NAMES: &'static [&'static str] = &["OFF", "TICKERS", "HISTOGRAMS", "ALL"];

    /// Parses a config value.
    pub fn parse(v: &str) -> Option<Self> {
        Some(match v.trim().to_ascii_uppercase().as_str() {
            "OFF" | "DISABLE_ALL" => Self::Off,
            "TICKERS" | "EXCEPT_HISTOGRAM_OR_TIMERS" => Self::Tickers,
            "HISTOGRAMS" | "EXCEPT_TIMERS" => Self::Histograms,
            "ALL" | "EXCEPT_TIME_FOR_MUTEX" => Self::All,
            _ => return None,
        })
    }
}

/// Everything a RocksDB instance is opened with.
#[derive(Debug, Clone)]
pub struct RocksSettings {
    /// `state.backend.rocksdb.localdir`: working directories of the instances.
    pub local_dir: PathBuf,
    /// `state.backend.rocksdb.memory.managed`.
    pub managed: bool,
    /// `taskmanager.memory.managed.size`: the shared budget when managed.
    pub managed_size: u64,
    /// `state.backend.rocksdb.memory.fixed-per-slot`: a budget per instance.
    pub fixed_per_slot: Option<u64>,
    /// `state.backend.rocksdb.memory.write-buffer-ratio`.
    pub write_buffer_ratio: f64,
    /// `state.backend.rocksdb.memory.high-prio-pool-ratio`: accepted and
    /// validated, but RocksDB's C API (which the rocksdb crate wraps) creates
    /// every LRU cache with RocksDB's own high-priority pool of 0.5 and has no
    /// setter for it. Index and filter blocks are cached with high priority in
    /// that pool, and their top levels are pinned (see [`options`]).
    pub high_prio_ratio: f64,
    /// `state.backend.rocksdb.memory.partitioned-index-filters`: index and
    /// filter blocks cut into small pieces (only inside a budget, as in Flink;
    /// off by default: see the module's doc).
    pub partitioned_index_filters: bool,
    /// `state.backend.rocksdb.block.metadata-blocksize`: size of those pieces.
    pub metadata_block_size: u64,
    /// `state.backend.rocksdb.use-bloom-filter`.
    pub bloom_filter: bool,
    /// `state.backend.rocksdb.bloom-filter.bits-per-key`.
    pub bloom_bits_per_key: f64,
    /// `state.backend.rocksdb.bloom-filter.block-based-mode`: RocksDB's legacy
    /// Bloom format instead of the current one.
    pub bloom_block_based: bool,
    /// `state.backend.rocksdb.predefined-options`.
    pub profile: Profile,
    /// `state.backend.rocksdb.block.cache-size` (only without a managed budget).
    pub block_cache_size: Option<u64>,
    /// `state.backend.rocksdb.block.blocksize`.
    pub block_size: Option<u64>,
    /// `state.backend.rocksdb.writebuffer.size`.
    pub write_buffer_size: Option<u64>,
    /// `state.backend.rocksdb.writebuffer.count`.
    pub write_buffer_count: Option<i32>,
    /// `state.backend.rocksdb.thread.num`.
    pub background_jobs: Option<i32>,
    /// `state.backend.rocksdb.compaction.style`.
    pub compaction_style: Option<DBCompactionStyle>,
    /// `state.backend.rocksdb.compaction.level0-file-num-trigger`: L0 files
    /// that start a compaction into the base level. Each checkpoint flushes
    /// one L0 file per state, so this sets how often incremental checkpoints
    /// upload rewritten base-level files.
    pub level0_trigger: Option<i32>,
    /// `state.backend.rocksdb.statistics.level`.
    pub statistics: StatsLevel,
    /// `state.backend.rocksdb.metrics.enabled`: the cheap native properties.
    pub native_metrics: bool,
    /// `state.backend.rocksdb.timer-service.factory` is `ROCKSDB`.
    pub timers_in_rocksdb: bool,
    /// Bytes of the per-table write-back cache in front of RocksDB
    /// (`state.backend.rocksdb.write-back-cache.size`).
    pub cache_bytes: usize,
}

impl Default for RocksSettings {
    fn default() -> Self {
        Self {
            local_dir: std::env::temp_dir().join("tidemark-rocksdb"),
            managed: true,
            managed_size: 256 << 20,
            fixed_per_slot: None,
            write_buffer_ratio: 0.5,
            high_prio_ratio: 0.1,
            partitioned_index_filters: false,
            metadata_block_size: 4 << 10,
            bloom_filter: true,
            bloom_bits_per_key: 10.0,
            bloom_block_based: false,
            profile: Profile::Default,
            block_cache_size: None,
            block_size: None,
            write_buffer_size: None,
            write_buffer_count: None,
            background_jobs: None,
            compaction_style: None,
            level0_trigger: None,
            statistics: StatsLevel::Off,
            native_metrics: true,
            timers_in_rocksdb: false,
            cache_bytes: 16 << 20,
        }
    }
}

/// A block cache and the write-buffer manager charged to it: one budget.
#[derive(Clone)]
pub struct MemoryBudget {
    /// Bytes in all.
    pub bytes: u64,
    cache_capacity: u64,
    cache: Cache,
    wbm: WriteBufferManager,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryBudget({} bytes)", self.bytes)
    }
}

impl MemoryBudget {
    /// Flink's split of `bytes` by `write_buffer_ratio`.
    pub fn new(bytes: u64, write_buffer_ratio: f64) -> Self {
        let cache_cap = ((3.0 - write_buffer_ratio) * bytes as f64 / 3.0) as usize;
        let wb_cap = (2.0 * bytes as f64 * write_buffer_ratio / 3.0) as usize;
        let mut lru = rocksdb::LruCacheOptions::default();
        lru.set_capacity(cache_cap);
        lru.set_num_shard_bits(shard_bits(cache_cap as u64));
        let cache = Cache::new_lru_cache_opts(&lru);
        let wbm =
            WriteBufferManager::new_write_buffer_manager_with_cache(wb_cap, false, cache.clone());
        Self {
            bytes,
            cache_capacity: cache_cap as u64,
            cache,
            wbm,
        }
    }

    /// Bytes the cache holds now (memtables charged to it included).
    pub fn usage(&self) -> u64 {
        self.cache.get_usage() as u64
    }

    /// Bytes pinned in the cache.
    pub fn pinned(&self) -> u64 {
        self.cache.get_pinned_usage() as u64
    }

    /// The cache's capacity (memtables included).
    pub fn capacity(&self) -> u64 {
        self.cache_capacity
    }
}

/// Smallest shard of a budget's block cache. RocksDB's own choice (shards of
/// at least 512 KiB, up to 64 of them) cuts a 213 MB cache into 3.3 MB
/// shards, and a block larger than its shard is dropped as soon as the read
/// that loaded it lets go: an unpartitioned filter block of a large file then
/// costs a file read on every lookup. This machine kind has two cores, so
/// few shards cost no lock contention worth having.
const MIN_SHARD_BYTES: u64 = 32 << 20;

/// log2 of the number of shards: as many as keep each at least
/// [`MIN_SHARD_BYTES`], at most 64 (RocksDB's own ceiling).
fn shard_bits(capacity: u64) -> i32 {
    let mut bits = 0;
    while bits < 6 && capacity >> (bits + 1) >= MIN_SHARD_BYTES {
        bits += 1;
    }
    bits
}

/// Hands out memory budgets: one shared (managed) or one per instance.
#[derive(Debug, Default)]
pub struct BudgetPool {
    shared: Mutex<Option<MemoryBudget>>,
}

impl BudgetPool {
    /// The budget for a new instance.
    pub fn budget(&self, s: &RocksSettings) -> Option<MemoryBudget> {
        if let Some(b) = s.fixed_per_slot {
            return Some(MemoryBudget::new(b, s.write_buffer_ratio));
        }
        if !s.managed {
            return None;
        }
        let mut g = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            g.get_or_insert_with(|| MemoryBudget::new(s.managed_size, s.write_buffer_ratio))
                .clone(),
        )
    }
}

/// The options of one instance: profile, then explicit keys, then the budget.
pub fn options(s: &RocksSettings, budget: Option<&MemoryBudget>) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    // One LOG file, kept small: the instance's directory is scratch space.
    o.set_keep_log_file_num(1);
    o.set_max_log_file_size(1 << 20);
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let mut t = BlockBasedOptions::default();
    match s.profile {
        Profile::Default => {}
        Profile::SpinningDiskOptimized => {
            o.set_compaction_style(DBCompactionStyle::Level);
            o.set_level_compaction_dynamic_level_bytes(true);
            o.set_max_background_jobs(4);
            o.set_max_open_files(-1);
        }
        Profile::SpinningDiskOptimizedHighMem => {
            o.set_compaction_style(DBCompactionStyle::Level);
            o.set_level_compaction_dynamic_level_bytes(true);
            o.set_max_background_jobs(4);
            o.set_max_open_files(-1);
            o.set_target_file_size_base(256 << 20);
            o.set_max_bytes_for_level_base(1 << 30);
            o.set_write_buffer_size(64 << 20);
            o.set_max_write_buffer_number(4);
            o.set_min_write_buffer_number_to_merge(3);
            t.set_block_size(128 << 10);
        }
        Profile::FlashSsdOptimized => {
            o.set_max_background_jobs(4);
            o.set_max_open_files(-1);
        }
    }
    if let Some(v) = s.block_size {
        t.set_block_size(v as usize);
    }
    if let Some(v) = s.write_buffer_size {
        o.set_write_buffer_size(v as usize);
    }
    if let Some(v) = s.write_buffer_count {
        o.set_max_write_buffer_number(v);
    }
    if let Some(v) = s.background_jobs {
        o.set_max_background_jobs(v);
    }
    if let Some(v) = s.compaction_style {
        o.set_compaction_style(v);
    }
    if let Some(v) = s.level0_trigger {
        // Keep the slowdown and stop thresholds above the trigger.
        o.set_level_zero_file_num_compaction_trigger(v);
        o.set_level_zero_slowdown_writes_trigger(v.saturating_mul(2).max(20));
        o.set_level_zero_stop_writes_trigger(v.saturating_mul(3).max(36));
    }
    match budget {
        Some(b) => {
            t.set_block_cache(&b.cache);
            // Index and filter blocks count against the budget, so they live
            // in the cache (with high priority, RocksDB's default); L0's stay
            // pinned, and partitioned ones pin each file's top level.
            t.set_cache_index_and_filter_blocks(true);
            t.set_pin_l0_filter_and_index_blocks_in_cache(true);
            if s.partitioned_index_filters {
                t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
                t.set_partition_filters(s.bloom_filter);
                t.set_metadata_block_size(s.metadata_block_size as usize);
                t.set_pin_top_level_index_and_filter(true);
            }
            o.set_write_buffer_manager(&b.wbm);
        }
        None => {
            if let Some(c) = s.block_cache_size {
                let mut lru = rocksdb::LruCacheOptions::default();
                lru.set_capacity(c as usize);
                lru.set_num_shard_bits(shard_bits(c));
                t.set_block_cache(&Cache::new_lru_cache_opts(&lru));
            }
        }
    }
    if s.bloom_filter {
        t.set_bloom_filter(s.bloom_bits_per_key, s.bloom_block_based);
    }
    o.set_block_based_table_factory(&t);
    if s.statistics != StatsLevel::Off {
        o.enable_statistics();
        o.set_statistics_level(match s.statistics {
            StatsLevel::Tickers => rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers,
            StatsLevel::Histograms => rocksdb::statistics::StatsLevel::ExceptTimers,
            _ => rocksdb::statistics::StatsLevel::ExceptTimeForMutex,
        });
    }
    o
}

/// Shared by every instance of one job run.
#[derive(Debug, Default, Clone)]
pub struct RocksShared {
    /// Memory budgets.
    pub budgets: Arc<BudgetPool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No shard of a budget's cache is smaller than 32 MiB unless the whole
    /// cache is: the default budget's 213 MB cache gets 4 shards of 53 MB,
    /// not RocksDB's 64 of 3.3 MB.
    #[test]
    fn cache_shards_stay_large_enough_for_any_block() {
        let default_cache = ((3.0 - 0.5) * (256u64 << 20) as f64 / 3.0) as u64;
        assert_eq!(shard_bits(default_cache), 2);
        for cap in [1u64 << 20, 31 << 20, 32 << 20, 100 << 20, 1 << 30, 1 << 40] {
            let bits = shard_bits(cap);
            assert!((0..=6).contains(&bits), "{cap}: {bits}");
            assert!(
                cap >> bits >= MIN_SHARD_BYTES || bits == 0,
                "{cap} bytes in {} shards",
                1 << bits
            );
            if bits < 6 {
                assert!(
                    cap >> (bits + 1) < MIN_SHARD_BYTES,
                    "{cap}: one more shard would fit"
                );
            }
        }
    }
}
