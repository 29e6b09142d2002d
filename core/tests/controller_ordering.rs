//! Message order and timing: a task's finish that overtakes its ack or commit, and inputs
//! that arrive after deadlines the driver has not yet reported.

mod support;

use quiesce_core::{
    AbortReason, Command, Config, Epoch, Event, Generation, Input, Output, Reason, Rejected, State,
    StopJobMode, StopMode, Stopping, TaskId, ToWorker, WorkerEvent, WorkerId,
};
use support::*;

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);
const STOP_JOB_IMMEDIATE: State = State::Stopping(Stopping::StopJob(StopJobMode::Immediate));

fn send(worker: u32, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: ToWorker {
            generation: Generation(1),
            command,
        },
    }
}

/// Every task but the sinks, in job order.
fn non_sinks(h: &Harness) -> Vec<TaskId> {
    h.tasks()
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.operator != SINK)
        .collect()
}

fn sink_tasks(h: &Harness) -> Vec<TaskId> {
    h.sinks().into_iter().map(|(_, t)| t).collect()
}

fn commit(h: &mut Harness, t: TaskId, epoch: Epoch) -> Result<(), Rejected> {
    let w = h.c.job().worker_of(t).unwrap().0;
    h.worker(w, WorkerEvent::Committed { task: t, epoch })
}

/// Running with the final checkpoint E1 of a checkpoint stop just started (time 500).
fn checkpoint_stopping() -> Harness {
    let mut h = Harness::running();
    h.at(500);
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    assert_eq!(h.c.status().final_checkpoint, Some(E1));
    h
}

#[test]
fn finishes_that_overtake_their_acks_are_counted_and_the_checkpoint_stop_completes() {
    let mut h = checkpoint_stopping();
    for t in non_sinks(&h) {
        h.finish(t).unwrap();
        assert!(
            transitions(&h.take()).is_empty(),
            "a finish ahead of its ack does not escalate"
        );
        h.ack(t, E1).unwrap();
    }
    assert_eq!(
        h.ack(task(SRC, 0), E1),
        Err(Rejected::DuplicateAck {
            task: task(SRC, 0),
            epoch: E1
        }),
        "the overtaken ack is taken once"
    );
    for t in sink_tasks(&h) {
        h.ack(t, E1).unwrap();
    }
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    let sinks = sink_tasks(&h);
    h.finish(sinks[0]).unwrap();
    h.take();
    h.finish(sinks[1]).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::Transition {
                from: Some(State::CheckpointStopping),
                to: State::Stopped,
                reason: Reason::FinalCheckpointCommitted { epoch: E1 }
            }),
            Output::ReleaseWorkers {
                generation: Generation(1)
            },
        ]
    );
    assert_eq!(h.c.status().stop, Some(StopMode::Checkpoint));
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn a_sink_finish_that_overtakes_its_commit_ends_the_stop_with_that_commit() {
    let mut h = checkpoint_stopping();
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    let sinks = sink_tasks(&h);
    commit(&mut h, sinks[0], E1).unwrap();
    h.finish(sinks[0]).unwrap();
    h.take();
    // The last sink's finish comes before its commit.
    h.finish(sinks[1]).unwrap();
    assert_eq!(h.take(), vec![], "nothing to do but wait for the commit");
    assert_eq!(h.state(), State::CheckpointStopping);
    commit(&mut h, sinks[1], E1).unwrap();
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::CheckpointStopping),
            State::Stopped,
            Reason::FinalCheckpointCommitted { epoch: E1 }
        )]
    );
    let restore = h.c.restore_point().unwrap();
    assert_eq!((restore.epoch, restore.committed), (E1, true));
}

#[test]
fn an_early_finish_is_counted_so_the_stop_it_escalates_to_ends_with_the_last_task() {
    let mut h = Harness::running();
    h.at(1_000);
    // A periodic checkpoint is in flight: the final one waits for it.
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    let early = task(MAP, 0);
    h.finish(early).unwrap();
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::CheckpointStopping),
            STOP_JOB_IMMEDIATE,
            Reason::TaskFinishedEarly { task: early }
        )]
    );
    let mut others: Vec<_> = h.tasks().into_iter().filter(|&(_, t)| t != early).collect();
    let (_, last) = others.pop().unwrap();
    for (_, t) in others {
        h.finish(t).unwrap();
    }
    assert_eq!(h.state(), STOP_JOB_IMMEDIATE);
    h.take();
    h.finish(last).unwrap();
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::Transition {
                from: Some(STOP_JOB_IMMEDIATE),
                to: State::Stopped,
                reason: Reason::AllTasksFinished
            }),
            Output::ReleaseWorkers {
                generation: Generation(1)
            },
        ],
        "the stop ends with its last task, not at its timeout"
    );
}

