//! Process and host metrics. Process metrics carry the names the Prometheus
//! client libraries use (`process_cpu_seconds_total`, …) and are read from
//! `/proc/self`; host CPU, memory, disks and network come from sysinfo. A
//! collector thread samples every probing interval (`collect_once` is the
//! step, `start` the loop), so reading them never touches a task or a scrape.

use crate::catalogue as cat;
use crate::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Samples process and host figures into a registry.
pub struct HostCollector {
    registry: Registry,
    system: sysinfo::System,
    disks: sysinfo::Disks,
    networks: sysinfo::Networks,
    host: bool,
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

fn proc_stat() -> Option<(u64, u64, u64, u64)> {
    // (cpu ms, threads, virtual bytes, start time ticks after boot)
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // Fields after ')' start at field 3 (state): utime=14, stime=15, threads=20, starttime=22, vsize=23.
    let ticks = n(11)? + n(12)?;
    Some((ticks * 1000 / USER_HZ, n(17)?, n(20)?, n(19)?))
}

fn boot_time_s() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn rss_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

fn max_fds() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}

impl HostCollector {
    /// A collector; `host` adds host-wide CPU, memory, disk and network.
    pub fn new(registry: Registry, host: bool) -> Self {
        Self {
            registry,
            system: sysinfo::System::new(),
            disks: sysinfo::Disks::new(),
            networks: sysinfo::Networks::new(),
            host,
        }
    }

    /// Takes one sample.
    pub fn collect_once(&mut self) {
        let r = &self.registry;
        let g = |d: &'static crate::MetricDef, labels: &[&str], v: i64| {
            if let Ok(h) = r.gauge(d, labels) {
                h.set(v);
            }
        };
        if let Some((cpu_ms, threads, vsize, start_ticks)) = proc_stat() {
            if let Ok(c) = r.counter(&cat::PROCESS_CPU, &[]) {
                c.set_total(cpu_ms);
            }
            g(&cat::PROCESS_THREADS, &[], threads as i64);
            g(&cat::PROCESS_VMEM, &[], vsize as i64);
            if let Some(bt) = boot_time_s() {
                g(
                    &cat::PROCESS_START,
                    &[],
                    (bt + start_ticks / USER_HZ) as i64,
                );
            }
        }
        if let Some(rss) = rss_bytes() {
            g(&cat::PROCESS_RSS, &[], rss as i64);
        }
        if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
            g(&cat::PROCESS_OPEN_FDS, &[], d.count() as i64);
        }
        if let Some(m) = max_fds() {
            g(&cat::PROCESS_MAX_FDS, &[], m as i64);
        }
        if !self.host {
            return;
        }
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        g(
            &cat::HOST_CPU,
            &[],
            (self.system.global_cpu_usage() as f64 * 1e4) as i64,
        );
        g(&cat::HOST_MEM_TOTAL, &[], self.system.total_memory() as i64);
        g(
            &cat::HOST_MEM_AVAILABLE,
            &[],
            self.system.available_memory() as i64,
        );
        self.disks.refresh(true);
        for d in self.disks.list() {
            let m = d.mount_point().to_string_lossy();
            g(&cat::HOST_DISK_TOTAL, &[&m], d.total_space() as i64);
            g(&cat::HOST_DISK_AVAILABLE, &[&m], d.available_space() as i64);
        }
        self.networks.refresh(true);
        for (name, n) in self.networks.iter() {
            if let Ok(c) = r.counter(&cat::HOST_NET_RX, &[name]) {
                c.set_total(n.total_received());
            }
            if let Ok(c) = r.counter(&cat::HOST_NET_TX, &[name]) {
                c.set_total(n.total_transmitted());
            }
        }
    }

    /// Samples every `interval` on a thread of its own until the handle drops.
    pub fn start(mut self, interval: Duration) -> HostCollectorHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("host-metrics".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    self.collect_once();
                    // Sleep in short steps so a stop is noticed quickly.
                    let mut left = interval;
                    while !left.is_zero() && !s.load(Ordering::Relaxed) {
                        let step = left.min(Duration::from_millis(100));
                        std::thread::sleep(step);
                        left -= step;
                    }
                }
            })
            .ok();
        HostCollectorHandle { stop, thread }
    }
}

/// Stops the collector thread when dropped.
pub struct HostCollectorHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HostCollectorHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Value;

    #[test]
    fn process_and_host_figures_are_sampled() {
        let r = Registry::new();
        let mut c = HostCollector::new(r.clone(), true);
        c.collect_once();
        c.collect_once();
        let snap = r.snapshot();
        let v = |n: &str| match snap
            .iter()
            .find(|f| f.def.name == n)
            .map(|f| f.series[0].1.clone())
        {
            Some(Value::Gauge(x)) | Some(Value::Counter(x)) => x,
            other => panic!("{n}: {other:?}"),
        };
        assert!(v("process_resident_memory_bytes") > 1e6);
        assert!(v("process_threads") >= 1.0);
        assert!(v("process_open_fds") >= 3.0);
        assert!(v("process_max_fds") >= v("process_open_fds"));
        assert!(v("process_start_time_seconds") > 1.6e9);
        assert!(v("tidemark_host_memory_total_bytes") >= v("tidemark_host_memory_available_bytes"));
        let cpu = v("tidemark_host_cpu_utilization_ratio");
        assert!((0.0..=1.0).contains(&cpu), "{cpu}");
        assert!(snap
            .iter()
            .any(|f| f.def.name == "tidemark_host_disk_total_bytes" && !f.series.is_empty()));
    }
}
