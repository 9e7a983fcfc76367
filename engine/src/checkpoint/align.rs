//! Barrier alignment for a task with several input channels, as a pure state
//! machine. A channel that delivered the barrier of the pending checkpoint is
//! blocked (its later records belong after the snapshot) until every live
//! channel has delivered it; then the task snapshots and unblocks all.

use crate::message::Barrier;

/// What the task must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlignAction {
    /// Stop reading this channel.
    Block(usize),
    /// Read every channel again.
    UnblockAll,
    /// Every live channel delivered the barrier: snapshot now, then forward it.
    Snapshot(Barrier),
    /// A newer barrier overtook the pending checkpoint, which is given up.
    Abandon(u64),
}

#[derive(Debug)]
struct Pending {
    barrier: Barrier,
    seen: Vec<bool>,
}

/// The alignment state of one task.
#[derive(Debug)]
pub struct Aligner {
    ended: Vec<bool>,
    pending: Option<Pending>,
    /// Highest checkpoint id snapshotted or abandoned; older barriers are stale.
    done_up_to: u64,
}

impl Aligner {
    /// An aligner over `n` input channels.
    pub fn new(n: usize) -> Self {
        Self {
            ended: vec![false; n],
            pending: None,
            done_up_to: 0,
        }
    }

    /// The pending checkpoint, if aligning.
    pub fn pending(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.barrier.id)
    }

    fn complete_if_aligned(&mut self, out: &mut Vec<AlignAction>) {
        let Some(p) = &self.pending else { return };
        if p.seen.iter().zip(&self.ended).all(|(s, e)| *s || *e) {
            let b = p.barrier;
            self.pending = None;
            self.done_up_to = b.id;
            out.push(AlignAction::Snapshot(b));
            out.push(AlignAction::UnblockAll);
        }
    }

    /// A barrier arrived on channel `ch`.
    pub fn on_barrier(&mut self, ch: usize, b: Barrier) -> Vec<AlignAction> {
        let mut out = Vec::new();
        if b.id <= self.done_up_to {
            return out;
        }
        match &self.pending {
            Some(p) if p.barrier.id > b.id => return out,
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
        let p = self.pending.get_or_insert_with(|| Pending {
            barrier: b,
            seen: vec![false; n],
        });
        p.seen[ch] = true;
        self.complete_if_aligned(&mut out);
        if self.pending.is_some() {
            out.push(AlignAction::Block(ch));
        }
        out
    }

    /// Channel `ch` ended: it counts as aligned for every later checkpoint.
    pub fn on_end_of_input(&mut self, ch: usize) -> Vec<AlignAction> {
        self.ended[ch] = true;
        let mut out = Vec::new();
        self.complete_if_aligned(&mut out);
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
        }
    }

    #[test]
    fn blocks_until_all_channels_delivered() {
        let mut a = Aligner::new(3);
        assert_eq!(a.on_barrier(0, b(1)), vec![AlignAction::Block(0)]);
        assert_eq!(a.on_barrier(2, b(1)), vec![AlignAction::Block(2)]);
        assert_eq!(
            a.on_barrier(1, b(1)),
            vec![AlignAction::Snapshot(b(1)), AlignAction::UnblockAll]
        );
        assert_eq!(a.on_barrier(0, b(1)), vec![], "a stale barrier is ignored");
    }

    #[test]
    fn ended_channels_count_as_aligned_and_newer_barriers_abandon() {
        let mut a = Aligner::new(2);
        a.on_barrier(0, b(1));
        assert_eq!(
            a.on_end_of_input(1),
            vec![AlignAction::Snapshot(b(1)), AlignAction::UnblockAll]
        );
        let mut a = Aligner::new(2);
        a.on_barrier(0, b(1));
        assert_eq!(
            a.on_barrier(1, b(2)),
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

    /// One channel's messages: barriers 1..=k in order, possibly ending early.
    fn channel_script() -> impl Strategy<Value = (usize, bool)> {
        (0usize..5, any::<bool>())
    }

    proptest! {
        /// Whatever the interleaving a scheduler picks among unblocked channels:
        /// a blocked channel is never read, every checkpoint delivered by all
        /// live channels is snapshotted exactly once and in order, a snapshot
        /// happens only after every live channel delivered its barrier, and
        /// alignment never deadlocks.
        #[test]
        fn alignment_is_safe_and_live(
            chans in proptest::collection::vec(channel_script(), 1..5),
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
            let mut a = Aligner::new(n);
            let mut picks = picks.into_iter();
            loop {
                let ready: Vec<usize> = (0..n).filter(|&c| !blocked[c] && pos[c] < scripts[c].len()).collect();
                if ready.is_empty() { break; }
                let c = match picks.next() { Some(ix) => ready[ix.index(ready.len())], None => ready[0] };
                let msg = scripts[c][pos[c]];
                pos[c] += 1;
                let actions = match msg {
                    Some(id) => { delivered[c].push(id); a.on_barrier(c, b(id)) }
                    None => a.on_end_of_input(c),
                };
                for act in actions {
                    match act {
                        AlignAction::Block(ch) => blocked[ch] = true,
                        AlignAction::UnblockAll => blocked.iter_mut().for_each(|x| *x = false),
                        AlignAction::Snapshot(bar) => {
                            for ch in 0..n {
                                let ended = pos[ch] == scripts[ch].len();
                                prop_assert!(ended || delivered[ch].contains(&bar.id),
                                    "snapshot {} before channel {} delivered it", bar.id, ch);
                            }
                            snaps.push(bar.id);
                        }
                        AlignAction::Abandon(_) => prop_assert!(false, "no abandon without aborts or skipped ids"),
                    }
                }
            }
            prop_assert!(pos.iter().zip(&scripts).all(|(p, s)| *p == s.len()), "deadlock: channels left blocked");
            // Ids that at least one channel delivered: each must be snapshotted once, in order.
            let max_last = scripts.iter().map(|s| s.len() as u64 - 1).max().unwrap_or(0);
            let expected: Vec<u64> = (1..=max_last).collect();
            prop_assert_eq!(snaps, expected);
        }
    }
}
