//! What observing costs: the hot-path counters per record, a histogram
//! observation, and rendering `/metrics` for 10 000 series.
//! Run: `cargo bench -p tidemark-agent --bench metrics` (docs/benchmarks.md).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tidemark_agent::catalogue::{
    CHECKPOINT_SYNC_DURATION, TASK_BUSY, TASK_RECORDS_IN, TASK_RECORDS_OUT,
};
use tidemark_agent::encode::{openmetrics, prometheus};
use tidemark_agent::Registry;

/// A registry holding `n` series (4 task families × n/4 subtasks).
fn registry_with(n: usize) -> Registry {
    let r = Registry::with_options(tidemark_agent::registry::RegistryOptions {
        level: tidemark_agent::labels::Level::Subtask,
        series_limit: 1_000_000,
    });
    for i in 0..n / 4 {
        let (v, s) = (format!("vertex-{}", i % 50), (i / 50).to_string());
        let l = [
            "job",
            "0123456789abcdef0123456789abcdef",
            v.as_str(),
            s.as_str(),
        ];
        for d in [&TASK_RECORDS_IN, &TASK_RECORDS_OUT, &TASK_BUSY] {
            r.counter(d, &l).unwrap().add(i as u64 * 1000);
        }
        r.counter(&tidemark_agent::catalogue::TASK_IDLE, &l)
            .unwrap()
            .add(7);
    }
    r
}

fn hot_path(c: &mut Criterion) {
    let r = Registry::new();
    let counter = r.counter(&TASK_RECORDS_IN, &["j", "i", "v", "0"]).unwrap();
    let mut g = c.benchmark_group("hot path");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "shared counter add per record (what Tidemark avoids)",
        |b| b.iter(|| counter.add(black_box(1))),
    );
    // What a task does: count locally per record, publish once per 1024-record batch.
    g.throughput(Throughput::Elements(1024));
    g.bench_function(
        "task-local count per record, publish per batch of 1024",
        |b| {
            b.iter(|| {
                let mut local = 0u64;
                for _ in 0..1024 {
                    local = black_box(local + 1);
                }
                counter.add(local);
            })
        },
    );
    g.throughput(Throughput::Elements(1));
    let h = r
        .histogram(&CHECKPOINT_SYNC_DURATION, &["j", "i", "v"])
        .unwrap();
    g.bench_function("histogram observe", |b| {
        b.iter(|| h.observe(black_box(3_000_000)))
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let r = registry_with(10_000);
    assert!(r.series_count() >= 10_000);
    let mut g = c.benchmark_group("render 10 000 series");
    g.sample_size(30);
    g.bench_function("snapshot + Prometheus text", |b| {
        b.iter(|| prometheus::encode(&r.snapshot()).len())
    });
    g.bench_function("snapshot + OpenMetrics", |b| {
        b.iter(|| openmetrics::encode(&r.snapshot()).len())
    });
    g.bench_function("snapshot + Prometheus text + gzip", |b| {
        b.iter_batched(
            || (),
            |_| {
                use std::io::Write;
                let text = prometheus::encode(&r.snapshot());
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(text.as_bytes()).unwrap();
                e.finish().unwrap().len()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hot_path, render);
criterion_main!(benches);
