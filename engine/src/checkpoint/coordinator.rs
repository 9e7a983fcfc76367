//! The checkpoint coordinator's decisions, as a pure state machine over time
//! (milliseconds, injected) and task acknowledgements. The job master feeds it
//! facts and carries out the [`Decision`]s (sending triggers, writing metadata,
//! deleting directories), so every rule here is testable without threads or I/O.

use crate::state::state_file::StateHandle;
use crate::task::TaskId;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// A subtask's acknowledgement: its state is durably written.
#[derive(Debug, Clone)]
pub struct SubtaskAck {
    /// Who.
    pub task: TaskId,
    /// The state file, if the subtask has state.
    pub handle: Option<StateHandle>,
    /// Bytes written for this checkpoint (with incremental checkpoints, less
    /// than the handle's full size).
    pub checkpointed_bytes: u64,
    /// Synchronous phase (copying state), ns.
    pub sync_ns: u64,
    /// Asynchronous phase (encoding and writing), ns.
    pub async_ns: u64,
    /// First barrier to last barrier at this subtask, ns.
    pub alignment_ns: u64,
    /// Trigger to first barrier at this subtask, ns.
    pub start_delay_ns: u64,
    /// Bytes processed during alignment (aligned checkpoints).
    pub processed_bytes: u64,
    /// Bytes of in-flight records persisted (unaligned checkpoints).
    pub persisted_bytes: u64,
    /// Whether this subtask snapshotted unaligned.
    pub unaligned: bool,
    /// When the state was durable (ms since epoch): trigger to here is the
    /// subtask's end-to-end duration.
    pub ack_ms: i64,
}

/// The checkpointing settings the coordinator obeys.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// Time between triggers; `None` disables periodic checkpoints.
    pub interval: Option<Duration>,
    /// A checkpoint not complete after this long is aborted.
    pub timeout: Duration,
    /// Minimum time from one completion to the next trigger.
    pub min_pause: Duration,
    /// Checkpoints in flight at once.
    pub max_concurrent: usize,
    /// Consecutive failures tolerated before the job fails over.
    pub tolerable_failed: u32,
    /// Completed checkpoints kept; older ones are discarded.
    pub num_retained: usize,
}

/// Why a checkpoint was aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// Not complete within the timeout.
    Expired,
    /// A task could not write its state.
    Declined(String),
    /// The metadata could not be written.
    MetadataWriteFailed(String),
    /// A newer checkpoint completed first.
    Subsumed,
}

impl std::fmt::Display for AbortReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbortReason::Expired => write!(
                f,
                "expired before completing (execution.checkpointing.timeout)"
            ),
            AbortReason::Declined(r) => write!(f, "declined by a task: {r}"),
            AbortReason::MetadataWriteFailed(r) => write!(f, "metadata could not be written: {r}"),
            AbortReason::Subsumed => write!(f, "subsumed by a newer completed checkpoint"),
        }
    }
}

