//! The job master: runs attempts of a job, carries out the checkpoint
//! coordinator's decisions (the I/O edge of the barrier flow), writes the
//! metadata last, notifies tasks, and restarts from the latest completed
//! checkpoint after a failure.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the job master's state, its start and its outcome |
//! | `attempts.rs` | the attempt loop: deploy, drive, restart after a failure |
//! | `decisions.rs` | carrying out the coordinator's decisions, and answering savepoint and trigger requests |
//! | `cleanup.rs` | what the job's checkpoints become when it ends (retention, the finished marker, garbage) |

mod attempts;
mod cleanup;
mod decisions;

use crate::api::JobGraph;
use crate::checkpoint::blob::Location;
use crate::checkpoint::coordinator::{AbortReason, CheckpointSettings, Coordinator, Decision};
use crate::checkpoint::local::LocalRecovery;
use crate::checkpoint::metadata::{CheckpointMetadata, OperatorState, FORMAT_VERSION};
use crate::checkpoint::restore::LoadedCheckpoint;
pub use crate::checkpoint::retention::Retention;
use crate::checkpoint::storage::CheckpointStorage;
use crate::error::{Error, Result};
use crate::message::Barrier;
use crate::metrics::{JobMetrics, VertexCheckpointMetrics};
use crate::operator::now_ms;
use crate::runtime::checkpoint_requests::CheckpointOutcome;
use crate::runtime::control::{Command, Commands, EndRequest, StopHandle};
use crate::runtime::deploy::{deploy, Deployment, JobIdentity, RuntimeKnobs};
use crate::runtime::restart::RestartStrategy;
use crate::runtime::savepoints::{SavepointOutcome, SavepointRequest};
use crate::runtime::status::lock;
use crate::runtime::status::{CompletedInfo, JobStatus};
use crate::task::{TaskControl, TaskEvent};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidemark_agent::Registry;

/// Everything that shapes how a job runs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Checkpoint coordinator settings.
    pub checkpoint: CheckpointSettings,
    /// `execution.checkpointing.dir`.
    pub checkpoint_dir: Option<Location>,
    /// `execution.checkpointing.savepoint-dir`: default savepoint target.
    pub savepoint_dir: Option<Location>,
    /// Retention on cancel/finish.
    pub retention: Retention,
    /// `--allow-non-restored-state`: drop state of operators the job no longer has.
    pub allow_non_restored_state: bool,
    /// Restart strategy.
    pub restart: RestartStrategy,
    /// Runtime knobs.
    pub knobs: RuntimeKnobs,
    /// `tidemark.doctor.*`: the capacity model's recovery time and catch-up
    /// duration, for the capacity metrics.
    pub doctor: crate::doctor::Thresholds,
}

/// How a job ended, if it did not fail.
#[derive(Debug)]
pub enum JobOutcome {
    /// Every source finished and every task ended.
    Finished,
    /// Stopped on request (Ctrl-C, SIGTERM, stop-with-savepoint).
    Stopped {
        /// The checkpoint (or savepoint) kept to resume from: the final one
        /// taken at the stop or, if that one failed, the newest completed
        /// before it. `None` only when checkpointing is off or none completed.
        checkpoint: Option<Location>,
    },
    /// Cancelled (`PATCH /jobs/:id`): the retention setting decided what stays.
    Cancelled,
}

enum AttemptEnd {
    Finished,
    Stopped(Option<Location>),
    Cancelled,
    Failed(String),
}

/// How the job ended, for what its checkpoints become.
enum Terminal {
    Finished,
    /// Stopped, with the final checkpoint or savepoint if one completed.
    Stopped(Option<Location>),
    Cancelled,
}

/// Runs one job to its end.
pub struct JobMaster {
    graph: JobGraph,
    opts: JobOptions,
    job_id: String,
    registry: Registry,
    metrics: JobMetrics,
    /// Checkpoint phase histograms, by node index.
    vertex_metrics: Vec<VertexCheckpointMetrics>,
    status: Arc<JobStatus>,
    /// The sending side of `commands`, handed to REST and signal handlers.
    stop: StopHandle,
    /// Requests from outside: checkpoint, savepoint, stop, cancel.
    commands: Commands,
    /// A stop or cancel taken from `commands`: it outlives the attempt that
    /// read it (a stop asked during a restart's delay ends the job there).
    end_asked: Option<EndRequest>,
    /// Checkpoint and savepoint requests read while no attempt ran (during a
    /// restart's delay): the next attempt carries them out.
    deferred: Vec<Command>,
    storage: Option<Arc<CheckpointStorage>>,
    latest: Option<(Location, CheckpointMetadata)>,
    next_id: u64,
    retained: Vec<u64>,
    /// Shared files referenced by each retained checkpoint.
    retained_shared: BTreeMap<u64, HashSet<String>>,
    /// Checkpoints taken for savepoint requests.
    savepoint_ids: HashMap<u64, SavepointRequest>,
    /// Checkpoints taken for REST trigger requests, with their request ids.
    checkpoint_requests: HashMap<u64, Vec<String>>,
    /// A stop-with-savepoint completed: stop with this folder.
    stop_with: Option<Location>,
    /// When the attempt being recovered failed, until every subtask of the
    /// next one has opened.
    failed_at: Option<Instant>,
    /// The capacity model as catalogue metrics.
    capacity: crate::metrics::CapacityMetrics,
}

