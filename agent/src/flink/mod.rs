//! Tidemark's agent over a real Apache Flink cluster (issue 18): each poll
//! reads the cluster's jobs from its REST API and maps what Flink measures
//! into the same catalogue series a Tidemark job exports, so that the
//! exporters, dashboards, alert rules and `tidemark doctor --prometheus`
//! work on Flink jobs as they are.
//!
//! Requests per poll at `metrics.level: vertex`, for jobs of `V_j` vertices
//! on `T` TaskManagers: `2 + T + Σ_j (2 + V_j + V_j · C_j)` — the overview and
//! the TaskManagers' list, one JVM metrics read per TaskManager; per job its job metrics,
//! its checkpoint statistics and one aggregated metrics read per vertex; and
//! per checkpoint `C_j` completed since the last poll one phase read per
//! vertex. A job seen for the first time costs `2 + V_j` more (its plan, its
//! checkpoint configuration, and each vertex's metric names: an aggregated
//! read naming a metric the vertex lacks is answered with nothing). None of
//! it grows with the parallelism. A TaskManager seen for the first time costs
//! one more (its metric names: its garbage collectors'). A job's exception
//! history (the failures behind its restarts) costs one more request in a
//! poll in which its `numRestarts` grew and in up to four polls after while
//! the failure is not in it yet, when the job failed, and at first sight of
//! a job that restarted before.

mod rest;
mod rocksdb;
mod series;
mod taskmanagers;

pub use rest::{Failure, Fetch};

use crate::catalogue;
use crate::registry::{Counter, Gauge, Histogram, Registry};
use rest::{checkpoint_interval_ms, jobs_overview, plan, taskmanagers};
use series::JobSeries;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;
use taskmanagers::TaskManagerSeries;

/// The agent's own series (`tidemark_bridge_*`).
struct OwnSeries {
    requests: Counter,
    failures: Counter,
    poll: Histogram,
    jobs: Gauge,
    up: Gauge,
}

/// The agent's state over polls: the jobs it watches and their series.
pub struct Bridge {
    registry: Registry,
    jobs: BTreeMap<String, JobSeries>,
    taskmanagers: BTreeMap<String, TaskManagerSeries>,
    own: Option<OwnSeries>,
}

/// What one poll did.
#[derive(Debug, Default, PartialEq)]
pub struct PollOutcome {
    /// Requests made.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Jobs watched after the poll.
    pub jobs: usize,
    /// Jobs (id, name) whose series were registered by this poll: first
    /// seen, or seen again after the JobManager came back.
    pub started: Vec<(String, String)>,
    /// Job ids whose series were retired: gone from the overview, or all of
    /// them when the JobManager did not answer.
    pub retired: Vec<String>,
    /// Completed checkpoints whose per-subtask phases were observed.
    pub checkpoints_observed: u64,
    /// The failures of watched jobs found by this poll, each job's oldest
    /// first: those behind a restart, and the last of a job that failed.
    pub job_failures: Vec<JobFailure>,
}

/// A failure of a watched job, from its exception history.
#[derive(Debug, PartialEq)]
pub struct JobFailure {
    /// The job's id.
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// Whether the job has failed for good (`FAILED`: the restart strategy
    /// gave up) rather than restarted.
    pub job_failed: bool,
    /// The failure.
    pub failure: Failure,
}

impl Bridge {
    /// A bridge writing into `registry`.
    pub fn new(registry: Registry) -> Self {
        let own = (|| {
            Some(OwnSeries {
                requests: registry.counter(&catalogue::BRIDGE_REQUESTS, &[]).ok()?,
                failures: registry.counter(&catalogue::BRIDGE_FAILURES, &[]).ok()?,
                poll: registry
                    .histogram(&catalogue::BRIDGE_POLL_DURATION, &[])
                    .ok()?,
                jobs: registry.gauge(&catalogue::BRIDGE_JOBS, &[]).ok()?,
                up: registry.gauge(&catalogue::BRIDGE_UP, &[]).ok()?,
            })
        })();
        Self {
            registry,
            jobs: BTreeMap::new(),
            taskmanagers: BTreeMap::new(),
            own,
        }
    }

