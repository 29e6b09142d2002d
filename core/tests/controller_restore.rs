//! Restarts and restores: the failure-rate window.

mod support;

use quiesce_core::{Config, Event, Output, Reason, RestartStrategy, State, WorkerEvent};
use support::*;

/// At most one failure in any 10 s; kills may take up to 5 s to confirm; no periodic
/// checkpoint gets in the way.
fn failure_rate() -> Config {
    Config {
        restart_strategy: RestartStrategy::FailureRate {
            delay_ms: 10,
            max_failures: 1,
            window_ms: 10_000,
        },
        checkpoint_interval_ms: 100_000,
        force_timeout_ms: 5_000,
        ..config()
    }
}

/// A task fails at `failed_ms`; the kill is confirmed at `confirmed_ms`.
fn fail_at(h: &mut Harness, failed_ms: u64, confirmed_ms: u64) {
    h.at(failed_ms);
    h.worker(
        0,
        WorkerEvent::TaskFailed {
            task: task(SRC, 0),
            reason: "crash".into(),
        },
    )
    .unwrap();
    assert_eq!(h.state(), State::Recovering);
    h.at(confirmed_ms);
    h.confirm_stopped().unwrap();
}

fn restart_scheduled(outputs: &[Output]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::RestartScheduled { .. })))
}

#[test]
fn failures_further_apart_than_the_window_restart_however_slow_the_first_kill() {
    let mut h = Harness::with(job(), failure_rate());
    h.ready_all();
    // The first kill takes 2.9 s to confirm.
    fail_at(&mut h, 1_000, 3_900);
    h.at(3_910);
    h.ready_all();
    assert_eq!(h.state(), State::Running);
    h.take();
    // 12 s after the first failure, 9.1 s after its confirmation.
    fail_at(&mut h, 13_000, 13_000);
    assert!(
        restart_scheduled(&h.take()),
        "the first failure left the window"
    );
    assert_eq!(h.state(), State::Recovering);
}

#[test]
fn failures_within_the_window_fail_the_job_however_late_the_second_kill() {
    let mut h = Harness::with(job(), failure_rate());
    h.ready_all();
    fail_at(&mut h, 1_000, 1_000);
    h.at(1_010);
    h.ready_all();
    h.take();
    // 9 s after the first failure; its kill is confirmed 4 s later.
    fail_at(&mut h, 10_000, 14_000);
    assert_eq!(
        transitions(&h.take()).last(),
        Some(&(
            Some(State::Recovering),
            State::Failed,
            Reason::RestartBudgetExhausted
        ))
    );
}
