//! Keyed processing: a user function called per record with its key's state and
//! timers, as Flink's `KeyedProcessFunction`.

use super::{now_ms, OpenContext, Operator};
use crate::channel::Collector;
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::state::key_group::key_group_range_for_subtask;
use crate::state::state_file::OperatorSnapshot;
use crate::state::timers::TIMER_TABLE;
use crate::state::*;
use crate::user_metrics::{CounterId, GaugeId, HistogramId, UserMetric, UserMetrics};
use std::sync::Arc;
use tidemark_agent::Registry;

/// The user's keyed logic.
pub trait KeyedProcessFunction<K, I, O>: Send + 'static {
    /// Registers state (called after restore, so registered state is filled).
    fn open(&mut self, _ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        Ok(())
    }
    /// Processes one record of `ctx.key()`.
    fn process(&mut self, record: I, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
    /// A timer registered for `ctx.key()` fired.
    fn on_timer(
        &mut self,
        _time: i64,
        _domain: TimeDomain,
        _ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()> {
        Ok(())
    }
}

/// What a keyed function's `open` gets: it registers the state it uses, by
/// name (a restored job's state is found by these names, so keep them).
pub struct KeyedOpenContext<'a, K> {
    state: &'a mut KeyedStateBackend<K>,
    metrics: Option<(&'a mut UserMetrics, &'a Registry, &'a super::SubtaskInfo)>,
}

impl<'a, K: Key> KeyedOpenContext<'a, K> {
    #[cfg(test)]
    pub(crate) fn new(state: &'a mut KeyedStateBackend<K>) -> Self {
        Self {
            state,
            metrics: None,
        }
    }

    fn metrics(
        &mut self,
        m: &UserMetric,
    ) -> Result<(&mut UserMetrics, &Registry, &super::SubtaskInfo)> {
        match &mut self.metrics {
            Some((um, reg, info)) => Ok((&mut **um, *reg, *info)),
            None => Err(Error::Config(format!(
                "metric '{}': this function runs without a metric registry",
                m.name
            ))),
        }
    }

    /// Registers a counter of this subtask with its own label values (as
    /// many as it declares, each one of its declared values).
    pub fn counter(&mut self, m: &'static UserMetric, labels: &[&str]) -> Result<CounterId> {
        let (um, reg, info) = self.metrics(m)?;
        um.counter(reg, info, m, labels)
    }

    /// Registers a gauge of this subtask.
    pub fn gauge(&mut self, m: &'static UserMetric, labels: &[&str]) -> Result<GaugeId> {
        let (um, reg, info) = self.metrics(m)?;
        um.gauge(reg, info, m, labels)
    }

    /// Registers a histogram of this subtask.
    pub fn histogram(&mut self, m: &'static UserMetric, labels: &[&str]) -> Result<HistogramId> {
        let (um, reg, info) = self.metrics(m)?;
        um.histogram(reg, info, m, labels)
    }
    /// Registers value state `name`.
    pub fn value_state<V: Data>(&mut self, name: &str) -> Result<ValueStateDesc<V>> {
        Ok(ValueStateDesc(self.state.register(name)?))
    }
    /// Registers list state `name`.
    pub fn list_state<V: Data>(&mut self, name: &str) -> Result<ListStateDesc<V>> {
        Ok(ListStateDesc(self.state.register(name)?))
    }
    /// Registers map state `name`.
    pub fn map_state<UK: Data + Ord, UV: Data>(
        &mut self,
        name: &str,
    ) -> Result<MapStateDesc<UK, UV>> {
        Ok(MapStateDesc(self.state.register(name)?))
    }
    /// Registers reducing state `name`.
    pub fn reducing_state<V: Data>(
        &mut self,
        name: &str,
        reduce: impl Fn(&V, V) -> V + Send + Sync + 'static,
    ) -> Result<ReducingStateDesc<V>> {
        Ok(ReducingStateDesc {
            id: self.state.register(name)?,
            reduce: Arc::new(reduce),
        })
    }
    /// Registers aggregating state `name`.
    pub fn aggregating_state<I, A: Data, O>(
        &mut self,
        name: &str,
        agg: impl AggregateFunction<I, A, O>,
    ) -> Result<AggregatingStateDesc<I, A, O>> {
        Ok(AggregatingStateDesc {
            id: self.state.register(name)?,
            agg: Arc::new(agg),
        })
    }
}

/// What a keyed function sees: the current key, its state, timers and output.
pub struct KeyedContext<'a, K, O> {
    key: &'a K,
    state: &'a mut KeyedStateBackend<K>,
    timers: &'a mut TimerService<K>,
    out: &'a mut Collector<O>,
    metrics: &'a mut UserMetrics,
    watermark: i64,
}

