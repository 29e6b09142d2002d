//! The worker machine on its own: alignment, snapshots, two-phase commit, the ways tasks end.

mod worker_common;

use quiesce_core::worker::{
    Channel, Item, Partition, Record, Restore, TaskPhase, TaskSnapshot, Transaction, TransactionId,
    Worker, WorkerConfig, WorkerError, WorkerInput, WorkerOutput, WorkerRejected, WorkerSetup,
};
use quiesce_core::{
    Command, ConfigError, Epoch, Generation, JobError, OperatorId, StopJobMode, Time, WorkerEvent,
    WorkerId,
};
use std::collections::BTreeMap;
use worker_common::*;

const G: Generation = Generation(1);

fn rec(source: u32, index: u32, offset: u64) -> Record {
    Record {
        partition: Partition::of_source(task(source, index)),
        offset,
    }
}

fn data(from: quiesce_core::TaskId, to: quiesce_core::TaskId, seq: u64, item: Item) -> WorkerInput {
    WorkerInput::Data {
        generation: G,
        channel: Channel { from, to },
        seq,
        item,
    }
}

fn barrier(epoch: u64) -> Item {
    Item::Barrier {
        epoch: Epoch(epoch),
        then_stop: false,
    }
}

fn sent_items(outputs: &[WorkerOutput]) -> Vec<Item> {
    outputs
        .iter()
        .filter_map(|o| match o {
            WorkerOutput::SendData { item, .. } => Some(*item),
            _ => None,
        })
        .collect()
}

/// source -> sink(2PC), both on one worker.
fn copy_job() -> quiesce_core::Job {
    job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        1,
    )
}

/// source -> transform -> sink(2PC), all on one worker.
fn chain_job() -> quiesce_core::Job {
    job(
        vec![
            source("read", 1),
            transform("map", 1),
            sink("write", 1, true),
        ],
        &[(0, 1), (1, 2)],
        1,
    )
}

fn new_worker(job: &quiesce_core::Job, worker: u32) -> Worker {
    let mut w = Worker::new(WorkerSetup::new(
        job.clone(),
        WorkerId(worker),
        G,
        WorkerConfig::default(),
        Time(0),
    ))
    .expect("valid job");
    drain(&mut w);
    w
}

#[test]
fn worker_barrier_alignment_holds_records_behind_a_late_barrier() {
    // Two sources feed one transform; the transform is alone on worker 2, so the test
    // delivers its input channels by hand.
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
    let (a, b, t) = (task(0, 0), task(1, 0), task(2, 0));
    assert_eq!(j.worker_of(t), Some(WorkerId(2)));
    let mut w = new_worker(&j, 2);
    let mut now = Time(0);
    let mut step = |w: &mut Worker, input| {
        now = now.plus_ms(1);
        w.handle(now, input).expect("accepted");
        drain(w)
    };

    let out = step(&mut w, data(a, t, 0, Item::Record(rec(0, 0, 0))));
    assert_eq!(sent_items(&out), vec![Item::Record(rec(0, 0, 0))]);
    // a's barrier arrives first: a is blocked, and a's next record is held behind it.
    assert!(step(&mut w, data(a, t, 1, barrier(1))).is_empty());
    assert!(step(&mut w, data(a, t, 2, Item::Record(rec(0, 0, 1)))).is_empty());
    let status = w.status();
    assert_eq!(status.tasks[0].aligning, Some(Epoch(1)));
    assert_eq!(status.tasks[0].queued, 1);
    // b keeps flowing while a waits.
    let out = step(&mut w, data(b, t, 0, Item::Record(rec(1, 0, 0))));
    assert_eq!(sent_items(&out), vec![Item::Record(rec(1, 0, 0))]);
    // b's late barrier completes the alignment: snapshot, barrier on, then the held record.
    let out = step(&mut w, data(b, t, 1, barrier(1)));
    assert!(matches!(
        out[0],
        WorkerOutput::Snapshot { task, epoch: Epoch(1), state: TaskSnapshot::Stateless } if task == t
    ));
    assert_eq!(
        sent_items(&out),
        vec![barrier(1), Item::Record(rec(0, 0, 1))]
    );
    let status = w.status();
    assert_eq!(status.tasks[0].aligning, None);
    assert_eq!(status.tasks[0].queued, 0);
    assert_eq!(status.tasks[0].last_aligned, Some(Epoch(1)));
    assert_eq!(status.tasks[0].pending_snapshots, vec![Epoch(1)]);

    // The sink's transaction for epoch 1 holds exactly the records before the barrier.
    let mut cluster = Cluster::new(&j, G);
    cluster.read(a, 2);
    cluster.read(b, 2);
    cluster.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    cluster.read(a, 1);
    cluster.read(b, 1);
    cluster.deliver_all();
    let sink_worker = cluster.worker_of(task(3, 0));
    let pre = cluster.workers[sink_worker]
        .pre_commits(task(3, 0))
        .expect("a 2PC sink")
        .to_vec();
    assert_eq!(pre.len(), 1);
    let mut before = pre[0].records.clone();
    before.sort();
    assert_eq!(
        before,
        vec![rec(0, 0, 0), rec(0, 0, 1), rec(1, 0, 0), rec(1, 0, 1)]
    );
    let open = cluster.workers[sink_worker]
        .open_transaction(task(3, 0))
        .unwrap()
        .to_vec();
    assert_eq!(open.len(), 2);
}

