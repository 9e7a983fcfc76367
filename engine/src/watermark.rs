//! Event time: how sources generate watermarks and how a task combines the
//! watermarks of its input channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a source derives watermarks from its records (Flink's
/// `WatermarkStrategy.forBoundedOutOfOrderness(...).withIdleness(...)`).
pub struct WatermarkStrategy<T> {
    /// Event time of a record, ms.
    pub timestamp: Arc<dyn Fn(&T) -> i64 + Send + Sync>,
    /// How late a record may be relative to the latest seen.
    pub out_of_orderness_ms: i64,
    /// After this long without records a split, and the source when all its
    /// splits are, is idle: it no longer holds the watermark back.
    pub idle_timeout: Option<Duration>,
    /// The split (Kafka partition, JetStream subject) a record was read
    /// from, by the names [`Source::splits`](crate::source::Source::splits)
    /// gives: each split then has a watermark of its own and the subtask's
    /// is the smallest of those not idle, as Flink's per-partition
    /// watermarks. `None`: one watermark over all the subtask's records.
    pub split: Option<SplitFn<T>>,
}

/// The split a record was read from.
pub type SplitFn<T> = Arc<dyn Fn(&T) -> &str + Send + Sync>;

impl<T> WatermarkStrategy<T> {
    /// Records at most `out_of_orderness_ms` behind the latest one seen, with
    /// event time `timestamp(record)` in ms; never idle.
    pub fn bounded(
        out_of_orderness_ms: i64,
        timestamp: impl Fn(&T) -> i64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            timestamp: Arc::new(timestamp),
            out_of_orderness_ms,
            idle_timeout: None,
            split: None,
        }
    }

    /// Idle after `timeout` without records (`None`: never).
    pub fn with_idleness(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A watermark per split, `split(record)` naming a record's.
    pub fn per_split(mut self, split: impl Fn(&T) -> &str + Send + Sync + 'static) -> Self {
        self.split = Some(Arc::new(split));
        self
    }
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        Self {
            timestamp: self.timestamp.clone(),
            out_of_orderness_ms: self.out_of_orderness_ms,
            idle_timeout: self.idle_timeout,
            split: self.split.clone(),
        }
    }
}

/// One split's event time as its source subtask saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitWatermark {
    /// The split's name.
    pub split: String,
    /// Its watermark (ms); `i64::MIN` before its first record.
    pub watermark: i64,
    /// No record for the idle timeout: it does not hold the watermark back.
    pub idle: bool,
}

#[derive(Debug)]
struct SplitTime {
    name: String,
    max_ts: i64,
    last_record: Instant,
    idle: bool,
}

/// What a source subtask should tell downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceWatermark {
    /// Its watermark advanced to this.
    Advanced(i64),
    /// Every split is idle (or it has none): it holds nothing back.
    Idle,
    /// It was idle and has read a record again: it holds time at this
    /// watermark again.
    Active(i64),
}

/// Generates one source subtask's watermarks from the records it reads: a
/// watermark per split, the subtask's being the smallest over splits not
/// idle, never going backwards. A split the source owns but that has not
/// produced a record holds the watermark back until it is idle, as in
/// Flink, so with more subtasks than partitions only idleness lets time
/// advance. Without a split function all records are one split.
#[derive(Debug)]
pub(crate) struct WatermarkGenerator {
    out_of_orderness_ms: i64,
    idle_timeout: Option<Duration>,
    /// By name; a handful per subtask, so a scan is as quick as a hash.
    splits: Vec<SplitTime>,
    /// The split of the last record: records come in runs per split, so
    /// most find theirs here without a search.
    last_split: usize,
    /// When the subtask last read a record (or started).
    last_record: Instant,
    emitted: i64,
    idle: bool,
}

impl WatermarkGenerator {
    /// A generator for `strategy` starting at `now`.
    pub fn new<T>(strategy: &WatermarkStrategy<T>, now: Instant) -> Self {
        let mut splits = Vec::new();
        if strategy.split.is_none() {
            splits.push(SplitTime::new(String::new(), now));
        }
        Self {
            out_of_orderness_ms: strategy.out_of_orderness_ms,
            idle_timeout: strategy.idle_timeout,
            splits,
            last_split: 0,
            last_record: now,
            emitted: i64::MIN,
            idle: false,
        }
    }

