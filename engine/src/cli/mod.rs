//! The `tidemark` command line.
//!
//! | file | owns |
//! |---|---|
//! | `run` | `tidemark run`: load, validate, restore, run, report |
//! | `status_line` | the periodic status line and progress bar |
//! | `checkpoints` | `tidemark checkpoints DIR` and `--job URL` |
//! | `backpressure_report` | `tidemark backpressure URL` |
//! | `rest_client` | reading a running job's REST API |
//! | `profile` | `tidemark profile URL --vertex V`: a vertex's flame graph |
//! | `usage` | CPU and peak memory of the process, for the summary |
//! | `docs` | `tidemark pipelines`, `metrics-doc`, `config-doc` |
//! | `monitoring` | `tidemark dashboards`, `alert-rules` |
//! | `bench` | `tidemark bench`: workloads, one row per run, medians |
//! | `produce` | `tidemark produce`: lines into a JetStream stream |
//! | `produce_kafka` | `tidemark produce --topic`: lines into a Kafka topic |

pub(crate) mod agent;
pub(crate) mod backpressure_report;
pub(crate) mod bench;
pub(crate) mod checkpoints;
pub(crate) mod docs;
pub(crate) mod monitoring;
pub(crate) mod produce;
pub(crate) mod produce_kafka;
pub(crate) mod profile;
pub(crate) mod rest_client;
pub(crate) mod run;
pub(crate) mod savepoint;
pub(crate) mod status_line;
pub(crate) mod usage;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Tidemark: a stateful stream processor whose every operator is observable.
#[derive(Parser, Debug)]
#[command(name = "tidemark", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a job file.
    Run(run::RunArgs),
    /// List the checkpoints stored under a checkpoint directory, or (--job) a
    /// running job's checkpoint history with the time of each phase.
    Checkpoints {
        /// The execution.checkpointing.dir of the job(s).
        #[arg(required_unless_present = "job")]
        dir: Option<PathBuf>,
        /// A running job's REST address (http://127.0.0.1:8081) or job URL.
        #[arg(long)]
        job: Option<String>,
    },
    /// Take a savepoint of a running job (and, with --stop, stop it).
    Savepoint(savepoint::SavepointArgs),
    /// Busy / backpressured / idle per vertex of a running job, and the likely bottleneck.
    Backpressure {
        /// The job's REST address (http://127.0.0.1:8081) or job URL.
        url: String,
    },
    /// Name what holds a job back: the bottleneck and why, checkpoint phases, restarts, watermarks, exporters, capacity.
    Doctor {
        /// The job's REST address (http://127.0.0.1:8081) or job URL; or, with
        /// --prometheus, none.
        #[arg(required_unless_present = "prometheus", conflicts_with = "prometheus")]
        url: Option<String>,
        /// Read the job's catalogue series from this Prometheus (http://127.0.0.1:9090)
        /// instead: a live or past job, over --window.
        #[arg(long, requires = "job_name")]
        prometheus: Option<String>,
        /// With --prometheus: the job's `job_name` label (its newest run is read).
        #[arg(long)]
        job_name: Option<String>,
        /// With --prometheus: how far back to look (a running job's REST API answers
        /// over its own last 10 s).
        #[arg(long, default_value = "2 min", value_parser = tidemark_agent::export::config::parse_duration, requires = "prometheus")]
        window: std::time::Duration,
        /// Print the diagnosis as JSON (GET /jobs/:id/doctor).
        #[arg(long)]
        json: bool,
        /// Sample a busy bottleneck on the CPU this long and add its top frames to the
        /// evidence (0 s: do not); not with --prometheus.
        #[arg(long, default_value = "2 s", value_parser = tidemark_agent::export::config::parse_duration)]
        profile: std::time::Duration,
        /// With --prometheus: a threshold, `tidemark.doctor.NAME=VALUE`, as the job's
        /// configuration would set it (a running job's REST answer uses its own); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE", requires = "prometheus")]
        set: Vec<String>,
    },
    /// Print docs/doctor.md (generated from the doctor's causes and thresholds).
    DoctorDoc,
    /// Tidemark's agent beside another engine: `tidemark agent flink --rest URL`.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Sample a running job's vertex on the CPU: its top frames, and its flame graph as SVG or folded stacks.
    Profile(profile::ProfileArgs),
    /// Publish lines (of files, or standard input) to a JetStream stream or a Kafka topic, one message each.
    Produce(produce::ProduceArgs),
    /// Run benchmark workloads (keyed-count, nexmark-q0 … q8): one row per run and the median.
    Bench(bench::BenchArgs),
    /// List the built-in pipelines and their parameters.
    Pipelines,
    /// Print docs/metrics.md (generated from the metric catalogue).
    MetricsDoc,
    /// Print docs/configuration.md (generated from the key table).
    ConfigDoc,
    /// Write the Grafana dashboards (dashboards/*.json) into a directory.
    Dashboards {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Print the Prometheus rule file (alerts/tidemark.rules.yml), with thresholds changed by --set.
    AlertRules {
        /// A threshold to change, name=value (see alerts/README.md); repeatable.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
}

/// The catalogue entries of the pipelines' own metrics, or every problem
/// with their declarations (two metrics of one name must be one declaration).
fn own_metrics(
    pipelines: &'static [crate::pipelines::PipelineSpec],
) -> Result<Vec<&'static tidemark_agent::MetricDef>, Vec<String>> {
    let mut problems = Vec::new();
    let mut defs: Vec<&'static tidemark_agent::MetricDef> = Vec::new();
    let mut seen: Vec<&'static crate::user_metrics::UserMetric> = Vec::new();
    for m in pipelines.iter().flat_map(|p| p.metrics.iter().copied()) {
        if seen.iter().any(|s| std::ptr::eq(*s, m)) {
            continue;
        }
        if seen.iter().any(|s| s.name == m.name) {
            problems.push(format!("metric '{}' is declared twice", m.name));
        }
        seen.push(m);
        match m.def() {
            Ok(d) => defs.push(d),
            Err(e) => problems.extend(e.to_string().lines().map(str::to_string)),
        }
    }
    if problems.is_empty() {
        Ok(defs)
    } else {
        Err(problems)
    }
}

