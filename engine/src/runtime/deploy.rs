//! Turns the logical graph into one attempt's running tasks: typed channels per
//! edge, one thread per subtask, restored state handed to each.

use super::key_group_load::KeyGroupLoad;
use crate::api::graph::{Erased, JobGraph, WireParams};
use crate::channel::CancelFlag;
use crate::checkpoint::align::AlignMode;
use crate::checkpoint::restore::LoadedCheckpoint;
use crate::checkpoint::storage::CheckpointStorage;
use crate::error::{Error, Result};
use crate::message::Announcement;
use crate::metrics::{TaskLabels, TaskMetrics};
use crate::operator::{RestoredState, SubtaskInfo};
use crate::task::TaskId;
use crate::task::{TaskControl, TaskEvent, TaskSetup};
use crossbeam_channel::{Receiver, Sender};
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tidemark_agent::Registry;

/// One subtask of a running attempt, as observers see it.
#[derive(Clone, Debug)]
pub struct TaskEntry {
    /// Node index.
    pub node: usize,
    /// Subtask index.
    pub subtask: usize,
    /// Whether the node is a source.
    pub is_source: bool,
    /// Whether the node is a sink.
    pub is_sink: bool,
    /// Its metric handles.
    pub metrics: TaskMetrics,
    /// Its thread's `pthread_t`, for sampling it on the CPU
    /// (`crate::profile`).
    pub thread: u64,
}

/// Runtime knobs that shape an attempt.
#[derive(Debug, Clone)]
pub struct RuntimeKnobs {
    /// Channel capacity, in batches.
    pub channel_capacity: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Longest a record waits in an output buffer.
    pub buffer_timeout: Duration,
    /// Source watermark interval.
    pub watermark_interval: Duration,
    /// State backend and snapshot settings.
    pub backend: Arc<crate::state::StateSettings>,
    /// S3 client settings (savepoint targets given at run time).
    pub s3: crate::checkpoint::blob::S3Settings,
    /// Aligned blocking (EXACTLY_ONCE), aligned not blocking (AT_LEAST_ONCE),
    /// or unaligned after a timeout.
    pub align: crate::checkpoint::align::AlignMode,
    /// Latency markers: interval and granularity (None = off).
    pub latency: Option<(Duration, crate::metrics::LatencyGranularity)>,
}

/// One running attempt.
pub struct Deployment {
    /// Control channel of every subtask.
    pub controls: Vec<(TaskId, Sender<TaskControl>)>,
    /// Source subtasks.
    pub sources: Vec<TaskId>,
    /// Threads to join.
    pub threads: Vec<JoinHandle<()>>,
    /// Reports from tasks.
    pub events: Receiver<TaskEvent>,
    /// Shared cancel flag.
    pub cancel: CancelFlag,
    /// Every subtask's place in the graph and metric handles.
    pub task_metrics: Vec<TaskEntry>,
    /// Each vertex's sampled records per key group (zero for a vertex no
    /// keyed edge feeds).
    pub key_groups: Vec<Arc<KeyGroupLoad>>,
}

impl Deployment {
    /// Sends `c` to every source.
    pub fn to_sources(&self, c: TaskControl) {
        for (id, tx) in &self.controls {
            if self.sources.contains(id) {
                let _ = tx.send(c.clone());
            }
        }
    }

    /// Sends `c` to every task.
    pub fn to_all(&self, c: TaskControl) {
        for (_, tx) in &self.controls {
            let _ = tx.send(c.clone());
        }
    }

