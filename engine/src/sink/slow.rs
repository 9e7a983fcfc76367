//! A sink that is slow on purpose, for demonstrating and testing backpressure:
//! it delays each batch by a fixed time per record, optionally only for a while
//! after it opens, or only while a file exists (so a test or a demo can end the
//! slowdown when it chooses).

use super::Sink;
use crate::error::Result;
use crate::operator::SubtaskInfo;
use std::time::{Duration, Instant};

/// Wraps a sink and slows it down.
pub struct SlowSink<T> {
    inner: Box<dyn Sink<T>>,
    per_record: Duration,
    for_how_long: Option<Duration>,
    opened: Instant,
    /// Slow only while this file exists; once it is gone the sink stays fast
    /// (one `stat` per batch until then, none after).
    while_exists: Option<std::path::PathBuf>,
    /// Spend the delay computing rather than asleep.
    on_cpu: bool,
}

impl<T> SlowSink<T> {
    /// Delays `per_record` per record, for `for_how_long` after opening (always if `None`).
    pub fn new(
        inner: Box<dyn Sink<T>>,
        per_record: Duration,
        for_how_long: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            per_record,
            for_how_long,
            opened: Instant::now(),
            while_exists: None,
            on_cpu: false,
        }
    }

    /// Spends the delay on the CPU (in [`spin_for`]) rather than asleep.
    pub fn on_cpu(mut self, on_cpu: bool) -> Self {
        self.on_cpu = on_cpu;
        self
    }

    /// Slows down only while `path` exists.
    pub fn while_exists(mut self, path: std::path::PathBuf) -> Self {
        self.while_exists = Some(path);
        self
    }
}

impl<T: Send + 'static> Sink<T> for SlowSink<T> {
    fn open(&mut self, info: &SubtaskInfo, restored: &[(usize, &[u8])]) -> Result<()> {
        self.opened = Instant::now();
        self.inner.open(info, restored)
    }
    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        if self.while_exists.as_ref().is_some_and(|p| !p.exists()) {
            self.while_exists = None;
            self.for_how_long = Some(Duration::ZERO);
        }
        if self.for_how_long.is_none_or(|d| self.opened.elapsed() < d) {
            let delay = self.per_record * batch.len() as u32;
            if self.on_cpu {
                // The slowness being simulated: expensive work per record.
                spin_for(delay);
            } else {
                // The slowness being simulated: an external system taking its time.
                std::thread::sleep(delay);
            }
        }
        self.inner.write(batch)
    }
    fn pre_commit(&mut self, id: u64) -> Result<Vec<u8>> {
        self.inner.pre_commit(id)
    }
    fn commit(&mut self, id: u64) -> Result<()> {
        self.inner.commit(id)
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

/// Computes for `d`: the frame a profile finds where a job was made slow on
/// the CPU on purpose (`params.sink-delay-on: cpu`, `params.count-work`).
/// The clock is read once per 4096 rounds, so the time is spent here rather
/// than in the vDSO's clock.
#[inline(never)]
pub fn spin_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    while start.elapsed() < d {
        for _ in 0..4096 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0xff51_afd7_ed55_8ccd));
        }
    }
    x
}
