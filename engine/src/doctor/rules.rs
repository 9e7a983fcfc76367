//! The doctor's rules: each a pure function of [`Facts`] and [`Thresholds`],
//! returning the findings it supports. The thresholds are config keys
//! (`tidemark.doctor.*`) with defaults that say why.

use super::{Cause, Evidence, Facts, Finding, Severity, VertexFacts};
use crate::config::keys::{self as k, KeySpec};
use serde_json::json;

/// The rules' thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A subtask at least this backpressured waits on its downstream.
    pub backpressured: f64,
    /// A subtask at least this busy has no room left.
    pub busy: f64,
    /// Siblings of the hottest subtask busy less than this fraction of it,
    /// on average, make the bottleneck skew rather than load.
    pub skew: f64,
    /// The utilization a recommended parallelism aims at.
    pub target_utilization: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            backpressured: 0.5,
            busy: 0.7,
            skew: 0.5,
            target_utilization: 0.7,
        }
    }
}

/// The thresholds' keys, for docs/doctor.md.
pub const THRESHOLD_KEYS: &[&KeySpec] = &[
    k::TIDEMARK_DOCTOR_BACKPRESSURED_RATIO,
    k::TIDEMARK_DOCTOR_BUSY_RATIO,
    k::TIDEMARK_DOCTOR_SKEW_RATIO,
    k::TIDEMARK_DOCTOR_TARGET_UTILIZATION,
];

pub const SINK_BOTTLENECK: Cause = Cause {
    name: "sink-bottleneck",
    rule: "Some vertex is backpressured (a subtask at least `backpressured-ratio`) and the busiest vertex downstream of it that is not itself backpressured is a sink.",
    action: "Make the sink faster (batching, a faster target, more connections) or raise the sink's parallelism if the target scales; unaligned checkpoints keep checkpoints moving meanwhile but do not cure it.",
};
pub const OPERATOR_BOTTLENECK: Cause = Cause {
    name: "operator-bottleneck",
    rule: "As sink-bottleneck, but the bottleneck is an operator and neither data-skew nor under-provisioned explains it: its busiest subtask is below `busy-ratio`, so the time goes to waiting that is not backpressure (state access, a blocking call).",
    action: "Profile the vertex (where its busy time goes); look at its state backend metrics and any blocking calls in its function.",
};
pub const DATA_SKEW: Cause = Cause {
    name: "data-skew",
    rule: "The bottleneck's busiest subtask is at least `busy-ratio` busy while its siblings are, on average, below `skew-ratio` times as busy: its keys carry more records than theirs.",
    action: "Spread the hot keys: salt them and aggregate in two steps, pre-aggregate before the key_by, or choose a key with more even counts. More parallelism does not help: the hot key stays on one subtask.",
};
pub const UNDER_PROVISIONED: Cause = Cause {
    name: "under-provisioned",
    rule: "The bottleneck's subtasks are all at least `busy-ratio` busy on average (no skew): the vertex has too little parallelism for its input.",
    action: "Raise the vertex's parallelism to the recommended value (its busy time scaled to `target-utilization`, rounded up to a divisor-friendly count of key groups), through a savepoint.",
};
pub const CHECKPOINT_FAILING: Cause = Cause {
    name: "checkpoint-failing",
    rule: "A checkpoint failed within the window, and none completed after it.",
    action: "Read the failure reason in the evidence and `GET /jobs/:id/checkpoints`; until checkpoints complete, a failure replays everything since the last one.",
};
pub const RESTARTING: Cause = Cause {
    name: "restarting",
    rule: "The job restarted within the window.",
    action: "Fix the root exception in the evidence (`GET /jobs/:id/exceptions`); every restart replays the input since the last checkpoint.",
};
pub const HEALTHY: Cause = Cause {
    name: "healthy",
    rule: "No other rule found anything: the verdict is healthy and there are no findings.",
    action: "Nothing.",
};

/// Every rule's findings.
pub fn all(f: &Facts, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(bottleneck(f, t));
    out.extend(checkpoint_failing(f));
    out.extend(restarting(f));
    out
}

fn window(f: &Facts) -> String {
    format!("{}s", f.window_s.round() as u64)
}

