//! A job of one's own: orders joined with payments per order id.
//!
//! Two sources of its own (orders and payments, generated from a seed and
//! replayable from a position), one keyed two-input function with state and
//! an event-time timer (an order not paid within `timeout` of event time is
//! flagged unpaid), a side output (payments too late to count), a metric of
//! its own, and a two-phase sink of its own (files made visible when a
//! checkpoint completes). The binary is the whole `tidemark` command with one
//! more pipeline: `orders run job.yaml` with `pipeline: orders-payments`.
//!
//! The verdict of each order depends only on the input: an order is paid if
//! and only if its payment exists and its event time is at most the order's
//! plus the timeout. The function makes that true whatever the order in which
//! the two streams arrive, so the output of a run, crashed and restored any
//! number of times, is exactly one verdict per order.

use tidemark::prelude::*;
use tidemark_example_orders::model::{self, Order, Payment, Verdict};
use tidemark_example_orders::{sink, source};

/// The pipeline's parameters (`params:` in the job file, `--set params.<name>=`).
static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "orders",
        default: Some("100000"),
        kind: Kind::Int(1, i64::MAX),
        doc: "Orders to generate (and as many payment slots).",
    },
    ParamSpec {
        name: "rate",
        default: Some("0"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Orders (and payments) per second per source; 0 = as fast as possible.",
    },
    ParamSpec {
        name: "seed",
        default: Some("1"),
        kind: Kind::Int(0, i64::MAX),
        doc: "Generator seed: the same seed gives the same orders and payments.",
    },
    ParamSpec {
        name: "timeout",
        default: Some("3 s"),
        kind: Kind::Duration,
        doc: "Event time after an order within which its payment must come.",
    },
    ParamSpec {
        name: "output",
        default: None,
        kind: Kind::Path,
        doc: "Directory for the output: verdicts/ (one line per order) and late-payments/ (part files).",
    },
];

// ANCHOR: metric
/// A metric of the job's own: verdicts by kind.
static VERDICTS: UserMetric = UserMetric::counter(
    "orders_verdicts_total",
    "Orders judged, by verdict: paid in time or not.",
)
.with_labels(&[UserLabel {
    name: "verdict",
    values: &["paid", "unpaid"],
}]);
// ANCHOR_END: metric

// ANCHOR: spec
static PIPELINES: &[PipelineSpec] = &[PipelineSpec {
    name: "orders-payments",
    doc: "orders + payments → keyed join per order id (unpaid after a timeout) → files",
    params: &[PARAMS],
    metrics: &[&VERDICTS],
    build,
}];
// ANCHOR_END: spec

// ANCHOR: build
fn build(name: &str, p: &Params, config: &Config) -> Result<JobGraph> {
    let gen = model::Generator {
        orders: p.int("orders") as u64,
        seed: p.int("seed") as u64,
    };
    let rate = p.int("rate") as u64;
    let timeout_ms = p.duration("timeout").as_millis() as i64;
    let out = std::path::PathBuf::from(p.text("output"));

    let env = StreamEnv::new(name);
    let orders = env
        .source_with_watermarks(
            move || Box::new(source::Generated::<Order>::new(gen, rate)),
            WatermarkStrategy::bounded(0, |o: &Order| o.time_ms),
        )
        .name("orders")
        .uid("orders")
        .parallelism(1);
    let payments = env
        .source_with_watermarks(
            move || Box::new(source::Generated::<Payment>::new(gen, rate)),
            // A payment comes at most MAX_DELAY_MS after its order's time.
            WatermarkStrategy::bounded(model::MAX_DELAY_MS, |p: &Payment| p.time_ms),
        )
        .name("payments")
        .uid("payments")
        .parallelism(1);
    let checked = orders
        .key_by(|o: &Order| o.id)
        .connect(&payments.key_by(|p: &Payment| p.order_id))
        .process(move || PaymentCheck {
            timeout_ms,
            state: None,
        })
        .name("payment check")
        .uid("payment-check");
    // Verdicts are the main output; payments too late to count, the side output.
    let (verdicts, late) = checked.split();
    let dir = out.join("verdicts");
    verdicts
        .sink(move || Box::new(sink::TwoPhaseFiles::new(dir.clone())))
        .name("verdicts")
        .uid("verdicts");
    let dir = out.join("late-payments");
    late.sink(move || Box::new(sink::TwoPhaseFiles::new(dir.clone())))
        .name("late payments")
        .uid("late-payments")
        .parallelism(1);
    env.build(config)
}
// ANCHOR_END: build

