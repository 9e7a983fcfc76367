//! `nexmark`: the Nexmark queries over the Nexmark generator
//! ([`crate::source::nexmark`]), written with Tidemark's own API. The
//! semantics are those of the Flink Nexmark SQL (nexmark-flink):
//!
//! | query | what |
//! |---|---|
//! | q0 | pass-through: every bid |
//! | q1 | projection: bid prices in euros (`0.908 * price`) |
//! | q2 | filter: bids on auctions whose id is a multiple of 123 |
//! | q3 | join: auctions of category 10 by sellers in OR, ID or CA, with the seller's name, city and state |
//! | q4 | average winning price per category (the highest bid within an auction's lifetime) |
//! | q5 | hot items: the auctions with the most bids in each 10 s window sliding by 2 s (`auction, bids, window end`) |
//! | q7 | highest bid in each 10 s tumbling window |
//! | q8 | new users: persons who opened an auction in the 10 s window they registered in |

use super::{line_sink, ParamSpec, Params, PipelineSpec, SINK_PARAMS};
use crate::api::{DataStream, JobGraph, StreamEnv};
use crate::config::keys::Kind;
use crate::config::Config;
use crate::data::Data;
use crate::error::Result;
use crate::operator::window::{AggKind, Aggregation, WindowAssigner, WindowResult};
use crate::operator::{KeyedContext, KeyedOpenContext, KeyedProcessFunction};
use crate::source::nexmark::{Bid, NexmarkConfig, NexmarkEvent, NexmarkSource};
use crate::state::{ListStateDesc, MapStateDesc, TimeDomain, ValueStateDesc};
use crate::watermark::WatermarkStrategy;
use std::sync::Arc;

