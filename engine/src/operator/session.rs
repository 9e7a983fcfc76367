//! Event-time session windows with incremental aggregation.
//!
//! A key's sessions live in map state (start → end and accumulator). A record
//! at `t` opens the window `[t, t + gap)`; every session it overlaps is merged
//! into it (accumulators merged, their timers replaced by one at the merged
//! end), so a record that bridges two sessions joins them, as Flink's merging
//! window assigner does. When the watermark passes a session's last
//! millisecond its result is emitted. A record whose merged session would
//! already have ended is late and goes to the side output.

use super::keyed::{KeyedContext, KeyedOpenContext, KeyedProcessFunction};
use super::window::{WindowOutput, WindowResult};
use super::Either;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::state::{AggregateFunction, MapStateDesc, TimeDomain};
use std::sync::Arc;

/// Sessions of one keyed stream.
pub struct SessionFunction<I, A, R> {
    gap_ms: i64,
    timestamp: Arc<dyn Fn(&I) -> i64 + Send + Sync>,
    agg: Arc<dyn AggregateFunction<I, A, R>>,
    sessions: Option<MapStateDesc<i64, (i64, A)>>,
}

impl<I, A, R> SessionFunction<I, A, R> {
    /// Sessions ended by `gap_ms` of silence, over `timestamp(record)`.
    pub fn new(
        gap_ms: i64,
        timestamp: Arc<dyn Fn(&I) -> i64 + Send + Sync>,
        agg: Arc<dyn AggregateFunction<I, A, R>>,
    ) -> Self {
        Self {
            gap_ms,
            timestamp,
            agg,
            sessions: None,
        }
    }
}

impl<K: Key, I: Data, A: Data, R: Data> KeyedProcessFunction<K, I, WindowOutput<K, R, I>>
    for SessionFunction<I, A, R>
{
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.sessions = Some(ctx.map_state("sessions")?);
        Ok(())
    }

    fn process(
        &mut self,
        record: I,
        ctx: &mut KeyedContext<'_, K, WindowOutput<K, R, I>>,
    ) -> Result<()> {
        let ts = (self.timestamp)(&record);
        let d = self.sessions.as_ref().expect("opened");
        let (mut start, mut end) = (ts, ts.saturating_add(self.gap_ms));
        let overlapping: Vec<(i64, (i64, A))> = ctx
            .map(d)
            .entries()?
            .into_iter()
            .filter(|(s, (e, _))| *s < end && ts < *e)
            .collect();
        for (s, (e, _)) in &overlapping {
            start = start.min(*s);
            end = end.max(*e);
        }
        if end - 1 <= ctx.current_watermark() {
            return ctx.emit(Either::Right(record));
        }
        let mut acc = self.agg.create();
        for (s, (e, other)) in overlapping {
            ctx.map(d).remove(&s)?;
            if e != end {
                ctx.delete_event_time_timer(e - 1)?;
            }
            self.agg.merge(&mut acc, other);
        }
        self.agg.add(&mut acc, record);
        ctx.map(d).put(start, (end, acc))?;
        ctx.register_event_time_timer(end - 1)
    }

    fn on_timer(
        &mut self,
        time: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, K, WindowOutput<K, R, I>>,
    ) -> Result<()> {
        let d = self.sessions.as_ref().expect("opened");
        let ended: Vec<(i64, (i64, A))> = ctx
            .map(d)
            .entries()?
            .into_iter()
            .filter(|(_, (e, _))| *e - 1 == time)
            .collect();
        for (start, (end, acc)) in ended {
            ctx.map(d).remove(&start)?;
            let value = self.agg.result(&acc);
            let key = ctx.key().clone();
            ctx.emit(Either::Left(WindowResult {
                key,
                start,
                end,
                value,
            }))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{wire, CancelFlag, Collector, OutputEdge, Partitioner};
    use crate::message::Message;
    use crate::operator::window::{AggKind, Aggregation};
    use crate::operator::{KeyedProcessOperator, OpenContext, Operator, SubtaskInfo};

    type Out = WindowOutput<u32, f64, (u32, i64)>;

    /// Everything the operator emitted so far.
    fn drain(rx: &crossbeam_channel::Receiver<Message<Out>>, out: &mut Collector<Out>) -> Vec<Out> {
        out.flush().unwrap();
        let mut got = Vec::new();
        while let Ok(m) = rx.try_recv() {
            if let Message::Batch(b) = m {
                got.extend(b);
            }
        }
        got
    }

    #[test]
    fn a_bridging_record_merges_sessions_and_a_late_one_goes_to_the_side_output() {
        let agg = Aggregation {
            kind: AggKind::Count,
            field: Arc::new(|_: &(u32, i64)| 1.0),
        };
        let f = SessionFunction::new(10, Arc::new(|r: &(u32, i64)| r.1), Arc::new(agg));
        let mut op = KeyedProcessOperator::new(Arc::new(|r: &(u32, i64)| r.0), Box::new(f));
        let info = SubtaskInfo {
            job_name: "j".into(),
            job_id: "0".repeat(32),
            vertex: "v".into(),
            uid: "u".into(),
            index: 0,
            parallelism: 1,
            max_parallelism: 128,
            attempt: 0,
            backend: Default::default(),
        };
        op.open(&OpenContext {
            info: &info,
            restored: None,
            registry: None,
        })
        .unwrap();
        let (tx, rx) = wire::<Out>(1, 1, true, 64);
        let edge = OutputEdge::new(tx.into_iter().next().unwrap(), Partitioner::Forward, 0, 1);
        let rx = rx.into_iter().next().unwrap().remove(0);
        let mut out = Collector::new(vec![edge], CancelFlag::default());
        // Key 1: [0,10) and [15,25), then 8 bridges them into [0,25).
        op.process_batch(vec![(1, 0), (1, 15), (2, 100)], &mut out)
            .unwrap();
        op.process_batch(vec![(1, 8)], &mut out).unwrap();
        op.on_watermark(23, &mut out).unwrap();
        assert!(drain(&rx, &mut out).is_empty(), "no session ended by 23");
        op.on_watermark(24, &mut out).unwrap();
        let r = |key, start, end, value| {
            Either::Left(WindowResult {
                key,
                start,
                end,
                value,
            })
        };
        assert_eq!(drain(&rx, &mut out), vec![r(1, 0, 25, 3.0)]);
        op.on_watermark(200, &mut out).unwrap();
        assert_eq!(drain(&rx, &mut out), vec![r(2, 100, 110, 1.0)]);
        // Its session [50, 60) ended long before the watermark: late.
        op.process_batch(vec![(2, 50)], &mut out).unwrap();
        assert_eq!(drain(&rx, &mut out), vec![Either::Right((2, 50))]);
    }
}
