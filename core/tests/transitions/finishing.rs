//! The edges out of Finishing. Unless said otherwise every source read the end of its input at
//! time 0, and the final checkpoint is epoch 1.

use super::*;
use quiesce_core::{Command, Input, Output, Reason, StopJobMode, StopMode, WorkerEvent};

/// The final checkpoint completes and every task finishes, the sinks once they committed.
fn final_checkpoint_and_finish(h: &mut Harness) {
    h.ack_and_finish_all_but_sinks(E1);
    persisted(h, E1);
    h.commit_all(E1);
    finish_sinks(h);
}

fn finish_sinks(h: &mut Harness) {
    for (w, t) in h.sinks() {
        h.worker(w, WorkerEvent::TaskFinished { task: t })
            .expect("finish");
    }
}

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "finishing -> finished on final checkpoint committed",
            finishing,
        )
        .before(
            run("every task acks E1; all but the sinks finish", |h| {
                h.ack_and_finish_all_but_sinks(E1)
            }),
            [effects([Output::PersistMetadata {
                epoch: E1,
                generation: g(1),
            }])],
        )
        .before(input(Input::MetadataPersisted { epoch: E1 }), [])
        .before(
            run("every sink commits E1", |h| h.commit_all(E1)),
            [state(FINISHING).why("the sinks have not finished yet")],
        )
        .edge(
            FINISHING,
            run("every sink finishes", finish_sinks),
            FINISHED,
            Reason::FinalCheckpointCommitted { epoch: E1 },
        )
        .expect([
            effects([release(1)]),
            restore_point(Some((E1, true))),
            no_timers(),
        ]),
        case("finishing -> recovering on task failure", finishing)
            .edge(
                FINISHING,
                task_failed(task(MAP, 1)),
                RECOVERING,
                failed_reason(task(MAP, 1)),
            )
            .expect([effects([
                send(0, 1, abort(E1)),
                send(1, 1, abort(E1)),
                kill(1),
            ])]),
        case("finishing -> recovering on lost worker", finishing).edge(
            FINISHING,
            When::WorkerExited(1),
            RECOVERING,
            lost(1),
        ),
        case(
            "finishing -> recovering on final checkpoint timeout",
            finishing,
        )
        .before(at(4_999), [quiet(), armed(Timer::FinalCheckpoint, 5_000)])
        .edge(
            FINISHING,
            at(5_000),
            RECOVERING,
            Reason::FinalCheckpointTimedOut,
        ),
        case(
            "finishing -> recovering on final checkpoint failure",
            finishing,
        )
        .edge(
            FINISHING,
            worker(
                1,
                WorkerEvent::CheckpointFailed {
                    task: task(SINK, 1),
                    epoch: E1,
                    reason: "disk".into(),
                },
            ),
            RECOVERING,
            Reason::FinalCheckpointFailed { epoch: E1 },
        ),
        case(
            "finishing -> recovering on a task finishing before its part",
            finishing,
        )
        .edge(
            FINISHING,
            finish(task(SINK, 0)),
            RECOVERING,
            Reason::TaskFinishedEarly {
                task: task(SINK, 0),
            },
        ),
        case(
            "finishing -> recovering restores the end checkpoint and resends its commits",
            || {
                let mut h = finishing();
                h.ack_and_finish_all_but_sinks(E1);
                persisted(&mut h, E1);
                h
            },
        )
        .edge(
            FINISHING,
            task_failed(task(SINK, 0)),
            RECOVERING,
            failed_reason(task(SINK, 0)),
        )
        .after(When::WorkersStopped, [effects([])])
        .after(
            at(100),
            [effects([Output::StartWorkers {
                generation: g(2),
                restore: Some(E1),
            }])],
        )
        .after(
            When::AllReady,
            [commands(to_both(Command::Commit { epoch: E1 }))],
        ),
        case(
            "finishing -> checkpoint_stopping on stop checkpoint",
            finishing,
        )
        .edge(
            FINISHING,
            stop(StopMode::Checkpoint),
            CHECKPOINT_STOPPING,
            Reason::StopRequested(StopMode::Checkpoint),
        )
        .expect([commands([]).why("the final checkpoint in flight serves the stop")])
        .after(
            run(
                "the final checkpoint completes and every task finishes",
                final_checkpoint_and_finish,
            ),
            [state(STOPPED), stop_mode(Some(StopMode::Checkpoint))],
        ),
        case(
            "finishing -> stop_job(graceful) on stop graceful",
            finishing,
        )
        .edge(
            FINISHING,
            stop(StopMode::Graceful),
            GRACEFUL,
            Reason::StopRequested(StopMode::Graceful),
        )
        .expect([
            commands(to_both_then(abort(E1), stop_cmd(StopJobMode::Graceful))),
            armed(Timer::Stop, 3_000),
        ]),
        case(
            "finishing -> stop_job(immediate) on stop immediate",
            finishing,
        )
        .before(at(1_000), [quiet()])
        .edge(
            FINISHING,
            stop(StopMode::Immediate),
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate),
        )
        .expect([stop_mode(Some(StopMode::Immediate))])
        .after(
            When::AllFinish,
            [transition(IMMEDIATE, STOPPED, Reason::AllTasksFinished)],
        ),
        case("finishing -> stop_workers on stop force", finishing)
            .edge(
                FINISHING,
                stop(StopMode::Force),
                STOP_WORKERS,
                Reason::StopRequested(StopMode::Force),
            )
            .expect([has_effect(kill(1))])
            .after(When::WorkersStopped, [state(STOPPED)]),
    ]
}
