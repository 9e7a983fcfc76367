//! Label names shared by every metric family, so that a dashboard or rule that
//! joins two families can rely on one spelling.

/// Human-readable job name from the job file (`name:`).
pub const JOB_NAME: &str = "job_name";
/// 32 hex characters, new for every submission (as Flink's JobID).
pub const JOB_ID: &str = "job_id";
/// The operator (vertex) name as the user wrote it.
pub const VERTEX: &str = "vertex";
/// Zero-based index of the parallel instance.
pub const SUBTASK: &str = "subtask";
