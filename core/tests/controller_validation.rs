mod support;
use support::*;

// Every way the controller refuses an input, a configuration or a job. A refused input must
// leave the controller exactly as it was and emit nothing.

use quiesce_core::controller::{Controller, ControllerSetup, SetupError};
use quiesce_core::{
    CheckpointStage, Config, ConfigError, Edge, Epoch, FromWorker, Generation, Input, InputKind,
    Job, JobError, Operator, OperatorId, OperatorKind, Rejected, RestartStrategy, State,
    StopJobMode, StopMode, Stopping, TaskId, Time, WorkerEvent, WorkerId,
};

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);
const E3: Epoch = Epoch(3);

/// Longest duration the configuration accepts.
const MAX_DURATION_MS: u64 = 1 << 40;

fn g(n: u64) -> Generation {
    Generation(n)
}

fn from(worker: u32, generation: u64, event: WorkerEvent) -> Input {
    Input::Worker(FromWorker {
        worker: WorkerId(worker),
        generation: g(generation),
        event,
    })
}

fn heartbeat(worker: u32, generation: u64) -> Input {
    from(worker, generation, WorkerEvent::Heartbeat)
}

fn acked(t: TaskId, epoch: Epoch) -> WorkerEvent {
    WorkerEvent::CheckpointAcked { task: t, epoch }
}

fn ckpt_failed(t: TaskId, epoch: Epoch) -> WorkerEvent {
    WorkerEvent::CheckpointFailed {
        task: t,
        epoch,
        reason: "snapshot".into(),
    }
}

fn committed(t: TaskId, epoch: Epoch) -> WorkerEvent {
    WorkerEvent::Committed { task: t, epoch }
}

fn finished(t: TaskId) -> WorkerEvent {
    WorkerEvent::TaskFinished { task: t }
}

fn failed(t: TaskId) -> WorkerEvent {
    WorkerEvent::TaskFailed {
        task: t,
        reason: "boom".into(),
    }
}

/// Feeds `input`, which must be refused with `expected`, and checks that nothing changed and
/// nothing was emitted. (The harness itself asserts the controller is unchanged.)
#[track_caller]
fn refuse(h: &mut Harness, input: Input, expected: Rejected) {
    h.take();
    let status = h.c.status();
    let deadline = h.c.poll_timeout();
    assert_eq!(h.input(input.clone()), Err(expected), "input {input:?}");
    assert!(h.take().is_empty(), "a refused input emitted output");
    assert_eq!(h.c.status(), status);
    assert_eq!(h.c.poll_timeout(), deadline);
    assert_eq!(h.c.poll_output(), None);
}

/// Running with checkpoint 1 just started (time 1000), waiting for barriers.
fn checkpointing() -> Harness {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    assert_eq!(h.c.status().in_flight.map(|f| f.epoch), Some(E1));
    h
}

/// Running with checkpoint 1 acked by every task, waiting for its metadata to be stored.
fn persisting() -> Harness {
    let mut h = checkpointing();
    h.ack_all(E1);
    h.take();
    h
}

/// Running with checkpoint 1 persisted, waiting for the sinks' commits.
fn committing() -> Harness {
    let mut h = persisting();
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.take();
    h
}

/// Running in generation 2 after one restart (at time 0 -> 100).
fn restarted() -> Harness {
    let mut h = Harness::running();
    h.worker(0, failed(task(SRC, 0))).unwrap();
    h.confirm_stopped().unwrap();
    h.at(100);
    h.ready_all();
    h.take();
    assert_eq!(h.generation(), g(2));
    assert_eq!(h.state(), State::Running);
    h
}

/// Recovering (killing generation 1) after a task failure at time 0.
fn recovering() -> Harness {
    let mut h = Harness::running();
    h.worker(1, failed(task(MAP, 1))).unwrap();
    h.take();
    assert_eq!(h.state(), State::Recovering);
    h
}

// ------------------------------------------------------------------------ inputs: time, terminal

#[test]
fn rejected_time_went_backwards() {
    let mut h = Harness::running();
    h.at(100);
    h.now = Time(50);
    refuse(
        &mut h,
        Input::Stop(StopMode::Graceful),
        Rejected::TimeWentBackwards {
            now: Time(50),
            last: Time(100),
        },
    );
    refuse(
        &mut h,
        heartbeat(0, 1),
        Rejected::TimeWentBackwards {
            now: Time(50),
            last: Time(100),
        },
    );
    // The same instant is not backwards.
    h.now = Time(100);
    h.input(heartbeat(0, 1)).unwrap();
}

#[test]
fn a_timeout_earlier_than_the_last_time_is_ignored() {
    let mut h = Harness::running();
    h.at(2_000);
    h.take();
    let before = h.c.clone();
    h.at(1_500);
    assert!(h.take().is_empty());
    assert_eq!(h.c, before);
}

#[test]
fn a_spurious_timeout_changes_nothing_but_the_time() {
    let mut h = Harness::running();
    h.at(500);
    assert!(h.take().is_empty());
    assert_eq!(h.state(), State::Running);
    assert_eq!(h.c.status().now, Time(500));
    assert_eq!(h.c.poll_timeout(), Some(Time(1_000)));
}

#[test]
fn rejected_terminal_in_every_terminal_state() {
    // Stopped.
    let mut stopped = Harness::running();
    stopped.stop(StopMode::Force).unwrap();
    stopped.confirm_stopped().unwrap();
    // Finished: every source ended its input, then the final checkpoint.
    let mut finished = Harness::running();
    for (w, t) in finished.tasks() {
        if t.operator == SRC {
            finished
                .worker(w, WorkerEvent::InputEnded { task: t })
                .unwrap();
        }
    }
    finished.ack_all(E1);
    finished
        .input(Input::MetadataPersisted { epoch: E1 })
        .unwrap();
    finished.commit_all(E1);
    finished.finish_all();
    // Failed: the restart budget (2) is spent.
    let mut failed_job = Harness::new();
    for generation in 1..=3 {
        failed_job
            .input(Input::SchedulerFailed {
                generation: g(generation),
                reason: "no slots".into(),
            })
            .unwrap();
        failed_job.confirm_stopped().unwrap();
        let now = failed_job.now.0;
        failed_job.at(now + 100);
    }
    for (mut h, state) in [
        (stopped, State::Stopped),
        (finished, State::Finished),
        (failed_job, State::Failed),
    ] {
        assert_eq!(h.state(), state);
        let generation = h.generation().0;
        let inputs = [
            Input::Stop(StopMode::Force),
            Input::Stop(StopMode::Checkpoint),
            heartbeat(0, generation),
            from(1, generation, WorkerEvent::Ready),
            from(0, generation, failed(task(SRC, 0))),
            Input::WorkersStopped {
                generation: g(generation),
            },
            Input::WorkerExited {
                worker: WorkerId(0),
                generation: g(generation),
            },
            Input::SchedulerFailed {
                generation: g(generation),
                reason: "x".into(),
            },
            Input::MetadataPersisted { epoch: E1 },
            Input::CleanupDone { before: E1 },
            // Even an input that would be malformed elsewhere is refused as terminal first.
            heartbeat(9, generation + 5),
        ];
        for input in inputs {
            refuse(&mut h, input, Rejected::Terminal { state });
        }
        let now = h.now.0;
        h.now = Time(now + 1);
        refuse(
            &mut h,
            Input::Stop(StopMode::Force),
            Rejected::Terminal { state },
        );
    }
}

