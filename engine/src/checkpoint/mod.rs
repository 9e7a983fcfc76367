//! Checkpoints: barriers flow with the records; the coordinator decides; storage
//! writes. Decisions ([`align`], [`coordinator`], [`restore`]) are pure functions
//! over facts already read; I/O lives in [`storage`] and the job master.

pub mod align;
pub mod channel_state;
pub mod coordinator;
pub mod metadata;
pub mod restore;
pub mod storage;
