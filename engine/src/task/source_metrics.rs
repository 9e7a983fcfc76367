//! A source subtask's own metrics, FLIP-33's with our names, published by
//! its task: per split (a Kafka partition, a JetStream subject) the records
//! pending and the lag in seconds, asked of the source once a second
//! ([`Source::lag`]), and the split's watermark and idleness when it has
//! per-split watermarks; per subtask the emit event-time lag, the idle
//! time, the bytes read and the errors the source recovered from.
//!
//! Lag is an observation: a source that fails to tell it is logged and
//! counted (`kind="lag"`), and reading goes on (its reads fail on their own
//! if the input is gone). A series refused by `metrics.series-limit` is
//! counted by the registry and not asked for again.

use crate::operator::{now_ms, SubtaskInfo};
use crate::source::{RecoveredErrors, Source};
use crate::watermark::WatermarkGenerator;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tidemark_agent::catalogue as cat;
use tidemark_agent::{Counter, Gauge, MetricDef, Registry};

/// How often lag is asked for and the gauges set.
const EVERY: Duration = Duration::from_secs(1);

/// What the task knows of the records it emitted.
pub(crate) struct Emitted<'a> {
    /// The event time of the last record emitted (`None`: no event time,
    /// or no record yet).
    pub last_event_time: Option<i64>,
    /// When the last record was read (or the task started).
    pub last_read: Instant,
    /// The per-split watermarks, if the source has them.
    pub splits: Option<&'a WatermarkGenerator>,
}

/// The subtask's own series, made at the first publish.
struct Subtask {
    /// `tidemark_source_errors_total` by kind: read, commit, lag.
    errors: [Counter; 3],
    emit_lag: Gauge,
    idle: Gauge,
    bytes: Counter,
}

/// `labels` and one more.
fn with_extra<'a>(labels: &'a [String; 4], extra: &'a str) -> [&'a str; 5] {
    let [a, b, c, d] = labels;
    [a, b, c, d, extra]
}

/// One source subtask's metrics.
pub(crate) struct SourceMetrics {
    labels: [String; 4],
    registry: Registry,
    subtask: Option<Subtask>,
    tried: bool,
    /// Pending records and lag, by split.
    lag: HashMap<String, Option<(Gauge, Gauge)>>,
    /// Watermark and idleness, by split.
    watermarks: HashMap<String, Option<(Gauge, Gauge)>>,
    /// When lag was last asked for (`None`: never).
    last: Option<Instant>,
    /// The source's counts already added to the counters.
    errors_added: RecoveredErrors,
    bytes_added: u64,
}

impl SourceMetrics {
    pub fn new(registry: &Registry, info: &SubtaskInfo) -> Self {
        Self {
            labels: [
                info.job_name.clone(),
                info.job_id.clone(),
                info.vertex.clone(),
                info.index.to_string(),
            ],
            registry: registry.clone(),
            subtask: None,
            tried: false,
            lag: HashMap::new(),
            watermarks: HashMap::new(),
            last: None,
            errors_added: RecoveredErrors::default(),
            bytes_added: 0,
        }
    }

    /// The two gauges `defs` of `split` in `map`, made on first use.
    fn split_gauges<'m>(
        registry: &Registry,
        labels: [&str; 5],
        map: &'m mut HashMap<String, Option<(Gauge, Gauge)>>,
        defs: (&'static MetricDef, &'static MetricDef),
    ) -> Option<&'m (Gauge, Gauge)> {
        if !map.contains_key(labels[4]) {
            let made = registry
                .gauge(defs.0, &labels)
                .and_then(|a| Ok((a, registry.gauge(defs.1, &labels)?)))
                .ok();
            map.insert(labels[4].to_string(), made);
        }
        map.get(labels[4]).and_then(Option::as_ref)
    }

    /// Publishes: the source's counters at every call (an error that
    /// precedes a failure of the task is still counted), the rest if a
    /// second has passed, or always when `now` is `None` (the source ended:
    /// its last word counts).
    pub fn publish<T: 'static>(
        &mut self,
        source: &mut dyn Source<T>,
        emitted: Emitted<'_>,
        now: Option<Instant>,
    ) {
        if !self.tried {
            self.tried = true;
            self.subtask = self.make_subtask();
        }
        let seen = source.recovered_errors();
        let bytes = source.bytes_read();
        if let Some(s) = &self.subtask {
            if seen != self.errors_added {
                let [read, commit, _] = &s.errors;
                read.add(seen.read.saturating_sub(self.errors_added.read));
                commit.add(seen.commit.saturating_sub(self.errors_added.commit));
                self.errors_added = seen;
            }
            if let Some(b) = bytes.filter(|b| *b != self.bytes_added) {
                s.bytes.add(b.saturating_sub(self.bytes_added));
                self.bytes_added = b;
            }
        }
        let (now, ended) = match now {
            Some(now) if self.last.is_some_and(|l| now < l + EVERY) => return,
            Some(now) => (now, false),
            None => (Instant::now(), true),
        };
        self.last = Some(now);
        if let Some(s) = &self.subtask {
            s.emit_lag.set(
                emitted
                    .last_event_time
                    .map_or(-1, |t| now_ms().saturating_sub(t).max(0)),
            );
            s.idle
                .set(now.duration_since(emitted.last_read).as_millis() as i64);
        }
        for w in emitted
            .splits
            .map(WatermarkGenerator::splits)
            .unwrap_or_default()
        {
            let labels = with_extra(&self.labels, &w.split);
            let defs = (
                &cat::SOURCE_PARTITION_WATERMARK,
                &cat::SOURCE_PARTITION_IDLE,
            );
            if let Some((wm, idle)) =
                Self::split_gauges(&self.registry, labels, &mut self.watermarks, defs)
            {
                wm.set(if w.watermark == i64::MIN {
                    -1
                } else {
                    w.watermark
                });
                idle.set(w.idle as i64);
            }
        }
        self.publish_lag(source, ended);
    }

    fn make_subtask(&self) -> Option<Subtask> {
        let r = &self.registry;
        let labels = self.labels.each_ref().map(String::as_str);
        let counter = |kind: &str| r.counter(&cat::SOURCE_ERRORS, &with_extra(&self.labels, kind));
        Some(Subtask {
            errors: [
                counter("read").ok()?,
                counter("commit").ok()?,
                counter("lag").ok()?,
            ],
            emit_lag: r.gauge(&cat::SOURCE_EMIT_EVENT_TIME_LAG, &labels).ok()?,
            idle: r.gauge(&cat::SOURCE_IDLE_TIME, &labels).ok()?,
            bytes: r.counter(&cat::SOURCE_READ_BYTES, &labels).ok()?,
        })
    }

    fn publish_lag<T: 'static>(&mut self, source: &mut dyn Source<T>, ended: bool) {
        let lags = match if ended {
            source.final_lag()
        } else {
            source.lag()
        } {
            Ok(l) => l,
            Err(e) => {
                log::warn!(
                    "{}#{}: source lag unknown: {e}",
                    self.labels[2],
                    self.labels[3]
                );
                if let Some(s) = &self.subtask {
                    s.errors[2].add(1);
                }
                return;
            }
        };
        for l in lags {
            let labels = with_extra(&self.labels, &l.split);
            let defs = (&cat::SOURCE_PENDING_RECORDS, &cat::SOURCE_LAG);
            if let Some((pending, lag)) =
                Self::split_gauges(&self.registry, labels, &mut self.lag, defs)
            {
                pending.set(l.pending_records.min(i64::MAX as u64) as i64);
                lag.set(l.lag_ms);
            }
        }
    }
}
