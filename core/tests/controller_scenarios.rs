//! The scenarios of the design, each asserting the exact outputs or final state.

mod support;

use quiesce_core::{
    AbortReason, Command, Config, Epoch, Event, Generation, Input, Output, Reason, Rejected, State,
    StopJobMode, StopMode, Stopping, Time, WorkerEvent, WorkerId,
};
use support::*;

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);
const E3: Epoch = Epoch(3);

fn g(n: u64) -> Generation {
    Generation(n)
}

fn send(worker: u32, generation: u64, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: quiesce_core::ToWorker {
            generation: g(generation),
            command,
        },
    }
}

fn transition(from: State, to: State, reason: Reason) -> Output {
    Output::Event(Event::Transition {
        from: Some(from),
        to,
        reason,
    })
}

const STOP_JOB_IMMEDIATE: State = State::Stopping(Stopping::StopJob(StopJobMode::Immediate));
const STOP_WORKERS: State = State::Stopping(Stopping::StopWorkers);

#[test]
fn a_job_starts_checkpoints_periodically_and_stops_with_a_final_checkpoint() {
    let mut h = Harness::new();
    h.ready_all();
    assert_eq!(h.state(), State::Running);
    h.take();
    h.at(1_000);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointStarted {
                epoch: E1,
                then_stop: false
            }),
            send(
                0,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: false
                }
            ),
            send(
                1,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: false
                }
            ),
        ]
    );
    h.complete_checkpoint(E1);
    assert_eq!(h.c.status().last_completed, Some(E1));
    assert!(h.c.status().last_completed_committed);
    h.at(2_000);
    h.complete_checkpoint(E2);
    h.take();
    h.stop(StopMode::Checkpoint).unwrap();
    h.ack_all(E3);
    h.input(Input::MetadataPersisted { epoch: E3 }).unwrap();
    h.commit_all(E3);
    h.finish_all();
    assert_eq!(h.state(), State::Stopped);
    let status = h.c.status();
    assert_eq!(
        (status.final_checkpoint, status.last_completed),
        (Some(E3), Some(E3))
    );
    assert!(status.last_completed_committed);
    assert_eq!(h.c.poll_timeout(), None, "a terminal state has no timers");
}

#[test]
fn stop_checkpoint_while_a_periodic_checkpoint_is_in_flight_waits_for_it_then_takes_the_final_one()
{
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    h.at(1_200);
    h.stop(StopMode::Checkpoint).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::StopRequested {
                mode: StopMode::Checkpoint
            }),
            transition(
                State::Running,
                State::CheckpointStopping,
                Reason::StopRequested(StopMode::Checkpoint)
            ),
        ],
        "no second checkpoint while E1 is in flight"
    );
    h.ack_all(E1);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointAcked { epoch: E1 }),
            Output::PersistMetadata {
                epoch: E1,
                generation: g(1)
            },
        ]
    );
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointCompleted { epoch: E1 }),
            Output::Event(Event::CommitStarted {
                epoch: E1,
                tasks: 2
            }),
            send(0, 1, Command::Commit { epoch: E1 }),
            send(1, 1, Command::Commit { epoch: E1 }),
        ]
    );
    h.commit_all(E1);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointCommitted { epoch: E1 }),
            Output::Event(Event::CheckpointStarted {
                epoch: E2,
                then_stop: true
            }),
            send(
                0,
                1,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: true
                }
            ),
            send(
                1,
                1,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: true
                }
            ),
        ]
    );
    // Sources and transforms finish right after their part; sinks only after the commit.
    h.ack_and_finish_all_but_sinks(E2);
    assert_eq!(
        effects(&h.take()),
        vec![Output::PersistMetadata {
            epoch: E2,
            generation: g(1)
        }]
    );
    assert_eq!(
        h.finish(task(SINK, 0)),
        Ok(()),
        "a sink that finishes before committing the final checkpoint is accepted as an event"
    );
    assert_eq!(
        h.state(),
        STOP_JOB_IMMEDIATE,
        "...and escalates: its commit can no longer happen"
    );
}

