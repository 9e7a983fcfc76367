//! The logical job graph: nodes (operators with parallelism and a uid) and
//! edges (a partitioner). Each node and edge keeps a type-erased factory that
//! the runtime calls per attempt to build typed channels and tasks.

use crate::channel::{wire, CancelFlag, Collector, Keep, OutputEdge, Partitioner};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::message::{Announcement, Message};
use crate::operator::Operator;
use crate::source::Source;
use crate::task::input::{Convert, Input};
use crate::task::operator_task::OperatorTask;
use crate::task::source_task::SourceTask;
use crate::task::TaskSetup;
use crate::watermark::WatermarkStrategy;
use crossbeam_channel::{Receiver, Sender};
use std::any::Any;
use std::sync::Arc;

/// A boxed value of a type only the typed factory knows.
pub type Erased = Box<dyn Any + Send>;

/// A task ready to run on its thread.
pub type Runnable = Box<dyn FnOnce() -> Result<()> + Send>;

/// Builds one subtask's task from its erased channel ends.
pub trait NodeFactory: Send + Sync {
    /// `inputs` are `Receiver<Message<I>>` in channel order; `outputs` are
    /// `OutputEdge<O>`, one per outgoing edge.
    fn build(
        &self,
        setup: TaskSetup,
        inputs: Vec<Erased>,
        outputs: Vec<Erased>,
        cancel: CancelFlag,
        batch: usize,
    ) -> Result<Runnable>;
}

/// Builds one edge's channels.
pub trait EdgeFactory: Send + Sync {
    /// Per upstream subtask, its `OutputEdge<T>`; per downstream subtask, its
    /// `Receiver`s. With `lanes` (one per downstream subtask, unaligned
    /// checkpoints) every channel is connected to its receiver's priority lane.
    fn wire(
        &self,
        w: WireParams,
        lanes: Option<&[Sender<Announcement>]>,
    ) -> (Vec<Erased>, Vec<Vec<Erased>>);
}

/// How one edge is wired in one attempt.
#[derive(Debug, Clone)]
pub struct WireParams {
    /// Upstream parallelism.
    pub up: usize,
    /// Downstream parallelism.
    pub down: usize,
    /// Channel capacity in batches.
    pub capacity: usize,
    /// Records per batch.
    pub batch: usize,
    /// Key groups of the downstream operator.
    pub max_parallelism: u32,
    /// Input channels the downstream subtasks already have from earlier edges.
    pub offset: usize,
    /// The downstream vertex's records per key group (keyed edges count
    /// into it).
    pub key_groups: Arc<crate::runtime::key_group_load::KeyGroupLoad>,
}

/// Which partitioner an edge uses.
pub enum EdgeKind<T> {
    /// Forward when parallelism matches, rebalance otherwise (Flink's default).
    Default,
    /// Explicit partitioner.
    Explicit(Partitioner<T>),
}

/// The channels of one edge carrying `T`.
pub(crate) struct TypedEdge<T> {
    pub kind: EdgeKind<T>,
    /// Only records for which this holds are sent (an output with side outputs).
    pub keep: Option<Keep<T>>,
}

impl<T: Data> EdgeFactory for TypedEdge<T> {
    fn wire(
        &self,
        w: WireParams,
        lanes: Option<&[Sender<Announcement>]>,
    ) -> (Vec<Erased>, Vec<Vec<Erased>>) {
        let part = match &self.kind {
            EdgeKind::Default if w.up == w.down => Partitioner::Forward,
            EdgeKind::Default => Partitioner::Rebalance,
            EdgeKind::Explicit(Partitioner::KeyGroup { hash, key_text, .. }) => {
                Partitioner::KeyGroup {
                    hash: hash.clone(),
                    key_text: key_text.clone(),
                    max_parallelism: w.max_parallelism,
                }
            }
            EdgeKind::Explicit(p) => p.clone(),
        };
        let fwd = matches!(part, Partitioner::Forward);
        let batch = w.batch;
        let (senders, receivers) = wire::<T>(w.up, w.down, fwd, w.capacity);
        let outs = senders
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut e = OutputEdge::new(s, part.clone(), i, batch);
                if let Some(k) = &self.keep {
                    e.keep_only(k.clone());
                }
                if matches!(part, Partitioner::KeyGroup { .. }) {
                    e.count_key_groups(w.key_groups.clone());
                }
                for (c, lane) in lanes.iter().flat_map(|l| l.iter()).enumerate() {
                    // Forward: upstream i feeds only downstream i, as its channel 0.
                    match fwd {
                        true if c == i => e.set_announce(0, lane.clone(), w.offset),
                        true => {}
                        false => e.set_announce(c, lane.clone(), w.offset + i),
                    }
                }
                Box::new(e) as Erased
            })
            .collect();
        let ins = receivers
            .into_iter()
            .map(|rs| rs.into_iter().map(|r| Box::new(r) as Erased).collect())
            .collect();
        (outs, ins)
    }
}

