//! Carrying out the checkpoint coordinator's decisions: triggers to sources,
//! metadata written last, notifications, aborts; and answering savepoint and
//! trigger requests when their checkpoint completes.

use super::*;

/// How often the status (backpressure window, time gauges) is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl JobMaster {
    pub(super) fn drive(&mut self, dep: &Deployment) -> AttemptEnd {
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
        let mut opened = 0usize;
        let mut exhausted: HashSet<_> = HashSet::new();
        // The final checkpoint's id, until its first acknowledgement (a crash-test pause point).
        let mut final_id = None;
        let mut stopping: Option<Option<u64>> = None;
        let mut queue: VecDeque<Decision> = VecDeque::new();
        let mut last_sample = Instant::now();
        let attempt_start = now_ms();
        self.status.sample(last_sample);
        self.update_capacity();
        let mut commands = std::mem::take(&mut self.deferred);
        let end = loop {
            if last_sample.elapsed() >= SAMPLE_EVERY {
                last_sample = Instant::now();
                self.status.sample(last_sample);
                self.update_time_gauges(&coord, attempt_start);
            }
            // Sleep until a task event, a command, the coordinator's next
            // deadline or the next status sample, whichever comes first.
            let mut wait = SAMPLE_EVERY.saturating_sub(last_sample.elapsed());
            if stopping.is_none() {
                if let Some(d) = coord.next_deadline() {
                    // At least 1 ms: the deadline is in whole ms.
                    wait = wait.min(Duration::from_millis((d - now_ms()).max(1) as u64));
                }
            }
            let event = if commands.is_empty() {
                crossbeam_channel::select! {
                    recv(dep.events) -> e => Some(e),
                    recv(self.commands) -> c => {
                        commands.extend(c.ok());
                        None
                    }
                    default(wait) => None,
                }
            } else {
                None
            };
            let mut end = None;
            for c in commands.drain(..) {
                match c {
                    Command::Checkpoint(request) if !checkpointing => {
                        lock(&self.status.checkpoint_requests).finish(
                            &request,
                            CheckpointOutcome::Failed("checkpointing is not enabled".into()),
                        );
                    }
                    Command::Checkpoint(request) => {
                        let id = self.trigger_now(&mut coord, &mut queue);
                        self.checkpoint_requests
                            .entry(id)
                            .or_default()
                            .push(request);
                    }
                    Command::Savepoint(req) if self.storage.is_none() => {
                        lock(&self.status.savepoints).finish(
                            &req.id,
                            SavepointOutcome::Failed(
                                "savepoints need execution.checkpointing.dir".into(),
                            ),
                        );
                    }
                    Command::Savepoint(req) => {
                        let id = self.trigger_now(&mut coord, &mut queue);
                        log::info!(
                            "triggering savepoint (checkpoint {id}) for request {}",
                            req.id
                        );
                        self.savepoint_ids.insert(id, req);
                    }
                    Command::Cancel => {
                        self.end_asked = Some(EndRequest::Cancel);
                        end = Some(AttemptEnd::Cancelled);
                    }
                    Command::Stop if stopping.is_some() => {}
                    Command::Stop => {
                        self.end_asked.get_or_insert(EndRequest::Stop);
                        if checkpointing {
                            log::info!("stopping: taking a final checkpoint to resume from");
                            stopping = Some(Some(self.trigger_now(&mut coord, &mut queue)));
                        } else {
                            end = end.or(Some(AttemptEnd::Stopped(None)));
                        }
                    }
                }
            }
            if let Some(end) = end {
                break end;
            }
            match event {
                Some(Ok(TaskEvent::Ack { id, ack })) => {
                    self.stats().acked(id, &ack);
                    queue.extend(coord.on_ack(id, ack));
                    if final_id == Some(id) {
                        final_id = None;
                        crate::runtime::fault::pause_at(crate::runtime::fault::FINAL_CHECKPOINT);
                    }
                }
                Some(Ok(TaskEvent::Decline { id, reason })) => {
                    queue.extend(coord.on_decline(id, reason))
                }
                Some(Ok(TaskEvent::Opened(_))) => {
                    opened += 1;
                    if opened == total {
                        if let Some(at) = self.failed_at.take() {
                            let took = at.elapsed();
                            *lock(&self.status.last_recovery) = Some(took);
                            log::info!("recovered in {took:?}: every subtask restored and runs");
                        }
                    }
                }
                Some(Ok(TaskEvent::SourceExhausted(t))) => {
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
                Some(Ok(TaskEvent::Finished(_))) => {
                    finished += 1;
                    if finished == total {
                        break AttemptEnd::Finished;
                    }
                }
                Some(Ok(TaskEvent::Failed { error, .. })) => break AttemptEnd::Failed(error),
                Some(Err(_)) => {
                    break AttemptEnd::Failed("every task exited without finishing".into())
                }
                None => {}
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

    /// Triggers a checkpoint now, whatever the interval, for a request, a
    /// savepoint or a stop; returns its id.
    fn trigger_now(&mut self, coord: &mut Coordinator, queue: &mut VecDeque<Decision>) -> u64 {
        let ds = coord.trigger_now(now_ms());
        let id = ds
            .iter()
            .find_map(|d| match d {
                Decision::Trigger { id, .. } => Some(*id),
                _ => None,
            })
            .expect("trigger_now triggers");
        queue.extend(ds);
        id
    }

    /// Gauges that move with the clock: uptime, the capacity model, time
    /// since the last completed checkpoint, checkpoints in flight.
    pub(super) fn update_time_gauges(&mut self, coord: &Coordinator, attempt_start: i64) {
        let now = now_ms();
        self.metrics.uptime_ms.set(now - attempt_start);
        self.update_capacity();
        self.metrics.in_progress.set(coord.in_flight() as i64);
        let last = self.metrics.last_completion_ms.get();
        if last != -1 {
            self.metrics.since_last_ms.set(now - last);
        }
    }

    /// The capacity model's series, from the status window (also at an
    /// attempt's start: a job restarting faster than once a second
    /// still shows its measured recovery).
    fn update_capacity(&mut self) {
        let interval = self.opts.checkpoint.interval.map(|d| d.as_millis() as i64);
        if let Ok(facts) =
            crate::doctor::from_status(&self.status, self.graph.max_parallelism, interval)
        {
            let names: Vec<&str> = self.graph.nodes.iter().map(|n| n.name.as_str()).collect();
            let cap = crate::doctor::Capacity::of(&facts, &self.opts.doctor);
            self.capacity.set(&names, &cap);
        }
    }

    /// Carries out one decision; returns follow-up decisions, or a reason to fail over.
    pub(super) fn apply(
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
                        crate::runtime::fault::pause_at(crate::runtime::fault::AFTER_METADATA);
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

    /// Records the outcome of checkpoint `id` for the REST requests it served.
    pub(super) fn finish_requests(&mut self, id: u64, outcome: CheckpointOutcome) {
        if let Some(reqs) = self.checkpoint_requests.remove(&id) {
            let mut book = lock(&self.status.checkpoint_requests);
            for r in reqs {
                book.finish(&r, outcome.clone());
            }
        }
    }

    /// Copies completed checkpoint `meta` into the request's savepoint folder
    /// and records the outcome; a stop request then stops the job.
    pub(super) fn finish_savepoint(
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
