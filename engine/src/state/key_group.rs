//! Key groups exactly as Apache Flink computes them (`KeyGroupRangeAssignment`),
//! so that the same key lands in the same key group and subtask.

use crate::data::JavaHash;

/// Flink's upper bound for max parallelism (1 << 15).
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

/// Flink's `MathUtils.murmurHash(int)`, returning a non-negative value.
pub fn murmur_hash(code: i32) -> i32 {
    let mut h = code as u32;
    h = h.wrapping_mul(0xcc9e_2d51);
    h = h.rotate_left(15);
    h = h.wrapping_mul(0x1b87_3593);
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    h ^= 4;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    let h = h as i32;
    if h >= 0 {
        h
    } else if h == i32::MIN {
        0
    } else {
        -h
    }
}

/// Key group of a key: `murmurHash(key.hashCode()) % maxParallelism`.
#[inline]
pub fn assign_to_key_group<K: JavaHash + ?Sized>(key: &K, max_parallelism: u32) -> u32 {
    key_group_for_hash(key.java_hash(), max_parallelism)
}

/// Key group for an already computed Java hash code.
#[inline]
pub fn key_group_for_hash(hash: i32, max_parallelism: u32) -> u32 {
    murmur_hash(hash) as u32 % max_parallelism
}

/// Subtask owning a key group: `kg * parallelism / maxParallelism`.
#[inline]
pub fn operator_index_for_key_group(max_parallelism: u32, parallelism: u32, key_group: u32) -> u32 {
    (key_group as u64 * parallelism as u64 / max_parallelism as u64) as u32
}

/// An inclusive range of key groups owned by one subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyGroupRange {
    /// First key group.
    pub start: u32,
    /// Last key group (inclusive).
    pub end: u32,
}

impl KeyGroupRange {
    /// Whether `kg` lies in the range.
    pub fn contains(&self, kg: u32) -> bool {
        kg >= self.start && kg <= self.end
    }
}

/// Flink's `computeKeyGroupRangeForOperatorIndex`.
pub fn key_group_range_for_subtask(
    max_parallelism: u32,
    parallelism: u32,
    index: u32,
) -> KeyGroupRange {
    let (m, p, i) = (max_parallelism as u64, parallelism as u64, index as u64);
    KeyGroupRange {
        start: (i * m).div_ceil(p) as u32,
        end: (((i + 1) * m - 1) / p) as u32,
    }
}

/// Flink's `computeDefaultMaxParallelism`: `min(max(roundUpPow2(p + p/2), 128), 32768)`.
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let want = (parallelism + parallelism / 2).max(1).next_power_of_two();
    want.clamp(128, UPPER_BOUND_MAX_PARALLELISM)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors from Flink's own code (reference/flink-observability.md §5.4).
    #[test]
    fn matches_flink_test_vectors() {
        let ints: [(i32, i32, u32, u32); 5] = [
            (0, 593689054, 94, 2),
            (1, 68075478, 86, 2),
            (2, 1085422463, 127, 3),
            (42, 1134849565, 29, 0),
            (-1, 1982413648, 80, 2),
        ];
        for (k, murmur, kg, sub) in ints {
            assert_eq!(murmur_hash(k.java_hash()), murmur, "murmur of int {k}");
            assert_eq!(assign_to_key_group(&k, 128), kg, "key group of int {k}");
            assert_eq!(
                operator_index_for_key_group(128, 4, kg),
                sub,
                "subtask of int {k}"
            );
        }
        assert_eq!(42i64.java_hash(), 42);
        assert_eq!(assign_to_key_group(&42i64, 128), 29);
        let strings: [(&str, i32, i32, u32, u32); 3] = [
            ("a", 97, 1455541201, 81, 2),
            ("hello", 99162322, 1715862179, 35, 1),
            ("user-1", -836031825, 1662039673, 121, 3),
        ];
        for (k, hash, murmur, kg, sub) in strings {
            assert_eq!(k.java_hash(), hash, "hashCode of {k:?}");
            assert_eq!(murmur_hash(hash), murmur, "murmur of {k:?}");
            assert_eq!(
                assign_to_key_group(&k.to_string(), 128),
                kg,
                "key group of {k:?}"
            );
            assert_eq!(
                operator_index_for_key_group(128, 4, kg),
                sub,
                "subtask of {k:?}"
            );
        }
    }

    #[test]
    fn ranges_and_default_max_parallelism() {
        let r: Vec<_> = (0..3)
            .map(|i| key_group_range_for_subtask(128, 3, i))
            .collect();
        assert_eq!(
            r,
            vec![
                KeyGroupRange { start: 0, end: 42 },
                KeyGroupRange { start: 43, end: 85 },
                KeyGroupRange {
                    start: 86,
                    end: 127
                }
            ]
        );
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(85), 128);
        assert_eq!(default_max_parallelism(86), 256);
        assert_eq!(default_max_parallelism(170), 256);
        assert_eq!(default_max_parallelism(1000), 2048);
        assert_eq!(default_max_parallelism(30000), 32768);
    }

    proptest::proptest! {
        /// Every key group belongs to exactly the subtask whose range holds it.
        #[test]
        fn ranges_agree_with_operator_index(p in 1u32..300, extra in 0u32..4) {
            let maxp = (default_max_parallelism(p) << extra).min(UPPER_BOUND_MAX_PARALLELISM).max(p);
            for kg in 0..maxp {
                let i = operator_index_for_key_group(maxp, p, kg);
                proptest::prop_assert!(key_group_range_for_subtask(maxp, p, i).contains(kg));
            }
        }
    }
}
