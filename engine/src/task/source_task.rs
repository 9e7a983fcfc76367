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
use crate::watermark::WatermarkStrategy;
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
    max_ts: i64,
    emitted_wm: i64,
    last_wm: Instant,
    last_data: Instant,
    idle_sent: bool,
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
    /// The source's lag gauges.
    lag: super::source_lag::SourceLag,
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
        Self {
            setup,
            source,
            out,
            watermarks,
            batch_size,
            local: LocalCounts::default(),
            last_publish: now,
            lag: super::source_lag::SourceLag::new(),
            last_flush: now,
            max_ts: i64::MIN,
            emitted_wm: i64::MIN,
            last_wm: now,
            last_data: now,
            idle_sent: false,
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
                    if let Some(w) = &self.watermarks {
                        for r in &buf {
                            self.max_ts = self.max_ts.max((w.timestamp)(r));
                        }
                    }
                    for r in buf.drain(..) {
                        self.out.emit(r)?;
                    }
                    self.last_data = Instant::now();
                    if self.idle_sent {
                        self.idle_sent = false;
                        let w = self.emitted_wm;
                        self.out.broadcast(|| Message::Watermark(w))?;
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
        self.lag.publish(
            &mut *self.source,
            &self.setup.registry,
            &self.setup.info,
            None,
        );
        let _ = self.setup.events.send(TaskEvent::Finished(self.setup.id));
        Ok(())
    }

    /// Nothing to read now: flush, maybe declare idleness, and wait for
    /// control messages (triggers) until the source may have more.
    fn wait_for_input(&mut self, wait: Duration) -> Result<()> {
        self.out.flush()?;
        self.last_flush = Instant::now();
        self.maybe_idle()?;
        let t = Instant::now();
        let flow = self.wait_control(wait)?;
        self.local.idle_ns += t.elapsed().as_nanos() as u64;
        if let Flow::Exit = flow {
            self.exit = true;
        }
        Ok(())
    }

    fn maybe_watermark(&mut self, now: Instant) -> Result<()> {
        let Some(w) = &self.watermarks else {
            return Ok(());
        };
        if now < self.last_wm + self.setup.watermark_interval || self.max_ts == i64::MIN {
            return Ok(());
        }
        self.last_wm = now;
        let wm = self
            .max_ts
            .saturating_sub(w.out_of_orderness_ms)
            .saturating_sub(1);
        if wm > self.emitted_wm {
            self.emitted_wm = wm;
            self.setup.metrics.output_watermark(wm);
            self.out.broadcast(|| Message::Watermark(wm))?;
        }
        Ok(())
    }

    fn maybe_idle(&mut self) -> Result<()> {
        let Some(timeout) = self.watermarks.as_ref().and_then(|w| w.idle_timeout) else {
            return Ok(());
        };
        if !self.idle_sent && self.last_data.elapsed() >= timeout {
            self.idle_sent = true;
            self.out.broadcast(|| Message::Idle)?;
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
        self.lag.publish(
            &mut *self.source,
            &self.setup.registry,
            &self.setup.info,
            Some(now),
        );
        super::publish(
            &self.setup.metrics,
            &mut self.local,
            &mut self.out,
            (0, 0),
            &mut self.last_publish,
            now,
        );
    }
}
