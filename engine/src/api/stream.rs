//! `StreamEnv`, `DataStream`, `KeyedStream`, `ConnectedStreams`: the typed builder.
//!
//! Every operator is named and given a stable id by chaining `.name(…)` and
//! `.uid(…)` on the stream it returns; state in a checkpoint is matched to
//! operators by uid, so a missing or repeated uid is an error when the graph
//! is built, never a surprise at restore.
//!
//! ```
//! use tidemark::prelude::*;
//! use tidemark::source::datagen::{DatagenConfig, DatagenSource, Event};
//!
//! let env = StreamEnv::new("keyed-count");
//! let cfg = DatagenConfig { events: Some(10_000), ..DatagenConfig::default() };
//! env.source(move || Box::new(DatagenSource::new(cfg.clone(), None)))
//!     .name("datagen").uid("source")
//!     .key_by(|e: &Event| e.key)
//!     .reduce(|a, b| Event { value: a.value + b.value, ..b })
//!     .name("count").uid("count")
//!     .sink(|| Box::new(BlackholeSink))
//!     .name("sink").uid("sink");
//! let graph = env.build(&Config::default()).unwrap();
//! assert_eq!(graph.nodes.len(), 3);
//! ```

use super::graph::*;
use crate::channel::{Keep, Partitioner};
use crate::config::Config;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::operator::co::{CoFunction, Either, KeyedCoProcessFunction};
use crate::operator::join::{CoGroup, CoGroupFn, WindowCoGroup};
use crate::operator::keyed::ReduceFunction;
use crate::operator::session::SessionFunction;
use crate::operator::window::WindowFunction;
use crate::operator::*;
use crate::sink::{Sink, SinkOperator};
use crate::source::Source;
use crate::state::key_group::default_max_parallelism;
use crate::state::AggregateFunction;
use crate::watermark::WatermarkStrategy;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// Misuse found while chaining (reported by `build`, all at once).
    problems: Vec<String>,
}

/// The entry point of a job: creates sources, then `build`s the graph (or
/// `execute`s it).
#[derive(Clone)]
pub struct StreamEnv {
    name: String,
    pipeline: String,
    b: Rc<RefCell<Builder>>,
}

/// A stream of `T`: the output of one operator, or of several after `union`.
pub struct DataStream<T> {
    b: Rc<RefCell<Builder>>,
    /// The operators whose output this is.
    from: Vec<Upstream<T>>,
}

/// Makes the edge from one upstream operator given the partitioning of this
/// stream's records and which of them to send; the edge's receiving ends
/// yield `T` (an operator's own output, or a view of it: a side output).
type EdgeMaker<T> = Rc<dyn Fn(EdgeKind<T>, Option<Keep<T>>) -> Arc<dyn EdgeFactory>>;

/// One operator a stream comes out of.
struct Upstream<T> {
    node: usize,
    /// The partitioner of the next edge from it (`None`: forward, or
    /// rebalance if parallelism differs).
    next: Option<Partitioner<T>>,
    edge: EdgeMaker<T>,
}

impl<T> Clone for Upstream<T> {
    fn clone(&self) -> Self {
        Self {
            node: self.node,
            next: self.next.clone(),
            edge: self.edge.clone(),
        }
    }
}

/// A partitioner that does not look at records, for another record type.
fn untyped<P, T>(p: &Partitioner<P>) -> Option<Partitioner<T>> {
    match p {
        Partitioner::Forward => Some(Partitioner::Forward),
        Partitioner::Rebalance => Some(Partitioner::Rebalance),
        Partitioner::Broadcast => Some(Partitioner::Broadcast),
        Partitioner::KeyGroup { .. } => None,
    }
}

fn plain_edge<T: Data>() -> EdgeMaker<T> {
    Rc::new(|kind, keep| Arc::new(TypedEdge { kind, keep }))
}

impl<T: 'static> EdgeKind<T> {
    fn through<P: 'static>(&self, view: fn(&P) -> Option<&T>) -> EdgeKind<P> {
        match self {
            EdgeKind::Default => EdgeKind::Default,
            EdgeKind::Explicit(p) => EdgeKind::Explicit(p.through(view)),
        }
    }
}

