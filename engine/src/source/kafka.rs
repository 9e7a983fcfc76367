//! A Kafka source: reads the partitions of topics named by a list or a
//! pattern, and resumes exactly where the last completed checkpoint left off.
//!
//! - **Assignment.** Partition `p` of topic `t` belongs to subtask
//!   `((hash(t) * 31) & 0x7fffffff) % parallelism + p` modulo the parallelism,
//!   Java's `String.hashCode` for `hash`: Flink's `KafkaSourceEnumerator`, so
//!   the owner of a partition is the one Flink would pick, and a savepoint
//!   restored at another parallelism hands each partition to its new owner.
//! - **Position.** The next offset to read, per partition, is the source's
//!   checkpointed position; after a failure or a crash each partition is read
//!   on from it, whatever the consumer group committed. With no state,
//!   `starting_offsets` decides (earliest, latest, committed, or the first
//!   record at or after a timestamp).
//! - **Offsets committed back.** When a checkpoint completes, its offsets are
//!   committed to the consumer group (`group_id`), so Kafka's own lag tools see
//!   the job's progress. They are never read back for recovery; a commit that
//!   fails is logged and counted, and the job goes on (as Flink's).
//! - **Discovery.** Partitions (and, with a pattern, topics) are listed at
//!   start and every `discovery_interval`; a new partition is read from its
//!   earliest offset by its owner.
//! - **Bounded mode.** `bounded` reads each partition up to its end offset
//!   when the subtask started, then finishes.
//! - **Records.** The user's function makes a record of each message; an error
//!   there fails the task (the restart strategy applies). For formats and a
//!   per-record error policy, make [`RawRecord`](super::format::RawRecord)s
//!   ([`kafka_records`](super::format::kafka_records)) and decode them after
//!   the source ([`super::format`]).

use super::{Poll, Source, SplitLag};
use crate::data::JavaHash;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which topics to read.
#[derive(Debug, Clone)]
pub enum Topics {
    /// These topics.
    List(Vec<String>),
    /// Every topic whose whole name matches this regular expression, now or
    /// when discovered later.
    Pattern(String),
}

/// Where a partition without checkpointed state starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartingOffsets {
    /// Its first retained record.
    Earliest,
    /// After its last record when the job starts.
    Latest,
    /// The consumer group's committed offset (earliest where there is none).
    Committed,
    /// The first record whose timestamp is at or after this (ms since the epoch).
    Timestamp(i64),
}

/// Where and how to read.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The topics.
    pub topics: Topics,
    /// The consumer group offsets are committed to (`group.id`).
    pub group_id: String,
    /// Where partitions without state start.
    pub starting_offsets: StartingOffsets,
    /// Read up to the end offsets seen at start, then finish.
    pub bounded: bool,
    /// How often partitions and topics are listed again (`None`: only at start).
    pub discovery_interval: Option<Duration>,
    /// More librdkafka consumer properties (`fetch.max.bytes`, security, ...).
    pub properties: Vec<(String, String)>,
}

/// One message, as the record function sees it.
#[derive(Debug)]
pub struct KafkaMessage<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (ms since the epoch), if it has one.
    pub timestamp_ms: Option<i64>,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its payload (empty for a tombstone).
    pub payload: &'a [u8],
}

/// Turns a message into a record.
pub type MessageFn<T> = Arc<dyn Fn(&KafkaMessage<'_>) -> Result<T> + Send + Sync>;

type Tp = (String, i32);

/// A partition's name in metrics and watermarks: `orders-3`.
pub fn split_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// A partition this subtask reads.
#[derive(Debug)]
struct Partition {
    /// The next offset to read.
    next: i64,
    /// Bounded: the end offset when it was assigned.
    end: Option<i64>,
    /// The timestamp of the last record read (ms).
    read_ms: Option<i64>,
}

/// When partitions are listed next.
#[derive(Debug, Clone, Copy)]
enum Discovery {
    /// At the first poll.
    First,
    /// Once this instant has passed.
    At(Instant),
    /// Never again (no discovery interval).
    Never,
}

/// Reads Kafka partitions (see the module).
pub struct KafkaSource<T> {
    cfg: KafkaConfig,
    record: MessageFn<T>,
    consumer: Option<BaseConsumer>,
    /// The lag thread's clients, made by its first sample.
    lag_reader: Arc<std::sync::Mutex<Option<LagReader>>>,
    lag: super::lag_sampler::LagSampler,
    pattern: Option<regex::Regex>,
    index: usize,
    parallelism: usize,
    owned: BTreeMap<Tp, Partition>,
    restored: BTreeMap<Tp, i64>,
    next_discovery: Discovery,
    errors: super::RecoveredErrors,
    /// Key and payload bytes of the records read.
    bytes: u64,
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn connector(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("Kafka: {what}: {e}"))
}

/// The subtask that reads `topic`'s partition `partition` (Flink's rule).
pub fn owner(topic: &str, partition: i32, parallelism: usize) -> usize {
    let n = parallelism.max(1) as i64;
    let start = (topic.to_string().java_hash().wrapping_mul(31) & 0x7fff_ffff) as i64 % n;
    ((start + partition as i64) % n) as usize
}

/// A librdkafka consumer of `cfg` that never commits by itself.
pub(crate) fn client(cfg: &KafkaConfig) -> Result<BaseConsumer> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.create()
        .map_err(|e| connector(&format!("a consumer of {}", cfg.bootstrap_servers), e))
}

