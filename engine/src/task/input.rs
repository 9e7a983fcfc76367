//! One input channel of an operator task.
//!
//! Most channels carry the operator's own record type. A channel into a
//! two-input operator carries one side's type and converts each batch as it is
//! received (into [`Either::Left`](crate::operator::Either) or `Right`); a
//! channel from a side output carries its operator's whole output type and
//! keeps its side's records. Either way the task, its barrier aligner, its
//! watermark tracker and the in-flight records an unaligned checkpoint keeps
//! all stay one-typed. The conversion moves each record once; control
//! messages pass unchanged.

use crate::message::Message;
use crossbeam_channel::{Receiver, Select, SelectedOperation, TryRecvError};
use std::sync::Arc;

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

/// A channel of `A` seen as one of `I`: `f` converts each record, and drops
/// those it returns `None` for (another output's records, on a side output).
pub(crate) struct Convert<A, I> {
    pub input: Input<A>,
    pub f: Arc<dyn Fn(A) -> Option<I> + Send + Sync>,
}

impl<A: Send + 'static, I> ConvertedInput<I> for Convert<A, I> {
    fn register<'a>(&'a self, sel: &mut Select<'a>) -> usize {
        self.input.register(sel)
    }
    fn complete(&self, oper: SelectedOperation<'_>) -> Option<Message<I>> {
        self.input.complete(oper).map(|m| convert(m, &*self.f))
    }
    fn try_recv(&self) -> Result<Message<I>, TryRecvError> {
        self.input.try_recv().map(|m| convert(m, &*self.f))
    }
    fn fill(&self) -> (usize, usize) {
        self.input.fill()
    }
}

fn convert<A, I>(m: Message<A>, f: &dyn Fn(A) -> Option<I>) -> Message<I> {
    match m {
        Message::Batch(b) => Message::Batch(b.into_iter().filter_map(f).collect()),
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