impl StreamEnv {
    /// A new job named `name` (metrics label `job_name`; checkpoints are
    /// found under it).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            pipeline: name.to_string(),
            b: Rc::default(),
        }
    }

    /// Records which program built the graph (a built-in pipeline's name, or
    /// the job's own): a checkpoint restores only into the same program.
    /// Defaults to the job name.
    pub fn with_pipeline(mut self, pipeline: &str) -> Self {
        self.pipeline = pipeline.to_string();
        self
    }

    /// Adds a source; `make` creates one instance per subtask (and again on
    /// every restart). Name it with `.name(…)` and give it a `.uid(…)`.
    pub fn source<T: Data>(
        &self,
        make: impl Fn() -> Box<dyn Source<T>> + Send + Sync + 'static,
    ) -> DataStream<T> {
        self.add_source(make, None)
    }

    /// Adds a source whose records carry event time: `watermarks` says where
    /// each record's time is and how out of order records may be.
    pub fn source_with_watermarks<T: Data>(
        &self,
        make: impl Fn() -> Box<dyn Source<T>> + Send + Sync + 'static,
        watermarks: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        self.add_source(make, Some(watermarks))
    }

    fn add_source<T: Data>(
        &self,
        make: impl Fn() -> Box<dyn Source<T>> + Send + Sync + 'static,
        watermarks: Option<WatermarkStrategy<T>>,
    ) -> DataStream<T> {
        let factory = Arc::new(SourceNode {
            make: Arc::new(make),
            watermarks,
        });
        let node = push_node(&self.b, "Source", true, false, factory);
        DataStream::one(&self.b, node)
    }

    /// Validates the graph against `config` (`parallelism.default`,
    /// `pipeline.max-parallelism`) and returns it: every problem at once.
    pub fn build(self, config: &Config) -> Result<JobGraph> {
        self.build_with(config.parallelism, config.max_parallelism)
    }

    /// Builds and runs the job with `config` as `tidemark run` would (metrics,
    /// REST, checkpoints, restarts, Ctrl-C), starting fresh. For a restore or
    /// any other option use [`Job`](crate::runner::Job).
    pub fn execute(self, config: Config) -> Result<crate::runner::Outcome> {
        let graph = self.build(&config)?;
        crate::runner::Job::new(graph).config(config).run()
    }

    /// `build` with explicit parallelism; `None` derives the number of key
    /// groups from the largest operator parallelism, as Flink does.
    pub(crate) fn build_with(
        self,
        default_parallelism: usize,
        max_parallelism: Option<u32>,
    ) -> Result<JobGraph> {
        let b = self.b.replace(Builder::default());
        let largest = b
            .nodes
            .iter()
            .map(|n| n.explicit_parallelism.unwrap_or(default_parallelism))
            .max()
            .unwrap_or(1);
        let mut g = JobGraph {
            name: self.name,
            pipeline: self.pipeline,
            nodes: b.nodes,
            edges: b.edges,
            max_parallelism: max_parallelism
                .unwrap_or_else(|| default_max_parallelism(largest.max(1) as u32)),
        };
        g.validate(default_parallelism, b.problems)?;
        Ok(g)
    }
}

fn push_node(
    b: &Rc<RefCell<Builder>>,
    kind: &str,
    is_source: bool,
    keyed: bool,
    factory: Arc<dyn NodeFactory>,
) -> usize {
    let mut b = b.borrow_mut();
    b.nodes.push(Node {
        name: kind.to_string(),
        uid: String::new(),
        parallelism: 0,
        explicit_parallelism: None,
        is_source,
        is_sink: false,
        keyed,
        inputs: Vec::new(),
        outputs: Vec::new(),
        factory,
    });
    b.nodes.len() - 1
}

impl<T: Data> DataStream<T> {
    fn one(b: &Rc<RefCell<Builder>>, node: usize) -> Self {
        DataStream {
            b: b.clone(),
            from: vec![Upstream {
                node,
                next: None,
                edge: plain_edge(),
            }],
        }
    }

