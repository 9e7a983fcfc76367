//! The REST API, with Apache Flink's paths, field names and units (ms, bytes),
//! so Flink-aware tools and habits carry over. Served on its own thread by the
//! agent's HTTP server, loopback by default. Endpoints that change a job
//! (trigger a checkpoint, cancel) need `Authorization: Bearer <token>` with the
//! token from `rest.auth.token-env` / `rest.auth.token-file`, and answer 401
//! without it.
//!
//! | file | owns |
//! |---|---|
//! | [`views`] | the JSON documents (Flink's DTOs) built from the job status |

mod flamegraph;
pub mod views;

use crate::runtime::control::Command;
use crate::runtime::status::{lock, JobStatus};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use tidemark_agent::http::{bind_first, parse_ports, response, HttpRequest, HttpServer};

/// What the REST API serves and may act on.
pub struct RestContext {
    /// The job's live status.
    pub status: Arc<JobStatus>,
    /// Job id.
    pub job_id: String,
    /// Job name.
    pub job_name: String,
    /// `/checkpoints/config`, or `None` without checkpointing.
    pub checkpoint_config: Option<Value>,
    /// Checkpoint storage is set (`execution.checkpointing.dir`): savepoints
    /// can be taken, with periodic checkpoints or without, as in Flink.
    pub savepoints: bool,
    /// Carries requests to the job master: trigger, savepoint, stop, cancel.
    pub control: crate::runtime::StopHandle,
    /// Bearer token for changing endpoints; `None` disables them.
    pub token: Option<String>,
    /// `GET /jobs/:id/doctor`'s thresholds.
    pub doctor: crate::doctor::Thresholds,
    /// The job's key groups (`pipeline.max-parallelism`, or its default).
    pub max_parallelism: u32,
    /// The job's metrics: the doctor reads the exporters' self-metrics.
    pub registry: tidemark_agent::registry::Registry,
}

fn json_response(status: u16, v: &Value) -> Response<Full<Bytes>> {
    response(status, "application/json", v.to_string())
}

fn error(status: u16, msg: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "errors": [msg] }))
}

/// Starts the REST server on the first free port of `ports` on `host`.
pub fn start(ctx: RestContext, host: std::net::IpAddr, ports: &str) -> Result<HttpServer, String> {
    let candidates = parse_ports(ports)
        .ok_or_else(|| format!("rest.bind-port: '{ports}' is not valid: expected a port, a range like 8081-8099 or a list"))?;
    let listener = bind_first(host, &candidates)
        .map_err(|e| format!("rest.bind-port: no free port in '{ports}' on {host}: {e}"))?;
    let ctx = Arc::new(ctx);
    HttpServer::start(listener, "rest", Arc::new(move |req| route(&ctx, req)))
        .map_err(|e| format!("could not start the REST server: {e}"))
}

/// A request arrived after the job master ended: nobody will carry it out.
fn no_longer_running() -> Response<Full<Bytes>> {
    error(409, "the job is no longer running")
}

/// `None` when the request carries the bearer token, else the 401 to send.
fn rejected(ctx: &RestContext, req: &HttpRequest) -> Option<Response<Full<Bytes>>> {
    let Some(token) = &ctx.token else {
        return Some(error(
            401,
            "this endpoint changes the job and needs a bearer token; configure rest.auth.token-env or rest.auth.token-file",
        ));
    };
    let given = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        None
    } else {
        Some(error(401, "missing or wrong bearer token"))
    }
}

