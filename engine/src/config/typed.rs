//! The typed configuration: built from (key, value) pairs in order (job file
//! first, then `--set`), validated all at once.

use super::keys::{self as k};
use super::reader::Reader;
use super::value::closest;
use crate::checkpoint::align::AlignMode;
use crate::checkpoint::blob::{Location, S3Settings};
use crate::checkpoint::coordinator::CheckpointSettings;
use crate::checkpoint::retention::Retention;
use crate::error::{Error, Result};
use crate::metrics::LatencyGranularity;
use crate::runtime::restart::RestartStrategy;
use crate::state::rocks::options::{Profile, StatsLevel};
use crate::state::rocks::RocksSettings;
use crate::state::state_file::Compression;
use crate::state::{StateBackendKind, StateSettings};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tidemark_agent::export::config::ReporterConfig;

/// Everything a job runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `parallelism.default`.
    pub parallelism: usize,
    /// `pipeline.max-parallelism`, if set.
    pub max_parallelism: Option<u32>,
    /// `pipeline.auto-watermark-interval`.
    pub watermark_interval: Duration,
    /// `execution.buffer-timeout.interval`.
    pub buffer_timeout: Duration,
    /// Checkpoint coordinator settings.
    pub checkpoint: CheckpointSettings,
    /// `execution.checkpointing.dir`.
    pub checkpoint_dir: Option<Location>,
    /// `execution.checkpointing.savepoint-dir`.
    pub savepoint_dir: Option<Location>,
    /// `s3.*`.
    pub s3: S3Settings,
    /// `execution.checkpointing.mode`, `.unaligned.enabled` and
    /// `.aligned-checkpoint-timeout`, as one alignment mode.
    pub align: crate::checkpoint::align::AlignMode,
    /// Retention on cancel.
    pub retention: Retention,
    /// `state.backend.*`, incremental, compression and local recovery.
    pub state: StateSettings,
    /// Restart strategy.
    pub restart: RestartStrategy,
    /// `tidemark.runtime.batch-size`.
    pub batch_size: usize,
    /// `tidemark.runtime.channel-capacity`.
    pub channel_capacity: usize,
    /// Reporters to start.
    pub reporters: Vec<ReporterConfig>,
    /// REST API: enabled, bind address, ports, bearer token.
    pub rest: Option<(std::net::IpAddr, String, Option<String>)>,
    /// `metrics.latency.interval` (None = off) and `.granularity`.
    pub latency: Option<(Duration, crate::metrics::LatencyGranularity)>,
    /// `metrics.system-resource`.
    pub system_resource: bool,
    /// `metrics.system-resource-probing-interval`.
    pub system_resource_interval: Duration,
    /// Registry options (`metrics.level`, `metrics.series-limit`).
    pub registry: tidemark_agent::registry::RegistryOptions,
    /// `tidemark.doctor.*`.
    pub doctor: crate::doctor::Thresholds,
    /// Deprecation notes (old key names used).
    pub warnings: Vec<String>,
    /// The effective values by canonical key (for display).
    pub values: BTreeMap<String, String>,
}

impl Default for Config {
    /// Every key at its default (see docs/configuration.md).
    fn default() -> Self {
        Self::from_pairs(&[]).expect("the defaults are valid")
    }
}

