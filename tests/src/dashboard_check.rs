//! The shipped dashboards' queries run against a real Prometheus holding a
//! live job's series: each query whose families the job exposes must return
//! data; the others are listed as skipped, with the families they lack.

use crate::servers::{promql, Server};
use serde_json::Value;
use std::collections::BTreeSet;
use tidemark_agent::monitoring::dashboards;

/// What a run of every dashboard query found.
pub struct DashboardRun {
    /// Queries evaluated.
    pub checked: usize,
    /// `file / title: the job does not produce [families]`.
    pub skipped: Vec<String>,
    /// `file / title: query` of evaluated queries that returned nothing.
    pub empty: Vec<String>,
}

/// The metric families an exposition (Prometheus text) holds, histograms by
/// their series names.
pub fn exposed_families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// Metric names a query reads (identifiers that the job's exposition knows,
/// or that look like Tidemark's).
fn names_in(query: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    query
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| known.contains(*w) || w.starts_with("tidemark_") || w.starts_with("process_"))
        .map(String::from)
        .collect()
}

/// Every dashboard query for job `job_name`, with Grafana's variables set
/// as a user picking the job would, and rates over 10 s.
pub fn run_dashboard_queries(
    prom: &Server,
    job_name: &str,
    exposed: &BTreeSet<String>,
) -> DashboardRun {
    let mut run = DashboardRun {
        checked: 0,
        skipped: Vec::new(),
        empty: Vec::new(),
    };
    for (file, dash) in dashboards::all() {
        for (title, expr) in dash.queries() {
            let q = expr
                .replace("$job_name", job_name)
                .replace("$job_id", ".*")
                .replace("$vertex", ".*")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "10s")
                .replace("$__range", "1m");
            let reads = names_in(&q, exposed);
            let missing: Vec<_> = reads
                .iter()
                .filter(|n| !exposed.contains(*n) && !n.contains(':'))
                .cloned()
                .collect();
            if !missing.is_empty() {
                run.skipped.push(format!(
                    "{file} / {title}: the job does not produce {missing:?}"
                ));
                continue;
            }
            let body = promql(prom, &q);
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], "success", "{file} / {title}: {body}");
            if v["data"]["result"].as_array().is_none_or(|a| a.is_empty()) {
                run.empty.push(format!("{file} / {title}: {q}"));
            }
            run.checked += 1;
        }
    }
    run
}
