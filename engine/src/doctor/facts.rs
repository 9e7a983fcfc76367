//! What the doctor's rules read: a job's graph, each subtask's busy,
//! backpressured and idle shares and input rate over a window, and what its
//! checkpoints and restarts did in that window. Read at the edge: here from
//! a running job's own status (the window of `GET
//! /jobs/:id/vertices/:vid/backpressure`).

use crate::runtime::checkpoint_stats::Status;
use crate::runtime::status::{lock, JobStatus, BACKPRESSURE_WINDOW};

/// One subtask over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtaskFacts {
    /// Its index.
    pub subtask: usize,
    /// Share of the window spent processing (0 to 1).
    pub busy: f64,
    /// Share blocked on a full output.
    pub backpressured: f64,
    /// Share waiting for input.
    pub idle: f64,
    /// Records in per second.
    pub records_in_per_s: f64,
}

/// One vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexFacts {
    /// Its uid (the REST vertex id).
    pub id: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// The vertices it reads from, by index.
    pub inputs: Vec<usize>,
    /// Nothing reads from it.
    pub is_sink: bool,
    /// Its subtasks.
    pub subtasks: Vec<SubtaskFacts>,
}

/// Checkpoints over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointFacts {
    /// Checkpoints that failed in the window.
    pub failed_in_window: u64,
    /// A checkpoint completed after the latest failure.
    pub completed_after_last_failure: bool,
    /// The latest failure's reason.
    pub last_failure: Option<String>,
}

/// Everything the rules read.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The window, in seconds.
    pub window_s: f64,
    /// `pipeline.max-parallelism`: the key groups a parallelism divides.
    pub max_parallelism: u32,
    /// The vertices, upstream first.
    pub vertices: Vec<VertexFacts>,
    /// Checkpoints.
    pub checkpoints: CheckpointFacts,
    /// Restarts in the window.
    pub restarts_in_window: u64,
    /// The latest failure's message.
    pub root_exception: Option<String>,
}

/// The least span of measurements the doctor answers from: shorter, a
/// passing hiccup would look like a cause, and no data like health.
pub const MIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// The facts of a running job, from its status; or, before its
/// measurements span [`MIN_WINDOW`], how long they span.
pub(crate) fn from_status(
    status: &JobStatus,
    max_parallelism: u32,
) -> Result<Facts, std::time::Duration> {
    let window = status.measured_span();
    if window < MIN_WINDOW {
        return Err(window);
    }
    let window = window.min(BACKPRESSURE_WINDOW);
    let since = crate::operator::now_ms() - window.as_millis() as i64;
    let graph = lock(&status.vertices).clone();
    let pressure = status.backpressure();
    let rates = status.records_in_rates();
    let tasks: Vec<(usize, usize)> = lock(&status.tasks)
        .iter()
        .map(|t| (t.node, t.subtask))
        .collect();
    let vertices = graph
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let subtasks = pressure
                .iter()
                .find(|p| p.node == i)
                .map(|p| {
                    p.subtasks
                        .iter()
                        .map(|s| SubtaskFacts {
                            subtask: s.subtask,
                            busy: s.shares.busy,
                            backpressured: s.shares.backpressured,
                            idle: s.shares.idle,
                            records_in_per_s: tasks
                                .iter()
                                .position(|t| *t == (i, s.subtask))
                                .and_then(|at| rates.get(at).copied())
                                .unwrap_or(0.0),
                        })
                        .collect()
                })
                .unwrap_or_default();
            VertexFacts {
                id: v.uid.clone(),
                parallelism: v.parallelism,
                inputs: v.inputs.iter().map(|(from, _)| *from).collect(),
                is_sink: !graph.iter().any(|w| w.inputs.iter().any(|(f, _)| *f == i)),
                subtasks,
            }
        })
        .collect();
    let checkpoints = {
        let stats = lock(&status.checkpoints);
        let latest_failed = stats.history.iter().find(|r| r.status == Status::Failed);
        CheckpointFacts {
            failed_in_window: stats
                .history
                .iter()
                .filter(|r| r.status == Status::Failed && r.end_ms.unwrap_or(r.trigger_ms) >= since)
                .count() as u64,
            completed_after_last_failure: latest_failed.is_some_and(|f| {
                stats
                    .history
                    .iter()
                    .any(|r| r.status == Status::Completed && r.id > f.id)
            }),
            last_failure: latest_failed.and_then(|r| r.failure.clone()),
        }
    };
    let exceptions = lock(&status.exceptions);
    Ok(Facts {
        window_s: window.as_secs_f64(),
        max_parallelism,
        vertices,
        checkpoints,
        restarts_in_window: exceptions.iter().filter(|e| e.0 >= since).count() as u64,
        root_exception: exceptions.last().map(|e| e.2.clone()),
    })
}
