//! The delivery contract every push exporter runs under.
//!
//! An exporter is a task on the agent's own tokio runtime, never on a task
//! thread: each interval it takes a registry snapshot, encodes it into
//! requests and queues them in a bounded queue (oldest dropped and counted
//! when full; for targets whose newest payload replaces the older ones, only
//! the newest is kept). It sends the head of the queue with a timeout; a
//! failure is counted and retried after an exponential backoff with full
//! jitter, capped at 30 s, so a dead server costs the job nothing, memory stays
//! bounded, and delivery resumes by itself when the server is back. Failures
//! are logged once, then at most once a minute, and recovery is logged.

use crate::catalogue as cat;
use crate::registry::{ConsumerId, FamilySnapshot, Registry};
use crate::{Counter, Gauge};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One HTTP request an exporter wants delivered.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// Method.
    pub method: reqwest::Method,
    /// Full URL (never holds credentials).
    pub url: String,
    /// Headers (may hold credentials: never logged).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The part of every push exporter's settings the delivery loop needs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The configured reporter name.
    pub name: String,
    /// Time between snapshots (`interval`).
    pub interval: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

/// What an exporter sends where.
pub trait PushTarget: Send + Sync + 'static {
    /// Name, interval and timeout.
    fn schedule(&self) -> &Schedule;
    /// `pushgateway`, `influxdb`, ….
    fn kind(&self) -> &'static str;
    /// Whether a newer payload makes queued older ones useless (a PUT that
    /// replaces a Pushgateway group).
    fn latest_only(&self) -> bool;
    /// Encodes one snapshot taken at `now_ms`.
    fn encode(&self, families: &[FamilySnapshot], now_ms: i64) -> Vec<PushRequest>;
    /// Sent once when the exporter starts (e.g. deleting a crashed run's group).
    fn on_start(&self) -> Vec<PushRequest> {
        Vec::new()
    }
    /// Sent once after the final push (e.g. deleting the group).
    fn on_shutdown(&self) -> Vec<PushRequest> {
        Vec::new()
    }
}

/// The self-metrics of one exporter.
#[derive(Clone, Debug)]
pub struct ExporterMetrics {
    /// Delivered payloads.
    pub sent: Counter,
    /// Failed attempts.
    pub failed: Counter,
    /// Dropped payloads.
    pub dropped: Counter,
    /// Queue depth.
    pub queue_depth: Gauge,
    /// Last success, ms since epoch.
    pub last_success_ms: Gauge,
}

impl ExporterMetrics {
    /// Registers the self-metrics of reporter `name` of `kind`.
    pub fn new(registry: &Registry, name: &str, kind: &str) -> Self {
        let v = [name, kind];
        let c = |d| {
            registry
                .counter(d, &v)
                .expect("exporter metrics match the catalogue")
        };
        let g = |d| {
            registry
                .gauge(d, &v)
                .expect("exporter metrics match the catalogue")
        };
        let m = Self {
            sent: c(&cat::EXPORTER_SENT),
            failed: c(&cat::EXPORTER_FAILED),
            dropped: c(&cat::EXPORTER_DROPPED),
            queue_depth: g(&cat::EXPORTER_QUEUE_DEPTH),
            last_success_ms: g(&cat::EXPORTER_LAST_SUCCESS),
        };
        m.queue_depth.set(0);
        m
    }
}

/// Queue and retry settings.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryOptions {
    /// Payloads held at most.
    pub queue_capacity: usize,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// How long shutdown may take for the final push and deletes.
    pub shutdown_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 16,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A small xorshift generator for jitter (no dependency, seeded per exporter).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now_ms() as u64);
        Self(h.finish() | 1)
    }
    /// A uniform duration in `[0, max]` (full jitter).
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The outcome of one attempt.
pub enum Attempt {
    /// Accepted.
    Ok,
    /// Worth retrying (connection error, timeout, 5xx, 429).
    Retry(String),
    /// The server rejected the payload itself (4xx): drop it.
    Reject(String),
}

/// Sends one request with the target's timeout.
pub async fn send(client: &reqwest::Client, r: &PushRequest, timeout: Duration) -> Attempt {
    let mut b = client
        .request(r.method.clone(), &r.url)
        .timeout(timeout)
        .body(r.body.clone());
    for (k, v) in &r.headers {
        b = b.header(k, v);
    }
    let where_ = r.url.split('?').next().unwrap_or("");
    match b.send().await {
        Ok(resp) if resp.status().is_success() => Attempt::Ok,
        Ok(resp) => {
            let status = resp.status();
            let body: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let msg = format!("{} {where_}: {status} {}", r.method, body.trim());
            if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 408 {
                Attempt::Reject(msg)
            } else {
                Attempt::Retry(msg)
            }
        }
        // reqwest's error text names the URL but never our headers.
        Err(e) => Attempt::Retry(format!("{} {where_}: {}", r.method, e.without_url())),
    }
}

/// Logs failures once, then at most once a minute; logs recovery.
struct FailureLog {
    name: String,
    failing_since: Option<Instant>,
    last_log: Option<Instant>,
    count: u64,
}

