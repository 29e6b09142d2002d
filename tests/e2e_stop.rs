//! End to end: the four ways to stop a job, each followed by what may come after it (a
//! restore, or its refusal), and the committed output checked by `quiesce verify`.

mod support;

use rustix::process::Signal;
use std::time::Duration;
use support::{is, serial, t_ms, transition_to, Fixture};

const STOP_AFTER: &str = "1s";

fn stop_after() -> Duration {
    humantime::parse_duration(STOP_AFTER).unwrap()
}

/// Epochs of the checkpoints a run started.
fn epochs_started(events: &[serde_json::Value]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| is(e, "CheckpointStarted"))
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect()
}

/// Generations a run started workers of.
fn generations(events: &[serde_json::Value]) -> Vec<u64> {
    let mut g: Vec<u64> = events
        .iter()
        .filter(|e| is(e, "WorkerStarted"))
        .map(|e| e["generation"].as_u64().unwrap())
        .collect();
    g.dedup();
    g
}

/// A run on a fresh directory that ends with a `--stop-after` stop of `mode`, exit 0; its
/// events. A checkpoint must have been committed before the stop, so that it can be restored.
fn run_and_stop(f: &mut Fixture, mode: &str) -> Vec<serde_json::Value> {
    let mut run = f.run(&["--stop-after", STOP_AFTER, "--stop-mode", mode]);
    let status = run.wait_exit(f.run_bound(stop_after()));
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    let events = run.events().to_vec();
    let stop = events
        .iter()
        .position(|e| is(e, "StopRequested"))
        .unwrap_or_else(|| panic!("no StopRequested\n{}", run.summary()));
    assert!(
        events[..stop].iter().any(|e| is(e, "CheckpointCommitted")),
        "no checkpoint committed before the stop: nothing to restore\n{}",
        run.summary()
    );
    assert_eq!(run.last_transition()["to"], "Stopped", "{}", run.summary());
    events
}

#[test]
fn a_checkpoint_stop_resumes_with_restore_and_a_used_directory_needs_restore() {
    let _serial = serial();
    let mut f = Fixture::new();
    let mut run = f.run(&["--stop-after", STOP_AFTER]);
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    let stop = run.wait_event(
        "the stop",
        |e| is(e, "StopRequested"),
        stop_after() + support::SLACK,
    );
    assert_eq!(stop["mode"], "Checkpoint");
    let status = run.wait_exit(f.stop_bound());
    assert!(status.success(), "the first run exited {status:?}");
    run.assert_stopped_at_final_checkpoint();
    let first = run.events().to_vec();
    drop(run);

    let second = f.restore_and_checkpoint_stop(STOP_AFTER);
    // The resumed run goes on numbering: no epoch or generation is used twice.
    let last_epoch = *epochs_started(&first).last().unwrap();
    let resumed_epoch = *epochs_started(&second)
        .first()
        .expect("the resumed run took checkpoints");
    assert!(
        resumed_epoch > last_epoch,
        "the resumed run started epoch {resumed_epoch}, the first had reached {last_epoch}"
    );
    let last_generation = *generations(&first).last().unwrap();
    let resumed_generation = generations(&second)[0];
    assert!(
        resumed_generation > last_generation,
        "the resumed run started generation {resumed_generation} after {last_generation}"
    );
    f.assert_verified();

    // A fresh run on the used directory would reuse its numbers: refused.
    let why = f.assert_run_refused(&[]);
    assert!(why.contains("--restore"), "{why}");
    f.assert_verified();
}

#[test]
fn a_graceful_stop_commits_every_record_read_and_cannot_be_restored() {
    let _serial = serial();
    let mut f = Fixture::new();
    let events = run_and_stop(&mut f, "graceful");
    let last = events.iter().rev().find(|e| is(e, "Transition")).unwrap();
    assert_eq!(last["reason"], "AllTasksFinished", "{last}");
    f.assert_verified();
    let why = f.assert_run_refused(&["--restore"]);
    assert!(why.contains("graceful"), "{why}");
}

#[test]
fn an_immediate_stop_resumes_from_its_last_checkpoint() {
    let _serial = serial();
    let mut f = Fixture::new();
    run_and_stop(&mut f, "immediate");
    f.restore_and_checkpoint_stop(STOP_AFTER);
    f.assert_verified();
}

#[test]
fn a_force_stop_asked_by_quiesce_stop_resumes_from_its_last_checkpoint() {
    let _serial = serial();
    let mut f = Fixture::new();
    let mut run = f.run(&[]);
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    let interval = Duration::from_millis(f.config.checkpoint_interval_ms);
    run.wait_event(
        "a committed checkpoint",
        |e| is(e, "CheckpointCommitted"),
        interval + Duration::from_millis(f.config.checkpoint_timeout_ms) + support::SLACK,
    );
    let stop = f.stop("force");
    assert_eq!(stop.status.code(), Some(0), "quiesce stop: {stop:?}");
    assert!(stop.stdout.contains("ended Stopped"), "{}", stop.stdout);
    let status = run.wait_exit(f.stop_bound());
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    let requested = run.first("StopRequested", |e| is(e, "StopRequested"), Duration::ZERO);
    assert_eq!(requested["mode"], "Force");
    assert_eq!(run.last_transition()["to"], "Stopped");
    drop(run);
    f.restore_and_checkpoint_stop(STOP_AFTER);
    f.assert_verified();
}

