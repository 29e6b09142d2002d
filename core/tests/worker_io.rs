//! The worker's inputs, outputs and rejections as an embedder sees them: one line of domain
//! words each, hashable values.

mod worker_common;

use quiesce_core::worker::{
    Channel, Item, Key, Partition, Record, Restore, TaskSnapshot, Transaction, TransactionId,
    WorkerInput, WorkerOutput, WorkerRejected,
};
use quiesce_core::{
    Command, Epoch, FromWorker, Generation, StopJobMode, Time, WorkerEvent, WorkerId,
};
use std::collections::HashSet;
use worker_common::*;

const G: Generation = Generation(3);

fn rec(offset: u64) -> Record {
    Record {
        partition: Partition::of_source(task(0, 1)),
        offset,
    }
}

fn channel() -> Channel {
    Channel {
        from: task(0, 1),
        to: task(1, 0),
    }
}

#[test]
fn worker_io_inputs_display_in_domain_words() {
    let cases = [
        (
            command(
                G,
                Command::Checkpoint {
                    epoch: Epoch(4),
                    then_stop: true,
                },
            ),
            "from the controller, gen 3: checkpoint epoch 4 (then stop)",
        ),
        (
            command(
                G,
                Command::Stop {
                    mode: StopJobMode::Graceful,
                },
            ),
            "from the controller, gen 3: stop (graceful)",
        ),
        (
            WorkerInput::Data {
                generation: G,
                channel: channel(),
                seq: 5,
                item: Item::Record(rec(17)),
            },
            "record op0#p1@17 on 0/1->1/0 #5 (gen 3)",
        ),
        (
            WorkerInput::SourceRecords {
                task: task(0, 1),
                count: 3,
            },
            "3 records available to source 0/1",
        ),
        (
            WorkerInput::SnapshotFailed {
                task: task(1, 0),
                epoch: Epoch(4),
                reason: "disk full".into(),
            },
            "snapshot of task 1/0 for epoch 4 failed: \"disk full\"",
        ),
    ];
    for (input, line) in cases {
        assert_eq!(input.to_string(), line);
    }
}

#[test]
fn worker_io_outputs_display_in_domain_words() {
    let cases = [
        (
            WorkerOutput::Commit {
                task: task(2, 0),
                transaction: TransactionId::Epoch(Epoch(4)),
                records: vec![rec(1), rec(2)],
            },
            "commit epoch 4 at sink 2/0 (2 records)",
        ),
        (
            WorkerOutput::Commit {
                task: task(2, 0),
                transaction: TransactionId::Drain(G),
                records: vec![rec(1)],
            },
            "commit the drain of gen 3 at sink 2/0 (1 record)",
        ),
        (
            WorkerOutput::ToController(FromWorker {
                worker: WorkerId(1),
                generation: G,
                event: WorkerEvent::CheckpointAcked {
                    task: task(1, 0),
                    epoch: Epoch(4),
                },
            }),
            "to the controller, worker 1 (gen 3): ack epoch 4 from task 1/0",
        ),
        (
            WorkerOutput::SendData {
                to_worker: WorkerId(1),
                generation: G,
                channel: channel(),
                seq: 0,
                item: Item::Barrier {
                    epoch: Epoch(4),
                    then_stop: false,
                },
            },
            "send barrier epoch 4 on 0/1->1/0 #0 to worker 1 (gen 3)",
        ),
        (
            WorkerOutput::Snapshot {
                task: task(2, 0),
                epoch: Epoch(4),
                state: TaskSnapshot::Sink {
                    pending: vec![Transaction {
                        epoch: Epoch(4),
                        records: vec![rec(1), rec(2)],
                    }],
                },
            },
            "store snapshot of task 2/0 for epoch 4: 1 pre-commit, 2 records",
        ),
        (
            WorkerOutput::Snapshot {
                task: task(1, 0),
                epoch: Epoch(2),
                state: TaskSnapshot::Keyed {
                    counts: vec![(Key::of(rec(1)), 2), (Key::of(rec(2)), 3)],
                },
            },
            "store snapshot of task 1/0 for epoch 2: 2 keys, 5 records counted",
        ),
    ];
    for (output, line) in cases {
        assert_eq!(output.to_string(), line);
    }
}

#[test]
fn worker_io_rejections_display_in_domain_words() {
    let cases = [
        (
            WorkerRejected::WrongGeneration {
                got: Generation(2),
                current: G,
            },
            "a message of gen 2; this worker runs gen 3",
        ),
        (
            WorkerRejected::OutOfOrder {
                channel: channel(),
                expected: 2,
                got: 4,
            },
            "item #4 on 0/1->1/0, expected #2",
        ),
        (
            WorkerRejected::EpochNotIncreasing {
                epoch: Epoch(2),
                last: Some(Epoch(3)),
            },
            "checkpoint epoch 2 is not newer than epoch 3",
        ),
        (
            WorkerRejected::Stopping {
                mode: StopJobMode::Immediate,
            },
            "checkpoint refused: immediate stop under way",
        ),
    ];
    for (rejected, line) in cases {
        assert_eq!(rejected.to_string(), line);
    }
}

