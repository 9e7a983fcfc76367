//! The loop of a source subtask: poll, emit, generate watermarks, and on a
//! trigger inject a barrier in-band after the records read so far. While its
//! output is full the source waits for room but still takes triggers, so an
//! unaligned barrier leaves a backpressured source at once.

use super::async_snapshot::{spawn_async, SyncTimings};
use super::{TaskControl, TaskEvent, TaskSetup, PUBLISH_INTERVAL};
use crate::channel::{Collector, Wake};
use crate::checkpoint::channel_state::ChannelState;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::message::{Message, MAX_WATERMARK};
use crate::metrics::LocalCounts;
use crate::operator::now_ms;
use crate::source::{Poll, Source};
use crate::state::state_file::OperatorSnapshot;
use crate::watermark::{SourceWatermark, WatermarkGenerator, WatermarkStrategy};
use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// Whether the loop goes on after a control message.
enum Flow {
    Continue,
    Exit,
}

/// A subtask running one source.
pub struct SourceTask<T> {
    setup: TaskSetup,
    source: Box<dyn Source<T>>,
    out: Collector<T>,
    watermarks: Option<WatermarkStrategy<T>>,
    batch_size: usize,
    local: LocalCounts,
    last_publish: Instant,
    last_flush: Instant,
    /// Watermarks from the records read, with a watermark strategy.
    generator: Option<WatermarkGenerator>,
    last_wm: Instant,
    /// When the last record was read (or the task started).
    last_data: Instant,
    /// The event time of the last record emitted.
    last_event_time: Option<i64>,
    final_id: Option<u64>,
    /// The position at each barrier whose checkpoint has not completed yet,
    /// handed to the source when it does.
    positions: std::collections::BTreeMap<u64, Vec<u8>>,
    /// Set when a control message ended the task while waiting for input.
    exit: bool,
    /// A drain barrier went out: event time has ended and nothing more is read.
    drained: bool,
    /// When the last latency marker was emitted.
    last_marker: Instant,
    /// The source's own metrics.
    source_metrics: super::source_metrics::SourceMetrics,
}

impl<T: Data> SourceTask<T> {
    /// A task polling `source` in batches of `batch_size`.
    pub fn new(
        setup: TaskSetup,
        source: Box<dyn Source<T>>,
        out: Collector<T>,
        watermarks: Option<WatermarkStrategy<T>>,
        batch_size: usize,
    ) -> Self {
        let now = Instant::now();
        let mut out = out;
        out.set_backpressure_counter(setup.metrics.backpressure_counter());
        let source_metrics =
            super::source_metrics::SourceMetrics::new(&setup.registry, &setup.info);
        let generator = watermarks.as_ref().map(|w| WatermarkGenerator::new(w, now));
        Self {
            setup,
            source,
            out,
            watermarks,
            batch_size,
            local: LocalCounts::default(),
            last_publish: now,
            source_metrics,
            last_flush: now,
            generator,
            last_wm: now,
            last_data: now,
            last_event_time: None,
            final_id: None,
            positions: std::collections::BTreeMap::new(),
            exit: false,
            drained: false,
            last_marker: now,
        }
    }

