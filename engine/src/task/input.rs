//! One input channel of an operator task.
//!
//! Most channels carry the operator's own record type. A channel into a
//! two-input operator carries one side's type and converts each batch as it is
//! received (into [`Either::Left`](crate::operator::Either) or `Right`), so the
//! task, its barrier aligner, its watermark tracker and the in-flight records
//! an unaligned checkpoint keeps all stay one-typed. The conversion moves each
//! record once; control messages pass unchanged.

use crate::message::Message;
use crossbeam_channel::{Receiver, Select, SelectedOperation, TryRecvError};

/// An input channel yielding `Message<I>`.
pub(crate) enum Input<I> {
    /// The channel carries `I` itself.
    Direct(Receiver<Message<I>>),
    /// The channel carries another type, converted on receipt.
    Converted(Box<dyn ConvertedInput<I>>),
}

/// A channel of some type `A`, seen as a channel of `I`.
pub(crate) trait ConvertedInput<I>: Send {
    fn register<'a>(&'a self, sel: &mut Select<'a>) -> usize;
    fn complete(&self, oper: SelectedOperation<'_>) -> Option<Message<I>>;
    fn try_recv(&self) -> Result<Message<I>, TryRecvError>;
    fn fill(&self) -> (usize, usize);
}

/// A channel of `A` converted by `f`.
pub(crate) struct Convert<A, I> {
    pub rx: Receiver<Message<A>>,
    pub f: fn(A) -> I,
}

impl<A: Send, I> ConvertedInput<I> for Convert<A, I> {
    fn register<'a>(&'a self, sel: &mut Select<'a>) -> usize {
        sel.recv(&self.rx)
    }
    fn complete(&self, oper: SelectedOperation<'_>) -> Option<Message<I>> {
        oper.recv(&self.rx).ok().map(|m| convert(m, self.f))
    }
    fn try_recv(&self) -> Result<Message<I>, TryRecvError> {
        self.rx.try_recv().map(|m| convert(m, self.f))
    }
    fn fill(&self) -> (usize, usize) {
        (self.rx.len(), self.rx.capacity().unwrap_or(0))
    }
}

fn convert<A, I>(m: Message<A>, f: fn(A) -> I) -> Message<I> {
    match m {
        Message::Batch(b) => Message::Batch(b.into_iter().map(f).collect()),
        Message::Watermark(w) => Message::Watermark(w),
        Message::Idle => Message::Idle,
        Message::Barrier(b) => Message::Barrier(b),
        Message::PersistedFrom(b) => Message::PersistedFrom(b),
        Message::EndOfInput => Message::EndOfInput,
        Message::LatencyMarker(m) => Message::LatencyMarker(m),
    }
}

impl<I> Input<I> {
    /// Adds this channel to a select; returns its operation index.
    pub fn register<'a>(&'a self, sel: &mut Select<'a>) -> usize {
        match self {
            Input::Direct(r) => sel.recv(r),
            Input::Converted(c) => c.register(sel),
        }
    }

    /// Receives the message a select chose; `None` when the sender is gone.
    pub fn complete(&self, oper: SelectedOperation<'_>) -> Option<Message<I>> {
        match self {
            Input::Direct(r) => oper.recv(r).ok(),
            Input::Converted(c) => c.complete(oper),
        }
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Result<Message<I>, TryRecvError> {
        match self {
            Input::Direct(r) => r.try_recv(),
            Input::Converted(c) => c.try_recv(),
        }
    }

    /// Batches queued, and the channel's capacity.
    pub fn fill(&self) -> (usize, usize) {
        match self {
            Input::Direct(r) => (r.len(), r.capacity().unwrap_or(0)),
            Input::Converted(c) => c.fill(),
        }
    }
}