static OWN: &[ParamSpec] = &[
    ParamSpec {
        name: "query",
        default: Some("q0"),
        kind: Kind::Enum(&["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"]),
        doc: "Which Nexmark query to run.",
    },
    ParamSpec {
        name: "events",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Events to generate (persons, auctions and bids together); 0 = unbounded.",
    },
    ParamSpec {
        name: "rate",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Events per second for the whole job; 0 = as fast as possible.",
    },
    ParamSpec {
        name: "event-rate",
        default: Some("100000"),
        kind: Kind::Int(1, i64::MAX),
        doc: "Events per second of event time: 10 M events span 100 s, ten 10 s windows.",
    },
    ParamSpec {
        name: "seed",
        default: Some("42"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Seed of the generator.",
    },
    ParamSpec {
        name: "source-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the generator.",
    },
    ParamSpec {
        name: "query-parallelism",
        default: None,
        kind: Kind::Int(1, 32768),
        doc: "Parallelism of the query's operators.",
    },
];

pub(super) const SPEC: PipelineSpec = PipelineSpec {
    name: "nexmark",
    doc: "Nexmark generator (persons, auctions, bids) → query q0..q8 → sink",
    params: &[OWN, SINK_PARAMS],
    metrics: &[],
    build,
};

/// Window length of q5, q7 and q8, ms.
const WINDOW_MS: i64 = 10_000;
/// Slide of q5, ms.
const SLIDE_MS: i64 = 2_000;

fn bids(src: &DataStream<NexmarkEvent>) -> DataStream<Bid> {
    src.flat_map(|e, out: &mut Vec<Bid>| {
        if let NexmarkEvent::Bid(b) = e {
            out.push(b);
        }
    })
    .name("bids")
    .uid("bids")
}

/// A sink writing each result's `Debug` form (when the sink writes at all).
fn sink<T: Data>(s: &DataStream<T>, p: &Params, par: Option<usize>) -> Result<()> {
    let make = line_sink::<T>(
        p,
        Arc::new(|r: &T, out: &mut String| {
            use std::fmt::Write;
            let _ = write!(out, "{r:?}");
        }),
    )?;
    s.sink(move || make())
        .name(&format!("sink: {}", p.text("sink")))
        .uid("sink")
        .with_parallelism(par);
    Ok(())
}

fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let cfg = NexmarkConfig {
        events: Some(p.int("events") as u64).filter(|n| *n > 0),
        rate: p.int("rate") as u64,
        event_rate: p.int("event-rate") as u64,
        start_ms: 0,
        seed: p.int("seed") as u64,
    };
    let wm = WatermarkStrategy {
        timestamp: Arc::new(|e: &NexmarkEvent| e.date_time()),
        out_of_orderness_ms: 0,
        idle_timeout: None,
    };
    let env = StreamEnv::new(name).with_pipeline(SPEC.name);
    let (sp, qp) = (
        p.opt_usize("source-parallelism"),
        p.opt_usize("query-parallelism"),
    );
    let src = env
        .source_with_watermarks::<NexmarkEvent>(
            move || Box::new(NexmarkSource::new(cfg.clone())),
            wm,
        )
        .name("nexmark")
        .uid("nexmark")
        .with_parallelism(sp);
    match p.text("query").as_str() {
        "q0" => sink(&bids(&src).with_parallelism(qp), p, qp)?,
        "q1" => {
            let euros = bids(&src)
                .map(|b: Bid| {
                    (
                        b.auction,
                        b.bidder,
                        b.price as f64 * 0.908,
                        b.date_time,
                        b.extra,
                    )
                })
                .name("q1 euros")
                .uid("q1")
                .with_parallelism(qp);
            sink(&euros, p, qp)?
        }
        "q2" => {
            let sel = src
                .flat_map(|e, out: &mut Vec<(u64, u64)>| {
                    if let NexmarkEvent::Bid(b) = e {
                        if b.auction % 123 == 0 {
                            out.push((b.auction, b.price));
                        }
                    }
                })
                .name("q2 filter")
                .uid("q2")
                .with_parallelism(qp);
            sink(&sel, p, qp)?
        }
        "q3" => {
            let joined = src
                .filter(|e| match e {
                    NexmarkEvent::Person(p) => matches!(p.state.as_str(), "OR" | "ID" | "CA"),
                    NexmarkEvent::Auction(a) => a.category == 10,
                    NexmarkEvent::Bid(_) => false,
                })
                .name("q3 filter")
                .uid("q3-filter")
                .with_parallelism(qp)
                .key_by(NexmarkEvent::person_id)
                .process(Q3Join::default)
                .name("q3 join")
                .uid("q3-join")
                .with_parallelism(qp);
            sink(&joined, p, qp)?
        }
        "q4" => {
            let maxes = src
                .filter(|e| !matches!(e, NexmarkEvent::Person(_)))
                .name("q4 filter")
                .uid("q4-filter")
                .with_parallelism(qp)
                .key_by(|e: &NexmarkEvent| match e {
                    NexmarkEvent::Auction(a) => a.id,
                    NexmarkEvent::Bid(b) => b.auction,
                    NexmarkEvent::Person(p) => p.id,
                })
                .process(Q4Max::default)
                .name("q4 winning bids")
                .uid("q4-max")
                .with_parallelism(qp);
            let avg = maxes
                .key_by(|r: &(u64, u64, u64)| r.1)
                .process(Q4Avg::default)
                .name("q4 average per category")
                .uid("q4-avg")
                .with_parallelism(qp);
            sink(&avg, p, qp)?
        }
        "q5" => {
            let counts = bids(&src)
                .with_parallelism(qp)
                .key_by(|b: &Bid| b.auction)
                .window(
                    WindowAssigner::Sliding {
                        size_ms: WINDOW_MS,
                        slide_ms: SLIDE_MS,
                    },
                    |b: &Bid| b.date_time,
                )
                .aggregate(Aggregation {
                    kind: AggKind::Count,
                    field: Arc::new(|_: &Bid| 1.0),
                })
                .name("q5 bids per auction")
                .uid("q5-count")
                .with_parallelism(qp);
            let hot = counts
                .key_by(|r: &WindowResult<u64, f64>| r.end)
                .process(Q5Hottest::default)
                .name("q5 hottest")
                .uid("q5-max")
                .with_parallelism(qp);
            sink(&hot, p, qp)?
        }
        "q7" => {
            let highest = bids(&src)
                .with_parallelism(qp)
                .key_by(|b: &Bid| b.date_time.div_euclid(WINDOW_MS))
                .process(Q7Highest::default)
                .name("q7 highest bid")
                .uid("q7-max")
                .with_parallelism(qp);
            sink(&highest, p, qp)?
        }
        _ => {
            let new_users = src
                .filter(|e| !matches!(e, NexmarkEvent::Bid(_)))
                .name("q8 filter")
                .uid("q8-filter")
                .with_parallelism(qp)
                .key_by(|e: &NexmarkEvent| {
                    (
                        e.person_id(),
                        e.date_time().div_euclid(WINDOW_MS) * WINDOW_MS,
                    )
                })
                .process(Q8Join::default)
                .name("q8 window join")
                .uid("q8-join")
                .with_parallelism(qp);
            sink(&new_users, p, qp)?
        }
    }
    env.build(config)
}

/// q3: persons (kept) joined with their auctions (buffered until the seller arrives).
#[derive(Default)]
struct Q3Join {
    person: Option<ValueStateDesc<(String, String, String)>>,
    pending: Option<ListStateDesc<u64>>,
}

