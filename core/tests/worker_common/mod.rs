//! Test support for the worker machine: job builders and an in-memory cluster of workers
//! with a checkpoint store and a transactional sink store, and the exactly-once checks.
#![allow(dead_code)]

use quiesce_core::worker::{
    Channel, Item, Record, Restore, TaskSnapshot, TransactionId, Worker, WorkerConfig, WorkerInput,
    WorkerOutput, WorkerRejected, WorkerSetup,
};
use quiesce_core::{
    Command, Edge, Epoch, FromWorker, Generation, Job, Operator, OperatorId, OperatorKind, TaskId,
    Time, ToWorker, WorkerId,
};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub fn source(name: &str, parallelism: u32) -> Operator {
    Operator {
        name: name.into(),
        kind: OperatorKind::Source,
        parallelism,
    }
}

pub fn transform(name: &str, parallelism: u32) -> Operator {
    Operator {
        name: name.into(),
        kind: OperatorKind::Transform,
        parallelism,
    }
}

pub fn sink(name: &str, parallelism: u32, two_phase_commit: bool) -> Operator {
    Operator {
        name: name.into(),
        kind: OperatorKind::Sink { two_phase_commit },
        parallelism,
    }
}

pub fn job(operators: Vec<Operator>, edges: &[(u32, u32)], workers: u32) -> Job {
    let edges = edges.iter().map(|&(from, to)| Edge {
        from: OperatorId(from),
        to: OperatorId(to),
    });
    Job {
        name: "test".into(),
        operators,
        edges: edges.collect(),
        workers,
    }
}

pub fn task(operator: u32, subtask: u32) -> TaskId {
    TaskId {
        operator: OperatorId(operator),
        subtask,
    }
}

/// Worker `worker` of `job` in generation 1 at time 0, from `restore` if given.
pub fn build(
    job: &Job,
    worker: WorkerId,
    restore: Option<Restore>,
) -> Result<Worker, quiesce_core::worker::WorkerError> {
    Worker::new(setup(job, worker, Generation(1), restore, Time(0)))
}

pub fn command(generation: Generation, command: Command) -> WorkerInput {
    WorkerInput::Command(ToWorker {
        generation,
        command,
    })
}

/// Worker `worker` of `generation`, from `restore` if given.
pub fn setup(
    job: &Job,
    worker: WorkerId,
    generation: Generation,
    restore: Option<Restore>,
    now: Time,
) -> WorkerSetup {
    let setup = WorkerSetup::new(
        job.clone(),
        worker,
        generation,
        WorkerConfig::default(),
        now,
    );
    match restore {
        Some(restore) => setup.with_restore(restore),
        None => setup,
    }
}

pub fn drain(worker: &mut Worker) -> Vec<WorkerOutput> {
    std::iter::from_fn(|| worker.poll_output()).collect()
}

/// The `timers_before_inputs` check: `input` handled at `now` (at or past the worker's
/// deadline) does exactly what `handle_timeout(now)` and then the input do: the same result,
/// the same outputs in the same order, the same worker after.
pub fn timers_fire_before(worker: &Worker, now: Time, input: WorkerInput) -> Result<(), String> {
    let mut late = worker.clone();
    let late_result = late.handle(now, input.clone());
    let late_outputs = drain(&mut late);
    let mut timely = worker.clone();
    timely.handle_timeout(now);
    let timely_result = timely.handle(now, input.clone());
    let timely_outputs = drain(&mut timely);
    if late_result != timely_result || late_outputs != timely_outputs {
        return Err(format!(
            "{input} at {now}: {late_result:?} {late_outputs:?}, but after the timers \
             {timely_result:?} {timely_outputs:?}"
        ));
    }
    if late != timely {
        return Err(format!(
            "{input} at {now} leaves another worker than after the timers"
        ));
    }
    Ok(())
}

pub fn events(outputs: &[WorkerOutput]) -> Vec<quiesce_core::WorkerEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            WorkerOutput::ToController(m) => Some(m.event.clone()),
            _ => None,
        })
        .collect()
}

/// Every worker of one generation, wired through in-memory FIFO channels, with the stores an
/// environment keeps: snapshots by (epoch, task), and the external system's committed
/// transactions keyed by (task, transaction id) so that a repeated commit is a no-op.
pub struct Cluster {
    pub job: Job,
    pub generation: Generation,
    pub workers: Vec<Worker>,
    /// What built each worker.
    pub setups: Vec<WorkerSetup>,
    pub now: Time,
    /// Items sent and not yet delivered, FIFO per channel, with the sender's generation.
    pub in_flight: BTreeMap<Channel, VecDeque<(WorkerId, Generation, u64, Item)>>,
    /// Workers whose process is gone: what reaches them is lost.
    pub dead: Vec<bool>,
    /// How far the clock moves with each input (0: the caller moves it).
    pub step_ms: u64,
    /// Messages to the controller, in order.
    pub to_controller: Vec<FromWorker>,
    /// Snapshots asked for and not yet answered.
    pub snapshot_requests: Vec<(WorkerId, TaskId, Epoch)>,
    pub store: BTreeMap<(Epoch, TaskId), TaskSnapshot>,
    pub commits: BTreeMap<(TaskId, TransactionId), Vec<Record>>,
    /// Commits that repeated an identity the store already had.
    pub repeated_commits: u64,
    pub writes: Vec<(TaskId, Record)>,
    pub rejections: Vec<WorkerRejected>,
}

