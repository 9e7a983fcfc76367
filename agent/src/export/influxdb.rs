//! The InfluxDB exporter: line protocol over the 1.x `/write` API (`db`,
//! `retentionPolicy`, `consistency`, basic auth) or the 2.x `/api/v2/write`
//! API (`org`, `bucket`, token), batched and gzip-compressed.
//!
//! Measurement = metric family name; tags = labels (empty values omitted: line
//! protocol has no empty tags); fields: `value` for counters and gauges (as
//! Flink writes gauges), and `count`, `sum` and one `le_<bound>` field per
//! bucket for histograms. Timestamps are milliseconds.

use super::delivery::{PushRequest, PushTarget, Schedule};
use crate::registry::{FamilySnapshot, Value};
use std::fmt::Write;

/// Which write API.
#[derive(Debug, Clone)]
pub enum InfluxApi {
    /// InfluxDB 1.x.
    V1 {
        /// Database.
        db: String,
        /// `retentionPolicy`.
        retention_policy: Option<String>,
        /// `consistency` (any, one, quorum, all).
        consistency: Option<String>,
        /// Basic-auth user and password.
        auth: Option<(String, String)>,
    },
    /// InfluxDB 2.x.
    V2 {
        /// Organisation.
        org: String,
        /// Bucket.
        bucket: String,
        /// API token.
        token: String,
    },
}

/// An InfluxDB reporter's settings.
#[derive(Debug, Clone)]
pub struct InfluxConfig {
    /// Name, interval and timeout.
    pub schedule: Schedule,
    /// `scheme://host:port`.
    pub base_url: String,
    /// Which API.
    pub api: InfluxApi,
    /// Lines per request.
    pub batch_size: usize,
    /// Compress bodies.
    pub gzip: bool,
}

/// The InfluxDB exporter.
pub struct InfluxDb {
    cfg: InfluxConfig,
    url: String,
    headers: Vec<(String, String)>,
}

/// Escapes for line protocol: `specials` get a backslash; a newline, carriage
/// return or tab becomes the two characters `\n` / `\r` / `\t` (line protocol
/// cannot carry the first two, and InfluxDB 3's parser ends a tag value at a
/// tab, which 1.x stores: written this way, every version reads the same). Line protocol reads `\` followed by a special character (or at
/// the end) as an escape, so a backslash there cannot be written at all: it
/// becomes `%5C`. Every other backslash is written, and stored, as it is.
fn escape_with(s: &str, specials: &[char], out: &mut String) {
    let mapped: Vec<char> = s
        .chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c => vec![c],
        })
        .collect();
    for (i, &c) in mapped.iter().enumerate() {
        if specials.contains(&c) {
            out.push('\\');
            out.push(c);
        } else if c == '\\' && mapped.get(i + 1).is_none_or(|n| specials.contains(n)) {
            out.push_str("%5C");
        } else {
            out.push(c);
        }
    }
}

/// Escapes a measurement name: commas and spaces.
pub fn escape_measurement(s: &str, out: &mut String) {
    escape_with(s, &[',', ' '], out)
}

/// Escapes a tag key, tag value or field key: commas, equals signs and spaces.
pub fn escape_key(s: &str, out: &mut String) {
    escape_with(s, &[',', '=', ' '], out)
}

/// How InfluxDB stores a tag value written with [`escape_key`].
pub fn stored_tag_value(s: &str) -> String {
    let mut escaped = String::new();
    escape_key(s, &mut escaped);
    escaped
        .replace("\\,", ",")
        .replace("\\=", "=")
        .replace("\\ ", " ")
}