impl<K: Key, O: Data> KeyedContext<'_, K, O> {
    /// The key of the record or timer being processed.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The current event time (last watermark).
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }
    /// Emits a record.
    pub fn emit(&mut self, o: O) -> Result<()> {
        self.out.emit(o)
    }
    /// Adds `n` to a counter registered in `open` (published per batch).
    #[inline]
    pub fn count(&mut self, id: CounterId, n: u64) {
        self.metrics.add(id, n);
    }
    /// Sets a gauge registered in `open` (published per batch).
    #[inline]
    pub fn set_gauge(&mut self, id: GaugeId, v: i64) {
        self.metrics.set(id, v);
    }
    /// Observes `v` (in the histogram's unit) in a histogram registered in `open`.
    #[inline]
    pub fn observe(&mut self, id: HistogramId, v: f64) {
        self.metrics.observe(id, v);
    }
    /// Value state of the current key.
    pub fn value<V: Data>(&mut self, d: &ValueStateDesc<V>) -> ValueState<'_, K, V> {
        ValueState {
            store: self.state.store(d.0),
            key: self.key,
        }
    }
    /// List state of the current key.
    pub fn list<V: Data>(&mut self, d: &ListStateDesc<V>) -> ListState<'_, K, V> {
        ListState {
            store: self.state.store(d.0),
            key: self.key,
        }
    }
    /// Map state of the current key.
    pub fn map<UK: Data + Ord, UV: Data>(
        &mut self,
        d: &MapStateDesc<UK, UV>,
    ) -> MapState<'_, K, UK, UV> {
        MapState {
            store: self.state.store(d.0),
            key: self.key,
        }
    }
    /// Reducing state of the current key.
    pub fn reducing<'s, V: Data>(
        &'s mut self,
        d: &'s ReducingStateDesc<V>,
    ) -> ReducingState<'s, K, V> {
        ReducingState {
            store: self.state.store(d.id),
            key: self.key,
            reduce: d.reduce.as_ref(),
        }
    }
    /// Aggregating state of the current key.
    pub fn aggregating<'s, I, A: Data, R>(
        &'s mut self,
        d: &'s AggregatingStateDesc<I, A, R>,
    ) -> AggregatingState<'s, K, I, A, R> {
        AggregatingState {
            store: self.state.store(d.id),
            key: self.key,
            agg: d.agg.as_ref(),
        }
    }
    /// Fires `on_timer` once the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: i64) -> Result<()> {
        self.timers
            .register(TimeDomain::EventTime, time, self.key.clone())
    }
    /// Fires `on_timer` once the wall clock reaches `time` (ms since epoch).
    pub fn register_processing_time_timer(&mut self, time: i64) -> Result<()> {
        self.timers
            .register(TimeDomain::ProcessingTime, time, self.key.clone())
    }
    /// Deletes an event-time timer of the current key.
    pub fn delete_event_time_timer(&mut self, time: i64) -> Result<()> {
        self.timers
            .delete(TimeDomain::EventTime, time, self.key.clone())
    }
    /// Deletes a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, time: i64) -> Result<()> {
        self.timers
            .delete(TimeDomain::ProcessingTime, time, self.key.clone())
    }
}

