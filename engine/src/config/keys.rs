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

macro_rules! key {
    ($k:expr, [$($a:expr),*], $d:expr, $kind:expr, $doc:expr) => {
        KeySpec { key: $k, aliases: &[$($a),*], default: $d, kind: $kind, doc: $doc }
    };
}

/// Restart strategy names.
pub const RESTART_TYPES: &[&str] = &["none", "off", "disable", "fixed-delay", "exponential-delay"];

/// The keys, in documentation order.
pub static KEYS: &[KeySpec] = &[
    key!(
        "parallelism.default",
        [],
        Some("1"),
        Kind::Int(1, 32768),
        "Parallelism of operators without their own."
    ),
    key!(
        "pipeline.max-parallelism",
        [],
        None,
        Kind::Int(1, 32768),
        "Number of key groups; default min(max(roundUpPow2(p + p/2), 128), 32768)."
    ),
    key!(
        "pipeline.auto-watermark-interval",
        [],
        Some("200 ms"),
        Kind::Duration,
        "How often sources emit watermarks."
    ),
    key!(
        "execution.buffer-timeout.interval",
        ["execution.buffer-timeout"],
        Some("100 ms"),
        Kind::Duration,
        "Longest time a record waits in an output buffer before it is sent."
    ),
    key!(
        "execution.checkpointing.interval",
        [],
        None,
        Kind::Duration,
        "Time between checkpoints; unset disables checkpointing."
    ),
    key!(
        "execution.checkpointing.mode",
        [],
        Some("EXACTLY_ONCE"),
        Kind::Enum(&["EXACTLY_ONCE", "AT_LEAST_ONCE"]),
        "EXACTLY_ONCE blocks channels during alignment; AT_LEAST_ONCE does not."
    ),
    key!(
        "execution.checkpointing.unaligned.enabled",
        ["execution.checkpointing.unaligned"],
        Some("false"),
        Kind::Enum(&["true", "false"]),
        "Unaligned checkpoints: barriers overtake queued records, which are persisted with the checkpoint and replayed on recovery. Needs EXACTLY_ONCE."
    ),
    key!(
        "execution.checkpointing.aligned-checkpoint-timeout",
        ["execution.checkpointing.alignment-timeout"],
        Some("0 ms"),
        Kind::Duration,
        "With unaligned checkpoints: start aligned and switch to unaligned once a checkpoint is this old (0: unaligned at once)."
    ),
    key!(
        "execution.checkpointing.timeout",
        [],
        Some("10 min"),
        Kind::Duration,
        "A checkpoint not complete after this long is aborted."
    ),
    key!(
        "execution.checkpointing.min-pause",
        [],
        Some("0 ms"),
        Kind::Duration,
        "Minimum time between the end of one checkpoint and the start of the next."
    ),
    key!(
        "execution.checkpointing.max-concurrent-checkpoints",
        [],
        Some("1"),
        Kind::Int(1, 1000),
        "Checkpoints in flight at once."
    ),
    key!(
        "execution.checkpointing.tolerable-failed-checkpoints",
        [],
        Some("0"),
        Kind::Int(0, i32::MAX as i64),
        "Consecutive checkpoint failures tolerated before the job fails over."
    ),
    key!(
        "execution.checkpointing.num-retained",
        ["state.checkpoints.num-retained"],
        Some("1"),
        Kind::Int(1, 10000),
        "Completed checkpoints kept."
    ),
    key!(
        "execution.checkpointing.dir",
        ["state.checkpoints.dir", "state.backend.fs.checkpointdir"],
        None,
        Kind::Path,
        "Directory for checkpoints: <dir>/<job id>/chk-<n>/."
    ),
    key!(
        "execution.checkpointing.externalized-checkpoint-retention",
        [],
        Some("NO_EXTERNALIZED_CHECKPOINTS"),
        Kind::Enum(&[
            "NO_EXTERNALIZED_CHECKPOINTS",
            "DELETE_ON_CANCELLATION",
            "RETAIN_ON_CANCELLATION"
        ]),
        "Whether checkpoints survive a cancelled job (a finished job deletes them)."
    ),
    key!(
        "state.backend.type",
        ["state.backend"],
        Some("hashmap"),
        Kind::Enum(&["hashmap"]),
        "Where keyed state lives."
    ),
    key!(
        "restart-strategy.type",
        ["restart-strategy"],
        None,
        Kind::Enum(RESTART_TYPES),
        "Default: exponential-delay with checkpointing, none without."
    ),
    key!(
        "restart-strategy.fixed-delay.attempts",
        [],
        Some("1"),
        Kind::Int(0, i32::MAX as i64),
        "Restarts allowed by fixed-delay."
    ),
    key!(
        "restart-strategy.fixed-delay.delay",
        [],
        Some("1 s"),
        Kind::Duration,
        "Wait before each fixed-delay restart."
    ),
    key!(
        "restart-strategy.exponential-delay.initial-backoff",
        [],
        Some("1 s"),
        Kind::Duration,
        "First exponential-delay wait."
    ),
    key!(
        "restart-strategy.exponential-delay.max-backoff",
        [],
        Some("1 min"),
        Kind::Duration,
        "Longest exponential-delay wait."
    ),
    key!(
        "restart-strategy.exponential-delay.backoff-multiplier",
        [],
        Some("1.5"),
        Kind::Float,
        "Growth of the wait per failure."
    ),
    key!(
        "tidemark.runtime.batch-size",
        [],
        Some("1024"),
        Kind::Int(1, 1 << 20),
        "Records per batch on a channel: the unit of transfer, counting and timing."
    ),
    key!(
        "tidemark.runtime.channel-capacity",
        [],
        Some("4"),
        Kind::Int(1, 1 << 16),
        "Batches a channel holds before its sender blocks (backpressure)."
    ),
    key!(
        "rest.enabled",
        [],
        Some("true"),
        Kind::Enum(&["true", "false"]),
        "Serve the REST API (Flink's paths) while the job runs."
    ),
    key!(
        "rest.bind-address",
        [],
        Some("127.0.0.1"),
        Kind::Text,
        "Address the REST API binds; loopback unless set."
    ),
    key!(
        "rest.bind-port",
        [],
        Some("8081-8099"),
        Kind::Text,
        "Port, range or list for the REST API; the first free one is used."
    ),
    key!(
        "rest.auth.token-env",
        [],
        None,
        Kind::Text,
        "Environment variable holding the bearer token that endpoints changing a job require."
    ),
    key!(
        "rest.auth.token-file",
        [],
        None,
        Kind::Path,
        "File holding that bearer token."
    ),
    key!(
        "metrics.system-resource",
        [],
        Some("true"),
        Kind::Enum(&["true", "false"]),
        "Host CPU, memory, disk and network metrics (process metrics are always on)."
    ),
    key!(
        "metrics.system-resource-probing-interval",
        [],
        Some("5000"),
        Kind::Duration,
        "How often process and host metrics are sampled."
    ),
    key!(
        "metrics.latency.interval",
        [],
        Some("1 s"),
        Kind::Duration,
        "How often sources emit latency markers (0 = none). On by default: markers are cheap here."
    ),
    key!(
        "metrics.latency.granularity",
        [],
        Some("operator"),
        Kind::Enum(&["single", "operator", "subtask"]),
        "Latency histograms per vertex (single), per source and vertex (operator), or per subtask pair (subtask)."
    ),
    key!(
        "metrics.latency.history-size",
        [],
        Some("128"),
        Kind::Int(1, i32::MAX as i64),
        "Accepted for compatibility: latency is a real histogram here, not a window of samples."
    ),
    key!(
        "metrics.level",
        [],
        Some("subtask"),
        Kind::Enum(&["job", "vertex", "subtask"]),
        "Which labels exist: subtask (a series per subtask), vertex (subtasks summed), job."
    ),
    key!(
        "metrics.series-limit",
        [],
        Some("10000"),
        Kind::Int(1, i32::MAX as i64),
        "Series per metric family; more are counted in tidemark_metrics_series_dropped_total, not exported."
    ),
    key!(
        "metrics.reporters",
        [],
        Some("prom"),
        Kind::List,
        "Names of the reporters to start (metrics.reporter.<name>.*)."
    ),
];

/// The spec of `key` (by its name or an alias), and whether an alias was used.
pub fn find(key: &str) -> Option<(&'static KeySpec, bool)> {
    KEYS.iter().find_map(|s| {
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
