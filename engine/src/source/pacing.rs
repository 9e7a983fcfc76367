//! What the generators share: a subtask's progress through the job's records.
//!
//! Subtask `s` of `p` produces the job's records `s, s+p, s+2p, …`; with a
//! bounded total it produces its share; with a rate it produces its share of
//! the rate (measured from when it opened or restored); its position is how
//! many it has produced, so a restore continues exactly where a checkpoint was
//! taken. The first `warmup` records of the job are not rate-limited.

use super::Poll;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use std::time::{Duration, Instant};

/// One generator subtask's progress.
#[derive(Debug)]
pub struct Pacing {
    events: Option<u64>,
    job_rate: u64,
    warmup: u64,
    subtask: u64,
    parallelism: u64,
    /// Records this subtask has produced (its position).
    produced: u64,
    /// This subtask's share of the job's records.
    limit: Option<u64>,
    rate: f64,
    started: Instant,
    produced_at_start: u64,
}

impl Pacing {
    /// `events` for the whole job (`None`: unbounded), `rate` records per
    /// second for the whole job (0: as fast as possible), the first `warmup`
    /// records unlimited.
    pub fn new(events: Option<u64>, rate: u64, warmup: u64) -> Self {
        Self {
            events,
            job_rate: rate,
            warmup,
            subtask: 0,
            parallelism: 1,
            produced: 0,
            limit: None,
            rate: 0.0,
            started: Instant::now(),
            produced_at_start: 0,
        }
    }

    /// Takes this subtask's coordinates.
    pub fn open(&mut self, info: &SubtaskInfo) {
        self.subtask = info.index as u64;
        self.parallelism = info.parallelism as u64;
        self.limit = self.events.map(|n| {
            let (q, r) = (n / self.parallelism, n % self.parallelism);
            q + u64::from(self.subtask < r)
        });
        self.rate = self.job_rate as f64 / self.parallelism as f64;
        self.started = Instant::now();
    }

    /// Continues from `position` (from [`Pacing::position`]); `what` names the source in errors.
    pub fn restore(&mut self, position: &[u8], what: &str) -> Result<()> {
        let p: [u8; 8] = position.try_into().map_err(|_| {
            Error::Checkpoint(format!(
                "{what} position has {} bytes, expected 8",
                position.len()
            ))
        })?;
        self.produced = u64::from_le_bytes(p);
        self.produced_at_start = self.produced;
        self.started = Instant::now();
        Ok(())
    }

    /// The position after the last record produced.
    pub fn position(&self) -> Vec<u8> {
        self.produced.to_le_bytes().to_vec()
    }

    /// How many records to produce now (at most `max`), or what `poll` returns instead.
    fn next_batch(&mut self, max: usize) -> std::result::Result<u64, Poll> {
        let mut n = max as u64;
        if let Some(limit) = self.limit {
            if self.produced >= limit {
                return Err(Poll::Finished);
            }
            n = n.min(limit - self.produced);
        }
        // This subtask's warm-up records are not rate-limited; the rate starts after them.
        let warm = self.warmup.div_ceil(self.parallelism.max(1));
        if self.produced < warm {
            n = n.min(warm - self.produced);
            self.started = Instant::now();
            self.produced_at_start = self.produced + n;
        } else if self.rate > 0.0 {
            let allowed = (self.started.elapsed().as_secs_f64() * self.rate) as u64;
            let done = self.produced - self.produced_at_start;
            if allowed <= done {
                let wait = Duration::from_secs_f64(
                    ((done + 1) as f64 / self.rate - self.started.elapsed().as_secs_f64())
                        .max(0.0005),
                );
                return Err(Poll::Pending(Some(wait)));
            }
            n = n.min(allowed - done);
        }
        Ok(n)
    }

    /// The job-wide index of this subtask's `k`-th next record.
    #[inline]
    fn index(&self, k: u64) -> u64 {
        self.subtask + (self.produced + k) * self.parallelism
    }

    /// One `poll`: appends up to `max` records, `make(job-wide index)` each,
    /// within the share and the rate; `before` runs once before a batch.
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
        for k in 0..n {
            out.push(make(self.index(k)));
        }
        self.produced += n;
        Poll::Data
    }
}