#[test]
fn worker_snapshot_failure_reports_failure_and_no_ack() {
    let j = copy_job();
    let mut w = new_worker(&j, 0);
    w.handle(
        Time(1),
        WorkerInput::SourceRecords {
            task: task(0, 0),
            count: 2,
        },
    )
    .unwrap();
    w.handle(
        Time(2),
        command(
            G,
            Command::Checkpoint {
                epoch: Epoch(1),
                then_stop: false,
            },
        ),
    )
    .unwrap();
    drain(&mut w);
    let failed = WorkerInput::SnapshotFailed {
        task: task(1, 0),
        epoch: Epoch(1),
        reason: "disk full".into(),
    };
    w.handle(Time(3), failed.clone()).unwrap();
    let ev = events(&drain(&mut w));
    assert_eq!(
        ev,
        vec![WorkerEvent::CheckpointFailed {
            task: task(1, 0),
            epoch: Epoch(1),
            reason: "disk full".into()
        }]
    );
    // No ack can follow: the snapshot is no longer awaited.
    assert_eq!(
        w.handle(
            Time(4),
            WorkerInput::SnapshotDone {
                task: task(1, 0),
                epoch: Epoch(1)
            }
        ),
        Err(WorkerRejected::NoSnapshotPending {
            task: task(1, 0),
            epoch: Epoch(1)
        })
    );
    assert_eq!(
        w.handle(Time(4), failed).unwrap_err(),
        WorkerRejected::NoSnapshotPending {
            task: task(1, 0),
            epoch: Epoch(1)
        }
    );
    assert!(drain(&mut w).is_empty());
    // The source's part still acks.
    w.handle(
        Time(5),
        WorkerInput::SnapshotDone {
            task: task(0, 0),
            epoch: Epoch(1),
        },
    )
    .unwrap();
    assert_eq!(
        events(&drain(&mut w)),
        vec![WorkerEvent::CheckpointAcked {
            task: task(0, 0),
            epoch: Epoch(1)
        }]
    );
}

#[test]
fn worker_then_stop_finishes_tasks_in_order_and_sinks_only_after_commit() {
    let j = chain_job();
    let (s, t, k) = (task(0, 0), task(1, 0), task(2, 0));
    let mut w = new_worker(&j, 0);
    w.handle(Time(1), WorkerInput::SourceRecords { task: s, count: 3 })
        .unwrap();
    w.handle(
        Time(2),
        command(
            G,
            Command::Checkpoint {
                epoch: Epoch(1),
                then_stop: true,
            },
        ),
    )
    .unwrap();
    let out = drain(&mut w);
    let snapshots: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            WorkerOutput::Snapshot { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(snapshots, vec![s, t, k]);
    assert!(
        events(&out).is_empty(),
        "nothing finishes before its part is acked"
    );
    // The source stopped reading at the barrier.
    assert_eq!(
        w.handle(Time(3), WorkerInput::SourceRecords { task: s, count: 1 }),
        Err(WorkerRejected::TaskNotRunning { task: s })
    );

    let mut finished = Vec::new();
    for (time, task) in [(4, s), (5, t), (6, k)] {
        w.handle(
            Time(time),
            WorkerInput::SnapshotDone {
                task,
                epoch: Epoch(1),
            },
        )
        .unwrap();
        for e in events(&drain(&mut w)) {
            if let WorkerEvent::TaskFinished { task } = e {
                finished.push(task);
            }
        }
    }
    assert_eq!(finished, vec![s, t], "the sink waits for the commit");
    assert_eq!(
        w.task_phase(k),
        Some(TaskPhase::FinalCheckpoint {
            epoch: Epoch(1),
            acked: true
        })
    );

    w.handle(Time(7), command(G, Command::Commit { epoch: Epoch(1) }))
        .unwrap();
    let out = drain(&mut w);
    assert_eq!(
        out,
        vec![
            WorkerOutput::Commit {
                task: k,
                transaction: TransactionId::Epoch(Epoch(1)),
                records: (0..3).map(|o| rec(0, 0, o)).collect(),
            },
            WorkerOutput::ToController(quiesce_core::FromWorker {
                worker: WorkerId(0),
                generation: G,
                event: WorkerEvent::Committed {
                    task: k,
                    epoch: Epoch(1)
                },
            }),
            WorkerOutput::ToController(quiesce_core::FromWorker {
                worker: WorkerId(0),
                generation: G,
                event: WorkerEvent::TaskFinished { task: k },
            }),
        ]
    );
    assert!(w.status().all_tasks_over());
}

#[test]
fn worker_graceful_stop_drains_every_in_flight_record_to_the_sink() {
    // Source, transform and sink on three workers, so records can be in flight.
    let j = job(
        vec![
            source("read", 2),
            transform("map", 1),
            sink("write", 1, true),
        ],
        &[(0, 1), (1, 2)],
        3,
    );
    let mut c = Cluster::new(&j, G);
    c.read(task(0, 0), 5);
    c.read(task(0, 1), 3);
    // A checkpoint whose pre-commit is still waiting for its commit when the stop comes.
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.read(task(0, 0), 4);
    c.read(task(0, 1), 2);
    // Part of the data has reached the transform, none the sink.
    let first = Channel {
        from: task(0, 0),
        to: task(1, 0),
    };
    c.deliver_one(first);
    c.deliver_one(first);
    c.broadcast(Command::Stop {
        mode: StopJobMode::Graceful,
    });
    assert!(c.commits.is_empty(), "the sink has not seen its input end");
    c.deliver_all();

    let expected = records_below(&BTreeMap::from([(task(0, 0), 9), (task(0, 1), 5)]));
    let committed = c.committed();
    assert_distinct(&committed);
    assert_eq!(committed, expected);
    // The pre-commit keeps its epoch's identity; the rest is the drain.
    assert!(c
        .commits
        .contains_key(&(task(2, 0), TransactionId::Epoch(Epoch(1)))));
    assert!(c
        .commits
        .contains_key(&(task(2, 0), TransactionId::Drain(G))));
    let finished: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            WorkerEvent::TaskFinished { task } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 4);
    assert_eq!(
        *finished.last().unwrap(),
        task(2, 0),
        "the sink finishes last"
    );
    assert!(c.workers.iter().all(|w| w.status().all_tasks_over()));
}

