//! The engine's error type. Messages say what went wrong and what to do; the
//! variant says whose problem it is (user input, the environment, or a bug).

use std::path::PathBuf;

/// Everything that can stop a job or a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid configuration or job file: the user fixes the input. May hold
    /// several problems, one per line.
    #[error("{0}")]
    Config(String),
    /// A file-system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("writing checkpoint file").
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint could not be written, read or trusted.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Keyed state or timers could not be read or written: the task fails
    /// there and then (the restart strategy applies) rather than go on
    /// with state it does not have.
    #[error("state access: {0}")]
    State(String),
    /// A user function or operator failed while processing.
    #[error("{0}")]
    Task(String),
    /// State could not be encoded or decoded.
    #[error("state codec: {0}")]
    Codec(String),
    /// A source or sink could not talk to its external system (a broker):
    /// the task fails, and the restart strategy tries again.
    #[error("connector: {0}")]
    Connector(String),
    /// The job was cancelled; not a failure.
    #[error("cancelled")]
    Cancelled,
}

/// Whose problem an error is, so that an operator knows what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The input: a job file, a setting, a graph, a user function. Fix it and
    /// run again; retrying as is fails the same way.
    User,
    /// The outside world: storage, the network, the disk. `retryable` says
    /// whether the same operation may succeed later (a timeout, a refused
    /// connection) or not (a missing file, a permission).
    Environment {
        /// Whether trying again may succeed.
        retryable: bool,
    },
    /// Tidemark itself: state it wrote that it cannot read back. Report it.
    Bug,
}

impl std::fmt::Display for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Blame::User => "the job's input or code",
            Blame::Environment { retryable: true } => "the environment, may pass on retry",
            Blame::Environment { retryable: false } => "the environment",
            Blame::Bug => "a bug in Tidemark",
        })
    }
}

impl Error {
    /// Whose problem this is.
    pub fn blame(&self) -> Blame {
        use std::io::ErrorKind as K;
        match self {
            Error::Config(_) | Error::Task(_) => Blame::User,
            Error::Io { source, .. } => Blame::Environment {
                retryable: matches!(
                    source.kind(),
                    K::Interrupted
                        | K::TimedOut
                        | K::WouldBlock
                        | K::ConnectionRefused
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::BrokenPipe
                        | K::StorageFull
                        | K::ResourceBusy
                ),
            },
            // A checkpoint or state that cannot be read or written: storage
            // or the disk under it; a restart may find it whole again.
            Error::Checkpoint(_) | Error::State(_) => Blame::Environment { retryable: true },
            Error::Connector(_) => Blame::Environment { retryable: true },
            Error::Codec(_) => Blame::Bug,
            Error::Cancelled => Blame::Environment { retryable: true },
        }
    }

    /// Wraps an I/O error with the path and the action.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl From<bincode::Error> for Error {
    fn from(e: bincode::Error) -> Self {
        Error::Codec(e.to_string())
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