/// Escapes a string field value (inside double quotes): `"` and `\`.
pub fn escape_string_field(s: &str, out: &mut String) {
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

fn field(out: &mut String, first: &mut bool, key: &str, v: f64) {
    if !v.is_finite() {
        return; // line protocol has no NaN or infinity
    }
    if !*first {
        out.push(',');
    }
    *first = false;
    escape_key(key, out);
    out.push('=');
    let _ = write!(out, "{v}");
}

/// One line per series.
pub fn encode_lines(families: &[FamilySnapshot], now_ms: i64) -> Vec<String> {
    let mut lines = Vec::new();
    for f in families {
        for (values, v) in &f.series {
            let mut l = String::with_capacity(128);
            escape_measurement(f.def.name, &mut l);
            for (k, val) in f.labels.iter().zip(values) {
                if val.is_empty() {
                    continue;
                }
                l.push(',');
                escape_key(k, &mut l);
                l.push('=');
                escape_key(val, &mut l);
            }
            l.push(' ');
            let mut first = true;
            match v {
                Value::Counter(x) | Value::Gauge(x) => field(&mut l, &mut first, "value", *x),
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    field(&mut l, &mut first, "count", *count as f64);
                    field(&mut l, &mut first, "sum", *sum);
                    for (b, c) in buckets {
                        let key = if b.is_infinite() {
                            "le_inf".to_string()
                        } else {
                            format!("le_{b}")
                        };
                        field(&mut l, &mut first, &key, *c as f64);
                    }
                }
            }
            if first {
                continue; // no finite field: nothing to write
            }
            let _ = write!(l, " {now_ms}");
            lines.push(l);
        }
    }
    lines
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

fn query_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

impl InfluxDb {
    /// The exporter for `cfg`.
    pub fn new(cfg: InfluxConfig) -> Self {
        let base = cfg.base_url.trim_end_matches('/');
        let mut headers = vec![(
            "content-type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        )];
        if cfg.gzip {
            headers.push(("content-encoding".into(), "gzip".into()));
        }
        let url = match &cfg.api {
            InfluxApi::V1 {
                db,
                retention_policy,
                consistency,
                auth,
            } => {
                let mut u = format!("{base}/write?db={}&precision=ms", query_escape(db));
                if let Some(rp) = retention_policy {
                    let _ = write!(u, "&rp={}", query_escape(rp));
                }
                if let Some(c) = consistency {
                    let _ = write!(u, "&consistency={}", query_escape(c));
                }
                if let Some((user, pass)) = auth {
                    use base64::Engine;
                    let b =
                        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                    headers.push(("authorization".into(), format!("Basic {b}")));
                }
                u
            }
            InfluxApi::V2 { org, bucket, token } => {
                headers.push(("authorization".into(), format!("Token {token}")));
                format!(
                    "{base}/api/v2/write?org={}&bucket={}&precision=ms",
                    query_escape(org),
                    query_escape(bucket)
                )
            }
        };
        Self { cfg, url, headers }
    }
}

impl PushTarget for InfluxDb {
    fn schedule(&self) -> &Schedule {
        &self.cfg.schedule
    }
    fn kind(&self) -> &'static str {
        "influxdb"
    }
    fn latest_only(&self) -> bool {
        false
    }
    fn encode(&self, families: &[FamilySnapshot], now_ms: i64) -> Vec<PushRequest> {
        encode_lines(families, now_ms)
            .chunks(self.cfg.batch_size.max(1))
            .map(|chunk| {
                let body = chunk.join("\n").into_bytes();
                PushRequest {
                    method: reqwest::Method::POST,
                    url: self.url.clone(),
                    headers: self.headers.clone(),
                    body: if self.cfg.gzip { gzip(&body) } else { body },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_SYNC_DURATION, TASK_RECORDS_IN};
    use crate::registry::Registry;

    #[test]
    fn escaping_and_fields() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["a b,c=d", "", "map\nx", "0"])
            .unwrap()
            .add(3);
        r.histogram(&CHECKPOINT_SYNC_DURATION, &["j", "i", "v"])
            .unwrap()
            .observe(1_000_000);
        let lines = encode_lines(&r.snapshot(), 1700000000000);
        let rec = lines
            .iter()
            .find(|l| l.starts_with("tidemark_task_records_in_total,"))
            .unwrap();
        assert_eq!(
            rec,
            "tidemark_task_records_in_total,job_name=a\\ b\\,c\\=d,vertex=map\\nx,subtask=0 value=3 1700000000000"
        );
        let h = lines
            .iter()
            .find(|l| l.starts_with("tidemark_checkpoint_sync_duration_seconds,"))
            .unwrap();
        assert!(h.contains(" count=1,sum=0.001,le_0.001=1,"), "{h}");
        assert!(h.contains(",le_inf=1 1700000000000"), "{h}");
        assert_eq!(stored_tag_value("a\\"), "a%5C");
        assert_eq!(stored_tag_value("a\\b,c"), "a\\b,c");
        assert_eq!(stored_tag_value("x\\,y"), "x%5C,y");
        assert_eq!(stored_tag_value("a\tb"), "a\\tb");
        let mut s = String::new();
        escape_string_field("say \"hi\" \\o/", &mut s);
        assert_eq!(s, "say \\\"hi\\\" \\\\o/");
    }
}
