//! The DataStream-style builder users write jobs with, and the logical graph it
//! produces. Types are checked while building; the graph stores type-erased
//! factories so the runtime can create tasks again on every restart.

pub mod graph;
pub mod stream;

pub use graph::JobGraph;
pub use stream::{
    ConnectedKeyedStreams, ConnectedStreams, DataStream, KeyedStream, StreamEnv,
    WindowedConnectedStreams, WindowedStream,
};