#[test]
fn worker_immediate_stop_finishes_every_task_at_once() {
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let mut c = Cluster::new(&j, G);
    c.read(task(0, 0), 4);
    c.deliver_one(Channel {
        from: task(0, 0),
        to: task(1, 0),
    });
    assert_eq!(c.workers[1].open_transaction(task(1, 0)).unwrap().len(), 1);
    for w in 0..2 {
        let before = c.to_controller.len();
        c.command(
            w,
            Command::Stop {
                mode: StopJobMode::Immediate,
            },
        )
        .unwrap();
        let finished: Vec<_> = c.to_controller[before..]
            .iter()
            .map(|m| m.event.clone())
            .collect();
        let hosted: Vec<_> = c.workers[w].tasks().collect();
        assert_eq!(
            finished,
            hosted
                .iter()
                .map(|&task| WorkerEvent::TaskFinished { task })
                .collect::<Vec<_>>()
        );
        assert!(c.workers[w].status().all_tasks_over());
    }
    // The records still in flight are refused, and nothing was committed.
    c.deliver_all();
    assert!(c
        .rejections
        .iter()
        .all(|r| matches!(r, WorkerRejected::TaskNotRunning { .. })));
    assert_eq!(c.rejections.len(), 3);
    assert!(c.commits.is_empty());
    // A repeated stop is a no-op.
    c.command(
        1,
        Command::Stop {
            mode: StopJobMode::Graceful,
        },
    )
    .unwrap();
    assert!(drain(&mut c.workers[1]).is_empty());
}

#[test]
fn worker_commit_twice_commits_once() {
    let j = copy_job();
    let mut c = Cluster::new(&j, G);
    c.read(task(0, 0), 3);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.broadcast(Command::Commit { epoch: Epoch(1) });
    let committed_events = |c: &Cluster| {
        c.events()
            .iter()
            .filter(|e| matches!(e, WorkerEvent::Committed { .. }))
            .count()
    };
    assert_eq!(committed_events(&c), 1);
    assert_eq!(c.commits.len(), 1);
    c.broadcast(Command::Commit { epoch: Epoch(1) });
    assert_eq!(c.commits.len(), 1);
    assert_eq!(
        c.repeated_commits, 0,
        "the worker itself did not commit again"
    );
    assert_eq!(committed_events(&c), 1);
    assert_eq!(
        c.committed(),
        (0..3).map(|o| rec(0, 0, o)).collect::<Vec<_>>()
    );
}

