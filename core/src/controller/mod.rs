//! The controller machine: when to checkpoint, how to stop, how to recover.
//!
//! See the crate docs for the run-loop contract. Methods fall into four groups: getters
//! ([`Controller::status`]), inputs ([`Controller::handle`], [`Controller::handle_timeout`]) and
//! outputs ([`Controller::poll_output`], [`Controller::poll_timeout`]).

pub mod invariants;
pub mod io;
pub mod mutants;
mod restart;
pub mod timers;

use crate::config::{Config, ConfigError};
use crate::protocol::{Command, FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
use crate::types::{
    Epoch, Generation, Job, JobError, OperatorKind, TaskId, TaskIndex, Time, WorkerId,
};
use io::{
    AbortReason, CheckpointStage, Counters, Event, InFlight, Input, InputKind, Output, Reason,
    Rejected, State, Status, Stopping,
};
use mutants::Mutant;
use restart::RestartPolicy;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use timers::{Timer, Timers};

/// Why a controller could not be created.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum SetupError {
    Job(JobError),
    Config(ConfigError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Job(e) => write!(f, "invalid job: {e}"),
            SetupError::Config(e) => write!(f, "invalid {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl From<JobError> for SetupError {
    fn from(e: JobError) -> Self {
        SetupError::Job(e)
    }
}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Config(e)
    }
}

/// Where a job resumes: the last checkpoint a previous controller completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestorePoint {
    /// The last generation the previous controller started; the new one starts above it.
    pub generation: Generation,
    /// The last completed (persisted) checkpoint.
    pub epoch: Epoch,
    /// Whether every two-phase-commit sink committed it. If not, the commits are re-sent
    /// once the job runs again.
    pub committed: bool,
    /// The last epoch the previous controller started (completed or not): the new one
    /// numbers its checkpoints above it, so no epoch is ever reused.
    pub last_started: Epoch,
}

/// How a task of the current generation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum TaskRun {
    Running,
    /// A source that read the end of its input; it still answers barriers.
    InputEnded,
    Finished,
    Failed,
}

impl TaskRun {
    /// Whether the task still runs (and so takes part in checkpoints).
    fn alive(self) -> bool {
        matches!(self, TaskRun::Running | TaskRun::InputEnded)
    }
}

/// The kill of a generation's workers: asked, then re-asked after pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Kill {
    /// 1 for the first ask.
    attempt: u32,
    /// Whether the Kill timer counts a pause before re-asking (else: the wait for confirmation).
    pausing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum RecoveryStage {
    /// The failed generation's workers are being killed.
    Killing(Kill),
    /// Workers confirmed gone; waiting out the restart delay.
    Backoff,
}

/// The controller's state with the data only that state has.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Phase {
    Scheduling { ready: Vec<bool>, waiting: u32 },
    Running,
    CheckpointStopping,
    StopJob(StopJobMode),
    StopWorkers { kill: Kill },
    Recovering(RecoveryStage),
    Finishing,
    Stopped,
    Finished,
    Failed,
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Scheduling { .. } => State::Scheduling,
            Phase::Running => State::Running,
            Phase::CheckpointStopping => State::CheckpointStopping,
            Phase::StopJob(mode) => State::Stopping(Stopping::StopJob(*mode)),
            Phase::StopWorkers { .. } => State::Stopping(Stopping::StopWorkers),
            Phase::Recovering(_) => State::Recovering,
            Phase::Finishing => State::Finishing,
            Phase::Stopped => State::Stopped,
            Phase::Finished => State::Finished,
            Phase::Failed => State::Failed,
        }
    }
}

/// Whether `from -> to` is a transition of the design. Checked in one place, on every
/// transition (debug builds assert it).
pub fn is_legal_transition(from: State, to: State) -> bool {
    use io::Stopping::{StopJob, StopWorkers};
    use State::*;
    let graceful = Stopping(StopJob(StopJobMode::Graceful));
    let immediate = Stopping(StopJob(StopJobMode::Immediate));
    let kill = Stopping(StopWorkers);
    match from {
        Scheduling => [Running, Recovering, kill].contains(&to),
        Running => [
            CheckpointStopping,
            graceful,
            immediate,
            kill,
            Recovering,
            Finishing,
        ]
        .contains(&to),
        CheckpointStopping => [graceful, immediate, kill, Stopped].contains(&to),
        _ if from == graceful => [immediate, kill, Stopped].contains(&to),
        _ if from == immediate => [kill, Stopped].contains(&to),
        _ if from == kill => [Stopped, Failed].contains(&to),
        Recovering => [Scheduling, Failed, kill, Stopped].contains(&to),
        Finishing => [
            Finished,
            Recovering,
            CheckpointStopping,
            graceful,
            immediate,
            kill,
        ]
        .contains(&to),
        _ => false,
    }
}

/// The checkpoint in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Checkpoint {
    epoch: Epoch,
    then_stop: bool,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Stage {
    /// `Controller::marks` flags the tasks that acked.
    Barriers {
        remaining: u32,
    },
    Persisting,
    /// `Controller::marks` flags the sinks that committed.
    Committing {
        remaining: u32,
    },
}

