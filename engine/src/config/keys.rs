//! Every configuration key Tidemark reads, with Flink's names.

/// What values a key takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A duration.
    Duration,
    /// An integer in a range.
    Int(i64, i64),
    /// A positive float.
    Float,
    /// A ratio in (0, 1).
    Ratio,
    /// A memory size (`64mb`).
    Bytes,
    /// `true` or `false`.
    Bool,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// A path.
    Path,
    /// Free text.
    Text,
    /// A list separated by `,` or `;`.
    List,
}

/// One key.
#[derive(Debug)]
pub struct KeySpec {
    /// The key (Flink 2.x name).
    pub key: &'static str,
    /// Older names accepted with a deprecation warning.
    pub aliases: &'static [&'static str],
    /// Default value, if any.
    pub default: Option<&'static str>,
    /// Allowed values.
    pub kind: Kind,
    /// One line of documentation.
    pub doc: &'static str,
}

/// Declares each key as a constant (`keys::PARALLELISM_DEFAULT`), so that
/// code reads a key through its spec and never spells its name twice, and
/// lists them all in [`KEYS`].
macro_rules! keys {
    ($($id:ident = ($k:expr, [$($a:expr),*], $d:expr, $kind:expr, $doc:expr)),* $(,)?) => {
        $(
            #[doc = concat!("`", $k, "`: ", $doc)]
            pub const $id: &KeySpec = &KeySpec { key: $k, aliases: &[$($a),*], default: $d, kind: $kind, doc: $doc };
        )*
        /// The keys, in documentation order.
        pub static KEYS: &[&KeySpec] = &[$($id),*];
    };
}

/// Restart strategy names.
pub const RESTART_TYPES: &[&str] = &["none", "off", "disable", "fixed-delay", "exponential-delay"];