#[test]
fn worker_abort_drops_only_that_epochs_pre_commit() {
    // The sink is on its own worker, so the abort of epoch 1 can reach it after barrier 2.
    let j = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let (s, k) = (task(0, 0), task(1, 0));
    let mut c = Cluster::new(&j, G);
    c.read(s, 3);
    c.command(
        0,
        Command::Checkpoint {
            epoch: Epoch(1),
            then_stop: false,
        },
    )
    .unwrap();
    c.read(s, 2);
    c.command(
        0,
        Command::Checkpoint {
            epoch: Epoch(2),
            then_stop: false,
        },
    )
    .unwrap();
    c.read(s, 1);
    c.deliver_all();
    let pre = |c: &Cluster| c.workers[1].pre_commits(k).unwrap().to_vec();
    let offsets = |records: &[Record]| records.iter().map(|r| r.offset).collect::<Vec<_>>();
    let e2 = Transaction {
        epoch: Epoch(2),
        records: vec![rec(0, 0, 3), rec(0, 0, 4)],
    };
    assert_eq!(
        pre(&c).iter().map(|t| t.epoch).collect::<Vec<_>>(),
        vec![Epoch(1), Epoch(2)]
    );

    c.command(1, Command::Abort { epoch: Epoch(1) }).unwrap();
    // Epoch 1's transaction is gone, epoch 2's is untouched, and epoch 1's records wait in
    // the open transaction, ahead of the ones that arrived later.
    assert_eq!(pre(&c), vec![e2.clone()]);
    assert_eq!(
        offsets(c.workers[1].open_transaction(k).unwrap()),
        vec![0, 1, 2, 5]
    );
    // A snapshot of an aborted epoch is no longer awaited; a commit of it is refused.
    assert_eq!(
        c.input(
            1,
            WorkerInput::SnapshotDone {
                task: k,
                epoch: Epoch(1)
            }
        ),
        Err(WorkerRejected::NoSnapshotPending {
            task: k,
            epoch: Epoch(1)
        })
    );
    assert_eq!(
        c.command(1, Command::Commit { epoch: Epoch(1) }),
        Err(WorkerRejected::EpochAborted { epoch: Epoch(1) })
    );
    c.command(0, Command::Abort { epoch: Epoch(1) }).unwrap();
    c.settle();

    // Epoch 3 carries epoch 1's records.
    c.command(
        0,
        Command::Checkpoint {
            epoch: Epoch(3),
            then_stop: false,
        },
    )
    .unwrap();
    c.settle();
    assert_eq!(offsets(&pre(&c)[1].records), vec![0, 1, 2, 5]);
    c.broadcast(Command::Commit { epoch: Epoch(2) });
    assert_eq!(
        c.commits.get(&(k, TransactionId::Epoch(Epoch(2)))),
        Some(&e2.records)
    );
    c.broadcast(Command::Commit { epoch: Epoch(3) });
    assert!(!c.commits.contains_key(&(k, TransactionId::Epoch(Epoch(1)))));
    // In the end every record is committed exactly once.
    assert_eq!(
        c.committed(),
        (0..6).map(|o| rec(0, 0, o)).collect::<Vec<_>>()
    );
}

#[test]
fn worker_stale_generation_is_rejected_and_changes_nothing() {
    let j = copy_job();
    let mut w = new_worker(&j, 0);
    w.handle(
        Time(1),
        WorkerInput::SourceRecords {
            task: task(0, 0),
            count: 2,
        },
    )
    .unwrap();
    drain(&mut w);
    let before = w.status();
    for c in [
        Command::Checkpoint {
            epoch: Epoch(1),
            then_stop: true,
        },
        Command::Commit { epoch: Epoch(1) },
        Command::Abort { epoch: Epoch(1) },
        Command::Stop {
            mode: StopJobMode::Immediate,
        },
    ] {
        for stale in [Generation(0), Generation(2)] {
            assert_eq!(
                w.handle(Time(5), command(stale, c.clone())),
                Err(WorkerRejected::WrongGeneration {
                    got: stale,
                    current: G
                })
            );
        }
    }
    assert_eq!(w.status(), before, "not even the clock moved");
    assert!(w.poll_output().is_none());
}

#[test]
fn worker_restored_sink_commits_the_previous_generations_pre_commit() {
    let j = copy_job();
    let mut first = Cluster::new(&j, G);
    first.read(task(0, 0), 3);
    first.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    first.settle();
    first.read(task(0, 0), 2); // read after the checkpoint, lost with the generation
    first.deliver_all();
    // Checkpoint 1 is persisted, but the generation dies before committing it.
    let g2 = Generation(2);
    let mut second = Cluster::restored(&j, g2, Some(Epoch(1)), &first.store);
    assert_eq!(second.workers[0].pre_commits(task(1, 0)).unwrap().len(), 1);
    assert_eq!(second.workers[0].status().tasks[0].next_offset, Some(3));
    second.broadcast(Command::Commit { epoch: Epoch(1) });
    assert_eq!(
        second.committed(),
        (0..3).map(|o| rec(0, 0, o)).collect::<Vec<_>>()
    );
    // Repeated: a no-op.
    second.broadcast(Command::Commit { epoch: Epoch(1) });
    assert_eq!(second.commits.len(), 1);
    // The source resumes at the restored position: offsets 3 and 4 are read again.
    second.read(task(0, 0), 2);
    second.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: true,
    });
    second.settle();
    second.broadcast(Command::Commit { epoch: Epoch(2) });
    assert_eq!(
        second.committed(),
        (0..5).map(|o| rec(0, 0, o)).collect::<Vec<_>>()
    );
    assert!(second.workers[0].status().all_tasks_over());
    // A commit before the tasks aligned the epoch is premature: here the sink is on its own
    // worker and its barrier has not arrived.
    let apart = job(
        vec![source("read", 1), sink("write", 1, true)],
        &[(0, 1)],
        2,
    );
    let mut early = Worker::new(WorkerSetup::new(
        apart.clone(),
        WorkerId(1),
        g2,
        WorkerConfig::default(),
        Time(0),
    ))
    .unwrap();
    let checkpoint = Command::Checkpoint {
        epoch: Epoch(5),
        then_stop: false,
    };
    early.handle(Time(1), command(g2, checkpoint)).unwrap();
    assert_eq!(
        early.handle(Time(2), command(g2, Command::Commit { epoch: Epoch(5) })),
        Err(WorkerRejected::NotAligned {
            task: task(1, 0),
            epoch: Epoch(5)
        })
    );
    // An old barrier cannot come back.
    assert!(matches!(
        Worker::new(WorkerSetup::new(
            j.clone(),
            WorkerId(0),
            g2,
            WorkerConfig::default(),
            Time(0)
        ))
        .unwrap()
        .handle(Time(1), command(g2, Command::Commit { epoch: Epoch(1) })),
        Err(WorkerRejected::UnknownEpoch { .. })
    ));
}

