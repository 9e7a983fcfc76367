//! [`Job`]: runs a graph the way `tidemark run` does. Everything that makes a
//! job observable and recoverable is here, so every job gets it, built-in or
//! a user's: the restore (latest or explicit, resolved before anything is
//! touched), the metric registry and its reporters with the job's labels,
//! host metrics, the REST API, the Ctrl-C / SIGTERM stop with a final
//! checkpoint, the status line and the closing summary.
//!
//! ```no_run
//! use tidemark::prelude::*;
//! # fn graph() -> JobGraph { unimplemented!() }
//! let config = Config::from_pairs(&[
//!     ("execution.checkpointing.interval".into(), "1 s".into()),
//!     ("execution.checkpointing.dir".into(), "/tmp/checkpoints".into()),
//! ])?;
//! match Job::new(graph()).config(config).restore(Restore::Latest).run()? {
//!     Outcome::Finished { records, .. } => println!("{records} records"),
//!     other => println!("{other:?}"),
//! }
//! # Ok::<(), tidemark::Error>(())
//! ```

use crate::api::JobGraph;
use crate::checkpoint::align::AlignMode;
use crate::checkpoint::blob::Location;
use crate::checkpoint::restore::{load_explicit, scan, select_latest, LoadedCheckpoint};
use crate::checkpoint::retention::Retention;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::runtime::status::JobStatus;
pub use crate::runtime::StopHandle;
use crate::runtime::{deploy::RuntimeKnobs, JobMaster, JobOptions, JobOutcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tidemark_agent::export::delivery::DeliveryOptions;
use tidemark_agent::export::reporters::{JobLabels, Reporters};
use tidemark_agent::Registry;

/// Where a job's state comes from when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// No state: start from the beginning.
    Fresh,
    /// The newest valid checkpoint of this job under
    /// `execution.checkpointing.dir`; fresh when there is none.
    Latest,
    /// A `chk-<id>` or savepoint directory (a path or an `s3://` URL).
    From(String),
}

/// How a job ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every source finished and every task ended.
    Finished {
        /// Records the sources emitted.
        records: u64,
        /// Wall-clock time of the run.
        elapsed: Duration,
        /// Checkpoints completed.
        checkpoints: u64,
        /// Why the job restarted on the way, oldest first (each failure's
        /// message); empty when it never failed.
        restarts: Vec<String>,
        /// How often state was restored from a checkpoint (at the start and
        /// after each restart).
        restores: u64,
    },
    /// Stopped on request (Ctrl-C, SIGTERM, stop-with-savepoint).
    Stopped {
        /// Where the checkpoint or savepoint kept to resume from is (a path
        /// or an `s3://` URL).
        checkpoint: Option<String>,
    },
    /// Cancelled (`PATCH /jobs/:id`).
    Cancelled,
    /// [`Restore::Latest`] found that the job had finished after its last
    /// checkpoint: nothing ran.
    NothingToResume,
}

/// A job to run: a graph and how to run it.
pub struct Job {
    graph: JobGraph,
    config: Config,
    restore: Restore,
    allow_non_restored_state: bool,
    linger: Option<Duration>,
    status_interval: Option<Duration>,
    expected_records: Option<u64>,
    registry: Option<Registry>,
}

impl Job {
    /// The graph with every configuration key at its default, starting fresh.
    pub fn new(graph: JobGraph) -> Self {
        Self {
            graph,
            config: Config::default(),
            restore: Restore::Fresh,
            allow_non_restored_state: false,
            linger: None,
            status_interval: Some(Duration::from_secs(5)),
            expected_records: None,
            registry: None,
        }
    }

    /// The registry the job's metrics go to (default: a new one), for a
    /// process that embeds the job and serves or reads its metrics itself.
    /// The configured reporters read it as well. Its own options
    /// (`metrics.level`, `metrics.series-limit`) apply: make it with
    /// `Registry::with_options(config.registry)`. A configuration that sets
    /// either key to another value than the registry's is refused at start.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The configuration (checkpoints, state backend, reporters, REST, …).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Where state comes from.
    pub fn restore(mut self, restore: Restore) -> Self {
        self.restore = restore;
        self
    }

