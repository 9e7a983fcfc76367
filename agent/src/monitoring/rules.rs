//! The shipped Prometheus rules: the recording rules and the alerts, rendered
//! to a rule file from [`AlertSettings`].
//!
//! Rule text is written here with `@setting@` placeholders, so that each
//! expression reads as the PromQL a user sees in the file; rendering fills
//! them in. Every alert carries a `severity` (`page` or `ticket`, which the
//! example Alertmanager routes), a summary and description built from the
//! alert's own labels, and a `runbook_url` to `docs/runbooks/<Alert>.md`.

use super::settings::{AlertSettings, SETTINGS};

/// Severity label of alerts that need a human now.
pub const PAGE: &str = "page";
/// Severity label of alerts that can wait for working hours.
pub const TICKET: &str = "ticket";

/// A recording rule: a query evaluated ahead so alerts and dashboards share it.
pub struct RecordingRule {
    /// `level:metric:operations`.
    pub record: &'static str,
    /// PromQL with `@setting@` placeholders.
    pub expr: &'static str,
}

/// An alerting rule.
pub struct AlertRule {
    /// The alert name; also the runbook's file name.
    pub name: &'static str,
    /// PromQL with `@setting@` placeholders.
    pub expr: &'static str,
    /// Setting holding the `for:` duration, if the alert has one.
    pub for_setting: Option<&'static str>,
    /// [`PAGE`] or [`TICKET`].
    pub severity: &'static str,
    /// One line, from labels and `$value`.
    pub summary: &'static str,
    /// What is happening and what to look at first.
    pub description: &'static str,
    /// Extra annotations (name, template).
    pub extra: &'static [(&'static str, &'static str)],
}

/// Busy and backpressured ratio of a vertex's busiest subtask. A vertex is as
/// backpressured as its worst subtask (Flink's rule), and `max` also folds the
/// duplicate series a job scraped and pushed at once would give.
pub static RECORDING: &[RecordingRule] = &[
    RecordingRule {
        record: "job_vertex:tidemark_task_backpressured_seconds:max_rate",
        expr: "max by (job_name, job_id, vertex) (rate(tidemark_task_backpressured_seconds_total[@rate_window@]))",
    },
    RecordingRule {
        record: "job_vertex:tidemark_task_busy_seconds:max_rate",
        expr: "max by (job_name, job_id, vertex) (rate(tidemark_task_busy_seconds_total[@rate_window@]))",
    },
    // The capacity model (the engine's `doctor::capacity`, docs/doctor.md),
    // from the base metrics alone. `max by (…, subtask)` folds duplicate
    // series first (a job scraped and pushed at once).
    RecordingRule {
        record: "job_vertex:tidemark_vertex_utilization:ratio",
        expr: "avg by (job_name, job_id, vertex) (max by (job_name, job_id, vertex, subtask) (rate(tidemark_task_busy_seconds_total[@rate_window@])))",
    },
    RecordingRule {
        record: "job_vertex:tidemark_vertex_true_processing_rate:rate",
        expr: "(\n  sum by (job_name, job_id, vertex) (max by (job_name, job_id, vertex, subtask) (rate(tidemark_task_records_in_total[@rate_window@]))) > 0\n  or\n  sum by (job_name, job_id, vertex) (max by (job_name, job_id, vertex, subtask) (rate(tidemark_task_records_out_total[@rate_window@])))\n)\n/\n(job_vertex:tidemark_vertex_utilization:ratio > 0)",
    },
    RecordingRule {
        record: "job:tidemark_job_input:rate",
        expr: "sum by (job_name, job_id) (\n  max by (job_name, job_id, vertex, subtask) (rate(tidemark_task_records_out_total[@rate_window@]))\n  unless on (job_name, job_id, vertex)\n  sum by (job_name, job_id, vertex) (rate(tidemark_task_records_in_total[@rate_window@])) > 0\n)",
    },
    RecordingRule {
        record: "job:tidemark_job_headroom:ratio",
        expr: "1 / max by (job_name, job_id) (job_vertex:tidemark_task_busy_seconds:max_rate)",
    },
    RecordingRule {
        record: "job:tidemark_job_max_sustainable:rate",
        expr: "job:tidemark_job_input:rate * job:tidemark_job_headroom:ratio",
    },
    RecordingRule {
        record: "job:tidemark_job_catch_up:seconds",
        expr: "(\n  (\n    max by (job_name, job_id) (tidemark_job_recovery_time_seconds)\n    or\n    max by (job_name, job_id) (tidemark_checkpoint_interval_seconds) * 0 + @recovery_time_seconds@\n  )\n  + max by (job_name, job_id) (tidemark_checkpoint_interval_seconds)\n)\n/\nclamp_min(job:tidemark_job_headroom:ratio - 1, 0)",
    },
];

