//! Controller configuration: every wait and budget, with validated defaults.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How long to wait before restarting a failed job, and how many restarts are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RestartStrategy {
    /// The same delay before every restart; at most `max_restarts` restarts between healthy
    /// periods.
    FixedDelay {
        /// The pause before each restart.
        delay_ms: u64,
        /// Restarts allowed between healthy periods.
        max_restarts: u32,
    },
    /// The delay doubles from `initial_delay_ms` up to `max_delay_ms`, then a random share of up
    /// to `jitter_percent` is taken off (drawn from [`Config::jitter_seed`]); at most
    /// `max_restarts` restarts between healthy periods.
    ExponentialDelay {
        /// The pause before the first restart.
        initial_delay_ms: u64,
        /// The longest pause.
        max_delay_ms: u64,
        /// The largest share of a pause taken off at random, 0 to 100.
        jitter_percent: u8,
        /// Restarts allowed between healthy periods.
        max_restarts: u32,
    },
    /// The same delay before every restart; the job fails once more than `max_failures`
    /// failures fall within any `window_ms`, each counted at the time it happened.
    FailureRate {
        /// The pause before each restart.
        delay_ms: u64,
        /// Failures tolerated within any window.
        max_failures: u32,
        /// The length of the sliding window.
        window_ms: u64,
    },
}

impl Default for RestartStrategy {
    fn default() -> Self {
        RestartStrategy::ExponentialDelay {
            initial_delay_ms: 500,
            max_delay_ms: 60_000,
            jitter_percent: 20,
            max_restarts: 20,
        }
    }
}

impl RestartStrategy {
    /// The longest single restart delay this strategy can choose.
    pub fn max_delay_ms(&self) -> u64 {
        match *self {
            RestartStrategy::FixedDelay { delay_ms, .. } => delay_ms,
            RestartStrategy::ExponentialDelay { max_delay_ms, .. } => max_delay_ms,
            RestartStrategy::FailureRate { delay_ms, .. } => delay_ms,
        }
    }
}

