//! What the generators share: a subtask's progress through the job's records.
//!
//! The job's record sequence is cut into `S` splits (`S` is
//! `pipeline.max-parallelism`, as key groups are): split `j` holds the records
//! `j, j+S, j+2S, …`. Subtask `s` of `p` owns the splits `j ≡ s (mod p)` and
//! emits their records in index order. Its position is how many records each
//! owned split has produced, so a restore continues exactly where a checkpoint
//! was taken, and a restore at another parallelism hands every split, with
//! its progress, to the subtask that owns it now (Flink's split reassignment).
//! With a bounded total each split produces its share; with a rate a subtask
//! produces its splits' share of it (measured from when it opened or
//! restored, or from a wall-clock origin kept across restarts, so that a
//! restored job finds a backlog); records with an index below `warmup` are
//! not rate-limited.

use super::Poll;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The longest a paced generator waits for a whole batch to be due: at
/// rates where a batch takes longer, it emits what is due.
const FULL_BATCH_WAIT: Duration = Duration::from_millis(5);

/// One generator subtask's progress.
#[derive(Debug)]
pub struct Pacing {
    events: Option<u64>,
    job_rate: u64,
    warmup: u64,
    subtask: u64,
    /// Number of splits (`S`).
    splits: u64,
    /// Owned splits, ascending, and how many records each has produced.
    owned: Vec<(u64, u64)>,
    /// When every owned split before `cursor` has produced `round + 1`
    /// records and every other `round`, the next index is found without a
    /// search (the normal case; a rescaled restore may break it for a while).
    lockstep: Option<(u64, usize)>,
    rate: f64,
    started: Instant,
    produced: u64,
    produced_at_start: u64,
    /// Wall-clock ms since the epoch the rate is kept against, across
    /// restarts (`None`: from each open or restore).
    origin_ms: Option<i64>,
}

impl Pacing {
    /// `events` for the whole job (`None`: unbounded), `rate` records per
    /// second for the whole job (0: as fast as possible), records below index
    /// `warmup` unlimited.
    pub fn new(events: Option<u64>, rate: u64, warmup: u64) -> Self {
        Self {
            events,
            job_rate: rate,
            warmup,
            subtask: 0,
            splits: 1,
            owned: vec![(0, 0)],
            lockstep: Some((0, 0)),
            rate: 0.0,
            started: Instant::now(),
            produced: 0,
            produced_at_start: 0,
            origin_ms: None,
        }
    }

    /// Keeps the rate against the wall clock from `origin_ms` (ms since the
    /// epoch), across restarts: after a restore the records that came due
    /// while the job was down are due at once, as a log whose producers kept
    /// writing serves them, and the job has a backlog to catch up on.
    pub fn with_origin(mut self, origin_ms: Option<i64>) -> Self {
        self.origin_ms = origin_ms;
        self
    }

    /// Takes this subtask's coordinates and its splits.
    pub fn open(&mut self, info: &SubtaskInfo) {
        let p = info.parallelism.max(1) as u64;
        self.subtask = info.index as u64;
        self.splits = u64::from(info.max_parallelism).max(p);
        self.owned = (self.subtask..self.splits)
            .step_by(p as usize)
            .map(|j| (j, 0))
            .collect();
        self.lockstep = Some((0, 0));
        self.rate = self.job_rate as f64 * self.owned.len() as f64 / self.splits as f64;
        self.started = Instant::now();
    }

    /// Continues from the positions of every subtask of the checkpointed run
    /// (from [`Pacing::position`]), whatever its parallelism: each owned split
    /// resumes where its last owner left it. `what` names the source in errors.
    pub fn restore(&mut self, positions: &[&[u8]], what: &str) -> Result<()> {
        let mut progress: BTreeMap<u64, u64> = BTreeMap::new();
        for p in positions {
            let (splits, list): (u64, Vec<(u64, u64)>) = bincode::deserialize(p).map_err(|e| {
                Error::Checkpoint(format!(
                    "{what} position ({} bytes) is not a split list: {e}",
                    p.len()
                ))
            })?;
            if splits != self.splits {
                return Err(Error::Checkpoint(format!(
                    "{what} was checkpointed with {splits} splits (pipeline.max-parallelism), this job has {}: set pipeline.max-parallelism={splits}",
                    self.splits
                )));
            }
            for (j, n) in list {
                if progress.insert(j, n).is_some() {
                    return Err(Error::Checkpoint(format!(
                        "{what} split {j} appears in two positions of the checkpoint"
                    )));
                }
            }
        }
        for (j, n) in &mut self.owned {
            *n = progress.get(j).copied().unwrap_or(0);
        }
        self.lockstep = self.find_lockstep();
        self.produced = self.owned.iter().map(|(_, n)| n).sum();
        self.produced_at_start = self.produced;
        self.started = Instant::now();
        Ok(())
    }

