//! `tidemark doctor`: names the cause of a job's trouble, not only its
//! symptom. Facts are read at the edge (a running job's own status, or
//! Prometheus) into [`Facts`]; each rule in `rules` is a pure function of
//! them and of [`Thresholds`], documented and unit-tested; the diagnosis is
//! the findings, most severe first, and a verdict. `docs/doctor.md` is
//! generated from [`CAUSES`] and the thresholds' config keys.

mod capacity;
mod facts;
pub mod prometheus;
mod rules;

pub use capacity::{Capacity, VertexCapacity};
pub(crate) use facts::{exporters, from_status, partitions, rocksdb, MIN_WINDOW};
pub use facts::{
    CheckpointFacts, CheckpointTiming, CpuFacts, ExporterFacts, Facts, PartitionFacts, PhaseFacts,
    RocksReading, SubtaskFacts, VertexFacts,
};
pub use rules::Thresholds;

use serde::Serialize;

/// How bad a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing found.
    Healthy,
    /// Slower, later or less safe than it should be.
    Degraded,
    /// Failing, or losing its guarantees.
    Critical,
}

/// How bad one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the job degraded.
    Warning,
    /// Makes the job critical.
    Critical,
}

/// A cause in the fixed vocabulary, with what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// Its name in findings (`sink-bottleneck`).
    pub name: &'static str,
    /// The rule that finds it, for docs/doctor.md.
    pub rule: &'static str,
    /// What to do about it, in general.
    pub action: &'static str,
}

/// One metric value a finding rests on, named as in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The catalogue's metric (or a quantity derived from it, named so).
    pub metric: String,
    /// The vertex it is of, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertex: Option<String>,
    /// The subtask, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtask: Option<usize>,
    /// Its value.
    pub value: f64,
    /// The window it was taken over (`10s`), or `now`.
    pub window: String,
}

/// What the doctor found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// A name from [`CAUSES`].
    pub cause: &'static str,
    /// The vertex (its uid) it is about, if one.
    pub vertex: Option<String>,
    /// The subtask it is about, where it matters.
    pub subtask: Option<usize>,
    /// How bad.
    pub severity: Severity,
    /// The values it rests on.
    pub evidence: Vec<Evidence>,
    /// One sentence: why this is the cause.
    pub why: String,
    /// What to change: config keys and values, or the job.
    pub action: String,
}

/// The doctor's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The worst finding's severity, as a verdict.
    pub verdict: Verdict,
    /// The span of the measurements it rests on.
    pub window_seconds: f64,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// The capacity model: headroom, catch-up time after a failure, and
    /// per vertex utilization, true processing rate and needed parallelism.
    pub capacity: Capacity,
}

/// Every cause the doctor can name.
pub const CAUSES: &[Cause] = &[
    rules::SINK_BOTTLENECK,
    rules::OPERATOR_BOTTLENECK,
    rules::DATA_SKEW,
    rules::UNDER_PROVISIONED,
    rules::STATE_BACKEND_LIMIT,
    rules::CHECKPOINT_FAILING,
    rules::CHECKPOINT_NEAR_INTERVAL,
    rules::CHECKPOINT_START_DELAY,
    rules::CHECKPOINT_ALIGNMENT,
    rules::CHECKPOINT_SYNC_SLOW,
    rules::CHECKPOINT_ASYNC_SLOW,
    rules::RESTARTING,
    rules::CANNOT_CATCH_UP,
    rules::EXPORTER_FAILING,
    rules::WATERMARK_STALLED,
    rules::CPU_SATURATED,
    rules::HEALTHY,
];

/// Runs every rule over `facts`.
pub fn diagnose(facts: &Facts, t: &Thresholds) -> Diagnosis {
    let capacity = Capacity::of(facts, t);
    let mut findings: Vec<Finding> = rules::all(facts, t, &capacity);
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let verdict = match findings.first().map(|f| f.severity) {
        Some(Severity::Critical) => Verdict::Critical,
        Some(Severity::Warning) => Verdict::Degraded,
        _ => Verdict::Healthy,
    };
    Diagnosis {
        verdict,
        window_seconds: facts.window_s,
        findings,
        capacity,
    }
}

/// A diagnosis (as `GET /jobs/:id/doctor` answers it) as text for a
/// terminal.
pub fn render(d: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let place = |v: &serde_json::Value| match (v["vertex"].as_str(), v["subtask"].as_u64()) {
        (Some(x), Some(s)) => format!(" {{vertex={x}, subtask={s}}}"),
        (Some(x), None) => format!(" {{vertex={x}}}"),
        _ => String::new(),
    };
    let mut out = format!(
        "verdict: {} (over the last {:.0} s)\n",
        text(&d["verdict"]),
        d["window_seconds"].as_f64().unwrap_or(0.0)
    );
    for f in d["findings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} {}{}\n  why: {}\n",
            text(&f["severity"]),
            text(&f["cause"]),
            place(f),
            text(&f["why"])
        ));
        for e in f["evidence"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  evidence: {}{} = {:.3} over {}\n",
                text(&e["metric"]),
                place(e),
                e["value"].as_f64().unwrap_or(f64::NAN),
                text(&e["window"])
            ));
        }
        out.push_str(&format!("  action: {}\n", text(&f["action"])));
    }
    out.push_str(&render_capacity(&d["capacity"]));
    out
}

