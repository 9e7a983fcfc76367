//! Helpers for the integration tests: find the `tidemark` binary, run it, wait
//! for conditions with a deadline (never a bare sleep), kill it hard.

pub mod dashboard_check;
pub mod doctor;
pub mod flink;
pub mod paging;
pub mod promql_check;
pub mod servers;
pub mod stream_jobs;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A binary of the workspace built beside this test binary (same profile):
/// `tidemark`, or an example's (`orders`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    let b = dir.join(name);
    assert!(
        b.exists(),
        "{} is missing: build it first with `cargo build --release --bins` (scripts/test.sh does)",
        b.display()
    );
    b
}

/// The `tidemark` binary built beside this test binary (same profile).
pub fn bin() -> PathBuf {
    workspace_bin("tidemark")
}

/// Polls `cond` every 20 ms until it returns `Some`, or panics after `timeout`
/// saying what was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, cond: impl FnMut() -> Option<T>) -> T {
    wait_for_or(what, timeout, cond, String::new)
}

/// As [`wait_for`], adding `explain()` (server state, logs) to the panic.
pub fn wait_for_or<T>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> Option<T>,
    explain: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                explain()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A random number in `[0, n)` (different in every call and run).
pub fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % n.max(1)
}

/// A running `tidemark` process whose stderr is collected.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Everything it wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Starts `tidemark <args>` in `cwd`.
    pub fn start(cwd: &Path, args: &[&str]) -> Self {
        Self::start_with_env(cwd, args, &[])
    }

    /// Starts `tidemark <args>` in `cwd` with extra environment variables.
    pub fn start_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.args(args).envs(env.iter().copied()).current_dir(cwd);
        Self::spawn(cmd)
    }

    /// Starts `cmd` (which runs tidemark, e.g. through a script) and collects
    /// its stderr (at `RUST_LOG=info` unless `cmd` sets it).
    pub fn spawn(mut cmd: Command) -> Self {
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tidemark");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self { child, stderr }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> String {
        wait_for(&format!("'{needle}' on stderr"), timeout, || {
            let s = self.stderr();
            s.contains(needle).then_some(s)
        })
    }

    /// The `host:port` of the job's `/metrics`, once it has printed it.
    pub fn metrics_addr(&self) -> String {
        let err = self.wait_stderr("metrics: http://", Duration::from_secs(30));
        err.split("metrics: http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .expect("the job prints its metrics address")
            .to_string()
    }

    /// The job's REST URL (`http://host:port/jobs/<id>`), once it has printed it.
    pub fn rest_url(&self) -> String {
        let err = self.wait_stderr("rest: http://", Duration::from_secs(30));
        err.split("rest: ")
            .nth(1)
            .and_then(|s| s.lines().next())
            .expect("the job prints its REST URL")
            .to_string()
    }

    /// Sends `sig` (e.g. "-INT", "-TERM") to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {}", self.child.id());
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit (with a deadline) and returns (code, stderr).
    pub fn wait(mut self, timeout: Duration) -> (i32, String) {
        let status = wait_for("tidemark to exit", timeout, || {
            self.child.try_wait().ok().flatten()
        });
        // Give the reader thread the last lines: it ends when the pipe closes.
        let s = wait_for("stderr to close", Duration::from_secs(10), || {
            (Arc::strong_count(&self.stderr) == 1).then(|| self.stderr())
        });
        (status.code().unwrap_or(-1), s)
    }
}

/// Runs `tidemark <args>` to completion and returns (exit code, stderr).
pub fn run(cwd: &Path, args: &[&str]) -> (i32, String) {
    Running::start(cwd, args).wait(Duration::from_secs(120))
}

/// `examples/<name>`'s path.
pub fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// Runs `tidemark <args>` in `cwd` to completion and returns (exit code,
/// standard output).
pub fn run_stdout(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write test file");
    p.to_string_lossy().into_owned()
}

/// The id of a `chk-<id>` folder.
pub fn chk_id(p: &Path) -> Option<u64> {
    p.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok()
}