#[test]
fn stop_checkpoint_completes_with_exact_outputs_when_sinks_commit_before_finishing() {
    let mut h = Harness::running();
    h.at(500);
    h.stop(StopMode::Checkpoint).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::StopRequested {
                mode: StopMode::Checkpoint
            }),
            transition(
                State::Running,
                State::CheckpointStopping,
                Reason::StopRequested(StopMode::Checkpoint)
            ),
            Output::Event(Event::CheckpointStarted {
                epoch: E1,
                then_stop: true
            }),
            send(
                0,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: true
                }
            ),
            send(
                1,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: true
                }
            ),
        ]
    );
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.take();
    h.worker(
        0,
        WorkerEvent::Committed {
            task: task(SINK, 0),
            epoch: E1,
        },
    )
    .unwrap();
    h.finish(task(SINK, 0)).unwrap();
    assert!(h.take().is_empty());
    h.worker(
        1,
        WorkerEvent::Committed {
            task: task(SINK, 1),
            epoch: E1,
        },
    )
    .unwrap();
    assert_eq!(
        h.take(),
        vec![Output::Event(Event::CheckpointCommitted { epoch: E1 })]
    );
    h.finish(task(SINK, 1)).unwrap();
    assert_eq!(
        h.take(),
        vec![
            transition(
                State::CheckpointStopping,
                State::Stopped,
                Reason::FinalCheckpointCommitted { epoch: E1 }
            ),
            Output::ReleaseWorkers { generation: g(1) },
        ]
    );
    let status = h.c.status();
    assert_eq!(status.stop, Some(StopMode::Checkpoint));
    assert_eq!(
        (status.last_completed, status.last_completed_committed),
        (Some(E1), true)
    );
}

#[test]
fn stop_force_during_checkpoint_stopping_kills_the_workers_without_panicking() {
    let mut h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    h.ack(task(SRC, 0), E1).unwrap();
    h.take();
    h.at(100);
    h.stop(StopMode::Force).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::StopRequested {
                mode: StopMode::Force
            }),
            Output::Event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::Superseded
            }),
            send(0, 1, Command::Abort { epoch: E1 }),
            send(1, 1, Command::Abort { epoch: E1 }),
            Output::StopWorkers { generation: g(1) },
            transition(
                State::CheckpointStopping,
                STOP_WORKERS,
                Reason::StopRequested(StopMode::Force)
            ),
        ]
    );
    assert_eq!(h.c.status().stop, Some(StopMode::Force));
    h.confirm_stopped().unwrap();
    assert_eq!(
        h.take(),
        vec![transition(
            STOP_WORKERS,
            State::Stopped,
            Reason::WorkersStopped
        )]
    );
}

#[test]
fn a_task_failure_during_the_final_checkpoint_escalates_to_immediate_at_once() {
    let mut h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    h.ack(task(SRC, 0), E1).unwrap();
    h.take();
    h.at(10);
    let failed = task(MAP, 1);
    h.worker(
        1,
        WorkerEvent::TaskFailed {
            task: failed,
            reason: "boom".into(),
        },
    )
    .unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::Superseded
            }),
            send(0, 1, Command::Abort { epoch: E1 }),
            send(1, 1, Command::Abort { epoch: E1 }),
            transition(
                State::CheckpointStopping,
                STOP_JOB_IMMEDIATE,
                Reason::TaskFailed {
                    task: failed,
                    reason: "boom".into()
                }
            ),
            send(
                0,
                1,
                Command::Stop {
                    mode: StopJobMode::Immediate
                }
            ),
            send(
                1,
                1,
                Command::Stop {
                    mode: StopJobMode::Immediate
                }
            ),
        ]
    );
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
    // Nothing waits on the failed task: once the others finished, the stop is complete.
    let mut others: Vec<_> = h
        .tasks()
        .into_iter()
        .filter(|&(_, t)| t != failed)
        .collect();
    let (w, last) = others.pop().unwrap();
    for (w, t) in others {
        h.worker(w, WorkerEvent::TaskFinished { task: t }).unwrap();
    }
    assert_eq!(h.state(), STOP_JOB_IMMEDIATE);
    h.take();
    h.at(20);
    h.worker(w, WorkerEvent::TaskFinished { task: last })
        .unwrap();
    assert_eq!(
        h.take(),
        vec![
            transition(STOP_JOB_IMMEDIATE, State::Stopped, Reason::AllTasksFinished),
            Output::ReleaseWorkers { generation: g(1) },
        ]
    );
}

