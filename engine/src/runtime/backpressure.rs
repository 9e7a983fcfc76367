//! Busy / idle / backpressured shares per subtask and backpressure levels per
//! vertex, computed as Flink's REST handler does (ratio ≤ 0.10 ok, ≤ 0.5 low,
//! else high; a vertex takes its worst subtask's level), over a sliding window
//! of counter samples taken by the job master every second.

use crate::metrics::TaskReading;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Flink's backpressure level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Backpressured at most 10 % of the time.
    Ok,
    /// At most 50 %.
    Low,
    /// More than 50 %.
    High,
}

impl Level {
    /// Flink's thresholds.
    pub fn of(ratio: f64) -> Level {
        if ratio <= 0.10 {
            Level::Ok
        } else if ratio <= 0.5 {
            Level::Low
        } else {
            Level::High
        }
    }
    /// Upper case, as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Low => "LOW",
            Level::High => "HIGH",
        }
    }
}

/// Shares of one subtask's time over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Shares {
    /// Processing.
    pub busy: f64,
    /// Waiting for input.
    pub idle: f64,
    /// Blocked on output.
    pub backpressured: f64,
}

impl Shares {
    /// Shares from two readings of the same subtask.
    pub fn between(old: &TaskReading, new: &TaskReading) -> Shares {
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
        let (busy, idle, bp) = (
            d(old.busy_ns, new.busy_ns),
            d(old.idle_ns, new.idle_ns),
            d(old.backpressured_ns, new.backpressured_ns),
        );
        let total = busy + idle + bp;
        if total <= 0.0 {
            return Shares::default();
        }
        Shares {
            busy: busy / total,
            idle: idle / total,
            backpressured: bp / total,
        }
    }
}

/// Samples of every subtask's counters, oldest first.
#[derive(Debug)]
pub struct Window {
    span: Duration,
    samples: VecDeque<(Instant, Vec<TaskReading>)>,
}

impl Window {
    /// A window covering `span`.
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample (readings in subtask order of the attempt).
    pub fn push(&mut self, at: Instant, readings: Vec<TaskReading>) {
        if self
            .samples
            .back()
            .is_some_and(|(_, r)| r.len() != readings.len())
        {
            self.samples.clear(); // a new attempt: different subtasks
        }
        self.samples.push_back((at, readings));
        while self.samples.len() > 2 && at - self.samples[1].0 >= self.span {
            self.samples.pop_front();
        }
    }

    /// Shares per subtask over the window (empty before two samples).
    pub fn shares(&self) -> Vec<Shares> {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, a)), Some((t1, b))) if t1 > t0 => a
                .iter()
                .zip(b)
                .map(|(x, y)| Shares::between(x, y))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Records in and out per second per subtask over the window (empty
    /// before two samples). A source's records are its records out.
    pub fn record_rates(&self) -> Vec<(f64, f64)> {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, a)), Some((t1, b))) if t1 > t0 => {
                let secs = (*t1 - *t0).as_secs_f64();
                let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
                a.iter()
                    .zip(b)
                    .map(|(x, y)| {
                        (
                            per_s(x.records_in, y.records_in),
                            per_s(x.records_out, y.records_out),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Each subtask's share of its busy time spent in the state backend
    /// over the window (0 when it was never busy), empty before two samples.
    pub fn state_of_busy(&self) -> Vec<f64> {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, a)), Some((t1, b))) if t1 > t0 => a
                .iter()
                .zip(b)
                .map(|(x, y)| {
                    let busy = y.busy_ns.saturating_sub(x.busy_ns);
                    let state = y.state_ns.saturating_sub(x.state_ns);
                    if busy == 0 {
                        0.0
                    } else {
                        (state as f64 / busy as f64).min(1.0)
                    }
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Each subtask's input watermark at the window's start and end
    /// (`None`: none yet), empty before two samples.
    pub fn watermarks(&self) -> Vec<(Option<i64>, Option<i64>)> {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, a)), Some((t1, b))) if t1 > t0 => {
                let wm =
                    |r: &TaskReading| (r.input_watermark_ms > 0).then_some(r.input_watermark_ms);
                a.iter().zip(b).map(|(x, y)| (wm(x), wm(y))).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The time between the oldest and the newest sample.
    pub fn span(&self) -> Duration {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, _)), Some((t1, _))) => t1.saturating_duration_since(*t0),
            _ => Duration::ZERO,
        }
    }

    /// When the newest sample was taken.
    pub fn end(&self) -> Option<Instant> {
        self.samples.back().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(busy: u64, idle: u64, bp: u64) -> TaskReading {
        TaskReading {
            busy_ns: busy,
            idle_ns: idle,
            backpressured_ns: bp,
            ..TaskReading::default()
        }
    }

    #[test]
    fn levels_and_shares_over_the_window() {
        assert_eq!(Level::of(0.10), Level::Ok);
        assert_eq!(Level::of(0.11), Level::Low);
        assert_eq!(Level::of(0.5), Level::Low);
        assert_eq!(Level::of(0.51), Level::High);
        let mut w = Window::new(Duration::from_secs(10));
        let t = Instant::now();
        w.push(t, vec![r(0, 0, 0)]);
        assert!(w.shares().is_empty());
        w.push(t + Duration::from_secs(1), vec![r(100, 0, 900)]);
        let s = w.shares()[0];
        assert!((s.backpressured - 0.9).abs() < 1e-9 && (s.busy - 0.1).abs() < 1e-9);
        // Old samples fall out of the window: the level follows the recent past.
        for i in 2..15u64 {
            w.push(
                t + Duration::from_secs(i),
                vec![r(100 + (i - 1) * 1000, 0, 900)],
            );
        }
        assert_eq!(Level::of(w.shares()[0].backpressured), Level::Ok);
    }
}
