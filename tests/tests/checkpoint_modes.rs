//! Checkpoint modes and barrier timing, read from the REST API of running jobs:
//! under sustained backpressure unaligned checkpoints (and aligned ones with an
//! `aligned-checkpoint-timeout`) complete several times faster than aligned
//! ones and persist in-flight data; a lagging source partition shows as
//! alignment time at the operator that merges the partitions and as start
//! delay downstream of it.

use serde_json::Value;
use tidemark_tests::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn e2e(cs: &[Value]) -> Vec<f64> {
    cs.iter()
        .map(|c| c["end_to_end_duration"].as_f64().unwrap())
        .collect()
}

#[test]
fn unaligned_checkpoints_complete_several_times_faster_under_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The sink manages 5 000 records/s of the 50 000 offered: every queue stays full.
    let yaml = |name: &str, extra: &str| {
        format!(
            "name: {name}\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 50000\n  sink-delay: 200us\nconfig:\n  execution.checkpointing.interval: 500 ms\n  execution.checkpointing.dir: ck-{name}\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n{extra}"
        )
    };
    let mut runs = Vec::new();
    for (name, extra) in [
        ("aligned", ""),
        (
            "unaligned",
            "  execution.checkpointing.unaligned.enabled: true\n",
        ),
        (
            "timeout",
            "  execution.checkpointing.unaligned.enabled: true\n  execution.checkpointing.aligned-checkpoint-timeout: 100 ms\n",
        ),
    ] {
        let (r, url) = start_job(d, name, &yaml(name, extra), &[]);
        let cs = rest_completed(&r, &url, 4);
        let config = get_json(&format!("{url}/checkpoints/config"));
        r.kill();
        runs.push((name, cs, config));
    }
    let (aligned, unaligned, timeout) = (&runs[0].1, &runs[1].1, &runs[2].1);
    let (a, u, t) = (
        median(e2e(aligned)),
        median(e2e(unaligned)),
        median(e2e(timeout)),
    );
    eprintln!("median end-to-end: aligned {a} ms, unaligned {u} ms, timeout {t} ms");
    assert!(
        u * 3.0 <= a,
        "unaligned ({u} ms) is not several times faster than aligned ({a} ms)"
    );
    assert!(
        t * 2.0 <= a,
        "a 100 ms alignment timeout ({t} ms) does not cut the aligned time ({a} ms)"
    );
    for c in aligned {
        assert_eq!(c["checkpoint_type"], "CHECKPOINT", "{c}");
        assert_eq!(c["persisted_data"], 0, "{c}");
    }
    for c in unaligned.iter().chain(timeout) {
        assert_eq!(c["checkpoint_type"], "UNALIGNED_CHECKPOINT", "{c}");
    }
    assert!(
        unaligned
            .iter()
            .any(|c| c["persisted_data"].as_u64() > Some(0)),
        "full queues were overtaken, so in-flight data was persisted: {unaligned:?}"
    );
    assert_eq!(runs[0].2["unaligned_checkpoints"], false);
    assert_eq!(runs[1].2["unaligned_checkpoints"], true);
    assert_eq!(runs[2].2["aligned_checkpoint_timeout"], 100);
}

/// Max over checkpoints of a per-vertex field of the checkpoint details.
fn vertex_max(url: &str, cs: &[Value], vertex: &str, field: &str) -> u64 {
    cs.iter()
        .map(|c| {
            let doc = get_json(&format!(
                "{url}/checkpoints/details/{}/subtasks/{vertex}",
                c["id"]
            ));
            doc["subtasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| match field {
                    "alignment" => s["alignment"]["duration"].as_u64().unwrap_or(0),
                    f => s[f].as_u64().unwrap_or(0),
                })
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_lagging_partition_shows_as_alignment_at_the_merge_and_start_delay_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two source subtasks feed one count: subtask 0 blocks 400 ms in every read,
    // so its barriers leave up to 400 ms after subtask 1's.
    let (r, url) = start_job(
        d,
        "skew",
        "name: skew\npipeline: keyed-count\nparams:\n  keys: 1000\n  rate: 20000\n  source-parallelism: 2\n  source-lag: 400ms\nconfig:\n  parallelism.default: 1\n  execution.checkpointing.interval: 300 ms\n  execution.checkpointing.dir: ck\n  metrics.reporter.prom.port: 0\n  rest.bind-port: 0\n",
        &[],
    );
    let cs = rest_completed(&r, &url, 5);
    let align_count = vertex_max(&url, &cs, "count", "alignment");
    let align_sink = vertex_max(&url, &cs, "sink", "alignment");
    let delay_sink = vertex_max(&url, &cs, "sink", "start_delay");
    let align_source = vertex_max(&url, &cs, "datagen", "alignment");
    r.kill();
    eprintln!(
        "max alignment: count {align_count} ms, sink {align_sink} ms, source {align_source} ms; sink start delay {delay_sink} ms"
    );
    assert!(
        align_count >= 50,
        "the count merges a lagging and a prompt channel: alignment {align_count} ms"
    );
    assert!(
        delay_sink >= 50,
        "the sink's barriers leave the count only after its alignment: start delay {delay_sink} ms"
    );
    assert!(
        align_sink < align_count && align_source == 0,
        "single-input vertices do not align (sink {align_sink} ms, source {align_source} ms)"
    );
}
