//! OTLP/HTTP and remote-write carry what the engine counted: the OTLP request
//! is decoded with the official opentelemetry-proto definitions, and
//! remote-write samples are read back from a real Prometheus with PromQL.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use std::time::Duration;
use tidemark_tests::servers::*;
use tidemark_tests::*;

fn records_in(req: &ExportMetricsServiceRequest, vertex: &str) -> Option<f64> {
    let m = req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "tidemark_task_records_in")?;
    let Some(metric::Data::Sum(s)) = &m.data else {
        return None;
    };
    assert!(s.is_monotonic);
    let mut sum = 0.0;
    for p in &s.data_points {
        let v = p.attributes.iter().find(|a| a.key == "vertex")?;
        let Some(any_value::Value::StringValue(name)) = v.value.as_ref()?.value.as_ref() else {
            continue;
        };
        if name == vertex {
            if let Some(number_data_point::Value::AsDouble(x)) = p.value {
                sum += x;
            }
        }
    }
    Some(sum)
}

#[test]
fn otlp_and_remote_write_carry_the_engines_counts() {
    let (otlp_addr, bodies) = otlp_receiver();
    let prom = prometheus(&[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = 100_000u64;
    let job = write_file(
        d,
        "j.yaml",
        &format!(
            "name: pushed\npipeline: keyed-count\nparams:\n  keys: 50\n  events: {events}\n  rate: 100000\nconfig:\n  metrics.reporters: prom,otel,rw\n  metrics.reporter.prom.port: 0\n  metrics.reporter.otel.factory.class: otlp\n  metrics.reporter.otel.endpoint: http://{otlp_addr}\n  metrics.reporter.otel.interval: 300 ms\n  metrics.reporter.rw.factory.class: remote-write\n  metrics.reporter.rw.url: http://{}/api/v1/write\n  metrics.reporter.rw.interval: 300 ms\n",
            prom.addr
        ),
    );
    let r = Running::start(
        d,
        &["run", &job, "--linger", "60s", "--status-interval", "0"],
    );
    r.wait_stderr("job finished", Duration::from_secs(60));
    let want = events as f64;
    wait_for(
        "an OTLP request with the final count",
        Duration::from_secs(30),
        || {
            let b = bodies.lock().unwrap();
            b.iter()
                .filter_map(|body| ExportMetricsServiceRequest::decode(body.as_slice()).ok())
                .any(|req| records_in(&req, "count") == Some(want))
                .then_some(())
        },
    );
    let q = "sum(tidemark_task_records_in_total{job_name=\"pushed\",vertex=\"count\"})";
    wait_for(
        "remote-written samples with the final count",
        Duration::from_secs(30),
        || {
            let body = promql(&prom, q);
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            (v["data"]["result"][0]["value"][1].as_str()? == want.to_string()).then_some(())
        },
    );
    // Histograms arrive as classic _bucket series too.
    let body = promql(
        &prom,
        "count(tidemark_checkpoint_duration_seconds_bucket{job_name=\"pushed\",le=\"+Inf\"})",
    );
    assert!(body.contains("\"result\":[{"), "{body}");
    r.kill();
}
