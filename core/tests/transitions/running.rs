//! The edges out of Running.

use super::*;
use quiesce_core::{AbortReason, Command, Event, Reason, StopJobMode, StopMode, WorkerEvent};

pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        case("running -> checkpoint_stopping on stop checkpoint", running)
            .before(at(500), [quiet()])
            .edge(
                RUNNING,
                stop(StopMode::Checkpoint),
                CHECKPOINT_STOPPING,
                Reason::StopRequested(StopMode::Checkpoint),
            )
            .expect([
                has_event(Event::CheckpointStarted {
                    epoch: E1,
                    then_stop: true,
                }),
                commands(to_both(Command::Checkpoint {
                    epoch: E1,
                    then_stop: true,
                })),
                effect_count(2).why("only the two barriers"),
                final_checkpoint(Some(E1)),
                armed(Timer::FinalCheckpoint, 5_500),
                unarmed(Timer::CheckpointInterval),
                unarmed(Timer::Healthy),
            ]),
        case("running -> stop_job(graceful) on stop graceful", running)
            .edge(
                RUNNING,
                stop(StopMode::Graceful),
                GRACEFUL,
                Reason::StopRequested(StopMode::Graceful),
            )
            .expect([
                commands(to_both(stop_cmd(StopJobMode::Graceful))),
                effect_count(2),
                stop_mode(Some(StopMode::Graceful)),
                armed(Timer::Stop, 3_000),
                unarmed(Timer::CheckpointInterval),
            ]),
        case("running -> stop_job(immediate) on stop immediate", running)
            .before(at(1_000), [in_flight(Some(E1))])
            .edge(
                RUNNING,
                stop(StopMode::Immediate),
                IMMEDIATE,
                Reason::StopRequested(StopMode::Immediate),
            )
            .expect([
                has_event(Event::CheckpointAborted {
                    epoch: E1,
                    reason: AbortReason::Superseded,
                }),
                commands(to_both_then(abort(E1), stop_cmd(StopJobMode::Immediate))),
                in_flight(None),
                armed(Timer::Stop, 4_000),
                unarmed(Timer::CheckpointTimeout),
            ]),
        case("running -> stop_workers on stop force", running)
            .before(at(200), [quiet()])
            .edge(
                RUNNING,
                stop(StopMode::Force),
                STOP_WORKERS,
                Reason::StopRequested(StopMode::Force),
            )
            .expect([
                effects([kill(1)]),
                armed(Timer::Kill, 2_200),
                timer_count(1).why("only the kill timer"),
            ]),
        case("running -> recovering on task failure", running)
            .edge(
                RUNNING,
                task_failed(task(MAP, 1)),
                RECOVERING,
                failed_reason(task(MAP, 1)),
            )
            .expect([
                effects([kill(1)]),
                armed(Timer::Kill, 2_000),
                unarmed(Timer::Heartbeat),
                unarmed(Timer::Healthy),
            ]),
        case(
            "running -> recovering on task failure aborts the checkpoint in flight",
            running,
        )
        .before(at(1_000), [])
        .edge(
            RUNNING,
            task_failed(task(MAP, 1)),
            RECOVERING,
            failed_reason(task(MAP, 1)),
        )
        .expect([effects([
            send(0, 1, abort(E1)),
            send(1, 1, abort(E1)),
            kill(1),
        ])]),
        case("running -> recovering on heartbeat loss", || {
            running_with(heartbeat_timeout(500))
        })
        .before(at(300), [quiet(), armed(Timer::Heartbeat, 500)])
        .before(worker(0, WorkerEvent::Heartbeat), [quiet()])
        .edge(RUNNING, deadline(500), RECOVERING, lost(1))
        .expect([has_event(worker_lost(1)), effects([kill(1)])]),
        // Both beat at 400; worker 1 keeps beating, worker 0 falls silent.
        case(
            "running -> recovering on heartbeat loss of a worker that stopped beating",
            || {
                let mut h = running_with(heartbeat_timeout(500));
                h.at(400);
                h.worker(0, WorkerEvent::Heartbeat).unwrap();
                h.worker(1, WorkerEvent::Heartbeat).unwrap();
                h
            },
        )
        .before(
            at(500),
            [
                no_transition().why("both were heard at 400"),
                armed(Timer::Heartbeat, 900),
            ],
        )
        .before(at(800), [no_transition()])
        .before(worker(1, WorkerEvent::Heartbeat), [no_transition()])
        .edge(RUNNING, at(900), RECOVERING, lost(0)),
        case("running -> recovering on worker exited", running)
            .edge(RUNNING, When::WorkerExited(0), RECOVERING, lost(0))
            .expect([has_event(worker_lost(0)), effects([kill(1)])]),
        // tolerable_checkpoint_failures = 1: the second consecutive failure recovers.
        case(
            "running -> recovering on too many checkpoint failures",
            running,
        )
        .before(at(1_000), [])
        .before(
            worker(
                0,
                WorkerEvent::CheckpointFailed {
                    task: task(SRC, 0),
                    epoch: E1,
                    reason: "disk full".into(),
                },
            ),
            [
                no_transition().why("one failure is tolerated"),
                commands(to_both(abort(E1))),
                state(RUNNING),
                armed(Timer::CheckpointInterval, 2_000),
            ],
        )
        .before(at(2_000), [in_flight(Some(E2))])
        .edge(
            RUNNING,
            deadline(7_000),
            RECOVERING,
            Reason::TooManyCheckpointFailures { consecutive: 2 },
        )
        .expect([
            has_event(Event::CheckpointAborted {
                epoch: E2,
                reason: AbortReason::TimedOut,
            }),
            effects([send(0, 1, abort(E2)), send(1, 1, abort(E2)), kill(1)]),
        ]),
        case("running -> recovering on commit timeout", || {
            let mut h = running();
            h.at(1_000);
            h.ack_all(E1);
            persisted(&mut h, E1);
            h
        })
        .edge(
            RUNNING,
            deadline(6_000),
            RECOVERING,
            Reason::CheckpointCommitTimedOut { epoch: E1 },
        )
        .expect([
            effects([kill(1)]).why("a complete checkpoint is not aborted"),
            last_completed(Some(E1)),
            last_completed_committed(false),
        ]),
        case("running -> finishing once every source input ended", || {
            let mut h = running();
            h.at(1_000);
            h
        })
        .before(at(1_200), [quiet()])
        .before(
            worker(0, WorkerEvent::InputEnded { task: task(SRC, 0) }),
            [quiet().why("one source still reads"), state(RUNNING)],
        )
        .edge(
            RUNNING,
            worker(1, WorkerEvent::InputEnded { task: task(SRC, 1) }),
            FINISHING,
            Reason::SourcesFinished,
        )
        .expect([
            effects([]).why("the periodic checkpoint in flight goes on"),
            armed(Timer::FinalCheckpoint, 6_200),
            unarmed(Timer::CheckpointInterval),
        ])
        .after(
            run("checkpoint 1 completes: acks, persist, commits", |h| {
                h.complete_checkpoint(E1)
            }),
            [
                has_event(Event::CheckpointStarted {
                    epoch: E2,
                    then_stop: true,
                }),
                commands(to_both_then(
                    Command::Commit { epoch: E1 },
                    Command::Checkpoint {
                        epoch: E2,
                        then_stop: true,
                    },
                ))
                .why("ended sources still ack; once E1 is committed the final checkpoint follows"),
            ],
        ),
        case(
            "running -> recovering on a source finishing without a final checkpoint",
            running,
        )
        .edge(
            RUNNING,
            finish(task(SRC, 0)),
            RECOVERING,
            Reason::TaskFinishedEarly { task: task(SRC, 0) },
        ),
        case("running -> stop_job(immediate) on ttl expired", || {
            harness(ttl(500))
        })
        .before(When::AllReady, [armed(Timer::Ttl, 500)])
        .before(at(499), [quiet()])
        .edge(RUNNING, at(500), IMMEDIATE, Reason::TtlExpired)
        .expect([
            has_event(Event::StopRequested {
                mode: StopMode::Immediate,
            }),
            commands(to_both(stop_cmd(StopJobMode::Immediate))),
            stop_mode(Some(StopMode::Immediate)),
            unarmed(Timer::Ttl),
            armed(Timer::Stop, 3_500),
        ]),
        case(
            "running -> stop_job(immediate) on ttl expired counts from creation across a restart",
            || {
                let mut h = running_with(ttl(5_000));
                h.at(200);
                fail(&mut h, task(SRC, 0));
                h.confirm_stopped().unwrap();
                h.at(300);
                h
            },
        )
        .before(When::AllReady, [generation(2), armed(Timer::Ttl, 5_000)])
        .edge(RUNNING, at(5_000), IMMEDIATE, Reason::TtlExpired),
    ];
    for t in [task(MAP, 0), task(SINK, 1)] {
        cases.push(
            case(
                format!("running -> recovering on unexpected non-source {t} finished"),
                running,
            )
            .edge(
                RUNNING,
                finish(t),
                RECOVERING,
                Reason::TaskFinishedEarly { task: t },
            )
            .expect([effects([kill(1)])]),
        );
    }
    cases
}
