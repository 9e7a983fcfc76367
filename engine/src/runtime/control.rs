//! How the world outside the job master asks something of a running job:
//! the REST API (trigger a checkpoint, take a savepoint, stop, cancel), a
//! signal (stop) or an embedding program (stop, cancel).
//!
//! Each request is a message on the job master's channel, so the job master
//! wakes for it at once and polls nothing. What became of a checkpoint or
//! savepoint request is recorded, under the id its caller was handed, in the
//! books of [`super::status::JobStatus`].
//!
//! Flink's two verbs end a job. *Stop* (Ctrl-C, SIGTERM, SIGHUP) ends it
//! gracefully: a final checkpoint is taken and kept whatever the retention
//! setting, so the same command with `--restore latest` resumes where the
//! job stopped. *Cancel* (`PATCH /jobs/:id`) ends it at once, and the
//! retention setting decides what stays. A cancel overrides a stop in
//! progress.

use super::savepoints::SavepointRequest;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const NONE: u8 = 0;
const STOP: u8 = 1;
const CANCEL: u8 = 2;

/// One request to the job master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Take a checkpoint now; the id is the one its caller was handed.
    Checkpoint(String),
    /// Take a savepoint (and stop after it, if the request says so).
    Savepoint(SavepointRequest),
    /// End with a final, kept checkpoint.
    Stop,
    /// End now.
    Cancel,
}

/// What has been asked of the job's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndRequest {
    /// End with a final, kept checkpoint.
    Stop,
    /// End now.
    Cancel,
}

/// Asks a running job to stop or cancel; cheap to clone, usable from any
/// thread. Once the job has ended, asking does nothing.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Sender<Command>,
    /// The strongest end asked for so far: a second Ctrl-C must know that a
    /// first one came, and `--linger` ends early on either.
    asked: Arc<AtomicU8>,
}

/// The job master's end of the channel.
pub(crate) type Commands = Receiver<Command>;

impl StopHandle {
    /// A handle and the receiver the job master reads.
    pub(crate) fn channel() -> (Self, Commands) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (
            Self {
                tx,
                asked: Arc::default(),
            },
            rx,
        )
    }

    /// Asks for a graceful stop: a final checkpoint that is kept, then the
    /// end. Returns whether a stop or cancel had been asked for already (a
    /// second Ctrl-C means "exit now").
    pub fn stop(&self) -> bool {
        let again = self
            .asked
            .compare_exchange(NONE, STOP, Ordering::SeqCst, Ordering::SeqCst)
            .is_err();
        if !again {
            let _ = self.tx.send(Command::Stop);
        }
        again
    }

    /// Asks for a cancel: the job ends at once, and the retention setting
    /// decides which checkpoints stay.
    pub fn cancel(&self) {
        self.asked.store(CANCEL, Ordering::SeqCst);
        let _ = self.tx.send(Command::Cancel);
    }

    /// Whether `other` is a handle of the same job.
    pub(crate) fn same(&self, other: &StopHandle) -> bool {
        Arc::ptr_eq(&self.asked, &other.asked)
    }

    /// What end has been asked for, if any.
    pub(crate) fn requested(&self) -> Option<EndRequest> {
        match self.asked.load(Ordering::SeqCst) {
            STOP => Some(EndRequest::Stop),
            CANCEL => Some(EndRequest::Cancel),
            _ => None,
        }
    }

    /// Sends a checkpoint or savepoint request; `false` when the job master
    /// has ended and nobody will carry it out.
    pub(crate) fn send(&self, c: Command) -> bool {
        self.tx.send(c).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_arrives_once_and_a_second_stop_is_noticed() {
        let (h, rx) = StopHandle::channel();
        assert_eq!(h.requested(), None);
        assert!(!h.stop());
        assert!(h.stop(), "the second stop is reported as such");
        assert_eq!(rx.try_recv(), Ok(Command::Stop));
        assert!(rx.try_recv().is_err(), "a repeated stop is one message");
        assert_eq!(h.requested(), Some(EndRequest::Stop));
        h.cancel();
        assert_eq!(rx.try_recv(), Ok(Command::Cancel));
        assert_eq!(h.requested(), Some(EndRequest::Cancel));
        assert!(h.stop());
        assert_eq!(
            h.requested(),
            Some(EndRequest::Cancel),
            "a cancel is not undone"
        );
        assert!(h.send(Command::Checkpoint("a".into())));
        assert_eq!(rx.try_recv(), Ok(Command::Checkpoint("a".into())));
        drop(rx);
        assert!(!h.send(Command::Checkpoint("b".into())), "nobody listens");
    }
}
