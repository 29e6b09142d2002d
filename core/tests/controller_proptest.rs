//! Arbitrary input sequences against the controller: valid, stale, duplicate and garbage
//! inputs mixed, with time moving forward by arbitrary steps, and inputs delivered late (past
//! deadlines no timeout call reported first).
//!
//! Checkpoints are asked for on demand at any moment, under a few names that repeat.
//!
//! After every step: no panic, the invariants hold, the timers due by an input's time fired
//! before it, a refused input changed nothing beyond those timers, deadlines are not in the
//! past, terminal states absorb, and a checkpoint request is answered (completed or aborted)
//! only if it was accepted and not answered before. At the end, from wherever the sequence left the
//! job, a stop followed only by timeouts and by the environment confirming the effects it was
//! asked for (workers stopped, metadata persisted, cleanup done; nothing from the workers)
//! reaches Stopped within `checkpoint_timeout + stop_timeout + force bound` of the first stop.

mod support;

use proptest::prelude::*;
use quiesce_core::controller::invariants;
use quiesce_core::controller::Controller;
use quiesce_core::controller::Timer;
use quiesce_core::trace::{replay, ControllerRecorder, Line, Outcome};
use quiesce_core::ControllerSetup;
use quiesce_core::{
    CheckpointStage, Config, Epoch, Event, FromWorker, Generation, Input, Job, Output, RequestId,
    RestartStrategy, State, StopMode, Stopping, TaskId, Time, WorkerEvent, WorkerId,
};
use support::*;

#[derive(Clone, Debug)]
enum Action {
    /// Time moves forward by this many ms, then due timers fire.
    Advance(u32),
    /// Time moves forward by this many ms and no timeout is reported: the next input arrives
    /// late, past whatever deadlines lie in between.
    Late(u32),
    Stop(u8),
    /// What a well-behaved environment sends next: readiness, acks, persistence results,
    /// commits, confirmations, heartbeats, task completions.
    Progress {
        kind: u8,
        pick: u16,
    },
    /// A failure: a task, a worker, the scheduler, a snapshot or the metadata store.
    Disrupt {
        kind: u8,
        pick: u16,
    },
    /// A checkpoint asked for now, under one of a few names.
    Trigger(u8),
    /// Anything: unknown workers and tasks, other generations and epochs.
    Garbage {
        kind: u8,
        worker: u8,
        generation: i8,
        epoch: i8,
        pick: u16,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => prop_oneof![4 => 0u32..1_200, 1 => 0u32..12_000].prop_map(Action::Advance),
        2 => prop_oneof![4 => 0u32..1_200, 1 => 0u32..12_000].prop_map(Action::Late),
        1 => any::<u8>().prop_map(Action::Stop),
        2 => (0u8..3).prop_map(Action::Trigger),
        12 => (any::<u8>(), any::<u16>()).prop_map(|(kind, pick)| Action::Progress { kind, pick }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(kind, pick)| Action::Disrupt { kind, pick }),
        2 => (any::<u8>(), 0u8..4, -1i8..=1, -2i8..=2, any::<u16>()).prop_map(
            |(kind, worker, generation, epoch, pick)| Action::Garbage { kind, worker, generation, epoch, pick }
        ),
    ]
}

fn setup() -> impl Strategy<Value = (Job, Config)> {
    let jobs = prop_oneof![
        Just(job()),
        Just(job_with(1, false)),
        Just(job_with(3, true))
    ];
    let strategies = prop_oneof![
        Just(RestartStrategy::FixedDelay {
            delay_ms: 100,
            max_restarts: 2
        }),
        Just(RestartStrategy::FixedDelay {
            delay_ms: 0,
            max_restarts: 3
        }),
        Just(RestartStrategy::ExponentialDelay {
            initial_delay_ms: 50,
            max_delay_ms: 400,
            jitter_percent: 50,
            max_restarts: 3
        }),
        Just(RestartStrategy::FailureRate {
            delay_ms: 10,
            max_failures: 2,
            window_ms: 5_000
        }),
    ];
    (
        jobs,
        strategies,
        0u32..3,
        500u64..20_000,
        prop::option::of(1u64..30_000),
    )
        .prop_map(
            |(job, restart_strategy, tolerable, heartbeat_timeout_ms, ttl_ms)| {
                let config = Config {
                    restart_strategy,
                    tolerable_checkpoint_failures: tolerable,
                    heartbeat_timeout_ms,
                    ttl_ms,
                    ..config()
                };
                (job, config)
            },
        )
}

