//! `tidemark produce --topic`: lines into a Kafka topic, partitions in turn,
//! each acknowledged by the brokers (`acks=all`).

use super::produce::{due, lines, ProduceArgs};
use crate::error::{Error, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::time::{Duration, Instant};

fn kafka(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("Kafka: {what}: {e}"))
}

/// The client configuration: the brokers, acks from all replicas, then the
/// user's properties.
fn config(a: &ProduceArgs) -> Result<ClientConfig> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &a.bootstrap_servers)
        .set("acks", "all");
    for p in &a.properties {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            Error::Config(format!(
                "--property '{p}': expected KEY=VALUE, e.g. linger.ms=5"
            ))
        })?;
        c.set(k.trim(), v.trim());
    }
    Ok(c)
}

/// Publishes the lines to `topic`; returns how many.
pub(super) fn produce(a: &ProduceArgs, topic: &str) -> Result<u64> {
    let cfg = config(a)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| kafka("starting a runtime", e))?;
    rt.block_on(async {
        let admin: AdminClient<DefaultClientContext> =
            cfg.create().map_err(|e| kafka("an admin client", e))?;
        let new = NewTopic::new(topic, a.partitions, TopicReplication::Fixed(1));
        let created = admin
            .create_topics([&new], &AdminOptions::new())
            .await
            .map_err(|e| kafka(&format!("creating topic '{topic}'"), e))?;
        for r in created {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => return Err(kafka(&format!("creating topic '{t}'"), code)),
            }
        }
        let producer: FutureProducer = cfg.create().map_err(|e| kafka("a producer", e))?;
        let partitions = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| kafka(&format!("the partitions of '{topic}'"), e))?
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions == 0 {
            return Err(kafka(&format!("topic '{topic}'"), "it has no partitions"));
        }
        let start = Instant::now();
        let mut pending = Vec::new();
        let mut n = 0u64;
        for line in lines(&a.files)? {
            let line = line.map_err(|e| kafka("reading the input", e))?;
            if let Some(due) = due(start, a.rate, n) {
                tokio::time::sleep_until(due.into()).await;
            }
            let partition = (n % partitions as u64) as i32;
            let record = FutureRecord::<(), _>::to(topic)
                .payload(line.as_bytes())
                .partition(partition);
            let delivery = producer
                .send_result(record)
                .map_err(|(e, _)| kafka("publishing", e))?;
            pending.push(delivery);
            n += 1;
            if pending.len() >= 1000 || a.rate > 0 {
                for d in pending.drain(..) {
                    wait(d).await?;
                }
            }
        }
        for d in pending {
            wait(d).await?;
        }
        Ok(n)
    })
}

/// Waits for one delivery report.
async fn wait(d: rdkafka::producer::DeliveryFuture) -> Result<()> {
    match d.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(kafka("a delivery", e)),
        Err(_) => Err(kafka("a delivery", "the producer went away")),
    }
}
