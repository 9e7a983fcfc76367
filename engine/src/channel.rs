//! Bounded edges between subtasks and the partitioners that choose a channel.
//!
//! Each (upstream subtask, downstream subtask) pair of an edge has its own
//! bounded crossbeam channel of [`Message`]s. The upstream side buffers records
//! per channel in an [`OutputEdge`] and sends a batch when it is full, when a
//! control message must follow it, or when the buffer timeout passes.
//!
//! A send never blocks in the middle of an operator's work: what does not fit
//! into a full channel waits in the edge's *overflow* queue (at most what one
//! input batch produced), and the task, before it takes more input, waits in
//! [`Collector::wait_room`] until the overflow went out. That wait is what
//! carries backpressure from a slow operator back to the sources, its duration
//! is what the backpressured-time metric reports, and because the task waits
//! *between* batches it can still take a checkpoint while backpressured (an
//! unaligned barrier then overtakes the overflow, which the task persists).
use crate::data::Data;
use crate::message::{Announcement, Barrier, Message};
use crate::state::key_group::{key_group_for_hash, operator_index_for_key_group};
use crossbeam_channel::{Receiver, RecvError, Select, Sender, TrySendError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How records of one edge are spread over the downstream subtasks.
pub enum Partitioner<T> {
    /// Subtask i sends to subtask i (same parallelism on both sides).
    Forward,
    /// Round robin over all downstream subtasks.
    Rebalance,
    /// Every record to every downstream subtask.
    Broadcast,
    /// By key group of the key's Java hash, as Flink's `KeyGroupStreamPartitioner`.
    KeyGroup {
        /// Java `hashCode` of the record's key.
        hash: Arc<dyn Fn(&T) -> i32 + Send + Sync>,
        /// The record's key as `{:?}` shows it (for the doctor's sampled
        /// hot keys; called for one record in
        /// [`crate::runtime::key_group_load::KEY_SAMPLE`]).
        key_text: Arc<dyn Fn(&T) -> String + Send + Sync>,
        /// Number of key groups of the downstream operator.
        max_parallelism: u32,
    },
}

impl<T> Clone for Partitioner<T> {
    fn clone(&self) -> Self {
        match self {
            Partitioner::Forward => Partitioner::Forward,
            Partitioner::Rebalance => Partitioner::Rebalance,
            Partitioner::Broadcast => Partitioner::Broadcast,
            Partitioner::KeyGroup {
                hash,
                key_text,
                max_parallelism,
            } => Partitioner::KeyGroup {
                hash: hash.clone(),
                key_text: key_text.clone(),
                max_parallelism: *max_parallelism,
            },
        }
    }
}

impl<T: 'static> Partitioner<T> {
    /// The same partitioning for records of type `P` seen through `view`
    /// (a side output's records inside its operator's output): a record the
    /// view does not show is never sent, so its hash does not matter.
    pub(crate) fn through<P: 'static>(&self, view: fn(&P) -> Option<&T>) -> Partitioner<P> {
        match self {
            Partitioner::Forward => Partitioner::Forward,
            Partitioner::Rebalance => Partitioner::Rebalance,
            Partitioner::Broadcast => Partitioner::Broadcast,
            Partitioner::KeyGroup {
                hash,
                key_text,
                max_parallelism,
            } => {
                let (hash, text) = (hash.clone(), key_text.clone());
                Partitioner::KeyGroup {
                    hash: Arc::new(move |p: &P| view(p).map_or(0, |t| hash(t))),
                    key_text: Arc::new(move |p: &P| view(p).map_or_else(String::new, |t| text(t))),
                    max_parallelism: *max_parallelism,
                }
            }
        }
    }
}

impl<T> Partitioner<T> {
    /// Short name for the graph description and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Partitioner::Forward => "FORWARD",
            Partitioner::Rebalance => "REBALANCE",
            Partitioner::Broadcast => "BROADCAST",
            Partitioner::KeyGroup { .. } => "HASH",
        }
    }
}

