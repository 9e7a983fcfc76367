//! `tidemark run JOB`: everything that can be wrong with the input is checked
//! before any task starts and before anything stored is touched.

use super::{status, EXIT_FAILED, EXIT_USAGE};
use crate::checkpoint::align::AlignMode;
use crate::checkpoint::restore::{load_explicit, scan, select_latest, LoadedCheckpoint};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobfile::JobFile;
use crate::pipelines;
use crate::runtime::deploy::RuntimeKnobs;
use crate::runtime::{JobMaster, JobOptions, JobOutcome};
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidemark_agent::export::delivery::DeliveryOptions;
use tidemark_agent::export::reporters::{JobLabels, Reporters};
use tidemark_agent::Registry;

/// Arguments of `tidemark run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The job file (YAML): pipeline, params and config.
    pub job: PathBuf,
    /// Restore from `latest` (newest valid checkpoint of this job under
    /// execution.checkpointing.dir; starts fresh when there is none) or from a
    /// chk-<id> directory.
    #[arg(long)]
    pub restore: Option<String>,
    /// Override any configuration key, or a pipeline parameter as params.<name>:
    /// --set key=value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Accepted for older scripts: Ctrl-C and SIGTERM always take a final,
    /// kept checkpoint now (when checkpointing is on).
    #[arg(long, hide = true)]
    pub checkpoint_on_stop: bool,
    /// Restore even if the checkpoint or savepoint holds state of operators
    /// this job no longer has (that state is dropped).
    #[arg(long)]
    pub allow_non_restored_state: bool,
    /// After the job ends, keep the metric reporters up this long (e.g. 30s) so
    /// Prometheus scrapes and push exporters deliver the final values.
    #[arg(long, value_name = "DURATION")]
    pub linger: Option<String>,
    /// Seconds between status lines (0 = none).
    #[arg(long, default_value_t = 5.0)]
    pub status_interval: f64,
}

/// Runs and returns the exit code.
pub fn run(args: RunArgs) -> i32 {
    match prepare(&args) {
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
        // `--restore latest` of a job that finished: nothing to do.
        Ok(None) => 0,
        Ok(Some(p)) => execute(p, &args),
    }
}

struct Prepared {
    jm: JobMaster,
    restore: Option<LoadedCheckpoint>,
    reporters: Reporters,
    rest: Option<tidemark_agent::http::HttpServer>,
    registry: Registry,
    job_id: String,
    /// Samples process and host metrics while the job runs.
    _host: tidemark_agent::host::HostCollectorHandle,
    total_events: Option<u64>,
    linger: Option<Duration>,
}

/// Everything wrong with the input, reported in one go: the job file's
/// structure, `--set` and `--linger`, every configuration key, the reporters'
/// options and the pipeline's parameters. Only a file that cannot be read, or
/// is not YAML, is reported alone.
fn check_input(args: &RunArgs) -> Result<(JobFile, Config, Option<Duration>)> {
    let (job, problems) = JobFile::load_lenient(&args.job)?;
    check_job(job, problems, &args.set, args.linger.as_deref()).map_err(|problems| {
        Error::Config(format!(
            "{}: {} problem{}:\n  {}",
            args.job.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        ))
    })
}

/// Checks a parsed job file (with the problems its parse found) against the
/// command line's `--set` and `--linger`: every problem at once, or the job,
/// its configuration and the linger.
pub(crate) fn check_job(
    mut job: JobFile,
    mut problems: Vec<String>,
    set: &[String],
    linger: Option<&str>,
) -> std::result::Result<(JobFile, Config, Option<Duration>), Vec<String>> {
    let linger = match linger.map(|l| (l, crate::config::value::parse_duration(l))) {
        None => None,
        Some((_, Ok(d))) => Some(d),
        Some((l, Err(allowed))) => {
            problems.push(format!("--linger: '{l}' is not valid: expected {allowed}"));
            None
        }
    };
    let mut pairs = job.config.clone();
    for s in set {
        match s.split_once('=') {
            None => problems.push(format!(
                "--set '{s}': expected KEY=VALUE, e.g. --set execution.checkpointing.interval=2s"
            )),
            Some((k, v)) => match k.trim().strip_prefix("params.") {
                // Pipeline parameters: --set params.events=1000000
                Some(param) => {
                    job.params.insert(param.to_string(), v.trim().to_string());
                }
                None => pairs.push((k.trim().to_string(), v.trim().to_string())),
            },
        }
    }
    let config = Config::validate(&pairs)
        .map_err(|e| problems.extend(e))
        .ok();
    if let Err(e) = pipelines::check(&job) {
        problems.extend(e);
    }
    match config {
        Some(config) if problems.is_empty() => Ok((job, config, linger)),
        _ => Err(problems),
    }
}

