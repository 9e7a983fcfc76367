//! A small hyper HTTP/1.1 server on a thread of its own, shared by the scrape
//! endpoint and the REST API: a slow client never touches a task thread.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// A request as handlers see it (body read, up to 1 MiB).
#[derive(Debug)]
pub struct HttpRequest {
    /// Method.
    pub method: hyper::Method,
    /// Path without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: hyper::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// What a handler returns.
pub type Handler = Arc<dyn Fn(HttpRequest) -> Response<Full<Bytes>> + Send + Sync>;

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

/// Binds the first free port of `spec` on `host`; `Err` holds the last bind error.
pub fn bind_first(host: IpAddr, spec: &[u16]) -> Result<TcpListener, String> {
    let mut last = String::from("no candidate ports");
    for p in spec {
        match TcpListener::bind((host, *p)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `handler` on `listener` from a thread named `name`.
    pub fn start(listener: TcpListener, name: &str, handler: Handler) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    loop {
                        tokio::select! {
                            _ = &mut stop_rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let handler = handler.clone();
                                tokio::spawn(async move {
                                    let svc = service_fn(move |req: Request<Incoming>| {
                                        let handler = handler.clone();
                                        async move {
                                            let (parts, body) = req.into_parts();
                                            let body = http_body_util::Limited::new(body, 1 << 20)
                                                .collect()
                                                .await
                                                .map(|c| c.to_bytes())
                                                .unwrap_or_default();
                                            let r = HttpRequest {
                                                method: parts.method,
                                                path: parts.uri.path().to_string(),
                                                query: parts.uri.query().map(str::to_string),
                                                headers: parts.headers,
                                                body,
                                            };
                                            // On the blocking pool: a handler may take its
                                            // time (a flame graph samples for seconds) and
                                            // must not hold up the other requests.
                                            let answer = tokio::task::spawn_blocking(move || handler(r))
                                                .await
                                                .unwrap_or_else(|_| {
                                                    let mut r = Response::new(Full::new(Bytes::from_static(b"the handler panicked")));
                                                    *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                                                    r
                                                });
                                            Ok::<_, std::convert::Infallible>(answer)
                                        }
                                    });
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("http server thread exited"))??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A response with a status, content type and body.
pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}
