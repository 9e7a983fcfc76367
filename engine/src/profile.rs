//! On-CPU sampling of a vertex's subtask threads, on demand: nothing runs
//! until somebody asks (`GET /jobs/:id/vertices/:vid/flamegraph`,
//! `tidemark profile`, `tidemark doctor` on a busy bottleneck), and the
//! sampler stops when the answer is built.
//!
//! The process's CPU-time timer (`ITIMER_PROF`, through `pprof`) interrupts
//! whichever thread is on a CPU at 99 Hz, off the beat of the engine's 1 s
//! and 10 ms clocks; the samples of other threads are dropped, so a vertex's
//! flame graph holds its own subtasks' time only. A sample that lands in
//! libc, libgcc, libpthread or the vDSO is dropped: unwinding from inside them
//! in a signal handler can deadlock (pprof's advice), and the frames above
//! them belong to the caller anyway.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The suffix of a frame inlined into its caller.
const INLINED: &str = "_[i]";

/// Samples per second of CPU time: prime, so the samples do not lock step
/// with periodic work.
const FREQUENCY: i32 = 99;

/// Frames of `TARGET`'s stacks, root first, with how many samples each
/// stack had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Each distinct stack (outermost frame first) and its samples.
    pub stacks: BTreeMap<Vec<String>, u64>,
}

/// Why no profile was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// Another profile is being taken (the sampler is one per process).
    Busy,
    /// The sampler could not start or report.
    Failed(String),
}

/// Samples the threads `threads` (their `pthread_t`s) on the CPU for
/// `duration`.
pub fn on_cpu(threads: &[u64], duration: Duration) -> Result<Profile, ProfileError> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| match e {
            pprof::Error::Running => ProfileError::Busy,
            e => ProfileError::Failed(e.to_string()),
        })?;
    std::thread::sleep(duration);
    let report = guard
        .report()
        .build_unresolved()
        .map_err(|e| ProfileError::Failed(e.to_string()))?;
    drop(guard);
    let mut profile = Profile::default();
    for (frames, count) in report.data {
        if !threads.contains(&frames.thread_id) || count <= 0 {
            continue;
        }
        // Symbols only for the threads asked about: resolving is the
        // expensive part.
        let resolved = pprof::Frames::from(frames);
        // One machine frame resolves to its function and, after it, the
        // functions inlined into it, innermost last: those are marked `_[i]`
        // (flamegraph.pl's and inferno's mark, which colours them).
        let stack: Vec<String> = resolved
            .frames
            .iter()
            .rev()
            .flat_map(|symbols| {
                symbols.iter().rev().enumerate().map(|(i, s)| match i {
                    0 => clean(&s.name()),
                    _ => format!("{}{INLINED}", clean(&s.name())),
                })
            })
            .collect();
        *profile.stacks.entry(stack).or_default() += count as u64;
    }
    Ok(profile)
}

/// A demangled name without its hash suffix (`::h0123456789abcdef`).
fn clean(name: &str) -> String {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head.to_string()
        }
        _ => name.to_string(),
    }
}

