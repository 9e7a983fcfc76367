//! The tunable thresholds of the shipped alert rules.
//!
//! Prometheus rule files have no parameters, so the rules are rendered from
//! this table: `tidemark alert-rules` prints them with the defaults (the
//! committed `alerts/tidemark.rules.yml`), and `--set name=value` renders a
//! copy with a user's thresholds. Tests render a copy with second-sized
//! windows, so the end-to-end test runs the very rules a user loads.

use std::collections::BTreeMap;

/// What values a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// A Prometheus duration: `30s`, `5m`, `1h`.
    Duration,
    /// A non-negative number.
    Number,
    /// A non-empty RE2 regular expression (matched against a label value).
    Regex,
    /// A URL prefix (no trailing slash needed).
    Url,
}

/// One tunable value.
#[derive(Debug)]
pub struct Setting {
    /// The name used with `--set`.
    pub name: &'static str,
    /// The value in the committed rules.
    pub default: &'static str,
    /// Accepted values.
    pub kind: SettingKind,
    /// What it changes, and why the default.
    pub doc: &'static str,
}

/// Every setting, in the order `alerts/README.md` lists them.
pub static SETTINGS: &[Setting] = &[
    Setting { name: "rate_window", default: "2m", kind: SettingKind::Duration,
        doc: "Window of rate() over busy and backpressured time in the recording rules; at least 4 scrape intervals." },
    Setting { name: "backpressure_ratio", default: "0.5", kind: SettingKind::Number,
        doc: "SustainedBackpressure: a vertex's busiest subtask backpressured over this share of the time (Flink's HIGH is 0.5)." },
    Setting { name: "backpressure_for", default: "5m", kind: SettingKind::Duration,
        doc: "SustainedBackpressure: how long the ratio must stay above the threshold." },
    Setting { name: "bottleneck_max_backpressure", default: "0.1", kind: SettingKind::Number,
        doc: "A vertex backpressured less than this (Flink's LOW) can be the bottleneck the SustainedBackpressure annotation names: the busiest such vertex of the job." },
    Setting { name: "checkpoint_failures", default: "3", kind: SettingKind::Number,
        doc: "CheckpointFailing: failed checkpoints within checkpoint_failure_window." },
    Setting { name: "checkpoint_failure_window", default: "10m", kind: SettingKind::Duration,
        doc: "CheckpointFailing: the window failures are counted in." },
    Setting { name: "not_completing_intervals", default: "3", kind: SettingKind::Number,
        doc: "CheckpointsNotCompleting: no checkpoint completed for this many checkpoint intervals." },
    Setting { name: "not_completing_for", default: "1m", kind: SettingKind::Duration,
        doc: "CheckpointsNotCompleting: how long the condition must hold." },
    Setting { name: "duration_interval_ratio", default: "0.8", kind: SettingKind::Number,
        doc: "CheckpointDurationNearInterval: last checkpoint duration over this share of the interval." },
    Setting { name: "duration_near_interval_for", default: "10m", kind: SettingKind::Duration,
        doc: "CheckpointDurationNearInterval: how long checkpoints must run back to back." },
    Setting { name: "checkpoint_stats_window", default: "10m", kind: SettingKind::Duration,
        doc: "Window over which CheckpointStartDelayHigh and AlignmentTimeHigh average their histogram (several checkpoint intervals)." },
    Setting { name: "start_delay_seconds", default: "10", kind: SettingKind::Number,
        doc: "CheckpointStartDelayHigh: mean trigger-to-first-barrier time of a vertex, in seconds." },
    Setting { name: "alignment_seconds", default: "10", kind: SettingKind::Number,
        doc: "AlignmentTimeHigh: mean first-to-last-barrier time of a vertex, in seconds." },
    Setting { name: "checkpoint_timing_for", default: "5m", kind: SettingKind::Duration,
        doc: "CheckpointStartDelayHigh and AlignmentTimeHigh: how long the mean must stay high." },
    Setting { name: "restarts", default: "2", kind: SettingKind::Number,
        doc: "JobRestarting: restarts within restart_window (one recovered failure is not a page; a loop is)." },
    Setting { name: "restart_window", default: "10m", kind: SettingKind::Duration,
        doc: "JobRestarting: the window restarts are counted in." },
    Setting { name: "watermark_lag_seconds", default: "300", kind: SettingKind::Number,
        doc: "WatermarkLagHigh: wall clock minus a vertex's input watermark, in seconds." },
    Setting { name: "watermark_lag_for", default: "10m", kind: SettingKind::Duration,
        doc: "WatermarkLagHigh: how long the lag must stay high." },
    Setting { name: "source_lag_seconds", default: "300", kind: SettingKind::Number,
        doc: "SourceLagHigh: how far behind a partition's newest record a source reads, in seconds." },
    Setting { name: "source_lag_for", default: "5m", kind: SettingKind::Duration,
        doc: "SourceLagHigh: how long the lag must stay high." },
    Setting { name: "source_lag_growing_window", default: "10m", kind: SettingKind::Duration,
        doc: "SourceLagGrowing: the window over which the lag's trend (deriv) must be rising." },
    Setting { name: "source_lag_growing_min_seconds", default: "30", kind: SettingKind::Number,
        doc: "SourceLagGrowing: a lag below this many seconds never fires (noise while keeping up)." },
    Setting { name: "source_lag_growing_for", default: "10m", kind: SettingKind::Duration,
        doc: "SourceLagGrowing: how long the lag must keep rising." },
    Setting { name: "write_stall_for", default: "5m", kind: SettingKind::Duration,
        doc: "StateBackendWriteStall: how long RocksDB must stop or delay writes." },
    Setting { name: "exporter_window", default: "10m", kind: SettingKind::Duration,
        doc: "ExporterFailing: window in which an exporter failed without one success, or dropped a payload." },
    Setting { name: "exporter_failing_for", default: "5m", kind: SettingKind::Duration,
        doc: "ExporterFailing: how long the condition must hold." },
    Setting { name: "push_stale_after", default: "2m", kind: SettingKind::Duration,
        doc: "PushgatewayGroupStale: a Tidemark group's last push older than this (several push intervals)." },
    Setting { name: "pushgateway_job_regex", default: "tidemark.*", kind: SettingKind::Regex,
        doc: "PushgatewayGroupStale: the `job` grouping label of Tidemark's groups (metrics.reporter.<name>.jobName)." },
    Setting { name: "target_job_regex", default: "tidemark.*", kind: SettingKind::Regex,
        doc: "TidemarkTargetDown: the scrape `job` names of Tidemark targets in your Prometheus configuration." },
    Setting { name: "target_down_for", default: "1m", kind: SettingKind::Duration,
        doc: "TidemarkTargetDown: how long a target must be down." },
    Setting { name: "headroom_min", default: "1.25", kind: SettingKind::Number,
        doc: "HeadroomLow: the job takes less than this many times its present input (its busiest subtask is over 80 % busy at 1.25)." },
    Setting { name: "catch_up_seconds", default: "1800", kind: SettingKind::Number,
        doc: "CatchUpTooSlow: the predicted catch-up after a failure, in seconds, above which the job is too slow to recover (tidemark.doctor.catch-up-duration, as Flink's autoscaler's catch-up.duration)." },
    Setting { name: "recovery_time_seconds", default: "60", kind: SettingKind::Number,
        doc: "The recording rule job:tidemark_job_catch_up:seconds uses this downtime per failure for a job that does not export tidemark_job_recovery_time_seconds (a Flink job)." },
    Setting { name: "capacity_for", default: "15m", kind: SettingKind::Duration,
        doc: "HeadroomLow and CatchUpTooSlow: how long the condition must hold (capacity is about sustained load, not a burst)." },
    Setting { name: "runbook_base_url", default: "docs/runbooks", kind: SettingKind::Url,
        doc: "Prefix of each alert's runbook_url (`<prefix>/<Alert>.md`); point it at where your team reads docs/runbooks." },
];

