//! Checkpoints: barriers flow with the records; the coordinator decides; storage
//! writes. Decisions ([`align`], [`coordinator`], [`restore`]) are pure functions
//! over facts already read; I/O lives in [`blob`], [`storage`], [`local`], [`spool`] and
//! the job master.

pub mod align;
pub mod blob;
pub mod channel_state;
pub mod compat;
pub mod coordinator;
pub mod local;
pub mod metadata;
pub mod restore;
pub mod retention;
pub mod savepoint;
pub mod spool;
pub mod storage;