#[test]
fn worker_refuses_out_of_order_misrouted_and_repeated_data() {
    let j = job(
        vec![source("read", 2), sink("write", 2, true)],
        &[(0, 1)],
        2,
    );
    // Tasks: 0/0 -> w0, 0/1 -> w1, 1/0 -> w0, 1/1 -> w1.
    let mut w = new_worker(&j, 1);
    let (s0, s1, k1) = (task(0, 0), task(0, 1), task(1, 1));
    // Partition 0/0 routes to sink subtask (0 + 0) % 2 = 0, not 1.
    assert!(matches!(
        w.handle(Time(1), data(s0, k1, 0, Item::Record(rec(0, 0, 0)))),
        Err(WorkerRejected::Misrouted { .. })
    ));
    // Partition 0/0 only comes from source 0/0.
    assert!(matches!(
        w.handle(Time(1), data(s0, k1, 0, Item::Record(rec(0, 1, 0)))),
        Err(WorkerRejected::Misrouted { .. })
    ));
    assert_eq!(
        w.handle(Time(1), data(s0, k1, 1, barrier(1))),
        Err(WorkerRejected::OutOfOrder {
            channel: Channel { from: s0, to: k1 },
            expected: 0,
            got: 1
        })
    );
    assert_eq!(
        w.handle(Time(1), data(s1, k1, 0, Item::Record(rec(0, 1, 0)))),
        Err(WorkerRejected::LocalChannel {
            channel: Channel { from: s1, to: k1 }
        })
    );
    assert!(matches!(
        w.handle(Time(1), data(task(1, 0), s1, 0, Item::EndOfStream)),
        Err(WorkerRejected::NotAChannel { .. })
    ));
    assert!(matches!(
        w.handle(Time(1), data(s0, task(1, 0), 0, Item::EndOfStream)),
        Err(WorkerRejected::TaskNotOnWorker { .. })
    ));
    // Data of another generation is fenced off like commands are.
    let stale = WorkerInput::Data {
        generation: Generation(0),
        channel: Channel { from: s0, to: k1 },
        seq: 0,
        item: barrier(2),
    };
    assert_eq!(
        w.handle(Time(1), stale),
        Err(WorkerRejected::WrongGeneration {
            got: Generation(0),
            current: G
        })
    );
    w.handle(Time(2), data(s0, k1, 0, barrier(2))).unwrap();
    assert!(matches!(
        w.handle(Time(3), data(s0, k1, 1, barrier(2))),
        Err(WorkerRejected::BarrierNotIncreasing { .. })
    ));
    w.handle(Time(3), data(s0, k1, 1, Item::EndOfStream))
        .unwrap();
    assert!(matches!(
        w.handle(Time(4), data(s0, k1, 2, barrier(3))),
        Err(WorkerRejected::ChannelClosed { .. })
    ));
    assert!(matches!(
        w.handle(Time(1), WorkerInput::SourceRecords { task: s1, count: 1 }),
        Err(WorkerRejected::TimeWentBackwards { .. })
    ));
    assert_eq!(
        w.handle(Time(5), WorkerInput::SourceRecords { task: k1, count: 1 }),
        Err(WorkerRejected::NotASource { task: k1 })
    );
    assert_eq!(
        w.handle(
            Time(5),
            WorkerInput::SourceRecords {
                task: s1,
                count: 10_001
            }
        ),
        Err(WorkerRejected::TooManyRecords {
            count: 10_001,
            max: 10_000
        })
    );

    // A repeated offset from a remote source is refused.
    let j = job(
        vec![source("read", 1), sink("write", 1, false)],
        &[(0, 1)],
        2,
    );
    let mut w = new_worker(&j, 1);
    let (s, k) = (task(0, 0), task(1, 0));
    w.handle(Time(1), data(s, k, 0, Item::Record(rec(0, 0, 7))))
        .unwrap();
    assert!(matches!(
        w.handle(Time(2), data(s, k, 1, Item::Record(rec(0, 0, 7)))),
        Err(WorkerRejected::OffsetNotIncreasing { last: 7, .. })
    ));
    // A sink without two-phase commit writes at once.
    assert_eq!(
        drain(&mut w),
        vec![WorkerOutput::Write {
            task: k,
            record: rec(0, 0, 7)
        }]
    );
}