impl KeyedProcessFunction<u64, NexmarkEvent, (String, String, String, u64)> for Q3Join {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.person = Some(s.value_state("person")?);
        self.pending = Some(s.list_state("pending")?);
        Ok(())
    }
    fn process(
        &mut self,
        e: NexmarkEvent,
        ctx: &mut KeyedContext<'_, u64, (String, String, String, u64)>,
    ) -> Result<()> {
        let (pd, ld) = (
            self.person.as_ref().expect("opened"),
            self.pending.as_ref().expect("opened"),
        );
        match e {
            NexmarkEvent::Person(p) => {
                let waiting = ctx.list(ld).get()?.to_vec();
                ctx.list(ld).clear()?;
                for id in waiting {
                    ctx.emit((p.name.clone(), p.city.clone(), p.state.clone(), id))?;
                }
                ctx.value(pd).set((p.name, p.city, p.state))?;
            }
            NexmarkEvent::Auction(a) => match ctx.value(pd).get()?.cloned() {
                Some((name, city, state)) => ctx.emit((name, city, state, a.id))?,
                None => ctx.list(ld).add(a.id)?,
            },
            NexmarkEvent::Bid(_) => {}
        }
        Ok(())
    }
}

/// q4 stage 1, per auction: its category and lifetime, and the highest bid in
/// it; emits `(auction, category, max)` whenever the max rises. Bids that
/// arrive before their auction wait in list state.
#[derive(Default)]
struct Q4Max {
    auction: Option<ValueStateDesc<(u64, i64, i64, u64)>>,
    early: Option<ListStateDesc<(u64, i64)>>,
}

impl KeyedProcessFunction<u64, NexmarkEvent, (u64, u64, u64)> for Q4Max {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.auction = Some(s.value_state("auction")?);
        self.early = Some(s.list_state("early-bids")?);
        Ok(())
    }
    fn process(
        &mut self,
        e: NexmarkEvent,
        ctx: &mut KeyedContext<'_, u64, (u64, u64, u64)>,
    ) -> Result<()> {
        let (ad, ed) = (
            self.auction.as_ref().expect("opened"),
            self.early.as_ref().expect("opened"),
        );
        let key = *ctx.key();
        match e {
            NexmarkEvent::Auction(a) => {
                let early = ctx.list(ed).get()?.to_vec();
                ctx.list(ed).clear()?;
                let max = early
                    .iter()
                    .filter(|(_, t)| *t >= a.date_time && *t <= a.expires)
                    .map(|(p, _)| *p)
                    .max()
                    .unwrap_or(0);
                ctx.value(ad)
                    .set((a.category, a.date_time, a.expires, max))?;
                if max > 0 {
                    ctx.emit((key, a.category, max))?;
                }
            }
            NexmarkEvent::Bid(b) => {
                let rise = match ctx.value(ad).get_mut()? {
                    Some((cat, start, end, max))
                        if b.date_time >= *start && b.date_time <= *end && b.price > *max =>
                    {
                        *max = b.price;
                        Some(*cat)
                    }
                    Some(_) => None,
                    None => {
                        ctx.list(ed).add((b.price, b.date_time))?;
                        None
                    }
                };
                if let Some(cat) = rise {
                    ctx.emit((key, cat, b.price))?;
                }
            }
            NexmarkEvent::Person(_) => {}
        }
        Ok(())
    }
}

/// q4 stage 2, per category: each auction's current winning price, and their
/// average, emitted as `(category, average)` on every change.
#[derive(Default)]
struct Q4Avg {
    winning: Option<MapStateDesc<u64, u64>>,
    totals: Option<ValueStateDesc<(u64, u64)>>,
}

impl KeyedProcessFunction<u64, (u64, u64, u64), (u64, f64)> for Q4Avg {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.winning = Some(s.map_state("winning")?);
        self.totals = Some(s.value_state("totals")?);
        Ok(())
    }
    fn process(
        &mut self,
        (auction, cat, max): (u64, u64, u64),
        ctx: &mut KeyedContext<'_, u64, (u64, f64)>,
    ) -> Result<()> {
        let (wd, td) = (
            self.winning.as_ref().expect("opened"),
            self.totals.as_ref().expect("opened"),
        );
        let old = ctx.map(wd).get(&auction)?.copied();
        ctx.map(wd).put(auction, max)?;
        let (sum, n) = {
            let mut t = ctx.value(td);
            let (sum, n) = t.get()?.copied().unwrap_or((0, 0));
            let next = match old {
                Some(o) => (sum - o + max, n),
                None => (sum + max, n + 1),
            };
            t.set(next)?;
            next
        };
        ctx.emit((cat, sum as f64 / n as f64))
    }
}

/// q5 stage 2, per window: the auctions with the most bids, emitted when the
/// watermark passes the window's end.
#[derive(Default)]
struct Q5Hottest {
    best: Option<ValueStateDesc<(u64, Vec<u64>)>>,
}