    /// A record of `split` with event time `ts` was read at `now`.
    pub fn on_record(&mut self, split: &str, ts: i64, now: Instant) {
        self.last_record = now;
        if self
            .splits
            .get(self.last_split)
            .is_none_or(|s| s.name != split)
        {
            self.last_split = match self.splits.iter().position(|s| s.name == split) {
                Some(i) => i,
                None => {
                    self.splits.push(SplitTime::new(split.to_string(), now));
                    self.splits.len() - 1
                }
            };
        }
        let s = &mut self.splits[self.last_split];
        s.max_ts = s.max_ts.max(ts);
        s.last_record = now;
    }

    /// The splits the source owns now: new ones hold time back from `now`
    /// until their first record or idleness, gone ones no longer count.
    pub fn assign(&mut self, owned: &[String], now: Instant) {
        self.splits.retain(|s| owned.contains(&s.name));
        for name in owned {
            if !self.splits.iter().any(|s| &s.name == name) {
                self.splits.push(SplitTime::new(name.clone(), now));
            }
        }
    }

    /// After a batch of records: a subtask that had declared itself idle
    /// holds time back again, at the watermark it last emitted.
    pub fn after_batch(&mut self) -> Option<SourceWatermark> {
        if !self.idle {
            return None;
        }
        self.idle = false;
        Some(SourceWatermark::Active(self.emitted))
    }

    /// On the watermark interval: splits without a record for the idle
    /// timeout turn idle; the subtask is idle when all are (and it has read
    /// nothing for as long), else its watermark is the smallest of the
    /// others', less the out-of-orderness and 1 ms. Before it says it is
    /// idle it advances to the least time its splits with records reached:
    /// otherwise, as in Flink, a burst followed by silence, with an empty
    /// split that held time back until it turned idle, would never emit the
    /// time its records reached, and the last windows would wait for more.
    pub fn tick(&mut self, now: Instant) -> Vec<SourceWatermark> {
        let timeout = self.idle_timeout;
        let stale = |last: Instant| timeout.is_some_and(|t| now.duration_since(last) >= t);
        for s in &mut self.splits {
            s.idle = stale(s.last_record);
        }
        let reached = self
            .splits
            .iter()
            .map(|s| s.max_ts)
            .filter(|t| *t > i64::MIN)
            .min();
        let min = self
            .splits
            .iter()
            .filter(|s| !s.idle)
            .map(|s| s.max_ts)
            .min();
        let mut out = Vec::new();
        match min {
            None if !self.idle && stale(self.last_record) => {
                if let Some(r) = reached {
                    self.advance(r, &mut out);
                }
                self.idle = true;
                out.push(SourceWatermark::Idle);
            }
            Some(m) if m > i64::MIN && !self.idle => self.advance(m, &mut out),
            _ => {}
        }
        out
    }

    /// Emits the watermark of event time `max_ts` if it is ahead.
    fn advance(&mut self, max_ts: i64, out: &mut Vec<SourceWatermark>) {
        let wm = self.watermark_of(max_ts);
        if wm > self.emitted {
            self.emitted = wm;
            out.push(SourceWatermark::Advanced(wm));
        }
    }

    /// The watermark of a newest event time: less the out-of-orderness and
    /// 1 ms (records at exactly the watermark are still on time).
    fn watermark_of(&self, max_ts: i64) -> i64 {
        max_ts
            .saturating_sub(self.out_of_orderness_ms)
            .saturating_sub(1)
    }

    /// Each split's watermark and idleness, by name.
    pub fn splits(&self) -> Vec<SplitWatermark> {
        let mut out: Vec<SplitWatermark> = self
            .splits
            .iter()
            .map(|s| SplitWatermark {
                split: s.name.clone(),
                watermark: match s.max_ts {
                    i64::MIN => i64::MIN,
                    m => self.watermark_of(m),
                },
                idle: s.idle,
            })
            .collect();
        out.sort_by(|a, b| a.split.cmp(&b.split));
        out
    }
}

