//! A deterministic generator: record `i` of the job depends only on the seed
//! and `i`, so a restored run replays exactly the records a crashed run would
//! have produced. Subtask `s` of `p` produces records `s, s+p, s+2p, …`.

use super::pacing::Pacing;
use super::{Poll, Source};
use crate::error::Result;
use crate::operator::SubtaskInfo;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A generated record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Key in `[0, keys)`.
    pub key: u64,
    /// Global sequence number.
    pub seq: u64,
    /// Event time, ms.
    pub ts: i64,
    /// A value in `[0, 1000)`.
    pub value: i64,
}

/// How keys are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// Key `k` (0-based rank) with probability ∝ 1/(k+1)^s.
    Zipf(f64),
}

/// The generator's parameters.
#[derive(Debug, Clone)]
pub struct DatagenConfig {
    /// Number of distinct keys.
    pub keys: u64,
    /// Key distribution.
    pub distribution: KeyDistribution,
    /// Records per second for the whole job; 0 = as fast as possible.
    pub rate: u64,
    /// Total records; `None` = unbounded.
    pub events: Option<u64>,
    /// Seed.
    pub seed: u64,
    /// Event time of record 0, ms.
    pub event_time_start_ms: i64,
    /// Records per second of event time.
    pub event_time_rate: u64,
    /// Maximum random lateness subtracted from a record's event time, ms.
    pub out_of_orderness_ms: i64,
    /// The first `warmup` records take keys `0, 1, 2, …` in turn, as fast as
    /// possible (`rate` applies after them): loads every key's state once.
    pub warmup: u64,
}

impl Default for DatagenConfig {
    /// The job-file defaults: 100 000 uniform keys, unbounded, unthrottled,
    /// seed 42, 1000 records per second of event time from 0.
    fn default() -> Self {
        Self {
            keys: 100_000,
            distribution: KeyDistribution::Uniform,
            rate: 0,
            events: None,
            seed: 42,
            event_time_start_ms: 0,
            event_time_rate: 1000,
            out_of_orderness_ms: 0,
            warmup: 0,
        }
    }
}

/// SplitMix64: a fast, well-mixed hash of a counter.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The cumulative distribution of a Zipf law over `n` keys, shared by subtasks.
pub fn zipf_cdf(n: u64, s: f64) -> Arc<Vec<f64>> {
    let mut cdf = Vec::with_capacity(n as usize);
    let mut acc = 0.0;
    for k in 1..=n {
        acc += 1.0 / (k as f64).powf(s);
        cdf.push(acc);
    }
    for c in &mut cdf {
        *c /= acc;
    }
    Arc::new(cdf)
}

impl DatagenConfig {
    /// Record `i` of the job.
    #[inline]
    pub fn record(&self, i: u64, cdf: Option<&[f64]>) -> Event {
        let h = splitmix64(self.seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let key = match cdf {
            _ if i < self.warmup => i % self.keys.max(1),
            None => ((h as u128 * self.keys as u128) >> 64) as u64,
            Some(cdf) => {
                let u = (h >> 11) as f64 / (1u64 << 53) as f64;
                cdf.partition_point(|c| *c < u).min(cdf.len() - 1) as u64
            }
        };
        let h2 = splitmix64(h);
        let jitter = if self.out_of_orderness_ms > 0 {
            (h2 % (self.out_of_orderness_ms as u64 + 1)) as i64
        } else {
            0
        };
        let rate = self.event_time_rate.max(1);
        Event {
            key,
            seq: i,
            ts: self.event_time_start_ms + (i / rate * 1000 + (i % rate) * 1000 / rate) as i64
                - jitter,
            value: (h2 >> 32) as i64 % 1000,
        }
    }
}

/// One subtask of the generator.
pub struct DatagenSource {
    cfg: DatagenConfig,
    cdf: Option<Arc<Vec<f64>>>,
    pacing: Pacing,
    /// Subtask 0 blocks this long in every read (None: never).
    lag: Option<Duration>,
    /// The faults (zipf keys, `lag`) last while this file exists.
    faults_while: Option<PathBuf>,
}

impl DatagenSource {
    /// A generator for `cfg`; `cdf` is [`zipf_cdf`] when the distribution is Zipf.
    pub fn new(cfg: DatagenConfig, cdf: Option<Arc<Vec<f64>>>) -> Self {
        let pacing = Pacing::new(cfg.events, cfg.rate, cfg.warmup);
        Self {
            cfg,
            cdf,
            pacing,
            lag: None,
            faults_while: None,
        }
    }

    /// Keeps the rate against the wall clock from `origin_ms` across
    /// restarts: a restored job finds the records that came due while it
    /// was down.
    pub fn paced_from(mut self, origin_ms: Option<i64>) -> Self {
        self.pacing = self.pacing.with_origin(origin_ms);
        self
    }

    /// Makes subtask 0 block for `lag` in every read, like a partition on a
    /// slow broker: its barriers leave late, so alignment shows downstream.
    pub fn lagging_first_subtask(mut self, lag: Duration) -> Self {
        self.lag = Some(lag).filter(|l| !l.is_zero());
        self
    }