// ------------------------------------------------------------------------ inputs: fencing

#[test]
fn rejected_wrong_generation_from_the_future() {
    let mut h = Harness::running();
    let wrong = Rejected::WrongGeneration {
        got: g(2),
        current: g(1),
    };
    for input in [
        heartbeat(0, 2),
        from(1, 2, WorkerEvent::Ready),
        from(0, 2, finished(task(SRC, 0))),
        from(0, 2, failed(task(SRC, 0))),
        Input::SchedulerFailed {
            generation: g(2),
            reason: "x".into(),
        },
        Input::WorkerExited {
            worker: WorkerId(0),
            generation: g(2),
        },
        Input::WorkersStopped { generation: g(2) },
    ] {
        refuse(&mut h, input, wrong.clone());
    }
    let mut h = checkpointing();
    refuse(&mut h, from(0, 2, acked(task(SRC, 0), E1)), wrong.clone());
    let mut h = Harness::new();
    refuse(&mut h, from(0, 2, WorkerEvent::Ready), wrong);
}

#[test]
fn rejected_wrong_generation_at_the_end_of_its_type() {
    let mut h = Harness::running();
    let wrong = Rejected::WrongGeneration {
        got: g(u64::MAX),
        current: g(1),
    };
    refuse(&mut h, heartbeat(0, u64::MAX), wrong.clone());
    refuse(
        &mut h,
        Input::WorkersStopped {
            generation: g(u64::MAX),
        },
        wrong,
    );
}

#[test]
fn rejected_wrong_generation_from_the_past() {
    let mut h = restarted();
    let wrong = Rejected::WrongGeneration {
        got: g(1),
        current: g(2),
    };
    for input in [
        heartbeat(0, 1),
        from(1, 1, WorkerEvent::Ready),
        from(0, 1, finished(task(SRC, 0))),
        from(1, 1, failed(task(MAP, 1))),
        Input::SchedulerFailed {
            generation: g(1),
            reason: "late".into(),
        },
        Input::WorkerExited {
            worker: WorkerId(1),
            generation: g(1),
        },
        Input::WorkersStopped { generation: g(1) },
    ] {
        refuse(&mut h, input, wrong.clone());
    }
    // A zombie of generation 1 can never ack (or fail) a checkpoint of generation 2.
    h.at(1_100);
    h.take();
    let epoch = h.c.status().in_flight.expect("checkpoint in flight").epoch;
    refuse(
        &mut h,
        from(0, 1, acked(task(SRC, 0), epoch)),
        wrong.clone(),
    );
    refuse(
        &mut h,
        from(0, 1, ckpt_failed(task(SRC, 0), epoch)),
        wrong.clone(),
    );
    refuse(&mut h, from(0, 1, committed(task(SINK, 0), epoch)), wrong);
    // The current generation is heard.
    h.ack(task(SRC, 0), epoch).unwrap();
}

#[test]
fn rejected_unknown_worker() {
    let mut h = Harness::running();
    refuse(
        &mut h,
        heartbeat(2, 1),
        Rejected::UnknownWorker {
            worker: WorkerId(2),
        },
    );
    refuse(
        &mut h,
        from(u32::MAX, 1, failed(task(SRC, 0))),
        Rejected::UnknownWorker {
            worker: WorkerId(u32::MAX),
        },
    );
    refuse(
        &mut h,
        Input::WorkerExited {
            worker: WorkerId(7),
            generation: g(1),
        },
        Rejected::UnknownWorker {
            worker: WorkerId(7),
        },
    );
    let mut h = Harness::new();
    refuse(
        &mut h,
        from(2, 1, WorkerEvent::Ready),
        Rejected::UnknownWorker {
            worker: WorkerId(2),
        },
    );
}

#[test]
fn rejected_unknown_task() {
    let unknown_operator = TaskId {
        operator: OperatorId(3),
        subtask: 0,
    };
    let unknown_subtask = task(SRC, 2);
    let mut h = checkpointing();
    for t in [unknown_operator, unknown_subtask] {
        let unknown = Rejected::UnknownTask { task: t };
        refuse(&mut h, from(0, 1, acked(t, E1)), unknown.clone());
        refuse(&mut h, from(0, 1, ckpt_failed(t, E1)), unknown.clone());
        refuse(&mut h, from(0, 1, finished(t)), unknown.clone());
        refuse(&mut h, from(0, 1, failed(t)), unknown.clone());
    }
    let mut h = committing();
    refuse(
        &mut h,
        from(0, 1, committed(task(SINK, 4), E1)),
        Rejected::UnknownTask {
            task: task(SINK, 4),
        },
    );
}

#[test]
fn rejected_task_not_on_worker() {
    let mut h = checkpointing();
    // Worker 0 hosts subtask 0 of every operator, worker 1 subtask 1.
    let wrong = |t: TaskId, w: u32| Rejected::TaskNotOnWorker {
        task: t,
        worker: WorkerId(w),
    };
    refuse(
        &mut h,
        from(1, 1, acked(task(SRC, 0), E1)),
        wrong(task(SRC, 0), 1),
    );
    refuse(
        &mut h,
        from(0, 1, ckpt_failed(task(MAP, 1), E1)),
        wrong(task(MAP, 1), 0),
    );
    refuse(
        &mut h,
        from(0, 1, finished(task(SRC, 1))),
        wrong(task(SRC, 1), 0),
    );
    refuse(
        &mut h,
        from(1, 1, failed(task(SINK, 0))),
        wrong(task(SINK, 0), 1),
    );
    let mut h = committing();
    refuse(
        &mut h,
        from(1, 1, committed(task(SINK, 0), E1)),
        wrong(task(SINK, 0), 1),
    );
}

