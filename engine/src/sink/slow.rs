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
        }
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
            // The slowness being simulated: an external system taking its time.
            std::thread::sleep(self.per_record * batch.len() as u32);
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
