//! Property test: label values made of quotes, backslashes, newlines, `=`, `,`,
//! spaces, `/`, braces and non-ASCII text come out valid in every format, as
//! judged by the real consumers: promtool and the Python parsers (text and
//! OpenMetrics), a real Pushgateway (PUT, then read back), a real InfluxDB
//! (write, then read the tags back) and a real Prometheus (remote-write, then
//! PromQL). Values must round-trip exactly, except what line protocol cannot
//! carry: InfluxDB stores newlines as `\\n` and a backslash before a delimiter as
//! `%5C` (`stored_tag_value`).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use tidemark_agent::catalogue::TASK_RECORDS_IN;
use tidemark_agent::encode::{openmetrics, prometheus};
use tidemark_agent::export::delivery::{PushTarget, Schedule};
use tidemark_agent::export::influxdb::{encode_lines, stored_tag_value};
use tidemark_agent::export::remote_write::{write_request, RemoteWrite, RemoteWriteConfig};
use tidemark_agent::Registry;
use tidemark_tests::servers::*;

fn pipe(cmd: &str, args: &[&str], input: &str) -> (bool, String, String) {
    let mut c = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/install-test-deps.sh installs it)"));
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn python_values(text: &str, om: bool) -> BTreeSet<String> {
    let venv = std::env::var("TIDEMARK_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/tidemark-venv", std::env::var("HOME").unwrap()));
    let module = if om {
        "prometheus_client.openmetrics.parser"
    } else {
        "prometheus_client.parser"
    };
    let script = format!(
        "import sys, json\nfrom {module} import text_string_to_metric_families\nfor f in text_string_to_metric_families(sys.stdin.read()):\n    for s in f.samples:\n        if 'job_name' in s.labels: print(json.dumps(s.labels['job_name']))\n"
    );
    let (ok, out, err) = pipe(&format!("{venv}/bin/python"), &["-c", &script], text);
    assert!(
        ok,
        "prometheus_client ({}) rejected the exposition: {err}",
        if om { "OpenMetrics" } else { "text" }
    );
    out.lines()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect()
}

fn value_strategy() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        "\"", "\\", "\n", "=", ",", " ", "/", "{", "}", "#", "\t", "ü", "漢", "é", "a", "b", "0",
        "-", "_", ".", "'", "😀",
    ]);
    prop::collection::vec(alphabet, 1..12).prop_map(|v| v.concat())
}

#[test]
fn hostile_label_values_are_valid_in_every_format() {
    let pgw = pushgateway();
    let influx = influxdb("labels");
    let prom = prometheus(&[]);
    let mut runner = TestRunner::new(Config {
        cases: 6,
        ..Config::default()
    });
    let rounds = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(
            &prop::collection::btree_set(value_strategy(), 1..25),
            |values| {
                let round = rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let r = Registry::new();
                for (i, v) in values.iter().enumerate() {
                    r.counter(&TASK_RECORDS_IN, &[v, "id", "vertex", &i.to_string()])
                        .unwrap()
                        .add(i as u64 + 1);
                }
                let snap = r.snapshot();
                // promtool and the Python parsers.
                let text = prometheus::encode(&snap);
                let (ok, _, err) = pipe("promtool", &["check", "metrics"], &text);
                prop_assert!(ok, "promtool: {err}\n{text}");
                prop_assert_eq!(&python_values(&text, false), &values);
                prop_assert_eq!(&python_values(&openmetrics::encode(&snap), true), &values);
                // A real Pushgateway accepts the PUT and returns the values.
                let url = format!("http://{}/metrics/job/fuzz/round/{round}", pgw.addr);
                let (code, body) = curl(&["-X", "PUT", "--data-binary", &text, &url]);
                prop_assert!(code == 200 || code == 202, "Pushgateway PUT {code}: {body}");
                let (_, json) = curl(&[&format!("http://{}/api/v1/metrics", pgw.addr)]);
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let got: BTreeSet<String> = v["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|g| g["labels"]["round"].as_str() == Some(round.to_string().as_str()))
                    .flat_map(|g| {
                        g["tidemark_task_records_in_total"]["metrics"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                    })
                    .filter_map(|m| m["labels"]["job_name"].as_str().map(str::to_string))
                    .collect();
                prop_assert_eq!(&got, &values);
                // A real InfluxDB accepts every line and returns the tags.
                let measurement = format!("m{round}");
                let lines: Vec<String> = encode_lines(&snap, 1_700_000_000_000)
                    .into_iter()
                    .filter(|l| l.starts_with("tidemark_task_records_in_total,"))
                    .map(|l| l.replacen("tidemark_task_records_in_total", &measurement, 1))
                    .collect();
                let (code, body) = curl(&[
                    "-XPOST",
                    "--data-binary",
                    &lines.join("\n"),
                    &format!("http://{}/write?db=labels&precision=ms", influx.addr),
                ]);
                prop_assert_eq!(code, 204, "InfluxDB write: {}\n{}", body, lines.join("\n"));
                let body = influxql(
                    &influx,
                    "labels",
                    &format!("SHOW TAG VALUES FROM \"{measurement}\" WITH KEY = \"job_name\""),
                );
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let got: BTreeSet<String> = v["results"][0]["series"][0]["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x[1].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let want: BTreeSet<String> = values.iter().map(|s| stored_tag_value(s)).collect();
                prop_assert_eq!(&got, &want);
                // A real Prometheus accepts the remote-write and returns the values.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let rw = RemoteWrite::new(RemoteWriteConfig {
                    schedule: Schedule {
                        name: "rw".into(),
                        interval: std::time::Duration::from_secs(1),
                        timeout: std::time::Duration::from_secs(5),
                    },
                    url: format!("http://{}/api/v1/write", prom.addr),
                    basic_auth: None,
                });
                let mut snap_rw = snap.clone();
                for f in &mut snap_rw {
                    for (vals, _) in &mut f.series {
                        if let Some(id) = vals.get_mut(1) {
                            *id = format!("round{round}");
                        }
                    }
                }
                let req = rw.encode(&snap_rw, now).remove(0);
                prop_assert!(!write_request(&snap_rw, now).timeseries.is_empty());
                let body_file = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(body_file.path(), &req.body).unwrap();
                let mut args = vec!["-XPOST".to_string()];
                for (k, v) in &req.headers {
                    args.push("-H".into());
                    args.push(format!("{k}: {v}"));
                }
                args.push("--data-binary".into());
                args.push(format!("@{}", body_file.path().display()));
                args.push(req.url.clone());
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, body) = curl(&a);
                prop_assert_eq!(code, 204, "remote-write: {}", body);
                let body = promql(
                    &prom,
                    &format!("tidemark_task_records_in_total{{job_id=\"round{round}\"}}"),
                );
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let got: BTreeSet<String> = v["data"]["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|r| r["metric"]["job_name"].as_str().map(str::to_string))
                    .collect();
                prop_assert_eq!(&got, &values);
                Ok(())
            },
        )
        .unwrap();
}
