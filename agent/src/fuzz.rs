//! Metric series built from fuzz bytes, for the encoder fuzz target in
//! `fuzz/` and the test that replays its corpus through the reference
//! parsers (`tests/tests/fuzz_corpora.rs`). The bytes choose catalogued
//! families, label values (any Unicode) and values, written through the
//! registry exactly as the engine writes them; [`Case::series`] keeps what
//! went in, the oracle the parsed exposition is checked against.
//!
//! Not a user API: it is public only so the fuzz crate, a separate build, can
//! reach it.

use crate::catalogue::{MetricKind, ALL};
use crate::registry::Registry;

/// Series written from one input.
#[derive(Debug)]
pub struct Case {
    /// The registry holding them.
    pub registry: Registry,
    /// Each series written: its family and its labels as given.
    pub series: Vec<(&'static str, Vec<(&'static str, String)>)>,
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    fn int(&mut self, width: usize) -> u64 {
        self.take(width)
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }
}

/// Reads series until the bytes run out (at most 64): per series a family
/// byte, per label a length byte and that many bytes (lossy UTF-8), then
/// the value: a counter's increment, a gauge's value or up to four
/// histogram observations.
pub fn case(data: &[u8]) -> Case {
    let registry = Registry::new();
    let mut series = Vec::new();
    let mut b = Bytes(data);
    while series.len() < 64 {
        let Some(which) = b.byte() else { break };
        let def: &'static _ = ALL[which as usize % ALL.len()];
        let mut values = Vec::with_capacity(def.labels.len());
        for _ in def.labels {
            let n = b.byte().unwrap_or(0) as usize % 48;
            values.push(String::from_utf8_lossy(b.take(n)).into_owned());
        }
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let written = match def.kind {
            MetricKind::Counter => registry
                .counter(def, &refs)
                .map(|c| c.add(b.int(4)))
                .is_ok(),
            MetricKind::Gauge => registry
                .gauge(def, &refs)
                .map(|g| g.set(b.int(8) as i64))
                .is_ok(),
            MetricKind::Histogram => registry
                .histogram(def, &refs)
                .map(|h| {
                    for _ in 0..b.byte().unwrap_or(0) % 5 {
                        h.observe(b.int(5));
                    }
                })
                .is_ok(),
        };
        if written {
            series.push((def.name, def.labels.iter().copied().zip(values).collect()));
        }
    }
    Case { registry, series }
}
