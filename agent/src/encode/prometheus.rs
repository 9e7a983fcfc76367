//! Prometheus text exposition format 0.0.4.

use crate::registry::FamilySnapshot;
use std::fmt::Write;

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn write_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Renders families in the text format; families without series are omitted.
pub fn encode(families: &[FamilySnapshot]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families.iter().filter(|f| !f.series.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.def.name, escape_help(f.def.help));
        let _ = writeln!(out, "# TYPE {} {}", f.def.name, f.def.kind.as_str());
        for (values, v) in &f.series {
            out.push_str(f.def.name);
            if !values.is_empty() {
                out.push('{');
                for (i, (name, value)) in f.def.labels.iter().zip(values).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push_str("=\"");
                    escape_label(value, &mut out);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            write_value(*v, &mut out);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_LAST_DURATION, TASK_RECORDS_IN};
    use crate::registry::Registry;

    #[test]
    fn renders_help_type_and_escaped_labels() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["a\"b", "x\\y", "map\nline", "0"])
            .unwrap()
            .add(5);
        r.gauge(&CHECKPOINT_LAST_DURATION, &["j", "i"])
            .unwrap()
            .set(250_000_000);
        let text = encode(&r.snapshot());
        assert!(text.contains("# TYPE tidemark_task_records_in_total counter\n"));
        assert!(text.contains(
            "tidemark_task_records_in_total{job_name=\"a\\\"b\",job_id=\"x\\\\y\",vertex=\"map\\nline\",subtask=\"0\"} 5\n"
        ));
        assert!(text.contains(
            "tidemark_checkpoint_last_duration_seconds{job_name=\"j\",job_id=\"i\"} 0.25\n"
        ));
    }
}
