//! Flink's REST documents, built from the job status. Field names, casing and
//! units follow Flink (shared/reference/flink-observability.md §4).

use super::RestContext;
use crate::runtime::checkpoint_stats::{summary, Record, Status};
use crate::runtime::status::lock;
use crate::runtime::status::VertexInfo;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

fn now() -> i64 {
    crate::operator::now_ms()
}

fn state(ctx: &RestContext) -> &'static str {
    *lock(&ctx.status.state)
}

fn vertices(ctx: &RestContext) -> Vec<VertexInfo> {
    lock(&ctx.status.vertices).clone()
}

/// `GET /jobs`.
pub fn jobs(ctx: &RestContext) -> Value {
    json!({ "jobs": [{ "id": ctx.job_id, "status": state(ctx) }] })
}

/// `GET /jobs/:id` (`JobDetailsInfo`, with each vertex's `IOMetricsInfo`).
pub fn job_details(ctx: &RestContext) -> Value {
    let start = ctx.status.start_ms.load(Ordering::Relaxed);
    let end = ctx.status.end_ms.load(Ordering::Relaxed);
    let duration = if end > 0 { end - start } else { now() - start };
    let tasks = lock(&ctx.status.tasks).clone();
    let vs = vertices(ctx);
    let st = state(ctx);
    let vertex_json: Vec<Value> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (mut rin, mut rout, mut busy, mut idle, mut bp) = (0u64, 0u64, 0u64, 0u64, 0u64);
            for t in tasks.iter().filter(|t| t.node == i) {
                let r = t.metrics.read();
                rin += r.records_in;
                rout += r.records_out;
                busy += r.busy_ns;
                idle += r.idle_ns;
                bp += r.backpressured_ns;
            }
            json!({
                "id": v.uid, "name": v.name, "parallelism": v.parallelism, "status": st,
                "start-time": start, "end-time": if end > 0 { end } else { -1 }, "duration": duration,
                "metrics": {
                    "read-bytes": 0, "read-bytes-complete": false, "write-bytes": 0, "write-bytes-complete": false,
                    "read-records": rin, "read-records-complete": true,
                    "write-records": rout, "write-records-complete": true,
                    "accumulated-backpressured-time": bp / 1_000_000,
                    "accumulated-idle-time": idle / 1_000_000,
                    "accumulated-busy-time": busy as f64 / 1e6,
                }
            })
        })
        .collect();
    let nodes: Vec<Value> = vs
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = v
                .inputs
                .iter()
                .enumerate()
                .map(|(n, (from, part))| json!({"num": n, "id": vs[*from].uid, "ship_strategy": part, "exchange": "pipelined_bounded"}))
                .collect();
            json!({"id": v.uid, "parallelism": v.parallelism, "operator": "", "description": v.name, "inputs": inputs})
        })
        .collect();
    json!({
        "jid": ctx.job_id, "name": ctx.job_name, "isStoppable": false, "state": st,
        "start-time": start, "end-time": if end > 0 { end } else { -1 }, "duration": duration, "now": now(),
        "vertices": vertex_json,
        "plan": { "jid": ctx.job_id, "name": ctx.job_name, "nodes": nodes },
    })
}

/// `GET /jobs/:id/vertices/:vid/backpressure` (`JobVertexBackPressureInfo`).
pub fn backpressure(ctx: &RestContext, vid: &str) -> Option<Value> {
    let vs = vertices(ctx);
    vs.iter().position(|v| v.uid == vid)?;
    let pressure = ctx.status.backpressure();
    let Some(p) = pressure.iter().find(|p| p.uid == vid) else {
        return Some(json!({ "status": "deprecated" }));
    };
    let end = ctx
        .status
        .sampled_at()
        .map(|t| now() - t.elapsed().as_millis() as i64)
        .unwrap_or_else(now);
    let subtasks: Vec<Value> = p
        .subtasks
        .iter()
        .map(|s| {
            json!({
                "subtask": s.subtask, "backpressureLevel": s.level,
                "ratio": s.shares.backpressured, "idleRatio": s.shares.idle, "busyRatio": s.shares.busy,
            })
        })
        .collect();
    Some(
        json!({ "status": "ok", "backpressureLevel": p.level, "end-timestamp": end, "subtasks": subtasks }),
    )
}