    /// Adds the edges from this stream's operators into `to`; `part`
    /// overrides their partitioners (key_by), `wrap` adapts each edge to the
    /// receiving operator (one side of a two-input operator).
    fn edges_into(
        &self,
        to: usize,
        part: Option<&Partitioner<T>>,
        wrap: impl Fn(Arc<dyn EdgeFactory>) -> Arc<dyn EdgeFactory>,
    ) {
        let mut b = self.b.borrow_mut();
        for up in &self.from {
            let from = &up.node;
            let kind = match part.or(up.next.as_ref()) {
                Some(p) => EdgeKind::Explicit(p.clone()),
                None => EdgeKind::Default,
            };
            let pname = match &kind {
                EdgeKind::Default => "FORWARD/REBALANCE",
                EdgeKind::Explicit(p) => p.name(),
            };
            b.edges.push(Edge {
                from: *from,
                to,
                partitioner: pname,
                factory: wrap((up.edge)(kind, None)),
            });
            let e = b.edges.len() - 1;
            b.nodes[*from].outputs.push(e);
            b.nodes[to].inputs.push(e);
        }
    }

    fn then<O: Data>(
        &self,
        kind: &str,
        keyed: bool,
        part: Option<Partitioner<T>>,
        make: OperatorMaker<T, O>,
    ) -> DataStream<O> {
        let node = push_node(&self.b, kind, false, keyed, Arc::new(OperatorNode(make)));
        self.edges_into(node, part.as_ref(), |e| e);
        DataStream::one(&self.b, node)
    }

    /// The operator this stream comes out of; after `union` there is none,
    /// and `what` is reported when the graph is built.
    fn own(&self, what: &str) -> Option<usize> {
        match self.from.as_slice() {
            [up] => Some(up.node),
            _ => {
                let names: Vec<String> = {
                    let b = self.b.borrow();
                    self.from
                        .iter()
                        .map(|up| format!("'{}'", b.nodes[up.node].name))
                        .collect()
                };
                self.b.borrow_mut().problems.push(format!(
                    "{what} on the union of {}: a union is not an operator; set it on each input or on the operator after it",
                    names.join(", ")
                ));
                None
            }
        }
    }

    /// Names the operator (the `vertex` label of its metrics, the REST API's
    /// vertex name).
    pub fn name(self, name: &str) -> Self {
        if let Some(n) = self.own(".name()") {
            self.b.borrow_mut().nodes[n].name = name.to_string();
        }
        self
    }

    /// The operator's stable id: its state in a checkpoint or savepoint is
    /// found by it. Letters, digits, `-`, `_` and `.`; unique in the job.
    pub fn uid(self, uid: &str) -> Self {
        if let Some(n) = self.own(".uid()") {
            self.b.borrow_mut().nodes[n].uid = uid.to_string();
        }
        self
    }

    /// Sets this operator's parallelism.
    pub fn parallelism(self, p: usize) -> Self {
        if let Some(n) = self.own(".parallelism()") {
            self.b.borrow_mut().nodes[n].explicit_parallelism = Some(p);
        }
        self
    }

    /// Sets this operator's parallelism when `p` is given (job-file parameters).
    pub fn with_parallelism(self, p: Option<usize>) -> Self {
        match p {
            Some(p) => self.parallelism(p),
            None => self,
        }
    }

    /// Round-robin the next edge over all downstream subtasks.
    pub fn rebalance(mut self) -> Self {
        for up in &mut self.from {
            up.next = Some(Partitioner::Rebalance);
        }
        self
    }

    /// Send every record of the next edge to every downstream subtask.
    pub fn broadcast(mut self) -> Self {
        for up in &mut self.from {
            up.next = Some(Partitioner::Broadcast);
        }
        self
    }

    /// This stream and `other` as one: the next operator reads both. Its
    /// watermark is the minimum of its inputs', and a checkpoint's barriers
    /// are aligned across all of them.
    pub fn union(mut self, other: DataStream<T>) -> Self {
        if !Rc::ptr_eq(&self.b, &other.b) {
            self.b
                .borrow_mut()
                .problems
                .push("union of streams of two different StreamEnvs".into());
            return self;
        }
        self.from.extend(other.from);
        self
    }

