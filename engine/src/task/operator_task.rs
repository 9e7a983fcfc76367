//! The loop of a non-source subtask.

use super::snapshot::{spawn_async, SyncTimings};
use super::{TaskControl, TaskEvent, TaskSetup, PUBLISH_INTERVAL};
use crate::channel::Collector;
use crate::checkpoint::align::{AlignAction, Aligner};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::metrics::LocalCounts;
use crate::operator::{now_ms, OpenContext, Operator};
use crate::watermark::{WatermarkChange, WatermarkTracker};
use crossbeam_channel::{Receiver, Select};
use std::time::{Duration, Instant};

/// What one wait on the inputs produced.
enum Got<I> {
    Timeout,
    Control(Option<TaskControl>),
    Input(usize, Option<Message<I>>),
}

/// A subtask running one operator over its input channels.
pub struct OperatorTask<I, O> {
    setup: TaskSetup,
    op: Box<dyn Operator<I, O>>,
    inputs: Vec<Receiver<Message<I>>>,
    out: Collector<O>,
    aligner: Aligner,
    wm: WatermarkTracker,
    ended: Vec<bool>,
    blocked: Vec<bool>,
    local: LocalCounts,
    last_publish: Instant,
    last_flush: Instant,
    /// When the first barrier of the pending alignment arrived, and its start delay.
    align_started: Option<(Instant, u64)>,
    final_id: Option<u64>,
    notified: u64,
}

impl<I: Data, O: Data> OperatorTask<I, O> {
    /// A task over `inputs` (in channel order) emitting into `out`.
    pub fn new(
        setup: TaskSetup,
        op: Box<dyn Operator<I, O>>,
        inputs: Vec<Receiver<Message<I>>>,
        out: Collector<O>,
    ) -> Self {
        let n = inputs.len();
        let mut out = out;
        out.set_backpressure_counter(setup.metrics.backpressure_counter());
        Self {
            setup,
            op,
            inputs,
            out,
            aligner: Aligner::new(n),
            wm: WatermarkTracker::new(n),
            ended: vec![false; n],
            blocked: vec![false; n],
            local: LocalCounts::default(),
            last_publish: Instant::now(),
            last_flush: Instant::now(),
            align_started: None,
            final_id: None,
            notified: 0,
        }
    }

    /// Runs until every input ended (and the final checkpoint, if any, completed).
    pub fn run(mut self) -> Result<()> {
        self.op.open(&OpenContext {
            info: &self.setup.info,
            restored: self.setup.restored.as_ref(),
        })?;
        while self.ended.iter().any(|e| !e) {
            self.step()?;
        }
        self.op.end_input(&mut self.out)?;
        self.out.broadcast(|| Message::EndOfInput)?;
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

    fn step(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut deadline = now + PUBLISH_INTERVAL;
        if self.out.has_buffered() {
            deadline = deadline.min(self.last_flush + self.setup.buffer_timeout);
        }
        if let Some(t) = self.op.next_processing_time() {
            let wait = (t - now_ms()).max(0) as u64;
            deadline = deadline.min(now + Duration::from_millis(wait));
        }
        let got = {
            let mut sel = Select::new();
            let mut chans = Vec::with_capacity(self.inputs.len());
            for (i, r) in self.inputs.iter().enumerate() {
                if !self.ended[i] && !self.blocked[i] {
                    sel.recv(r);
                    chans.push(i);
                }
            }
            let ctl = sel.recv(&self.setup.control);
            match sel.select_deadline(deadline) {
                Err(_) => Got::Timeout,
                Ok(oper) if oper.index() == ctl => {
                    Got::Control(oper.recv(&self.setup.control).ok())
                }
                Ok(oper) => {
                    let ch = chans[oper.index()];
                    Got::Input(ch, oper.recv(&self.inputs[ch]).ok())
                }
            }
        };
        let at = Instant::now();
        self.local.idle_ns += (at - now).as_nanos() as u64;
        match got {
            Got::Timeout => self.on_timeout(at)?,
            Got::Control(Some(TaskControl::NotifyComplete(id))) => self.notify(id)?,
            Got::Control(Some(TaskControl::Abort(id))) => {
                let acts = self.aligner.on_abort(id);
                self.apply(acts)?
            }
            Got::Control(Some(TaskControl::Cancel) | None) => return Err(Error::Cancelled),
            Got::Control(Some(TaskControl::TriggerCheckpoint(_) | TaskControl::EndInput)) => {}
            Got::Input(ch, Some(msg)) => self.on_message(ch, msg)?,
            // The upstream task is gone: the attempt is being torn down.
            Got::Input(_, None) => return Err(Error::Cancelled),
        }
        if self.out.has_buffered() && at >= self.last_flush + self.setup.buffer_timeout {
            self.out.flush()?;
            self.last_flush = at;
        }
        self.publish(at);
        Ok(())
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

    fn on_message(&mut self, ch: usize, msg: Message<I>) -> Result<()> {
        match msg {
            Message::Batch(b) => {
                self.local.records_in += b.len() as u64;
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
                if self.aligner.pending() != Some(b.id) {
                    let delay_ms = (now_ms() - b.trigger_ms).max(0) as u64;
                    self.align_started = Some((Instant::now(), delay_ms * 1_000_000));
                }
                let acts = self.aligner.on_barrier(ch, b);
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
                let acts = self.aligner.on_end_of_input(ch);
                self.apply(acts)?;
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
                AlignAction::Block(ch) => self.blocked[ch] = self.setup.exactly_once,
                AlignAction::UnblockAll => self.blocked.iter_mut().for_each(|b| *b = false),
                AlignAction::Abandon(id) => {
                    log::debug!(
                        "{}#{} abandoned alignment of checkpoint {id}",
                        self.setup.info.vertex,
                        self.setup.info.index
                    );
                    self.align_started = None;
                }
                AlignAction::Snapshot(b) => {
                    let (first, start_delay_ns) =
                        self.align_started.take().unwrap_or((Instant::now(), 0));
                    let alignment_ns = first.elapsed().as_nanos() as u64;
                    // Records before the barrier go first; then the barrier; then the copy.
                    self.out.broadcast(|| Message::Barrier(b))?;
                    let t0 = Instant::now();
                    let snap = self.op.snapshot(b.id)?;
                    let sync_ns = t0.elapsed().as_nanos() as u64;
                    spawn_async(
                        &self.setup,
                        b,
                        snap,
                        SyncTimings {
                            sync_ns,
                            alignment_ns,
                            start_delay_ns,
                        },
                    );
                    if b.is_final {
                        self.final_id = Some(b.id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Batches queued in the input channels, and their capacity.
    fn input_fill(&self) -> (usize, usize) {
        self.inputs.iter().fold((0, 0), |(l, c), r| {
            (l + r.len(), c + r.capacity().unwrap_or(0))
        })
    }

    fn notify(&mut self, id: u64) -> Result<()> {
        self.notified = self.notified.max(id);
        self.op.notify_checkpoint_complete(id)
    }

    fn publish(&mut self, now: Instant) {
        self.setup.metrics.watermark_lag(now_ms());
        let input_fill = self.input_fill();
        super::publish(
            &self.setup.metrics,
            &mut self.local,
            &mut self.out,
            input_fill,
            &mut self.last_publish,
            now,
        );
    }
}
