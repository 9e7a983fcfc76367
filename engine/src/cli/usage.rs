//! What the process used: CPU seconds (all threads, live and exited) and peak
//! resident memory, for the end-of-job summary the benchmarks parse.
//!
//! CPU time comes from `CLOCK_PROCESS_CPUTIME_ID`, which the kernel keeps in
//! nanoseconds of scheduler runtime. `/proc/self/stat` counts in clock ticks
//! (10 ms), so a run of a few milliseconds read there as 0.0 CPU seconds and
//! its per-core figures became infinite or undefined.

/// CPU time (user + system, all threads) and peak RSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Seconds of CPU, to the nanosecond.
    pub cpu_s: f64,
    /// Peak resident set, bytes.
    pub peak_rss: u64,
}

/// Reads the current usage; peak RSS is 0 where `/proc` is unavailable.
pub fn read() -> Usage {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let peak_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    Usage {
        cpu_s: t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9,
        peak_rss,
    }
}

#[cfg(test)]
mod tests {
    /// Burns CPU until the process clock has advanced by at least `s`.
    fn burn(s: f64) -> f64 {
        let start = super::read().cpu_s;
        let mut x = 0u64;
        loop {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            let now = super::read().cpu_s;
            if now - start >= s {
                return now - start;
            }
        }
    }

    #[test]
    fn cpu_time_resolves_far_below_a_clock_tick() {
        // 10 ms was the old resolution; 1 ms of work must register.
        let before = super::read();
        let used = burn(0.001);
        assert!(used < 0.010, "a 1 ms burn took {used} s of CPU");
        let after = super::read();
        assert!(after.cpu_s > before.cpu_s, "{before:?} → {after:?}");
        assert!(after.peak_rss > 0, "{after:?}");
    }

    #[test]
    fn cpu_time_counts_threads_that_have_exited() {
        let before = super::read().cpu_s;
        std::thread::spawn(|| burn(0.02)).join().unwrap();
        let after = super::read().cpu_s;
        assert!(after - before >= 0.02, "{before} → {after}");
    }
}
