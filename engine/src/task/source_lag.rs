//! Publishing a source's lag: once a second the source task asks its source
//! how far each split is behind ([`Source::lag`]) and sets
//! `tidemark_source_pending_records` and `tidemark_source_lag_seconds` per
//! `partition`, and adds the errors it recovered from to
//! `tidemark_source_errors_total`. Lag is an observation: a source that
//! fails to tell it is logged and counted (`kind="lag"`), and reading goes
//! on (its reads fail on their own if the input is gone).

use crate::operator::SubtaskInfo;
use crate::source::Source;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tidemark_agent::catalogue::{SOURCE_ERRORS, SOURCE_LAG, SOURCE_PENDING_RECORDS};
use tidemark_agent::{Counter, Gauge, Registry};

/// How often lag is asked for.
const EVERY: Duration = Duration::from_secs(1);

/// One source subtask's lag gauges, by split.
pub(crate) struct SourceLag {
    gauges: HashMap<String, (Gauge, Gauge)>,
    /// When lag was last asked for (`None`: never).
    last: Option<Instant>,
    /// `tidemark_source_errors_total` by kind (read, commit, lag), made at
    /// the first publish (once: a series refused by the limit is not asked
    /// for again), and the source's counts already added.
    errors: Option<[Counter; 3]>,
    errors_tried: bool,
    added: crate::source::RecoveredErrors,
}

impl SourceLag {
    pub fn new() -> Self {
        Self {
            gauges: HashMap::new(),
            last: None,
            errors: None,
            errors_tried: false,
            added: Default::default(),
        }
    }

    /// Asks `source` for its lag if a second has passed (or `now` is
    /// `None`: the source ended, its last word counts), and publishes it.
    pub fn publish<T: 'static>(
        &mut self,
        source: &mut dyn Source<T>,
        registry: &Registry,
        info: &SubtaskInfo,
        now: Option<Instant>,
    ) {
        // Errors as soon as the source counts them (a field read): one that
        // precedes a failure of the task is still counted.
        let subtask = info.index.to_string();
        if !self.errors_tried {
            self.errors_tried = true;
            let counter = |kind: &str| {
                let labels = [
                    info.job_name.as_str(),
                    &info.job_id,
                    &info.vertex,
                    &subtask,
                    kind,
                ];
                registry.counter(&SOURCE_ERRORS, &labels)
            };
            // Over metrics.series-limit: counted by the registry.
            if let (Ok(r), Ok(c), Ok(l)) = (counter("read"), counter("commit"), counter("lag")) {
                self.errors = Some([r, c, l]);
            }
        }
        let seen = source.recovered_errors();
        if let (Some([read, commit, _]), true) = (&self.errors, seen != self.added) {
            read.add(seen.read.saturating_sub(self.added.read));
            commit.add(seen.commit.saturating_sub(self.added.commit));
            self.added = seen;
        }
        let (now, ended) = match now {
            Some(now) if self.last.is_some_and(|l| now < l + EVERY) => return,
            Some(now) => (now, false),
            None => (Instant::now(), true),
        };
        self.last = Some(now);
        let lags = match if ended {
            source.final_lag()
        } else {
            source.lag()
        } {
            Ok(l) => l,
            Err(e) => {
                log::warn!("{}#{}: source lag unknown: {e}", info.vertex, info.index);
                if let Some([_, _, lag]) = &self.errors {
                    lag.add(1);
                }
                return;
            }
        };
        for l in lags {
            let (pending, lag) = match self.gauges.get(&l.split) {
                Some(g) => g,
                None => {
                    let labels = [
                        info.job_name.as_str(),
                        &info.job_id,
                        &info.vertex,
                        &subtask,
                        &l.split,
                    ];
                    let made = registry
                        .gauge(&SOURCE_PENDING_RECORDS, &labels)
                        .and_then(|p| Ok((p, registry.gauge(&SOURCE_LAG, &labels)?)));
                    match made {
                        Ok(g) => self.gauges.entry(l.split.clone()).or_insert(g),
                        // Over metrics.series-limit: counted by the registry.
                        Err(_) => continue,
                    }
                }
            };
            pending.set(l.pending_records.min(i64::MAX as u64) as i64);
            lag.set(l.lag_ms);
        }
    }
}