impl Cluster {
    pub fn new(job: &Job, generation: Generation) -> Cluster {
        Cluster::restored(job, generation, None, &BTreeMap::new())
    }

    /// Starts every worker of `generation`, from checkpoint `restore` in `store` if given.
    pub fn restored(
        job: &Job,
        generation: Generation,
        restore: Option<Epoch>,
        store: &BTreeMap<(Epoch, TaskId), TaskSnapshot>,
    ) -> Cluster {
        let setups: Vec<WorkerSetup> = (0..job.workers)
            .map(|w| {
                let worker = WorkerId(w);
                let restore = restore.map(|epoch| restore_for(job, worker, epoch, store));
                setup(job, worker, generation, restore, Time(0))
            })
            .collect();
        let workers = setups
            .iter()
            .map(|s| Worker::new(s.clone()).expect("the test job is valid"))
            .collect();
        let mut cluster = Cluster {
            job: job.clone(),
            generation,
            workers,
            setups,
            now: Time(0),
            in_flight: BTreeMap::new(),
            dead: vec![false; job.workers as usize],
            step_ms: 1,
            to_controller: Vec::new(),
            snapshot_requests: Vec::new(),
            store: store.clone(),
            commits: BTreeMap::new(),
            repeated_commits: 0,
            writes: Vec::new(),
            rejections: Vec::new(),
        };
        cluster.collect();
        cluster
    }

    /// Replaces every worker with one of `generation`, restored from checkpoint `restore`
    /// in the store. The stores and the items in flight stay.
    pub fn restart(&mut self, generation: Generation, restore: Option<Epoch>) {
        self.generation = generation;
        self.snapshot_requests.clear();
        self.dead.fill(false);
        for w in 0..self.job.workers {
            let worker = WorkerId(w);
            let restore = restore.map(|epoch| restore_for(&self.job, worker, epoch, &self.store));
            let setup = setup(&self.job, worker, generation, restore, self.now);
            self.workers[w as usize] =
                Worker::new(setup.clone()).expect("the restore state is complete");
            self.setups[w as usize] = setup;
        }
        self.collect();
    }

    /// Rebuilds every worker with a known bug switched on. Before any input only: the new
    /// workers' construction outputs are those already collected from the ones they replace.
    #[cfg(feature = "mutants")]
    pub fn mutate(&mut self, mutant: quiesce_core::worker::mutants::WorkerMutant) {
        assert_eq!(self.now, Time(0), "a worker is mutated before any input");
        for (w, setup) in self.workers.iter_mut().zip(&mut self.setups) {
            *setup = setup.clone().with_mutant(mutant);
            *w = Worker::new(setup.clone()).expect("it was built from this very setup");
            drain(w);
        }
    }

    pub fn worker_of(&self, task: TaskId) -> usize {
        self.job.worker_of(task).expect("a task of the job").0 as usize
    }

    /// Takes every worker's outputs into the cluster's queues and stores.
    pub fn collect(&mut self) {
        for w in 0..self.workers.len() {
            while let Some(out) = self.workers[w].poll_output() {
                self.absorb(WorkerId(w as u32), out);
            }
        }
    }

    pub fn absorb(&mut self, from: WorkerId, out: WorkerOutput) {
        match out {
            WorkerOutput::ToController(m) => self.to_controller.push(m),
            WorkerOutput::SendData {
                to_worker,
                generation,
                channel,
                seq,
                item,
            } => {
                assert_eq!(generation, self.generation);
                self.in_flight
                    .entry(channel)
                    .or_default()
                    .push_back((to_worker, generation, seq, item));
            }
            WorkerOutput::Snapshot { task, epoch, state } => {
                self.store.insert((epoch, task), state);
                self.snapshot_requests.push((from, task, epoch));
            }
            WorkerOutput::Write { task, record } => self.writes.push((task, record)),
            WorkerOutput::Commit {
                task,
                transaction,
                records,
            } => match self.commits.entry((task, transaction)) {
                Entry::Occupied(done) => {
                    // A transaction never changes once sealed: a repeat carries the same data.
                    assert_eq!(
                        done.get(),
                        &records,
                        "transaction {transaction:?} of {task} changed"
                    );
                    self.repeated_commits += 1;
                }
                Entry::Vacant(slot) => {
                    slot.insert(records);
                }
            },
        }
    }

