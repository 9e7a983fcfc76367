//! Configuration with Apache Flink's keys (2.x names, 1.x names as aliases).
//!
//! | file | owns |
//! |---|---|
//! | `keys` | every key: aliases, default, allowed values, documentation |
//! | `reader` | reading each key once, by its spec, collecting every error |
//! | `value` | parsing durations, numbers, booleans and enums with clear errors |
//! | `typed` | the typed configuration a job runs with, and validation |

pub(crate) mod keys;
mod reader;
pub(crate) mod typed;
pub(crate) mod value;

pub use keys::Kind;
pub use typed::Config;
