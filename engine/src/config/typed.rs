//! The typed configuration: built from (key, value) pairs in order (job file
//! first, then `--set`), validated all at once.

use super::keys::{self, Kind};
use super::value::*;
use crate::checkpoint::blob::{Location, S3Settings};
use crate::checkpoint::coordinator::CheckpointSettings;
use crate::checkpoint::retention::Retention;
use crate::error::{Error, Result};
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
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        let mut reporter_opts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in pairs {
            if let Some((spec, alias)) = keys::find(k) {
                if alias {
                    warnings.push(format!("'{k}' is deprecated; use '{}'", spec.key));
                }
                values.insert(spec.key.to_string(), v.clone());
            } else if let Some(rest) = k.strip_prefix("metrics.reporter.") {
                match rest.split_once('.') {
                    Some((name, opt)) if !name.is_empty() && !opt.is_empty() => {
                        reporter_opts
                            .entry(name.to_string())
                            .or_default()
                            .insert(opt.to_string(), v.clone());
                        values.insert(k.clone(), v.clone());
                    }
                    _ => errors.push(format!(
                        "unknown key '{k}': reporter keys are metrics.reporter.<name>.<option>"
                    )),
                }
            } else {
                let hint = closest(k, keys::all_names())
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                errors.push(format!("unknown key '{k}'{hint}"));
            }
        }
        for spec in keys::KEYS {
            let Some(v) = values.get(spec.key) else {
                continue;
            };
            let check = match spec.kind {
                Kind::Duration => parse_duration(v).map(|_| ()),
                Kind::Int(lo, hi) => parse_int(v, lo, hi).map(|_| ()),
                Kind::Float => parse_f64(v).map(|_| ()),
                Kind::Ratio => parse_ratio(v).map(|_| ()),
                Kind::Bytes => parse_bytes(v).map(|_| ()),
                Kind::Bool => parse_bool(v).map(|_| ()),
                Kind::Enum(allowed) => parse_enum(v, allowed).map(|_| ()),
                Kind::Path | Kind::Text | Kind::List => {
                    if v.trim().is_empty() && !matches!(spec.kind, Kind::List) {
                        Err("a non-empty value".into())
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(allowed) = check {
                errors.push(format!(
                    "{}: '{v}' is not valid: expected {allowed}",
                    spec.key
                ));
            }
        }
        let get = |k: &str| -> String {
            values
                .get(k)
                .cloned()
                .or_else(|| keys::find(k).and_then(|(s, _)| s.default.map(str::to_string)))
                .unwrap_or_default()
        };
        let dur = |k: &str| parse_duration(&get(k)).unwrap_or_default();
        let int = |k: &str| parse_int(&get(k), i64::MIN, i64::MAX).unwrap_or(0);
        let interval = values
            .get("execution.checkpointing.interval")
            .map(|v| parse_duration(v).unwrap_or_default());
        if let Some(i) = interval {
            if i < Duration::from_millis(10) {
                errors.push(format!(
                    "execution.checkpointing.interval: '{}' is too short: expected at least 10 ms",
                    get("execution.checkpointing.interval")
                ));
            }
        }
        // Reporters.
        let names: Vec<String> = get("metrics.reporters")
            .split([',', ';'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let mut reporters = Vec::new();
        let none = BTreeMap::new();
        for name in &names {
            match ReporterConfig::parse(name, reporter_opts.get(name).unwrap_or(&none)) {
                Ok(r) => reporters.push(r),
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
        let exactly_once = get("execution.checkpointing.mode").eq_ignore_ascii_case("EXACTLY_ONCE");
        let unaligned =
            get("execution.checkpointing.unaligned.enabled").eq_ignore_ascii_case("true");
        if unaligned && !exactly_once {
            errors.push(format!(
                "execution.checkpointing.unaligned.enabled: 'true' needs execution.checkpointing.mode EXACTLY_ONCE, but it is '{}': unaligned checkpoints exist to keep exactly-once cheap under backpressure",
                get("execution.checkpointing.mode")
            ));
        }
        let align = if unaligned {
            crate::checkpoint::align::AlignMode::Unaligned {
                timeout_ms: dur("execution.checkpointing.aligned-checkpoint-timeout").as_millis()
                    as i64,
            }
        } else {
            crate::checkpoint::align::AlignMode::Aligned {
                block: exactly_once,
            }
        };
        let opt = |k: &str| values.get(k).map(|v| v.trim().to_string());
        let flag = |k: &str| get(k).eq_ignore_ascii_case("true");
        let bytes = |k: &str| values.get(k).and_then(|v| parse_bytes(v).ok());
        let s3 = S3Settings {
            endpoint: opt("s3.endpoint"),
            region: opt("s3.region"),
            access_key: opt("s3.access-key"),
            secret_key: opt("s3.secret-key"),
            path_style: flag("s3.path.style.access"),
            max_retries: int("s3.max-retries") as usize,
        };
        let mut location = |k: &str| -> Option<Location> {
            let v = values.get(k)?;
            match Location::parse(v, &s3, k) {
                Ok(l) => Some(l),
                Err(e) => {
                    errors.push(
                        e.to_string()
                            .trim_start_matches("configuration: ")
                            .to_string(),
                    );
                    None
                }
            }
        };
        let checkpoint_dir = location("execution.checkpointing.dir");
        let savepoint_dir = location("execution.checkpointing.savepoint-dir");
        let kind = if get("state.backend.type").eq_ignore_ascii_case("rocksdb") {
            StateBackendKind::RocksDb
        } else {
            StateBackendKind::Heap
        };
        let incremental = flag("execution.checkpointing.incremental");
        if incremental && kind != StateBackendKind::RocksDb {
            warnings.push(
                "execution.checkpointing.incremental is true but state.backend.type is hashmap: \
                 heap snapshots are always full"
                    .into(),
            );
        }
        let defaults = RocksSettings::default();
        let rocks = RocksSettings {
            local_dir: opt("state.backend.rocksdb.localdir")
                .map(PathBuf::from)
                .unwrap_or(defaults.local_dir),
            managed: flag("state.backend.rocksdb.memory.managed"),
            managed_size: bytes("taskmanager.memory.managed.size").unwrap_or(defaults.managed_size),
            fixed_per_slot: bytes("state.backend.rocksdb.memory.fixed-per-slot"),
            write_buffer_ratio: parse_ratio(&get(
                "state.backend.rocksdb.memory.write-buffer-ratio",
            ))
            .unwrap_or(0.5),
            high_prio_ratio: parse_ratio(&get("state.backend.rocksdb.memory.high-prio-pool-ratio"))
                .unwrap_or(0.1),
            partitioned_index_filters: flag(
                "state.backend.rocksdb.memory.partitioned-index-filters",
            ),
            metadata_block_size: bytes("state.backend.rocksdb.block.metadata-blocksize")
                .unwrap_or(defaults.metadata_block_size),
            bloom_filter: flag("state.backend.rocksdb.use-bloom-filter"),
            bloom_bits_per_key: parse_f64(&get("state.backend.rocksdb.bloom-filter.bits-per-key"))
                .unwrap_or(defaults.bloom_bits_per_key),
            bloom_block_based: flag("state.backend.rocksdb.bloom-filter.block-based-mode"),
            profile: Profile::parse(&get("state.backend.rocksdb.predefined-options"))
                .unwrap_or_default(),
            block_cache_size: bytes("state.backend.rocksdb.block.cache-size"),
            block_size: bytes("state.backend.rocksdb.block.blocksize"),
            write_buffer_size: bytes("state.backend.rocksdb.writebuffer.size"),
            write_buffer_count: values
                .get("state.backend.rocksdb.writebuffer.count")
                .map(|_| int("state.backend.rocksdb.writebuffer.count") as i32),
            background_jobs: values
                .get("state.backend.rocksdb.thread.num")
                .map(|_| int("state.backend.rocksdb.thread.num") as i32),
            compaction_style: opt("state.backend.rocksdb.compaction.style").and_then(|v| {
                match v.to_ascii_uppercase().as_str() {
                    "LEVEL" => Some(rocksdb::DBCompactionStyle::Level),
                    "UNIVERSAL" => Some(rocksdb::DBCompactionStyle::Universal),
                    "FIFO" => Some(rocksdb::DBCompactionStyle::Fifo),
                    _ => None,
                }
            }),
            level0_trigger: values
                .get("state.backend.rocksdb.compaction.level0-file-num-trigger")
                .map(|_| int("state.backend.rocksdb.compaction.level0-file-num-trigger") as i32),
            statistics: StatsLevel::parse(&get("state.backend.rocksdb.statistics.level"))
                .unwrap_or_default(),
            native_metrics: flag("state.backend.rocksdb.metrics.native"),
            timers_in_rocksdb: get("state.backend.rocksdb.timer-service.factory")
                .eq_ignore_ascii_case("ROCKSDB"),
            cache_bytes: bytes("state.backend.rocksdb.write-back-cache.size")
                .map_or(defaults.cache_bytes, |b| b as usize),
        };
        let state = StateSettings {
            kind,
            rocks,
            rocks_shared: Default::default(),
            incremental: incremental && kind == StateBackendKind::RocksDb,
            compression: Compression::parse(&get("execution.checkpointing.snapshot-compression"))
                .unwrap_or_default(),
            local_recovery: flag("execution.state-recovery.from-local").then(|| {
                opt("taskmanager.state.local.root-dirs")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| std::env::temp_dir().join("tidemark-localState"))
            }),
        };
        let rest = if get("rest.enabled").eq_ignore_ascii_case("true") {
            let host = get("rest.bind-address");
            let host: Option<std::net::IpAddr> = host.parse().ok();
            if host.is_none() {
                errors.push(format!("rest.bind-address: '{}' is not valid: expected an IP address such as 127.0.0.1", get("rest.bind-address")));
            }
            let ports = get("rest.bind-port");
            if tidemark_agent::http::parse_ports(&ports).is_none() {
                errors.push(format!(
                    "rest.bind-port: '{ports}' is not valid: expected a port, a range like 8081-8099 or a list like 8081,8082"
                ));
            }
            let token = match (
                values.get("rest.auth.token-env"),
                values.get("rest.auth.token-file"),
            ) {
                (Some(var), _) => match std::env::var(var.trim()) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        errors.push(format!(
                            "rest.auth.token-env: '{}' is not valid: expected the name of a set environment variable",
                            var.trim()
                        ));
                        None
                    }
                },
                (None, Some(path)) => match std::fs::read_to_string(path.trim()) {
                    Ok(t) => Some(t.trim().to_string()),
                    Err(e) => {
                        errors.push(format!(
                            "rest.auth.token-file: '{}' is not valid: expected a readable file ({e})",
                            path.trim()
                        ));
                        None
                    }
                },
                (None, None) => None,
            };
            host.map(|h| (h, ports, token))
        } else {
            None
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let restart_type = values
            .get("restart-strategy.type")
            .cloned()
            .unwrap_or_else(|| {
                if interval.is_some() {
                    "exponential-delay".into()
                } else {
                    "none".into()
                }
            });
        let restart = match parse_enum(&restart_type, keys::RESTART_TYPES).unwrap_or("none") {
            "fixed-delay" => RestartStrategy::FixedDelay {
                attempts: int("restart-strategy.fixed-delay.attempts") as u32,
                delay: dur("restart-strategy.fixed-delay.delay"),
            },
            "exponential-delay" => RestartStrategy::ExponentialDelay {
                initial: dur("restart-strategy.exponential-delay.initial-backoff"),
                max: dur("restart-strategy.exponential-delay.max-backoff"),
                multiplier: parse_f64(&get(
                    "restart-strategy.exponential-delay.backoff-multiplier",
                ))
                .unwrap_or(1.5),
            },
            _ => RestartStrategy::None,
        };
        let retention = match get("execution.checkpointing.externalized-checkpoint-retention")
            .to_ascii_uppercase()
            .as_str()
        {
            "DELETE_ON_CANCELLATION" => Retention::DeleteOnCancellation,
            "RETAIN_ON_CANCELLATION" => Retention::RetainOnCancellation,
            _ => Retention::NoExternalized,
        };
        Ok(Config {
            parallelism: int("parallelism.default") as usize,
            max_parallelism: values
                .get("pipeline.max-parallelism")
                .map(|v| parse_int(v, 1, 32768).unwrap_or(128) as u32),
            watermark_interval: dur("pipeline.auto-watermark-interval"),
            buffer_timeout: dur("execution.buffer-timeout.interval"),
            checkpoint: CheckpointSettings {
                interval,
                timeout: dur("execution.checkpointing.timeout"),
                min_pause: dur("execution.checkpointing.min-pause"),
                max_concurrent: int("execution.checkpointing.max-concurrent-checkpoints") as usize,
                tolerable_failed: int("execution.checkpointing.tolerable-failed-checkpoints")
                    as u32,
                num_retained: int("execution.checkpointing.num-retained") as usize,
            },
            checkpoint_dir,
            savepoint_dir,
            s3,
            align,
            retention,
            state,
            restart,
            batch_size: int("tidemark.runtime.batch-size") as usize,
            channel_capacity: int("tidemark.runtime.channel-capacity") as usize,
            reporters,
            rest,
            latency: Some(dur("metrics.latency.interval"))
                .filter(|d| !d.is_zero())
                .map(|d| {
                    (
                        d,
                        match get("metrics.latency.granularity")
                            .to_ascii_lowercase()
                            .as_str()
                        {
                            "single" => crate::metrics::LatencyGranularity::Single,
                            "subtask" => crate::metrics::LatencyGranularity::Subtask,
                            _ => crate::metrics::LatencyGranularity::Operator,
                        },
                    )
                }),
            system_resource: get("metrics.system-resource").eq_ignore_ascii_case("true"),
            system_resource_interval: dur("metrics.system-resource-probing-interval"),
            registry: tidemark_agent::registry::RegistryOptions {
                level: get("metrics.level")
                    .parse()
                    .unwrap_or(tidemark_agent::labels::Level::Subtask),
                series_limit: int("metrics.series-limit") as usize,
            },
            warnings,
            values,
        })
    }
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
