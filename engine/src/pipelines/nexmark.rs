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
use crate::config::Config;
use crate::config::Kind;
use crate::data::Data;
use crate::error::Result;
use crate::operator::window::{AggKind, Aggregation, WindowAssigner, WindowResult};
use crate::operator::Either;
use crate::operator::{
    CoGroup, KeyedCoProcessFunction, KeyedContext, KeyedOpenContext, KeyedProcessFunction,
};
use crate::source::nexmark::{Auction, Bid, NexmarkConfig, NexmarkEvent, NexmarkSource, Person};
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

/// The persons and the auctions of the event stream, as two streams out of
/// one operator (its main and side outputs): each event is read once, and
/// each edge carries only its side's records.
fn persons_and_auctions<P: Data, A: Data>(
    src: &DataStream<NexmarkEvent>,
    person: fn(Person) -> Option<P>,
    auction: fn(Auction) -> Option<A>,
    uid: &str,
) -> (DataStream<P>, DataStream<A>) {
    src.flat_map(move |e, out: &mut Vec<Either<P, A>>| match e {
        NexmarkEvent::Person(p) => out.extend(person(p).map(Either::Left)),
        NexmarkEvent::Auction(a) => out.extend(auction(a).map(Either::Right)),
        NexmarkEvent::Bid(_) => {}
    })
    .name(&format!("{uid} persons and auctions"))
    .uid(uid)
    .split()
}

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
    let wm = WatermarkStrategy::bounded(0, |e: &NexmarkEvent| e.date_time());
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
            let (sellers, items) = persons_and_auctions(
                &src,
                |p| matches!(p.state.as_str(), "OR" | "ID" | "CA").then_some(p),
                |a| (a.category == 10).then_some(a),
                "q3-split",
            );
            let joined = sellers
                .with_parallelism(qp)
                .key_by(|p: &Person| p.id)
                .connect(&items.key_by(|a: &Auction| a.seller))
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
            // Only what the join needs: (id, name, time) and (seller, time).
            let (people, sellers) = persons_and_auctions(
                &src,
                |p| Some((p.id, p.name, p.date_time)),
                |a| Some((a.seller, a.date_time)),
                "q8-split",
            );
            let new_users = people
                .with_parallelism(qp)
                .key_by(|p: &(u64, String, i64)| p.0)
                .connect(&sellers.key_by(|a: &(u64, i64)| a.0))
                .window(
                    WindowAssigner::Tumbling { size_ms: WINDOW_MS },
                    |p: &(u64, String, i64)| p.2,
                    |a: &(u64, i64)| a.1,
                )
                .co_group(|g: CoGroup<'_, u64, (u64, String, i64), (u64, i64)>, out| {
                    // Persons who registered in the window and opened an
                    // auction in it (the auctions grouped by seller).
                    if !g.right.is_empty() {
                        out.extend(g.left.into_iter().map(|(id, name, _)| (id, name, g.start)));
                    }
                })
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

type Q3Out = (String, String, String, u64);

impl KeyedCoProcessFunction<u64, Person, Auction, Q3Out> for Q3Join {
    fn open(&mut self, s: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.person = Some(s.value_state("person")?);
        self.pending = Some(s.list_state("pending")?);
        Ok(())
    }
    fn process1(&mut self, p: Person, ctx: &mut KeyedContext<'_, u64, Q3Out>) -> Result<()> {
        let (pd, ld) = (
            self.person.as_ref().expect("opened"),
            self.pending.as_ref().expect("opened"),
        );
        let waiting = ctx.list(ld).get()?.to_vec();
        ctx.list(ld).clear()?;
        for id in waiting {
            ctx.emit((p.name.clone(), p.city.clone(), p.state.clone(), id))?;
        }
        ctx.value(pd).set((p.name, p.city, p.state))
    }
    fn process2(&mut self, a: Auction, ctx: &mut KeyedContext<'_, u64, Q3Out>) -> Result<()> {
        let (pd, ld) = (
            self.person.as_ref().expect("opened"),
            self.pending.as_ref().expect("opened"),
        );
        match ctx.value(pd).get()?.cloned() {
            Some((name, city, state)) => ctx.emit((name, city, state, a.id)),
            None => ctx.list(ld).add(a.id),
        }
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
