//! Event-time tumbling and sliding windows with incremental aggregation.
//!
//! Each record is folded into the accumulator of every window it belongs to
//! (map state: window start → accumulator) and an event-time timer at the
//! window's last millisecond emits the result when the watermark passes it.
//! A record for a window that already fired is late: it goes to the side
//! output (`Either::Right`), which the stream drops unless someone reads it.
//! Session windows are in [`super::session`].

use super::keyed::{KeyedContext, KeyedOpenContext, KeyedProcessFunction};
use crate::data::{Data, Key};
use crate::error::Result;
use crate::state::{AggregateFunction, MapStateDesc, TimeDomain};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which windows a timestamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed, non-overlapping windows of `size_ms`.
    Tumbling {
        /// Window length.
        size_ms: i64,
    },
    /// Windows of `size_ms` starting every `slide_ms`.
    Sliding {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        slide_ms: i64,
    },
    /// Sessions: a key's records closer than `gap_ms` to each other (in
    /// event time) share a window, which ends `gap_ms` after its last record.
    Session {
        /// The silence that ends a session.
        gap_ms: i64,
    },
}

impl WindowAssigner {
    /// Window length (for sessions, the gap: the shortest session).
    pub fn size(&self) -> i64 {
        match *self {
            WindowAssigner::Tumbling { size_ms } | WindowAssigner::Sliding { size_ms, .. } => {
                size_ms
            }
            WindowAssigner::Session { gap_ms } => gap_ms,
        }
    }

    /// Start times of the windows containing `ts`, latest first.
    pub fn starts(&self, ts: i64) -> Vec<i64> {
        let (size, slide) = match *self {
            WindowAssigner::Tumbling { size_ms } => (size_ms, size_ms),
            WindowAssigner::Sliding { size_ms, slide_ms } => (size_ms, slide_ms),
            // A session starts where its first record is.
            WindowAssigner::Session { .. } => return vec![ts],
        };
        let last = ts - ts.rem_euclid(slide);
        let mut out = Vec::new();
        let mut s = last;
        while s > ts - size {
            out.push(s);
            s -= slide;
        }
        out
    }
}

/// One window's result for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<K, R> {
    /// The key.
    pub key: K,
    /// Inclusive start (ms).
    pub start: i64,
    /// Exclusive end (ms).
    pub end: i64,
    /// The aggregate.
    pub value: R,
}

/// The built-in aggregations over a numeric field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// Number of records.
    Count,
    /// Sum of the field.
    Sum,
    /// Minimum of the field.
    Min,
    /// Maximum of the field.
    Max,
    /// Mean of the field.
    Avg,
}

impl std::str::FromStr for AggKind {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Ok(match s {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "avg" => AggKind::Avg,
            _ => return Err(()),
        })
    }
}

/// Accumulator shared by the built-in aggregations.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

/// count/sum/min/max/avg over `field(record)`.
pub struct Aggregation<I> {
    /// Which aggregate.
    pub kind: AggKind,
    /// The numeric field.
    pub field: Arc<dyn Fn(&I) -> f64 + Send + Sync>,
}

impl<I: 'static> AggregateFunction<I, Acc, f64> for Aggregation<I> {
    fn create(&self) -> Acc {
        Acc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
    fn add(&self, acc: &mut Acc, input: I) {
        let v = (self.field)(&input);
        acc.count += 1;
        acc.sum += v;
        acc.min = acc.min.min(v);
        acc.max = acc.max.max(v);
    }
    fn merge(&self, a: &mut Acc, o: Acc) {
        a.count += o.count;
        a.sum += o.sum;
        a.min = a.min.min(o.min);
        a.max = a.max.max(o.max);
    }
    fn result(&self, a: &Acc) -> f64 {
        match self.kind {
            AggKind::Count => a.count as f64,
            AggKind::Sum => a.sum,
            AggKind::Min => a.min,
            AggKind::Max => a.max,
            AggKind::Avg => a.sum / a.count.max(1) as f64,
        }
    }
}

/// The window operator's keyed function.
pub struct WindowFunction<I, A, R> {
    assigner: WindowAssigner,
    timestamp: Arc<dyn Fn(&I) -> i64 + Send + Sync>,
    agg: Arc<dyn AggregateFunction<I, A, R>>,
    windows: Option<MapStateDesc<i64, A>>,
}

impl<I, A, R> WindowFunction<I, A, R> {
    /// Windows by `assigner` over `timestamp(record)`, aggregated with `agg`.
    pub fn new(
        assigner: WindowAssigner,
        timestamp: Arc<dyn Fn(&I) -> i64 + Send + Sync>,
        agg: Arc<dyn AggregateFunction<I, A, R>>,
    ) -> Self {
        Self {
            assigner,
            timestamp,
            agg,
            windows: None,
        }
    }
}

/// A window's result, or (`Right`) a record too late for its windows.
pub type WindowOutput<K, R, I> = super::Either<WindowResult<K, R>, I>;

impl<K: Key, I: Data, A: Data, R: Data> KeyedProcessFunction<K, I, WindowOutput<K, R, I>>
    for WindowFunction<I, A, R>
{
    fn open(&mut self, state: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.windows = Some(state.map_state("windows")?);
        Ok(())
    }

    fn process(
        &mut self,
        record: I,
        ctx: &mut KeyedContext<'_, K, WindowOutput<K, R, I>>,
    ) -> Result<()> {
        let ts = (self.timestamp)(&record);
        let size = self.assigner.size();
        let wm = ctx.current_watermark();
        let d = self.windows.as_ref().expect("opened");
        let mut accepted = false;
        for start in self.assigner.starts(ts) {
            let last = start + size - 1;
            if last <= wm {
                continue;
            }
            accepted = true;
            let agg = &self.agg;
            {
                let mut windows = ctx.map(d);
                let acc = windows.entry(start, || agg.create())?;
                agg.add(acc, record.clone());
            }
            ctx.register_event_time_timer(last)?;
        }
        // Late only when every window it belongs to has fired (as Flink).
        if !accepted {
            ctx.emit(super::Either::Right(record))?;
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        time: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, K, WindowOutput<K, R, I>>,
    ) -> Result<()> {
        let start = time + 1 - self.assigner.size();
        let d = self.windows.as_ref().expect("opened");
        if let Some(acc) = ctx.map(d).remove(&start)? {
            let value = self.agg.result(&acc);
            let key = ctx.key().clone();
            ctx.emit(super::Either::Left(WindowResult {
                key,
                start,
                end: start + self.assigner.size(),
                value,
            }))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts() {
        let t = WindowAssigner::Tumbling { size_ms: 10 };
        assert_eq!(t.starts(0), vec![0]);
        assert_eq!(t.starts(19), vec![10]);
        assert_eq!(t.starts(-1), vec![-10]);
        let s = WindowAssigner::Sliding {
            size_ms: 10,
            slide_ms: 5,
        };
        assert_eq!(s.starts(12), vec![10, 5]);
        assert_eq!(s.starts(10), vec![10, 5]);
        assert_eq!(s.starts(9), vec![5, 0]);
    }
}