fn max_by(v: &VertexFacts, share: fn(&super::SubtaskFacts) -> f64) -> (usize, f64) {
    v.subtasks
        .iter()
        .map(|s| (s.subtask, share(s)))
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a })
}

fn evidence(
    f: &Facts,
    metric: &str,
    v: &VertexFacts,
    subtask: Option<usize>,
    value: f64,
) -> Evidence {
    Evidence {
        metric: metric.into(),
        vertex: Some(v.id.clone()),
        subtask,
        value,
        window: window(f),
    }
}

/// Which vertices lie downstream of vertex `from`.
fn downstream(f: &Facts, from: usize) -> Vec<usize> {
    let mut seen = vec![false; f.vertices.len()];
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        for (i, v) in f.vertices.iter().enumerate() {
            if v.inputs.contains(&x) && !seen[i] {
                seen[i] = true;
                stack.push(i);
            }
        }
    }
    (0..f.vertices.len()).filter(|i| seen[*i]).collect()
}

/// The bottleneck: the busiest vertex, not itself backpressured, downstream
/// of a backpressured one; then why: a sink, skew, load, or something else.
fn bottleneck(f: &Facts, t: &Thresholds) -> Option<Finding> {
    let bp = |v: &VertexFacts| max_by(v, |s| s.backpressured).1;
    let pressured: Vec<usize> = (0..f.vertices.len())
        .filter(|i| bp(&f.vertices[*i]) >= t.backpressured)
        .collect();
    let first = *pressured.first()?;
    let (pi, (ps, pv)) = (first, max_by(&f.vertices[first], |s| s.backpressured));
    let culprit = downstream(f, first)
        .into_iter()
        .filter(|i| bp(&f.vertices[*i]) < t.backpressured)
        .max_by(|a, b| {
            let busy = |i: &usize| max_by(&f.vertices[*i], |s| s.busy).1;
            busy(a).total_cmp(&busy(b))
        })?;
    let v = &f.vertices[culprit];
    let (hot, hot_busy) = max_by(v, |s| s.busy);
    let mean_busy = v.subtasks.iter().map(|s| s.busy).sum::<f64>() / v.subtasks.len().max(1) as f64;
    let others: Vec<f64> = v
        .subtasks
        .iter()
        .filter(|s| s.subtask != hot)
        .map(|s| s.busy)
        .collect();
    let others_mean = others.iter().sum::<f64>() / others.len().max(1) as f64;
    let mut ev = vec![
        evidence(
            f,
            "tidemark_task_backpressured_seconds_total:ratio",
            &f.vertices[pi],
            Some(ps),
            pv,
        ),
        evidence(
            f,
            "tidemark_task_busy_seconds_total:ratio",
            v,
            Some(hot),
            hot_busy,
        ),
    ];
    let upstream = &f.vertices[pi].id;
    let (cause, subtask, why) = if v.is_sink {
        (
            SINK_BOTTLENECK,
            None,
            format!("{upstream} is backpressured, and {}, a sink downstream of it, is the busiest vertex that is not: it writes slower than records arrive.", v.id),
        )
    } else if v.subtasks.len() > 1 && hot_busy >= t.busy && others_mean < t.skew * hot_busy {
        ev.push(Evidence {
            metric: "tidemark_task_busy_seconds_total:ratio (mean of the other subtasks)".into(),
            vertex: Some(v.id.clone()),
            subtask: None,
            value: others_mean,
            window: window(f),
        });
        (
            DATA_SKEW,
            Some(hot),
            format!("Subtask {hot} of {} is {:.0} % busy while its siblings average {:.0} %: its keys carry more records than theirs.", v.id, hot_busy * 100.0, others_mean * 100.0),
        )
    } else if mean_busy >= t.busy {
        ev.push(Evidence {
            metric: "tidemark_task_busy_seconds_total:ratio (mean)".into(),
            vertex: Some(v.id.clone()),
            subtask: None,
            value: mean_busy,
            window: window(f),
        });
        (
            UNDER_PROVISIONED,
            None,
            format!("Every subtask of {} is busy ({:.0} % on average) and {upstream} waits on it: it has too few subtasks for its input.", v.id, mean_busy * 100.0),
        )
    } else {
        (
            OPERATOR_BOTTLENECK,
            None,
            format!("{upstream} is backpressured and {} downstream of it is the busiest vertex that is not, though not saturated ({:.0} %).", v.id, hot_busy * 100.0),
        )
    };
    let action = if cause == UNDER_PROVISIONED {
        let need = needed_parallelism(v, t, f.max_parallelism);
        format!(
            "Raise the parallelism of {} from {} to {need} (busy time at {:.0} % utilization, key groups spread evenly), through a savepoint. {}",
            v.id,
            v.parallelism,
            t.target_utilization * 100.0,
            cause.action
        )
    } else {
        cause.action.to_string()
    };
    Some(Finding {
        cause: cause.name,
        vertex: Some(v.id.clone()),
        subtask,
        severity: Severity::Warning,
        evidence: ev,
        why,
        action,
    })
}

