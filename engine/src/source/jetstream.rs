//! A NATS JetStream source: reads the subjects of one stream, each subject a
//! partition, and resumes exactly where the last completed checkpoint left
//! off.
//!
//! - **Partitions.** Subject `i` of the configured list belongs to subtask
//!   `i % parallelism`, so the assignment is reproducible, and a savepoint
//!   restored at another parallelism hands each subject to its new owner.
//! - **Position.** The stream sequence of the last message read, per subject,
//!   is the source's checkpointed position. On restore each subject is read
//!   by a consumer the source creates (an ephemeral pull consumer filtered on
//!   the subject, acknowledging nothing), and what it delivers up to that
//!   sequence is skipped: no durable consumer group decides where the job
//!   resumes.
//! - **Why from the subject's start.** nats-server 2.9 (Debian 12's) delivers
//!   a filtered consumer that starts at a sequence in the middle of the stream
//!   at a few hundred messages a second (measured: 8 000 messages of one of
//!   two subjects in 13.7 s from sequence 20 000 of 60 000, against 0.33 s
//!   from the start or unfiltered), which would make a restored job crawl.
//!   Skipping costs reading the subject's history once per restore, at the
//!   source's full speed (docs/connectors.md).
//! - **Bounded mode.** `bounded` ends a subject once a message says none is
//!   pending after it (or, for a subject with nothing to read, once its
//!   consumer says so): the job reads what the stream holds when it gets
//!   there, then finishes. Unbounded, the source never finishes.
//! - **Records.** Each message is turned into a record by the user's function
//!   from its payload, subject, stream sequence and publish time; an error
//!   there fails the task (the restart strategy applies), never a record
//!   silently dropped. For formats and a per-record error policy, make
//!   [`RawRecord`](super::format::RawRecord)s
//!   ([`jetstream_records`](super::format::jetstream_records)) and decode
//!   them after the source ([`super::format`]).

use super::{Poll, Source};
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where to read.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// Server URL (`nats://127.0.0.1:4222`).
    pub url: String,
    /// The stream's name.
    pub stream: String,
    /// The subjects to read, each a partition (each must be one of the
    /// stream's subjects, or match one of its wildcards).
    pub subjects: Vec<String>,
    /// End each subject when nothing is pending on it (see the module).
    pub bounded: bool,
}

/// One message, as the record function sees it.
#[derive(Debug)]
pub struct JetStreamMessage<'a> {
    /// The subject it was published on.
    pub subject: &'a str,
    /// Its sequence in the stream.
    pub sequence: u64,
    /// When the server stored it (ms since the epoch).
    pub published_ms: i64,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Turns a message into a record.
pub type MessageFn<T> = Arc<dyn Fn(&JetStreamMessage<'_>) -> Result<T> + Send + Sync>;

/// One subject this subtask reads.
struct Partition {
    subject: String,
    /// Stream sequence of the last message read (0: none yet).
    last: u64,
    /// When the last message read was published (ms); `None` before the
    /// first message this run read.
    read_ms: Option<i64>,
    /// The consumer's sequence of the last message taken from it (read or
    /// skipped): the server's delivered count minus this is what waits in
    /// the client's buffer.
    taken: u64,
    consumer: Option<Reader>,
    done: bool,
}

/// A subject's consumer (asked for its pending count) and its messages.
struct Reader {
    consumer: async_nats::jetstream::consumer::PullConsumer,
    messages: pull::Stream,
}

/// Reads subjects of a JetStream stream (see the module).
pub struct JetStreamSource<T> {
    cfg: JetStreamConfig,
    record: MessageFn<T>,
    rt: Option<tokio::runtime::Runtime>,
    stream: Option<async_nats::jetstream::stream::Stream>,
    owned: Vec<Partition>,
    /// The subject the next poll reads first (round robin).
    next: usize,
    /// Message streams that gave up and were recreated.
    read_errors: u64,
    /// Payload bytes of the messages read.
    bytes: u64,
    lag: super::lag_sampler::LagSampler,
}

fn connector(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("JetStream: {what}: {e}"))
}

/// The client's runtime: one worker thread keeps the connection served
/// (pings answered, heartbeats and messages received) while the task does
/// not poll, under backpressure or between checkpoints.
pub(crate) fn io_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("jetstream-io")
        .enable_all()
        .build()
        .map_err(|e| connector("starting its I/O runtime", e))
}

