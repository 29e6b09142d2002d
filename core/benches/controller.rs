//! Cost of the controller's hot paths: one task ack, and one full checkpoint round (trigger,
//! every ack, persist, every commit) for 1k, 10k and 100k tasks.
//!
//! Run with `cargo bench -p quiesce-core`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use quiesce_core::controller::Controller;
use quiesce_core::{
    Config, Edge, Epoch, FromWorker, Input, Job, Operator, OperatorId, OperatorKind, Time,
    WorkerEvent, WorkerId,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SIZES: [u32; 3] = [1_000, 10_000, 100_000];

/// source -> map -> two-phase-commit sink, `tasks / 3` subtasks each, 100 tasks per worker.
fn job(tasks: u32) -> Job {
    let op = |name: &str, kind| Operator {
        name: name.into(),
        kind,
        parallelism: tasks / 3,
    };
    Job {
        name: "bench".into(),
        operators: vec![
            op("src", OperatorKind::Source),
            op("map", OperatorKind::Transform),
            op(
                "sink",
                OperatorKind::Sink {
                    two_phase_commit: true,
                },
            ),
        ],
        edges: vec![
            Edge {
                from: OperatorId(0),
                to: OperatorId(1),
            },
            Edge {
                from: OperatorId(1),
                to: OperatorId(2),
            },
        ],
        workers: (tasks / 100).max(1),
    }
}

fn msg(c: &Controller, worker: WorkerId, event: WorkerEvent) -> Input {
    Input::Worker(FromWorker {
        worker,
        generation: c.status().generation,
        event,
    })
}

/// A Running controller and the time its first checkpoint is due.
fn running(tasks: u32) -> (Controller, Time) {
    let config = Config {
        heartbeat_timeout_ms: 1 << 30,
        healthy_duration_ms: 1 << 30,
        ..Config::default()
    };
    let mut c = Controller::new(job(tasks), config, Time(0)).expect("valid job");
    for w in 0..c.job().workers {
        c.handle(Time(0), msg(&c, WorkerId(w), WorkerEvent::Ready))
            .expect("ready");
    }
    while c.poll_output().is_some() {}
    let due = c.poll_timeout().expect("checkpoint interval armed");
    (c, due)
}

/// Every task's ack of `epoch`, and every sink's commit of it.
fn acks_and_commits(c: &Controller, epoch: Epoch) -> (Vec<Input>, Vec<Input>) {
    let job = c.job();
    let acks = job
        .tasks()
        .map(|task| {
            msg(
                c,
                job.worker_of(task).unwrap(),
                WorkerEvent::CheckpointAcked { task, epoch },
            )
        })
        .collect();
    let commits = job
        .tasks()
        .filter(|t| t.operator == OperatorId(2))
        .map(|task| {
            msg(
                c,
                job.worker_of(task).unwrap(),
                WorkerEvent::Committed { task, epoch },
            )
        })
        .collect();
    (acks, commits)
}

fn ack(cr: &mut Criterion) {
    let mut group = cr.benchmark_group("ack");
    group.throughput(Throughput::Elements(1));
    for tasks in SIZES {
        let (mut c, due) = running(tasks);
        c.handle_timeout(due);
        while c.poll_output().is_some() {}
        let (acks, _) = acks_and_commits(&c, Epoch(1));
        // All but the last ack: the last one moves on to persisting, which is not an ack's cost.
        let acks = &acks[..acks.len() - 1];
        group.bench_function(format!("{tasks}_tasks"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let mut round = c.clone();
                    let n = ((iters - done) as usize).min(acks.len());
                    let start = Instant::now();
                    for input in &acks[..n] {
                        let _ = black_box(round.handle(due, input.clone()));
                    }
                    total += start.elapsed();
                    done += n as u64;
                }
                total
            })
        });
    }
    group.finish();
}

fn round(cr: &mut Criterion) {
    let mut group = cr.benchmark_group("checkpoint_round");
    group.sample_size(10);
    for tasks in SIZES {
        let (c, due) = running(tasks);
        let (acks, commits) = acks_and_commits(&c, Epoch(1));
        group.throughput(Throughput::Elements(u64::from(tasks)));
        group.bench_function(format!("{tasks}_tasks"), |b| {
            b.iter_batched(
                || c.clone(),
                |mut c| {
                    c.handle_timeout(due);
                    for input in &acks {
                        let _ = c.handle(due, input.clone());
                    }
                    c.handle(due, Input::MetadataPersisted { epoch: Epoch(1) })
                        .expect("persisting");
                    for input in &commits {
                        let _ = c.handle(due, input.clone());
                    }
                    let mut outputs = 0;
                    while c.poll_output().is_some() {
                        outputs += 1;
                    }
                    assert!(c.status().last_completed_committed);
                    black_box(outputs)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, ack, round);
criterion_main!(benches);