/// The parallelism at which `v`'s busy time would be `target_utilization`
/// of each subtask: its total busy share over the target, rounded up to the
/// next count that divides the key groups evenly (as Flink's autoscaler
/// aligns), at most `max_parallelism`.
pub(crate) fn needed_parallelism(v: &VertexFacts, t: &Thresholds, max_parallelism: u32) -> usize {
    let total: f64 = v.subtasks.iter().map(|s| s.busy).sum();
    let raw = (total / t.target_utilization).ceil().max(1.0) as u32;
    let max = max_parallelism.max(1);
    let raw = raw.clamp(1, max);
    (raw..=max).find(|p| max % p == 0).unwrap_or(raw) as usize
}

fn checkpoint_failing(f: &Facts) -> Option<Finding> {
    let c = &f.checkpoints;
    if c.failed_in_window == 0 || c.completed_after_last_failure {
        return None;
    }
    Some(Finding {
        cause: CHECKPOINT_FAILING.name,
        vertex: None,
        subtask: None,
        severity: Severity::Critical,
        evidence: vec![Evidence {
            metric: "tidemark_checkpoint_failed_total:increase".into(),
            vertex: None,
            subtask: None,
            value: c.failed_in_window as f64,
            window: window(f),
        }],
        why: format!(
            "{} checkpoint(s) failed in the last {} and none completed since: {}",
            c.failed_in_window,
            window(f),
            c.last_failure.as_deref().unwrap_or("no reason recorded")
        ),
        action: CHECKPOINT_FAILING.action.into(),
    })
}

fn restarting(f: &Facts) -> Option<Finding> {
    if f.restarts_in_window == 0 {
        return None;
    }
    Some(Finding {
        cause: RESTARTING.name,
        vertex: None,
        subtask: None,
        severity: Severity::Critical,
        evidence: vec![Evidence {
            metric: "tidemark_job_restarts_total:increase".into(),
            vertex: None,
            subtask: None,
            value: f.restarts_in_window as f64,
            window: window(f),
        }],
        why: format!(
            "The job restarted {} time(s) in the last {}; root exception: {}",
            f.restarts_in_window,
            window(f),
            f.root_exception.as_deref().unwrap_or("none recorded")
        ),
        action: RESTARTING.action.into(),
    })
}

/// Per vertex: its utilization (mean busy share), records in per second,
/// the true processing rate (records in per second of busy time), and the
/// parallelism it needs for `target-utilization`.
pub fn capacity(f: &Facts, t: &Thresholds) -> serde_json::Value {
    let vertices: Vec<serde_json::Value> = f
        .vertices
        .iter()
        .map(|v| {
            let busy: f64 = v.subtasks.iter().map(|s| s.busy).sum();
            let rate: f64 = v.subtasks.iter().map(|s| s.records_in_per_s).sum();
            let n = v.subtasks.len().max(1) as f64;
            json!({
                "vertex": v.id,
                "parallelism": v.parallelism,
                "utilization": busy / n,
                "records_in_per_second": rate,
                "true_processing_rate": if busy > 0.0 { Some(rate / busy) } else { None },
                "needed_parallelism": needed_parallelism(v, t, f.max_parallelism),
            })
        })
        .collect();
    json!({ "vertices": vertices })
}

#[cfg(test)]
mod tests {
    use super::super::{diagnose, CheckpointFacts, SubtaskFacts, Verdict};
    use super::*;

