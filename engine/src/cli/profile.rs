//! `tidemark profile URL --vertex V [--subtask N] [--seconds 10] [--svg F] [--folded F]`:
//! samples a running job's vertex on the CPU (`GET
//! /jobs/:id/vertices/:vid/flamegraph?type=on_cpu`) and writes the flame
//! graph as SVG (inferno) and as folded stacks, and prints the top frames.

use super::rest_client;
use std::path::PathBuf;

/// What to sample and where to write it.
#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// The job's REST address (http://127.0.0.1:8081) or job URL.
    url: String,
    /// The vertex: its id (as GET /jobs/:id lists it) or its name.
    #[arg(long)]
    vertex: String,
    /// One subtask only (default: all of the vertex's subtasks).
    #[arg(long)]
    subtask: Option<usize>,
    /// How long to sample (at most 60).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Write the flame graph here, as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the folded stacks here (`outer;inner count`: flamegraph.pl's,
    /// inferno's and speedscope's input).
    #[arg(long)]
    folded: Option<PathBuf>,
}

/// Runs `tidemark profile`.
pub fn run(a: &ProfileArgs) -> i32 {
    match profile(a) {
        Ok(summary) => {
            print!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

fn profile(a: &ProfileArgs) -> Result<String, String> {
    let job = rest_client::job_url(&a.url)?;
    let details = rest_client::get_json(&job)?;
    let nodes = details["plan"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let node = nodes
        .iter()
        .find(|n| n["id"] == a.vertex.as_str())
        .or_else(|| nodes.iter().find(|n| n["description"] == a.vertex.as_str()))
        .ok_or_else(|| {
            let names: Vec<String> = nodes
                .iter()
                .map(|n| {
                    format!(
                        "{} ({})",
                        n["description"].as_str().unwrap_or("?"),
                        n["id"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            format!(
                "--vertex {}: no such vertex; the job has {}",
                a.vertex,
                names.join(", ")
            )
        })?;
    let (id, name) = (
        node["id"].as_str().unwrap_or_default(),
        node["description"].as_str().unwrap_or_default(),
    );
    let mut url = format!(
        "{job}/vertices/{id}/flamegraph?type=on_cpu&seconds={}",
        a.seconds
    );
    if let Some(s) = a.subtask {
        url.push_str(&format!("&subtaskindex={s}"));
    }
    let answer = rest_client::get_json_slow(
        &url,
        std::time::Duration::from_secs_f64(a.seconds.clamp(0.0, 60.0)),
    )?;
    let tree = &answer["data"];
    let folded = crate::profile::folded(tree);
    let place = match a.subtask {
        Some(s) => format!("{name} subtask {s}"),
        None => name.to_string(),
    };
    if let Some(path) = &a.folded {
        let text: String = folded.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &a.svg {
        let title = format!("{place}: on-CPU, {} s", a.seconds);
        let svg =
            crate::profile::svg(&folded, &title).map_err(|e| format!("rendering the SVG: {e}"))?;
        std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let samples = tree["value"].as_u64().unwrap_or(0);
    let mut out = format!(
        "{samples} on-CPU samples of {place} over {} s (99 a second of CPU time)\n",
        a.seconds
    );
    if samples == 0 {
        out.push_str("none: the vertex spent the time off the CPU (waiting for input, sleeping, or blocked on I/O or a lock)\n");
    }
    for (frame, share) in crate::profile::Profile::from_folded(&folded).top_frames(10) {
        out.push_str(&format!("{:5.1} %  {frame}\n", share * 100.0));
    }
    Ok(out)
}