/// Runs a [`KeyedProcessFunction`] over a keyed stream.
pub struct KeyedProcessOperator<K, I, O> {
    key_of: Arc<dyn Fn(&I) -> K + Send + Sync>,
    func: Box<dyn KeyedProcessFunction<K, I, O>>,
    state: Option<KeyedStateBackend<K>>,
    timers: TimerService<K>,
    metrics: UserMetrics,
    watermark: i64,
}

impl<K: Key, I: Data, O: Data> KeyedProcessOperator<K, I, O> {
    /// Wraps `func`, keying records with `key_of`.
    pub fn new(
        key_of: Arc<dyn Fn(&I) -> K + Send + Sync>,
        func: Box<dyn KeyedProcessFunction<K, I, O>>,
    ) -> Self {
        Self {
            key_of,
            func,
            state: None,
            timers: TimerService::default(),
            metrics: UserMetrics::default(),
            watermark: i64::MIN,
        }
    }

    fn fire(&mut self, domain: TimeDomain, now: i64, out: &mut Collector<O>) -> Result<()> {
        let state = self.state.as_mut().expect("opened");
        while let Some((t, key)) = self.timers.pop_due(domain, now)? {
            let mut ctx = KeyedContext {
                key: &key,
                state,
                timers: &mut self.timers,
                out,
                metrics: &mut self.metrics,
                watermark: self.watermark,
            };
            self.func.on_timer(t, domain, &mut ctx)?;
        }
        self.metrics.publish();
        Ok(())
    }
}

impl<K: Key, I: Data, O: Data> Operator<I, O> for KeyedProcessOperator<K, I, O> {
    fn open(&mut self, ctx: &OpenContext<'_>) -> Result<()> {
        let info = ctx.info;
        let range = key_group_range_for_subtask(
            info.max_parallelism,
            info.parallelism as u32,
            info.index as u32,
        );
        let owner = BackendOwner {
            job_id: info.job_id.clone(),
            uid: info.uid.clone(),
            subtask: info.index,
            attempt: info.attempt,
        };
        let natives = ctx.restored.map(|r| r.natives.as_slice()).unwrap_or(&[]);
        let mut backend =
            KeyedStateBackend::open(&info.backend, &owner, info.max_parallelism, range, natives)
                .map_err(|e| Error::Checkpoint(format!("operator '{}': {e}", info.uid)))?;
        if info.backend.rocks.timers_in_rocksdb {
            if let Some(db) = backend.rocks_db() {
                self.timers =
                    TimerService::in_rocksdb(crate::state::rocks::timers::RocksTimers::new(
                        db.clone(),
                        info.max_parallelism,
                    )?);
            }
        }
        let loading = std::time::Instant::now();
        if let Some(r) = ctx.restored {
            backend.restore_from(&r.files)?;
            self.timers.restore(backend.take_restored(TIMER_TABLE)?)?;
        }
        // Without a registry (a unit test's operator) metrics go nowhere.
        let detached = Registry::new();
        self.func.open(&mut KeyedOpenContext {
            state: &mut backend,
            metrics: Some((&mut self.metrics, ctx.registry.unwrap_or(&detached), info)),
        })?;
        backend.finish_restore(loading.elapsed(), &info.uid, info.index);
        if let Some(reg) = ctx.registry {
            report_backend(&backend, info, reg);
        }
        let unclaimed = backend.unclaimed();
        if !unclaimed.is_empty() {
            return Err(Error::Checkpoint(format!(
                "operator '{}' restored state {:?} that its function no longer registers; \
                 keep the state names, or start without --restore",
                info.uid, unclaimed
            )));
        }
        self.state = Some(backend);
        Ok(())
    }

