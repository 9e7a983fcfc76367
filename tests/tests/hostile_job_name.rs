//! A hostile job name (the label value a user controls: quotes, backslashes,
//! a newline, `/`, `=`, `,`, spaces, non-ASCII) through every exporter's real
//! delivery path, as a job runs: the Prometheus scrape, the Pushgateway group
//! URL our exporter builds, InfluxDB, OTLP/HTTP and remote-write. The expected
//! value is the name as written in the job file, compared with what each real
//! server (or, for OTLP, the official protobuf definitions) gives back.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tidemark_tests::servers::*;
use tidemark_tests::*;

/// As the job file spells it (a YAML double-quoted string) and as meant.
const YAML_NAME: &str = r#""a \"q\" b\\s /p=e,c\nü""#;
const NAME: &str = "a \"q\" b\\s /p=e,c\nü";

/// Every `job_name` label value of `metric` Prometheus holds, by whether the
/// series was scraped (it has an `instance`) or remote-written.
fn prom_names(prom: &Server, metric: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let body = promql(prom, metric);
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    let (mut scraped, mut written) = (BTreeSet::new(), BTreeSet::new());
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let name = r["metric"]["job_name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if r["metric"]["instance"].is_string() {
            scraped.insert(name);
        } else {
            written.insert(name);
        }
    }
    (scraped, written)
}

#[test]
fn a_hostile_job_name_arrives_intact_at_every_real_server() {
    let (otlp_addr, bodies) = otlp_receiver();
    let pgw = pushgateway();
    let influx = influxdb("tidemark");
    let port = free_port();
    let prom = prometheus(&[("tidemark", &format!("127.0.0.1:{port}"))]);
    let (ihost, iport) = influx.addr.split_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_file(
        d,
        "hostile.yaml",
        &format!(
            "name: {YAML_NAME}\npipeline: keyed-count\nparams:\n  keys: 50\n  rate: 2000\nconfig:\n  \
             metrics.reporters: prom,pgw,influx,otel,rw\n  metrics.reporter.prom.port: {port}\n  \
             metrics.reporter.pgw.factory.class: pushgateway\n  metrics.reporter.pgw.hostUrl: http://{}\n  \
             metrics.reporter.pgw.interval: 300 ms\n  \
             metrics.reporter.influx.factory.class: influxdb\n  metrics.reporter.influx.host: {ihost}\n  \
             metrics.reporter.influx.port: {iport}\n  metrics.reporter.influx.db: tidemark\n  \
             metrics.reporter.influx.interval: 300 ms\n  \
             metrics.reporter.otel.factory.class: otlp\n  metrics.reporter.otel.endpoint: http://{otlp_addr}\n  \
             metrics.reporter.otel.interval: 300 ms\n  \
             metrics.reporter.rw.factory.class: remote-write\n  metrics.reporter.rw.url: http://{}/api/v1/write\n  \
             metrics.reporter.rw.interval: 300 ms\n",
            pgw.addr, prom.addr
        ),
    );
    let r = Running::start(d, &["run", &job, "--status-interval", "0"]);
    let want: BTreeSet<String> = [NAME.to_string()].into();

    // Scraped and remote-written, read back from Prometheus.
    wait_for_or(
        "the name in Prometheus, scraped and remote-written",
        Duration::from_secs(60),
        || {
            let (scraped, written) = prom_names(&prom, "tidemark_job_uptime_seconds");
            (scraped == want && written == want).then_some(())
        },
        || {
            format!(
                "{:?}\n{}",
                prom_names(&prom, "tidemark_job_uptime_seconds"),
                r.stderr()
            )
        },
    );
    // The Pushgateway parsed the group URL our exporter built.
    wait_for_or(
        "the name as the Pushgateway group's label",
        Duration::from_secs(60),
        || {
            pushgateway_groups(&pgw)
                .iter()
                .any(|g| g.0 == NAME)
                .then_some(())
        },
        || format!("{:?}", pushgateway_groups(&pgw)),
    );
    assert!(
        pushgateway_groups(&pgw).iter().all(|g| g.0 == NAME),
        "one group, under the name: {:?}",
        pushgateway_groups(&pgw)
    );
    // InfluxDB: line protocol cannot carry a newline; it is stored as the two
    // characters `\n` (the one documented substitution), the rest intact.
    let stored = NAME.replace('\n', "\\n");
    wait_for_or(
        "the name as an InfluxDB tag value",
        Duration::from_secs(60),
        || {
            let body = influxql(
                &influx,
                "tidemark",
                "SHOW TAG VALUES FROM \"tidemark_job_uptime_seconds\" WITH KEY = \"job_name\"",
            );
            let v: Value = serde_json::from_str(&body).ok()?;
            let values: Vec<String> = v["results"][0]["series"][0]["values"]
                .as_array()?
                .iter()
                .filter_map(|p| p[1].as_str().map(String::from))
                .collect();
            (values == [stored.clone()]).then_some(())
        },
        || {
            influxql(
                &influx,
                "tidemark",
                "SHOW TAG VALUES FROM \"tidemark_job_uptime_seconds\" WITH KEY = \"job_name\"",
            )
        },
    );
    // OTLP, decoded with the official protobuf definitions.
    wait_for(
        "the name as an OTLP attribute",
        Duration::from_secs(60),
        || {
            let b = bodies.lock().unwrap();
            let names: BTreeSet<String> =
                b.iter()
                    .filter_map(|body| ExportMetricsServiceRequest::decode(body.as_slice()).ok())
                    .flat_map(|req| req.resource_metrics)
                    .flat_map(|rm| {
                        let res = rm.resource.map(|r| r.attributes).unwrap_or_default();
                        let points =
                            rm.scope_metrics
                                .into_iter()
                                .flat_map(|s| s.metrics)
                                .filter(|m| m.name == "tidemark_job_uptime_seconds")
                                .flat_map(|m| {
                                    match m.data {
                        Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) => {
                            g.data_points.into_iter().flat_map(|p| p.attributes).collect()
                        }
                        _ => Vec::new(),
                    }
                                });
                        res.into_iter().chain(points).collect::<Vec<_>>()
                    })
                    .filter(|a| a.key == "job_name")
                    .filter_map(|a| match a.value?.value? {
                        any_value::Value::StringValue(s) => Some(s),
                        _ => None,
                    })
                    .collect();
            (names == want).then_some(())
        },
    );
    r.kill();
}
