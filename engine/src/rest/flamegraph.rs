//! `GET /jobs/:id/vertices/:vid/flamegraph?type=on_cpu[&subtaskindex=N][&seconds=S]`:
//! Flink's flame graph answer (`{"endTimestamp", "data": {"name", "value",
//! "children"}}`) from on-CPU samples of the vertex's subtask threads, taken
//! while the request waits (`crate::profile`). Flink samples JVM thread
//! dumps and so also has `full` and `off_cpu`; a native thread has no dump to
//! take, and those types are refused by name.

use super::RestContext;
use crate::profile::{self, Profile, ProfileError};
use crate::runtime::status::lock;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a request samples unless it says (Flink takes 100 samples 50 ms
/// apart: about as long).
pub const DEFAULT_SECONDS: f64 = 2.0;
/// The longest a request may sample: the REST client waits for the answer.
pub const MAX_SECONDS: f64 = 60.0;

/// A request's parameters, checked.
#[derive(Debug, PartialEq)]
pub struct Request {
    /// The vertex's node index.
    pub node: usize,
    /// One subtask, or all.
    pub subtask: Option<usize>,
    /// How long to sample.
    pub duration: Duration,
}

/// The value of `key` in a query string.
pub fn param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Checks a request; `Err((status, message))` names every problem.
pub fn parse(ctx: &RestContext, vid: &str, query: Option<&str>) -> Result<Request, (u16, String)> {
    let vertices = lock(&ctx.status.vertices).clone();
    let Some(node) = vertices.iter().position(|v| v.uid == vid) else {
        return Err((404, format!("Vertex {vid} not found")));
    };
    let parallelism = lock(&ctx.status.tasks)
        .iter()
        .filter(|t| t.node == node)
        .count();
    let mut problems = Vec::new();
    match param(query, "type") {
        None | Some("on_cpu") | Some("ON_CPU") => {}
        Some(t) => problems.push(format!(
            "type={t}: only type=on_cpu is sampled (full and off_cpu are JVM thread dumps; a native thread has none)"
        )),
    }
    let subtask = match param(query, "subtaskindex").map(|s| (s, s.parse::<usize>())) {
        None => None,
        Some((_, Ok(i))) if i < parallelism => Some(i),
        Some((s, _)) => {
            problems.push(format!(
                "subtaskindex={s}: expected a subtask of {vid}, 0 to {}",
                parallelism.saturating_sub(1)
            ));
            None
        }
    };
    let seconds = match param(query, "seconds").map(|s| (s, s.parse::<f64>())) {
        None => DEFAULT_SECONDS,
        Some((_, Ok(x))) if x > 0.0 && x <= MAX_SECONDS => x,
        Some((s, _)) => {
            problems.push(format!(
                "seconds={s}: expected a number of seconds above 0, at most {MAX_SECONDS}"
            ));
            DEFAULT_SECONDS
        }
    };
    if !problems.is_empty() {
        return Err((400, problems.join("; ")));
    }
    Ok(Request {
        node,
        subtask,
        duration: Duration::from_secs_f64(seconds),
    })
}

/// Samples the request's threads.
pub fn sample(ctx: &RestContext, r: &Request) -> Result<Profile, (u16, String)> {
    let threads: Vec<u64> = lock(&ctx.status.tasks)
        .iter()
        .filter(|t| t.node == r.node && r.subtask.is_none_or(|s| s == t.subtask))
        .map(|t| t.thread)
        .collect();
    if threads.is_empty() {
        return Err((409, "the vertex has no running subtasks to sample".into()));
    }
    profile::on_cpu(&threads, r.duration).map_err(|e| match e {
        ProfileError::Busy => (
            409,
            "a profile is being taken already (one at a time per process): ask again when it ends"
                .into(),
        ),
        ProfileError::Failed(m) => (500, format!("could not sample: {m}")),
    })
}

/// The answer in Flink's shape.
pub fn answer(p: &Profile) -> Value {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    json!({ "endTimestamp": end, "data": p.tree() })
}

/// The causes that name a vertex doing too much work: its frames say which
/// work.
const BUSY_CAUSES: &[&str] = &[
    "sink-bottleneck",
    "operator-bottleneck",
    "data-skew",
    "under-provisioned",
    "state-backend-limit",
];

/// Adds the top on-CPU frames of the first busy bottleneck (its named
/// subtask, else all of its subtasks), sampled for `duration`, to that
/// finding's evidence. A bottleneck that is busy off the CPU (sleeping,
/// waiting on I/O or a lock) shows few samples: the evidence says how many.
pub fn add_bottleneck_frames(
    ctx: &RestContext,
    facts: &crate::doctor::Facts,
    d: &mut crate::doctor::Diagnosis,
    duration: Duration,
) {
    let Some(f) = d.findings.iter_mut().find(|f| {
        BUSY_CAUSES.contains(&f.cause)
            && f.vertex.as_ref().is_some_and(|v| {
                facts
                    .vertices
                    .iter()
                    .any(|x| &x.id == v && x.subtasks.iter().any(|s| s.busy >= ctx.doctor.busy))
            })
    }) else {
        return;
    };
    let Some(node) = facts
        .vertices
        .iter()
        .position(|x| Some(&x.id) == f.vertex.as_ref())
    else {
        return;
    };
    let r = Request {
        node,
        subtask: f.subtask,
        duration,
    };
    // Without a profile the finding stands on its metrics; the reason the
    // sampler could not run is not a finding about the job.
    let Ok(p) = sample(ctx, &r) else { return };
    let window = format!("{}s", duration.as_secs_f64());
    f.evidence.push(crate::doctor::Evidence {
        metric: "on_cpu_samples".into(),
        vertex: f.vertex.clone(),
        subtask: f.subtask,
        value: p.samples() as f64,
        window: window.clone(),
    });
    for (frame, share) in p.top_frames(3) {
        f.evidence.push(crate::doctor::Evidence {
            metric: format!("on_cpu_samples:share{{frame={frame:?}}}"),
            vertex: f.vertex.clone(),
            subtask: f.subtask,
            value: share,
            window: window.clone(),
        });
    }
}