/// Answers one request.
pub fn route(ctx: &RestContext, req: HttpRequest) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let job = |id: &str| id == ctx.job_id;
    match (&req.method, parts.as_slice()) {
        (&Method::GET, ["jobs"]) => json_response(200, &views::jobs(ctx)),
        (_, ["jobs", id, ..]) if !job(id) => error(404, &format!("Job {id} not found")),
        (&Method::GET, ["jobs", _]) => json_response(200, &views::job_details(ctx)),
        (&Method::PATCH, ["jobs", _]) => match rejected(ctx, &req) {
            Some(r) => r,
            None => {
                // Flink's cancel: no final checkpoint; retention decides what stays.
                ctx.control.cancel();
                json_response(202, &json!({}))
            }
        },
        (&Method::GET, ["jobs", _, "exceptions"]) => json_response(200, &views::exceptions(ctx)),
        (&Method::GET, ["jobs", _, "doctor"]) => {
            let interval = ctx
                .checkpoint_config
                .as_ref()
                .and_then(|c| c["interval"].as_i64());
            match crate::doctor::from_status(&ctx.status, ctx.max_parallelism, interval) {
                Ok(mut facts) => {
                    facts.exporters = crate::doctor::exporters(&ctx.registry);
                    let names: Vec<(String, String)> = lock(&ctx.status.vertices)
                        .iter()
                        .map(|v| (v.name.clone(), v.uid.clone()))
                        .collect();
                    let uid_of = |name: &str| {
                        names
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or_else(|| name.to_string(), |(_, uid)| uid.clone())
                    };
                    facts.partitions =
                        crate::doctor::partitions(&ctx.registry, &ctx.job_id, uid_of);
                    facts.rocksdb = crate::doctor::rocksdb(&ctx.registry, &ctx.job_id, uid_of);
                    let mut d = crate::doctor::diagnose(&facts, &ctx.doctor);
                    match flamegraph::param(req.query.as_deref(), "profile")
                        .map(|s| (s, s.parse::<f64>()))
                    {
                        None => {}
                        Some((_, Ok(s))) if s > 0.0 && s <= flamegraph::MAX_SECONDS => {
                            flamegraph::add_bottleneck_frames(
                                ctx,
                                &facts,
                                &mut d,
                                std::time::Duration::from_secs_f64(s),
                            )
                        }
                        Some((s, _)) => {
                            return error(
                                400,
                                &format!(
                                    "profile={s}: expected the seconds to sample a busy bottleneck for, above 0, at most {}",
                                    flamegraph::MAX_SECONDS
                                ),
                            )
                        }
                    }
                    json_response(200, &serde_json::to_value(d).unwrap_or_default())
                }
                Err(span) => error(
                    503,
                    &format!(
                        "the doctor answers from {} s of measurements and has {:.1} s: ask again shortly",
                        crate::doctor::MIN_WINDOW.as_secs(),
                        span.as_secs_f64()
                    ),
                ),
            }
        }
        (&Method::GET, ["jobs", _, "vertices", vid, "flamegraph"]) => {
            match flamegraph::parse(ctx, vid, req.query.as_deref())
                .and_then(|r| flamegraph::sample(ctx, &r))
            {
                Ok(p) => json_response(200, &flamegraph::answer(&p)),
                Err((status, m)) => error(status, &m),
            }
        }
        (&Method::GET, ["jobs", _, "vertices", vid, "backpressure"]) => {
            match views::backpressure(ctx, vid) {
                Some(v) => json_response(200, &v),
                None => error(404, &format!("Vertex {vid} not found")),
            }
        }
        (&Method::GET, ["jobs", _, "checkpoints"]) => json_response(200, &views::checkpoints(ctx)),
        (&Method::POST, ["jobs", _, "checkpoints"]) => match rejected(ctx, &req) {
            Some(r) => r,
            None if ctx.checkpoint_config.is_none() => {
                error(409, "checkpointing is not enabled for this job")
            }
            None => {
                let id = lock(&ctx.status.checkpoint_requests).request();
                if !ctx.control.send(Command::Checkpoint(id.clone())) {
                    return no_longer_running();
                }
                json_response(202, &json!({ "request-id": id }))
            }
        },
        (&Method::POST, ["jobs", _, "savepoints"]) | (&Method::POST, ["jobs", _, "stop"]) => {
            match rejected(ctx, &req) {
                Some(r) => r,
                None if !ctx.savepoints => error(
                    409,
                    "savepoints need execution.checkpointing.dir (checkpoint storage) to be set",
                ),
                None => {
                    let stop = parts[2] == "stop";
                    // An empty body asks for the defaults; one that is not
                    // JSON is refused rather than read as "no options".
                    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
                        json!({})
                    } else {
                        match serde_json::from_slice(&req.body) {
                            Ok(v) => v,
                            Err(e) => {
                                return error(400, &format!("the request body is not JSON: {e}"))
                            }
                        }
                    };
                    let target = ["target-directory", "targetDirectory"]
                        .iter()
                        .find_map(|k| body.get(*k).and_then(Value::as_str))
                        .map(str::to_string);
                    let cancel = body
                        .get("cancel-job")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    // Flink's stop: `drain` ends event time before the savepoint.
                    let drain = stop && body.get("drain").and_then(Value::as_bool).unwrap_or(false);
                    let unaligned = ctx
                        .checkpoint_config
                        .as_ref()
                        .is_some_and(|c| c["unaligned_checkpoints"] == true);
                    if drain && unaligned {
                        // A barrier that overtakes records would snapshot
                        // operators before the end of event time reaches them.
                        return error(
                            400,
                            "drain needs aligned checkpoints: this job runs with execution.checkpointing.unaligned.enabled: true; stop without drain, or run it aligned",
                        );
                    }
                    let req = lock(&ctx.status.savepoints).request(target, stop || cancel, drain);
                    let id = req.id.clone();
                    if !ctx.control.send(Command::Savepoint(req)) {
                        return no_longer_running();
                    }
                    json_response(202, &json!({ "request-id": id }))
                }
            }
        }
        (&Method::GET, ["jobs", _, "savepoints", tid]) => {
            use crate::runtime::savepoints::SavepointOutcome as O;
            let outcome = lock(&ctx.status.savepoints).outcome(tid);
            match outcome {
                None => error(404, &format!("no savepoint request {tid}")),
                Some(O::InProgress) => json_response(
                    200,
                    &json!({ "status": { "id": "IN_PROGRESS" }, "operation": null }),
                ),
                Some(O::Completed(loc)) => json_response(
                    200,
                    &json!({ "status": { "id": "COMPLETED" }, "operation": { "location": loc } }),
                ),
                Some(O::Failed(why)) => json_response(
                    200,
                    &json!({ "status": { "id": "COMPLETED" },
                             "operation": { "failure-cause": { "class": "SavepointFailure", "stack-trace": why, "serialized-throwable": null } } }),
                ),
            }
        }
        (&Method::GET, ["jobs", _, "checkpoints", "config"]) => match &ctx.checkpoint_config {
            Some(c) => json_response(200, c),
            None => error(404, "Checkpointing is not enabled for this job"),
        },
        (&Method::GET, ["jobs", _, "checkpoints", tid]) if tid.len() == 32 => {
            use crate::runtime::checkpoint_requests::CheckpointOutcome as O;
            let outcome = lock(&ctx.status.checkpoint_requests).outcome(tid);
            match outcome {
                None => error(404, &format!("no checkpoint request {tid}")),
                Some(O::InProgress) => json_response(
                    200,
                    &json!({ "status": { "id": "IN_PROGRESS" }, "operation": null }),
                ),
                Some(O::Completed(id)) => json_response(
                    200,
                    &json!({ "status": { "id": "COMPLETED" }, "operation": { "checkpointId": id } }),
                ),
                Some(O::Failed(why)) => json_response(
                    200,
                    &json!({ "status": { "id": "COMPLETED" },
                             "operation": { "failure-cause": { "class": "CheckpointException", "stack-trace": why, "serialized-throwable": null } } }),
                ),
            }
        }
        (&Method::GET, ["jobs", _, "checkpoints", "details", cid]) => match cid
            .parse()
            .ok()
            .and_then(|c| views::checkpoint_details(ctx, c))
        {
            Some(v) => json_response(200, &v),
            None => error(
                404,
                &format!("Checkpoint {cid} not found (the history keeps the latest 10)"),
            ),
        },
        (&Method::GET, ["jobs", _, "checkpoints", "details", cid, "subtasks", vid]) => {
            match cid
                .parse()
                .ok()
                .and_then(|c| views::subtask_details(ctx, c, vid))
            {
                Some(v) => json_response(200, &v),
                None => error(404, &format!("Checkpoint {cid} or vertex {vid} not found")),
            }
        }
        _ => error(404, &format!("no endpoint {} {}", req.method, req.path)),
    }
}
