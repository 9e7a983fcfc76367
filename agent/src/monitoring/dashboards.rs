//! The shipped Grafana dashboards: what each panel asks of Prometheus, and
//! what it tells the reader. `tidemark dashboards DIR` writes them.
//!
//! Queries are written with three selector placeholders, filled by `sel`:
//! `{J}` (the chosen jobs), `{V}` (jobs and vertices) and `{I}` (jobs and
//! instances, for process metrics that carry no job label when scraped).

use super::grafana::{Dashboard, Item, Kind, Panel, Var};

const J: &str = r#"{job_name=~"$job_name", job_id=~"$job_id"}"#;
const V: &str = r#"{job_name=~"$job_name", job_id=~"$job_id", vertex=~"$vertex"}"#;
const I: &str = r#"{instance=~"$instance"}"#;
const IR: &str = r#"{instance=~"$instance", reporter=~".+"}"#;

/// Fills the selector placeholders of a query.
fn sel(q: &str) -> String {
    q.replace("{J}", J)
        .replace("{V}", V)
        .replace("{IR}", IR)
        .replace("{I}", I)
}

fn row(t: &'static str) -> Item {
    Item::Row(t)
}

fn p(panel: Panel) -> Item {
    Item::Panel(panel)
}

trait Q {
    /// Adds a query after filling its placeholders.
    fn q(self, expr: &str, legend: &str) -> Self;
}

impl Q for Panel {
    fn q(self, expr: &str, legend: &str) -> Self {
        self.query(sel(expr), legend)
    }
}

