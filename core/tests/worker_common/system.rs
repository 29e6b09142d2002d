//! One controller and the workers of its current generation, wired through explicit FIFO
//! queues: controller -> worker and worker -> controller per worker, data per channel,
//! and the environment's answers to effects. A test either pumps everything fairly or picks,
//! step by step, which queue moves next.

use super::Cluster;
use quiesce_core::controller::{invariants, Controller, ControllerSetup};
use quiesce_core::worker::{Channel, WorkerInput};
use quiesce_core::{
    Config, Epoch, FromWorker, Generation, Input, Job, Output, RestartStrategy, Status, StopMode,
    TaskId, Time, ToWorker, WorkerId,
};
use std::collections::{BTreeMap, VecDeque};

/// Short durations, so that a test runs in few steps.
pub fn config() -> Config {
    Config {
        checkpoint_interval_ms: 1_000,
        min_pause_ms: 500,
        checkpoint_timeout_ms: 5_000,
        tolerable_checkpoint_failures: 2,
        retained_checkpoints: 2,
        cleanup_timeout_ms: 5_000,
        stop_timeout_ms: 5_000,
        force_timeout_ms: 2_000,
        force_retries: 2,
        force_retry_backoff_ms: 500,
        heartbeat_timeout_ms: 10_000,
        scheduling_timeout_ms: 5_000,
        restart_strategy: RestartStrategy::FixedDelay {
            delay_ms: 500,
            max_restarts: 3,
        },
        healthy_duration_ms: 30_000,
        ttl_ms: None,
        jitter_seed: 7,
    }
}

/// An answer the environment owes the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owed {
    Persist(Epoch),
    Cleanup(Epoch),
    WorkersStopped(Generation),
    WorkerExited(WorkerId, Generation),
}

/// One move of the system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    ToWorker(WorkerId),
    ToController(WorkerId),
    Data(Channel),
    /// Answer the snapshot request at this index: stored, or failed.
    Snapshot(usize, bool),
    /// Answer the owed effect at this index: as asked, or (a persist) failed.
    Effect(usize, bool),
    Read(TaskId, u32),
    Tick,
    Stop(StopMode),
    Crash(WorkerId),
    /// A source's partition ends.
    Exhaust(TaskId),
    /// A task's own code fails.
    Fail(TaskId),
}

pub struct System {
    pub controller: Controller,
    pub status: Status,
    pub cluster: Cluster,
    /// Whether the cluster's workers were started (StartWorkers) and not yet killed.
    pub running: bool,
    pub now: Time,
    pub to_workers: BTreeMap<WorkerId, VecDeque<ToWorker>>,
    pub to_controller: BTreeMap<WorkerId, VecDeque<FromWorker>>,
    pub owed: Vec<Owed>,
    pub rejected_by_controller: u64,
    pub outputs: Vec<Output>,
    /// Where each source's partition ended, the first time it did. A restored source reads
    /// on up to there and reports the end again (see [`System::replay_ends`]).
    pub ends: BTreeMap<TaskId, u64>,
}

impl System {
    pub fn new(job: &Job, config: Config) -> System {
        let controller = Controller::new(ControllerSetup::new(job.clone(), config, Time(0)))
            .expect("valid setup");
        let status = controller.status();
        let mut cluster = Cluster::new(job, Generation(0));
        cluster.step_ms = 0;
        cluster.dead.fill(true);
        cluster.to_controller.clear();
        let mut system = System {
            controller,
            status,
            cluster,
            running: false,
            now: Time(0),
            to_workers: BTreeMap::new(),
            to_controller: BTreeMap::new(),
            owed: Vec::new(),
            rejected_by_controller: 0,
            outputs: Vec::new(),
            ends: BTreeMap::new(),
        };
        system.after_controller();
        system
    }

    pub fn check(&mut self) {
        if let Err(v) = invariants::check(Some(&self.status), &self.controller) {
            panic!("controller invariant broken: {v:?}");
        }
        self.status = self.controller.status();
        for (w, worker) in self.cluster.workers.iter().enumerate() {
            if let Err(v) = worker.check_invariants() {
                panic!("worker {w} invariant broken: {v}");
            }
        }
        for records in self.cluster.committed_by_sink().values() {
            super::assert_distinct(records);
        }
    }

    fn controller_input(&mut self, input: Input) {
        if self.controller.handle(self.now, input).is_err() {
            self.rejected_by_controller += 1;
        }
        self.after_controller();
    }

