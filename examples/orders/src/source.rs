//! A source of its own: replays the generator from an index. Its checkpointed
//! position is the index of the next record, so after a crash it resumes
//! exactly after the last record the restored checkpoint covers.

use crate::model::{Generated as Make, Generator};
use std::marker::PhantomData;
use std::time::{Duration, Instant};
use tidemark::prelude::*;
use tidemark::source::Poll;

/// Records `0..orders` of one stream, at `rate` per second (0: unthrottled).
pub struct Generated<T> {
    gen: Generator,
    rate: u64,
    next: u64,
    /// Where pacing started: the index and when.
    paced_from: (u64, Instant),
    _t: PhantomData<fn() -> T>,
}

impl<T> Generated<T> {
    pub fn new(gen: Generator, rate: u64) -> Self {
        Self {
            gen,
            rate,
            next: 0,
            paced_from: (0, Instant::now()),
            _t: PhantomData,
        }
    }
}

impl<T: Make + Data> Source<T> for Generated<T> {
    fn open(&mut self, info: &tidemark::operator::SubtaskInfo) -> Result<()> {
        if info.parallelism != 1 {
            return Err(Error::Config(format!(
                "source '{}': runs at parallelism 1, not {}",
                info.vertex, info.parallelism
            )));
        }
        Ok(())
    }

    // ANCHOR: source-position
    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        let [pos] = positions else {
            return Err(Error::Checkpoint(format!(
                "expected the position of one source subtask, found {}",
                positions.len()
            )));
        };
        self.next = bincode::deserialize(pos)?;
        self.paced_from = (self.next, Instant::now());
        Ok(())
    }

    // ANCHOR_END: source-position

    fn poll(&mut self, out: &mut Vec<T>, max: usize) -> Result<Poll> {
        if self.next >= self.gen.orders {
            return Ok(Poll::Finished);
        }
        let mut until = self.gen.orders.min(self.next + max as u64);
        if self.rate > 0 {
            let (i0, t0) = self.paced_from;
            let due = i0 + (t0.elapsed().as_secs_f64() * self.rate as f64) as u64;
            if due <= self.next {
                return Ok(Poll::Pending(Some(Duration::from_millis(5))));
            }
            until = until.min(due);
        }
        out.extend((self.next..until).filter_map(|i| T::at(&self.gen, i)));
        self.next = until;
        Ok(Poll::Data)
    }

    // ANCHOR: source-save
    fn position(&self) -> Result<Vec<u8>> {
        Ok(bincode::serialize(&self.next)?)
    }
    // ANCHOR_END: source-save
}
