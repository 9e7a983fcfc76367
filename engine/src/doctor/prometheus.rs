//! The doctor's facts read from Prometheus alone (`tidemark doctor
//! --prometheus URL --job-name NAME`): any job whose catalogue series reach
//! it, live or past, over a window the user chooses. The graph comes from
//! `tidemark_vertex_info`; shares and rates from `rate()` of the task
//! counters; checkpoints from their counters, gauges and phase histograms.
//!
//! What Prometheus cannot say is left out, and the answer says so: the root
//! exception of a restart (the job's `GET /jobs/:id/exceptions` has it), a
//! phase's subtask (the histograms are per vertex), the measured recovery
//! (`tidemark_job_recovery_time_seconds` does not say whether it was
//! measured, so the configured `recovery-time` is used).

use super::facts::{
    CheckpointFacts, CheckpointTiming, ExporterFacts, Facts, PartitionFacts, PhaseFacts,
};
use super::{SubtaskFacts, VertexFacts};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Answers one instant PromQL query with Prometheus' JSON (`/api/v1/query`).
pub type Query<'a> = &'a dyn Fn(&str) -> Result<Value, String>;

/// One result of an instant vector: its labels and value.
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// The vector `promql` evaluates to now.
fn vector(query: Query, promql: &str) -> Result<Vec<Sample>, String> {
    let v = query(promql)?;
    if v["status"] != "success" {
        return Err(format!("Prometheus refused {promql}: {v}"));
    }
    Ok(v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Sample {
            labels: r["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
            value: r["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
        })
        .collect())
}

/// The single value of `promql`, if it has one.
fn scalar(query: Query, promql: &str) -> Result<Option<f64>, String> {
    Ok(vector(query, promql)?
        .first()
        .map(|s| s.value)
        .filter(|v| v.is_finite()))
}

/// A PromQL label matcher's value, quoted.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The facts of job `job_name` over the last `window`: its newest run (the
/// job id whose graph Prometheus saw last).
pub fn facts(query: Query, job_name: &str, window: Duration) -> Result<Facts, String> {
    let w = format!("{}s", window.as_secs().max(1));
    let name = quoted(job_name);
    let newest = vector(
        query,
        &format!("max by (job_id) (timestamp(tidemark_vertex_info{{job_name={name}}}))"),
    )?
    .into_iter()
    .max_by(|a, b| a.value.total_cmp(&b.value))
    .ok_or_else(|| {
        format!(
            "Prometheus has no tidemark_vertex_info for job_name {name}: is the job scraped (or pushed), and is the name right?"
        )
    })?;
    let id = newest.label("job_id").to_string();
    let sel = format!("job_name={name}, job_id={}", quoted(&id));
    let info = vector(
        query,
        &format!(
            "max by (vertex, vertex_id, inputs, parallelism, max_parallelism) (tidemark_vertex_info{{{sel}}})"
        ),
    )?;
    let max_parallelism = info
        .first()
        .and_then(|s| s.label("max_parallelism").parse().ok())
        .unwrap_or(128);
    let order = upstream_first(&info)?;
    let index = |v: &str| order.iter().position(|s| s.label("vertex") == v);
    // Series label vertices by name; findings name them by uid, as the REST
    // API does — but a Flink job's vertex ids (`tidemark agent flink`) are
    // generated hashes no user wrote, so there the name is what tells them.
    let uid = |name: &str| -> String {
        order
            .iter()
            .find(|s| s.label("vertex") == name)
            .map(|s| s.label("vertex_id"))
            .filter(|u| !u.is_empty() && !is_flink_vertex_id(u))
            .unwrap_or(name)
            .to_string()
    };
    // Per (vertex, subtask): one query per quantity, duplicates (a job both
    // scraped and pushed) folded by max.
    let per_subtask = |expr: &str| -> Result<BTreeMap<(String, usize), f64>, String> {
        Ok(
            vector(query, &format!("max by (vertex, subtask) ({expr})"))?
                .into_iter()
                .map(|s| {
                    let key = (
                        s.label("vertex").to_string(),
                        s.label("subtask").parse().unwrap_or(0),
                    );
                    (key, s.value)
                })
                .collect(),
        )
    };
    let rate = |family: &str| per_subtask(&format!("rate({family}{{{sel}}}[{w}])"));
    let busy = rate("tidemark_task_busy_seconds_total")?;
    let idle = rate("tidemark_task_idle_seconds_total")?;
    let bp = rate("tidemark_task_backpressured_seconds_total")?;
    let state = rate("tidemark_task_state_seconds_total")?;
    let rin = rate("tidemark_task_records_in_total")?;
    let rout = rate("tidemark_task_records_out_total")?;
    let wm_end = per_subtask(&format!("tidemark_task_input_watermark_seconds{{{sel}}}"))?;
    let wm_start = per_subtask(&format!(
        "tidemark_task_input_watermark_seconds{{{sel}}} offset {w}"
    ))?;
    let watermark = |m: &BTreeMap<(String, usize), f64>, k: &(String, usize)| {
        m.get(k)
            .filter(|v| **v > 0.0)
            .map(|v| (v * 1000.0).round() as i64)
    };
    let vertices: Vec<VertexFacts> = order
        .iter()
        .map(|s| {
            let v = s.label("vertex");
            let parallelism: usize = s.label("parallelism").parse().unwrap_or(1);
            let subtasks = (0..parallelism)
                .map(|i| {
                    let k = (v.to_string(), i);
                    let get =
                        |m: &BTreeMap<(String, usize), f64>| m.get(&k).copied().unwrap_or(0.0);
                    let (b, id, p) = (get(&busy), get(&idle), get(&bp));
                    let total = (b + id + p).max(f64::MIN_POSITIVE);
                    SubtaskFacts {
                        subtask: i,
                        busy: b / total,
                        backpressured: p / total,
                        idle: id / total,
                        state: if b > 0.0 {
                            (get(&state) / b).min(1.0)
                        } else {
                            0.0
                        },
                        records_in_per_s: get(&rin),
                        records_out_per_s: get(&rout),
                        watermark_ms: (watermark(&wm_start, &k), watermark(&wm_end, &k)),
                    }
                })
                .collect();
            VertexFacts {
                id: uid(v),
                parallelism,
                inputs: s
                    .label("inputs")
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .filter_map(index)
                    .collect(),
                is_sink: !order
                    .iter()
                    .any(|o| o.label("inputs").split(',').any(|x| x == v)),
                subtasks,
                // Not exported: too many series for what they say.
                key_group_records: Vec::new(),
                hot_keys: Default::default(),
            }
        })
        .collect();
    let one = |expr: &str| scalar(query, &format!("max({expr})"));
    let interval_s = one(&format!("tidemark_checkpoint_interval_seconds{{{sel}}}"))?;
    let failed = one(&format!(
        "increase(tidemark_checkpoint_failed_total{{{sel}}}[{w}])"
    ))?;
    let completed = one(&format!(
        "increase(tidemark_checkpoint_completed_total{{{sel}}}[{w}])"
    ))?;
    // The latest failure's time is not a series; a completion after it is
    // one in the newest quarter of the window without a failure there.
    let recent = format!("{}s", (window.as_secs() / 4).max(1));
    let failed_recently = one(&format!(
        "increase(tidemark_checkpoint_failed_total{{{sel}}}[{recent}])"
    ))?;
    let completed_recently = one(&format!(
        "increase(tidemark_checkpoint_completed_total{{{sel}}}[{recent}])"
    ))?;
    // Mean per subtask over the window, at the vertex among `keep` where
    // it is longest.
    let phase_of = |family: &str, keep: &dyn Fn(usize) -> bool| -> Result<PhaseFacts, String> {
        let means = vector(
            query,
            &format!(
                "max by (vertex) (rate({family}_sum{{{sel}}}[{w}]) / rate({family}_count{{{sel}}}[{w}]))"
            ),
        )?;
        Ok(means
            .iter()
            .filter(|s| s.value.is_finite())
            .filter_map(|s| Some((index(s.label("vertex")).filter(|i| keep(*i))?, s.value)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(vertex, value)| PhaseFacts {
                vertex,
                subtask: None,
                ms: (value * 1000.0).round() as u64,
            })
            .unwrap_or_default())
    };
    let phase = |family: &str| phase_of(family, &|_| true);
    let alignment = phase("tidemark_checkpoint_alignment_duration_seconds")?;
    // Downstream of the vertex that aligned longest, the barrier left late
    // by that alignment: the start delay there is its consequence, not
    // barriers queued behind records. Without subtasks in the histograms a
    // lagging source subtask's delay is averaged with its siblings', so
    // this, not the source's own delay, is what tells the two apart here.
    let after_alignment = match alignment.ms {
        0 => Vec::new(),
        _ => downstream_of(&vertices, alignment.vertex),
    };
    let start_delay = phase_of("tidemark_checkpoint_start_delay_seconds", &|i| {
        !after_alignment.contains(&i)
    })?;
    let source_start_delay = phase_of("tidemark_checkpoint_start_delay_seconds", &|i| {
        vertices.get(i).is_some_and(|v| v.inputs.is_empty())
    })?;
    let latest_completed = if completed.unwrap_or(0.0) > 0.0 {
        // Phases are means over the window (histograms), so the duration
        // they are weighed against is too: the newest checkpoint's alone
        // may be a fast one among slow ones.
        Some(CheckpointTiming {
            id: one(&format!("tidemark_checkpoint_last_completed_id{{{sel}}}"))?.unwrap_or(0.0)
                as u64,
            duration_ms: phase("tidemark_checkpoint_duration_seconds")?.ms as i64,
            window_means: true,
            start_delay,
            source_start_delay,
            alignment,
            sync: phase("tidemark_checkpoint_sync_duration_seconds")?,
            upload: phase("tidemark_checkpoint_async_duration_seconds")?,
            size: one(&format!("tidemark_checkpoint_last_size_bytes{{{sel}}}"))?
                .unwrap_or(0.0)
                .max(0.0) as u64,
        })
    } else {
        None
    };
    let failed_in_window = failed.unwrap_or(0.0).round() as u64;
    let checkpoints = CheckpointFacts {
        interval_ms: interval_s
            .filter(|s| *s > 0.0)
            .map(|s| (s * 1000.0).round() as i64),
        latest_completed,
        failed_in_window,
        completed_after_last_failure: completed_recently.unwrap_or(0.0) > 0.0
            && failed_recently.unwrap_or(0.0) == 0.0,
        last_failure: (failed_in_window > 0)
            .then(|| "the reason is not in Prometheus: GET /jobs/:id/checkpoints has it".into()),
    };
    let restarts = one(&format!(
        "increase(tidemark_job_restarts_total{{{sel}}}[{w}])"
    ))?;
    let mut partitions = partitions(query, &sel)?;
    for p in &mut partitions {
        p.vertex = uid(&p.vertex);
    }
    Ok(Facts {
        window_s: window.as_secs_f64(),
        max_parallelism,
        vertices,
        checkpoints,
        restarts_in_window: restarts.unwrap_or(0.0).round() as u64,
        root_exception: restarts
            .filter(|r| *r >= 0.5)
            .map(|_| {
                "not in Prometheus: the job's GET /jobs/:id/exceptions has it (a Flink job's: also the log of `tidemark agent flink`)"
                    .to_string()
            }),
        recovery_ms: None,
        exporters: exporters(query, &sel)?,
        rocksdb: Vec::new(),
        partitions,
        cpu: None,
    })
}

/// The job's exporters, from the self-metrics of the process whose scrape
/// carries its series (they have no job labels: one process, one job; the
/// same `instance` ties them to it). A job seen only through a Pushgateway
/// has none here: its failing pushes are what would have carried them.
fn exporters(query: Query, sel: &str) -> Result<Vec<ExporterFacts>, String> {
    let of = |expr: &str| {
        vector(
            query,
            &format!(
                "max by (reporter, kind) (({expr}) and on (instance) tidemark_vertex_info{{{sel}}})"
            ),
        )
    };
    let failed = of("tidemark_exporter_failed_total")?;
    let dropped = of("tidemark_exporter_dropped_total")?;
    let last = of("tidemark_exporter_last_success_timestamp_seconds")?;
    let since = of("time() - tidemark_exporter_last_success_timestamp_seconds")?;
    let key = |s: &Sample| (s.label("reporter").to_string(), s.label("kind").to_string());
    let value = |v: &[Sample], k: &(String, String)| {
        v.iter()
            .find(|s| key(s) == *k)
            .map(|s| s.value)
            .filter(|x| x.is_finite())
    };
    Ok(failed
        .iter()
        .map(|s| {
            let k = key(s);
            ExporterFacts {
                failed: value(&failed, &k).unwrap_or(0.0).max(0.0) as u64,
                dropped: value(&dropped, &k).unwrap_or(0.0).max(0.0) as u64,
                // -1 before its first delivery.
                since_success_s: value(&last, &k)
                    .filter(|t| *t > 0.0)
                    .and_then(|_| value(&since, &k)),
                reporter: k.0,
                kind: k.1,
            }
        })
        .collect())
}

/// The vertices that read, directly or not, from vertex `from`.
fn downstream_of(vertices: &[VertexFacts], from: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut next = vec![from];
    while let Some(v) = next.pop() {
        for (i, w) in vertices.iter().enumerate() {
            if w.inputs.contains(&v) && !found.contains(&i) {
                found.push(i);
                next.push(i);
            }
        }
    }
    found
}

/// The sources' splits with their watermarks and idleness.
fn partitions(query: Query, sel: &str) -> Result<Vec<PartitionFacts>, String> {
    let idle = vector(
        query,
        &format!("max by (vertex, subtask, partition) (tidemark_source_partition_idle{{{sel}}})"),
    )?;
    Ok(vector(
        query,
        &format!(
            "max by (vertex, subtask, partition) (tidemark_source_partition_watermark_seconds{{{sel}}})"
        ),
    )?
    .into_iter()
    .map(|s| {
        let same = |x: &Sample| {
            ["vertex", "subtask", "partition"]
                .iter()
                .all(|l| x.label(l) == s.label(l))
        };
        PartitionFacts {
            vertex: s.label("vertex").to_string(),
            subtask: s.label("subtask").parse().unwrap_or(0),
            partition: s.label("partition").to_string(),
            watermark_ms: (s.value >= 0.0).then(|| (s.value * 1000.0).round() as i64),
            idle: idle.iter().any(|x| same(x) && x.value > 0.0),
        }
    })
    .collect())
}

/// The graph's vertices, every one after its inputs.
fn upstream_first(info: &[Sample]) -> Result<Vec<&Sample>, String> {
    let mut out: Vec<&Sample> = Vec::with_capacity(info.len());
    while out.len() < info.len() {
        let before = out.len();
        for s in info {
            let placed = |v: &str| out.iter().any(|o| o.label("vertex") == v);
            if !placed(s.label("vertex"))
                && s.label("inputs")
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .all(placed)
            {
                out.push(s);
            }
        }
        if out.len() == before {
            return Err("tidemark_vertex_info does not describe an acyclic graph".into());
        }
    }
    Ok(out)
}

/// A Flink JobVertexID: 32 hex digits, generated from the job graph.
fn is_flink_vertex_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Prometheus that answers the graph and busy time of a chain
    /// src → sink, the sink busy all the time and src blocked.
    fn answer(q: &str) -> Result<Value, String> {
        let series = |m: Value, v: f64| json!({"metric": m, "value": [0, v.to_string()]});
        let result = if q.contains("timestamp(tidemark_vertex_info") {
            vec![
                series(json!({"job_id": "old"}), 1.0),
                series(json!({"job_id": "new"}), 2.0),
            ]
        } else if q.contains("tidemark_vertex_info") {
            assert!(q.contains("job_id=\"new\""), "{q}");
            vec![
                series(
                    json!({"vertex": "sink: out", "vertex_id": "sink", "inputs": "src", "parallelism": "1", "max_parallelism": "128"}),
                    1.0,
                ),
                series(
                    json!({"vertex": "src", "vertex_id": "src", "inputs": "", "parallelism": "1", "max_parallelism": "128"}),
                    1.0,
                ),
            ]
        } else if q.contains("rate(tidemark_task_busy_seconds_total") {
            vec![series(json!({"vertex": "sink: out", "subtask": "0"}), 1.0)]
        } else if q.contains("rate(tidemark_task_backpressured_seconds_total") {
            vec![series(json!({"vertex": "src", "subtask": "0"}), 0.9)]
        } else if q.contains("rate(tidemark_task_idle_seconds_total") {
            vec![series(json!({"vertex": "src", "subtask": "0"}), 0.1)]
        } else {
            vec![]
        };
        Ok(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
    }

    #[test]
    fn the_newest_run_s_graph_upstream_first_and_its_shares() {
        let f = facts(&answer, "wc", Duration::from_secs(120)).unwrap();
        let ids: Vec<&str> = f.vertices.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["src", "sink"]);
        assert_eq!(f.vertices[1].inputs, [0]);
        assert!(f.vertices[1].is_sink && !f.vertices[0].is_sink);
        assert_eq!(f.vertices[0].subtasks[0].backpressured, 0.9);
        assert_eq!(f.vertices[1].subtasks[0].busy, 1.0);
        let d = super::super::diagnose(&f, &Default::default());
        assert_eq!(d.findings[0].cause, "sink-bottleneck");
        assert_eq!(d.findings[0].vertex.as_deref(), Some("sink"));
    }

    /// src (2 subtasks, one of them lagging) → count → sink, checkpoints
    /// every 5 s: means over the window of 1.4 s alignment at count, the
    /// sink's start delay 1.5 s (the barrier left count late), src's 0.7 s
    /// (its lagging subtask's 1.4 s averaged with its sibling's 0).
    fn aligning(q: &str) -> Result<Value, String> {
        let series = |m: Value, v: f64| json!({"metric": m, "value": [0, v.to_string()]});
        let vertex = |name: &str, inputs: &str| {
            series(
                json!({"vertex": name, "vertex_id": name, "inputs": inputs, "parallelism": "2", "max_parallelism": "128"}),
                1.0,
            )
        };
        let at = |name: &str, v: f64| series(json!({ "vertex": name }), v);
        let result = if q.contains("timestamp(tidemark_vertex_info") {
            vec![series(json!({"job_id": "a"}), 1.0)]
        } else if q.contains("tidemark_vertex_info") {
            vec![
                vertex("src", ""),
                vertex("count", "src"),
                vertex("sink", "count"),
            ]
        } else if q.contains("tidemark_checkpoint_completed_total") {
            vec![series(json!({}), 2.0)]
        } else if q.contains("tidemark_checkpoint_interval_seconds") {
            vec![series(json!({}), 5.0)]
        } else if q.contains("rate(tidemark_checkpoint_duration_seconds_sum") {
            vec![at("src", 0.7), at("count", 1.45), at("sink", 1.5)]
        } else if q.contains("rate(tidemark_checkpoint_alignment_duration_seconds_sum") {
            vec![at("src", 0.0), at("count", 1.4), at("sink", 0.0)]
        } else if q.contains("rate(tidemark_checkpoint_start_delay_seconds_sum") {
            vec![at("src", 0.7), at("count", 0.001), at("sink", 1.5)]
        } else {
            vec![]
        };
        Ok(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
    }

    #[test]
    fn start_delay_downstream_of_a_long_alignment_is_the_alignment_s() {
        let f = facts(&aligning, "j", Duration::from_secs(10)).unwrap();
        let cp = f.checkpoints.latest_completed.as_ref().unwrap();
        assert!(cp.window_means);
        assert_eq!(
            (cp.duration_ms, cp.alignment.ms, cp.alignment.vertex),
            (1500, 1400, 1)
        );
        // The sink's 1.5 s is left out: count's alignment made it.
        assert_eq!((cp.start_delay.vertex, cp.start_delay.ms), (0, 700));
        assert_eq!(
            (cp.source_start_delay.vertex, cp.source_start_delay.ms),
            (0, 700)
        );
        let t = crate::doctor::Thresholds {
            checkpoint_slow_ms: 500,
            ..Default::default()
        };
        let d = super::super::diagnose(&f, &t);
        let c = d
            .findings
            .iter()
            .find(|x| x.cause.starts_with("checkpoint-"))
            .unwrap();
        assert_eq!(
            (c.cause, c.vertex.as_deref()),
            ("checkpoint-alignment", Some("count"))
        );
        assert!(
            c.why.starts_with("Checkpoints took on average"),
            "{}",
            c.why
        );
    }

    #[test]
    fn a_job_prometheus_does_not_know_is_an_error_naming_it() {
        let none = |_: &str| Ok(json!({"status": "success", "data": {"result": []}}));
        let e = facts(&none, "nope", Duration::from_secs(60)).unwrap_err();
        assert!(e.contains("\"nope\""), "{e}");
    }
}