#[test]
fn worker_heartbeats_every_interval() {
    let j = copy_job();
    let config = WorkerConfig {
        heartbeat_interval_ms: 100,
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(WorkerSetup::new(
        j.clone(),
        WorkerId(0),
        G,
        config,
        Time(10),
    ))
    .unwrap();
    assert_eq!(events(&drain(&mut w)), vec![WorkerEvent::Ready]);
    assert_eq!(w.poll_timeout(), Some(Time(110)));
    w.handle_timeout(Time(50)); // spurious
    assert!(w.poll_output().is_none());
    w.handle_timeout(Time(110));
    assert_eq!(events(&drain(&mut w)), vec![WorkerEvent::Heartbeat]);
    assert_eq!(w.poll_timeout(), Some(Time(210)));
    w.handle_timeout(Time(100)); // backwards: ignored
    assert!(w.poll_output().is_none());
    assert_eq!(w.poll_timeout(), Some(Time(210)));

    let zero = WorkerConfig {
        heartbeat_interval_ms: 0,
        ..WorkerConfig::default()
    };
    assert_eq!(
        Worker::new(WorkerSetup::new(j.clone(), WorkerId(0), G, zero, Time(0))).unwrap_err(),
        WorkerError::Config(ConfigError::Zero {
            field: "heartbeat_interval_ms"
        })
    );
    assert!(WorkerConfig::default().validate().is_ok());
    let none = WorkerConfig {
        max_poll_records: 0,
        ..WorkerConfig::default()
    };
    assert!(none.validate().is_err());
}

#[test]
fn worker_refuses_jobs_it_cannot_model() {
    // A diamond: read -> a -> join, read -> b -> join.
    let diamond = job(
        vec![
            source("read", 1),
            transform("a", 1),
            transform("b", 1),
            transform("join", 1),
            sink("out", 1, true),
        ],
        &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)],
        1,
    );
    assert!(matches!(
        Worker::new(WorkerSetup::new(
            diamond.clone(),
            WorkerId(0),
            G,
            WorkerConfig::default(),
            Time(0)
        )),
        Err(WorkerError::Job(JobError::MultiplePaths {
            from: OperatorId(0),
            to: OperatorId(3)
        }))
    ));
    let j = copy_job();
    assert!(matches!(
        Worker::new(WorkerSetup::new(
            j.clone(),
            WorkerId(1),
            G,
            WorkerConfig::default(),
            Time(0)
        )),
        Err(WorkerError::UnknownWorker { .. })
    ));
    let missing = Restore {
        epoch: Epoch(1),
        tasks: vec![],
    };
    assert!(matches!(
        Worker::new(
            WorkerSetup::new(j.clone(), WorkerId(0), G, WorkerConfig::default(), Time(0))
                .with_restore(missing)
        ),
        Err(WorkerError::BadRestore { .. })
    ));
    let newer = Restore {
        epoch: Epoch(1),
        tasks: vec![
            (task(0, 0), TaskSnapshot::Source { next_offset: 1 }),
            (
                task(1, 0),
                TaskSnapshot::Sink {
                    pending: vec![Transaction {
                        epoch: Epoch(2),
                        records: vec![rec(0, 0, 0)],
                    }],
                },
            ),
        ],
    };
    assert!(matches!(
        Worker::new(
            WorkerSetup::new(j.clone(), WorkerId(0), G, WorkerConfig::default(), Time(0))
                .with_restore(newer)
        ),
        Err(WorkerError::BadRestore { .. })
    ));
}

#[test]
fn worker_aborted_final_checkpoint_halts_until_a_stop() {
    let j = chain_job();
    let k = task(2, 0);
    let mut c = Cluster::new(&j, G);
    c.read(task(0, 0), 2);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: true,
    });
    c.broadcast(Command::Abort { epoch: Epoch(1) });
    c.ack_snapshots();
    assert!(c
        .rejections
        .iter()
        .all(|r| matches!(r, WorkerRejected::NoSnapshotPending { .. })));
    for t in c.workers[0].status().tasks {
        assert_eq!(t.phase, TaskPhase::Halted { epoch: Epoch(1) });
    }
    assert_eq!(c.workers[0].open_transaction(k).unwrap().len(), 2);
    // Checkpoints after a stop are refused; a graceful stop delivers the halted records.
    c.broadcast(Command::Stop {
        mode: StopJobMode::Graceful,
    });
    assert!(c.workers[0].status().all_tasks_over());
    assert_eq!(c.committed(), vec![rec(0, 0, 0), rec(0, 0, 1)]);
    assert_eq!(
        c.command(
            0,
            Command::Checkpoint {
                epoch: Epoch(2),
                then_stop: false
            }
        ),
        Err(WorkerRejected::Stopping {
            mode: StopJobMode::Graceful
        })
    );
}