#[test]
fn a_subtask_that_never_acks_aborts_the_checkpoint_at_its_timeout_and_the_next_one_completes() {
    let mut h = Harness::running();
    h.at(1_000);
    let silent = task(SINK, 1);
    for (w, t) in h.tasks() {
        if t != silent {
            h.worker(w, WorkerEvent::CheckpointAcked { task: t, epoch: E1 })
                .unwrap();
        }
    }
    h.take();
    h.at(5_999);
    assert!(h.take().is_empty(), "nothing before the timeout");
    h.at(6_000);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::TimedOut
            }),
            send(0, 1, Command::Abort { epoch: E1 }),
            send(1, 1, Command::Abort { epoch: E1 }),
        ]
    );
    assert_eq!(
        h.ack(silent, E1),
        Err(Rejected::WrongEpoch {
            got: E1,
            expected: None
        }),
        "a late ack of the aborted epoch changes nothing"
    );
    h.at(6_999);
    assert!(h.take().is_empty(), "the min pause counts from the abort");
    h.at(7_000);
    assert_eq!(
        h.take()[0],
        Output::Event(Event::CheckpointStarted {
            epoch: E2,
            then_stop: false
        })
    );
    h.complete_checkpoint(E2);
    let status = h.c.status();
    assert_eq!(status.state, State::Running);
    assert_eq!(
        (status.last_completed, status.last_completed_committed),
        (Some(E2), true)
    );
    assert_eq!(status.counters.checkpoints_aborted, 1);
}

#[test]
fn a_lost_worker_during_stop_job_goes_to_stop_workers_at_once() {
    let mut h = Harness::with(
        job(),
        Config {
            heartbeat_timeout_ms: 2_000,
            ..config()
        },
    );
    h.ready_all();
    h.at(100);
    h.stop(StopMode::Graceful).unwrap();
    h.take();
    h.at(1_000);
    h.worker(0, WorkerEvent::Heartbeat).unwrap();
    h.at(1_999);
    assert!(h.take().is_empty());
    h.at(2_000);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::WorkerLost {
                worker: WorkerId(1)
            }),
            Output::StopWorkers { generation: g(1) },
            transition(
                State::Stopping(Stopping::StopJob(StopJobMode::Graceful)),
                STOP_WORKERS,
                Reason::WorkerLost {
                    worker: WorkerId(1)
                }
            ),
        ],
        "escalates at the heartbeat deadline, long before the 3 s stop timeout"
    );
}

#[test]
fn a_worker_exit_during_stop_job_goes_to_stop_workers_at_once() {
    let mut h = Harness::running();
    h.stop(StopMode::Immediate).unwrap();
    h.take();
    h.input(Input::WorkerExited {
        worker: WorkerId(0),
        generation: g(1),
    })
    .unwrap();
    assert_eq!(h.state(), STOP_WORKERS);
    assert!(h.take().contains(&Output::StopWorkers { generation: g(1) }));
}

/// Fails the running generation by a task failure and brings the next one to Running.
fn restart(h: &mut Harness) {
    let (w, t) = h.tasks()[0];
    h.worker(
        w,
        WorkerEvent::TaskFailed {
            task: t,
            reason: "crash".into(),
        },
    )
    .unwrap();
    h.confirm_stopped().unwrap();
    h.at(h.now.0 + 100);
    h.ready_all();
}

#[test]
fn an_ack_from_the_previous_generation_is_rejected_and_changes_nothing() {
    let mut h = Harness::running();
    h.at(1_000);
    h.ack(task(SRC, 0), E1).unwrap();
    restart(&mut h);
    assert_eq!(h.generation(), g(2));
    h.at(h.now.0 + 1_000);
    assert_eq!(h.c.status().in_flight.map(|f| f.epoch), Some(E2));
    h.take();
    for epoch in [E1, E2] {
        let zombie = h.worker_gen(
            1,
            g(1),
            WorkerEvent::CheckpointAcked {
                task: task(SRC, 1),
                epoch,
            },
        );
        assert_eq!(
            zombie,
            Err(Rejected::WrongGeneration {
                got: g(1),
                current: g(2)
            })
        );
    }
    let zombie = h.worker_gen(0, g(1), WorkerEvent::TaskFinished { task: task(SRC, 0) });
    assert_eq!(
        zombie,
        Err(Rejected::WrongGeneration {
            got: g(1),
            current: g(2)
        })
    );
    assert!(h.take().is_empty(), "a rejected input emits nothing");
}

