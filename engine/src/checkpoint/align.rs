//! Barrier alignment for a task with several input channels, as a pure state
//! machine covering Flink's three ways of taking a checkpoint.
//!
//! - **Aligned** (EXACTLY_ONCE): a channel that delivered the barrier of the
//!   pending checkpoint is blocked (its later records belong after the
//!   snapshot) until every live channel delivered it; then the task snapshots
//!   and unblocks all. AT_LEAST_ONCE is the same without blocking.
//! - **Unaligned**: the task snapshots at the first sign of the checkpoint and
//!   blocks nothing. The records that were sent before the barrier on a channel
//!   but are processed after the snapshot are *in-flight data*: the task
//!   records them until the channel's barrier (or the upstream's
//!   [`Message::PersistedFrom`](crate::message::Message) mark, after which the
//!   upstream persisted its own queued output) arrives. An upstream that
//!   snapshotted *announces* the barrier on a priority lane that overtakes the
//!   queued records; from then on the task may *drain* that channel (move what
//!   it holds into a local queue, recording it) instead of waiting to process it.
//! - **Aligned with a timeout** (`aligned-checkpoint-timeout`): aligned until
//!   the checkpoint is older than the timeout, then switches to unaligned.
//!
//! The task carries out the [`AlignAction`]s; it asks [`Aligner::recording`]
//! whether a record it reads from a channel belongs to the in-flight data.

use crate::message::Barrier;

/// How this task takes checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlignMode {
    /// Wait for the barrier on every channel; `block` (EXACTLY_ONCE) stops
    /// reading the channels that delivered it meanwhile.
    Aligned {
        /// Whether channels are blocked during alignment.
        block: bool,
    },
    /// Unaligned once the checkpoint is `timeout_ms` old (0: at once).
    Unaligned {
        /// `execution.checkpointing.aligned-checkpoint-timeout`, ms.
        timeout_ms: i64,
    },
}

impl AlignMode {
    /// Whether snapshotting tasks announce barriers on the priority lane.
    pub fn announces(self) -> bool {
        matches!(self, AlignMode::Unaligned { .. })
    }

    /// Whether checkpoint `b` is taken unaligned at `now_ms`: never for the
    /// final checkpoint, whose barrier follows the last record. Records it
    /// overtook would be processed after the snapshot and, as tasks then
    /// end, committed by the sinks' end of input while the checkpoint also
    /// holds them as in-flight data: a restore would write them twice.
    pub fn unaligned_for(self, b: &Barrier, now_ms: i64) -> bool {
        match self.timeout_ms(b) {
            Some(timeout_ms) => now_ms >= b.trigger_ms.saturating_add(timeout_ms),
            None => false,
        }
    }

    /// After how long `b` turns unaligned, if it may.
    fn timeout_ms(self, b: &Barrier) -> Option<i64> {
        match self {
            AlignMode::Unaligned { timeout_ms } if !b.is_final => Some(timeout_ms),
            _ => None,
        }
    }
}

/// What the task must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlignAction {
    /// Stop reading this channel.
    Block(usize),
    /// Read every channel again.
    UnblockAll,
    /// Snapshot now, then forward the barrier. When `unaligned`, the channels
    /// for which [`Aligner::recording`] holds have in-flight data to record.
    Snapshot {
        /// The checkpoint.
        barrier: Barrier,
        /// Whether the snapshot was taken before every channel delivered the barrier.
        unaligned: bool,
    },
    /// The channel's upstream snapshotted: move what the channel holds, up to
    /// its barrier, into the local queue, recording it as in-flight data.
    Drain(usize),
    /// The in-flight data of this (unaligned) checkpoint is complete.
    ChannelStateDone(u64),
    /// A newer barrier overtook the pending checkpoint, which is given up.
    Abandon(u64),
}

#[derive(Debug)]
struct Pending {
    barrier: Barrier,
    /// The channel delivered its barrier (or its upstream's persisted mark).
    done: Vec<bool>,
    /// The channel's upstream announced the barrier on the priority lane.
    announced: Vec<bool>,
    /// Snapshotted unaligned; waiting for the in-flight data.
    recording: bool,
}

