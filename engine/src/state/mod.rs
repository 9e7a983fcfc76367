//! Keyed state: what a keyed function reads and writes for its current key, and
//! how it is snapshotted and restored per key group.
//!
//! | file | owns |
//! |---|---|
//! | [`key_group`] | Flink-exact key-group assignment and ranges |
//! | `store` | the storage trait of one state table, and the heap implementation |
//! | `backend` | the keyed backend: registered tables, restore hand-off, snapshot |
//! | `rocks` | the RocksDB backend: instance, tables, native checkpoints, transfer, metrics |
//! | [`handles`] | Value/List/Map/Reducing/Aggregating state, scoped to the current key |
//! | [`timers`] | event- and processing-time timers, snapshotted with the keyed state |
//! | `state_file` | the state file format: one chunk per (table, key group), a footer index |

pub(crate) mod backend;
pub mod handles;
pub mod key_group;
pub(crate) mod rocks;
pub(crate) mod state_file;
pub(crate) mod store;
pub mod timers;

pub use backend::{
    BackendOwner, KeyedStateBackend, RestoredNative, StateBackendKind, StateSettings, TableId,
};
pub use handles::{
    AggregateFunction, AggregatingState, AggregatingStateDesc, ListState, ListStateDesc, MapState,
    MapStateDesc, ReducingState, ReducingStateDesc, ValueState, ValueStateDesc,
};
pub use timers::{TimeDomain, TimerService};
