//! A Kafka sink, at-least-once: every record is sent as it is written, and
//! a checkpoint's barrier waits until the brokers acknowledged every record
//! before it (`flush`), so a completed checkpoint never covers a record
//! Kafka does not have. After a failure, records after the checkpoint are
//! written again: duplicates, never a loss.
//!
//! A delivery the brokers refuse (after librdkafka's retries) fails the
//! checkpoint's pre-commit, and so the task: never a record silently lost.
//! Records with a key are partitioned as Java's client does (murmur2), so
//! a key lands on the partition a Java producer would pick.
//!
//! Exactly-once through Kafka transactions is not built: the only Kafka
//! broker this project could run (tansu 0.6.0) has no transactions, so it
//! could not be verified (docs/connectors.md).

use super::Sink;
use crate::error::{Error, Result};
use crate::operator::SubtaskInfo;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where to write.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The topic every record goes to.
    pub topic: String,
    /// More librdkafka producer properties.
    pub properties: Vec<(String, String)>,
}

/// Turns a record into (key, value).
pub type RecordFn<T> = Arc<dyn Fn(&T) -> (Option<Vec<u8>>, Vec<u8>) + Send + Sync>;

/// Keeps the first delivery failure until the sink looks.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            use rdkafka::Message;
            let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            failed
                .get_or_insert_with(|| format!("a record to {}-{}: {e}", m.topic(), m.partition()));
        }
    }
}

/// Writes records to a Kafka topic, at least once (see the module).
pub struct KafkaSink<T> {
    cfg: KafkaSinkConfig,
    record: RecordFn<T>,
    producer: Option<BaseProducer<Deliveries>>,
}

fn connector(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("Kafka sink: {what}: {e}"))
}

/// How long a flush may wait for the brokers' acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

impl<T> KafkaSink<T> {
    /// A sink writing to `cfg`, records made into messages by `record`.
    pub fn new(cfg: KafkaSinkConfig, record: RecordFn<T>) -> Self {
        Self {
            cfg,
            record,
            producer: None,
        }
    }

    fn producer(&self) -> &BaseProducer<Deliveries> {
        self.producer.as_ref().expect("opened")
    }

    /// Waits until every record sent so far is acknowledged; fails if one
    /// was refused.
    fn flush(&self) -> Result<()> {
        let p = self.producer();
        p.flush(FLUSH_TIMEOUT)
            .map_err(|e| connector("waiting for acknowledgements", e))?;
        let failed = p
            .context()
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failed {
            Some(why) => Err(connector("delivering", why)),
            None => Ok(()),
        }
    }
}

impl<T: Send + 'static> Sink<T> for KafkaSink<T> {
    fn open(&mut self, _info: &SubtaskInfo, _restored: &[(usize, &[u8])]) -> Result<()> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.cfg.bootstrap_servers)
            .set("acks", "all")
            .set("partitioner", "murmur2_random");
        for (k, v) in &self.cfg.properties {
            c.set(k, v);
        }
        self.producer =
            Some(c.create_with_context(Deliveries::default()).map_err(|e| {
                connector(&format!("a producer of {}", self.cfg.bootstrap_servers), e)
            })?);
        Ok(())
    }

    fn write(&mut self, batch: Vec<T>) -> Result<()> {
        let p = self.producer.as_ref().expect("opened");
        for r in &batch {
            let (key, value) = (self.record)(r);
            let mut rec = BaseRecord::<Vec<u8>, Vec<u8>>::to(&self.cfg.topic).payload(&value);
            if let Some(k) = &key {
                rec = rec.key(k);
            }
            let mut rec = Some(rec);
            while let Some(r) = rec.take() {
                match p.send(r) {
                    Ok(()) => {}
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        r,
                    )) => {
                        // The client's queue is full: serve deliveries, then retry.
                        p.poll(Duration::from_millis(50));
                        rec = Some(r);
                    }
                    Err((e, _)) => return Err(connector("sending a record", e)),
                }
            }
        }
        p.poll(Duration::ZERO);
        Ok(())
    }

    fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<u8>> {
        self.flush()?;
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<()> {
        self.flush()
    }
}
