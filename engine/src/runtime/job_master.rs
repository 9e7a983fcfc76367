//! The job master: runs attempts of a job, carries out the checkpoint
//! coordinator's decisions (the I/O edge of the barrier flow), writes the
//! metadata last, notifies tasks, and restarts from the latest completed
//! checkpoint after a failure.

use super::checkpoint_requests::CheckpointOutcome;
use super::deploy::{deploy, Deployment, JobIdentity, RuntimeKnobs};
use super::restart::RestartStrategy;
use super::savepoints::{SavepointOutcome, SavepointRequest};
use super::status::lock;
use super::status::{CompletedInfo, JobStatus};
use super::stop::{EndRequest, StopHandle};
use crate::api::JobGraph;
use crate::checkpoint::blob::Location;
use crate::checkpoint::coordinator::{AbortReason, CheckpointSettings, Coordinator, Decision};
use crate::checkpoint::local::LocalRecovery;
use crate::checkpoint::metadata::{CheckpointMetadata, OperatorState, FORMAT_VERSION};
use crate::checkpoint::restore::LoadedCheckpoint;
use crate::checkpoint::storage::CheckpointStorage;
use crate::error::{Error, Result};
use crate::message::Barrier;
use crate::metrics::{JobMetrics, VertexCheckpointMetrics};
use crate::operator::now_ms;
use crate::task::{TaskControl, TaskEvent};
use crossbeam_channel::RecvTimeoutError;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidemark_agent::Registry;

