//! Flame graphs of a running job's vertex, through `tidemark profile`, Flink's
//! `GET /jobs/:id/vertices/:vid/flamegraph` and `tidemark doctor`. The oracle
//! is the job's own code: its sink spends its delay computing in
//! `tidemark::sink::slow::spin_for` (`params.sink-delay-on: cpu`), and
//! nothing else calls that function. Its own test binary: the job keeps
//! both cores busy.

use serde_json::Value;
use std::time::Duration;
use tidemark_tests::doctor::*;
use tidemark_tests::*;

const SPIN: &str = "spin_for";

/// README's `examples/slow-sink.yaml` with `params.sink-delay-on=cpu`: its
/// sink is the bottleneck, busy computing 1 ms a record.
fn job(d: &std::path::Path) -> (Running, String) {
    std::fs::write(d.join("slow"), "").unwrap();
    let example = example("slow-sink.yaml");
    let mut args = vec!["run", &example, "--status-interval", "0"];
    let sets = stream_jobs::sets(&["metrics.reporter.prom.port=0", "params.sink-delay-on=cpu"]);
    args.extend(sets.iter().map(String::as_str));
    let r = Running::start(d, &args);
    let url = r.rest_url();
    (r, url)
}

/// The uid of the job's vertex whose uid or name is `name`.
fn vertex(url: &str, name: &str) -> String {
    let job = get_json(url);
    job["plan"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == name || n["description"] == name)
        .and_then(|n| n["id"].as_str())
        .unwrap_or_else(|| panic!("no vertex {name}: {job}"))
        .to_string()
}

/// Samples per stack line of folded text, and those whose stack holds `frame`.
fn samples_with(folded: &str, frame: &str) -> (u64, u64) {
    folded
        .lines()
        .filter(|l| !l.is_empty())
        .fold((0, 0), |(all, with), line| {
            let (stack, n) = line.rsplit_once(' ').unwrap();
            let n: u64 = n.parse().unwrap();
            (all + n, with + if stack.contains(frame) { n } else { 0 })
        })
}

fn names_in(node: &Value, out: &mut Vec<String>) {
    out.push(node["name"].as_str().unwrap_or_default().to_string());
    for c in node["children"].as_array().into_iter().flatten() {
        names_in(c, out);
    }
}

/// `tidemark profile --vertex sink` finds the sink's time in `spin_for` (as
/// SVG, folded stacks and the printed top frames); the source's profile,
/// taken the same way, never holds it.
#[test]
fn the_sinks_flame_graph_shows_where_its_cpu_goes_and_the_sources_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url) = job(d);
    let (svg, folded) = (d.join("sink.svg"), d.join("sink.folded"));
    // README's command, with the REST address as the job printed it.
    let base = url.split("/jobs/").next().unwrap();
    let (code, out) = run_stdout(
        d,
        &[
            "profile",
            base,
            "--vertex",
            "sink",
            "--seconds",
            "3",
            "--svg",
            svg.to_str().unwrap(),
            "--folded",
            folded.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}\n{}", r.stderr());
    let text = std::fs::read_to_string(&folded).unwrap();
    let (all, spinning) = samples_with(&text, SPIN);
    // The sink is backpressure's bottleneck: its CPU time is the spin (the
    // rest is writing to the blackhole and reading its input).
    assert!(
        all >= 50 && spinning * 2 > all,
        "{spinning} of {all}\n{text}"
    );
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(first.contains(SPIN), "the top frame: {out}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains(SPIN), "{svg:.300}");

    let source = d.join("source.folded");
    let (code, out) = run_stdout(
        d,
        &[
            "profile",
            &url,
            "--vertex",
            &vertex(&url, "datagen"),
            "--seconds",
            "2",
            "--folded",
            source.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&source).unwrap();
    assert_eq!(samples_with(&text, SPIN).1, 0, "{text}");
    r.kill();
}

/// Flink's shape (`endTimestamp`, `data` as `{name, value, children}`) for
/// one subtask; every wrong parameter named in one answer; one profile at a
/// time.
#[test]
fn the_rest_answer_has_flinks_shape_and_wrong_requests_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url) = job(d);
    let sink = vertex(&url, "sink");
    let v = get_json(&format!(
        "{url}/vertices/{sink}/flamegraph?type=on_cpu&subtaskindex=1&seconds=2"
    ));
    assert!(v["endTimestamp"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(v["data"]["name"], "root", "{v}");
    assert!(v["data"]["value"].as_u64().unwrap() > 0, "{v}");
    let mut names = Vec::new();
    names_in(&v["data"], &mut names);
    assert!(names.iter().any(|n| n.contains(SPIN)), "{names:?}");

    let (code, body) = servers::curl(&[&format!(
        "{url}/vertices/{sink}/flamegraph?type=full&subtaskindex=2&seconds=90"
    )]);
    assert_eq!(code, 400, "{body}");
    for part in ["type=full", "subtaskindex=2", "0 to 1", "seconds=90"] {
        assert!(body.contains(part), "{part}: {body}");
    }
    let (code, body) = servers::curl(&[&format!("{url}/vertices/nosuch/flamegraph")]);
    assert_eq!(code, 404, "{body}");

    // One profile at a time: while a 10 s one runs, another is refused
    // with 409 and why. Either request may take the slot first, so the
    // short ones repeat until one of the two sides has been refused.
    let long = {
        let url = format!("{url}/vertices/{sink}/flamegraph?seconds=10");
        std::thread::spawn(move || servers::curl(&[&url]))
    };
    let short = format!("{url}/vertices/{sink}/flamegraph?seconds=1");
    let refused = wait_for_or(
        "a 409 while another profile runs",
        Duration::from_secs(60),
        || {
            let (code, body) = servers::curl(&[&short]);
            match code {
                409 => Some(body),
                _ if long.is_finished() => Some(String::new()),
                _ => None,
            }
        },
        || r.stderr(),
    );
    let (long_code, long_body) = long.join().unwrap();
    let body = if refused.is_empty() {
        assert_eq!(long_code, 409, "{long_body}");
        long_body
    } else {
        refused
    };
    assert!(body.contains("a profile is being taken already"), "{body}");
    r.kill();
}

/// `tidemark doctor` names the sink and adds where its CPU goes: the top
/// frame of its samples is the spin.
#[test]
fn the_doctor_adds_the_busy_bottlenecks_top_frames_to_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, url) = job(d);
    let v = wait_doctor_with(
        d,
        &r,
        &url,
        &["--profile", "2 s"],
        "sink-bottleneck with on-CPU frames within 30 s",
        Duration::from_secs(30),
        |v| v["findings"][0]["cause"] == "sink-bottleneck",
    );
    let evidence = v["findings"][0]["evidence"].as_array().unwrap();
    let samples = evidence
        .iter()
        .find(|e| e["metric"] == "on_cpu_samples")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(samples["value"].as_f64().unwrap() > 0.0, "{v}");
    let top = evidence
        .iter()
        .find(|e| {
            e["metric"]
                .as_str()
                .unwrap()
                .starts_with("on_cpu_samples:share")
        })
        .unwrap_or_else(|| panic!("{v}"));
    assert!(top["metric"].as_str().unwrap().contains(SPIN), "{v}");
    assert!(top["value"].as_f64().unwrap() > 0.5, "{v}");
    r.kill();
}