fn stop_mode(pick: u8) -> StopMode {
    [
        StopMode::Checkpoint,
        StopMode::Graceful,
        StopMode::Immediate,
        StopMode::Force,
    ][pick as usize % 4]
}

struct Driver {
    /// The controller, every call recorded with its outcome for the replay check.
    c: ControllerRecorder,
    now: Time,
    tasks: Vec<TaskId>,
    /// The cleanup last asked for, if any.
    cleanup: Option<Epoch>,
    /// When the first stop was accepted (by request or TTL).
    stop_at: Option<Time>,
    /// Effects asked for and not yet answered by the liveness phase.
    asked: Vec<Output>,
    /// Checkpoint requests accepted and not yet answered.
    requests: Vec<RequestId>,
    /// Answers to requests that were not waiting for one.
    stray_answers: Vec<Event>,
}

impl Driver {
    fn new(job: Job, config: Config) -> Driver {
        let tasks = job.tasks().collect();
        let c = ControllerRecorder::in_memory(ControllerSetup::new(job, config, Time(0)))
            .expect("valid setup");
        let mut d = Driver {
            c,
            now: Time(0),
            tasks,
            cleanup: None,
            requests: Vec::new(),
            stray_answers: Vec::new(),
            stop_at: None,
            asked: Vec::new(),
        };
        d.drain(Time(0));
        d
    }

    /// When a stop that the next step takes would take effect: the time to live's deadline if
    /// it is due by now (timers fire first), else now.
    fn stop_time(&self) -> Time {
        self.c
            .machine()
            .timers()
            .find(|&(timer, at)| timer == Timer::Ttl && at <= self.now)
            .map_or(self.now, |(_, at)| at)
    }

