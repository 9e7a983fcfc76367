//! Tidemark's agent over a real Apache Flink cluster (issue 18): each poll
//! reads the cluster's jobs from its REST API and maps what Flink measures
//! into the same catalogue series a Tidemark job exports, so that the
//! exporters, dashboards, alert rules and `tidemark doctor --prometheus`
//! work on Flink jobs as they are.
//!
//! Cost per poll at `metrics.level: vertex`: one request for the jobs'
//! overview, then per running job one for its plan (only when first seen)
//! and one per vertex for its metrics aggregated over its subtasks
//! (`/subtasks/metrics?get=…&agg=sum`): `1 + Σ_jobs vertices`, whatever the
//! parallelism.

use crate::catalogue;
use crate::registry::{Counter, Registry};
use serde_json::Value;
use std::collections::BTreeMap;

/// A GET of a path under the JobManager's REST address, answered as JSON.
pub type Fetch<'a> = &'a dyn Fn(&str) -> Result<Value, String>;

/// One vertex of a Flink job's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FlinkVertex {
    /// Flink's vertex id (32 hex characters).
    pub id: String,
    /// Its name (the chained operators' names: `Source: source -> to-key`).
    pub name: String,
    /// Its parallelism.
    pub parallelism: u64,
    /// The names of the vertices it reads from.
    pub inputs: Vec<String>,
}

/// A running job's identity and plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FlinkJob {
    /// Flink's job id.
    pub id: String,
    /// The job's name (`job_name`).
    pub name: String,
    /// `pipeline.max-parallelism` as the plan reports it (128 if not).
    pub max_parallelism: u64,
    /// Its vertices, as the plan lists them.
    pub vertices: Vec<FlinkVertex>,
}

/// The metrics read per vertex, aggregated over its subtasks: Flink's
/// accumulated times (counters since the task started, in ms; spelled
/// "accumulate…") and record counts.
pub const VERTEX_METRICS: &[&str] = &[
    "accumulateBusyTimeMs",
    "accumulateIdleTimeMs",
    "accumulateBackPressuredTimeMs",
    "numRecordsIn",
    "numRecordsOut",
];

