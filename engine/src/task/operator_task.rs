//! The loop of a non-source subtask.
//!
//! Each step first makes sure its previous output went out (waiting for room
//! is backpressure; control messages and barrier announcements are still
//! served meanwhile), then takes one message: from a channel's local queue
//! (records drained by an unaligned checkpoint) or from the channels. Barrier
//! handling is decided by the pure [`Aligner`]; this file carries it out.

use super::async_snapshot::{spawn_async, SyncTimings};
use super::input::Input;
use super::{TaskControl, TaskEvent, TaskSetup, PUBLISH_INTERVAL};
use crate::channel::{Collector, Wake};
use crate::checkpoint::align::{AlignAction, Aligner};
use crate::checkpoint::channel_state::ChannelState;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::message::{Announcement, Barrier, Message};
use crate::metrics::LocalCounts;
use crate::operator::{now_ms, OpenContext, Operator};
use crate::state::state_file::OperatorSnapshot;
use crate::watermark::{WatermarkChange, WatermarkTracker};
use crossbeam_channel::{Receiver, Select, TryRecvError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What one wait on the inputs produced.
enum Got<I> {
    Timeout,
    Control(Option<TaskControl>),
    Announce(Option<Announcement>),
    Input(usize, Option<Message<I>>),
}

/// An unaligned snapshot waiting for its in-flight data.
struct PendingSnapshot<O> {
    barrier: Barrier,
    snap: OperatorSnapshot,
    timings: SyncTimings,
    outputs: Vec<Vec<Vec<O>>>,
    taken: Instant,
}

/// A subtask running one operator over its input channels.
pub struct OperatorTask<I, O> {
    setup: TaskSetup,
    op: Box<dyn Operator<I, O>>,
    inputs: Vec<Input<I>>,
    /// Per channel: messages taken from the channel but not yet processed.
    local: Vec<VecDeque<Message<I>>>,
    /// The priority lane (unaligned checkpoints; None once every upstream left).
    priority: Option<Receiver<Announcement>>,
    out: Collector<O>,
    aligner: Aligner,
    wm: WatermarkTracker,
    ended: Vec<bool>,
    blocked: Vec<bool>,
    /// In-flight records of the pending unaligned checkpoint, per channel.
    recorded: Vec<Vec<I>>,
    pending: Option<PendingSnapshot<O>>,
    counts: LocalCounts,
    last_publish: Instant,
    last_flush: Instant,
    /// When the first barrier of the pending alignment arrived, and its start delay.
    align_started: Option<(Instant, u64)>,
    /// Bytes processed since the first barrier of the pending alignment.
    align_bytes: u64,
    final_id: Option<u64>,
    notified: u64,
    next_local: usize,
}

impl<I: Data, O: Data> OperatorTask<I, O> {
    /// A task over `inputs` (in channel order) emitting into `out`.
    pub(crate) fn new(
        mut setup: TaskSetup,
        op: Box<dyn Operator<I, O>>,
        inputs: Vec<Input<I>>,
        out: Collector<O>,
    ) -> Self {
        let n = inputs.len();
        let mut out = out;
        out.set_backpressure_counter(setup.metrics.backpressure_counter());
        let priority = setup.priority.take();
        Self {
            aligner: Aligner::new(n, setup.align),
            setup,
            op,
            inputs,
            local: (0..n).map(|_| VecDeque::new()).collect(),
            priority,
            out,
            wm: WatermarkTracker::new(n),
            ended: vec![false; n],
            blocked: vec![false; n],
            recorded: vec![Vec::new(); n],
            pending: None,
            counts: LocalCounts::default(),
            last_publish: Instant::now(),
            last_flush: Instant::now(),
            align_started: None,
            align_bytes: 0,
            final_id: None,
            notified: 0,
            next_local: 0,
        }
    }

    /// Runs until every input ended (and the final checkpoint, if any, completed).
    pub fn run(mut self) -> Result<()> {
        self.op.open(&OpenContext {
            info: &self.setup.info,
            restored: self.setup.restored.as_ref(),
            registry: Some(&self.setup.registry),
        })?;
        self.restore_in_flight()?;
        let _ = self.setup.events.send(TaskEvent::Opened(self.setup.id));
        while self.ended.iter().any(|e| !e) {
            self.step()?;
        }
        self.op.end_input(&mut self.out)?;
        self.out.broadcast(|| Message::EndOfInput)?;
        while !self.out.is_available() {
            self.wait_output()?;
        }
        self.publish(Instant::now());
        while self.final_id.is_some_and(|f| self.notified < f) {
            match self.setup.control.recv() {
                Ok(TaskControl::NotifyComplete(id)) => self.notify(id)?,
                Ok(TaskControl::Cancel) | Err(_) => return Err(Error::Cancelled),
                Ok(_) => {}
            }
        }
        let _ = self.setup.events.send(TaskEvent::Finished(self.setup.id));
        Ok(())
    }

    /// Queues the in-flight records of the restored checkpoint: inputs are
    /// processed, outputs sent, before anything new.
    fn restore_in_flight(&mut self) -> Result<()> {
        let Some(own) = self.setup.restored.as_ref().and_then(|r| r.own.clone()) else {
            return Ok(());
        };
        let Some(cs) = ChannelState::<I, O>::decode(
            own.channel_state(),
            self.inputs.len(),
            &self.out.shape(),
        )?
        else {
            return Ok(());
        };
        log::info!(
            "{}#{} replays {} in-flight records",
            self.setup.info.vertex,
            self.setup.info.index,
            cs.records()
        );
        for (q, recs) in self.local.iter_mut().zip(cs.inputs) {
            if !recs.is_empty() {
                q.push_back(Message::Batch(recs));
            }
        }
        self.out.restore_overflow(cs.outputs);
        Ok(())
    }

    fn step(&mut self) -> Result<()> {
        if let Some(d) = self.aligner.deadline() {
            if now_ms() >= d {
                let acts = self.aligner.on_time(now_ms());
                self.apply(acts)?;
            }
        }
        if !self.out.is_available() {
            return self.wait_output();
        }
        if self.aligner.pending().is_some() {
            for ch in 0..self.inputs.len() {
                if self.aligner.draining(ch) {
                    self.drain(ch)?;
                }
            }
        }
        if let Some(ch) = self.local_ready() {
            return self.step_local(ch);
        }
        let now = Instant::now();
        let mut deadline = now + PUBLISH_INTERVAL;
        if self.out.has_buffered() {
            deadline = deadline.min(self.last_flush + self.setup.buffer_timeout);
        }
        let timers = [self.op.next_processing_time(), self.aligner.deadline()];
        if timers.iter().any(Option::is_some) {
            let wall = now_ms();
            for t in timers.into_iter().flatten() {
                deadline = deadline.min(now + Duration::from_millis((t - wall).max(0) as u64));
            }
        }
        let got = {
            let mut sel = Select::new();
            let mut chans = Vec::with_capacity(self.inputs.len());
            for (i, r) in self.inputs.iter().enumerate() {
                if !self.ended[i] && !self.blocked[i] && self.local[i].is_empty() {
                    r.register(&mut sel);
                    chans.push(i);
                }
            }
            let ctl = sel.recv(&self.setup.control);
            let prio = self.priority.as_ref().map(|p| sel.recv(p));
            match sel.select_deadline(deadline) {
                Err(_) => Got::Timeout,
                Ok(oper) if oper.index() == ctl => {
                    Got::Control(oper.recv(&self.setup.control).ok())
                }
                Ok(oper) if Some(oper.index()) == prio => {
                    Got::Announce(self.priority.as_ref().and_then(|p| oper.recv(p).ok()))
                }
                Ok(oper) => {
                    let ch = chans[oper.index()];
                    Got::Input(ch, self.inputs[ch].complete(oper))
                }
            }
        };
        let at = Instant::now();
        self.counts.idle_ns += (at - now).as_nanos() as u64;
        match got {
            Got::Timeout => self.on_timeout(at)?,
            Got::Control(c) => self.on_control(c)?,
            Got::Announce(Some((ch, b))) => self.on_announce(ch, b)?,
            // Every upstream task is gone; barriers still come in-band.
            Got::Announce(None) => self.priority = None,
            Got::Input(ch, Some(msg)) => self.on_message(ch, msg, true)?,
            // The upstream task is gone: the attempt is being torn down. A
            // completed checkpoint's notification may still be queued (a stop
            // sends it just before the cancel): commit it before going.
            Got::Input(_, None) => {
                while let Ok(TaskControl::NotifyComplete(id)) = self.setup.control.try_recv() {
                    self.notify(id)?;
                }
                return Err(Error::Cancelled);
            }
        }
        self.after_step(at)
    }

    /// Takes one message drained earlier (control messages and announcements first).
    fn step_local(&mut self, ch: usize) -> Result<()> {
        match self.setup.control.try_recv() {
            Ok(c) => return self.on_control(Some(c)),
            Err(TryRecvError::Disconnected) => return Err(Error::Cancelled),
            Err(TryRecvError::Empty) => {}
        }
        if let Some(Ok((c, b))) = self.priority.as_ref().map(|p| p.try_recv()) {
            return self.on_announce(c, b);
        }
        let msg = self.local[ch]
            .pop_front()
            .expect("a ready channel has messages");
        self.on_message(ch, msg, false)?;
        self.after_step(Instant::now())
    }

    /// The next unblocked channel with drained messages, round robin.
    fn local_ready(&mut self) -> Option<usize> {
        let n = self.local.len();
        (0..n)
            .map(|k| (self.next_local + k) % n)
            .find(|&ch| !self.blocked[ch] && !self.local[ch].is_empty())
            .inspect(|&ch| self.next_local = (ch + 1) % n)
    }

    fn after_step(&mut self, at: Instant) -> Result<()> {
        if self.out.has_buffered() && at >= self.last_flush + self.setup.buffer_timeout {
            self.out.flush()?;
            self.last_flush = at;
        }
        self.publish(at);
        Ok(())
    }

    /// Backpressured: wait for room, still serving control and announcements.
    fn wait_output(&mut self) -> Result<()> {
        match self
            .out
            .wait_room(&self.setup.control, self.priority.as_ref())?
        {
            Wake::Room | Wake::Timeout => {}
            Wake::A(c) => self.on_control(c.ok())?,
            Wake::B(Ok((ch, b))) => self.on_announce(ch, b)?,
            Wake::B(Err(_)) => self.priority = None,
        }
        self.publish(Instant::now());
        Ok(())
    }

    fn on_control(&mut self, c: Option<TaskControl>) -> Result<()> {
        match c {
            Some(TaskControl::NotifyComplete(id)) => self.notify(id),
            Some(TaskControl::Abort(id)) => {
                let acts = self.aligner.on_abort(id);
                self.apply(acts)
            }
            Some(TaskControl::Cancel) | None => Err(Error::Cancelled),
            Some(TaskControl::TriggerCheckpoint(_) | TaskControl::EndInput) => Ok(()),
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Result<()> {
        if self.out.has_buffered() && now >= self.last_flush + self.setup.buffer_timeout {
            self.out.flush()?;
            self.last_flush = now;
        }
        if let Some(t) = self.op.next_processing_time() {
            let wall = now_ms();
            if wall >= t {
                self.op.on_processing_time(wall, &mut self.out)?;
            }
        }
        Ok(())
    }

    /// Notes the first sign of checkpoint `b` at this task (start delay).
    fn first_sign(&mut self, b: &Barrier) {
        if self.aligner.pending() != Some(b.id) {
            let delay_ms = (now_ms() - b.trigger_ms).max(0) as u64;
            self.align_started = Some((Instant::now(), delay_ms * 1_000_000));
            self.align_bytes = 0;
        }
    }

    fn on_announce(&mut self, ch: usize, b: Barrier) -> Result<()> {
        self.first_sign(&b);
        let acts = self.aligner.on_announce(ch, b, now_ms());
        self.apply(acts)
    }

    /// `fresh`: the message comes from the channel, not from the local queue
    /// (whose records were recorded when they were drained).
    fn on_message(&mut self, ch: usize, msg: Message<I>, fresh: bool) -> Result<()> {
        match msg {
            Message::Batch(b) => {
                self.counts.records_in += b.len() as u64;
                if fresh && self.aligner.recording(ch) {
                    self.recorded[ch].extend(b.iter().cloned());
                }
                if self.aligner.aligning() {
                    // One record's encoded size stands for the batch's.
                    let each = b.first().and_then(|r| bincode::serialized_size(r).ok());
                    self.align_bytes += each.unwrap_or(0) * b.len() as u64;
                }
                self.op.process_batch(b, &mut self.out)?;
            }
            Message::Watermark(w) => {
                let c = self.wm.on_watermark(ch, w);
                self.on_watermark_change(c)?;
            }
            Message::Idle => {
                let c = self.wm.on_idle(ch);
                self.on_watermark_change(c)?;
            }
            Message::Barrier(b) => {
                self.first_sign(&b);
                let acts = self.aligner.on_barrier(ch, b, now_ms());
                self.apply(acts)?;
            }
            Message::PersistedFrom(b) => {
                self.first_sign(&b);
                let acts = self.aligner.on_persisted_from(ch, b, now_ms());
                self.apply(acts)?;
            }
            Message::LatencyMarker(m) => {
                if let Some(rec) = &mut self.setup.latency {
                    rec.record(
                        m.source,
                        m.source_subtask,
                        crate::message::now_us() - m.emitted_us,
                    );
                }
                self.out.marker(m)?;
            }
            Message::EndOfInput => {
                self.ended[ch] = true;
                let c = self.wm.on_end(ch);
                self.on_watermark_change(c)?;
                let acts = self.aligner.on_end_of_input(ch, now_ms());
                self.apply(acts)?;
            }
        }
        Ok(())
    }

    /// Moves what channel `ch` holds, up to the pending checkpoint's barrier
    /// (or its upstream's persisted mark), into the local queue, recording the
    /// records: they were sent before the barrier and are processed after the
    /// snapshot.
    fn drain(&mut self, ch: usize) -> Result<()> {
        while self.aligner.draining(ch) {
            let msg = match self.inputs[ch].try_recv() {
                Ok(m) => m,
                Err(_) => return Ok(()),
            };
            let pending = self.aligner.pending();
            match msg {
                Message::Batch(b) => {
                    self.recorded[ch].extend(b.iter().cloned());
                    self.local[ch].push_back(Message::Batch(b));
                }
                Message::Barrier(b) if Some(b.id) == pending => {
                    let acts = self.aligner.on_barrier(ch, b, now_ms());
                    self.apply(acts)?;
                }
                Message::PersistedFrom(b) if Some(b.id) == pending => {
                    let acts = self.aligner.on_persisted_from(ch, b, now_ms());
                    self.apply(acts)?;
                }
                Message::EndOfInput => {
                    self.local[ch].push_back(Message::EndOfInput);
                    let acts = self.aligner.on_end_of_input(ch, now_ms());
                    self.apply(acts)?;
                }
                other => self.local[ch].push_back(other),
            }
        }
        Ok(())
    }

    fn on_watermark_change(&mut self, c: Option<WatermarkChange>) -> Result<()> {
        match c {
            Some(WatermarkChange::Advanced(w)) => {
                self.setup.metrics.input_watermark(w);
                self.op.on_watermark(w, &mut self.out)?;
                self.setup.metrics.output_watermark(w);
                self.out.broadcast(|| Message::Watermark(w))
            }
            Some(WatermarkChange::Idle) => self.out.broadcast(|| Message::Idle),
            None => Ok(()),
        }
    }

    fn apply(&mut self, actions: Vec<AlignAction>) -> Result<()> {
        for a in actions {
            match a {
                AlignAction::Block(ch) => self.blocked[ch] = true,
                AlignAction::UnblockAll => self.blocked.iter_mut().for_each(|b| *b = false),
                AlignAction::Abandon(id) => {
                    log::debug!(
                        "{}#{} abandoned checkpoint {id}",
                        self.setup.info.vertex,
                        self.setup.info.index
                    );
                    self.align_started = None;
                    if self.pending.as_ref().is_some_and(|p| p.barrier.id == id) {
                        self.pending = None;
                    }
                    self.recorded.iter_mut().for_each(Vec::clear);
                }
                AlignAction::Snapshot { barrier, unaligned } => {
                    self.snapshot(barrier, unaligned)?
                }
                AlignAction::Drain(ch) => self.drain(ch)?,
                AlignAction::ChannelStateDone(id) => self.finish_unaligned(id)?,
            }
        }
        Ok(())
    }

    fn snapshot(&mut self, b: Barrier, unaligned: bool) -> Result<()> {
        let (first, start_delay_ns) = self.align_started.take().unwrap_or((Instant::now(), 0));
        let alignment_ns = first.elapsed().as_nanos() as u64;
        let outputs = self
            .out
            .emit_barrier(b, unaligned, self.setup.align.announces())?;
        let t0 = Instant::now();
        let snap = self.op.snapshot(b.id, b.savepoint)?;
        let timings = SyncTimings {
            sync_ns: t0.elapsed().as_nanos() as u64,
            alignment_ns,
            start_delay_ns,
            processed_bytes: std::mem::take(&mut self.align_bytes),
            unaligned,
            async_before_ns: 0,
        };
        if b.is_final {
            self.final_id = Some(b.id);
        }
        if !unaligned {
            spawn_async(&self.setup, b, snap, timings);
            return Ok(());
        }
        // Records drained earlier and not yet processed are in flight too.
        for ch in 0..self.inputs.len() {
            self.recorded[ch].clear();
            if self.aligner.recording(ch) {
                for m in &self.local[ch] {
                    if let Message::Batch(r) = m {
                        self.recorded[ch].extend(r.iter().cloned());
                    }
                }
            }
        }
        self.pending = Some(PendingSnapshot {
            barrier: b,
            snap,
            timings,
            outputs,
            taken: Instant::now(),
        });
        Ok(())
    }

    /// Every channel's in-flight data is recorded: write and acknowledge.
    fn finish_unaligned(&mut self, id: u64) -> Result<()> {
        let Some(mut p) = self.pending.take().filter(|p| p.barrier.id == id) else {
            return Ok(());
        };
        let state = ChannelState {
            inputs: std::mem::take(&mut self.recorded),
            outputs: p.outputs,
        };
        self.recorded = vec![Vec::new(); self.inputs.len()];
        p.snap.channel_state = state.encode()?;
        p.timings.async_before_ns = p.taken.elapsed().as_nanos() as u64;
        spawn_async(&self.setup, p.barrier, p.snap, p.timings);
        Ok(())
    }

    /// Batches queued in the input channels, and their capacity.
    fn input_fill(&self) -> (usize, usize) {
        self.inputs.iter().fold((0, 0), |(l, c), r| {
            let (len, cap) = r.fill();
            (l + len, c + cap)
        })
    }

    fn notify(&mut self, id: u64) -> Result<()> {
        self.notified = self.notified.max(id);
        super::drop_older_local_copies(&self.setup.info, id);
        self.op.notify_checkpoint_complete(id)
    }

    fn publish(&mut self, now: Instant) {
        self.setup.metrics.watermark_lag(now_ms());
        let input_fill = self.input_fill();
        super::publish(
            &self.setup.metrics,
            &mut self.counts,
            &mut self.out,
            input_fill,
            &mut self.last_publish,
            now,
        );
    }
}
