//! Stateless one-to-one, one-to-many and filtering operators.

use super::Operator;
use crate::channel::Collector;
use crate::data::Data;
use crate::error::Result;
use std::sync::Arc;

/// Applies a function to every record.
pub struct Map<I, O>(pub Arc<dyn Fn(I) -> O + Send + Sync>);

impl<I: Data, O: Data> Operator<I, O> for Map<I, O> {
    fn process_batch(&mut self, batch: Vec<I>, out: &mut Collector<O>) -> Result<()> {
        for r in batch {
            out.emit((self.0)(r))?;
        }
        Ok(())
    }
}

/// Keeps the records for which the predicate holds.
pub struct Filter<T>(pub Arc<dyn Fn(&T) -> bool + Send + Sync>);

impl<T: Data> Operator<T, T> for Filter<T> {
    fn process_batch(&mut self, batch: Vec<T>, out: &mut Collector<T>) -> Result<()> {
        for r in batch {
            if (self.0)(&r) {
                out.emit(r)?;
            }
        }
        Ok(())
    }
}

/// Emits zero or more records per record.
pub struct FlatMap<I, O>(pub Arc<dyn Fn(I, &mut Vec<O>) + Send + Sync>);

impl<I: Data, O: Data> Operator<I, O> for FlatMap<I, O> {
    fn process_batch(&mut self, batch: Vec<I>, out: &mut Collector<O>) -> Result<()> {
        let mut buf = Vec::new();
        for r in batch {
            (self.0)(r, &mut buf);
            for o in buf.drain(..) {
                out.emit(o)?;
            }
        }
        Ok(())
    }
}
