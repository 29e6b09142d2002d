//! What a stop remembers: the stop level beside the stop asked for.

mod support;

use quiesce_core::{Config, StopMode, WorkerEvent};
use support::*;

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