/// Shared by every task of one job attempt: set when the attempt is cancelled,
/// so that a task blocked on a full channel gives up instead of waiting forever.
#[derive(Clone, Default, Debug)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How often a backpressured task re-checks the cancel flag and publishes
/// the time it has been waiting so far.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// The sending side of one edge for one upstream subtask.
pub struct OutputEdge<T> {
    senders: Vec<Sender<Message<T>>>,
    /// Per channel: messages that did not fit, in order, sent before anything newer.
    overflow: Vec<VecDeque<Message<T>>>,
    /// Per channel: the downstream task's priority lane and this channel's
    /// index there (unaligned checkpoints only).
    announce: Vec<Option<(Sender<Announcement>, usize)>>,
    buffers: Vec<Vec<T>>,
    partitioner: Partitioner<T>,
    next_rr: usize,
    batch_size: usize,
    /// Only records for which this holds travel on this edge (a side
    /// output's edge, or the main output's when there are side outputs).
    keep: Option<Keep<T>>,
    /// A keyed edge's sampled records per key group of the downstream
    /// vertex, and the records routed so far (for the sampling).
    load: Option<(Arc<crate::runtime::key_group_load::KeyGroupLoad>, u32)>,
}

/// Which records an edge carries (see [`OutputEdge`]'s `keep`).
pub(crate) type Keep<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

impl<T: Data> OutputEdge<T> {
    /// An edge sending to `senders` (one per downstream subtask, or just one for forward).
    pub fn new(
        senders: Vec<Sender<Message<T>>>,
        partitioner: Partitioner<T>,
        subtask: usize,
        batch_size: usize,
    ) -> Self {
        let buffers = senders
            .iter()
            .map(|_| Vec::with_capacity(batch_size))
            .collect();
        Self {
            overflow: senders.iter().map(|_| VecDeque::new()).collect(),
            announce: senders.iter().map(|_| None).collect(),
            senders,
            buffers,
            partitioner,
            // Upstream subtasks start round robin at different channels.
            next_rr: subtask,
            batch_size: batch_size.max(1),
            keep: None,
            load: None,
        }
    }

    /// Counts one record in [`crate::runtime::key_group_load::SAMPLE`] per
    /// key group into `load` (keyed edges only).
    pub(crate) fn count_key_groups(
        &mut self,
        load: Arc<crate::runtime::key_group_load::KeyGroupLoad>,
    ) {
        self.load = Some((load, 0));
    }

    /// Sends only the records for which `keep` holds.
    pub(crate) fn keep_only(&mut self, keep: Keep<T>) {
        self.keep = Some(keep);
    }

    #[inline]
    fn keeps(&self, record: &T) -> bool {
        self.keep.as_ref().is_none_or(|k| k(record))
    }

    #[inline]
    fn target(&mut self, record: &T) -> usize {
        match &self.partitioner {
            Partitioner::Forward => 0,
            Partitioner::Rebalance => {
                self.next_rr = (self.next_rr + 1) % self.senders.len();
                self.next_rr
            }
            Partitioner::KeyGroup {
                hash,
                key_text,
                max_parallelism,
            } => {
                let kg = key_group_for_hash(hash(record), *max_parallelism);
                if let Some((load, seen)) = &mut self.load {
                    use crate::runtime::key_group_load::{KEY_SAMPLE, SAMPLE};
                    *seen = seen.wrapping_add(1);
                    if *seen % SAMPLE == 0 {
                        load.record(kg);
                        if *seen % KEY_SAMPLE == 0 {
                            load.record_key(kg, key_text(record));
                        }
                    }
                }
                operator_index_for_key_group(*max_parallelism, self.senders.len() as u32, kg)
                    as usize
            }
            Partitioner::Broadcast => usize::MAX,
        }
    }

    /// Buffers one record; sends a batch when a buffer fills.
    #[inline]
    fn push(&mut self, record: T) -> Result<(), crate::Error> {
        let t = self.target(&record);
        if t == usize::MAX {
            for i in 0..self.senders.len() {
                self.buffers[i].push(record.clone());
                if self.buffers[i].len() >= self.batch_size {
                    self.flush_one(i)?;
                }
            }
            return Ok(());
        }
        self.buffers[t].push(record);
        if self.buffers[t].len() >= self.batch_size {
            self.flush_one(t)?;
        }
        Ok(())
    }

