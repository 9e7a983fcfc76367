//! OTLP/HTTP metrics export (protobuf), built from the official
//! opentelemetry-proto message types. Counters become cumulative monotonic
//! sums, gauges gauges, histograms cumulative explicit-bucket histograms. Names
//! drop `_total` and carry a UCUM unit, so a Prometheus-compatible backend
//! translating them back arrives at the same names as the scrape endpoint.

use super::delivery::{PushRequest, PushTarget, Schedule};
use crate::catalogue::MetricKind;
use crate::registry::{FamilySnapshot, Value};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// An OTLP reporter's settings.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Name, interval and timeout.
    pub schedule: Schedule,
    /// Full URL of the metrics endpoint, e.g. `http://127.0.0.1:4318/v1/metrics`.
    pub endpoint: String,
    /// `service.name` resource attribute.
    pub service_name: String,
}

/// The OTLP exporter.
pub struct Otlp {
    cfg: OtlpConfig,
    start_ns: u64,
    instance: String,
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// The UCUM unit of a catalogue unit.
pub fn ucum(unit: &str) -> &'static str {
    match unit {
        "seconds" => "s",
        "bytes" => "By",
        _ => "1",
    }
}

impl Otlp {
    /// The exporter for `cfg`.
    pub fn new(cfg: OtlpConfig) -> Self {
        Self {
            cfg,
            start_ns: super::delivery::now_ms() as u64 * 1_000_000,
            instance: super::pushgateway::hostname(),
        }
    }

    /// The request for one snapshot.
    pub fn request(&self, families: &[FamilySnapshot], now_ms: i64) -> ExportMetricsServiceRequest {
        let now = now_ms as u64 * 1_000_000;
        let mut metrics = Vec::new();
        for f in families.iter().filter(|f| !f.series.is_empty()) {
            let attrs = |values: &[String]| -> Vec<KeyValue> {
                f.labels.iter().zip(values).map(|(k, v)| kv(k, v)).collect()
            };
            let number = |values: &[String], x: f64| NumberDataPoint {
                attributes: attrs(values),
                start_time_unix_nano: self.start_ns,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble(x)),
                ..Default::default()
            };
            let data = match f.def.kind {
                MetricKind::Counter => metric::Data::Sum(Sum {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|(v, x)| match x {
                            Value::Counter(x) => Some(number(v, *x)),
                            _ => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                MetricKind::Gauge => metric::Data::Gauge(Gauge {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|(v, x)| match x {
                            Value::Gauge(x) => Some(number(v, *x)),
                            _ => None,
                        })
                        .collect(),
                }),
                MetricKind::Histogram => metric::Data::Histogram(Histogram {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|(v, x)| match x {
                            Value::Histogram {
                                buckets,
                                sum,
                                count,
                            } => {
                                let mut prev = 0;
                                let bucket_counts = buckets
                                    .iter()
                                    .map(|(_, c)| {
                                        let n = c - prev;
                                        prev = *c;
                                        n
                                    })
                                    .collect();
                                Some(HistogramDataPoint {
                                    attributes: attrs(v),
                                    start_time_unix_nano: self.start_ns,
                                    time_unix_nano: now,
                                    count: *count,
                                    sum: Some(*sum),
                                    bucket_counts,
                                    explicit_bounds: buckets
                                        .iter()
                                        .map(|(b, _)| *b)
                                        .filter(|b| b.is_finite())
                                        .collect(),
                                    ..Default::default()
                                })
                            }
                            _ => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            };
            metrics.push(Metric {
                name: f.def.name.trim_end_matches("_total").to_string(),
                description: f.def.help.to_string(),
                unit: ucum(f.def.unit).to_string(),
                data: Some(data),
                ..Default::default()
            });
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", &self.cfg.service_name),
                        kv("service.instance.id", &self.instance),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "tidemark".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

impl PushTarget for Otlp {
    fn schedule(&self) -> &Schedule {
        &self.cfg.schedule
    }
    fn kind(&self) -> &'static str {
        "otlp"
    }
    fn latest_only(&self) -> bool {
        false
    }
    fn encode(&self, families: &[FamilySnapshot], now_ms: i64) -> Vec<PushRequest> {
        vec![PushRequest {
            method: reqwest::Method::POST,
            url: self.cfg.endpoint.clone(),
            headers: vec![("content-type".into(), "application/x-protobuf".into())],
            body: self.request(families, now_ms).encode_to_vec(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CHECKPOINT_SYNC_DURATION, TASK_BUSY};
    use crate::registry::Registry;
    use std::time::Duration;

    #[test]
    fn sums_gauges_and_histograms_round_trip() {
        let r = Registry::new();
        r.counter(&TASK_BUSY, &["j", "i", "v", "0"])
            .unwrap()
            .add(2_000_000_000);
        r.histogram(&CHECKPOINT_SYNC_DURATION, &["j", "i", "v"])
            .unwrap()
            .observe(3_000_000);
        let o = Otlp::new(OtlpConfig {
            endpoint: "http://x/v1/metrics".into(),
            service_name: "tidemark".into(),
            schedule: Schedule {
                name: "otel".into(),
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
            },
        });
        let body = o.encode(&r.snapshot(), 1000)[0].body.clone();
        let req = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
        let ms = &req.resource_metrics[0].scope_metrics[0].metrics;
        let busy = ms
            .iter()
            .find(|m| m.name == "tidemark_task_busy_seconds")
            .unwrap();
        assert_eq!(busy.unit, "s");
        let Some(metric::Data::Sum(s)) = &busy.data else {
            panic!()
        };
        assert!(s.is_monotonic);
        assert_eq!(
            s.data_points[0].value,
            Some(number_data_point::Value::AsDouble(2.0))
        );
        let h = ms
            .iter()
            .find(|m| m.name == CHECKPOINT_SYNC_DURATION.name)
            .unwrap();
        let Some(metric::Data::Histogram(h)) = &h.data else {
            panic!()
        };
        let p = &h.data_points[0];
        assert_eq!(p.count, 1);
        assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 1);
    }
}