/// What the job master must do.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Inject barrier `id` at every source.
    Trigger {
        /// Checkpoint id.
        id: u64,
        /// Trigger time (ms).
        trigger_ms: i64,
        /// The last checkpoint of a bounded job.
        is_final: bool,
    },
    /// Every task acknowledged: write the metadata (last), then report back
    /// with [`Coordinator::on_completed`] or [`Coordinator::on_metadata_failed`].
    Complete {
        /// Checkpoint id.
        id: u64,
        /// Trigger time (ms).
        trigger_ms: i64,
        /// Whether final.
        is_final: bool,
        /// All acknowledgements.
        acks: Vec<SubtaskAck>,
    },
    /// Give up checkpoint `id`: tell tasks, delete its files.
    Abort {
        /// Checkpoint id.
        id: u64,
        /// Why.
        reason: AbortReason,
    },
    /// Delete a completed checkpoint that is no longer retained.
    Discard {
        /// Checkpoint id.
        id: u64,
    },
    /// Tell tasks checkpoint `id` is complete (sinks commit).
    NotifyComplete {
        /// Checkpoint id.
        id: u64,
    },
    /// Too many consecutive failures: fail over the job.
    FailJob {
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct Pending {
    trigger_ms: i64,
    is_final: bool,
    acks: BTreeMap<TaskId, SubtaskAck>,
}

/// The coordinator of one job attempt.
#[derive(Debug)]
pub struct Coordinator {
    cfg: CheckpointSettings,
    expected_acks: usize,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    last_trigger_ms: i64,
    last_completion_ms: Option<i64>,
    consecutive_failures: u32,
    retained: VecDeque<u64>,
    final_triggered: bool,
    /// Ids handed to `Complete` whose metadata is being written.
    completing: BTreeMap<u64, bool>,
}

impl Coordinator {
    /// A coordinator expecting `expected_acks` acknowledgements per checkpoint,
    /// whose first checkpoint gets `first_id`. `retained` lists completed
    /// checkpoints this job owns already (oldest first).
    pub fn new(
        cfg: CheckpointSettings,
        expected_acks: usize,
        first_id: u64,
        now_ms: i64,
        retained: Vec<u64>,
    ) -> Self {
        Self {
            cfg,
            expected_acks,
            next_id: first_id.max(1),
            pending: BTreeMap::new(),
            last_trigger_ms: now_ms,
            last_completion_ms: None,
            consecutive_failures: 0,
            retained: retained.into(),
            final_triggered: false,
            completing: BTreeMap::new(),
        }
    }

    /// Checkpoints in flight (including those whose metadata is being written).
    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.completing.len()
    }

    /// Ids of retained completed checkpoints, oldest first.
    pub fn retained(&self) -> impl Iterator<Item = u64> + '_ {
        self.retained.iter().copied()
    }

    fn trigger(&mut self, now_ms: i64, is_final: bool) -> Decision {
        let id = self.next_id;
        self.next_id += 1;
        self.last_trigger_ms = now_ms;
        self.pending.insert(
            id,
            Pending {
                trigger_ms: now_ms,
                is_final,
                acks: BTreeMap::new(),
            },
        );
        Decision::Trigger {
            id,
            trigger_ms: now_ms,
            is_final,
        }
    }

    fn failure(&mut self, id: u64, reason: AbortReason, is_final: bool, out: &mut Vec<Decision>) {
        out.push(Decision::Abort {
            id,
            reason: reason.clone(),
        });
        if is_final {
            out.push(Decision::FailJob {
                reason: format!("the final checkpoint {id} failed: {reason}"),
            });
            return;
        }
        self.consecutive_failures += 1;
        if self.consecutive_failures > self.cfg.tolerable_failed {
            out.push(Decision::FailJob {
                reason: format!(
                    "{} consecutive checkpoint failures exceed execution.checkpointing.tolerable-failed-checkpoints={} (last: checkpoint {id} {reason})",
                    self.consecutive_failures, self.cfg.tolerable_failed
                ),
            });
        }
    }

    /// Periodic step: expire overdue checkpoints and trigger the next one when
    /// the interval, min pause and concurrency limit allow.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Decision> {
        let mut out = Vec::new();
        let timeout = self.cfg.timeout.as_millis() as i64;
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ms - p.trigger_ms >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let p = self.pending.remove(&id).expect("listed above");
            self.failure(id, AbortReason::Expired, p.is_final, &mut out);
        }
        if let Some(interval) = self.cfg.interval {
            let due = now_ms - self.last_trigger_ms >= interval.as_millis() as i64;
            let paused = self
                .last_completion_ms
                .is_some_and(|c| now_ms - c < self.cfg.min_pause.as_millis() as i64);
            if due && !paused && !self.final_triggered && self.in_flight() < self.cfg.max_concurrent
            {
                out.push(self.trigger(now_ms, false));
            }
        }
        out
    }

    /// When [`Self::tick`] has something to do next, if ever: the earliest
    /// expiry of a pending checkpoint, or the time the next periodic one is
    /// due (interval and min pause both passed). `None` while nothing is
    /// pending and no periodic trigger can come without an event first
    /// (checkpointing off, final checkpoint triggered, concurrency full). The
    /// job master sleeps until then unless a task event or command wakes it.
    pub fn next_deadline(&self) -> Option<i64> {
        let timeout = self.cfg.timeout.as_millis() as i64;
        let expiry = self.pending.values().map(|p| p.trigger_ms + timeout).min();
        let trigger = self
            .cfg
            .interval
            .filter(|_| !self.final_triggered && self.in_flight() < self.cfg.max_concurrent)
            .map(|interval| {
                let due = self.last_trigger_ms + interval.as_millis() as i64;
                let unpaused = self
                    .last_completion_ms
                    .map_or(due, |c| c + self.cfg.min_pause.as_millis() as i64);
                due.max(unpaused)
            });
        expiry.into_iter().chain(trigger).min()
    }

    /// Every source is exhausted: trigger the final checkpoint now (ignoring
    /// interval and concurrency) and no periodic one after it.
    pub fn trigger_final(&mut self, now_ms: i64) -> Vec<Decision> {
        if self.final_triggered {
            return Vec::new();
        }
        self.final_triggered = true;
        vec![self.trigger(now_ms, true)]
    }

    /// Triggers a checkpoint now, ignoring interval and concurrency (stop with checkpoint).
    pub fn trigger_now(&mut self, now_ms: i64) -> Vec<Decision> {
        vec![self.trigger(now_ms, false)]
    }

    /// The id the next trigger will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// A task acknowledged checkpoint `ack_id`.
    pub fn on_ack(&mut self, ack_id: u64, ack: SubtaskAck) -> Vec<Decision> {
        let Some(p) = self.pending.get_mut(&ack_id) else {
            return Vec::new(); // aborted or unknown: a late ack is ignored
        };
        p.acks.insert(ack.task, ack);
        if p.acks.len() < self.expected_acks {
            return Vec::new();
        }
        let p = self.pending.remove(&ack_id).expect("present");
        self.completing.insert(ack_id, p.is_final);
        vec![Decision::Complete {
            id: ack_id,
            trigger_ms: p.trigger_ms,
            is_final: p.is_final,
            acks: p.acks.into_values().collect(),
        }]
    }

    /// A task could not take or write its state for checkpoint `id`.
    pub fn on_decline(&mut self, id: u64, reason: String) -> Vec<Decision> {
        let mut out = Vec::new();
        if let Some(p) = self.pending.remove(&id) {
            self.failure(id, AbortReason::Declined(reason), p.is_final, &mut out);
        }
        out
    }

    /// The metadata of `id` is durable: the checkpoint is complete.
    pub fn on_completed(&mut self, id: u64, now_ms: i64) -> Vec<Decision> {
        self.completing.remove(&id);
        self.consecutive_failures = 0;
        self.last_completion_ms = Some(now_ms);
        let mut out = vec![Decision::NotifyComplete { id }];
        // Older pending checkpoints can no longer matter.
        let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
        for old in older {
            self.pending.remove(&old);
            out.push(Decision::Abort {
                id: old,
                reason: AbortReason::Subsumed,
            });
        }
        self.retained.push_back(id);
        while self.retained.len() > self.cfg.num_retained.max(1) {
            let old = self.retained.pop_front().expect("non-empty");
            out.push(Decision::Discard { id: old });
        }
        out
    }

    /// Writing the metadata of `id` failed.
    pub fn on_metadata_failed(&mut self, id: u64, reason: String) -> Vec<Decision> {
        let is_final = self.completing.remove(&id).unwrap_or(false);
        let mut out = Vec::new();
        self.failure(
            id,
            AbortReason::MetadataWriteFailed(reason),
            is_final,
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg() -> CheckpointSettings {
        CheckpointSettings {
            interval: Some(Duration::from_millis(100)),
            timeout: Duration::from_millis(1000),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            tolerable_failed: 0,
            num_retained: 2,
        }
    }

    fn ack(subtask: usize) -> SubtaskAck {
        SubtaskAck {
            task: TaskId { node: 0, subtask },
            handle: None,
            checkpointed_bytes: 0,
            sync_ns: 0,
            async_ns: 0,
            alignment_ns: 0,
            start_delay_ns: 0,
            processed_bytes: 0,
            persisted_bytes: 0,
            unaligned: false,
            ack_ms: 0,
        }
    }

    fn triggered(ds: &[Decision]) -> Vec<u64> {
        ds.iter()
            .filter_map(|d| match d {
                Decision::Trigger { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn completes_after_all_acks_then_retains_and_discards() {
        let mut c = Coordinator::new(cfg(), 2, 1, 0, vec![]);
        assert!(triggered(&c.tick(99)).is_empty());
        assert_eq!(triggered(&c.tick(100)), vec![1]);
        assert!(
            triggered(&c.tick(250)).is_empty(),
            "max concurrent 1 holds the next trigger"
        );
        assert!(c.on_ack(1, ack(0)).is_empty());
        assert!(
            c.on_ack(1, ack(0)).is_empty(),
            "a duplicate ack does not count twice"
        );
        assert!(matches!(
            c.on_ack(1, ack(1))[..],
            [Decision::Complete { id: 1, .. }]
        ));
        let ds = c.on_completed(1, 260);
        assert!(matches!(ds[..], [Decision::NotifyComplete { id: 1 }]));
        for id in 2..=3 {
            assert_eq!(triggered(&c.tick(1000 * id as i64)), vec![id]);
            c.on_ack(id, ack(0));
            c.on_ack(id, ack(1));
            let ds = c.on_completed(id, 1000 * id as i64 + 1);
            let discarded: Vec<u64> = ds
                .iter()
                .filter_map(|d| match d {
                    Decision::Discard { id } => Some(*id),
                    _ => None,
                })
                .collect();
            assert_eq!(discarded, if id == 3 { vec![1] } else { vec![] });
        }
        assert_eq!(c.retained().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn timeout_aborts_and_exceeding_tolerance_fails_the_job() {
        let mut c = Coordinator::new(
            CheckpointSettings {
                tolerable_failed: 1,
                ..cfg()
            },
            1,
            1,
            0,
            vec![],
        );
        c.tick(100);
        let ds = c.tick(1100);
        assert!(matches!(
            &ds[0],
            Decision::Abort {
                id: 1,
                reason: AbortReason::Expired
            }
        ));
        assert!(
            !ds.iter().any(|d| matches!(d, Decision::FailJob { .. })),
            "one failure is tolerated"
        );
        assert_eq!(
            triggered(&ds),
            vec![2],
            "the next checkpoint starts once the slot is free"
        );
        let ds = c.on_decline(2, "disk full".into());
        assert!(
            ds.iter().any(|d| matches!(d, Decision::FailJob { .. })),
            "{ds:?}"
        );
    }

    #[test]
    fn min_pause_delays_the_next_trigger_and_final_ignores_interval() {
        let mut c = Coordinator::new(
            CheckpointSettings {
                min_pause: Duration::from_millis(500),
                ..cfg()
            },
            1,
            7,
            0,
            vec![],
        );
        assert_eq!(triggered(&c.tick(100)), vec![7]);
        c.on_ack(7, ack(0));
        c.on_completed(7, 150);
        assert!(
            triggered(&c.tick(600)).is_empty(),
            "min pause: 150 + 500 > 600"
        );
        assert_eq!(triggered(&c.tick(650)), vec![8]);
        let ds = c.trigger_final(660);
        assert!(matches!(
            ds[..],
            [Decision::Trigger {
                id: 9,
                is_final: true,
                ..
            }]
        ));
        assert!(
            triggered(&c.tick(1500)).is_empty(),
            "nothing after the final checkpoint"
        );
        let ds = c.on_decline(9, "x".into());
        assert!(
            ds.iter().any(|d| matches!(d, Decision::FailJob { .. })),
            "a failed final checkpoint fails the job"
        );
    }

    proptest! {
        /// Under any sequence of ticks, acks, declines and completions: ids are
        /// triggered in increasing order, never more than max_concurrent are in
        /// flight, a checkpoint completes only with every ack, and no more than
        /// num_retained are retained; and a tick does something exactly when
        /// the deadline the coordinator announced before it has passed (the
        /// job master sleeps until that deadline).
        #[test]
        fn invariants(ops in proptest::collection::vec((0u8..4, 0usize..3, 1u64..200), 1..200),
                      max_conc in 1usize..3, retain in 1usize..4, pause in 0u64..300) {
            let settings = CheckpointSettings {
                max_concurrent: max_conc,
                num_retained: retain,
                min_pause: Duration::from_millis(pause),
                ..cfg()
            };
            let mut c = Coordinator::new(settings, 3, 1, 0, vec![]);
            let mut now = 0i64;
            let mut last_trigger = 0u64;
            let mut pending: Vec<u64> = Vec::new();
            for (op, sub, dt) in ops {
                now += dt as i64;
                let ds = match op {
                    0 => {
                        let deadline = c.next_deadline();
                        let ds = c.tick(now);
                        prop_assert_eq!(!ds.is_empty(), deadline.is_some_and(|d| d <= now), "deadline {:?}, now {}", deadline, now);
                        ds
                    }
                    1 => match pending.first() { Some(&id) => c.on_ack(id, ack(sub)), None => vec![] },
                    2 => match pending.last() { Some(&id) => c.on_decline(id, "x".into()), None => vec![] },
                    _ => vec![],
                };
                for d in ds {
                    match d {
                        Decision::Trigger { id, .. } => { prop_assert!(id > last_trigger); last_trigger = id; pending.push(id); }
                        Decision::Complete { id, acks, .. } => {
                            prop_assert_eq!(acks.len(), 3);
                            pending.retain(|p| *p != id);
                            for d2 in c.on_completed(id, now) {
                                if let Decision::Abort { id, .. } = d2 { pending.retain(|p| *p != id); }
                            }
                        }
                        Decision::Abort { id, .. } => pending.retain(|p| *p != id),
                        _ => {}
                    }
                }
                prop_assert!(c.in_flight() <= max_conc);
                prop_assert!(c.retained().count() <= retain);
            }
        }
    }
}