/// The controller of one streaming job. Pure: no clock, no I/O, no randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    job: Job,
    config: Config,
    index: TaskIndex,
    /// Per task: whether it is a two-phase-commit sink.
    two_phase: Vec<bool>,
    two_phase_tasks: u32,
    /// Workers that host a two-phase-commit sink, ascending.
    commit_workers: Vec<WorkerId>,
    /// Per task: whether it is a source.
    source: Vec<bool>,
    /// Source tasks of the job.
    sources: u32,

    now: Time,
    phase: Phase,
    generation: Generation,
    stopped_generation: Option<Generation>,
    tasks: Vec<TaskRun>,
    /// Tasks of the generation that finished or failed: nothing waits on them any more.
    ended_tasks: u32,
    /// Sources of the generation that read the end of their input.
    sources_ended: u32,
    /// Per worker: when it was last heard from; `Time(u64::MAX)` once declared lost.
    last_seen: Vec<Time>,
    timers: Timers,

    checkpoint: Option<Checkpoint>,
    /// Per task, reused by every round: acked (Barriers) or committed (Committing).
    marks: Vec<bool>,
    next_epoch: Epoch,
    last_completed: Option<Epoch>,
    last_completed_committed: bool,
    /// Completed epochs not yet cleaned up, oldest first.
    retained: VecDeque<Epoch>,
    cleanup: Option<Epoch>,
    consecutive_failures: u32,
    /// The periodic interval counts from here (last trigger, or the start of Running).
    interval_anchor: Time,
    /// The min pause counts from here (last completion or abort, or the start of Running).
    pause_anchor: Time,

    stop: Option<StopMode>,
    /// A graceful stop was sent: sinks may commit data past the last checkpoint.
    drained: bool,
    final_epoch: Option<Epoch>,

    restart: RestartPolicy,
    counters: Counters,
    outputs: VecDeque<Output>,
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
}

impl Controller {
    /// A controller for a new job, about to schedule its first generation.
    pub fn new(job: Job, config: Config, now: Time) -> Result<Controller, SetupError> {
        Controller::restore(job, config, now, None)
    }

    /// A controller for a job that resumes from `restore` (see [`RestorePoint`]).
    pub fn restore(
        job: Job,
        config: Config,
        now: Time,
        restore: Option<RestorePoint>,
    ) -> Result<Controller, SetupError> {
        job.validate()?;
        config.validate()?;
        let index = TaskIndex::new(&job);
        let kinds: Vec<OperatorKind> = job
            .tasks()
            .map(|t| job.operators[t.operator.0 as usize].kind)
            .collect();
        let two_phase: Vec<bool> = kinds
            .iter()
            .map(|k| {
                matches!(
                    k,
                    OperatorKind::Sink {
                        two_phase_commit: true
                    }
                )
            })
            .collect();
        let source: Vec<bool> = kinds
            .iter()
            .map(|k| matches!(k, OperatorKind::Source))
            .collect();
        let workers = job.workers as usize;
        let mut commit_workers: Vec<WorkerId> = (0..index.len())
            .filter(|&i| two_phase[i])
            .map(|i| WorkerId((i % workers) as u32))
            .collect();
        commit_workers.sort_unstable();
        commit_workers.dedup();
        let tasks = index.len();
        let mut c = Controller {
            two_phase_tasks: two_phase.iter().filter(|&&b| b).count() as u32,
            two_phase,
            commit_workers,
            sources: source.iter().filter(|&&b| b).count() as u32,
            source,
            index,
            now,
            phase: Phase::Failed,
            generation: Generation(restore.map_or(1, |r| r.generation.0 + 1)),
            stopped_generation: restore.map(|r| r.generation),
            tasks: vec![TaskRun::Running; tasks],
            ended_tasks: 0,
            sources_ended: 0,
            last_seen: vec![now; workers],
            timers: Timers::default(),
            checkpoint: None,
            marks: vec![false; tasks],
            next_epoch: Epoch(restore.map_or(1, |r| r.epoch.max(r.last_started).0 + 1)),
            last_completed: restore.map(|r| r.epoch),
            last_completed_committed: restore.is_none_or(|r| r.committed),
            retained: restore.map(|r| r.epoch).into_iter().collect(),
            cleanup: None,
            consecutive_failures: 0,
            interval_anchor: now,
            pause_anchor: now,
            stop: None,
            drained: false,
            final_epoch: None,
            restart: RestartPolicy::new(config.restart_strategy, config.jitter_seed),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            #[cfg(feature = "mutants")]
            mutant: None,
            job,
            config,
        };
        if let Some(ttl_ms) = c.config.ttl_ms {
            c.timers.arm(Timer::Ttl, now.plus_ms(ttl_ms));
        }
        c.enter_scheduling(Reason::Created);
        c.debug_check(None);
        Ok(c)
    }

    /// Re-introduces a known bug (see [`Mutant`]). Debug assertions of the invariants are
    /// off for a mutated controller: the checks under test must find the bug themselves.
    #[cfg(feature = "mutants")]
    pub fn with_mutant(mut self, mutant: Mutant) -> Controller {
        self.mutant = Some(mutant);
        self
    }

