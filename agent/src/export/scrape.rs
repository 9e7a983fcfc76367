//! The pull exporter: `GET /metrics` (Prometheus text 0.0.4, or OpenMetrics
//! 1.0 when the `Accept` header asks for it; gzip when accepted; families
//! filtered by `?include=` and `?exclude=`) and `GET /healthz`, served by the
//! shared HTTP server on its own thread.

use crate::encode::{filter, openmetrics, prometheus};
use crate::export::delivery::{now_ms, ExporterMetrics};
use crate::http::{bind_first, response, HttpRequest, HttpServer};
use crate::registry::{ConsumerId, Registry};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use crate::http::parse_ports;

/// Why the scrape server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The port setting is not a port, a range `a-b` or a list `a,b`.
    #[error("metrics.reporter.{reporter}.port: '{value}' is not a port, a range like 9249-9259 or a list like 9249,9250")]
    BadPortSpec {
        /// Reporter name in the config (`prom` by default).
        reporter: String,
        /// The offending value.
        value: String,
    },
    /// Every candidate port was taken.
    #[error("metrics.reporter.{reporter}.port: no free port in '{value}' on {host} (last error: {last})")]
    NoFreePort {
        /// Reporter name.
        reporter: String,
        /// The port setting.
        value: String,
        /// Bind host.
        host: IpAddr,
        /// The last bind error.
        last: String,
    },
    /// The server thread could not be created.
    #[error("could not start the metrics server: {0}")]
    Io(#[from] std::io::Error),
}

/// A running scrape server. Dropping it stops the server.
#[derive(Debug)]
pub struct ScrapeServer(HttpServer);

impl ScrapeServer {
    /// Binds the first free port of `ports` on `host` and serves `registry`.
    pub fn start(
        registry: Registry,
        reporter: &str,
        host: IpAddr,
        ports: &str,
    ) -> Result<Self, ScrapeError> {
        let candidates = parse_ports(ports).ok_or_else(|| ScrapeError::BadPortSpec {
            reporter: reporter.to_string(),
            value: ports.to_string(),
        })?;
        let listener = bind_first(host, &candidates).map_err(|last| ScrapeError::NoFreePort {
            reporter: reporter.to_string(),
            value: ports.to_string(),
            host,
            last,
        })?;
        let metrics = ExporterMetrics::new(&registry, reporter, "prometheus");
        let consumer = registry.register_consumer();
        let handler = Arc::new(move |req: HttpRequest| respond(&registry, consumer, &metrics, req));
        Ok(Self(HttpServer::start(
            listener,
            "metrics-scrape",
            handler,
        )?))
    }

    /// The bound address (useful when a range or port 0 was given).
    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }
}

/// Decodes `%XX` escapes of a query value.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&v[i + 1..i + 3], 16) {
                Ok(x) => {
                    out.push(x);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query parameter's decoded value.
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    e.write_all(body).ok()?;
    e.finish().ok()
}

fn respond(
    registry: &Registry,
    consumer: ConsumerId,
    metrics: &ExporterMetrics,
    req: HttpRequest,
) -> Response<Full<Bytes>> {
    let header = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (status, ctype, body) = match req.path.as_str() {
        "/metrics" => {
            metrics.sent.add(1);
            metrics.last_success_ms.set(now_ms());
            let q = req.query.as_deref();
            let fams = filter(
                registry.snapshot_for(consumer),
                query_param(q, "include").as_deref(),
                query_param(q, "exclude").as_deref(),
            );
            if header("accept").contains("application/openmetrics-text") {
                (200, openmetrics::CONTENT_TYPE, openmetrics::encode(&fams))
            } else {
                (200, prometheus::CONTENT_TYPE, prometheus::encode(&fams))
            }
        }
        "/healthz" => (200, "text/plain", "ok\n".to_string()),
        _ => (
            404,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
    };
    let bytes = body.into_bytes();
    if header("accept-encoding").contains("gzip") {
        if let Some(z) = gzip(&bytes) {
            let mut r = response(status, ctype, z);
            r.headers_mut().insert(
                "content-encoding",
                hyper::header::HeaderValue::from_static("gzip"),
            );
            return r;
        }
    }
    response(status, ctype, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::TASK_RECORDS_IN;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
        get_with(addr, path, "")
    }

    fn get_with(addr: SocketAddr, path: &str, headers: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn port_specs() {
        assert_eq!(parse_ports("9249"), Some(vec![9249]));
        assert_eq!(parse_ports("9249-9251"), Some(vec![9249, 9250, 9251]));
        assert_eq!(parse_ports("1,3-4"), Some(vec![1, 3, 4]));
        assert_eq!(parse_ports("9251-9249"), None);
        assert_eq!(parse_ports("http"), None);
    }

    #[test]
    fn serves_metrics_and_skips_taken_ports() {
        let r = Registry::new();
        r.counter(&TASK_RECORDS_IN, &["j", "i", "v", "0"])
            .unwrap()
            .add(42);
        let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = blocker.local_addr().unwrap().port();
        let server = ScrapeServer::start(
            r,
            "prom",
            "127.0.0.1".parse().unwrap(),
            &format!("{taken},0"),
        )
        .unwrap();
        assert_ne!(server.addr().port(), taken);
        let body = get(server.addr(), "/metrics");
        assert!(body.contains("200 OK"), "{body}");
        assert!(body.contains("tidemark_task_records_in_total{job_name=\"j\",job_id=\"i\",vertex=\"v\",subtask=\"0\"} 42"));
        assert!(get(server.addr(), "/healthz").contains("ok"));
        let om = get_with(
            server.addr(),
            "/metrics",
            "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
        );
        assert!(
            om.contains("application/openmetrics-text; version=1.0.0"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"), "{om}");
        let only = get(
            server.addr(),
            "/metrics?include=tidemark_metrics_*&exclude=%2A_dropped_total",
        );
        assert!(
            only.contains("tidemark_metrics_series ") && !only.contains("records_in"),
            "{only}"
        );
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(String::from_utf8_lossy(&raw[..split]).contains("content-encoding: gzip"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[split..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.contains("tidemark_task_records_in_total"), "{text}");
        assert!(get(server.addr(), "/nope").contains("404"));
    }

    #[test]
    fn bad_spec_names_the_key() {
        let e = ScrapeServer::start(Registry::new(), "prom", "127.0.0.1".parse().unwrap(), "x")
            .unwrap_err();
        assert!(e.to_string().contains("metrics.reporter.prom.port"), "{e}");
    }
}
