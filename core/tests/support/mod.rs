//! A small test driver for the controller: feeds inputs, fires timers, records outputs.
#![allow(dead_code)]

use quiesce_core::controller::invariants;
use quiesce_core::controller::{Controller, ControllerSetup};
use quiesce_core::{
    Command, Config, Edge, Epoch, Event, FromWorker, Generation, Input, Job, Operator, OperatorId,
    OperatorKind, Output, Reason, Rejected, RestartStrategy, State, StopMode, TaskId, Time,
    WorkerEvent, WorkerId,
};

pub const SRC: OperatorId = OperatorId(0);
pub const MAP: OperatorId = OperatorId(1);
pub const SINK: OperatorId = OperatorId(2);

pub fn task(op: OperatorId, subtask: u32) -> TaskId {
    TaskId {
        operator: op,
        subtask,
    }
}

/// source(2) -> map(2) -> two-phase-commit sink(2) on 2 workers: worker 0 hosts subtask 0 of
/// each operator, worker 1 subtask 1.
pub fn job() -> Job {
    job_with(2, true)
}

pub fn job_with(parallelism: u32, two_phase_commit: bool) -> Job {
    let op = |name: &str, kind| Operator {
        name: name.into(),
        kind,
        parallelism,
    };
    Job {
        name: "test".into(),
        operators: vec![
            op("src", OperatorKind::Source),
            op("map", OperatorKind::Transform),
            op("sink", OperatorKind::Sink { two_phase_commit }),
        ],
        edges: vec![
            Edge { from: SRC, to: MAP },
            Edge {
                from: MAP,
                to: SINK,
            },
        ],
        workers: 2,
    }
}

/// Short, distinct durations so that every deadline is easy to read in a test.
pub fn config() -> Config {
    Config {
        checkpoint_interval_ms: 1_000,
        min_pause_ms: 1_000,
        checkpoint_timeout_ms: 5_000,
        tolerable_checkpoint_failures: 1,
        retained_checkpoints: 2,
        cleanup_timeout_ms: 4_000,
        stop_timeout_ms: 3_000,
        force_timeout_ms: 2_000,
        force_retries: 2,
        force_retry_backoff_ms: 500,
        heartbeat_timeout_ms: 60_000,
        scheduling_timeout_ms: 7_000,
        restart_strategy: RestartStrategy::FixedDelay {
            delay_ms: 100,
            max_restarts: 2,
        },
        healthy_duration_ms: 600_000,
        ttl_ms: None,
        jitter_seed: 7,
    }
}