#[test]
fn rejected_task_not_running() {
    // A task that finished is not running any more.
    let mut h = Harness::running();
    h.stop(StopMode::Immediate).unwrap();
    h.finish(task(SRC, 0)).unwrap();
    let not_running = Rejected::TaskNotRunning { task: task(SRC, 0) };
    refuse(
        &mut h,
        from(0, 1, finished(task(SRC, 0))),
        not_running.clone(),
    );
    refuse(
        &mut h,
        from(0, 1, failed(task(SRC, 0))),
        not_running.clone(),
    );

    // In a checkpoint stop, a source that acked the final checkpoint and finished cannot
    // fail it any more, and its ack was taken once.
    let mut h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    h.ack(task(SRC, 0), E1).unwrap();
    h.finish(task(SRC, 0)).unwrap();
    assert_eq!(h.state(), State::CheckpointStopping);
    refuse(
        &mut h,
        from(0, 1, ckpt_failed(task(SRC, 0), E1)),
        not_running.clone(),
    );
    refuse(
        &mut h,
        from(0, 1, acked(task(SRC, 0), E1)),
        Rejected::DuplicateAck {
            task: task(SRC, 0),
            epoch: E1,
        },
    );
    refuse(&mut h, from(0, 1, finished(task(SRC, 0))), not_running);

    // In a stop, a finished task cannot finish or fail again.
    let mut h = Harness::running();
    h.stop(StopMode::Immediate).unwrap();
    h.finish(task(SINK, 1)).unwrap();
    let not_running = Rejected::TaskNotRunning {
        task: task(SINK, 1),
    };
    refuse(
        &mut h,
        from(1, 1, finished(task(SINK, 1))),
        not_running.clone(),
    );
    refuse(&mut h, from(1, 1, failed(task(SINK, 1))), not_running);
}

// ------------------------------------------------------------------------ inputs: epochs

#[test]
fn rejected_wrong_epoch_old() {
    let mut h = Harness::running();
    h.at(1_000);
    h.complete_checkpoint(E1);
    h.at(2_000);
    h.take();
    assert_eq!(h.c.status().in_flight.map(|f| f.epoch), Some(E2));
    let old = Rejected::WrongEpoch {
        got: E1,
        expected: Some(E2),
    };
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), old.clone());
    refuse(
        &mut h,
        from(1, 1, ckpt_failed(task(MAP, 1), E1)),
        old.clone(),
    );
    refuse(&mut h, from(0, 1, committed(task(SINK, 0), E1)), old);
}

#[test]
fn rejected_wrong_epoch_future() {
    let mut h = checkpointing();
    let future = Rejected::WrongEpoch {
        got: E3,
        expected: Some(E1),
    };
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E3)), future.clone());
    refuse(
        &mut h,
        from(0, 1, ckpt_failed(task(SRC, 0), E3)),
        future.clone(),
    );
    refuse(&mut h, from(1, 1, committed(task(SINK, 1), E3)), future);
    let mut h = committing();
    refuse(
        &mut h,
        from(1, 1, committed(task(SINK, 1), E2)),
        Rejected::WrongEpoch {
            got: E2,
            expected: Some(E1),
        },
    );
}

#[test]
fn rejected_wrong_epoch_with_no_checkpoint_in_flight() {
    let mut h = Harness::running();
    assert_eq!(h.c.status().in_flight, None);
    let none = |epoch| Rejected::WrongEpoch {
        got: epoch,
        expected: None,
    };
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), none(E1));
    refuse(&mut h, from(1, 1, ckpt_failed(task(SRC, 1), E1)), none(E1));
    refuse(&mut h, from(0, 1, committed(task(SINK, 0), E1)), none(E1));
    refuse(&mut h, Input::MetadataPersisted { epoch: E1 }, none(E1));
    refuse(
        &mut h,
        Input::MetadataPersistFailed {
            epoch: E1,
            reason: "x".into(),
        },
        none(E1),
    );
    // A completed and committed checkpoint is not in flight any more.
    h.at(1_000);
    h.complete_checkpoint(E1);
    refuse(&mut h, from(0, 1, committed(task(SINK, 0), E1)), none(E1));
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), none(E1));
    refuse(&mut h, Input::MetadataPersisted { epoch: E1 }, none(E1));
    // Nor is one aborted by a stop.
    let mut h = checkpointing();
    h.stop(StopMode::Graceful).unwrap();
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), none(E1));
}

#[test]
fn rejected_wrong_epoch_for_persist_results() {
    let mut h = persisting();
    let wrong = |got| Rejected::WrongEpoch {
        got,
        expected: Some(E1),
    };
    refuse(&mut h, Input::MetadataPersisted { epoch: E2 }, wrong(E2));
    refuse(
        &mut h,
        Input::MetadataPersistFailed {
            epoch: Epoch(0),
            reason: "x".into(),
        },
        wrong(Epoch(0)),
    );
}

#[test]
fn rejected_persist_results_say_where_the_checkpoint_in_flight_stands() {
    // A persist result while the epoch still collects acks.
    let mut h = checkpointing();
    h.ack(task(SRC, 0), E1).unwrap();
    let collecting = Rejected::NotPersisting {
        epoch: E1,
        stage: CheckpointStage::Barriers { acked: 1, tasks: 6 },
    };
    refuse(
        &mut h,
        Input::MetadataPersisted { epoch: E1 },
        collecting.clone(),
    );
    refuse(
        &mut h,
        Input::MetadataPersistFailed {
            epoch: E1,
            reason: "store".into(),
        },
        collecting,
    );
    // Of another epoch while one collects acks: that one is in flight.
    refuse(
        &mut h,
        Input::MetadataPersisted { epoch: E2 },
        Rejected::WrongEpoch {
            got: E2,
            expected: Some(E1),
        },
    );
    // A second persist result for a persisted checkpoint whose sinks commit.
    let mut h = committing();
    let committing = Rejected::NotPersisting {
        epoch: E1,
        stage: CheckpointStage::Committing {
            committed: 0,
            tasks: 2,
        },
    };
    refuse(
        &mut h,
        Input::MetadataPersisted { epoch: E1 },
        committing.clone(),
    );
    refuse(
        &mut h,
        Input::MetadataPersistFailed {
            epoch: E1,
            reason: "late".into(),
        },
        committing,
    );
    // With nothing in flight, there is no epoch to expect.
    let mut h = Harness::running();
    refuse(
        &mut h,
        Input::MetadataPersisted { epoch: E1 },
        Rejected::WrongEpoch {
            got: E1,
            expected: None,
        },
    );
}

