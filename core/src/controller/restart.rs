//! Restart strategies: how long to back off after a failure, and when the budget is spent.

use crate::config::RestartStrategy;
use crate::types::Time;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most doublings of an exponential delay: `2^40` ms is far past any valid `max_delay_ms`
/// (config durations are at most `2^40` ms), so the cap is always reached first.
const MAX_DOUBLINGS: u32 = 40;

/// `jitter_percent` is a share of this.
const PERCENT: u64 = 100;

/// The additive constant of splitmix64 (the golden ratio in 64-bit fixed point).
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// The two multipliers of splitmix64's output mix.
const SPLITMIX_MIX: [u64; 2] = [0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB];

/// The restart budget and delay state of one job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestartPolicy {
    strategy: RestartStrategy,
    /// Restarts since the last healthy period.
    restarts: u32,
    /// For [`RestartStrategy::FailureRate`]: when the failures within the window happened,
    /// oldest first.
    failures: VecDeque<Time>,
    /// State of the jitter generator (splitmix64).
    jitter_state: u64,
}

impl RestartPolicy {
    /// A full budget for `strategy`, its jitter drawn from `jitter_seed`.
    pub fn new(strategy: RestartStrategy, jitter_seed: u64) -> RestartPolicy {
        RestartPolicy {
            strategy,
            restarts: 0,
            failures: VecDeque::new(),
            jitter_state: jitter_seed,
        }
    }

    /// Restarts since the last healthy period.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// A healthy period has passed: the budget is full again. A failure-rate budget is a
    /// sliding window and refills by itself: its failures stay counted until they leave it.
    pub fn reset(&mut self) {
        self.restarts = 0;
    }

    /// Records a failure that happened at `failed_at` and returns the delay before the next
    /// restart, or `None` if the budget is spent.
    ///
    /// `failed_at` is the time of the failure itself, not of the moment the failed generation
    /// was confirmed gone: a failure-rate window counts failures when they happen, however
    /// long their kills took to confirm. Failures are recorded in the order they happen, so
    /// `failed_at` never goes backwards.
    pub fn next_delay_ms(&mut self, failed_at: Time) -> Option<u64> {
        match self.strategy {
            RestartStrategy::FixedDelay {
                delay_ms,
                max_restarts,
            } => (self.restarts < max_restarts).then(|| self.count(delay_ms)),
            RestartStrategy::ExponentialDelay {
                initial_delay_ms,
                max_delay_ms,
                jitter_percent,
                max_restarts,
            } => {
                if self.restarts >= max_restarts {
                    return None;
                }
                let doubled =
                    initial_delay_ms.saturating_mul(1u64 << self.restarts.min(MAX_DOUBLINGS));
                let base = doubled.min(max_delay_ms);
                let jitter = self.jitter(base.saturating_mul(u64::from(jitter_percent)) / PERCENT);
                Some(self.count(base - jitter))
            }
            RestartStrategy::FailureRate {
                delay_ms,
                max_failures,
                window_ms,
            } => {
                while self
                    .failures
                    .front()
                    .is_some_and(|&t| failed_at.ms_since(t) >= window_ms)
                {
                    self.failures.pop_front();
                }
                if self.failures.len() >= max_failures as usize {
                    return None;
                }
                self.failures.push_back(failed_at);
                Some(self.count(delay_ms))
            }
        }
    }

    fn count(&mut self, delay_ms: u64) -> u64 {
        self.restarts = self.restarts.saturating_add(1);
        delay_ms
    }

    /// A deterministic draw in `0..=max`.
    fn jitter(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        self.jitter_state = self.jitter_state.wrapping_add(SPLITMIX_GAMMA);
        let mut z = self.jitter_state;
        z = (z ^ (z >> 30)).wrapping_mul(SPLITMIX_MIX[0]);
        z = (z ^ (z >> 27)).wrapping_mul(SPLITMIX_MIX[1]);
        z ^= z >> 31;
        z % max.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_spends_its_budget() {
        let mut p = RestartPolicy::new(
            RestartStrategy::FixedDelay {
                delay_ms: 7,
                max_restarts: 2,
            },
            0,
        );
        assert_eq!(p.next_delay_ms(Time(0)), Some(7));
        assert_eq!(p.next_delay_ms(Time(1)), Some(7));
        assert_eq!(p.next_delay_ms(Time(2)), None);
        p.reset();
        assert_eq!(p.next_delay_ms(Time(3)), Some(7));
    }

    #[test]
    fn exponential_delay_doubles_caps_and_jitters_deterministically() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial_delay_ms: 100,
            max_delay_ms: 350,
            jitter_percent: 0,
            max_restarts: 5,
        };
        let mut p = RestartPolicy::new(strategy, 1);
        let delays: Vec<_> = (0..6).map(|i| p.next_delay_ms(Time(i))).collect();
        assert_eq!(
            delays,
            [Some(100), Some(200), Some(350), Some(350), Some(350), None]
        );

        let jittered = RestartStrategy::ExponentialDelay {
            initial_delay_ms: 1000,
            max_delay_ms: 1000,
            jitter_percent: 50,
            max_restarts: 100,
        };
        let draw = |seed| {
            let mut p = RestartPolicy::new(jittered, seed);
            (0..20)
                .map(|i| p.next_delay_ms(Time(i)).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42), "same seed, same delays");
        assert_ne!(a, draw(43), "another seed, other delays");
        assert!(a.iter().all(|&d| (500..=1000).contains(&d)), "{a:?}");
    }

    #[test]
    fn failure_rate_counts_failures_in_the_window() {
        let strategy = RestartStrategy::FailureRate {
            delay_ms: 5,
            max_failures: 2,
            window_ms: 100,
        };
        let mut p = RestartPolicy::new(strategy, 0);
        assert_eq!(p.next_delay_ms(Time(0)), Some(5));
        assert_eq!(p.next_delay_ms(Time(50)), Some(5));
        assert_eq!(
            p.next_delay_ms(Time(99)),
            None,
            "third failure within 100 ms"
        );
        assert_eq!(
            p.next_delay_ms(Time(100)),
            Some(5),
            "the first one left the window"
        );
    }
}