    /// Restore even if the checkpoint holds state of operators this graph no
    /// longer has (that state is dropped).
    pub fn allow_non_restored_state(mut self, allow: bool) -> Self {
        self.allow_non_restored_state = allow;
        self
    }

    /// After the job ends, keep the reporters up this long, so the last
    /// values are scraped and pushed.
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }

    /// Time between status lines on stderr (`None`: none). Default 5 s.
    pub fn status_interval(mut self, every: Option<Duration>) -> Self {
        self.status_interval = every;
        self
    }

    /// How many records the sources will emit, for the status line's progress.
    pub fn expected_records(mut self, n: Option<u64>) -> Self {
        self.expected_records = n;
        self
    }

    /// Runs to the end.
    pub fn run(self) -> Result<Outcome> {
        self.start()?.wait()
    }

    /// Checks everything that can be wrong before any task starts (the
    /// restore, the reporters' and the REST API's addresses) and starts the
    /// job's reporters and REST API; [`Started::wait`] runs it.
    pub fn start(self) -> Result<Started> {
        for w in &self.config.warnings {
            log::warn!("{w}");
        }
        let job_id = new_job_id();
        let restore = match resolve_restore(&self, &job_id)? {
            Resolved::Checkpoint(c) => Some(c),
            Resolved::Fresh => None,
            Resolved::Finished => return Ok(Started { inner: None }),
        };
        let Job {
            graph,
            config,
            registry,
            ..
        } = self;
        if let Some(r) = &restore {
            crate::checkpoint::compat::check_compatible(
                &graph,
                &r.meta,
                self.allow_non_restored_state,
            )?;
        }
        if let Some(r) = &registry {
            check_registry_options(&config, r.options())?;
        }
        let registry = registry.unwrap_or_else(|| Registry::with_options(config.registry));
        let labels = JobLabels {
            job_name: graph.name.clone(),
            job_id: job_id.clone(),
            previous_job_ids: restore.iter().map(|r| r.meta.job_id.clone()).collect(),
        };
        let host =
            tidemark_agent::host::HostCollector::new(registry.clone(), config.system_resource)
                .start(config.system_resource_interval);
        let reporters = Reporters::start(
            &registry,
            &config.reporters,
            &labels,
            DeliveryOptions::default(),
        )
        .map_err(Error::Config)?;
        let checkpoint_config = checkpoint_config(&config);
        let opts = JobOptions {
            checkpoint: config.checkpoint.clone(),
            checkpoint_dir: config.checkpoint_dir.clone(),
            savepoint_dir: config.savepoint_dir.clone(),
            retention: config.retention,
            allow_non_restored_state: self.allow_non_restored_state,
            restart: config.restart.clone(),
            knobs: RuntimeKnobs {
                channel_capacity: config.channel_capacity,
                batch_size: config.batch_size,
                buffer_timeout: config.buffer_timeout,
                watermark_interval: config.watermark_interval,
                backend: Arc::new(config.state.clone()),
                s3: config.s3.clone(),
                align: config.align,
                latency: config.latency,
            },
            doctor: config.doctor,
        };
        let jm = JobMaster::new(graph, opts, registry.clone(), job_id.clone())?;
        let rest = match &config.rest {
            Some((host, ports, token)) => Some(
                crate::rest::start(
                    crate::rest::RestContext {
                        status: jm.status(),
                        job_id: job_id.clone(),
                        job_name: jm.graph().name.clone(),
                        checkpoint_config,
                        savepoints: config.checkpoint_dir.is_some(),
                        control: jm.stop_handle(),
                        token: token.clone(),
                        doctor: config.doctor,
                        max_parallelism: jm.graph().max_parallelism,
                        registry: registry.clone(),
                    },
                    *host,
                    ports,
                )
                .map_err(Error::Config)?,
            ),
            None => None,
        };
        Ok(Started {
            inner: Some(Running {
                jm,
                restore,
                reporters,
                rest,
                registry,
                job_id,
                _host: host,
                expected_records: self.expected_records,
                linger: self.linger,
                status_interval: self.status_interval,
            }),
        })
    }
}

