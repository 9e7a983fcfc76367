//! Named pause points for the crash tests. With `TIDEMARK_FAULT_PAUSE=<point>[,<point>…]`
//! the job master stops at those points, after saying so on stderr, until the process is
//! killed: a SIGKILL then lands inside a window that is otherwise a few milliseconds wide,
//! on any machine, instead of by luck in one of many tries (a miss in the final
//! checkpoint's window finishes the job, and there is nothing left to try again). Unset,
//! as it is outside the tests, each point costs a look at a list read once.

use std::sync::OnceLock;

/// A checkpoint is chosen and loaded for a restore; no task has started.
pub const RESTORE: &str = "restore";
/// A checkpoint's metadata is written; its sinks have not been told to commit.
pub const AFTER_METADATA: &str = "after-metadata";
/// The final checkpoint of a bounded job has its first acknowledgement, not its last.
pub const FINAL_CHECKPOINT: &str = "final-checkpoint";

/// Stops the calling thread for good if `point` is one of the configured pause points.
pub fn pause_at(point: &str) {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    let points = POINTS.get_or_init(|| {
        std::env::var("TIDEMARK_FAULT_PAUSE")
            .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == point) {
        eprintln!("fault pause: {point} (TIDEMARK_FAULT_PAUSE); waiting to be killed");
        loop {
            std::thread::park();
        }
    }
}