    /// The position after the last record produced: the split count and
    /// each owned split's progress.
    pub fn position(&self) -> Vec<u8> {
        let list = self.progress();
        bincode::serialize(&(self.splits, list)).expect("a split list serialises")
    }

    /// Each owned split's progress, whichever mode tracks it.
    fn progress(&self) -> Vec<(u64, u64)> {
        match self.lockstep {
            Some((round, cursor)) => self
                .owned
                .iter()
                .enumerate()
                .map(|(i, (j, _))| (*j, round + u64::from(i < cursor)))
                .collect(),
            None => self.owned.clone(),
        }
    }

    /// The lockstep form of the owned splits' progress, if they have one.
    fn find_lockstep(&self) -> Option<(u64, usize)> {
        let first = self.owned.first()?.1;
        let cursor = self.owned.iter().take_while(|(_, n)| *n == first).count();
        if cursor == self.owned.len() {
            return Some((first, 0));
        }
        let round = first.checked_sub(1)?;
        self.owned[cursor..]
            .iter()
            .all(|(_, n)| *n == round)
            .then_some((round, cursor))
    }

    /// The next record's index, and where it comes from (a cursor in
    /// lockstep, else the owned split's slot), or `None` if every owned split
    /// is done.
    #[inline]
    fn next_index(&self) -> Option<(u64, usize)> {
        let done = |i: u64| self.events.is_some_and(|n| i >= n);
        match self.lockstep {
            Some((round, cursor)) => {
                let (j, _) = self.owned.get(cursor)?;
                let i = j + round * self.splits;
                // Splits are ascending: past the end here, past it for the rest.
                (!done(i)).then_some((i, cursor))
            }
            None => self
                .owned
                .iter()
                .enumerate()
                .map(|(slot, (j, n))| (j + n * self.splits, slot))
                .filter(|(i, _)| !done(*i))
                .min(),
        }
    }

    /// Counts the record of owned slot `at` as produced (outside lockstep).
    fn advance(&mut self, at: usize) {
        self.owned[at].1 += 1;
        self.produced += 1;
    }

    /// How many records to produce now (at most `max`), or what `poll` returns instead.
    fn next_batch(&mut self, max: usize) -> std::result::Result<u64, Poll> {
        if self.lockstep.is_none() {
            // Caught up after an uneven hand-over: back to the fast path.
            self.lockstep = self.find_lockstep();
        }
        let Some((next, _)) = self.next_index() else {
            return Err(Poll::Finished);
        };
        let n = max as u64;
        // Records below the warm-up index are not rate-limited; the rate starts after them.
        if next < self.warmup {
            self.started = Instant::now();
            self.produced_at_start = self.produced + n;
            return Ok(n);
        }
        if self.rate > 0.0 {
            let (elapsed, done) = match self.origin_ms {
                Some(origin) => (
                    (crate::operator::now_ms() - origin).max(0) as f64 / 1000.0,
                    self.produced,
                ),
                None => (
                    self.started.elapsed().as_secs_f64(),
                    self.produced - self.produced_at_start,
                ),
            };
            let allowed = (elapsed * self.rate) as u64;
            let ready = allowed.saturating_sub(done);
            // Until when the record `done + k` is due.
            let until = |k: u64| {
                Duration::from_secs_f64(((done + k) as f64 / self.rate - elapsed).max(0.0005))
            };
            if ready == 0 {
                return Err(Poll::Pending(Some(until(1))));
            }
            // A fast rate emits whole batches: waiting (idle) for a batch due
            // within FULL_BATCH_WAIT, rather than spinning on the few records
            // due each instant, whose cost per record would make the subtask
            // look busy all the time at a fraction of its speed.
            if ready < n && until(n) <= FULL_BATCH_WAIT {
                return Err(Poll::Pending(Some(until(n))));
            }
            return Ok(n.min(ready));
        }
        Ok(n)
    }

    /// One `poll`: appends up to `max` records, `make(job-wide index)` each,
    /// within the splits' share and the rate; `before` runs once before a batch.
    pub fn fill<T>(
        &mut self,
        out: &mut Vec<T>,
        max: usize,
        before: impl FnOnce(u64),
        mut make: impl FnMut(u64) -> T,
    ) -> Poll {
        let n = match self.next_batch(max) {
            Ok(n) => n,
            Err(p) => return p,
        };
        before(self.subtask);
        match self.lockstep {
            // The hot path: the owned splits in order, round after round.
            Some((mut round, mut cursor)) => {
                let end = self.events.unwrap_or(u64::MAX);
                let mut made = 0;
                'batch: while made < n {
                    let base = round * self.splits;
                    for (j, _) in &self.owned[cursor..] {
                        let i = j + base;
                        if i >= end || made == n {
                            break 'batch;
                        }
                        out.push(make(i));
                        cursor += 1;
                        made += 1;
                    }
                    cursor = 0;
                    round += 1;
                }
                self.lockstep = Some((round, cursor));
                self.produced += made;
            }
            None => {
                for _ in 0..n {
                    let Some((i, at)) = self.next_index() else {
                        break;
                    };
                    out.push(make(i));
                    self.advance(at);
                }
            }
        }
        Poll::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn info(index: usize, parallelism: usize) -> SubtaskInfo {
        SubtaskInfo {
            job_name: "j".into(),
            job_id: "i".into(),
            vertex: "v".into(),
            uid: "u".into(),
            index,
            parallelism,
            max_parallelism: 8,
            attempt: 0,
            backend: Default::default(),
        }
    }

