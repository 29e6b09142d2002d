//! End to end: processes killed under a running job — a worker (the job recovers in a new
//! generation) and the controller (its workers die with it, and the job resumes).

mod support;

use rustix::process::Signal;
use std::time::Duration;
use support::{is, serial, transition_to, Fixture, SLACK};

/// How long until a checkpoint commits once the job runs.
fn checkpoint_bound(f: &Fixture) -> Duration {
    Duration::from_millis(f.config.checkpoint_interval_ms + f.config.checkpoint_timeout_ms) + SLACK
}

#[test]
fn a_killed_worker_is_replaced_by_a_new_generation_and_the_job_stops_cleanly() {
    let _serial = serial();
    let mut f = Fixture::new();
    let mut run = f.run(&[]);
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    run.wait_event(
        "a committed checkpoint",
        |e| is(e, "CheckpointCommitted"),
        checkpoint_bound(&f),
    );
    let victim = run.worker_pid(1, 1);
    support::signal(victim, Signal::KILL);
    // The exit is seen at once; its connection's close at the latest a second later, and the
    // heartbeat timeout bounds it anyway.
    let lost = Duration::from_millis(f.config.heartbeat_timeout_ms) + SLACK;
    let recovering = run.wait_event("Recovering", transition_to("Recovering"), lost);
    assert_eq!(recovering["from"], "Running", "{recovering}");
    let restart = Duration::from_millis(f.config.restart_strategy.max_delay_ms())
        + Duration::from_millis(f.config.force_bound_ms())
        + f.start_bound();
    for w in 0..2 {
        run.wait_event(
            "a worker of generation 2 connected",
            |e| is(e, "WorkerConnected") && e["generation"] == 2 && e["worker"] == w,
            restart,
        );
    }
    run.wait_event("Running again", transition_to("Running"), f.start_bound());
    // Every process of generation 1 is gone by the time generation 2 runs.
    let old: Vec<_> = run
        .workers()
        .into_iter()
        .filter(|w| w.generation == 1 && run.worker_alive(w))
        .collect();
    assert!(
        old.is_empty(),
        "workers of generation 1 alive: {old:?}\n{}",
        run.summary()
    );
    run.wait_event(
        "a checkpoint of generation 2 committed",
        |e| is(e, "CheckpointCommitted"),
        checkpoint_bound(&f),
    );
    let stop = f.stop("checkpoint");
    assert_eq!(stop.status.code(), Some(0), "quiesce stop: {stop:?}");
    let status = run.wait_exit(f.stop_bound());
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    run.assert_stopped_at_final_checkpoint();
    drop(run);
    f.assert_verified();
}

#[test]
fn workers_die_with_a_killed_controller_and_the_job_resumes_from_its_directory() {
    let _serial = serial();
    let mut f = Fixture::new();
    let mut run = f.run(&[]);
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    run.wait_event(
        "a committed checkpoint",
        |e| is(e, "CheckpointCommitted"),
        checkpoint_bound(&f),
    );
    let workers = run.workers();
    assert_eq!(workers.len(), 2, "{workers:?}");
    run.signal(Signal::KILL);
    let status = run.wait_exit(SLACK);
    assert!(!status.success(), "{status:?}");
    // No shutdown ran: the workers go by their parent-death signal.
    let left = run.workers_left_after(Duration::from_secs(2));
    assert!(
        left.is_empty(),
        "workers alive 2 s after their controller was killed: {left:?}\n{}",
        run.summary()
    );
    drop(run);
    f.restore_and_checkpoint_stop("1s");
    f.assert_verified();
}
