//! The edges out of Recovering. Unless said otherwise a task failed at time 0 while Running,
//! and generation 1 is being killed (force_timeout_ms = 2000, then pauses of 500 and 1000 ms).

use super::*;
use quiesce_core::{Event, Input, Output, Reason, StopMode};

fn scheduler_failed(generation: u64) -> When {
    input(Input::SchedulerFailed {
        generation: g(generation),
        reason: "no slots".into(),
    })
}

pub fn cases() -> Vec<Case> {
    vec![
        case("recovering -> scheduling on restart backoff", || {
            let mut h = running();
            h.at(1_000);
            h.complete_checkpoint(E1);
            h.at(1_200);
            h
        })
        .before(task_failed(task(SRC, 0)), [effects([kill(1)])])
        .before(at(1_300), [quiet()])
        .before(
            When::WorkersStopped,
            [
                outputs([Output::Event(Event::RestartScheduled {
                    delay_ms: 100,
                    restarts: 1,
                })]),
                state(RECOVERING),
                armed(Timer::RestartBackoff, 1_400),
            ],
        )
        .edge(
            RECOVERING,
            deadline(1_400),
            SCHEDULING,
            Reason::RestartBackoffElapsed,
        )
        .expect([
            effects([Output::StartWorkers {
                generation: g(2),
                restore: Some(E1),
            }]),
            generation(2),
            stopped_generation(Some(1)),
            restarts(1),
            restart_count(1),
            armed(Timer::Scheduling, 8_400),
        ])
        .after(When::AllReady, [state(RUNNING)]),
        // FixedDelay { delay_ms: 100, max_restarts: 2 }: generations 1 and 2 fail to schedule
        // and are restarted; generation 3 fails too.
        case(
            "recovering -> failed on restart budget exhausted",
            Harness::new,
        )
        .before(scheduler_failed(1), [])
        .before(When::WorkersStopped, [])
        .before(at(100), [state(SCHEDULING), generation(2)])
        .before(scheduler_failed(2), [])
        .before(When::WorkersStopped, [])
        .before(at(200), [state(SCHEDULING), generation(3)])
        .before(scheduler_failed(3), [effects([kill(3)])])
        .edge(
            RECOVERING,
            When::WorkersStopped,
            FAILED,
            Reason::RestartBudgetExhausted,
        )
        .expect([
            effects([]).why("failed only once generation 3 is confirmed gone"),
            stopped_generation(Some(3)),
            no_timers(),
        ]),
        case("recovering -> failed on kill unconfirmed", recovering)
            .before(at(2_000), [state(RECOVERING)])
            .before(at(2_500), [state(RECOVERING)])
            .before(at(4_500), [state(RECOVERING)])
            .before(at(5_500), [state(RECOVERING)])
            .edge(
                RECOVERING,
                deadline(7_500),
                FAILED,
                Reason::KillUnconfirmed { attempts: 3 },
            ),
        case("recovering -> stop_workers on stop while killing", || {
            let mut h = recovering();
            h.at(2_000);
            h
        })
        .edge(
            RECOVERING,
            stop(StopMode::Immediate),
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Immediate),
        )
        .expect([
            has_event(Event::StopRequested {
                mode: StopMode::Immediate,
            }),
            effects([]).why("the kill under way goes on"),
            stop_mode(Some(StopMode::Force)),
            armed(Timer::Kill, 2_500).why("the kill keeps its schedule"),
        ])
        .after(
            When::WorkersStopped,
            [
                transition(STOP_WORKERS, STOPPED, Reason::WorkersStopped),
                generation(1).why("no new generation was started"),
            ],
        ),
        case("recovering -> stopped on stop during backoff", recovering)
            .before(When::WorkersStopped, [armed(Timer::RestartBackoff, 100)])
            .before(at(50), [quiet()])
            .edge(
                RECOVERING,
                stop(StopMode::Graceful),
                STOPPED,
                Reason::StopRequested(StopMode::Graceful),
            )
            .expect([effects([]), generation(1), no_timers()]),
        case("recovering -> stopped on ttl during backoff", || {
            let mut h = running_with(ttl(80));
            fail(&mut h, task(MAP, 0));
            h.confirm_stopped().unwrap();
            h
        })
        .edge(RECOVERING, at(80), STOPPED, Reason::TtlExpired),
    ]
}
