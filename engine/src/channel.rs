//! Bounded edges between subtasks and the partitioners that choose a channel.
//!
//! Each (upstream subtask, downstream subtask) pair of an edge has its own
//! bounded crossbeam channel of [`Message`]s. The upstream side buffers records
//! per channel in an [`OutputEdge`] and sends a batch when it is full, when a
//! control message must follow it, or when the buffer timeout passes. A full
//! channel blocks the sender: that blocking is what carries backpressure from a
//! slow operator back to the sources, and its duration is what the
//! backpressured-time metric reports.

use crate::data::Data;
use crate::message::Message;
use crate::state::key_group::{key_group_for_hash, operator_index_for_key_group};
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
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
                max_parallelism,
            } => Partitioner::KeyGroup {
                hash: hash.clone(),
                max_parallelism: *max_parallelism,
            },
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

/// How often a blocked sender re-checks the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// The sending side of one edge for one upstream subtask.
pub struct OutputEdge<T> {
    senders: Vec<Sender<Message<T>>>,
    buffers: Vec<Vec<T>>,
    partitioner: Partitioner<T>,
    next_rr: usize,
    batch_size: usize,
}

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
            senders,
            buffers,
            partitioner,
            // Upstream subtasks start round robin at different channels.
            next_rr: subtask,
            batch_size: batch_size.max(1),
        }
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
                max_parallelism,
            } => {
                let kg = key_group_for_hash(hash(record), *max_parallelism);
                operator_index_for_key_group(*max_parallelism, self.senders.len() as u32, kg)
                    as usize
            }
            Partitioner::Broadcast => usize::MAX,
        }
    }

    /// Buffers one record; sends a batch when a buffer fills.
    #[inline]
    fn push(&mut self, record: T, io: &mut SendStats) -> Result<(), crate::Error> {
        let t = self.target(&record);
        if t == usize::MAX {
            for i in 0..self.senders.len() {
                self.buffers[i].push(record.clone());
                if self.buffers[i].len() >= self.batch_size {
                    self.flush_one(i, io)?;
                }
            }
            return Ok(());
        }
        self.buffers[t].push(record);
        if self.buffers[t].len() >= self.batch_size {
            self.flush_one(t, io)?;
        }
        Ok(())
    }

    fn flush_one(&mut self, i: usize, io: &mut SendStats) -> Result<(), crate::Error> {
        if self.buffers[i].is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buffers[i], Vec::with_capacity(self.batch_size));
        send(&self.senders[i], Message::Batch(batch), io)
    }

    /// Sends every buffered record.
    pub fn flush(&mut self, io: &mut SendStats) -> Result<(), crate::Error> {
        for i in 0..self.senders.len() {
            self.flush_one(i, io)?;
        }
        Ok(())
    }

    /// Flushes, then sends a control message (watermark, barrier, end) to every channel.
    pub fn broadcast(
        &mut self,
        make: impl Fn() -> Message<T>,
        io: &mut SendStats,
    ) -> Result<(), crate::Error> {
        self.flush(io)?;
        for s in &self.senders {
            send(s, make(), io)?;
        }
        Ok(())
    }

    /// Sends a latency marker on one channel (round robin), behind the records
    /// buffered for that channel.
    pub fn marker(
        &mut self,
        m: crate::message::LatencyMarker,
        io: &mut SendStats,
    ) -> Result<(), crate::Error> {
        self.next_rr = (self.next_rr + 1) % self.senders.len();
        let i = self.next_rr;
        self.flush_one(i, io)?;
        send(&self.senders[i], Message::LatencyMarker(m), io)
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
    /// Nanoseconds spent blocked on full channels since the last publish
    /// (the task subtracts them from its busy time).
    pub backpressured_ns: u64,
    /// The attempt's cancel flag: a blocked send gives up when it is set.
    pub cancel: CancelFlag,
    /// The subtask's backpressured-time counter, advanced while a block is
    /// still going on (every [`CANCEL_POLL`]), so a task blocked for minutes
    /// reads backpressured throughout, not only when it unblocks.
    pub live: Option<tidemark_agent::Counter>,
}

