//! Writes every record to standard output as `vertex#subtask> record`. Not
//! transactional: for looking at a job, not for results.

use super::Sink;
use crate::error::Result;
use crate::operator::SubtaskInfo;
use std::io::Write;
use std::sync::Arc;

/// Prints records with a formatter.
pub struct PrintSink<T> {
    format: Arc<dyn Fn(&T, &mut String) + Send + Sync>,
    prefix: String,
}

impl<T> PrintSink<T> {
    /// Prints `format(record)` per line.
    pub fn new(format: Arc<dyn Fn(&T, &mut String) + Send + Sync>) -> Self {
        Self {
            format,
            prefix: String::new(),
        }
    }
}

impl<T: Send + 'static> Sink<T> for PrintSink<T> {
    fn open(&mut self, info: &SubtaskInfo, _restored: &[(usize, &[u8])]) -> Result<()> {
        self.prefix = format!("{}#{}> ", info.vertex, info.index);
        Ok(())
    }
    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        let mut s = String::new();
        for r in &batch {
            s.push_str(&self.prefix);
            (self.format)(r, &mut s);
            s.push('\n');
        }
        let _ = std::io::stdout().lock().write_all(s.as_bytes());
        Ok(())
    }
}
