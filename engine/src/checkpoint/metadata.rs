//! The `_metadata` file: what a completed checkpoint holds. It is written last,
//! so its presence is what makes a checkpoint complete. It carries a CRC32 of
//! itself and of every state file it names.

use super::blob::Location;
use crate::error::{Error, Result};
use crate::state::state_file::StateHandle;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"TMCKPT01";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the metadata inside `chk-<id>/`.
pub const METADATA_FILE: &str = "_metadata";
/// Written in a finished job's folder before its checkpoints are deleted: it
/// is newer than every checkpoint of earlier runs of the job, so `--restore
/// latest` answers "finished" instead of resuming one of those (which would
/// produce the finished job's output a second time). Same format as
/// `_metadata`, with no operator state.
pub const FINISHED_FILE: &str = "_finished";

/// A completed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMetadata {
    /// Format version.
    pub version: u32,
    /// Job name (from the job file).
    pub job_name: String,
    /// Job id of the run that took it.
    pub job_id: String,
    /// Built-in pipeline name, to recognise a foreign checkpoint.
    pub pipeline: String,
    /// Checkpoint id.
    pub checkpoint_id: u64,
    /// Trigger time (ms since epoch).
    pub trigger_ms: i64,
    /// Completion time (ms since epoch).
    pub completed_ms: i64,
    /// Taken after every source finished.
    pub is_final: bool,
    /// A savepoint: canonical, self-contained, restorable by any job of the
    /// same pipeline (whatever its name) and into any state backend.
    #[serde(default)]
    pub savepoint: bool,
    /// State per operator.
    pub operators: Vec<OperatorState>,
}

/// One operator's state in a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OperatorState {
    /// Stable operator id.
    pub uid: String,
    /// Operator name when written.
    pub vertex: String,
    /// Parallelism when written.
    pub parallelism: usize,
    /// Key groups when written; restoring keyed state needs the same value.
    pub max_parallelism: u32,
    /// One entry per subtask, in subtask order.
    pub subtasks: Vec<Option<StateHandle>>,
}

impl CheckpointMetadata {
    /// Full size of the state: every state file and every RocksDB file,
    /// shared ones included.
    pub fn state_size(&self) -> u64 {
        self.operators
            .iter()
            .flat_map(|o| o.subtasks.iter().flatten())
            .map(|h| h.full_size())
            .sum()
    }

    /// Keys (relative to the job folder) of the shared files it references.
    pub fn shared_files(&self) -> impl Iterator<Item = &str> {
        self.operators
            .iter()
            .flat_map(|o| o.subtasks.iter().flatten())
            .flat_map(|h| h.native.iter().flat_map(|n| n.files.iter()))
            .map(|f| f.key.as_str())
            .filter(|k| k.starts_with(super::storage::SHARED_DIR))
    }