impl FailureLog {
    fn failure(&mut self, msg: &str) {
        self.count += 1;
        let now = Instant::now();
        self.failing_since.get_or_insert(now);
        if self
            .last_log
            .is_none_or(|t| now - t >= Duration::from_secs(60))
        {
            self.last_log = Some(now);
            log::warn!(
                "metrics reporter '{}': delivery failing ({} failure(s) so far): {msg}",
                self.name,
                self.count
            );
        }
    }
    fn success(&mut self) {
        if let Some(since) = self.failing_since.take() {
            log::info!(
                "metrics reporter '{}': delivering again after {:.1}s and {} failure(s)",
                self.name,
                since.elapsed().as_secs_f64(),
                self.count
            );
        }
        self.last_log = None;
        self.count = 0;
    }
}

/// Runs one exporter until `stop` turns true, then makes a final push and its
/// shutdown requests within the shutdown timeout.
pub async fn run(
    target: Arc<dyn PushTarget>,
    registry: Registry,
    consumer: ConsumerId,
    client: reqwest::Client,
    metrics: ExporterMetrics,
    opts: DeliveryOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let timeout = target.schedule().timeout;
    // Start-up requests (the Pushgateway's deletes of a crashed run's groups)
    // that failed are counted, said, and tried again at every tick until they
    // succeed: a stale group left behind would double the job's series.
    let mut start_up = target.on_start();
    let name = target.schedule().name.clone();
    let retry_start_up = |start_up: &mut Vec<PushRequest>| {
        let pending = std::mem::take(start_up);
        let client = &client;
        let metrics = &metrics;
        let name = &name;
        async move {
            let mut left = Vec::new();
            for r in pending {
                match send(client, &r, timeout).await {
                    Attempt::Ok => metrics.sent.add(1),
                    Attempt::Reject(m) => {
                        metrics.failed.add(1);
                        log::warn!("metrics reporter '{name}': start-up request {} {} refused, not retried: {m}", r.method, r.url);
                    }
                    Attempt::Retry(m) => {
                        metrics.failed.add(1);
                        log::warn!("metrics reporter '{name}': start-up request {} {} failed, retrying at the next push: {m}", r.method, r.url);
                        left.push(r);
                    }
                }
            }
            left
        }
    };
    start_up = retry_start_up(&mut start_up).await;
    let mut queue: VecDeque<PushRequest> = VecDeque::new();
    let mut log = FailureLog {
        name: target.schedule().name.clone(),
        failing_since: None,
        last_log: None,
        count: 0,
    };
    let mut jitter = Jitter::new();
    let mut backoff = opts.initial_backoff;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(target.schedule().interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let enqueue = |queue: &mut VecDeque<PushRequest>, reqs: Vec<PushRequest>| {
        if target.latest_only() {
            queue.clear();
        }
        for r in reqs {
            if queue.len() >= opts.queue_capacity {
                queue.pop_front();
                metrics.dropped.add(1);
            }
            queue.push_back(r);
        }
        metrics.queue_depth.set(queue.len() as i64);
    };
    loop {
        let wait_retry = async {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                if !start_up.is_empty() {
                    start_up = retry_start_up(&mut start_up).await;
                }
                let fams = registry.snapshot_for(consumer);
                enqueue(&mut queue, target.encode(&fams, now_ms()));
                if retry_at.is_some() {
                    continue;
                }
            }
            _ = wait_retry => { retry_at = None; }
        }
        // Drain while delivery succeeds.
        while let Some(r) = queue.front() {
            match send(&client, r, timeout).await {
                Attempt::Ok => {
                    queue.pop_front();
                    metrics.sent.add(1);
                    metrics.last_success_ms.set(now_ms());
                    backoff = opts.initial_backoff;
                    log.success();
                }
                Attempt::Reject(m) => {
                    queue.pop_front();
                    metrics.failed.add(1);
                    metrics.dropped.add(1);
                    log.failure(&format!("rejected, dropped: {m}"));
                }
                Attempt::Retry(m) => {
                    metrics.failed.add(1);
                    log.failure(&m);
                    retry_at = Some(tokio::time::Instant::now() + jitter.below(backoff));
                    backoff = (backoff * 2).min(opts.max_backoff);
                    break;
                }
            }
        }
        metrics.queue_depth.set(queue.len() as i64);
    }
    // Final push (the series of a finished job included), then shutdown requests.
    let deadline = tokio::time::Instant::now() + opts.shutdown_timeout;
    let fams = registry.snapshot_for(consumer);
    enqueue(&mut queue, target.encode(&fams, now_ms()));
    let finals: Vec<PushRequest> = queue.drain(..).chain(target.on_shutdown()).collect();
    for r in finals {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            metrics.dropped.add(1);
            continue;
        }
        match send(&client, &r, timeout.min(left)).await {
            Attempt::Ok => {
                metrics.sent.add(1);
                metrics.last_success_ms.set(now_ms());
            }
            Attempt::Retry(m) | Attempt::Reject(m) => {
                metrics.failed.add(1);
                log::warn!(
                    "metrics reporter '{}': final delivery failed: {m}",
                    target.schedule().name
                );
            }
        }
    }
    metrics.queue_depth.set(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_the_backoff() {
        let mut j = Jitter::new();
        for _ in 0..1000 {
            assert!(j.below(Duration::from_secs(30)) <= Duration::from_secs(30));
        }
    }
}
