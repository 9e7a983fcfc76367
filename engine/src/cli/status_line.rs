//! The status line a running job prints every few seconds, and the progress
//! bar of a bounded job.

use crate::runtime::status::lock;
use crate::runtime::status::{JobStatus, Totals};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Human-readable count per second.
pub fn rate(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M/s", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k/s", n / 1e3)
    } else {
        format!("{n:.0}/s")
    }
}

/// Human-readable bytes.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// One status line from two readings `dt` apart.
pub fn line(
    status: &JobStatus,
    prev: Totals,
    now: Totals,
    dt: f64,
    elapsed: Duration,
    total_events: Option<u64>,
) -> String {
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
    let bp_share = {
        let acc = d(now.accounted_ns, prev.accounted_ns);
        if acc > 0.0 {
            100.0 * d(now.backpressured_ns, prev.backpressured_ns) / acc
        } else {
            0.0
        }
    };
    let ck = match &*lock(&status.last_checkpoint) {
        Some(c) => format!(
            "checkpoint #{} {} ms {}",
            c.id,
            c.duration_ms,
            bytes(c.size)
        ),
        None => "no checkpoint yet".into(),
    };
    let progress = total_events
        .map(|t| {
            let f = (now.source_out as f64 / t.max(1) as f64).min(1.0);
            let filled = (f * 20.0) as usize;
            format!(
                " [{}{}] {:>3.0}%",
                "#".repeat(filled),
                ".".repeat(20 - filled),
                f * 100.0
            )
        })
        .unwrap_or_default();
    let pressure = status.backpressure();
    let levels = if pressure.is_empty() {
        String::new()
    } else {
        let l: Vec<String> = pressure
            .iter()
            .map(|v| format!("{} {}", v.name, v.level.as_str()))
            .collect();
        let b = crate::runtime::status::bottleneck(&pressure)
            .map(|v| format!(", bottleneck: {}", v.name))
            .unwrap_or_default();
        format!(" | {}{b}", l.join(", "))
    };
    format!(
        "[{:>6.1}s]{progress} in {} out {} | backpressured {:.0}%{levels} | {ck} | failed checkpoints {} | restarts {}",
        elapsed.as_secs_f64(),
        rate(d(now.source_out, prev.source_out) / dt),
        rate(d(now.sink_in, prev.sink_in) / dt),
        bp_share,
        status.failed_checkpoints.load(Ordering::Relaxed),
        status.restarts.load(Ordering::Relaxed),
    )
}

/// Prints a status line every `every` until `done` is set.
pub fn spawn(
    status: Arc<JobStatus>,
    every: Duration,
    total_events: Option<u64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut prev = status.totals();
        let mut last = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() < every {
                continue;
            }
            let now = status.totals();
            let dt = last.elapsed().as_secs_f64();
            last = Instant::now();
            let l = line(&status, prev, now, dt, start.elapsed(), total_events);
            let _ = writeln!(std::io::stderr(), "{l}");
            prev = now;
        }
    })
}
