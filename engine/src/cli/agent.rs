//! `tidemark agent flink --rest URL`: Tidemark's agent beside an Apache
//! Flink cluster (issue 18). Every poll maps the cluster's running jobs and
//! TaskManagers into the metric catalogue (`tidemark_agent::flink`); the
//! scrape reporters serve them all, and the push reporters run once per
//! Flink job on its series alone, started when the job appears and stopped
//! (its Pushgateway group deleted) when it goes. The JobManager failing a
//! poll is counted and the agent goes on. A job's failures (why it
//! restarted, why it failed) are printed as the agent finds them. Ctrl-C or
//! SIGTERM stops it: each job's push reporters push once more and delete
//! their groups, since no one would update them after.

use crate::config::Config;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tidemark_agent::export::config::{ReporterConfig, ReporterKind};
use tidemark_agent::export::delivery::DeliveryOptions;
use tidemark_agent::export::pushgateway::stale_agent_groups;
use tidemark_agent::export::reporters::{JobLabels, Reporters};
use tidemark_agent::registry::Registry;

/// `tidemark agent …`.
#[derive(clap::Subcommand, Debug)]
pub enum AgentCommand {
    /// Observe an Apache Flink cluster: its jobs and TaskManagers as the catalogue's metrics, through the same reporters (docs/flink.md).
    Flink(FlinkArgs),
}

/// `tidemark agent flink`.
#[derive(clap::Args, Debug)]
pub struct FlinkArgs {
    /// The JobManager's REST address.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    rest: String,
    /// How often to poll (Flink's metric fetcher refreshes at most every
    /// `metrics.fetcher.update-interval`, 10 s by default).
    #[arg(long, default_value = "10 s", value_parser = tidemark_agent::export::config::parse_duration)]
    interval: std::time::Duration,
    /// The `cluster` label every series carries (default: the JobManager's
    /// host:port), so that one Prometheus tells several clusters apart.
    #[arg(long)]
    cluster: Option<String>,
    /// How long a request to the JobManager may take before it counts as
    /// failed (a slow JobManager must not stall the other jobs' polls forever).
    #[arg(long, default_value = "5 s", value_parser = tidemark_agent::export::config::parse_duration)]
    timeout: std::time::Duration,
    /// Configuration, KEY=VALUE (repeatable): `metrics.reporter.*`, `metrics.level`
    /// (`vertex` unless set: subtasks are summed, one request per vertex;
    /// `subtask`: one request per subtask).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Runs the agent until Ctrl-C or SIGTERM (exit 0) or it is killed.
pub fn run(cmd: &AgentCommand) -> i32 {
    let AgentCommand::Flink(a) = cmd;
    let pairs: Result<Vec<(String, String)>, String> = a
        .set
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("--set {s}: expected KEY=VALUE"))
        })
        .collect();
    let config = match pairs
        .map_err(|e| vec![e])
        .and_then(|p| Config::validate(&p))
    {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("error: invalid configuration:\n  {}", errors.join("\n  "));
            return super::EXIT_USAGE;
        }
    };
    // Vertex sums (one request per vertex, whatever the parallelism) unless
    // `metrics.level` asks for subtasks (one request per subtask).
    let mut opts = config.registry;
    if !a
        .set
        .iter()
        .any(|s| s.trim_start().starts_with("metrics.level"))
    {
        opts.level = tidemark_agent::labels::Level::Vertex;
    }
    let rest = a.rest.trim_end_matches('/').to_string();
    if !rest.starts_with("http://") && !rest.starts_with("https://") {
        eprintln!(
            "error: --rest {rest}: expected the JobManager's REST address, e.g. http://127.0.0.1:8081"
        );
        return super::EXIT_USAGE;
    }
    let cluster = a.cluster.clone().unwrap_or_else(|| {
        rest.split("://")
            .nth(1)
            .unwrap_or(&rest)
            .split('/')
            .next()
            .unwrap_or("")
            .to_string()
    });
    let registry =
        Registry::with_options(opts).with_constant_label(tidemark_agent::labels::CLUSTER, &cluster);
    // The scrape reporters serve every job; each push reporter runs once
    // per Flink job, on that job's series only, so that a Pushgateway group
    // (or an InfluxDB, OTLP, remote-write stream) is one job's and ends
    // with it.
    let (scrape, push): (Vec<_>, Vec<_>) = config
        .reporters
        .iter()
        .cloned()
        .partition(|r| matches!(r.kind, ReporterKind::Prometheus { .. }));
    let agent_labels = JobLabels {
        job_name: "flink-agent".into(),
        job_id: "flink-agent".into(),
        previous_job_ids: Vec::new(),
    };
    let delivery = DeliveryOptions::default();
    let scrapes = match Reporters::start(&registry, &scrape, &agent_labels, delivery) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_FAILED;
        }
    };
    for addr in scrapes.scrape_addrs() {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let http = match Http::new(a.timeout) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_FAILED;
        }
    };
    let fetch = |path: &str| http.get(&format!("{rest}{path}"));
    let mut bridge = tidemark_agent::flink::Bridge::new(registry.clone());
    let mut pushers: BTreeMap<String, Reporters> = BTreeMap::new();
    let mut cleaned = false;
    let (stop_tx, stop) = std::sync::mpsc::channel::<()>();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("error: cannot install the Ctrl-C / SIGTERM handler: {e}");
        return super::EXIT_FAILED;
    }
    eprintln!(
        "agent: polling {rest} (cluster \"{cluster}\") every {:?}",
        a.interval
    );
    loop {
        let started = std::time::Instant::now();
        let outcome = bridge.poll(&fetch);
        // Jobs no longer watched (ended, or the JobManager is not
        // answering): a last push, then their groups are deleted.
        let watched = bridge.watched();
        let ended: Vec<String> = pushers
            .keys()
            .filter(|id| !watched.contains(id))
            .cloned()
            .collect();
        for id in ended {
            if let Some(r) = pushers.remove(&id) {
                r.shutdown();
            }
        }
        match outcome {
            Ok(o) => {
                for f in &o.job_failures {
                    eprintln!("agent: {}", describe(f));
                }
                if o.failures > 0 {
                    eprintln!(
                        "agent: {} jobs, {} requests, {} failed",
                        o.jobs, o.requests, o.failures
                    );
                }
                if !cleaned {
                    delete_stale_groups(&http, &push, &cluster, &watched);
                    cleaned = true;
                }
                for (id, name) in o.started.into_iter().filter(|_| !push.is_empty()) {
                    let labels = JobLabels {
                        job_name: name,
                        job_id: id.clone(),
                        previous_job_ids: Vec::new(),
                    };
                    let view = registry.view(tidemark_agent::labels::JOB_ID, &id);
                    match Reporters::start(&view, &push, &labels, delivery) {
                        Ok(r) => {
                            pushers.insert(id, r);
                        }
                        Err(e) => eprintln!("agent: job {id}: its push reporters: {e}"),
                    }
                }
            }
            Err(e) => eprintln!("agent: poll failed: {e}"),
        }
        let wait = a.interval.saturating_sub(started.elapsed());
        if stop.recv_timeout(wait).is_ok() {
            eprintln!("agent: stopping: deleting the jobs' push groups");
            for (_, r) in std::mem::take(&mut pushers) {
                r.shutdown();
            }
            scrapes.shutdown();
            return 0;
        }
    }
}