#[test]
fn rejected_duplicate_ack() {
    let mut h = checkpointing();
    h.ack(task(SRC, 0), E1).unwrap();
    let dup = Rejected::DuplicateAck {
        task: task(SRC, 0),
        epoch: E1,
    };
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), dup.clone());
    refuse(
        &mut h,
        from(0, 1, ckpt_failed(task(SRC, 0), E1)),
        dup.clone(),
    );
    // Once every task acked (persisting, then committing), every ack is a repeat.
    let mut h = persisting();
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), dup.clone());
    let mut h = committing();
    refuse(&mut h, from(0, 1, acked(task(SRC, 0), E1)), dup);
    refuse(
        &mut h,
        from(1, 1, ckpt_failed(task(MAP, 1), E1)),
        Rejected::DuplicateAck {
            task: task(MAP, 1),
            epoch: E1,
        },
    );
}

#[test]
fn rejected_duplicate_commit() {
    let mut h = committing();
    h.worker(0, committed(task(SINK, 0), E1)).unwrap();
    refuse(
        &mut h,
        from(0, 1, committed(task(SINK, 0), E1)),
        Rejected::DuplicateCommit {
            task: task(SINK, 0),
            epoch: E1,
        },
    );
    // The other sink still completes the commit.
    h.worker(1, committed(task(SINK, 1), E1)).unwrap();
    assert!(h.c.status().last_completed_committed);
}

#[test]
fn rejected_duplicate_ready() {
    let mut h = Harness::new();
    h.worker(1, WorkerEvent::Ready).unwrap();
    refuse(
        &mut h,
        from(1, 1, WorkerEvent::Ready),
        Rejected::DuplicateReady {
            worker: WorkerId(1),
        },
    );
    assert_eq!(h.state(), State::Scheduling);
    h.worker(0, WorkerEvent::Ready).unwrap();
    assert_eq!(h.state(), State::Running);
}

#[test]
fn rejected_not_participating() {
    let mut h = committing();
    for (w, t) in [(0, task(MAP, 0)), (1, task(SRC, 1))] {
        refuse(
            &mut h,
            from(w, 1, committed(t, E1)),
            Rejected::NotParticipating { task: t, epoch: E1 },
        );
    }
}

// ------------------------------------------------------------------------ inputs: unexpected

#[test]
fn rejected_unexpected_while_running() {
    let mut h = Harness::running();
    let running = |input| Rejected::Unexpected {
        input,
        state: State::Running,
    };
    refuse(
        &mut h,
        Input::WorkersStopped { generation: g(1) },
        running(InputKind::WorkersStopped),
    );
    refuse(
        &mut h,
        from(0, 1, WorkerEvent::Ready),
        running(InputKind::Ready),
    );
    refuse(
        &mut h,
        Input::SchedulerFailed {
            generation: g(1),
            reason: "late".into(),
        },
        running(InputKind::SchedulerFailed),
    );
    // A commit while barriers are still coming in.
    h.at(1_000);
    refuse(
        &mut h,
        from(0, 1, committed(task(SINK, 0), E1)),
        running(InputKind::Committed),
    );
}

#[test]
fn rejected_unexpected_while_scheduling() {
    let mut h = Harness::new();
    refuse(
        &mut h,
        from(0, 1, finished(task(SRC, 0))),
        Rejected::Unexpected {
            input: InputKind::TaskFinished,
            state: State::Scheduling,
        },
    );
    refuse(
        &mut h,
        Input::WorkersStopped { generation: g(1) },
        Rejected::Unexpected {
            input: InputKind::WorkersStopped,
            state: State::Scheduling,
        },
    );
    // Starting tasks can fail, though.
    h.worker(0, failed(task(SRC, 0))).unwrap();
    assert_eq!(h.state(), State::Recovering);
}

#[test]
fn rejected_unexpected_worker_messages_while_recovering() {
    let mut h = recovering();
    let recovering = |input| Rejected::Unexpected {
        input,
        state: State::Recovering,
    };
    refuse(&mut h, heartbeat(0, 1), recovering(InputKind::Heartbeat));
    refuse(&mut h, heartbeat(1, 1), recovering(InputKind::Heartbeat));
    refuse(
        &mut h,
        from(0, 1, WorkerEvent::Ready),
        recovering(InputKind::Ready),
    );
    refuse(
        &mut h,
        from(0, 1, finished(task(SRC, 0))),
        recovering(InputKind::TaskFinished),
    );
    refuse(
        &mut h,
        from(0, 1, failed(task(SRC, 0))),
        recovering(InputKind::TaskFailed),
    );
    refuse(
        &mut h,
        Input::SchedulerFailed {
            generation: g(1),
            reason: "x".into(),
        },
        recovering(InputKind::SchedulerFailed),
    );
    // During the backoff too, and the kill cannot be confirmed twice.
    h.confirm_stopped().unwrap();
    refuse(&mut h, heartbeat(0, 1), recovering(InputKind::Heartbeat));
    refuse(
        &mut h,
        Input::WorkersStopped { generation: g(1) },
        recovering(InputKind::WorkersStopped),
    );
}

#[test]
fn rejected_unexpected_worker_messages_while_killing_on_stop() {
    let mut h = Harness::running();
    h.stop(StopMode::Force).unwrap();
    let killing = |input| Rejected::Unexpected {
        input,
        state: State::Stopping(Stopping::StopWorkers),
    };
    refuse(&mut h, heartbeat(0, 1), killing(InputKind::Heartbeat));
    refuse(
        &mut h,
        from(1, 1, finished(task(SINK, 1))),
        killing(InputKind::TaskFinished),
    );
    refuse(
        &mut h,
        from(1, 1, failed(task(SINK, 1))),
        killing(InputKind::TaskFailed),
    );
}

