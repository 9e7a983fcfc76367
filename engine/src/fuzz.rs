//! What the fuzz targets in `fuzz/` feed each reader of untrusted bytes, and
//! the test that replays their committed corpora (`tests/tests/fuzz_corpora.rs`).
//! Each function takes raw bytes and returns the reader's verdict: `Ok` or a
//! message. A panic, a hang or an allocation out of proportion to the input
//! is the bug they look for; a message is the right answer to bad input.
//!
//! Not a user API: it is public only so the fuzz crate, a separate build, can
//! reach the readers.

use crate::checkpoint::channel_state::ChannelState;
use crate::checkpoint::metadata::CheckpointMetadata;
use crate::jobfile::JobFile;
use crate::state::key_group::KeyGroupRange;
use crate::state::state_file::StateFile;
use crate::state::store::{HeapStore, KvStore};
use crate::state::timers::TimerService;
use std::path::Path;
use std::sync::Arc;

/// A job file as `tidemark run` reads it: YAML, then every check of the
/// job, its configuration and the pipeline's parameters.
pub fn job_file(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let (job, problems) =
        JobFile::parse_lenient(text, Path::new("fuzz.yaml")).map_err(|e| e.to_string())?;
    crate::cli::run::check_job(job, problems, &[], None, &builtins())
        .map(drop)
        .map_err(|p| p.join("\n"))
}

fn builtins() -> Vec<&'static crate::pipelines::PipelineSpec> {
    crate::pipelines::with_builtins(&[])
}

/// `--set KEY=VALUE` lines (and a `--linger` on a line starting `linger `)
/// over a valid job file: the configuration's parsers and cross-checks.
pub fn config_set(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let (job, problems) = JobFile::parse_lenient(
        "name: fuzz\npipeline: keyed-count\n",
        Path::new("fuzz.yaml"),
    )
    .map_err(|e| e.to_string())?;
    let mut linger = None;
    let mut set = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("linger ") {
            Some(l) => linger = Some(l),
            None => set.push(line.to_string()),
        }
    }
    crate::cli::run::check_job(job, problems, &set, linger, &builtins())
        .map(drop)
        .map_err(|p| p.join("\n"))
}

/// A `_metadata` file. Bytes that start with `{` are taken as the JSON body
/// and framed with a correct magic and CRC32 (as a hostile writer would), so
/// the fuzzer reaches the JSON and the checks behind the checksum; other
/// bytes are decoded as they are.
pub fn metadata(data: &[u8]) -> Result<(), String> {
    let framed;
    let bytes = if data.first() == Some(&b'{') {
        framed = frame_metadata(data);
        &framed
    } else {
        data
    };
    let m = CheckpointMetadata::decode(bytes)?;
    // What a restore and the CLI compute from it.
    let _ = (m.state_size(), m.shared_files().count());
    Ok(())
}

/// Frames a JSON body as a `_metadata` file: magic, CRC32, JSON.
pub fn frame_metadata(json: &[u8]) -> Vec<u8> {
    let mut out = b"TMCKPT01".to_vec();
    out.extend_from_slice(&crc32fast::hash(json).to_le_bytes());
    out.extend_from_slice(json);
    out
}

/// A state file after its size and CRC32 matched (anyone can forge both):
/// the footer and every chunk decompressed, the verdict; then each chunk
/// restored as the built-in pipelines' tables and timers are, and the
/// in-flight data of an unaligned checkpoint decoded, which must not panic
/// but may fail (the types are a guess: the file does not name them).
pub fn state_file(data: &[u8]) -> Result<(), String> {
    let f = Arc::new(StateFile::from_bytes(data.to_vec()).map_err(|e| e.to_string())?);
    let all = KeyGroupRange {
        start: 0,
        end: u32::MAX,
    };
    for (_, chunk) in f.chunk_refs(all) {
        let raw = chunk.load().map_err(|e| e.to_string())?;
        let _ = HeapStore::<u64, u64>::default().restore_chunk(&raw);
        let _ = HeapStore::<String, i64>::default().restore_chunk(&raw);
        let _ = HeapStore::<u64, Vec<u8>>::default().restore_chunk(&raw);
        let _ = TimerService::<u64>::default().restore(vec![raw]);
    }
    let _ = ChannelState::<u64, (u64, u64)>::decode(f.channel_state(), 2, &[2]);
    Ok(())
}

/// A REST request: a first line `METHOD /path?query`, header lines
/// `Name: value`, an empty line, then the body. Answered by the router of a
/// job with two vertices and checkpointing on; returns the status code.
pub fn rest(data: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
    let Ok(method) = hyper::Method::from_bytes(method.as_bytes()) else {
        return 400;
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut headers = hyper::HeaderMap::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.trim().as_bytes()),
            hyper::header::HeaderValue::from_str(v.trim()),
        ) {
            headers.append(k, v);
        }
    }
    let req = tidemark_agent::http::HttpRequest {
        method,
        path,
        query,
        headers,
        body: bytes::Bytes::copy_from_slice(body.as_bytes()),
    };
    // A fresh job each time: requests a route records (checkpoints,
    // savepoints, a cancel) would otherwise pile up across runs.
    let (control, _job_master) = crate::runtime::StopHandle::channel();
    crate::rest::route(&rest_context(control), req)
        .status()
        .as_u16()
}

/// The job id the REST target's job answers to.
pub const REST_JOB_ID: &str = "0123456789abcdef0123456789abcdef";
/// The token the REST target's changing endpoints accept.
pub const REST_TOKEN: &str = "fuzz-token";

/// `control` reaches a job master that reads nothing: requests are filed
/// and answered as accepted, as a running job's would be.
fn rest_context(control: crate::runtime::StopHandle) -> crate::rest::RestContext {
    let status = Arc::new(crate::runtime::status::JobStatus::default());
    *crate::runtime::status::lock(&status.vertices) = vec![
        crate::runtime::status::VertexInfo {
            uid: "source".into(),
            name: "Source: datagen".into(),
            parallelism: 2,
            inputs: vec![],
        },
        crate::runtime::status::VertexInfo {
            uid: "count".into(),
            name: "count".into(),
            parallelism: 2,
            inputs: vec![(0, "HASH")],
        },
    ];
    crate::rest::RestContext {
        status,
        job_id: REST_JOB_ID.into(),
        job_name: "fuzz".into(),
        checkpoint_config: Some(serde_json::json!({ "mode": "exactly_once" })),
        savepoints: true,
        control,
        token: Some(REST_TOKEN.into()),
        doctor: Default::default(),
        max_parallelism: 128,
        registry: Default::default(),
    }
}
