//! `tidemark produce`: publishes lines (of files, or of standard input) to a
//! JetStream stream (the subjects taken in turn) or a Kafka topic (the
//! partitions taken in turn), one message per line: the way to put test data
//! where a `stream-count` job reads, as Kafka's console producer is. Creates
//! the stream or topic when it does not exist. Every message is acknowledged
//! by the server before the command succeeds.

use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `tidemark produce`.
#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// JetStream: the NATS server's URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// JetStream: the stream; created (holding exactly --subjects) when missing.
    #[arg(
        long,
        required_unless_present = "topic",
        conflicts_with = "topic",
        requires = "subjects"
    )]
    pub stream: Option<String>,
    /// JetStream: subjects, comma-separated: line i goes to subject i mod their number.
    #[arg(long, value_delimiter = ',')]
    pub subjects: Vec<String>,
    /// Kafka: the topic; created with --partitions when missing.
    #[arg(long)]
    pub topic: Option<String>,
    /// Kafka: the brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// Kafka: partitions of a topic it creates; line i goes to partition i mod
    /// the topic's partitions.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Kafka: a librdkafka producer property, KEY=VALUE (repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
    /// Lines per second (0 = as fast as the server acknowledges).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Files whose lines to publish, in order; none = standard input.
    pub files: Vec<PathBuf>,
}

/// Runs and returns the exit code.
pub fn run(a: &ProduceArgs) -> i32 {
    let done = match (&a.stream, &a.topic) {
        (Some(stream), _) => produce(a, stream).map(|n| (n, format!("stream '{stream}'"))),
        (None, Some(topic)) => {
            super::produce_kafka::produce(a, topic).map(|n| (n, format!("topic '{topic}'")))
        }
        (None, None) => unreachable!("clap requires --stream or --topic"),
    };
    match done {
        Ok((n, to)) => {
            eprintln!("published {n} messages to {to}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

fn nats(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Connector(format!("JetStream: {what}: {e}"))
}

/// Every line of `files` (or standard input), in order.
pub(super) fn lines(
    files: &[PathBuf],
) -> Result<Box<dyn Iterator<Item = std::io::Result<String>>>> {
    if files.is_empty() {
        return Ok(Box::new(std::io::stdin().lock().lines()));
    }
    let mut readers = Vec::new();
    for f in files {
        let file = std::fs::File::open(f).map_err(|source| Error::Io {
            what: "opening",
            path: f.clone(),
            source,
        })?;
        readers.push(std::io::BufReader::new(file).lines());
    }
    Ok(Box::new(readers.into_iter().flatten()))
}

/// When line `n` is due at `rate` lines a second from `start` (now if 0).
pub(super) fn due(start: Instant, rate: u64, n: u64) -> Option<Instant> {
    (rate > 0).then(|| start + Duration::from_secs_f64(n as f64 / rate as f64))
}

fn produce(a: &ProduceArgs, stream: &str) -> Result<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| nats("starting a runtime", e))?;
    rt.block_on(async {
        let client = async_nats::connect(&a.url)
            .await
            .map_err(|e| nats(&format!("connecting to {}", a.url), e))?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: a.subjects.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("stream '{stream}'"), e))?;
        let start = Instant::now();
        let mut acks = Vec::new();
        let mut n = 0u64;
        for line in lines(&a.files)? {
            let line = line.map_err(|e| nats("reading the input", e))?;
            if let Some(due) = due(start, a.rate, n) {
                tokio::time::sleep_until(due.into()).await;
            }
            let subject = a.subjects[(n % a.subjects.len() as u64) as usize].clone();
            acks.push(
                js.publish(subject, line.into())
                    .await
                    .map_err(|e| nats("publishing", e))?,
            );
            n += 1;
            // Waiting for acknowledgements in batches keeps the client's
            // buffers bounded (thousands unacknowledged stall it).
            if acks.len() >= 1000 || a.rate > 0 {
                for ack in acks.drain(..) {
                    ack.await.map_err(|e| nats("acknowledging", e))?;
                }
            }
        }
        for ack in acks {
            ack.await.map_err(|e| nats("acknowledging", e))?;
        }
        Ok(n)
    })
}
