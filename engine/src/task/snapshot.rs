//! The asynchronous snapshot phase: encode and write the state a task copied
//! synchronously, then acknowledge, on a thread of its own, so the task goes
//! on processing while its state is written.

use super::{TaskEvent, TaskSetup};
use crate::checkpoint::coordinator::SubtaskAck;
use crate::message::Barrier;
use crate::state::snapshot::{encode, OperatorSnapshot};
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
    let file = format!("{}-{}.state", setup.info.uid, setup.info.index);
    let spawn = std::thread::Builder::new()
        .name(format!("snapshot-{}-{}", setup.info.uid, setup.info.index))
        .spawn(move || {
            let start = Instant::now();
            let handle = if snap.is_empty() {
                Ok(None)
            } else {
                match &storage {
                    Some(s) => encode(&snap, maxp)
                        .and_then(|b| s.write_state(barrier.id, &file, &b).map(Some)),
                    None => Ok(None),
                }
            };
            let persisted_bytes = snap.channel_state.len() as u64;
            let ev = match handle {
                Ok(handle) => TaskEvent::Ack {
                    id: barrier.id,
                    ack: SubtaskAck {
                        task,
                        handle,
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
