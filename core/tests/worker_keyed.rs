//! Keyed operator state on its own: a keyed count counts each record under its key and
//! forwards it, snapshots its counts at the barrier (not what waits behind it), restores them,
//! and refuses restore state that does not fit it; arbitrary restore state never panics it.

mod worker_common;

use proptest::prelude::*;
use quiesce_core::controller::{Controller, ControllerSetup};
use quiesce_core::worker::{Key, Partition, Record, Restore, TaskSnapshot, WorkerError};
use quiesce_core::{Command, Config, Epoch, Generation, JobError, OperatorId, Time, WorkerId};
use std::collections::BTreeMap;
use worker_common::*;

const G: Generation = Generation(1);

fn rec(source: u32, index: u32, offset: u64) -> Record {
    Record {
        partition: Partition::of_source(task(source, index)),
        offset,
    }
}

fn key(source: u32, index: u32, bucket: u32) -> Key {
    Key {
        partition: Partition::of_source(task(source, index)),
        bucket,
    }
}

/// Two sources -> keyed count(1) -> two-phase-commit sink, on two workers: the keyed task
/// (on worker 0) has a local input from source 0/0 and a remote one from source 0/1.
fn two_inputs() -> quiesce_core::Job {
    job(
        vec![source("read", 2), keyed("count", 1), sink("write", 1, true)],
        &[(0, 1), (1, 2)],
        2,
    )
}

fn positions(s0: u64, s1: u64) -> BTreeMap<quiesce_core::TaskId, u64> {
    BTreeMap::from([(task(0, 0), s0), (task(0, 1), s1)])
}

#[test]
fn worker_keyed_count_counts_each_record_under_its_key_and_forwards_it() {
    let j = job(
        vec![source("read", 1), keyed("count", 1), sink("write", 1, true)],
        &[(0, 1), (1, 2)],
        1,
    );
    let mut c = Cluster::new(&j, G);
    c.read(task(0, 0), 10);
    let counts = c.workers[0].keyed_counts(task(1, 0)).expect("a keyed task");
    let expected = BTreeMap::from([
        (key(0, 0, 0), 3),
        (key(0, 0, 1), 3),
        (key(0, 0, 2), 2),
        (key(0, 0, 3), 2),
    ]);
    assert_eq!(counts, &expected);
    assert_eq!(Key::of(rec(0, 0, 6)), key(0, 0, 2));
    let open = c.workers[0].open_transaction(task(2, 0)).expect("a sink");
    assert_eq!(open, (0..10).map(|o| rec(0, 0, o)).collect::<Vec<_>>());
    assert_eq!(c.workers[0].keyed_counts(task(0, 0)), None);
    c.workers[0].check_invariants_full().unwrap();
}

#[test]
fn worker_keyed_state_is_snapshotted_at_the_barrier_and_restored() {
    let j = two_inputs();
    let (s0, s1, k) = (task(0, 0), task(0, 1), task(1, 0));
    let mut first = Cluster::new(&j, G);
    first.read(s0, 3);
    first.read(s1, 2);
    first.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    // Behind 0/0's barrier: the keyed task holds them until 0/1's barrier arrives.
    first.read(s0, 2);
    assert_eq!(first.workers[0].status().tasks[1].aligning, Some(Epoch(1)));
    first.settle();
    let at_barrier = key_counts(&records_below(&positions(3, 2)));
    assert_eq!(
        first.store[&(Epoch(1), k)],
        TaskSnapshot::Keyed {
            counts: at_barrier.clone().into_iter().collect()
        }
    );
    assert_eq!(
        first.workers[0].keyed_counts(k),
        Some(&key_counts(&records_below(&positions(5, 2))))
    );
    first.broadcast(Command::Commit { epoch: Epoch(1) });
    // A new generation restores the counts of checkpoint 1 and reads on from its positions:
    // offsets 3 and 4 of 0/0 again, counted once.
    let mut second = Cluster::restored(&j, Generation(2), Some(Epoch(1)), &first.store);
    assert_eq!(second.workers[0].keyed_counts(k), Some(&at_barrier));
    second.read(s0, 2);
    second.read(s1, 1);
    second.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: true,
    });
    second.settle();
    second.broadcast(Command::Commit { epoch: Epoch(2) });
    assert_eq!(second.check_keyed_snapshots(), Ok(2));
    assert_eq!(second.check_keyed_against_commits(), Ok(1));
    assert_eq!(
        second.keyed_state(OperatorId(1)),
        key_counts(&records_below(&positions(5, 3)))
    );
}