#[test]
fn a_failure_after_persist_but_before_all_commits_resends_the_commits_after_restore() {
    let mut h = Harness::running();
    h.at(1_000);
    h.ack_all(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.worker(
        0,
        WorkerEvent::Committed {
            task: task(SINK, 0),
            epoch: E1,
        },
    )
    .unwrap();
    h.take();
    h.worker(
        1,
        WorkerEvent::TaskFailed {
            task: task(MAP, 1),
            reason: "oom".into(),
        },
    )
    .unwrap();
    let out = h.take();
    assert_eq!(
        effects(&out),
        vec![Output::StopWorkers { generation: g(1) }],
        "no abort of a persisted epoch"
    );
    assert_eq!(
        h.c.restore_point().map(|r| (r.epoch, r.committed)),
        Some((E1, false))
    );
    h.confirm_stopped().unwrap();
    h.at(1_100);
    assert_eq!(
        effects(&h.take()),
        vec![Output::StartWorkers {
            generation: g(2),
            restore: Some(E1)
        }]
    );
    h.ready_all();
    assert_eq!(
        h.take(),
        vec![
            transition(State::Scheduling, State::Running, Reason::WorkersReady),
            Output::Event(Event::CommitStarted {
                epoch: E1,
                tasks: 2
            }),
            send(0, 2, Command::Commit { epoch: E1 }),
            send(1, 2, Command::Commit { epoch: E1 }),
        ]
    );
    h.at(2_100);
    assert!(
        h.take().is_empty(),
        "no new checkpoint while the restored one is uncommitted"
    );
    h.commit_all(E1);
    assert_eq!(
        h.take(),
        vec![Output::Event(Event::CheckpointCommitted { epoch: E1 })]
    );
    h.at(3_099);
    assert!(h.take().is_empty(), "the min pause counts from the commit");
    h.at(3_100);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointStarted {
                epoch: E2,
                then_stop: false
            }),
            send(
                0,
                2,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: false
                }
            ),
            send(
                1,
                2,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: false
                }
            ),
        ]
    );
}

#[test]
fn an_exhausted_restart_budget_fails_the_job_only_after_its_workers_are_stopped() {
    let mut h = Harness::running();
    restart(&mut h);
    restart(&mut h);
    assert_eq!((h.generation(), h.c.status().restarts), (g(3), 2));
    h.take();
    let (w, t) = h.tasks()[0];
    h.worker(
        w,
        WorkerEvent::TaskFailed {
            task: t,
            reason: "again".into(),
        },
    )
    .unwrap();
    assert_eq!(
        effects(&h.take()),
        vec![Output::StopWorkers { generation: g(3) }]
    );
    assert_eq!(
        h.state(),
        State::Recovering,
        "not Failed before the kill is confirmed"
    );
    h.confirm_stopped().unwrap();
    assert_eq!(
        h.take(),
        vec![transition(
            State::Recovering,
            State::Failed,
            Reason::RestartBudgetExhausted
        )]
    );
    assert_eq!(h.c.status().stopped_generation, Some(g(3)));
}

fn assert_stopped_within_bound(h: &Harness, stop_at: u64) {
    assert_eq!(h.state(), State::Stopped);
    let bound = config().stop_bound_ms();
    assert!(
        h.now.0 - stop_at <= bound,
        "stopped after {} ms, bound {bound}",
        h.now.0 - stop_at
    );
}

#[test]
fn a_stop_during_scheduling_kills_the_half_started_run() {
    let mut h = Harness::new();
    h.worker(0, WorkerEvent::Ready).unwrap();
    h.at(50);
    h.take();
    h.stop(StopMode::Checkpoint).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::StopRequested {
                mode: StopMode::Checkpoint
            }),
            Output::StopWorkers { generation: g(1) },
            transition(
                State::Scheduling,
                STOP_WORKERS,
                Reason::StopRequested(StopMode::Checkpoint)
            ),
        ]
    );
    // The first kill is not confirmed in time; the second is.
    h.at(50 + 2_000);
    h.at(50 + 2_500);
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::KillRetried {
                generation: g(1),
                attempt: 2
            }),
            Output::StopWorkers { generation: g(1) },
        ]
    );
    h.confirm_stopped().unwrap();
    assert_stopped_within_bound(&h, 50);
}