impl Config {
    /// Validates `pairs` (later pairs override earlier ones) and reports every
    /// problem at once.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Config> {
        Self::validate(pairs).map_err(|errors| {
            Error::Config(format!("invalid configuration:\n  {}", errors.join("\n  ")))
        })
    }

    /// Validates `pairs`; on failure, every problem, one line each, naming the
    /// key, the value and what is allowed (so that a caller can report them
    /// with the problems of the rest of a job file, in one go).
    pub fn validate(pairs: &[(String, String)]) -> std::result::Result<Config, Vec<String>> {
        Self::validate_reading(pairs, &mut Vec::new())
    }

    /// [`Self::validate`], telling which keys it read (each once, a test checks).
    fn validate_reading(
        pairs: &[(String, String)],
        reads: &mut Vec<&'static str>,
    ) -> std::result::Result<Config, Vec<String>> {
        let mut unknown = Vec::new();
        let mut warnings = Vec::new();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        let mut reporter_opts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (key, v) in pairs {
            if let Some((spec, alias)) = k::find(key) {
                if alias {
                    warnings.push(format!("'{key}' is deprecated; use '{}'", spec.key));
                }
                values.insert(spec.key.to_string(), v.clone());
            } else if let Some(rest) = key.strip_prefix("metrics.reporter.") {
                match rest.split_once('.') {
                    Some((name, opt)) if !name.is_empty() && !opt.is_empty() => {
                        reporter_opts
                            .entry(name.to_string())
                            .or_default()
                            .insert(opt.to_string(), v.clone());
                        values.insert(key.clone(), v.clone());
                    }
                    _ => unknown.push(format!(
                        "unknown key '{key}': reporter keys are metrics.reporter.<name>.<option>"
                    )),
                }
            } else {
                let hint = closest(key, k::all_names())
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                unknown.push(format!("unknown key '{key}'{hint}"));
            }
        }
        let mut r = Reader::new(&values);
        // Every key is read once, here, whatever the others say: a value
        // that does not parse is an error even where it would not be used.
        let parallelism = r.int(k::PARALLELISM_DEFAULT).unwrap_or(1) as usize;
        let max_parallelism = r.int(k::PIPELINE_MAX_PARALLELISM).map(|p| p as u32);
        let watermark_interval = r.duration(k::PIPELINE_AUTO_WATERMARK_INTERVAL);
        let defaults = crate::doctor::Thresholds::default();
        let doctor = crate::doctor::Thresholds {
            backpressured: r
                .ratio(k::TIDEMARK_DOCTOR_BACKPRESSURED_RATIO)
                .unwrap_or(defaults.backpressured),
            busy: r
                .ratio(k::TIDEMARK_DOCTOR_BUSY_RATIO)
                .unwrap_or(defaults.busy),
            skew: r
                .ratio(k::TIDEMARK_DOCTOR_SKEW_RATIO)
                .unwrap_or(defaults.skew),
            target_utilization: r
                .ratio(k::TIDEMARK_DOCTOR_TARGET_UTILIZATION)
                .unwrap_or(defaults.target_utilization),
            checkpoint_slow_ms: r
                .duration(k::TIDEMARK_DOCTOR_CHECKPOINT_SLOW)
                .map_or(defaults.checkpoint_slow_ms, |d| d.as_millis() as i64),
            near_interval: r
                .ratio(k::TIDEMARK_DOCTOR_NEAR_INTERVAL_RATIO)
                .unwrap_or(defaults.near_interval),
            recovery_time_ms: r
                .duration(k::TIDEMARK_DOCTOR_RECOVERY_TIME)
                .map_or(defaults.recovery_time_ms, |d| d.as_millis() as i64),
            catch_up_ms: r
                .duration(k::TIDEMARK_DOCTOR_CATCH_UP_DURATION)
                .map_or(defaults.catch_up_ms, |d| d.as_millis() as i64),
            exporter_stale_ms: r
                .duration(k::TIDEMARK_DOCTOR_EXPORTER_STALE)
                .map_or(defaults.exporter_stale_ms, |d| d.as_millis() as i64),
            cpu: r
                .ratio(k::TIDEMARK_DOCTOR_CPU_RATIO)
                .unwrap_or(defaults.cpu),
            state: r
                .ratio(k::TIDEMARK_DOCTOR_STATE_RATIO)
                .unwrap_or(defaults.state),
        };
        let buffer_timeout = r.duration(k::EXECUTION_BUFFER_TIMEOUT_INTERVAL);
        let interval = r.duration(k::EXECUTION_CHECKPOINTING_INTERVAL);
        if interval.is_some_and(|i| i < Duration::from_millis(10)) {
            let v = r
                .raw(k::EXECUTION_CHECKPOINTING_INTERVAL)
                .unwrap_or_default();
            r.errors.push(format!(
                "execution.checkpointing.interval: '{v}' is too short: expected at least 10 ms"
            ));
        }
        let mode = r.choice(k::EXECUTION_CHECKPOINTING_MODE);
        let exactly_once = mode == Some("EXACTLY_ONCE");
        let unaligned = r.flag(k::EXECUTION_CHECKPOINTING_UNALIGNED_ENABLED);
        if unaligned && mode == Some("AT_LEAST_ONCE") {
            r.errors.push(
                "execution.checkpointing.unaligned.enabled: 'true' needs execution.checkpointing.mode EXACTLY_ONCE, but it is 'AT_LEAST_ONCE': unaligned checkpoints exist to keep exactly-once cheap under backpressure"
                    .into(),
            );
        }
        let aligned_timeout = r.duration(k::EXECUTION_CHECKPOINTING_ALIGNED_CHECKPOINT_TIMEOUT);
        let align = if unaligned {
            AlignMode::Unaligned {
                timeout_ms: aligned_timeout.unwrap_or_default().as_millis() as i64,
            }
        } else {
            AlignMode::Aligned {
                block: exactly_once,
            }
        };
        let checkpoint = CheckpointSettings {
            interval,
            timeout: r
                .duration(k::EXECUTION_CHECKPOINTING_TIMEOUT)
                .unwrap_or_default(),
            min_pause: r
                .duration(k::EXECUTION_CHECKPOINTING_MIN_PAUSE)
                .unwrap_or_default(),
            max_concurrent: r
                .int(k::EXECUTION_CHECKPOINTING_MAX_CONCURRENT_CHECKPOINTS)
                .unwrap_or(1) as usize,
            tolerable_failed: r
                .int(k::EXECUTION_CHECKPOINTING_TOLERABLE_FAILED_CHECKPOINTS)
                .unwrap_or_default() as u32,
            num_retained: r.int(k::EXECUTION_CHECKPOINTING_NUM_RETAINED).unwrap_or(1) as usize,
        };
        let s3 = S3Settings {
            endpoint: r.text(k::S3_ENDPOINT),
            region: r.text(k::S3_REGION),
            access_key: r.text(k::S3_ACCESS_KEY),
            secret_key: r.text(k::S3_SECRET_KEY),
            path_style: r.flag(k::S3_PATH_STYLE_ACCESS),
            max_retries: r.int(k::S3_MAX_RETRIES).unwrap_or_default() as usize,
        };
        let location = |r: &mut Reader, key| {
            let v = r.text(key)?;
            Location::parse(&v, &s3, key.key)
                .map_err(|e| {
                    r.errors.push(
                        e.to_string()
                            .trim_start_matches("configuration: ")
                            .to_string(),
                    )
                })
                .ok()
        };
        let checkpoint_dir = location(&mut r, k::EXECUTION_CHECKPOINTING_DIR);
        let savepoint_dir = location(&mut r, k::EXECUTION_CHECKPOINTING_SAVEPOINT_DIR);
        let retention = match r.choice(k::EXECUTION_CHECKPOINTING_EXTERNALIZED_CHECKPOINT_RETENTION)
        {
            Some("DELETE_ON_CANCELLATION") => Retention::DeleteOnCancellation,
            Some("RETAIN_ON_CANCELLATION") => Retention::RetainOnCancellation,
            _ => Retention::NoExternalized,
        };
        let kind = match r.choice(k::STATE_BACKEND_TYPE) {
            Some("rocksdb") => StateBackendKind::RocksDb,
            _ => StateBackendKind::Heap,
        };
        let incremental = r.flag(k::EXECUTION_CHECKPOINTING_INCREMENTAL);
        if incremental && kind != StateBackendKind::RocksDb {
            warnings.push(
                "execution.checkpointing.incremental is true but state.backend.type is hashmap: \
                 heap snapshots are always full"
                    .into(),
            );
        }
        let compression = r
            .choice(k::EXECUTION_CHECKPOINTING_SNAPSHOT_COMPRESSION)
            .and_then(Compression::parse)
            .unwrap_or_default();
        let from_local = r.flag(k::EXECUTION_STATE_RECOVERY_FROM_LOCAL);
        let local_root = r.text(k::TASKMANAGER_STATE_LOCAL_ROOT_DIRS);
        let rocks = rocks_settings(&mut r);
        let state = StateSettings {
            kind,
            rocks,
            rocks_shared: Default::default(),
            incremental: incremental && kind == StateBackendKind::RocksDb,
            compression,
            local_recovery: from_local.then(|| {
                local_root
                    .map(PathBuf::from)
                    .unwrap_or_else(|| std::env::temp_dir().join("tidemark-localState"))
            }),
        };
        let restart = restart_strategy(&mut r, interval.is_some());
        let batch_size = r.int(k::TIDEMARK_RUNTIME_BATCH_SIZE).unwrap_or(1) as usize;
        let channel_capacity = r.int(k::TIDEMARK_RUNTIME_CHANNEL_CAPACITY).unwrap_or(1) as usize;
        let rest = rest_settings(&mut r);
        let system_resource = r.flag(k::METRICS_SYSTEM_RESOURCE);
        let system_resource_interval = r
            .duration(k::METRICS_SYSTEM_RESOURCE_PROBING_INTERVAL)
            .unwrap_or_default();
        let latency_interval = r.duration(k::METRICS_LATENCY_INTERVAL).unwrap_or_default();
        let granularity = match r.choice(k::METRICS_LATENCY_GRANULARITY) {
            Some("single") => LatencyGranularity::Single,
            Some("subtask") => LatencyGranularity::Subtask,
            _ => LatencyGranularity::Operator,
        };
        // Accepted for Flink's sake; latency is a histogram here.
        let _ = r.int(k::METRICS_LATENCY_HISTORY_SIZE);
        let level = r
            .choice(k::METRICS_LEVEL)
            .and_then(|l| l.parse().ok())
            .unwrap_or(tidemark_agent::labels::Level::Subtask);
        let series_limit = r.int(k::METRICS_SERIES_LIMIT).unwrap_or(1) as usize;
        let names = r.list(k::METRICS_REPORTERS);
        reads.extend_from_slice(r.read());
        let mut errors = std::mem::take(&mut r.errors);
        let mut reporters = Vec::new();
        let none = BTreeMap::new();
        for name in &names {
            match ReporterConfig::parse(name, reporter_opts.get(name).unwrap_or(&none)) {
                Ok(rc) => reporters.push(rc),
                Err(e) => errors.extend(e),
            }
        }
        for name in reporter_opts.keys() {
            if !names.contains(name) {
                warnings.push(format!(
                    "metrics.reporter.{name}.* is set but '{name}' is not in metrics.reporters; it is not started"
                ));
            }
        }
        if !unknown.is_empty() || !errors.is_empty() {
            unknown.extend(errors);
            return Err(unknown);
        }
        Ok(Config {
            parallelism,
            max_parallelism,
            watermark_interval: watermark_interval.unwrap_or_default(),
            buffer_timeout: buffer_timeout.unwrap_or_default(),
            checkpoint,
            checkpoint_dir,
            savepoint_dir,
            s3,
            align,
            retention,
            state,
            restart,
            batch_size,
            channel_capacity,
            reporters,
            rest,
            latency: Some(latency_interval)
                .filter(|d| !d.is_zero())
                .map(|d| (d, granularity)),
            system_resource,
            system_resource_interval,
            registry: tidemark_agent::registry::RegistryOptions {
                level,
                series_limit,
            },
            doctor,
            warnings,
            values,
        })
    }
}