#[test]
fn worker_source_end_reports_input_ended_once_and_the_job_ends_with_the_final_checkpoint() {
    let j = job(
        vec![
            source("read", 2),
            transform("map", 2),
            sink("write", 2, true),
        ],
        &[(0, 1), (1, 2)],
        2,
    );
    let sources = [task(0, 0), task(0, 1)];
    let mut c = Cluster::new(&j, G);
    c.read(sources[0], 3);
    c.read(sources[1], 2);
    for s in sources {
        let w = c.worker_of(s);
        c.input(w, WorkerInput::SourceExhausted { task: s })
            .unwrap();
        // Once only; and the source reads no more.
        assert_eq!(
            c.input(w, WorkerInput::SourceExhausted { task: s }),
            Err(WorkerRejected::InputEnded { task: s })
        );
        assert_eq!(
            c.input(w, WorkerInput::SourceRecords { task: s, count: 1 }),
            Err(WorkerRejected::InputEnded { task: s })
        );
    }
    c.deliver_all();
    let ended: Vec<_> = c
        .events()
        .into_iter()
        .filter(|e| matches!(e, WorkerEvent::InputEnded { .. }))
        .collect();
    assert_eq!(
        ended,
        sources
            .map(|task| WorkerEvent::InputEnded { task })
            .to_vec()
    );
    // Nothing ends and nothing is committed: no end of stream went downstream.
    assert!(!c
        .events()
        .iter()
        .any(|e| matches!(e, WorkerEvent::TaskFinished { .. })));
    assert!(c.commits.is_empty());
    for w in &c.workers {
        for t in w.status().tasks {
            assert_eq!(t.phase, TaskPhase::Running, "{}", t.task);
            assert_eq!(t.input_ended, t.next_offset.is_some(), "{}", t.task);
        }
    }
    let end = BTreeMap::from([(sources[0], 3), (sources[1], 2)]);

    // A periodic checkpoint: the ended sources answer it with their end positions.
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    for s in sources {
        assert_eq!(
            c.store.get(&(Epoch(1), s)),
            Some(&TaskSnapshot::Source {
                next_offset: end[&s]
            })
        );
    }
    c.broadcast(Command::Commit { epoch: Epoch(1) });
    assert_eq!(c.committed(), records_below(&end));

    // The final checkpoint: every task finishes after its part, the sinks after the commit.
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(2),
        then_stop: true,
    });
    c.settle();
    for w in &c.workers {
        for t in w.status().tasks {
            let sink = t.task.operator.0 == 2;
            assert_eq!(t.phase.is_over(), !sink, "{}", t.task);
        }
    }
    c.broadcast(Command::Commit { epoch: Epoch(2) });
    assert!(c.workers.iter().all(|w| w.status().all_tasks_over()));
    let finished = c
        .events()
        .iter()
        .filter(|e| matches!(e, WorkerEvent::TaskFinished { .. }))
        .count();
    assert_eq!(finished, 6);
    assert_eq!(c.committed(), records_below(&end), "every record once");
    assert!(c
        .commits
        .keys()
        .all(|(_, id)| matches!(id, TransactionId::Epoch(_))));
}

#[test]
fn worker_inputs_and_outputs_round_trip_through_serde() {
    let j = chain_job();
    let mut c = Cluster::new(&j, G);
    let mut w = Worker::new(WorkerSetup::new(
        j.clone(),
        WorkerId(0),
        G,
        WorkerConfig::default(),
        Time(0),
    ))
    .unwrap();
    let inputs = vec![
        WorkerInput::SourceRecords {
            task: task(0, 0),
            count: 2,
        },
        command(
            G,
            Command::Checkpoint {
                epoch: Epoch(1),
                then_stop: false,
            },
        ),
        WorkerInput::SnapshotDone {
            task: task(2, 0),
            epoch: Epoch(1),
        },
        WorkerInput::TaskError {
            task: task(1, 0),
            reason: "boom".into(),
        },
    ];
    for (i, input) in inputs.into_iter().enumerate() {
        let json = serde_json::to_string(&input).unwrap();
        let back: WorkerInput = serde_json::from_str(&json).unwrap();
        assert_eq!(back, input);
        w.handle(Time(i as u64), back).unwrap();
    }
    for out in drain(&mut w) {
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(serde_json::from_str::<WorkerOutput>(&json).unwrap(), out);
    }
    let status = w.status();
    let json = serde_json::to_string(&status).unwrap();
    assert_eq!(
        serde_json::from_str::<quiesce_core::WorkerStatus>(&json).unwrap(),
        status
    );
    assert_eq!(status.tasks[1].phase, TaskPhase::Failed);
    let config: WorkerConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, WorkerConfig::default());
    c.settle();
}

