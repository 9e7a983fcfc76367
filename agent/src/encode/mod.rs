//! Wire formats. Each encoder turns a registry snapshot into bytes.
//!
//! | file | format |
//! |---|---|
//! | [`prometheus`] | Prometheus text exposition 0.0.4 |
//! | [`openmetrics`] | OpenMetrics 1.0 text (with `# EOF`) |

pub mod openmetrics;
pub mod prometheus;

use crate::registry::{FamilySnapshot, Value};
use std::fmt::Write;

/// Escapes a label value: backslash, double quote and newline (both text formats).
pub(crate) fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as both text formats spell it.
pub(crate) fn write_value(v: f64, out: &mut String) {
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

/// Writes `name{labels[,extra]} value\n`.
pub(crate) fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[&str],
    values: &[String],
    extra: Option<(&str, &str)>,
    v: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (l, v) in labels.iter().zip(values) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(l);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        if let Some((l, v)) = extra {
            if !first {
                out.push(',');
            }
            out.push_str(l);
            out.push_str("=\"");
            out.push_str(v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(v, out);
    out.push('\n');
}

/// The samples of one family (shared by both formats; they differ in metadata).
pub(crate) fn write_samples(out: &mut String, f: &FamilySnapshot) {
    let name = f.def.name;
    for (values, v) in &f.series {
        match v {
            Value::Counter(x) | Value::Gauge(x) => {
                write_sample(out, name, "", &f.labels, values, None, *x)
            }
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut le = String::new();
                for (b, c) in buckets {
                    le.clear();
                    write_value(*b, &mut le);
                    write_sample(
                        out,
                        name,
                        "_bucket",
                        &f.labels,
                        values,
                        Some(("le", &le)),
                        *c as f64,
                    );
                }
                write_sample(out, name, "_sum", &f.labels, values, None, *sum);
                write_sample(out, name, "_count", &f.labels, values, None, *count as f64);
            }
        }
    }
}

/// Keeps the families a `/metrics?include=&exclude=` filter selects. Patterns
/// are comma-separated family names with `*` wildcards.
pub fn filter(
    families: Vec<FamilySnapshot>,
    include: Option<&str>,
    exclude: Option<&str>,
) -> Vec<FamilySnapshot> {
    let pats = |s: Option<&str>| -> Vec<String> {
        s.map(|s| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let (inc, exc) = (pats(include), pats(exclude));
    families
        .into_iter()
        .filter(|f| inc.is_empty() || inc.iter().any(|p| glob(p, f.def.name)))
        .filter(|f| !exc.iter().any(|p| glob(p, f.def.name)))
        .collect()
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(pos) => rest = &rest[pos + p.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs() {
        assert!(super::glob(
            "tidemark_task_*",
            "tidemark_task_busy_seconds_total"
        ));
        assert!(super::glob("*_total", "a_total"));
        assert!(super::glob("a*b*c", "axxbyyc"));
        assert!(!super::glob("a*b*c", "axxbyy"));
        assert!(super::glob("exact", "exact") && !super::glob("exact", "exactly"));
    }
}
