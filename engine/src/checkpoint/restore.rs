//! Which checkpoint to restore, and loading it. Selection is a pure function
//! over candidates already read; a damaged candidate is skipped with a reason
//! and the previous retained one is used.

use super::blob::Location;
use super::local::LocalRecovery;
use super::metadata::{CheckpointMetadata, FINISHED_FILE, METADATA_FILE};
use crate::error::{Error, Result};
use crate::state::state_file::{StateFile, StateHandle};
use crate::state::RestoredNative;
use std::sync::Arc;

/// One checkpoint folder, or a finished job's marker, and what reading it gave.
#[derive(Debug)]
pub struct Candidate {
    /// `…/chk-<id>`, or the job folder holding a `_finished` marker.
    pub dir: Location,
    /// Its metadata, or why it cannot be used.
    pub meta: std::result::Result<CheckpointMetadata, String>,
    /// A [`FINISHED_FILE`] marker rather than a checkpoint.
    pub finished: bool,
}

/// The outcome of a selection.
#[derive(Debug)]
pub struct Selection {
    /// The checkpoint to restore, if any.
    pub chosen: Option<(Location, CheckpointMetadata)>,
    /// The job finished after every usable checkpoint was taken: its marker
    /// (folder and contents). Nothing is to be resumed.
    pub finished: Option<(Location, CheckpointMetadata)>,
    /// Candidates passed over because they are damaged, with the reason.
    pub skipped: Vec<(Location, String)>,
}

/// Picks the newest usable checkpoint of `job_name`, unless the job finished
/// after it (a newer `_finished` marker): checkpoints of earlier runs are
/// then history, and resuming one would repeat the finished run's output.
/// Checkpoints of other jobs are ignored; damaged ones of this job are
/// reported and skipped.
pub fn select_latest(job_name: &str, candidates: Vec<Candidate>) -> Selection {
    let mut ok: Vec<(Location, CheckpointMetadata, bool)> = Vec::new();
    let mut skipped = Vec::new();
    for c in candidates {
        match c.meta {
            Ok(m) if m.job_name == job_name => ok.push((c.dir, m, c.finished)),
            Ok(_) => {}
            Err(e) => skipped.push((c.dir, e)),
        }
    }
    // A marker sorts after a checkpoint of the same time and id: the job
    // finished after its final checkpoint.
    ok.sort_by_key(|(_, m, finished)| (m.completed_ms, m.checkpoint_id, *finished));
    let (chosen, finished) = match ok.pop() {
        Some((d, m, true)) => (None, Some((d, m))),
        Some((d, m, false)) => (Some((d, m)), None),
        None => (None, None),
    };
    Selection {
        chosen,
        finished,
        skipped,
    }
}

/// Reads every `*/chk-*/_metadata` under `root` and checks each checkpoint
/// completely (metadata checksum, and size and checksum of every file).
pub fn scan(root: &Location) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(objects) = root.list() else {
        return out;
    };
    for (l, _) in objects {
        // `<root>/<job id>/_finished`.
        let in_job_folder = l
            .relative_to(root)
            .is_some_and(|k| k.matches('/').count() == 1);
        if l.name() == FINISHED_FILE && in_job_folder {
            let meta = l
                .get()
                .map_err(|e| e.to_string())
                .and_then(|b| CheckpointMetadata::decode(&b).map_err(|e| format!("{l}: {e}")));
            out.push(Candidate {
                dir: l.parent(),
                meta,
                finished: true,
            });
            continue;
        }
        if l.name() != METADATA_FILE || !l.parent().name().starts_with("chk-") {
            continue;
        }
        let dir = l.parent();
        let meta = CheckpointMetadata::load(&dir)
            .map_err(|e| e.to_string())
            .and_then(|m| verify_files(&dir, &m).map(|_| m));
        out.push(Candidate {
            dir,
            meta,
            finished: false,
        });
    }
    out
}

