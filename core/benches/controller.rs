//! Cost of the controller's hot paths:
//!
//! - `poll_timeout`: one call on a Running controller with several timers armed;
//! - `ack/N_tasks`: one task's checkpoint ack, in a job of N tasks;
//! - `checkpoint_round/N_tasks`: one full checkpoint round (trigger, every ack, persist, every
//!   commit, drain of the outputs) in a job of N tasks, reported **per task**: criterion's time
//!   is the round's time divided by N.
//!
//! On a shared machine the mean is noisy, so each benchmark also prints the best batch it saw
//! (per call, per ack, per task of a round).
//!
//! Run with `cargo bench -p quiesce-core --bench controller`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quiesce_core::controller::{Controller, ControllerSetup};
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
        ttl_ms: Some(1 << 40),
        ..Config::default()
    };
    let mut c =
        Controller::new(ControllerSetup::new(job(tasks), config, Time(0))).expect("valid job");
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
                job.worker_of(task).expect("a task of the job"),
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
                job.worker_of(task).expect("a task of the job"),
                WorkerEvent::Committed { task, epoch },
            )
        })
        .collect();
    (acks, commits)
}

/// Calls timed together when looking for the best `poll_timeout` figure.
const POLL_BATCH: u64 = 10_000;

fn poll_timeout(cr: &mut Criterion) {
    let (c, _) = running(1_000);
    assert!(c.timers().count() >= 4, "several timers armed");
    let mut best = f64::MAX;
    cr.bench_function("poll_timeout", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(POLL_BATCH);
                let start = Instant::now();
                for _ in 0..n {
                    black_box(black_box(&c).poll_timeout());
                }
                let elapsed = start.elapsed();
                if n == POLL_BATCH {
                    best = best.min(elapsed.as_secs_f64() * 1e9 / n as f64);
                }
                total += elapsed;
                done += n;
            }
            total
        })
    });
    if best < f64::MAX {
        println!("poll_timeout: best batch {best:.2} ns per call");
    }
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
        let mut best = f64::MAX;
        group.bench_function(format!("{tasks}_tasks"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let mut round = c.clone();
                    let n = ((iters - done) as usize).min(acks.len());
                    let mut batch = acks[..n].to_vec();
                    let start = Instant::now();
                    for input in batch.drain(..) {
                        let _ = black_box(round.handle(due, input));
                    }
                    let elapsed = start.elapsed();
                    if n == acks.len() {
                        best = best.min(elapsed.as_secs_f64() * 1e9 / n as f64);
                    }
                    total += elapsed;
                    done += n as u64;
                }
                total
            })
        });
        if best < f64::MAX {
            println!("ack/{tasks}_tasks: best batch {best:.2} ns per ack");
        }
    }
    group.finish();
}

/// One whole round, timed from the trigger to the last output drained.
fn one_round(c: &Controller, due: Time, acks: &[Input], commits: &[Input]) -> Duration {
    let mut c = c.clone();
    let mut acks = acks.to_vec();
    let mut commits = commits.to_vec();
    let start = Instant::now();
    c.handle_timeout(due);
    for input in acks.drain(..) {
        let _ = c.handle(due, input);
    }
    c.handle(due, Input::MetadataPersisted { epoch: Epoch(1) })
        .expect("persisting");
    for input in commits.drain(..) {
        let _ = c.handle(due, input);
    }
    let mut outputs = 0usize;
    while c.poll_output().is_some() {
        outputs += 1;
    }
    let elapsed = start.elapsed();
    black_box(outputs);
    assert!(c.status().last_completed_committed);
    elapsed
}

fn round(cr: &mut Criterion) {
    let mut group = cr.benchmark_group("checkpoint_round");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    for tasks in SIZES {
        let (c, due) = running(tasks);
        let (acks, commits) = acks_and_commits(&c, Epoch(1));
        let mut best = Duration::MAX;
        group.bench_function(format!("{tasks}_tasks"), |b| {
            // One iteration is one task's share of a round: whole rounds are run until at
            // least `iters` tasks went through one, and the time is scaled to `iters`.
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let elapsed = one_round(&c, due, &acks, &commits);
                    best = best.min(elapsed);
                    total += elapsed;
                    done += u64::from(tasks);
                }
                total.mul_f64(iters as f64 / done as f64)
            })
        });
        if best < Duration::MAX {
            println!(
                "checkpoint_round/{tasks}_tasks: best round {:.1} us, {:.2} ns per task",
                best.as_secs_f64() * 1e6,
                best.as_secs_f64() * 1e9 / f64::from(tasks)
            );
        }
    }
    group.finish();
}

criterion_group!(benches, poll_timeout, ack, round);
criterion_main!(benches);
