//! `keyed-count`: the main job. Datagen → key_by(key) → running count per key
//! (value state) → sink, emitting `key,count` for every record.

use super::{
    datagen_source, line_sink, ParamSpec, Params, PipelineSpec, DATAGEN_PARAMS, SINK_PARAMS,
};
use crate::api::{JobGraph, StreamEnv};
use crate::config::keys::Kind;
use crate::config::Config;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::operator::{KeyedContext, KeyedProcessFunction};
use crate::source::datagen::Event;
use crate::state::key_group::default_max_parallelism;
use crate::state::{KeyedStateBackend, ValueStateDesc};
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
    build,
};

/// Counts records per key in value state and emits `(key, count)` per record.
pub struct RunningCount<K, I> {
    state: Option<ValueStateDesc<u64>>,
    _p: PhantomData<fn(K, I)>,
}

impl<K, I> Default for RunningCount<K, I> {
    fn default() -> Self {
        Self {
            state: None,
            _p: PhantomData,
        }
    }
}

impl<K: Key, I: Data> KeyedProcessFunction<K, I, (K, u64)> for RunningCount<K, I> {
    fn open(&mut self, state: &mut KeyedStateBackend<K>) -> Result<()> {
        self.state = Some(state.value_state("count")?);
        Ok(())
    }
    fn process(&mut self, _r: I, ctx: &mut KeyedContext<'_, K, (K, u64)>) -> Result<()> {
        let d = self.state.as_ref().expect("opened");
        let count = {
            let mut v = ctx.value(d);
            match v.get_mut() {
                Some(c) => {
                    *c += 1;
                    *c
                }
                None => {
                    v.set(1);
                    1
                }
            }
        };
        let key = ctx.key().clone();
        ctx.emit((key, count))
    }
}

/// A running count whose state carries `payload` bytes per key, rewritten on
/// every update (so state size and write volume scale with it). The bytes are
/// pseudo-random, so compression does not shrink the state.
pub struct PaddedCount<K, I> {
    state: Option<ValueStateDesc<(u64, Vec<u8>)>>,
    payload: usize,
    seed: u64,
    _p: PhantomData<fn(K, I)>,
}

impl<K, I> PaddedCount<K, I> {
    /// A count padded with `payload` bytes per key.
    pub fn new(payload: usize) -> Self {
        Self {
            state: None,
            payload,
            seed: 0x5eed,
            _p: PhantomData,
        }
    }
}

impl<K: Key, I: Data> KeyedProcessFunction<K, I, (K, u64)> for PaddedCount<K, I> {
    fn open(&mut self, state: &mut KeyedStateBackend<K>) -> Result<()> {
        self.state = Some(state.value_state("count")?);
        Ok(())
    }
    fn process(&mut self, _r: I, ctx: &mut KeyedContext<'_, K, (K, u64)>) -> Result<()> {
        let d = self.state.as_ref().expect("opened");
        let count = {
            let mut v = ctx.value(d);
            match v.get_mut() {
                Some((c, pad)) => {
                    *c += 1;
                    pad[0] = *c as u8;
                    *c
                }
                None => {
                    let mut pad = Vec::with_capacity(self.payload.max(1) + 8);
                    while pad.len() < self.payload.max(1) {
                        self.seed = crate::source::datagen::splitmix64(self.seed);
                        pad.extend_from_slice(&self.seed.to_le_bytes());
                    }
                    pad.truncate(self.payload.max(1));
                    v.set((1, pad));
                    1
                }
            }
        };
        let key = ctx.key().clone();
        ctx.emit((key, count))
    }
}

/// Largest explicit or default parallelism among the given operators.
pub(super) fn max_parallelism(config: &Config, ps: &[Option<usize>]) -> u32 {
    config.max_parallelism.unwrap_or_else(|| {
        let p = ps
            .iter()
            .map(|p| p.unwrap_or(config.parallelism))
            .max()
            .unwrap_or(1);
        default_max_parallelism(p as u32)
    })
}

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let make_source = datagen_source(p, None);
    let env = StreamEnv::new(name, SPEC.name);
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
        .source::<Event>("datagen", "datagen", make_source)
        .with_parallelism(sp);
    let payload = p.int("payload-bytes") as usize;
    let keyed = src.key_by(|e: &Event| e.key);
    let counts = if payload == 0 {
        keyed.process("count", "count", RunningCount::<u64, Event>::default)
    } else {
        keyed.process("count", "count", move || {
            PaddedCount::<u64, Event>::new(payload)
        })
    }
    .with_parallelism(cp);
    counts
        .sink(&format!("sink: {}", p.text("sink")), "sink", move || sink())
        .with_parallelism(kp);
    env.build(config.parallelism, max_parallelism(config, &[sp, cp, kp]))
}