/// `state.backend.rocksdb.*` and the memory keys RocksDB shares with Flink.
fn rocks_settings(r: &mut Reader) -> RocksSettings {
    let defaults = RocksSettings::default();
    let int32 = |r: &mut Reader, key| r.int(key).map(|n| n as i32);
    RocksSettings {
        local_dir: r
            .text(k::STATE_BACKEND_ROCKSDB_LOCALDIR)
            .map_or(defaults.local_dir, PathBuf::from),
        cache_bytes: r
            .bytes(k::STATE_BACKEND_ROCKSDB_WRITE_BACK_CACHE_SIZE)
            .map_or(defaults.cache_bytes, |b| b as usize),
        timers_in_rocksdb: r.choice(k::STATE_BACKEND_ROCKSDB_TIMER_SERVICE_FACTORY)
            == Some("ROCKSDB"),
        managed: r.flag(k::STATE_BACKEND_ROCKSDB_MEMORY_MANAGED),
        managed_size: r
            .bytes(k::TASKMANAGER_MEMORY_MANAGED_SIZE)
            .unwrap_or(defaults.managed_size),
        fixed_per_slot: r.bytes(k::STATE_BACKEND_ROCKSDB_MEMORY_FIXED_PER_SLOT),
        write_buffer_ratio: r
            .ratio(k::STATE_BACKEND_ROCKSDB_MEMORY_WRITE_BUFFER_RATIO)
            .unwrap_or(defaults.write_buffer_ratio),
        high_prio_ratio: r
            .ratio(k::STATE_BACKEND_ROCKSDB_MEMORY_HIGH_PRIO_POOL_RATIO)
            .unwrap_or(defaults.high_prio_ratio),
        partitioned_index_filters: r
            .flag(k::STATE_BACKEND_ROCKSDB_MEMORY_PARTITIONED_INDEX_FILTERS),
        metadata_block_size: r
            .bytes(k::STATE_BACKEND_ROCKSDB_BLOCK_METADATA_BLOCKSIZE)
            .unwrap_or(defaults.metadata_block_size),
        bloom_filter: r.flag(k::STATE_BACKEND_ROCKSDB_USE_BLOOM_FILTER),
        bloom_bits_per_key: r
            .float(k::STATE_BACKEND_ROCKSDB_BLOOM_FILTER_BITS_PER_KEY)
            .unwrap_or(defaults.bloom_bits_per_key),
        bloom_block_based: r.flag(k::STATE_BACKEND_ROCKSDB_BLOOM_FILTER_BLOCK_BASED_MODE),
        profile: r
            .choice(k::STATE_BACKEND_ROCKSDB_PREDEFINED_OPTIONS)
            .and_then(Profile::parse)
            .unwrap_or_default(),
        block_cache_size: r.bytes(k::STATE_BACKEND_ROCKSDB_BLOCK_CACHE_SIZE),
        block_size: r.bytes(k::STATE_BACKEND_ROCKSDB_BLOCK_BLOCKSIZE),
        write_buffer_size: r.bytes(k::STATE_BACKEND_ROCKSDB_WRITEBUFFER_SIZE),
        write_buffer_count: int32(r, k::STATE_BACKEND_ROCKSDB_WRITEBUFFER_COUNT),
        background_jobs: int32(r, k::STATE_BACKEND_ROCKSDB_THREAD_NUM),
        compaction_style: r
            .choice(k::STATE_BACKEND_ROCKSDB_COMPACTION_STYLE)
            .map(|s| match s {
                "UNIVERSAL" => rocksdb::DBCompactionStyle::Universal,
                "FIFO" => rocksdb::DBCompactionStyle::Fifo,
                _ => rocksdb::DBCompactionStyle::Level,
            }),
        level0_trigger: int32(
            r,
            k::STATE_BACKEND_ROCKSDB_COMPACTION_LEVEL0_FILE_NUM_TRIGGER,
        ),
        native_metrics: r.flag(k::STATE_BACKEND_ROCKSDB_METRICS_NATIVE),
        statistics: r
            .choice(k::STATE_BACKEND_ROCKSDB_STATISTICS_LEVEL)
            .and_then(StatsLevel::parse)
            .unwrap_or_default(),
    }
}

