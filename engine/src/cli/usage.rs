//! What the process used, read from `/proc/self` (Linux): CPU seconds and peak
//! resident memory, for the end-of-job summary the benchmarks parse.

/// CPU time (user + system, all threads) and peak RSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Seconds of CPU.
    pub cpu_s: f64,
    /// Peak resident set, bytes.
    pub peak_rss: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Reads the current usage; zeros where `/proc` is unavailable.
pub fn read() -> Usage {
    let mut u = Usage::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            u.cpu_s = (t(11) + t(12)) / USER_HZ;
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        u.peak_rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0);
    }
    u
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let u = super::read();
        assert!(u.peak_rss > 0, "{u:?}");
    }
}
