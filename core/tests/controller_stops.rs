//! What a stop remembers, and what bounds the end of a job: the stop level beside the stop
//! asked for, and the one timer that bounds Finishing.

mod support;

use quiesce_core::controller::Timer;
use quiesce_core::{Config, Epoch, Input, Reason, State, StopMode, WorkerEvent};
use support::*;

const E1: Epoch = Epoch(1);

/// The stop asked for and the level it took.
fn stop_of(h: &Harness) -> (Option<StopMode>, Option<StopMode>) {
    let s = h.c.status();
    (s.stop_requested, s.stop)
}

fn fail_a_task(h: &mut Harness) {
    h.worker(
        1,
        WorkerEvent::TaskFailed {
            task: task(MAP, 1),
            reason: "crash".into(),
        },
    )
    .unwrap();
}

#[test]
fn a_stop_is_remembered_as_asked_beside_the_level_it_took() {
    use StopMode::{Checkpoint, Force, Graceful, Immediate};
    assert_eq!(stop_of(&Harness::running()), (None, None));

    // During scheduling the half-started run is killed, whatever was asked.
    let mut h = Harness::new();
    h.stop(Graceful).unwrap();
    assert_eq!(stop_of(&h), (Some(Graceful), Some(Force)));

    // Likewise while recovering.
    h = Harness::running();
    fail_a_task(&mut h);
    h.stop(Checkpoint).unwrap();
    assert_eq!(stop_of(&h), (Some(Checkpoint), Some(Force)));

    // A checkpoint stop that a failed task escalated.
    h = Harness::running();
    h.stop(Checkpoint).unwrap();
    fail_a_task(&mut h);
    assert_eq!(stop_of(&h), (Some(Checkpoint), Some(Immediate)));

    // A request that raises the level is remembered; one below the level is refused.
    h.stop(Force).unwrap();
    assert_eq!(stop_of(&h), (Some(Force), Some(Force)));

    // The time to live asks for an immediate stop.
    let mut h = Harness::with(
        job(),
        Config {
            ttl_ms: Some(2_000),
            ..config()
        },
    );
    h.ready_all();
    h.at(2_000);
    assert_eq!(stop_of(&h), (Some(Immediate), Some(Immediate)));
}

#[test]
fn finishing_is_bounded_by_the_final_checkpoint_timer_alone() {
    let mut h = Harness::running();
    h.at(300);
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    assert_eq!(h.state(), State::Finishing);
    let deadline = 300 + config().checkpoint_timeout_ms;
    let armed: Vec<_> = h.c.timers().map(|(timer, _)| timer).collect();
    assert!(armed.contains(&Timer::FinalCheckpoint), "{armed:?}");
    assert!(!armed.contains(&Timer::Stop), "{armed:?}");
    // The final checkpoint completes and commits; one sink never finishes.
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    h.finish(task(SINK, 0)).unwrap();
    assert!(
        !h.c.timers().any(|(timer, _)| timer == Timer::Stop),
        "no stop timeout bounds the drain: the final checkpoint's timer does"
    );
    h.take();
    h.at(deadline - 1);
    assert_eq!(h.state(), State::Finishing);
    h.at(deadline);
    assert_eq!(
        transitions(&h.take()),
        vec![(
            Some(State::Finishing),
            State::Recovering,
            Reason::FinalCheckpointTimedOut
        )]
    );
}