impl<T> KafkaSource<T> {
    /// A source reading `cfg`, making records with `record`.
    pub fn new(cfg: KafkaConfig, record: MessageFn<T>) -> Self {
        Self {
            cfg,
            record,
            consumer: None,
            lag_reader: Default::default(),
            lag: Default::default(),
            pattern: None,
            index: 0,
            parallelism: 1,
            owned: BTreeMap::new(),
            restored: BTreeMap::new(),
            next_discovery: Discovery::First,
            errors: Default::default(),
            bytes: 0,
        }
    }

    fn consumer(&self) -> &BaseConsumer {
        self.consumer.as_ref().expect("opened")
    }

    /// Every partition of the configured topics, as the brokers list them now.
    fn discover(&self) -> Result<Vec<Tp>> {
        let c = self.consumer();
        let mut out = Vec::new();
        let mut add = |md: &rdkafka::metadata::Metadata, keep: &dyn Fn(&str) -> bool| {
            for t in md.topics() {
                if keep(t.name()) && t.error().is_none() {
                    out.extend(
                        t.partitions()
                            .iter()
                            .map(|p| (t.name().to_string(), p.id())),
                    );
                }
            }
        };
        match &self.cfg.topics {
            Topics::List(list) => {
                for topic in list {
                    let md = c
                        .fetch_metadata(Some(topic), TIMEOUT)
                        .map_err(|e| connector(&format!("the partitions of '{topic}'"), e))?;
                    add(&md, &|_| true);
                }
            }
            Topics::Pattern(_) => {
                let re = self.pattern.as_ref().expect("compiled at open");
                let md = c
                    .fetch_metadata(None, TIMEOUT)
                    .map_err(|e| connector("the topics", e))?;
                add(&md, &|name| re.is_match(name));
            }
        }
        Ok(out)
    }

    /// The offset a partition without state starts at.
    fn start_offset(&self, topic: &str, partition: i32, discovered_later: bool) -> Result<i64> {
        let c = self.consumer();
        let what = format!("the starting offset of {topic}-{partition}");
        let (low, high) = c
            .fetch_watermarks(topic, partition, TIMEOUT)
            .map_err(|e| connector(&what, e))?;
        if discovered_later {
            return Ok(low);
        }
        Ok(match self.cfg.starting_offsets {
            StartingOffsets::Earliest => low,
            StartingOffsets::Latest => high,
            StartingOffsets::Committed => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(topic, partition);
                let got = c
                    .committed_offsets(tpl, TIMEOUT)
                    .map_err(|e| connector(&what, e))?;
                match got.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => low,
                }
            }
            StartingOffsets::Timestamp(ms) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition, Offset::Offset(ms))
                    .map_err(|e| connector(&what, e))?;
                let got = c
                    .offsets_for_times(tpl, TIMEOUT)
                    .map_err(|e| connector(&what, e))?;
                match got.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => high,
                }
            }
        })
    }

    /// Adds the partitions of `found` this subtask owns and does not read
    /// yet, and assigns the consumer its whole set again.
    fn take(&mut self, found: Vec<Tp>, discovered_later: bool) -> Result<()> {
        let mut changed = false;
        for (topic, partition) in found {
            if owner(&topic, partition, self.parallelism) != self.index
                || self.owned.contains_key(&(topic.clone(), partition))
            {
                continue;
            }
            let tp = (topic, partition);
            let next = match self.restored.get(&tp) {
                Some(o) => *o,
                None => self.start_offset(&tp.0, tp.1, discovered_later)?,
            };
            let end = if self.cfg.bounded {
                Some(
                    self.consumer()
                        .fetch_watermarks(&tp.0, tp.1, TIMEOUT)
                        .map_err(|e| connector(&format!("the end of {}-{}", tp.0, tp.1), e))?
                        .1,
                )
            } else {
                None
            };
            if discovered_later {
                log::info!(
                    "Kafka source subtask {}: reading new partition {}-{} from offset {next}",
                    self.index,
                    tp.0,
                    tp.1
                );
            }
            self.owned.insert(
                tp,
                Partition {
                    next,
                    end,
                    read_ms: None,
                },
            );
            changed = true;
        }
        if changed {
            self.assign()?;
        }
        Ok(())
    }

    /// Assigns the consumer every owned partition not finished, at its next offset.
    fn assign(&self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), p) in &self.owned {
            if p.end.is_some_and(|end| p.next >= end) {
                continue;
            }
            tpl.add_partition_offset(topic, *partition, Offset::Offset(p.next))
                .map_err(|e| connector("an assignment", e))?;
        }
        self.consumer()
            .assign(&tpl)
            .map_err(|e| connector("assigning partitions", e))
    }

    fn finished(&self) -> bool {
        self.cfg.bounded
            && self
                .owned
                .values()
                .all(|p| p.end.is_some_and(|end| p.next >= end))
    }
}

