//! `tidemark produce`: publishes lines (of files, or of standard input) to a
//! JetStream stream, one message per line, the subjects taken in turn: the
//! way to put test data into a stream a `stream-count` job reads, as Kafka's
//! console producer is. Creates the stream when it does not exist. Every
//! message is acknowledged by the server before the command succeeds.

use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `tidemark produce`.
#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// The NATS server's URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// The stream; created (holding exactly --subjects) when missing.
    #[arg(long)]
    pub stream: String,
    /// Subjects, comma-separated: line i goes to subject i mod their number.
    #[arg(long, value_delimiter = ',', required = true)]
    pub subjects: Vec<String>,
    /// Lines per second (0 = as fast as the server acknowledges).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Files whose lines to publish, in order; none = standard input.
    pub files: Vec<PathBuf>,
}

/// Runs and returns the exit code.
pub fn run(a: &ProduceArgs) -> i32 {
    match produce(a) {
        Ok(n) => {
            eprintln!("published {n} messages to stream '{}'", a.stream);
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
fn lines(files: &[PathBuf]) -> Result<Box<dyn Iterator<Item = std::io::Result<String>>>> {
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

fn produce(a: &ProduceArgs) -> Result<u64> {
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
            name: a.stream.clone(),
            subjects: a.subjects.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("stream '{}'", a.stream), e))?;
        let start = Instant::now();
        let mut acks = Vec::new();
        let mut n = 0u64;
        for line in lines(&a.files)? {
            let line = line.map_err(|e| nats("reading the input", e))?;
            if a.rate > 0 {
                let due = start + Duration::from_secs_f64(n as f64 / a.rate as f64);
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