/// A job whose reporters and REST API are up; [`wait`](Started::wait) runs it.
pub struct Started {
    /// `None`: nothing to resume.
    inner: Option<Running>,
}

struct Running {
    jm: JobMaster,
    restore: Option<LoadedCheckpoint>,
    reporters: Reporters,
    rest: Option<tidemark_agent::http::HttpServer>,
    registry: Registry,
    job_id: String,
    /// Samples process and host metrics while the job runs.
    _host: tidemark_agent::host::HostCollectorHandle,
    expected_records: Option<u64>,
    linger: Option<Duration>,
    status_interval: Option<Duration>,
}

impl Started {
    /// The job's id (32 hex characters, like Flink's JobID); `None` when
    /// there is nothing to resume.
    pub fn job_id(&self) -> Option<&str> {
        self.inner.as_ref().map(|r| r.job_id.as_str())
    }

    /// Asks the job to stop as Ctrl-C does: a final, kept checkpoint.
    pub fn stop_handle(&self) -> Option<StopHandle> {
        self.inner.as_ref().map(|r| r.jm.stop_handle())
    }

    /// Runs the job to its end: prints where its metrics, REST API and
    /// checkpoints are, a status line, and the closing summary on stderr.
    pub fn wait(self) -> Result<Outcome> {
        match self.inner {
            None => Ok(Outcome::NothingToResume),
            Some(r) => r.run(),
        }
    }
}

