//! Cost of a record's way through the worker machine, reported **per record** (criterion's
//! time is a round's time divided by the records in it):
//!
//! - `on_worker`: source -> two-phase-commit sink on one worker: read in batches of
//!   [`BATCH`], pre-commit at a checkpoint, commit;
//! - `across_edge`: the same with the sink on a second worker: every record leaves the first
//!   worker as `SendData` and enters the second as `Data`;
//! - `keyed_on_worker`: source -> keyed count -> sink on one worker: a running count per key;
//! - `invariants/*`: a data-heavy run (the sink holds up to [`HEAVY_RECORDS`] records before
//!   its checkpoint), without the invariant check, with the per-step check after every step,
//!   and with the full check after every step (what every step cost before the check was
//!   made incremental).
//!
//! Run with `cargo bench -p quiesce-core --bench worker`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quiesce_core::worker::{Worker, WorkerConfig, WorkerInput, WorkerOutput, WorkerSetup};
use quiesce_core::{
    Command, Edge, Epoch, Generation, Job, Operator, OperatorId, OperatorKind, TaskId, Time,
    ToWorker, WorkerId,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Records announced by one `SourceRecords` input.
const BATCH: u32 = 100;
/// Records read between two checkpoints in the throughput rounds.
const ROUND_RECORDS: u32 = 10_000;
/// Records the sink holds at the end of the data-heavy run.
const HEAVY_RECORDS: u32 = 10_000;
/// Records per input in the data-heavy run: small, so that there are many steps.
const HEAVY_BATCH: u32 = 10;

const G: Generation = Generation(1);

fn operator(name: &str, kind: OperatorKind) -> Operator {
    Operator {
        name: name.into(),
        kind,
        parallelism: 1,
    }
}

/// A chain of one-subtask operators on `workers` workers (task `i` on worker `i % workers`).
fn chain(kinds: &[OperatorKind], workers: u32) -> Job {
    let operators = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| operator(&format!("op{i}"), kind))
        .collect();
    let edges = (1..kinds.len() as u32)
        .map(|i| Edge {
            from: OperatorId(i - 1),
            to: OperatorId(i),
        })
        .collect();
    Job {
        name: "bench".into(),
        operators,
        edges,
        workers,
    }
}

const SINK: OperatorKind = OperatorKind::Sink {
    two_phase_commit: true,
};

fn task(operator: u32) -> TaskId {
    TaskId {
        operator: OperatorId(operator),
        subtask: 0,
    }
}

fn workers(job: &Job) -> Vec<Worker> {
    (0..job.workers)
        .map(|w| {
            let config = WorkerConfig {
                heartbeat_interval_ms: 1 << 30,
                ..WorkerConfig::default()
            };
            Worker::new(WorkerSetup::new(
                job.clone(),
                WorkerId(w),
                G,
                config,
                Time(0),
            ))
            .expect("valid job")
        })
        .collect()
}

fn command(command: Command) -> WorkerInput {
    WorkerInput::Command(ToWorker {
        generation: G,
        command,
    })
}

/// The system of `job`'s workers, every output carried out at once.
struct Run {
    workers: Vec<Worker>,
    tasks: u32,
    epoch: u64,
    /// Records committed so far (so that nothing is optimised away).
    committed: usize,
    check: Check,
}

#[derive(Clone, Copy, PartialEq)]
enum Check {
    None,
    PerStep,
    Full,
}

impl Run {
    fn new(job: &Job, check: Check) -> Run {
        let mut run = Run {
            workers: workers(job),
            tasks: job.operators.len() as u32,
            epoch: 0,
            committed: 0,
            check,
        };
        for w in 0..run.workers.len() {
            run.carry_out(w);
        }
        run
    }

    fn input(&mut self, w: usize, input: WorkerInput) {
        self.workers[w]
            .handle(Time(1), input)
            .expect("the bench's inputs are valid");
        match self.check {
            Check::None => {}
            Check::PerStep => self.workers[w].check_invariants().expect("holds"),
            Check::Full => self.workers[w].check_invariants_full().expect("holds"),
        }
        self.carry_out(w);
    }

    /// Carries out worker `w`'s outputs: data goes to the other worker at once.
    fn carry_out(&mut self, w: usize) {
        while let Some(out) = self.workers[w].poll_output() {
            match out {
                WorkerOutput::SendData {
                    to_worker,
                    generation,
                    channel,
                    seq,
                    item,
                } => {
                    let data = WorkerInput::Data {
                        generation,
                        channel,
                        seq,
                        item,
                    };
                    self.input(to_worker.0 as usize, data);
                }
                WorkerOutput::Commit { records, .. } => self.committed += records.len(),
                WorkerOutput::Snapshot { .. }
                | WorkerOutput::ToController(_)
                | WorkerOutput::Write { .. } => {}
            }
        }
    }

    /// Reads `records` records in batches of `batch`, then checkpoints and commits them.
    fn round(&mut self, records: u32, batch: u32) {
        for _ in 0..records / batch {
            let read = WorkerInput::SourceRecords {
                task: task(0),
                count: batch,
            };
            self.input(0, read);
        }
        self.epoch += 1;
        let epoch = Epoch(self.epoch);
        for w in 0..self.workers.len() {
            let then_stop = false;
            self.input(w, command(Command::Checkpoint { epoch, then_stop }));
        }
        for op in 0..self.tasks {
            let w = (op % self.workers.len() as u32) as usize;
            let task = task(op);
            self.input(w, WorkerInput::SnapshotDone { task, epoch });
        }
        for w in 0..self.workers.len() {
            self.input(w, command(Command::Commit { epoch }));
        }
    }
}

/// Times `rounds` rounds of `records` records, per record.
fn per_record(job: &Job, check: Check, records: u32, batch: u32, rounds: u64) -> Duration {
    let mut run = Run::new(job, check);
    let start = Instant::now();
    for _ in 0..rounds {
        run.round(records, batch);
    }
    let elapsed = start.elapsed();
    black_box(run.committed);
    elapsed / records
}

fn throughput(c: &mut Criterion) {
    let cases = [
        ("on_worker", chain(&[OperatorKind::Source, SINK], 1)),
        ("across_edge", chain(&[OperatorKind::Source, SINK], 2)),
        (
            "keyed_on_worker",
            chain(&[OperatorKind::Source, OperatorKind::KeyedCount, SINK], 1),
        ),
    ];
    let mut group = c.benchmark_group("worker");
    group.throughput(Throughput::Elements(1));
    for (name, job) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|rounds| per_record(&job, Check::None, ROUND_RECORDS, BATCH, rounds))
        });
    }
    group.finish();
}

fn invariants(c: &mut Criterion) {
    let job = chain(&[OperatorKind::Source, SINK], 1);
    let mut group = c.benchmark_group("invariants");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    for (name, check) in [
        ("no_check", Check::None),
        ("per_step_check", Check::PerStep),
        ("full_check", Check::Full),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|rounds| per_record(&job, check, HEAVY_RECORDS, HEAVY_BATCH, rounds))
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, invariants);
criterion_main!(benches);