impl<T> JetStreamSource<T> {
    /// A source reading `cfg`, making records with `record`.
    pub fn new(cfg: JetStreamConfig, record: MessageFn<T>) -> Self {
        Self {
            cfg,
            record,
            rt: None,
            stream: None,
            owned: Vec::new(),
            next: 0,
            read_errors: 0,
            bytes: 0,
            lag: Default::default(),
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("opened")
    }

    /// A consumer reading `p.subject` from its first message; the reader
    /// skips those up to `p.last` (see the module on why).
    fn consumer(&self, p: &Partition) -> Result<Reader> {
        let stream = self.stream.as_ref().expect("opened");
        self.rt().block_on(async {
            let consumer = stream
                .create_consumer(pull::Config {
                    filter_subject: p.subject.clone(),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::None,
                    // The server forgets a consumer of a crashed run by itself.
                    inactive_threshold: Duration::from_secs(60),
                    ..Default::default()
                })
                .await
                .map_err(|e| connector(&format!("creating a consumer of '{}'", p.subject), e))?;
            let messages = consumer
                .stream()
                .max_messages_per_batch(1000)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(|e| connector(&format!("reading '{}'", p.subject), e))?;
            Ok(Reader { consumer, messages })
        })
    }
}

impl<T: Send + 'static> Source<T> for JetStreamSource<T> {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        if self.cfg.subjects.is_empty() {
            return Err(Error::Config(
                "JetStream source: no subjects: list at least one".into(),
            ));
        }
        let rt = io_runtime()?;
        let stream = rt.block_on(async {
            let client = async_nats::connect(&self.cfg.url)
                .await
                .map_err(|e| connector(&format!("connecting to {}", self.cfg.url), e))?;
            async_nats::jetstream::new(client)
                .get_stream(&self.cfg.stream)
                .await
                .map_err(|e| connector(&format!("stream '{}'", self.cfg.stream), e))
        })?;
        self.rt = Some(rt);
        self.stream = Some(stream);
        let p = info.parallelism.max(1);
        self.owned = self
            .cfg
            .subjects
            .iter()
            .enumerate()
            .filter(|(i, _)| i % p == info.index)
            .map(|(_, s)| Partition {
                subject: s.clone(),
                last: 0,
                read_ms: None,
                taken: 0,
                consumer: None,
                done: false,
            })
            .collect();
        Ok(())
    }

    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        let mut all: BTreeMap<String, u64> = BTreeMap::new();
        for p in positions {
            if p.is_empty() {
                continue;
            }
            let map: BTreeMap<String, u64> = bincode::deserialize(p)?;
            all.extend(map);
        }
        for part in &mut self.owned {
            part.last = all.get(&part.subject).copied().unwrap_or(0);
        }
        Ok(())
    }

    fn poll(&mut self, out: &mut Vec<T>, max: usize) -> Result<Poll> {
        if self.owned.iter().all(|p| p.done) {
            return Ok(Poll::Finished);
        }
        let n = self.owned.len();
        // One subject per poll, in turn, so none starves the others.
        for _ in 0..n {
            let i = self.next % n;
            self.next += 1;
            if self.owned[i].done {
                continue;
            }
            if self.owned[i].consumer.is_none() {
                let c = self.consumer(&self.owned[i])?;
                self.owned[i].consumer = Some(c);
            }
            if self.read(i, out, max)? > 0 {
                return Ok(Poll::Data);
            }
        }
        if self.owned.iter().all(|p| p.done) {
            return Ok(Poll::Finished);
        }
        Ok(Poll::Pending(Some(Duration::from_millis(20))))
    }

    /// Per subject read so far this run: the messages after the last one
    /// read (those the server has not delivered yet, plus those delivered
    /// and waiting in the client), and the newest message's publish time
    /// minus the last read one's. Sampled off the task thread (a server
    /// away would hold it back), so each call returns the previous sample.
    fn lag(&mut self) -> Result<Vec<super::SplitLag>> {
        let take = self.lag_sample();
        self.lag.sample(take)
    }

    fn final_lag(&mut self) -> Result<Vec<super::SplitLag>> {
        self.lag_sample()()
    }

    fn recovered_errors(&self) -> super::RecoveredErrors {
        super::RecoveredErrors {
            read: self.read_errors,
            commit: 0,
        }
    }

    fn splits(&self) -> Option<Vec<String>> {
        Some(self.owned.iter().map(|p| p.subject.clone()).collect())
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.bytes)
    }

    fn position(&self) -> Result<Vec<u8>> {
        let map: BTreeMap<&str, u64> = self
            .owned
            .iter()
            .map(|p| (p.subject.as_str(), p.last))
            .collect();
        Ok(bincode::serialize(&map)?)
    }
}