#[test]
fn finishes_that_overtake_their_acks_at_the_end_of_input_still_finish_the_job() {
    let mut h = Harness::running();
    h.at(300);
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    assert_eq!(h.state(), State::Finishing);
    for t in non_sinks(&h) {
        h.finish(t).unwrap();
        h.ack(t, E1).unwrap();
    }
    for t in sink_tasks(&h) {
        h.ack(t, E1).unwrap();
    }
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    for t in sink_tasks(&h) {
        h.finish(t).unwrap();
    }
    assert_eq!(h.state(), State::Finished);
    assert_eq!(h.c.status().restarts, 0, "no recovery on the way");
}

#[test]
fn without_two_phase_commit_every_finish_may_overtake_its_ack() {
    let mut h = Harness::with(job_with(2, false), config());
    h.ready_all();
    h.at(500);
    h.stop(StopMode::Checkpoint).unwrap();
    let all: Vec<_> = h.tasks().into_iter().map(|(_, t)| t).collect();
    for &t in &all {
        h.finish(t).unwrap();
    }
    assert_eq!(
        h.state(),
        State::CheckpointStopping,
        "every task ended; the acks they sent first are still on their way"
    );
    for &t in &all {
        h.ack(t, E1).unwrap();
    }
    h.take();
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    assert_eq!(h.state(), State::Stopped);
}

// ---------------------------------------------------------------- late inputs

#[test]
fn a_late_last_ack_does_not_complete_a_checkpoint_past_its_timeout() {
    let mut h = Harness::running();
    h.at(1_000);
    let silent = task(SINK, 1);
    for (_, t) in h.tasks() {
        if t != silent {
            h.ack(t, E1).unwrap();
        }
    }
    h.take();
    // The checkpoint times out at 6,000; the driver reports nothing until the ack at 7,000.
    h.late(7_000);
    assert_eq!(
        h.ack(silent, E1),
        Err(Rejected::WrongEpoch {
            got: E1,
            expected: Some(E2)
        })
    );
    assert_eq!(
        h.take(),
        vec![
            Output::Event(Event::CheckpointAborted {
                epoch: E1,
                reason: AbortReason::TimedOut
            }),
            send(0, Command::Abort { epoch: E1 }),
            send(1, Command::Abort { epoch: E1 }),
            Output::Event(Event::CheckpointStarted {
                epoch: E2,
                then_stop: false
            }),
            send(
                0,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: false
                }
            ),
            send(
                1,
                Command::Checkpoint {
                    epoch: E2,
                    then_stop: false
                }
            ),
        ],
        "the timeout fired as of 6,000, and the next checkpoint one min pause later"
    );
    assert_eq!(h.c.status().last_completed, None);
}

#[test]
fn a_heartbeat_after_the_deadline_does_not_revive_a_lost_worker() {
    let cfg = Config {
        checkpoint_interval_ms: 100_000,
        ..config()
    };
    let mut h = Harness::with(job(), cfg);
    h.ready_all();
    h.take();
    h.late(cfg.heartbeat_timeout_ms + 1_000);
    assert_eq!(
        h.worker(0, WorkerEvent::Heartbeat),
        Err(Rejected::Unexpected {
            input: quiesce_core::InputKind::Heartbeat,
            state: State::Recovering
        })
    );
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::Running),
            State::Recovering,
            Reason::WorkerLost {
                worker: WorkerId(0)
            }
        )]
    );
}

#[test]
fn a_late_input_is_taken_as_if_the_timers_had_been_reported_first() {
    let mut late = Harness::running();
    let mut prompt = Harness::running();
    late.at(1_000);
    prompt.at(1_000);
    late.late(9_500);
    prompt.at(9_500);
    let stop = Input::Stop(StopMode::Checkpoint);
    assert_eq!(late.input(stop.clone()), prompt.input(stop));
    assert_eq!(late.take(), prompt.take());
    assert_eq!(late.c, prompt.c);
}
