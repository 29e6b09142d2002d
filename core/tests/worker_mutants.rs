//! Planted bugs: each known worker bug, switched on through the `mutants` feature, is caught
//! by the check named for it. Proof that the checks the simulator and the tests rely on bite.
#![cfg(feature = "mutants")]

mod worker_common;

use quiesce_core::worker::mutants::WorkerMutant;
use quiesce_core::worker::{Channel, Partition, Record, TaskSnapshot, WorkerInput};
use quiesce_core::{Command, Epoch, Generation, Property, Time, ToWorker};
use std::collections::BTreeMap;
use worker_common::*;

const G: Generation = Generation(1);

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn worker_mutant_abort_drops_records_loses_data() {
    assert_eq!(
        WorkerMutant::AbortDropsRecords.property(),
        Property::ExactlyOnce
    );
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let mut c = Cluster::new(&j, G);
    c.mutate(WorkerMutant::AbortDropsRecords);
    c.read(task(0, 0), 3);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.deliver_all();
    c.broadcast(Command::Abort { epoch: Epoch(1) });
    c.read(task(0, 0), 2);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: true,
    });
    c.settle();
    c.broadcast(Command::Commit { epoch: Epoch(2) });
    // Checkpoint 2's sources say offsets 0..5 are done; the sink committed only 3 and 4.
    let positions = BTreeMap::from([(task(0, 0), 5)]);
    assert_ne!(c.committed(), records_below(&positions));
    assert_eq!(offsets(&c.committed()), vec![3, 4]);
}

#[test]
fn worker_mutant_commit_keeps_pre_commits_commits_twice() {
    assert_eq!(
        WorkerMutant::CommitKeepsPreCommits.property(),
        Property::ExactlyOnce
    );
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        1,
    );
    let mut c = Cluster::new(&j, G);
    c.mutate(WorkerMutant::CommitKeepsPreCommits);
    c.read(task(0, 0), 2);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.broadcast(Command::Commit { epoch: Epoch(1) });
    assert_eq!(
        c.workers[0].check_invariants().map_err(|v| v.property),
        Err(Property::ExactlyOnce),
        "the sink ledger catches it"
    );
    c.read(task(0, 0), 1);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: false,
    });
    c.settle();
    c.broadcast(Command::Commit { epoch: Epoch(2) });
    assert_eq!(
        c.repeated_commits, 1,
        "epoch 1's transaction went out again"
    );
}

#[test]
fn worker_mutant_no_alignment_replays_records_after_a_restore() {
    assert_eq!(WorkerMutant::NoAlignment.property(), Property::ExactlyOnce);
    // Two sources feed a join on its own worker, so one input can run ahead.
    let j = job(
        vec![
            source("a", 1),
            source("b", 1),
            transform("join", 1),
            sink("out", 1, true),
        ],
        &[(0, 2), (1, 2), (2, 3)],
        3,
    );
    let (a, b) = (task(0, 0), task(1, 0));
    let mut first = Cluster::new(&j, G);
    first.mutate(WorkerMutant::NoAlignment);
    first.read(a, 2);
    first.read(b, 2);
    first.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    first.read(a, 2); // after a's barrier
    let into_join = |from| Channel {
        from,
        to: task(2, 0),
    };
    while first.deliver_one(into_join(a)) {}
    while first.deliver_one(into_join(b)) {}
    first.settle();
    // The pre-commit of epoch 1 holds a's offsets 2 and 3, though a's snapshot ends before them.
    assert_eq!(
        first.store[&(Epoch(1), a)],
        TaskSnapshot::Source { next_offset: 2 }
    );
    first.broadcast(Command::Commit { epoch: Epoch(1) });
    let a_offsets = |commits: &BTreeMap<_, Vec<Record>>| {
        let mut v: Vec<u64> = commits
            .values()
            .flatten()
            .filter(|r| r.partition == Partition::of_source(a))
            .map(|r| r.offset)
            .collect();
        v.sort();
        v
    };
    assert_eq!(a_offsets(&first.commits), vec![0, 1, 2, 3]);
    // The job restarts from checkpoint 1: a reads offsets 2 and 3 again, and they are
    // committed again (the external system keeps one copy per transaction identity).
    let g2 = Generation(2);
    let mut second = Cluster::restored(&j, g2, Some(Epoch(1)), &first.store);
    second.mutate(WorkerMutant::NoAlignment);
    second.read(a, 2);
    second.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: true,
    });
    second.settle();
    second.broadcast(Command::Commit { epoch: Epoch(2) });
    let mut external = first.commits.clone();
    for (id, records) in second.commits {
        external.entry(id).or_insert(records);
    }
    assert_eq!(
        a_offsets(&external),
        vec![0, 1, 2, 2, 3, 3],
        "offsets 2 and 3 twice"
    );
}

