//! The controller and the workers of a job wired together in memory, run by a small
//! deterministic loop: checkpoints, then each way of stopping, checked against the sources:
//! what the sinks committed, and the keyed counts (in every checkpoint, and at the end).

mod worker_common;

use quiesce_core::{Generation, State, StopMode, WorkerId};
use worker_common::system::{config, Action, System};
use worker_common::*;

/// Two sources -> keyed count(3) -> two-phase-commit sink(2), on three workers.
fn pipeline() -> quiesce_core::Job {
    job(
        vec![source("read", 2), keyed("count", 3), sink("write", 2, true)],
        &[(0, 1), (1, 2)],
        3,
    )
}

/// Two source operators joined by a keyed count, fanned out to two sinks, on two workers.
fn join_fan_out() -> quiesce_core::Job {
    job(
        vec![
            source("left", 1),
            source("right", 2),
            keyed("join", 2),
            sink("a", 1, true),
            sink("b", 2, true),
        ],
        &[(0, 2), (1, 2), (2, 3), (2, 4)],
        2,
    )
}

/// Starts the job and runs it through `checkpoints` completed checkpoints, reading as it goes.
fn running(job: &quiesce_core::Job, checkpoints: u64) -> System {
    let mut sys = System::new(job, config());
    sys.run_until(20, |s| s.controller.state() == State::Running);
    let mut round = 0;
    while sys.controller.status().counters.checkpoints_completed < checkpoints {
        sys.read_all(1 + round % 3);
        sys.pump();
        sys.apply(Action::Tick);
        round += 1;
        assert!(round < 200, "checkpoints do not complete");
    }
    sys
}

fn committed_exactly(sys: &System, expected: &[quiesce_core::worker::Record]) {
    let committed = sys.cluster.committed();
    assert_distinct(&committed);
    assert_eq!(committed.len(), expected.len());
    assert_eq!(committed, expected);
}

/// Every keyed snapshot holds what its checkpoint's source positions imply; if every record
/// through the keyed tasks was committed (`all_committed`), their counts are what the sinks
/// committed.
fn keyed_exactly_once(sys: &System, all_committed: bool) {
    let snapshots = sys.cluster.check_keyed_snapshots().unwrap();
    assert!(snapshots > 0, "no keyed snapshot was checked");
    if all_committed {
        let pairs = sys.cluster.check_keyed_against_commits().unwrap();
        assert!(pairs > 0, "no keyed state was compared with a sink");
    }
}

#[test]
fn worker_and_controller_checkpoint_stop_commits_each_offset_up_to_the_final_barrier_once() {
    for job in [pipeline(), join_fan_out()] {
        let mut sys = running(&job, 3);
        sys.read_all(4);
        sys.apply(Action::Stop(StopMode::Checkpoint));
        // Records read while the final barrier is on its way: before it, or refused after.
        sys.read_all(2);
        sys.run_to_end(50);
        let status = sys.controller.status();
        assert_eq!(status.state, State::Stopped);
        let last = status.final_checkpoint.expect("a final checkpoint");
        assert_eq!(status.last_completed, Some(last));
        assert!(status.last_completed_committed);
        assert!(sys
            .cluster
            .workers
            .iter()
            .all(|w| w.status().all_tasks_over()));
        let positions = sys.positions_at(last);
        assert_eq!(positions.len(), sys.sources().len());
        assert!(positions.values().sum::<u64>() > 20);
        assert_eq!(
            positions,
            sys.positions_now(),
            "nothing was read after the barrier"
        );
        // Each sink operator holds every record once (the second job has two sinks).
        let by_sink = sys.cluster.committed_by_sink();
        assert_eq!(by_sink.len(), if job.operators.len() == 5 { 2 } else { 1 });
        for records in by_sink.values() {
            assert_distinct(records);
            assert_eq!(records, &records_below(&positions));
        }
        keyed_exactly_once(&sys, true);
    }
}