/// A job with input whose sources are not held back: with backpressure the
/// SustainedBackpressure alert says more (the input is what the bottleneck
/// lets through, so the headroom is 1 by construction).
const UNPRESSURED_WITH_INPUT: &str = "and on (job_name, job_id) job:tidemark_job_input:rate > 0\nunless on (job_name, job_id) max by (job_name, job_id) (job_vertex:tidemark_task_backpressured_seconds:max_rate) > @backpressure_ratio@";

/// The likely bottleneck of a job, for an annotation: the busiest vertex that
/// is not itself backpressured (it is slow, not blocked by a slower one).
const BOTTLENECK: &str = "{{ with printf \"topk(1, job_vertex:tidemark_task_busy_seconds:max_rate{job_id=%q} unless job_vertex:tidemark_task_backpressured_seconds:max_rate > @bottleneck_max_backpressure@)\" $labels.job_id | query }}{{ range . }}{{ .Labels.vertex }}{{ end }}{{ else }}unknown{{ end }}";

/// Every alert, in the order of the rule file.
pub static ALERTS: &[AlertRule] = &[
    AlertRule {
        name: "SustainedBackpressure",
        expr: "job_vertex:tidemark_task_backpressured_seconds:max_rate > @backpressure_ratio@",
        for_setting: Some("backpressure_for"),
        severity: PAGE,
        summary: "Job {{ $labels.job_name }}: vertex {{ $labels.vertex }} backpressured {{ $value | humanizePercentage }} of the time",
        description: "Vertex {{ $labels.vertex }} of job {{ $labels.job_name }} ({{ $labels.job_id }}) has been blocked on full output channels over @backpressure_ratio@ of the time for @backpressure_for@, so the job runs at the speed of a slower vertex downstream. Likely bottleneck (the busiest vertex that is not backpressured): @BOTTLENECK@.",
        extra: &[("bottleneck", "@BOTTLENECK@")],
    },
    AlertRule {
        name: "CheckpointFailing",
        expr: "max by (job_name, job_id) (increase(tidemark_checkpoint_failed_total[@checkpoint_failure_window@])) >= @checkpoint_failures@",
        for_setting: None,
        severity: PAGE,
        summary: "Job {{ $labels.job_name }}: {{ $value | humanize }} checkpoints failed in @checkpoint_failure_window@",
        description: "Checkpoints of job {{ $labels.job_name }} ({{ $labels.job_id }}) keep failing ({{ $value | humanize }} in @checkpoint_failure_window@): a failure now replays everything since the last completed checkpoint. The job's REST /jobs/{{ $labels.job_id }}/checkpoints and its log say why (timeout, storage error, declined).",
        extra: &[],
    },
    AlertRule {
        name: "CheckpointsNotCompleting",
        expr: "max by (job_name, job_id) (\n  tidemark_checkpoint_since_last_completion_seconds > @not_completing_intervals@ * tidemark_checkpoint_interval_seconds\n  or\n  (tidemark_job_uptime_seconds > @not_completing_intervals@ * tidemark_checkpoint_interval_seconds\n    and tidemark_checkpoint_since_last_completion_seconds == -1)\n)\nand\nmax by (job_name, job_id) (tidemark_checkpoint_interval_seconds) > 0",
        for_setting: Some("not_completing_for"),
        severity: PAGE,
        summary: "Job {{ $labels.job_name }}: no checkpoint completed for {{ $value | humanizeDuration }}",
        description: "Job {{ $labels.job_name }} ({{ $labels.job_id }}) has not completed a checkpoint for {{ $value | humanizeDuration }}, over @not_completing_intervals@ checkpoint intervals: its recovery point is falling behind and a failure would replay all of it.",
        extra: &[],
    },
    AlertRule {
        name: "CheckpointDurationNearInterval",
        expr: "max by (job_name, job_id) (\n  tidemark_checkpoint_last_duration_seconds > @duration_interval_ratio@ * tidemark_checkpoint_interval_seconds\n  and tidemark_checkpoint_interval_seconds > 0\n)",
        for_setting: Some("duration_near_interval_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }}: checkpoints take {{ $value | humanizeDuration }}, near the interval",
        description: "Checkpoints of job {{ $labels.job_name }} ({{ $labels.job_id }}) take over @duration_interval_ratio@ of the checkpoint interval, so they run back to back and leave no pause for processing.",
        extra: &[],
    },
    AlertRule {
        name: "CheckpointStartDelayHigh",
        expr: "sum by (job_name, job_id, vertex) (rate(tidemark_checkpoint_start_delay_seconds_sum[@checkpoint_stats_window@]))\n/\nsum by (job_name, job_id, vertex) (rate(tidemark_checkpoint_start_delay_seconds_count[@checkpoint_stats_window@]))\n> @start_delay_seconds@",
        for_setting: Some("checkpoint_timing_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }}: barriers reach {{ $labels.vertex }} {{ $value | humanizeDuration }} after the trigger",
        description: "Checkpoint barriers of job {{ $labels.job_name }} ({{ $labels.job_id }}) take {{ $value | humanizeDuration }} on average to reach vertex {{ $labels.vertex }}: they queue behind records, which is backpressure upstream of it.",
        extra: &[],
    },
    AlertRule {
        name: "AlignmentTimeHigh",
        expr: "sum by (job_name, job_id, vertex) (rate(tidemark_checkpoint_alignment_duration_seconds_sum[@checkpoint_stats_window@]))\n/\nsum by (job_name, job_id, vertex) (rate(tidemark_checkpoint_alignment_duration_seconds_count[@checkpoint_stats_window@]))\n> @alignment_seconds@",
        for_setting: Some("checkpoint_timing_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }}: barrier alignment at {{ $labels.vertex }} takes {{ $value | humanizeDuration }}",
        description: "Vertex {{ $labels.vertex }} of job {{ $labels.job_name }} ({{ $labels.job_id }}) waits {{ $value | humanizeDuration }} on average between the first and the last barrier of a checkpoint: its inputs are skewed, one channel far behind the others.",
        extra: &[],
    },
    AlertRule {
        name: "JobRestarting",
        expr: "max by (job_name, job_id) (increase(tidemark_job_restarts_total[@restart_window@])) >= @restarts@",
        for_setting: None,
        severity: PAGE,
        summary: "Job {{ $labels.job_name }} restarted {{ $value | humanize }} times in @restart_window@",
        description: "Job {{ $labels.job_name }} ({{ $labels.job_id }}) keeps failing and restarting from its last checkpoint; it makes little progress while it does. Its log holds the failure.",
        extra: &[],
    },
    AlertRule {
        name: "WatermarkLagHigh",
        expr: "max by (job_name, job_id, vertex) (tidemark_task_watermark_lag_seconds) > @watermark_lag_seconds@",
        for_setting: Some("watermark_lag_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }}: event time at {{ $labels.vertex }} trails the clock by {{ $value | humanizeDuration }}",
        description: "The input watermark of vertex {{ $labels.vertex }} of job {{ $labels.job_name }} ({{ $labels.job_id }}) is {{ $value | humanizeDuration }} behind the wall clock, so windows fire that late: the job lags its input, or a source is idle or stuck.",
        extra: &[],
    },
    AlertRule {
        name: "SourceLagHigh",
        expr: "max by (job_name, job_id, vertex, partition) (tidemark_source_lag_seconds) > @source_lag_seconds@",
        for_setting: Some("source_lag_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }} reads partition {{ $labels.partition }} {{ $value | humanizeDuration }} behind its newest record",
        description: "Source {{ $labels.vertex }} of job {{ $labels.job_name }} ({{ $labels.job_id }}) reads partition {{ $labels.partition }} {{ $value | humanizeDuration }} behind the newest record there, for @source_lag_for@: its results are that late, and a failure now replays from further back.",
        extra: &[],
    },
    AlertRule {
        name: "SourceLagGrowing",
        expr: "max by (job_name, job_id, vertex, partition) (deriv(tidemark_source_lag_seconds[@source_lag_growing_window@])) > 0\nand\nmax by (job_name, job_id, vertex, partition) (tidemark_source_lag_seconds) > @source_lag_growing_min_seconds@",
        for_setting: Some("source_lag_growing_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }} falls further behind on partition {{ $labels.partition }}",
        description: "The lag of source {{ $labels.vertex }} of job {{ $labels.job_name }} ({{ $labels.job_id }}) on partition {{ $labels.partition }} has kept rising over @source_lag_growing_window@: the job reads slower than records arrive and will not catch up by itself.",
        extra: &[],
    },
    AlertRule {
        name: "StateBackendWriteStall",
        expr: "max by (job_name, job_id, vertex, subtask) (tidemark_rocksdb_is_write_stopped) > 0\nor\nmax by (job_name, job_id, vertex, subtask) (tidemark_rocksdb_actual_delayed_write_rate_bytes) > 0",
        for_setting: Some("write_stall_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }}: RocksDB of {{ $labels.vertex }} subtask {{ $labels.subtask }} stops or delays writes",
        description: "RocksDB of subtask {{ $labels.subtask }} of vertex {{ $labels.vertex }} (job {{ $labels.job_name }}, {{ $labels.job_id }}) has stopped or throttled writes for @write_stall_for@: compaction or flushing cannot keep up, and the subtask runs at the disk's pace.",
        extra: &[],
    },
    AlertRule {
        name: "HeadroomLow",
        expr: "job:tidemark_job_headroom:ratio < @headroom_min@\n@UNPRESSURED_WITH_INPUT@",
        for_setting: Some("capacity_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }} can take only {{ $value | humanize }} times its present input",
        description: "The busiest subtask of job {{ $labels.job_name }} ({{ $labels.job_id }}) has been busy over 1/@headroom_min@ of the time for @capacity_for@: an input peak of {{ $value | humanize }} times today's backpressures it, and after a failure it catches up slowly. `tidemark doctor` names the vertex and the parallelism it needs.",
        extra: &[],
    },
    AlertRule {
        name: "CatchUpTooSlow",
        expr: "job:tidemark_job_catch_up:seconds > @catch_up_seconds@\n@UNPRESSURED_WITH_INPUT@",
        for_setting: Some("capacity_for"),
        severity: TICKET,
        summary: "Job {{ $labels.job_name }} would need {{ $value | humanizeDuration }} to catch up after a failure",
        description: "After a failure, job {{ $labels.job_name }} ({{ $labels.job_id }}) is down for its recovery time and replays up to one checkpoint interval; with its headroom it would need {{ $value | humanizeDuration }} (+Inf: never) to work that backlog off, over @catch_up_seconds@ s. Until then its results are late.",
        extra: &[],
    },
    AlertRule {
        name: "ExporterFailing",
        expr: "(\n  sum by (job, instance, reporter, kind) (increase(tidemark_exporter_failed_total[@exporter_window@])) > 0\n  unless\n  sum by (job, instance, reporter, kind) (increase(tidemark_exporter_sent_total[@exporter_window@])) > 0\n)\nor\nsum by (job, instance, reporter, kind) (increase(tidemark_exporter_dropped_total[@exporter_window@])) > 0",
        for_setting: Some("exporter_failing_for"),
        severity: TICKET,
        summary: "{{ $labels.instance }}: {{ $labels.kind }} reporter {{ $labels.reporter }} is failing or dropping data",
        description: "The {{ $labels.kind }} reporter {{ $labels.reporter }} of {{ $labels.instance }} (scrape job {{ $labels.job }}) failed every delivery or dropped payloads in @exporter_window@: its server misses this job's metrics.",
        extra: &[],
    },
    AlertRule {
        name: "PushgatewayGroupStale",
        expr: "time() - max by (job, job_name, job_id, instance) (push_time_seconds{job=~\"@pushgateway_job_regex@\"}) > @push_stale_after_seconds@",
        for_setting: None,
        severity: PAGE,
        summary: "Pushgateway group of job {{ $labels.job_name }} last pushed {{ $value | humanizeDuration }} ago",
        description: "The Pushgateway group of job {{ $labels.job_name }} ({{ $labels.job_id }}, instance {{ $labels.instance }}) has not been pushed to for {{ $value | humanizeDuration }}, over @push_stale_after@: the job died without deleting its group, or it can no longer reach the Pushgateway. Its last values are still served, so dashboards look frozen, not empty.",
        extra: &[],
    },
    AlertRule {
        name: "TidemarkTargetDown",
        expr: "up{job=~\"@target_job_regex@\"} == 0",
        for_setting: Some("target_down_for"),
        severity: PAGE,
        summary: "Tidemark target {{ $labels.instance }} (scrape job {{ $labels.job }}) is down",
        description: "Prometheus has failed to scrape {{ $labels.instance }} (scrape job {{ $labels.job }}) for @target_down_for@: the job process is gone, hung, or unreachable, and nothing else about it is being measured.",
        extra: &[],
    },
];

/// Seconds in a Prometheus duration (already validated).
fn seconds(d: &str) -> f64 {
    let mut total = 0.0;
    let mut rest = d;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        let v: f64 = rest[..n].parse().unwrap_or(0.0);
        rest = &rest[n..];
        let (unit, len) = match () {
            _ if rest.starts_with("ms") => (0.001, 2),
            _ if rest.starts_with('s') => (1.0, 1),
            _ if rest.starts_with('m') => (60.0, 1),
            _ if rest.starts_with('h') => (3600.0, 1),
            _ if rest.starts_with('d') => (86400.0, 1),
            _ if rest.starts_with('w') => (604800.0, 1),
            _ => (31536000.0, 1),
        };
        total += v * unit;
        rest = &rest[len.min(rest.len())..];
    }
    total
}

/// Fills `@name@` placeholders from `s`.
fn fill(text: &str, s: &AlertSettings) -> String {
    let mut out = text
        .replace("@BOTTLENECK@", BOTTLENECK)
        .replace("@UNPRESSURED_WITH_INPUT@", UNPRESSURED_WITH_INPUT);
    out = out.replace(
        "@push_stale_after_seconds@",
        &seconds(s.get("push_stale_after")).to_string(),
    );
    for def in SETTINGS {
        out = out.replace(&format!("@{}@", def.name), s.get(def.name));
    }
    out
}

/// A YAML block scalar (`|-`) indented by `indent` spaces.
fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut s = String::from("|-\n");
    for line in text.lines() {
        s.push_str(&pad);
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// The rule file for `settings` (the committed `alerts/tidemark.rules.yml` uses the defaults).
pub fn render(settings: &AlertSettings) -> String {
    let mut y = String::from(
        "# Tidemark's Prometheus rules. Generated by `tidemark alert-rules`; do not edit by hand:\n\
         # change a threshold with `tidemark alert-rules --set name=value` (see alerts/README.md).\n",
    );
    let changed: Vec<String> = SETTINGS
        .iter()
        .filter(|d| settings.get(d.name) != d.default)
        .map(|d| format!("{}={}", d.name, settings.get(d.name)))
        .collect();
    if !changed.is_empty() {
        y.push_str(&format!("# Settings: {}\n", changed.join(" ")));
    }
    // One group: rules in a group run in order at each evaluation, so the
    // alerts read the recording rules of the same cycle (two groups run
    // independently, and an alert could see the previous cycle's value).
    y.push_str("groups:\n  - name: tidemark\n    rules:\n");
    for r in RECORDING {
        y.push_str(&format!(
            "      - record: {}\n        expr: {}",
            r.record,
            block(&fill(r.expr, settings), 10)
        ));
    }
    let base = settings.get("runbook_base_url").trim_end_matches('/');
    for a in ALERTS {
        y.push_str(&format!(
            "      - alert: {}\n        expr: {}",
            a.name,
            block(&fill(a.expr, settings), 10)
        ));
        if let Some(f) = a.for_setting {
            y.push_str(&format!("        for: {}\n", settings.get(f)));
        }
        y.push_str(&format!(
            "        labels:\n          severity: {}\n        annotations:\n",
            a.severity
        ));
        let mut notes = vec![("summary", a.summary), ("description", a.description)];
        notes.extend(a.extra.iter().copied());
        for (k, v) in notes {
            y.push_str(&format!("          {k}: {}", block(&fill(v, settings), 12)));
        }
        y.push_str(&format!("          runbook_url: {base}/{}.md\n", a.name));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_settings_reach_the_file() {
        let d = render(&AlertSettings::default());
        assert!(!d.contains('@'), "an unfilled placeholder: {d}");
        assert!(d.contains("> 0.5\n        for: 5m\n"));
        assert!(d.contains("> 120\n"), "push_stale_after=2m is 120 s");
        let t = render(
            &AlertSettings::with_overrides(["backpressure_for=5s", "rate_window=10s"]).unwrap(),
        );
        assert!(
            t.contains("[10s]")
                && t.contains("for: 5s")
                && t.contains("# Settings: rate_window=10s backpressure_for=5s")
        );
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(seconds("2m"), 120.0);
        assert_eq!(seconds("1h30m"), 5400.0);
        assert_eq!(seconds("250ms"), 0.25);
    }
}