/// Checks that every file named by the metadata is present and intact: small
/// state files completely (size and CRC32); large state files and RocksDB
/// files of incremental checkpoints by presence and size (they can be
/// gigabytes; their CRC32 is checked as the restore reads them).
pub fn verify_files(chk_dir: &Location, m: &CheckpointMetadata) -> std::result::Result<(), String> {
    let job = chk_dir.parent();
    let chk_key = chk_dir.relative_to(&job).unwrap_or_default();
    let mut sizes: Option<std::collections::HashMap<String, u64>> = None;
    let mut check_listed = |key: &str, size: u64| -> std::result::Result<(), String> {
        let sizes = match &mut sizes {
            Some(s) => s,
            None => sizes.insert(
                job.list()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter_map(|(l, n)| l.relative_to(&job).map(|k| (k, n)))
                    .collect(),
            ),
        };
        match sizes.get(key) {
            Some(&n) if n == size => Ok(()),
            Some(&n) => Err(format!(
                "{} is {n} bytes, the metadata says {size}: the file was truncated or replaced",
                job.join(key),
            )),
            None => Err(format!("{} is missing", job.join(key))),
        }
    };
    for op in &m.operators {
        for h in op.subtasks.iter().flatten() {
            if h.size <= StateFile::IN_MEMORY_LIMIT {
                StateFile::open(&chk_dir.join(&h.file), h).map_err(|e| e.to_string())?;
            } else {
                // A folder given to --restore is its own root: no key above it.
                let key = match chk_key.is_empty() {
                    true => h.file.clone(),
                    false => format!("{chk_key}/{}", h.file),
                };
                check_listed(&key, h.size)?;
            }
            for f in h.native.iter().flat_map(|n| n.files.iter()) {
                check_listed(&f.key, f.size)?;
            }
        }
    }
    Ok(())
}