/// `restart-strategy.*`; without a type, exponential delay when the job
/// checkpoints (as Flink does) and none otherwise.
fn restart_strategy(r: &mut Reader, checkpointing: bool) -> RestartStrategy {
    let kind = r.choice(k::RESTART_STRATEGY_TYPE);
    let attempts = r
        .int(k::RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS)
        .unwrap_or_default() as u32;
    let delay = r
        .duration(k::RESTART_STRATEGY_FIXED_DELAY_DELAY)
        .unwrap_or_default();
    let initial = r
        .duration(k::RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF)
        .unwrap_or_default();
    let max = r
        .duration(k::RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF)
        .unwrap_or_default();
    let multiplier = r
        .float(k::RESTART_STRATEGY_EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)
        .unwrap_or(1.5);
    let default = if checkpointing {
        "exponential-delay"
    } else {
        "none"
    };
    match kind
        .filter(|_| r.is_set(k::RESTART_STRATEGY_TYPE))
        .unwrap_or(default)
    {
        "fixed-delay" => RestartStrategy::FixedDelay { attempts, delay },
        "exponential-delay" => RestartStrategy::ExponentialDelay {
            initial,
            max,
            multiplier,
        },
        _ => RestartStrategy::None,
    }
}

/// `rest.*`: `None` when the REST API is off. The bearer token is read from
/// the named variable or file now, so that a missing one is a start-up error.
fn rest_settings(r: &mut Reader) -> Option<(std::net::IpAddr, String, Option<String>)> {
    let enabled = r.flag(k::REST_ENABLED);
    let host = r.text(k::REST_BIND_ADDRESS);
    let host: Option<std::net::IpAddr> = match host {
        Some(h) => match h.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                r.invalid(k::REST_BIND_ADDRESS, "an IP address such as 127.0.0.1");
                None
            }
        },
        None => None,
    };
    let ports = r.text(k::REST_BIND_PORT).unwrap_or_default();
    if tidemark_agent::http::parse_ports(&ports).is_none() {
        r.invalid(
            k::REST_BIND_PORT,
            "a port, a range like 8081-8099 or a list like 8081,8082",
        );
    }
    let token_env = r.text(k::REST_AUTH_TOKEN_ENV);
    let token_file = r.text(k::REST_AUTH_TOKEN_FILE);
    if !enabled {
        return None;
    }
    let token = match (token_env, token_file) {
        (Some(var), _) => match std::env::var(&var) {
            Ok(t) => Some(t),
            Err(_) => {
                r.invalid(
                    k::REST_AUTH_TOKEN_ENV,
                    "the name of a set environment variable",
                );
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                r.invalid(k::REST_AUTH_TOKEN_FILE, format!("a readable file ({e})"));
                None
            }
        },
        (None, None) => None,
    };
    host.map(|h| (h, ports, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(p: &[(&str, &str)]) -> Result<Config> {
        Config::from_pairs(
            &p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn every_key_is_read_once_by_its_spec() {
        let mut reads = Vec::new();
        Config::validate_reading(&[], &mut reads).unwrap();
        let mut sorted = reads.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), reads.len(), "a key read twice: {reads:?}");
        let mut all: Vec<&str> = k::KEYS.iter().map(|s| s.key).collect();
        all.sort_unstable();
        assert_eq!(
            sorted, all,
            "every key of the table is read, and only those"
        );
    }

    #[test]
    fn defaults_aliases_and_overrides() {
        let c = cfg(&[
            ("state.checkpoints.dir", "/tmp/x"),
            ("execution.checkpointing.interval", "2s"),
            ("execution.checkpointing.interval", "3s"),
            ("metrics.reporter.prom.port", "9300"),
        ])
        .unwrap();
        assert_eq!(
            c.checkpoint.interval,
            Some(Duration::from_secs(3)),
            "later pairs win"
        );
        assert_eq!(
            c.checkpoint_dir.map(|l| l.to_string()),
            Some("/tmp/x".to_string())
        );
        assert!(c.warnings[0].contains("deprecated"));
        assert!(
            matches!(&c.reporters[0].kind, tidemark_agent::export::config::ReporterKind::Prometheus { port, .. } if port == "9300")
        );
        assert_eq!(c.checkpoint.timeout, Duration::from_secs(600));
        assert!(matches!(
            c.restart,
            RestartStrategy::ExponentialDelay { .. }
        ));
        assert_eq!(
            c.align,
            crate::checkpoint::align::AlignMode::Aligned { block: true }
        );
    }

    #[test]
    fn every_problem_is_reported_with_key_value_and_allowed() {
        let e = cfg(&[
            ("execution.checkpointing.intervall", "1s"),
            ("execution.checkpointing.timeout", "soon"),
            ("parallelism.default", "0"),
            ("state.backend.type", "cassandra"),
            ("metrics.reporter.prom.port", "http"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown key 'execution.checkpointing.intervall' (did you mean 'execution.checkpointing.interval'?)"), "{e}");
        assert!(
            e.contains("execution.checkpointing.timeout: 'soon' is not valid: expected a duration"),
            "{e}"
        );
        assert!(
            e.contains(
                "parallelism.default: '0' is not valid: expected an integer from 1 to 32768"
            ),
            "{e}"
        );
        assert!(
            e.contains("state.backend.type: 'cassandra' is not valid: expected one of hashmap"),
            "{e}"
        );
        assert!(e.contains("metrics.reporter.prom.port: 'http'"), "{e}");
    }

    #[test]
    fn checkpoint_modes_and_the_unaligned_constraint() {
        use crate::checkpoint::align::AlignMode;
        let c = cfg(&[
            ("execution.checkpointing.unaligned", "true"),
            ("execution.checkpointing.alignment-timeout", "250 ms"),
        ])
        .unwrap();
        assert_eq!(c.align, AlignMode::Unaligned { timeout_ms: 250 });
        let c = cfg(&[("execution.checkpointing.mode", "AT_LEAST_ONCE")]).unwrap();
        assert_eq!(c.align, AlignMode::Aligned { block: false });
        let err = cfg(&[
            ("execution.checkpointing.mode", "AT_LEAST_ONCE"),
            ("execution.checkpointing.unaligned.enabled", "true"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("execution.checkpointing.unaligned.enabled: 'true' needs execution.checkpointing.mode EXACTLY_ONCE, but it is 'AT_LEAST_ONCE'"),
            "{err}"
        );
    }

    #[test]
    fn large_state_keys_parse_and_bad_values_name_key_value_and_allowed() {
        let c = cfg(&[
            ("state.backend", "rocksdb"),
            ("state.backend.incremental", "true"),
            ("state.backend.local-recovery", "true"),
            ("taskmanager.memory.managed.size", "512mb"),
            ("state.backend.rocksdb.memory.write-buffer-ratio", "0.25"),
            (
                "state.backend.rocksdb.predefined-options",
                "flash_ssd_optimized",
            ),
            ("execution.checkpointing.snapshot-compression", "zstd"),
            ("state.savepoints.dir", "/tmp/sp"),
        ])
        .unwrap();
        assert_eq!(c.state.kind, StateBackendKind::RocksDb);
        assert!(c.state.incremental && c.state.local_recovery.is_some());
        assert_eq!(c.state.rocks.managed_size, 512 << 20);
        assert_eq!(c.state.rocks.write_buffer_ratio, 0.25);
        assert_eq!(c.state.rocks.profile, Profile::FlashSsdOptimized);
        assert_eq!(c.state.compression, Compression::Zstd);
        assert_eq!(
            c.savepoint_dir.map(|l| l.to_string()),
            Some("/tmp/sp".into())
        );
        let e = cfg(&[
            ("taskmanager.memory.managed.size", "lots"),
            ("state.backend.rocksdb.memory.write-buffer-ratio", "1.5"),
            ("execution.checkpointing.dir", "hdfs://nn/ck"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("taskmanager.memory.managed.size: 'lots' is not valid: expected a size such as 64mb"),
            "{e}"
        );
        assert!(
            e.contains("write-buffer-ratio: '1.5' is not valid: expected a number between 0 and 1"),
            "{e}"
        );
        assert!(
            e.contains("execution.checkpointing.dir: 'hdfs://nn/ck' has an unsupported scheme"),
            "{e}"
        );
        // Incremental snapshots need RocksDB; with the heap backend it is a warning.
        let c = cfg(&[("execution.checkpointing.incremental", "true")]).unwrap();
        assert!(!c.state.incremental);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("heap snapshots are always full")));
    }
}