/// The alignment state of one task.
#[derive(Debug)]
pub struct Aligner {
    mode: AlignMode,
    ended: Vec<bool>,
    pending: Option<Pending>,
    /// Highest checkpoint id snapshotted or abandoned; older barriers are stale.
    done_up_to: u64,
}

impl Aligner {
    /// An aligner over `n` input channels.
    pub fn new(n: usize, mode: AlignMode) -> Self {
        Self {
            mode,
            ended: vec![false; n],
            pending: None,
            done_up_to: 0,
        }
    }

    /// The pending checkpoint, if aligning or recording in-flight data.
    pub fn pending(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.barrier.id)
    }

    /// Whether the pending checkpoint is still aligning (not yet snapshotted).
    pub fn aligning(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| !p.recording)
    }

    /// Whether records read now from channel `ch` are in-flight data of the
    /// pending unaligned checkpoint.
    pub fn recording(&self, ch: usize) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.recording && !p.done[ch] && !self.ended[ch])
    }

    /// Whether channel `ch` should be drained (see [`AlignAction::Drain`]).
    pub fn draining(&self, ch: usize) -> bool {
        self.recording(ch) && self.pending.as_ref().is_some_and(|p| p.announced[ch])
    }

    /// When (ms since the epoch) the pending alignment turns unaligned.
    pub fn deadline(&self) -> Option<i64> {
        let p = self.pending.as_ref().filter(|p| !p.recording)?;
        let timeout_ms = self.mode.timeout_ms(&p.barrier)?;
        Some(p.barrier.trigger_ms.saturating_add(timeout_ms))
    }

    /// Starts tracking `b` unless it is stale; abandons an older pending one.
    fn begin(&mut self, b: Barrier, out: &mut Vec<AlignAction>) -> bool {
        if b.id <= self.done_up_to {
            return false;
        }
        match &self.pending {
            Some(p) if p.barrier.id > b.id => return false,
            Some(p) if p.barrier.id < b.id => {
                let old = p.barrier.id;
                self.done_up_to = old;
                self.pending = None;
                out.push(AlignAction::Abandon(old));
                out.push(AlignAction::UnblockAll);
            }
            _ => {}
        }
        let n = self.ended.len();
        self.pending.get_or_insert_with(|| Pending {
            barrier: b,
            done: vec![false; n],
            announced: vec![false; n],
            recording: false,
        });
        true
    }

    fn switch_to_unaligned(&mut self, out: &mut Vec<AlignAction>) {
        let Some(p) = &mut self.pending else { return };
        p.recording = true;
        out.push(AlignAction::Snapshot {
            barrier: p.barrier,
            unaligned: true,
        });
        out.push(AlignAction::UnblockAll);
        for ch in 0..self.ended.len() {
            if p.announced[ch] && !p.done[ch] && !self.ended[ch] {
                out.push(AlignAction::Drain(ch));
            }
        }
    }

    /// Snapshots, switches or completes the pending checkpoint if it can.
    fn progress(&mut self, now_ms: i64, out: &mut Vec<AlignAction>) {
        let Some(p) = &self.pending else { return };
        let all = p.done.iter().zip(&self.ended).all(|(d, e)| *d || *e);
        let id = p.barrier.id;
        if p.recording {
            if all {
                self.pending = None;
                self.done_up_to = id;
                out.push(AlignAction::ChannelStateDone(id));
            }
        } else if all {
            let b = p.barrier;
            self.pending = None;
            self.done_up_to = id;
            out.push(AlignAction::Snapshot {
                barrier: b,
                unaligned: false,
            });
            out.push(AlignAction::UnblockAll);
        } else if self.deadline().is_some_and(|d| now_ms >= d) {
            self.switch_to_unaligned(out);
        }
    }

    /// The in-band barrier arrived on channel `ch`.
    pub fn on_barrier(&mut self, ch: usize, b: Barrier, now_ms: i64) -> Vec<AlignAction> {
        let mut out = Vec::new();
        if !self.begin(b, &mut out) {
            return out;
        }
        if let Some(p) = &mut self.pending {
            p.done[ch] = true;
        }
        self.progress(now_ms, &mut out);
        let block = matches!(self.mode, AlignMode::Aligned { block: true })
            || matches!(self.mode, AlignMode::Unaligned { .. });
        if block && self.aligning() && self.pending() == Some(b.id) {
            out.push(AlignAction::Block(ch));
        }
        out
    }

    /// The upstream of channel `ch` announced `b` on the priority lane.
    pub fn on_announce(&mut self, ch: usize, b: Barrier, now_ms: i64) -> Vec<AlignAction> {
        let mut out = Vec::new();
        if !self.begin(b, &mut out) {
            return out;
        }
        let Some(p) = &mut self.pending else {
            return out;
        };
        if p.done[ch] || p.announced[ch] {
            return out;
        }
        p.announced[ch] = true;
        if p.recording && !self.ended[ch] {
            out.push(AlignAction::Drain(ch));
        }
        self.progress(now_ms, &mut out);
        out
    }

    /// The upstream of channel `ch` persisted the records that follow, up to
    /// the barrier of `b`, itself: the checkpoint is unaligned from here.
    pub fn on_persisted_from(&mut self, ch: usize, b: Barrier, now_ms: i64) -> Vec<AlignAction> {
        let mut out = Vec::new();
        if !self.begin(b, &mut out) {
            return out;
        }
        if self.aligning() {
            self.switch_to_unaligned(&mut out);
        }
        if let Some(p) = &mut self.pending {
            p.done[ch] = true;
        }
        self.progress(now_ms, &mut out);
        out
    }

    /// Time passed: an alignment past its timeout turns unaligned.
    pub fn on_time(&mut self, now_ms: i64) -> Vec<AlignAction> {
        let mut out = Vec::new();
        self.progress(now_ms, &mut out);
        out
    }

    /// Channel `ch` ended: it counts as aligned for every later checkpoint.
    pub fn on_end_of_input(&mut self, ch: usize, now_ms: i64) -> Vec<AlignAction> {
        self.ended[ch] = true;
        let mut out = Vec::new();
        self.progress(now_ms, &mut out);
        out
    }

    /// The coordinator aborted checkpoint `id`.
    pub fn on_abort(&mut self, id: u64) -> Vec<AlignAction> {
        if self.pending() == Some(id) {
            self.pending = None;
            self.done_up_to = self.done_up_to.max(id);
            return vec![AlignAction::Abandon(id), AlignAction::UnblockAll];
        }
        self.done_up_to = self.done_up_to.max(id);
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(id: u64) -> Barrier {
        Barrier {
            id,
            trigger_ms: 0,
            is_final: false,
            savepoint: false,
            drain: false,
        }
    }

    fn snap(id: u64, unaligned: bool) -> AlignAction {
        AlignAction::Snapshot {
            barrier: b(id),
            unaligned,
        }
    }

    const ALIGNED: AlignMode = AlignMode::Aligned { block: true };

    #[test]
    fn blocks_until_all_channels_delivered() {
        let mut a = Aligner::new(3, ALIGNED);
        assert_eq!(a.on_barrier(0, b(1), 0), vec![AlignAction::Block(0)]);
        assert_eq!(a.on_barrier(2, b(1), 0), vec![AlignAction::Block(2)]);
        assert_eq!(
            a.on_barrier(1, b(1), 0),
            vec![snap(1, false), AlignAction::UnblockAll]
        );
        assert_eq!(
            a.on_barrier(0, b(1), 0),
            vec![],
            "a stale barrier is ignored"
        );
    }

    #[test]
    fn at_least_once_never_blocks() {
        let mut a = Aligner::new(2, AlignMode::Aligned { block: false });
        assert_eq!(a.on_barrier(0, b(1), 0), vec![]);
        assert_eq!(
            a.on_barrier(1, b(1), 0),
            vec![snap(1, false), AlignAction::UnblockAll]
        );
    }

    #[test]
    fn ended_channels_count_as_aligned_and_newer_barriers_abandon() {
        let mut a = Aligner::new(2, ALIGNED);
        a.on_barrier(0, b(1), 0);
        assert_eq!(
            a.on_end_of_input(1, 0),
            vec![snap(1, false), AlignAction::UnblockAll]
        );
        let mut a = Aligner::new(2, ALIGNED);
        a.on_barrier(0, b(1), 0);
        assert_eq!(
            a.on_barrier(1, b(2), 0),
            vec![
                AlignAction::Abandon(1),
                AlignAction::UnblockAll,
                AlignAction::Block(1)
            ]
        );
        assert_eq!(
            a.on_abort(2),
            vec![AlignAction::Abandon(2), AlignAction::UnblockAll]
        );
    }

    #[test]
    fn unaligned_snapshots_at_the_first_announcement_and_drains_announced_channels() {
        let mut a = Aligner::new(2, AlignMode::Unaligned { timeout_ms: 0 });
        assert_eq!(
            a.on_announce(1, b(1), 0),
            vec![
                snap(1, true),
                AlignAction::UnblockAll,
                AlignAction::Drain(1)
            ]
        );
        assert!(a.recording(0) && a.recording(1) && !a.draining(0) && a.draining(1));
        assert_eq!(a.on_barrier(1, b(1), 0), vec![]);
        assert!(!a.recording(1));
        assert_eq!(a.on_announce(0, b(1), 0), vec![AlignAction::Drain(0)]);
        assert_eq!(
            a.on_persisted_from(0, b(1), 0),
            vec![AlignAction::ChannelStateDone(1)]
        );
        assert_eq!(a.on_barrier(0, b(1), 0), vec![], "after its persisted mark");
    }

    #[test]
    fn the_final_checkpoint_is_aligned_whatever_the_mode() {
        let mode = AlignMode::Unaligned { timeout_ms: 0 };
        let last = Barrier {
            is_final: true,
            ..b(1)
        };
        assert!(mode.unaligned_for(&b(1), 0));
        assert!(!mode.unaligned_for(&last, 1_000_000));
        let mut a = Aligner::new(2, mode);
        assert_eq!(
            a.on_announce(1, last, 0),
            vec![],
            "no snapshot before every barrier"
        );
        assert_eq!(a.on_barrier(1, last, 0), vec![AlignAction::Block(1)]);
        assert_eq!(a.deadline(), None);
        assert_eq!(a.on_time(1_000_000), vec![]);
        assert!(!a.recording(0));
        assert_eq!(
            a.on_barrier(0, last, 1_000_000),
            vec![
                AlignAction::Snapshot {
                    barrier: last,
                    unaligned: false
                },
                AlignAction::UnblockAll
            ]
        );
    }

    #[test]
    fn alignment_times_out_into_unaligned() {
        let mut a = Aligner::new(2, AlignMode::Unaligned { timeout_ms: 100 });
        let t = Barrier {
            trigger_ms: 1_000,
            ..b(1)
        };
        assert_eq!(a.on_announce(0, t, 1_010), vec![]);
        assert_eq!(a.on_barrier(0, t, 1_020), vec![AlignAction::Block(0)]);
        assert_eq!(a.deadline(), Some(1_100));
        assert_eq!(a.on_time(1_099), vec![]);
        assert_eq!(
            a.on_time(1_100),
            vec![
                AlignAction::Snapshot {
                    barrier: t,
                    unaligned: true
                },
                AlignAction::UnblockAll
            ]
        );
        assert!(!a.recording(0) && a.recording(1) && !a.draining(1));
        assert_eq!(a.on_announce(1, t, 1_200), vec![AlignAction::Drain(1)]);
        assert_eq!(
            a.on_barrier(1, t, 1_200),
            vec![AlignAction::ChannelStateDone(1)]
        );
        // An upstream that persisted its queue switches an aligning task at once.
        let mut a = Aligner::new(2, AlignMode::Unaligned { timeout_ms: 100 });
        assert_eq!(
            a.on_persisted_from(1, t, 1_001),
            vec![
                AlignAction::Snapshot {
                    barrier: t,
                    unaligned: true
                },
                AlignAction::UnblockAll
            ]
        );
        assert!(a.recording(0) && !a.recording(1));
    }

    /// One channel's script: records before the barrier, whether the upstream
    /// persisted a tail of them itself (and how long), and records after.
    fn channel_script() -> impl Strategy<Value = (usize, Option<usize>, usize)> {
        (0usize..6, proptest::option::of(0usize..4), 0usize..3)
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Msg {
        Rec(usize),
        Persisted,
        Barrier,
    }

    proptest! {
        /// Whatever the interleaving a scheduler picks among unblocked channels:
        /// a blocked channel is never read, every checkpoint delivered by all
        /// live channels is snapshotted exactly once and in order, a snapshot
        /// happens only after every live channel delivered its barrier, and
        /// alignment never deadlocks.
        #[test]
        fn alignment_is_safe_and_live(
            chans in proptest::collection::vec((0usize..5, any::<bool>()), 1..5),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..200),
        ) {
            let n = chans.len();
            let k = 4u64;
            // Every channel delivers barriers 1..=k, except one that ends after `cut`.
            let scripts: Vec<Vec<Option<u64>>> = chans.iter().map(|&(cut, ends_early)| {
                let last = if ends_early { (cut as u64).min(k) } else { k };
                let mut s: Vec<Option<u64>> = (1..=last).map(Some).collect();
                s.push(None); // end of input
                s
            }).collect();
            let mut pos = vec![0usize; n];
            let mut blocked = vec![false; n];
            let mut delivered: Vec<Vec<u64>> = vec![Vec::new(); n];
            let mut snaps = Vec::new();
            let mut a = Aligner::new(n, ALIGNED);
            let mut picks = picks.into_iter();
            loop {
                let ready: Vec<usize> = (0..n).filter(|&c| !blocked[c] && pos[c] < scripts[c].len()).collect();
                if ready.is_empty() { break; }
                let c = match picks.next() { Some(ix) => ready[ix.index(ready.len())], None => ready[0] };
                let msg = scripts[c][pos[c]];
                pos[c] += 1;
                let actions = match msg {
                    Some(id) => { delivered[c].push(id); a.on_barrier(c, b(id), 0) }
                    None => a.on_end_of_input(c, 0),
                };
                for act in actions {
                    match act {
                        AlignAction::Block(ch) => blocked[ch] = true,
                        AlignAction::UnblockAll => blocked.iter_mut().for_each(|x| *x = false),
                        AlignAction::Snapshot { barrier: bar, unaligned } => {
                            prop_assert!(!unaligned);
                            for ch in 0..n {
                                let ended = pos[ch] == scripts[ch].len();
                                prop_assert!(ended || delivered[ch].contains(&bar.id),
                                    "snapshot {} before channel {} delivered it", bar.id, ch);
                            }
                            snaps.push(bar.id);
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
            }
            prop_assert!(pos.iter().zip(&scripts).all(|(p, s)| *p == s.len()), "deadlock: channels left blocked");
            // Ids that at least one channel delivered: each must be snapshotted once, in order.
            let max_last = scripts.iter().map(|s| s.len() as u64 - 1).max().unwrap_or(0);
            let expected: Vec<u64> = (1..=max_last).collect();
            prop_assert_eq!(snaps, expected);
        }

        /// Unaligned and timed-out checkpoints lose and duplicate nothing:
        /// every record sent before a channel's barrier is, exactly once,
        /// either processed before the snapshot, recorded as in-flight data,
        /// or persisted by the upstream; and the checkpoint always completes.
        #[test]
        fn unaligned_in_flight_data_is_exact(
            chans in proptest::collection::vec(channel_script(), 1..4),
            timeout in prop_oneof![Just(0i64), Just(50i64), Just(i64::MAX / 2)],
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..300),
        ) {
            let n = chans.len();
            let bar = b(1);
            let mut queues: Vec<std::collections::VecDeque<Msg>> = Vec::new();
            let mut expected: Vec<Vec<usize>> = Vec::new();
            for &(pre, persisted, post) in &chans {
                let mut q = std::collections::VecDeque::new();
                let cut = persisted.map(|p| pre.saturating_sub(p));
                for r in 0..pre {
                    if cut == Some(r) { q.push_back(Msg::Persisted); }
                    q.push_back(Msg::Rec(r));
                }
                if cut == Some(pre) { q.push_back(Msg::Persisted); }
                q.push_back(Msg::Barrier);
                for r in pre..pre + post { q.push_back(Msg::Rec(r)); }
                queues.push(q);
                expected.push((0..cut.unwrap_or(pre)).collect());
            }
            let mut local: Vec<std::collections::VecDeque<Msg>> = vec![Default::default(); n];
            let mut announced = vec![false; n];
            let mut blocked = vec![false; n];
            let mut processed: Vec<Vec<usize>> = vec![Vec::new(); n];
            let mut at_snapshot: Option<Vec<Vec<usize>>> = None;
            let mut recorded: Vec<Vec<usize>> = vec![Vec::new(); n];
            let mut complete = false;
            let mut now = 0i64;
            let mut a = Aligner::new(n, AlignMode::Unaligned { timeout_ms: timeout });
            let mut picks = picks.into_iter();
            let mut steps = 0;
            while !complete && steps < 10_000 {
                steps += 1;
                // Choices: read channel c (local first), announce c, or let time pass.
                let mut choices: Vec<(u8, usize)> = Vec::new();
                for c in 0..n {
                    if !blocked[c] && (!local[c].is_empty() || !queues[c].is_empty()) { choices.push((0, c)); }
                    if !announced[c] { choices.push((1, c)); }
                }
                choices.push((2, 0));
                let (kind, c) = match picks.next() { Some(ix) => choices[ix.index(choices.len())], None => choices[0] };
                let mut acts = match kind {
                    0 => {
                        let from_local = !local[c].is_empty();
                        let m = if from_local { local[c].pop_front() } else { queues[c].pop_front() };
                        match m.unwrap() {
                            Msg::Rec(r) => {
                                if !from_local && a.recording(c) { recorded[c].push(r); }
                                processed[c].push(r);
                                Vec::new()
                            }
                            Msg::Persisted => a.on_persisted_from(c, bar, now),
                            Msg::Barrier => a.on_barrier(c, bar, now),
                        }
                    }
                    1 => {
                        // The upstream announces only after sending its barrier:
                        // true from the start in this model.
                        announced[c] = true;
                        a.on_announce(c, bar, now)
                    }
                    _ => { now += 30; a.on_time(now) }
                };
                while let Some(act) = (!acts.is_empty()).then(|| acts.remove(0)) {
                    match act {
                        AlignAction::Block(ch) => blocked[ch] = true,
                        AlignAction::UnblockAll => blocked.iter_mut().for_each(|x| *x = false),
                        AlignAction::Snapshot { unaligned, .. } => {
                            prop_assert!(at_snapshot.is_none(), "snapshotted twice");
                            at_snapshot = Some(processed.clone());
                            if unaligned {
                                for ch in 0..n {
                                    if a.recording(ch) {
                                        for m in &local[ch] { if let Msg::Rec(r) = m { recorded[ch].push(*r); } }
                                    }
                                }
                            } else {
                                complete = true;
                            }
                        }
                        AlignAction::Drain(ch) => {
                            while a.draining(ch) {
                                let Some(m) = queues[ch].pop_front() else { break };
                                match m {
                                    Msg::Rec(r) => { recorded[ch].push(r); local[ch].push_back(m); }
                                    Msg::Persisted => acts.extend(a.on_persisted_from(ch, bar, now)),
                                    Msg::Barrier => acts.extend(a.on_barrier(ch, bar, now)),
                                }
                            }
                        }
                        AlignAction::ChannelStateDone(_) => complete = true,
                        AlignAction::Abandon(_) => prop_assert!(false, "nothing to abandon"),
                    }
                }
            }
            prop_assert!(complete, "the checkpoint never completed");
            let before = at_snapshot.unwrap();
            for c in 0..n {
                let mut got = before[c].clone();
                got.extend(&recorded[c]);
                prop_assert_eq!(&got, &expected[c], "channel {}", c);
            }
        }
    }
}