/// Resolves a `--restore` location (a `chk-<id>` or savepoint folder, or its
/// `_metadata`) and checks it belongs to this pipeline (and, unless it is a
/// savepoint, to `job_name`).
pub fn load_explicit(
    path: &Location,
    job_name: &str,
    pipeline: &str,
) -> Result<(Location, CheckpointMetadata)> {
    let dir = if path.name() == METADATA_FILE {
        path.parent()
    } else {
        path.clone()
    };
    if let Some(p) = dir.local_path().filter(|p| !p.exists()) {
        return Err(Error::Config(format!(
            "--restore: '{}' does not exist; give a chk-<id> or savepoint folder, its _metadata file, or 'latest'",
            p.display()
        )));
    }
    if !dir.join(METADATA_FILE).exists() {
        return Err(Error::Config(format!(
            "--restore: '{dir}' holds no _metadata: it is not a completed checkpoint or savepoint \
             (give a chk-<id> or savepoint folder, or 'latest')"
        )));
    }
    let m = CheckpointMetadata::load(&dir).map_err(|e| Error::Config(format!("--restore: {e}")))?;
    if m.pipeline != pipeline || (!m.savepoint && m.job_name != job_name) {
        return Err(Error::Config(format!(
            "--restore: '{dir}' belongs to job '{}' (pipeline '{}'), not to this job '{job_name}' (pipeline '{pipeline}')",
            m.job_name, m.pipeline
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
    pub dir: Location,
    /// Per operator uid: the state file of each old subtask.
    pub files: std::collections::HashMap<String, Vec<Option<Arc<StateFile>>>>,
    /// Per operator uid: the RocksDB checkpoints of its old subtasks.
    pub natives: std::collections::HashMap<String, Vec<RestoredNative>>,
}

impl LoadedCheckpoint {
    /// Reads every state file of `meta` from `dir`, from the task-local copy
    /// first when `local` is set and the copy verifies. `running_job` is the
    /// id of the job that will restore it; large files are downloaded into
    /// `scratch`.
    pub fn load(
        dir: Location,
        meta: CheckpointMetadata,
        local: Option<&LocalRecovery>,
        running_job: &str,
        scratch: &std::path::Path,
    ) -> Result<Self> {
        let mut files = std::collections::HashMap::new();
        let mut natives = std::collections::HashMap::new();
        let mut local_reads = (0, 0);
        let job = dir.parent();
        for op in &meta.operators {
            let mut v = Vec::new();
            let mut n = Vec::new();
            for (i, h) in op.subtasks.iter().enumerate() {
                let copy = local.map(|l| l.dir(&meta.job_id, &op.uid, i, meta.checkpoint_id));
                v.push(match h {
                    Some(h) => {
                        let f = match copy.as_deref().and_then(|c| read_local(c, h)) {
                            Some(f) => {
                                local_reads.0 += 1;
                                f
                            }
                            None => {
                                local_reads.1 += 1;
                                StateFile::open_in(&dir.join(&h.file), h, scratch)?
                            }
                        };
                        if let Some(nh) = &h.native {
                            n.push(RestoredNative {
                                handle: nh.clone(),
                                job: job.clone(),
                                local: copy
                                    .map(|c| c.join(super::local::NATIVE_DIR))
                                    .filter(|p| p.is_dir()),
                                same_job: meta.job_id == running_job,
                            });
                        }
                        Some(Arc::new(f))
                    }
                    None => None,
                });
            }
            files.insert(op.uid.clone(), v);
            natives.insert(op.uid.clone(), n);
        }
        if local_reads.0 > 0 {
            log::info!(
                "checkpoint {}: {} state file(s) read from task-local copies, {} from {}",
                meta.checkpoint_id,
                local_reads.0,
                local_reads.1,
                dir
            );
        }
        Ok(Self {
            meta,
            dir,
            files,
            natives,
        })
    }
}

/// A verified local copy of a state file, or None (then the primary is read).
fn read_local(copy: &std::path::Path, h: &StateHandle) -> Option<StateFile> {
    let loc = Location::local(copy).join(&h.file);
    match StateFile::open(&loc, h) {
        Ok(f) => Some(f.from_local_copy()),
        Err(e) => {
            if copy.exists() {
                log::warn!("task-local copy unusable, reading checkpoint storage instead: {e}");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::local(std::path::Path::new("/nonexistent")).join(s)
    }

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
            savepoint: false,
            operators: vec![],
        }
    }

    /// A savepoint folder given to `--restore` is a location of its own
    /// (no key above it); a state file too large to check in memory is
    /// found there by listing, not under a key that begins with '/'.
    #[test]
    fn a_large_state_file_in_a_folder_given_directly_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let size = StateFile::IN_MEMORY_LIMIT + 1;
        let f = std::fs::File::create(dir.path().join("count-0.state")).unwrap();
        f.set_len(size).unwrap();
        let mut m = meta("a", 1, 10);
        m.operators.push(super::super::metadata::OperatorState {
            uid: "count".into(),
            vertex: "count".into(),
            parallelism: 1,
            max_parallelism: 128,
            subtasks: vec![Some(crate::state::state_file::StateHandle {
                file: "count-0.state".into(),
                size,
                crc32: 0,
                native: None,
            })],
        });
        let here = Location::local(dir.path());
        verify_files(&here, &m).unwrap();
        // And a wrong size is still caught.
        m.operators[0].subtasks[0].as_mut().unwrap().size += 1;
        let e = verify_files(&here, &m).unwrap_err();
        assert!(e.contains("the metadata says"), "{e}");
    }

    #[test]
    fn newest_valid_of_this_job_wins_and_damaged_ones_are_reported() {
        let c = |d: &str, m: std::result::Result<CheckpointMetadata, String>| Candidate {
            dir: loc(d),
            meta: m,
            finished: false,
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
        assert_eq!(s.chosen.unwrap().0.name(), "mid");
        assert_eq!(s.skipped.len(), 1);
        assert!(select_latest("zzz", vec![]).chosen.is_none());
    }

    /// A finished job's marker is newer than the checkpoints of earlier
    /// runs: they are not resumed. A run after the finish is newer again.
    #[test]
    fn a_finished_marker_newer_than_every_checkpoint_means_nothing_to_resume() {
        let c = |d: &str, m: CheckpointMetadata, finished: bool| Candidate {
            dir: loc(d),
            meta: Ok(m),
            finished,
        };
        let s = select_latest(
            "a",
            vec![
                c("crashed-run", meta("a", 3, 10), false),
                c("final", meta("a", 7, 30), false),
                c("finished-job", meta("a", 7, 30), true),
            ],
        );
        assert!(s.chosen.is_none());
        assert_eq!(s.finished.unwrap().0.name(), "finished-job");
        let s = select_latest(
            "a",
            vec![
                c("finished-job", meta("a", 7, 30), true),
                c("next-run", meta("a", 1, 40), false),
            ],
        );
        assert_eq!(s.chosen.unwrap().0.name(), "next-run");
        assert!(s.finished.is_none());
    }
}
