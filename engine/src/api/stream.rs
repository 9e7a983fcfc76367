//! `StreamEnv`, `DataStream`, `KeyedStream`: the typed builder.
//!
//! ```no_run
//! use tidemark::api::StreamEnv;
//! use tidemark::source::datagen::{DatagenConfig, DatagenSource, KeyDistribution};
//! use tidemark::sink::blackhole::BlackholeSink;
//! let env = StreamEnv::new("keyed-count", "keyed-count");
//! let cfg = DatagenConfig { keys: 1000, distribution: KeyDistribution::Uniform, rate: 0,
//!     events: Some(10_000), seed: 1, event_time_start_ms: 0, event_time_rate: 1000, out_of_orderness_ms: 0,
//!     warmup: 0 };
//! env.source::<tidemark::source::datagen::Event>("datagen", "source", move || Box::new(DatagenSource::new(cfg.clone(), None)))
//!     .key_by(|e| e.key)
//!     .reduce("count", "count", |a, b| tidemark::source::datagen::Event { value: a.value + b.value, ..b })
//!     .sink("blackhole", "sink", || Box::new(BlackholeSink));
//! let graph = env.build(1, 128).unwrap();
//! ```

use super::graph::*;
use crate::channel::Partitioner;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::operator::keyed::ReduceFunction;
use crate::operator::window::WindowFunction;
use crate::operator::*;
use crate::sink::{Sink, SinkOperator};
use crate::source::Source;
use crate::state::AggregateFunction;
use crate::watermark::WatermarkStrategy;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// The entry point: creates sources, then `build`s the graph.
#[derive(Clone)]
pub struct StreamEnv {
    name: String,
    pipeline: String,
    b: Rc<RefCell<Builder>>,
}

/// A stream of `T` produced by one operator.
pub struct DataStream<T> {
    b: Rc<RefCell<Builder>>,
    node: usize,
    /// Partitioner for the next edge (set by `rebalance`, `broadcast`).
    next: Option<Partitioner<T>>,
    _p: PhantomData<T>,
}

impl StreamEnv {
    /// A new job named `name` (metrics label `job_name`) built by `pipeline`.
    pub fn new(name: &str, pipeline: &str) -> Self {
        Self {
            name: name.to_string(),
            pipeline: pipeline.to_string(),
            b: Rc::default(),
        }
    }

    /// Adds a source; `make` creates one instance per subtask.
    pub fn source<T: Data>(
        &self,
        name: &str,
        uid: &str,
        make: impl Fn() -> Box<dyn Source<T>> + Send + Sync + 'static,
    ) -> DataStream<T> {
        self.source_with_watermarks(name, uid, make, None)
    }

    /// Adds a source whose records carry event time.
    pub fn source_with_watermarks<T: Data>(
        &self,
        name: &str,
        uid: &str,
        make: impl Fn() -> Box<dyn Source<T>> + Send + Sync + 'static,
        watermarks: Option<WatermarkStrategy<T>>,
    ) -> DataStream<T> {
        let factory = Arc::new(SourceNode {
            make: Arc::new(make),
            watermarks,
        });
        let node = push_node(&self.b, name, uid, true, false, false, factory);
        DataStream {
            b: self.b.clone(),
            node,
            next: None,
            _p: PhantomData,
        }
    }

    /// Validates and returns the graph.
    pub fn build(self, default_parallelism: usize, max_parallelism: u32) -> Result<JobGraph> {
        let b = self.b.replace(Builder::default());
        let mut g = JobGraph {
            name: self.name,
            pipeline: self.pipeline,
            nodes: b.nodes,
            edges: b.edges,
            max_parallelism,
        };
        g.validate(default_parallelism)?;
        Ok(g)
    }
}

fn push_node(
    b: &Rc<RefCell<Builder>>,
    name: &str,
    uid: &str,
    is_source: bool,
    is_sink: bool,
    keyed: bool,
    factory: Arc<dyn NodeFactory>,
) -> usize {
    let mut b = b.borrow_mut();
    b.nodes.push(Node {
        name: name.to_string(),
        uid: uid.to_string(),
        parallelism: 0,
        explicit_parallelism: None,
        is_source,
        is_sink,
        keyed,
        inputs: Vec::new(),
        outputs: Vec::new(),
        factory,
    });
    b.nodes.len() - 1
}

impl<T: Data> DataStream<T> {
    fn connect(&self, to: usize, part: Option<Partitioner<T>>) {
        let mut b = self.b.borrow_mut();
        let kind = match part.or_else(|| self.next.clone()) {
            Some(p) => EdgeKind::Explicit(p),
            None => EdgeKind::Default,
        };
        let pname = match &kind {
            EdgeKind::Default => "FORWARD/REBALANCE",
            EdgeKind::Explicit(p) => p.name(),
        };
        b.edges.push(Edge {
            from: self.node,
            to,
            partitioner: pname,
            factory: Arc::new(TypedEdge(kind)),
        });
        let e = b.edges.len() - 1;
        b.nodes[self.node].outputs.push(e);
        b.nodes[to].inputs.push(e);
    }

    fn then<O: Data>(
        &self,
        name: &str,
        uid: &str,
        keyed: bool,
        part: Option<Partitioner<T>>,
        make: OperatorMaker<T, O>,
    ) -> DataStream<O> {
        let node = push_node(
            &self.b,
            name,
            uid,
            false,
            false,
            keyed,
            Arc::new(OperatorNode(make)),
        );
        self.connect(node, part);
        DataStream {
            b: self.b.clone(),
            node,
            next: None,
            _p: PhantomData,
        }
    }