/// Values for every setting: the defaults, overridden by `--set`.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    values: BTreeMap<&'static str, String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            values: SETTINGS
                .iter()
                .map(|s| (s.name, s.default.to_string()))
                .collect(),
        }
    }
}

impl AlertSettings {
    /// The defaults with `name=value` overrides; an error names the setting,
    /// the value and what is allowed.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut s = Self::default();
        for o in overrides {
            let (name, value) = o.split_once('=').ok_or_else(|| {
                format!("--set {o:?}: expected name=value, e.g. --set backpressure_for=10m")
            })?;
            let (name, value) = (name.trim(), value.trim());
            let def = SETTINGS.iter().find(|d| d.name == name).ok_or_else(|| {
                let names: Vec<_> = SETTINGS.iter().map(|d| d.name).collect();
                format!(
                    "--set {name}={value}: unknown setting {name:?}; allowed: {}",
                    names.join(", ")
                )
            })?;
            check(def, value).map_err(|allowed| {
                format!(
                    "--set {name}={value}: invalid value {value:?} for {name}; allowed: {allowed}"
                )
            })?;
            s.values.insert(def.name, value.to_string());
        }
        Ok(s)
    }

    /// The value of a setting in [`SETTINGS`].
    pub fn get(&self, name: &str) -> &str {
        self.values
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in SETTINGS"))
    }
}

