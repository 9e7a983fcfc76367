//! The Nexmark queries give the results a plain, sequential reading of the
//! same generated events gives, at parallelism 2 (so keyed state, timers and
//! watermarks of parallel sources all take part), and `tidemark bench` prints
//! a row per workload (a smoke run: nothing here is timed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tidemark::source::nexmark::{Bid, NexmarkConfig, NexmarkEvent};
use tidemark_tests::*;

const EVENTS: u64 = 200_000;
/// 200 000 events over 20 s of event time: two 10 s windows, fourteen sliding ones.
const EVENT_RATE: u64 = 10_000;

fn events() -> Vec<NexmarkEvent> {
    let c = NexmarkConfig {
        events: Some(EVENTS),
        rate: 0,
        event_rate: EVENT_RATE,
        start_ms: 0,
        seed: 42,
    };
    (0..EVENTS).map(|n| c.event(n)).collect()
}

fn bids(ev: &[NexmarkEvent]) -> impl Iterator<Item = &Bid> {
    ev.iter().filter_map(|e| match e {
        NexmarkEvent::Bid(b) => Some(b),
        _ => None,
    })
}

/// Runs `query` at parallelism 2 and returns its output lines, sorted.
fn run_query(d: &Path, query: &str) -> Vec<String> {
    let out = d.join(query);
    let job = write_file(
        d,
        &format!("{query}.yaml"),
        &format!(
            "name: nexmark-{query}\npipeline: nexmark\nparams:\n  query: {query}\n  events: {EVENTS}\n  event-rate: {EVENT_RATE}\n  sink: file\n  output: {}\nconfig:\n  parallelism.default: 2\n  metrics.reporter.prom.port: 0\n",
            out.display()
        ),
    );
    let (code, err) = run(d, &["run", &job, "--status-interval", "0"]);
    assert_eq!(code, 0, "{query}: {err}");
    let mut lines = committed_lines(&out);
    lines.sort();
    lines
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

#[test]
fn stateless_queries_match_a_sequential_reading() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events();
    let q0 = sorted(bids(&ev).map(|b| format!("{b:?}")));
    assert_eq!(run_query(dir.path(), "q0"), q0);
    let q1 = sorted(bids(&ev).map(|b| {
        format!(
            "{:?}",
            (
                b.auction,
                b.bidder,
                b.price as f64 * 0.908,
                b.date_time,
                &b.extra
            )
        )
    }));
    assert_eq!(run_query(dir.path(), "q1"), q1);
    let q2 = sorted(
        bids(&ev)
            .filter(|b| b.auction % 123 == 0)
            .map(|b| format!("{:?}", (b.auction, b.price))),
    );
    assert!(!q2.is_empty());
    assert_eq!(run_query(dir.path(), "q2"), q2);
}

#[test]
fn the_join_and_aggregation_queries_match_a_sequential_reading() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events();

    // q3: auctions of category 10 joined with sellers in OR, ID or CA.
    let mut people = BTreeMap::new();
    for e in &ev {
        if let NexmarkEvent::Person(p) = e {
            if ["OR", "ID", "CA"].contains(&p.state.as_str()) {
                people.insert(p.id, (p.name.clone(), p.city.clone(), p.state.clone()));
            }
        }
    }
    let q3 = sorted(ev.iter().filter_map(|e| {
        match e {
            NexmarkEvent::Auction(a) if a.category == 10 => people
                .get(&a.seller)
                .map(|(n, c, s)| format!("{:?}", (n, c, s, a.id))),
            _ => None,
        }
    }));
    assert!(q3.len() > 100, "{}", q3.len());
    assert_eq!(run_query(dir.path(), "q3"), q3);

    // q4: the final average winning price per category is the last value emitted for it.
    let mut auctions = BTreeMap::new();
    for e in &ev {
        if let NexmarkEvent::Auction(a) = e {
            auctions.insert(a.id, (a.category, a.date_time, a.expires));
        }
    }
    let mut winning: BTreeMap<u64, u64> = BTreeMap::new();
    for b in bids(&ev) {
        if let Some((_, start, end)) = auctions.get(&b.auction) {
            if b.date_time >= *start && b.date_time <= *end {
                let w = winning.entry(b.auction).or_default();
                *w = (*w).max(b.price);
            }
        }
    }
    let mut per_cat: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (id, max) in &winning {
        let t = per_cat.entry(auctions[id].0).or_default();
        *t = (t.0 + max, t.1 + 1);
    }
    let lines = run_query(dir.path(), "q4");
    let out = dir.path().join("q4");
    // Lines in each committed file are in emission order; a category's updates go to one file.
    let mut last = BTreeMap::new();
    for f in std::fs::read_dir(&out).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap_or_default();
        for l in text.lines() {
            let (cat, avg) = l
                .trim_matches(|c| c == '(' || c == ')')
                .split_once(", ")
                .unwrap();
            last.insert(cat.parse::<u64>().unwrap(), avg.to_string());
        }
    }
    assert!(!lines.is_empty());
    let want: BTreeMap<u64, String> = per_cat
        .iter()
        .map(|(c, (s, n))| (*c, format!("{:?}", *s as f64 / *n as f64)))
        .collect();
    assert_eq!(last, want);
}