/// What `open` registers: the state of one order id, and the metric.
struct States {
    order: ValueStateDesc<Order>,
    payment: ValueStateDesc<Payment>,
    paid: CounterId,
    unpaid: CounterId,
}

// ANCHOR: function
/// Joins each order with its payment. Either may come first; an order whose
/// payment is not there by `time + timeout` (event time) is unpaid, and a
/// payment later than that goes to the side output (`Either::Right`).
struct PaymentCheck {
    timeout_ms: i64,
    state: Option<States>,
}

impl PaymentCheck {
    fn states(&self) -> &States {
        self.state.as_ref().expect("open registers the state")
    }

    fn judge(&self, o: &Order, paid: bool, ctx: &mut KeyedContext<'_, u64, Out>) -> Result<()> {
        let s = self.states();
        ctx.count(if paid { s.paid } else { s.unpaid }, 1);
        ctx.emit(Either::Left(Verdict::of(o, paid)))
    }
}

/// The main output and the side output.
type Out = Either<Verdict, Payment>;

impl KeyedCoProcessFunction<u64, Order, Payment, Out> for PaymentCheck {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.state = Some(States {
            order: ctx.value_state("order")?,
            payment: ctx.value_state("payment")?,
            paid: ctx.counter(&VERDICTS, &["paid"])?,
            unpaid: ctx.counter(&VERDICTS, &["unpaid"])?,
        });
        Ok(())
    }

    fn process1(&mut self, order: Order, ctx: &mut KeyedContext<'_, u64, Out>) -> Result<()> {
        let s = self.states();
        let deadline = order.time_ms + self.timeout_ms;
        match ctx.value(&s.payment).get()?.cloned() {
            // The payment came first.
            Some(p) => {
                ctx.value(&s.payment).clear()?;
                let paid = p.time_ms <= deadline;
                if !paid {
                    ctx.emit(Either::Right(p))?;
                }
                self.judge(&order, paid, ctx)
            }
            None => {
                ctx.value(&s.order).set(order)?;
                ctx.register_event_time_timer(deadline)
            }
        }
    }

    fn process2(&mut self, pay: Payment, ctx: &mut KeyedContext<'_, u64, Out>) -> Result<()> {
        let s = self.states();
        match ctx.value(&s.order).get()?.cloned() {
            Some(order) if pay.time_ms <= order.time_ms + self.timeout_ms => {
                ctx.value(&s.order).clear()?;
                ctx.delete_event_time_timer(order.time_ms + self.timeout_ms)?;
                self.judge(&order, true, ctx)
            }
            // Too late (the order's timer flags it), or before its order, or
            // after the order was flagged: kept until event time passes it,
            // when the order has surely come and gone.
            _ => {
                let t = pay.time_ms;
                ctx.value(&s.payment).set(pay)?;
                ctx.register_event_time_timer(t)
            }
        }
    }

    fn on_timer(
        &mut self,
        _time: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Out>,
    ) -> Result<()> {
        let s = self.states();
        if let Some(order) = ctx.value(&s.order).get()?.cloned() {
            ctx.value(&s.order).clear()?;
            return self.judge(&order, false, ctx);
        }
        // A payment whose order was already flagged unpaid: too late.
        match ctx.value(&s.payment).get()?.cloned() {
            Some(p) => {
                ctx.value(&s.payment).clear()?;
                ctx.emit(Either::Right(p))
            }
            None => Ok(()),
        }
    }
}
// ANCHOR_END: function

// ANCHOR: main
fn main() {
    std::process::exit(tidemark::cli::main_with(PIPELINES));
}
// ANCHOR_END: main