impl KeyedProcessFunction<i64, WindowResult<u64, f64>, (u64, u64, i64)> for Q5Hottest {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, i64>) -> Result<()> {
        self.best = Some(s.value_state("best")?);
        Ok(())
    }
    fn process(
        &mut self,
        r: WindowResult<u64, f64>,
        ctx: &mut KeyedContext<'_, i64, (u64, u64, i64)>,
    ) -> Result<()> {
        let d = self.best.as_ref().expect("opened");
        let n = r.value as u64;
        let mut v = ctx.value(d);
        match v.get_mut()? {
            Some((max, ids)) if n > *max => {
                *max = n;
                ids.clear();
                ids.push(r.key);
            }
            Some((max, ids)) if n == *max => ids.push(r.key),
            Some(_) => {}
            None => {
                v.set((n, vec![r.key]))?;
                ctx.register_event_time_timer(r.end - 1)?;
            }
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        _t: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, (u64, u64, i64)>,
    ) -> Result<()> {
        let d = self.best.as_ref().expect("opened");
        let best = ctx.value(d).get()?.cloned();
        ctx.value(d).clear()?;
        if let Some((n, ids)) = best {
            for id in ids {
                ctx.emit((id, n, *ctx.key()))?;
            }
        }
        Ok(())
    }
}

/// q7, per tumbling window: the highest bids, emitted at the window's end.
#[derive(Default)]
struct Q7Highest {
    best: Option<ValueStateDesc<Vec<Bid>>>,
}

impl KeyedProcessFunction<i64, Bid, Bid> for Q7Highest {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, i64>) -> Result<()> {
        self.best = Some(s.value_state("highest")?);
        Ok(())
    }
    fn process(&mut self, b: Bid, ctx: &mut KeyedContext<'_, i64, Bid>) -> Result<()> {
        let d = self.best.as_ref().expect("opened");
        let end = (*ctx.key() + 1) * WINDOW_MS;
        let mut v = ctx.value(d);
        match v.get_mut()? {
            Some(best) if b.price > best[0].price => {
                best.clear();
                best.push(b);
            }
            Some(best) if b.price == best[0].price => best.push(b),
            Some(_) => {}
            None => {
                v.set(vec![b])?;
                ctx.register_event_time_timer(end - 1)?;
            }
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        _t: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Bid>,
    ) -> Result<()> {
        let d = self.best.as_ref().expect("opened");
        let best = ctx.value(d).get()?.cloned().unwrap_or_default();
        ctx.value(d).clear()?;
        for b in best {
            ctx.emit(b)?;
        }
        Ok(())
    }
}

/// q8, per (person, window): the person's name once seen, whether they opened
/// an auction; emits `(id, name, window start)` once both are seen, and
/// forgets the pair when the window ends.
#[derive(Default)]
struct Q8Join {
    seen: Option<ValueStateDesc<(Option<String>, bool, bool)>>,
}

impl KeyedProcessFunction<(u64, i64), NexmarkEvent, (u64, String, i64)> for Q8Join {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, (u64, i64)>) -> Result<()> {
        self.seen = Some(s.value_state("seen")?);
        Ok(())
    }
    fn process(
        &mut self,
        e: NexmarkEvent,
        ctx: &mut KeyedContext<'_, (u64, i64), (u64, String, i64)>,
    ) -> Result<()> {
        let d = self.seen.as_ref().expect("opened");
        let (id, start) = *ctx.key();
        let emit = {
            let mut v = ctx.value(d);
            let fresh = v.get()?.is_none();
            if fresh {
                v.set((None, false, false))?;
            }
            let s = v.get_mut()?.ok_or_else(|| {
                crate::error::Error::State("q8's pair vanished between its set and its read".into())
            })?;
            match e {
                NexmarkEvent::Person(p) => s.0 = Some(p.name),
                NexmarkEvent::Auction(_) => s.1 = true,
                NexmarkEvent::Bid(_) => {}
            }
            let out = match (&s.0, s.1, s.2) {
                (Some(name), true, false) => Some(name.clone()),
                _ => None,
            };
            if out.is_some() {
                s.2 = true;
            }
            (fresh, out)
        };
        if emit.0 {
            ctx.register_event_time_timer(start + WINDOW_MS - 1)?;
        }
        if let Some(name) = emit.1 {
            ctx.emit((id, name, start))?;
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        _t: i64,
        _d: TimeDomain,
        ctx: &mut KeyedContext<'_, (u64, i64), (u64, String, i64)>,
    ) -> Result<()> {
        let d = self.seen.as_ref().expect("opened");
        ctx.value(d).clear()
    }
}