/// One line for a job's failure: the job, the task, when, the exception and
/// its root cause.
fn describe(f: &tidemark_agent::flink::JobFailure) -> String {
    let what = match f.job_failed {
        true => "failed",
        false => "restarted",
    };
    let task = f.failure.task.as_deref().unwrap_or("the job as a whole");
    let cause = f
        .failure
        .root_cause
        .as_ref()
        .map(|c| format!(" (root cause: {c})"))
        .unwrap_or_default();
    format!(
        "job \"{}\" ({}) {what}: {task} failed at {} UTC: {}{cause}",
        f.job_name,
        f.job_id,
        super::checkpoints::utc(f.failure.at_ms),
        f.failure.exception
    )
}

/// Deletes the Pushgateway groups an earlier agent of this cluster left
/// behind (killed before it could delete them) for jobs not running now.
fn delete_stale_groups(http: &Http, push: &[ReporterConfig], cluster: &str, running: &[String]) {
    for r in push {
        let ReporterKind::Pushgateway(p) = &r.kind else {
            continue;
        };
        let host = p.host_url.trim_end_matches('/');
        let answer = match http.get(&format!("{host}/api/v1/metrics")) {
            Ok(a) => a,
            Err(e) => {
                eprintln!(
                    "agent: metrics.reporter.{}: could not list its groups: {e}",
                    r.name
                );
                continue;
            }
        };
        for url in stale_agent_groups(&answer, host, cluster, running) {
            match http.delete(&url) {
                Ok(()) => eprintln!("agent: deleted the stale Pushgateway group {url}"),
                Err(e) => eprintln!("agent: {e}"),
            }
        }
    }
}

/// One HTTP client (its connections kept alive) on a one-thread runtime,
/// for the agent's whole life: the JobManager's REST API and the
/// Pushgateway's.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new(timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    fn send(&self, method: reqwest::Method, url: &str) -> Result<(u16, String), String> {
        self.runtime.block_on(async {
            let resp = self
                .client
                .request(method.clone(), url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            let status = resp.status().as_u16();
            let text = resp
                .text()
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            Ok((status, text))
        })
    }

    /// `GET url`, its JSON answer when the status is 200.
    fn get(&self, url: &str) -> Result<Value, String> {
        let (status, text) = self.send(reqwest::Method::GET, url)?;
        if status != 200 {
            let first: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return Err(format!("GET {url}: {status} {first}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
    }

    /// `DELETE url`, answered 2xx.
    fn delete(&self, url: &str) -> Result<(), String> {
        let (status, text) = self.send(reqwest::Method::DELETE, url)?;
        match status {
            200..=299 => Ok(()),
            _ => Err(format!("DELETE {url}: {status} {text}")),
        }
    }
}