    /// Whether the known bug `m` is switched on (never, without the `mutants` feature).
    #[inline]
    fn bug(&self, m: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.mutant == Some(m)
        }
        #[cfg(not(feature = "mutants"))]
        {
            let _ = m;
            false
        }
    }

    // ---------------------------------------------------------------- getters

    /// A snapshot of the controller's state and counters.
    pub fn status(&self) -> Status {
        Status {
            state: self.phase.state(),
            generation: self.generation,
            last_epoch: (self.next_epoch.0 > 1).then(|| Epoch(self.next_epoch.0 - 1)),
            last_completed: self.last_completed,
            last_completed_committed: self.last_completed_committed,
            in_flight: self.checkpoint.as_ref().map(|c| InFlight {
                epoch: c.epoch,
                then_stop: c.then_stop,
                stage: match c.stage {
                    Stage::Barriers { remaining } => CheckpointStage::Barriers {
                        acked: self.marks.len() as u32 - remaining,
                        tasks: self.marks.len() as u32,
                    },
                    Stage::Persisting => CheckpointStage::Persisting,
                    Stage::Committing { remaining } => CheckpointStage::Committing {
                        committed: self.two_phase_tasks - remaining,
                        tasks: self.two_phase_tasks,
                    },
                },
            }),
            stop: self.stop,
            final_checkpoint: self.final_epoch,
            restarts: self.restart.restarts(),
            stopped_generation: self.stopped_generation,
            counters: self.counters,
            now: self.now,
        }
    }

    /// The controller's state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// The job this controller runs.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The configuration this controller runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where a later controller would resume this job from, if it can be resumed exactly once.
    ///
    /// `None` before the first checkpoint completes, and after a graceful stop was sent: the
    /// sinks then committed drained data past the last checkpoint, so resuming from it would
    /// repeat that data. (Stop with [`StopMode::Checkpoint`] to stop resumably.)
    pub fn restore_point(&self) -> Option<RestorePoint> {
        if self.drained {
            return None;
        }
        self.last_completed.map(|epoch| RestorePoint {
            generation: self.generation,
            epoch,
            committed: self.last_completed_committed,
            last_started: Epoch(self.next_epoch.0 - 1),
        })
    }

    /// The deadline of every armed timer.
    pub fn timers(&self) -> impl Iterator<Item = (Timer, Time)> + '_ {
        self.timers.armed()
    }

    // ---------------------------------------------------------------- outputs

    /// The next effect to carry out, if any. Drain after every `handle*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest armed deadline: call [`Controller::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.earliest().map(|(_, at)| at)
    }

    // ---------------------------------------------------------------- inputs

    /// Fires every timer whose deadline is at or before `now`, earliest first. Spurious calls
    /// do nothing; a `now` earlier than the last one is ignored.
    ///
    /// Each timer fires as of its own deadline, so a driver that wakes late gets the same
    /// decisions (and the same later deadlines) as one that woke on time: a chain of timeouts
    /// stays within its bound however late the call.
    pub fn handle_timeout(&mut self, now: Time) {
        if now < self.now || self.phase.state().is_terminal() {
            return;
        }
        #[cfg(debug_assertions)]
        let before = self.status();
        while let Some((timer, at)) = self.timers.earliest() {
            if at > now {
                break;
            }
            self.timers.disarm(timer);
            self.now = self.now.max(at);
            self.fire(timer);
        }
        if !self.phase.state().is_terminal() {
            self.now = now;
        }
        #[cfg(debug_assertions)]
        self.debug_check(Some(&before));
    }

    /// Takes one input. A refused input changes nothing, emits nothing, and says why.
    pub fn handle(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        if now < self.now {
            return Err(Rejected::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        let state = self.phase.state();
        if state.is_terminal() {
            return Err(Rejected::Terminal { state });
        }
        self.validate(&input)?;
        #[cfg(debug_assertions)]
        let before = self.status();
        self.now = now;
        self.apply(input);
        #[cfg(debug_assertions)]
        self.debug_check(Some(&before));
        Ok(())
    }

    fn debug_check(&self, before: Option<&Status>) {
        if cfg!(debug_assertions) && Mutant::ALL.iter().all(|&m| !self.bug(m)) {
            if let Err(violation) = invariants::check(before, self) {
                panic!("controller invariant broken: {violation}");
            }
        }
    }

    fn index(&self) -> &TaskIndex {
        &self.index
    }

    // ---------------------------------------------------------------- validation (pure)

    /// Checks `input` against the current state without changing anything.
    fn validate(&self, input: &Input) -> Result<(), Rejected> {
        let state = self.phase.state();
        match input {
            Input::Stop(mode) => match self.stop {
                Some(current) if *mode <= current => Err(Rejected::StopNotStronger {
                    current,
                    requested: *mode,
                }),
                _ => Ok(()),
            },
            Input::Worker(msg) => self.validate_worker(msg),
            Input::SchedulerFailed { generation, .. } => {
                self.check_generation(*generation)?;
                expect(
                    matches!(self.phase, Phase::Scheduling { .. }),
                    InputKind::SchedulerFailed,
                    state,
                )
            }
            Input::WorkerExited { worker, generation } => {
                self.check_generation(*generation)?;
                self.check_worker(*worker)?;
                Ok(())
            }
            Input::WorkersStopped { generation } => {
                self.check_generation(*generation)?;
                let killing = matches!(
                    self.phase,
                    Phase::StopWorkers { .. } | Phase::Recovering(RecoveryStage::Killing(_))
                );
                expect(killing, InputKind::WorkersStopped, state)
            }
            Input::MetadataPersisted { epoch } | Input::MetadataPersistFailed { epoch, .. } => {
                match &self.checkpoint {
                    Some(c) if c.epoch == *epoch && c.stage == Stage::Persisting => Ok(()),
                    Some(c) if c.stage == Stage::Persisting => Err(Rejected::WrongEpoch {
                        got: *epoch,
                        expected: Some(c.epoch),
                    }),
                    _ => Err(Rejected::WrongEpoch {
                        got: *epoch,
                        expected: None,
                    }),
                }
            }
            Input::CleanupDone { before } => match self.cleanup {
                Some(expected) if expected == *before => Ok(()),
                expected => Err(Rejected::WrongCleanup {
                    got: *before,
                    expected,
                }),
            },
        }
    }

    fn check_generation(&self, got: Generation) -> Result<(), Rejected> {
        let previous = got.0 + 1 == self.generation.0;
        if got == self.generation || (previous && self.bug(Mutant::AcceptOldGenerationAck)) {
            Ok(())
        } else {
            Err(Rejected::WrongGeneration {
                got,
                current: self.generation,
            })
        }
    }

    fn check_worker(&self, worker: WorkerId) -> Result<usize, Rejected> {
        let w = worker.0 as usize;
        if w < self.last_seen.len() {
            Ok(w)
        } else {
            Err(Rejected::UnknownWorker { worker })
        }
    }

    /// The dense index of `task`, checking that `worker` hosts it.
    fn check_task(&self, worker: WorkerId, task: TaskId) -> Result<usize, Rejected> {
        let i = self
            .index()
            .index(task)
            .ok_or(Rejected::UnknownTask { task })?;
        if i % self.last_seen.len() != worker.0 as usize {
            return Err(Rejected::TaskNotOnWorker { task, worker });
        }
        Ok(i)
    }

    fn check_running_task(&self, worker: WorkerId, task: TaskId) -> Result<usize, Rejected> {
        let i = self.check_task(worker, task)?;
        if !self.tasks[i].alive() {
            return Err(Rejected::TaskNotRunning { task });
        }
        Ok(i)
    }

    fn validate_worker(&self, msg: &FromWorker) -> Result<(), Rejected> {
        self.check_generation(msg.generation)?;
        let w = self.check_worker(msg.worker)?;
        let state = self.phase.state();
        // Once the generation is being killed, or the job is past it, workers have nothing
        // left to say.
        let listening = !matches!(self.phase, Phase::StopWorkers { .. } | Phase::Recovering(_));
        let kind = input_kind(&msg.event);
        expect(listening, kind, state)?;
        match &msg.event {
            WorkerEvent::Ready => match &self.phase {
                Phase::Scheduling { ready, .. } if ready[w] => {
                    Err(Rejected::DuplicateReady { worker: msg.worker })
                }
                Phase::Scheduling { .. } => Ok(()),
                _ => Err(Rejected::Unexpected { input: kind, state }),
            },
            WorkerEvent::Heartbeat => Ok(()),
            WorkerEvent::CheckpointAcked { task, epoch } => {
                let i = self.check_running_task(msg.worker, *task)?;
                self.validate_ack(*task, i, *epoch)
            }
            WorkerEvent::CheckpointFailed { task, epoch, .. } => {
                let i = self.check_running_task(msg.worker, *task)?;
                self.validate_ack(*task, i, *epoch)
            }
            WorkerEvent::Committed { task, epoch } => {
                let i = self.check_task(msg.worker, *task)?;
                self.validate_commit(*task, i, *epoch)
            }
            WorkerEvent::InputEnded { task } => {
                let i = self.check_running_task(msg.worker, *task)?;
                if !self.source[i] {
                    return Err(Rejected::NotASource { task: *task });
                }
                if self.tasks[i] == TaskRun::InputEnded {
                    return Err(Rejected::DuplicateInputEnded { task: *task });
                }
                Ok(())
            }
            WorkerEvent::TaskFinished { task } | WorkerEvent::TaskFailed { task, .. } => {
                self.check_running_task(msg.worker, *task)?;
                // A starting task can fail, but it cannot finish.
                let scheduling = matches!(self.phase, Phase::Scheduling { .. });
                expect(
                    !(scheduling && kind == InputKind::TaskFinished),
                    kind,
                    state,
                )
            }
        }
    }

    /// An ack or a failure report for `epoch` from task `i`.
    fn validate_ack(&self, task: TaskId, i: usize, epoch: Epoch) -> Result<(), Rejected> {
        match &self.checkpoint {
            Some(c) if c.epoch != epoch => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: Some(c.epoch),
            }),
            Some(Checkpoint {
                stage: Stage::Barriers { .. },
                ..
            }) if self.marks[i] => Err(Rejected::DuplicateAck { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Barriers { .. },
                ..
            }) => Ok(()),
            // Every task acked already: this one is a repeat.
            Some(_) => Err(Rejected::DuplicateAck { task, epoch }),
            None => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: None,
            }),
        }
    }

    fn validate_commit(&self, task: TaskId, i: usize, epoch: Epoch) -> Result<(), Rejected> {
        match &self.checkpoint {
            Some(c) if c.epoch != epoch => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: Some(c.epoch),
            }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) if !self.two_phase[i] => Err(Rejected::NotParticipating { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) if self.marks[i] => Err(Rejected::DuplicateCommit { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) => Ok(()),
            Some(_) => Err(Rejected::Unexpected {
                input: InputKind::Committed,
                state: self.phase.state(),
            }),
            None => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: None,
            }),
        }
    }

    // ---------------------------------------------------------------- applying inputs

    /// Applies a validated input.
    fn apply(&mut self, input: Input) {
        match input {
            Input::Stop(mode) => self.request_stop(mode, Reason::StopRequested(mode)),
            Input::Worker(msg) => self.apply_worker(msg),
            Input::SchedulerFailed { reason, .. } => self.fail(Reason::SchedulerFailed(reason)),
            Input::WorkerExited { worker, .. } => self.worker_lost(worker),
            Input::WorkersStopped { generation } => self.workers_stopped(generation),
            Input::MetadataPersisted { epoch } => self.metadata_persisted(epoch),
            Input::MetadataPersistFailed { reason, .. } => {
                self.checkpoint_failed(AbortReason::PersistFailed { reason })
            }
            Input::CleanupDone { before } => {
                self.timers.disarm(Timer::Cleanup);
                self.cleanup = None;
                self.retained.retain(|&e| e >= before);
                self.schedule_next_checkpoint();
            }
        }
    }

    fn apply_worker(&mut self, msg: FromWorker) {
        let w = msg.worker.0 as usize;
        if self.last_seen[w] != Time(u64::MAX) {
            self.last_seen[w] = self.now;
        }
        match msg.event {
            WorkerEvent::Ready => self.worker_ready(w),
            WorkerEvent::Heartbeat => {}
            WorkerEvent::CheckpointAcked { task, .. } => self.task_acked(task),
            WorkerEvent::CheckpointFailed { task, reason, .. } => {
                self.checkpoint_failed(AbortReason::TaskFailed { task, reason })
            }
            WorkerEvent::Committed { task, .. } => self.task_committed(task),
            WorkerEvent::InputEnded { task } => self.input_ended(task),
            WorkerEvent::TaskFinished { task } => self.task_finished(task),
            WorkerEvent::TaskFailed { task, reason } => {
                let i = self.task_slot(task);
                self.tasks[i] = TaskRun::Failed;
                self.ended_tasks += 1;
                self.task_failed(task, reason);
            }
        }
    }

    fn task_slot(&self, task: TaskId) -> usize {
        // Only called on validated inputs, whose task is known.
        self.index().index(task).expect("validated task")
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::CheckpointInterval => self.schedule_next_checkpoint(),
            Timer::CheckpointTimeout => self.checkpoint_timed_out(),
            Timer::FinalCheckpoint => self.final_checkpoint_failed(Reason::FinalCheckpointTimedOut),
            Timer::Cleanup => {
                if let Some(before) = self.cleanup.take() {
                    self.emit(Event::CleanupAbandoned { before });
                }
                self.schedule_next_checkpoint();
            }
            Timer::Stop => self.escalate(StopMode::Force, Reason::StopTimedOut),
            Timer::Kill => self.kill_timer(),
            Timer::Heartbeat => self.check_heartbeats(),
            Timer::Scheduling => self.fail(Reason::SchedulingTimedOut),
            Timer::RestartBackoff => {
                self.counters.restarts += 1;
                self.generation = Generation(self.generation.0 + 1);
                self.enter_scheduling(Reason::RestartBackoffElapsed);
            }
            Timer::Ttl => self.request_stop(StopMode::Immediate, Reason::TtlExpired),
            Timer::Healthy => {
                if self.restart.restarts() > 0 {
                    self.emit(Event::RestartBudgetReset);
                }
                self.restart.reset();
            }
        }
    }

    // ---------------------------------------------------------------- effects

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn send(&mut self, worker: WorkerId, command: Command) {
        let message = ToWorker {
            generation: self.generation,
            command,
        };
        self.outputs.push_back(Output::Send { worker, message });
    }

    fn broadcast(&mut self, command: &Command) {
        for w in 0..self.job.workers {
            self.send(WorkerId(w), command.clone());
        }
    }

    fn transition(&mut self, to: Phase, reason: Reason) {
        let from = self.phase.state();
        let to_state = to.state();
        debug_assert!(
            is_legal_transition(from, to_state),
            "illegal transition {from} -> {to_state}"
        );
        self.phase = to;
        self.emit(Event::Transition {
            from: Some(from),
            to: to_state,
            reason,
        });
    }

    // ---------------------------------------------------------------- scheduling

    /// Starts the current generation. The first one comes from nowhere, later ones from
    /// Recovering.
    fn enter_scheduling(&mut self, reason: Reason) {
        let workers = self.job.workers;
        let scheduling = Phase::Scheduling {
            ready: vec![false; workers as usize],
            waiting: workers,
        };
        if reason == Reason::Created {
            self.phase = scheduling;
            self.emit(Event::Transition {
                from: None,
                to: State::Scheduling,
                reason,
            });
        } else {
            self.transition(scheduling, reason);
        }
        self.tasks.fill(TaskRun::Running);
        self.ended_tasks = 0;
        self.sources_ended = 0;
        self.consecutive_failures = 0;
        self.final_epoch = None;
        self.outputs.push_back(Output::StartWorkers {
            generation: self.generation,
            restore: self.last_completed,
        });
        self.timers.arm(
            Timer::Scheduling,
            self.now.plus_ms(self.config.scheduling_timeout_ms),
        );
    }

    fn worker_ready(&mut self, w: usize) {
        let Phase::Scheduling { ready, waiting } = &mut self.phase else {
            return;
        };
        ready[w] = true;
        *waiting -= 1;
        if *waiting == 0 {
            self.enter_running();
        }
    }

    fn enter_running(&mut self) {
        let now = self.now;
        self.timers.disarm(Timer::Scheduling);
        self.transition(Phase::Running, Reason::WorkersReady);
        self.last_seen.fill(now);
        self.timers.arm(
            Timer::Heartbeat,
            now.plus_ms(self.config.heartbeat_timeout_ms),
        );
        self.timers
            .arm(Timer::Healthy, now.plus_ms(self.config.healthy_duration_ms));
        self.interval_anchor = now;
        self.pause_anchor = now;
        match self.last_completed {
            Some(epoch) if !self.last_completed_committed => self.start_commit(epoch),
            _ => self.schedule_next_checkpoint(),
        }
        // Sources that ended while starting: the job finishes right away.
        if self.phase == Phase::Running {
            self.finish_if_inputs_ended();
        }
    }

    // ---------------------------------------------------------------- checkpoints

    /// In Running with nothing in flight: triggers a periodic checkpoint if it is due, or
    /// arms the interval timer for when it will be. Anything else disarms it.
    fn schedule_next_checkpoint(&mut self) {
        if self.phase != Phase::Running || self.checkpoint.is_some() || self.cleanup.is_some() {
            self.timers.disarm(Timer::CheckpointInterval);
            return;
        }
        let due = self
            .interval_anchor
            .plus_ms(self.config.checkpoint_interval_ms)
            .max(self.pause_anchor.plus_ms(self.config.min_pause_ms));
        if due <= self.now {
            self.start_checkpoint(false);
        } else {
            self.timers.arm(Timer::CheckpointInterval, due);
        }
    }

    fn start_checkpoint(&mut self, then_stop: bool) {
        let epoch = self.next_epoch;
        self.next_epoch = Epoch(epoch.0 + 1);
        self.marks.fill(false);
        self.checkpoint = Some(Checkpoint {
            epoch,
            then_stop,
            stage: Stage::Barriers {
                remaining: self.marks.len() as u32,
            },
        });
        if then_stop {
            self.final_epoch = Some(epoch);
        }
        self.counters.checkpoints_started += 1;
        self.interval_anchor = self.now;
        self.timers.disarm(Timer::CheckpointInterval);
        if !(then_stop && self.bug(Mutant::NoFinalCheckpointTimeout)) {
            self.timers.arm(
                Timer::CheckpointTimeout,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.emit(Event::CheckpointStarted { epoch, then_stop });
        self.broadcast(&Command::Checkpoint { epoch, then_stop });
    }

    fn task_acked(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        let Some(c) = &mut self.checkpoint else {
            return;
        };
        let Stage::Barriers { remaining } = &mut c.stage else {
            return;
        };
        self.marks[i] = true;
        *remaining -= 1;
        if *remaining > 0 {
            return;
        }
        let epoch = c.epoch;
        if self.bug(Mutant::CommitBeforePersist) {
            self.start_commit(epoch);
            return;
        }
        if let Some(c) = &mut self.checkpoint {
            c.stage = Stage::Persisting;
        }
        self.emit(Event::CheckpointAcked { epoch });
        self.outputs.push_back(Output::PersistMetadata {
            epoch,
            generation: self.generation,
        });
    }

    fn metadata_persisted(&mut self, epoch: Epoch) {
        self.last_completed = Some(epoch);
        self.last_completed_committed = false;
        self.retained.push_back(epoch);
        self.consecutive_failures = 0;
        self.counters.checkpoints_completed += 1;
        self.emit(Event::CheckpointCompleted { epoch });
        self.start_commit(epoch);
    }

    /// Asks every two-phase-commit sink to commit the persisted `epoch`.
    fn start_commit(&mut self, epoch: Epoch) {
        if self.two_phase_tasks == 0 {
            self.checkpoint = None;
            self.commit_done(epoch);
            return;
        }
        let then_stop = self.final_epoch == Some(epoch);
        self.marks.fill(false);
        self.checkpoint = Some(Checkpoint {
            epoch,
            then_stop,
            stage: Stage::Committing {
                remaining: self.two_phase_tasks,
            },
        });
        if !self.timers.is_armed(Timer::CheckpointTimeout) {
            // Re-sending the commits of a restored checkpoint: bounded like a checkpoint.
            self.timers.arm(
                Timer::CheckpointTimeout,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.emit(Event::CommitStarted {
            epoch,
            tasks: self.two_phase_tasks,
        });
        for w in self.commit_workers.clone() {
            self.send(w, Command::Commit { epoch });
        }
    }

    fn task_committed(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        let Some(c) = &mut self.checkpoint else {
            return;
        };
        let Stage::Committing { remaining } = &mut c.stage else {
            return;
        };
        self.marks[i] = true;
        *remaining -= 1;
        if *remaining == 0 {
            let epoch = c.epoch;
            self.checkpoint = None;
            self.commit_done(epoch);
        }
    }

    /// The checkpoint `epoch` is complete and committed.
    fn commit_done(&mut self, epoch: Epoch) {
        self.last_completed_committed = true;
        self.timers.disarm(Timer::CheckpointTimeout);
        self.pause_anchor = self.now;
        self.emit(Event::CheckpointCommitted { epoch });
        self.start_cleanup();
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing => self.progress_final_checkpoint(),
            _ => self.schedule_next_checkpoint(),
        }
    }

    fn start_cleanup(&mut self) {
        if self.cleanup.is_some() || self.phase != Phase::Running {
            return;
        }
        let keep = self.config.retained_checkpoints as usize;
        if self.retained.len() <= keep {
            return;
        }
        let before = self.retained[self.retained.len() - keep];
        self.cleanup = Some(before);
        self.timers.arm(
            Timer::Cleanup,
            self.now.plus_ms(self.config.cleanup_timeout_ms),
        );
        self.emit(Event::CleanupStarted { before });
        self.outputs.push_back(Output::Cleanup { before });
    }

    fn checkpoint_timed_out(&mut self) {
        match self.checkpoint.as_ref().map(|c| (c.epoch, c.stage)) {
            Some((epoch, Stage::Committing { .. })) => {
                // Complete but not committed: only a restart re-sends the commits for sure.
                let reason = Reason::CheckpointCommitTimedOut { epoch };
                match self.phase {
                    Phase::CheckpointStopping | Phase::Finishing => {
                        self.final_checkpoint_failed(reason)
                    }
                    _ => self.fail(reason),
                }
            }
            Some(_) => self.checkpoint_failed(AbortReason::TimedOut),
            None => {}
        }
    }

    /// The checkpoint in flight failed before completion.
    fn checkpoint_failed(&mut self, reason: AbortReason) {
        let timed_out = reason == AbortReason::TimedOut;
        let Some(epoch) = self.abort_checkpoint(reason) else {
            return;
        };
        self.pause_anchor = self.now;
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing if self.final_epoch == Some(epoch) => {
                let reason = if timed_out {
                    Reason::FinalCheckpointTimedOut
                } else {
                    Reason::FinalCheckpointFailed { epoch }
                };
                self.final_checkpoint_failed(reason)
            }
            // The periodic checkpoint the final one waited for is over, one way or the other.
            Phase::CheckpointStopping | Phase::Finishing => self.progress_final_checkpoint(),
            _ => {
                self.consecutive_failures += 1;
                let consecutive = self.consecutive_failures;
                if consecutive > self.config.tolerable_checkpoint_failures {
                    self.fail(Reason::TooManyCheckpointFailures { consecutive });
                } else {
                    self.schedule_next_checkpoint();
                }
            }
        }
    }

    /// Drops the checkpoint in flight. One not yet complete is aborted at the workers; a
    /// complete one waiting for commits is kept as the restore point, commits re-sent later.
    fn abort_checkpoint(&mut self, reason: AbortReason) -> Option<Epoch> {
        let c = self.checkpoint.take()?;
        self.timers.disarm(Timer::CheckpointTimeout);
        if !matches!(c.stage, Stage::Committing { .. }) {
            self.counters.checkpoints_aborted += 1;
            self.emit(Event::CheckpointAborted {
                epoch: c.epoch,
                reason,
            });
            self.broadcast(&Command::Abort { epoch: c.epoch });
        }
        Some(c.epoch)
    }

    // ---------------------------------------------------------------- tasks and workers

    fn task_finished(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing if self.done_with_final(i) => {
                self.mark_finished(i);
                self.progress_final_checkpoint();
            }
            Phase::CheckpointStopping | Phase::Finishing => {
                self.final_checkpoint_failed(Reason::TaskFinishedEarly { task })
            }
            Phase::StopJob(_) => {
                self.mark_finished(i);
                if self.ended_tasks as usize == self.tasks.len() {
                    self.terminate(Phase::Stopped, Reason::AllTasksFinished);
                }
            }
            // Tasks finish only with a final checkpoint or on a stop.
            _ => self.fail(Reason::TaskFinishedEarly { task }),
        }
    }

    /// Source `task` read the end of its input; once every source did, the job finishes
    /// through a final checkpoint.
    fn input_ended(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        self.tasks[i] = TaskRun::InputEnded;
        self.sources_ended += 1;
        if self.phase == Phase::Running {
            self.finish_if_inputs_ended();
        }
    }

    fn finish_if_inputs_ended(&mut self) {
        if self.sources_ended < self.sources {
            return;
        }
        self.timers.disarm(Timer::CheckpointInterval);
        self.timers.disarm(Timer::Healthy);
        self.timers.arm(
            Timer::FinalCheckpoint,
            self.now.plus_ms(self.config.checkpoint_timeout_ms),
        );
        self.transition(Phase::Finishing, Reason::SourcesFinished);
        self.progress_final_checkpoint();
    }

    fn mark_finished(&mut self, i: usize) {
        debug_assert!(self.tasks[i].alive(), "validated: the task was alive");
        self.tasks[i] = TaskRun::Finished;
        self.ended_tasks += 1;
    }

    /// Whether task `i` has done its whole part of the final checkpoint (sinks: committed).
    fn done_with_final(&self, i: usize) -> bool {
        let Some(final_epoch) = self.final_epoch else {
            return false;
        };
        match &self.checkpoint {
            Some(c) if c.epoch == final_epoch => match c.stage {
                Stage::Barriers { .. } => self.marks[i] && !self.two_phase[i],
                Stage::Persisting => !self.two_phase[i],
                Stage::Committing { .. } => !self.two_phase[i] || self.marks[i],
            },
            Some(_) => false,
            None => self.last_completed == Some(final_epoch) && self.last_completed_committed,
        }
    }

    fn task_failed(&mut self, task: TaskId, reason: String) {
        let reason = Reason::TaskFailed { task, reason };
        let stopping = matches!(self.phase, Phase::CheckpointStopping | Phase::StopJob(_));
        if stopping && self.bug(Mutant::WaitOnDeadTask) {
            return;
        }
        match self.phase {
            Phase::CheckpointStopping => self.escalate(StopMode::Immediate, reason),
            Phase::StopJob(_) => self.escalate(StopMode::Force, reason),
            _ => self.fail(reason),
        }
    }

    fn worker_lost(&mut self, worker: WorkerId) {
        match self.phase {
            Phase::StopWorkers { .. } | Phase::Recovering(_) => return,
            _ => {}
        }
        self.last_seen[worker.0 as usize] = Time(u64::MAX);
        self.emit(Event::WorkerLost { worker });
        let reason = Reason::WorkerLost { worker };
        let stopping = matches!(self.phase, Phase::CheckpointStopping | Phase::StopJob(_));
        if stopping && self.bug(Mutant::WaitOnDeadTask) {
            return;
        }
        match self.phase {
            // Its tasks can no longer stop themselves: only a kill ends them.
            Phase::CheckpointStopping | Phase::StopJob(_) => self.escalate(StopMode::Force, reason),
            _ => self.fail(reason),
        }
    }

    fn check_heartbeats(&mut self) {
        let timeout = self.config.heartbeat_timeout_ms;
        let lost = self
            .last_seen
            .iter()
            .position(|&seen| seen != Time(u64::MAX) && seen.plus_ms(timeout) <= self.now);
        if let Some(w) = lost {
            self.worker_lost(WorkerId(w as u32));
        }
        if matches!(
            self.phase,
            Phase::Running | Phase::CheckpointStopping | Phase::StopJob(_) | Phase::Finishing
        ) {
            let earliest = self
                .last_seen
                .iter()
                .filter(|&&t| t != Time(u64::MAX))
                .min();
            match earliest {
                Some(&seen) => self.timers.arm(Timer::Heartbeat, seen.plus_ms(timeout)),
                None => self.timers.disarm(Timer::Heartbeat),
            }
        }
    }

    // ---------------------------------------------------------------- stopping

    fn request_stop(&mut self, mode: StopMode, reason: Reason) {
        if self.stop.is_some_and(|current| mode <= current) {
            return;
        }
        self.emit(Event::StopRequested { mode });
        let in_final = self.phase == Phase::CheckpointStopping;
        if in_final && mode == StopMode::Force && self.bug(Mutant::ForceIgnoredInFinalCheckpoint) {
            return;
        }
        match self.phase {
            Phase::Scheduling { .. } => self.enter_stop_workers(reason),
            Phase::Recovering(RecoveryStage::Killing(kill)) => {
                self.set_stop(StopMode::Force);
                self.transition(Phase::StopWorkers { kill }, reason);
            }
            Phase::Recovering(RecoveryStage::Backoff) => {
                self.set_stop(StopMode::Force);
                self.terminate(Phase::Stopped, reason);
            }
            Phase::StopWorkers { kill, .. } => {
                self.set_stop(StopMode::Force);
                self.phase = Phase::StopWorkers { kill };
            }
            _ => self.escalate(mode, reason),
        }
    }

    fn set_stop(&mut self, mode: StopMode) {
        self.stop = Some(self.stop.map_or(mode, |current| current.max(mode)));
    }

    /// Moves a running (or stopping) job to the stop step for `mode`.
    fn escalate(&mut self, mode: StopMode, reason: Reason) {
        self.set_stop(mode);
        match mode {
            StopMode::Checkpoint => self.enter_checkpoint_stopping(reason),
            StopMode::Graceful => self.enter_stop_job(StopJobMode::Graceful, reason),
            StopMode::Immediate => self.enter_stop_job(StopJobMode::Immediate, reason),
            StopMode::Force => self.enter_stop_workers(reason),
        }
    }

    fn enter_checkpoint_stopping(&mut self, reason: Reason) {
        self.timers.disarm(Timer::CheckpointInterval);
        self.timers.disarm(Timer::Healthy);
        if !self.bug(Mutant::NoFinalCheckpointTimeout) {
            self.timers.arm(
                Timer::FinalCheckpoint,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.transition(Phase::CheckpointStopping, reason);
        if self.bug(Mutant::SecondCheckpointInFlight) && self.checkpoint.is_some() {
            self.start_checkpoint(true);
            return;
        }
        self.progress_final_checkpoint();
    }

    /// Starts the final checkpoint (of a checkpoint stop, or of the end of input) once nothing
    /// is in flight; ends the job once it is committed and every task finished.
    fn progress_final_checkpoint(&mut self) {
        if self.checkpoint.is_some() {
            return;
        }
        let Some(epoch) = self.final_epoch else {
            self.start_checkpoint(true);
            return;
        };
        let committed = self.last_completed == Some(epoch) && self.last_completed_committed;
        if committed && self.ended_tasks as usize == self.tasks.len() {
            let reason = Reason::FinalCheckpointCommitted { epoch };
            match self.phase {
                Phase::Finishing => self.terminate(Phase::Finished, reason),
                _ => self.terminate(Phase::Stopped, reason),
            }
        }
    }

    /// The final checkpoint cannot complete: a checkpoint stop escalates, the end of input
    /// recovers (the sinks committed nothing past the last checkpoint, so nothing is lost or
    /// repeated).
    fn final_checkpoint_failed(&mut self, reason: Reason) {
        match self.phase {
            Phase::Finishing => self.fail(reason),
            _ => self.escalate(StopMode::Immediate, reason),
        }
    }

    fn enter_stop_job(&mut self, mode: StopJobMode, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        // The TTL stays: it escalates a graceful stop to immediate.
        self.timers
            .disarm_all_but(&[Timer::Stop, Timer::Heartbeat, Timer::Cleanup, Timer::Ttl]);
        // Escalating from graceful keeps the deadline already running.
        if !matches!(self.phase, Phase::StopJob(_)) {
            self.timers
                .arm(Timer::Stop, self.now.plus_ms(self.config.stop_timeout_ms));
        }
        self.transition(Phase::StopJob(mode), reason);
        self.drained |= mode == StopJobMode::Graceful;
        self.broadcast(&Command::Stop { mode });
        if self.ended_tasks as usize == self.tasks.len() {
            self.terminate(Phase::Stopped, Reason::AllTasksFinished);
        }
    }

    fn enter_stop_workers(&mut self, reason: Reason) {
        self.set_stop(StopMode::Force);
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[Timer::Cleanup]);
        let kill = self.ask_kill(1);
        self.transition(Phase::StopWorkers { kill }, reason);
    }

    /// Asks the scheduler to kill the current generation's workers.
    fn ask_kill(&mut self, attempt: u32) -> Kill {
        if attempt > 1 {
            self.emit(Event::KillRetried {
                generation: self.generation,
                attempt,
            });
        }
        self.outputs.push_back(Output::StopWorkers {
            generation: self.generation,
        });
        self.timers
            .arm(Timer::Kill, self.now.plus_ms(self.config.force_timeout_ms));
        Kill {
            attempt,
            pausing: false,
        }
    }

    fn kill_timer(&mut self) {
        let kill = match &self.phase {
            Phase::StopWorkers { kill, .. } | Phase::Recovering(RecoveryStage::Killing(kill)) => {
                *kill
            }
            _ => return,
        };
        let next = if kill.pausing {
            self.ask_kill(kill.attempt + 1)
        } else if kill.attempt > self.config.force_retries {
            let attempts = kill.attempt;
            self.terminate(Phase::Failed, Reason::KillUnconfirmed { attempts });
            return;
        } else {
            let pause_ms = self.config.force_retry_pause_ms(kill.attempt);
            self.timers.arm(Timer::Kill, self.now.plus_ms(pause_ms));
            Kill {
                attempt: kill.attempt,
                pausing: true,
            }
        };
        match &mut self.phase {
            Phase::StopWorkers { kill, .. } | Phase::Recovering(RecoveryStage::Killing(kill)) => {
                *kill = next
            }
            _ => {}
        }
    }

    fn workers_stopped(&mut self, generation: Generation) {
        self.stopped_generation = Some(generation);
        self.timers.disarm(Timer::Kill);
        match self.phase {
            Phase::StopWorkers { .. } => self.terminate(Phase::Stopped, Reason::WorkersStopped),
            Phase::Recovering(_) => match self.restart.next_delay_ms(self.now) {
                None => self.terminate(Phase::Failed, Reason::RestartBudgetExhausted),
                Some(delay_ms) => {
                    self.emit(Event::RestartScheduled {
                        delay_ms,
                        restarts: self.restart.restarts(),
                    });
                    self.phase = Phase::Recovering(RecoveryStage::Backoff);
                    self.timers
                        .arm(Timer::RestartBackoff, self.now.plus_ms(delay_ms.max(1)));
                }
            },
            _ => {}
        }
    }

    fn terminate(&mut self, to: Phase, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[]);
        self.cleanup = None;
        // Every task finished by itself: the processes only need reaping.
        let release = matches!(to, Phase::Stopped | Phase::Finished)
            && self.ended_tasks as usize == self.tasks.len()
            && !matches!(self.phase, Phase::StopWorkers { .. } | Phase::Recovering(_));
        self.transition(to, reason);
        if release {
            self.outputs.push_back(Output::ReleaseWorkers {
                generation: self.generation,
            });
        }
    }

    // ---------------------------------------------------------------- failure

    /// A failure outside a stop: kill the generation, then restart or fail.
    fn fail(&mut self, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[Timer::Ttl]);
        self.cleanup = None;
        let kill = self.ask_kill(1);
        self.transition(Phase::Recovering(RecoveryStage::Killing(kill)), reason);
    }
}

fn expect(ok: bool, input: InputKind, state: State) -> Result<(), Rejected> {
    if ok {
        Ok(())
    } else {
        Err(Rejected::Unexpected { input, state })
    }
}

fn input_kind(event: &WorkerEvent) -> InputKind {
    match event {
        WorkerEvent::Ready => InputKind::Ready,
        WorkerEvent::Heartbeat => InputKind::Heartbeat,
        WorkerEvent::CheckpointAcked { .. } => InputKind::CheckpointAcked,
        WorkerEvent::CheckpointFailed { .. } => InputKind::CheckpointFailed,
        WorkerEvent::Committed { .. } => InputKind::Committed,
        WorkerEvent::InputEnded { .. } => InputKind::InputEnded,
        WorkerEvent::TaskFinished { .. } => InputKind::TaskFinished,
        WorkerEvent::TaskFailed { .. } => InputKind::TaskFailed,
    }
}
