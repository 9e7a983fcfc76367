//! Savepoints: a completed full checkpoint copied into a folder of its own,
//! with its metadata marked as a savepoint and written last. A savepoint holds
//! only canonical state files (never shared RocksDB files), so it is
//! self-contained, relocatable, and restorable into either state backend.

use super::blob::Location;
use super::metadata::{CheckpointMetadata, METADATA_FILE};
use crate::error::{Error, Result};

/// Copies checkpoint `meta` at `chk` into `<target>/savepoint-<job id prefix>-<id>`.
pub fn write(chk: &Location, meta: &CheckpointMetadata, target: &Location) -> Result<Location> {
    if meta
        .operators
        .iter()
        .any(|o| o.subtasks.iter().flatten().any(|h| h.native.is_some()))
    {
        return Err(Error::Checkpoint(format!(
            "checkpoint {} holds RocksDB files: a savepoint must be taken in the canonical format",
            meta.checkpoint_id
        )));
    }
    let dir = target.join(&format!(
        "savepoint-{}-{}",
        &meta.job_id[..meta.job_id.len().min(6)],
        meta.checkpoint_id
    ));
    for h in meta
        .operators
        .iter()
        .flat_map(|o| o.subtasks.iter().flatten())
    {
        let bytes = chk.join(&h.file).get()?;
        dir.join(&h.file).put(&bytes)?;
    }
    let mut m = meta.clone();
    m.savepoint = true;
    dir.join(METADATA_FILE).put(&m.encode())?;
    Ok(dir)
}
