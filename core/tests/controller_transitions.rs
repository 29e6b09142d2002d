//! The controller's transitions: one or more cases per legal edge of its state machine, run
//! from the tables in `transitions/` by one driver; the transition table itself; and the
//! tests that follow a job across several transitions.

mod support;
mod transitions;

use quiesce_core::controller::is_legal_transition;
use quiesce_core::{Config, Event, Output, Reason, State, StopJobMode, StopMode};
use support::*;
use transitions::*;

#[test]
fn transitions_from_creation_and_scheduling() {
    run_all(&scheduling::cases());
}

#[test]
fn transitions_from_running() {
    run_all(&running::cases());
}

#[test]
fn transitions_from_checkpoint_stopping() {
    run_all(&checkpoint_stopping::cases());
}

#[test]
fn transitions_from_stop_job() {
    run_all(&stop_job::cases());
}

#[test]
fn transitions_from_stop_workers() {
    run_all(&stop_workers::cases());
}

#[test]
fn transitions_from_recovering() {
    run_all(&recovering::cases());
}

#[test]
fn transitions_from_finishing() {
    run_all(&finishing::cases());
}

// ------------------------------------------------------------------------ the tables themselves

/// The legal edges that no case of `cases` takes as its transition.
fn edges_without_a_case(cases: &[Case]) -> Vec<(State, State)> {
    let mut missing = Vec::new();
    for from in ALL_STATES {
        for to in ALL_STATES {
            let covered = cases.iter().any(|c| c.from == Some(from) && c.to == to);
            if is_legal_transition(from, to) && !covered {
                missing.push((from, to));
            }
        }
    }
    missing
}

#[test]
fn every_legal_edge_has_a_case() {
    let cases = all_cases();
    assert_eq!(edges_without_a_case(&cases), vec![]);
    for c in &cases {
        if let Some(from) = c.from {
            assert!(
                is_legal_transition(from, c.to),
                "case `{}`: {from} -> {} is not an edge of the design",
                c.name,
                c.to
            );
        }
    }
}

#[test]
fn the_coverage_check_names_an_edge_left_without_a_case() {
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|c| !(c.from == Some(State::Running) && c.to == State::Finishing))
        .collect();
    assert_eq!(
        edges_without_a_case(&cases),
        vec![(State::Running, State::Finishing)]
    );
}

#[test]
fn case_names_are_unique() {
    let cases = all_cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "a name is used twice");
}

#[test]
fn the_driver_fails_a_case_whose_expectation_is_wrong() {
    // The graceful stop from Running, but expecting the reason of an immediate one.
    let wrong = case("a wrong reason", running).edge(
        State::Running,
        stop(StopMode::Graceful),
        GRACEFUL,
        Reason::StopRequested(StopMode::Immediate),
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wrong.run()));
    let message = result.expect_err("a wrong expectation must fail");
    let message = message
        .downcast_ref::<String>()
        .expect("the driver fails with a formatted message");
    assert!(message.contains("case `a wrong reason`"), "{message}");
    assert!(
        message.contains("expected:") && message.contains("actual:"),
        "{message}"
    );

    let wrong_check = case("a wrong timer", running)
        .edge(
            State::Running,
            stop(StopMode::Graceful),
            GRACEFUL,
            Reason::StopRequested(StopMode::Graceful),
        )
        .expect([armed(Timer::Stop, 2_999)]);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wrong_check.run()));
    assert!(result.is_err(), "a wrong check must fail");
}

// ------------------------------------------------------------------------ the transition table

#[test]
fn is_legal_transition_accepts_exactly_the_edges_of_the_design() {
    let expected: Vec<(State, State)> = vec![
        (SCHEDULING, RUNNING),
        (SCHEDULING, RECOVERING),
        (SCHEDULING, STOP_WORKERS),
        (RUNNING, CHECKPOINT_STOPPING),
        (RUNNING, GRACEFUL),
        (RUNNING, IMMEDIATE),
        (RUNNING, STOP_WORKERS),
        (RUNNING, RECOVERING),
        (RUNNING, FINISHING),
        (CHECKPOINT_STOPPING, GRACEFUL),
        (CHECKPOINT_STOPPING, IMMEDIATE),
        (CHECKPOINT_STOPPING, STOP_WORKERS),
        (CHECKPOINT_STOPPING, STOPPED),
        (GRACEFUL, IMMEDIATE),
        (GRACEFUL, STOP_WORKERS),
        (GRACEFUL, STOPPED),
        (IMMEDIATE, STOP_WORKERS),
        (IMMEDIATE, STOPPED),
        (STOP_WORKERS, STOPPED),
        (STOP_WORKERS, FAILED),
        (RECOVERING, SCHEDULING),
        (RECOVERING, FAILED),
        (RECOVERING, STOP_WORKERS),
        (RECOVERING, STOPPED),
        (FINISHING, FINISHED),
        (FINISHING, RECOVERING),
        (FINISHING, CHECKPOINT_STOPPING),
        (FINISHING, GRACEFUL),
        (FINISHING, IMMEDIATE),
        (FINISHING, STOP_WORKERS),
    ];
    let mut legal = Vec::new();
    for from in ALL_STATES {
        for to in ALL_STATES {
            if is_legal_transition(from, to) {
                legal.push((from, to));
            }
        }
    }
    for pair in &expected {
        assert!(
            legal.contains(pair),
            "{} -> {} should be legal",
            pair.0,
            pair.1
        );
    }
    assert_eq!(legal.len(), expected.len(), "{legal:?}");
}

