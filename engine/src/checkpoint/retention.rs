//! What happens to a job's retained checkpoints when it ends
//! (`execution.checkpointing.externalized-checkpoint-retention`), as a pure
//! decision beside the coordinator's; the job master carries it out.

/// What happens to retained checkpoints when the job ends
/// (`execution.checkpointing.externalized-checkpoint-retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Deleted when the job finishes or is cancelled (Flink's default).
    NoExternalized,
    /// Deleted when cancelled, and when finished.
    DeleteOnCancellation,
    /// Kept when cancelled.
    RetainOnCancellation,
}

/// How a job ended, as far as its checkpoints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Every source finished.
    Finished,
    /// Cancelled.
    Cancelled,
    /// Stopped with a savepoint (which lives outside the checkpoints).
    StoppedWithSavepoint,
    /// Stopped with, or without, a final checkpoint.
    Stopped,
}

/// What to keep of the retained checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtEnd {
    /// Keep every retained checkpoint.
    pub keep_all: bool,
    /// Keep this one whatever `keep_all` says: a stopped job resumes from it.
    pub resume_from: Option<u64>,
}

/// The decision: a stopped job keeps the checkpoint it resumes from (the
/// newest retained), whatever the retention; a cancelled one keeps all only
/// with `RetainOnCancellation`; a finished one keeps none.
pub fn at_end(retention: Retention, end: JobEnd, newest_retained: Option<u64>) -> AtEnd {
    let retain = retention == Retention::RetainOnCancellation;
    match end {
        JobEnd::Finished | JobEnd::StoppedWithSavepoint => AtEnd {
            keep_all: false,
            resume_from: None,
        },
        JobEnd::Cancelled => AtEnd {
            keep_all: retain,
            resume_from: None,
        },
        JobEnd::Stopped => AtEnd {
            keep_all: retain,
            resume_from: newest_retained,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stop_keeps_its_checkpoint_whatever_the_retention() {
        for r in [
            Retention::NoExternalized,
            Retention::DeleteOnCancellation,
            Retention::RetainOnCancellation,
        ] {
            let retain = r == Retention::RetainOnCancellation;
            assert_eq!(
                at_end(r, JobEnd::Stopped, Some(7)),
                AtEnd {
                    keep_all: retain,
                    resume_from: Some(7)
                }
            );
            assert_eq!(
                at_end(r, JobEnd::Cancelled, Some(7)),
                AtEnd {
                    keep_all: retain,
                    resume_from: None
                }
            );
            for end in [JobEnd::Finished, JobEnd::StoppedWithSavepoint] {
                assert_eq!(
                    at_end(r, end, Some(7)),
                    AtEnd {
                        keep_all: false,
                        resume_from: None
                    }
                );
            }
        }
        assert_eq!(
            at_end(Retention::NoExternalized, JobEnd::Stopped, None).resume_from,
            None
        );
    }
}