fn record(r: &Record, tasks: Value) -> Value {
    let mut m = Map::new();
    let (class, status) = match r.status {
        Status::Completed => ("completed", "COMPLETED"),
        Status::Failed => ("failed", "FAILED"),
        Status::InProgress => ("in_progress", "IN_PROGRESS"),
    };
    let size = r.size();
    for (k, v) in [
        ("className", json!(class)),
        ("id", json!(r.id)),
        ("status", json!(status)),
        ("is_savepoint", json!(false)),
        ("savepointFormat", Value::Null),
        ("trigger_timestamp", json!(r.trigger_ms)),
        ("latest_ack_timestamp", json!(r.latest_ack_ms())),
        ("checkpointed_size", json!(size)),
        ("state_size", json!(r.full_size())),
        ("end_to_end_duration", json!(r.end_to_end_ms())),
        ("alignment_buffered", json!(0)),
        ("processed_data", json!(r.processed())),
        ("persisted_data", json!(r.persisted())),
        ("num_subtasks", json!(r.num_subtasks)),
        ("num_acknowledged_subtasks", json!(r.subtasks.len())),
        (
            "checkpoint_type",
            json!(if r.unaligned() {
                "UNALIGNED_CHECKPOINT"
            } else {
                "CHECKPOINT"
            }),
        ),
        ("tasks", tasks),
    ] {
        m.insert(k.into(), v);
    }
    match r.status {
        Status::Completed => {
            m.insert("external_path".into(), json!(r.path));
            m.insert("discarded".into(), json!(false));
        }
        Status::Failed => {
            m.insert("failure_timestamp".into(), json!(r.end_ms));
            m.insert("failure_message".into(), json!(r.failure));
        }
        Status::InProgress => {}
    }
    Value::Object(m)
}

/// `GET /jobs/:id/checkpoints` (`CheckpointingStatistics`).
pub fn checkpoints(ctx: &RestContext) -> Value {
    let s = lock(&ctx.status.checkpoints);
    let col = |f: fn(&crate::runtime::checkpoint_stats::Sample) -> f64| {
        summary(&s.samples.iter().map(f).collect::<Vec<_>>())
    };
    let sizes = col(|x| x.size as f64);
    json!({
        "counts": {
            "restored": s.restored_count, "total": s.total, "in_progress": s.in_progress(),
            "completed": s.completed, "failed": s.failed,
        },
        "summary": {
            "checkpointed_size": sizes, "state_size": col(|x| x.full_size as f64),
            "end_to_end_duration": col(|x| x.e2e_ms as f64), "alignment_buffered": col(|_| 0.0),
            "processed_data": col(|x| x.processed as f64), "persisted_data": col(|x| x.persisted as f64),
        },
        "latest": {
            "completed": s.latest_completed.as_ref().map(|r| record(r, json!({}))),
            "savepoint": Value::Null,
            "failed": s.latest_failed.as_ref().map(|r| record(r, json!({}))),
            "restored": s.restored.as_ref().map(|r| json!({
                "id": r.id, "restore_timestamp": r.restore_ms, "is_savepoint": false, "external_path": r.path,
            })),
        },
        "history": s.history.iter().map(|r| record(r, json!({}))).collect::<Vec<_>>(),
    })
}

fn task_stats(r: &Record, node: usize, v: &VertexInfo) -> Value {
    let subs: Vec<_> = r.subtasks.iter().filter(|s| s.node == node).collect();
    let size: u64 = subs.iter().map(|s| s.size).sum();
    let full: u64 = subs.iter().map(|s| s.full_size).sum();
    let latest = subs.iter().map(|s| s.ack_ms).max().unwrap_or(r.trigger_ms);
    let status = if subs.len() == v.parallelism {
        "COMPLETED"
    } else if r.status == Status::Failed {
        "FAILED"
    } else {
        "IN_PROGRESS"
    };
    let processed: u64 = subs.iter().map(|s| s.processed).sum();
    let persisted: u64 = subs.iter().map(|s| s.persisted).sum();
    json!({
        "id": r.id, "status": status, "latest_ack_timestamp": latest, "checkpointed_size": size, "state_size": full,
        "end_to_end_duration": latest - r.trigger_ms, "alignment_buffered": 0, "processed_data": processed, "persisted_data": persisted,
        "num_subtasks": v.parallelism, "num_acknowledged_subtasks": subs.len(),
    })
}