#[test]
fn worker_and_controller_graceful_stop_delivers_every_record_read() {
    let mut sys = running(&pipeline(), 2);
    // Records in flight when the stop comes, and a checkpoint perhaps under way.
    sys.read_all(5);
    sys.apply(Action::Tick);
    sys.read_all(3);
    sys.apply(Action::Stop(StopMode::Graceful));
    sys.run_to_end(50);
    assert_eq!(sys.controller.state(), State::Stopped);
    assert!(sys
        .cluster
        .workers
        .iter()
        .all(|w| w.status().all_tasks_over()));
    let expected = records_below(&sys.positions_now());
    assert!(expected.len() > 20);
    committed_exactly(&sys, &expected);
    keyed_exactly_once(&sys, true);
}

#[test]
fn worker_and_controller_immediate_stop_ends_at_once_and_commits_nothing_twice() {
    let mut sys = running(&pipeline(), 2);
    sys.read_all(5);
    sys.apply(Action::Stop(StopMode::Immediate));
    sys.run_to_end(50);
    let status = sys.controller.status();
    assert_eq!(status.state, State::Stopped);
    assert!(sys
        .cluster
        .workers
        .iter()
        .all(|w| w.status().all_tasks_over()));
    let committed = sys.cluster.committed();
    assert_distinct(&committed);
    // Everything up to the last committed checkpoint is there; nothing that was not read.
    let done = records_below(&sys.positions_at(status.last_completed.expect("a checkpoint")));
    let read = records_below(&sys.positions_now());
    assert!(done.iter().all(|r| committed.binary_search(r).is_ok()));
    assert!(committed.iter().all(|r| read.binary_search(r).is_ok()));
    keyed_exactly_once(&sys, false);
}

#[test]
fn worker_and_controller_restore_after_a_crash_keeps_exactly_once() {
    let mut sys = running(&pipeline(), 2);
    sys.read_all(4);
    sys.pump();
    sys.apply(Action::Crash(WorkerId(1)));
    sys.read_all(3); // lost with the generation; read again after the restore
    sys.run_until(50, |s| {
        s.controller.state() == State::Running && s.controller.status().generation > Generation(1)
    });
    assert!(sys.cluster.generation > Generation(1));
    let restored = sys
        .controller
        .status()
        .last_completed
        .expect("a restore point");
    assert_eq!(sys.cluster.workers[0].status().restored, Some(restored));
    sys.read_all(2);
    sys.apply(Action::Stop(StopMode::Checkpoint));
    sys.run_to_end(50);
    let status = sys.controller.status();
    assert_eq!(status.state, State::Stopped);
    let last = status.final_checkpoint.expect("a final checkpoint");
    committed_exactly(&sys, &records_below(&sys.positions_at(last)));
    keyed_exactly_once(&sys, true);
}

#[test]
fn worker_and_controller_restore_commits_a_persisted_checkpoint_the_old_generation_did_not() {
    use worker_common::system::Owed;
    let mut sys = running(&pipeline(), 1);
    sys.read_all(3);
    // Move everything but the persist of the next checkpoint.
    let persisting = |s: &System| s.owed.iter().position(|o| matches!(o, Owed::Persist(_)));
    let mut ticks = 0;
    while persisting(&sys).is_none() {
        let next = sys
            .actions()
            .into_iter()
            .find(|a| !matches!(a, Action::Effect(..)));
        match next {
            Some(a) => sys.apply(a),
            None => {
                sys.apply(Action::Tick);
                ticks += 1;
                assert!(ticks < 50, "no checkpoint reached persisting");
            }
        }
    }
    let Some(Owed::Persist(epoch)) = persisting(&sys).map(|i| sys.owed[i].clone()) else {
        unreachable!("just found")
    };
    // The metadata is stored: the checkpoint is complete, and the commits go out...
    sys.apply(Action::Effect(persisting(&sys).unwrap(), true));
    // ...but the worker of sink 2/0 dies before its commit arrives.
    let sink = task(2, 0);
    let w = WorkerId(sys.cluster.worker_of(sink) as u32);
    sys.apply(Action::Crash(w));
    let txn = (sink, quiesce_core::worker::TransactionId::Epoch(epoch));
    sys.pump();
    assert!(
        !sys.cluster.commits.contains_key(&txn),
        "the old generation never committed it"
    );
    sys.run_until(50, |s| {
        s.controller.state() == State::Running && s.controller.status().generation > Generation(1)
    });
    assert_eq!(sys.controller.status().last_completed, Some(epoch));
    // The restored sink held the pre-commit and committed it on the re-sent commit.
    assert!(sys
        .cluster
        .commits
        .contains_key(&(sink, quiesce_core::worker::TransactionId::Epoch(epoch))));
    sys.read_all(2);
    sys.apply(Action::Stop(StopMode::Checkpoint));
    sys.run_to_end(50);
    let status = sys.controller.status();
    assert_eq!(status.state, State::Stopped);
    let last = status.final_checkpoint.expect("a final checkpoint");
    committed_exactly(&sys, &records_below(&sys.positions_at(last)));
    keyed_exactly_once(&sys, true);
}

