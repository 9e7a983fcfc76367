//! `tidemark backpressure URL`: the job graph with each vertex's busy,
//! backpressured and idle shares and level, and the likely bottleneck: the
//! busiest vertex downstream of backpressured ones.

use super::rest_client::{get_json, job_url};
use serde_json::Value;

struct Row {
    name: String,
    input: String,
    level: String,
    busy: f64,
    bp: f64,
    idle: f64,
    parallelism: u64,
}

fn max_of(subtasks: &Value, key: &str) -> f64 {
    subtasks
        .as_array()
        .map(|a| a.iter().filter_map(|s| s[key].as_f64()).fold(0.0, f64::max))
        .unwrap_or(0.0)
}

/// Prints the report; returns the exit code.
pub fn report(url: &str) -> i32 {
    match render(url) {
        Ok(s) => {
            print!("{s}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

/// The report as text.
pub fn render(url: &str) -> Result<String, String> {
    let job = job_url(url)?;
    let details = get_json(&job)?;
    let nodes = details["plan"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    for n in &nodes {
        let id = n["id"].as_str().unwrap_or("");
        let bp = get_json(&format!("{job}/vertices/{id}/backpressure"))?;
        let subs = &bp["subtasks"];
        let input = n["inputs"]
            .as_array()
            .map(|i| {
                i.iter()
                    .map(|x| {
                        format!(
                            "{} ({})",
                            x["id"].as_str().unwrap_or(""),
                            x["ship_strategy"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        rows.push(Row {
            name: n["description"].as_str().unwrap_or(id).to_string(),
            input,
            level: bp["backpressureLevel"]
                .as_str()
                .unwrap_or("unknown")
                .to_ascii_uppercase(),
            busy: max_of(subs, "busyRatio"),
            bp: max_of(subs, "ratio"),
            idle: max_of(subs, "idleRatio"),
            parallelism: n["parallelism"].as_u64().unwrap_or(0),
        });
    }
    let mut out = format!(
        "job {} ({}) {}\nshares are the worst subtask's over the last 10 s\n\n{:<28} {:<6} {:>6} {:>14} {:>6}  {:>3}  inputs\n",
        details["name"].as_str().unwrap_or(""),
        details["jid"].as_str().unwrap_or(""),
        details["state"].as_str().unwrap_or(""),
        "vertex",
        "level",
        "busy",
        "backpressured",
        "idle",
        "p",
    );
    for r in &rows {
        out.push_str(&format!(
            "{:<28} {:<6} {:>5.0}% {:>13.0}% {:>5.0}%  {:>3}  {}\n",
            r.name,
            r.level,
            r.busy * 100.0,
            r.bp * 100.0,
            r.idle * 100.0,
            r.parallelism,
            r.input
        ));
    }
    let first_bp = rows
        .iter()
        .position(|r| r.level != "OK" && r.level != "UNKNOWN");
    match first_bp {
        None => out.push_str("\nno vertex is backpressured\n"),
        Some(i) => {
            let pressured: Vec<&str> = rows[..]
                .iter()
                .filter(|r| r.level == "HIGH" || r.level == "LOW")
                .map(|r| r.name.as_str())
                .collect();
            match rows[i + 1..]
                .iter()
                .filter(|r| r.level == "OK")
                .max_by(|a, b| a.busy.total_cmp(&b.busy))
            {
                Some(b) => out.push_str(&format!(
                    "\nlikely bottleneck: {} (busy {:.0}%), which {} wait(s) on\n",
                    b.name,
                    b.busy * 100.0,
                    pressured.join(", ")
                )),
                None => out.push_str(&format!(
                    "\nbackpressured: {}; no busy vertex downstream found\n",
                    pressured.join(", ")
                )),
            }
        }
    }
    Ok(out)
}
