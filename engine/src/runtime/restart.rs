//! Restart strategies with Flink's names and keys (`restart-strategy.type`).

use std::time::Duration;

/// How a failed job is restarted.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// Fail the job on the first failure (`none`).
    None,
    /// Up to `attempts` restarts, `delay` apart (`fixed-delay`).
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each.
        delay: Duration,
    },
    /// Unlimited restarts with growing waits (`exponential-delay`, Flink 2.x's default
    /// when checkpointing is on).
    ExponentialDelay {
        /// First wait.
        initial: Duration,
        /// Longest wait.
        max: Duration,
        /// Growth factor per failure.
        multiplier: f64,
    },
}

impl RestartStrategy {
    /// The wait before restart number `failures` (1 for the first failure), or
    /// `None` when the job must fail.
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (failures <= attempts).then_some(delay)
            }
            RestartStrategy::ExponentialDelay {
                initial,
                max,
                multiplier,
            } => {
                let f = multiplier.powi(failures.saturating_sub(1).min(64) as i32);
                Some(initial.mul_f64(f).min(max))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        assert_eq!(RestartStrategy::None.delay(1), None);
        let f = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(5),
        };
        assert_eq!(f.delay(2), Some(Duration::from_millis(5)));
        assert_eq!(f.delay(3), None);
        let e = RestartStrategy::ExponentialDelay {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
            multiplier: 2.0,
        };
        assert_eq!(e.delay(1), Some(Duration::from_millis(100)));
        assert_eq!(e.delay(2), Some(Duration::from_millis(200)));
        assert_eq!(e.delay(9), Some(Duration::from_millis(300)));
    }
}
