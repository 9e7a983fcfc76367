//! Task-local recovery (`execution.state-recovery.from-local`): a secondary
//! copy of each subtask's snapshot on local disk, beside the primary in
//! checkpoint storage.
//!
//! ```text
//! <root>/<job id>/<uid>-<subtask>/chk-<n>/<state file>   copy of the state file
//! <root>/<job id>/<uid>-<subtask>/chk-<n>/native/        the RocksDB native checkpoint itself
//!                                                        (hard links into the instance: no extra copy)
//! ```
//! The primary must succeed; a failed secondary only logs. Restore reads the
//! copy first, checks it against the checkpoint's sizes and CRC32s, and falls
//! back to the primary. Only the latest completed checkpoint's copy is kept.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Name of the RocksDB folder inside a local copy.
pub const NATIVE_DIR: &str = "native";

/// The root of task-local copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecovery {
    root: PathBuf,
}

impl LocalRecovery {
    /// Copies under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The folder of one subtask's copy of checkpoint `id`.
    pub fn dir(&self, job_id: &str, uid: &str, subtask: usize, id: u64) -> PathBuf {
        self.subtask_dir(job_id, uid, subtask)
            .join(format!("chk-{id}"))
    }

    fn subtask_dir(&self, job_id: &str, uid: &str, subtask: usize) -> PathBuf {
        self.root.join(job_id).join(format!("{uid}-{subtask}"))
    }

    /// Writes the copy of a state file.
    pub fn write_state(&self, dir: &Path, file: &str, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating local copy", dir, e))?;
        let p = dir.join(file);
        std::fs::write(&p, bytes).map_err(|e| Error::io("writing local copy", &p, e))
    }

    /// Moves a native checkpoint into the copy (a rename: its files are hard links).
    pub fn keep_native(&self, dir: &Path, native: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating local copy", dir, e))?;
        let dst = dir.join(NATIVE_DIR);
        let _ = std::fs::remove_dir_all(&dst);
        std::fs::rename(native, &dst).map_err(|e| Error::io("moving native checkpoint to", &dst, e))
    }

    /// Checkpoint `id` completed: drops this subtask's copies of older ones.
    pub fn retain_only(&self, job_id: &str, uid: &str, subtask: usize, id: u64) {
        let Ok(rd) = std::fs::read_dir(self.subtask_dir(job_id, uid, subtask)) else {
            return;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(old) = n.strip_prefix("chk-").and_then(|x| x.parse::<u64>().ok()) {
                if old < id {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_latest_copy() {
        let d = tempfile::tempdir().unwrap();
        let l = LocalRecovery::new(d.path().to_path_buf());
        for id in [3, 4, 5] {
            l.write_state(&l.dir("j", "count", 0, id), "count-0.state", b"x")
                .unwrap();
        }
        l.retain_only("j", "count", 0, 5);
        assert!(!l.dir("j", "count", 0, 4).exists());
        assert!(l.dir("j", "count", 0, 5).join("count-0.state").exists());
    }
}