    /// `f` applied to every record.
    pub fn map<O: Data>(&self, f: impl Fn(T) -> O + Send + Sync + 'static) -> DataStream<O> {
        let f: Arc<dyn Fn(T) -> O + Send + Sync> = Arc::new(f);
        self.then(
            "Map",
            false,
            None,
            Arc::new(move || Box::new(Map(f.clone()))),
        )
    }

    /// The records for which `f` holds.
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> DataStream<T> {
        let f: Arc<dyn Fn(&T) -> bool + Send + Sync> = Arc::new(f);
        self.then(
            "Filter",
            false,
            None,
            Arc::new(move || Box::new(Filter(f.clone()))),
        )
    }

    /// Zero or more records per record: `f` pushes into the vector.
    pub fn flat_map<O: Data>(
        &self,
        f: impl Fn(T, &mut Vec<O>) + Send + Sync + 'static,
    ) -> DataStream<O> {
        let f: Arc<dyn Fn(T, &mut Vec<O>) + Send + Sync> = Arc::new(f);
        self.then(
            "FlatMap",
            false,
            None,
            Arc::new(move || Box::new(FlatMap(f.clone()))),
        )
    }

    /// Any operator of one input; `make` creates one per subtask.
    pub fn transform<O: Data>(
        &self,
        make: impl Fn() -> Box<dyn Operator<T, O>> + Send + Sync + 'static,
    ) -> DataStream<O> {
        self.then("Transform", false, None, Arc::new(make))
    }

    /// Partitions by key group of `key(record)`; the next operator is keyed.
    pub fn key_by<K: Key>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, T> {
        KeyedStream {
            s: DataStream {
                b: self.b.clone(),
                from: self
                    .from
                    .iter()
                    .map(|up| Upstream {
                        next: None,
                        ..up.clone()
                    })
                    .collect(),
            },
            key: Arc::new(key),
        }
    }

    /// This stream and `other` into one operator of two inputs (see
    /// [`ConnectedStreams`]).
    pub fn connect<B: Data>(&self, other: &DataStream<B>) -> ConnectedStreams<T, B> {
        ConnectedStreams {
            a: self.clone_stream(),
            b: other.clone_stream(),
        }
    }

    fn clone_stream(&self) -> DataStream<T> {
        DataStream {
            b: self.b.clone(),
            from: self.from.clone(),
        }
    }

    /// Ends the stream in a sink; `make` creates one per subtask.
    pub fn sink(
        &self,
        make: impl Fn() -> Box<dyn Sink<T>> + Send + Sync + 'static,
    ) -> DataStream<()> {
        self.add_sink(None, make)
    }

    /// A sink that also measures how late results are:
    /// `tidemark_sink_event_time_latency_seconds` observes, per result, the
    /// wall clock at the sink minus `event_time(result)` (ms).
    pub fn sink_timed(
        &self,
        event_time: crate::sink::EventTimeFn<T>,
        make: impl Fn() -> Box<dyn Sink<T>> + Send + Sync + 'static,
    ) -> DataStream<()> {
        self.add_sink(Some(event_time), make)
    }

    fn add_sink(
        &self,
        event_time: Option<crate::sink::EventTimeFn<T>>,
        make: impl Fn() -> Box<dyn Sink<T>> + Send + Sync + 'static,
    ) -> DataStream<()> {
        let make = Arc::new(make);
        let s = self.then::<()>(
            "Sink",
            false,
            None,
            Arc::new(move || Box::new(SinkOperator::new(make(), event_time.clone()))),
        );
        s.b.borrow_mut().nodes[s.from[0].node].is_sink = true;
        s
    }
}

impl<A: Data, B: Data> DataStream<Either<A, B>> {
    /// The two outputs of an operator that emits [`Either`]: its main output
    /// (`Left`) and its side output (`Right`), such as the late records of a
    /// window or the records a function sets aside. Each edge carries only
    /// its side's records.
    pub fn split(&self) -> (DataStream<A>, DataStream<B>) {
        (
            self.view(Either::left_ref, Either::left),
            self.view(Either::right_ref, Either::right),
        )
    }

