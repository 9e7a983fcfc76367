//! Starts and stops every configured reporter of a job: scrape servers on
//! their own thread, push exporters on the agent's tokio runtime (one worker
//! thread, never a task thread).

use super::config::{ReporterConfig, ReporterKind};
use super::delivery::{self, DeliveryOptions, ExporterMetrics, PushTarget};
use super::influxdb::InfluxDb;
use super::otlp::Otlp;
use super::pushgateway::Pushgateway;
use super::remote_write::RemoteWrite;
use super::scrape::ScrapeServer;
use crate::registry::{ConsumerId, Registry};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Who the exported job is (for grouping keys and stale-group cleanup).
#[derive(Debug, Clone)]
pub struct JobLabels {
    /// Job name.
    pub job_name: String,
    /// Job id of this run.
    pub job_id: String,
    /// Ids of earlier runs of this job that may have left state behind (a crash).
    pub previous_job_ids: Vec<String>,
}

/// The running reporters.
pub struct Reporters {
    scrape: Vec<ScrapeServer>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown_timeout: Duration,
    /// The push exporters' reads of `registry`, released at shutdown.
    consumers: Vec<ConsumerId>,
    registry: Registry,
}

impl Reporters {
    /// Starts `configs` for `job`.
    pub fn start(
        registry: &Registry,
        configs: &[ReporterConfig],
        job: &JobLabels,
        opts: DeliveryOptions,
    ) -> Result<Self, String> {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut me = Self {
            scrape: Vec::new(),
            runtime: None,
            stop,
            tasks: Vec::new(),
            shutdown_timeout: opts.shutdown_timeout,
            consumers: Vec::new(),
            registry: registry.clone(),
        };
        for c in configs {
            let target: Arc<dyn PushTarget> = match &c.kind {
                ReporterKind::Prometheus { host, port } => {
                    let s = ScrapeServer::start(registry.clone(), &c.name, *host, port)
                        .map_err(|e| e.to_string())?;
                    me.scrape.push(s);
                    continue;
                }
                ReporterKind::Pushgateway(p) => Arc::new(Pushgateway::new(
                    p.clone(),
                    &job.job_name,
                    &job.job_id,
                    &job.previous_job_ids,
                )),
                ReporterKind::InfluxDb(i) => Arc::new(InfluxDb::new(i.clone())),
                ReporterKind::Otlp(c) => Arc::new(Otlp::new(c.clone())),
                ReporterKind::RemoteWrite(c) => Arc::new(RemoteWrite::new(c.clone())),
            };
            if me.runtime.is_none() {
                me.runtime = Some(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name("metrics-push")
                        .enable_all()
                        .build()
                        .map_err(|e| format!("could not start the metrics push runtime: {e}"))?,
                );
            }
            let rt = me.runtime.as_ref().expect("created above");
            let client = rt
                .block_on(async {
                    reqwest::Client::builder()
                        .connect_timeout(Duration::from_secs(5))
                        .build()
                })
                .map_err(|e| format!("could not create the HTTP client: {e}"))?;
            let metrics = ExporterMetrics::new(registry, &c.name, c.kind.as_str());
            let consumer = registry.register_consumer();
            me.consumers.push(consumer);
            me.tasks.push(rt.spawn(delivery::run(
                target,
                registry.clone(),
                consumer,
                client,
                metrics,
                opts,
                stop_rx.clone(),
            )));
        }
        Ok(me)
    }

    /// Where the scrape servers listen.
    pub fn scrape_addrs(&self) -> Vec<SocketAddr> {
        self.scrape.iter().map(|s| s.addr()).collect()
    }

    /// Final push and shutdown requests (bounded by the shutdown timeout), then stop.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            let tasks = std::mem::take(&mut self.tasks);
            let deadline = self.shutdown_timeout + Duration::from_secs(1);
            rt.block_on(async move {
                let _ = tokio::time::timeout(deadline, async {
                    for t in tasks {
                        let _ = t.await;
                    }
                })
                .await;
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        }
        for c in self.consumers.drain(..) {
            self.registry.release_consumer(c);
        }
        self.scrape.clear();
    }
}
