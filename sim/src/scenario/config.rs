//! The controller's and the workers' configuration, randomised per seed within valid ranges:
//! timeouts themselves are part of what a seed explores.

use crate::choices::Stream;
use quiesce_core::{Config, RestartStrategy, WorkerConfig};

/// Draws a worker configuration: heartbeats every 0.2 to 3 s, polls of 1 to 1,000 records.
pub fn draw_worker(s: &mut Stream) -> WorkerConfig {
    WorkerConfig {
        heartbeat_interval_ms: s.range(200, 3_000),
        max_poll_records: s.range_u32(1, 1_000),
    }
}

/// Draws a controller configuration that [`Config::validate`] accepts, for workers that send
/// heartbeats every `heartbeat_interval_ms`.
///
/// Ranges: checkpoint interval 0.5 to 20 s with a minimum pause of at most the interval;
/// checkpoint timeout 2 to 60 s; 0 to 3 tolerable failures; 1 to 4 retained checkpoints; stop
/// timeout 1 to 30 s; force timeout 1 to 30 s with 0 to 4 retries; a heartbeat timeout of
/// 3 to 10 heartbeats; every restart strategy; a time to live on one seed in ten.
pub fn draw(s: &mut Stream, heartbeat_interval_ms: u64) -> Config {
    let checkpoint_interval_ms = s.range(500, 20_000);
    Config {
        checkpoint_interval_ms,
        min_pause_ms: s.range(0, checkpoint_interval_ms),
        checkpoint_timeout_ms: s.range(2_000, 60_000),
        tolerable_checkpoint_failures: s.range_u32(0, 3),
        retained_checkpoints: s.range_u32(1, 4),
        cleanup_timeout_ms: s.range(1_000, 60_000),
        stop_timeout_ms: s.range(1_000, 30_000),
        force_timeout_ms: s.range(1_000, 30_000),
        force_retries: s.range_u32(0, 4),
        force_retry_backoff_ms: s.range(100, 5_000),
        heartbeat_timeout_ms: heartbeat_interval_ms * s.range(3, 10),
        scheduling_timeout_ms: s.range(2_000, 60_000),
        restart_strategy: draw_restart(s),
        healthy_duration_ms: s.range(5_000, 120_000),
        ttl_ms: s.percent(10).then(|| s.range(5_000, 600_000)),
        jitter_seed: s.next_u64(),
    }
}

fn draw_restart(s: &mut Stream) -> RestartStrategy {
    match s.range(0, 2) {
        0 => RestartStrategy::FixedDelay {
            delay_ms: s.range(0, 10_000),
            max_restarts: s.range_u32(0, 20),
        },
        1 => {
            let initial_delay_ms = s.range(1, 5_000);
            RestartStrategy::ExponentialDelay {
                initial_delay_ms,
                max_delay_ms: s.range(initial_delay_ms, 60_000),
                jitter_percent: s.range(0, 100) as u8,
                max_restarts: s.range_u32(0, 20),
            }
        }
        _ => RestartStrategy::FailureRate {
            delay_ms: s.range(0, 10_000),
            max_failures: s.range_u32(0, 10),
            window_ms: s.range(1_000, 300_000),
        },
    }
}