#[test]
fn rejected_unexpected_workers_stopped_while_stopping_a_job() {
    let mut h = Harness::running();
    h.stop(StopMode::Graceful).unwrap();
    refuse(
        &mut h,
        Input::WorkersStopped { generation: g(1) },
        Rejected::Unexpected {
            input: InputKind::WorkersStopped,
            state: State::Stopping(Stopping::StopJob(StopJobMode::Graceful)),
        },
    );
}

// ------------------------------------------------------------------------ inputs: stops

#[test]
fn rejected_stop_not_stronger_equal() {
    for mode in [
        StopMode::Checkpoint,
        StopMode::Graceful,
        StopMode::Immediate,
        StopMode::Force,
    ] {
        let mut h = Harness::running();
        h.stop(mode).unwrap();
        refuse(
            &mut h,
            Input::Stop(mode),
            Rejected::StopNotStronger {
                current: mode,
                requested: mode,
            },
        );
    }
}

#[test]
fn rejected_stop_not_stronger_weaker() {
    let mut h = Harness::running();
    h.stop(StopMode::Immediate).unwrap();
    for weaker in [StopMode::Checkpoint, StopMode::Graceful] {
        refuse(
            &mut h,
            Input::Stop(weaker),
            Rejected::StopNotStronger {
                current: StopMode::Immediate,
                requested: weaker,
            },
        );
    }
    // A stronger one is taken.
    h.stop(StopMode::Force).unwrap();
    assert_eq!(h.state(), State::Stopping(Stopping::StopWorkers));
}

#[test]
fn rejected_stop_not_stronger_after_a_stop_during_scheduling() {
    // A stop during Scheduling kills the half-started run: every later stop is weaker or equal.
    let mut h = Harness::new();
    h.stop(StopMode::Checkpoint).unwrap();
    for mode in [
        StopMode::Checkpoint,
        StopMode::Graceful,
        StopMode::Immediate,
        StopMode::Force,
    ] {
        refuse(
            &mut h,
            Input::Stop(mode),
            Rejected::StopNotStronger {
                current: StopMode::Force,
                requested: mode,
            },
        );
    }
}

#[test]
fn rejected_stop_not_stronger_after_a_checkpoint_stop_of_a_finishing_job() {
    // Once the sources ended, a checkpoint stop takes over the final checkpoint.
    let mut h = Harness::running();
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    h.stop(StopMode::Checkpoint).unwrap();
    refuse(
        &mut h,
        Input::Stop(StopMode::Checkpoint),
        Rejected::StopNotStronger {
            current: StopMode::Checkpoint,
            requested: StopMode::Checkpoint,
        },
    );
}

// ------------------------------------------------------------------------ inputs: cleanup

#[test]
fn rejected_wrong_cleanup() {
    // No cleanup asked for.
    let mut h = Harness::running();
    refuse(
        &mut h,
        Input::CleanupDone { before: E1 },
        Rejected::WrongCleanup {
            got: E1,
            expected: None,
        },
    );
    // retained_checkpoints = 2: the third completed checkpoint cleans up before epoch 2.
    for (at, epoch) in [(1_000, E1), (2_000, E2), (3_000, E3)] {
        h.at(at);
        h.complete_checkpoint(epoch);
    }
    let out = h.take();
    assert!(out.contains(&quiesce_core::Output::Cleanup { before: E2 }));
    for wrong in [E1, E3] {
        refuse(
            &mut h,
            Input::CleanupDone { before: wrong },
            Rejected::WrongCleanup {
                got: wrong,
                expected: Some(E2),
            },
        );
    }
    h.input(Input::CleanupDone { before: E2 }).unwrap();
    refuse(
        &mut h,
        Input::CleanupDone { before: E2 },
        Rejected::WrongCleanup {
            got: E2,
            expected: None,
        },
    );
}

#[test]
fn rejected_inputs_render_as_distinct_one_line_messages() {
    let rejections = [
        Rejected::TimeWentBackwards {
            now: Time(1),
            last: Time(2),
        },
        Rejected::Terminal {
            state: State::Stopped,
        },
        Rejected::WrongGeneration {
            got: g(1),
            current: g(2),
        },
        Rejected::UnknownWorker {
            worker: WorkerId(3),
        },
        Rejected::UnknownTask { task: task(SRC, 9) },
        Rejected::TaskNotOnWorker {
            task: task(SRC, 0),
            worker: WorkerId(1),
        },
        Rejected::TaskNotRunning { task: task(SRC, 0) },
        Rejected::WrongEpoch {
            got: E1,
            expected: None,
        },
        Rejected::DuplicateAck {
            task: task(SRC, 0),
            epoch: E1,
        },
        Rejected::DuplicateCommit {
            task: task(SINK, 0),
            epoch: E1,
        },
        Rejected::DuplicateReady {
            worker: WorkerId(0),
        },
        Rejected::NotParticipating {
            task: task(MAP, 0),
            epoch: E1,
        },
        Rejected::Unexpected {
            input: InputKind::Ready,
            state: State::Running,
        },
        Rejected::StopNotStronger {
            current: StopMode::Force,
            requested: StopMode::Graceful,
        },
        Rejected::WrongCleanup {
            got: E1,
            expected: Some(E2),
        },
    ];
    let mut seen = std::collections::BTreeSet::new();
    for r in rejections {
        let text = r.to_string();
        assert!(text.starts_with("rejected: "), "{text:?}");
        assert!(
            !text.contains(['\n', '{']),
            "{text:?} is not one line in words"
        );
        assert!(
            seen.insert(text.clone()),
            "{text:?} printed for two rejections"
        );
    }
}

// ------------------------------------------------------------------------ config validation

fn setup_config(config: Config) -> Result<Controller, SetupError> {
    Controller::new(ControllerSetup::new(job(), config, Time(0)))
}

#[track_caller]
fn refuse_config(config: Config, expected: ConfigError) {
    assert_eq!(config.validate(), Err(expected.clone()));
    assert_eq!(
        setup_config(config).err(),
        Some(SetupError::Config(expected))
    );
}