/// The highest id of a completed checkpoint under `ck` (0 before the
/// first): a count would not do, retention keeps it flat.
pub fn newest_completed(ck: &Path) -> u64 {
    completed_checkpoints(ck)
        .iter()
        .filter_map(|p| chk_id(p))
        .max()
        .unwrap_or(0)
}

/// Every `chk-<n>` directory of every job folder under `ck`, sorted.
pub fn checkpoint_dirs(ck: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(ck)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|job| {
            std::fs::read_dir(job.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|chk| chk.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("chk-"))
        })
        .collect();
    out.sort();
    out
}

/// Every completed checkpoint directory (holding `_metadata`) under `ck`.
pub fn completed_checkpoints(ck: &Path) -> Vec<PathBuf> {
    checkpoint_dirs(ck)
        .into_iter()
        .filter(|p| p.join("_metadata").exists())
        .collect()
}

/// Checkpoint directories that exist but have no `_metadata` yet (being written).
pub fn in_progress_checkpoints(ck: &Path) -> usize {
    checkpoint_dirs(ck)
        .iter()
        .filter(|p| !p.join("_metadata").exists())
        .count()
}

/// Every committed line of the file sink's part files under `dir` (dot-files,
/// i.e. uncommitted in-progress files, are what a reader must ignore).
pub fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("part-") {
            let mut s = String::new();
            std::fs::File::open(e.path())
                .and_then(|mut f| f.read_to_string(&mut s))
                .expect("read part file");
            lines.extend(s.lines().map(str::to_string));
        }
    }
    lines
}