keys! {
    PARALLELISM_DEFAULT = (
        "parallelism.default",
        [],
        Some("1"),
        Kind::Int(1, 32768),
        "Parallelism of operators without their own."
    ),
    PIPELINE_MAX_PARALLELISM = (
        "pipeline.max-parallelism",
        [],
        None,
        Kind::Int(1, 32768),
        "Number of key groups; default min(max(roundUpPow2(p + p/2), 128), 32768)."
    ),
    PIPELINE_AUTO_WATERMARK_INTERVAL = (
        "pipeline.auto-watermark-interval",
        [],
        Some("200 ms"),
        Kind::Duration,
        "How often sources emit watermarks."
    ),
    EXECUTION_BUFFER_TIMEOUT_INTERVAL = (
        "execution.buffer-timeout.interval",
        ["execution.buffer-timeout"],
        Some("100 ms"),
        Kind::Duration,
        "Longest time a record waits in an output buffer before it is sent."
    ),
    EXECUTION_CHECKPOINTING_INTERVAL = (
        "execution.checkpointing.interval",
        [],
        None,
        Kind::Duration,
        "Time between checkpoints; unset disables checkpointing."
    ),
    EXECUTION_CHECKPOINTING_MODE = (
        "execution.checkpointing.mode",
        [],
        Some("EXACTLY_ONCE"),
        Kind::Enum(&["EXACTLY_ONCE", "AT_LEAST_ONCE"]),
        "EXACTLY_ONCE blocks channels during alignment; AT_LEAST_ONCE does not."
    ),
    EXECUTION_CHECKPOINTING_UNALIGNED_ENABLED = (
        "execution.checkpointing.unaligned.enabled",
        ["execution.checkpointing.unaligned"],
        Some("false"),
        Kind::Bool,
        "Unaligned checkpoints: barriers overtake queued records, which are persisted with the checkpoint and replayed on recovery. Needs EXACTLY_ONCE."
    ),
    EXECUTION_CHECKPOINTING_ALIGNED_CHECKPOINT_TIMEOUT = (
        "execution.checkpointing.aligned-checkpoint-timeout",
        ["execution.checkpointing.alignment-timeout"],
        Some("0 ms"),
        Kind::Duration,
        "With unaligned checkpoints: start aligned and switch to unaligned once a checkpoint is this old (0: unaligned at once)."
    ),
    EXECUTION_CHECKPOINTING_TIMEOUT = (
        "execution.checkpointing.timeout",
        [],
        Some("10 min"),
        Kind::Duration,
        "A checkpoint not complete after this long is aborted."
    ),
    EXECUTION_CHECKPOINTING_MIN_PAUSE = (
        "execution.checkpointing.min-pause",
        [],
        Some("0 ms"),
        Kind::Duration,
        "Minimum time between the end of one checkpoint and the start of the next."
    ),
    EXECUTION_CHECKPOINTING_MAX_CONCURRENT_CHECKPOINTS = (
        "execution.checkpointing.max-concurrent-checkpoints",
        [],
        Some("1"),
        Kind::Int(1, 1000),
        "Checkpoints in flight at once."
    ),
    EXECUTION_CHECKPOINTING_TOLERABLE_FAILED_CHECKPOINTS = (
        "execution.checkpointing.tolerable-failed-checkpoints",
        [],
        Some("0"),
        Kind::Int(0, i32::MAX as i64),
        "Consecutive checkpoint failures tolerated before the job fails over."
    ),
    EXECUTION_CHECKPOINTING_NUM_RETAINED = (
        "execution.checkpointing.num-retained",
        ["state.checkpoints.num-retained"],
        Some("1"),
        Kind::Int(1, 10000),
        "Completed checkpoints kept."
    ),
    EXECUTION_CHECKPOINTING_DIR = (
        "execution.checkpointing.dir",
        ["state.checkpoints.dir", "state.backend.fs.checkpointdir"],
        None,
        Kind::Path,
        "Where checkpoints go: a local directory or s3://bucket/prefix; <dir>/<job id>/chk-<n>/."
    ),
    EXECUTION_CHECKPOINTING_SAVEPOINT_DIR = (
        "execution.checkpointing.savepoint-dir",
        ["state.savepoints.dir"],
        None,
        Kind::Path,
        "Default target of savepoints (a local directory or s3://bucket/prefix)."
    ),
    EXECUTION_CHECKPOINTING_INCREMENTAL = (
        "execution.checkpointing.incremental",
        ["state.backend.incremental"],
        Some("false"),
        Kind::Bool,
        "RocksDB: upload only SST files no completed checkpoint stored yet (savepoints stay full)."
    ),
    EXECUTION_CHECKPOINTING_SNAPSHOT_COMPRESSION = (
        "execution.checkpointing.snapshot-compression",
        [],
        Some("false"),
        Kind::Enum(&["false", "true", "none", "snappy", "lz4", "zstd"]),
        "Compress full snapshots per key group: true = snappy (as Flink), or lz4, zstd."
    ),
    EXECUTION_STATE_RECOVERY_FROM_LOCAL = (
        "execution.state-recovery.from-local",
        ["state.backend.local-recovery"],
        Some("false"),
        Kind::Bool,
        "Keep a task-local copy of each snapshot and restore from it first."
    ),
    TASKMANAGER_STATE_LOCAL_ROOT_DIRS = (
        "taskmanager.state.local.root-dirs",
        [],
        None,
        Kind::Path,
        "Root of task-local state copies (default <tmp>/tidemark-localState)."
    ),
    S3_ENDPOINT = (
        "s3.endpoint",
        [],
        None,
        Kind::Text,
        "S3 endpoint URL (default: AWS_ENDPOINT_URL / AWS_ENDPOINT, else AWS)."
    ),
    S3_REGION = (
        "s3.region",
        [],
        None,
        Kind::Text,
        "S3 region (default: AWS_REGION, else us-east-1)."
    ),
    S3_ACCESS_KEY = (
        "s3.access-key",
        [],
        None,
        Kind::Text,
        "S3 access key (default: AWS_ACCESS_KEY_ID)."
    ),
    S3_SECRET_KEY = (
        "s3.secret-key",
        [],
        None,
        Kind::Text,
        "S3 secret key (default: AWS_SECRET_ACCESS_KEY)."
    ),
    S3_PATH_STYLE_ACCESS = (
        "s3.path.style.access",
        [],
        Some("true"),
        Kind::Bool,
        "Address buckets as http://host/bucket (true) or http://bucket.host (false)."
    ),
    S3_MAX_RETRIES = (
        "s3.max-retries",
        [],
        Some("3"),
        Kind::Int(0, 100),
        "Retries per S3 request before a checkpoint write fails."
    ),
    EXECUTION_CHECKPOINTING_EXTERNALIZED_CHECKPOINT_RETENTION = (
        "execution.checkpointing.externalized-checkpoint-retention",
        [],
        Some("NO_EXTERNALIZED_CHECKPOINTS"),
        Kind::Enum(&[
            "NO_EXTERNALIZED_CHECKPOINTS",
            "DELETE_ON_CANCELLATION",
            "RETAIN_ON_CANCELLATION"
        ]),
        "Whether checkpoints survive a cancelled job (a finished job deletes them, leaving a `_finished` marker for `--restore latest`)."
    ),
    STATE_BACKEND_TYPE = (
        "state.backend.type",
        ["state.backend"],
        Some("hashmap"),
        Kind::Enum(&["hashmap", "rocksdb"]),
        "Where keyed state lives: objects on the heap, or RocksDB on local disk."
    ),
    STATE_BACKEND_ROCKSDB_LOCALDIR = (
        "state.backend.rocksdb.localdir",
        [],
        None,
        Kind::Path,
        "Working directories of RocksDB instances (default <tmp>/tidemark-rocksdb)."
    ),
    STATE_BACKEND_ROCKSDB_WRITE_BACK_CACHE_SIZE = (
        "state.backend.rocksdb.write-back-cache.size",
        [],
        Some("16mb"),
        Kind::Bytes,
        "Memory of each state's write-back cache of deserialised entries in front of RocksDB (estimated from serialised sizes). Hot keys that fit are read and updated without RocksDB; dirty entries go to RocksDB in one batch when it is full and before each snapshot. Tidemark's own key."
    ),
    STATE_BACKEND_ROCKSDB_TIMER_SERVICE_FACTORY = (
        "state.backend.rocksdb.timer-service.factory",
        [],
        Some("HEAP"),
        Kind::Enum(&["HEAP", "ROCKSDB"]),
        "With RocksDB state: timers on the heap (HEAP) or in a RocksDB column family ordered by time (ROCKSDB: no heap per timer)."
    ),
    STATE_BACKEND_ROCKSDB_MEMORY_MANAGED = (
        "state.backend.rocksdb.memory.managed",
        [],
        Some("true"),
        Kind::Bool,
        "Bound block cache and write buffers of all instances together by taskmanager.memory.managed.size."
    ),
    TASKMANAGER_MEMORY_MANAGED_SIZE = (
        "taskmanager.memory.managed.size",
        [],
        Some("256mb"),
        Kind::Bytes,
        "The managed memory budget RocksDB instances share."
    ),
    STATE_BACKEND_ROCKSDB_MEMORY_FIXED_PER_SLOT = (
        "state.backend.rocksdb.memory.fixed-per-slot",
        [],
        None,
        Kind::Bytes,
        "A budget per instance (stateful subtask) instead of the shared one."
    ),
    STATE_BACKEND_ROCKSDB_MEMORY_WRITE_BUFFER_RATIO = (
        "state.backend.rocksdb.memory.write-buffer-ratio",
        [],
        Some("0.5"),
        Kind::Ratio,
        "Share of the budget for memtables."
    ),
    STATE_BACKEND_ROCKSDB_MEMORY_HIGH_PRIO_POOL_RATIO = (
        "state.backend.rocksdb.memory.high-prio-pool-ratio",
        [],
        Some("0.1"),
        Kind::Ratio,
        "Flink's share of the cache for index and filter blocks: validated, but RocksDB's C API (which Tidemark uses) fixes the high-priority pool at 0.5 of the cache; index and filter blocks are cached in it with high priority."
    ),
    STATE_BACKEND_ROCKSDB_MEMORY_PARTITIONED_INDEX_FILTERS = (
        "state.backend.rocksdb.memory.partitioned-index-filters",
        [],
        Some("false"),
        Kind::Bool,
        "With a memory budget: cut each SST file's index and filter into block.metadata-blocksize pieces that are cached like data blocks, with a small top level pinned. For budgets too small to hold whole filters (one file's is 10 bits per key: 4 MB at 3 M keys); otherwise it costs a second index search per lookup. The budget's cache is cut into shards of at least 32 MiB, so whole filters fit one."
    ),
    STATE_BACKEND_ROCKSDB_BLOCK_METADATA_BLOCKSIZE = (
        "state.backend.rocksdb.block.metadata-blocksize",
        [],
        Some("4kb"),
        Kind::Bytes,
        "Size of the index and filter partitions."
    ),
    STATE_BACKEND_ROCKSDB_USE_BLOOM_FILTER = (
        "state.backend.rocksdb.use-bloom-filter",
        [],
        Some("true"),
        Kind::Bool,
        "A Bloom filter per SST file, so lookups of absent keys skip it. Flink's default is false."
    ),
    STATE_BACKEND_ROCKSDB_BLOOM_FILTER_BITS_PER_KEY = (
        "state.backend.rocksdb.bloom-filter.bits-per-key",
        [],
        Some("10.0"),
        Kind::Float,
        "Bits per key of the Bloom filter (10: about 1 % false positives)."
    ),
    STATE_BACKEND_ROCKSDB_BLOOM_FILTER_BLOCK_BASED_MODE = (
        "state.backend.rocksdb.bloom-filter.block-based-mode",
        [],
        Some("false"),
        Kind::Bool,
        "RocksDB's legacy Bloom format instead of the current one."
    ),
    STATE_BACKEND_ROCKSDB_PREDEFINED_OPTIONS = (
        "state.backend.rocksdb.predefined-options",
        [],
        Some("DEFAULT"),
        Kind::Enum(crate::state::rocks::options::Profile::NAMES),
        "A tuned profile applied before the individual options."
    ),
    STATE_BACKEND_ROCKSDB_BLOCK_CACHE_SIZE = (
        "state.backend.rocksdb.block.cache-size",
        [],
        None,
        Kind::Bytes,
        "Block cache per instance (only without a managed or fixed budget)."
    ),
    STATE_BACKEND_ROCKSDB_BLOCK_BLOCKSIZE = (
        "state.backend.rocksdb.block.blocksize",
        [],
        None,
        Kind::Bytes,
        "Data block size."
    ),
    STATE_BACKEND_ROCKSDB_WRITEBUFFER_SIZE = (
        "state.backend.rocksdb.writebuffer.size",
        [],
        None,
        Kind::Bytes,
        "Memtable size."
    ),
    STATE_BACKEND_ROCKSDB_WRITEBUFFER_COUNT = (
        "state.backend.rocksdb.writebuffer.count",
        [],
        None,
        Kind::Int(1, 64),
        "Memtables per column family."
    ),
    STATE_BACKEND_ROCKSDB_THREAD_NUM = (
        "state.backend.rocksdb.thread.num",
        [],
        None,
        Kind::Int(1, 256),
        "Background flush and compaction jobs."
    ),
    STATE_BACKEND_ROCKSDB_COMPACTION_STYLE = (
        "state.backend.rocksdb.compaction.style",
        [],
        None,
        Kind::Enum(&["LEVEL", "UNIVERSAL", "FIFO"]),
        "Compaction style."
    ),
    STATE_BACKEND_ROCKSDB_COMPACTION_LEVEL0_FILE_NUM_TRIGGER = (
        "state.backend.rocksdb.compaction.level0-file-num-trigger",
        [],
        None,
        Kind::Int(1, 1000),
        "L0 files that start a compaction (RocksDB default 4); each checkpoint flushes one per state, so higher means rarer large incremental uploads."
    ),
    STATE_BACKEND_ROCKSDB_METRICS_NATIVE = (
        "state.backend.rocksdb.metrics.native",
        [],
        Some("true"),
        Kind::Bool,
        "Publish RocksDB's cheap properties (keys, sizes, memtables, compactions, stalls) every second."
    ),
    STATE_BACKEND_ROCKSDB_STATISTICS_LEVEL = (
        "state.backend.rocksdb.statistics.level",
        [],
        Some("OFF"),
        Kind::Enum(crate::state::rocks::options::StatsLevel::NAMES),
        "RocksDB statistics: OFF, TICKERS (block-cache hits and misses by block kind, lookups, SST bytes read, stalls; about 12 % of a keyed count whose state is beyond the cache, nothing measurable when it fits), HISTOGRAMS, ALL; each costs more. docs/state-backend.md says when to turn them on."
    ),
    RESTART_STRATEGY_TYPE = (
        "restart-strategy.type",
        ["restart-strategy"],
        None,
        Kind::Enum(RESTART_TYPES),
        "Default: exponential-delay with checkpointing, none without."
    ),
    RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS = (
        "restart-strategy.fixed-delay.attempts",
        [],
        Some("1"),
        Kind::Int(0, i32::MAX as i64),
        "Restarts allowed by fixed-delay."
    ),
    RESTART_STRATEGY_FIXED_DELAY_DELAY = (
        "restart-strategy.fixed-delay.delay",
        [],
        Some("1 s"),
        Kind::Duration,
        "Wait before each fixed-delay restart."
    ),
    RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF = (
        "restart-strategy.exponential-delay.initial-backoff",
        [],
        Some("1 s"),
        Kind::Duration,
        "First exponential-delay wait."
    ),
    RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF = (
        "restart-strategy.exponential-delay.max-backoff",
        [],
        Some("1 min"),
        Kind::Duration,
        "Longest exponential-delay wait."
    ),
    RESTART_STRATEGY_EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER = (
        "restart-strategy.exponential-delay.backoff-multiplier",
        [],
        Some("1.5"),
        Kind::Float,
        "Growth of the wait per failure."
    ),
    TIDEMARK_DOCTOR_BACKPRESSURED_RATIO = (
        "tidemark.doctor.backpressured-ratio",
        [],
        Some("0.5"),
        Kind::Ratio,
        "doctor: a subtask backpressured at least this share of the window waits on its downstream (Flink's HIGH level starts above 0.5)."
    ),
    TIDEMARK_DOCTOR_BUSY_RATIO = (
        "tidemark.doctor.busy-ratio",
        [],
        Some("0.7"),
        Kind::Ratio,
        "doctor: a subtask busy at least this share of the window has no room left (the autoscaler's usual target utilization)."
    ),
    TIDEMARK_DOCTOR_SKEW_RATIO = (
        "tidemark.doctor.skew-ratio",
        [],
        Some("0.5"),
        Kind::Ratio,
        "doctor: siblings of the busiest subtask of a bottleneck busy, on average, less than this fraction of it make the cause data-skew rather than load."
    ),
    TIDEMARK_DOCTOR_TARGET_UTILIZATION = (
        "tidemark.doctor.target-utilization",
        [],
        Some("0.7"),
        Kind::Ratio,
        "doctor: the busy share per subtask a recommended parallelism aims at (Flink's autoscaler default), leaving room to catch up."
    ),
    TIDEMARK_DOCTOR_CHECKPOINT_SLOW = (
        "tidemark.doctor.checkpoint-slow",
        [],
        Some("10 s"),
        Kind::Duration,
        "doctor: a checkpoint at least this long is slow, and the phase that took half of it is named (Flink's UI leaves the reading to the user)."
    ),
    TIDEMARK_DOCTOR_NEAR_INTERVAL_RATIO = (
        "tidemark.doctor.near-interval-ratio",
        [],
        Some("0.8"),
        Kind::Ratio,
        "doctor: a checkpoint taking at least this share of the interval runs back to back with the next."
    ),
    TIDEMARK_DOCTOR_RECOVERY_TIME = (
        "tidemark.doctor.recovery-time",
        [],
        Some("60 s"),
        Kind::Duration,
        "doctor and capacity metrics: the downtime a failure is assumed to cost (restart delay, restore, deployment) until the job has recovered once and its own is measured (as Flink's autoscaler's `job.autoscaler.restart.time`, shorter: one process)."
    ),
    TIDEMARK_DOCTOR_EXPORTER_STALE = (
        "tidemark.doctor.exporter-stale",
        [],
        Some("1 min"),
        Kind::Duration,
        "doctor: a push exporter with failed deliveries and none for this long is failing (several push intervals: one failed push that the retry delivers is not a finding)."
    ),
    TIDEMARK_DOCTOR_CPU_RATIO = (
        "tidemark.doctor.cpu-ratio",
        [],
        Some("0.9"),
        Kind::Ratio,
        "doctor: a job process keeping at least this share of its cores busy over the window is short of CPU (cpu-saturated)."
    ),
    TIDEMARK_DOCTOR_STATE_RATIO = (
        "tidemark.doctor.state-ratio",
        [],
        Some("0.5"),
        Kind::Ratio,
        "doctor: a bottleneck whose busiest subtask spends at least this share of its busy time in the RocksDB state backend is limited by state access (state-backend-limit): above half, the backend, not the function, sets the pace."
    ),
    TIDEMARK_DOCTOR_CATCH_UP_DURATION = (
        "tidemark.doctor.catch-up-duration",
        [],
        Some("30 min"),
        Kind::Duration,
        "doctor and capacity metrics: the longest acceptable catch-up after a failure; a longer one is the cause cannot-catch-up, and a recommended parallelism provides for it (Flink's autoscaler's `job.autoscaler.catch-up.duration`)."
    ),
    TIDEMARK_RUNTIME_BATCH_SIZE = (
        "tidemark.runtime.batch-size",
        [],
        Some("1024"),
        Kind::Int(1, 1 << 20),
        "Records per batch on a channel: the unit of transfer, counting and timing."
    ),
    TIDEMARK_RUNTIME_CHANNEL_CAPACITY = (
        "tidemark.runtime.channel-capacity",
        [],
        Some("4"),
        Kind::Int(1, 1 << 16),
        "Batches a channel holds before its sender blocks (backpressure)."
    ),
    REST_ENABLED = (
        "rest.enabled",
        [],
        Some("true"),
        Kind::Bool,
        "Serve the REST API (Flink's paths) while the job runs."
    ),
    REST_BIND_ADDRESS = (
        "rest.bind-address",
        [],
        Some("127.0.0.1"),
        Kind::Text,
        "Address the REST API binds; loopback unless set."
    ),
    REST_BIND_PORT = (
        "rest.bind-port",
        [],
        Some("8081-8099"),
        Kind::Text,
        "Port, range or list for the REST API; the first free one is used."
    ),
    REST_AUTH_TOKEN_ENV = (
        "rest.auth.token-env",
        [],
        None,
        Kind::Text,
        "Environment variable holding the bearer token that endpoints changing a job require."
    ),
    REST_AUTH_TOKEN_FILE = (
        "rest.auth.token-file",
        [],
        None,
        Kind::Path,
        "File holding that bearer token."
    ),
    METRICS_SYSTEM_RESOURCE = (
        "metrics.system-resource",
        [],
        Some("true"),
        Kind::Bool,
        "Host CPU, memory, disk and network metrics (process metrics are always on)."
    ),
    METRICS_SYSTEM_RESOURCE_PROBING_INTERVAL = (
        "metrics.system-resource-probing-interval",
        [],
        Some("5000"),
        Kind::Duration,
        "How often process and host metrics are sampled."
    ),
    METRICS_LATENCY_INTERVAL = (
        "metrics.latency.interval",
        [],
        Some("1 s"),
        Kind::Duration,
        "How often sources emit latency markers (0 = none). On by default: markers are cheap here."
    ),
    METRICS_LATENCY_GRANULARITY = (
        "metrics.latency.granularity",
        [],
        Some("operator"),
        Kind::Enum(&["single", "operator", "subtask"]),
        "Latency histograms per vertex (single), per source and vertex (operator), or per subtask pair (subtask)."
    ),
    METRICS_LATENCY_HISTORY_SIZE = (
        "metrics.latency.history-size",
        [],
        Some("128"),
        Kind::Int(1, i32::MAX as i64),
        "Accepted for compatibility: latency is a real histogram here, not a window of samples."
    ),
    METRICS_LEVEL = (
        "metrics.level",
        [],
        Some("subtask"),
        Kind::Enum(&["job", "vertex", "subtask"]),
        "Which labels exist: subtask (a series per subtask), vertex (subtasks summed), job."
    ),
    METRICS_SERIES_LIMIT = (
        "metrics.series-limit",
        [],
        Some("10000"),
        Kind::Int(1, i32::MAX as i64),
        "Series per metric family; more are counted in tidemark_metrics_series_dropped_total, not exported."
    ),
    METRICS_REPORTERS = (
        "metrics.reporters",
        [],
        Some("prom"),
        Kind::List,
        "Names of the reporters to start (metrics.reporter.<name>.*)."
    ),
}

/// The spec of `key` (by its name or an alias), and whether an alias was used.
pub fn find(key: &str) -> Option<(&'static KeySpec, bool)> {
    KEYS.iter().find_map(|&s| {
        if s.key == key {
            Some((s, false))
        } else if s.aliases.contains(&key) {
            Some((s, true))
        } else {
            None
        }
    })
}

/// Every valid fixed key name (for suggestions).
pub fn all_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .flat_map(|s| std::iter::once(s.key).chain(s.aliases.iter().copied()))
}
