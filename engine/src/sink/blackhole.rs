//! Discards every record (Flink's `blackhole` connector): for benchmarks.

use super::Sink;
use crate::error::Result;
use crate::operator::SubtaskInfo;

/// Drops records.
#[derive(Default)]
pub struct BlackholeSink;

impl<T: Send + 'static> Sink<T> for BlackholeSink {
    fn open(&mut self, _info: &SubtaskInfo, _restored: &[(usize, &[u8])]) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        drop(batch);
        Ok(())
    }
}
