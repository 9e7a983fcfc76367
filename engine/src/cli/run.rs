//! `tidemark run JOB`: the job file, `--set` and the flags, checked all at
//! once, into a [`Job`]; the runner does the rest.

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobfile::JobFile;
use crate::pipelines::PipelineSpec;
use crate::runner::{Job, Restore};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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

/// Runs and returns the exit code: 2 when the input is wrong (nothing ran),
/// 1 when the job failed.
pub fn run(args: RunArgs, pipelines: &[&'static PipelineSpec]) -> i32 {
    let job = match prepare(&args, pipelines) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let started = match job.start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match started.wait() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}\n  (whose: {})", e.blame());
            EXIT_FAILED
        }
    }
}

/// The job file, `--set` and the flags as a [`Job`].
fn prepare(args: &RunArgs, pipelines: &[&'static PipelineSpec]) -> Result<Job> {
    let (job, config, linger) = check_input(args, pipelines)?;
    let graph = crate::pipelines::build(pipelines, &job, &config)?;
    let restore = match args.restore.as_deref() {
        None => Restore::Fresh,
        Some("latest") => Restore::Latest,
        Some(path) => Restore::From(path.to_string()),
    };
    let expected = job
        .params
        .get("events")
        .and_then(|e| e.parse().ok())
        .filter(|n: &u64| *n > 0);
    Ok(Job::new(graph)
        .config(config)
        .restore(restore)
        .allow_non_restored_state(args.allow_non_restored_state)
        .linger(linger)
        .status_interval(
            (args.status_interval > 0.0).then(|| Duration::from_secs_f64(args.status_interval)),
        )
        .expected_records(expected))
}

/// Everything wrong with the input, reported in one go: the job file's
/// structure, `--set` and `--linger`, every configuration key, the reporters'
/// options and the pipeline's parameters. Only a file that cannot be read, or
/// is not YAML, is reported alone.
fn check_input(
    args: &RunArgs,
    pipelines: &[&'static PipelineSpec],
) -> Result<(JobFile, Config, Option<Duration>)> {
    let (job, problems) = JobFile::load_lenient(&args.job)?;
    check_job(job, problems, &args.set, args.linger.as_deref(), pipelines).map_err(|problems| {
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
    pipelines: &[&'static PipelineSpec],
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
    if let Err(e) = crate::pipelines::check(pipelines, &job) {
        problems.extend(e);
    }
    match config {
        Some(config) if problems.is_empty() => Ok((job, config, linger)),
        _ => Err(problems),
    }
}