/// The running jobs in `/jobs/overview`: (id, name).
pub fn running_jobs(fetch: Fetch) -> Result<Vec<(String, String)>, String> {
    let v = fetch("/jobs/overview")?;
    let jobs = v["jobs"]
        .as_array()
        .ok_or_else(|| format!("/jobs/overview has no jobs list: {v}"))?;
    Ok(jobs
        .iter()
        .filter(|j| j["state"] == "RUNNING")
        .filter_map(|j| {
            Some((
                j["jid"].as_str()?.to_string(),
                j["name"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Job `id`'s plan from `/jobs/:id`.
pub fn plan(fetch: Fetch, id: &str) -> Result<FlinkJob, String> {
    let v = fetch(&format!("/jobs/{id}"))?;
    let vertices = v["vertices"]
        .as_array()
        .ok_or_else(|| format!("/jobs/{id} has no vertices: {v}"))?;
    let name_of = |vid: &str| {
        vertices
            .iter()
            .find(|x| x["id"] == vid)
            .and_then(|x| x["name"].as_str())
            .unwrap_or(vid)
            .to_string()
    };
    let nodes = v["plan"]["nodes"].as_array().cloned().unwrap_or_default();
    let inputs_of = |vid: &str| -> Vec<String> {
        nodes
            .iter()
            .find(|n| n["id"] == vid)
            .and_then(|n| n["inputs"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
            .map(name_of)
            .collect()
    };
    Ok(FlinkJob {
        id: id.to_string(),
        name: v["name"].as_str().unwrap_or(id).to_string(),
        max_parallelism: v["maxParallelism"].as_u64().unwrap_or(128),
        vertices: vertices
            .iter()
            .filter_map(|x| {
                let vid = x["id"].as_str()?;
                Some(FlinkVertex {
                    id: vid.to_string(),
                    name: x["name"].as_str().unwrap_or(vid).to_string(),
                    parallelism: x["parallelism"].as_u64().unwrap_or(1),
                    inputs: inputs_of(vid),
                })
            })
            .collect(),
    })
}

/// The sums over a vertex's subtasks of [`VERTEX_METRICS`] (those Flink
/// reported: a metric it does not know is left out of its answer).
pub fn vertex_sums(fetch: Fetch, job: &str, vertex: &str) -> Result<BTreeMap<String, f64>, String> {
    let v = fetch(&format!(
        "/jobs/{job}/vertices/{vertex}/subtasks/metrics?get={}&agg=sum",
        VERTEX_METRICS.join(",")
    ))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["id"].as_str()?.to_string(), m["sum"].as_f64()?)))
        .collect())
}

/// The catalogue series of one vertex, fed from Flink's counters.
struct VertexSeries {
    id: String,
    /// (Flink metric, counter, stored units per Flink unit).
    counters: Vec<(&'static str, Counter, f64)>,
}

/// One watched job's series.
struct JobSeries {
    vertices: Vec<VertexSeries>,
}

/// The agent's state over polls: the jobs it watches and their series.
pub struct Bridge {
    registry: Registry,
    jobs: BTreeMap<String, JobSeries>,
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
    /// Job ids that disappeared (their series retired).
    pub retired: Vec<String>,
}

impl Bridge {
    /// A bridge writing into `registry`.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            jobs: BTreeMap::new(),
        }
    }

    /// One poll: discovers jobs, registers a new job's graph, updates every
    /// watched job's counters, retires the series of jobs no longer running.
    /// The overview failing fails the poll and changes nothing (the
    /// JobManager is down or slow: the series keep their last totals).
    pub fn poll(&mut self, fetch: Fetch) -> Result<PollOutcome, String> {
        let mut out = PollOutcome {
            requests: 1,
            ..Default::default()
        };
        let running = match running_jobs(fetch) {
            Ok(r) => r,
            Err(e) => return Err(format!("/jobs/overview: {e}")),
        };
        let gone: Vec<String> = self
            .jobs
            .keys()
            .filter(|id| !running.iter().any(|(r, _)| r == *id))
            .cloned()
            .collect();
        for id in gone {
            self.jobs.remove(&id);
            self.registry.retire_series(crate::labels::JOB_ID, &id);
            out.retired.push(id);
        }
        for (id, _) in &running {
            if !self.jobs.contains_key(id) {
                out.requests += 1;
                match plan(fetch, id) {
                    Ok(job) => {
                        let series = self.register(&job);
                        self.jobs.insert(id.clone(), series);
                    }
                    Err(_) => {
                        out.failures += 1;
                        continue;
                    }
                }
            }
            let job = &self.jobs[id];
            for v in &job.vertices {
                out.requests += 1;
                match vertex_sums(fetch, id, &v.id) {
                    Ok(sums) => {
                        for (metric, counter, scale) in &v.counters {
                            if let Some(x) = sums.get(*metric) {
                                counter.set_total((x * scale).max(0.0) as u64);
                            }
                        }
                    }
                    Err(_) => out.failures += 1,
                }
            }
        }
        out.jobs = self.jobs.len();
        Ok(out)
    }

    /// Registers `job`'s graph (`tidemark_vertex_info`) and its counters.
    fn register(&self, job: &FlinkJob) -> JobSeries {
        let max = job.max_parallelism.to_string();
        let mut vertices = Vec::new();
        for v in &job.vertices {
            let (inputs, p) = (v.inputs.join(","), v.parallelism.to_string());
            let info = [
                job.name.as_str(),
                job.id.as_str(),
                v.name.as_str(),
                v.id.as_str(),
                inputs.as_str(),
                p.as_str(),
                max.as_str(),
            ];
            if let Ok(g) = self.registry.gauge(&catalogue::VERTEX_INFO, &info) {
                g.set(1);
            }
            // Summed over subtasks: the series of `metrics.level: vertex`.
            let labels = [job.name.as_str(), job.id.as_str(), v.name.as_str(), "0"];
            let ms_to_ns = 1e6;
            let counters = [
                ("accumulateBusyTimeMs", &catalogue::TASK_BUSY, ms_to_ns),
                ("accumulateIdleTimeMs", &catalogue::TASK_IDLE, ms_to_ns),
                (
                    "accumulateBackPressuredTimeMs",
                    &catalogue::TASK_BACKPRESSURED,
                    ms_to_ns,
                ),
                ("numRecordsIn", &catalogue::TASK_RECORDS_IN, 1.0),
                ("numRecordsOut", &catalogue::TASK_RECORDS_OUT, 1.0),
            ]
            .into_iter()
            .filter_map(|(m, def, scale)| {
                Some((m, self.registry.counter(def, &labels).ok()?, scale))
            })
            .collect();
            vertices.push(VertexSeries {
                id: v.id.clone(),
                counters,
            });
        }
        JobSeries { vertices }
    }
}

#[cfg(test)]
mod tests;
