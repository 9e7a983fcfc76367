//! The shipped dashboards and rules, checked without a running job: they are
//! what the generator writes, every query names catalogued metrics and labels,
//! promtool accepts the rules and passes their unit tests, every alert has a
//! severity, templated annotations and a runbook, and Grafana's own SDK reads
//! the dashboards without losing a field.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tidemark_agent::monitoring::{dashboards, rules, settings::AlertSettings};
use tidemark_tests::promql_check::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn rules_yaml() -> serde_yaml::Value {
    serde_yaml::from_str(&read("alerts/tidemark.rules.yml")).unwrap()
}

fn committed_dashboards() -> Vec<(String, Value)> {
    dashboards::all()
        .into_iter()
        .map(|(f, _)| {
            (
                f.to_string(),
                serde_json::from_str(&read(&format!("dashboards/{f}"))).unwrap(),
            )
        })
        .collect()
}

fn str_of<'a>(v: &'a serde_yaml::Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}

/// The alerts the issue asks for, all of which must ship.
const REQUIRED: &[&str] = &[
    "SustainedBackpressure",
    "CheckpointFailing",
    "CheckpointsNotCompleting",
    "CheckpointDurationNearInterval",
    "CheckpointStartDelayHigh",
    "AlignmentTimeHigh",
    "JobRestarting",
    "WatermarkLagHigh",
    "SourceLagHigh",
    "SourceLagGrowing",
    "StateBackendWriteStall",
    "HeadroomLow",
    "CatchUpTooSlow",
    "ExporterFailing",
    "PushgatewayGroupStale",
    "TidemarkTargetDown",
];

#[test]
fn committed_dashboards_and_rules_are_what_the_generator_writes() {
    for (file, d) in dashboards::all() {
        let committed: Value = serde_json::from_str(&read(&format!("dashboards/{file}"))).unwrap();
        assert!(
            committed == d.to_json(),
            "dashboards/{file} is stale: run `tidemark dashboards dashboards`"
        );
    }
    assert!(
        read("alerts/tidemark.rules.yml") == rules::render(&AlertSettings::default()),
        "alerts/tidemark.rules.yml is stale: run `tidemark alert-rules > alerts/tidemark.rules.yml`"
    );
}

