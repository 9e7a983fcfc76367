//! Prometheus remote-write 1.0: snappy-compressed protobuf `WriteRequest`s,
//! one sample per series per interval, labels sorted by name with `__name__`
//! first; histograms as `_bucket{le}`, `_sum` and `_count` series.

use super::delivery::{PushRequest, PushTarget, Schedule};
use crate::encode::write_value;
use crate::registry::{FamilySnapshot, Value};
use prost::Message;

/// `prometheus.WriteRequest` (remote-write 1.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// Series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A remote-write reporter's settings.
#[derive(Debug, Clone)]
pub struct RemoteWriteConfig {
    /// Name, interval and timeout.
    pub schedule: Schedule,
    /// Receiver URL, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// Basic auth.
    pub basic_auth: Option<(String, String)>,
}

/// The remote-write exporter.
pub struct RemoteWrite {
    cfg: RemoteWriteConfig,
    headers: Vec<(String, String)>,
}

impl RemoteWrite {
    /// The exporter for `cfg`.
    pub fn new(cfg: RemoteWriteConfig) -> Self {
        let mut headers = vec![
            (
                "content-type".to_string(),
                "application/x-protobuf".to_string(),
            ),
            ("content-encoding".into(), "snappy".into()),
            ("x-prometheus-remote-write-version".into(), "0.1.0".into()),
        ];
        if let Some((u, p)) = &cfg.basic_auth {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            headers.push(("authorization".into(), format!("Basic {b}")));
        }
        Self { cfg, headers }
    }
}

/// The write request for one snapshot.
pub fn write_request(families: &[FamilySnapshot], now_ms: i64) -> WriteRequest {
    let mut ts = Vec::new();
    let series = |name: String,
                  labels: &[&str],
                  values: &[String],
                  extra: Option<(&str, String)>,
                  v: f64| {
        let mut l: Vec<Label> = labels
            .iter()
            .zip(values)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| Label {
                name: k.to_string(),
                value: v.clone(),
            })
            .collect();
        if let Some((k, v)) = extra {
            l.push(Label {
                name: k.into(),
                value: v,
            });
        }
        l.push(Label {
            name: "__name__".into(),
            value: name,
        });
        l.sort_by(|a, b| a.name.cmp(&b.name));
        TimeSeries {
            labels: l,
            samples: vec![Sample {
                value: v,
                timestamp: now_ms,
            }],
        }
    };
    for f in families {
        for (values, v) in &f.series {
            match v {
                Value::Counter(x) | Value::Gauge(x) => {
                    ts.push(series(f.def.name.into(), &f.labels, values, None, *x))
                }
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    for (b, c) in buckets {
                        let mut le = String::new();
                        write_value(*b, &mut le);
                        ts.push(series(
                            format!("{}_bucket", f.def.name),
                            &f.labels,
                            values,
                            Some(("le", le)),
                            *c as f64,
                        ));
                    }
                    ts.push(series(
                        format!("{}_sum", f.def.name),
                        &f.labels,
                        values,
                        None,
                        *sum,
                    ));
                    ts.push(series(
                        format!("{}_count", f.def.name),
                        &f.labels,
                        values,
                        None,
                        *count as f64,
                    ));
                }
            }
        }
    }
    WriteRequest { timeseries: ts }
}

impl PushTarget for RemoteWrite {
    fn schedule(&self) -> &Schedule {
        &self.cfg.schedule
    }
    fn kind(&self) -> &'static str {
        "remote-write"
    }
    fn latest_only(&self) -> bool {
        false
    }
    fn encode(&self, families: &[FamilySnapshot], now_ms: i64) -> Vec<PushRequest> {
        let raw = write_request(families, now_ms).encode_to_vec();
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default();
        vec![PushRequest {
            method: reqwest::Method::POST,
            url: self.cfg.url.clone(),
            headers: self.headers.clone(),
            body,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_SYNC_DURATION, TASK_RECORDS_IN};
    use crate::registry::Registry;
    use std::time::Duration;

    #[test]
    fn sorted_labels_name_first_and_histogram_series() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["j", "i", "v", "0"])
            .unwrap()
            .add(4);
        r.histogram(&CHECKPOINT_SYNC_DURATION, &["j", "i", "v"])
            .unwrap()
            .observe(1);
        let w = write_request(&r.snapshot(), 5);
        let rec = w
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == TASK_RECORDS_IN.name)
            .unwrap();
        let names: Vec<&str> = rec.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["__name__", "job_id", "job_name", "subtask", "vertex"]
        );
        assert_eq!(
            rec.samples[0],
            Sample {
                value: 4.0,
                timestamp: 5
            }
        );
        assert!(w
            .timeseries
            .iter()
            .any(|t| t.labels[0].value.ends_with("_bucket")
                && t.labels.iter().any(|l| l.name == "le" && l.value == "+Inf")));
        let rw = RemoteWrite::new(RemoteWriteConfig {
            url: "http://x/api/v1/write".into(),
            schedule: Schedule {
                name: "rw".into(),
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
            },
            basic_auth: None,
        });
        let body = &rw.encode(&r.snapshot(), 5)[0].body;
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        assert_eq!(
            WriteRequest::decode(raw.as_slice())
                .unwrap()
                .timeseries
                .len(),
            w.timeseries.len()
        );
    }
}