/// The lag thread's own clients: one asks for end offsets, one reads the
/// newest record of a partition for its timestamp.
struct LagReader {
    offsets: BaseConsumer,
    peek: BaseConsumer,
}

impl LagReader {
    /// Per partition `(topic, partition, next offset, last read timestamp)`:
    /// the end offset minus the next offset, and the newest record's
    /// timestamp minus the last read one's.
    fn lags(&self, parts: Vec<(Tp, i64, Option<i64>)>) -> Result<Vec<SplitLag>> {
        let mut lags = Vec::new();
        for ((topic, partition), next, read_ms) in parts {
            let (_, high) = self
                .offsets
                .fetch_watermarks(&topic, partition, TIMEOUT)
                .map_err(|e| connector(&format!("the end of {topic}-{partition}"), e))?;
            let pending = (high - next).max(0) as u64;
            let lag_ms = match (pending, read_ms) {
                (0, _) => 0,
                (_, Some(read)) => self
                    .timestamp_at(&topic, partition, high - 1)?
                    .map_or(0, |newest| (newest - read).max(0)),
                (_, None) => continue,
            };
            lags.push(SplitLag {
                split: split_name(&topic, partition),
                pending_records: pending,
                lag_ms,
            });
        }
        Ok(lags)
    }

    /// The timestamp of the record at `offset` of a partition, if it can be read.
    fn timestamp_at(&self, topic: &str, partition: i32, offset: i64) -> Result<Option<i64>> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| connector("an assignment", e))?;
        self.peek
            .assign(&tpl)
            .map_err(|e| connector("assigning the lag reader", e))?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.peek.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.offset() == offset => return Ok(m.timestamp().to_millis()),
                Some(Ok(_)) | None => {}
                Some(Err(e)) => return Err(connector("reading the newest record", e)),
            }
        }
        Ok(None)
    }
}

/// Whether `e` is one librdkafka recovers from by itself (a broker away, a
/// timeout): the source logs it and reads on.
fn transient(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::OperationTimedOut
                | C::RequestTimedOut
                | C::NetworkException
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::BrokerNotAvailable
        )
    )
}

