//! Checkpoints on demand (`Input::TriggerCheckpoint`), each scenario asserting the exact
//! outputs: at once while Running, right after the checkpoint or cleanup in flight, one
//! waiting request at most, answered by events that name the request, refused elsewhere.

mod support;

use quiesce_core::{
    AbortReason, Command, Config, Epoch, Event, Generation, Input, InputKind, Output, Reason,
    Rejected, RequestId, State, StopJobMode, StopMode, Stopping, ToWorker, WorkerEvent, WorkerId,
};
use support::*;

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);
const R1: RequestId = RequestId(1);
const R2: RequestId = RequestId(2);

fn trigger(h: &mut Harness, request: RequestId) -> Result<(), Rejected> {
    h.input(Input::TriggerCheckpoint { request })
}

fn send(worker: u32, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: ToWorker {
            generation: Generation(1),
            command,
        },
    }
}

fn event(event: Event) -> Output {
    Output::Event(event)
}

/// The outputs of a periodic or requested checkpoint `epoch` starting.
fn started(epoch: Epoch, request: Option<RequestId>) -> Vec<Output> {
    let mut out = vec![event(Event::CheckpointStarted {
        epoch,
        then_stop: false,
    })];
    if let Some(request) = request {
        out.push(event(Event::CheckpointRequestStarted { request, epoch }));
    }
    let command = Command::Checkpoint {
        epoch,
        then_stop: false,
    };
    out.extend([send(0, command.clone()), send(1, command)]);
    out
}

/// Every task acks `epoch`, its metadata is stored, and the first sink commits.
fn all_but_the_last_commit(h: &mut Harness, epoch: Epoch) {
    h.ack_all(epoch);
    h.input(Input::MetadataPersisted { epoch }).unwrap();
    h.worker(
        0,
        WorkerEvent::Committed {
            task: task(SINK, 0),
            epoch,
        },
    )
    .unwrap();
    h.take();
}

fn last_commit(h: &mut Harness, epoch: Epoch) {
    h.worker(
        1,
        WorkerEvent::Committed {
            task: task(SINK, 1),
            epoch,
        },
    )
    .unwrap();
}