impl Profile {
    /// Every sample taken.
    pub fn samples(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// The stacks of folded lines (`outer;inner count`), as [`folded`]
    /// writes them.
    pub fn from_folded(lines: &[String]) -> Self {
        let mut p = Profile::default();
        for line in lines {
            if let Some((stack, count)) = line.rsplit_once(' ') {
                let frames = stack.split(';').map(str::to_string).collect();
                *p.stacks.entry(frames).or_default() += count.parse::<u64>().unwrap_or(0);
            }
        }
        p
    }

    /// Flink's flame graph node (`{"name", "value", "children"}`), rooted at
    /// `root`, children in name order.
    pub fn tree(&self) -> Value {
        #[derive(Default)]
        struct Node {
            value: u64,
            children: BTreeMap<String, Node>,
        }
        fn to_json(name: &str, n: &Node) -> Value {
            let children: Vec<Value> = n.children.iter().map(|(k, c)| to_json(k, c)).collect();
            json!({ "name": name, "value": n.value, "children": children })
        }
        let mut root = Node::default();
        for (stack, count) in &self.stacks {
            root.value += count;
            let mut at = &mut root;
            for frame in stack {
                at = at.children.entry(frame.clone()).or_default();
                at.value += count;
            }
        }
        to_json("root", &root)
    }

    /// The functions the samples landed in (self time, with what was
    /// inlined into them: `wrapping_mul` inlined into a loop is the
    /// loop's time), largest share first, at most `n`.
    pub fn top_frames(&self, n: usize) -> Vec<(String, f64)> {
        let total = self.samples().max(1) as f64;
        let mut own: BTreeMap<&str, u64> = BTreeMap::new();
        for (stack, count) in &self.stacks {
            let leaf = stack
                .iter()
                .rev()
                .find(|f| !f.ends_with(INLINED))
                .or(stack.last());
            if let Some(leaf) = leaf {
                *own.entry(leaf).or_default() += count;
            }
        }
        let mut top: Vec<(String, f64)> = own
            .into_iter()
            .map(|(f, c)| (f.to_string(), c as f64 / total))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(n);
        top
    }
}

/// Folded stacks (`outer;inner count`, one per line: the input of
/// `flamegraph.pl` and inferno) from a flame graph node as
/// [`Profile::tree`] writes it: each node's own samples are its value less
/// its children's.
pub fn folded(tree: &Value) -> Vec<String> {
    fn walk(n: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
        let children = n["children"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let below: u64 = children.iter().filter_map(|c| c["value"].as_u64()).sum();
        let own = n["value"].as_u64().unwrap_or(0).saturating_sub(below);
        if own > 0 && !path.is_empty() {
            out.push(format!("{} {own}", path.join(";")));
        }
        for c in children {
            // `;` separates frames in the folded format.
            path.push(c["name"].as_str().unwrap_or("?").replace(';', ":"));
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// Renders folded stacks as an SVG flame graph titled `title`.
pub fn svg(folded: &[String], title: &str) -> std::io::Result<Vec<u8>> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".into();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.iter().map(String::as_str), &mut out)
        .map_err(std::io::Error::other)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(stacks: &[(&[&str], u64)]) -> Profile {
        Profile {
            stacks: stacks
                .iter()
                .map(|(s, c)| (s.iter().map(|f| f.to_string()).collect(), *c))
                .collect(),
        }
    }

    #[test]
    fn the_tree_sums_each_frame_and_folding_gives_back_the_stacks() {
        let p = profile(&[
            (&["run", "write", "spin"], 4),
            (&["run", "write", "spin", "wrapping_mul_[i]"], 2),
            (&["run", "write"], 3),
            (&["run", "poll"], 1),
        ]);
        let t = p.tree();
        assert_eq!(t["name"], "root");
        assert_eq!(t["value"], 10);
        assert_eq!(t["children"][0]["name"], "run");
        assert_eq!(t["children"][0]["children"][1]["name"], "write");
        assert_eq!(t["children"][0]["children"][1]["value"], 9);
        let mut lines = folded(&t);
        lines.sort();
        assert_eq!(
            lines,
            [
                "run;poll 1",
                "run;write 3",
                "run;write;spin 4",
                "run;write;spin;wrapping_mul_[i] 2"
            ]
        );
        assert_eq!(Profile::from_folded(&lines), p);
        assert_eq!(
            p.top_frames(2),
            [("spin".to_string(), 0.6), ("write".to_string(), 0.3)]
        );
    }

    #[test]
    fn hashes_are_cut_from_names_and_nothing_else_is() {
        assert_eq!(clean("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(clean("a::b::hello"), "a::b::hello");
        assert_eq!(clean("rocksdb::DBImpl::Get"), "rocksdb::DBImpl::Get");
    }

    #[test]
    fn an_svg_names_the_frames() {
        let svg = svg(&["run;write;spin 6".to_string()], "sink").unwrap();
        let s = String::from_utf8(svg).unwrap();
        assert!(s.starts_with("<?xml") && s.contains("spin"), "{s}");
    }
}
