//! Checkpoints in a real S3 server (SeaweedFS on loopback): RocksDB
//! incremental checkpoints survive an outage of the store and a SIGKILL in the
//! middle of an upload, and leave no orphaned objects behind.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tidemark::inspect::CheckpointMetadata;
use tidemark::inspect::{Location, S3Settings};
use tidemark_tests::servers::{curl, s3, Server};
use tidemark_tests::{committed_lines, get_json, start_job, wait_for_or, Running};

const TOKEN: &str = "s3-test-token";

fn env(s3: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://{}", s3.addr)),
        ("AWS_ACCESS_KEY_ID", "tidemark".into()),
        ("AWS_SECRET_ACCESS_KEY", "tidemark-secret".into()),
        ("TIDEMARK_REST_TOKEN", TOKEN.into()),
    ]
}

fn job(prefix: &str, extra: &str) -> String {
    let config = [
        "parallelism.default: 1".to_string(),
        "execution.checkpointing.interval: 300 ms".into(),
        format!("execution.checkpointing.dir: s3://checkpoints/{prefix}"),
        "execution.checkpointing.incremental: true".into(),
        "execution.checkpointing.tolerable-failed-checkpoints: 1000".into(),
        "execution.checkpointing.num-retained: 2".into(),
        "execution.checkpointing.timeout: 20 s".into(),
        "execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION".into(),
        "state.backend.type: rocksdb".into(),
        "state.backend.rocksdb.localdir: rocks".into(),
        "s3.max-retries: 1".into(),
        "restart-strategy.type: none".into(),
        "metrics.reporter.prom.port: 0".into(),
        "rest.bind-port: 0".into(),
        "rest.auth.token-env: TIDEMARK_REST_TOKEN".into(),
    ];
    format!(
        "name: s3-job\npipeline: keyed-count\nparams:\n  keys: 5000\n{extra}config:\n{}\n",
        config.map(|c| format!("  {c}")).join("\n")
    )
}

fn counts(url: &str) -> (u64, u64) {
    let c = &get_json(&format!("{url}/checkpoints"))["counts"];
    (
        c["completed"].as_u64().unwrap_or(0),
        c["failed"].as_u64().unwrap_or(0),
    )
}

fn bucket(s3: &Server, prefix: &str) -> Location {
    let s = S3Settings {
        endpoint: Some(format!("http://{}", s3.addr)),
        region: None,
        access_key: Some("tidemark".into()),
        secret_key: Some("tidemark-secret".into()),
        path_style: true,
        max_retries: 1,
    };
    Location::parse(&format!("s3://checkpoints/{prefix}"), &s, "test").unwrap()
}

fn start(d: &Path, s3: &Server, yaml: &str, extra_args: &[&str]) -> (Running, String) {
    let e = env(s3);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if extra_args.is_empty() {
        return start_job(d, "s3-job", yaml, &e);
    }
    let job = tidemark_tests::write_file(d, "s3-job.yaml", yaml);
    let mut args = vec!["run", job.as_str(), "--status-interval", "0"];
    args.extend_from_slice(extra_args);
    let r = Running::start_with_env(d, &args, &e);
    let url = r.rest_url();
    (r, url)
}