/// Seconds as a person reads them: `45 s`, `12 min`, `3.5 h`, `27 days`.
fn duration(s: f64) -> String {
    match s {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.0} days", s / 86_400.0),
    }
}

/// The capacity part of [`render`].
fn render_capacity(c: &serde_json::Value) -> String {
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let mut out = format!(
        "\ncapacity: input {:.0} records/s",
        num(&c["input_records_per_second"])
    );
    match c["headroom"].as_f64() {
        Some(h) => out.push_str(&format!(
            ", headroom {h:.2} (at most {:.0} records/s)",
            num(&c["max_sustainable_records_per_second"])
        )),
        None => out.push_str(", nothing busy: no bound measured"),
    }
    let replay = match num(&c["replay_seconds"]) {
        r if r > 0.0 => format!("up to {r:.0} s replayed"),
        _ => "no checkpoint interval, so no replay counted".into(),
    };
    out.push_str(&format!(
        "\n  after a failure: {:.0} s down ({}), {replay}; caught up {}\n",
        num(&c["recovery_seconds"]),
        if c["recovery_measured"].as_bool() == Some(true) {
            "measured"
        } else {
            "assumed: tidemark.doctor.recovery-time"
        },
        match c["catch_up_seconds"].as_f64() {
            Some(s) => format!("in {}", duration(s)),
            None => "never".into(),
        }
    ));
    for v in c["vertices"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}: utilization {:.0} % (busiest subtask {:.0} %), {:.0} records/s in, true rate {}, parallelism {} (needs {})\n",
            v["vertex"].as_str().unwrap_or("?"),
            num(&v["utilization"]) * 100.0,
            num(&v["peak_utilization"]) * 100.0,
            num(&v["records_in_per_second"]),
            v["true_processing_rate"]
                .as_f64()
                .map_or("-".into(), |r| format!("{r:.0} records/s")),
            v["parallelism"],
            v["needed_parallelism"],
        ));
    }
    out
}

/// `docs/doctor.md`: every cause with its rule and action, and the
/// thresholds with their keys and defaults.
pub fn doc() -> String {
    let mut out = String::from(
        "# tidemark doctor\n\n<!-- generated by `tidemark doctor-doc`; do not edit -->\n\n\
         `tidemark doctor URL [--json]` (or `GET /jobs/:id/doctor`) reads a running job's own \
         measurements over the last 10 s and names what holds it back. `tidemark doctor --prometheus URL \
         --job-name NAME [--window 2m] [--set tidemark.doctor.KEY=VALUE] [--json]` runs the same rules \
         over the job's catalogue series in Prometheus (any run it scraped, live or past; the graph from \
         `tidemark_vertex_info`), with the default thresholds unless `--set` changes them as the job's \
         configuration did; Prometheus has no root exception, no checkpoint failure reason, no \
         phase's subtask and no key groups or keys (and a job's exporters only where Prometheus scrapes its process), so those findings are thinner or absent there; \
         `checkpoint-failing` means failures in the window and none completed in its last quarter, and \
         checkpoint phases are means over the window's checkpoints (per subtask, at the slowest vertex) \
         weighed against their mean duration, a start delay downstream of the longest alignment counted \
         as that alignment's. \
         Each finding has a `cause` \
         from the list below, the `vertex` (and `subtask` where it matters), a `severity`, the \
         `evidence` (metric values named as in the catalogue), `why` and `action`. The verdict is \
         the worst severity: `healthy`, `degraded` (warning) or `critical`. When the bottleneck \
         (sink-bottleneck, operator-bottleneck, data-skew, under-provisioned, state-backend-limit) is \
         busy, `tidemark doctor URL` samples its threads on the CPU for `--profile` (2 s; `0 s` skips \
         it; `GET /jobs/:id/doctor?profile=SECONDS`) and adds to its evidence the samples taken \
         (`on_cpu_samples`) and the three frames most of them landed in \
         (`on_cpu_samples:share{frame=\"…\"}`); few samples on a busy vertex mean it waits off the \
         CPU (sleeping, I/O, a lock).\n\n## Causes\n\n| cause | rule | action |\n|---|---|---|\n",
    );
    for c in CAUSES {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.name, c.rule, c.action));
    }
    out.push_str("\n## Capacity\n\nThe answer's `capacity` (and the catalogue's `tidemark_vertex_utilization_ratio`, `tidemark_vertex_true_processing_rate`, `tidemark_vertex_needed_parallelism`, `tidemark_job_headroom_ratio`, `tidemark_job_max_sustainable_rate` and `tidemark_job_recovery_time_seconds`, updated every second; the recording rules in alerts/tidemark.rules.yml compute the same from the base metrics, `tidemark:job_catch_up:seconds` included):\n\n");
    out.push_str(capacity::MODEL);
    out.push_str("\n## Thresholds\n\n| key | default | meaning |\n|---|---|---|\n");
    for k in rules::THRESHOLD_KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            k.key,
            k.default.unwrap_or(""),
            k.doc
        ));
    }
    out
}