#[test]
fn a_force_stop_asked_by_flag_resumes_from_its_last_checkpoint() {
    let _serial = serial();
    let mut f = Fixture::new();
    let events = run_and_stop(&mut f, "force");
    assert!(events
        .iter()
        .any(|e| is(e, "StopRequested") && e["mode"] == "Force"));
    f.restore_and_checkpoint_stop(STOP_AFTER);
    f.assert_verified();
}

#[test]
fn a_frozen_worker_is_lost_and_does_not_hold_up_a_checkpoint_stop() {
    let _serial = serial();
    frozen_worker_under_a_checkpoint_stop(Fixture::new());
}

/// With a heartbeat timeout longer than the whole stop bound, only the stop's own timeouts can
/// end it: the final checkpoint's, then the stop's and the kill's.
#[test]
fn a_frozen_worker_does_not_hold_up_a_checkpoint_stop_beyond_its_bound() {
    let _serial = serial();
    let mut config = support::test_config();
    config.heartbeat_timeout_ms = 60_000;
    frozen_worker_under_a_checkpoint_stop(Fixture::with_config(config));
}

fn frozen_worker_under_a_checkpoint_stop(mut f: Fixture) {
    let mut run = f.run(&[]);
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    let interval = Duration::from_millis(f.config.checkpoint_interval_ms);
    run.wait_event(
        "a committed checkpoint",
        |e| is(e, "CheckpointCommitted"),
        interval + Duration::from_millis(f.config.checkpoint_timeout_ms) + support::SLACK,
    );
    let generation = run.current_generation();
    let frozen = run.worker_pid(0, generation);
    let w = run.workers().into_iter().find(|w| w.pid == frozen).unwrap();
    assert!(
        run.worker_alive(&w),
        "worker 0 of generation {generation} is not running"
    );
    // The first SIGINT asks a checkpoint stop. The worker is frozen first, microseconds
    // before: the controller cannot tell the difference, and the worker cannot slip its part of
    // the final checkpoint in between when the test thread is descheduled.
    support::signal(frozen, Signal::STOP);
    run.signal(Signal::INT);
    let asked = run.wait_event("the stop", |e| is(e, "StopRequested"), support::SLACK);
    assert_eq!(asked["mode"], "Checkpoint");
    let bound_ms = f.config.stop_bound_ms();
    let stopped = run.wait_event("Stopped", transition_to("Stopped"), f.stop_bound());
    let took = t_ms(&stopped) - t_ms(&asked);
    // The core's timers are exact on the controller's clock; allow the loop a little latency.
    assert!(
        took <= bound_ms + 500,
        "Stopped {took} ms after the stop was asked; the bound is {bound_ms} ms\n{}",
        run.summary()
    );
    assert!(
        stopped["reason"].get("FinalCheckpointCommitted").is_none(),
        "the final checkpoint committed with a frozen worker: it froze too late\n{}",
        run.summary()
    );
    let status = run.wait_exit(f.stop_bound());
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    let left = run.workers_left_after(support::WORKERS_GONE_WITHIN);
    assert!(
        left.is_empty(),
        "workers left after the stop: {left:?} (the frozen one is {frozen})\n{}",
        run.summary()
    );
    drop(run);
    // The final checkpoint was abandoned: the job resumes from the one before, exactly once.
    f.restore_and_checkpoint_stop(STOP_AFTER);
    f.assert_verified();
}

/// `quiesce verify` bites on a real run's output: a committed transaction copied under a
/// second name (a sink that committed it twice) is reported as duplicated records, and a
/// committed transaction deleted (a sink that lost it) as missing ones.
#[test]
fn verify_finds_records_committed_twice_or_lost_in_a_real_runs_output() {
    let _serial = serial();
    let mut f = Fixture::new();
    run_and_stop(&mut f, "checkpoint");
    f.assert_verified();
    let state = f.state_arg().to_string();
    // The largest committed transaction of any sink task: it holds records.
    let mut committed: Vec<(u64, std::path::PathBuf)> = Vec::new();
    for task in std::fs::read_dir(std::path::Path::new(&state).join("sink")).unwrap() {
        for file in std::fs::read_dir(task.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            committed.push((std::fs::metadata(&path).unwrap().len(), path));
        }
    }
    committed.sort();
    let (_, victim) = committed.pop().expect("the sinks committed something");
    let verify =
        |f: &mut Fixture| f.quiesce(&["verify", "--state-dir", &state], support::SLACK * 10);

    let copy = victim.with_file_name("e99999999999.json");
    std::fs::copy(&victim, &copy).unwrap();
    let out = verify(&mut f);
    assert_eq!(out.status.code(), Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("VIOLATED"), "{}", out.stdout);
    assert!(out.stdout.contains(" duplicated ("), "{}", out.stdout);
    std::fs::remove_file(&copy).unwrap();
    f.assert_verified();

    std::fs::remove_file(&victim).unwrap();
    let out = verify(&mut f);
    assert_eq!(out.status.code(), Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("VIOLATED"), "{}", out.stdout);
    assert!(out.stdout.contains(" missing ("), "{}", out.stdout);
}