/// An input arrives as `Receiver<Message<I>>` from a one-typed edge, or
/// already converted (an [`Input`]) from a [`MapInputs`] edge.
fn downcast_input<I: Data>(b: Erased) -> Input<I> {
    match b.downcast::<Receiver<Message<I>>>() {
        Ok(r) => Input::Direct(*r),
        Err(b) => *b
            .downcast::<Input<I>>()
            .expect("edge type checked when the graph was built"),
    }
}

fn downcast_inputs<I: Data>(inputs: Vec<Erased>) -> Vec<Input<I>> {
    inputs.into_iter().map(downcast_input).collect()
}

/// An edge whose receiving ends are converted: each `T` is turned into the
/// downstream operator's `I` by `f` (`Either::Left`/`Right` into a two-input
/// operator, a side output's records out of their operator's output), or
/// dropped when `f` returns `None`.
pub(crate) struct MapInputs<T, I> {
    pub inner: Arc<dyn EdgeFactory>,
    pub f: Arc<dyn Fn(T) -> Option<I> + Send + Sync>,
}

impl<T: Data, I: Data> EdgeFactory for MapInputs<T, I> {
    fn wire(
        &self,
        w: WireParams,
        lanes: Option<&[Sender<Announcement>]>,
    ) -> (Vec<Erased>, Vec<Vec<Erased>>) {
        let (outs, ins) = self.inner.wire(w, lanes);
        let ins = ins
            .into_iter()
            .map(|rs| {
                rs.into_iter()
                    .map(|r| {
                        let input = downcast_input::<T>(r);
                        let f = self.f.clone();
                        Box::new(Input::Converted(Box::new(Convert { input, f }))) as Erased
                    })
                    .collect()
            })
            .collect();
        (outs, ins)
    }
}

fn downcast_outputs<O: Data>(outputs: Vec<Erased>, cancel: CancelFlag) -> Collector<O> {
    let edges = outputs
        .into_iter()
        .map(|b| {
            *b.downcast::<OutputEdge<O>>()
                .expect("edge type checked when the graph was built")
        })
        .collect();
    Collector::new(edges, cancel)
}

/// Creates one operator instance per subtask.
pub type OperatorMaker<I, O> = Arc<dyn Fn() -> Box<dyn Operator<I, O>> + Send + Sync>;

pub(crate) struct OperatorNode<I, O>(pub OperatorMaker<I, O>);

impl<I: Data, O: Data> NodeFactory for OperatorNode<I, O> {
    fn build(
        &self,
        setup: TaskSetup,
        inputs: Vec<Erased>,
        outputs: Vec<Erased>,
        cancel: CancelFlag,
        _batch: usize,
    ) -> Result<Runnable> {
        let task = OperatorTask::new(
            setup,
            (self.0)(),
            downcast_inputs::<I>(inputs),
            downcast_outputs::<O>(outputs, cancel),
        );
        Ok(Box::new(move || task.run()))
    }
}

/// Creates one source instance per subtask.
pub type SourceMaker<T> = Arc<dyn Fn() -> Box<dyn Source<T>> + Send + Sync>;

pub(crate) struct SourceNode<T> {
    pub make: SourceMaker<T>,
    pub watermarks: Option<WatermarkStrategy<T>>,
}