#[test]
fn worker_keyed_restore_refuses_counts_that_do_not_fit() {
    // Two keyed subtasks: partition 0/0 routes to subtask 0, 0/1 to subtask 1.
    let j = job(
        vec![source("read", 2), keyed("count", 2), sink("write", 1, true)],
        &[(0, 1), (1, 2)],
        1,
    );
    let restore = |counts: Vec<(Key, u64)>| -> Result<(), WorkerError> {
        let tasks = vec![
            (task(0, 0), TaskSnapshot::Source { next_offset: 9 }),
            (task(0, 1), TaskSnapshot::Source { next_offset: 9 }),
            (task(1, 0), TaskSnapshot::Keyed { counts }),
            (task(1, 1), TaskSnapshot::Keyed { counts: vec![] }),
            (task(2, 0), TaskSnapshot::Sink { pending: vec![] }),
        ];
        build(
            &j,
            WorkerId(0),
            Some(Restore {
                epoch: Epoch(1),
                tasks,
            }),
        )
        .map(|_| ())
    };
    assert_eq!(restore(vec![(key(0, 0, 0), 3), (key(0, 0, 1), 2)]), Ok(()));
    let refused = |counts: Vec<(Key, u64)>, why: &str| {
        let Err(WorkerError::BadRestore { task: at, reason }) = restore(counts) else {
            panic!("restore accepted: {why}");
        };
        assert_eq!((at, reason.as_str()), (task(1, 0), why));
    };
    refused(
        vec![(key(0, 0, 1), 2), (key(0, 0, 0), 3)],
        "keyed counts out of key order, or a key twice",
    );
    refused(vec![(key(0, 0, 0), 0)], "a key counted zero times");
    refused(
        vec![(key(0, 0, 4), 1)],
        "a key outside its partition's keys",
    );
    refused(
        vec![(key(0, 1, 0), 1)],
        "a key of a partition that never reaches this task",
    );
    refused(
        vec![(key(1, 0, 0), 1)],
        "a key of a partition that never reaches this task",
    );
    refused(
        vec![(key(0, 0, 0), u64::MAX), (key(0, 0, 1), 1)],
        "keyed counts overflow",
    );
    // A keyed task is stateful: its snapshot may not be left out.
    let tasks = vec![
        (task(0, 0), TaskSnapshot::Source { next_offset: 0 }),
        (task(0, 1), TaskSnapshot::Source { next_offset: 0 }),
        (task(1, 1), TaskSnapshot::Keyed { counts: vec![] }),
        (task(2, 0), TaskSnapshot::Sink { pending: vec![] }),
    ];
    let missing = build(
        &j,
        WorkerId(0),
        Some(Restore {
            epoch: Epoch(1),
            tasks,
        }),
    );
    assert!(matches!(missing, Err(WorkerError::BadRestore { task: t, .. }) if t == task(1, 0)));
}

#[test]
fn worker_keyed_count_stands_where_a_transform_may_and_the_controller_takes_it() {
    let bad = job(vec![source("read", 1), keyed("count", 1)], &[(0, 1)], 1);
    assert_eq!(
        bad.validate(),
        Err(JobError::TransformWithoutOutput {
            operator: OperatorId(1)
        })
    );
    let j = two_inputs();
    assert_eq!(j.validate(), Ok(()));
    let c =
        Controller::new(ControllerSetup::new(j, Config::default(), Time(0))).expect("a valid job");
    assert_eq!(c.job().operators.len(), 3);
}

fn arbitrary_counts() -> impl Strategy<Value = Vec<(Key, u64)>> {
    let key = (0..3u32, 0..3u32, 0..6u32).prop_map(|(source, index, bucket)| Key {
        partition: Partition {
            source: OperatorId(source),
            index,
        },
        bucket,
    });
    let count = prop_oneof![4 => 0..5u64, 1 => Just(u64::MAX), 1 => Just(u64::MAX / 2)];
    prop::collection::vec((key, count), 0..6)
}

proptest! {
    /// Whatever counts a restore carries, the worker is built or refuses them with a reason;
    /// what it accepts, it holds exactly.
    #[test]
    fn worker_keyed_arbitrary_restore_counts_are_held_exactly_or_refused(
        counts in arbitrary_counts(),
        sorted in any::<bool>(),
    ) {
        let mut counts = counts;
        if sorted {
            counts.sort();
        }
        let j = two_inputs();
        let tasks = vec![
            (task(0, 0), TaskSnapshot::Source { next_offset: 4 }),
            (task(1, 0), TaskSnapshot::Keyed { counts: counts.clone() }),
        ];
        match build(&j, WorkerId(0), Some(Restore { epoch: Epoch(2), tasks })) {
            Ok(w) => {
                let held: Vec<_> = w.keyed_counts(task(1, 0)).into_iter().flatten()
                    .map(|(&k, &n)| (k, n)).collect();
                prop_assert_eq!(held, counts);
                prop_assert!(w.check_invariants_full().is_ok());
            }
            Err(e) => prop_assert!(matches!(e, WorkerError::BadRestore { .. }), "{e}"),
        }
    }
}