/// The job, ready to run; `None` when `--restore latest` finds that it
/// finished (said on stderr).
fn prepare(args: &RunArgs) -> Result<Option<Prepared>> {
    let (job, config, linger) = check_input(args)?;
    for w in &config.warnings {
        log::warn!("{w}");
    }
    let graph = pipelines::build(&job, &config)?;
    // Resolve the restore before creating anything on disk.
    let job_id = new_job_id();
    let local = config
        .state
        .local_recovery
        .clone()
        .map(crate::checkpoint::local::LocalRecovery::new);
    let restore = match args.restore.as_deref() {
        None => None,
        Some("latest") => {
            let dir = config.checkpoint_dir.clone().ok_or_else(|| {
                Error::Config("--restore latest needs execution.checkpointing.dir (where to look for checkpoints)".into())
            })?;
            let sel = select_latest(&job.name, scan(&dir));
            for (d, why) in &sel.skipped {
                log::warn!("skipping damaged checkpoint {d}: {why}");
            }
            if let Some((d, m)) = &sel.finished {
                eprintln!(
                    "job '{}' finished after its last checkpoint ({}, {d}): nothing to resume; run it without --restore to start it over",
                    job.name,
                    if m.checkpoint_id == 0 {
                        "none".to_string()
                    } else {
                        format!("checkpoint {}", m.checkpoint_id)
                    },
                );
                return Ok(None);
            }
            match sel.chosen {
                Some((d, m)) => {
                    log::info!(
                        "restoring job '{}' from checkpoint {} ({d})",
                        job.name,
                        m.checkpoint_id,
                    );
                    let loaded = LoadedCheckpoint::load(
                        d,
                        m,
                        local.as_ref(),
                        &job_id,
                        &config.state.rocks.local_dir,
                    )?;
                    crate::runtime::fault::pause_at(crate::runtime::fault::RESTORE);
                    Some(loaded)
                }
                None => {
                    log::info!(
                        "no checkpoint of job '{}' under {dir}: starting fresh",
                        job.name,
                    );
                    None
                }
            }
        }
        Some(path) => {
            let loc = crate::checkpoint::blob::Location::parse(path, &config.s3, "--restore")?;
            let (d, m) = load_explicit(&loc, &job.name, &graph.pipeline)?;
            log::info!(
                "restoring from {} {} ({d})",
                if m.savepoint {
                    "savepoint"
                } else {
                    "checkpoint"
                },
                m.checkpoint_id,
            );
            Some(LoadedCheckpoint::load(
                d,
                m,
                local.as_ref(),
                &job_id,
                &config.state.rocks.local_dir,
            )?)
        }
    };
    let registry = Registry::with_options(config.registry);
    let opts = JobOptions {
        checkpoint: config.checkpoint.clone(),
        checkpoint_dir: config.checkpoint_dir.clone(),
        savepoint_dir: config.savepoint_dir.clone(),
        retention: config.retention,
        allow_non_restored_state: args.allow_non_restored_state,
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
    };
    if let Some(r) = &restore {
        crate::runtime::job_master::check_compatible(
            &graph,
            &r.meta,
            args.allow_non_restored_state,
        )?;
    }
    let labels = JobLabels {
        job_name: graph.name.clone(),
        job_id: job_id.clone(),
        previous_job_ids: restore.iter().map(|r| r.meta.job_id.clone()).collect(),
    };
    let host = tidemark_agent::host::HostCollector::new(registry.clone(), config.system_resource)
        .start(config.system_resource_interval);
    let reporters = Reporters::start(
        &registry,
        &config.reporters,
        &labels,
        DeliveryOptions::default(),
    )
    .map_err(Error::Config)?;
    let total_events = job
        .params
        .get("events")
        .and_then(|e| e.parse().ok())
        .filter(|n: &u64| *n > 0);
    let checkpoint_config = opts.checkpoint.interval.map(|i| {
        let ms = |d: Duration| d.as_millis() as u64;
        let (exactly_once, unaligned, aligned_timeout) = match config.align {
            AlignMode::Aligned { block } => (block, false, 0),
            AlignMode::Unaligned { timeout_ms } => (true, true, timeout_ms),
        };
        serde_json::json!({
            "mode": if exactly_once { "exactly_once" } else { "at_least_once" },
            "interval": ms(i), "timeout": ms(opts.checkpoint.timeout), "min_pause": ms(opts.checkpoint.min_pause),
            "max_concurrent": opts.checkpoint.max_concurrent,
            "externalization": {
                "enabled": opts.retention != crate::runtime::job_master::Retention::NoExternalized,
                "delete_on_cancellation": opts.retention != crate::runtime::job_master::Retention::RetainOnCancellation,
            },
            "state_backend": match config.state.kind {
                crate::state::StateBackendKind::Heap => "HashMapStateBackend",
                crate::state::StateBackendKind::RocksDb => "EmbeddedRocksDBStateBackend",
            },
            "checkpoint_storage": "FileSystemCheckpointStorage",
            "incremental": config.state.incremental,
            "local_recovery": config.state.local_recovery.is_some(),
            "unaligned_checkpoints": unaligned, "tolerable_failed_checkpoints": opts.checkpoint.tolerable_failed,
            "aligned_checkpoint_timeout": aligned_timeout, "checkpoints_after_tasks_finish": true, "state_changelog_enabled": false,
            "changelog_periodic_materialization_interval": 0, "changelog_storage": "memory",
        })
    });
    let jm = JobMaster::new(graph, opts, registry.clone(), job_id.clone())?;
    let rest = match &config.rest {
        Some((host, ports, token)) => Some(
            crate::rest::start(
                crate::rest::RestContext {
                    status: jm.status(),
                    job_id: job_id.clone(),
                    job_name: jm.graph().name.clone(),
                    checkpoint_config,
                    stop: jm.stop_handle(),
                    token: token.clone(),
                },
                *host,
                ports,
            )
            .map_err(Error::Config)?,
        ),
        None => None,
    };
    Ok(Some(Prepared {
        jm,
        restore,
        reporters,
        rest,
        registry,
        job_id,
        _host: host,
        total_events,
        linger,
    }))
}

