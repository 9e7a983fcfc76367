//! What the bytes of a stream's messages mean, and what happens to a message
//! that does not read. A stream source (Kafka, JetStream) makes a
//! [`RawRecord`] of each message: its place, its time and its bytes. A
//! [`Decoder`] reads the bytes (as they are, as UTF-8 text, or as JSON into
//! the user's serde type), and `DataStream::decode` applies it with an
//! [`OnError`] policy, as a task of its own after the source:
//!
//! - `Fail`: the task fails, naming the message (partition, offset) and its
//!   payload; the restart strategy applies, and the same message fails again,
//!   so a job never goes on without a record silently.
//! - `Skip`: the message is dropped and counted.
//! - `SideOutput`: the message goes on as a [`BadRecord`] (the `Right` of
//!   the output; `.split()` separates it), with its place and the problem,
//!   for a sink of its own.
//!
//! Either way `tidemark_task_records_in_errors_total` of the decoding vertex
//! counts the messages that did not read (FLIP-33's `numRecordsInErrors`).
//! Decoding after the source, not in it, keeps a source's position a
//! position in the stream, and a bad message in the checkpointed output of
//! the source: replayed after a failure like any other.

use crate::channel::Collector;
use crate::error::{Error, Result};
use crate::operator::{Either, OpenContext, Operator};
use crate::source::jetstream::{JetStreamMessage, MessageFn as JetStreamFn};
use crate::source::kafka::{KafkaMessage, MessageFn as KafkaFn};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tidemark_agent::Counter;

/// One message of a stream as it arrived: where it was, when, and its bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawRecord {
    /// The partition it was read from: a JetStream subject, or a Kafka
    /// topic and partition (`orders-3`).
    pub partition: String,
    /// Its offset: the JetStream stream sequence, or the Kafka offset.
    pub offset: u64,
    /// Its event time (ms since the epoch): a field of its JSON payload (see
    /// [`kafka_records`]), or when the broker stored it; `i64::MIN` when that
    /// field cannot be read ([`event_time`] says why).
    pub timestamp_ms: i64,
    /// The payload.
    pub payload: Vec<u8>,
}

impl RawRecord {
    /// Where it is, for a report: `partition 'orders-3', offset 17`.
    pub fn place(&self) -> String {
        format!("partition '{}', offset {}", self.partition, self.offset)
    }
}

/// Event time field `field` of a JSON payload (whole ms since the epoch),
/// or what is wrong with it.
pub fn event_time(payload: &[u8], field: &str) -> std::result::Result<i64, String> {
    let doc: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        format!(
            "the payload is not JSON ({e}): a JSON object with time field '{field}' is expected"
        )
    })?;
    match doc.get(field) {
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| {
            format!("time field '{field}' is {n}: whole ms since the epoch are expected")
        }),
        Some(other) => Err(format!(
            "time field '{field}' is {other}: a number (ms since the epoch) is expected"
        )),
        None => Err(format!("the payload has no time field '{field}'")),
    }
}

/// The event time of a message: field `field` of its payload if set (or
/// `i64::MIN` when it cannot be read), else `broker_ms`.
fn time_of(field: Option<&str>, payload: &[u8], broker_ms: i64) -> i64 {
    match field {
        Some(f) => event_time(payload, f).unwrap_or(i64::MIN),
        None => broker_ms,
    }
}

/// A Kafka source's record function making [`RawRecord`]s, with event time
/// from JSON field `time_field` of each payload, or the record timestamp.
pub fn kafka_records(time_field: Option<String>) -> KafkaFn<RawRecord> {
    Arc::new(move |m: &KafkaMessage<'_>| {
        Ok(RawRecord {
            partition: crate::source::kafka::split_name(m.topic, m.partition),
            offset: m.offset as u64,
            timestamp_ms: time_of(
                time_field.as_deref(),
                m.payload,
                m.timestamp_ms.unwrap_or(0),
            ),
            payload: m.payload.to_vec(),
        })
    })
}

/// A JetStream source's record function making [`RawRecord`]s, with event
/// time from JSON field `time_field` of each payload, or the publish time.
pub fn jetstream_records(time_field: Option<String>) -> JetStreamFn<RawRecord> {
    Arc::new(move |m: &JetStreamMessage<'_>| {
        Ok(RawRecord {
            partition: m.subject.to_string(),
            offset: m.sequence,
            timestamp_ms: time_of(time_field.as_deref(), m.payload, m.published_ms),
            payload: m.payload.to_vec(),
        })
    })
}

/// Reads a message into a value, or says what is wrong with it.
pub type Decoder<U> = Arc<dyn Fn(&RawRecord) -> std::result::Result<U, String> + Send + Sync>;

/// The payload's bytes as they are.
pub fn bytes() -> Decoder<Vec<u8>> {
    Arc::new(|r: &RawRecord| Ok(r.payload.clone()))
}

