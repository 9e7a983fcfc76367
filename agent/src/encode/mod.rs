//! Wire formats. Each encoder turns a [`crate::registry::Registry`] snapshot into bytes.

pub mod prometheus;
