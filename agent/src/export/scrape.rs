//! The pull exporter: an HTTP server answering `GET /metrics` (Prometheus text)
//! and `GET /healthz`, on its own thread so a slow scraper never touches a task.

use crate::encode::{filter, openmetrics, prometheus};
use crate::registry::{ConsumerId, Registry};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;

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
    /// The runtime thread could not be created.
    #[error("could not start the metrics server: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses Flink's port syntax: `9249`, `9249-9259`, `9249,9250,9300-9310`.
pub fn parse_ports(spec: &str) -> Option<Vec<u16>> {
    let mut ports = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            if a > b {
                return None;
            }
            ports.extend(a..=b);
        } else {
            ports.push(part.parse().ok()?);
        }
    }
    (!ports.is_empty()).then_some(ports)
}

/// A running scrape server. Dropping it stops the server.
#[derive(Debug)]
pub struct ScrapeServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

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
        let mut last = String::from("no candidates");
        let mut listener = None;
        for p in candidates {
            match TcpListener::bind((host, p)) {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let listener = listener.ok_or_else(|| ScrapeError::NoFreePort {
            reporter: reporter.to_string(),
            value: ports.to_string(),
            host,
            last,
        })?;
        listener.set_nonblocking(true)?;
        let metrics =
            crate::export::delivery::ExporterMetrics::new(&registry, reporter, "prometheus");
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("metrics-scrape".into())
            .spawn(move || {
                let consumer = registry.register_consumer();
                serve(listener, registry, consumer, metrics, stop_rx, ready_tx)
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("metrics server thread exited"))??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address (useful when a range or port 0 was given).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ScrapeServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    registry: Registry,
    consumer: ConsumerId,
    metrics: crate::export::delivery::ExporterMetrics,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    ready: mpsc::Sender<std::io::Result<()>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let registry = registry.clone();
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let registry = registry.clone();
                            let metrics = metrics.clone();
                            async move { Ok::<_, std::convert::Infallible>(respond(&registry, consumer, &metrics, req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        }
    });
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

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
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
    metrics: &crate::export::delivery::ExporterMetrics,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let mut builder = Response::builder();
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => {
            metrics.sent.add(1);
            metrics
                .last_success_ms
                .set(crate::export::delivery::now_ms());
            let q = req.uri().query();
            let fams = filter(
                registry.snapshot_for(consumer),
                query_param(q, "include").as_deref(),
                query_param(q, "exclude").as_deref(),
            );
            if header("accept").contains("application/openmetrics-text") {
                (
                    StatusCode::OK,
                    openmetrics::CONTENT_TYPE,
                    openmetrics::encode(&fams),
                )
            } else {
                (
                    StatusCode::OK,
                    prometheus::CONTENT_TYPE,
                    prometheus::encode(&fams),
                )
            }
        }
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
    };
    let mut bytes = body.into_bytes();
    if header("accept-encoding").contains("gzip") {
        if let Some(z) = gzip(&bytes) {
            bytes = z;
            builder = builder.header("content-encoding", "gzip");
        }
    }
    builder
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(bytes)))
        .expect("static response parts are valid")
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
        let blocker = TcpListener::bind("127.0.0.1:0").unwrap();
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