#[test]
fn an_s3_outage_fails_checkpoints_the_job_keeps_running_and_no_orphans_remain() {
    let mut s3 = s3();
    let d = tempfile::tempdir().unwrap();
    let (r, url) = start(d.path(), &s3, &job("outage", "  rate: 20000\n"), &[]);
    let wait = |what: &str, f: &dyn Fn((u64, u64)) -> bool| {
        wait_for_or(
            what,
            Duration::from_secs(90),
            || f(counts(&url)).then_some(()),
            || r.stderr(),
        )
    };
    wait("3 completed checkpoints", &|(c, _)| c >= 3);
    s3.pause();
    wait("a checkpoint failed while S3 is down", &|(_, f)| f >= 1);
    assert_eq!(get_json(&url)["state"], "RUNNING", "the job keeps running");
    let (_, body) = curl(&[&format!("http://{}/metrics", r.metrics_addr())]);
    assert!(
        body.lines()
            .any(|l| l.starts_with("tidemark_checkpoint_failed_total{") && !l.ends_with(" 0")),
        "failures are counted in the metrics"
    );
    s3.resume_s3();
    let (c0, _) = counts(&url);
    wait("checkpoints complete again after S3 returns", &|(c, _)| {
        c >= c0 + 3
    });
    // Cancel through REST; RETAIN_ON_CANCELLATION keeps the 2 retained checkpoints.
    let (code, _) = curl(&[
        "-X",
        "PATCH",
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        &url,
    ]);
    assert_eq!(code, 202);
    let (code, err) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");

    // Every object in the bucket is needed by a retained checkpoint.
    let root = bucket(&s3, "outage");
    let listed: BTreeSet<String> = root
        .list()
        .unwrap()
        .into_iter()
        .map(|(l, _)| l.relative_to(&root).unwrap())
        .collect();
    let metas: Vec<&String> = listed
        .iter()
        .filter(|k| k.ends_with("/_metadata"))
        .collect();
    assert_eq!(metas.len(), 2, "2 retained checkpoints: {listed:#?}");
    let mut needed = BTreeSet::new();
    for m in metas {
        let chk = root.join(m.trim_end_matches("/_metadata"));
        let job = chk.parent().relative_to(&root).unwrap();
        let meta = CheckpointMetadata::load(&chk).unwrap();
        needed.insert(m.clone());
        for h in meta
            .operators
            .iter()
            .flat_map(|o| o.subtasks.iter().flatten())
        {
            needed.insert(format!("{}/{}", chk.relative_to(&root).unwrap(), h.file));
            for f in h.native.iter().flat_map(|n| n.files.iter()) {
                needed.insert(format!("{job}/{}", f.key));
            }
        }
    }
    let orphans: Vec<_> = listed.difference(&needed).collect();
    assert!(orphans.is_empty(), "orphaned objects: {orphans:#?}");
    let missing: Vec<_> = needed.difference(&listed).collect();
    assert!(missing.is_empty(), "missing objects: {missing:#?}");
    assert!(
        listed.iter().any(|k| k.contains("/shared/")),
        "incremental checkpoints share SST files"
    );
}

#[test]
fn sigkill_during_an_incremental_upload_then_restore_is_exactly_once() {
    let s3 = s3();
    let d = tempfile::tempdir().unwrap();
    let extra = "  events: 60000\n  rate: 15000\n  sink: file\n  output: out\n";
    let yaml = job("kill", extra);
    let (r, url) = start(d.path(), &s3, &yaml, &[]);
    wait_for_or(
        "two completed checkpoints",
        Duration::from_secs(90),
        || (counts(&url).0 >= 2).then_some(()),
        || r.stderr(),
    );
    // Freeze the store: the next checkpoint's upload hangs mid-request.
    s3.freeze();
    let in_flight = wait_for_or(
        "a checkpoint stuck in its upload",
        Duration::from_secs(60),
        || {
            let doc = get_json(&format!("{url}/checkpoints"));
            doc["history"]
                .as_array()?
                .iter()
                .find(|c| c["status"] == "IN_PROGRESS")?["id"]
                .as_u64()
        },
        || r.stderr(),
    );
    r.kill();
    s3.thaw();
    // The cut-off attempt has no metadata: it is not a checkpoint.
    let root = bucket(&s3, "kill");
    let metas: Vec<String> = root
        .list()
        .unwrap()
        .into_iter()
        .map(|(l, _)| l.relative_to(&root).unwrap())
        .filter(|k| k.ends_with("/_metadata"))
        .collect();
    assert!(
        !metas
            .iter()
            .any(|k| k.ends_with(&format!("chk-{in_flight}/_metadata"))),
        "{metas:?}"
    );
    let (r2, _) = start(d.path(), &s3, &yaml, &["--restore", "latest"]);
    let (code, err) = r2.wait(Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    let restored: u64 = err
        .split("from checkpoint ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the restore is logged: {err}"));
    assert!(
        restored < in_flight,
        "checkpoint {in_flight} was cut off; {restored} was restored"
    );
    // Exactly once, against the generator: every key's counts are 1..=n with
    // n from the records generated for it, each once.
    let lines = committed_lines(&d.path().join("out"));
    tidemark_tests::assert_counts_match_generator(&lines, 5000, 60_000, 42);
}

#[test]
fn large_files_stream_up_in_parts_and_down_with_their_crc() {
    let s3 = s3();
    let d = tempfile::tempdir().unwrap();
    // 40 MiB of varied bytes: three multipart parts.
    let src = d.path().join("big.sst");
    let mut x = 1u64;
    let data: Vec<u8> = (0..40 << 20)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(&src, &data).unwrap();
    let obj = bucket(&s3, "parts").join("big.sst");
    let up = obj.put_file(&src).unwrap();
    assert_eq!(up, (data.len() as u64, crc32fast_hash(&data)));
    let dst = d.path().join("back.sst");
    assert_eq!(obj.get_file(&dst).unwrap(), up);
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the bytes come back unchanged"
    );
}

fn crc32fast_hash(b: &[u8]) -> u32 {
    tidemark::inspect::crc32(b)
}