#[test]
fn worker_end_of_input_leaves_the_tail_open_until_the_final_checkpoint_commits_it() {
    let j = copy_job();
    let (s, k) = (task(0, 0), task(1, 0));
    let mut c = Cluster::new(&j, G);
    c.read(s, 2);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.read(s, 1);
    c.input(0, WorkerInput::SourceExhausted { task: s })
        .unwrap();
    // The sink commits nothing on its own: the tail is still the open transaction.
    assert!(c.commits.is_empty());
    assert_eq!(c.workers[0].open_transaction(k), Some(&[rec(0, 0, 2)][..]));
    c.command(0, Command::Commit { epoch: Epoch(1) }).unwrap();
    assert_eq!(
        c.commits.get(&(k, TransactionId::Epoch(Epoch(1)))),
        Some(&vec![rec(0, 0, 0), rec(0, 0, 1)])
    );
    assert_eq!(c.commits.len(), 1);
    c.command(
        0,
        Command::Checkpoint {
            epoch: Epoch(2),
            then_stop: true,
        },
    )
    .unwrap();
    c.settle();
    assert_eq!(
        c.store.get(&(Epoch(2), s)),
        Some(&TaskSnapshot::Source { next_offset: 3 })
    );
    assert_eq!(c.workers[0].task_phase(s), Some(TaskPhase::Finished));
    assert_eq!(
        c.workers[0].task_phase(k),
        Some(TaskPhase::FinalCheckpoint {
            epoch: Epoch(2),
            acked: true
        }),
        "the sink waits for the commit of the final checkpoint"
    );
    assert_eq!(c.workers[0].pre_commits(k).map(<[_]>::len), Some(1));
    c.command(0, Command::Commit { epoch: Epoch(2) }).unwrap();
    assert_eq!(
        c.commits.get(&(k, TransactionId::Epoch(Epoch(2)))),
        Some(&vec![rec(0, 0, 2)])
    );
    assert_eq!(c.commits.len(), 2);
    assert!(c.workers[0].status().all_tasks_over());
}

#[test]
fn worker_sink_drained_by_a_graceful_stop_commits_all_and_answers_later_commits() {
    let j = copy_job();
    let (s, k) = (task(0, 0), task(1, 0));
    let mut c = Cluster::new(&j, G);
    c.read(s, 2);
    c.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    c.settle();
    c.read(s, 1);
    c.command(
        0,
        Command::Stop {
            mode: StopJobMode::Graceful,
        },
    )
    .unwrap();
    // The pre-commit keeps its identity, the tail is the drain; both are visible now.
    assert_eq!(
        c.commits.get(&(k, TransactionId::Epoch(Epoch(1)))),
        Some(&vec![rec(0, 0, 0), rec(0, 0, 1)])
    );
    assert_eq!(
        c.commits.get(&(k, TransactionId::Drain(G))),
        Some(&vec![rec(0, 0, 2)])
    );
    assert!(c.workers[0].status().all_tasks_over());
    // The controller's commit of epoch 1 still gets its answer, and commits nothing more.
    let before = c.to_controller.len();
    c.command(0, Command::Commit { epoch: Epoch(1) }).unwrap();
    let answers: Vec<_> = c.to_controller[before..]
        .iter()
        .map(|m| m.event.clone())
        .collect();
    assert_eq!(
        answers,
        vec![WorkerEvent::Committed {
            task: k,
            epoch: Epoch(1)
        }]
    );
    assert_eq!(c.commits.len(), 2);
    assert_eq!(c.repeated_commits, 0);
}

#[test]
fn worker_alignment_keeps_exactly_once_across_a_restore() {
    // The scenario of the `no-alignment` mutant, without the bug: a's records behind its
    // barrier wait for b's barrier, so they belong to epoch 2 and are committed once.
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
    first.read(a, 2);
    first.read(b, 2);
    first.broadcast(Command::Checkpoint {
        epoch: Epoch(1),
        then_stop: false,
    });
    first.read(a, 2);
    let into_join = |from| Channel {
        from,
        to: task(2, 0),
    };
    while first.deliver_one(into_join(a)) {}
    while first.deliver_one(into_join(b)) {}
    first.settle();
    first.broadcast(Command::Commit { epoch: Epoch(1) });
    let g2 = Generation(2);
    let mut second = Cluster::restored(&j, g2, Some(Epoch(1)), &first.store);
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
    let mut all: Vec<Record> = external.values().flatten().copied().collect();
    all.sort();
    assert_eq!(
        all,
        records_below(&BTreeMap::from([(a, 4), (b, 2)])),
        "every record once"
    );
}
