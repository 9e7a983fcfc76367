//! A NATS JetStream sink, exactly-once through the stream's deduplication.
//!
//! Records between two checkpoints are kept by the sink and are its
//! pre-committed state at the barrier; when the checkpoint completes they are
//! published, each with a `Nats-Msg-Id` made of the run that wrote it, the
//! subtask, the checkpoint and the record's place. After a crash, the restored
//! checkpoint's records are published again with the same ids, and the
//! server drops every one it already stored. The server keeps ids for the
//! stream's `duplicate_window` (2 minutes unless the stream says otherwise): a
//! restore later than that after the crash may write a batch twice.
//!
//! Without checkpoints (nothing would ever complete), records are published
//! when the input ends. A publish the server does not acknowledge fails the
//! commit, and so the task: never a record silently lost.

use super::Sink;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where to publish.
#[derive(Debug, Clone)]
pub struct JetStreamSinkConfig {
    /// Server URL (`nats://127.0.0.1:4222`).
    pub url: String,
}

/// Turns a record into (subject, payload).
pub type RecordFn<T> = Arc<dyn Fn(&T) -> (String, Vec<u8>) + Send + Sync>;

/// Records of one checkpoint, waiting for it to complete.
#[derive(Serialize, Deserialize, Debug, Default)]
struct Batch {
    /// The id prefix: the run and subtask that wrote them.
    writer: String,
    checkpoint_id: u64,
    messages: Vec<(String, Vec<u8>)>,
}

/// Publishes records to JetStream when their checkpoint completes (see the module).
pub struct JetStreamSink<T> {
    cfg: JetStreamSinkConfig,
    record: RecordFn<T>,
    rt: Option<tokio::runtime::Runtime>,
    js: Option<async_nats::jetstream::Context>,
    /// This run's id prefix.
    writer: String,
    current: Vec<(String, Vec<u8>)>,
    pending: Vec<Batch>,
}

fn connector(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("JetStream sink: {what}: {e}"))
}

impl<T> JetStreamSink<T> {
    /// A sink publishing to `cfg.url`, records made into messages by `record`.
    pub fn new(cfg: JetStreamSinkConfig, record: RecordFn<T>) -> Self {
        Self {
            cfg,
            record,
            rt: None,
            js: None,
            writer: String::new(),
            current: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Publishes `batches`, each message with its id, and waits for every
    /// acknowledgement (a duplicate is acknowledged too).
    fn publish(&self, batches: &[Batch]) -> Result<()> {
        let (rt, js) = (
            self.rt.as_ref().expect("opened"),
            self.js.as_ref().expect("opened"),
        );
        rt.block_on(async {
            let mut acks: Vec<PublishAckFuture> = Vec::new();
            for b in batches {
                for (i, (subject, payload)) in b.messages.iter().enumerate() {
                    let id = format!("{}-{}-{i}", b.writer, b.checkpoint_id);
                    let msg = PublishMessage::build()
                        .payload(payload.clone().into())
                        .message_id(id);
                    acks.push(
                        js.send_publish(subject.clone(), msg)
                            .await
                            .map_err(|e| connector(&format!("publishing to '{subject}'"), e))?,
                    );
                    if acks.len() >= 1000 {
                        for a in acks.drain(..) {
                            a.await
                                .map_err(|e| connector("a publish acknowledgement", e))?;
                        }
                    }
                }
            }
            for a in acks {
                a.await
                    .map_err(|e| connector("a publish acknowledgement", e))?;
            }
            Ok(())
        })
    }
}

impl<T: Send + 'static> Sink<T> for JetStreamSink<T> {
    fn open(&mut self, info: &SubtaskInfo, restored: &[(usize, &[u8])]) -> Result<()> {
        let rt = crate::source::jetstream::io_runtime()?;
        // The context spawns its acknowledgement task: inside the runtime.
        let js = rt.block_on(async {
            async_nats::connect(&self.cfg.url)
                .await
                .map(async_nats::jetstream::new)
                .map_err(|e| connector(&format!("connecting to {}", self.cfg.url), e))
        })?;
        self.js = Some(js);
        self.rt = Some(rt);
        self.writer = format!("{}-{}-{}", info.job_id, info.uid, info.index);
        // What the restored checkpoint pre-committed: published now (again,
        // if the crashed run got that far: the server drops the repeats).
        let mut batches = Vec::new();
        for (_, bytes) in restored {
            if !bytes.is_empty() {
                let b: Vec<Batch> = bincode::deserialize(bytes)?;
                batches.extend(b);
            }
        }
        self.publish(&batches)
    }

    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        self.current.extend(batch.iter().map(|r| (self.record)(r)));
        Ok(())
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<Vec<u8>> {
        self.pending.push(Batch {
            writer: self.writer.clone(),
            checkpoint_id,
            messages: std::mem::take(&mut self.current),
        });
        Ok(bincode::serialize(&self.pending)?)
    }

    fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        let (due, later): (Vec<Batch>, Vec<Batch>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|b| b.checkpoint_id <= checkpoint_id);
        self.pending = later;
        self.publish(&due)
    }

    fn finish(&mut self) -> Result<()> {
        let rest = Batch {
            writer: self.writer.clone(),
            checkpoint_id: 0,
            messages: std::mem::take(&mut self.current),
        };
        self.publish(&[rest])
    }
}
