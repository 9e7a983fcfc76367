//! `keyed-count`: the main job. Datagen → key_by(key) → running count per key
//! (value state) → sink, emitting `key,count` for every record.

use super::{
    datagen_source, line_sink, ParamSpec, Params, PipelineSpec, DATAGEN_PARAMS, SINK_PARAMS,
};
use crate::api::{JobGraph, StreamEnv};
use crate::config::Config;
use crate::config::Kind;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::operator::{KeyedContext, KeyedOpenContext, KeyedProcessFunction};
use crate::source::datagen::Event;
use crate::state::ValueStateDesc;
use std::marker::PhantomData;
use std::sync::Arc;

static OWN: &[ParamSpec] = &[
    ParamSpec {
        name: "count-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the keyed count (default parallelism.default).",
    },
    ParamSpec {
        name: "count-work",
        default: Some("0 ms"),
        kind: Kind::Duration,
        doc: "CPU time the count spends per record (to see load and skew: with distribution zipf, the subtask of the hot keys becomes the bottleneck).",
    },
    ParamSpec {
        name: "payload-bytes",
        default: Some("0"),
        kind: Kind::Int(0, 1 << 20),
        doc: "Bytes of padding kept with each key's count, to size the state (benchmarks).",
    },
];

pub(super) const SPEC: PipelineSpec = PipelineSpec {
    name: "keyed-count",
    doc: "datagen → key_by(key) → running count per key → sink (key,count per record)",
    params: &[DATAGEN_PARAMS, OWN, SINK_PARAMS],
    metrics: &[],
    build,
};

/// What a running count keeps per key: the count, and whatever rides along.
pub trait CountState: Data {
    /// The count.
    fn count(&self) -> u64;
    /// One more record; returns the new count.
    fn bump(&mut self) -> u64;
}

impl CountState for u64 {
    fn count(&self) -> u64 {
        *self
    }
    #[inline]
    fn bump(&mut self) -> u64 {
        *self += 1;
        *self
    }
}

/// A count with padding bytes, rewritten with every update (benchmarks).
impl CountState for (u64, Payload) {
    fn count(&self) -> u64 {
        self.0
    }
    fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.1 .0[0] = self.0 as u8;
        self.0
    }
}

/// Padding bytes stored as one byte string. Serde writes a `Vec<u8>` as a
/// sequence, which bincode reads and writes a byte at a time (11 % of a
/// 1 kB-payload run's CPU, `docs/benchmarks.md`); as bytes it is one copy.
/// bincode encodes both the same way (a length, then the bytes), so state
/// written either way reads back either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload(pub Vec<u8>);

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Payload;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Payload, E> {
                Ok(Payload(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Payload, E> {
                Ok(Payload(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Payload, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Payload(v))
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// Counts records per key in value state and emits `(key, count)` per record.
pub struct RunningCount<K, I, S = u64> {
    state: Option<ValueStateDesc<S>>,
    /// The state of a key's first record (count 1).
    first: Box<dyn FnMut() -> S + Send>,
    /// CPU time spent per record (`params.count-work`).
    work: std::time::Duration,
    _p: PhantomData<fn(K, I)>,
}

impl<K, I> Default for RunningCount<K, I, u64> {
    fn default() -> Self {
        Self {
            state: None,
            first: Box::new(|| 1),
            work: std::time::Duration::ZERO,
            _p: PhantomData,
        }
    }
}

impl<K, I> RunningCount<K, I, (u64, Payload)> {
    /// A count whose state carries `payload` pseudo-random bytes per key, so
    /// state size and write volume scale with it and compression does not
    /// shrink it (`params.payload-bytes`).
    pub fn padded(payload: usize) -> Self {
        let mut seed = 0x5eedu64;
        Self {
            state: None,
            first: Box::new(move || {
                let mut pad = Vec::with_capacity(payload.max(1) + 8);
                while pad.len() < payload.max(1) {
                    seed = crate::source::datagen::splitmix64(seed);
                    pad.extend_from_slice(&seed.to_le_bytes());
                }
                pad.truncate(payload.max(1));
                (1, Payload(pad))
            }),
            work: std::time::Duration::ZERO,
            _p: PhantomData,
        }
    }
}

impl<K, I, S> RunningCount<K, I, S> {
    /// Spends `work` of CPU time per record.
    pub fn with_work(mut self, work: std::time::Duration) -> Self {
        self.work = work;
        self
    }
}

impl<K: Key, I: Data, S: CountState> KeyedProcessFunction<K, I, (K, u64)>
    for RunningCount<K, I, S>
{
    fn open(&mut self, state: &mut KeyedOpenContext<'_, K>) -> Result<()> {
        self.state = Some(state.value_state("count")?);
        Ok(())
    }
    fn process(&mut self, _r: I, ctx: &mut KeyedContext<'_, K, (K, u64)>) -> Result<()> {
        if !self.work.is_zero() {
            crate::sink::slow::spin_for(self.work);
        }
        let d = self.state.as_ref().expect("opened");
        let count = {
            let mut v = ctx.value(d);
            match v.get_mut()? {
                Some(s) => s.bump(),
                None => {
                    let s = (self.first)();
                    let c = s.count();
                    v.set(s)?;
                    c
                }
            }
        };
        let key = ctx.key().clone();
        ctx.emit((key, count))
    }
}

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let make_source = datagen_source(p, None);
    let env = StreamEnv::new(name).with_pipeline(SPEC.name);
    let sink = line_sink::<(u64, u64)>(
        p,
        Arc::new(|(k, c): &(u64, u64), s: &mut String| {
            use std::fmt::Write;
            let _ = write!(s, "{k},{c}");
        }),
    )?;
    let (sp, cp, kp) = (
        p.opt_usize("source-parallelism"),
        p.opt_usize("count-parallelism"),
        p.opt_usize("sink-parallelism"),
    );
    let src = env
        .source::<Event>(make_source)
        .name("datagen")
        .uid("datagen")
        .with_parallelism(sp);
    let payload = p.int("payload-bytes") as usize;
    let work = p.duration("count-work");
    let keyed = src.key_by(|e: &Event| e.key);
    let counts = if payload == 0 {
        keyed
            .process(move || RunningCount::<u64, Event>::default().with_work(work))
            .name("count")
            .uid("count")
    } else {
        keyed
            .process(move || RunningCount::<u64, Event, _>::padded(payload).with_work(work))
            .name("count")
            .uid("count")
    }
    .with_parallelism(cp);
    counts
        .sink(move || sink())
        .name(&format!("sink: {}", p.text("sink")))
        .uid("sink")
        .with_parallelism(kp);
    env.build(config)
}

#[cfg(test)]
mod tests {
    use super::Payload;

    /// The payload is stored exactly as a `Vec<u8>` was, so checkpoints and
    /// savepoints written before it was bytes restore into it, and back.
    #[test]
    fn a_payload_is_stored_as_a_vec_of_bytes_was() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let as_vec = bincode::serialize(&(7u64, bytes.clone())).unwrap();
        let as_payload = bincode::serialize(&(7u64, Payload(bytes.clone()))).unwrap();
        assert_eq!(as_vec, as_payload);
        let back: (u64, Payload) = bincode::deserialize(&as_vec).unwrap();
        assert_eq!(back, (7, Payload(bytes.clone())));
        let old: (u64, Vec<u8>) = bincode::deserialize(&as_payload).unwrap();
        assert_eq!(old, (7, bytes));
    }
}
