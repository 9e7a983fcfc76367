//! What a record and a key must be able to do.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::hash::Hash;

/// A record type: sent between threads, cloned for broadcast, serialised into
/// checkpoints (in-flight data, sink buffers).
pub trait Data: Clone + Send + Debug + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Debug + Serialize + DeserializeOwned + 'static> Data for T {}

/// A key type: hashed into key groups with Java's `hashCode`, so that keys land
/// in the same key group (and subtask) as they would in Apache Flink.
pub trait Key: Data + Hash + Eq + Ord + JavaHash {}
impl<T: Data + Hash + Eq + Ord + JavaHash> Key for T {}

/// Java's `Object.hashCode()` for the types keys are usually made of.
pub trait JavaHash {
    /// The value Java would return for the equivalent boxed object.
    fn java_hash(&self) -> i32;
}

impl JavaHash for i32 {
    fn java_hash(&self) -> i32 {
        *self
    }
}
impl JavaHash for u32 {
    fn java_hash(&self) -> i32 {
        *self as i32
    }
}
impl JavaHash for i64 {
    /// `Long.hashCode`: `(int)(v ^ (v >>> 32))`.
    fn java_hash(&self) -> i32 {
        let v = *self as u64;
        (v ^ (v >> 32)) as i32
    }
}
impl JavaHash for u64 {
    fn java_hash(&self) -> i32 {
        (*self as i64).java_hash()
    }
}
impl JavaHash for bool {
    /// `Boolean.hashCode`: 1231 / 1237.
    fn java_hash(&self) -> i32 {
        if *self {
            1231
        } else {
            1237
        }
    }
}
impl JavaHash for String {
    fn java_hash(&self) -> i32 {
        self.as_str().java_hash()
    }
}
impl JavaHash for str {
    /// `String.hashCode` over UTF-16 code units: `s[0]*31^(n-1) + … + s[n-1]`.
    fn java_hash(&self) -> i32 {
        self.encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
    }
}
impl<A: JavaHash, B: JavaHash> JavaHash for (A, B) {
    /// As Flink's `Tuple2.hashCode`: `31 * f0.hashCode() + f1.hashCode()`.
    fn java_hash(&self) -> i32 {
        self.0
            .java_hash()
            .wrapping_mul(31)
            .wrapping_add(self.1.java_hash())
    }
}