/// Every duration and budget of the controller. Units are last in the names.
///
/// [`Config::default`] is a sensible production setting; [`Config::validate`] refuses zero or
/// inconsistent values with a [`ConfigError`] that names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Time between the starts of two periodic checkpoints. Default 10 s.
    pub checkpoint_interval_ms: u64,
    /// Least time between the end (completion or abort) of one checkpoint and the start of the
    /// next. At most the interval. Default 10 s: the interval then counts from the completion.
    pub min_pause_ms: u64,
    /// A checkpoint not complete (persisted) and committed within this is aborted. Also the
    /// one bound of a checkpoint stop's final checkpoint and of the end of input (Finishing),
    /// every task's finish after it included. Default 2 min.
    pub checkpoint_timeout_ms: u64,
    /// Consecutive checkpoint failures tolerated; one more starts a recovery. Default 3.
    pub tolerable_checkpoint_failures: u32,
    /// How many completed checkpoints are kept; older ones are cleaned up. Default 3.
    pub retained_checkpoints: u32,
    /// A cleanup not confirmed within this is abandoned (and retried later). Default 60 s.
    pub cleanup_timeout_ms: u64,
    /// How long a graceful or immediate stop waits for every task to finish before the
    /// workers are killed. Default 60 s.
    pub stop_timeout_ms: u64,
    /// How long to wait for the scheduler to confirm that workers are killed before
    /// asking again. Default 30 s.
    pub force_timeout_ms: u64,
    /// How many times an unconfirmed kill is asked again before the job is declared Failed.
    /// Default 3.
    pub force_retries: u32,
    /// Pause before the first re-ask of a kill; doubles with each retry. Default 1 s.
    pub force_retry_backoff_ms: u64,
    /// A worker not heard from for this long is lost. Default 30 s.
    pub heartbeat_timeout_ms: u64,
    /// How long starting a generation may take until every worker is ready. Default 2 min.
    pub scheduling_timeout_ms: u64,
    /// Restart delays and budget.
    pub restart_strategy: RestartStrategy,
    /// After this long Running without failure, the restart budget is full again. Default 2 min.
    pub healthy_duration_ms: u64,
    /// If set, the job is stopped (immediate) this long after it was created. A restored job
    /// counts from its first creation (`RestorePoint::created_at`), not from the restore.
    pub ttl_ms: Option<u64>,
    /// Seed of the jitter applied to restart delays.
    pub jitter_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            checkpoint_interval_ms: 10_000,
            min_pause_ms: 10_000,
            checkpoint_timeout_ms: 120_000,
            tolerable_checkpoint_failures: 3,
            retained_checkpoints: 3,
            cleanup_timeout_ms: 60_000,
            stop_timeout_ms: 60_000,
            force_timeout_ms: 30_000,
            force_retries: 3,
            force_retry_backoff_ms: 1_000,
            heartbeat_timeout_ms: 30_000,
            scheduling_timeout_ms: 120_000,
            restart_strategy: RestartStrategy::default(),
            healthy_duration_ms: 120_000,
            ttl_ms: None,
            jitter_seed: 0,
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration or count that must be positive is zero.
    Zero {
        /// The field.
        field: &'static str,
    },
    /// Two fields contradict each other.
    Inconsistent {
        /// The field.
        field: &'static str,
        /// What it contradicts.
        reason: &'static str,
    },
    /// A duration is so long that sums of durations could overflow.
    TooLarge {
        /// The field.
        field: &'static str,
        /// The longest duration accepted.
        max_ms: u64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { field } => write!(f, "config: {field} must be greater than 0"),
            ConfigError::Inconsistent { field, reason } => write!(f, "config: {field} {reason}"),
            ConfigError::TooLarge { field, max_ms } => {
                write!(f, "config: {field} must be at most {max_ms} ms")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Longest duration accepted anywhere (about 31 years): sums of a few cannot overflow u64.
const MAX_DURATION_MS: u64 = 1 << 40;

/// Most re-asks of an unconfirmed kill: the pause before each doubles, so the last one is at
/// most `2^16` times the first, and the force bound stays far from overflowing.
const MAX_FORCE_RETRIES: u32 = 16;

impl Config {
    /// Refuses zero or contradictory settings, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let durations = [
            ("checkpoint_interval_ms", self.checkpoint_interval_ms),
            ("checkpoint_timeout_ms", self.checkpoint_timeout_ms),
            ("cleanup_timeout_ms", self.cleanup_timeout_ms),
            ("stop_timeout_ms", self.stop_timeout_ms),
            ("force_timeout_ms", self.force_timeout_ms),
            ("force_retry_backoff_ms", self.force_retry_backoff_ms),
            ("heartbeat_timeout_ms", self.heartbeat_timeout_ms),
            ("scheduling_timeout_ms", self.scheduling_timeout_ms),
            ("healthy_duration_ms", self.healthy_duration_ms),
        ];
        for (field, value) in durations {
            positive(field, value)?;
            bounded(field, value)?;
        }
        bounded("min_pause_ms", self.min_pause_ms)?;
        if self.min_pause_ms > self.checkpoint_interval_ms {
            return Err(ConfigError::Inconsistent {
                field: "min_pause_ms",
                reason: "must not exceed checkpoint_interval_ms",
            });
        }
        if self.retained_checkpoints == 0 {
            return Err(ConfigError::Zero {
                field: "retained_checkpoints",
            });
        }
        if self.force_retries > MAX_FORCE_RETRIES {
            return Err(ConfigError::Inconsistent {
                field: "force_retries",
                reason: "must be at most 16 (the retry backoff doubles each time)",
            });
        }
        if let Some(ttl_ms) = self.ttl_ms {
            positive("ttl_ms", ttl_ms)?;
            bounded("ttl_ms", ttl_ms)?;
        }
        self.validate_restart_strategy()
    }

    fn validate_restart_strategy(&self) -> Result<(), ConfigError> {
        match self.restart_strategy {
            RestartStrategy::FixedDelay { delay_ms, .. } => bounded("restart delay_ms", delay_ms),
            RestartStrategy::ExponentialDelay {
                initial_delay_ms,
                max_delay_ms,
                jitter_percent,
                ..
            } => {
                positive("restart initial_delay_ms", initial_delay_ms)?;
                bounded("restart max_delay_ms", max_delay_ms)?;
                if max_delay_ms < initial_delay_ms {
                    return Err(ConfigError::Inconsistent {
                        field: "restart max_delay_ms",
                        reason: "must be at least initial_delay_ms",
                    });
                }
                if jitter_percent > 100 {
                    return Err(ConfigError::Inconsistent {
                        field: "restart jitter_percent",
                        reason: "must be at most 100",
                    });
                }
                Ok(())
            }
            RestartStrategy::FailureRate {
                delay_ms,
                window_ms,
                ..
            } => {
                bounded("restart delay_ms", delay_ms)?;
                positive("restart window_ms", window_ms)?;
                bounded("restart window_ms", window_ms)
            }
        }
    }

    /// Longest time the force step may take: every kill attempt waits `force_timeout_ms`, and
    /// the pauses between attempts double from `force_retry_backoff_ms`.
    pub fn force_bound_ms(&self) -> u64 {
        let attempts = u64::from(self.force_retries) + 1;
        let pauses: u64 = (0..self.force_retries)
            .map(|retry| self.force_retry_backoff_ms.saturating_mul(1 << retry))
            .sum();
        attempts
            .saturating_mul(self.force_timeout_ms)
            .saturating_add(pauses)
    }

    /// Longest time from a stop request to a terminal state:
    /// `checkpoint_timeout_ms + stop_timeout_ms + force_bound_ms()`.
    pub fn stop_bound_ms(&self) -> u64 {
        self.checkpoint_timeout_ms
            .saturating_add(self.stop_timeout_ms)
            .saturating_add(self.force_bound_ms())
    }

    /// The pause before re-asking a kill for the `retry`-th time (1-based).
    pub(crate) fn force_retry_pause_ms(&self, retry: u32) -> u64 {
        self.force_retry_backoff_ms
            .saturating_mul(1 << retry.saturating_sub(1).min(MAX_FORCE_RETRIES))
    }
}

fn positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::Zero { field })
    } else {
        Ok(())
    }
}

fn bounded(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value > MAX_DURATION_MS {
        Err(ConfigError::TooLarge {
            field,
            max_ms: MAX_DURATION_MS,
        })
    } else {
        Ok(())
    }
}
