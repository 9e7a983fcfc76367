//! `tidemark savepoint URL`: triggers a savepoint of a running job through its
//! REST API (Flink's `POST /jobs/:id/savepoints`, or `/stop` with `--stop`),
//! waits for it, and prints where it is.

use super::rest_client::{get_json, job_url, request};
use serde_json::json;
use std::time::{Duration, Instant};

/// Arguments of `tidemark savepoint`.
#[derive(clap::Args, Debug)]
pub struct SavepointArgs {
    /// The job's REST address (http://127.0.0.1:8081) or job URL.
    pub url: String,
    /// Target folder (a path or s3://bucket/prefix); default:
    /// execution.checkpointing.savepoint-dir of the job.
    #[arg(long)]
    pub dir: Option<String>,
    /// Stop the job once the savepoint is written (stop-with-savepoint).
    #[arg(long)]
    pub stop: bool,
    /// With --stop: end event time first (Flink's drain), so every window and
    /// event-time timer fires and its result is in the output the savepoint
    /// commits. Use it when the job will not be resumed.
    #[arg(long, requires = "stop")]
    pub drain: bool,
    /// Environment variable holding the REST bearer token (rest.auth.*).
    #[arg(long, default_value = "TIDEMARK_REST_TOKEN")]
    pub token_env: String,
    /// How long to wait for the savepoint.
    #[arg(long, default_value_t = 600.0)]
    pub timeout_s: f64,
}

/// Runs and returns the exit code.
pub fn run(a: &SavepointArgs) -> i32 {
    match trigger_and_wait(a) {
        Ok(loc) => {
            println!("{loc}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

fn trigger_and_wait(a: &SavepointArgs) -> Result<String, String> {
    let job = job_url(&a.url)?;
    let token = std::env::var(&a.token_env).ok();
    let (path, body) = if a.stop {
        (
            "stop",
            json!({ "targetDirectory": a.dir, "drain": a.drain }),
        )
    } else {
        (
            "savepoints",
            json!({ "target-directory": a.dir, "cancel-job": false }),
        )
    };
    let r = request(
        "POST",
        &format!("{job}/{path}"),
        Some(&body),
        token.as_deref(),
        202,
    )?;
    let id = r["request-id"]
        .as_str()
        .ok_or("the job answered without a request-id")?
        .to_string();
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout_s);
    loop {
        let s = get_json(&format!("{job}/savepoints/{id}"))?;
        if s["status"]["id"] == "COMPLETED" {
            if let Some(l) = s["operation"]["location"].as_str() {
                return Ok(l.to_string());
            }
            return Err(format!(
                "savepoint failed: {}",
                s["operation"]["failure-cause"]["stack-trace"]
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "savepoint {id} not complete after {} s",
                a.timeout_s
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