#[test]
fn valid_configs_are_accepted() {
    assert_eq!(Config::default().validate(), Ok(()));
    assert_eq!(config().validate(), Ok(()));
    assert!(setup_config(Config::default()).is_ok());
    // Zero is fine where it means "none": no pause, no tolerated failure, no retry, no delay.
    let zeros = Config {
        min_pause_ms: 0,
        tolerable_checkpoint_failures: 0,
        force_retries: 0,
        restart_strategy: RestartStrategy::FixedDelay {
            delay_ms: 0,
            max_restarts: 0,
        },
        ..config()
    };
    assert_eq!(zeros.validate(), Ok(()));
    // The longest durations accepted.
    let longest = Config {
        checkpoint_interval_ms: MAX_DURATION_MS,
        min_pause_ms: MAX_DURATION_MS,
        stop_timeout_ms: MAX_DURATION_MS,
        force_retries: 16,
        ttl_ms: Some(MAX_DURATION_MS),
        ..config()
    };
    assert_eq!(longest.validate(), Ok(()));
    assert!(longest.stop_bound_ms() > MAX_DURATION_MS);
}

#[test]
fn config_zero_durations_and_counts_are_refused_naming_the_field() {
    let base = config();
    let cases: Vec<(&str, Config)> = vec![
        (
            "checkpoint_interval_ms",
            Config {
                checkpoint_interval_ms: 0,
                min_pause_ms: 0,
                ..base
            },
        ),
        (
            "checkpoint_timeout_ms",
            Config {
                checkpoint_timeout_ms: 0,
                ..base
            },
        ),
        (
            "cleanup_timeout_ms",
            Config {
                cleanup_timeout_ms: 0,
                ..base
            },
        ),
        (
            "stop_timeout_ms",
            Config {
                stop_timeout_ms: 0,
                ..base
            },
        ),
        (
            "force_timeout_ms",
            Config {
                force_timeout_ms: 0,
                ..base
            },
        ),
        (
            "force_retry_backoff_ms",
            Config {
                force_retry_backoff_ms: 0,
                ..base
            },
        ),
        (
            "heartbeat_timeout_ms",
            Config {
                heartbeat_timeout_ms: 0,
                ..base
            },
        ),
        (
            "scheduling_timeout_ms",
            Config {
                scheduling_timeout_ms: 0,
                ..base
            },
        ),
        (
            "healthy_duration_ms",
            Config {
                healthy_duration_ms: 0,
                ..base
            },
        ),
        (
            "retained_checkpoints",
            Config {
                retained_checkpoints: 0,
                ..base
            },
        ),
        (
            "ttl_ms",
            Config {
                ttl_ms: Some(0),
                ..base
            },
        ),
        (
            "restart initial_delay_ms",
            Config {
                restart_strategy: RestartStrategy::ExponentialDelay {
                    initial_delay_ms: 0,
                    max_delay_ms: 1_000,
                    jitter_percent: 10,
                    max_restarts: 3,
                },
                ..base
            },
        ),
        (
            "restart window_ms",
            Config {
                restart_strategy: RestartStrategy::FailureRate {
                    delay_ms: 10,
                    max_failures: 3,
                    window_ms: 0,
                },
                ..base
            },
        ),
    ];
    for (field, config) in cases {
        refuse_config(config, ConfigError::Zero { field });
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(field), "{message:?} names {field}");
        let setup = setup_config(config).unwrap_err().to_string();
        assert!(setup.contains(field), "{setup:?} names {field}");
    }
}

#[test]
fn config_min_pause_above_the_interval_is_inconsistent() {
    let config = Config {
        checkpoint_interval_ms: 1_000,
        min_pause_ms: 1_001,
        ..config()
    };
    refuse_config(
        config,
        ConfigError::Inconsistent {
            field: "min_pause_ms",
            reason: "must not exceed checkpoint_interval_ms",
        },
    );
    let message = config.validate().unwrap_err().to_string();
    assert!(message.contains("min_pause_ms"), "{message}");
    assert!(message.contains("checkpoint_interval_ms"), "{message}");
    // Equal is fine.
    let equal = Config {
        min_pause_ms: 1_000,
        ..config
    };
    assert_eq!(equal.validate(), Ok(()));
}

#[test]
fn config_exponential_max_below_initial_is_inconsistent() {
    let config = Config {
        restart_strategy: RestartStrategy::ExponentialDelay {
            initial_delay_ms: 1_000,
            max_delay_ms: 999,
            jitter_percent: 0,
            max_restarts: 3,
        },
        ..config()
    };
    refuse_config(
        config,
        ConfigError::Inconsistent {
            field: "restart max_delay_ms",
            reason: "must be at least initial_delay_ms",
        },
    );
    let message = config.validate().unwrap_err().to_string();
    assert!(message.contains("max_delay_ms"), "{message}");
}

#[test]
fn config_jitter_above_100_percent_is_inconsistent() {
    let with_jitter = |jitter_percent| Config {
        restart_strategy: RestartStrategy::ExponentialDelay {
            initial_delay_ms: 100,
            max_delay_ms: 1_000,
            jitter_percent,
            max_restarts: 3,
        },
        ..config()
    };
    assert_eq!(with_jitter(100).validate(), Ok(()));
    for jitter in [101, u8::MAX] {
        refuse_config(
            with_jitter(jitter),
            ConfigError::Inconsistent {
                field: "restart jitter_percent",
                reason: "must be at most 100",
            },
        );
    }
    let message = with_jitter(101).validate().unwrap_err().to_string();
    assert!(message.contains("jitter_percent"), "{message}");
}

#[test]
fn config_too_many_force_retries_is_inconsistent() {
    let config = Config {
        force_retries: 17,
        ..config()
    };
    let err = config.validate().unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Inconsistent {
                field: "force_retries",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("force_retries"));
    assert_eq!(setup_config(config).err(), Some(SetupError::Config(err)));
}