    fn process_batch(&mut self, batch: Vec<I>, out: &mut Collector<O>) -> Result<()> {
        let state = self.state.as_mut().expect("opened");
        let keys: Vec<K> = batch.iter().map(|r| (self.key_of)(r)).collect();
        state.prefetch(&keys)?;
        for (r, key) in batch.into_iter().zip(keys) {
            let mut ctx = KeyedContext {
                key: &key,
                state,
                timers: &mut self.timers,
                out,
                metrics: &mut self.metrics,
                watermark: self.watermark,
            };
            self.func.process(r, &mut ctx)?;
        }
        self.metrics.publish();
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Collector<O>) -> Result<()> {
        self.watermark = watermark;
        self.fire(TimeDomain::EventTime, watermark, out)
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Collector<O>) -> Result<()> {
        self.fire(TimeDomain::ProcessingTime, now.max(now_ms()), out)
    }

    fn next_processing_time(&self) -> Option<i64> {
        self.timers.next_processing_time()
    }

    fn snapshot(&mut self, id: u64, savepoint: bool) -> Result<OperatorSnapshot> {
        let (mut keyed, native) = self
            .state
            .as_mut()
            .expect("opened")
            .snapshot(id, savepoint)?;
        if self.timers.on_heap() && !self.timers.is_empty() {
            keyed.push(self.timers.snapshot());
        }
        Ok(OperatorSnapshot {
            keyed,
            native,
            ..OperatorSnapshot::default()
        })
    }

    fn notify_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        if let Some(s) = &mut self.state {
            s.notify_complete(id);
        }
        Ok(())
    }
}

/// Starts the RocksDB metrics of a backend and publishes how its restore went.
fn report_backend<K: Key>(
    backend: &KeyedStateBackend<K>,
    info: &super::SubtaskInfo,
    registry: &tidemark_agent::Registry,
) {
    let labels = crate::metrics::TaskLabels {
        job_name: info.job_name.clone(),
        job_id: info.job_id.clone(),
        vertex: info.vertex.clone(),
        subtask: info.index,
    };
    if let Some(db) = backend.rocks_db() {
        if info.backend.rocks.native_metrics {
            crate::state::rocks::metrics::start(
                db,
                registry,
                &labels,
                info.backend.rocks.statistics != crate::state::rocks::options::StatsLevel::Off,
            );
        }
    }
    if let Some(r) = backend.restore_report() {
        let sub = info.index.to_string();
        let vals = [
            info.job_name.as_str(),
            info.job_id.as_str(),
            info.vertex.as_str(),
            sub.as_str(),
            r.source.as_str(),
        ];
        if let Ok(g) = registry.gauge(&tidemark_agent::catalogue::STATE_RESTORE_DURATION, &vals) {
            g.set(r.millis as i64);
        }
        if let Ok(c) = registry.counter(&tidemark_agent::catalogue::STATE_RESTORES, &vals) {
            c.add(1);
        }
    }
}

/// Flink's `reduce` on a keyed stream: folds each record into the key's value
/// and emits the new value.
pub struct ReduceFunction<T> {
    f: Arc<dyn Fn(&T, T) -> T + Send + Sync>,
    state: Option<ValueStateDesc<T>>,
}

impl<T> ReduceFunction<T> {
    /// Folds with `f(current, new)`.
    pub fn new(f: Arc<dyn Fn(&T, T) -> T + Send + Sync>) -> Self {
        Self { f, state: None }
    }
}

impl<K: Key, T: Data> KeyedProcessFunction<K, T, T> for ReduceFunction<T> {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.state = Some(ctx.value_state("reduce")?);
        Ok(())
    }
    fn process(&mut self, record: T, ctx: &mut KeyedContext<'_, K, T>) -> Result<()> {
        let d = self.state.as_ref().expect("opened");
        let mut v = ctx.value(d);
        let next = match v.get()? {
            Some(cur) => (self.f)(cur, record),
            None => record,
        };
        v.set(next.clone())?;
        ctx.emit(next)
    }
}
