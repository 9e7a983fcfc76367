//! Reading the configuration's raw values through the key table: each key is
//! read once, by its spec (never by a spelled-out name), parsed as its kind
//! says, and every value that does not parse becomes one error naming the
//! key, the value and what is allowed. The errors are collected, not
//! returned one at a time, so a user sees every problem in one go.

use super::keys::{KeySpec, Kind};
use super::value::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Reads typed values from the effective (key → value) map.
pub(super) struct Reader<'a> {
    values: &'a BTreeMap<String, String>,
    /// Every problem found so far, one line each.
    pub errors: Vec<String>,
    /// The keys read so far (a test checks that each key is read once).
    read: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    pub fn new(values: &'a BTreeMap<String, String>) -> Self {
        Self {
            values,
            errors: Vec::new(),
            read: Vec::new(),
        }
    }

    /// The keys read, in order (with repeats, if any).
    pub fn read(&self) -> &[&'static str] {
        &self.read
    }

    /// Whether the user set `k` (rather than leaving its default).
    pub fn is_set(&self, k: &KeySpec) -> bool {
        self.values.contains_key(k.key)
    }

    /// Records an error about `k` that its kind alone cannot express.
    pub fn invalid(&mut self, k: &KeySpec, why: impl std::fmt::Display) {
        let v = self.raw(k).unwrap_or_default();
        self.errors
            .push(format!("{}: '{v}' is not valid: expected {why}", k.key));
    }

    /// The user's value of `k`, else its default.
    pub fn raw(&self, k: &KeySpec) -> Option<String> {
        self.values
            .get(k.key)
            .cloned()
            .or_else(|| k.default.map(str::to_string))
    }

    /// Reads `k`, which must be of the kind `expect` accepts, with `parse`.
    /// `None` when it has no value, or when its value is invalid (then an
    /// error is recorded, and the configuration as a whole is refused).
    fn read_as<T>(
        &mut self,
        k: &'static KeySpec,
        expect: fn(&Kind) -> bool,
        parse: impl FnOnce(&str, &Kind) -> Result<T, String>,
    ) -> Option<T> {
        assert!(
            expect(&k.kind),
            "{} is read as another kind than its spec says: {:?}",
            k.key,
            k.kind
        );
        self.read.push(k.key);
        let v = self.raw(k)?;
        match parse(&v, &k.kind) {
            Ok(t) => Some(t),
            Err(allowed) => {
                self.errors
                    .push(format!("{}: '{v}' is not valid: expected {allowed}", k.key));
                None
            }
        }
    }

    pub fn duration(&mut self, k: &'static KeySpec) -> Option<Duration> {
        self.read_as(k, |k| matches!(k, Kind::Duration), |v, _| parse_duration(v))
    }

    pub fn int(&mut self, k: &'static KeySpec) -> Option<i64> {
        self.read_as(
            k,
            |k| matches!(k, Kind::Int(..)),
            |v, kind| match kind {
                Kind::Int(lo, hi) => parse_int(v, *lo, *hi),
                _ => unreachable!("checked by read_as"),
            },
        )
    }

    pub fn float(&mut self, k: &'static KeySpec) -> Option<f64> {
        self.read_as(k, |k| matches!(k, Kind::Float), |v, _| parse_f64(v))
    }

    pub fn ratio(&mut self, k: &'static KeySpec) -> Option<f64> {
        self.read_as(k, |k| matches!(k, Kind::Ratio), |v, _| parse_ratio(v))
    }

    pub fn bytes(&mut self, k: &'static KeySpec) -> Option<u64> {
        self.read_as(k, |k| matches!(k, Kind::Bytes), |v, _| parse_bytes(v))
    }

    /// A boolean; `false` when unset without a default or invalid.
    pub fn flag(&mut self, k: &'static KeySpec) -> bool {
        self.read_as(k, |k| matches!(k, Kind::Bool), |v, _| parse_bool(v))
            .unwrap_or(false)
    }

    /// One of the key's words, in its canonical spelling.
    pub fn choice(&mut self, k: &'static KeySpec) -> Option<&'static str> {
        self.read_as(
            k,
            |k| matches!(k, Kind::Enum(_)),
            |v, kind| match kind {
                Kind::Enum(allowed) => parse_enum(v, allowed),
                _ => unreachable!("checked by read_as"),
            },
        )
    }

    /// A path or text, trimmed; an empty one is refused.
    pub fn text(&mut self, k: &'static KeySpec) -> Option<String> {
        self.read_as(
            k,
            |k| matches!(k, Kind::Path | Kind::Text),
            |v, _| match v.trim() {
                "" => Err("a non-empty value".into()),
                t => Ok(t.to_string()),
            },
        )
    }

    /// A list separated by `,` or `;`, its items trimmed, empty ones dropped.
    pub fn list(&mut self, k: &'static KeySpec) -> Vec<String> {
        self.read_as(
            k,
            |k| matches!(k, Kind::List),
            |v, _| {
                Ok(v.split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect())
            },
        )
        .unwrap_or_default()
    }
}