/// Sends one message, blocking (and timing the block) when the channel is full.
fn send<T>(
    s: &Sender<Message<T>>,
    msg: Message<T>,
    io: &mut SendStats,
) -> Result<(), crate::Error> {
    let msg = match s.try_send(msg) {
        Ok(()) => return Ok(()),
        Err(TrySendError::Disconnected(_)) => return Err(crate::Error::Cancelled),
        Err(TrySendError::Full(m)) => m,
    };
    let mut last = Instant::now();
    let mut msg = msg;
    let mut account = |io: &mut SendStats| {
        let now = Instant::now();
        let ns = (now - last).as_nanos() as u64;
        last = now;
        io.backpressured_ns += ns;
        if let Some(c) = &io.live {
            c.add(ns);
        }
    };
    loop {
        if io.cancel.is_cancelled() {
            account(io);
            return Err(crate::Error::Cancelled);
        }
        match s.send_timeout(msg, CANCEL_POLL) {
            Ok(()) => {
                account(io);
                return Ok(());
            }
            Err(SendTimeoutError::Timeout(m)) => {
                account(io);
                msg = m;
            }
            Err(SendTimeoutError::Disconnected(_)) => {
                account(io);
                return Err(crate::Error::Cancelled);
            }
        }
    }
}

/// Where an operator puts its output: every outgoing edge, plus a local count.
pub struct Collector<O> {
    edges: Vec<OutputEdge<O>>,
    /// Records emitted since the task last published its counters.
    pub emitted: u64,
    /// Blocking statistics of the sends.
    pub io: SendStats,
}

impl<O: Data> Collector<O> {
    /// A collector over the given edges (empty for a sink).
    pub fn new(edges: Vec<OutputEdge<O>>, cancel: CancelFlag) -> Self {
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
            1 => self.edges[0].push(record, &mut self.io),
            n => {
                for e in &mut self.edges[..n - 1] {
                    e.push(record.clone(), &mut self.io)?;
                }
                self.edges[n - 1].push(record, &mut self.io)
            }
        }
    }

    /// Sends all buffered records.
    pub fn flush(&mut self) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.flush(&mut self.io)?;
        }
        Ok(())
    }

    /// Flushes and sends a control message on every channel of every edge.
    pub fn broadcast(&mut self, make: impl Fn() -> Message<O>) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.broadcast(&make, &mut self.io)?;
        }
        Ok(())
    }

    /// Forwards a latency marker on one channel of every edge.
    pub fn marker(&mut self, m: crate::message::LatencyMarker) -> Result<(), crate::Error> {
        for e in &mut self.edges {
            e.marker(m, &mut self.io)?;
        }
        Ok(())
    }

    /// Whether records wait for the buffer timeout.
    pub fn has_buffered(&self) -> bool {
        self.edges.iter().any(|e| e.has_buffered())
    }

    /// Publishes blocked time to `c` while a block lasts (see [`SendStats::live`]).
    pub fn set_backpressure_counter(&mut self, c: tidemark_agent::Counter) {
        self.io.live = Some(c);
    }

    /// Batches queued in the output channels and their capacity (output queue usage).
    pub fn queue_fill(&self) -> (usize, usize) {
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
                max_parallelism: 128,
            },
            0,
            8,
        );
        let mut io = SendStats::default();
        for k in [0, 1, 2, 42, -1] {
            edge.push(k, &mut io).unwrap();
        }
        edge.flush(&mut io).unwrap();
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
    fn full_channel_blocks_and_is_timed_until_cancelled() {
        let (senders, _receivers) = wire::<u8>(1, 1, true, 1);
        let mut edge = OutputEdge::new(
            senders.into_iter().next().unwrap(),
            Partitioner::Forward,
            0,
            1,
        );
        let mut io = SendStats::default();
        edge.push(1, &mut io).unwrap(); // fills the channel
        let cancel = io.cancel.clone();
        let t = std::thread::spawn(move || {
            let r = edge.push(2, &mut io);
            (r.is_err(), io.backpressured_ns)
        });
        // Cancel only once the sender is known to be blocked: the receiver is never read.
        while !t.is_finished() {
            cancel.cancel();
            std::thread::yield_now();
        }
        let (failed, ns) = t.join().unwrap();
        assert!(failed, "a cancelled blocked send reports cancellation");
        assert!(ns > 0, "blocked time is accounted");
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
        let mut io = SendStats::default();
        for i in 0..6 {
            e.push(i, &mut io).unwrap();
        }
        e.flush(&mut io).unwrap();
        let got = drain(&r);
        assert!(got.iter().all(|v| v.len() == 2), "{got:?}");
        let (s, r) = wire::<u32>(1, 3, false, 16);
        let mut e = OutputEdge::new(s.into_iter().next().unwrap(), Partitioner::Broadcast, 0, 2);
        e.push(7, &mut io).unwrap();
        e.broadcast(|| Message::EndOfInput, &mut io).unwrap();
        assert_eq!(drain(&r), vec![vec![7], vec![7], vec![7]]);
    }
}