impl<T> JetStreamSource<T> {
    /// A lag sample over what this subtask read (see [`Source::lag`]), as a
    /// closure that owns what it needs, to run on any thread.
    fn lag_sample(&self) -> Box<dyn FnOnce() -> Result<Vec<super::SplitLag>> + Send> {
        let (Some(rt), Some(stream)) = (&self.rt, &self.stream) else {
            return Box::new(|| Ok(Vec::new()));
        };
        // What the sample needs, owned: it runs off the task thread.
        let parts: Vec<(
            String,
            u64,
            i64,
            async_nats::jetstream::consumer::PullConsumer,
        )> = self
            .owned
            .iter()
            .filter_map(|p| {
                let (read_ms, reader) = (p.read_ms?, p.consumer.as_ref()?);
                Some((p.subject.clone(), p.taken, read_ms, reader.consumer.clone()))
            })
            .collect();
        let (handle, stream) = (rt.handle().clone(), stream.clone());
        Box::new(move || {
            handle.block_on(async {
                let mut lags = Vec::new();
                for (subject, taken, read_ms, consumer) in parts {
                    let what = format!("the lag of '{subject}'");
                    let info = consumer.get_info().await.map_err(|e| connector(&what, e))?;
                    let buffered = info.delivered.consumer_sequence.saturating_sub(taken);
                    let pending = info.num_pending + buffered;
                    let lag_ms = if pending == 0 {
                        0
                    } else {
                        let newest = stream
                            .get_last_raw_message_by_subject(&subject)
                            .await
                            .map_err(|e| connector(&what, e))?;
                        (unix_ms(newest.time) - read_ms).max(0)
                    };
                    lags.push(super::SplitLag {
                        split: subject,
                        pending_records: pending,
                        lag_ms,
                    });
                }
                Ok(lags)
            })
        })
    }
}

impl<T> JetStreamSource<T> {
    /// Reads what subject `i` has now, up to `max` messages, without waiting
    /// for more; returns how many messages it consumed (records appended,
    /// and those skipped as read before the restore).
    fn read(&mut self, i: usize, out: &mut Vec<T>, max: usize) -> Result<usize> {
        let bounded = self.cfg.bounded;
        let record = self.record.clone();
        let rt = self.rt.as_ref().expect("opened");
        let part = &mut self.owned[i];
        let consumer = &mut part.consumer.as_mut().expect("created above").messages;
        // What has arrived, up to `max`, in one entry into the runtime: the
        // first message may take a millisecond, the rest only if already
        // there (no timer per record).
        let mut batch = Vec::new();
        let ended = rt.block_on(async {
            let mut next = tokio::time::timeout(Duration::from_millis(1), consumer.next())
                .await
                .ok();
            while let Some(item) = next {
                match item {
                    Some(Ok(m)) => batch.push(m),
                    Some(Err(e)) => return Some(e.to_string()),
                    None => return Some("the message stream ended".to_string()),
                }
                if batch.len() >= max {
                    break;
                }
                next = consumer.next().now_or_never();
            }
            None
        });
        let (mut got, mut bytes) = (0, 0);
        for msg in &batch {
            let info = msg
                .info()
                .map_err(|e| connector(&format!("a message of '{}'", part.subject), e))?;
            got += 1;
            part.taken = info.consumer_sequence;
            if info.stream_sequence <= part.last {
                // Read before the restore.
                if bounded && info.pending == 0 {
                    part.done = true;
                    break;
                }
                continue;
            }
            let m = JetStreamMessage {
                subject: msg.subject.as_str(),
                sequence: info.stream_sequence,
                published_ms: unix_ms(info.published),
                payload: &msg.payload,
            };
            out.push(record(&m)?);
            bytes += msg.payload.len() as u64;
            part.last = info.stream_sequence;
            part.read_ms = Some(m.published_ms);
            if bounded && info.pending == 0 {
                // Later messages stay unread: the position does not pass them.
                part.done = true;
                break;
            }
        }
        if let Some(why) = ended {
            // The pull stream gave up (a missed heartbeat after a long
            // backpressure, a deleted consumer): read again from the next
            // sequence with a new consumer. Creating it fails the task if
            // the server is gone.
            log::warn!(
                "JetStream source: reading '{}' stopped ({why}); reading again after sequence {}",
                part.subject,
                part.last
            );
            part.consumer = None;
            part.taken = 0;
            self.read_errors += 1;
        }
        if got == 0 && bounded && !part.done {
            // Nothing arrived: the subject ends if nothing newer than what
            // was read is in the stream.
            let stream = self.stream.as_ref().expect("opened");
            part.done = rt.block_on(newest_on(stream, part))? <= part.last;
        }
        self.bytes += bytes;
        Ok(got)
    }
}

/// Milliseconds since the epoch of a server time.
fn unix_ms(t: async_nats::datetime::DateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The stream sequence of the newest message on `part.subject` (0: none).
async fn newest_on(
    stream: &async_nats::jetstream::stream::Stream,
    part: &Partition,
) -> Result<u64> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind as K;
    match stream.get_last_raw_message_by_subject(&part.subject).await {
        Ok(m) => Ok(m.sequence),
        Err(e) if e.kind() == K::NoMessageFound => Ok(0),
        Err(e) => Err(connector(
            &format!("the newest message of '{}'", part.subject),
            e,
        )),
    }
}