impl<T: Data> NodeFactory for SourceNode<T> {
    fn build(
        &self,
        setup: TaskSetup,
        _inputs: Vec<Erased>,
        outputs: Vec<Erased>,
        cancel: CancelFlag,
        batch: usize,
    ) -> Result<Runnable> {
        let task = SourceTask::new(
            setup,
            (self.make)(),
            downcast_outputs::<T>(outputs, cancel),
            self.watermarks.clone(),
            batch,
        );
        Ok(Box::new(move || task.run()))
    }
}

/// One operator of the graph.
pub struct Node {
    /// Display name (metrics label `vertex`).
    pub name: String,
    /// Stable id matching state to operators across runs.
    pub uid: String,
    /// Parallelism (resolved at build).
    pub parallelism: usize,
    /// Explicit parallelism, if set.
    pub explicit_parallelism: Option<usize>,
    /// Whether it is a source.
    pub is_source: bool,
    /// Whether it is a sink (no outputs).
    pub is_sink: bool,
    /// Whether it holds keyed state.
    pub keyed: bool,
    /// Incoming edge indices, in channel order.
    pub inputs: Vec<usize>,
    /// Outgoing edge indices.
    pub outputs: Vec<usize>,
    pub(crate) factory: Arc<dyn NodeFactory>,
}

/// One edge of the graph.
pub struct Edge {
    /// Upstream node.
    pub from: usize,
    /// Downstream node.
    pub to: usize,
    /// Partitioner name for descriptions.
    pub partitioner: &'static str,
    pub(crate) factory: Arc<dyn EdgeFactory>,
}

/// A complete, validated job graph.
pub struct JobGraph {
    /// Job name.
    pub name: String,
    /// Built-in pipeline name (recorded in checkpoints).
    pub pipeline: String,
    /// Operators, sources first.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
    /// Number of key groups of keyed operators.
    pub max_parallelism: u32,
}

impl JobGraph {
    /// Total number of subtasks (each acknowledges every checkpoint).
    pub fn subtasks(&self) -> usize {
        self.nodes.iter().map(|n| n.parallelism).sum()
    }

    /// A one-line-per-operator description.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let ins: Vec<String> = n
                .inputs
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        self.nodes[self.edges[*e].from].name, self.edges[*e].partitioner
                    )
                })
                .collect();
            s.push_str(&format!(
                "  {} [uid={}, parallelism={}{}]{}\n",
                n.name,
                n.uid,
                n.parallelism,
                if n.keyed { ", keyed" } else { "" },
                if ins.is_empty() {
                    String::new()
                } else {
                    format!(" <- {}", ins.join(", "))
                }
            ));
        }
        s
    }

    /// Checks uids and forward edges; resolves default parallelism.
    pub(crate) fn validate(
        &mut self,
        default_parallelism: usize,
        mut problems: Vec<String>,
    ) -> Result<()> {
        for n in &mut self.nodes {
            n.parallelism = n.explicit_parallelism.unwrap_or(default_parallelism);
            if n.parallelism == 0 {
                problems.push(format!(
                    "operator '{}': parallelism must be at least 1",
                    n.name
                ));
            }
            if n.keyed && n.parallelism as u32 > self.max_parallelism {
                problems.push(format!(
                    "operator '{}': parallelism {} exceeds pipeline.max-parallelism {}",
                    n.name, n.parallelism, self.max_parallelism
                ));
            }
            if n.uid.is_empty() {
                problems.push(format!(
                    "operator '{}' has no uid: chain .uid(\"…\") after it (its state in checkpoints is found by the uid)",
                    n.name
                ));
            } else if !n
                .uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                problems.push(format!(
                    "operator '{}': uid '{}' may use only letters, digits, '-', '_' and '.'",
                    n.name, n.uid
                ));
            }
        }
        // Default edges are forward when both sides have the same parallelism.
        for e in &mut self.edges {
            if e.partitioner == "FORWARD/REBALANCE" {
                e.partitioner = if self.nodes[e.from].parallelism == self.nodes[e.to].parallelism {
                    "FORWARD"
                } else {
                    "REBALANCE"
                };
            }
        }
        let mut uids: Vec<&str> = self.nodes.iter().map(|n| n.uid.as_str()).collect();
        uids.sort();
        for w in uids.windows(2) {
            if w[0] == w[1] {
                problems.push(format!(
                    "uid '{}' is used by two operators; uids must be unique",
                    w[0]
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("\n")))
        }
    }
}