/// `Err(what is allowed)` when `value` does not fit `def`.
fn check(def: &Setting, value: &str) -> Result<(), &'static str> {
    let ok = match def.kind {
        SettingKind::Duration => is_prometheus_duration(value),
        SettingKind::Number => value
            .parse::<f64>()
            .is_ok_and(|v| v.is_finite() && v >= 0.0),
        SettingKind::Regex => !value.is_empty() && !value.contains('"') && !value.contains('\\'),
        SettingKind::Url => !value.is_empty() && !value.contains(char::is_whitespace),
    };
    if ok {
        return Ok(());
    }
    Err(match def.kind {
        SettingKind::Duration => "a Prometheus duration such as 30s, 5m, 1h or 1h30m",
        SettingKind::Number => "a number >= 0",
        SettingKind::Regex => "a non-empty regular expression without quotes or backslashes",
        SettingKind::Url => "a URL prefix without spaces",
    })
}

/// `1h30m`, `10s`, `250ms`: one or more number-unit pairs, as Prometheus reads them.
fn is_prometheus_duration(v: &str) -> bool {
    let mut rest = v;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_checked_and_errors_name_setting_value_and_allowed() {
        let s = AlertSettings::with_overrides(["backpressure_for=10s", "backpressure_ratio = 0.7"])
            .unwrap();
        assert_eq!(s.get("backpressure_for"), "10s");
        assert_eq!(s.get("backpressure_ratio"), "0.7");
        assert_eq!(s.get("rate_window"), "2m");

        let e = AlertSettings::with_overrides(["backpressure_for=5 minutes"]).unwrap_err();
        assert!(
            e.contains("backpressure_for") && e.contains("5 minutes") && e.contains("30s, 5m"),
            "{e}"
        );
        let e = AlertSettings::with_overrides(["backpressure_ratio=-1"]).unwrap_err();
        assert!(e.contains("-1") && e.contains("number >= 0"), "{e}");
        let e = AlertSettings::with_overrides(["no_such=1"]).unwrap_err();
        assert!(e.contains("no_such") && e.contains("rate_window"), "{e}");
        let e = AlertSettings::with_overrides(["rate_window"]).unwrap_err();
        assert!(e.contains("name=value"), "{e}");
    }

    #[test]
    fn durations_follow_prometheus() {
        for ok in ["5m", "1h30m", "250ms", "10s", "2d"] {
            assert!(is_prometheus_duration(ok), "{ok}");
        }
        for bad in ["", "5", "m", "5 m", "1.5m", "5min"] {
            assert!(!is_prometheus_duration(bad), "{bad}");
        }
    }
}
