//! Which checkpoint to restore, and loading it. Selection is a pure function
//! over candidates already read; a damaged candidate is skipped with a reason
//! and the previous retained one is used.

use super::metadata::{CheckpointMetadata, METADATA_FILE};
use crate::error::{Error, Result};
use crate::state::snapshot::StateFile;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One checkpoint directory and what reading it gave.
#[derive(Debug)]
pub struct Candidate {
    /// `…/chk-<id>`.
    pub dir: PathBuf,
    /// Its metadata, or why it cannot be used.
    pub meta: std::result::Result<CheckpointMetadata, String>,
}

/// The outcome of a selection.
#[derive(Debug)]
pub struct Selection {
    /// The checkpoint to restore, if any.
    pub chosen: Option<(PathBuf, CheckpointMetadata)>,
    /// Candidates passed over because they are damaged, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Picks the newest usable checkpoint of `job_name`. Checkpoints of other jobs
/// are ignored; damaged ones of this job are reported and skipped.
pub fn select_latest(job_name: &str, candidates: Vec<Candidate>) -> Selection {
    let mut ok: Vec<(PathBuf, CheckpointMetadata)> = Vec::new();
    let mut skipped = Vec::new();
    for c in candidates {
        match c.meta {
            Ok(m) if m.job_name == job_name => ok.push((c.dir, m)),
            Ok(_) => {}
            Err(e) => skipped.push((c.dir, e)),
        }
    }
    ok.sort_by_key(|(_, m)| (m.completed_ms, m.checkpoint_id));
    Selection {
        chosen: ok.pop(),
        skipped,
    }
}

/// Reads every `chk-*` under `dir/*/` and checks each one completely (metadata
/// checksum, and size and checksum of every state file).
pub fn scan(dir: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(jobs) = std::fs::read_dir(dir) else {
        return out;
    };
    for job in jobs.flatten() {
        let Ok(chks) = std::fs::read_dir(job.path()) else {
            continue;
        };
        for chk in chks.flatten() {
            let p = chk.path();
            let is_chk = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("chk-"));
            if !is_chk {
                continue;
            }
            if !p.join(METADATA_FILE).exists() {
                continue; // never completed: not a checkpoint
            }
            let meta = CheckpointMetadata::load(&p)
                .map_err(|e| e.to_string())
                .and_then(|m| verify_files(&p, &m).map(|_| m));
            out.push(Candidate { dir: p, meta });
        }
    }
    out
}

/// Checks that every state file named by the metadata is present and intact.
pub fn verify_files(chk_dir: &Path, m: &CheckpointMetadata) -> std::result::Result<(), String> {
    for op in &m.operators {
        for h in op.subtasks.iter().flatten() {
            let p = chk_dir.join(&h.file);
            StateFile::open(&p, h).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Resolves a `--restore` path (a `chk-<id>` directory or its `_metadata`) and
/// checks it belongs to `job_name`.
pub fn load_explicit(
    path: &Path,
    job_name: &str,
    pipeline: &str,
) -> Result<(PathBuf, CheckpointMetadata)> {
    let dir = if path.file_name().and_then(|n| n.to_str()) == Some(METADATA_FILE) {
        path.parent().unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    };
    if !dir.exists() {
        return Err(Error::Config(format!(
            "--restore: '{}' does not exist; give a chk-<id> directory, its _metadata file, or 'latest'",
            path.display()
        )));
    }
    if !dir.join(METADATA_FILE).exists() {
        return Err(Error::Config(format!(
            "--restore: '{}' holds no _metadata: it is not a completed checkpoint \
             (give a chk-<id> directory, or 'latest')",
            dir.display()
        )));
    }
    let m = CheckpointMetadata::load(&dir).map_err(|e| Error::Config(format!("--restore: {e}")))?;
    if m.job_name != job_name || m.pipeline != pipeline {
        return Err(Error::Config(format!(
            "--restore: '{}' belongs to job '{}' (pipeline '{}'), not to this job '{job_name}' (pipeline '{pipeline}')",
            dir.display(),
            m.job_name,
            m.pipeline
        )));
    }
    verify_files(&dir, &m).map_err(|e| Error::Config(format!("--restore: {e}")))?;
    Ok((dir, m))
}

/// A checkpoint loaded for restoring: state files by operator uid.
#[derive(Clone)]
pub struct LoadedCheckpoint {
    /// Its metadata.
    pub meta: CheckpointMetadata,
    /// Where it is.
    pub dir: PathBuf,
    /// Per operator uid: the state file of each old subtask.
    pub files: std::collections::HashMap<String, Vec<Option<Arc<StateFile>>>>,
}

impl LoadedCheckpoint {
    /// Reads every state file of `meta` from `dir`.
    pub fn load(dir: PathBuf, meta: CheckpointMetadata) -> Result<Self> {
        let mut files = std::collections::HashMap::new();
        for op in &meta.operators {
            let mut v = Vec::new();
            for h in &op.subtasks {
                v.push(match h {
                    Some(h) => Some(Arc::new(StateFile::open(&dir.join(&h.file), h)?)),
                    None => None,
                });
            }
            files.insert(op.uid.clone(), v);
        }
        Ok(Self { meta, dir, files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(job: &str, id: u64, completed: i64) -> CheckpointMetadata {
        CheckpointMetadata {
            version: super::super::metadata::FORMAT_VERSION,
            job_name: job.into(),
            job_id: "x".into(),
            pipeline: "p".into(),
            checkpoint_id: id,
            trigger_ms: 0,
            completed_ms: completed,
            is_final: false,
            operators: vec![],
        }
    }

    #[test]
    fn newest_valid_of_this_job_wins_and_damaged_ones_are_reported() {
        let c = |d: &str, m: std::result::Result<CheckpointMetadata, String>| Candidate {
            dir: d.into(),
            meta: m,
        };
        let s = select_latest(
            "a",
            vec![
                c("old", Ok(meta("a", 1, 10))),
                c("newest-but-broken", Err("checksum mismatch".into())),
                c("mid", Ok(meta("a", 2, 20))),
                c("other-job", Ok(meta("b", 9, 99))),
            ],
        );
        assert_eq!(s.chosen.unwrap().0, PathBuf::from("mid"));
        assert_eq!(s.skipped.len(), 1);
        assert!(select_latest("zzz", vec![]).chosen.is_none());
    }
}