    /// One poll: discovers jobs, registers a new job's graph, updates every
    /// watched job's series, retires the series of jobs no longer running.
    /// The overview failing fails the poll and withdraws every job's series
    /// (a scrape then sees them end, rather than old values repeated as if
    /// current); the next poll that reaches the JobManager brings them back.
    /// On an error, every job watched before is retired ([`Bridge::watched`]
    /// is empty).
    pub fn poll(&mut self, fetch: Fetch) -> Result<PollOutcome, String> {
        let started = Instant::now();
        let (requests, failures) = (Cell::new(0u64), Cell::new(0u64));
        let counted = |path: &str| {
            requests.set(requests.get() + 1);
            let r = fetch(path);
            if r.is_err() {
                failures.set(failures.get() + 1);
            }
            r
        };
        let result = self.poll_counted(&counted);
        if let Some(own) = &self.own {
            own.requests.add(requests.get());
            own.failures.add(failures.get());
            own.poll.observe(started.elapsed().as_nanos() as u64);
            own.jobs.set(self.jobs.len() as i64);
            own.up.set(result.is_ok() as i64);
        }
        result.map(|mut out| {
            out.requests = requests.get();
            out.failures = failures.get();
            out
        })
    }

    fn poll_counted(&mut self, fetch: Fetch) -> Result<PollOutcome, String> {
        let mut out = PollOutcome::default();
        let listed = match jobs_overview(fetch) {
            Ok(l) => l,
            Err(e) => {
                let all: Vec<String> = self.jobs.keys().cloned().collect();
                for id in all {
                    self.retire(&id);
                }
                for id in std::mem::take(&mut self.taskmanagers).into_keys() {
                    self.registry.retire_series(crate::labels::TASKMANAGER, &id);
                }
                return Err(format!("/jobs/overview: {e}"));
            }
        };
        // A job is watched from when it first runs until it ends: between
        // two runs of its tasks (restarting) it keeps its series, so that
        // its restarts stay visible.
        let gone: Vec<String> = self
            .jobs
            .keys()
            .filter(|id| !listed.iter().any(|j| j.id == **id && !j.ended()))
            .cloned()
            .collect();
        for id in gone {
            let failed = listed.iter().any(|j| j.id == id && j.state == "FAILED");
            if let (true, Some(job)) = (failed, self.jobs.get_mut(&id)) {
                let last = job.failures(fetch).unwrap_or_default();
                out.job_failures
                    .extend(last.into_iter().map(|f| job.reported(f, true)));
            }
            self.retire(&id);
            out.retired.push(id);
        }
        for j in listed.iter().filter(|j| !j.ended()) {
            if !self.jobs.contains_key(&j.id) && j.state == "RUNNING" {
                let Ok(job) = plan(fetch, &j.id) else {
                    continue;
                };
                let interval = checkpoint_interval_ms(fetch, &j.id).ok();
                let series = JobSeries::register(&self.registry, &job, interval);
                self.jobs.insert(j.id.clone(), series);
                out.started.push((j.id.clone(), job.name.clone()));
            }
            if let Some(job) = self.jobs.get_mut(&j.id) {
                let poll = job.update(fetch);
                out.checkpoints_observed += poll.checkpoints_observed;
                out.job_failures
                    .extend(poll.failures.into_iter().map(|f| job.reported(f, false)));
            }
        }
        self.poll_taskmanagers(fetch);
        out.jobs = self.jobs.len();
        Ok(out)
    }

    /// The TaskManagers' JVMs: a new one registered, a gone one retired.
    fn poll_taskmanagers(&mut self, fetch: Fetch) {
        let Ok(ids) = taskmanagers(fetch) else { return };
        let gone: Vec<String> = self
            .taskmanagers
            .keys()
            .filter(|id| !ids.contains(id))
            .cloned()
            .collect();
        for id in gone {
            self.taskmanagers.remove(&id);
            self.registry.retire_series(crate::labels::TASKMANAGER, &id);
        }
        for id in ids {
            let tm = self
                .taskmanagers
                .entry(id.clone())
                .or_insert_with(|| TaskManagerSeries::new(&self.registry, &id));
            tm.update(&self.registry, fetch);
        }
    }

    /// The ids of the jobs watched now.
    pub fn watched(&self) -> Vec<String> {
        self.jobs.keys().cloned().collect()
    }

    /// Forgets job `id` and retires its series.
    fn retire(&mut self, id: &str) {
        self.jobs.remove(id);
        self.registry.retire_series(crate::labels::JOB_ID, id);
    }
}

#[cfg(test)]
mod tests;
