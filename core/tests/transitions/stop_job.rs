//! The edges out of Stopping(StopJob(graceful | immediate)). Unless said otherwise the stop
//! was asked at time 0 from Running.

use super::*;
use quiesce_core::{Reason, State, StopJobMode, StopMode, Stopping};

pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "stop_job(graceful) -> stop_job(immediate) on stop immediate keeping the deadline",
            || stop_job(StopJobMode::Graceful),
        )
        .before(finish(task(SRC, 0)), [quiet(), armed(Timer::Stop, 3_000)])
        .before(at(1_000), [quiet()])
        .edge(
            GRACEFUL,
            stop(StopMode::Immediate),
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate),
        )
        .expect([
            commands(to_both(stop_cmd(StopJobMode::Immediate))),
            effect_count(2),
            stop_mode(Some(StopMode::Immediate)),
            armed(Timer::Stop, 3_000).why("the stop deadline counts from the first stop request"),
        ])
        .after(
            deadline(3_000),
            [transition(IMMEDIATE, STOP_WORKERS, Reason::StopTimedOut)],
        ),
        case(
            "stop_job(graceful) -> stopped on all tasks finished",
            || stop_job(StopJobMode::Graceful),
        )
        .before(
            run("every task but sink 1 finishes", finish_all_but_sink_1),
            [quiet(), state(GRACEFUL)],
        )
        .before(at(2_000), [quiet()])
        .edge(
            GRACEFUL,
            finish(task(SINK, 1)),
            STOPPED,
            Reason::AllTasksFinished,
        )
        .expect([effects([release(1)]), no_timers()]),
        case(
            "stop_job(immediate) -> stopped on all tasks finished",
            || stop_job(StopJobMode::Immediate),
        )
        .edge(
            IMMEDIATE,
            When::AllFinish,
            STOPPED,
            Reason::AllTasksFinished,
        )
        .expect([effects([release(1)]), no_timers()]),
        case(
            "stop_job(graceful) -> stop_workers on heartbeat loss",
            || {
                let mut h = running_with(heartbeat_timeout(500));
                h.stop(StopMode::Graceful).unwrap();
                h
            },
        )
        .edge(GRACEFUL, at(500), STOP_WORKERS, lost(0))
        .expect([effects([kill(1)])]),
        // The TTL is an immediate stop request; a stronger request escalates a weaker stop at
        // once (as it does a checkpoint stop), keeping the graceful stop's deadline.
        case(
            "stop_job(graceful) -> stop_job(immediate) on ttl expired",
            || {
                let mut h = running_with(ttl(2_000));
                h.at(1_000);
                h.stop(StopMode::Graceful).unwrap();
                h
            },
        )
        .edge(GRACEFUL, at(2_000), IMMEDIATE, Reason::TtlExpired)
        .expect([
            commands(to_both(stop_cmd(StopJobMode::Immediate))),
            armed(Timer::Stop, 4_000),
        ]),
    ];
    for (mode, name) in [
        (StopJobMode::Graceful, "stop_job(graceful)"),
        (StopJobMode::Immediate, "stop_job(immediate)"),
    ] {
        cases.extend(either_stop_job(mode, name));
    }
    cases
}

/// The edges out of a graceful and an immediate stop alike.
fn either_stop_job(mode: StopJobMode, name: &str) -> Vec<Case> {
    let from = State::Stopping(Stopping::StopJob(mode));
    let given = move || stop_job(mode);
    vec![
        case(format!("{name} -> stop_workers on stop timeout"), given)
            .before(finish(task(SRC, 0)), [quiet()])
            .edge(from, deadline(3_000), STOP_WORKERS, Reason::StopTimedOut)
            .expect([
                effects([kill(1)]),
                stop_mode(Some(StopMode::Force)),
                armed(Timer::Kill, 5_000),
            ]),
        case(format!("{name} -> stop_workers on task failure"), given)
            .before(at(100), [quiet()])
            .edge(
                from,
                task_failed(task(SINK, 1)),
                STOP_WORKERS,
                failed_reason(task(SINK, 1)),
            )
            .expect([
                effects([kill(1)]),
                stop_mode(Some(StopMode::Force)),
                armed(Timer::Kill, 2_100),
                unarmed(Timer::Stop),
            ]),
        case(format!("{name} -> stop_workers on lost worker"), given)
            .edge(from, When::WorkerExited(0), STOP_WORKERS, lost(0))
            .expect([has_event(worker_lost(0)), effects([kill(1)])]),
        case(format!("{name} -> stop_workers on stop force"), given)
            .edge(
                from,
                stop(StopMode::Force),
                STOP_WORKERS,
                Reason::StopRequested(StopMode::Force),
            )
            .expect([effects([kill(1)])]),
    ]
}