/// A snapshot of every file under `dir`: path → bytes.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// GETs `url` (asserting 200) and parses the JSON body.
pub fn get_json(url: &str) -> serde_json::Value {
    let (code, body) = servers::curl(&[url]);
    assert_eq!(code, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// Writes `yaml` as `<name>.yaml` in `d`, starts `tidemark run` on it with
/// `env`, and returns the process with its REST job URL.
pub fn start_job(d: &Path, name: &str, yaml: &str, env: &[(&str, &str)]) -> (Running, String) {
    let job = write_file(d, &format!("{name}.yaml"), yaml);
    let r = Running::start_with_env(d, &["run", &job, "--status-interval", "0"], env);
    let url = r.rest_url();
    (r, url)
}

/// The completed checkpoints in the REST history (sorted by id), once `n`
/// have completed after the first (which may start before queues fill).
pub fn rest_completed(r: &Running, url: &str, n: usize) -> Vec<serde_json::Value> {
    wait_for_or(
        &format!("{n} completed checkpoints"),
        Duration::from_secs(90),
        || {
            let doc = get_json(&format!("{url}/checkpoints"));
            let mut done: Vec<serde_json::Value> = doc["history"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["status"] == "COMPLETED" && c["id"].as_u64() > Some(1))
                .cloned()
                .collect();
            done.sort_by_key(|c| c["id"].as_u64());
            (done.len() >= n).then_some(done)
        },
        || r.stderr(),
    )
}

/// Sum and count of histogram `metric` in a scrape of `addr`, over the
/// series whose labels contain `label` (`""` for all of them).
pub fn histogram_sum_count(addr: &str, metric: &str, label: &str) -> (f64, f64) {
    let (_, body) = servers::curl(&[&format!("http://{addr}/metrics")]);
    let pick = |suffix: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(&format!("{metric}{suffix}{{")) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (pick("_sum"), pick("_count"))
}

/// The datagen generator of `keys` keys in `distribution` from `seed`, as
/// the job files of the tests configure it (unpaced, unbounded, the default
/// event time): the oracle of what a job reads.
pub fn generator(
    keys: u64,
    distribution: tidemark::source::datagen::KeyDistribution,
    seed: u64,
) -> tidemark::source::datagen::DatagenConfig {
    tidemark::source::datagen::DatagenConfig {
        keys,
        distribution,
        rate: 0,
        events: None,
        seed,
        event_time_start_ms: 0,
        event_time_rate: 1000,
        out_of_orderness_ms: 0,
        warmup: 0,
    }
}

/// The keyed-count generator's first `events` records (uniform keys, as the
/// job files of the tests configure it): how often each key occurs. This is
/// the oracle of the output tests: every key's running counts must be exactly
/// 1..=n, with n from here, not from the output under test.
pub fn generated_key_counts(
    keys: u64,
    events: u64,
    seed: u64,
) -> std::collections::BTreeMap<u64, u64> {
    let gen = generator(
        keys,
        tidemark::source::datagen::KeyDistribution::Uniform,
        seed,
    );
    let mut n = std::collections::BTreeMap::new();
    for i in 0..events {
        *n.entry(gen.record(i, None).key).or_default() += 1;
    }
    n
}

/// Checks `key,count` output lines against [`generated_key_counts`]: each
/// (key, count) with count in 1..=n(key) exactly once, and nothing else.
pub fn assert_counts_match_generator(lines: &[String], keys: u64, events: u64, seed: u64) {
    let want = generated_key_counts(keys, events, seed);
    assert_eq!(want.values().sum::<u64>(), events);
    assert_running_counts(lines, &want.into_iter().collect());
}

/// `(key, count)` of a `key,count` line.
fn key_count(l: &str) -> (u64, u64) {
    let (k, c) = l
        .split_once(',')
        .unwrap_or_else(|| panic!("not key,count: {l:?}"));
    (k.parse().unwrap(), c.parse().unwrap())
}

/// `lines` (`key,count`) are every running count of every key exactly
/// once: for each key of `want`, the counts 1 to its number of records, no
/// count repeated, none it never reached.
pub fn assert_running_counts(lines: &[String], want: &std::collections::HashMap<u64, u64>) {
    let mut seen: std::collections::HashMap<(u64, u64), u32> = std::collections::HashMap::new();
    for l in lines {
        *seen.entry(key_count(l)).or_default() += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, v)| **v > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicated (key, count): {dupes:?}");
    assert_running_counts_at_least_once(lines, want);
    assert_eq!(
        lines.len() as u64,
        want.values().sum::<u64>(),
        "one line per input record"
    );
}

/// `lines` (`key,count`) hold every running count of every key of `want`
/// at least once, and no count the input never produced: what an
/// at-least-once sink promises (duplicates allowed, nothing lost).
pub fn assert_running_counts_at_least_once(
    lines: &[String],
    want: &std::collections::HashMap<u64, u64>,
) {
    let seen: std::collections::HashSet<(u64, u64)> = lines.iter().map(|l| key_count(l)).collect();
    for (k, n) in want {
        for c in 1..=*n {
            assert!(
                seen.contains(&(*k, c)),
                "lost: key {k} count {c} (the input gives it {n} records)"
            );
        }
    }
    let extra: Vec<_> = seen
        .iter()
        .filter(|(k, c)| want.get(k).is_none_or(|n| c > n || *c == 0))
        .take(5)
        .collect();
    assert!(
        extra.is_empty(),
        "counts the input never produced: {extra:?}"
    );
}

/// `promtool check metrics` over `body`, Prometheus' own reading and lint of
/// an exposition: its exit code and findings.
pub fn promtool_check_metrics(body: &str) -> (i32, String) {
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/install-test-deps.sh)");
    c.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks that an in-process job finished after exactly one restart, caused
/// by the test's injected failure, and that the restart restored a checkpoint.
pub fn assert_one_injected_restart(outcome: tidemark::prelude::Outcome) {
    let tidemark::prelude::Outcome::Finished {
        restarts, restores, ..
    } = outcome
    else {
        panic!("the job did not finish: {outcome:?}")
    };
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(restarts[0].contains("injected failure"), "{restarts:?}");
    assert_eq!(restores, 1, "the restart restored a checkpoint");
}

/// The job's `/metrics` at `addr` (Prometheus text).
pub fn scrape(addr: &str) -> String {
    let (code, body) = servers::curl(&[&format!("http://{addr}/metrics")]);
    assert_eq!(code, 200, "{body}");
    body
}

/// Sum of the series of `family` in `body` whose labels contain every one
/// of `labels` (`partition="x"`).
pub fn metric_sum(body: &str, family: &str, labels: &[&str]) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