#[test]
fn is_legal_transition_rejects_illegal_pairs() {
    let illegal = [
        (SCHEDULING, STOPPED),
        (SCHEDULING, FAILED),
        (SCHEDULING, FINISHING),
        (SCHEDULING, CHECKPOINT_STOPPING),
        (SCHEDULING, IMMEDIATE),
        (RUNNING, SCHEDULING),
        (RUNNING, STOPPED),
        (RUNNING, FAILED),
        (RUNNING, FINISHED),
        (CHECKPOINT_STOPPING, RUNNING),
        (CHECKPOINT_STOPPING, RECOVERING),
        (CHECKPOINT_STOPPING, FAILED),
        (IMMEDIATE, GRACEFUL),
        (GRACEFUL, CHECKPOINT_STOPPING),
        (GRACEFUL, RECOVERING),
        (IMMEDIATE, FAILED),
        (STOP_WORKERS, IMMEDIATE),
        (STOP_WORKERS, RUNNING),
        (STOP_WORKERS, RECOVERING),
        (RECOVERING, RUNNING),
        (RECOVERING, IMMEDIATE),
        (FINISHING, STOPPED),
        (FINISHING, FAILED),
        (FINISHING, RUNNING),
    ];
    for (from, to) in illegal {
        assert!(!is_legal_transition(from, to), "{from} -> {to} is illegal");
    }
    for state in ALL_STATES {
        assert!(
            !is_legal_transition(state, state),
            "{state} -> {state} is not a transition"
        );
    }
}

#[test]
fn terminal_states_have_no_outgoing_transition() {
    for from in [STOPPED, FINISHED, FAILED] {
        assert!(from.is_terminal());
        for to in ALL_STATES {
            assert!(!is_legal_transition(from, to), "{from} -> {to}");
        }
    }
    for state in ALL_STATES {
        assert_eq!(
            state.is_terminal(),
            [STOPPED, FINISHED, FAILED].contains(&state),
            "{state}"
        );
    }
}

#[test]
fn terminal_states_absorb_timeouts() {
    let mut h = transitions::stop_job(StopJobMode::Immediate);
    h.finish_all();
    h.take();
    let before = h.c.clone();
    h.at(1_000_000);
    assert!(h.take().is_empty());
    assert_eq!(h.c, before);
    assert_eq!(h.c.poll_timeout(), None);
}

// ------------------------------------------------------------------------ over several transitions

fn reset_reported(out: &[Output]) -> bool {
    out.contains(&Output::Event(Event::RestartBudgetReset))
}

#[test]
fn healthy_duration_resets_the_restart_budget() {
    let config = Config {
        healthy_duration_ms: 2_000,
        ..config()
    };
    let mut h = running_with(config);
    h.at(2_000);
    assert!(
        !reset_reported(&h.take()),
        "a full budget is not reported as reset"
    );

    // Spend the whole budget of 2 restarts.
    for _ in 0..2 {
        let now = h.now.0;
        fail(&mut h, task(SRC, 0));
        h.confirm_stopped().unwrap();
        h.at(now + 100);
        h.ready_all();
    }
    h.take();
    let started = h.now.0;
    assert_eq!(h.c.status().restarts, 2);
    assert_eq!(timer_at(&h, Timer::Healthy), Some(started + 2_000));
    h.at(started + 1_999);
    assert!(!reset_reported(&h.take()));
    h.at(started + 2_000);
    let out = h.take();
    assert!(reset_reported(&out), "{out:?}");
    assert!(support::transitions(&out).is_empty());
    assert_eq!(h.c.status().restarts, 0);

    // With a full budget again, the next failure restarts instead of failing the job.
    fail(&mut h, task(SRC, 1));
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert!(out.contains(&Output::Event(Event::RestartScheduled {
        delay_ms: 100,
        restarts: 1
    })));
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn without_a_healthy_period_the_budget_is_not_reset() {
    let config = Config {
        healthy_duration_ms: 2_000,
        ..config()
    };
    let mut h = running_with(config);
    for _ in 0..2 {
        let now = h.now.0;
        h.at(now + 1_000);
        fail(&mut h, task(SRC, 0));
        h.confirm_stopped().unwrap();
        h.at(now + 1_100);
        h.ready_all();
    }
    let now = h.now.0;
    h.at(now + 1_000);
    fail(&mut h, task(SRC, 0));
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert!(!reset_reported(&out));
    assert_eq!(
        support::transitions(&out).last().cloned(),
        Some((Some(RECOVERING), FAILED, Reason::RestartBudgetExhausted))
    );
}

#[test]
fn a_task_failure_during_a_checkpoint_stop_does_not_wait_for_the_dead_task() {
    // "A task failure or lost worker during a stop escalates at once; nothing waits on a dead
    // task": StopJob(immediate) ends once every other task finished.
    let mut h = checkpoint_stopping();
    fail(&mut h, task(MAP, 0));
    h.at(100);
    for (_, t) in h.tasks() {
        if t != task(MAP, 0) {
            h.finish(t).unwrap();
        }
    }
    assert!(
        matches!(h.state(), STOP_WORKERS | STOPPED),
        "still {} at 100 ms, waiting for the failed task until 3000 ms",
        h.state()
    );
}
