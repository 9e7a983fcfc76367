//! Window joins of two keyed streams, as Flink's `coGroup` / `join` over
//! event-time windows: each side's records are kept per window (map state:
//! window start → records), and when the watermark passes a window's last
//! millisecond the function gets both sides' records of that key and window,
//! then they are forgotten. Records for windows that already fired are late
//! and dropped (as Flink's window join does).

use super::keyed::{KeyedContext, KeyedOpenContext};
use super::window::WindowAssigner;
use super::KeyedCoProcessFunction;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::state::{MapStateDesc, TimeDomain};
use std::sync::Arc;

/// What a window co-group is called with: one key's records of one window.
#[derive(Debug)]
pub struct CoGroup<'a, K, A, B> {
    /// The key.
    pub key: &'a K,
    /// The window's first millisecond.
    pub start: i64,
    /// One past the window's last millisecond.
    pub end: i64,
    /// The first input's records in the window, in arrival order.
    pub left: Vec<A>,
    /// The second input's records in the window, in arrival order.
    pub right: Vec<B>,
}

/// Computes a window's output from both sides' records.
pub type CoGroupFn<K, A, B, O> = Arc<dyn Fn(CoGroup<'_, K, A, B>, &mut Vec<O>) + Send + Sync>;

/// The keyed two-input function behind `window_join` and `window_co_group`.
pub(crate) struct WindowCoGroup<K, A, B, O> {
    assigner: WindowAssigner,
    time_a: Arc<dyn Fn(&A) -> i64 + Send + Sync>,
    time_b: Arc<dyn Fn(&B) -> i64 + Send + Sync>,
    f: CoGroupFn<K, A, B, O>,
    state: Option<(MapStateDesc<i64, Vec<A>>, MapStateDesc<i64, Vec<B>>)>,
}

impl<K, A, B, O> WindowCoGroup<K, A, B, O> {
    pub fn new(
        assigner: WindowAssigner,
        time_a: Arc<dyn Fn(&A) -> i64 + Send + Sync>,
        time_b: Arc<dyn Fn(&B) -> i64 + Send + Sync>,
        f: CoGroupFn<K, A, B, O>,
    ) -> Self {
        Self {
            assigner,
            time_a,
            time_b,
            f,
            state: None,
        }
    }

    /// Adds `r` to each open window of `ts` in `d`.
    fn add<R: Data>(
        &self,
        d: &MapStateDesc<i64, Vec<R>>,
        ts: i64,
        r: R,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()>
    where
        K: Key,
        O: Data,
    {
        let size = self.assigner.size();
        for start in self.assigner.starts(ts) {
            let last = start + size - 1;
            if last <= ctx.current_watermark() {
                continue;
            }
            ctx.map(d).entry(start, Vec::new)?.push(r.clone());
            ctx.register_event_time_timer(last)?;
        }
        Ok(())
    }
}

impl<K: Key, A: Data, B: Data, O: Data> KeyedCoProcessFunction<K, A, B, O>
    for WindowCoGroup<K, A, B, O>
{
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.state = Some((ctx.map_state("left")?, ctx.map_state("right")?));
        Ok(())
    }

    fn process1(&mut self, a: A, ctx: &mut KeyedContext<'_, K, O>) -> Result<()> {
        let d = self.state.as_ref().expect("opened").0.clone();
        let ts = (self.time_a)(&a);
        self.add(&d, ts, a, ctx)
    }

    fn process2(&mut self, b: B, ctx: &mut KeyedContext<'_, K, O>) -> Result<()> {
        let d = self.state.as_ref().expect("opened").1.clone();
        let ts = (self.time_b)(&b);
        self.add(&d, ts, b, ctx)
    }

    fn on_timer(
        &mut self,
        time: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()> {
        let (ld, rd) = self.state.as_ref().expect("opened");
        let start = time + 1 - self.assigner.size();
        let left = ctx.map(ld).remove(&start)?.unwrap_or_default();
        let right = ctx.map(rd).remove(&start)?.unwrap_or_default();
        let key = ctx.key().clone();
        let mut out = Vec::new();
        (self.f)(
            CoGroup {
                key: &key,
                start,
                end: start + self.assigner.size(),
                left,
                right,
            },
            &mut out,
        );
        for o in out {
            ctx.emit(o)?;
        }
        Ok(())
    }
}
