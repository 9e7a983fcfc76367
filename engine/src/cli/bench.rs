//! `tidemark bench`: runs named workloads for a fixed number of events and
//! prints one row per run (and the median of each workload's runs), as a
//! table and as JSON lines.
//!
//! Each run is a separate `tidemark run` process, so CPU time and peak RSS are
//! that run's alone; the row is built from the `summary:` line the run prints.

use super::EXIT_USAGE;
use std::path::Path;
use std::process::Command;

/// Every workload `tidemark bench` knows.
pub const WORKLOADS: &[&str] = &[
    "keyed-count",
    "nexmark-q0",
    "nexmark-q1",
    "nexmark-q2",
    "nexmark-q3",
    "nexmark-q4",
    "nexmark-q5",
    "nexmark-q7",
    "nexmark-q8",
];

/// `tidemark bench` arguments.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (default: all): keyed-count, nexmark-q0 … nexmark-q8.
    pub workloads: Vec<String>,
    /// Events per run.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// State backend: heap or rocksdb.
    #[arg(long, default_value = "heap")]
    pub backend: String,
    /// Parallelism of every operator.
    #[arg(long, default_value_t = 1)]
    pub parallelism: u32,
    /// Runs per workload (the median row follows them).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Keys of keyed-count.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Checkpoint interval (e.g. 1s); none by default.
    #[arg(long)]
    pub checkpoint_interval: Option<String>,
    /// Incremental checkpoints (RocksDB).
    #[arg(long)]
    pub incremental: bool,
    /// Pace the whole job to this many events per second (0: as fast as it
    /// goes). A paced run lasts at least events / rate seconds on any
    /// machine, which is how a smoke run stays long enough to measure.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Extra job configuration, KEY=VALUE (repeatable), e.g. metrics.latency.interval=0.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also append the JSON lines to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Row {
    workload: String,
    backend: String,
    parallelism: u32,
    events: u64,
    elapsed_s: f64,
    cpu_s: f64,
    peak_rss_bytes: f64,
    /// Checkpoints the run completed: equal work against another engine
    /// means as many checkpoints, not only as many events.
    checkpoints: f64,
    run: String,
}

impl Row {
    /// Why this run's figures cannot be trusted, if they cannot.
    fn unmeasurable(&self) -> Option<String> {
        let (e, c) = (self.elapsed_s, self.cpu_s);
        if !(e.is_finite() && c.is_finite() && c > 0.0) {
            return Some(format!(
                "the run's summary has no usable elapsed or CPU time (elapsed_s={e}, cpu_s={c})"
            ));
        }
        if e < MIN_RUN_S {
            // Aim for ten times the minimum at the speed just seen.
            let enough = (self.events as f64 * 10.0 * MIN_RUN_S / e.max(1e-6)).ceil() as u64;
            return Some(format!(
                "{} events ran for {:.1} ms, too short to measure (at least {:.0} ms): \
                 raise --events (about {enough} at this speed) or pace the run with --rate",
                self.events,
                e * 1e3,
                MIN_RUN_S * 1e3
            ));
        }
        None
    }
    fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed_s
    }
    fn cores(&self) -> f64 {
        self.cpu_s / self.elapsed_s
    }
    fn events_per_core_s(&self) -> f64 {
        self.events as f64 / self.cpu_s
    }
    fn table(&self) -> String {
        format!(
            "{:<12} {:<7} {:>2} {:>11} {:>6} {:>9.3} {:>12.0} {:>5.2} {:>12.0} {:>8.1} {:>5}",
            self.workload,
            self.backend,
            self.parallelism,
            self.events,
            self.run,
            self.elapsed_s,
            self.events_per_s(),
            self.cores(),
            self.events_per_core_s(),
            self.peak_rss_bytes / (1 << 20) as f64,
            self.checkpoints
        )
    }
    fn json(&self) -> String {
        serde_json::json!({
            "workload": self.workload, "backend": self.backend, "parallelism": self.parallelism,
            "events": self.events, "run": self.run, "elapsed_s": self.elapsed_s, "cpu_s": self.cpu_s,
            "events_per_s": self.events_per_s(), "cores": self.cores(),
            "events_per_core_s": self.events_per_core_s(), "peak_rss_mib": self.peak_rss_bytes / (1 << 20) as f64,
            "checkpoints": self.checkpoints,
        })
        .to_string()
    }
}

/// The shortest run whose figures mean something: below it, start-up
/// (building the graph, opening state, starting reporters) weighs in the
/// figures, and the run is reported as too short instead of measured.
const MIN_RUN_S: f64 = 0.2;