/// The states after the last `Running`: how the job ended.
fn ending(sys: &System) -> Vec<State> {
    let states = sys.states();
    let last_running = states.iter().rposition(|&s| s == State::Running);
    states[last_running.map_or(0, |i| i + 1)..].to_vec()
}

#[test]
fn worker_and_controller_end_of_input_finishes_through_a_final_checkpoint_with_each_offset_once() {
    for job in [pipeline(), join_fan_out()] {
        let mut sys = running(&job, 2);
        // Data after the last checkpoint, some of it still in flight when the inputs end.
        sys.read_all(4);
        sys.pump();
        sys.read_all(3);
        sys.end_inputs();
        sys.run_to_end(50);
        let status = sys.controller.status();
        assert_eq!(status.state, State::Finished);
        assert_eq!(ending(&sys), vec![State::Finishing, State::Finished]);
        assert_eq!(status.generation, Generation(1), "no restart");
        let last = status.final_checkpoint.expect("a final checkpoint");
        assert_eq!(status.last_completed, Some(last));
        assert!(status.last_completed_committed);
        assert!(sys
            .cluster
            .workers
            .iter()
            .all(|w| w.status().all_tasks_over()));
        // Every source answered the final checkpoint with its end.
        let positions = sys.positions_at(last);
        assert_eq!(positions, sys.positions_now());
        assert_eq!(positions, sys.ends);
        let expected = records_below(&positions);
        // The tail after the last periodic checkpoint went through the final one.
        assert!(sys.cluster.commits.iter().any(|((_, id), records)| {
            *id == quiesce_core::worker::TransactionId::Epoch(last) && !records.is_empty()
        }));
        // Each sink operator holds every record once, all of it through checkpoints.
        let by_sink = sys.cluster.committed_by_sink();
        assert_eq!(by_sink.len(), if job.operators.len() == 5 { 2 } else { 1 });
        for records in by_sink.values() {
            assert_eq!(records, &expected);
        }
        assert!(sys
            .cluster
            .commits
            .keys()
            .all(|(_, id)| matches!(id, quiesce_core::worker::TransactionId::Epoch(_))));
        assert_eq!(sys.rejected_by_controller, 0);
        keyed_exactly_once(&sys, true);
    }
}