#[test]
fn a_stop_during_recovering_stops_without_restarting() {
    // While the failed generation is being killed.
    let mut h = Harness::running();
    h.worker(
        0,
        WorkerEvent::TaskFailed {
            task: task(SRC, 0),
            reason: "x".into(),
        },
    )
    .unwrap();
    h.at(10);
    h.stop(StopMode::Graceful).unwrap();
    assert_eq!(h.state(), STOP_WORKERS);
    h.at(1_000);
    h.confirm_stopped().unwrap();
    assert_stopped_within_bound(&h, 10);
    assert_eq!(h.generation(), g(1), "no new generation");

    // While backing off before the restart.
    let mut h = Harness::running();
    h.worker(
        0,
        WorkerEvent::TaskFailed {
            task: task(SRC, 0),
            reason: "x".into(),
        },
    )
    .unwrap();
    h.confirm_stopped().unwrap();
    h.take();
    h.at(20);
    h.stop(StopMode::Checkpoint).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::StopRequested {
                mode: StopMode::Checkpoint
            }),
            transition(
                State::Recovering,
                State::Stopped,
                Reason::StopRequested(StopMode::Checkpoint)
            ),
        ]
    );
    assert_stopped_within_bound(&h, 20);
    h.at(10_000);
    assert!(h.take().is_empty(), "the restart timer is gone");
}

#[test]
fn a_checkpoint_stop_whose_final_checkpoint_hangs_escalates_through_every_step_within_the_bound() {
    let mut h = Harness::running();
    h.at(100);
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    let cfg = config();
    h.at(100 + cfg.checkpoint_timeout_ms);
    assert_eq!(h.state(), STOP_JOB_IMMEDIATE);
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::CheckpointStopping),
            STOP_JOB_IMMEDIATE,
            Reason::FinalCheckpointTimedOut
        )]
    );
    h.at(100 + cfg.checkpoint_timeout_ms + cfg.stop_timeout_ms);
    assert_eq!(h.state(), STOP_WORKERS);
    // Kill confirmations come only at the last moment the retries allow.
    let mut t = h.now.0;
    for retry in 1..=cfg.force_retries {
        t += cfg.force_timeout_ms;
        h.at(t);
        t += cfg.force_retry_backoff_ms << (retry - 1);
        h.at(t);
    }
    h.at(t + cfg.force_timeout_ms - 1);
    h.confirm_stopped().unwrap();
    assert_stopped_within_bound(&h, 100);
    assert_eq!(h.now.0 - 100, cfg.stop_bound_ms() - 1);
}

#[test]
fn the_ttl_stops_the_job_immediately() {
    let mut h = Harness::with(
        job(),
        Config {
            ttl_ms: Some(2_500),
            ..config()
        },
    );
    h.ready_all();
    h.at(2_500);
    assert_eq!(h.state(), STOP_JOB_IMMEDIATE);
    h.finish_all();
    assert_eq!(h.state(), State::Stopped);
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
}

#[test]
fn a_graceful_stop_ends_when_every_task_finished() {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    h.stop(StopMode::Graceful).unwrap();
    assert_eq!(
        commands(&h.take()),
        [
            to_both(Command::Abort { epoch: E1 }),
            to_both(Command::Stop {
                mode: StopJobMode::Graceful
            })
        ]
        .concat()
    );
    h.finish_all();
    assert_eq!(h.state(), State::Stopped);
    assert_eq!(
        effects(&h.take()),
        vec![Output::ReleaseWorkers { generation: g(1) }]
    );
}

#[test]
fn cleanup_removes_old_checkpoints_and_blocks_periodic_checkpoints_while_it_runs() {
    let mut h = Harness::running();
    for (i, epoch) in [E1, E2].into_iter().enumerate() {
        h.at(1_000 * (i as u64 + 1));
        h.complete_checkpoint(epoch);
    }
    h.take();
    h.at(3_000);
    h.complete_checkpoint(E3);
    let out = h.take();
    assert!(out.contains(&Output::Cleanup { before: E2 }), "{out:?}");
    h.at(4_000);
    assert!(h.take().is_empty(), "no checkpoint while the cleanup runs");
    h.input(Input::CleanupDone { before: E2 }).unwrap();
    assert_eq!(
        h.take()[0],
        Output::Event(Event::CheckpointStarted {
            epoch: Epoch(4),
            then_stop: false
        })
    );
}