    /// Keeps the faults (a zipf distribution, the lagging subtask) only
    /// while `path` exists: a demo or a test ends them by deleting it, and
    /// the job goes on with uniform keys and prompt reads.
    pub fn faults_while_exists(mut self, path: Option<PathBuf>) -> Self {
        self.faults_while = path;
        self
    }

    /// Ends the faults once their file is gone (checked once per poll, a
    /// batch: a `stat`, as the slow sink does).
    fn end_faults_when_asked(&mut self) {
        if self.faults_while.as_ref().is_some_and(|p| !p.exists()) {
            self.faults_while = None;
            self.cdf = None;
            self.lag = None;
        }
    }
}

impl Source<Event> for DatagenSource {
    fn open(&mut self, info: &SubtaskInfo) -> Result<()> {
        self.pacing.open(info);
        Ok(())
    }

    fn restore(&mut self, positions: &[&[u8]]) -> Result<()> {
        self.pacing.restore(positions, "datagen")
    }

    fn poll(&mut self, out: &mut Vec<Event>, max: usize) -> Result<Poll> {
        self.end_faults_when_asked();
        let (cfg, lag) = (&self.cfg, self.lag);
        let cdf = self.cdf.as_deref().map(|v| v.as_slice());
        let slow_read = |subtask: u64| {
            if let Some(lag) = lag.filter(|_| subtask == 0) {
                // The simulated slow read: the task cannot inject a barrier meanwhile.
                std::thread::sleep(lag);
            }
        };
        Ok(self
            .pacing
            .fill(out, max, slow_read, |i| cfg.record(i, cdf)))
    }

    fn position(&self) -> Result<Vec<u8>> {
        Ok(self.pacing.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(index: usize, parallelism: usize) -> SubtaskInfo {
        SubtaskInfo {
            job_name: "j".into(),
            job_id: "i".into(),
            vertex: "v".into(),
            uid: "u".into(),
            index,
            parallelism,
            max_parallelism: 128,
            attempt: 0,
            backend: Default::default(),
        }
    }

    fn cfg() -> DatagenConfig {
        DatagenConfig {
            keys: 10,
            distribution: KeyDistribution::Uniform,
            rate: 0,
            events: Some(25),
            seed: 7,
            event_time_start_ms: 0,
            event_time_rate: 1000,
            out_of_orderness_ms: 0,
            warmup: 0,
        }
    }

    #[test]
    fn deterministic_partitioned_and_resumable() {
        let all: Vec<Event> = (0..25).map(|i| cfg().record(i, None)).collect();
        assert!(all.iter().all(|e| e.key < 10));
        assert_eq!(all[3].ts, 3);
        let mut seen = Vec::new();
        for s in 0..2 {
            let info = info(s, 2);
            let mut src = DatagenSource::new(cfg(), None);
            src.open(&info).unwrap();
            let mut out = Vec::new();
            src.poll(&mut out, 4).unwrap();
            let pos = src.position().unwrap();
            let mut resumed = DatagenSource::new(cfg(), None);
            resumed.open(&info).unwrap();
            resumed.restore(&[&pos]).unwrap();
            while resumed.poll(&mut out, 4).unwrap() != Poll::Finished {}
            seen.extend(out);
        }
        seen.sort_by_key(|e| e.seq);
        assert_eq!(
            seen, all,
            "two subtasks, one resumed mid-way, produce exactly the job's records"
        );
    }

    #[test]
    fn faults_end_when_their_file_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fault");
        std::fs::write(&file, "").unwrap();
        let (keys, s) = (1000, 3.0);
        let c = DatagenConfig {
            keys,
            distribution: KeyDistribution::Zipf(s),
            events: None,
            ..cfg()
        };
        let mut src = DatagenSource::new(c.clone(), Some(zipf_cdf(keys, s)))
            .faults_while_exists(Some(file.clone()));
        src.open(&info(0, 1)).unwrap();
        let mut out = Vec::new();
        src.poll(&mut out, 1000).unwrap();
        let zeros = |out: &[Event]| out.iter().filter(|e| e.key == 0).count();
        // Exponent 3: key 0 carries 83 % of the records; uniform, 0.1 %.
        assert!(zeros(&out) > 700, "{}", zeros(&out));
        std::fs::remove_file(&file).unwrap();
        out.clear();
        src.poll(&mut out, 1000).unwrap();
        assert_eq!(out.len(), 1000);
        assert!(zeros(&out) < 20, "{}", zeros(&out));
        // The records after the file went are the uniform ones.
        assert_eq!(out[0], c.record(out[0].seq, None));
    }

    #[test]
    fn zipf_prefers_low_keys() {
        let cdf = zipf_cdf(100, 1.2);
        let c = DatagenConfig {
            keys: 100,
            distribution: KeyDistribution::Zipf(1.2),
            ..cfg()
        };
        let zeros = (0..10_000)
            .filter(|&i| c.record(i, Some(&cdf)).key == 0)
            .count();
        assert!(zeros > 1500, "key 0 drawn {zeros} times of 10000");
    }
}
