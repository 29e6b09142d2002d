//! Message order and timing: inputs that arrive after deadlines the driver has not yet
//! reported.

mod support;

use quiesce_core::{
    AbortReason, Command, Config, Epoch, Event, Generation, Input, Output, Reason, Rejected, State,
    StopMode, ToWorker, WorkerEvent, WorkerId,
};
use support::*;

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);

fn send(worker: u32, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: ToWorker {
            generation: Generation(1),
            command,
        },
    }
}

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