impl<T: Send + 'static> Source<T> for KafkaSource<T> {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        if let Topics::Pattern(p) = &self.cfg.topics {
            let re = regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                Error::Config(format!(
                    "Kafka source: topic pattern '{p}' is not a regular expression: {e}"
                ))
            })?;
            self.pattern = Some(re);
        }
        self.index = info.index;
        self.parallelism = info.parallelism.max(1);
        self.consumer = Some(client(&self.cfg)?);
        Ok(())
    }

    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        for p in positions {
            if !p.is_empty() {
                let map: BTreeMap<Tp, i64> = bincode::deserialize(p)?;
                self.restored.extend(map);
            }
        }
        Ok(())
    }

    fn poll(&mut self, out: &mut Vec<T>, max: usize) -> Result<Poll> {
        let now = Instant::now();
        let due = match self.next_discovery {
            Discovery::First => Some(true),
            Discovery::At(t) if now >= t => Some(false),
            Discovery::At(_) | Discovery::Never => None,
        };
        if let Some(first) = due {
            let found = self.discover()?;
            self.take(found, !first)?;
            self.next_discovery = match self.cfg.discovery_interval {
                Some(every) => Discovery::At(now + every),
                None => Discovery::Never,
            };
        }
        if self.finished() {
            return Ok(Poll::Finished);
        }
        let mut reassign = false;
        let mut got = 0;
        let consumer = self.consumer.as_ref().expect("opened");
        while got < max {
            let Some(m) = consumer.poll(Duration::ZERO) else {
                break;
            };
            let m = match m {
                Ok(m) => m,
                Err(e) if transient(&e) => {
                    log::warn!("Kafka source subtask {}: {e}; reading on", self.index);
                    self.errors.read += 1;
                    break;
                }
                Err(e) => return Err(connector("reading", e)),
            };
            // A scan of the few partitions this subtask owns: no key built
            // (allocated) per record.
            let (topic, partition) = (m.topic(), m.partition());
            let Some(p) = self
                .owned
                .iter_mut()
                .find(|((t, n), _)| *n == partition && t == topic)
                .map(|(_, p)| p)
            else {
                continue;
            };
            if m.offset() < p.next || p.end.is_some_and(|end| m.offset() >= end) {
                continue;
            }
            let timestamp_ms = m.timestamp().to_millis();
            let (key, payload) = (m.key(), m.payload().unwrap_or(&[]));
            out.push((self.record)(&KafkaMessage {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp_ms,
                key,
                payload,
            })?);
            self.bytes += (key.map_or(0, <[u8]>::len) + payload.len()) as u64;
            p.next = m.offset() + 1;
            p.read_ms = timestamp_ms.or(p.read_ms);
            got += 1;
            if p.end.is_some_and(|end| p.next >= end) {
                // Done: later records of it stay unread.
                reassign = true;
            }
        }
        if reassign {
            self.assign()?;
        }
        if got > 0 {
            Ok(Poll::Data)
        } else if self.finished() {
            Ok(Poll::Finished)
        } else {
            Ok(Poll::Pending(Some(Duration::from_millis(10))))
        }
    }

    fn position(&self) -> Result<Vec<u8>> {
        let map: BTreeMap<&Tp, i64> = self.owned.iter().map(|(tp, p)| (tp, p.next)).collect();
        Ok(bincode::serialize(&map)?)
    }

    fn checkpoint_complete(&mut self, _checkpoint_id: u64, position: &[u8]) -> Result<()> {
        let Some(c) = &self.consumer else {
            return Ok(());
        };
        let map: BTreeMap<Tp, i64> = bincode::deserialize(position)?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &map {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| connector("offsets to commit", e))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        if let Err(e) = c.commit(&tpl, CommitMode::Async) {
            self.errors.commit += 1;
            log::warn!(
                "Kafka source subtask {}: committing offsets to group '{}' failed ({e}); recovery does not use them",
                self.index,
                self.cfg.group_id
            );
        }
        Ok(())
    }

    fn recovered_errors(&self) -> super::RecoveredErrors {
        self.errors
    }

    fn splits(&self) -> Option<Vec<String>> {
        Some(self.owned.keys().map(|(t, p)| split_name(t, *p)).collect())
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.bytes)
    }

    /// Per partition: the end offset minus the next offset to read, and the
    /// newest record's timestamp minus the last read one's. Sampled off the
    /// task thread by clients of its own (a broker away would hold the task
    /// back), so each call returns the previous sample.
    fn lag(&mut self) -> Result<Vec<SplitLag>> {
        let take = self.lag_sample();
        self.lag.sample(take)
    }

    fn final_lag(&mut self) -> Result<Vec<SplitLag>> {
        self.lag_sample()()
    }
}

impl<T> KafkaSource<T> {
    /// A lag sample over the partitions this subtask reads, as a closure
    /// that owns what it needs, to run on any thread.
    fn lag_sample(&self) -> Box<dyn FnOnce() -> Result<Vec<SplitLag>> + Send> {
        if self.consumer.is_none() {
            return Box::new(|| Ok(Vec::new()));
        }
        let parts: Vec<(Tp, i64, Option<i64>)> = self
            .owned
            .iter()
            .map(|(tp, p)| (tp.clone(), p.next, p.read_ms))
            .collect();
        let (reader, cfg) = (self.lag_reader.clone(), self.cfg.clone());
        Box::new(move || {
            let mut reader = reader.lock().unwrap_or_else(|p| p.into_inner());
            if reader.is_none() {
                *reader = Some(LagReader {
                    offsets: client(&cfg)?,
                    peek: client(&cfg)?,
                });
            }
            reader.as_ref().expect("made above").lags(parts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::owner;

    /// Flink's `KafkaSourceEnumerator.getSplitOwner`, computed by hand:
    /// "orders".hashCode() = -1008770331; * 31 wraps to -1207109189;
    /// & 0x7fffffff = 940374459; % 4 = 3, the owner of partition 0.
    #[test]
    fn partitions_go_to_the_subtask_flink_would_pick() {
        assert_eq!(owner("orders", 0, 4), 3);
        assert_eq!(owner("orders", 1, 4), 0);
        assert_eq!(owner("orders", 3, 4), 2);
        assert_eq!(owner("orders", 5, 1), 0);
        // Consecutive partitions spread over every subtask.
        let mut seen: Vec<usize> = (0..8).map(|p| owner("events", p, 8)).collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
    }
}
