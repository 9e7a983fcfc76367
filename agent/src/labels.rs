//! Label names shared by every metric family, so that a dashboard or rule that
//! joins two families can rely on one spelling, and the metrics level that
//! decides which of them exist.

/// Human-readable job name from the job file (`name:`).
pub const JOB_NAME: &str = "job_name";
/// 32 hex characters, new for every submission (as Flink's JobID).
pub const JOB_ID: &str = "job_id";
/// The operator (vertex) name as the user wrote it.
pub const VERTEX: &str = "vertex";
/// Zero-based index of the parallel instance.
pub const SUBTASK: &str = "subtask";
/// A metric family name (self-metrics of the registry).
pub const FAMILY: &str = "family";
/// A reporter's configured name (self-metrics of exporters).
pub const REPORTER: &str = "reporter";
/// A reporter's kind: prometheus, pushgateway, influxdb, otlp, remote-write.
pub const KIND: &str = "kind";

/// A keyed state's name (RocksDB column family).
pub const STATE: &str = "state";
/// Where a restore read state from: `local` or `remote`.
pub const SOURCE: &str = "source";
/// A RocksDB block's kind in the block cache: `data`, `index` or `filter`.
pub const BLOCK: &str = "block";
/// A source's split: a Kafka partition, a JetStream subject.
pub const PARTITION: &str = "partition";

/// A vertex's uid, its id in the REST API (`tidemark_vertex_info`).
pub const VERTEX_ID: &str = "vertex_id";
/// A vertex's upstream vertices, comma-separated names (`tidemark_vertex_info`).
pub const INPUTS: &str = "inputs";
/// A vertex's parallelism (`tidemark_vertex_info`).
pub const PARALLELISM: &str = "parallelism";
/// The job's key groups, `pipeline.max-parallelism` (`tidemark_vertex_info`).
pub const MAX_PARALLELISM: &str = "max_parallelism";

/// A file system's mount point (host metrics).
pub const MOUNTPOINT: &str = "mountpoint";
/// A network interface (host metrics).
pub const DEVICE: &str = "device";
/// The Flink cluster a series comes from (`tidemark agent flink --cluster`),
/// added to every series the agent exports.
pub const CLUSTER: &str = "cluster";
/// A Flink TaskManager's id (`tidemark agent flink`).
pub const TASKMANAGER: &str = "taskmanager";
/// A JVM garbage collector's name (`G1_Young_Generation`).
pub const COLLECTOR: &str = "collector";

/// How fine-grained the exported series are (`metrics.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// One series per job: no vertex or subtask labels.
    Job,
    /// One series per vertex: subtasks are summed.
    Vertex,
    /// One series per subtask.
    Subtask,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "job" => Ok(Level::Job),
            "vertex" => Ok(Level::Vertex),
            "subtask" => Ok(Level::Subtask),
            _ => Err("one of job, vertex, subtask".into()),
        }
    }
}

/// The level a label belongs to: it exists at that level and finer ones.
pub fn level_of(label: &str) -> Level {
    match label {
        SUBTASK => Level::Subtask,
        VERTEX => Level::Vertex,
        _ => Level::Job,
    }
}
