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
    /// The job was cancelled; not a failure.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
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
