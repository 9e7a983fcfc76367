//! The `_metadata` file: what a completed checkpoint holds. It is written last,
//! so its presence is what makes a checkpoint complete. It carries a CRC32 of
//! itself and of every state file it names.

use super::blob::Location;
use crate::error::{Error, Result};
use crate::state::snapshot::StateHandle;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"TMCKPT01";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the metadata inside `chk-<id>/`.
pub const METADATA_FILE: &str = "_metadata";

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
        Ok(m)
    }

    /// Reads and checks `<chk dir>/_metadata`.
    pub fn load(chk_dir: &Location) -> Result<Self> {
        let p = chk_dir.join(METADATA_FILE);
        let bytes = p.get()?;
        Self::decode(&bytes).map_err(|e| Error::Checkpoint(format!("{p}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let m = CheckpointMetadata {
            version: FORMAT_VERSION,
            job_name: "j".into(),
            job_id: "ab".into(),
            pipeline: "keyed-count".into(),
            checkpoint_id: 3,
            trigger_ms: 1,
            completed_ms: 2,
            is_final: false,
            savepoint: false,
            operators: vec![],
        };
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
}