impl SplitTime {
    fn new(name: String, now: Instant) -> Self {
        Self {
            name,
            max_ts: i64::MIN,
            last_record: now,
            idle: false,
        }
    }
}

/// What the combined watermark of a task's inputs did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkChange {
    /// It advanced to this value.
    Advanced(i64),
    /// Every live input is idle.
    Idle,
}

#[derive(Debug, Clone, Copy)]
struct ChannelWm {
    wm: i64,
    idle: bool,
    ended: bool,
}

/// Combines per-channel watermarks: the task's watermark is the minimum over
/// live, non-idle channels, and never goes backwards.
#[derive(Debug)]
pub struct WatermarkTracker {
    channels: Vec<ChannelWm>,
    current: i64,
    idle: bool,
}

impl WatermarkTracker {
    /// A tracker for `n` input channels.
    pub fn new(n: usize) -> Self {
        Self {
            channels: vec![
                ChannelWm {
                    wm: i64::MIN,
                    idle: false,
                    ended: false
                };
                n
            ],
            current: i64::MIN,
            idle: false,
        }
    }

    /// The combined watermark.
    pub fn current(&self) -> i64 {
        self.current
    }

    fn recompute(&mut self) -> Option<WatermarkChange> {
        let live = self.channels.iter().filter(|c| !c.ended && !c.idle);
        let min = live.map(|c| c.wm).min();
        match min {
            None => {
                let all_ended = self.channels.iter().all(|c| c.ended);
                if !all_ended && !self.idle {
                    self.idle = true;
                    return Some(WatermarkChange::Idle);
                }
                None
            }
            Some(m) => {
                self.idle = false;
                if m > self.current {
                    self.current = m;
                    Some(WatermarkChange::Advanced(m))
                } else {
                    None
                }
            }
        }
    }

    /// A watermark arrived on channel `ch` (and marks it active).
    pub fn on_watermark(&mut self, ch: usize, wm: i64) -> Option<WatermarkChange> {
        let c = &mut self.channels[ch];
        c.wm = c.wm.max(wm);
        c.idle = false;
        self.recompute()
    }

    /// Channel `ch` became idle.
    pub fn on_idle(&mut self, ch: usize) -> Option<WatermarkChange> {
        self.channels[ch].idle = true;
        self.recompute()
    }