    fn view<V: Data>(
        &self,
        peek: fn(&Either<A, B>) -> Option<&V>,
        take: fn(Either<A, B>) -> Option<V>,
    ) -> DataStream<V> {
        let from = self
            .from
            .iter()
            .map(|up| {
                let parent = up.edge.clone();
                let edge: EdgeMaker<V> =
                    Rc::new(move |kind: EdgeKind<V>, keep: Option<Keep<V>>| {
                        let shows: Keep<Either<A, B>> = Arc::new(move |r: &Either<A, B>| {
                            peek(r).is_some_and(|v| keep.as_ref().is_none_or(|k| k(v)))
                        });
                        Arc::new(MapInputs::<Either<A, B>, V> {
                            inner: parent(kind.through(peek), Some(shows)),
                            f: Arc::new(take),
                        }) as Arc<dyn EdgeFactory>
                    });
                Upstream {
                    node: up.node,
                    next: up.next.as_ref().and_then(untyped),
                    edge,
                }
            })
            .collect();
        DataStream {
            b: self.b.clone(),
            from,
        }
    }
}

/// A stream partitioned by key.
pub struct KeyedStream<K, T> {
    s: DataStream<T>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<K: Key, T: Data> KeyedStream<K, T> {
    fn partitioner(&self) -> Partitioner<T> {
        let (key, text) = (self.key.clone(), self.key.clone());
        Partitioner::KeyGroup {
            hash: Arc::new(move |t: &T| key(t).java_hash()),
            key_text: Arc::new(move |t: &T| format!("{:?}", text(t))),
            // Set from pipeline.max-parallelism when the edge is wired.
            max_parallelism: 0,
        }
    }

    /// Runs a keyed process function; `make` creates one per subtask.
    pub fn process<O: Data, F: KeyedProcessFunction<K, T, O>>(
        &self,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<O> {
        self.process_as("KeyedProcess", make)
    }

    fn process_as<O: Data, F: KeyedProcessFunction<K, T, O>>(
        &self,
        kind: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<O> {
        let key = self.key.clone();
        let op: OperatorMaker<T, O> =
            Arc::new(move || Box::new(KeyedProcessOperator::new(key.clone(), Box::new(make()))));
        self.s.then(kind, true, Some(self.partitioner()), op)
    }

    /// Folds records per key with `f(current, new)` and emits each new value.
    pub fn reduce(&self, f: impl Fn(&T, T) -> T + Send + Sync + 'static) -> DataStream<T> {
        let f: Arc<dyn Fn(&T, T) -> T + Send + Sync> = Arc::new(f);
        self.process_as("Reduce", move || ReduceFunction::new(f.clone()))
    }

    /// Groups records into event-time windows by `timestamp(record)`.
    pub fn window(
        self,
        assigner: WindowAssigner,
        timestamp: impl Fn(&T) -> i64 + Send + Sync + 'static,
    ) -> WindowedStream<K, T> {
        WindowedStream {
            k: self,
            assigner,
            timestamp: Arc::new(timestamp),
        }
    }

    /// This keyed stream and `other`, keyed by the same key type, into one
    /// keyed operator of two inputs: records of both sides with equal keys
    /// meet in the same subtask and share its keyed state and timers.
    pub fn connect<B: Data>(&self, other: &KeyedStream<K, B>) -> ConnectedKeyedStreams<K, T, B> {
        ConnectedKeyedStreams {
            a: KeyedStream {
                s: self.s.clone_stream(),
                key: self.key.clone(),
            },
            b: KeyedStream {
                s: other.s.clone_stream(),
                key: other.key.clone(),
            },
        }
    }
}

/// A keyed stream cut into windows.
pub struct WindowedStream<K, T> {
    k: KeyedStream<K, T>,
    assigner: WindowAssigner,
    timestamp: Arc<dyn Fn(&T) -> i64 + Send + Sync>,
}

impl<K: Key, T: Data> WindowedStream<K, T> {
    /// Aggregates each window incrementally and emits one result per key and
    /// window; records too late for every window they belong to are dropped.
    pub fn aggregate<A: Data, R: Data>(
        &self,
        agg: impl AggregateFunction<T, A, R>,
    ) -> DataStream<WindowResult<K, R>> {
        self.aggregate_with_late(agg).split().0
    }

    /// As [`aggregate`](Self::aggregate), with the late records as a side
    /// output: `.split()` gives the results and the late records.
    pub fn aggregate_with_late<A: Data, R: Data>(
        &self,
        agg: impl AggregateFunction<T, A, R>,
    ) -> DataStream<WindowOutput<K, R, T>> {
        let agg: Arc<dyn AggregateFunction<T, A, R>> = Arc::new(agg);
        let (assigner, ts) = (self.assigner, self.timestamp.clone());
        match assigner {
            WindowAssigner::Session { gap_ms } => self.k.process_as("Window", move || {
                SessionFunction::new(gap_ms, ts.clone(), agg.clone())
            }),
            _ => self.k.process_as("Window", move || {
                WindowFunction::new(assigner, ts.clone(), agg.clone())
            }),
        }
    }
}

/// Two streams into one operator of two inputs. The operator sees each
/// record as [`Either::Left`] (from the first) or [`Either::Right`] (from the
/// second); its watermark is the minimum of both inputs', and barriers are
/// aligned across both in every checkpoint mode.
pub struct ConnectedStreams<A, B> {
    a: DataStream<A>,
    b: DataStream<B>,
}

/// Wires both sides of a two-input operator into a new node.
fn connect_node<A: Data, B: Data, O: Data>(
    a: &DataStream<A>,
    b: &DataStream<B>,
    kind: &str,
    keyed: bool,
    parts: (Option<Partitioner<A>>, Option<Partitioner<B>>),
    make: OperatorMaker<Either<A, B>, O>,
) -> DataStream<O> {
    if !Rc::ptr_eq(&a.b, &b.b) {
        a.b.borrow_mut()
            .problems
            .push("connect of streams of two different StreamEnvs".into());
    }
    let node = push_node(&a.b, kind, false, keyed, Arc::new(OperatorNode(make)));
    a.edges_into(node, parts.0.as_ref(), |inner| {
        Arc::new(MapInputs::<A, Either<A, B>> {
            inner,
            f: Arc::new(|a| Some(Either::Left(a))),
        })
    });
    b.edges_into(node, parts.1.as_ref(), |inner| {
        Arc::new(MapInputs::<B, Either<A, B>> {
            inner,
            f: Arc::new(|b| Some(Either::Right(b))),
        })
    });
    DataStream::one(&a.b, node)
}

impl<A: Data, B: Data> ConnectedStreams<A, B> {
    /// Any operator over both inputs; `make` creates one per subtask.
    pub fn transform<O: Data>(
        &self,
        make: impl Fn() -> Box<dyn Operator<Either<A, B>, O>> + Send + Sync + 'static,
    ) -> DataStream<O> {
        connect_node(
            &self.a,
            &self.b,
            "CoTransform",
            false,
            (None, None),
            Arc::new(make),
        )
    }

    /// `left` applied to records of the first input, `right` to the second's.
    pub fn map<O: Data>(
        &self,
        left: impl Fn(A) -> O + Send + Sync + 'static,
        right: impl Fn(B) -> O + Send + Sync + 'static,
    ) -> DataStream<O> {
        let f: Arc<dyn Fn(Either<A, B>) -> O + Send + Sync> = Arc::new(move |r| match r {
            Either::Left(a) => left(a),
            Either::Right(b) => right(b),
        });
        connect_node(
            &self.a,
            &self.b,
            "CoMap",
            false,
            (None, None),
            Arc::new(move || Box::new(Map(f.clone()))),
        )
    }
}

/// Two keyed streams into one keyed operator of two inputs.
pub struct ConnectedKeyedStreams<K, A, B> {
    a: KeyedStream<K, A>,
    b: KeyedStream<K, B>,
}

impl<K: Key, A: Data, B: Data> ConnectedKeyedStreams<K, A, B> {
    /// Runs a keyed function of two inputs; `make` creates one per subtask.
    pub fn process<O: Data, F: KeyedCoProcessFunction<K, A, B, O>>(
        &self,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<O> {
        self.process_as("KeyedCoProcess", make)
    }

    /// Cuts both inputs into the same event-time windows (tumbling or
    /// sliding), by `time_a` of the first input's records and `time_b` of
    /// the second's, for a window join or co-group.
    pub fn window(
        self,
        assigner: WindowAssigner,
        time_a: impl Fn(&A) -> i64 + Send + Sync + 'static,
        time_b: impl Fn(&B) -> i64 + Send + Sync + 'static,
    ) -> WindowedConnectedStreams<K, A, B> {
        WindowedConnectedStreams {
            c: self,
            assigner,
            time_a: Arc::new(time_a),
            time_b: Arc::new(time_b),
        }
    }

    fn process_as<O: Data, F: KeyedCoProcessFunction<K, A, B, O>>(
        &self,
        kind: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<O> {
        let (ka, kb) = (self.a.key.clone(), self.b.key.clone());
        let key: Arc<dyn Fn(&Either<A, B>) -> K + Send + Sync> = Arc::new(move |r| match r {
            Either::Left(a) => ka(a),
            Either::Right(b) => kb(b),
        });
        let op: OperatorMaker<Either<A, B>, O> = Arc::new(move || {
            Box::new(KeyedProcessOperator::new(
                key.clone(),
                Box::new(CoFunction::new(make())),
            ))
        });
        connect_node(
            &self.a.s,
            &self.b.s,
            kind,
            true,
            (Some(self.a.partitioner()), Some(self.b.partitioner())),
            op,
        )
    }
}

/// Two keyed streams cut into the same windows.
pub struct WindowedConnectedStreams<K, A, B> {
    c: ConnectedKeyedStreams<K, A, B>,
    assigner: WindowAssigner,
    time_a: Arc<dyn Fn(&A) -> i64 + Send + Sync>,
    time_b: Arc<dyn Fn(&B) -> i64 + Send + Sync>,
}

impl<K: Key, A: Data, B: Data> WindowedConnectedStreams<K, A, B> {
    /// When the watermark passes a window, `f` gets each key's records of
    /// both inputs in it (either side may be empty) and pushes results.
    pub fn co_group<O: Data>(
        &self,
        f: impl Fn(CoGroup<'_, K, A, B>, &mut Vec<O>) + Send + Sync + 'static,
    ) -> DataStream<O> {
        if let WindowAssigner::Session { .. } = self.assigner {
            self.c
                .a
                .s
                .b
                .borrow_mut()
                .problems
                .push("a window join takes tumbling or sliding windows, not sessions".into());
        }
        let f: CoGroupFn<K, A, B, O> = Arc::new(f);
        let (assigner, ta, tb) = (self.assigner, self.time_a.clone(), self.time_b.clone());
        self.c.process_as("WindowJoin", move || {
            WindowCoGroup::new(assigner, ta.clone(), tb.clone(), f.clone())
        })
    }

    /// The inner join: `f` of every pair of records with the same key in the
    /// same window, emitted when the window ends.
    pub fn join<O: Data>(&self, f: impl Fn(&A, &B) -> O + Send + Sync + 'static) -> DataStream<O> {
        self.co_group(move |g, out| {
            for a in &g.left {
                for b in &g.right {
                    out.push(f(a, b));
                }
            }
        })
    }
}

impl DataStream<crate::source::format::RawRecord> {
    /// Reads each stream message with `decoder` in an operator of its own;
    /// a message that does not read goes where `on_error` says: it fails the
    /// task, is skipped, or goes on as the `Right` of the output (see
    /// [`crate::source::format`]). Counted in
    /// `tidemark_task_records_in_errors_total` either way.
    pub fn decode<U: Data>(
        &self,
        decoder: crate::source::format::Decoder<U>,
        on_error: crate::source::format::OnError,
    ) -> DataStream<Either<U, crate::source::format::BadRecord>> {
        self.transform(move || {
            Box::new(crate::source::format::Decode::new(
                decoder.clone(),
                on_error,
            ))
        })
    }
}
