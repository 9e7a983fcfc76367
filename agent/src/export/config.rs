//! Reporter configuration from Flink's keys, `metrics.reporter.<name>.<option>`.
//! Every problem is reported with the full key, the value and what is allowed.
//! Credentials come only from an environment variable or a file
//! (`password-env`, `password-file`, `token-env`, `token-file`) and never
//! appear in errors or logs.

use super::delivery::Schedule;
use super::influxdb::{InfluxApi, InfluxConfig};
use super::otlp::OtlpConfig;
use super::pushgateway::PushgatewayConfig;
use super::remote_write::RemoteWriteConfig;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// A configured reporter.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: ReporterKind,
}

/// The kinds of reporter.
#[derive(Debug, Clone)]
pub enum ReporterKind {
    /// `/metrics` for Prometheus to scrape.
    Prometheus {
        /// Bind address.
        host: IpAddr,
        /// Port, range or list.
        port: String,
    },
    /// Push to a Pushgateway.
    Pushgateway(PushgatewayConfig),
    /// Write to InfluxDB.
    InfluxDb(InfluxConfig),
    /// Export over OTLP/HTTP.
    Otlp(OtlpConfig),
    /// Prometheus remote-write.
    RemoteWrite(RemoteWriteConfig),
}

impl ReporterKind {
    /// The kind's label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReporterKind::Prometheus { .. } => "prometheus",
            ReporterKind::Pushgateway(_) => "pushgateway",
            ReporterKind::InfluxDb(_) => "influxdb",
            ReporterKind::Otlp(_) => "otlp",
            ReporterKind::RemoteWrite(_) => "remote-write",
        }
    }
}

/// Factory names accepted per kind (ours, and Flink's classes).
pub const FACTORIES: &[(&str, &[&str])] = &[
    (
        "prometheus",
        &[
            "prometheus",
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
            "org.apache.flink.metrics.prometheus.PrometheusReporter",
        ],
    ),
    (
        "pushgateway",
        &[
            "pushgateway",
            "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory",
            "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporter",
        ],
    ),
    (
        "influxdb",
        &[
            "influxdb",
            "org.apache.flink.metrics.influxdb.InfluxdbReporterFactory",
            "org.apache.flink.metrics.influxdb.InfluxdbReporter",
        ],
    ),
    (
        "otlp",
        &[
            "otlp",
            "org.apache.flink.metrics.otel.OpenTelemetryMetricReporterFactory",
        ],
    ),
    ("remote-write", &["remote-write"]),
];

/// Options of every kind, with what they take (for errors and docs).
pub const OPTIONS: &[(&str, &[(&str, &str)])] = &[
    ("*", &[("factory.class", "prometheus, pushgateway or influxdb (Flink's factory classes are accepted)"), ("class", "Flink 1.x alias of factory.class"), ("interval", "push/write interval, e.g. 10 s (Flink's default)")]),
    ("prometheus", &[("port", "a port, a range 9249-9259 or a list; the first free one is used"), ("host", "bind address, 127.0.0.1 unless set")]),
    (
        "pushgateway",
        &[
            ("hostUrl", "the Pushgateway's URL, http(s)://host:port"),
            ("host", "deprecated with port: the Pushgateway's host"),
            ("port", "deprecated with host: the Pushgateway's port"),
            ("jobName", "the job grouping label (default tidemark)"),
            ("randomJobNameSuffix", "true or false (default false: the grouping key is per job already)"),
            ("deleteOnShutdown", "true or false (default true)"),
            ("groupingKey", "k1=v1;k2=v2 ({job_name} and {job_id} are replaced); default job_name, job_id, instance"),
            ("filterLabelValueCharacters", "accepted for compatibility; label values are never rewritten"),
            ("timeout", "request timeout (default 10 s)"),
            ("username", "basic-auth user"),
            ("password-env", "environment variable holding the basic-auth password"),
            ("password-file", "file holding the basic-auth password"),
        ],
    ),
    (
        "influxdb",
        &[
            ("scheme", "http or https (default http)"),
            ("host", "InfluxDB host (required)"),
            ("port", "InfluxDB port (default 8086)"),
            ("db", "1.x database (1.x API)"),
            ("retentionPolicy", "1.x retention policy"),
            ("consistency", "1.x write consistency: ALL, ANY, ONE or QUORUM"),
            ("username", "1.x user"),
            ("password-env", "environment variable holding the 1.x password"),
            ("password-file", "file holding the 1.x password"),
            ("org", "2.x organisation (2.x API, with bucket and a token)"),
            ("bucket", "2.x bucket"),
            ("token-env", "environment variable holding the 2.x API token"),
            ("token-file", "file holding the 2.x API token"),
            ("connectTimeout", "accepted for compatibility (the write timeout bounds the request)"),
            ("writeTimeout", "request timeout (default 10 s)"),
            ("batch-size", "lines per request (default 5000)"),
            ("gzip", "true or false (default true)"),
        ],
    ),
    (
        "otlp",
        &[
            ("endpoint", "OTLP/HTTP endpoint; /v1/metrics is appended unless the URL has a path"),
            ("exporter.endpoint", "Flink's name for endpoint"),
            ("service-name", "service.name resource attribute (default tidemark)"),
            ("timeout", "request timeout (default 10 s)"),
        ],
    ),
    (
        "remote-write",
        &[
            ("url", "the receiver's URL, e.g. http://127.0.0.1:9090/api/v1/write"),
            ("timeout", "request timeout (default 10 s)"),
            ("username", "basic-auth user"),
            ("password-env", "environment variable holding the basic-auth password"),
            ("password-file", "file holding the basic-auth password"),
        ],
    ),
];