/// `GET /jobs/:id/checkpoints/details/:cid`.
pub fn checkpoint_details(ctx: &RestContext, cid: u64) -> Option<Value> {
    let s = lock(&ctx.status.checkpoints);
    let r = s.get(cid)?;
    let mut tasks = Map::new();
    for (i, v) in vertices(ctx).iter().enumerate() {
        tasks.insert(v.uid.clone(), task_stats(r, i, v));
    }
    Some(record(r, Value::Object(tasks)))
}

/// `GET /jobs/:id/checkpoints/details/:cid/subtasks/:vid`.
pub fn subtask_details(ctx: &RestContext, cid: u64, vid: &str) -> Option<Value> {
    let vs = vertices(ctx);
    let node = vs.iter().position(|v| v.uid == vid)?;
    let s = lock(&ctx.status.checkpoints);
    let r = s.get(cid)?;
    let mut doc = task_stats(r, node, &vs[node]);
    let subs: Vec<_> = r.subtasks.iter().filter(|s| s.node == node).collect();
    let col = |f: fn(&crate::runtime::checkpoint_stats::SubtaskRecord) -> f64| {
        summary(&subs.iter().map(|s| f(s)).collect::<Vec<_>>())
    };
    let zeros = col(|_| 0.0);
    doc["summary"] = json!({
        "checkpointed_size": col(|s| s.size as f64),
        "state_size": col(|s| s.full_size as f64),
        "end_to_end_duration": summary(&subs.iter().map(|s| (s.ack_ms - r.trigger_ms) as f64).collect::<Vec<_>>()),
        "checkpoint_duration": { "sync": col(|s| s.sync_ms as f64), "async": col(|s| s.async_ms as f64) },
        "alignment": { "buffered": zeros, "processed": col(|s| s.processed as f64), "persisted": col(|s| s.persisted as f64), "duration": col(|s| s.alignment_ms as f64) },
        "start_delay": col(|s| s.start_delay_ms as f64),
    });
    let subtasks: Vec<Value> = (0..vs[node].parallelism)
        .map(|i| match subs.iter().find(|s| s.subtask == i) {
            Some(s) => json!({
                "className": "completed", "index": i, "status": "completed", "ack_timestamp": s.ack_ms,
                "end_to_end_duration": s.ack_ms - r.trigger_ms, "checkpointed_size": s.size, "state_size": s.full_size,
                "checkpoint": { "sync": s.sync_ms, "async": s.async_ms },
                "alignment": { "buffered": 0, "processed": s.processed, "persisted": s.persisted, "duration": s.alignment_ms },
                "start_delay": s.start_delay_ms, "unaligned_checkpoint": s.unaligned, "aborted": false,
            }),
            None => json!({ "className": "pending", "index": i, "status": "pending_or_failed" }),
        })
        .collect();
    doc["subtasks"] = json!(subtasks);
    Some(doc)
}

/// `GET /jobs/:id/exceptions` (`JobExceptionsInfoWithHistory`).
pub fn exceptions(ctx: &RestContext) -> Value {
    let ex = lock(&ctx.status.exceptions).clone();
    let last = ex.last();
    json!({
        "root-exception": last.map(|e| e.2.clone()),
        "timestamp": last.map(|e| e.0),
        "all-exceptions": ex.iter().rev().map(|(t, task, m)| json!({"exception": m, "task": task, "location": "localhost", "timestamp": t})).collect::<Vec<_>>(),
        "truncated": false,
        "exceptionHistory": {
            "entries": ex.iter().rev().map(|(t, task, m)| json!({
                "exceptionName": "TaskFailure", "stacktrace": m, "timestamp": t, "taskName": task, "location": "localhost",
            })).collect::<Vec<_>>(),
            "truncated": false,
        },
    })
}