/// The payload as UTF-8 text.
pub fn utf8() -> Decoder<String> {
    Arc::new(|r: &RawRecord| {
        String::from_utf8(r.payload.clone())
            .map_err(|e| format!("the payload is not UTF-8 text ({e})"))
    })
}

/// The payload as JSON, into `U`.
pub fn json<U: serde::de::DeserializeOwned>() -> Decoder<U> {
    Arc::new(|r: &RawRecord| {
        serde_json::from_slice(&r.payload).map_err(|e| {
            format!(
                "the payload is not JSON of {} ({e})",
                std::any::type_name::<U>()
            )
        })
    })
}

/// What happens to a message that does not decode (see the module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// The task fails, naming the message.
    Fail,
    /// The message is dropped and counted.
    Skip,
    /// The message goes on as a [`BadRecord`].
    SideOutput,
}

/// A message that did not decode, for a side output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BadRecord {
    /// Its partition.
    pub partition: String,
    /// Its offset.
    pub offset: u64,
    /// Its event time (ms; `i64::MIN` when unreadable).
    pub timestamp_ms: i64,
    /// What is wrong with it.
    pub problem: String,
    /// Its payload, as text (invalid UTF-8 replaced).
    pub payload: String,
}

impl BadRecord {
    /// One JSON object on a line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a BadRecord is JSON")
    }
}

/// The operator of `DataStream::decode`.
pub(crate) struct Decode<U> {
    decoder: Decoder<U>,
    on_error: OnError,
    errors: Option<Counter>,
}

impl<U> Decode<U> {
    pub fn new(decoder: Decoder<U>, on_error: OnError) -> Self {
        Self {
            decoder,
            on_error,
            errors: None,
        }
    }
}

impl<U: crate::Data> Operator<RawRecord, Either<U, BadRecord>> for Decode<U> {
    fn open(&mut self, ctx: &OpenContext<'_>) -> Result<()> {
        if let Some(registry) = ctx.registry {
            let i = ctx.info;
            let subtask = i.index.to_string();
            let labels = [i.job_name.as_str(), &i.job_id, &i.vertex, &subtask];
            // Over metrics.series-limit: counted by the registry.
            self.errors = registry
                .counter(&tidemark_agent::catalogue::TASK_RECORDS_IN_ERRORS, &labels)
                .ok();
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        batch: Vec<RawRecord>,
        out: &mut Collector<Either<U, BadRecord>>,
    ) -> Result<()> {
        for r in batch {
            let problem = match (self.decoder)(&r) {
                Ok(v) => {
                    out.emit(Either::Left(v))?;
                    continue;
                }
                Err(problem) => problem,
            };
            if let Some(c) = &self.errors {
                c.add(1);
            }
            match self.on_error {
                OnError::Fail => {
                    return Err(Error::Task(format!(
                        "the message at {} cannot be read: {problem}; payload {:?}. Set the error policy (params.on-error in a job file) to skip or side-output to go on without it",
                        r.place(),
                        String::from_utf8_lossy(&r.payload)
                    )))
                }
                OnError::Skip => {}
                OnError::SideOutput => out.emit(Either::Right(BadRecord {
                    problem,
                    payload: String::from_utf8_lossy(&r.payload).into_owned(),
                    partition: r.partition,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                }))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(payload: &[u8]) -> RawRecord {
        RawRecord {
            partition: "orders-0".into(),
            offset: 7,
            timestamp_ms: 0,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn decoders_read_bytes_text_and_json_and_name_the_problem() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Order {
            id: u32,
        }
        assert_eq!(bytes()(&raw(&[0xff])).unwrap(), vec![0xff]);
        assert_eq!(utf8()(&raw(b"caf\xc3\xa9")).unwrap(), "café");
        assert!(utf8()(&raw(&[0xff])).unwrap_err().contains("not UTF-8"));
        assert_eq!(
            json::<Order>()(&raw(br#"{"id":3}"#)).unwrap(),
            Order { id: 3 }
        );
        let e = json::<Order>()(&raw(br#"{"id":"x"}"#)).unwrap_err();
        assert!(e.contains("not JSON of") && e.contains("Order"), "{e}");
    }

    #[test]
    fn event_time_is_a_whole_number_field() {
        assert_eq!(event_time(br#"{"ts":1500}"#, "ts"), Ok(1500));
        for (payload, problem) in [
            (&br#"{"user":"bob"}"#[..], "no time field 'ts'"),
            (br#"{"ts":"noon"}"#, "a number (ms since the epoch)"),
            (br#"{"ts":1.5}"#, "whole ms since the epoch"),
            (b"x", "not JSON"),
        ] {
            let e = event_time(payload, "ts").unwrap_err();
            assert!(e.contains(problem), "{e}");
        }
    }
}