    /// Carries out the controller's effects.
    fn after_controller(&mut self) {
        while let Some(out) = self.controller.poll_output() {
            match &out {
                Output::StartWorkers {
                    generation,
                    restore,
                } => {
                    self.cluster.now = self.now;
                    self.cluster.restart(*generation, *restore);
                    self.running = true;
                }
                Output::StopWorkers { generation } => {
                    if self.cluster.generation == *generation {
                        self.cluster.dead.fill(true);
                        self.running = false;
                    }
                    self.owed.push(Owed::WorkersStopped(*generation));
                }
                Output::Send { worker, message } => {
                    self.to_workers
                        .entry(*worker)
                        .or_default()
                        .push_back(message.clone());
                }
                Output::PersistMetadata { epoch, .. } => self.owed.push(Owed::Persist(*epoch)),
                Output::Cleanup { before } => self.owed.push(Owed::Cleanup(*before)),
                Output::ReleaseWorkers { .. } | Output::Event(_) => {}
            }
            self.outputs.push(out);
        }
        self.collect_workers();
    }

    fn collect_workers(&mut self) {
        for m in std::mem::take(&mut self.cluster.to_controller) {
            self.to_controller.entry(m.worker).or_default().push_back(m);
        }
    }

    fn worker_input(&mut self, w: WorkerId, input: WorkerInput) {
        self.cluster.now = self.now;
        let _ = self.cluster.input(w.0 as usize, input);
        self.collect_workers();
    }

    /// Every move possible now, in a fixed order.
    pub fn actions(&self) -> Vec<Action> {
        let mut actions = Vec::new();
        for (&w, q) in &self.to_workers {
            if !q.is_empty() {
                actions.push(Action::ToWorker(w));
            }
        }
        for (&w, q) in &self.to_controller {
            if !q.is_empty() {
                actions.push(Action::ToController(w));
            }
        }
        for (&c, q) in &self.cluster.in_flight {
            if !q.is_empty() {
                actions.push(Action::Data(c));
            }
        }
        for i in 0..self.cluster.snapshot_requests.len() {
            actions.push(Action::Snapshot(i, true));
        }
        for i in 0..self.owed.len() {
            actions.push(Action::Effect(i, true));
        }
        actions
    }

    pub fn apply(&mut self, action: Action) {
        match action {
            Action::ToWorker(w) => {
                if let Some(m) = self.to_workers.get_mut(&w).and_then(VecDeque::pop_front) {
                    self.worker_input(w, WorkerInput::Command(m));
                }
            }
            Action::ToController(w) => {
                if let Some(m) = self.to_controller.get_mut(&w).and_then(VecDeque::pop_front) {
                    self.controller_input(Input::Worker(m));
                }
            }
            Action::Data(c) => {
                self.cluster.now = self.now;
                self.cluster.deliver_one(c);
                self.collect_workers();
            }
            Action::Snapshot(i, ok) => {
                if i < self.cluster.snapshot_requests.len() {
                    let (w, task, epoch) = self.cluster.snapshot_requests.remove(i);
                    let input = if ok {
                        WorkerInput::SnapshotDone { task, epoch }
                    } else {
                        WorkerInput::SnapshotFailed {
                            task,
                            epoch,
                            reason: "store down".into(),
                        }
                    };
                    self.worker_input(w, input);
                }
            }
            Action::Effect(i, ok) => {
                if i < self.owed.len() {
                    let input = match self.owed.remove(i) {
                        Owed::Persist(epoch) if ok => Input::MetadataPersisted { epoch },
                        Owed::Persist(epoch) => Input::MetadataPersistFailed {
                            epoch,
                            reason: "store down".into(),
                        },
                        Owed::Cleanup(before) => Input::CleanupDone { before },
                        Owed::WorkersStopped(generation) => Input::WorkersStopped { generation },
                        Owed::WorkerExited(worker, generation) => {
                            Input::WorkerExited { worker, generation }
                        }
                    };
                    self.controller_input(input);
                }
            }
            Action::Read(task, count) => {
                let w = WorkerId(self.cluster.worker_of(task) as u32);
                self.worker_input(w, WorkerInput::SourceRecords { task, count });
            }
            Action::Exhaust(task) => {
                if let Some((next, true)) = self.reading(task) {
                    self.ends.entry(task).or_insert(next);
                }
                let w = WorkerId(self.cluster.worker_of(task) as u32);
                self.worker_input(w, WorkerInput::SourceExhausted { task });
            }
            Action::Fail(task) => {
                let w = WorkerId(self.cluster.worker_of(task) as u32);
                let reason = "bug".to_string();
                self.worker_input(w, WorkerInput::TaskError { task, reason });
            }
            Action::Tick => self.tick(),
            Action::Stop(mode) => self.controller_input(Input::Stop(mode)),
            Action::Crash(w) => {
                if self.running && !self.cluster.dead[w.0 as usize] {
                    self.cluster.dead[w.0 as usize] = true;
                    self.owed
                        .push(Owed::WorkerExited(w, self.cluster.generation));
                }
            }
        }
        self.check();
    }

