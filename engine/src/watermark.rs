//! Event time: how sources generate watermarks and how a task combines the
//! watermarks of its input channels.

use std::sync::Arc;
use std::time::Duration;

/// How a source derives watermarks from its records (Flink's
/// `WatermarkStrategy.forBoundedOutOfOrderness(...).withIdleness(...)`).
pub struct WatermarkStrategy<T> {
    /// Event time of a record, ms.
    pub timestamp: Arc<dyn Fn(&T) -> i64 + Send + Sync>,
    /// How late a record may be relative to the latest seen.
    pub out_of_orderness_ms: i64,
    /// After this long without records the source declares itself idle.
    pub idle_timeout: Option<Duration>,
}

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
        }
    }
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        Self {
            timestamp: self.timestamp.clone(),
            out_of_orderness_ms: self.out_of_orderness_ms,
            idle_timeout: self.idle_timeout,
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
}