    /// Stops every task and waits for its thread.
    pub fn shutdown(self) {
        self.to_all(TaskControl::Cancel);
        self.cancel.cancel();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Who the job is, for labels and state.
pub struct JobIdentity<'a> {
    /// Job name.
    pub name: &'a str,
    /// Job id.
    pub id: &'a str,
}

/// Starts every subtask of `graph`.
pub fn deploy(
    graph: &JobGraph,
    job: &JobIdentity<'_>,
    attempt: u32,
    registry: &Registry,
    storage: Option<Arc<CheckpointStorage>>,
    restore: Option<&LoadedCheckpoint>,
    knobs: &RuntimeKnobs,
) -> Result<Deployment> {
    let mut inputs: Vec<Vec<Vec<Erased>>> = graph
        .nodes
        .iter()
        .map(|nd| (0..nd.parallelism).map(|_| Vec::new()).collect())
        .collect();
    let mut outputs: Vec<Vec<Vec<Erased>>> = graph
        .nodes
        .iter()
        .map(|nd| (0..nd.parallelism).map(|_| Vec::new()).collect())
        .collect();
    // Unaligned checkpoints: one priority lane per subtask for announcements.
    let unaligned = matches!(knobs.align, AlignMode::Unaligned { .. });
    let mut lanes: Vec<Vec<Option<Receiver<Announcement>>>> = Vec::new();
    let mut lane_tx: Vec<Vec<Sender<Announcement>>> = Vec::new();
    for nd in &graph.nodes {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..nd.parallelism)
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        lane_tx.push(tx);
        lanes.push(rx.into_iter().map(|r| unaligned.then_some(r)).collect());
    }
    let key_groups: Vec<Arc<KeyGroupLoad>> = graph
        .nodes
        .iter()
        .map(|_| Arc::new(KeyGroupLoad::new(graph.max_parallelism)))
        .collect();
    // Inputs in each node's edge order, so channel indices are stable.
    for (node, spec) in graph.nodes.iter().enumerate() {
        for &e in &spec.inputs {
            let edge = &graph.edges[e];
            let (outs, ins) = edge.factory.wire(
                WireParams {
                    up: graph.nodes[edge.from].parallelism,
                    down: graph.nodes[edge.to].parallelism,
                    capacity: knobs.channel_capacity,
                    batch: knobs.batch_size,
                    max_parallelism: graph.max_parallelism,
                    offset: inputs[node][0].len(),
                    key_groups: key_groups[node].clone(),
                },
                unaligned.then_some(lane_tx[node].as_slice()),
            );
            for (i, o) in outs.into_iter().enumerate() {
                outputs[edge.from][i].push(o);
            }
            for (j, rs) in ins.into_iter().enumerate() {
                inputs[node][j].extend(rs);
            }
        }
    }
    let names: Arc<Vec<String>> = Arc::new(graph.nodes.iter().map(|n| n.name.clone()).collect());
    let (ev_tx, ev_rx) = crossbeam_channel::unbounded();
    let cancel = CancelFlag::default();
    let mut dep = Deployment {
        controls: Vec::new(),
        sources: Vec::new(),
        threads: Vec::new(),
        events: ev_rx,
        cancel: cancel.clone(),
        task_metrics: Vec::new(),
        key_groups,
    };
    for (ni, node) in graph.nodes.iter().enumerate() {
        if let Some(files) = restore.and_then(|r| r.files.get(&node.uid)) {
            // In-flight records belong to channels that no longer exist at
            // another parallelism: they cannot be handed over, only lost.
            let in_flight = files
                .iter()
                .flatten()
                .any(|f| !f.channel_state().is_empty());
            if in_flight && files.len() != node.parallelism {
                return Err(Error::Checkpoint(format!(
                    "operator '{}' holds in-flight records of an unaligned checkpoint taken at parallelism {}: restore it at that parallelism, or from an aligned checkpoint or a savepoint",
                    node.uid,
                    files.len()
                )));
            }
        }
        let restored_files = restore.and_then(|r| {
            r.files.get(&node.uid).map(|f| {
                (
                    r.meta.checkpoint_id,
                    f,
                    r.natives.get(&node.uid).cloned().unwrap_or_default(),
                )
            })
        });
        for (i, (ins, outs)) in std::mem::take(&mut inputs[ni])
            .into_iter()
            .zip(std::mem::take(&mut outputs[ni]))
            .enumerate()
        {
            let info = SubtaskInfo {
                job_name: job.name.to_string(),
                job_id: job.id.to_string(),
                vertex: node.name.clone(),
                uid: node.uid.clone(),
                index: i,
                parallelism: node.parallelism,
                max_parallelism: graph.max_parallelism,
                attempt,
                backend: knobs.backend.clone(),
            };
            let metrics = TaskMetrics::new(
                registry,
                &TaskLabels {
                    job_name: info.job_name.clone(),
                    job_id: info.job_id.clone(),
                    vertex: info.vertex.clone(),
                    subtask: i,
                },
            );
            let restored = restored_files
                .as_ref()
                .map(|(cid, files, natives)| RestoredState {
                    checkpoint_id: *cid,
                    files: files.iter().flatten().cloned().collect(),
                    own: files.get(i).cloned().flatten(),
                    old_subtasks: files.to_vec(),
                    natives: natives.clone(),
                });
            let id = TaskId {
                node: ni,
                subtask: i,
            };
            let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
            dep.controls.push((id, ctl_tx));
            if node.is_source {
                dep.sources.push(id);
            }
            dep.task_metrics.push(TaskEntry {
                node: ni,
                subtask: i,
                is_source: node.is_source,
                is_sink: node.is_sink,
                metrics: metrics.clone(),
                thread: 0,
            });
            let setup = TaskSetup {
                info,
                id,
                control: ctl_rx,
                events: ev_tx.clone(),
                metrics,
                storage: storage.clone(),
                restored,
                cancel: cancel.clone(),
                buffer_timeout: knobs.buffer_timeout,
                watermark_interval: knobs.watermark_interval,
                align: knobs.align,
                registry: registry.clone(),
                priority: lanes[ni][i].take(),
                latency_interval: knobs.latency.filter(|_| node.is_source).map(|(i, _)| i),
                latency: knobs.latency.filter(|_| !node.is_source).map(|(_, g)| {
                    crate::metrics::LatencyRecorder::new(
                        registry.clone(),
                        TaskLabels {
                            job_name: job.name.to_string(),
                            job_id: job.id.to_string(),
                            vertex: node.name.clone(),
                            subtask: i,
                        },
                        g,
                        names.clone(),
                    )
                }),
            };
            let run = node
                .factory
                .build(setup, ins, outs, cancel.clone(), knobs.batch_size)?;
            let events = ev_tx.clone();
            let label = format!("{}#{}", node.name, i);
            let t = std::thread::Builder::new()
                .name(label.clone())
                .spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
                    let error = match r {
                        Ok(Ok(())) | Ok(Err(Error::Cancelled)) => return,
                        Ok(Err(e)) => e.to_string(),
                        Err(p) => p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into()),
                    };
                    let _ = events.send(TaskEvent::Failed {
                        task: id,
                        error: format!("{label}: {error}"),
                    });
                })
                .map_err(|e| {
                    Error::Task(format!("could not start thread for {}: {e}", node.name))
                })?;
            if let Some(entry) = dep.task_metrics.last_mut() {
                entry.thread = t.as_pthread_t() as u64;
            }
            dep.threads.push(t);
        }
    }
    Ok(dep)
}