    /// Hands `input` to worker `w`, then collects its outputs.
    pub fn input(&mut self, w: usize, input: WorkerInput) -> Result<(), WorkerRejected> {
        if self.dead[w] {
            return Ok(());
        }
        self.now = self.now.plus_ms(self.step_ms);
        let result = self.workers[w].handle(self.now, input);
        if let Err(e) = &result {
            self.rejections.push(e.clone());
        }
        self.collect();
        result
    }

    pub fn command(&mut self, w: usize, c: Command) -> Result<(), WorkerRejected> {
        self.input(w, command(self.generation, c))
    }

    /// Sends `c` to every worker, in worker order.
    pub fn broadcast(&mut self, c: Command) {
        for w in 0..self.workers.len() {
            self.command(w, c.clone()).expect("command accepted");
        }
    }

    pub fn read(&mut self, source: TaskId, count: u32) {
        let w = self.worker_of(source);
        self.input(
            w,
            WorkerInput::SourceRecords {
                task: source,
                count,
            },
        )
        .expect("source reads");
    }

    /// Delivers the oldest item of `channel`, if any.
    pub fn deliver_one(&mut self, channel: Channel) -> bool {
        let Some((to, generation, seq, item)) =
            self.in_flight.get_mut(&channel).and_then(|q| q.pop_front())
        else {
            return false;
        };
        let _ = self.input(
            to.0 as usize,
            WorkerInput::Data {
                generation,
                channel,
                seq,
                item,
            },
        );
        true
    }

    /// Delivers every item in flight, until none is left.
    pub fn deliver_all(&mut self) {
        loop {
            let channels: Vec<Channel> = self
                .in_flight
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(c, _)| *c)
                .collect();
            if channels.is_empty() {
                return;
            }
            for c in channels {
                while self.deliver_one(c) {}
            }
        }
    }

    /// Reports every asked-for snapshot as stored.
    pub fn ack_snapshots(&mut self) {
        for (w, task, epoch) in std::mem::take(&mut self.snapshot_requests) {
            let _ = self.input(w.0 as usize, WorkerInput::SnapshotDone { task, epoch });
        }
    }

    /// Delivers and acks until nothing moves.
    pub fn settle(&mut self) {
        while self.in_flight.values().any(|q| !q.is_empty()) || !self.snapshot_requests.is_empty() {
            self.deliver_all();
            self.ack_snapshots();
        }
    }

    /// Every committed record per sink operator, sorted, with repeats (there should be none:
    /// a record reaches each sink operator once).
    pub fn committed_by_sink(&self) -> BTreeMap<quiesce_core::OperatorId, Vec<Record>> {
        let mut by_sink: BTreeMap<_, Vec<Record>> = BTreeMap::new();
        for ((task, _), records) in &self.commits {
            by_sink.entry(task.operator).or_default().extend(records);
        }
        for records in by_sink.values_mut() {
            records.sort();
        }
        by_sink
    }

    /// Every committed record, with repeats (there should be none).
    pub fn committed(&self) -> Vec<Record> {
        let mut all: Vec<Record> = self.commits.values().flatten().copied().collect();
        all.sort();
        all
    }

    pub fn events(&self) -> Vec<quiesce_core::WorkerEvent> {
        self.to_controller.iter().map(|m| m.event.clone()).collect()
    }
}

/// The restore state of `worker` from checkpoint `epoch` in `store`.
pub fn restore_for(
    job: &Job,
    worker: WorkerId,
    epoch: Epoch,
    store: &BTreeMap<(Epoch, TaskId), TaskSnapshot>,
) -> Restore {
    let tasks = job
        .tasks_of(worker)
        .into_iter()
        .filter_map(|t| store.get(&(epoch, t)).map(|s| (t, s.clone())))
        .collect();
    Restore { epoch, tasks }
}

/// Every record of `source`'s partitions with an offset below the given next offsets.
pub fn records_below(positions: &BTreeMap<TaskId, u64>) -> Vec<Record> {
    let mut all: Vec<Record> = positions
        .iter()
        .flat_map(|(&t, &next)| {
            let partition = quiesce_core::worker::Partition::of_source(t);
            (0..next).map(move |offset| Record { partition, offset })
        })
        .collect();
    all.sort();
    all
}

/// Fails if any record appears twice.
pub fn assert_distinct(records: &[Record]) {
    let mut seen = BTreeSet::new();
    for r in records {
        assert!(seen.insert(*r), "record {r} committed twice");
    }
}
pub mod keyed;
pub mod system;

#[allow(unused_imports)]
pub use keyed::*;