#[test]
fn config_too_large_durations_are_refused_naming_the_field() {
    let base = config();
    let huge = MAX_DURATION_MS + 1;
    let cases: Vec<(&str, Config)> = vec![
        (
            "checkpoint_interval_ms",
            Config {
                checkpoint_interval_ms: u64::MAX,
                ..base
            },
        ),
        (
            "checkpoint_timeout_ms",
            Config {
                checkpoint_timeout_ms: huge,
                ..base
            },
        ),
        (
            "cleanup_timeout_ms",
            Config {
                cleanup_timeout_ms: huge,
                ..base
            },
        ),
        (
            "stop_timeout_ms",
            Config {
                stop_timeout_ms: huge,
                ..base
            },
        ),
        (
            "force_timeout_ms",
            Config {
                force_timeout_ms: huge,
                ..base
            },
        ),
        (
            "force_retry_backoff_ms",
            Config {
                force_retry_backoff_ms: huge,
                ..base
            },
        ),
        (
            "heartbeat_timeout_ms",
            Config {
                heartbeat_timeout_ms: huge,
                ..base
            },
        ),
        (
            "scheduling_timeout_ms",
            Config {
                scheduling_timeout_ms: huge,
                ..base
            },
        ),
        (
            "healthy_duration_ms",
            Config {
                healthy_duration_ms: huge,
                ..base
            },
        ),
        (
            "min_pause_ms",
            Config {
                min_pause_ms: huge,
                ..base
            },
        ),
        (
            "ttl_ms",
            Config {
                ttl_ms: Some(huge),
                ..base
            },
        ),
        (
            "restart delay_ms",
            Config {
                restart_strategy: RestartStrategy::FixedDelay {
                    delay_ms: huge,
                    max_restarts: 1,
                },
                ..base
            },
        ),
        (
            "restart max_delay_ms",
            Config {
                restart_strategy: RestartStrategy::ExponentialDelay {
                    initial_delay_ms: 1,
                    max_delay_ms: huge,
                    jitter_percent: 0,
                    max_restarts: 1,
                },
                ..base
            },
        ),
        (
            "restart delay_ms",
            Config {
                restart_strategy: RestartStrategy::FailureRate {
                    delay_ms: huge,
                    max_failures: 1,
                    window_ms: 1,
                },
                ..base
            },
        ),
        (
            "restart window_ms",
            Config {
                restart_strategy: RestartStrategy::FailureRate {
                    delay_ms: 1,
                    max_failures: 1,
                    window_ms: huge,
                },
                ..base
            },
        ),
    ];
    for (field, config) in cases {
        refuse_config(
            config,
            ConfigError::TooLarge {
                field,
                max_ms: MAX_DURATION_MS,
            },
        );
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(field), "{message:?} names {field}");
        assert!(message.contains(&MAX_DURATION_MS.to_string()), "{message}");
    }
}

#[test]
fn config_error_messages_name_the_field() {
    let errors = [
        ConfigError::Zero {
            field: "stop_timeout_ms",
        },
        ConfigError::Inconsistent {
            field: "min_pause_ms",
            reason: "must not exceed checkpoint_interval_ms",
        },
        ConfigError::TooLarge {
            field: "ttl_ms",
            max_ms: 5,
        },
    ];
    for e in errors {
        let field = match &e {
            ConfigError::Zero { field }
            | ConfigError::Inconsistent { field, .. }
            | ConfigError::TooLarge { field, .. } => *field,
            other => panic!("unknown error {other:?}"),
        };
        let message = e.to_string();
        assert!(!message.is_empty());
        assert!(message.contains(field), "{message:?} names {field}");
        let setup = SetupError::Config(e).to_string();
        assert!(setup.contains(field), "{setup:?} names {field}");
        assert!(setup.starts_with("invalid config"), "{setup:?}");
    }
}

// ------------------------------------------------------------------------ job validation

fn op(name: &str, kind: OperatorKind, parallelism: u32) -> Operator {
    Operator {
        name: name.into(),
        kind,
        parallelism,
    }
}

fn source(name: &str) -> Operator {
    op(name, OperatorKind::Source, 1)
}

fn transform(name: &str) -> Operator {
    op(name, OperatorKind::Transform, 1)
}

fn sink(name: &str) -> Operator {
    op(
        name,
        OperatorKind::Sink {
            two_phase_commit: true,
        },
        1,
    )
}

fn edge(from: u32, to: u32) -> Edge {
    Edge {
        from: OperatorId(from),
        to: OperatorId(to),
    }
}

fn job_of(operators: Vec<Operator>, edges: Vec<Edge>, workers: u32) -> Job {
    Job {
        name: "invalid".into(),
        operators,
        edges,
        workers,
    }
}

#[track_caller]
fn refuse_job(job: Job, expected: JobError) {
    assert_eq!(job.validate(), Err(expected.clone()));
    let message = expected.to_string();
    assert!(!message.is_empty());
    let setup = Controller::new(ControllerSetup::new(job, config(), Time(0))).err();
    assert_eq!(setup.clone(), Some(SetupError::Job(expected)));
    let setup = setup.unwrap().to_string();
    assert!(setup.starts_with("invalid job: "), "{setup:?}");
    assert!(setup.ends_with(&message), "{setup:?}");
}

#[test]
fn valid_jobs_are_accepted() {
    assert_eq!(job().validate(), Ok(()));
    assert_eq!(job_with(1, false).validate(), Ok(()));
    // Two sources with a fan-in, then a fan-out to two sinks.
    let fan = job_of(
        vec![
            source("a"),
            source("b"),
            transform("t"),
            transform("u"),
            sink("s"),
            sink("v"),
        ],
        vec![edge(0, 2), edge(1, 2), edge(2, 3), edge(2, 4), edge(3, 5)],
        5,
    );
    assert_eq!(fan.validate(), Ok(()));
    assert!(Controller::new(ControllerSetup::new(fan, config(), Time(0))).is_ok());
}

#[test]
fn job_with_no_operators() {
    refuse_job(job_of(vec![], vec![], 1), JobError::NoOperators);
}

#[test]
fn job_with_no_workers() {
    let mut j = job();
    j.workers = 0;
    refuse_job(j, JobError::NoWorkers);
}