/// Exit code for invalid input (bad job file, config, or restore path).
pub const EXIT_USAGE: i32 = 2;
/// Exit code for a job that failed while running.
pub const EXIT_FAILED: i32 = 1;

/// The `tidemark` command: parses arguments and runs; returns the process
/// exit code.
pub fn main() -> i32 {
    main_with(&[])
}

/// The whole `tidemark` command for a binary of one's own: job files may name
/// `pipelines` (before the built-in ones), and `run`, `--restore`, `--set`,
/// `savepoint`, `checkpoints`, `backpressure`, `bench`, `pipelines` and
/// `metrics-doc` work as they do in `tidemark`.
///
/// ```no_run
/// use tidemark::prelude::*;
///
/// fn build(name: &str, _params: &Params, config: &Config) -> tidemark::Result<JobGraph> {
///     let env = StreamEnv::new(name);
///     // … sources, operators, sinks …
///     env.build(config)
/// }
///
/// static PIPELINES: &[PipelineSpec] = &[PipelineSpec {
///     name: "my-job",
///     doc: "What my job does.",
///     params: &[],
///     metrics: &[],
///     build,
/// }];
///
/// fn main() {
///     std::process::exit(tidemark::cli::main_with(PIPELINES));
/// }
/// ```
pub fn main_with(pipelines: &'static [crate::pipelines::PipelineSpec]) -> i32 {
    let cli = Cli::parse();
    let own_metrics = match own_metrics(pipelines) {
        Ok(m) => m,
        Err(problems) => {
            eprintln!(
                "error: the binary's metric declarations break the naming rules:\n  {}",
                problems.join("\n  ")
            );
            return EXIT_USAGE;
        }
    };
    let pipelines = crate::pipelines::with_builtins(pipelines);
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .format_target(false)
        .init();
    match cli.command {
        Command::Run(args) => run::run(args, &pipelines),
        Command::Checkpoints { job: Some(url), .. } => checkpoints::history(&url),
        Command::Checkpoints { dir: Some(dir), .. } => checkpoints::list(&dir),
        Command::Checkpoints { .. } => EXIT_USAGE,
        Command::Backpressure { url } => backpressure_report::report(&url),
        Command::Doctor {
            url,
            prometheus,
            job_name,
            window,
            json,
            profile,
            set,
        } => match (url, prometheus, job_name) {
            (_, Some(prom), Some(name)) => match doctor_thresholds(&set) {
                Ok(t) => doctor_prometheus(&prom, &name, window, &t, json),
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_USAGE
                }
            },
            (Some(url), ..) => doctor(&url, json, profile),
            _ => EXIT_USAGE,
        },
        Command::DoctorDoc => {
            print!("{}", crate::doctor::doc());
            0
        }
        Command::Profile(a) => profile::run(&a),
        Command::Agent(a) => agent::run(&a),
        Command::Savepoint(a) => savepoint::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Produce(a) => produce::run(&a),
        Command::Pipelines => {
            print!("{}", docs::pipelines(&pipelines));
            0
        }
        Command::MetricsDoc => {
            print!("{}", tidemark_agent::catalogue::markdown_with(&own_metrics));
            0
        }
        Command::Dashboards { dir } => monitoring::write_dashboards(&dir),
        Command::AlertRules { set } => monitoring::print_rules(&set),
        Command::ConfigDoc => {
            print!("{}", docs::configuration());
            0
        }
    }
}