pub struct Harness {
    pub c: Controller,
    pub now: Time,
    /// Outputs not yet taken by [`Harness::take`].
    pub out: Vec<Output>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(job(), config())
    }

    pub fn with(job: Job, config: Config) -> Harness {
        let c = Controller::new(ControllerSetup::new(job, config, Time(0))).expect("valid setup");
        Harness::around(c, Time(0))
    }

    /// A harness around a controller built at `now`.
    pub fn around(c: Controller, now: Time) -> Harness {
        let mut h = Harness {
            c,
            now,
            out: Vec::new(),
        };
        h.drain();
        h
    }

    /// A harness whose job is Running in generation 1 at time 0.
    pub fn running() -> Harness {
        let mut h = Harness::new();
        h.ready_all();
        h.take();
        h
    }

    fn drain(&mut self) {
        while let Some(o) = self.c.poll_output() {
            self.out.push(o);
        }
        if let Some(at) = self.c.poll_timeout() {
            assert!(at >= self.now, "deadline {at} before now {}", self.now);
        }
    }

    /// Takes the outputs emitted since the last call.
    pub fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    pub fn state(&self) -> State {
        self.c.state()
    }

    pub fn generation(&self) -> Generation {
        self.c.status().generation
    }

    /// Moves time to `ms` and fires every due timer.
    pub fn at(&mut self, ms: u64) {
        let before = self.c.status();
        self.now = Time(ms);
        self.c.handle_timeout(self.now);
        invariants::check(Some(&before), &self.c).expect("invariants");
        self.drain();
    }

    /// Moves time to `ms` without firing the timers due by then: the next input arrives
    /// late, past any deadline in between.
    pub fn late(&mut self, ms: u64) {
        self.now = Time(ms);
    }

    pub fn input(&mut self, input: Input) -> Result<(), Rejected> {
        // The timers due by `now` fire before the input is looked at; a refused input
        // changes nothing beyond them.
        let mut timed_out = self.c.clone();
        timed_out.handle_timeout(self.now);
        let status = self.c.status();
        let result = self.c.handle(self.now, input.clone());
        if result.is_err() {
            assert_eq!(
                self.c, timed_out,
                "a refused input changed more than the due timers did"
            );
        }
        invariants::check_input(&status, &input, &result, &self.c).expect("invariants");
        self.drain();
        result
    }

    pub fn worker(&mut self, w: u32, event: WorkerEvent) -> Result<(), Rejected> {
        let generation = self.generation();
        self.worker_gen(w, generation, event)
    }

    pub fn worker_gen(
        &mut self,
        w: u32,
        generation: Generation,
        event: WorkerEvent,
    ) -> Result<(), Rejected> {
        self.input(Input::Worker(FromWorker {
            worker: WorkerId(w),
            generation,
            event,
        }))
    }

    pub fn stop(&mut self, mode: StopMode) -> Result<(), Rejected> {
        self.input(Input::Stop(mode))
    }

    pub fn ready_all(&mut self) {
        for w in 0..self.c.job().workers {
            self.worker(w, WorkerEvent::Ready).expect("ready");
        }
    }

    /// Every task of the job, with its worker.
    pub fn tasks(&self) -> Vec<(u32, TaskId)> {
        let job = self.c.job();
        job.tasks()
            .map(|t| (job.worker_of(t).unwrap().0, t))
            .collect()
    }

    pub fn ack(&mut self, t: TaskId, epoch: Epoch) -> Result<(), Rejected> {
        let w = self.c.job().worker_of(t).unwrap().0;
        self.worker(w, WorkerEvent::CheckpointAcked { task: t, epoch })
    }

    pub fn ack_all(&mut self, epoch: Epoch) {
        for (w, t) in self.tasks() {
            self.worker(w, WorkerEvent::CheckpointAcked { task: t, epoch })
                .expect("ack");
        }
    }

    /// Every task acks its part of the final checkpoint `epoch`; all but the sinks finish
    /// right after it (sinks finish only once they committed).
    pub fn ack_and_finish_all_but_sinks(&mut self, epoch: Epoch) {
        for (w, t) in self.tasks() {
            self.worker(w, WorkerEvent::CheckpointAcked { task: t, epoch })
                .expect("ack");
            if t.operator != SINK {
                self.worker(w, WorkerEvent::TaskFinished { task: t })
                    .expect("finish");
            }
        }
    }

    pub fn sinks(&self) -> Vec<(u32, TaskId)> {
        let job = self.c.job();
        self.tasks()
            .into_iter()
            .filter(|(_, t)| {
                matches!(
                    job.operators[t.operator.0 as usize].kind,
                    OperatorKind::Sink {
                        two_phase_commit: true
                    }
                )
            })
            .collect()
    }

    pub fn commit_all(&mut self, epoch: Epoch) {
        for (w, t) in self.sinks() {
            self.worker(w, WorkerEvent::Committed { task: t, epoch })
                .expect("commit");
        }
    }

    pub fn finish(&mut self, t: TaskId) -> Result<(), Rejected> {
        let w = self.c.job().worker_of(t).unwrap().0;
        self.worker(w, WorkerEvent::TaskFinished { task: t })
    }

    pub fn finish_all(&mut self) {
        for (w, t) in self.tasks() {
            self.worker(w, WorkerEvent::TaskFinished { task: t })
                .expect("finish");
        }
    }

    /// One full periodic checkpoint at the current time: acks, persist, commits.
    pub fn complete_checkpoint(&mut self, epoch: Epoch) {
        self.ack_all(epoch);
        self.input(Input::MetadataPersisted { epoch })
            .expect("persisted");
        self.commit_all(epoch);
    }

    pub fn confirm_stopped(&mut self) -> Result<(), Rejected> {
        let generation = self.generation();
        self.input(Input::WorkersStopped { generation })
    }
}

/// The transitions among `outputs`, as (from, to, reason).
pub fn transitions(outputs: &[Output]) -> Vec<(Option<State>, State, Reason)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Transition { from, to, reason }) => {
                Some((*from, *to, reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The outputs that are effects (everything but events).
pub fn effects(outputs: &[Output]) -> Vec<Output> {
    outputs
        .iter()
        .filter(|o| !matches!(o, Output::Event(_)))
        .cloned()
        .collect()
}

/// The commands sent, as (worker, command).
pub fn commands(outputs: &[Output]) -> Vec<(u32, Command)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { worker, message } => Some((worker.0, message.command.clone())),
            _ => None,
        })
        .collect()
}

pub fn to_both(command: Command) -> Vec<(u32, Command)> {
    vec![(0, command.clone()), (1, command)]
}