    /// Encodes: magic, CRC32 of the JSON, the JSON.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec_pretty(self).expect("metadata serialises");
        let mut out = Vec::with_capacity(json.len() + 12);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        out.extend_from_slice(&json);
        out
    }

    /// Decodes and checks a metadata file's bytes.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err("not a Tidemark checkpoint metadata file (bad magic)".into());
        }
        let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let json = &bytes[12..];
        if crc32fast::hash(json) != crc {
            return Err("metadata checksum mismatch: the file is corrupted".into());
        }
        let m: Self =
            serde_json::from_slice(json).map_err(|e| format!("metadata unreadable: {e}"))?;
        if m.version != FORMAT_VERSION {
            return Err(format!(
                "metadata format version {} is not supported (this build reads {FORMAT_VERSION})",
                m.version
            ));
        }
        m.check()?;
        Ok(m)
    }

    /// Refuses what no Tidemark run writes and a restore would act on
    /// blindly: a file name that leaves its folder (`../`, `/`), a storage
    /// key outside `shared/` and `chk-<n>/`, a subtask list that does not
    /// match the parallelism, key groups outside `max_parallelism`. A
    /// restore downloads, reads and (on retention) deletes by these names,
    /// so a hostile `_metadata` must not reach beyond the job's folder.
    fn check(&self) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        for op in &self.operators {
            let at = format!("operator '{}'", op.uid);
            if !(1..=crate::state::key_group::UPPER_BOUND_MAX_PARALLELISM)
                .contains(&op.max_parallelism)
            {
                problems.push(format!(
                    "{at}: max_parallelism {} is outside 1..={}",
                    op.max_parallelism,
                    crate::state::key_group::UPPER_BOUND_MAX_PARALLELISM
                ));
            }
            if op.subtasks.len() != op.parallelism {
                problems.push(format!(
                    "{at}: parallelism {} but {} subtask entries",
                    op.parallelism,
                    op.subtasks.len()
                ));
            }
            for (i, h) in op.subtasks.iter().enumerate() {
                let Some(h) = h else { continue };
                let at = format!("{at} subtask {i}");
                if !is_plain_name(&h.file) {
                    problems.push(format!(
                        "{at}: state file name {:?} is not a plain file name",
                        h.file
                    ));
                }
                let Some(n) = &h.native else { continue };
                let (start, end) = n.key_groups;
                if start > end || end >= op.max_parallelism {
                    problems.push(format!(
                        "{at}: key groups {start}..={end} are outside 0..{}",
                        op.max_parallelism
                    ));
                }
                for f in &n.files {
                    if !is_plain_name(&f.name) {
                        problems.push(format!(
                            "{at}: RocksDB file name {:?} is not a plain file name",
                            f.name
                        ));
                    }
                    let segments: Vec<&str> = f.key.split('/').collect();
                    let inside = segments.len() > 1
                        && (segments[0] == super::storage::SHARED_DIR
                            || segments[0].starts_with("chk-"))
                        && segments.iter().all(|s| is_plain_name(s));
                    if !inside {
                        problems.push(format!(
                            "{at}: storage key {:?} is not under shared/ or chk-<n>/",
                            f.key
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("metadata refused: {}", problems.join("; ")))
        }
    }

    /// Reads and checks `<chk dir>/_metadata`.
    pub fn load(chk_dir: &Location) -> Result<Self> {
        let p = chk_dir.join(METADATA_FILE);
        let bytes = p.get()?;
        Self::decode(&bytes).map_err(|e| Error::Checkpoint(format!("{p}: {e}")))
    }
}

/// One path segment: not empty, not `.` or `..`, no `/`, `\\` or NUL.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(operators: Vec<OperatorState>) -> CheckpointMetadata {
        CheckpointMetadata {
            version: FORMAT_VERSION,
            job_name: "j".into(),
            job_id: "ab".into(),
            pipeline: "keyed-count".into(),
            checkpoint_id: 3,
            trigger_ms: 1,
            completed_ms: 2,
            is_final: false,
            savepoint: false,
            operators,
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let m = sample(vec![]);
        let b = m.encode();
        assert_eq!(CheckpointMetadata::decode(&b).unwrap(), m);
        let mut bad = b.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0x20;
        assert!(CheckpointMetadata::decode(&bad)
            .unwrap_err()
            .contains("corrupted"));
        assert!(CheckpointMetadata::decode(b"hello")
            .unwrap_err()
            .contains("magic"));
    }

    /// A hostile `_metadata` (its CRC recomputed, as anyone can) naming files
    /// outside the job's folder is refused with every problem named.
    #[test]
    fn names_that_leave_the_job_folder_are_refused() {
        use crate::state::state_file::{NativeFile, NativeHandle};
        let mut h = StateHandle::of("../../etc/passwd", b"x");
        h.native = Some(NativeHandle {
            key_groups: (0, 200),
            tables: vec!["t".into()],
            files: vec![
                NativeFile {
                    name: "../CURRENT".into(),
                    key: "shared/../../x.sst".into(),
                    size: 1,
                    crc32: 0,
                },
                NativeFile {
                    name: "OPTIONS-1".into(),
                    key: "/root/OPTIONS-1".into(),
                    size: 1,
                    crc32: 0,
                },
            ],
        });
        let m = sample(vec![OperatorState {
            uid: "count".into(),
            vertex: "count".into(),
            parallelism: 2,
            max_parallelism: 128,
            subtasks: vec![Some(h)],
        }]);
        let err = CheckpointMetadata::decode(&m.encode()).unwrap_err();
        for part in [
            "parallelism 2 but 1 subtask entries",
            "state file name \"../../etc/passwd\"",
            "key groups 0..=200 are outside 0..128",
            "RocksDB file name \"../CURRENT\"",
            "storage key \"shared/../../x.sst\"",
            "storage key \"/root/OPTIONS-1\"",
        ] {
            assert!(err.contains(part), "{part} missing from: {err}");
        }
        let mut ok = m.clone();
        ok.operators[0].parallelism = 1;
        let h = ok.operators[0].subtasks[0].as_mut().unwrap();
        h.file = "count-0.state".into();
        let n = h.native.as_mut().unwrap();
        n.key_groups = (0, 127);
        n.files[0].name = "CURRENT".into();
        n.files[0].key = "shared/count-0-3-000001.sst".into();
        n.files[1].key = "chk-3/count-0/OPTIONS-1".into();
        assert_eq!(CheckpointMetadata::decode(&ok.encode()).unwrap(), ok);
    }
}
