//! `tidemark agent flink --rest URL`: Tidemark's agent beside an Apache
//! Flink cluster (issue 18). Every poll maps the cluster's running jobs into
//! the metric catalogue (`tidemark_agent::flink`), served to Prometheus by
//! the scrape reporter; the JobManager failing a poll is counted and the
//! agent goes on.

use crate::config::Config;
use serde_json::Value;
use std::time::Duration;
use tidemark_agent::export::config::ReporterKind;
use tidemark_agent::export::delivery::DeliveryOptions;
use tidemark_agent::export::reporters::{JobLabels, Reporters};
use tidemark_agent::registry::Registry;

/// `tidemark agent …`.
#[derive(clap::Subcommand, Debug)]
pub enum AgentCommand {
    /// Observe an Apache Flink cluster: its jobs' busy, idle and backpressured time and records, as catalogue metrics.
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
    /// (`job` or `vertex`: subtasks are summed).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Runs the agent until it is killed.
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
    // Push reporters group by job: one agent watches many jobs, and their
    // per-job groups are not built yet, so only the scrape reporter runs.
    if let Some(r) = config
        .reporters
        .iter()
        .find(|r| !matches!(r.kind, ReporterKind::Prometheus { .. }))
    {
        eprintln!(
            "error: metrics.reporter.{}: the Flink agent serves Prometheus scrapes only for now; push reporters are not supported yet",
            r.name
        );
        return super::EXIT_USAGE;
    }
    // Vertex sums are what the agent reads (one request per vertex): the
    // per-subtask reads `metrics.level: subtask` needs are not built yet.
    let mut opts = config.registry;
    opts.level = opts.level.min(tidemark_agent::labels::Level::Vertex);
    let rest = a.rest.trim_end_matches('/').to_string();
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
    let labels = JobLabels {
        job_name: "flink-agent".into(),
        job_id: "flink-agent".into(),
        previous_job_ids: Vec::new(),
    };
    let reporters = match Reporters::start(
        &registry,
        &config.reporters,
        &labels,
        DeliveryOptions::default(),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_FAILED;
        }
    };
    for addr in reporters.scrape_addrs() {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let jm = match JobManager::new(&rest, a.timeout) {
        Ok(jm) => jm,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_FAILED;
        }
    };
    let fetch = |path: &str| jm.get(path);
    let mut bridge = tidemark_agent::flink::Bridge::new(registry);
    eprintln!(
        "agent: polling {rest} (cluster \"{cluster}\") every {:?}",
        a.interval
    );
    loop {
        let started = std::time::Instant::now();
        match bridge.poll(&fetch) {
            Ok(o) if o.failures > 0 => eprintln!(
                "agent: {} jobs, {} requests, {} failed",
                o.jobs, o.requests, o.failures
            ),
            Ok(_) => {}
            Err(e) => eprintln!("agent: poll failed: {e}"),
        }
        std::thread::sleep(a.interval.saturating_sub(started.elapsed()));
    }
}

/// The JobManager's REST API: one client (its connections kept alive) on a
/// one-thread runtime, for the agent's whole life.
struct JobManager {
    base: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl JobManager {
    fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(format!(
                "--rest {base}: expected the JobManager's REST address, e.g. http://127.0.0.1:8081"
            ));
        }
        Ok(Self {
            base: base.to_string(),
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

    /// `GET base+path`, its JSON answer when the status is 200.
    fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let (status, text) = self.runtime.block_on(async {
            let resp = self
                .client
                .get(&url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
            Ok::<_, String>((status, text))
        })?;
        if status != 200 {
            let first = text.lines().next().unwrap_or("").chars().take(200);
            return Err(format!("GET {url}: {status} {}", first.collect::<String>()));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
    }
}