#[test]
fn the_window_queries_match_a_sequential_reading() {
    let dir = tempfile::tempdir().unwrap();
    let ev = events();

    // q5: per 10 s window sliding by 2 s, the auctions with the most bids.
    let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for b in bids(&ev) {
        let last_start = b.date_time.div_euclid(2000) * 2000;
        for k in 0..5 {
            let start = last_start - k * 2000;
            *counts.entry((start + 10_000, b.auction)).or_default() += 1;
        }
    }
    let mut best: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
    for ((end, a), n) in counts {
        let e = best.entry(end).or_insert((0, Vec::new()));
        if n > e.0 {
            *e = (n, vec![a]);
        } else if n == e.0 {
            e.1.push(a);
        }
    }
    let q5 = sorted(best.iter().flat_map(|(end, (n, ids))| {
        ids.iter()
            .map(move |a| format!("{:?}", (*a, *n, *end)))
            .collect::<Vec<_>>()
    }));
    assert!(q5.len() >= 14, "{q5:?}");
    assert_eq!(run_query(dir.path(), "q5"), q5);

    // q7: per 10 s tumbling window, the highest bids.
    let mut top: BTreeMap<i64, Vec<&Bid>> = BTreeMap::new();
    for b in bids(&ev) {
        let w = top.entry(b.date_time.div_euclid(10_000)).or_default();
        match w.first() {
            Some(x) if b.price < x.price => {}
            Some(x) if b.price == x.price => w.push(b),
            _ => *w = vec![b],
        }
    }
    let q7 = sorted(top.values().flatten().map(|b| format!("{b:?}")));
    assert_eq!(q7.len(), 2, "two windows, one top bid each: {q7:?}");
    assert_eq!(run_query(dir.path(), "q7"), q7);

    // q8: persons who opened an auction in the 10 s window they registered in.
    let mut names = BTreeMap::new();
    let mut sellers = BTreeSet::new();
    for e in &ev {
        match e {
            NexmarkEvent::Person(p) => {
                names.insert((p.id, p.date_time.div_euclid(10_000)), p.name.clone());
            }
            NexmarkEvent::Auction(a) => {
                sellers.insert((a.seller, a.date_time.div_euclid(10_000)));
            }
            NexmarkEvent::Bid(_) => {}
        }
    }
    let q8 = sorted(
        names
            .iter()
            .filter(|(k, _)| sellers.contains(k))
            .map(|((id, w), name)| format!("{:?}", (*id, name, w * 10_000))),
    );
    assert!(q8.len() > 100, "{}", q8.len());
    assert_eq!(run_query(dir.path(), "q8"), q8);
}

#[test]
fn bench_prints_a_row_and_a_json_line_per_run_and_the_median() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "bench",
            "keyed-count",
            "nexmark-q0",
            "nexmark-q5",
            "--events",
            "20000",
            // Paced so that every run lasts long enough to measure (0.4 s).
            "--rate",
            "50000",
            "--runs",
            "2",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("keyed-count") || l.starts_with("nexmark-"))
        .collect();
    assert_eq!(rows.len(), 9, "3 workloads x (2 runs + median):\n{text}");
    let json: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 9);
    for j in &json {
        assert_eq!(j["events"], 20000, "{j}");
        assert!(j["events_per_s"].as_f64().unwrap() > 0.0, "{j}");
        assert!(j["cpu_s"].as_f64().unwrap() > 0.0, "{j}");
        assert!(j["events_per_core_s"].as_f64().unwrap().is_finite(), "{j}");
        assert!(j["peak_rss_mib"].as_f64().unwrap() > 1.0, "{j}");
    }
    assert_eq!(
        json.iter().filter(|j| j["run"] == "median").count(),
        3,
        "{text}"
    );
    // A wrong workload name is refused with the list of valid ones.
    let bad = std::process::Command::new(bin())
        .args(["bench", "nexmark-q6"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nexmark-q7"));
}

#[test]
fn bench_refuses_to_report_a_run_too_short_to_measure() {
    // One event: the run is all start-up, far below the 200 ms a figure needs.
    let out = std::process::Command::new(bin())
        .args(["bench", "keyed-count", "--events", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("too short to measure") && stderr.contains("--events"),
        "{stderr}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with('{')),
        "no figures for it: {stdout}"
    );
}