/// Every output of a real run, and every rejection, is one line without a `Debug` dump.
#[test]
fn worker_io_every_output_of_a_run_is_one_line_of_words() {
    let j = job(
        vec![
            source("read", 2),
            transform("map", 2),
            sink("write", 2, true),
        ],
        &[(0, 1), (1, 2)],
        2,
    );
    let mut c = Cluster::new(&j, G);
    let mut lines = Vec::new();
    for w in &mut c.workers {
        lines.extend(drain(w).iter().map(ToString::to_string));
    }
    c.read(task(0, 0), 2);
    c.read(task(0, 1), 2);
    let _ = c.input(0, WorkerInput::SourceExhausted { task: task(1, 0) });
    let _ = c.command(0, Command::Commit { epoch: Epoch(9) });
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.broadcast(Command::Commit { epoch: Epoch(1) });
    lines.extend(c.rejections.iter().map(ToString::to_string));
    assert_eq!(c.rejections.len(), 2);
    lines.extend(
        c.to_controller
            .iter()
            .map(|m| WorkerOutput::ToController(m.clone()).to_string()),
    );
    for ((task, id), records) in &c.commits {
        let out = WorkerOutput::Commit {
            task: *task,
            transaction: *id,
            records: records.clone(),
        };
        lines.push(out.to_string());
    }
    assert!(lines.len() > 10);
    for line in &lines {
        assert!(!line.contains('\n') && !line.contains('{'), "{line}");
    }
}

#[test]
fn worker_io_types_hash() {
    let restore = Restore {
        epoch: Epoch(1),
        tasks: vec![(task(0, 0), TaskSnapshot::Source { next_offset: 4 })],
    };
    let mut set = HashSet::new();
    assert!(set.insert(restore.clone()));
    assert!(!set.insert(restore));
    let inputs: HashSet<WorkerInput> = [
        command(G, Command::Commit { epoch: Epoch(1) }),
        WorkerInput::TaskError {
            task: task(0, 0),
            reason: "x".into(),
        },
    ]
    .into_iter()
    .collect();
    assert_eq!(inputs.len(), 2);
    let rejections: HashSet<WorkerRejected> =
        [WorkerRejected::UnknownEpoch { epoch: Epoch(1) }].into();
    assert_eq!(rejections.len(), 1);
    // A worker is a value: equal workers hash equal, so an explorer can dedupe states.
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let a = Cluster::new(&j, G).workers.remove(0);
    let mut b = a.clone();
    let workers: HashSet<_> = [a.clone(), b.clone()].into_iter().collect();
    assert_eq!(workers.len(), 1);
    b.handle(
        Time(1),
        WorkerInput::SourceRecords {
            task: task(0, 0),
            count: 1,
        },
    )
    .unwrap();
    let outputs: HashSet<WorkerOutput> = std::iter::from_fn(|| b.poll_output()).collect();
    assert!(!outputs.is_empty());
    assert_eq!([a, b].into_iter().collect::<HashSet<_>>().len(), 2);
}

/// An input that arrives at or past the heartbeat's deadline, with no `handle_timeout` before
/// it, first sends the heartbeat that was due, then applies: exactly as if the timer had fired.
#[test]
fn worker_io_late_input_fires_the_due_heartbeat_first() {
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let mut w = Cluster::new(&j, G).workers.remove(0);
    drain(&mut w);
    let due = w.poll_timeout().expect("the heartbeat is always armed");
    let late = due.plus_ms(500);
    let read = WorkerInput::SourceRecords {
        task: task(0, 0),
        count: 2,
    };
    timers_fire_before(&w, late, read.clone()).unwrap();
    w.handle(late, read).unwrap();
    let lines: Vec<String> = drain(&mut w).iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "to the controller, worker 0 (gen 3): heartbeat",
            "send record op0#p0@0 on 0/0->1/0 #0 to worker 1 (gen 3)",
            "send record op0#p0@1 on 0/0->1/0 #1 to worker 1 (gen 3)",
        ]
    );
    assert_eq!(w.poll_timeout(), Some(late.plus_ms(3_000)));
    // A refused late input still lets the due timer fire, and changes nothing else.
    let due = w.poll_timeout().expect("armed");
    let stale = command(Generation(2), Command::Commit { epoch: Epoch(1) });
    timers_fire_before(&w, due, stale.clone()).unwrap();
    assert!(w.handle(due, stale).is_err());
    let lines: Vec<String> = drain(&mut w).iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["to the controller, worker 0 (gen 3): heartbeat"]);
}