/// What happens to retained checkpoints when the job ends
/// (`execution.checkpointing.externalized-checkpoint-retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Deleted when the job finishes or is cancelled (Flink's default).
    NoExternalized,
    /// Deleted when cancelled, and when finished.
    DeleteOnCancellation,
    /// Kept when cancelled.
    RetainOnCancellation,
}

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
    stop: StopHandle,
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
        let interval_ms = opts.checkpoint.interval.map_or(0, |d| d.as_millis() as i64);
        metrics.interval_ms.set(interval_ms);
        let status: Arc<JobStatus> = Arc::default();
        *lock(&status.vertices) = graph
            .nodes
            .iter()
            .map(|n| super::status::VertexInfo {
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
            stop: StopHandle::default(),
            storage,
            latest: None,
            next_id: 1,
            retained: Vec::new(),
            retained_shared: BTreeMap::new(),
            savepoint_ids: HashMap::new(),
            checkpoint_requests: HashMap::new(),
            stop_with: None,
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

    fn stats(&self) -> std::sync::MutexGuard<'_, super::checkpoint_stats::CheckpointStats> {
        lock(&self.status.checkpoints)
    }

    /// Runs the job, restoring from `restore` first, until it finishes, is
    /// stopped, or fails beyond what the restart strategy allows.
    pub fn run(mut self, restore: Option<LoadedCheckpoint>) -> Result<JobOutcome> {
        self.status.start_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(r) = &restore {
            check_compatible(&self.graph, &r.meta, self.opts.allow_non_restored_state)?;
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

    fn run_attempts(&mut self, restore: Option<LoadedCheckpoint>) -> Result<JobOutcome> {
        let mut restore = restore;
        let mut attempt = 0u32;
        let mut failures = 0u32;
        loop {
            let dep = deploy(
                &self.graph,
                &JobIdentity {
                    name: &self.graph.name,
                    id: &self.job_id,
                },
                attempt,
                &self.registry,
                self.storage.clone(),
                restore.as_ref(),
                &self.opts.knobs,
            )?;
            *lock(&self.status.tasks) = dep.task_metrics.clone();
            self.set_state("RUNNING");
            let end = self.drive(&dep);
            dep.shutdown();
            match end {
                AttemptEnd::Finished => {
                    self.on_terminal(Terminal::Finished);
                    return Ok(JobOutcome::Finished);
                }
                AttemptEnd::Stopped(p) => {
                    let kept = self.on_terminal(Terminal::Stopped(p));
                    return Ok(JobOutcome::Stopped { checkpoint: kept });
                }
                AttemptEnd::Cancelled => {
                    self.on_terminal(Terminal::Cancelled);
                    return Ok(JobOutcome::Cancelled);
                }
                AttemptEnd::Failed(reason) => {
                    failures += 1;
                    self.set_state("RESTARTING");
                    self.metrics.uptime_ms.set(0);
                    {
                        let task = reason.split(':').next().unwrap_or("").to_string();
                        let mut ex = lock(&self.status.exceptions);
                        ex.push((now_ms(), task, reason.clone()));
                        let n = ex.len();
                        if n > 100 {
                            ex.drain(..n - 100);
                        }
                    }
                    let Some(delay) = self.opts.restart.delay(failures) else {
                        return Err(Error::Task(format!(
                            "job failed and the restart strategy allows no more restarts ({failures} failure(s)): {reason}"
                        )));
                    };
                    log::warn!(
                        "job failed: {reason}; restarting in {delay:?} from {}",
                        self.describe_latest()
                    );
                    let until = Instant::now() + delay;
                    while Instant::now() < until {
                        match self.stop.requested() {
                            // No tasks run to take a final checkpoint: the
                            // newest completed one is kept instead.
                            Some(EndRequest::Stop) => {
                                let kept = self.on_terminal(Terminal::Stopped(None));
                                return Ok(JobOutcome::Stopped { checkpoint: kept });
                            }
                            Some(EndRequest::Cancel) => {
                                self.on_terminal(Terminal::Cancelled);
                                return Ok(JobOutcome::Cancelled);
                            }
                            None => {}
                        }
                        std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
                    }
                    restore = match self.latest.clone() {
                        Some((dir, meta)) => {
                            self.stats().restored_from(
                                meta.checkpoint_id,
                                now_ms(),
                                dir.to_string(),
                            );
                            self.metrics.restored.add(1);
                            let local = self.local_recovery();
                            Some(LoadedCheckpoint::load(
                                dir,
                                meta,
                                local.as_ref(),
                                &self.job_id,
                                &self.opts.knobs.backend.rocks.local_dir,
                            )?)
                        }
                        None => None,
                    };
                    attempt += 1;
                    self.metrics.restarts.add(1);
                    self.status.restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn describe_latest(&self) -> String {
        match &self.latest {
            Some((d, m)) => format!("checkpoint {} ({d})", m.checkpoint_id),
            None => "the beginning (no checkpoint completed yet)".into(),
        }
    }

    /// Applies the retention setting when the job ends. A stopped job keeps
    /// the checkpoint it resumes from, whatever the retention: its final one,
    /// or the newest completed one if that failed. Returns the kept folder.
    /// The job's series are retired by whoever runs the reporters, after
    /// `--linger`: retired here, the pushes during the linger replaced the
    /// Pushgateway group without them and the final values were gone.
    fn on_terminal(&mut self, end: Terminal) -> Option<Location> {
        let storage = self.storage.clone()?;
        if matches!(end, Terminal::Finished) {
            // Before anything is deleted, so that no crash leaves earlier
            // runs' checkpoints as the newest thing under the root.
            let marker = self.finished_marker();
            if let Err(e) = storage.mark_finished(&marker) {
                log::warn!(
                    "could not record that the job finished ({e}): its checkpoints are kept, so that --restore latest resumes the final one rather than an earlier run's"
                );
                return None;
            }
        }
        let (keep_all, stop_checkpoint) = match &end {
            Terminal::Finished => (false, None),
            Terminal::Cancelled => (self.opts.retention == Retention::RetainOnCancellation, None),
            // A savepoint lives outside the retained checkpoints: nothing to keep here.
            Terminal::Stopped(Some(l)) if !l.name().starts_with("chk-") => (false, None),
            Terminal::Stopped(_) => (
                self.opts.retention == Retention::RetainOnCancellation,
                self.retained.last().copied(),
            ),
        };
        let kept = match end {
            Terminal::Stopped(Some(l)) => Some(l),
            Terminal::Stopped(None) => stop_checkpoint.map(|id| storage.chk_dir(id)),
            _ => None,
        };
        if !keep_all {
            for id in std::mem::take(&mut self.retained) {
                if Some(id) != stop_checkpoint {
                    storage.discard(id);
                    self.retained_shared.remove(&id);
                }
            }
            self.retained.extend(stop_checkpoint);
        }
        // Everything else (aborted attempts, unreferenced shared files) goes.
        let keep: HashSet<String> = self.retained_shared.values().flatten().cloned().collect();
        storage.collect_garbage(&self.retained, &keep, u64::MAX);
        if let Some(d) = storage.job_dir().local_path() {
            let _ = std::fs::remove_dir(d.join(crate::checkpoint::storage::SHARED_DIR));
            let _ = std::fs::remove_dir(d); // only if empty
        }
        kept
    }

    /// What [`crate::checkpoint::metadata::FINISHED_FILE`] holds: the job,
    /// its last checkpoint's id and the time it finished; no state.
    fn finished_marker(&self) -> CheckpointMetadata {
        let now = now_ms();
        CheckpointMetadata {
            version: FORMAT_VERSION,
            job_name: self.graph.name.clone(),
            job_id: self.job_id.clone(),
            pipeline: self.graph.pipeline.clone(),
            checkpoint_id: self.latest.as_ref().map_or(0, |(_, m)| m.checkpoint_id),
            trigger_ms: now,
            completed_ms: now,
            is_final: true,
            savepoint: false,
            operators: Vec::new(),
        }
    }

    fn drive(&mut self, dep: &Deployment) -> AttemptEnd {
        let total = self.graph.subtasks();
        let mut coord = Coordinator::new(
            self.opts.checkpoint.clone(),
            total,
            self.next_id,
            now_ms(),
            self.retained.clone(),
        );
        let checkpointing = self.storage.is_some() && self.opts.checkpoint.interval.is_some();
        let mut finished = 0usize;
        let mut exhausted: HashSet<_> = HashSet::new();
        // The final checkpoint's id, until its first acknowledgement (a crash-test pause point).
        let mut final_id = None;
        let mut stopping: Option<Option<u64>> = None;
        let mut queue: VecDeque<Decision> = VecDeque::new();
        let mut last_sample = Instant::now();
        let attempt_start = now_ms();
        self.status.sample(last_sample);
        let end = loop {
            if last_sample.elapsed() >= Duration::from_secs(1) {
                last_sample = Instant::now();
                self.status.sample(last_sample);
                self.update_time_gauges(&coord, attempt_start);
            }
            let requests = lock(&self.status.checkpoint_requests).take_all();
            if !requests.is_empty() {
                let ds = coord.trigger_now(now_ms());
                if let Some(id) = ds.iter().find_map(|d| match d {
                    Decision::Trigger { id, .. } => Some(*id),
                    _ => None,
                }) {
                    self.checkpoint_requests
                        .entry(id)
                        .or_default()
                        .extend(requests);
                }
                queue.extend(ds);
            }
            let request = lock(&self.status.savepoints).take();
            if let Some(req) = request {
                if self.storage.is_none() {
                    lock(&self.status.savepoints).finish(
                        &req.id,
                        SavepointOutcome::Failed(
                            "savepoints need execution.checkpointing.dir".into(),
                        ),
                    );
                } else {
                    let ds = coord.trigger_now(now_ms());
                    if let Some(id) = ds.iter().find_map(|d| match d {
                        Decision::Trigger { id, .. } => Some(*id),
                        _ => None,
                    }) {
                        log::info!(
                            "triggering savepoint (checkpoint {id}) for request {}",
                            req.id
                        );
                        self.savepoint_ids.insert(id, req);
                    }
                    queue.extend(ds);
                }
            }
            match self.stop.requested() {
                Some(EndRequest::Cancel) => break AttemptEnd::Cancelled,
                Some(EndRequest::Stop) if stopping.is_none() => {
                    if checkpointing {
                        log::info!("stopping: taking a final checkpoint to resume from");
                        let ds = coord.trigger_now(now_ms());
                        let id = ds.iter().find_map(|d| match d {
                            Decision::Trigger { id, .. } => Some(*id),
                            _ => None,
                        });
                        queue.extend(ds);
                        stopping = Some(id);
                    } else {
                        break AttemptEnd::Stopped(None);
                    }
                }
                _ => {}
            }
            match dep.events.recv_timeout(Duration::from_millis(10)) {
                Ok(TaskEvent::Ack { id, ack }) => {
                    self.stats().acked(id, &ack);
                    queue.extend(coord.on_ack(id, ack));
                    if final_id == Some(id) {
                        final_id = None;
                        super::fault::pause_at(super::fault::FINAL_CHECKPOINT);
                    }
                }
                Ok(TaskEvent::Decline { id, reason }) => queue.extend(coord.on_decline(id, reason)),
                Ok(TaskEvent::SourceExhausted(t)) => {
                    exhausted.insert(t);
                    if exhausted.len() == dep.sources.len() {
                        if checkpointing {
                            let ds = coord.trigger_final(now_ms());
                            for d in &ds {
                                if let Decision::Trigger { id, .. } = d {
                                    log::info!(
                                        "every source has finished: taking the final checkpoint {id}"
                                    );
                                    final_id = Some(*id);
                                }
                            }
                            queue.extend(ds);
                        } else {
                            dep.to_sources(TaskControl::EndInput);
                        }
                    }
                }
                Ok(TaskEvent::Finished(_)) => {
                    finished += 1;
                    if finished == total {
                        break AttemptEnd::Finished;
                    }
                }
                Ok(TaskEvent::Failed { error, .. }) => break AttemptEnd::Failed(error),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    break AttemptEnd::Failed("every task exited without finishing".into())
                }
            }
            if stopping.is_none() {
                queue.extend(coord.tick(now_ms()));
            }
            let mut failed = None;
            while let Some(d) = queue.pop_front() {
                match self.apply(d, dep, &mut coord) {
                    Ok(more) => queue.extend(more),
                    Err(reason) => {
                        failed = Some(reason);
                        break;
                    }
                }
            }
            if let Some(r) = failed {
                break AttemptEnd::Failed(r);
            }
            if let Some(l) = self.stop_with.take() {
                break AttemptEnd::Stopped(Some(l));
            }
            if let Some(target) = stopping {
                match target {
                    None => break AttemptEnd::Stopped(None),
                    Some(id) if self.retained.contains(&id) => {
                        break AttemptEnd::Stopped(self.storage.as_ref().map(|s| s.chk_dir(id)))
                    }
                    Some(id) if coord.in_flight() == 0 => {
                        log::warn!(
                            "the final checkpoint {id} did not complete; keeping {} instead",
                            self.describe_latest()
                        );
                        break AttemptEnd::Stopped(None);
                    }
                    Some(_) => {}
                }
            }
        };
        self.next_id = coord.next_id();
        end
    }

    /// Gauges that move with the clock: uptime, time since the last
    /// completed checkpoint, checkpoints in flight.
    fn update_time_gauges(&self, coord: &Coordinator, attempt_start: i64) {
        let now = now_ms();
        self.metrics.uptime_ms.set(now - attempt_start);
        self.metrics.in_progress.set(coord.in_flight() as i64);
        let last = self.metrics.last_completion_ms.get();
        if last != -1 {
            self.metrics.since_last_ms.set(now - last);
        }
    }

    /// Carries out one decision; returns follow-up decisions, or a reason to fail over.
    fn apply(
        &mut self,
        d: Decision,
        dep: &Deployment,
        coord: &mut Coordinator,
    ) -> std::result::Result<Vec<Decision>, String> {
        match d {
            Decision::Trigger {
                id,
                trigger_ms,
                is_final,
            } => {
                self.stats()
                    .triggered(id, trigger_ms, self.graph.subtasks());
                dep.to_sources(TaskControl::TriggerCheckpoint(Barrier {
                    id,
                    trigger_ms,
                    is_final,
                    savepoint: self.savepoint_ids.contains_key(&id),
                    drain: self
                        .savepoint_ids
                        .get(&id)
                        .is_some_and(|r| r.stop && r.drain),
                }));
                Ok(vec![])
            }
            Decision::Complete {
                id,
                trigger_ms,
                is_final,
                acks,
            } => {
                let storage = self.storage.clone().expect("checkpoints need storage");
                let mut operators: Vec<OperatorState> = self
                    .graph
                    .nodes
                    .iter()
                    .map(|n| OperatorState {
                        uid: n.uid.clone(),
                        vertex: n.name.clone(),
                        parallelism: n.parallelism,
                        max_parallelism: self.graph.max_parallelism,
                        subtasks: vec![None; n.parallelism],
                    })
                    .collect();
                let processed: u64 = acks.iter().map(|a| a.processed_bytes).sum();
                let checkpointed: u64 = acks.iter().map(|a| a.checkpointed_bytes).sum();
                let persisted: u64 = acks.iter().map(|a| a.persisted_bytes).sum();
                for a in acks {
                    let m = &self.vertex_metrics[a.task.node];
                    m.duration
                        .observe(((a.ack_ms - trigger_ms).max(0) as u64) * 1_000_000);
                    m.sync.observe(a.sync_ns);
                    m.async_.observe(a.async_ns);
                    m.alignment.observe(a.alignment_ns);
                    m.start_delay.observe(a.start_delay_ns);
                    operators[a.task.node].subtasks[a.task.subtask] = a.handle;
                }
                let completed_ms = now_ms();
                let meta = CheckpointMetadata {
                    version: FORMAT_VERSION,
                    job_name: self.graph.name.clone(),
                    job_id: self.job_id.clone(),
                    pipeline: self.graph.pipeline.clone(),
                    checkpoint_id: id,
                    trigger_ms,
                    completed_ms,
                    is_final,
                    savepoint: false,
                    operators,
                };
                match storage.commit_metadata(&meta) {
                    Ok(dir) => {
                        // The sinks commit after this line, on NotifyComplete.
                        log::debug!("checkpoint {id} complete: metadata written to {dir}");
                        super::fault::pause_at(super::fault::AFTER_METADATA);
                        let size = meta.state_size();
                        let duration_ms = completed_ms - trigger_ms;
                        self.metrics.completed.add(1);
                        self.metrics.last_id.set(id as i64);
                        self.metrics.last_duration_ns.set(duration_ms * 1_000_000);
                        self.metrics.last_size.set(checkpointed as i64);
                        self.metrics.last_full_size.set(size as i64);
                        self.metrics.last_processed.set(processed as i64);
                        self.metrics.last_persisted.set(persisted as i64);
                        self.metrics.last_completion_ms.set(completed_ms);
                        self.metrics.since_last_ms.set(0);
                        *lock(&self.status.last_checkpoint) = Some(CompletedInfo {
                            id,
                            duration_ms,
                            size,
                        });
                        self.stats().completed(id, completed_ms, dir.to_string());
                        if let Some(req) = self.savepoint_ids.remove(&id) {
                            self.finish_savepoint(&dir, &meta, req);
                        }
                        self.finish_requests(id, CheckpointOutcome::Completed(id));
                        self.retained_shared
                            .insert(id, meta.shared_files().map(str::to_string).collect());
                        self.latest = Some((dir, meta));
                        let follow = coord.on_completed(id, completed_ms);
                        self.retained = coord.retained().collect();
                        self.retained_shared
                            .retain(|id, _| self.retained.contains(id));
                        let keep: HashSet<String> =
                            self.retained_shared.values().flatten().cloned().collect();
                        storage.collect_garbage(&self.retained, &keep, id);
                        Ok(follow)
                    }
                    Err(e) => Ok(coord.on_metadata_failed(id, e.to_string())),
                }
            }
            Decision::NotifyComplete { id } => {
                dep.to_all(TaskControl::NotifyComplete(id));
                Ok(vec![])
            }
            Decision::Abort { id, reason } => {
                if reason != AbortReason::Subsumed {
                    log::warn!("checkpoint {id} failed: {reason}");
                    self.stats().failed(id, now_ms(), reason.to_string());
                    self.metrics.failed.add(1);
                    self.status
                        .failed_checkpoints
                        .fetch_add(1, Ordering::Relaxed);
                }
                dep.to_all(TaskControl::Abort(id));
                if let Some(s) = &self.storage {
                    s.discard(id);
                }
                if let Some(req) = self.savepoint_ids.remove(&id) {
                    lock(&self.status.savepoints).finish(
                        &req.id,
                        SavepointOutcome::Failed(format!("checkpoint {id}: {reason}")),
                    );
                }
                self.finish_requests(
                    id,
                    CheckpointOutcome::Failed(format!("checkpoint {id}: {reason}")),
                );
                Ok(vec![])
            }
            Decision::Discard { id } => {
                if let Some(s) = &self.storage {
                    s.discard(id);
                }
                Ok(vec![])
            }
            Decision::FailJob { reason } => Err(reason),
        }
    }
}

impl JobMaster {
    /// Records the outcome of checkpoint `id` for the REST requests it served.
    fn finish_requests(&mut self, id: u64, outcome: CheckpointOutcome) {
        if let Some(reqs) = self.checkpoint_requests.remove(&id) {
            let mut book = lock(&self.status.checkpoint_requests);
            for r in reqs {
                book.finish(&r, outcome.clone());
            }
        }
    }

    /// Copies completed checkpoint `meta` into the request's savepoint folder
    /// and records the outcome; a stop request then stops the job.
    fn finish_savepoint(
        &mut self,
        chk: &Location,
        meta: &CheckpointMetadata,
        req: SavepointRequest,
    ) {
        let target = match &req.target {
            Some(t) => Location::parse(t, &self.opts.knobs.s3, "target-directory"),
            None => self.opts.savepoint_dir.clone().ok_or_else(|| {
                Error::Config(
                    "no target directory: pass one, or set execution.checkpointing.savepoint-dir"
                        .into(),
                )
            }),
        };
        let outcome = target.and_then(|t| crate::checkpoint::savepoint::write(chk, meta, &t));
        let mut book = lock(&self.status.savepoints);
        match outcome {
            Ok(dir) => {
                log::info!("savepoint {} written to {dir}", meta.checkpoint_id);
                book.finish(&req.id, SavepointOutcome::Completed(dir.to_string()));
                if req.stop {
                    self.stop_with = Some(dir);
                }
            }
            Err(e) => {
                log::warn!("savepoint {} failed: {e}", meta.checkpoint_id);
                book.finish(&req.id, SavepointOutcome::Failed(e.to_string()));
            }
        }
    }
}

/// Checks that `meta` can be restored into this graph: every operator with
/// state still exists, and keyed state keeps its number of key groups.
pub fn check_compatible(
    graph: &JobGraph,
    meta: &CheckpointMetadata,
    allow_non_restored: bool,
) -> Result<()> {
    let mut problems = Vec::new();
    for op in &meta.operators {
        if op.subtasks.iter().all(Option::is_none) {
            continue;
        }
        let Some(node) = graph.nodes.iter().find(|n| n.uid == op.uid) else {
            if allow_non_restored {
                log::warn!(
                    "dropping the state of operator uid '{}' ({}): this job does not have it (--allow-non-restored-state)",
                    op.uid, op.vertex
                );
            } else {
                problems.push(format!(
                    "the checkpoint has state for operator uid '{}' ({}) which this job does not have; \
                     pass --allow-non-restored-state to drop it",
                    op.uid, op.vertex
                ));
            }
            continue;
        };
        if node.keyed && op.max_parallelism != graph.max_parallelism {
            problems.push(format!(
                "operator '{}' was checkpointed with pipeline.max-parallelism={}, this job uses {}: keyed state cannot move between key-group counts; set pipeline.max-parallelism={}",
                op.uid, op.max_parallelism, graph.max_parallelism, op.max_parallelism
            ));
        }
        // Sources hand their splits over and sinks their pending transactions
        // at another parallelism; other non-keyed state cannot be split.
        let rescalable = node.keyed || node.is_source || node.is_sink;
        if !rescalable && node.parallelism != op.parallelism {
            problems.push(format!(
                "operator '{}' has non-keyed state from parallelism {} but now runs with {}; keep its parallelism",
                op.uid, op.parallelism, node.parallelism
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!("--restore: {}", problems.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::state_file::StateHandle;

    fn graph() -> JobGraph {
        let cfg = crate::source::datagen::DatagenConfig {
            keys: 10,
            distribution: crate::source::datagen::KeyDistribution::Uniform,
            rate: 0,
            events: Some(10),
            seed: 1,
            event_time_start_ms: 0,
            event_time_rate: 1000,
            out_of_orderness_ms: 0,
            warmup: 0,
        };
        let env = crate::api::StreamEnv::new("j").with_pipeline("p");
        env.source::<crate::source::datagen::Event>(move || {
            Box::new(crate::source::datagen::DatagenSource::new(
                cfg.clone(),
                None,
            ))
        })
        .name("datagen")
        .uid("datagen")
        .key_by(|e: &crate::source::datagen::Event| e.key)
        .process(crate::pipelines::RunningCount::<u64, crate::source::datagen::Event>::default)
        .name("count")
        .uid("count")
        .sink(|| Box::new(crate::sink::blackhole::BlackholeSink))
        .name("sink")
        .uid("sink");
        env.build_with(2, Some(128)).unwrap()
    }

    fn meta(uids: &[&str], max_parallelism: u32) -> CheckpointMetadata {
        CheckpointMetadata {
            version: FORMAT_VERSION,
            job_name: "j".into(),
            job_id: "x".into(),
            pipeline: "p".into(),
            checkpoint_id: 1,
            trigger_ms: 0,
            completed_ms: 0,
            is_final: false,
            savepoint: true,
            operators: uids
                .iter()
                .map(|u| OperatorState {
                    uid: u.to_string(),
                    vertex: u.to_string(),
                    parallelism: 4,
                    max_parallelism,
                    subtasks: vec![Some(StateHandle::of("f", b"x"))],
                })
                .collect(),
        }
    }

    #[test]
    fn removed_state_needs_allow_non_restored_and_key_groups_must_match() {
        let g = graph();
        // Keyed state rescales (4 → 2); a new operator without state is fine.
        assert!(check_compatible(&g, &meta(&["count"], 128), false).is_ok());
        let e = check_compatible(&g, &meta(&["count", "gone"], 128), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'gone'") && e.contains("--allow-non-restored-state"),
            "{e}"
        );
        assert!(check_compatible(&g, &meta(&["count", "gone"], 128), true).is_ok());
        let e = check_compatible(&g, &meta(&["count"], 256), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pipeline.max-parallelism=256"), "{e}");
    }
}