/// `job_name`, `job_id`, `vertex`, chained so each lists what the one before allows.
fn job_vars() -> Vec<Var> {
    vec![
        Var { name: "job_name", label: "Job", query: "label_values(tidemark_job_uptime_seconds, job_name)".into() },
        Var { name: "job_id", label: "Job id", query: r#"label_values(tidemark_job_uptime_seconds{job_name=~"$job_name"}, job_id)"#.into() },
        Var { name: "vertex", label: "Vertex", query: r#"label_values(tidemark_task_records_in_total{job_name=~"$job_name", job_id=~"$job_id"}, vertex)"#.into() },
    ]
}

/// Mean of a per-checkpoint phase histogram per vertex over the rate interval.
fn phase_mean(metric: &str) -> String {
    format!(
        "sum by (job_name, vertex) (rate({metric}_sum{{V}}[$__rate_interval])) / sum by (job_name, vertex) (rate({metric}_count{{V}}[$__rate_interval]))"
    )
}

const BOTTLENECK: &str = "topk by (job_name) (1, max by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{J}[$__rate_interval])) unless on (job_name, vertex) (max by (job_name, vertex) (rate(tidemark_task_backpressured_seconds_total{J}[$__rate_interval])) > 0.1))";

/// One over the busiest subtask's busy share, per job (the recording rule
/// `job:tidemark_job_headroom:ratio`, over the dashboard's rate interval).
const HEADROOM: &str =
    "(1 / max by (job_name) (rate(tidemark_task_busy_seconds_total{J}[$__rate_interval])))";

/// The sources' records out per job: vertices that take no records in.
const INPUT: &str = "sum by (job_name) (rate(tidemark_task_records_out_total{J}[$__rate_interval]) unless on (job_name, job_id, vertex) (sum by (job_name, job_id, vertex) (rate(tidemark_task_records_in_total{J}[$__rate_interval])) > 0))";

fn job_overview() -> Dashboard {
    Dashboard {
        uid: "tidemark-job-overview",
        title: "Tidemark / Job overview",
        description: "Is the job healthy: throughput, backpressure, checkpoints, latency, watermarks and restarts at a glance.",
        vars: job_vars(),
        items: vec![
            row("Health"),
            p(Panel::new("Uptime", "Time since the job last (re)started. A value that keeps dropping to zero means the job is restarting.").kind(Kind::Stat).width(6).unit("s")
                .q("max by (job_name) (tidemark_job_uptime_seconds{J})", "{{job_name}}")),
            p(Panel::new("Restarts in range", "Restarts after task failures in the dashboard's time range. Anything above 0 needs its cause read from the log; a rising count is a restart loop.").kind(Kind::Stat).width(6).thresholds(1.0, 3.0)
                .q("sum by (job_name) (increase(tidemark_job_restarts_total{J}[$__range]))", "{{job_name}}")),
            p(Panel::new("Since last checkpoint", "Seconds since the last checkpoint completed. It should stay below a few checkpoint intervals; a steady climb means checkpoints are not completing and recovery would replay ever more input.").kind(Kind::Stat).width(6).unit("s")
                .q("max by (job_name) (tidemark_checkpoint_since_last_completion_seconds{J})", "{{job_name}}")),
            p(Panel::new("Failed checkpoints in range", "Checkpoints that failed, expired or were aborted in the time range. Occasional failures are retried; a steady count means the job cannot persist its state.").kind(Kind::Stat).width(6).thresholds(1.0, 3.0)
                .q("sum by (job_name) (increase(tidemark_checkpoint_failed_total{J}[$__range]))", "{{job_name}}")),
            row("Throughput"),
            p(Panel::new("Records in per vertex", "Records received per second by each vertex (all subtasks). A drop with backpressure means the job slowed down; a drop without it means the input dried up.").unit("ops")
                .q("sum by (job_name, vertex) (rate(tidemark_task_records_in_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Records out per vertex", "Records emitted per second by each vertex. Sources show the job's intake; a sink's input shows what reaches the outside.").unit("ops")
                .q("sum by (job_name, vertex) (rate(tidemark_task_records_out_total{V}[$__rate_interval]))", "{{vertex}}")),
            row("Backpressure and checkpoints"),
            p(Panel::new("Backpressured per vertex", "Share of time each vertex's most blocked subtask waits on a full output channel. Above 0.5 (HIGH) for minutes, a vertex downstream is the bottleneck: see the Backpressure dashboard.").unit("percentunit").thresholds(0.1, 0.5)
                .q("max by (job_name, vertex) (rate(tidemark_task_backpressured_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Checkpoints completed and failed", "Checkpoints completed and failed per rate interval. Completions should come steadily, one per interval; any failure line deserves a look at the Checkpoints dashboard.").unit("short")
                .q("sum by (job_name) (increase(tidemark_checkpoint_completed_total{J}[$__rate_interval]))", "completed {{job_name}}")
                .q("sum by (job_name) (increase(tidemark_checkpoint_failed_total{J}[$__rate_interval]))", "failed {{job_name}}")),
            row("Sources"),
            p(Panel::new("Source lag per partition", "How far behind the newest record of each partition (Kafka partition, JetStream subject) the source reads, from record timestamps. Results are this late; a lag that keeps rising means the job reads slower than records arrive.").unit("s")
                .q("max by (job_name, vertex, partition) (tidemark_source_lag_seconds{V})", "{{vertex}} {{partition}}")),
            p(Panel::new("Records pending per partition", "Records after the last one read, per partition. After a failure this is the backlog to catch up on; it should fall back to near zero.").unit("short")
                .q("sum by (job_name, vertex, partition) (tidemark_source_pending_records{V})", "{{vertex}} {{partition}}")),
            p(Panel::new("Time to read the backlog", "Records pending divided by the rate the source emits them now: how long reading the backlog takes at the current pace, if nothing new arrived. Compare it with how late results may be; a rising value means no headroom to catch up.").unit("s")
                .q("sum by (job_name, vertex) (tidemark_source_pending_records{V}) / sum by (job_name, vertex) (rate(tidemark_task_records_out_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Event-time lag per partition", "Wall clock minus each partition's watermark (its newest event time less the out-of-orderness), for partitions not idle. The source's watermark is the smallest of them: the highest line is the partition holding event time back, and with it every window downstream.").unit("s")
                .q("max by (job_name, vertex, partition) (time() - (tidemark_source_partition_watermark_seconds{V} >= 0) unless on (job_name, job_id, vertex, subtask, partition) (tidemark_source_partition_idle{V} == 1))", "{{vertex}} {{partition}}")),
            row("Capacity"),
            p(Panel::new("Headroom", "How many times its present input the job can take: one over its busiest subtask's busy share. At 1 it takes no more (backpressure); catching up after a failure needs more than 1, and the doctor's target utilization 0.7 means about 1.4.").unit("short")
                .q(HEADROOM, "{{job_name}}")),
            p(Panel::new("Input and maximum sustainable rate", "Records per second the sources emit, and what they could emit without backpressure (input times headroom). The gap is the speed left to catch up with.").unit("ops")
                .q(INPUT, "input {{job_name}}")
                .q(&format!("{INPUT} * {HEADROOM}"), "sustainable {{job_name}}")),
            p(Panel::new("Catch-up after a failure", "Seconds the job would need to catch up after a failure: its recovery time plus one checkpoint interval of replay, worked off with the speed beyond its input, (recovery + interval) / (headroom - 1). Empty or infinite: it never catches up. CatchUpTooSlow fires above 30 min.").unit("s")
                .q(&format!("(max by (job_name) (tidemark_job_recovery_time_seconds{{J}}) + max by (job_name) (tidemark_checkpoint_interval_seconds{{J}})) / clamp_min({HEADROOM} - 1, 0)"), "{{job_name}}")),
            p(Panel::new("Utilization per vertex", "Each vertex's subtasks' mean busy share. A vertex near 1 is the limit; one far below its busiest subtask (Per subtask on the Backpressure dashboard) is skewed.").unit("percentunit").thresholds(0.7, 0.9)
                .q("avg by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Needed parallelism per vertex", "The parallelism that keeps each vertex at the doctor's target utilization with room to catch up within tidemark.doctor.catch-up-duration, aligned to key groups (Tidemark jobs; `tidemark doctor` says why).").unit("short")
                .q("max by (job_name, vertex) (tidemark_vertex_needed_parallelism{V})", "{{vertex}}")),
            row("Latency and event time"),
            p(Panel::new("Result latency (p99, event time)", "99th percentile of how late results reach each sink: arrival time minus the result's event time. It includes window length and allowed lateness; a rise with a steady input means the job falls behind.").unit("s")
                .q("histogram_quantile(0.99, sum by (job_name, vertex, le) (rate(tidemark_sink_event_time_latency_seconds_bucket{V}[$__rate_interval])))", "{{vertex}}")),
            p(Panel::new("Marker latency (p99)", "99th percentile of latency-marker age at each vertex: the time records spend queued between the sources and it. High values with backpressure mean records wait in channels.").unit("s")
                .q("histogram_quantile(0.99, sum by (job_name, vertex, le) (rate(tidemark_latency_seconds_bucket{V}[$__rate_interval])))", "{{vertex}}")),
            p(Panel::new("Watermark lag per vertex", "Wall clock minus each vertex's input watermark: how far event time trails. Windows fire this late; a lag that keeps growing means a slow job, an idle source or a stuck partition.").unit("s")
                .q("max by (job_name, vertex) (tidemark_task_watermark_lag_seconds{V})", "{{vertex}}")),
            p(Panel::new("Restarts", "Restarts per rate interval. Every restart replays input since the last checkpoint; repeated restarts mean the job cannot make progress.").unit("short")
                .q("sum by (job_name) (increase(tidemark_job_restarts_total{J}[$__rate_interval]))", "{{job_name}}")),
        ],
    }
}

fn checkpoints() -> Dashboard {
    Dashboard {
        uid: "tidemark-checkpoints",
        title: "Tidemark / Checkpoints",
        description: "Do checkpoints complete, and where does their time go: start delay, alignment, sync and async phases, and sizes.",
        vars: job_vars(),
        items: vec![
            row("Completion"),
            p(Panel::new("Completed and failed", "Checkpoints completed and failed per rate interval. Failures are retried; if no completion follows, recovery falls behind.").unit("short")
                .q("sum by (job_name) (increase(tidemark_checkpoint_completed_total{J}[$__rate_interval]))", "completed {{job_name}}")
                .q("sum by (job_name) (increase(tidemark_checkpoint_failed_total{J}[$__rate_interval]))", "failed {{job_name}}")),
            p(Panel::new("Time since last completion vs interval", "Seconds since the last completed checkpoint, next to the configured interval. It should saw-tooth below a few intervals; a line that climbs means checkpoints are stuck.").unit("s")
                .q("max by (job_name) (tidemark_checkpoint_since_last_completion_seconds{J})", "since last {{job_name}}")
                .q("max by (job_name) (tidemark_checkpoint_interval_seconds{J})", "interval {{job_name}}")),
            p(Panel::new("Last checkpoint duration vs interval", "Trigger-to-completion time of the last checkpoint, next to the interval. Near the interval, checkpoints run back to back: raise the interval or min pause, or make them cheaper (incremental, unaligned).").unit("s")
                .q("max by (job_name) (tidemark_checkpoint_last_duration_seconds{J})", "duration {{job_name}}")
                .q("max by (job_name) (tidemark_checkpoint_interval_seconds{J})", "interval {{job_name}}")),
            p(Panel::new("In progress", "Checkpoints triggered and not yet finished. More than execution.checkpointing.max-concurrent-checkpoints for long means they are slow to complete.").unit("short").width(6)
                .q("max by (job_name) (tidemark_checkpoint_in_progress{J})", "{{job_name}}")),
            p(Panel::new("Restores", "Times the job restored from a checkpoint in the range. Each restore is a failure or a redeploy.").kind(Kind::Stat).width(6)
                .q("sum by (job_name) (increase(tidemark_checkpoint_restored_total{J}[$__range]))", "{{job_name}}")),
            row("Where the time goes (mean per checkpoint)"),
            p(Panel::new("Phases of the slowest vertex", "Mean time per checkpoint in each phase, for the slowest vertex: start delay (barrier travel: backpressure), alignment (input skew), sync (state copy, blocks processing) and async (upload). The largest band is where to act.").kind(Kind::Stacked).unit("s").width(24)
                .q(&format!("max by (job_name) ({})", phase_mean("tidemark_checkpoint_start_delay_seconds")), "start delay {{job_name}}")
                .q(&format!("max by (job_name) ({})", phase_mean("tidemark_checkpoint_alignment_duration_seconds")), "alignment {{job_name}}")
                .q(&format!("max by (job_name) ({})", phase_mean("tidemark_checkpoint_sync_duration_seconds")), "sync {{job_name}}")
                .q(&format!("max by (job_name) ({})", phase_mean("tidemark_checkpoint_async_duration_seconds")), "async {{job_name}}")),
            p(Panel::new("Start delay per vertex", "Mean time from trigger to the first barrier at each vertex. High values mean barriers queue behind records: backpressure. Unaligned checkpoints let barriers overtake them.").unit("s")
                .q(&phase_mean("tidemark_checkpoint_start_delay_seconds"), "{{vertex}}")),
            p(Panel::new("Alignment per vertex", "Mean time between the first and last barrier at each vertex. High values mean one input channel lags the others (skew); the faster channels are blocked meanwhile in aligned mode.").unit("s")
                .q(&phase_mean("tidemark_checkpoint_alignment_duration_seconds"), "{{vertex}}")),
            p(Panel::new("Sync phase per vertex", "Mean synchronous snapshot time at each vertex: processing stops meanwhile. Large values come from large heap state or RocksDB flushes.").unit("s")
                .q(&phase_mean("tidemark_checkpoint_sync_duration_seconds"), "{{vertex}}")),
            p(Panel::new("Async phase per vertex", "Mean asynchronous snapshot time at each vertex: encoding and uploading state. High values point at storage throughput or state size; incremental checkpoints upload less.").unit("s")
                .q(&phase_mean("tidemark_checkpoint_async_duration_seconds"), "{{vertex}}")),
            p(Panel::new("End-to-end duration per vertex (p99)", "99th percentile of trigger-to-acknowledgement time per vertex. The slowest vertex decides when a checkpoint completes.").unit("s").width(24)
                .q("histogram_quantile(0.99, sum by (job_name, vertex, le) (rate(tidemark_checkpoint_duration_seconds_bucket{V}[$__rate_interval])))", "{{vertex}}")),
            row("Size"),
            p(Panel::new("Checkpointed vs full size", "Bytes the last checkpoint wrote, next to the full state it covers. With incremental checkpoints the first should be a small share of the second; equal lines mean full snapshots.").unit("bytes")
                .q("max by (job_name) (tidemark_checkpoint_last_size_bytes{J})", "checkpointed {{job_name}}")
                .q("max by (job_name) (tidemark_checkpoint_last_full_size_bytes{J})", "full {{job_name}}")),
            p(Panel::new("Processed and persisted during alignment", "Bytes processed while barriers aligned, and in-flight bytes an unaligned checkpoint persisted. Large persisted data makes checkpoints and restores slower.").unit("bytes")
                .q("max by (job_name) (tidemark_checkpoint_last_processed_bytes{J})", "processed {{job_name}}")
                .q("max by (job_name) (tidemark_checkpoint_last_persisted_bytes{J})", "persisted {{job_name}}")),
        ],
    }
}

fn backpressure() -> Dashboard {
    Dashboard {
        uid: "tidemark-backpressure",
        title: "Tidemark / Backpressure and bottleneck",
        description: "Is there backpressure, and which vertex causes it: busy, idle and backpressured time per vertex and subtask, and queue usage.",
        vars: job_vars(),
        items: vec![
            row("Bottleneck"),
            p(Panel::new("Likely bottleneck", "The busiest vertex of each job that is not itself backpressured (under 10 %): it is slow rather than blocked. When vertices upstream of it are backpressured, this is the one to scale or speed up.").kind(Kind::Table).width(12).unit("percentunit")
                .q(BOTTLENECK, "{{vertex}}")),
            p(Panel::new("Busy skew per vertex", "Busiest minus least busy subtask of each vertex. Large values with one hot subtask mean key skew: more parallelism will not help until the keys spread.").unit("percentunit").width(12)
                .q("max by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{V}[$__rate_interval])) - min by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            row("Per vertex (worst subtask)"),
            p(Panel::new("Backpressured per vertex", "Share of time the most blocked subtask of each vertex waits on a full output channel. Over 0.5 is HIGH: something downstream is slower.").unit("percentunit").width(8).thresholds(0.1, 0.5)
                .q("max by (job_name, vertex) (rate(tidemark_task_backpressured_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Busy per vertex", "Share of time the busiest subtask of each vertex processes records. Near 1 without backpressure, the vertex is the bottleneck.").unit("percentunit").width(8).thresholds(0.7, 0.9)
                .q("max by (job_name, vertex) (rate(tidemark_task_busy_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Idle per vertex", "Share of time the least idle subtask of each vertex waits for input. High idle everywhere means the sources, not the job, limit throughput.").unit("percentunit").width(8)
                .q("min by (job_name, vertex) (rate(tidemark_task_idle_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            row("Per subtask"),
            p(Panel::new("Backpressured per subtask", "Backpressured share of each subtask. One subtask far above its siblings points at a skewed channel.").unit("percentunit").thresholds(0.1, 0.5)
                .q("rate(tidemark_task_backpressured_seconds_total{V}[$__rate_interval])", "{{vertex}} #{{subtask}}")),
            p(Panel::new("Busy per subtask", "Busy share of each subtask. A single subtask near 1 while the others idle is a hot key.").unit("percentunit").thresholds(0.7, 0.9)
                .q("rate(tidemark_task_busy_seconds_total{V}[$__rate_interval])", "{{vertex}} #{{subtask}}")),
            p(Panel::new("Input queue usage per subtask", "Batches waiting in each subtask's input channels over their capacity. Near 1 the subtask cannot keep up with its input: it is the bottleneck or behind it.").unit("percentunit").thresholds(0.5, 0.9)
                .q("tidemark_task_input_queue_usage_ratio{V}", "{{vertex}} #{{subtask}}")),
            p(Panel::new("Output queue usage per subtask", "Batches waiting in each subtask's output channels over their capacity. Near 1 the subtask is backpressured by its consumers.").unit("percentunit").thresholds(0.5, 0.9)
                .q("tidemark_task_output_queue_usage_ratio{V}", "{{vertex}} #{{subtask}}")),
            p(Panel::new("Checkpoint start delay per vertex", "Mean time barriers take to reach each vertex: the checkpoint cost of backpressure. It grows with the queues in front of the vertex.").unit("s").width(24)
                .q(&phase_mean("tidemark_checkpoint_start_delay_seconds"), "{{vertex}}")),
        ],
    }
}

fn state_backend() -> Dashboard {
    Dashboard {
        uid: "tidemark-state-backend",
        title: "Tidemark / State backend",
        description: "Is the state backend the limit: RocksDB keys and sizes, memtables, block cache, compactions, write stalls and restores.",
        vars: job_vars(),
        items: vec![
            row("Size"),
            p(Panel::new("Estimated keys per vertex", "Estimated keys in RocksDB per vertex and state. Unbounded growth means state is never cleared: add a TTL or timers that clear it.").unit("short")
                .q("sum by (job_name, vertex, state) (tidemark_rocksdb_estimate_num_keys{V})", "{{vertex}} {{state}}")),
            p(Panel::new("Live data and SST files", "Estimated live data and the size of all SST files per vertex. SST far above live data means compaction has not yet removed overwritten and deleted keys.").unit("bytes")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_estimate_live_data_size_bytes{V})", "live {{vertex}}")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_total_sst_files_size_bytes{V})", "sst {{vertex}}")),
            row("Memory"),
            p(Panel::new("Memtables", "Bytes in active and unflushed memtables per vertex, and immutable memtables waiting to flush. Immutable memtables piling up mean flushes are slower than writes.").unit("bytes")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_cur_size_all_mem_tables_bytes{V})", "bytes {{vertex}}")),
            p(Panel::new("Immutable memtables", "Immutable memtables not yet flushed, per vertex. Reaching max-write-buffer-number stops writes.").unit("short")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_num_immutable_mem_tables{V})", "{{vertex}}")),
            p(Panel::new("Block cache hit rate", "Share of block reads served from the block cache (needs state.backend.rocksdb.statistics.level: TICKERS). Below about 0.8 with a large state, reads go to disk: raise managed memory or change the profile.").unit("percentunit")
                .q("sum by (job_name, vertex) (rate(tidemark_rocksdb_block_cache_hits_total{V}[$__rate_interval])) / (sum by (job_name, vertex) (rate(tidemark_rocksdb_block_cache_hits_total{V}[$__rate_interval])) + sum by (job_name, vertex) (rate(tidemark_rocksdb_block_cache_misses_total{V}[$__rate_interval])))", "{{vertex}}")),
            p(Panel::new("Block cache usage vs capacity", "Bytes in the block cache (memtables charged to it included) and its capacity. Usage at capacity with a low hit rate means the working set does not fit.").unit("bytes")
                .q("max by (job_name, vertex) (tidemark_rocksdb_block_cache_usage_bytes{V})", "usage {{vertex}}")
                .q("max by (job_name, vertex) (tidemark_rocksdb_block_cache_pinned_usage_bytes{V})", "pinned {{vertex}}")
                .q("max by (job_name, vertex) (tidemark_rocksdb_block_cache_capacity_bytes{V})", "capacity {{vertex}}")),
            row("Lookups"),
            p(Panel::new("Block cache misses by block kind", "Blocks read from SST files per second because the cache lacked them, by kind, next to the lookups RocksDB served (statistics tickers: state.backend.rocksdb.statistics.level TICKERS). Data misses grow smoothly as state outgrows the cache. Index or filter misses close to the lookup rate mean every lookup reads index or filter blocks from a file: index and filter blocks do not stay in the cache (see docs/state-backend.md).").unit("ops").width(8)
                .q("sum by (job_name, vertex, block) (rate(tidemark_rocksdb_block_cache_misses_total{V}[$__rate_interval]))", "{{vertex}} {{block}} misses")
                .q("sum by (job_name, vertex) (rate(tidemark_rocksdb_keys_read_total{V}[$__rate_interval]))", "{{vertex}} lookups")),
            p(Panel::new("SST bytes read per lookup", "Bytes read from SST files per RocksDB lookup, compaction reads left out (statistics tickers). About one data block (4 KB) per lookup is state beyond the cache; megabytes per lookup mean whole filter or index blocks are read again each time.").unit("bytes").width(8)
                .q("clamp_min(sum by (job_name, vertex) (rate(tidemark_rocksdb_file_read_bytes_total{V}[$__rate_interval])) - sum by (job_name, vertex) (rate(tidemark_rocksdb_compaction_read_bytes_total{V}[$__rate_interval])), 0) / sum by (job_name, vertex) (rate(tidemark_rocksdb_keys_read_total{V}[$__rate_interval]))", "{{vertex}}")),
            p(Panel::new("Lookup latency", "Median and 99th percentile of a RocksDB point lookup (one in 32 timed, always on), per vertex. Microseconds: served from the cache; tens: from the page cache; hundreds: from disk.").unit("s").width(8)
                .q("histogram_quantile(0.5, sum by (job_name, vertex, le) (rate(tidemark_rocksdb_get_duration_seconds_bucket{V}[$__rate_interval])))", "p50 {{vertex}}")
                .q("histogram_quantile(0.99, sum by (job_name, vertex, le) (rate(tidemark_rocksdb_get_duration_seconds_bucket{V}[$__rate_interval])))", "p99 {{vertex}}")),
            p(Panel::new("Busy time in the state backend", "Share of each vertex's busy time spent in RocksDB (lookups that missed the write-back cache, and write-backs), busiest subtask. Above one half the state backend, not the function, sets the vertex's pace: `tidemark doctor` calls it state-backend-limit.").unit("percentunit").width(24)
                .q("max by (job_name, vertex) (rate(tidemark_task_state_seconds_total{V}[$__rate_interval]) / rate(tidemark_task_busy_seconds_total{V}[$__rate_interval]))", "{{vertex}}")),
            row("Compaction and stalls"),
            p(Panel::new("Compactions and flushes running", "Compactions and memtable flushes running per vertex. Always busy means background threads are saturated: add threads or disk bandwidth.").unit("short")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_num_running_compactions{V})", "compactions {{vertex}}")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_num_running_flushes{V})", "flushes {{vertex}}")),
            p(Panel::new("Pending compaction bytes", "Bytes compaction must rewrite to reach its targets. A steady rise ends in write stalls.").unit("bytes")
                .q("sum by (job_name, vertex) (tidemark_rocksdb_estimate_pending_compaction_bytes{V})", "{{vertex}}")),
            p(Panel::new("Write stalls", "1 while RocksDB stops writes, and the rate writes are delayed to (0 when not delayed), per subtask. Any non-zero value means state writes run at the disk's pace.").unit("short")
                .q("max by (job_name, vertex, subtask) (tidemark_rocksdb_is_write_stopped{V})", "stopped {{vertex}} #{{subtask}}")
                .q("max by (job_name, vertex, subtask) (tidemark_rocksdb_actual_delayed_write_rate_bytes{V})", "delayed B/s {{vertex}} #{{subtask}}")),
            p(Panel::new("Stall time and compaction I/O", "Share of time writers stalled, and compaction read and write bandwidth (statistics tickers). High compaction I/O with stalls: the disk is the limit.").unit("short")
                .q("sum by (job_name, vertex) (rate(tidemark_rocksdb_stall_seconds_total{V}[$__rate_interval]))", "stalled s/s {{vertex}}")
                .q("sum by (job_name, vertex) (rate(tidemark_rocksdb_compaction_read_bytes_total{V}[$__rate_interval]))", "compaction read B/s {{vertex}}")
                .q("sum by (job_name, vertex) (rate(tidemark_rocksdb_compaction_written_bytes_total{V}[$__rate_interval]))", "compaction write B/s {{vertex}}")),
            row("Restore"),
            p(Panel::new("Restore duration by source", "How long each subtask's last restore took, by where it read state: local (task-local copy) or remote (checkpoint storage). Remote restores much slower than local argue for local recovery.").unit("s")
                .q("max by (job_name, vertex, source) (tidemark_state_restore_duration_seconds{V})", "{{vertex}} {{source}}")),
            p(Panel::new("Restores by source", "Restores of keyed state in the range, by source. Remote restores when local recovery is on mean the local copies were missing or damaged.").kind(Kind::Stat)
                .q("sum by (job_name, source) (increase(tidemark_state_restores_total{V}[$__range]))", "{{source}}")),
        ],
    }
}

fn agent_host() -> Dashboard {
    let mut vars = job_vars();
    vars.push(Var {
        name: "instance",
        label: "Instance",
        query: r#"label_values(tidemark_job_uptime_seconds{job_name=~"$job_name", job_id=~"$job_id"}, instance)"#.into(),
    });
    Dashboard {
        uid: "tidemark-agent-host",
        title: "Tidemark / Agent and host",
        description: "Is the monitoring itself healthy, and is the machine the limit: exporter deliveries and queues, series counts, CPU, memory, disk and network of the job processes; for a Flink cluster, the agent's polls and the TaskManagers' CPU, heap and GC.",
        vars,
        items: vec![
            row("Exporters"),
            p(Panel::new("Deliveries per reporter", "Payloads each reporter delivered per second (scrapes served, pushes and writes accepted). A reporter at 0 delivers nothing to its server.").unit("ops")
                .q("sum by (instance, reporter, kind) (rate(tidemark_exporter_sent_total{IR}[$__rate_interval]))", "{{instance}} {{reporter}} ({{kind}})")),
            p(Panel::new("Failures and drops per reporter", "Failed delivery attempts (retried) and dropped payloads (lost) per second. Failures with no deliveries mean the server is unreachable; any drop means lost data points.").unit("ops")
                .q("sum by (instance, reporter, kind) (rate(tidemark_exporter_failed_total{IR}[$__rate_interval]))", "failed {{instance}} {{reporter}}")
                .q("sum by (instance, reporter, kind) (rate(tidemark_exporter_dropped_total{IR}[$__rate_interval]))", "dropped {{instance}} {{reporter}}")),
            p(Panel::new("Exporter queue depth", "Payloads waiting in each reporter's bounded queue. A full queue drops payloads: the server is slower than the push interval.").unit("short")
                .q("max by (instance, reporter, kind) (tidemark_exporter_queue_depth{IR})", "{{instance}} {{reporter}}")),
            p(Panel::new("Since last delivery", "Seconds since each reporter's last successful delivery. More than a few intervals means its server has stale data.").unit("s")
                .q("time() - max by (instance, reporter, kind) (tidemark_exporter_last_success_timestamp_seconds{IR} > 0)", "{{instance}} {{reporter}}")),
            row("Series"),
            p(Panel::new("Series exported", "Series in each process's registry. Growth without new jobs means a high-cardinality label; compare with metrics.series-limit.").unit("short")
                .q("max by (instance) (tidemark_metrics_series{I})", "{{instance}}")),
            p(Panel::new("Series dropped by the limit", "Series not exported per second because their family reached metrics.series-limit. Non-zero means some metrics are missing from dashboards.").unit("ops")
                .q("sum by (instance, family) (rate(tidemark_metrics_series_dropped_total{I}[$__rate_interval]))", "{{instance}} {{family}}")),
            row("Host"),
            p(Panel::new("CPU", "CPU cores used by the job process, and the host's CPU utilisation (0 to 1). A process near its core count, or a host near 1, is CPU-bound: scale out or reduce work.").unit("short")
                .q("max by (instance) (rate(process_cpu_seconds_total{I}[$__rate_interval]))", "process cores {{instance}}")
                .q("max by (instance) (tidemark_host_cpu_utilization_ratio{I})", "host utilisation {{instance}}")),
            p(Panel::new("Memory", "Resident memory of the job process, and memory available on the host. Available memory near 0 risks the OOM killer; RSS growing without bound is a leak or unbounded heap state.").unit("bytes")
                .q("max by (instance) (process_resident_memory_bytes{I})", "process RSS {{instance}}")
                .q("max by (instance) (tidemark_host_memory_available_bytes{I})", "host available {{instance}}")
                .q("max by (instance) (tidemark_host_memory_total_bytes{I})", "host total {{instance}}")),
            p(Panel::new("Disk available", "Space left on each file system. Checkpoints, local recovery and RocksDB fail when it runs out.").unit("bytes")
                .q("min by (instance, mountpoint) (tidemark_host_disk_available_bytes{I})", "{{instance}} {{mountpoint}}")),
            p(Panel::new("Network", "Bytes received and sent per second per interface. Near the link's capacity, shuffles and checkpoint uploads compete.").unit("Bps")
                .q("sum by (instance, device) (rate(tidemark_host_network_receive_bytes_total{I}[$__rate_interval]))", "rx {{instance}} {{device}}")
                .q("sum by (instance, device) (rate(tidemark_host_network_transmit_bytes_total{I}[$__rate_interval]))", "tx {{instance}} {{device}}")),
            p(Panel::new("Open file descriptors", "Open file descriptors of the job process against its limit. RocksDB keeps SST files open; reaching the limit fails the job.").unit("short")
                .q("max by (instance) (process_open_fds{I})", "open {{instance}}")
                .q("max by (instance) (process_max_fds{I})", "limit {{instance}}")),
            row("Flink cluster (tidemark agent flink)"),
            p(Panel::new("Agent polls", "Whether the agent's last poll reached the JobManager (1) or not (0), and its requests and failed requests per second. At 0 the Flink jobs' series are withdrawn until the JobManager answers again.").unit("short")
                .q("max by (instance) (tidemark_bridge_up{I})", "up {{instance}}")
                .q("sum by (instance) (rate(tidemark_bridge_requests_total{I}[$__rate_interval]))", "requests/s {{instance}}")
                .q("sum by (instance) (rate(tidemark_bridge_request_failures_total{I}[$__rate_interval]))", "failed/s {{instance}}")),
            p(Panel::new("Agent poll duration", "How long one poll of the JobManager takes (99th percentile). Near the poll interval the agent falls behind: poll less often, or read vertices rather than subtasks (metrics.level).").unit("s")
                .q("histogram_quantile(0.99, sum by (le, instance) (rate(tidemark_bridge_poll_duration_seconds_bucket{I}[$__rate_interval])))", "p99 {{instance}}")),
            p(Panel::new("TaskManager CPU", "CPU cores each TaskManager's JVM uses. A TaskManager at its machine's cores is CPU-bound: its slots' tasks compete.").unit("short")
                .q("sum by (instance, taskmanager) (rate(tidemark_taskmanager_cpu_seconds_total{I}[$__rate_interval]))", "{{taskmanager}}")),
            p(Panel::new("TaskManager heap", "Heap used by each TaskManager's JVM against its maximum. Used near the maximum after collections means heap state or buffers that do not fit: more memory, or state in RocksDB.").unit("bytes")
                .q("max by (instance, taskmanager) (tidemark_taskmanager_heap_used_bytes{I})", "used {{taskmanager}}")
                .q("max by (instance, taskmanager) (tidemark_taskmanager_heap_max_bytes{I})", "max {{taskmanager}}")),
            p(Panel::new("TaskManager GC time", "Share of time each TaskManager's JVM spends collecting garbage, per collector. Above a few percent, every task on it slows down; pauses also delay checkpoint barriers.").unit("percentunit")
                .q("sum by (instance, taskmanager, collector) (rate(tidemark_taskmanager_gc_seconds_total{I}[$__rate_interval]))", "{{taskmanager}} {{collector}}")),
        ],
    }
}

/// Every shipped dashboard, with the file name it is written to.
pub fn all() -> Vec<(&'static str, Dashboard)> {
    vec![
        ("job-overview.json", job_overview()),
        ("checkpoints.json", checkpoints()),
        ("backpressure.json", backpressure()),
        ("state-backend.json", state_backend()),
        ("agent-host.json", agent_host()),
    ]
}
