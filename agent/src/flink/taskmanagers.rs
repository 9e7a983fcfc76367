//! The TaskManagers' JVMs: CPU time, heap and garbage collection, per
//! TaskManager, from `/taskmanagers/:id/metrics`.

use super::rest::{self, Fetch};
use super::series::Accumulated;
use crate::catalogue;
use crate::registry::{Gauge, Registry};

/// Milliseconds (Flink's GC time) to the nanoseconds stored.
const MS_TO_NS: f64 = 1e6;

/// One TaskManager's series.
pub(super) struct TaskManagerSeries {
    id: String,
    /// The metrics it has; listed again until the listing has its CPU time.
    names: Vec<String>,
    cpu: Option<Accumulated>,
    heap_used: Option<Gauge>,
    heap_max: Option<Gauge>,
    /// (Flink metric, counter) per collector's count and time.
    gc: Vec<(String, Accumulated)>,
}

impl TaskManagerSeries {
    pub(super) fn new(registry: &Registry, id: &str) -> Self {
        let labels = [id];
        Self {
            id: id.to_string(),
            names: Vec::new(),
            cpu: registry
                .counter(&catalogue::TASKMANAGER_CPU, &labels)
                .ok()
                .map(|c| Accumulated::new(c, 1.0)),
            heap_used: registry
                .gauge(&catalogue::TASKMANAGER_HEAP_USED, &labels)
                .ok(),
            heap_max: registry
                .gauge(&catalogue::TASKMANAGER_HEAP_MAX, &labels)
                .ok(),
            gc: Vec::new(),
        }
    }

    /// Reads its metrics (listing their names first, until the JobManager's
    /// fetcher has them) into its series.
    pub(super) fn update(&mut self, registry: &Registry, fetch: Fetch) {
        let listed = |names: &[String]| names.iter().any(|n| n == "Status.JVM.CPU.Time");
        if !listed(&self.names) {
            self.names = rest::taskmanager_metric_names(fetch, &self.id).unwrap_or_default();
            if !listed(&self.names) {
                return;
            }
            self.gc = self
                .names
                .iter()
                .filter_map(|n| {
                    let collector = n
                        .strip_prefix("Status.JVM.GarbageCollector.")?
                        .rsplit_once('.')?;
                    let (def, scale) = match collector.1 {
                        "Count" => (&catalogue::TASKMANAGER_GC_COUNT, 1.0),
                        _ => (&catalogue::TASKMANAGER_GC_TIME, MS_TO_NS),
                    };
                    let c = registry.counter(def, &[&self.id, collector.0]).ok()?;
                    Some((n.clone(), Accumulated::new(c, scale)))
                })
                .collect();
        }
        let Ok(m) = rest::taskmanager_metrics(fetch, &self.id, &self.names) else {
            return;
        };
        if let (Some(c), Some(ns)) = (&mut self.cpu, m.get("Status.JVM.CPU.Time")) {
            c.update(*ns);
        }
        for (g, name) in [
            (&self.heap_used, "Status.JVM.Memory.Heap.Used"),
            (&self.heap_max, "Status.JVM.Memory.Heap.Max"),
        ] {
            if let (Some(g), Some(x)) = (g, m.get(name)) {
                g.set(*x as i64);
            }
        }
        for (name, total) in &mut self.gc {
            if let Some(x) = m.get(name.as_str()) {
                total.update(*x);
            }
        }
    }
}
