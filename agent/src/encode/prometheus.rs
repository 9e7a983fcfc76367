//! Prometheus text exposition format 0.0.4.

use super::write_samples;
use crate::registry::FamilySnapshot;
use std::fmt::Write;

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Renders families in the text format; families without series are omitted.
pub fn encode(families: &[FamilySnapshot]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families.iter().filter(|f| !f.series.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.def.name, escape_help(f.def.help));
        let _ = writeln!(out, "# TYPE {} {}", f.def.name, f.def.kind.as_str());
        write_samples(&mut out, f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_LAST_DURATION, CHECKPOINT_SYNC_DURATION, TASK_RECORDS_IN};
    use crate::registry::Registry;

    #[test]
    fn renders_help_type_escaped_labels_and_histograms() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["a\"b", "x\\y", "map\nline", "0"])
            .unwrap()
            .add(5);
        r.gauge(&CHECKPOINT_LAST_DURATION, &["j", "i"])
            .unwrap()
            .set(250_000_000);
        r.histogram(&CHECKPOINT_SYNC_DURATION, &["j", "i", "v"])
            .unwrap()
            .observe(3_000_000);
        let text = encode(&r.snapshot());
        assert!(text.contains("# TYPE tidemark_task_records_in_total counter\n"));
        assert!(text.contains(
            "tidemark_task_records_in_total{job_name=\"a\\\"b\",job_id=\"x\\\\y\",vertex=\"map\\nline\",subtask=\"0\"} 5\n"
        ));
        assert!(text.contains(
            "tidemark_checkpoint_last_duration_seconds{job_name=\"j\",job_id=\"i\"} 0.25\n"
        ));
        assert!(text.contains("# TYPE tidemark_checkpoint_sync_duration_seconds histogram\n"));
        assert!(text.contains("tidemark_checkpoint_sync_duration_seconds_bucket{job_name=\"j\",job_id=\"i\",vertex=\"v\",le=\"0.0025\"} 0\n"));
        assert!(text.contains("tidemark_checkpoint_sync_duration_seconds_bucket{job_name=\"j\",job_id=\"i\",vertex=\"v\",le=\"0.005\"} 1\n"));
        assert!(text.contains("tidemark_checkpoint_sync_duration_seconds_bucket{job_name=\"j\",job_id=\"i\",vertex=\"v\",le=\"+Inf\"} 1\n"));
        assert!(text.contains("tidemark_checkpoint_sync_duration_seconds_sum{job_name=\"j\",job_id=\"i\",vertex=\"v\"} 0.003\n"));
        assert!(text.contains("tidemark_checkpoint_sync_duration_seconds_count{job_name=\"j\",job_id=\"i\",vertex=\"v\"} 1\n"));
        assert!(text.contains("tidemark_metrics_series 3\n"));
    }
}