/// `tidemark doctor URL`: the job's diagnosis, as text or JSON (exit 0
/// whatever the verdict; 1 when the job cannot be asked).
fn doctor(url: &str, json: bool, profile: std::time::Duration) -> i32 {
    let d = rest_client::job_url(url).and_then(|job| {
        if profile.is_zero() {
            rest_client::get_json(&format!("{job}/doctor"))
        } else {
            rest_client::get_json_slow(
                &format!("{job}/doctor?profile={}", profile.as_secs_f64()),
                profile,
            )
        }
    });
    print_diagnosis(d, json)
}

/// The doctor's thresholds with `--set` values (`tidemark.doctor.*` keys
/// only: the others do not change a diagnosis); every problem in one error.
fn doctor_thresholds(set: &[String]) -> Result<crate::doctor::Thresholds, String> {
    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    for s in set {
        match s.split_once('=') {
            Some((k, v)) if k.trim().starts_with("tidemark.doctor.") => {
                pairs.push((k.trim().to_string(), v.trim().to_string()))
            }
            Some((k, _)) => problems.push(format!(
                "--set {s}: '{}' is not a doctor threshold: expected a tidemark.doctor.* key (docs/doctor.md)",
                k.trim()
            )),
            None => problems.push(format!("--set {s}: expected KEY=VALUE")),
        }
    }
    match crate::config::Config::validate(&pairs) {
        Ok(c) if problems.is_empty() => Ok(c.doctor),
        Ok(_) => Err(problems.join("\n  ")),
        Err(e) => {
            problems.extend(e);
            Err(problems.join("\n  "))
        }
    }
}

/// `tidemark doctor --prometheus URL --job-name NAME`: the same rules over
/// the job's series in Prometheus, with thresholds `t`.
fn doctor_prometheus(
    prom: &str,
    job_name: &str,
    window: std::time::Duration,
    t: &crate::doctor::Thresholds,
    json: bool,
) -> i32 {
    let prom = prom.trim_end_matches('/');
    let query = |q: &str| {
        rest_client::get_json(&format!("{prom}/api/v1/query?query={}", percent_encode(q)))
    };
    let d = crate::doctor::prometheus::facts(&query, job_name, window).and_then(|f| {
        serde_json::to_value(crate::doctor::diagnose(&f, t)).map_err(|e| e.to_string())
    });
    print_diagnosis(d, json)
}

/// A URL query value: everything but unreserved characters percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A diagnosis as text or JSON; an error as one line (exit 1).
fn print_diagnosis(d: Result<serde_json::Value, String>, json: bool) -> i32 {
    match d {
        Ok(d) => {
            if json {
                println!("{d}");
            } else {
                print!("{}", crate::doctor::render(&d));
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::own_metrics;
    use crate::pipelines::{Params, PipelineSpec};
    use crate::user_metrics::UserMetric;

    static GOOD: UserMetric = UserMetric::counter("orders_total", "Orders.");
    static BAD: UserMetric = UserMetric::gauge("Queue-Depth_total", "items", "Queued.");
    static SAME_NAME: UserMetric = UserMetric::counter("orders_total", "Orders, again.");

    fn build(
        _: &str,
        _: &Params,
        _: &crate::config::Config,
    ) -> crate::Result<crate::api::JobGraph> {
        unreachable!("not built")
    }

    static PIPELINES: &[PipelineSpec] = &[
        PipelineSpec {
            name: "a",
            doc: "",
            params: &[],
            metrics: &[&GOOD, &BAD],
            build,
        },
        PipelineSpec {
            name: "b",
            doc: "",
            params: &[],
            metrics: &[&GOOD, &SAME_NAME],
            build,
        },
    ];

    #[test]
    fn a_binary_with_a_badly_named_or_doubly_declared_metric_is_refused_with_every_problem() {
        let problems = own_metrics(PIPELINES).unwrap_err();
        let all = problems.join("\n");
        for want in [
            "metric 'Queue-Depth_total': a name uses only a-z",
            "metric 'Queue-Depth_total': only a counter's name ends in _total",
            "metric 'Queue-Depth_total': the name ends in its unit: '_items'",
            "metric 'orders_total' is declared twice",
        ] {
            assert!(all.contains(want), "missing '{want}' in:\n{all}");
        }
        // The same declaration listed by two pipelines is one metric.
        assert_eq!(own_metrics(&PIPELINES[..1]).unwrap_err().len(), 3);
    }
}