#[test]
fn job_with_zero_parallelism() {
    let mut j = job();
    j.operators[1].parallelism = 0;
    refuse_job(
        j,
        JobError::ZeroParallelism {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_too_many_tasks() {
    let mut j = job();
    j.operators[1].parallelism = u32::MAX;
    refuse_job(
        j,
        JobError::TooManyTasks {
            tasks: 4 + u64::from(u32::MAX),
        },
    );
    let mut j = job();
    j.operators[0].parallelism = (Job::MAX_TASKS - 4 + 1) as u32;
    refuse_job(
        j,
        JobError::TooManyTasks {
            tasks: Job::MAX_TASKS + 1,
        },
    );
}

#[test]
fn job_with_more_workers_than_tasks() {
    let mut j = job();
    j.workers = 7;
    refuse_job(
        j,
        JobError::MoreWorkersThanTasks {
            workers: 7,
            tasks: 6,
        },
    );
    let mut j = job();
    j.workers = 6;
    assert_eq!(j.validate(), Ok(()), "one task per worker is fine");
}

#[test]
fn job_with_an_edge_to_an_unknown_operator() {
    for bad in [edge(1, 3), edge(7, 2)] {
        let j = job_of(
            vec![source("s"), transform("t"), sink("k")],
            vec![edge(0, 1), edge(1, 2), bad],
            1,
        );
        refuse_job(j, JobError::UnknownOperator { edge: bad });
    }
}

#[test]
fn job_with_a_self_loop() {
    let j = job_of(
        vec![source("s"), transform("t"), sink("k")],
        vec![edge(0, 1), edge(1, 1), edge(1, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::SelfLoop {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_a_duplicate_edge() {
    let j = job_of(
        vec![source("s"), transform("t"), sink("k")],
        vec![edge(0, 1), edge(1, 2), edge(0, 1)],
        1,
    );
    refuse_job(j, JobError::DuplicateEdge { edge: edge(0, 1) });
}

#[test]
fn job_with_a_cycle() {
    // s -> a -> b -> a, b -> k: every kind rule holds, but a and b form a cycle.
    let j = job_of(
        vec![source("s"), transform("a"), transform("b"), sink("k")],
        vec![edge(0, 1), edge(1, 2), edge(2, 1), edge(2, 3)],
        2,
    );
    assert_eq!(j.topological_order(), None);
    refuse_job(j, JobError::Cycle);
}

#[test]
fn job_with_a_source_with_an_input() {
    let j = job_of(
        vec![source("s"), source("s2"), sink("k")],
        vec![edge(0, 1), edge(1, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::SourceWithInput {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_a_source_without_output() {
    let j = job_of(
        vec![source("s"), source("lonely"), sink("k")],
        vec![edge(0, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::SourceWithoutOutput {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_a_sink_with_an_output() {
    let j = job_of(
        vec![source("s"), sink("k"), sink("k2")],
        vec![edge(0, 1), edge(1, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::SinkWithOutput {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_a_transform_without_input() {
    let j = job_of(
        vec![source("s"), transform("t"), sink("k")],
        vec![edge(0, 2), edge(1, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::TransformWithoutInput {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_a_transform_without_output() {
    let j = job_of(
        vec![source("s"), transform("t"), sink("k")],
        vec![edge(0, 1), edge(0, 2)],
        1,
    );
    refuse_job(
        j,
        JobError::TransformWithoutOutput {
            operator: OperatorId(1),
        },
    );
}

#[test]
fn job_with_no_source() {
    // A lone sink is refused first for having nothing to feed it.
    refuse_job(
        job_of(vec![sink("k")], vec![], 1),
        JobError::SinkWithoutInput {
            operator: OperatorId(0),
        },
    );
    // Transforms feeding each other in a loop, into a sink: no source anywhere.
    let j = job_of(
        vec![transform("a"), transform("b"), sink("k")],
        vec![edge(0, 1), edge(1, 0), edge(1, 2)],
        1,
    );
    refuse_job(j, JobError::NoSource);
}

#[test]
fn job_with_no_sink() {
    // Without a cycle every path from a source ends in a sink; with one it need not.
    let j = job_of(
        vec![source("s"), transform("a"), transform("b")],
        vec![edge(0, 1), edge(1, 2), edge(2, 1)],
        1,
    );
    refuse_job(j, JobError::NoSink);
}

#[test]
fn job_error_messages_name_the_operator_or_edge() {
    let cases = [
        (
            JobError::ZeroParallelism {
                operator: OperatorId(4),
            },
            "op4",
        ),
        (JobError::UnknownOperator { edge: edge(1, 9) }, "op9"),
        (
            JobError::SelfLoop {
                operator: OperatorId(2),
            },
            "op2",
        ),
        (JobError::DuplicateEdge { edge: edge(3, 5) }, "op3->op5"),
        (
            JobError::SourceWithInput {
                operator: OperatorId(6),
            },
            "op6",
        ),
        (
            JobError::SinkWithOutput {
                operator: OperatorId(7),
            },
            "op7",
        ),
        (
            JobError::TransformWithoutInput {
                operator: OperatorId(8),
            },
            "op8",
        ),
        (
            JobError::TransformWithoutOutput {
                operator: OperatorId(10),
            },
            "op10",
        ),
        (
            JobError::SourceWithoutOutput {
                operator: OperatorId(11),
            },
            "op11",
        ),
        (
            JobError::MoreWorkersThanTasks {
                workers: 13,
                tasks: 12,
            },
            "13 workers for 12 tasks",
        ),
        (JobError::TooManyTasks { tasks: 99_999_999 }, "99999999"),
        (JobError::NoOperators, "operators"),
        (JobError::NoWorkers, "worker"),
        (JobError::Cycle, "cycle"),
        (JobError::NoSource, "source"),
        (JobError::NoSink, "sink"),
    ];
    for (error, needle) in cases {
        let message = error.to_string();
        assert!(!message.is_empty());
        assert!(message.contains(needle), "{message:?} mentions {needle}");
        let setup = SetupError::Job(error).to_string();
        assert!(setup.contains(needle), "{setup:?} mentions {needle}");
    }
}

#[test]
fn job_errors_are_reported_before_config_errors() {
    let bad_config = Config {
        stop_timeout_ms: 0,
        ..config()
    };
    let err = Controller::new(ControllerSetup::new(
        job_of(vec![], vec![], 1),
        bad_config,
        Time(0),
    ))
    .err();
    assert_eq!(err, Some(SetupError::Job(JobError::NoOperators)));
}

#[test]

fn job_with_a_sink_without_input_is_refused() {
    // Barriers are injected at the sources and flow along the edges, so a sink that nothing
    // feeds never acks: no checkpoint of the job can ever complete. A transform without input
    // is refused for the same reason.
    let j = job_of(
        vec![source("s"), sink("k"), sink("orphan")],
        vec![edge(0, 1)],
        1,
    );
    let orphan = JobError::SinkWithoutInput {
        operator: OperatorId(2),
    };
    assert_eq!(j.validate(), Err(orphan.clone()));
    assert_eq!(
        Controller::new(ControllerSetup::new(j, config(), Time(0))).err(),
        Some(SetupError::Job(orphan))
    );
}