    fn flush_one(&mut self, i: usize) -> Result<(), crate::Error> {
        if self.buffers[i].is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buffers[i], Vec::with_capacity(self.batch_size));
        self.send(i, Message::Batch(batch))
    }

    /// Sends `msg` on channel `i` if it fits and nothing older waits; queues it otherwise.
    #[inline]
    fn send(&mut self, i: usize, msg: Message<T>) -> Result<(), crate::Error> {
        if !self.overflow[i].is_empty() {
            self.overflow[i].push_back(msg);
            return Ok(());
        }
        match self.senders[i].try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(m)) => {
                self.overflow[i].push_back(m);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(crate::Error::Cancelled),
        }
    }

    /// Moves queued messages into channels that have room; whether all went out.
    fn try_drain(&mut self) -> Result<bool, crate::Error> {
        let mut all = true;
        for (q, s) in self.overflow.iter_mut().zip(&self.senders) {
            while let Some(m) = q.pop_front() {
                match s.try_send(m) {
                    Ok(()) => {}
                    Err(TrySendError::Full(m)) => {
                        q.push_front(m);
                        all = false;
                        break;
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(crate::Error::Cancelled),
                }
            }
        }
        Ok(all)
    }

    /// Unaligned snapshot: copies the records waiting in the overflow (the
    /// receiver has not seen them; they belong to the checkpoint) and marks
    /// their start, so the receiver does not record them a second time.
    fn persist_overflow(&mut self, b: Barrier) -> Vec<Vec<T>> {
        self.overflow
            .iter_mut()
            .map(|q| {
                let recs: Vec<T> = q
                    .iter()
                    .filter_map(|m| match m {
                        Message::Batch(r) => Some(r.iter().cloned()),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                if !q.is_empty() {
                    q.push_front(Message::PersistedFrom(b));
                }
                recs
            })
            .collect()
    }

    /// Recovery: the records this edge had persisted go out before anything else.
    fn restore_overflow(&mut self, per_channel: Vec<Vec<T>>) {
        for (q, recs) in self.overflow.iter_mut().zip(per_channel) {
            if !recs.is_empty() {
                q.push_back(Message::Batch(recs));
            }
        }
    }

    /// Tells each downstream task, on its priority lane, that `b` is queued.
    fn announce(&self, b: Barrier) {
        for (tx, ch) in self.announce.iter().flatten() {
            let _ = tx.send((*ch, b));
        }
    }

    /// Connects channel `i` to its receiver's priority lane, where it is input `ch`.
    pub fn set_announce(&mut self, i: usize, lane: Sender<Announcement>, ch: usize) {
        self.announce[i] = Some((lane, ch));
    }

    /// Channels this edge sends on.
    pub fn channels(&self) -> usize {
        self.senders.len()
    }

    /// Sends every buffered record.
    pub fn flush(&mut self) -> Result<(), crate::Error> {
        for i in 0..self.senders.len() {
            self.flush_one(i)?;
        }
        Ok(())
    }

    /// Flushes, then sends a control message (watermark, barrier, end) to every channel.
    pub fn broadcast(&mut self, make: impl Fn() -> Message<T>) -> Result<(), crate::Error> {
        self.flush()?;
        for i in 0..self.senders.len() {
            self.send(i, make())?;
        }
        Ok(())
    }

    /// Sends a latency marker on one channel (round robin), behind the records
    /// buffered for that channel.
    pub fn marker(&mut self, m: crate::message::LatencyMarker) -> Result<(), crate::Error> {
        self.next_rr = (self.next_rr + 1) % self.senders.len();
        let i = self.next_rr;
        self.flush_one(i)?;
        self.send(i, Message::LatencyMarker(m))
    }

    /// Whether any record waits in a buffer.
    pub fn has_buffered(&self) -> bool {
        self.buffers.iter().any(|b| !b.is_empty())
    }

    /// Batches queued in this edge's channels, and their capacity.
    pub fn queue_fill(&self) -> (usize, usize) {
        self.senders.iter().fold((0, 0), |(l, c), s| {
            (l + s.len(), c + s.capacity().unwrap_or(0))
        })
    }
}

/// What blocking sends cost: accumulated by the sender, published by the task.
#[derive(Debug, Default)]
pub struct SendStats {
    /// Nanoseconds spent waiting for room in full channels since the last
    /// publish (the task subtracts them from its busy time).
    pub backpressured_ns: u64,
    /// The attempt's cancel flag: a blocked send gives up when it is set.
    pub cancel: CancelFlag,
    /// The subtask's backpressured-time counter, advanced while a wait is
    /// still going on (every [`CANCEL_POLL`]), so a task blocked for minutes
    /// reads backpressured throughout, not only when it unblocks.
    pub live: Option<tidemark_agent::Counter>,
}

/// What ended a [`Collector::wait_room`].
#[derive(Debug)]
pub enum Wake<A, B> {
    /// Queued output went out (perhaps not all of it).
    Room,
    /// Nothing happened for a poll interval.
    Timeout,
    /// The first receiver delivered (or disconnected).
    A(Result<A, RecvError>),
    /// The second receiver delivered (or disconnected).
    B(Result<B, RecvError>),
}

/// Where an operator puts its output (the prelude's `Output`): `emit` sends a
/// record on to every consumer; the rest is the runtime's.
pub struct Collector<O> {
    edges: Vec<OutputEdge<O>>,
    /// Records emitted since the task last published its counters.
    pub(crate) emitted: u64,
    /// Blocking statistics of the sends.
    pub(crate) io: SendStats,
}

impl<O: Data> Collector<O> {
    /// A collector over the given edges (empty for a sink).
    pub(crate) fn new(edges: Vec<OutputEdge<O>>, cancel: CancelFlag) -> Self {
        Self {
            edges,
            emitted: 0,
            io: SendStats {
                backpressured_ns: 0,
                cancel,
                live: None,
            },
        }
    }

    /// Emits one record to every edge.
    #[inline]
    pub fn emit(&mut self, record: O) -> Result<(), crate::Error> {
        self.emitted += 1;
        match self.edges.len() {
            0 => Ok(()),
            1 if self.edges[0].keeps(&record) => self.edges[0].push(record),
            1 => Ok(()),
            n => {
                for e in &mut self.edges[..n - 1] {
                    if e.keeps(&record) {
                        e.push(record.clone())?;
                    }
                }
                match &mut self.edges[n - 1] {
                    e if e.keeps(&record) => e.push(record),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Sends all buffered records.
    pub(crate) fn flush(&mut self) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.flush()?;
        }
        Ok(())
    }

    /// Flushes and sends a control message on every channel of every edge.
    pub(crate) fn broadcast(&mut self, make: impl Fn() -> Message<O>) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.broadcast(&make)?;
        }
        Ok(())
    }

    /// Forwards a latency marker on one channel of every edge.
    pub(crate) fn marker(&mut self, m: crate::message::LatencyMarker) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.marker(m)?;
        }
        Ok(())
    }

    /// Whether every message was handed to its channel: the task may take
    /// more input only then.
    #[inline]
    pub(crate) fn is_available(&self) -> bool {
        self.edges
            .iter()
            .all(|e| e.overflow.iter().all(|q| q.is_empty()))
    }

    /// Waits (at most one poll interval) until queued output moves on or `a`
    /// or `b` has a message; the wait counts as backpressured time.
    pub(crate) fn wait_room<A, B>(
        &mut self,
        a: &Receiver<A>,
        b: Option<&Receiver<B>>,
    ) -> Result<Wake<A, B>, crate::Error> {
        let start = Instant::now();
        let r = self.wait_room_once(a, b);
        let ns = start.elapsed().as_nanos() as u64;
        self.io.backpressured_ns += ns;
        if let Some(c) = &self.io.live {
            c.add(ns);
        }
        r
    }

    fn wait_room_once<A, B>(
        &mut self,
        a: &Receiver<A>,
        b: Option<&Receiver<B>>,
    ) -> Result<Wake<A, B>, crate::Error> {
        if self.io.cancel.is_cancelled() {
            return Err(crate::Error::Cancelled);
        }
        if self.try_drain()? {
            return Ok(Wake::Room);
        }
        // Cloned senders (an Arc each) keep the Select's borrows off `self`.
        let mut full = Vec::new();
        for (ei, e) in self.edges.iter().enumerate() {
            for (ci, q) in e.overflow.iter().enumerate() {
                if !q.is_empty() {
                    full.push((ei, ci, e.senders[ci].clone()));
                }
            }
        }
        let mut sel = Select::new();
        for (_, _, s) in &full {
            sel.send(s);
        }
        let ia = sel.recv(a);
        let ib = b.map(|b| sel.recv(b));
        let op = match sel.select_timeout(CANCEL_POLL) {
            Err(_) => return Ok(Wake::Timeout),
            Ok(op) => op,
        };
        let i = op.index();
        if i == ia {
            return Ok(Wake::A(op.recv(a)));
        }
        if let (Some(ib), Some(b)) = (ib, b) {
            if i == ib {
                return Ok(Wake::B(op.recv(b)));
            }
        }
        let (ei, ci, s) = &full[i];
        let m = self.edges[*ei].overflow[*ci]
            .pop_front()
            .expect("a channel is selected only while it has queued messages");
        op.send(s, m).map_err(|_| crate::Error::Cancelled)?;
        self.try_drain()?;
        Ok(Wake::Room)
    }

    /// Hands queued messages to channels with room; whether all went out.
    fn try_drain(&mut self) -> Result<bool, crate::Error> {
        let mut all = true;
        for e in &mut self.edges {
            all &= e.try_drain()?;
        }
        Ok(all)
    }

    /// Sends barrier `b` behind everything emitted so far. When `unaligned`,
    /// the records still queued are copied (and returned, per edge and
    /// channel) because the barrier's announcement overtakes them; with
    /// `announce` every downstream priority lane is told.
    pub(crate) fn emit_barrier(
        &mut self,
        b: Barrier,
        unaligned: bool,
        announce: bool,
    ) -> Result<Vec<Vec<Vec<O>>>, crate::Error> {
        self.flush()?;
        let persisted = if unaligned {
            self.persist_overflow(b)
        } else {
            Vec::new()
        };
        self.broadcast(|| Message::Barrier(b))?;
        if announce {
            self.announce(b);
        }
        Ok(persisted)
    }

    /// Unaligned snapshot: the records still queued here, per edge and
    /// channel (see [`OutputEdge`]'s overflow); call after [`Self::flush`].
    fn persist_overflow(&mut self, b: Barrier) -> Vec<Vec<Vec<O>>> {
        self.edges
            .iter_mut()
            .map(|e| e.persist_overflow(b))
            .collect()
    }

    /// Recovery: queues the records persisted by `persist_overflow`.
    pub(crate) fn restore_overflow(&mut self, state: Vec<Vec<Vec<O>>>) {
        for (e, s) in self.edges.iter_mut().zip(state) {
            e.restore_overflow(s);
        }
    }

    /// Channels per output edge (the shape of persisted output).
    pub(crate) fn shape(&self) -> Vec<usize> {
        self.edges.iter().map(|e| e.channels()).collect()
    }

    /// Announces `b` on every downstream priority lane (unaligned checkpoints).
    fn announce(&self, b: Barrier) {
        for e in &self.edges {
            e.announce(b);
        }
    }

    /// Whether records wait for the buffer timeout.
    pub(crate) fn has_buffered(&self) -> bool {
        self.edges.iter().any(|e| e.has_buffered())
    }

    /// Publishes blocked time to `c` while a block lasts (see `SendStats::live`).
    pub(crate) fn set_backpressure_counter(&mut self, c: tidemark_agent::Counter) {
        self.io.live = Some(c);
    }

    /// Batches queued in the output channels and their capacity (output queue usage).
    pub(crate) fn queue_fill(&self) -> (usize, usize) {
        self.edges.iter().fold((0, 0), |(l, c), e| {
            let (l2, c2) = e.queue_fill();
            (l + l2, c + c2)
        })
    }
}