    /// Takes the outputs of a step in which a stop would take effect at `stop_time`.
    fn drain(&mut self, stop_time: Time) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.c.poll_output() {
            match &o {
                Output::Cleanup { before } => self.cleanup = Some(*before),
                Output::StopWorkers { .. } | Output::PersistMetadata { .. } => {}
                Output::Event(Event::StopRequested { .. }) if self.stop_at.is_none() => {
                    self.stop_at = Some(stop_time)
                }
                Output::Event(
                    answer @ (Event::CheckpointRequestCompleted { request, .. }
                    | Event::CheckpointRequestAborted { request, .. }),
                ) => match self.requests.iter().position(|r| r == request) {
                    Some(i) => {
                        self.requests.remove(i);
                    }
                    None => self.stray_answers.push(answer.clone()),
                },
                _ => {}
            }
            if matches!(
                o,
                Output::Cleanup { .. }
                    | Output::StopWorkers { .. }
                    | Output::PersistMetadata { .. }
            ) {
                self.asked.push(o.clone());
            }
            out.push(o);
        }
        out
    }

    fn advance(&mut self, dt: u32) -> Result<(), TestCaseError> {
        let before = self.c.machine().status();
        self.now = self.now.plus_ms(u64::from(dt));
        let stop_time = self.stop_time();
        self.c.handle_timeout(self.now);
        invariants::check(Some(&before), self.c.machine())
            .map_err(|v| TestCaseError::fail(v.to_string()))?;
        if let Some(at) = self.c.poll_timeout() {
            prop_assert!(
                at > self.now,
                "deadline {at} not after now {} after handle_timeout",
                self.now
            );
        }
        self.drain(stop_time);
        Ok(())
    }

    fn feed(&mut self, input: Input) -> Result<(), TestCaseError> {
        // What the controller is once the timers due by now have fired, as they do first.
        let mut timed_out = self.c.machine().clone();
        timed_out.handle_timeout(self.now);
        let timer_outputs: Vec<Output> = std::iter::from_fn(|| timed_out.poll_output()).collect();
        let status = self.c.machine().status();
        let stop_time = self.stop_time();
        let result = self.c.handle(self.now, input.clone());
        invariants::check_input(&status, &input, &result, self.c.machine())
            .map_err(|v| TestCaseError::fail(v.to_string()))?;
        if status.state.is_terminal() {
            prop_assert!(
                result.is_err(),
                "terminal {:?} accepted {input:?}",
                status.state
            );
        }
        if let Some(at) = self.c.poll_timeout() {
            prop_assert!(at >= self.now, "deadline {at} before now {}", self.now);
        }
        // The recorder takes the machine's outputs as the step ends: compare both without.
        // The timers' outputs come first: they may answer a request of the same name.
        let outputs = self.drain(stop_time);
        prop_assert!(
            self.stray_answers.is_empty(),
            "answers to no waiting request: {:?}",
            self.stray_answers
        );
        if let (Input::TriggerCheckpoint { request }, Ok(())) = (&input, &result) {
            prop_assert!(
                !self.requests.contains(request),
                "request {request:?} accepted while it waits"
            );
            self.requests.push(*request);
        }
        if result.is_err() {
            prop_assert!(
                self.c.machine() == &timed_out,
                "refused {input:?} changed more than the timers due by {}",
                self.now
            );
            prop_assert_eq!(
                outputs,
                timer_outputs,
                "refused {:?} emitted more than the timers due by {}",
                input,
                self.now
            );
        }
        Ok(())
    }

    fn worker_of(&self, task: TaskId) -> WorkerId {
        self.c.machine().job().worker_of(task).expect("job task")
    }

    fn msg(&self, worker: WorkerId, generation: Generation, event: WorkerEvent) -> Input {
        Input::Worker(FromWorker {
            worker,
            generation,
            event,
        })
    }

    fn epoch_now(&self) -> Epoch {
        let s = self.c.machine().status();
        s.in_flight
            .map(|f| f.epoch)
            .or(s.last_epoch)
            .unwrap_or(Epoch(1))
    }

    /// The inputs a well-behaved environment could send next.
    fn progress(&self, kind: u8, pick: u16) -> Vec<Input> {
        let g = self.c.machine().status().generation;
        let task = self.tasks[pick as usize % self.tasks.len()];
        let epoch = self.epoch_now();
        let each_task = |event: &dyn Fn(TaskId) -> WorkerEvent| -> Vec<Input> {
            self.tasks
                .iter()
                .map(|&t| self.msg(self.worker_of(t), g, event(t)))
                .collect()
        };
        let each_worker = |event: WorkerEvent| -> Vec<Input> {
            (0..self.c.machine().job().workers)
                .map(|w| self.msg(WorkerId(w), g, event.clone()))
                .collect()
        };
        let one = |event| vec![self.msg(self.worker_of(task), g, event)];
        if kind % 2 == 0 {
            // What the current state waits for.
            let s = self.c.machine().status();
            return match (s.state, s.in_flight.map(|f| f.stage)) {
                (State::Scheduling, _) => each_worker(WorkerEvent::Ready),
                (_, Some(CheckpointStage::Barriers { .. })) => {
                    each_task(&|task| WorkerEvent::CheckpointAcked { task, epoch })
                }
                (_, Some(CheckpointStage::Persisting)) => vec![Input::MetadataPersisted { epoch }],
                (_, Some(CheckpointStage::Committing { .. })) => {
                    each_task(&|task| WorkerEvent::Committed { task, epoch })
                }
                (State::Stopping(Stopping::StopWorkers) | State::Recovering, _) => {
                    vec![Input::WorkersStopped { generation: g }]
                }
                (State::Running, None) => each_worker(WorkerEvent::Heartbeat),
                _ => each_task(&|task| WorkerEvent::TaskFinished { task }),
            };
        }
        match kind % 11 {
            0 => each_worker(WorkerEvent::Ready),
            9 => each_task(&|task| WorkerEvent::InputEnded { task }),
            1 => each_task(&|task| WorkerEvent::CheckpointAcked { task, epoch }),
            2 => one(WorkerEvent::CheckpointAcked { task, epoch }),
            3 => vec![Input::MetadataPersisted { epoch }],
            4 => each_task(&|task| WorkerEvent::Committed { task, epoch }),
            5 => vec![Input::WorkersStopped { generation: g }],
            6 => each_worker(WorkerEvent::Heartbeat),
            7 => one(WorkerEvent::TaskFinished { task }),
            8 => each_task(&|task| WorkerEvent::TaskFinished { task }),
            _ => self
                .cleanup
                .map(|before| Input::CleanupDone { before })
                .into_iter()
                .collect(),
        }
    }

    fn disrupt(&self, kind: u8, pick: u16) -> Input {
        let g = self.c.machine().status().generation;
        let task = self.tasks[pick as usize % self.tasks.len()];
        let w = self.worker_of(task);
        let epoch = self.epoch_now();
        match kind % 5 {
            0 => self.msg(
                w,
                g,
                WorkerEvent::TaskFailed {
                    task,
                    reason: "crash".into(),
                },
            ),
            1 => self.msg(
                w,
                g,
                WorkerEvent::CheckpointFailed {
                    task,
                    epoch,
                    reason: "disk".into(),
                },
            ),
            2 => Input::MetadataPersistFailed {
                epoch,
                reason: "store".into(),
            },
            3 => Input::WorkerExited {
                worker: w,
                generation: g,
            },
            _ => Input::SchedulerFailed {
                generation: g,
                reason: "no slots".into(),
            },
        }
    }

    fn garbage(&self, kind: u8, worker: u8, generation: i8, epoch: i8, pick: u16) -> Input {
        let s = self.c.machine().status();
        let g = Generation(s.generation.0.saturating_add_signed(i64::from(generation)));
        let e = Epoch(self.epoch_now().0.saturating_add_signed(i64::from(epoch)));
        let task = match pick % 5 {
            0 => TaskId {
                operator: quiesce_core::OperatorId(9),
                subtask: 0,
            },
            1 => TaskId {
                operator: SRC,
                subtask: 7,
            },
            _ => self.tasks[pick as usize % self.tasks.len()],
        };
        let w = WorkerId(u32::from(worker));
        let event = |event| self.msg(w, g, event);
        match kind % 13 {
            0 => event(WorkerEvent::Ready),
            12 => event(WorkerEvent::InputEnded { task }),
            1 => event(WorkerEvent::CheckpointAcked { task, epoch: e }),
            2 => event(WorkerEvent::Committed { task, epoch: e }),
            3 => event(WorkerEvent::TaskFinished { task }),
            4 => event(WorkerEvent::TaskFailed {
                task,
                reason: String::new(),
            }),
            5 => event(WorkerEvent::CheckpointFailed {
                task,
                epoch: e,
                reason: String::new(),
            }),
            6 => event(WorkerEvent::Heartbeat),
            7 => Input::MetadataPersisted { epoch: e },
            8 => Input::WorkersStopped { generation: g },
            9 => Input::CleanupDone { before: e },
            10 => Input::WorkerExited {
                worker: w,
                generation: g,
            },
            _ => Input::SchedulerFailed {
                generation: g,
                reason: String::new(),
            },
        }
    }

    fn act(&mut self, action: &Action) -> Result<(), TestCaseError> {
        match *action {
            Action::Advance(dt) => self.advance(dt),
            Action::Late(dt) => {
                self.now = self.now.plus_ms(u64::from(dt));
                Ok(())
            }
            Action::Stop(mode) => self.feed(Input::Stop(stop_mode(mode))),
            Action::Trigger(name) => self.feed(Input::TriggerCheckpoint {
                request: RequestId(u64::from(name)),
            }),
            Action::Progress { kind, pick } => {
                for input in self.progress(kind, pick) {
                    self.feed(input)?;
                }
                Ok(())
            }
            Action::Disrupt { kind, pick } => self.feed(self.disrupt(kind, pick)),
            Action::Garbage {
                kind,
                worker,
                generation,
                epoch,
                pick,
            } => self.feed(self.garbage(kind, worker, generation, epoch, pick)),
        }
    }

    /// Stop, then only timeouts and confirmations of the effects asked for.
    fn stop_and_confirm(&mut self, mode: StopMode) -> Result<(), TestCaseError> {
        // Late inputs may have left timers due: they fire before the stop, and may end the job.
        self.advance(0)?;
        if self.c.machine().state().is_terminal() {
            return Ok(());
        }
        let input = Input::Stop(mode);
        let _ = self.c.handle(self.now, input);
        self.drain(self.now);
        let stop_at = self.stop_at.expect("a stop is under way");
        let deadline = stop_at.plus_ms(self.c.machine().config().stop_bound_ms());
        // Every round answers the effects asked for or fires a timer; the bound keeps it finite.
        for _ in 0..10_000 {
            if self.c.machine().state().is_terminal() {
                break;
            }
            let answers: Vec<Input> = std::mem::take(&mut self.asked)
                .into_iter()
                .filter_map(|o| match o {
                    Output::StopWorkers { generation } => {
                        Some(Input::WorkersStopped { generation })
                    }
                    Output::PersistMetadata { epoch, .. } => {
                        Some(Input::MetadataPersisted { epoch })
                    }
                    Output::Cleanup { before } => Some(Input::CleanupDone { before }),
                    _ => None,
                })
                .collect();
            if answers.is_empty() {
                let at = self
                    .c
                    .poll_timeout()
                    .expect("a non-terminal state always has a deadline");
                self.advance(u32::try_from(at.ms_since(self.now)).expect("deadlines are near"))?;
            } else {
                for input in answers {
                    // An answer may have been overtaken (e.g. the cleanup was abandoned).
                    self.feed(input)?;
                }
            }
        }
        prop_assert_eq!(
            self.c.machine().state(),
            State::Stopped,
            "stop requested at {} did not end in Stopped",
            stop_at
        );
        prop_assert!(
            self.now <= deadline,
            "Stopped at {} after the bound {}",
            self.now,
            deadline
        );
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn controller_survives_arbitrary_inputs_and_every_stop_ends_within_the_bound(
        (job, config) in setup(),
        actions in prop::collection::vec(action(), 0..80),
        final_stop in any::<u8>(),
    ) {
        let mut d = Driver::new(job.clone(), config);
        for action in &actions {
            d.act(action)?;
        }
        d.stop_and_confirm(stop_mode(final_stop))?;
        prop_assert!(d.stray_answers.is_empty(), "stray answers: {:?}", d.stray_answers);
        prop_assert!(d.requests.is_empty(), "requests never answered: {:?}", d.requests);

        // The run, stored as JSON Lines and replayed, yields the very same outcome at every
        // step, and the footer's digest matches.
        let status = d.c.machine().status();
        let stored: String = d.c.finish(Outcome::Ended).iter()
            .map(|line| serde_json::to_string(line).expect("a line serialises") + "\n")
            .collect();
        let loaded = stored.lines().map(|l| serde_json::from_str::<Line<Controller>>(l).expect("a line deserialises"));
        let replayed = replay(loaded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(replayed.machine.status(), status);
        prop_assert!(replayed.footer.is_some());
    }
}