impl Running {
    fn run(self) -> Result<Outcome> {
        let Running {
            jm,
            restore,
            reporters,
            rest,
            registry,
            job_id,
            _host,
            expected_records,
            linger,
            status_interval,
        } = self;
        // Registered before the start-up lines are printed, so whoever reads
        // them (a supervisor, a test) can stop the job gracefully from then on.
        let stop = jm.stop_handle();
        if let Err(e) = on_signals(&stop) {
            reporters.shutdown();
            return Err(e);
        }
        eprintln!(
            "job '{}' (id {}, {} subtasks):\n{}",
            jm.graph().name,
            jm.job_id(),
            jm.graph().subtasks(),
            jm.graph().describe().trim_end()
        );
        for a in reporters.scrape_addrs() {
            eprintln!("metrics: http://{a}/metrics");
        }
        if let Some(r) = &rest {
            eprintln!("rest: http://{}/jobs/{}", r.addr(), job_id);
        }
        if let Some(d) = jm.checkpoint_job_dir() {
            eprintln!("checkpoints: {d}");
        }
        let done = Arc::new(AtomicBool::new(false));
        let printer = status_interval.map(|every| {
            crate::cli::status_line::spawn(jm.status(), every, expected_records, done.clone())
        });
        let status = jm.status();
        let started = Instant::now();
        let result = jm.run(restore);
        let elapsed = started.elapsed();
        done.store(true, Ordering::Relaxed);
        if let Some(t) = printer {
            let _ = t.join();
        }
        let outcome = result.map(|o| report(o, &status, elapsed));
        // A stop-with-savepoint caller polls for the savepoint's location after
        // the job stopped: keep answering until it has read it (or 10 s pass).
        if rest.is_some() {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && unread_stop(&status) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(d) = linger {
            eprintln!("keeping the metric reporters up for {d:?} (--linger)");
            let until = Instant::now() + d;
            // Ctrl-C ends the wait early.
            while Instant::now() < until && stop.requested().is_none() {
                std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
            }
        }
        forget_signals(&stop);
        // The job's series: one final push carries them, then they are removed.
        registry.retire_series(tidemark_agent::labels::JOB_ID, &job_id);
        reporters.shutdown();
        drop(rest);
        outcome
    }
}

/// A registry given to [`Job::registry`] keeps its own options; one that
/// contradicts a key the configuration sets would silently export other
/// series than the user asked for.
fn check_registry_options(
    config: &Config,
    given: tidemark_agent::registry::RegistryOptions,
) -> Result<()> {
    use crate::config::keys::{METRICS_LEVEL, METRICS_SERIES_LIMIT};
    let wanted = config.registry;
    let mut problems = Vec::new();
    if config.values.contains_key(METRICS_LEVEL.key) && given.level != wanted.level {
        problems.push(format!(
            "{}: the configuration says {:?} but the registry given to Job::registry has {:?}",
            METRICS_LEVEL.key, wanted.level, given.level
        ));
    }
    if config.values.contains_key(METRICS_SERIES_LIMIT.key)
        && given.series_limit != wanted.series_limit
    {
        problems.push(format!(
            "{}: the configuration says {} but the registry given to Job::registry has {}",
            METRICS_SERIES_LIMIT.key, wanted.series_limit, given.series_limit
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{}; make the registry with Registry::with_options(config.registry)",
        problems.join("; ")
    )))
}

/// Prints how the job ended (the `summary:` line is what scripts parse).
fn report(o: JobOutcome, status: &JobStatus, elapsed: Duration) -> Outcome {
    match o {
        JobOutcome::Finished => {
            let secs = elapsed.as_secs_f64();
            eprintln!("job finished in {secs:.1}s");
            let records = status.totals().source_out;
            let u = crate::cli::usage::read();
            let (checkpoints, restores) = {
                let c = crate::runtime::status::lock(&status.checkpoints);
                (c.completed, c.restored_count)
            };
            let restarts = crate::runtime::status::lock(&status.exceptions)
                .iter()
                .map(|(_, _, why)| why.clone())
                .collect();
            eprintln!(
                "summary: records={records} elapsed_s={secs:.6} cpu_s={:.6} records_per_s={:.0} records_per_cpu_s={:.0} peak_rss_bytes={} checkpoints={checkpoints}",
                u.cpu_s,
                records as f64 / secs.max(1e-9),
                records as f64 / u.cpu_s.max(1e-9),
                u.peak_rss
            );
            Outcome::Finished {
                records,
                elapsed,
                checkpoints,
                restarts,
                restores,
            }
        }
        JobOutcome::Stopped { checkpoint } => {
            match &checkpoint {
                Some(c) if c.name().starts_with("chk-") => eprintln!(
                    "job stopped; checkpoint kept at {c} (resume with --restore latest or --restore {c})"
                ),
                Some(c) => eprintln!("job stopped; savepoint kept at {c} (resume with --restore {c})"),
                None => eprintln!("job stopped (no checkpoint to resume from)"),
            }
            Outcome::Stopped {
                checkpoint: checkpoint.map(|c| c.to_string()),
            }
        }
        JobOutcome::Cancelled => {
            eprintln!("job cancelled");
            Outcome::Cancelled
        }
    }
}

fn unread_stop(status: &JobStatus) -> bool {
    crate::runtime::status::lock(&status.savepoints).has_unread_stop()
}

/// The jobs running in this process that Ctrl-C, SIGTERM and SIGHUP stop
/// (as Flink's `stop` does: a final checkpoint that is kept, then the end).
/// The handler is installed once per process; jobs come and go.
static RUNNING: Mutex<Vec<StopHandle>> = Mutex::new(Vec::new());

fn on_signals(stop: &StopHandle) -> Result<()> {
    static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                let jobs = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let again: Vec<bool> = jobs.iter().map(|s| s.stop()).collect();
                if again.contains(&true) {
                    eprintln!("second interrupt: exiting now");
                    std::process::exit(130);
                }
                eprintln!("stopping (a second Ctrl-C or SIGTERM exits at once)");
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        // Without it a signal would kill the job with no final checkpoint.
        .map_err(|e| Error::Config(format!("cannot install the Ctrl-C / SIGTERM handler: {e}")))?;
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stop.clone());
    Ok(())
}

fn forget_signals(stop: &StopHandle) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|s| !s.same(stop));
}

enum Resolved {
    Fresh,
    Checkpoint(LoadedCheckpoint),
    /// `Latest` found the job finished after its last checkpoint.
    Finished,
}