#[test]
fn a_checkpoint_asked_for_while_running_starts_at_once_and_the_schedule_counts_from_it() {
    let config = Config {
        min_pause_ms: 100,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.at(300);
    h.take();
    trigger(&mut h, R1).unwrap();
    assert_eq!(h.take(), started(E1, Some(R1)));
    assert_eq!(h.c.status().in_flight.and_then(|f| f.request), Some(R1));
    h.ack_all(E1);
    h.take();
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    assert_eq!(
        h.take(),
        vec![
            event(Event::CheckpointCompleted { epoch: E1 }),
            event(Event::CheckpointRequestCompleted {
                request: R1,
                epoch: E1
            }),
            event(Event::CommitStarted {
                epoch: E1,
                tasks: 2
            }),
            send(0, Command::Commit { epoch: E1 }),
            send(1, Command::Commit { epoch: E1 }),
        ]
    );
    h.commit_all(E1);
    assert_eq!(
        h.take(),
        vec![event(Event::CheckpointCommitted { epoch: E1 })]
    );
    // The next periodic checkpoint comes one interval after the requested one started, not
    // one interval after the job started running.
    h.at(1_299);
    assert_eq!(h.take(), vec![]);
    h.at(1_300);
    assert_eq!(h.take(), started(E2, None));
}

#[test]
fn a_checkpoint_asked_for_while_one_is_in_flight_runs_right_after_it() {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    h.at(1_100);
    trigger(&mut h, R1).unwrap();
    assert_eq!(
        h.take(),
        vec![event(Event::CheckpointRequestQueued { request: R1 })]
    );
    assert_eq!(h.c.status().queued_request, Some(R1));
    assert_eq!(
        trigger(&mut h, R2),
        Err(Rejected::CheckpointRequestPending { pending: R1 }),
        "one request waits at a time"
    );
    assert_eq!(
        trigger(&mut h, R1),
        Err(Rejected::DuplicateCheckpointRequest { request: R1 })
    );
    all_but_the_last_commit(&mut h, E1);
    last_commit(&mut h, E1);
    // No min pause holds it back.
    let mut expected = vec![event(Event::CheckpointCommitted { epoch: E1 })];
    expected.extend(started(E2, Some(R1)));
    assert_eq!(h.take(), expected);
    assert_eq!(h.c.status().queued_request, None);
    assert_eq!(
        trigger(&mut h, R1),
        Err(Rejected::DuplicateCheckpointRequest { request: R1 }),
        "its checkpoint is in flight"
    );
    trigger(&mut h, R2).unwrap();
    assert_eq!(
        h.take(),
        vec![event(Event::CheckpointRequestQueued { request: R2 })]
    );
}

#[test]
fn a_checkpoint_asked_for_waits_for_the_cleanup_in_flight() {
    let mut h = Harness::running();
    for (at, epoch) in [(1_000, E1), (2_000, E2), (3_000, Epoch(3))] {
        h.at(at);
        h.complete_checkpoint(epoch);
    }
    h.take();
    assert!(h.c.status().in_flight.is_none());
    trigger(&mut h, R1).unwrap();
    assert_eq!(
        h.take(),
        vec![event(Event::CheckpointRequestQueued { request: R1 })],
        "the cleanup of epoch 1 runs"
    );
    h.input(Input::CleanupDone { before: E2 }).unwrap();
    assert_eq!(h.take(), started(Epoch(4), Some(R1)));
}

#[test]
fn a_requested_checkpoint_that_fails_is_reported_aborted_with_its_request() {
    let mut h = Harness::running();
    h.at(300);
    trigger(&mut h, R1).unwrap();
    h.take();
    let failed = AbortReason::TaskFailed {
        task: task(SRC, 0),
        reason: "disk".into(),
    };
    h.worker(
        0,
        WorkerEvent::CheckpointFailed {
            task: task(SRC, 0),
            epoch: E1,
            reason: "disk".into(),
        },
    )
    .unwrap();
    assert_eq!(
        h.take(),
        vec![
            event(Event::CheckpointAborted {
                epoch: E1,
                reason: failed.clone()
            }),
            event(Event::CheckpointRequestAborted {
                request: R1,
                epoch: Some(E1),
                reason: failed
            }),
            send(0, Command::Abort { epoch: E1 }),
            send(1, Command::Abort { epoch: E1 }),
        ]
    );
    // The same name may ask again once its checkpoint is over.
    trigger(&mut h, R1).unwrap();
    assert_eq!(h.take(), started(E2, Some(R1)));
}

#[test]
fn a_waiting_request_is_dropped_when_the_job_leaves_running() {
    let mut h = Harness::running();
    h.at(1_000);
    trigger(&mut h, R1).unwrap();
    h.take();
    h.stop(StopMode::Graceful).unwrap();
    let graceful = Command::Stop {
        mode: StopJobMode::Graceful,
    };
    assert_eq!(
        h.take(),
        vec![
            event(Event::StopRequested {
                mode: StopMode::Graceful
            }),
            event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::Superseded
            }),
            send(0, Command::Abort { epoch: E1 }),
            send(1, Command::Abort { epoch: E1 }),
            event(Event::CheckpointRequestAborted {
                request: R1,
                epoch: None,
                reason: AbortReason::Superseded
            }),
            event(Event::Transition {
                from: Some(State::Running),
                to: State::Stopping(Stopping::StopJob(StopJobMode::Graceful)),
                reason: Reason::StopRequested(StopMode::Graceful)
            }),
            send(0, graceful.clone()),
            send(1, graceful),
        ]
    );
    assert_eq!(h.c.status().queued_request, None);
}

#[test]
fn a_checkpoint_request_is_refused_in_every_state_but_running() {
    let refused = |h: &mut Harness| {
        let state = h.state();
        assert_eq!(
            trigger(h, R1),
            Err(Rejected::Unexpected {
                input: InputKind::TriggerCheckpoint,
                state
            }),
            "in {state}"
        );
    };
    let mut h = Harness::new();
    refused(&mut h);
    h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    refused(&mut h);
    h.stop(StopMode::Immediate).unwrap();
    refused(&mut h);
    h.stop(StopMode::Force).unwrap();
    refused(&mut h);
    h.confirm_stopped().unwrap();
    assert_eq!(
        trigger(&mut h, R1),
        Err(Rejected::Terminal {
            state: State::Stopped
        })
    );
    h = Harness::running();
    h.worker(
        0,
        WorkerEvent::TaskFailed {
            task: task(SRC, 0),
            reason: "crash".into(),
        },
    )
    .unwrap();
    refused(&mut h);
    h = Harness::running();
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    assert_eq!(h.state(), State::Finishing);
    refused(&mut h);
}
