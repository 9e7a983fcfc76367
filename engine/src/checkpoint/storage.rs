//! Checkpoint storage: `<execution.checkpointing.dir>/<job id>/` on a local
//! file system or in S3 (see [`super::blob`]).
//!
//! ```text
//! <job id>/chk-<n>/<uid>-<subtask>.state   state files, written by the tasks' asynchronous phase
//! <job id>/chk-<n>/<uid>-<subtask>/…       RocksDB's small per-checkpoint files (MANIFEST, OPTIONS)
//! <job id>/chk-<n>/_metadata               written last by the job master
//! <job id>/shared/<uid>-<subtask>-<n>-<sst> SST files shared by incremental checkpoints
//! ```
//! A checkpoint is complete exactly when its `_metadata` exists: the metadata
//! is written after every state file, in one atomic write.

use super::blob::Location;
use super::metadata::{CheckpointMetadata, METADATA_FILE};
use crate::error::{Error, Result};
use crate::state::state_file::StateHandle;
use std::collections::HashSet;

/// Folder of files shared between incremental checkpoints, inside the job folder.
pub const SHARED_DIR: &str = "shared";

/// The checkpoint storage of one job run.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    job: Location,
}

impl CheckpointStorage {
    /// Prepares `<root>/<job_id>`, failing early (before the job runs) when it
    /// cannot be written.
    pub fn create(root: &Location, job_id: &str) -> Result<Self> {
        let job = root.join(job_id);
        let probe = job.join(".write-probe");
        probe.put(b"ok").and_then(|_| probe.delete()).map_err(|e| {
            Error::Config(format!(
                "execution.checkpointing.dir: '{root}' is not writable: {e}; choose a writable location"
            ))
        })?;
        Ok(Self { job })
    }

    /// `<root>/<job id>`.
    pub fn job_dir(&self) -> &Location {
        &self.job
    }

    /// `chk-<id>` of this job.
    pub fn chk_dir(&self, id: u64) -> Location {
        self.job.join(&format!("chk-{id}"))
    }

    /// Writes one subtask's state file for checkpoint `id`.
    pub fn write_state(&self, id: u64, name: &str, bytes: &[u8]) -> Result<StateHandle> {
        self.chk_dir(id).join(name).put(bytes)?;
        Ok(StateHandle::of(name, bytes))
    }

    /// Writes the state file `src` (a spilled snapshot) as `name` of checkpoint `id`, streaming.
    pub fn write_state_file(
        &self,
        id: u64,
        name: &str,
        src: &std::path::Path,
    ) -> Result<StateHandle> {
        let (size, crc32) = self.chk_dir(id).join(name).put_file(src)?;
        Ok(StateHandle {
            file: name.to_string(),
            size,
            crc32,
            native: None,
        })
    }

    /// Writes the metadata last and atomically.
    pub fn commit_metadata(&self, meta: &CheckpointMetadata) -> Result<Location> {
        let d = self.chk_dir(meta.checkpoint_id);
        d.join(METADATA_FILE).put(&meta.encode())?;
        Ok(d)
    }

    /// Records that the job finished ([`super::metadata::FINISHED_FILE`]).
    pub fn mark_finished(&self, marker: &CheckpointMetadata) -> Result<()> {
        self.job
            .join(super::metadata::FINISHED_FILE)
            .put(&marker.encode())
    }

    /// Deletes checkpoint `id` (aborted, or no longer retained). Its shared
    /// files are left to [`Self::collect_shared`].
    pub fn discard(&self, id: u64) {
        let d = self.chk_dir(id);
        // The metadata goes first, so a half-deleted checkpoint is never complete.
        let _ = d.join(METADATA_FILE).delete();
        if let Err(e) = d.delete_all() {
            log::warn!("could not delete {d}: {e}");
        }
    }

    /// Deletes what no retained checkpoint needs, among objects written for
    /// checkpoints up to `upto` (later ones may still be in flight): shared
    /// files no retained checkpoint references, and the folders of checkpoints
    /// that are not retained (aborted ones whose deletion failed, say while
    /// the store was down). Returns how many objects were deleted.
    pub fn collect_garbage(
        &self,
        retained: &[u64],
        referenced: &HashSet<String>,
        upto: u64,
    ) -> usize {
        let Ok(objects) = self.job.list() else {
            return 0;
        };
        let mut n = 0;
        for (l, _) in objects {
            let Some(rel) = l.relative_to(&self.job) else {
                continue;
            };
            let owner = match rel.split_once('/') {
                Some((SHARED_DIR, name)) if !referenced.contains(&rel) => shared_upload_id(name),
                Some((dir, _)) => dir
                    .strip_prefix("chk-")
                    .and_then(|i| i.parse::<u64>().ok())
                    .filter(|i| !retained.contains(i)),
                None => None,
            };
            if owner.is_some_and(|id| id <= upto) && l.delete().is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// The key of a shared file, relative to the job folder.
pub fn shared_key(uid: &str, subtask: usize, checkpoint: u64, file: &str) -> String {
    format!("{SHARED_DIR}/{uid}-{subtask}-{checkpoint}-{file}")
}

/// The checkpoint a shared file was uploaded for (its name's third-to-last
/// `-` field counted from the file name: `<uid>-<subtask>-<n>-<file>`).
fn shared_upload_id(name: &str) -> Option<u64> {
    let mut parts = name.rsplitn(3, '-');
    let _file = parts.next()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_files_are_collected_only_when_unreferenced_and_old_enough() {
        let d = tempfile::tempdir().unwrap();
        let s = CheckpointStorage::create(&Location::local(d.path()), "job").unwrap();
        let a = shared_key("count", 0, 3, "000009.sst");
        let b = shared_key("count", 0, 4, "000012.sst");
        let c = shared_key("count", 1, 6, "000013.sst");
        for k in [&a, &b, &c] {
            s.job_dir().join(k).put(b"sst").unwrap();
        }
        assert_eq!(shared_upload_id("count-0-4-000012.sst"), Some(4));
        let keep: HashSet<String> = [b.clone()].into();
        s.chk_dir(2).join("x.state").put(b"aborted").unwrap();
        s.chk_dir(5).join("x.state").put(b"retained").unwrap();
        // c was uploaded for checkpoint 6, still in flight when 5 completes;
        // chk-2 was aborted while the store was down.
        assert_eq!(s.collect_garbage(&[5], &keep, 5), 2);
        assert!(s.chk_dir(5).join("x.state").exists());
        assert!(!s.chk_dir(2).join("x.state").exists());
        let left: Vec<_> = s
            .job_dir()
            .join(SHARED_DIR)
            .list()
            .unwrap()
            .into_iter()
            .map(|(l, _)| l.relative_to(s.job_dir()).unwrap())
            .collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&b) && left.contains(&c));
    }
}