/// Creates the channels of one edge. Returns, per upstream subtask, its senders
/// (in downstream order), and per downstream subtask, its receivers (in upstream order).
pub fn wire<T>(
    up: usize,
    down: usize,
    forward: bool,
    capacity: usize,
) -> (Vec<Vec<Sender<Message<T>>>>, Vec<Vec<Receiver<Message<T>>>>) {
    let mut senders: Vec<Vec<_>> = (0..up).map(|_| Vec::new()).collect();
    let mut receivers: Vec<Vec<_>> = (0..down).map(|_| Vec::new()).collect();
    if forward {
        for i in 0..up {
            let (s, r) = crossbeam_channel::bounded(capacity);
            senders[i].push(s);
            receivers[i].push(r);
        }
    } else {
        for sv in senders.iter_mut() {
            for rv in receivers.iter_mut() {
                let (s, r) = crossbeam_channel::bounded(capacity);
                sv.push(s);
                rv.push(r);
            }
        }
    }
    (senders, receivers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_group_partitioner_routes_like_flink() {
        let (senders, receivers) = wire::<i32>(1, 4, false, 16);
        let hash: Arc<dyn Fn(&i32) -> i32 + Send + Sync> = Arc::new(|k: &i32| *k);
        let mut edge = OutputEdge::new(
            senders.into_iter().next().unwrap(),
            Partitioner::KeyGroup {
                hash,
                key_text: Arc::new(|k: &i32| k.to_string()),
                max_parallelism: 128,
            },
            0,
            8,
        );
        for k in [0, 1, 2, 42, -1] {
            edge.push(k).unwrap();
        }
        edge.flush().unwrap();
        let got: Vec<Vec<i32>> = receivers
            .iter()
            .map(|rs| match rs[0].try_recv() {
                Ok(Message::Batch(b)) => b,
                _ => vec![],
            })
            .collect();
        // Subtasks from the Flink vectors at p=4: 0→2, 1→2, 2→3, 42→0, -1→2.
        assert_eq!(got, vec![vec![42], vec![], vec![0, 1, -1], vec![2]]);
    }

    #[test]
    fn full_channel_queues_and_the_wait_for_room_is_backpressure() {
        let (senders, receivers) = wire::<u8>(1, 1, true, 1);
        let edge = OutputEdge::new(
            senders.into_iter().next().unwrap(),
            Partitioner::Forward,
            0,
            1,
        );
        let mut out = Collector::new(vec![edge], CancelFlag::default());
        out.emit(1).unwrap(); // fills the channel
        out.emit(2).unwrap(); // queued: emitting never blocks
        assert!(!out.is_available());
        let (_tx, ctl) = crossbeam_channel::unbounded::<()>();
        assert!(matches!(
            out.wait_room::<(), ()>(&ctl, None).unwrap(),
            Wake::Timeout
        ));
        assert!(out.io.backpressured_ns > 0, "the wait is accounted");
        assert!(matches!(receivers[0][0].recv(), Ok(Message::Batch(b)) if b == vec![1]));
        assert!(matches!(
            out.wait_room::<(), ()>(&ctl, None).unwrap(),
            Wake::Room
        ));
        assert!(out.is_available());
        assert!(matches!(receivers[0][0].recv(), Ok(Message::Batch(b)) if b == vec![2]));
    }

    #[test]
    fn unaligned_snapshot_persists_the_queue_and_marks_where_it_starts() {
        let (senders, receivers) = wire::<u8>(1, 1, true, 1);
        let edge = OutputEdge::new(
            senders.into_iter().next().unwrap(),
            Partitioner::Forward,
            0,
            1,
        );
        let mut out = Collector::new(vec![edge], CancelFlag::default());
        for r in 1..=3 {
            out.emit(r).unwrap();
        }
        let b = Barrier {
            id: 7,
            trigger_ms: 0,
            is_final: false,
            savepoint: false,
            drain: false,
        };
        assert_eq!(
            out.emit_barrier(b, true, false).unwrap(),
            vec![vec![vec![2, 3]]]
        );
        let (_tx, ctl) = crossbeam_channel::unbounded::<()>();
        let mut got = Vec::new();
        while got.len() < 5 {
            while let Ok(m) = receivers[0][0].try_recv() {
                got.push(format!("{m:?}"));
            }
            out.wait_room::<(), ()>(&ctl, None).unwrap();
        }
        assert_eq!(
            got,
            vec![
                "Batch([1])".to_string(),
                format!("PersistedFrom({b:?})"),
                "Batch([2])".into(),
                "Batch([3])".into(),
                format!("Barrier({b:?})"),
            ]
        );
    }
}

#[cfg(test)]
mod partitioner_tests {
    use super::*;

    fn drain(rs: &[Vec<Receiver<Message<u32>>>]) -> Vec<Vec<u32>> {
        rs.iter()
            .map(|r| {
                let mut v = Vec::new();
                while let Ok(m) = r[0].try_recv() {
                    if let Message::Batch(b) = m {
                        v.extend(b);
                    }
                }
                v
            })
            .collect()
    }

    #[test]
    fn rebalance_spreads_and_broadcast_copies() {
        let (s, r) = wire::<u32>(1, 3, false, 16);
        let mut e = OutputEdge::new(s.into_iter().next().unwrap(), Partitioner::Rebalance, 0, 2);
        for i in 0..6 {
            e.push(i).unwrap();
        }
        e.flush().unwrap();
        let got = drain(&r);
        assert!(got.iter().all(|v| v.len() == 2), "{got:?}");
        let (s, r) = wire::<u32>(1, 3, false, 16);
        let mut e = OutputEdge::new(s.into_iter().next().unwrap(), Partitioner::Broadcast, 0, 2);
        e.push(7).unwrap();
        e.broadcast(|| Message::EndOfInput).unwrap();
        assert_eq!(drain(&r), vec![vec![7], vec![7], vec![7]]);
    }
}
