//! How a running job is asked to end: Flink's two verbs.
//!
//! *Stop* (Ctrl-C, SIGTERM, SIGHUP) ends the job gracefully: a final
//! checkpoint is taken and kept whatever the retention setting, so the same
//! command with `--restore latest` resumes where the job stopped. *Cancel*
//! (`PATCH /jobs/:id`) ends it at once, and the retention setting decides what
//! stays. A cancel overrides a stop in progress.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const NONE: u8 = 0;
const STOP: u8 = 1;
const CANCEL: u8 = 2;

/// What has been asked of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRequest {
    /// End with a final, kept checkpoint.
    Stop,
    /// End now.
    Cancel,
}

/// Shared by the job master and whoever may end the job (signal handler, REST).
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicU8>);

impl StopHandle {
    /// Asks for a graceful stop; returns whether a stop or cancel had already
    /// been asked for (a second Ctrl-C means "exit now").
    pub fn stop(&self) -> bool {
        self.0
            .compare_exchange(NONE, STOP, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    }

    /// Whether `other` is a handle of the same job.
    pub fn same(&self, other: &StopHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Asks for a cancel.
    pub fn cancel(&self) {
        self.0.store(CANCEL, Ordering::SeqCst);
    }

    /// What has been asked, if anything.
    pub fn requested(&self) -> Option<EndRequest> {
        match self.0.load(Ordering::SeqCst) {
            STOP => Some(EndRequest::Stop),
            CANCEL => Some(EndRequest::Cancel),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_overrides_a_stop_and_a_second_stop_is_noticed() {
        let h = StopHandle::default();
        assert_eq!(h.requested(), None);
        assert!(!h.stop());
        assert_eq!(h.requested(), Some(EndRequest::Stop));
        assert!(h.stop(), "the second stop is reported as such");
        h.cancel();
        assert_eq!(h.requested(), Some(EndRequest::Cancel));
        assert!(h.stop());
        assert_eq!(h.requested(), Some(EndRequest::Cancel));
    }
}
