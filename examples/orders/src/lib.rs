//! The parts of the `orders` example that its test reads too: the records
//! and their generator (the test's oracle is computed from it), the source
//! and the sink. The job itself is in `main.rs`.

pub mod model;
pub mod sink;
pub mod source;