#[test]
fn every_rule_and_panel_query_names_catalogued_metrics_and_labels() {
    let mut symbols = Symbols::catalogue();
    let y = rules_yaml();
    let mut checked = 0;
    for group in y["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let expr = str_of(rule, "expr").unwrap();
            let name = str_of(rule, "record").or(str_of(rule, "alert")).unwrap();
            let labels = symbols
                .check(expr)
                .unwrap_or_else(|e| panic!("rule {name}: {e}\n{expr}"))
                .unwrap_or_default();
            checked += 1;
            if str_of(rule, "record").is_some() {
                symbols.define(name, labels);
                continue;
            }
            let mut available = labels.clone();
            if let Some(m) = rule.get("labels").and_then(|l| l.as_mapping()) {
                available.extend(m.keys().filter_map(|k| k.as_str()).map(String::from));
            }
            for (k, v) in rule["annotations"].as_mapping().unwrap() {
                let text = v.as_str().unwrap();
                for l in template_labels(text) {
                    assert!(
                        available.contains(&l),
                        "alert {name}, annotation {k:?} reads $labels.{l}, which the alert does not have ({available:?})"
                    );
                }
                for q in template_queries(text) {
                    symbols.check(&q).unwrap_or_else(|e| {
                        panic!("alert {name}, query in annotation {k:?}: {e}\n{q}")
                    });
                    checked += 1;
                }
            }
        }
    }
    for (file, d) in committed_dashboards() {
        for var in d["templating"]["list"].as_array().unwrap() {
            let Some(def) = var["query"]["query"].as_str() else {
                continue;
            };
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap();
            let (selector, label) = inner.rsplit_once(", ").unwrap();
            let labels = symbols
                .check(&substitute_grafana_variables(selector))
                .unwrap_or_else(|e| panic!("{file} variable {}: {e}", var["name"]))
                .unwrap();
            assert!(
                labels.contains(label),
                "{file} variable {}: no label {label}",
                var["name"]
            );
            checked += 1;
        }
        for panel in d["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                let labels = symbols
                    .check(&substitute_grafana_variables(expr))
                    .unwrap_or_else(|e| panic!("{file}, panel {:?}: {e}\n{expr}", panel["title"]))
                    .unwrap_or_default();
                // A legend may only name labels the query returns.
                let legend = t["legendFormat"].as_str().unwrap_or("");
                for part in legend.split("{{").skip(1) {
                    let l = part.split("}}").next().unwrap().trim();
                    assert!(labels.contains(l), "{file}, panel {:?}: legend {{{{{l}}}}} is not a label of {expr} ({labels:?})", panel["title"]);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} queries checked");
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    let run = |args: &[&str]| {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(repo())
            .output()
            .expect("promtool is installed (scripts/install-test-deps.sh)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
        text
    };
    let check = run(&["check", "rules", "alerts/tidemark.rules.yml"]);
    assert!(
        check.contains(&format!(
            "SUCCESS: {} rules found",
            rules::ALERTS.len() + rules::RECORDING.len()
        )),
        "{check}"
    );
    let test = run(&["test", "rules", "alerts/tests/tidemark.test.yml"]);
    assert!(test.contains("SUCCESS"), "{test}");
    // Every alert is exercised by the unit tests, firing at least once.
    let tests = read("alerts/tests/tidemark.test.yml");
    for a in rules::ALERTS {
        assert!(
            tests.contains(&format!(
                "alertname: {}\n        exp_alerts:\n          - exp_labels",
                a.name
            )),
            "no promtool test sees {} firing",
            a.name
        );
        assert!(
            tests.contains(&format!("alertname: {}\n        exp_alerts: []", a.name)),
            "no promtool test sees {} not firing",
            a.name
        );
    }
    let out = Command::new("amtool")
        .args(["check-config", "alerts/alertmanager.example.yml"])
        .current_dir(repo())
        .output()
        .expect("amtool is installed (prometheus-alertmanager)");
    assert!(
        out.status.success(),
        "amtool: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_alert_has_a_severity_templated_annotations_and_a_runbook() {
    let y = rules_yaml();
    let mut seen = BTreeSet::new();
    for group in y["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = str_of(rule, "alert") else {
                continue;
            };
            seen.insert(name.to_string());
            let sev = str_of(&rule["labels"], "severity").unwrap_or("");
            assert!(
                ["page", "ticket"].contains(&sev),
                "{name}: severity {sev:?}"
            );
            for k in ["summary", "description"] {
                let t = str_of(&rule["annotations"], k).unwrap_or("");
                assert!(
                    t.contains("$labels."),
                    "{name}: {k} is not built from labels: {t:?}"
                );
            }
            let url = str_of(&rule["annotations"], "runbook_url").unwrap();
            assert!(url.ends_with(&format!("/{name}.md")), "{name}: {url}");
            let runbook = read(&format!("docs/runbooks/{name}.md"));
            assert!(
                runbook.starts_with(&format!("# {name}")),
                "docs/runbooks/{name}.md has no title"
            );
            for section in ["## What it means", "## What to check", "## What to change"] {
                assert!(
                    runbook.contains(section),
                    "docs/runbooks/{name}.md lacks {section:?}"
                );
            }
        }
    }
    for r in REQUIRED {
        assert!(seen.contains(*r), "alert {r} is missing");
    }
    let readme = read("alerts/README.md");
    for s in tidemark_agent::monitoring::settings::SETTINGS {
        assert!(
            readme.contains(&format!("| `{}` | `{}` |", s.name, s.default)),
            "alerts/README.md does not list {} = {}",
            s.name,
            s.default
        );
    }
    let first_alert = rules::RECORDING.len();
    assert_eq!(
        str_of(&rules_yaml()["groups"][0]["rules"][first_alert], "alert"),
        Some("SustainedBackpressure")
    );
    let sb = &rules_yaml()["groups"][0]["rules"][first_alert];
    assert_eq!(str_of(&sb["labels"], "severity"), Some("page"));
    assert!(str_of(&sb["annotations"], "bottleneck")
        .unwrap()
        .contains("query"));
}

#[test]
fn dashboards_are_valid_grafana_json() {
    let mut uids = BTreeSet::new();
    for (file, d) in committed_dashboards() {
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{file}: duplicate uid"
        );
        assert!(
            d["schemaVersion"].as_u64().unwrap() >= 39,
            "{file}: old schemaVersion"
        );
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        for v in ["datasource", "job_name", "job_id", "vertex"] {
            assert!(vars.contains(&v), "{file}: no ${v} variable");
        }
        let mut ids = BTreeSet::new();
        let text = serde_json::to_string(&d).unwrap();
        // No datasource is hard-coded: every reference is the variable.
        for (i, _) in text.match_indices("\"datasource\":{") {
            let frag = &text[i..i + 60.min(text.len() - i)];
            assert!(
                frag.contains("\"uid\":\"${datasource}\""),
                "{file}: hard-coded datasource {frag}"
            );
        }
        for p in d["panels"].as_array().unwrap() {
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{file}: duplicate panel id {}",
                p["id"]
            );
            let g = &p["gridPos"];
            assert!(
                g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
                "{file}: panel {} overflows the grid",
                p["title"]
            );
            if p["type"] != "row" {
                let desc = p["description"].as_str().unwrap_or("");
                assert!(
                    desc.len() > 40,
                    "{file}: panel {} has no description",
                    p["title"]
                );
                assert!(
                    !p["targets"].as_array().unwrap().is_empty(),
                    "{file}: panel {} has no query",
                    p["title"]
                );
            }
        }
    }
    // Grafana's own SDK (grafana-foundation-sdk) decodes each dashboard into its
    // typed model and encodes it again; a misspelt or mistyped field is lost
    // on the way, so the round trip must keep everything we wrote.
    let venv = std::env::var("TIDEMARK_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/tidemark-venv", std::env::var("HOME").unwrap()));
    let out = Command::new(format!("{venv}/bin/python"))
        .arg(repo().join("tests/grafana_roundtrip.py"))
        .args(
            dashboards::all()
                .iter()
                .map(|(f, _)| repo().join("dashboards").join(f)),
        )
        .output()
        .expect("the test venv exists (scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "grafana-foundation-sdk rejected a dashboard:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_checker_catches_what_it_claims_to() {
    let s = Symbols::catalogue();
    let ok = |q: &str| s.check(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let bad = |q: &str, why: &str| {
        let e = s.check(q).expect_err(q);
        assert!(e.contains(why), "{q}: {e}");
    };
    ok("sum by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{vertex=\"x\"}[5m]))");
    ok("histogram_quantile(0.99, sum by (vertex, le) (rate(tidemark_latency_seconds_bucket[5m])))");
    ok("time() - push_time_seconds{job=~\"t.*\"} > 120");
    bad("rate(tidemark_task_busy_total[5m])", "not in the catalogue");
    bad(
        "tidemark_checkpoint_completed_total{vertex=\"x\"}",
        "no label \"vertex\"",
    );
    bad(
        "sum by (vertex) (tidemark_checkpoint_completed_total)",
        "by (vertex)",
    );
    bad(
        "tidemark_task_busy_seconds_total / tidemark_checkpoint_completed_total",
        "different label sets",
    );
    bad(
        "histogram_quantile(0.9, sum by (vertex) (rate(tidemark_latency_seconds_bucket[5m])))",
        "without `le`",
    );
    bad("sum(rate(x[5m]) by", "does not parse");
}

#[test]
fn grafana_variables_and_templates() {
    assert_eq!(
        substitute_grafana_variables(
            "rate(m{a=~\"$job_name\", b=\"${vertex}\"}[$__rate_interval])"
        ),
        "rate(m{a=~\"x\", b=\"x\"}[5m])"
    );
    let t =
        "{{ $labels.vertex }} {{ with printf \"topk(1, m{job_id=%q})\" $labels.job_id | query }}";
    assert_eq!(
        template_labels(t),
        ["vertex", "job_id"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        template_queries(t),
        vec!["topk(1, m{job_id=\"x\"})".to_string()]
    );
}