    /// Runs until the input is read and the job master lets the source end.
    pub fn run(mut self) -> Result<()> {
        self.source.open(&self.setup.info)?;
        if let Some(r) = self
            .setup
            .restored
            .as_ref()
            .filter(|r| !r.old_subtasks.is_empty())
        {
            // Every old subtask's position: the source keeps the splits it owns now.
            let mut positions = Vec::with_capacity(r.old_subtasks.len());
            for (i, f) in r.old_subtasks.iter().enumerate() {
                let f = f.as_ref().ok_or_else(|| {
                    Error::Checkpoint(format!(
                        "checkpoint {} has no position for subtask {i} of source '{}': its records cannot be resumed exactly",
                        r.checkpoint_id, self.setup.info.uid
                    ))
                })?;
                positions.push(f.operator_state());
            }
            self.source.restore(&positions)?;
            if let Some(own) = &r.own {
                if let Some(cs) =
                    ChannelState::<T, T>::decode(own.channel_state(), 0, &self.out.shape())?
                {
                    self.out.restore_overflow(cs.outputs);
                }
            }
        }
        let _ = self.setup.events.send(TaskEvent::Opened(self.setup.id));
        let mut exhausted = false;
        let mut buf = Vec::with_capacity(self.batch_size);
        loop {
            loop {
                match self.setup.control.try_recv() {
                    Ok(c) => {
                        if let Flow::Exit = self.on_control(c)? {
                            return self.finish();
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Err(Error::Cancelled),
                }
            }
            if !self.out.is_available() {
                let wake = self.out.wait_room::<_, ()>(&self.setup.control, None)?;
                if let Wake::A(c) = wake {
                    let c = c.map_err(|_| Error::Cancelled)?;
                    if let Flow::Exit = self.on_control(c)? {
                        return self.finish();
                    }
                }
                self.publish(Instant::now());
                continue;
            }
            if exhausted || self.drained {
                if let Flow::Exit = self.wait_control(PUBLISH_INTERVAL)? {
                    return self.finish();
                }
                self.publish(Instant::now());
                continue;
            }
            match self.source.poll(&mut buf, self.batch_size)? {
                Poll::Data if !buf.is_empty() => {
                    let now = Instant::now();
                    if let (Some(w), Some(g)) = (&self.watermarks, &mut self.generator) {
                        for r in &buf {
                            let split = w.split.as_ref().map_or("", |f| f(r));
                            g.on_record(split, (w.timestamp)(r), now);
                        }
                        self.last_event_time = buf
                            .last()
                            .map(|r| (w.timestamp)(r))
                            .filter(|t| *t > i64::MIN);
                    }
                    for r in buf.drain(..) {
                        self.out.emit(r)?;
                    }
                    self.last_data = now;
                    if let Some(SourceWatermark::Active(wm)) =
                        self.generator.as_mut().and_then(|g| g.after_batch())
                    {
                        self.out.broadcast(|| Message::Watermark(wm))?;
                    }
                }
                Poll::Data | Poll::Pending(None) => {
                    self.wait_for_input(Duration::from_millis(10))?
                }
                Poll::Pending(Some(hint)) => self.wait_for_input(hint.min(PUBLISH_INTERVAL))?,
                Poll::Finished => {
                    self.out.broadcast(|| Message::Watermark(MAX_WATERMARK))?;
                    let _ = self
                        .setup
                        .events
                        .send(TaskEvent::SourceExhausted(self.setup.id));
                    exhausted = true;
                }
            }
            if self.exit {
                return self.finish();
            }
            let now = Instant::now();
            self.maybe_watermark(now)?;
            if let Some(every) = self.setup.latency_interval {
                if now >= self.last_marker + every {
                    self.last_marker = now;
                    self.out.marker(crate::message::LatencyMarker {
                        source: self.setup.id.node as u32,
                        source_subtask: self.setup.info.index as u32,
                        emitted_us: crate::message::now_us(),
                    })?;
                }
            }
            if self.out.has_buffered() && now >= self.last_flush + self.setup.buffer_timeout {
                self.out.flush()?;
                self.last_flush = now;
            }
            self.publish(now);
        }
    }

    /// Sends what is still queued, then tells the job master the task ended.
    fn finish(&mut self) -> Result<()> {
        while !self.out.is_available() {
            if let Wake::A(Ok(TaskControl::Cancel) | Err(_)) =
                self.out.wait_room::<_, ()>(&self.setup.control, None)?
            {
                return Err(Error::Cancelled);
            }
        }
        self.publish(Instant::now());
        self.publish_source(None);
        let _ = self.setup.events.send(TaskEvent::Finished(self.setup.id));
        Ok(())
    }

    /// Nothing to read now: flush, maybe declare idleness, and wait for
    /// control messages (triggers) until the source may have more.
    fn wait_for_input(&mut self, wait: Duration) -> Result<()> {
        self.out.flush()?;
        self.last_flush = Instant::now();
        let t = Instant::now();
        let flow = self.wait_control(wait)?;
        self.local.idle_ns += t.elapsed().as_nanos() as u64;
        if let Flow::Exit = flow {
            self.exit = true;
        }
        Ok(())
    }

    /// On the watermark interval: the splits the source owns now, then
    /// the watermark or idleness they give.
    fn maybe_watermark(&mut self, now: Instant) -> Result<()> {
        let Some(g) = &mut self.generator else {
            return Ok(());
        };
        if now < self.last_wm + self.setup.watermark_interval {
            return Ok(());
        }
        self.last_wm = now;
        if self.watermarks.as_ref().is_some_and(|w| w.split.is_some()) {
            if let Some(owned) = self.source.splits() {
                g.assign(&owned, now);
            }
        }
        for w in g.tick(now) {
            match w {
                SourceWatermark::Advanced(wm) => {
                    self.setup.metrics.output_watermark(wm);
                    self.out.broadcast(|| Message::Watermark(wm))?;
                }
                SourceWatermark::Idle => self.out.broadcast(|| Message::Idle)?,
                SourceWatermark::Active(_) => {}
            }
        }
        Ok(())
    }

    fn wait_control(&mut self, wait: Duration) -> Result<Flow> {
        match self.setup.control.recv_timeout(wait) {
            Ok(c) => self.on_control(c),
            Err(RecvTimeoutError::Timeout) => Ok(Flow::Continue),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Cancelled),
        }
    }

    fn on_control(&mut self, c: TaskControl) -> Result<Flow> {
        match c {
            TaskControl::TriggerCheckpoint(b) => {
                let now = now_ms();
                let start_delay_ns = ((now - b.trigger_ms).max(0) as u64) * 1_000_000;
                let unaligned = self.setup.align.unaligned_for(&b, now);
                if b.drain && !self.drained {
                    // End of event time ahead of the barrier: downstream fires
                    // every window and timer before it snapshots.
                    self.drained = true;
                    self.out.broadcast(|| Message::Watermark(MAX_WATERMARK))?;
                }
                // Records read before the trigger go first, or are persisted when
                // the barrier overtakes them (unaligned).
                let outputs = self
                    .out
                    .emit_barrier(b, unaligned, self.setup.align.announces())?;
                let t0 = Instant::now();
                let position = self.source.position()?;
                let channel_state = ChannelState::<T, T> {
                    inputs: Vec::new(),
                    outputs,
                }
                .encode()?;
                let sync_ns = t0.elapsed().as_nanos() as u64;
                self.positions.insert(b.id, position.clone());
                spawn_async(
                    &self.setup,
                    b,
                    OperatorSnapshot {
                        operator_state: position,
                        channel_state,
                        ..OperatorSnapshot::default()
                    },
                    SyncTimings {
                        sync_ns,
                        start_delay_ns,
                        unaligned,
                        ..SyncTimings::default()
                    },
                );
                if b.is_final {
                    self.final_id = Some(b.id);
                    self.out.broadcast(|| Message::EndOfInput)?;
                }
                Ok(Flow::Continue)
            }
            TaskControl::NotifyComplete(id) => {
                super::drop_older_local_copies(&self.setup.info, id);
                // Older positions are subsumed by this one (Flink's
                // notifyCheckpointComplete is not sent for each).
                let newer = self.positions.split_off(&(id + 1));
                if let Some(position) = std::mem::replace(&mut self.positions, newer).remove(&id) {
                    self.source.checkpoint_complete(id, &position)?;
                }
                if self.final_id.is_some_and(|f| id >= f) {
                    return Ok(Flow::Exit);
                }
                Ok(Flow::Continue)
            }
            TaskControl::EndInput => {
                self.out.broadcast(|| Message::EndOfInput)?;
                Ok(Flow::Exit)
            }
            TaskControl::Abort(_) => Ok(Flow::Continue),
            TaskControl::Cancel => Err(Error::Cancelled),
        }
    }

    fn publish(&mut self, now: Instant) {
        self.publish_source(Some(now));
        super::publish(
            &self.setup.metrics,
            &mut self.local,
            &mut self.out,
            (0, 0),
            &mut self.last_publish,
            now,
        );
    }

    /// The source's own metrics (`now` `None`: its last word, at the end).
    fn publish_source(&mut self, now: Option<Instant>) {
        let per_split = self.watermarks.as_ref().is_some_and(|w| w.split.is_some());
        let emitted = super::source_metrics::Emitted {
            last_event_time: self.last_event_time,
            last_read: self.last_data,
            splits: self.generator.as_ref().filter(|_| per_split),
        };
        self.source_metrics.publish(&mut *self.source, emitted, now);
    }
}