#[test]
fn worker_mutant_accept_other_generation_lets_a_zombie_act() {
    assert_eq!(
        WorkerMutant::AcceptOtherGeneration.property(),
        Property::StaleGenerationInert
    );
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        1,
    );
    let mut c = Cluster::new(&j, G);
    c.mutate(WorkerMutant::AcceptOtherGeneration);
    let mut w = c.workers[0].clone();
    let before = w.clone();
    let stale = ToWorker {
        generation: Generation(0),
        command: Command::Checkpoint {
            epoch: Epoch(1),
            then_stop: true,
        },
    };
    assert_eq!(w.handle(Time(5), WorkerInput::Command(stale)), Ok(()));
    assert_ne!(
        w, before,
        "a message of another generation changed the worker"
    );
}

#[test]
fn worker_mutant_input_outruns_timers_is_caught_by_timers_before_inputs() {
    assert_eq!(
        WorkerMutant::InputOutrunsTimers.property(),
        Property::TimersBeforeInputs
    );
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let w = Cluster::new(&j, G).workers.remove(0);
    let late = w.poll_timeout().expect("armed").plus_ms(1);
    let read = WorkerInput::SourceRecords {
        task: task(0, 0),
        count: 1,
    };
    assert_eq!(timers_fire_before(&w, late, read.clone()), Ok(()));
    let mut mutated = Cluster::new(&j, G);
    mutated.mutate(WorkerMutant::InputOutrunsTimers);
    let caught = timers_fire_before(&mutated.workers[0], late, read);
    assert!(
        caught.is_err(),
        "the record went out before the due heartbeat"
    );
}

#[test]
fn worker_mutant_keyed_state_not_restored_is_caught_by_the_keyed_exactly_once_check() {
    assert_eq!(
        WorkerMutant::KeyedStateNotRestored.property(),
        Property::ExactlyOnce
    );
    let j = job(
        vec![source("read", 2), keyed("count", 1), sink("write", 1, true)],
        &[(0, 1), (1, 2)],
        2,
    );
    // Checkpoint 1 in a first generation; a second restores it, reads on and stops with a
    // final checkpoint.
    let run = |mutant: Option<WorkerMutant>| -> Cluster {
        let mut first = Cluster::new(&j, G);
        first.read(task(0, 0), 3);
        first.read(task(0, 1), 2);
        first.broadcast(Command::Checkpoint {
            epoch: Epoch(1),
            then_stop: false,
        });
        first.settle();
        first.broadcast(Command::Commit { epoch: Epoch(1) });
        let mut second = Cluster::restored(&j, Generation(2), Some(Epoch(1)), &first.store);
        if let Some(mutant) = mutant {
            second.mutate(mutant);
        }
        second.read(task(0, 0), 2);
        second.read(task(0, 1), 1);
        second.broadcast(Command::Checkpoint {
            epoch: Epoch(2),
            then_stop: true,
        });
        second.settle();
        second.broadcast(Command::Commit { epoch: Epoch(2) });
        second
    };
    let healthy = run(None);
    assert_eq!(healthy.check_keyed_snapshots(), Ok(2));
    assert_eq!(healthy.check_keyed_against_commits(), Ok(1));
    let mutated = run(Some(WorkerMutant::KeyedStateNotRestored));
    // The sinks commit the same records; the counts miss the five checkpoint 1 covered.
    assert_eq!(mutated.committed(), healthy.committed());
    assert!(mutated.check_keyed_snapshots().is_err());
    assert!(mutated.check_keyed_against_commits().is_err());
    let counted: u64 = mutated
        .keyed_state(quiesce_core::OperatorId(1))
        .values()
        .sum();
    assert_eq!(counted, 3, "only the records read after the restore");
    // The worker's own ledger balances: what the bug breaks is the state's meaning, which
    // only the records can tell.
    for w in &mutated.workers {
        assert!(w.check_invariants_full().is_ok());
    }
}