    /// Sets this operator's parallelism.
    pub fn parallelism(self, p: usize) -> Self {
        self.b.borrow_mut().nodes[self.node].explicit_parallelism = Some(p);
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
        self.next = Some(Partitioner::Rebalance);
        self
    }

    /// Send every record of the next edge to every downstream subtask.
    pub fn broadcast(mut self) -> Self {
        self.next = Some(Partitioner::Broadcast);
        self
    }

    /// `f` applied to every record.
    pub fn map<O: Data>(
        &self,
        name: &str,
        uid: &str,
        f: impl Fn(T) -> O + Send + Sync + 'static,
    ) -> DataStream<O> {
        let f: Arc<dyn Fn(T) -> O + Send + Sync> = Arc::new(f);
        self.then(
            name,
            uid,
            false,
            None,
            Arc::new(move || Box::new(Map(f.clone()))),
        )
    }

    /// The records for which `f` holds.
    pub fn filter(
        &self,
        name: &str,
        uid: &str,
        f: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> DataStream<T> {
        let f: Arc<dyn Fn(&T) -> bool + Send + Sync> = Arc::new(f);
        self.then(
            name,
            uid,
            false,
            None,
            Arc::new(move || Box::new(Filter(f.clone()))),
        )
    }

    /// Zero or more records per record: `f` pushes into the vector.
    pub fn flat_map<O: Data>(
        &self,
        name: &str,
        uid: &str,
        f: impl Fn(T, &mut Vec<O>) + Send + Sync + 'static,
    ) -> DataStream<O> {
        let f: Arc<dyn Fn(T, &mut Vec<O>) + Send + Sync> = Arc::new(f);
        self.then(
            name,
            uid,
            false,
            None,
            Arc::new(move || Box::new(FlatMap(f.clone()))),
        )
    }

    /// Any custom operator.
    pub fn transform<O: Data>(
        &self,
        name: &str,
        uid: &str,
        make: impl Fn() -> Box<dyn Operator<T, O>> + Send + Sync + 'static,
    ) -> DataStream<O> {
        self.then(name, uid, false, None, Arc::new(make))
    }

    /// Partitions by key group of `key(record)`; the next operator is keyed.
    pub fn key_by<K: Key>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, T> {
        KeyedStream {
            s: DataStream {
                b: self.b.clone(),
                node: self.node,
                next: None,
                _p: PhantomData,
            },
            key: Arc::new(key),
        }
    }

    /// Ends the stream in a sink.
    pub fn sink(
        &self,
        name: &str,
        uid: &str,
        make: impl Fn() -> Box<dyn Sink<T>> + Send + Sync + 'static,
    ) -> DataStream<()> {
        self.sink_timed(name, uid, None, make)
    }

    /// A sink that also measures how late results are: with `event_time`,
    /// `tidemark_sink_event_time_latency_seconds` observes, per result, the
    /// wall clock at the sink minus the result's event time (ms).
    pub fn sink_timed(
        &self,
        name: &str,
        uid: &str,
        event_time: Option<crate::sink::EventTimeFn<T>>,
        make: impl Fn() -> Box<dyn Sink<T>> + Send + Sync + 'static,
    ) -> DataStream<()> {
        let make = Arc::new(make);
        let s = self.then::<()>(
            name,
            uid,
            false,
            None,
            Arc::new(move || Box::new(SinkOperator::new(make(), event_time.clone()))),
        );
        s.b.borrow_mut().nodes[s.node].is_sink = true;
        s
    }
}

/// A stream partitioned by key.
pub struct KeyedStream<K, T> {
    s: DataStream<T>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<K: Key, T: Data> KeyedStream<K, T> {
    fn partitioner(&self) -> Partitioner<T> {
        let key = self.key.clone();
        Partitioner::KeyGroup {
            hash: Arc::new(move |t: &T| key(t).java_hash()),
            // Set from pipeline.max-parallelism when the edge is wired.
            max_parallelism: 0,
        }
    }

    /// Runs a keyed process function; `make` creates one per subtask.
    pub fn process<O: Data, F: KeyedProcessFunction<K, T, O>>(
        &self,
        name: &str,
        uid: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<O> {
        let key = self.key.clone();
        let op: OperatorMaker<T, O> =
            Arc::new(move || Box::new(KeyedProcessOperator::new(key.clone(), Box::new(make()))));
        self.s.then(name, uid, true, Some(self.partitioner()), op)
    }

    /// Folds records per key with `f(current, new)` and emits each new value.
    pub fn reduce(
        &self,
        name: &str,
        uid: &str,
        f: impl Fn(&T, T) -> T + Send + Sync + 'static,
    ) -> DataStream<T> {
        let f: Arc<dyn Fn(&T, T) -> T + Send + Sync> = Arc::new(f);
        self.process(name, uid, move || ReduceFunction::new(f.clone()))
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
}

/// A keyed stream cut into windows.
pub struct WindowedStream<K, T> {
    k: KeyedStream<K, T>,
    assigner: WindowAssigner,
    timestamp: Arc<dyn Fn(&T) -> i64 + Send + Sync>,
}

impl<K: Key, T: Data> WindowedStream<K, T> {
    /// Aggregates each window incrementally and emits one result per key and window.
    pub fn aggregate<A: Data, R: Data>(
        &self,
        name: &str,
        uid: &str,
        agg: impl AggregateFunction<T, A, R>,
    ) -> DataStream<WindowResult<K, R>> {
        let agg: Arc<dyn AggregateFunction<T, A, R>> = Arc::new(agg);
        let (assigner, ts) = (self.assigner, self.timestamp.clone());
        self.k.process(name, uid, move || {
            WindowFunction::new(assigner, ts.clone(), agg.clone())
        })
    }
}