/// Runs `job` until every input has ended and the final checkpoint has reached `point`, then
/// crashes the worker of the sink `victim`. The job restores, the inputs end again, and it
/// finishes with every record committed once.
fn crash_while_finishing(job: &quiesce_core::Job, victim: quiesce_core::TaskId, persisted: bool) {
    use quiesce_core::worker::TransactionId;
    use worker_common::system::Owed;
    let mut sys = running(job, 2);
    sys.read_all(4);
    sys.pump();
    sys.read_all(3);
    sys.end_inputs();
    // Move everything but the persist of the final checkpoint, so that every sink
    // pre-commits its tail under it.
    let persisting = |s: &System| s.owed.iter().position(|o| matches!(o, Owed::Persist(_)));
    let mut ticks = 0;
    while persisting(&sys).is_none()
        || !sys.cluster.snapshot_requests.is_empty()
        || sys.cluster.in_flight.values().any(|q| !q.is_empty())
    {
        let next = sys
            .actions()
            .into_iter()
            .find(|a| !matches!(a, Action::Effect(i, _) if Some(*i) == persisting(&sys)));
        match next {
            Some(a) => sys.apply(a),
            None => {
                sys.apply(Action::Tick);
                ticks += 1;
                assert!(ticks < 50, "the final checkpoint did not reach persisting");
            }
        }
    }
    assert_eq!(sys.controller.state(), State::Finishing);
    let final_epoch = sys.controller.status().final_checkpoint.expect("started");
    let w = sys.cluster.worker_of(victim);
    assert_eq!(
        sys.cluster.workers[w]
            .pre_commits(victim)
            .and_then(|p| p.last())
            .map(|t| t.epoch),
        Some(final_epoch),
        "the sink pre-committed its tail under the final checkpoint"
    );
    if persisted {
        // The final checkpoint is complete; some sinks may commit it before the crash.
        let i = persisting(&sys).expect("owed");
        sys.apply(Action::Effect(i, true));
        while let Some(a) = sys
            .actions()
            .into_iter()
            .find(|a| matches!(a, Action::ToWorker(x) if x.0 as usize != w))
        {
            sys.apply(a);
        }
        assert!(
            sys.cluster
                .commits
                .keys()
                .any(|&(t, id)| t != victim && id == TransactionId::Epoch(final_epoch)),
            "another sink committed the final checkpoint before the crash"
        );
    }
    sys.apply(Action::Crash(quiesce_core::WorkerId(w as u32)));
    if !persisted {
        // The controller hears of the crash before the persist completes.
        let exited = sys
            .owed
            .iter()
            .position(|o| matches!(o, Owed::WorkerExited(..)));
        sys.apply(Action::Effect(exited.expect("owed"), true));
    }
    assert!(
        !sys.cluster
            .commits
            .contains_key(&(victim, TransactionId::Epoch(final_epoch))),
        "the victim never committed the final checkpoint"
    );
    sys.run_to_end_of_input(100);
    let status = sys.controller.status();
    assert_eq!(status.state, State::Finished);
    assert!(status.generation > Generation(1), "the job was restored");
    let states = sys.states();
    let recovering = states
        .iter()
        .position(|&s| s == State::Recovering)
        .expect("it recovered");
    assert_eq!(states[recovering - 1], State::Finishing);
    assert_eq!(ending(&sys), vec![State::Finishing, State::Finished]);
    let restored = sys.cluster.workers[0].status().restored;
    if persisted {
        assert_eq!(
            restored,
            Some(final_epoch),
            "restored from the final checkpoint"
        );
    } else {
        assert!(restored < Some(final_epoch), "restored from before it");
    }
    let positions = sys.positions_at(status.final_checkpoint.expect("a final checkpoint"));
    assert_eq!(
        positions, sys.ends,
        "the restored sources ended where they did before"
    );
    let expected = records_below(&positions);
    for records in sys.cluster.committed_by_sink().values() {
        assert_eq!(records, &expected);
    }
    assert!(sys
        .cluster
        .workers
        .iter()
        .all(|w| w.status().all_tasks_over()));
    keyed_exactly_once(&sys, true);
}

#[test]
fn worker_and_controller_crash_before_the_final_checkpoint_persists_restores_and_commits_once() {
    crash_while_finishing(&pipeline(), task(2, 1), false);
    crash_while_finishing(&join_fan_out(), task(3, 0), false);
}

#[test]
fn worker_and_controller_crash_before_the_final_commit_restores_and_commits_once() {
    crash_while_finishing(&pipeline(), task(2, 1), true);
    crash_while_finishing(&join_fan_out(), task(4, 1), true);
}