/// 32 random hex characters, like Flink's JobID.
pub fn new_job_id() -> String {
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

fn execute(p: Prepared, args: &RunArgs) -> i32 {
    let Prepared {
        jm,
        restore,
        reporters,
        rest,
        registry,
        job_id,
        _host,
        total_events,
        linger,
    } = p;
    // Installed before the start-up lines are printed, so whoever reads them
    // (a supervisor, a test) can stop the job gracefully from then on. Ctrl-C,
    // SIGTERM (Kubernetes, systemd, `docker stop`) and SIGHUP all stop it as
    // Flink's `stop` does: a final checkpoint that is kept, then the end.
    let stop = jm.stop_handle();
    let stop2 = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        if stop2.stop() {
            eprintln!("second interrupt: exiting now");
            std::process::exit(130);
        }
        eprintln!("stopping (a second Ctrl-C or SIGTERM exits at once)");
    }) {
        // Without it a signal would kill the job with no final checkpoint.
        eprintln!("error: cannot install the Ctrl-C / SIGTERM handler: {e}");
        reporters.shutdown();
        return EXIT_FAILED;
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
    let printer = (args.status_interval > 0.0).then(|| {
        status::spawn(
            jm.status(),
            Duration::from_secs_f64(args.status_interval),
            total_events,
            done.clone(),
        )
    });
    let status = jm.status();
    let started = Instant::now();
    let result = jm.run(restore);
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Some(t) = printer {
        let _ = t.join();
    }
    let code = match result {
        Ok(JobOutcome::Finished) => {
            eprintln!("job finished in {elapsed:.1}s");
            let records = status.totals().source_out;
            let u = super::usage::read();
            let checkpoints = status
                .checkpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .completed;
            // One parseable line for scripts/bench.sh and `tidemark bench`.
            eprintln!(
                "summary: records={records} elapsed_s={elapsed:.6} cpu_s={:.6} records_per_s={:.0} records_per_cpu_s={:.0} peak_rss_bytes={} checkpoints={checkpoints}",
                u.cpu_s,
                records as f64 / elapsed.max(1e-9),
                records as f64 / u.cpu_s.max(1e-9),
                u.peak_rss
            );
            0
        }
        Ok(JobOutcome::Stopped { checkpoint }) => {
            match checkpoint {
                Some(c) if c.name().starts_with("chk-") => eprintln!(
                    "job stopped; checkpoint kept at {c} (resume with --restore latest or --restore {c})"
                ),
                Some(c) => eprintln!("job stopped; savepoint kept at {c} (resume with --restore {c})"),
                None => eprintln!("job stopped (no checkpoint to resume from)"),
            }
            0
        }
        Ok(JobOutcome::Cancelled) => {
            eprintln!("job cancelled");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    };
    // A stop-with-savepoint caller polls for the savepoint's location after
    // the job stopped: keep answering until it has read it (or 10 s pass).
    if rest.is_some() {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until && lock_book(&status) {
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
    // The job's series: one final push carries them, then they are removed.
    registry.retire_series(tidemark_agent::labels::JOB_ID, &job_id);
    reporters.shutdown();
    drop(rest);
    code
}

fn lock_book(status: &crate::runtime::status::JobStatus) -> bool {
    crate::runtime::status::lock(&status.savepoints).has_unread_stop()
}
