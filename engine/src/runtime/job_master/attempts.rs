//! The attempt loop: deploy the graph, drive it until it ends, and after a
//! failure wait as the restart strategy says and restore the latest
//! completed checkpoint.

use super::*;

impl JobMaster {
    pub(super) fn run_attempts(&mut self, restore: Option<LoadedCheckpoint>) -> Result<JobOutcome> {
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
            *lock(&self.status.key_groups) = dep.key_groups.clone();
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
                    // A failure during a recovery extends it: the
                    // downtime runs from the first.
                    self.failed_at.get_or_insert_with(Instant::now);
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
                    if let Some(end) = self.wait_to_restart(delay) {
                        return Ok(end);
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

    /// Waits out a restart's delay. A stop or cancel (asked before or
    /// during it) ends the job there: no tasks run to take a final
    /// checkpoint, so a stop keeps the newest completed one. Checkpoint and
    /// savepoint requests wait for the next attempt.
    fn wait_to_restart(&mut self, delay: Duration) -> Option<JobOutcome> {
        let until = Instant::now() + delay;
        loop {
            match self.end_asked {
                Some(EndRequest::Stop) => {
                    let kept = self.on_terminal(Terminal::Stopped(None));
                    return Some(JobOutcome::Stopped { checkpoint: kept });
                }
                Some(EndRequest::Cancel) => {
                    self.on_terminal(Terminal::Cancelled);
                    return Some(JobOutcome::Cancelled);
                }
                None => {}
            }
            match self.commands.recv_deadline(until) {
                Ok(Command::Stop) => self.end_asked = Some(EndRequest::Stop),
                Ok(Command::Cancel) => self.end_asked = Some(EndRequest::Cancel),
                Ok(c) => self.deferred.push(c),
                // The job master holds a sender: only the deadline ends the wait.
                Err(_) => return None,
            }
        }
    }

    pub(super) fn describe_latest(&self) -> String {
        match &self.latest {
            Some((d, m)) => format!("checkpoint {} ({d})", m.checkpoint_id),
            None => "the beginning (no checkpoint completed yet)".into(),
        }
    }
}