    /// Runs `p` subtasks from `positions` until each has produced `take`
    /// more (or finished); returns what they produced and their positions.
    fn run(
        p: usize,
        positions: &[Vec<u8>],
        take: usize,
        events: u64,
    ) -> (Vec<Vec<u64>>, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let mut pos = Vec::new();
        for s in 0..p {
            let mut g = Pacing::new(Some(events), 0, 0);
            g.open(&info(s, p));
            if !positions.is_empty() {
                let refs: Vec<&[u8]> = positions.iter().map(Vec::as_slice).collect();
                g.restore(&refs, "test").unwrap();
            }
            let mut got = Vec::new();
            while got.len() < take {
                let mut batch = Vec::new();
                if g.fill(&mut batch, 3, |_| {}, |i| i) == Poll::Finished {
                    break;
                }
                got.extend(batch);
            }
            out.push(got);
            pos.push(g.position());
        }
        (out, pos)
    }

    #[test]
    fn each_subtask_emits_its_splits_in_index_order_and_together_every_record_once() {
        let (out, _) = run(3, &[], usize::MAX, 50);
        for o in &out {
            assert!(o.windows(2).all(|w| w[0] < w[1]), "{o:?}");
        }
        let all: Vec<u64> = out.concat();
        assert_eq!(all.len(), 50);
        assert_eq!(
            all.iter().copied().collect::<BTreeSet<_>>(),
            (0..50).collect()
        );
    }

    #[test]
    fn a_restore_at_another_parallelism_continues_every_split_exactly() {
        // 2 subtasks produce a while, then 3, then 1 finish the job: every
        // record exactly once in all.
        let events = 200;
        let (a, pa) = run(2, &[], 17, events);
        let (b, pb) = run(3, &pa, 23, events);
        let (c, _) = run(1, &pb, usize::MAX, events);
        let mut all: Vec<u64> = [a.concat(), b.concat(), c.concat()].concat();
        all.sort();
        assert_eq!(all, (0..events).collect::<Vec<_>>());
        // After the uneven hand-over the single subtask still emits in index order.
        assert!(c[0].windows(2).all(|w| w[0] < w[1]), "{:?}", c[0]);
    }

    #[test]
    fn a_rate_kept_from_an_origin_finds_the_records_due_while_down() {
        // 1 000 records a second from 10 s ago, 2 000 produced before the
        // restore: the 8 000 and more that came due since are due at once.
        let rate = 1000;
        let mut before = Pacing::new(None, 0, 0);
        before.open(&info(0, 1));
        let mut out = Vec::new();
        before.fill(&mut out, 2000, |_| {}, |i| i);
        let position = before.position();
        let origin = crate::operator::now_ms() - 10_000;
        let mut g = Pacing::new(None, rate, 0).with_origin(Some(origin));
        g.open(&info(0, 1));
        g.restore(&[position.as_slice()], "datagen").unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            g.fill(&mut out, 1_000_000, |_| {}, |i| i),
            Poll::Data
        ));
        let due = (crate::operator::now_ms() - origin) as usize - 2000;
        assert!((8000..=due).contains(&out.len()), "{} of {due}", out.len());
        assert_eq!(out[0], 2000);
        // Without the origin a restore paces from itself: only what came
        // due since the restore.
        let restored = Instant::now();
        let mut g = Pacing::new(None, rate, 0);
        g.open(&info(0, 1));
        g.restore(&[position.as_slice()], "datagen").unwrap();
        let mut out = Vec::new();
        g.fill(&mut out, 1_000_000, |_| {}, |i| i);
        let since = restored.elapsed().as_millis() as usize + 1;
        assert!(out.len() <= since, "{} in {since} ms", out.len());
    }

    #[test]
    fn a_position_from_another_split_count_is_refused() {
        let mut g = Pacing::new(None, 0, 0);
        g.open(&info(0, 1));
        let other = bincode::serialize(&(16u64, vec![(0u64, 3u64)])).unwrap();
        let e = g
            .restore(&[other.as_slice()], "datagen")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("16 splits") && e.contains("max-parallelism=16"),
            "{e}"
        );
        let e = g
            .restore(&[&[1, 2, 3][..]], "datagen")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a split list"), "{e}");
    }
}