/// Parses Flink's duration syntax: `10 min`, `1s`, `100 ms`; a bare number is milliseconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        "a duration like 500 ms, 10 s, 5 min, 1 h or a number of milliseconds".to_string()
    })?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => n,
        "s" | "sec" | "secs" | "second" | "seconds" => n * 1e3,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60e3,
        "h" | "hour" | "hours" => n * 3600e3,
        "d" | "day" | "days" => n * 86400e3,
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => n / 1e3,
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => n / 1e6,
        _ => return Err("a duration with unit ms, s, min, h or d (e.g. 10 s)".into()),
    };
    Ok(Duration::from_nanos((ms * 1e6) as u64))
}

struct Opts<'a> {
    name: &'a str,
    map: &'a BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Opts<'_> {
    fn key(&self, o: &str) -> String {
        format!("metrics.reporter.{}.{o}", self.name)
    }
    fn get(&self, o: &str) -> Option<String> {
        self.map.get(o).map(|v| v.trim().to_string())
    }
    fn err(&mut self, o: &str, v: &str, allowed: &str) {
        let k = self.key(o);
        self.errors
            .push(format!("{k}: '{v}' is not valid: expected {allowed}"));
    }
    fn duration(&mut self, o: &str, default: Duration) -> Duration {
        match self.get(o) {
            None => default,
            Some(v) => match parse_duration(&v) {
                Ok(d) if d.is_zero() => {
                    self.err(o, &v, "a duration greater than 0");
                    default
                }
                Ok(d) => d,
                Err(a) => {
                    self.err(o, &v, &a);
                    default
                }
            },
        }
    }
    fn bool(&mut self, o: &str, default: bool) -> bool {
        match self.get(o).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                self.err(o, &v, "true or false");
                default
            }
        }
    }
    fn url(&mut self, o: &str, v: &str) -> String {
        let ok = (v.starts_with("http://") || v.starts_with("https://"))
            && v.len() > "https://".len()
            && !v.contains(' ');
        if !ok {
            self.err(
                o,
                v,
                "an http:// or https:// URL such as http://127.0.0.1:9091",
            );
        }
        v.to_string()
    }
    /// A secret from `<o>-env` or `<o>-file`; a literal `<o>` is refused.
    fn secret(&mut self, o: &str) -> Option<String> {
        if self.map.contains_key(o) {
            let k = self.key(o);
            self.errors.push(format!(
                "{k}: credentials are not accepted in the configuration; set {k}-env (an environment variable) or {k}-file (a file) instead"
            ));
        }
        if let Some(var) = self.get(&format!("{o}-env")) {
            match std::env::var(&var) {
                Ok(v) => return Some(v.trim_end_matches(['\n', '\r']).to_string()),
                Err(_) => {
                    let k = self.key(&format!("{o}-env"));
                    self.errors
                        .push(format!("{k}: environment variable '{var}' is not set"));
                }
            }
        }
        if let Some(path) = self.get(&format!("{o}-file")) {
            match std::fs::read_to_string(&path) {
                Ok(v) => return Some(v.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    let k = self.key(&format!("{o}-file"));
                    self.errors.push(format!("{k}: cannot read '{path}': {e}"));
                }
            }
        }
        None
    }
}

