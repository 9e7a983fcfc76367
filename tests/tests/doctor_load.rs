//! `tidemark doctor` on a keyed vertex that does real work per record
//! (`params.count-work`): one dominant key makes `data-skew` at the subtask
//! that owns it; a uniform load above one subtask's capacity makes
//! `under-provisioned`, whose recommended parallelism, applied through a
//! savepoint, leaves the job healthy. Their own test binary, one job at a
//! time: busy shares are what the rules read, and two jobs flat out on two
//! cores would make each other's.

use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tidemark::source::datagen::{zipf_cdf, KeyDistribution};
use tidemark::state::key_group::{assign_to_key_group, operator_index_for_key_group};
use tidemark_tests::doctor::*;
use tidemark_tests::stream_jobs::{sets, start_with_token, stop_with_savepoint};
use tidemark_tests::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MAX_PARALLELISM: u32 = 128;

/// keyed-count whose count spends 50 µs of CPU a record (20 000 records a
/// second per subtask at most), with `params` and `config` lines added.
fn job(params: &str, config: &str) -> String {
    format!(
        "name: doctor-load
pipeline: keyed-count
params:
  sink: blackhole
  source-parallelism: 1
  count-work: 50us
{params}config:
  pipeline.max-parallelism: {MAX_PARALLELISM}
  metrics.reporter.prom.port: 0
{config}"
    )
}

/// `tidemark doctor URL --json` until `ok`, within 30 s; no profile (the
/// busy shares are what these tests read, and sampling would only slow the
/// polls).
fn wait(d: &Path, r: &Running, url: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let no_profile = ["--profile", "0 s"];
    wait_doctor_with(d, r, url, &no_profile, what, Duration::from_secs(30), ok)
}

/// Zipf keys with exponent 2 over 1 000 keys: the hottest key carries about
/// 60 % of the records, until the file that keeps the fault is deleted
/// (`params.faults-while-exists`) and the finding clears. The oracle for
/// the subtask, and the key group and key named first, is the generator
/// (the key it draws most often over the first 100 000 records) and
/// Flink's key group assignment, not the doctor.
#[test]
fn one_dominant_key_is_named_data_skew_at_the_subtask_that_owns_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (keys, exponent, seed) = (1000u64, 2.0, 42u64);
    let gen = generator(keys, KeyDistribution::Zipf(exponent), seed);
    let cdf = zipf_cdf(keys, exponent);
    let mut counts = std::collections::HashMap::<u64, u64>::new();
    for i in 0..100_000 {
        *counts
            .entry(gen.record(i, Some(cdf.as_slice())).key)
            .or_default() += 1;
    }
    let (hot_key, _) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    let hot_group = assign_to_key_group(hot_key, MAX_PARALLELISM);
    let hot = operator_index_for_key_group(MAX_PARALLELISM, 2, hot_group);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let yaml = job(
        &format!(
            "  keys: {keys}\n  distribution: zipf\n  zipf-exponent: {exponent}\n  seed: {seed}\n  rate: 0\n  count-parallelism: 2\n  faults-while-exists: ./skewed\n"
        ),
        "",
    );
    std::fs::write(d.join("skewed"), "").unwrap();
    let (r, url) = start_job(d, "doctor-skew", &yaml, &[]);
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let v = wait(d, &r, &url, "data-skew within 30 s", |v| {
        v["findings"][0]["cause"] == "data-skew"
    });
    assert_eq!(v["findings"][0]["vertex"], "count", "{v}");
    assert_eq!(v["findings"][0]["subtask"], hot, "{v}");
    // The hottest key's key group leads the key groups named.
    let first_group = v["findings"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"].as_str().unwrap().starts_with("records:share"))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        first_group["metric"]
            .as_str()
            .unwrap()
            .starts_with(&format!("records:share{{key_group=\"{hot_group}\"}}")),
        "{v}"
    );
    // And the hottest key leads the keys named (sampled one record in 1 024).
    let first_key = v["findings"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["metric"]
                .as_str()
                .unwrap()
                .starts_with("records:share{key=")
        })
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        first_key["metric"].as_str().unwrap().starts_with(&format!(
            "records:share{{key=\"{hot_key}\",key_group=\"{hot_group}\"}}"
        )),
        "{v}"
    );
    // The same from Prometheus's scrapes of the job.
    let v = wait_prometheus_cause(
        d,
        &r,
        &format!("http://{}", prom.addr),
        "doctor-load",
        "data-skew",
    );
    assert_eq!(
        (&v["findings"][0]["vertex"], &v["findings"][0]["subtask"]),
        (&Value::from("count"), &Value::from(hot)),
        "{v}"
    );
    // Uniform keys from here on: both subtasks share the work, and the
    // skew is gone from the doctor's window.
    std::fs::remove_file(d.join("skewed")).unwrap();
    wait(d, &r, &url, "no data-skew once keys are uniform", |v| {
        v["findings"]
            .as_array()
            .is_some_and(|f| f.iter().all(|x| x["cause"] != "data-skew"))
    });
    r.kill();
}

/// A uniform load of 26 000 records a second on one count subtask that
/// takes at most 20 000: `under-provisioned`, recommending a parallelism;
/// stopped with a savepoint and restored at that parallelism, the same load
/// leaves the job healthy.
#[test]
fn a_load_above_one_subtask_is_under_provisioned_and_the_recommended_parallelism_cures_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write_file(
        d,
        "load.yaml",
        &job(
            "  keys: 10000\n  rate: 26000\n",
            "  execution.checkpointing.interval: 2 s\n  execution.checkpointing.dir: ./ck\n  rest.auth.token-env: TIDEMARK_REST_TOKEN\n",
        ),
    );
    let run = |count_parallelism: usize, restore: Option<&str>| {
        let mut args: Vec<String> = ["run", &file, "--status-interval", "0"]
            .map(String::from)
            .to_vec();
        if let Some(sp) = restore {
            args.extend(["--restore".to_string(), sp.to_string()]);
        }
        args.extend(sets(&[format!(
            "params.count-parallelism={count_parallelism}"
        )]));
        let r = start_with_token(d, &args);
        let url = r.rest_url();
        (r, url)
    };
    let (r, url) = run(1, None);
    let prom = servers::prometheus(&[("tidemark", &r.metrics_addr())]);
    let v = wait(d, &r, &url, "under-provisioned within 30 s", |v| {
        v["findings"][0]["cause"] == "under-provisioned"
    });
    assert_eq!(v["findings"][0]["vertex"], "count", "{v}");
    let p = wait_prometheus_cause(
        d,
        &r,
        &format!("http://{}", prom.addr),
        "doctor-load",
        "under-provisioned",
    );
    assert_eq!(p["findings"][0]["vertex"], "count", "{p}");
    let need = v["capacity"]["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vertex"] == "count")
        .and_then(|x| x["needed_parallelism"].as_u64())
        .unwrap_or_else(|| panic!("{v}")) as usize;
    // 1.3 subtasks' worth of work: more than one, and the action says how many.
    assert!(need >= 2, "{v}");
    let action = v["findings"][0]["action"].as_str().unwrap();
    assert!(action.contains(&format!("from 1 to {need}")), "{action}");

    let savepoint = stop_with_savepoint(d, r, &url);
    let (r, url) = run(need, Some(&savepoint));
    let v = wait(
        d,
        &r,
        &url,
        "healthy over a full window at the recommended parallelism",
        |v| v["window_seconds"].as_f64().unwrap() >= 9.5 && v["verdict"] == "healthy",
    );
    assert!(v["findings"].as_array().unwrap().is_empty(), "{v}");
    r.kill();
}
