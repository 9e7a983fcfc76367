//! The capacity model (the large-state guide's last question, and Flink's
//! autoscaler model, FLIP-271): how much more input the job takes, and how
//! long it needs to catch up after a failure.
//!
//! [`MODEL`] says how each quantity is computed (docs/doctor.md prints it).

use super::{Facts, Thresholds, VertexFacts};
use serde::Serialize;

/// The model, in Markdown, for docs/doctor.md.
pub const MODEL: &str = "\
- A vertex's **utilization** is its subtasks' mean busy share; its **true processing rate** the \
records in per second it would take busy all the time (records in per second over utilization; a \
source's records out).
- The job's **headroom** is how many times its present input it can take: one over the busiest \
subtask's busy share (a keyed vertex is only as fast as its hottest subtask: keys do not move), and \
at most the process's cores over the cores it keeps busy (busy time cannot see threads queueing \
for a core; the recording rules, without a core count, leave this bound out). Its **maximum \
sustainable rate** is the sources' present rate times the headroom.
- After a failure the job is down for its **recovery time** (the last one measured, from the \
failure until every subtask of the new attempt restored its state and runs; \
`tidemark.doctor.recovery-time` before the first) and replays up to one checkpoint interval: a \
backlog of `input × D`, `D = recovery + interval`, worked off at `input × (headroom − 1)`, so the \
**catch-up time** is `D / (headroom − 1)`, and never when the headroom is at most 1.
- A vertex's **needed parallelism** keeps it at `target-utilization` while it takes its input and \
works off that backlog within `catch-up-duration`: its total busy share times \
`1 + D / catch-up-duration`, over the target, rounded up to the next count that divides \
`pipeline.max-parallelism` (so key groups spread evenly).
";

/// One vertex's capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VertexCapacity {
    /// Its uid.
    pub vertex: String,
    /// Its parallelism now.
    pub parallelism: usize,
    /// Its subtasks' mean busy share.
    pub utilization: f64,
    /// Its busiest subtask's busy share.
    pub peak_utilization: f64,
    /// Records in per second (a source's: records out).
    pub records_in_per_second: f64,
    /// Records per second it would take busy all the time; `None` when it
    /// was never busy (nothing to measure by).
    pub true_processing_rate: Option<f64>,
    /// The parallelism it needs (docs/doctor.md, "Capacity").
    pub needed_parallelism: usize,
}

/// The job's capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// Records per second its sources emit.
    pub input_records_per_second: f64,
    /// How many times its present input it can take; `None` when no
    /// subtask was busy (no bound measured).
    pub headroom: Option<f64>,
    /// The input rate it can sustain; `None` with `headroom`.
    pub max_sustainable_records_per_second: Option<f64>,
    /// The downtime a failure costs, seconds.
    pub recovery_seconds: f64,
    /// `recovery_seconds` was measured (else it is the configured guess).
    pub recovery_measured: bool,
    /// The checkpoint interval a failure may replay, seconds (0 without
    /// checkpoints).
    pub replay_seconds: f64,
    /// Seconds to catch up after a failure; `None`: never (headroom at most 1).
    pub catch_up_seconds: Option<f64>,
    /// Per vertex, upstream first.
    pub vertices: Vec<VertexCapacity>,
}

impl Capacity {
    /// The model over `f`.
    pub fn of(f: &Facts, t: &Thresholds) -> Self {
        let input: f64 = f
            .vertices
            .iter()
            .filter(|v| v.inputs.is_empty())
            .flat_map(|v| &v.subtasks)
            .map(|s| s.records_out_per_s)
            .sum();
        let peak = f
            .vertices
            .iter()
            .flat_map(|v| &v.subtasks)
            .map(|s| s.busy)
            .fold(0.0, f64::max);
        // Busy time cannot see cores shared by more busy threads than
        // there are: the cores bound the headroom too.
        let by_cpu = f
            .cpu
            .filter(|c| c.cores_used > 0.0)
            .map(|c| c.cores / c.cores_used);
        let headroom = match ((peak > 0.0).then(|| 1.0 / peak), by_cpu) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (recovery_seconds, recovery_measured) = match f.recovery_ms {
            Some(ms) => (ms as f64 / 1000.0, true),
            None => (t.recovery_time_ms as f64 / 1000.0, false),
        };
        let replay_seconds = f.checkpoints.interval_ms.unwrap_or(0).max(0) as f64 / 1000.0;
        let down = recovery_seconds + replay_seconds;
        let catch_up_seconds = match headroom {
            _ if input <= 0.0 => Some(0.0),
            None => Some(0.0),
            Some(h) if h > 1.0 => Some(down / (h - 1.0)),
            Some(_) => None,
        };
        let growth = 1.0 + down / (t.catch_up_ms.max(1) as f64 / 1000.0);
        let vertices = f
            .vertices
            .iter()
            .map(|v| {
                let busy: f64 = v.subtasks.iter().map(|s| s.busy).sum();
                let n = v.subtasks.len().max(1) as f64;
                let rate: f64 = v
                    .subtasks
                    .iter()
                    .map(|s| {
                        if v.inputs.is_empty() {
                            s.records_out_per_s
                        } else {
                            s.records_in_per_s
                        }
                    })
                    .sum();
                VertexCapacity {
                    vertex: v.id.clone(),
                    parallelism: v.parallelism,
                    utilization: busy / n,
                    peak_utilization: v.subtasks.iter().map(|s| s.busy).fold(0.0, f64::max),
                    records_in_per_second: rate,
                    true_processing_rate: (busy > 0.0).then(|| rate * n / busy),
                    needed_parallelism: needed_parallelism(v, t, growth, f.max_parallelism),
                }
            })
            .collect();
        Capacity {
            input_records_per_second: input,
            headroom,
            max_sustainable_records_per_second: headroom.map(|h| h * input),
            recovery_seconds,
            recovery_measured,
            replay_seconds,
            catch_up_seconds,
            vertices,
        }
    }
}

/// The parallelism at which `v`'s busy time, grown by `growth` (the
/// catch-up load), would be `target_utilization` of each subtask: rounded
/// up to the next count that divides the key groups evenly (as Flink's
/// autoscaler aligns), at most `max_parallelism`.
pub(crate) fn needed_parallelism(
    v: &VertexFacts,
    t: &Thresholds,
    growth: f64,
    max_parallelism: u32,
) -> usize {
    let total: f64 = v.subtasks.iter().map(|s| s.busy).sum();
    let raw = (total * growth / t.target_utilization).ceil().max(1.0) as u32;
    let max = max_parallelism.max(1);
    let raw = raw.clamp(1, max);
    (raw..=max).find(|p| max % p == 0).unwrap_or(raw) as usize
}
