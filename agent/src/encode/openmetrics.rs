//! OpenMetrics 1.0 text format: counters are declared without `_total` (their
//! sample keeps it), units are declared, and the exposition ends in `# EOF`.

use super::write_samples;
use crate::catalogue::MetricKind;
use crate::registry::FamilySnapshot;
use std::fmt::Write;

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Escapes HELP text: backslash, double quote and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders families in OpenMetrics; families without series are omitted.
pub fn encode(families: &[FamilySnapshot]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families.iter().filter(|f| !f.series.is_empty()) {
        let family = match f.def.kind {
            MetricKind::Counter => f.def.name.trim_end_matches("_total"),
            _ => f.def.name,
        };
        let _ = writeln!(out, "# TYPE {family} {}", f.def.kind.as_str());
        if !f.def.unit.is_empty() {
            let _ = writeln!(out, "# UNIT {family} {}", f.def.unit);
        }
        let _ = writeln!(out, "# HELP {family} {}", escape_help(f.def.help));
        write_samples(&mut out, f);
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{TASK_BUSY, TASK_RECORDS_IN};
    use crate::registry::Registry;

    #[test]
    fn counters_units_and_eof() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["j", "i", "v", "0"])
            .unwrap()
            .add(2);
        r.counter(&TASK_BUSY, &["j", "i", "v", "0"])
            .unwrap()
            .add(500_000_000);
        let t = encode(&r.snapshot());
        assert!(t.contains("# TYPE tidemark_task_records_in counter\n"));
        assert!(t.contains("tidemark_task_records_in_total{job_name=\"j\",job_id=\"i\",vertex=\"v\",subtask=\"0\"} 2\n"));
        assert!(t.contains("# TYPE tidemark_task_busy_seconds counter\n# UNIT tidemark_task_busy_seconds seconds\n"));
        assert!(t.ends_with("# EOF\n"));
    }
}
