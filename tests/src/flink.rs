//! A real Apache Flink standalone cluster for the tests: a JobManager and a
//! TaskManager, each its own JVM in the foreground, from the `bin/` of the
//! `apache-flink` package `scripts/install-flink.sh` installs, with a
//! configuration of their own (free ports, loopback only) in a scratch
//! directory; and DataStream jobs compiled with `javac` against the
//! package's jars and submitted with `flink run`, as a user does.

use crate::servers::{curl, free_port};
use crate::wait_for_or;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The installed package's directory (`FLINK_HOME`): `bin/`, `lib/`, `conf/`.
pub fn flink_home() -> PathBuf {
    let venv = std::env::var("FLINK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tidemark-flink-venv")
        });
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import os, pyflink; print(os.path.dirname(pyflink.__file__))",
        ])
        .output()
        .expect("the Flink venv (scripts/install-flink.sh; scripts/test.sh runs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A running cluster; stopped (both JVMs killed) when dropped.
pub struct FlinkCluster {
    /// `http://127.0.0.1:<rest port>`.
    pub rest: String,
    home: PathBuf,
    dir: tempfile::TempDir,
    jobmanager: Child,
    taskmanager: Child,
}

impl Drop for FlinkCluster {
    fn drop(&mut self) {
        for c in [&mut self.taskmanager, &mut self.jobmanager] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl FlinkCluster {
    /// Starts a JobManager and a TaskManager with `slots` slots; returns
    /// once the TaskManager has registered (`/overview` counts it).
    pub fn start(slots: u32) -> Self {
        let home = flink_home();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        for f in [
            "log4j-console.properties",
            "log4j-cli.properties",
            "logback-console.xml",
        ] {
            let _ = std::fs::copy(home.join("conf").join(f), conf.join(f));
        }
        // The package's own config carries the `--add-opens` Java 17 needs:
        // keep that line, set the rest flat.
        let original = std::fs::read_to_string(home.join("conf/config.yaml")).unwrap();
        let java_opts = original
            .lines()
            .find_map(|l| l.trim().strip_prefix("all: "))
            .expect("env.java.opts.all in the package's config.yaml");
        let rest_port = free_port();
        let config = format!(
            "env.java.opts.all: {java_opts}
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: {}
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.rpc.port: {}
taskmanager.data.port: {}
taskmanager.numberOfTaskSlots: {slots}
taskmanager.memory.process.size: 1280m
blob.server.port: {}
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: {rest_port}
parallelism.default: 1
metrics.fetcher.update-interval: 1000
heartbeat.interval: 2000
heartbeat.timeout: 15000
",
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        std::fs::write(conf.join("config.yaml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        let jobmanager = spawn(&home, dir.path(), "jobmanager");
        let taskmanager = spawn(&home, dir.path(), "taskmanager");
        let me = Self {
            rest: format!("http://127.0.0.1:{rest_port}"),
            home,
            dir,
            jobmanager,
            taskmanager,
        };
        me.wait_taskmanager();
        me
    }

    fn wait_taskmanager(&self) {
        wait_for_or(
            "the Flink cluster with its TaskManager registered",
            Duration::from_secs(120),
            || {
                let (code, body) = curl(&[&format!("{}/overview", self.rest)]);
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                (code == 200 && v["taskmanagers"].as_u64() >= Some(1)).then_some(())
            },
            || self.logs(),
        );
    }

    /// Kills the JobManager (its REST API goes with it).
    pub fn stop_jobmanager(&mut self) {
        let _ = self.jobmanager.kill();
        let _ = self.jobmanager.wait();
    }

    /// Starts the JobManager again, on the same ports; returns once the
    /// TaskManager has registered with it. A standalone cluster without high
    /// availability forgets its jobs: they are submitted again.
    pub fn start_jobmanager(&mut self) {
        self.jobmanager = spawn(&self.home, self.dir.path(), "jobmanager");
        self.wait_taskmanager();
    }

    /// Cancels job `id` through the REST API and waits until it is CANCELED.
    pub fn cancel(&self, id: &str) {
        let url = format!("{}/jobs/{id}?mode=cancel", self.rest);
        let (code, body) = curl(&["-X", "PATCH", &url]);
        assert_eq!(code, 202, "{url}: {body}");
        wait_for_or(
            &format!("job {id} canceled"),
            Duration::from_secs(60),
            || {
                let (_, body) = curl(&[&format!("{}/jobs/{id}", self.rest)]);
                let v: Value = serde_json::from_str(&body).ok()?;
                (v["state"] == "CANCELED").then_some(())
            },
            || self.logs(),
        );
    }

    /// Both processes' console output so far (for a failing test's message).
    pub fn logs(&self) -> String {
        let log = self.dir.path().join("log");
        ["jobmanager", "taskmanager"]
            .iter()
            .map(|s| {
                let text =
                    std::fs::read_to_string(log.join(format!("{s}.out"))).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- {s} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Compiles `java` (one class with a `main`) against the package's jars
    /// into a jar in the cluster's scratch directory.
    pub fn compile(&self, java: &Path) -> PathBuf {
        let classes = self.dir.path().join("classes");
        std::fs::create_dir_all(&classes).unwrap();
        let cp = format!("{}/lib/*", self.home.display());
        let out = Command::new("javac")
            .args(["-cp", &cp, "-d"])
            .arg(&classes)
            .arg(java)
            .output()
            .expect("javac (a JDK: scripts/install-flink.sh installs one)");
        assert!(
            out.status.success(),
            "javac: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jar = self.dir.path().join("job.jar");
        let out = Command::new("jar")
            .arg("cf")
            .arg(&jar)
            .args(["-C"])
            .arg(&classes)
            .arg(".")
            .output()
            .expect("jar");
        assert!(
            out.status.success(),
            "jar: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        jar
    }

    /// `flink run -d OPTIONS… -c CLASS JAR ARGS…` against this cluster
    /// (`options` as `["-p", "2"]`); the job id it printed, once the job is
    /// RUNNING with every task running.
    pub fn submit(&self, options: &[&str], jar: &Path, class: &str, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(self.home.join("bin/flink"))
            .args(["run", "-d"])
            .args(options)
            .args(["-c", class])
            .arg(jar)
            .args(args)
            .env("FLINK_CONF_DIR", self.dir.path().join("conf"))
            .env("FLINK_LOG_DIR", self.dir.path().join("log"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "flink run: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = text
            .split("JobID ")
            .nth(1)
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no JobID in: {text}"));
        wait_for_or(
            &format!("job {id} running with every task running"),
            Duration::from_secs(60),
            || {
                let (_, body) = curl(&[&format!("{}/jobs/{id}", self.rest)]);
                let v: Value = serde_json::from_str(&body).ok()?;
                let all_running = v["vertices"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().all(|x| x["status"] == "RUNNING"));
                (v["state"] == "RUNNING" && all_running).then_some(())
            },
            || self.logs(),
        );
        id
    }
}

/// `bin/SCRIPT.sh start-foreground` of the package in `home`, with the
/// cluster's configuration in `dir/conf`, its output appended to
/// `dir/log/SCRIPT.out`.
fn spawn(home: &Path, dir: &Path, script: &str) -> Child {
    let log = dir.join("log");
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log.join(format!("{script}.out")))
        .unwrap();
    Command::new("bash")
        .arg(home.join("bin").join(format!("{script}.sh")))
        .arg("start-foreground")
        .env("FLINK_CONF_DIR", dir.join("conf"))
        .env("FLINK_LOG_DIR", &log)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}