const HEADER: &str =
    "workload     backend  P      events    run   elapsed     events/s cores   ev/core-s  RSS MiB ckpts";

/// The job file of one run.
fn job_yaml(a: &BenchArgs, workload: &str, dir: &Path) -> String {
    let params = match workload.strip_prefix("nexmark-") {
        Some(q) => format!(
            "pipeline: nexmark\nparams:\n  query: {q}\n  events: {}\n  rate: {}\n",
            a.events, a.rate
        ),
        None => format!(
            "pipeline: keyed-count\nparams:\n  keys: {}\n  events: {}\n  rate: {}\n",
            a.keys, a.events, a.rate
        ),
    };
    let mut cfg = format!(
        "  parallelism.default: {}\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n",
        a.parallelism
    );
    if a.backend == "rocksdb" {
        cfg.push_str(&format!(
            "  state.backend.type: rocksdb\n  state.backend.rocksdb.localdir: {}\n",
            dir.join("rocksdb").display()
        ));
    }
    if let Some(i) = &a.checkpoint_interval {
        cfg.push_str(&format!(
            "  execution.checkpointing.interval: {i}\n  execution.checkpointing.dir: {}\n  execution.checkpointing.incremental: {}\n",
            dir.join("ck").display(),
            a.incremental
        ));
    }
    format!("name: bench-{workload}\n{params}config:\n{cfg}")
}

/// Runs one workload once; `None` (with the reason printed) if it failed or
/// was too short to measure.
fn run_once(a: &BenchArgs, workload: &str, run: u32) -> Option<Row> {
    let dir = std::env::temp_dir().join(format!(
        "tidemark-bench-{}-{workload}-{run}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let job = dir.join("job.yaml");
    std::fs::write(&job, job_yaml(a, workload, &dir)).ok()?;
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("run").arg(&job).args(["--status-interval", "0"]);
    for s in &a.set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output();
    // The run's checkpoints and RocksDB files are not needed afterwards.
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Some(line) = stderr.lines().find(|l| l.starts_with("summary:")) else {
        eprintln!(
            "{workload}: the run printed no summary (exit {}):\n{stderr}",
            out.status
        );
        return None;
    };
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let row = Row {
        workload: workload.to_string(),
        backend: a.backend.clone(),
        parallelism: a.parallelism,
        events: field("records") as u64,
        elapsed_s: field("elapsed_s"),
        cpu_s: field("cpu_s"),
        peak_rss_bytes: field("peak_rss_bytes"),
        checkpoints: field("checkpoints"),
        run: run.to_string(),
    };
    match row.unmeasurable() {
        Some(why) => {
            eprintln!("error: {workload} run {run}: {why}");
            None
        }
        None => Some(row),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of each figure over `rows` (one workload).
fn median_row(rows: &[Row]) -> Row {
    let m = |f: fn(&Row) -> f64| median(rows.iter().map(f).collect());
    Row {
        run: "median".into(),
        elapsed_s: m(|r| r.elapsed_s),
        cpu_s: m(|r| r.cpu_s),
        peak_rss_bytes: m(|r| r.peak_rss_bytes),
        checkpoints: m(|r| r.checkpoints),
        ..rows[0].clone()
    }
}

/// Runs `tidemark bench`; returns the exit code.
pub fn run(a: &BenchArgs) -> i32 {
    let workloads: Vec<String> = if a.workloads.is_empty() {
        WORKLOADS.iter().map(|w| w.to_string()).collect()
    } else {
        a.workloads.clone()
    };
    if let Some(w) = workloads.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
        eprintln!(
            "error: unknown workload {w:?}: expected one of {}",
            WORKLOADS.join(", ")
        );
        return EXIT_USAGE;
    }
    if !["heap", "rocksdb"].contains(&a.backend.as_str()) {
        eprintln!("error: --backend {:?}: expected heap or rocksdb", a.backend);
        return EXIT_USAGE;
    }
    println!("{HEADER}");
    let mut json = Vec::new();
    let mut failed = false;
    for w in &workloads {
        let mut rows = Vec::new();
        for i in 1..=a.runs.max(1) {
            match run_once(a, w, i) {
                Some(r) => {
                    println!("{}", r.table());
                    json.push(r.json());
                    rows.push(r);
                }
                None => failed = true,
            }
        }
        if rows.len() > 1 {
            let m = median_row(&rows);
            println!("{}", m.table());
            json.push(m.json());
        }
    }
    println!("# JSON lines");
    for j in &json {
        println!("{j}");
    }
    if let Some(path) = &a.json {
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| json.iter().try_for_each(|j| writeln!(f, "{j}")));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    i32::from(failed)
}