    /// A chain source → op → sink; each vertex's subtasks' (busy, backpressured).
    fn chain(vertices: &[(&str, bool, &[(f64, f64)])]) -> Facts {
        Facts {
            window_s: 10.0,
            max_parallelism: 128,
            vertices: vertices
                .iter()
                .enumerate()
                .map(|(i, (id, sink, subs))| VertexFacts {
                    id: id.to_string(),
                    parallelism: subs.len(),
                    inputs: if i == 0 { vec![] } else { vec![i - 1] },
                    is_sink: *sink,
                    subtasks: subs
                        .iter()
                        .enumerate()
                        .map(|(j, (busy, bp))| SubtaskFacts {
                            subtask: j,
                            busy: *busy,
                            backpressured: *bp,
                            idle: (1.0 - busy - bp).max(0.0),
                            records_in_per_s: 1000.0,
                        })
                        .collect(),
                })
                .collect(),
            checkpoints: CheckpointFacts::default(),
            restarts_in_window: 0,
            root_exception: None,
        }
    }

    #[test]
    fn the_config_keys_default_to_the_thresholds_defaults() {
        let config = crate::config::Config::from_pairs(&[]).unwrap();
        assert_eq!(config.doctor, Thresholds::default());
    }

    #[test]
    fn a_slow_sink_is_named_and_a_calm_job_is_healthy() {
        let t = Thresholds::default();
        let calm = chain(&[("src", false, &[(0.2, 0.0)]), ("sink", true, &[(0.3, 0.0)])]);
        let d = diagnose(&calm, &t);
        assert_eq!((d.verdict, d.findings.len()), (Verdict::Healthy, 0));
        let slow = chain(&[
            ("src", false, &[(0.05, 0.95)]),
            ("map", false, &[(0.1, 0.9)]),
            ("sink", true, &[(0.99, 0.0)]),
        ]);
        let d = diagnose(&slow, &t);
        assert_eq!(d.verdict, Verdict::Degraded);
        assert_eq!(d.findings[0].cause, "sink-bottleneck");
        assert_eq!(d.findings[0].vertex.as_deref(), Some("sink"));
    }

    #[test]
    fn skew_names_the_hot_subtask_and_load_recommends_a_parallelism() {
        let t = Thresholds::default();
        let skew = chain(&[
            ("src", false, &[(0.05, 0.9)]),
            (
                "count",
                false,
                &[(0.1, 0.0), (0.95, 0.0), (0.1, 0.0), (0.2, 0.0)],
            ),
            ("sink", true, &[(0.05, 0.0)]),
        ]);
        let d = diagnose(&skew, &t);
        assert_eq!(
            (
                d.findings[0].cause,
                d.findings[0].vertex.as_deref(),
                d.findings[0].subtask
            ),
            ("data-skew", Some("count"), Some(1))
        );
        let load = chain(&[
            ("src", false, &[(0.05, 0.9)]),
            ("count", false, &[(0.95, 0.0), (0.9, 0.0)]),
            ("sink", true, &[(0.05, 0.0)]),
        ]);
        let d = diagnose(&load, &t);
        assert_eq!(d.findings[0].cause, "under-provisioned");
        // 1.85 busy / 0.7 = 2.64 → 3 → the next divisor of 128: 4.
        assert!(
            d.findings[0].action.contains("from 2 to 4"),
            "{}",
            d.findings[0].action
        );
    }

    #[test]
    fn failing_checkpoints_and_restarts_are_critical() {
        let mut f = chain(&[("src", false, &[(0.1, 0.0)]), ("sink", true, &[(0.1, 0.0)])]);
        f.checkpoints = CheckpointFacts {
            failed_in_window: 2,
            completed_after_last_failure: false,
            last_failure: Some("expired".into()),
        };
        f.restarts_in_window = 1;
        f.root_exception = Some("boom".into());
        let d = diagnose(&f, &Thresholds::default());
        assert_eq!(d.verdict, Verdict::Critical);
        let causes: Vec<&str> = d.findings.iter().map(|x| x.cause).collect();
        assert_eq!(causes, ["checkpoint-failing", "restarting"]);
        assert!(d.findings[0].why.contains("expired") && d.findings[1].why.contains("boom"));
        f.checkpoints.completed_after_last_failure = true;
        let d = diagnose(&f, &Thresholds::default());
        assert_eq!(
            d.findings.len(),
            1,
            "a checkpoint completed after the failure"
        );
    }
}