#[test]
fn a_restored_controller_starts_above_the_previous_generation_and_epoch() {
    let restore = quiesce_core::controller::RestorePoint {
        generation: g(4),
        epoch: Epoch(9),
        committed: false,
        last_started: Epoch(11),
        created_at: Time(0),
    };
    let setup = quiesce_core::ControllerSetup::new(job(), config(), Time(0)).with_restore(restore);
    let mut c = quiesce_core::controller::Controller::new(setup).unwrap();
    let mut out = Vec::new();
    while let Some(o) = c.poll_output() {
        out.push(o);
    }
    assert_eq!(
        effects(&out),
        vec![Output::StartWorkers {
            generation: g(5),
            restore: Some(Epoch(9))
        }]
    );
    assert_eq!(c.status().stopped_generation, Some(g(4)));
    assert_eq!(
        c.status().last_epoch,
        Some(Epoch(11)),
        "epochs 10 and 11 are never reused"
    );
}

#[test]
fn checkpoint_failures_are_counted_per_generation() {
    let mut h = Harness::running();
    for (at, epoch) in [(1_000, E1), (2_000, E2)] {
        h.at(at);
        h.worker(
            0,
            WorkerEvent::CheckpointFailed {
                task: task(SRC, 0),
                epoch,
                reason: "disk".into(),
            },
        )
        .unwrap();
    }
    assert_eq!(h.state(), State::Recovering, "two failures, one tolerated");
    h.confirm_stopped().unwrap();
    h.at(2_100);
    h.ready_all();
    h.at(3_100);
    h.worker(
        0,
        WorkerEvent::CheckpointFailed {
            task: task(SRC, 0),
            epoch: E3,
            reason: "disk".into(),
        },
    )
    .unwrap();
    assert_eq!(
        h.state(),
        State::Running,
        "the new generation starts with a clean count"
    );
}

#[test]
fn the_end_of_input_finishes_the_job_through_a_final_checkpoint() {
    let mut h = Harness::running();
    h.at(300);
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    assert_eq!(
        h.take(),
        vec![
            transition(State::Running, State::Finishing, Reason::SourcesFinished),
            Output::Event(Event::CheckpointStarted {
                epoch: E1,
                then_stop: true
            }),
            send(
                0,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: true
                }
            ),
            send(
                1,
                1,
                Command::Checkpoint {
                    epoch: E1,
                    then_stop: true
                }
            ),
        ]
    );
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    for (w, t) in h.sinks() {
        h.worker(w, WorkerEvent::TaskFinished { task: t }).unwrap();
    }
    assert_eq!(h.state(), State::Finished);
    assert_eq!(
        h.c.restore_point().map(|r| (r.epoch, r.committed)),
        Some((E1, true))
    );
    assert_eq!(
        h.worker(0, WorkerEvent::InputEnded { task: task(SRC, 0) }),
        Err(Rejected::Terminal {
            state: State::Finished
        })
    );
}

#[test]
fn only_a_running_source_can_end_its_input_and_only_once() {
    let mut h = Harness::running();
    assert_eq!(
        h.worker(0, WorkerEvent::InputEnded { task: task(MAP, 0) }),
        Err(Rejected::NotASource { task: task(MAP, 0) })
    );
    h.worker(0, WorkerEvent::InputEnded { task: task(SRC, 0) })
        .unwrap();
    assert_eq!(
        h.worker(0, WorkerEvent::InputEnded { task: task(SRC, 0) }),
        Err(Rejected::DuplicateInputEnded { task: task(SRC, 0) })
    );
}

#[test]
fn a_job_stopped_gracefully_has_no_restore_point() {
    // The sinks committed the drained tail past the last checkpoint: resuming from it would
    // repeat that data.
    let mut h = Harness::running();
    h.at(1_000);
    h.complete_checkpoint(E1);
    assert!(h.c.restore_point().is_some());
    h.stop(StopMode::Graceful).unwrap();
    h.finish_all();
    assert_eq!(h.state(), State::Stopped);
    assert_eq!(h.c.restore_point(), None);

    // An immediate stop commits nothing past the last checkpoint.
    let mut h = Harness::running();
    h.at(1_000);
    h.complete_checkpoint(E1);
    h.stop(StopMode::Immediate).unwrap();
    h.finish_all();
    assert_eq!(
        h.c.restore_point().map(|r| (r.epoch, r.committed)),
        Some((E1, true))
    );
}
