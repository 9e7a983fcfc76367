//! Whether a checkpoint can be restored into a graph: every operator with
//! state still exists (or its state is dropped on request), keyed state keeps
//! its number of key groups, and non-keyed state keeps its parallelism.

use crate::api::JobGraph;
use crate::checkpoint::metadata::CheckpointMetadata;
use crate::error::{Error, Result};

/// Checks that `meta` can be restored into this graph: every operator with
/// state still exists, and keyed state keeps its number of key groups.
pub fn check_compatible(
    graph: &JobGraph,
    meta: &CheckpointMetadata,
    allow_non_restored: bool,
) -> Result<()> {
    let mut problems = Vec::new();
    for op in &meta.operators {
        if op.subtasks.iter().all(Option::is_none) {
            continue;
        }
        let Some(node) = graph.nodes.iter().find(|n| n.uid == op.uid) else {
            if allow_non_restored {
                log::warn!(
                    "dropping the state of operator uid '{}' ({}): this job does not have it (--allow-non-restored-state)",
                    op.uid, op.vertex
                );
            } else {
                problems.push(format!(
                    "the checkpoint has state for operator uid '{}' ({}) which this job does not have; \
                     pass --allow-non-restored-state to drop it",
                    op.uid, op.vertex
                ));
            }
            continue;
        };
        if node.keyed && op.max_parallelism != graph.max_parallelism {
            problems.push(format!(
                "operator '{}' was checkpointed with pipeline.max-parallelism={}, this job uses {}: keyed state cannot move between key-group counts; set pipeline.max-parallelism={}",
                op.uid, op.max_parallelism, graph.max_parallelism, op.max_parallelism
            ));
        }
        // Sources hand their splits over and sinks their pending transactions
        // at another parallelism; other non-keyed state cannot be split.
        let rescalable = node.keyed || node.is_source || node.is_sink;
        if !rescalable && node.parallelism != op.parallelism {
            problems.push(format!(
                "operator '{}' has non-keyed state from parallelism {} but now runs with {}; keep its parallelism",
                op.uid, op.parallelism, node.parallelism
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!("--restore: {}", problems.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::{OperatorState, FORMAT_VERSION};
    use crate::state::state_file::StateHandle;

    fn graph() -> JobGraph {
        let cfg = crate::source::datagen::DatagenConfig {
            keys: 10,
            distribution: crate::source::datagen::KeyDistribution::Uniform,
            rate: 0,
            events: Some(10),
            seed: 1,
            event_time_start_ms: 0,
            event_time_rate: 1000,
            out_of_orderness_ms: 0,
            warmup: 0,
        };
        let env = crate::api::StreamEnv::new("j").with_pipeline("p");
        env.source::<crate::source::datagen::Event>(move || {
            Box::new(crate::source::datagen::DatagenSource::new(
                cfg.clone(),
                None,
            ))
        })
        .name("datagen")
        .uid("datagen")
        .key_by(|e: &crate::source::datagen::Event| e.key)
        .process(crate::pipelines::RunningCount::<u64, crate::source::datagen::Event>::default)
        .name("count")
        .uid("count")
        .sink(|| Box::new(crate::sink::blackhole::BlackholeSink))
        .name("sink")
        .uid("sink");
        env.build_with(2, Some(128)).unwrap()
    }

    fn meta(uids: &[&str], max_parallelism: u32) -> CheckpointMetadata {
        CheckpointMetadata {
            version: FORMAT_VERSION,
            job_name: "j".into(),
            job_id: "x".into(),
            pipeline: "p".into(),
            checkpoint_id: 1,
            trigger_ms: 0,
            completed_ms: 0,
            is_final: false,
            savepoint: true,
            operators: uids
                .iter()
                .map(|u| OperatorState {
                    uid: u.to_string(),
                    vertex: u.to_string(),
                    parallelism: 4,
                    max_parallelism,
                    subtasks: vec![Some(StateHandle::of("f", b"x"))],
                })
                .collect(),
        }
    }

    #[test]
    fn removed_state_needs_allow_non_restored_and_key_groups_must_match() {
        let g = graph();
        // Keyed state rescales (4 → 2); a new operator without state is fine.
        assert!(check_compatible(&g, &meta(&["count"], 128), false).is_ok());
        let e = check_compatible(&g, &meta(&["count", "gone"], 128), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'gone'") && e.contains("--allow-non-restored-state"),
            "{e}"
        );
        assert!(check_compatible(&g, &meta(&["count", "gone"], 128), true).is_ok());
        let e = check_compatible(&g, &meta(&["count"], 256), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pipeline.max-parallelism=256"), "{e}");
    }
}