/// `tidemark_vertex_info`: the graph as series, for readers of Prometheus
/// alone (`tidemark doctor --prometheus`).
fn register_graph(registry: &Registry, graph: &JobGraph, job_id: &str) {
    let max = graph.max_parallelism.to_string();
    for n in &graph.nodes {
        let inputs: Vec<&str> = n
            .inputs
            .iter()
            .map(|e| graph.nodes[graph.edges[*e].from].name.as_str())
            .collect();
        let (inputs, p) = (inputs.join(","), n.parallelism.to_string());
        let labels = [
            graph.name.as_str(),
            job_id,
            &n.name,
            &n.uid,
            &inputs,
            &p,
            &max,
        ];
        if let Ok(g) = registry.gauge(&tidemark_agent::catalogue::VERTEX_INFO, &labels) {
            g.set(1);
        }
    }
}

impl JobMaster {
    /// Prepares a job; fails early if the checkpoint directory is unusable.
    pub fn new(
        graph: JobGraph,
        opts: JobOptions,
        registry: Registry,
        job_id: String,
    ) -> Result<Self> {
        let storage = match (&opts.checkpoint_dir, opts.checkpoint.interval) {
            (Some(root), _) => Some(Arc::new(CheckpointStorage::create(root, &job_id)?)),
            (None, Some(_)) => return Err(Error::Config(
                "execution.checkpointing.interval is set but execution.checkpointing.dir is not: \
                     set execution.checkpointing.dir to a writable directory"
                    .into(),
            )),
            (None, None) => None,
        };
        let metrics = JobMetrics::new(&registry, &graph.name, &job_id);
        let capacity = crate::metrics::CapacityMetrics::new(&registry, &graph.name, &job_id);
        let interval_ms = opts.checkpoint.interval.map_or(0, |d| d.as_millis() as i64);
        metrics.interval_ms.set(interval_ms);
        let status: Arc<JobStatus> = Arc::default();
        let (stop, commands) = StopHandle::channel();
        *lock(&status.vertices) = graph
            .nodes
            .iter()
            .map(|n| crate::runtime::status::VertexInfo {
                uid: n.uid.clone(),
                name: n.name.clone(),
                parallelism: n.parallelism,
                inputs: n
                    .inputs
                    .iter()
                    .map(|e| (graph.edges[*e].from, graph.edges[*e].partitioner))
                    .collect(),
            })
            .collect();
        register_graph(&registry, &graph, &job_id);
        let vertex_metrics = graph
            .nodes
            .iter()
            .map(|n| VertexCheckpointMetrics::new(&registry, &graph.name, &job_id, &n.name))
            .collect();
        Ok(Self {
            graph,
            opts,
            job_id,
            registry,
            metrics,
            vertex_metrics,
            status,
            stop,
            commands,
            end_asked: None,
            deferred: Vec::new(),
            storage,
            latest: None,
            next_id: 1,
            retained: Vec::new(),
            retained_shared: BTreeMap::new(),
            savepoint_ids: HashMap::new(),
            checkpoint_requests: HashMap::new(),
            stop_with: None,
            failed_at: None,
            capacity,
        })
    }

    /// The job's graph.
    pub fn graph(&self) -> &JobGraph {
        &self.graph
    }

    /// This run's job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Shared progress, for a status line.
    pub fn status(&self) -> Arc<JobStatus> {
        self.status.clone()
    }

    /// Stops or cancels the job from another thread (signals, REST).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Where this run's checkpoints go.
    pub fn checkpoint_job_dir(&self) -> Option<Location> {
        self.storage.as_ref().map(|s| s.job_dir().clone())
    }

    fn local_recovery(&self) -> Option<LocalRecovery> {
        self.opts
            .knobs
            .backend
            .local_recovery
            .clone()
            .map(LocalRecovery::new)
    }

    fn set_state(&self, s: &'static str) {
        *lock(&self.status.state) = s;
    }

    fn stats(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::runtime::checkpoint_stats::CheckpointStats> {
        lock(&self.status.checkpoints)
    }

    /// Runs the job, restoring from `restore` first, until it finishes, is
    /// stopped, or fails beyond what the restart strategy allows.
    pub fn run(mut self, restore: Option<LoadedCheckpoint>) -> Result<JobOutcome> {
        self.status.start_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(r) = &restore {
            crate::checkpoint::compat::check_compatible(
                &self.graph,
                &r.meta,
                self.opts.allow_non_restored_state,
            )?;
            self.next_id = r.meta.checkpoint_id + 1;
            self.latest = Some((r.dir.clone(), r.meta.clone()));
            self.stats()
                .restored_from(r.meta.checkpoint_id, now_ms(), r.dir.to_string());
            self.metrics.restored.add(1);
        }
        let result = self.run_attempts(restore);
        self.status.end_ms.store(now_ms(), Ordering::Relaxed);
        self.set_state(match &result {
            Ok(JobOutcome::Finished) => "FINISHED",
            // Flink's stop ends a job FINISHED; its cancel, CANCELED.
            Ok(JobOutcome::Stopped { .. }) => "FINISHED",
            Ok(JobOutcome::Cancelled) => "CANCELED",
            Err(_) => "FAILED",
        });
        result
    }
}