    /// Moves the clock to the earliest deadline and fires what is due.
    pub fn tick(&mut self) {
        let mut next = self.controller.poll_timeout();
        for (w, worker) in self.cluster.workers.iter().enumerate() {
            if self.running && !self.cluster.dead[w] {
                next = next.min(worker.poll_timeout()).or(worker.poll_timeout());
            }
        }
        let Some(next) = next else { return };
        self.now = self.now.max(next);
        self.controller.handle_timeout(self.now);
        self.after_controller();
        for w in 0..self.cluster.workers.len() {
            if self.running && !self.cluster.dead[w] {
                self.cluster.workers[w].handle_timeout(self.now);
            }
        }
        self.cluster.collect();
        self.collect_workers();
    }

    /// Moves everything that can move, oldest queue first, without letting time pass.
    pub fn pump(&mut self) {
        while let Some(action) = self.actions().into_iter().next() {
            self.apply(action);
        }
    }

    /// Pumps and lets time pass until the controller reaches a terminal state.
    pub fn run_to_end(&mut self, max_ticks: u32) {
        for _ in 0..max_ticks {
            self.pump();
            if self.controller.state().is_terminal() {
                return;
            }
            self.apply(Action::Tick);
        }
        panic!(
            "no terminal state after {max_ticks} ticks: {:?}",
            self.controller.status()
        );
    }

    /// Pumps and ticks until `done` holds.
    pub fn run_until(&mut self, max_ticks: u32, mut done: impl FnMut(&System) -> bool) {
        for _ in 0..max_ticks {
            self.pump();
            if done(self) {
                return;
            }
            self.apply(Action::Tick);
        }
        panic!(
            "condition not reached after {max_ticks} ticks: {:?}",
            self.controller.status()
        );
    }

    /// The sources' next offsets recorded in checkpoint `epoch`.
    pub fn positions_at(&self, epoch: Epoch) -> BTreeMap<TaskId, u64> {
        self.cluster
            .store
            .iter()
            .filter(|((e, _), _)| *e == epoch)
            .filter_map(|((_, t), s)| match s {
                quiesce_core::worker::TaskSnapshot::Source { next_offset } => {
                    Some((*t, *next_offset))
                }
                _ => None,
            })
            .collect()
    }

    /// The sources' next offsets now.
    pub fn positions_now(&self) -> BTreeMap<TaskId, u64> {
        let mut positions = BTreeMap::new();
        for worker in &self.cluster.workers {
            for t in worker.status().tasks {
                if let Some(next) = t.next_offset {
                    positions.insert(t.task, next);
                }
            }
        }
        positions
    }

    pub fn sources(&self) -> Vec<TaskId> {
        let job = &self.cluster.job;
        job.tasks()
            .filter(|t| {
                job.operator(t.operator)
                    .is_some_and(|o| o.kind == quiesce_core::OperatorKind::Source)
            })
            .collect()
    }

    /// Source `task` of the current generation, if its worker is alive: its next offset, and
    /// whether it still reads its partition.
    pub fn reading(&self, task: TaskId) -> Option<(u64, bool)> {
        let w = self.cluster.worker_of(task);
        if !self.running || self.cluster.dead[w] {
            return None;
        }
        let status = self.cluster.workers[w].status();
        let t = status.tasks.into_iter().find(|t| t.task == task)?;
        let reading = t.phase == quiesce_core::worker::TaskPhase::Running && !t.input_ended;
        Some((t.next_offset?, reading))
    }

    /// Plays the partitions that have ended: a source of the current generation that still
    /// reads one (it was restored from before the end) reads on up to the end and reports it.
    pub fn replay_ends(&mut self) {
        for (task, end) in self.ends.clone() {
            let Some((next, true)) = self.reading(task) else {
                continue;
            };
            if next < end {
                let count = u32::try_from(end - next).unwrap_or(u32::MAX).min(1_000);
                self.apply(Action::Read(task, count));
            } else {
                self.apply(Action::Exhaust(task));
            }
        }
    }

    /// Ends every source's partition where it is now (or where it ended before).
    pub fn end_inputs(&mut self) {
        for s in self.sources() {
            if let Some((next, _)) = self.reading(s) {
                self.ends.entry(s).or_insert(next);
            }
        }
        while self
            .ends
            .keys()
            .any(|&s| self.reading(s).is_some_and(|(_, reading)| reading))
        {
            self.replay_ends();
        }
    }

    /// Like [`System::run_to_end`], with every partition ending (again, after a restore).
    pub fn run_to_end_of_input(&mut self, max_ticks: u32) {
        for _ in 0..max_ticks {
            self.end_inputs();
            self.pump();
            if self.controller.state().is_terminal() {
                return;
            }
            self.apply(Action::Tick);
        }
        panic!(
            "no terminal state after {max_ticks} ticks: {:?}",
            self.controller.status()
        );
    }

    /// The states the controller went through, in order.
    pub fn states(&self) -> Vec<quiesce_core::State> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(quiesce_core::Event::Transition { to, .. }) => Some(*to),
                _ => None,
            })
            .collect()
    }

    /// Every source reads `count` records (sources that no longer read refuse).
    pub fn read_all(&mut self, count: u32) {
        for s in self.sources() {
            self.apply(Action::Read(s, count));
        }
    }
}