impl ReporterConfig {
    /// Parses reporter `name`'s options (the part after `metrics.reporter.<name>.`).
    pub fn parse(name: &str, map: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let mut o = Opts {
            name,
            map,
            errors: Vec::new(),
        };
        let factory = o
            .get("factory.class")
            .or_else(|| o.get("class"))
            .unwrap_or_else(|| {
                if name == "prom" {
                    "prometheus".into()
                } else {
                    String::new()
                }
            });
        let Some(kind) = FACTORIES
            .iter()
            .find(|(_, names)| names.contains(&factory.as_str()))
            .map(|(k, _)| *k)
        else {
            let k = o.key("factory.class");
            return Err(vec![if factory.is_empty() {
                format!("{k} is required for reporter '{name}': one of prometheus, pushgateway, influxdb, otlp, remote-write")
            } else {
                format!("{k}: '{factory}' is not valid: expected prometheus, pushgateway, influxdb, otlp or remote-write (or Flink's factory class)")
            }]);
        };
        // Unknown options.
        let allowed: Vec<&str> = OPTIONS
            .iter()
            .filter(|(k, _)| *k == "*" || *k == kind)
            .flat_map(|(_, opts)| opts.iter().map(|(n, _)| *n))
            .collect();
        for k in map.keys() {
            let literal_secret =
                (k == "password" || k == "token") && allowed.contains(&format!("{k}-env").as_str());
            if !allowed.contains(&k.as_str()) && !literal_secret {
                let full = o.key(k);
                o.errors.push(format!(
                    "unknown key '{full}': a {kind} reporter takes {}",
                    allowed.join(", ")
                ));
            }
        }
        let interval = o.duration("interval", Duration::from_secs(10));
        let kind = match kind {
            "prometheus" => {
                let host_s = o.get("host").unwrap_or_else(|| "127.0.0.1".into());
                let host = host_s.parse::<IpAddr>().unwrap_or_else(|_| {
                    o.err(
                        "host",
                        &host_s,
                        "an IP address such as 127.0.0.1 or 0.0.0.0",
                    );
                    IpAddr::from([127, 0, 0, 1])
                });
                let port = o.get("port").unwrap_or_else(|| "9249".into());
                if super::scrape::parse_ports(&port).is_none() {
                    o.err(
                        "port",
                        &port,
                        "a port, a range like 9249-9259 or a list like 9249,9250",
                    );
                }
                ReporterKind::Prometheus { host, port }
            }
            "pushgateway" => {
                let host_url = match (o.get("hostUrl"), o.get("host"), o.get("port")) {
                    (Some(u), _, _) => o.url("hostUrl", &u),
                    (None, Some(h), Some(p)) => format!("http://{h}:{p}"),
                    _ => {
                        let k = o.key("hostUrl");
                        o.errors.push(format!("{k} is required for a pushgateway reporter, e.g. http://127.0.0.1:9091"));
                        String::new()
                    }
                };
                let mut grouping_key = Vec::new();
                if let Some(g) = o.get("groupingKey").filter(|g| !g.is_empty()) {
                    for kv in g.split(';').filter(|s| !s.trim().is_empty()) {
                        match kv.split_once('=') {
                            Some((k, v))
                                if !k.trim().is_empty()
                                    && k.trim()
                                        .chars()
                                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                            {
                                grouping_key.push((k.trim().to_string(), v.trim().to_string()))
                            }
                            _ => o.err(
                                "groupingKey",
                                &g,
                                "k1=v1;k2=v2 with label names of letters, digits and _",
                            ),
                        }
                    }
                }
                let user = o.get("username");
                let pass = o.secret("password");
                let basic_auth = match (user, pass) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    (Some(_), None) => {
                        let k = o.key("password-env");
                        o.errors.push(format!(
                            "{} is set but no password: set {k} or its -file form",
                            o.key("username")
                        ));
                        None
                    }
                    (None, Some(_)) => {
                        let k = o.key("username");
                        o.errors.push(format!("a password is set but {k} is not"));
                        None
                    }
                };
                ReporterKind::Pushgateway(PushgatewayConfig {
                    host_url,
                    job_name: o.get("jobName").unwrap_or_else(|| "tidemark".into()),
                    random_suffix: o.bool("randomJobNameSuffix", false),
                    delete_on_shutdown: o.bool("deleteOnShutdown", true),
                    grouping_key,
                    schedule: Schedule {
                        name: name.to_string(),
                        interval,
                        timeout: o.duration("timeout", Duration::from_secs(10)),
                    },
                    basic_auth,
                })
            }
            "otlp" => {
                let endpoint = match o.get("endpoint").or_else(|| o.get("exporter.endpoint")) {
                    Some(u) => {
                        let key = if o.get("endpoint").is_some() {
                            "endpoint"
                        } else {
                            "exporter.endpoint"
                        };
                        let u = o.url(key, &u);
                        let has_path = u.splitn(4, '/').nth(3).is_some_and(|p| !p.is_empty());
                        if has_path {
                            u
                        } else {
                            format!("{}/v1/metrics", u.trim_end_matches('/'))
                        }
                    }
                    None => {
                        let k = o.key("endpoint");
                        o.errors.push(format!(
                            "{k} is required for an otlp reporter, e.g. http://127.0.0.1:4318"
                        ));
                        String::new()
                    }
                };
                ReporterKind::Otlp(OtlpConfig {
                    endpoint,
                    service_name: o.get("service-name").unwrap_or_else(|| "tidemark".into()),
                    schedule: Schedule {
                        name: name.to_string(),
                        interval,
                        timeout: o.duration("timeout", Duration::from_secs(10)),
                    },
                })
            }
            "remote-write" => {
                let url = match o.get("url") {
                    Some(u) => o.url("url", &u),
                    None => {
                        let k = o.key("url");
                        o.errors.push(format!("{k} is required for a remote-write reporter, e.g. http://127.0.0.1:9090/api/v1/write"));
                        String::new()
                    }
                };
                let basic_auth = match (o.get("username"), o.secret("password")) {
                    (Some(u), Some(p)) => Some((u, p)),
                    _ => None,
                };
                ReporterKind::RemoteWrite(RemoteWriteConfig {
                    url,
                    schedule: Schedule {
                        name: name.to_string(),
                        interval,
                        timeout: o.duration("timeout", Duration::from_secs(10)),
                    },
                    basic_auth,
                })
            }
            _ => {
                let scheme = o.get("scheme").unwrap_or_else(|| "http".into());
                if scheme != "http" && scheme != "https" {
                    o.err("scheme", &scheme, "http or https");
                }
                let host = o.get("host").unwrap_or_else(|| {
                    let k = o.key("host");
                    o.errors
                        .push(format!("{k} is required for an influxdb reporter"));
                    String::new()
                });
                let port = o.get("port").unwrap_or_else(|| "8086".into());
                if port.parse::<u16>().is_err() {
                    o.err("port", &port, "a port number");
                }
                let api = if o.get("org").is_some() || o.get("bucket").is_some() {
                    let token = o.secret("token").unwrap_or_else(|| {
                        let k = o.key("token-env");
                        o.errors.push(format!(
                            "the 2.x API (org, bucket) needs a token: set {k} or its -file form"
                        ));
                        String::new()
                    });
                    let org = o.get("org").unwrap_or_default();
                    let bucket = o.get("bucket").unwrap_or_default();
                    if org.is_empty() || bucket.is_empty() {
                        let (k1, k2) = (o.key("org"), o.key("bucket"));
                        o.errors
                            .push(format!("the 2.x API needs both {k1} and {k2}"));
                    }
                    InfluxApi::V2 { org, bucket, token }
                } else {
                    let db = o.get("db").unwrap_or_else(|| {
                        let k = o.key("db");
                        o.errors.push(format!(
                            "{k} is required for the 1.x API (or set org and bucket for 2.x)"
                        ));
                        String::new()
                    });
                    let consistency = o.get("consistency").map(|c| c.to_ascii_lowercase());
                    if let Some(c) = &consistency {
                        if !["all", "any", "one", "quorum"].contains(&c.as_str()) {
                            o.err("consistency", c, "ALL, ANY, ONE or QUORUM");
                        }
                    }
                    let auth = match (o.get("username"), o.secret("password")) {
                        (Some(u), Some(p)) => Some((u, p)),
                        _ => None,
                    };
                    InfluxApi::V1 {
                        db,
                        retention_policy: o.get("retentionPolicy"),
                        consistency,
                        auth,
                    }
                };
                let batch_size = match o.get("batch-size") {
                    None => 5000,
                    Some(v) => v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| {
                            o.err("batch-size", &v, "a positive integer");
                            5000
                        }),
                };
                ReporterKind::InfluxDb(InfluxConfig {
                    base_url: format!("{scheme}://{host}:{port}"),
                    api,
                    schedule: Schedule {
                        name: name.to_string(),
                        interval,
                        timeout: o.duration("writeTimeout", Duration::from_secs(10)),
                    },
                    batch_size,
                    gzip: o.bool("gzip", true),
                })
            }
        };
        if o.errors.is_empty() {
            Ok(ReporterConfig {
                name: name.to_string(),
                kind,
            })
        } else {
            Err(o.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, kv: &[(&str, &str)]) -> Result<ReporterConfig, Vec<String>> {
        let m = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReporterConfig::parse(name, &m)
    }

    #[test]
    fn defaults_and_flink_factories() {
        let r = parse("prom", &[]).unwrap();
        assert!(matches!(r.kind, ReporterKind::Prometheus { ref port, .. } if port == "9249"));
        let r = parse(
            "pgw",
            &[
                (
                    "factory.class",
                    "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory",
                ),
                ("hostUrl", "http://127.0.0.1:9091"),
                ("interval", "2 s"),
            ],
        )
        .unwrap();
        let ReporterKind::Pushgateway(p) = r.kind else {
            panic!()
        };
        assert_eq!(p.schedule.interval, Duration::from_secs(2));
        assert!(p.delete_on_shutdown && !p.random_suffix);
    }

    #[test]
    fn bad_input_names_key_value_and_allowed_and_never_echoes_secrets() {
        let e = parse(
            "pgw",
            &[
                ("factory.class", "pushgateway"),
                ("hostUrl", "ftp:/x"),
                ("interval", "0"),
                ("jobNme", "x"),
                ("password", "hunter2"),
            ],
        )
        .unwrap_err();
        let all = e.join("\n");
        assert!(all.contains("metrics.reporter.pgw.hostUrl: 'ftp:/x' is not valid: expected an http:// or https:// URL"), "{all}");
        assert!(all.contains("metrics.reporter.pgw.interval: '0' is not valid: expected a duration greater than 0"), "{all}");
        assert!(
            all.contains("unknown key 'metrics.reporter.pgw.jobNme'"),
            "{all}"
        );
        assert!(
            all.contains("credentials are not accepted in the configuration"),
            "{all}"
        );
        assert!(!all.contains("hunter2"), "a secret is never echoed: {all}");
        let e = parse("x", &[("factory.class", "graphite")]).unwrap_err();
        assert!(e[0].contains("'graphite' is not valid"), "{e:?}");
        let e = parse(
            "i",
            &[
                ("factory.class", "influxdb"),
                ("host", "h"),
                ("org", "o"),
                ("bucket", "b"),
                ("token-env", "TIDEMARK_TEST_UNSET_VAR"),
            ],
        )
        .unwrap_err();
        assert!(
            e.join(" ")
                .contains("environment variable 'TIDEMARK_TEST_UNSET_VAR' is not set"),
            "{e:?}"
        );
    }
}