    /// Channel `ch` ended.
    pub fn on_end(&mut self, ch: usize) -> Option<WatermarkChange> {
        self.channels[ch].ended = true;
        self.recompute()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WatermarkChange::*;

    #[test]
    fn min_over_active_channels_and_idleness() {
        let mut t = WatermarkTracker::new(2);
        assert_eq!(
            t.on_watermark(0, 10),
            None,
            "channel 1 has no watermark yet"
        );
        assert_eq!(t.on_watermark(1, 5), Some(Advanced(5)));
        assert_eq!(t.on_watermark(1, 20), Some(Advanced(10)));
        assert_eq!(
            t.on_idle(0),
            Some(Advanced(20)),
            "an idle channel no longer holds time back"
        );
        assert_eq!(
            t.on_watermark(0, 15),
            None,
            "reactivated channel cannot move time backwards"
        );
        assert_eq!(t.on_idle(0), None);
        assert_eq!(t.on_idle(1), Some(Idle));
        assert_eq!(t.on_watermark(1, 30), Some(Advanced(30)));
        assert_eq!(
            t.on_end(1),
            Some(Idle),
            "the only live channel left is idle"
        );
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn without_splits_the_watermark_follows_the_latest_record() {
        let t0 = Instant::now();
        let mut g = WatermarkGenerator::new(&WatermarkStrategy::bounded(10, |t: &i64| *t), t0);
        assert_eq!(g.tick(t0), vec![], "no record yet");
        g.on_record("", 100, t0);
        g.on_record("", 50, t0);
        assert_eq!(g.tick(t0), vec![SourceWatermark::Advanced(89)]);
        assert_eq!(g.tick(t0), vec![], "nothing new");
    }

    #[test]
    fn each_split_holds_time_back_until_it_is_idle() {
        use SourceWatermark::*;
        let t0 = Instant::now();
        let strategy = WatermarkStrategy::bounded(0, |t: &i64| *t)
            .per_split(|_| "")
            .with_idleness(Some(Duration::from_secs(1)));
        let mut g = WatermarkGenerator::new(&strategy, t0);
        g.assign(&["a".into(), "b".into()], t0);
        g.on_record("a", 1000, t0);
        assert_eq!(g.tick(at(t0, 500)), vec![], "b has no record yet");
        g.on_record("a", 3000, at(t0, 900));
        assert_eq!(
            g.tick(at(t0, 1000)),
            vec![Advanced(2999)],
            "b idle since its assignment"
        );
        assert_eq!(g.tick(at(t0, 1899)), vec![]);
        assert_eq!(g.tick(at(t0, 1900)), vec![Idle], "a idle as well");
        assert_eq!(g.tick(at(t0, 2000)), vec![], "said once");
        g.on_record("b", 100, at(t0, 2100));
        assert_eq!(g.after_batch(), Some(Active(2999)));
        assert_eq!(g.after_batch(), None);
        assert_eq!(g.tick(at(t0, 2200)), vec![], "time never goes back");
        g.on_record("a", 5000, at(t0, 2300));
        g.on_record("b", 4000, at(t0, 2300));
        assert_eq!(g.tick(at(t0, 2400)), vec![Advanced(3999)]);
        let splits = g.splits();
        assert_eq!(
            splits,
            vec![
                SplitWatermark {
                    split: "a".into(),
                    watermark: 4999,
                    idle: false
                },
                SplitWatermark {
                    split: "b".into(),
                    watermark: 3999,
                    idle: false
                }
            ]
        );
        g.assign(&["a".into()], at(t0, 2500));
        g.on_record("a", 6000, at(t0, 2500));
        assert_eq!(
            g.tick(at(t0, 2600)),
            vec![Advanced(5999)],
            "a split no longer owned holds nothing back"
        );
    }

    #[test]
    fn a_subtask_turning_idle_first_advances_to_what_its_splits_reached() {
        use SourceWatermark::*;
        let t0 = Instant::now();
        let strategy = WatermarkStrategy::bounded(0, |t: &i64| *t)
            .per_split(|_| "")
            .with_idleness(Some(Duration::from_secs(1)));
        let mut g = WatermarkGenerator::new(&strategy, t0);
        g.assign(&["a".into(), "b".into(), "c".into()], t0);
        g.on_record("a", 9000, t0);
        g.on_record("b", 7000, t0);
        assert_eq!(g.tick(at(t0, 10)), vec![], "c has no record yet");
        assert_eq!(
            g.tick(at(t0, 1000)),
            vec![Advanced(6999), Idle],
            "b reached less than a; c never had a record"
        );
        // A burst on one split, then silence; the empty one held time back
        // until both were idle.
        let mut g = WatermarkGenerator::new(&strategy, t0);
        g.on_record("a", 9000, t0);
        g.assign(&["a".into(), "b".into()], at(t0, 500));
        assert_eq!(g.tick(at(t0, 1000)), vec![], "a is idle, b holds");
        assert_eq!(g.tick(at(t0, 1500)), vec![Advanced(8999), Idle]);
    }

    #[test]
    fn a_subtask_without_splits_is_idle_only_with_idleness() {
        let t0 = Instant::now();
        let strategy = WatermarkStrategy::bounded(0, |t: &i64| *t).per_split(|_| "");
        let mut g = WatermarkGenerator::new(&strategy, t0);
        g.assign(&[], t0);
        assert_eq!(g.tick(at(t0, 3_600_000)), vec![]);
        let mut g = WatermarkGenerator::new(
            &strategy.with_idleness(Some(Duration::from_millis(200))),
            t0,
        );
        g.assign(&[], t0);
        assert_eq!(g.tick(at(t0, 100)), vec![]);
        assert_eq!(g.tick(at(t0, 200)), vec![SourceWatermark::Idle]);
    }
}
