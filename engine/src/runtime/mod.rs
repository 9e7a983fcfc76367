//! Running a job: deploying its tasks, driving checkpoints, restarting after
//! failures.
//!
//! | file | owns |
//! |---|---|
//! | [`backpressure`] | busy / idle / backpressured shares and Flink's levels over a window |
//! | [`checkpoint_requests`] | checkpoints triggered by hand and their outcomes (REST) |
//! | [`checkpoint_stats`] | counts, summary, latest and history of checkpoints (REST) |
//! | `control` | requests to the job master as messages: checkpoint, savepoint, stop, cancel |
//! | [`deploy`] | graph → channels and task threads for one attempt |
//! | `fault` | pause points the crash tests kill in (`TIDEMARK_FAULT_PAUSE`) |
//! | [`job_master`] | the attempt loop, the coordinator's I/O edge, stop and restart |
//! | [`restart`] | restart strategies (pure) |
//! | [`savepoints`] | savepoint requests (REST, CLI) and their outcomes |
//! | [`status`] | what the CLI's status line reads |

pub mod backpressure;
pub mod checkpoint_requests;
pub mod checkpoint_stats;
pub(crate) mod control;
pub mod deploy;
pub(crate) mod fault;
pub mod job_master;
pub mod key_group_load;
pub mod restart;
pub mod savepoints;
pub mod status;

pub use control::StopHandle;
pub use job_master::{JobMaster, JobOptions, JobOutcome};
