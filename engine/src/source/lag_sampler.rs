//! Taking a source's lag off the task thread. A lag sample asks the broker
//! (end offsets, consumer state, the newest record); while the broker is
//! away each request waits for its timeout, and on the task thread that
//! wait would hold back records and barriers. So the sample runs on a
//! thread of its own: [`LagSampler::sample`] starts one when none is
//! running and returns the last one that finished, if it has not been
//! returned yet.

use super::SplitLag;
use crate::error::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Sample = Result<Vec<SplitLag>>;

/// Runs lag samples on a thread of their own (see the module).
#[derive(Default)]
pub(crate) struct LagSampler {
    finished: Arc<Mutex<Option<Sample>>>,
    running: Arc<AtomicBool>,
}

impl LagSampler {
    /// Starts `take` on its own thread unless a sample is running, and
    /// returns the last finished sample not yet returned (nothing, so the
    /// gauges keep their values, when there is none).
    pub fn sample(&self, take: impl FnOnce() -> Sample + Send + 'static) -> Sample {
        if !self.running.swap(true, Ordering::AcqRel) {
            let (finished, running) = (self.finished.clone(), self.running.clone());
            let spawned = std::thread::Builder::new()
                .name("source-lag".into())
                .spawn(move || {
                    let sample = take();
                    *finished.lock().unwrap_or_else(|p| p.into_inner()) = Some(sample);
                    running.store(false, Ordering::Release);
                });
            if let Err(e) = spawned {
                self.running.store(false, Ordering::Release);
                log::warn!("source lag: cannot start its thread: {e}");
            }
        }
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn lag(n: u64) -> Vec<SplitLag> {
        vec![SplitLag {
            split: "p".into(),
            pending_records: n,
            lag_ms: 0,
        }]
    }

    /// Waits (with a deadline) until no sample runs.
    fn idle(s: &LagSampler) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.running.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "the sample never finished");
            std::thread::yield_now();
        }
    }

    /// A sample of `n` that finishes when the returned sender says so (or
    /// is dropped): one that finished at once could overtake the caller's
    /// take and (rightly) be returned as the newest.
    fn held(n: u64) -> (mpsc::Sender<()>, impl FnOnce() -> Sample + Send + 'static) {
        let (release, wait) = mpsc::channel::<()>();
        (release, move || {
            let _ = wait.recv();
            Ok(lag(n))
        })
    }

    /// A sample that blocks does not block the caller, and no second one
    /// starts meanwhile; its result comes with the next call, once.
    #[test]
    fn a_slow_sample_returns_with_a_later_call_and_only_once() {
        let s = LagSampler::default();
        let (release, first) = held(7);
        assert!(s.sample(first).unwrap().is_empty());
        assert!(s
            .sample(|| panic!("a second sample ran"))
            .unwrap()
            .is_empty());
        drop(release);
        idle(&s);
        for n in 8..10 {
            let (release, next) = held(n);
            assert_eq!(s.sample(next).unwrap(), lag(n - 1));
            drop(release);
            idle(&s);
        }
    }
}
