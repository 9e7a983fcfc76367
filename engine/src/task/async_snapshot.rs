//! The asynchronous snapshot phase: encode and write the state a task copied
//! synchronously, then acknowledge, on a thread of its own, so the task goes
//! on processing while its state is written.

use super::{TaskEvent, TaskSetup};
use crate::checkpoint::coordinator::SubtaskAck;
use crate::checkpoint::local::LocalRecovery;
use crate::checkpoint::spool::{Spool, Spooled};
use crate::checkpoint::storage::CheckpointStorage;
use crate::error::Result;
use crate::message::Barrier;
use crate::operator::SubtaskInfo;
use crate::state::rocks::transfer::upload;
use crate::state::state_file::{encode_to, OperatorSnapshot, StateHandle};
use std::time::Instant;

/// What the task measured before the asynchronous phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncTimings {
    /// Time already spent on the asynchronous side before the write started
    /// (an unaligned snapshot waits for its in-flight data), ns.
    pub async_before_ns: u64,
    /// Bytes of records processed between the first and last barrier.
    pub processed_bytes: u64,
    /// Whether the snapshot was taken unaligned.
    pub unaligned: bool,
    /// Copying state, ns.
    pub sync_ns: u64,
    /// First to last barrier, ns.
    pub alignment_ns: u64,
    /// Trigger to first barrier, ns.
    pub start_delay_ns: u64,
}

/// Writes `snap` for `barrier` and reports the outcome to the job master.
pub fn spawn_async(setup: &TaskSetup, barrier: Barrier, snap: OperatorSnapshot, t: SyncTimings) {
    let storage = setup.storage.clone();
    let events = setup.events.clone();
    let task = setup.id;
    let maxp = setup.info.max_parallelism;
    let info = setup.info.clone();
    let file = format!("{}-{}.state", setup.info.uid, setup.info.index);
    let spawn = std::thread::Builder::new()
        .name(format!("snapshot-{}-{}", setup.info.uid, setup.info.index))
        .spawn(move || {
            let start = Instant::now();
            let written = match &storage {
                Some(s) if !snap.is_empty() => write(s, &info, barrier.id, &file, &snap, maxp),
                _ => Ok(None),
            };
            if let Some(n) = &snap.native {
                // Kept as the local copy when write() moved it; dropped otherwise.
                let _ = std::fs::remove_dir_all(&n.dir);
            }
            let persisted_bytes = snap.channel_state.len() as u64;
            let ev = match written {
                Ok(w) => TaskEvent::Ack {
                    id: barrier.id,
                    ack: SubtaskAck {
                        task,
                        checkpointed_bytes: w.as_ref().map(|w| w.1).unwrap_or(0),
                        handle: w.map(|w| w.0),
                        sync_ns: t.sync_ns,
                        async_ns: t.async_before_ns + start.elapsed().as_nanos() as u64,
                        processed_bytes: t.processed_bytes,
                        persisted_bytes,
                        unaligned: t.unaligned,
                        alignment_ns: t.alignment_ns,
                        start_delay_ns: t.start_delay_ns,
                        ack_ms: crate::operator::now_ms(),
                    },
                },
                Err(e) => TaskEvent::Decline {
                    id: barrier.id,
                    reason: format!("{file}: {e}"),
                },
            };
            let _ = events.send(ev);
        });
    if let Err(e) = spawn {
        let _ = setup.events.send(TaskEvent::Decline {
            id: barrier.id,
            reason: format!("could not start the snapshot thread: {e}"),
        });
    }
}

/// State files larger than this are encoded into a file rather than memory.
const SPILL_AT: usize = 16 << 20;

/// The primary copy (checkpoint storage, must succeed), then the secondary
/// (task-local, best effort). Returns the handle and the bytes written now.
fn write(
    storage: &CheckpointStorage,
    info: &SubtaskInfo,
    id: u64,
    file: &str,
    snap: &OperatorSnapshot,
    maxp: u32,
) -> Result<Option<(StateHandle, u64)>> {
    let uploaded = match &snap.native {
        Some(n) => Some(upload(n, storage.job_dir(), &info.uid, info.index, id)?),
        None => None,
    };
    // Small files stay in memory; a large full snapshot spills to a file
    // beside its task-local copy (which it then becomes by a rename), or
    // beside the RocksDB instance, or in the temporary directory.
    let local = info
        .backend
        .local_recovery
        .as_ref()
        .map(|root| LocalRecovery::new(root.clone()));
    let local_dir = local
        .as_ref()
        .map(|l| l.dir(&info.job_id, &info.uid, info.index, id));
    let spill_dir = match (&local_dir, info.backend.kind) {
        (Some(d), _) => d.clone(),
        (None, crate::state::StateBackendKind::RocksDb) => info.backend.rocks.local_dir.clone(),
        (None, _) => std::env::temp_dir(),
    };
    let mut spool = Spool::new(&spill_dir, SPILL_AT);
    let size = encode_to(snap, maxp, info.backend.compression, &mut spool)?;
    let spooled = spool.finish()?;
    let mut handle = match &spooled {
        Spooled::Memory(bytes) => storage.write_state(id, file, bytes)?,
        Spooled::File(f) => storage.write_state_file(id, file, f.path())?,
    };
    let mut written = size;
    if let Some(u) = uploaded {
        written += u.uploaded_bytes;
        handle.native = Some(u.handle);
    }
    if let (Some(l), Some(dir)) = (&local, &local_dir) {
        let secondary = match spooled {
            Spooled::Memory(bytes) => l.write_state(dir, file, &bytes),
            Spooled::File(f) => f.keep_as(&dir.join(file)),
        }
        .and_then(|_| match &snap.native {
            Some(n) => l.keep_native(dir, &n.dir),
            None => Ok(()),
        });
        if let Err(e) = secondary {
            log::warn!("checkpoint {id}: the task-local copy of {file} failed (the checkpoint does not): {e}");
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    Ok(Some((handle, written)))
}