/// Finds and loads the state to restore, before anything is created on disk.
fn resolve_restore(job: &Job, job_id: &str) -> Result<Resolved> {
    let (config, name) = (&job.config, &job.graph.name);
    let local = config
        .state
        .local_recovery
        .clone()
        .map(crate::checkpoint::local::LocalRecovery::new);
    let load =
        |d, m| LoadedCheckpoint::load(d, m, local.as_ref(), job_id, &config.state.rocks.local_dir);
    match &job.restore {
        Restore::Fresh => Ok(Resolved::Fresh),
        Restore::Latest => {
            let dir = config.checkpoint_dir.clone().ok_or_else(|| {
                Error::Config("--restore latest needs execution.checkpointing.dir (where to look for checkpoints)".into())
            })?;
            let sel = select_latest(name, scan(&dir));
            for (d, why) in &sel.skipped {
                log::warn!("skipping damaged checkpoint {d}: {why}");
            }
            if let Some((d, m)) = &sel.finished {
                eprintln!(
                    "job '{name}' finished after its last checkpoint ({}, {d}): nothing to resume; run it without --restore to start it over",
                    if m.checkpoint_id == 0 {
                        "none".to_string()
                    } else {
                        format!("checkpoint {}", m.checkpoint_id)
                    },
                );
                return Ok(Resolved::Finished);
            }
            match sel.chosen {
                Some((d, m)) => {
                    log::info!(
                        "restoring job '{name}' from checkpoint {} ({d})",
                        m.checkpoint_id
                    );
                    let loaded = load(d, m)?;
                    crate::runtime::fault::pause_at(crate::runtime::fault::RESTORE);
                    Ok(Resolved::Checkpoint(loaded))
                }
                None => {
                    log::info!("no checkpoint of job '{name}' under {dir}: starting fresh");
                    Ok(Resolved::Fresh)
                }
            }
        }
        Restore::From(path) => {
            let loc = Location::parse(path, &config.s3, "--restore")?;
            let (d, m) = load_explicit(&loc, name, &job.graph.pipeline)?;
            log::info!(
                "restoring from {} {} ({d})",
                if m.savepoint {
                    "savepoint"
                } else {
                    "checkpoint"
                },
                m.checkpoint_id,
            );
            Ok(Resolved::Checkpoint(load(d, m)?))
        }
    }
}

/// The checkpointing configuration as Flink's REST API shows it.
fn checkpoint_config(config: &Config) -> Option<serde_json::Value> {
    let c = &config.checkpoint;
    c.interval.map(|i| {
        let ms = |d: Duration| d.as_millis() as u64;
        let (exactly_once, unaligned, aligned_timeout) = match config.align {
            AlignMode::Aligned { block } => (block, false, 0),
            AlignMode::Unaligned { timeout_ms } => (true, true, timeout_ms),
        };
        serde_json::json!({
            "mode": if exactly_once { "exactly_once" } else { "at_least_once" },
            "interval": ms(i), "timeout": ms(c.timeout), "min_pause": ms(c.min_pause),
            "max_concurrent": c.max_concurrent,
            "externalization": {
                "enabled": config.retention != Retention::NoExternalized,
                "delete_on_cancellation": config.retention != Retention::RetainOnCancellation,
            },
            "state_backend": match config.state.kind {
                crate::state::StateBackendKind::Heap => "HashMapStateBackend",
                crate::state::StateBackendKind::RocksDb => "EmbeddedRocksDBStateBackend",
            },
            "checkpoint_storage": "FileSystemCheckpointStorage",
            "incremental": config.state.incremental,
            "local_recovery": config.state.local_recovery.is_some(),
            "unaligned_checkpoints": unaligned, "tolerable_failed_checkpoints": c.tolerable_failed,
            "aligned_checkpoint_timeout": aligned_timeout, "checkpoints_after_tasks_finish": true, "state_changelog_enabled": false,
            "changelog_periodic_materialization_interval": 0, "changelog_storage": "memory",
        })
    })
}

/// 32 random hex characters, like Flink's JobID.
pub(crate) fn new_job_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i ^ std::process::id() as u64);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
