//! Two inputs into one operator: `connect`. A two-input operator reads one
//! record type, [`Either`], so the task that runs it, its barrier alignment
//! and its watermark (the minimum over every channel of both inputs) are
//! those of any operator; each input channel converts its batches on receipt.

use super::keyed::{KeyedContext, KeyedOpenContext, KeyedProcessFunction};
use crate::data::{Data, Key};
use crate::error::Result;
use crate::state::TimeDomain;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A record of a two-input operator: from the first input (`Left`) or the
/// second (`Right`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Either<A, B> {
    /// From the first input (the stream `connect` was called on).
    Left(A),
    /// From the second input (the argument of `connect`).
    Right(B),
}

impl<A, B> Either<A, B> {
    /// The `Left` value, if it is one.
    pub fn left(self) -> Option<A> {
        match self {
            Either::Left(a) => Some(a),
            Either::Right(_) => None,
        }
    }
    /// The `Right` value, if it is one.
    pub fn right(self) -> Option<B> {
        match self {
            Either::Left(_) => None,
            Either::Right(b) => Some(b),
        }
    }
    /// A reference to the `Left` value, if it is one.
    pub fn left_ref(&self) -> Option<&A> {
        match self {
            Either::Left(a) => Some(a),
            Either::Right(_) => None,
        }
    }
    /// A reference to the `Right` value, if it is one.
    pub fn right_ref(&self) -> Option<&B> {
        match self {
            Either::Left(_) => None,
            Either::Right(b) => Some(b),
        }
    }
}

/// Keyed logic over two inputs, as Flink's `KeyedCoProcessFunction`: records
/// of both inputs with the same key share that key's state and timers.
pub trait KeyedCoProcessFunction<K, A, B, O>: Send + 'static {
    /// Registers state (called after restore, so registered state is filled).
    fn open(&mut self, _ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        Ok(())
    }
    /// Processes one record of the first input.
    fn process1(&mut self, record: A, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
    /// Processes one record of the second input.
    fn process2(&mut self, record: B, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
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

/// A [`KeyedCoProcessFunction`] run as a one-input keyed function over [`Either`].
pub(crate) struct CoFunction<F, A, B> {
    f: F,
    _p: PhantomData<fn(A, B)>,
}

impl<F, A, B> CoFunction<F, A, B> {
    pub fn new(f: F) -> Self {
        Self { f, _p: PhantomData }
    }
}

impl<K: Key, A: Data, B: Data, O: Data, F: KeyedCoProcessFunction<K, A, B, O>>
    KeyedProcessFunction<K, Either<A, B>, O> for CoFunction<F, A, B>
{
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.f.open(ctx)
    }
    fn process(&mut self, record: Either<A, B>, ctx: &mut KeyedContext<'_, K, O>) -> Result<()> {
        match record {
            Either::Left(a) => self.f.process1(a, ctx),
            Either::Right(b) => self.f.process2(b, ctx),
        }
    }
    fn on_timer(
        &mut self,
        time: i64,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()> {
        self.f.on_timer(time, domain, ctx)
    }
}
