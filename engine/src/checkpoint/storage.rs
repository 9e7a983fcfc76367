//! Checkpoint storage on a local file system:
//! `<execution.checkpointing.dir>/<job id>/chk-<id>/{<uid>-<subtask>.state, _metadata}`.
//! State files are written by the tasks' asynchronous phase; the metadata is
//! written last by the job master, to a temporary name, synced, and renamed, so
//! a checkpoint either has a complete `_metadata` or is not a checkpoint.

use super::metadata::{CheckpointMetadata, METADATA_FILE};
use crate::error::{Error, Result};
use crate::state::snapshot::{write_file, StateHandle};
use std::fs;
use std::path::{Path, PathBuf};

/// The checkpoint directory of one job run.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    job_dir: PathBuf,
}

impl CheckpointStorage {
    /// Prepares `<dir>/<job_id>`, failing early (before the job runs) when the
    /// directory cannot be created or written.
    pub fn create(dir: &Path, job_id: &str) -> Result<Self> {
        let job_dir = dir.join(job_id);
        fs::create_dir_all(&job_dir).map_err(|e| {
            Error::Config(format!(
                "execution.checkpointing.dir: cannot create '{}': {e}; choose a writable directory",
                job_dir.display()
            ))
        })?;
        let probe = job_dir.join(".write-probe");
        fs::write(&probe, b"ok")
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| {
                Error::Config(format!(
                    "execution.checkpointing.dir: '{}' is not writable: {e}; choose a writable directory",
                    dir.display()
                ))
            })?;
        Ok(Self { job_dir })
    }

    /// `<dir>/<job id>`.
    pub fn job_dir(&self) -> &Path {
        &self.job_dir
    }

    /// `chk-<id>` of this job.
    pub fn chk_dir(&self, id: u64) -> PathBuf {
        self.job_dir.join(format!("chk-{id}"))
    }

    /// Writes one subtask's state file for checkpoint `id`.
    pub fn write_state(&self, id: u64, name: &str, bytes: &[u8]) -> Result<StateHandle> {
        let d = self.chk_dir(id);
        fs::create_dir_all(&d).map_err(|e| Error::io("creating checkpoint directory", &d, e))?;
        write_file(&d.join(name), bytes)
    }

    /// Writes the metadata last and atomically: temp file, fsync, rename, fsync dir.
    pub fn commit_metadata(&self, meta: &CheckpointMetadata) -> Result<PathBuf> {
        let d = self.chk_dir(meta.checkpoint_id);
        fs::create_dir_all(&d).map_err(|e| Error::io("creating checkpoint directory", &d, e))?;
        let tmp = d.join(format!("{METADATA_FILE}.inprogress"));
        let fin = d.join(METADATA_FILE);
        write_file(&tmp, &meta.encode())?;
        fs::rename(&tmp, &fin).map_err(|e| Error::io("renaming checkpoint metadata", &fin, e))?;
        if let Ok(dir) = fs::File::open(&d) {
            let _ = dir.sync_all();
        }
        Ok(d)
    }

    /// Deletes checkpoint `id` (aborted, or no longer retained).
    pub fn discard(&self, id: u64) {
        let d = self.chk_dir(id);
        if let Err(e) = fs::remove_dir_all(&d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("could not delete {}: {e}", d.display());
            }
        }
    }
}
