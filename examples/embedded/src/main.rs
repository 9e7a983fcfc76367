//! A job run from a program of one's own, without the `tidemark` CLI: the
//! graph is built with `StreamEnv` and run with `Job`, which still gives it
//! metrics (here on the Prometheus port given as the first argument), the
//! REST API, checkpoints and Ctrl-C. One keyed function keeps the largest
//! value seen per key and counts, with a metric of the job's own, the records
//! that raised it.
//!
//! ```bash
//! embedded 9249 100000     # port, records
//! curl -s 127.0.0.1:9249/metrics | grep embedded_new_maxima_total
//! ```

use std::time::Duration;
use tidemark::prelude::*;
use tidemark::source::datagen::{DatagenConfig, DatagenSource, Event};

/// Records that raised their key's maximum.
static NEW_MAXIMA: UserMetric = UserMetric::counter(
    "embedded_new_maxima_total",
    "Records whose value was the largest of their key so far.",
);

#[derive(Default)]
struct Maximum {
    state: Option<(ValueStateDesc<i64>, CounterId)>,
}

impl KeyedProcessFunction<u64, Event, (u64, i64)> for Maximum {
    fn open(&mut self, ctx: &mut KeyedOpenContext<'_, u64>) -> Result<()> {
        self.state = Some((ctx.value_state("max")?, ctx.counter(&NEW_MAXIMA, &[])?));
        Ok(())
    }

    fn process(&mut self, e: Event, ctx: &mut KeyedContext<'_, u64, (u64, i64)>) -> Result<()> {
        let (max, raised) = self.state.as_ref().expect("opened");
        if ctx.value(max).get()?.is_none_or(|m| e.value > *m) {
            ctx.value(max).set(e.value)?;
            ctx.count(*raised, 1);
            ctx.emit((e.key, e.value))?;
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let port = args.next().unwrap_or_else(|| "9249".into());
    let records: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let config = Config::from_pairs(&[
        ("metrics.reporter.prom.port".into(), port),
        ("rest.enabled".into(), "false".into()),
    ])?;
    let env = StreamEnv::new("embedded");
    let gen = DatagenConfig {
        keys: 100,
        events: Some(records),
        seed: 5,
        ..DatagenConfig::default()
    };
    env.source(move || Box::new(DatagenSource::new(gen.clone(), None)))
        .name("events")
        .uid("events")
        .key_by(|e: &Event| e.key)
        .process(Maximum::default)
        .name("maximum")
        .uid("maximum")
        .sink(|| Box::new(BlackholeSink))
        .name("sink")
        .uid("sink");
    let graph = env.build(&config)?;
    // Keep serving the final values until Ctrl-C (or ten minutes).
    let outcome = Job::new(graph)
        .config(config)
        .linger(Some(Duration::from_secs(600)))
        .run()?;
    println!("{outcome:?}");
    Ok(())
}
