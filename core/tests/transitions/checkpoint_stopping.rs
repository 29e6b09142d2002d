//! The edges out of CheckpointStopping. Unless said otherwise the stop was asked at time 0 and
//! its final checkpoint is epoch 1.

use super::*;
use quiesce_core::{
    AbortReason, Command, Event, Input, Output, Reason, StopJobMode, StopMode, WorkerEvent,
};

/// The commands of a final checkpoint escalated to an immediate stop.
fn abort_then_immediate() -> Vec<(u32, Command)> {
    to_both_then(abort(E1), stop_cmd(StopJobMode::Immediate))
}

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "checkpoint_stopping -> stopped on final checkpoint committed",
            checkpoint_stopping,
        )
        .before(
            run("every task acks E1", |h| h.ack_all(E1)),
            [effects([Output::PersistMetadata {
                epoch: E1,
                generation: g(1),
            }])],
        )
        .before(
            input(Input::MetadataPersisted { epoch: E1 }),
            [commands(to_both(Command::Commit { epoch: E1 }))],
        )
        .before(
            run("every sink commits E1", |h| h.commit_all(E1)),
            [
                has_event(Event::CheckpointCommitted { epoch: E1 }),
                no_transition().why("tasks still running"),
            ],
        )
        .before(
            run("every task but sink 1 finishes", finish_all_but_sink_1),
            [quiet(), state(CHECKPOINT_STOPPING)],
        )
        .edge(
            CHECKPOINT_STOPPING,
            finish(task(SINK, 1)),
            STOPPED,
            Reason::FinalCheckpointCommitted { epoch: E1 },
        )
        .expect([
            effects([release(1)]),
            no_timers(),
            last_completed(Some(E1)),
            last_completed_committed(true),
            stop_mode(Some(StopMode::Checkpoint)),
        ]),
        case(
            "checkpoint_stopping -> stop_job(graceful) on stop graceful",
            checkpoint_stopping,
        )
        .before(at(100), [quiet()])
        .edge(
            CHECKPOINT_STOPPING,
            stop(StopMode::Graceful),
            GRACEFUL,
            Reason::StopRequested(StopMode::Graceful),
        )
        .expect([
            commands(to_both_then(abort(E1), stop_cmd(StopJobMode::Graceful))),
            armed(Timer::Stop, 3_100),
            unarmed(Timer::FinalCheckpoint),
        ]),
        case(
            "checkpoint_stopping -> stop_job(immediate) on stop immediate",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            stop(StopMode::Immediate),
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate),
        )
        .expect([commands(abort_then_immediate())]),
        case(
            "checkpoint_stopping -> stop_job(immediate) on final checkpoint timer",
            checkpoint_stopping,
        )
        .before(
            run("checkpoint 1 completes: acks, persist, commits", |h| {
                h.complete_checkpoint(E1)
            }),
            [
                unarmed(Timer::CheckpointTimeout),
                armed(Timer::FinalCheckpoint, 5_000),
            ],
        )
        .edge(
            CHECKPOINT_STOPPING,
            deadline(5_000),
            IMMEDIATE,
            Reason::FinalCheckpointTimedOut,
        )
        .expect([
            effects([
                send(0, 1, stop_cmd(StopJobMode::Immediate)),
                send(1, 1, stop_cmd(StopJobMode::Immediate)),
            ]),
            stop_mode(Some(StopMode::Immediate)),
            armed(Timer::Stop, 8_000),
        ]),
        // The final checkpoint never gets its acks: its own timeout and the final-checkpoint
        // deadline coincide, and the stop escalates once, as timed out.
        case(
            "checkpoint_stopping -> stop_job(immediate) on final checkpoint timed out",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            deadline(5_000),
            IMMEDIATE,
            Reason::FinalCheckpointTimedOut,
        )
        .expect([
            has_event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::TimedOut,
            }),
            commands(abort_then_immediate()),
        ]),
        case(
            "checkpoint_stopping -> stop_job(immediate) on task failure",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            task_failed(task(SINK, 0)),
            IMMEDIATE,
            failed_reason(task(SINK, 0)),
        )
        .expect([
            commands(abort_then_immediate()),
            stop_mode(Some(StopMode::Immediate)),
        ]),
        // The lost worker's tasks can never stop themselves: only a kill ends them.
        case(
            "checkpoint_stopping -> stop_workers on lost worker",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            When::WorkerExited(1),
            STOP_WORKERS,
            lost(1),
        )
        .expect([
            has_event(worker_lost(1)),
            commands(to_both(abort(E1))),
            has_effect(kill(1)),
            stop_mode(Some(StopMode::Force)),
        ]),
        // Worker 1 is gone, so its three tasks can never finish: the workers are killed at once.
        case(
            "checkpoint_stopping -> stop_workers on lost worker does not wait for its dead tasks",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            When::WorkerExited(1),
            STOP_WORKERS,
            lost(1),
        )
        .after(When::WorkersStopped, [state(STOPPED)]),
        case(
            "checkpoint_stopping -> stop_workers on heartbeat loss",
            || {
                let mut h = running_with(heartbeat_timeout(500));
                h.stop(StopMode::Checkpoint).unwrap();
                h
            },
        )
        .before(at(400), [quiet()])
        .before(worker(1, WorkerEvent::Heartbeat), [quiet()])
        .edge(CHECKPOINT_STOPPING, at(500), STOP_WORKERS, lost(0))
        .expect([unarmed(Timer::Heartbeat).why("nothing left to watch: the kill decides")]),
        case(
            "checkpoint_stopping -> stop_job(immediate) on final checkpoint failure",
            checkpoint_stopping,
        )
        .before(
            worker(
                0,
                WorkerEvent::CheckpointAcked {
                    task: task(SRC, 0),
                    epoch: E1,
                },
            ),
            [quiet()],
        )
        .edge(
            CHECKPOINT_STOPPING,
            worker(
                1,
                WorkerEvent::CheckpointFailed {
                    task: task(MAP, 1),
                    epoch: E1,
                    reason: "snapshot".into(),
                },
            ),
            IMMEDIATE,
            Reason::FinalCheckpointFailed { epoch: E1 },
        )
        .expect([
            has_event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::TaskFailed {
                    task: task(MAP, 1),
                    reason: "snapshot".into(),
                },
            }),
            commands(abort_then_immediate()),
        ]),
        case(
            "checkpoint_stopping -> stop_job(immediate) on persist failure",
            || {
                let mut h = checkpoint_stopping();
                h.ack_all(E1);
                h
            },
        )
        .edge(
            CHECKPOINT_STOPPING,
            input(Input::MetadataPersistFailed {
                epoch: E1,
                reason: "store down".into(),
            }),
            IMMEDIATE,
            Reason::FinalCheckpointFailed { epoch: E1 },
        )
        .expect([
            has_event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::PersistFailed {
                    reason: "store down".into(),
                },
            }),
            commands(abort_then_immediate()),
            last_completed(None),
        ]),
        // A two-phase-commit sink finishes only after committing the final checkpoint, not
        // yet persisted: its finish is early. (A map's finish may overtake its ack.)
        case(
            "checkpoint_stopping -> stop_job(immediate) on task finished early",
            checkpoint_stopping,
        )
        .edge(
            CHECKPOINT_STOPPING,
            finish(task(SINK, 0)),
            IMMEDIATE,
            Reason::TaskFinishedEarly {
                task: task(SINK, 0),
            },
        ),
        case(
            "checkpoint_stopping -> stop_workers on stop force",
            checkpoint_stopping,
        )
        .before(at(300), [quiet()])
        .edge(
            CHECKPOINT_STOPPING,
            stop(StopMode::Force),
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Force),
        )
        .expect([
            effects([send(0, 1, abort(E1)), send(1, 1, abort(E1)), kill(1)]),
            armed(Timer::Kill, 2_300),
            unarmed(Timer::FinalCheckpoint),
        ]),
        // The TTL is an immediate stop request: it escalates a checkpoint stop at once.
        case(
            "checkpoint_stopping -> stop_job(immediate) on ttl expired",
            || {
                let mut h = running_with(ttl(2_000));
                h.at(500);
                h.stop(StopMode::Checkpoint).unwrap();
                h
            },
        )
        .edge(
            CHECKPOINT_STOPPING,
            at(2_000),
            IMMEDIATE,
            Reason::TtlExpired,
        ),
    ]
}
