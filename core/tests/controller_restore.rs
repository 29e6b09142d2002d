//! Restarts and restores: the failure-rate window, the time to live across restores, and
//! restore points at the edge of their types.

mod support;

use quiesce_core::controller::Timer;
use quiesce_core::controller::{
    Controller, ControllerSetup, RestoreError, RestorePoint, SetupError,
};
use quiesce_core::{
    Config, Epoch, Event, Generation, Output, Reason, RestartStrategy, State, StopJobMode,
    Stopping, Time, WorkerEvent,
};
use support::*;

const E1: Epoch = Epoch(1);

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

// ---------------------------------------------------------------- time to live

fn ttl_deadline(c: &Controller) -> Option<Time> {
    c.timers()
        .find(|&(timer, _)| timer == Timer::Ttl)
        .map(|(_, at)| at)
}

/// A job created at 0 with a 10 s time to live, with checkpoint E1 complete at 1 s.
fn checkpointed_with_ttl() -> (Harness, Config) {
    let cfg = Config {
        ttl_ms: Some(10_000),
        ..config()
    };
    let mut h = Harness::with(job(), cfg);
    h.ready_all();
    h.at(1_000);
    h.complete_checkpoint(E1);
    (h, cfg)
}

#[test]
fn the_time_to_live_counts_from_the_creation_of_the_job_across_restores() {
    let (h, cfg) = checkpointed_with_ttl();
    let restore = h.c.restore_point().unwrap();
    let c = Controller::new(ControllerSetup::new(job(), cfg, Time(5_000)).with_restore(restore))
        .unwrap();
    assert_eq!(ttl_deadline(&c), Some(Time(10_000)));
    let mut h = Harness::around(c, Time(5_000));
    h.ready_all();
    h.take();
    h.at(10_000);
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::Running),
            State::Stopping(Stopping::StopJob(StopJobMode::Immediate)),
            Reason::TtlExpired
        )]
    );
}

#[test]
fn a_job_restored_past_its_time_to_live_stops_at_once() {
    let (h, cfg) = checkpointed_with_ttl();
    let restore = h.c.restore_point().unwrap();
    let c = Controller::new(ControllerSetup::new(job(), cfg, Time(12_000)).with_restore(restore))
        .unwrap();
    assert_eq!(ttl_deadline(&c), Some(Time(12_000)));
    let mut h = Harness::around(c, Time(12_000));
    h.take();
    h.at(12_000);
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::Scheduling),
            State::Stopping(Stopping::StopWorkers),
            Reason::TtlExpired
        )]
    );
}

// ---------------------------------------------------------------- restore points

fn restore_point(generation: u64, epoch: u64, last_started: u64) -> RestorePoint {
    RestorePoint {
        generation: Generation(generation),
        epoch: Epoch(epoch),
        committed: true,
        last_started: Epoch(last_started),
        created_at: Time(0),
    }
}

fn restore(point: RestorePoint) -> Result<Controller, SetupError> {
    Controller::new(ControllerSetup::new(job(), config(), Time(1_000)).with_restore(point))
}

#[test]
fn a_restore_point_at_the_edge_of_its_types_is_refused_with_a_typed_error() {
    let max = RestorePoint::MAX_COUNTER;
    let refused = [
        (
            restore_point(u64::MAX, 9, 9),
            RestoreError::TooLarge {
                field: "generation",
                max,
            },
        ),
        (
            restore_point(3, u64::MAX, u64::MAX),
            RestoreError::TooLarge {
                field: "epoch",
                max,
            },
        ),
        (
            restore_point(3, 9, u64::MAX),
            RestoreError::TooLarge {
                field: "last_started",
                max,
            },
        ),
        (
            restore_point(0, 9, 9),
            RestoreError::Zero {
                field: "generation",
            },
        ),
        (
            restore_point(3, 0, 9),
            RestoreError::Zero { field: "epoch" },
        ),
        (
            restore_point(3, 9, 8),
            RestoreError::LastStartedBelowEpoch {
                epoch: Epoch(9),
                last_started: Epoch(8),
            },
        ),
        (
            RestorePoint {
                created_at: Time(1_001),
                ..restore_point(3, 9, 9)
            },
            RestoreError::CreatedInTheFuture {
                created_at: Time(1_001),
                now: Time(1_000),
            },
        ),
    ];
    for (point, error) in refused {
        assert_eq!(
            restore(point).err(),
            Some(SetupError::Restore(error)),
            "{point:?}"
        );
    }
}

#[test]
fn a_restore_point_at_the_largest_counters_runs_and_restarts_without_overflow() {
    let max = RestorePoint::MAX_COUNTER;
    let c = restore(restore_point(max, max, max)).unwrap();
    let mut h = Harness::around(c, Time(1_000));
    h.ready_all();
    h.worker(
        0,
        WorkerEvent::TaskFailed {
            task: task(SRC, 0),
            reason: "crash".into(),
        },
    )
    .unwrap();
    h.confirm_stopped().unwrap();
    h.at(1_100);
    assert_eq!(h.generation(), Generation(max + 2));
    h.ready_all();
    h.at(2_100);
    assert_eq!(
        h.c.status().in_flight.map(|f| f.epoch),
        Some(Epoch(max + 1))
    );
}
