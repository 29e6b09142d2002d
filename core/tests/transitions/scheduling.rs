//! Creation, and the edges out of Scheduling.

use super::*;
use quiesce_core::{Event, Input, Output, Reason, StopMode, WorkerEvent};

pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        case("(new) -> scheduling on created", Harness::new)
            .edge(None, When::Created, SCHEDULING, Reason::Created)
            .expect([
                effects([Output::StartWorkers {
                    generation: g(1),
                    restore: None,
                }]),
                armed(Timer::Scheduling, 7_000),
            ]),
        case("scheduling -> running on workers ready", Harness::new)
            .before(at(10), [quiet()])
            .before(
                worker(0, WorkerEvent::Ready),
                [
                    quiet().why("one worker ready is not enough"),
                    state(SCHEDULING),
                ],
            )
            .edge(
                SCHEDULING,
                worker(1, WorkerEvent::Ready),
                RUNNING,
                Reason::WorkersReady,
            )
            .expect([
                effects([]),
                unarmed(Timer::Scheduling),
                armed(Timer::Heartbeat, 60_010),
                armed(Timer::Healthy, 600_010),
                armed(Timer::CheckpointInterval, 1_010),
            ]),
        case(
            "scheduling -> running on workers ready resends pending commits",
            || {
                let mut h = running();
                h.at(1_000);
                h.ack_all(E1);
                persisted(&mut h, E1);
                fail(&mut h, task(SRC, 1));
                h.confirm_stopped().unwrap();
                h.at(1_100);
                h
            },
        )
        .edge(SCHEDULING, When::AllReady, RUNNING, Reason::WorkersReady)
        .expect([
            effects([
                send(0, 2, Command::Commit { epoch: E1 }),
                send(1, 2, Command::Commit { epoch: E1 }),
            ]),
            armed(Timer::CheckpointTimeout, 6_100),
        ]),
        case(
            "scheduling -> recovering on scheduling timeout",
            Harness::new,
        )
        .before(worker(0, WorkerEvent::Ready), [quiet()])
        .edge(
            SCHEDULING,
            deadline(7_000),
            RECOVERING,
            Reason::SchedulingTimedOut,
        )
        .expect([
            effects([kill(1)]),
            armed(Timer::Kill, 9_000),
            unarmed(Timer::Scheduling),
        ]),
        case("scheduling -> recovering on scheduler failed", Harness::new)
            .edge(
                SCHEDULING,
                input(Input::SchedulerFailed {
                    generation: g(1),
                    reason: "no slots".into(),
                }),
                RECOVERING,
                Reason::SchedulerFailed("no slots".into()),
            )
            .expect([effects([kill(1)])]),
        case("scheduling -> recovering on task failed", Harness::new)
            .edge(
                SCHEDULING,
                task_failed(task(SINK, 1)),
                RECOVERING,
                failed_reason(task(SINK, 1)),
            )
            .expect([effects([kill(1)])]),
        case("scheduling -> recovering on worker exited", Harness::new)
            .edge(SCHEDULING, When::WorkerExited(1), RECOVERING, lost(1))
            .expect([has_event(worker_lost(1)), effects([kill(1)])]),
    ];
    // Nothing is running yet: whatever stop was asked, the workers are killed.
    for mode in [
        StopMode::Checkpoint,
        StopMode::Graceful,
        StopMode::Immediate,
        StopMode::Force,
    ] {
        cases.push(
            case(
                format!("scheduling -> stop_workers on stop {mode}"),
                Harness::new,
            )
            .before(worker(0, WorkerEvent::Ready), [quiet()])
            .edge(
                SCHEDULING,
                stop(mode),
                STOP_WORKERS,
                Reason::StopRequested(mode),
            )
            .expect([
                has_event(Event::StopRequested { mode }),
                effects([kill(1)]),
                stop_mode(Some(StopMode::Force)),
                armed(Timer::Kill, 2_000),
                unarmed(Timer::Scheduling),
            ]),
        );
    }
    cases
}
