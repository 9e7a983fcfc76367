//! What a job's checkpoints become when it ends: the finished marker first,
//! then what the retention setting keeps ([`crate::checkpoint::retention`]),
//! then every file no kept checkpoint references.

use super::*;
use crate::checkpoint::retention::{at_end, AtEnd, JobEnd};

impl JobMaster {
    /// Applies the retention setting when the job ends. A stopped job keeps
    /// the checkpoint it resumes from, whatever the retention: its final one,
    /// or the newest completed one if that failed. Returns the kept folder.
    /// The job's series are retired by whoever runs the reporters, after
    /// `--linger`: retired here, the pushes during the linger replaced the
    /// Pushgateway group without them and the final values were gone.
    pub(super) fn on_terminal(&mut self, end: Terminal) -> Option<Location> {
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
        let how = match &end {
            Terminal::Finished => JobEnd::Finished,
            Terminal::Cancelled => JobEnd::Cancelled,
            // A savepoint lives outside the retained checkpoints.
            Terminal::Stopped(Some(l)) if !l.name().starts_with("chk-") => {
                JobEnd::StoppedWithSavepoint
            }
            Terminal::Stopped(_) => JobEnd::Stopped,
        };
        let AtEnd {
            keep_all,
            resume_from: stop_checkpoint,
        } = at_end(self.opts.retention, how, self.retained.last().copied());
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
    pub(super) fn finished_marker(&self) -> CheckpointMetadata {
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
}
