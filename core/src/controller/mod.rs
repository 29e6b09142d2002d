//! The controller machine: when to checkpoint, how to stop, how to recover.
//!
//! See the crate docs for the run-loop contract. Methods fall into four groups: getters
//! ([`Controller::status`]), inputs ([`Controller::handle`], [`Controller::handle_timeout`]) and
//! outputs ([`Controller::poll_output`], [`Controller::poll_timeout`]).
//!
//! The code follows the controller's concerns, one file each: `setup` (building, restore
//! points), `phase` (states and legal transitions), `validate` (pure checks of every input),
//! `checkpoint` (trigger, acks, persist, commits, cleanup), `stop` (the escalation ladder),
//! `lifecycle` (scheduling, tasks, heartbeats, failure) and `restart` (restart strategies).
//!
//! # The order of a worker's messages
//!
//! One worker's messages normally arrive in the order it sent them (one connection per worker
//! gives that). The only order the protocol implies between the messages of one task is that
//! its ack of the final (`then_stop`) checkpoint, and a two-phase-commit sink's commit of it,
//! come before its `TaskFinished`. The controller stays correct when a finish overtakes them:
//! it counts the finish at once, still takes the overtaken ack or commit when it arrives, and
//! ends the stop as soon as the final checkpoint is committed; once every task has ended,
//! nothing waits for a timer (property `no_needless_wait`). A finish no order can explain — a
//! two-phase-commit sink's before its commit was asked for, any task's before the final
//! checkpoint started — is early: it counts too, and the checkpoint stop escalates to
//! immediate (which then ends with the last task), or the end of input recovers.

pub mod invariants;
pub(crate) mod io;
#[cfg(feature = "mutants")]
pub mod mutants;
mod restart;
mod timers;

mod checkpoint;
mod fast;
mod lifecycle;
mod phase;
mod setup;
mod status;
mod stop;
mod validate;

use crate::config::{Config, ConfigError};
use crate::plan::Plan;
use crate::protocol::{Command, FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
use crate::types::{Epoch, Generation, Job, JobError, OperatorKind, TaskId, Time, WorkerId};
use io::{
    AbortReason, CheckpointStage, Counters, Event, InFlight, Input, InputKind, Output, Reason,
    Rejected, RequestId, State, Status, Stopping,
};
#[cfg(feature = "mutants")]
use mutants::Mutant;
use restart::RestartPolicy;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use timers::Timers;

pub use phase::is_legal_transition;
use phase::{Checkpoint, Kill, Phase, RecoveryStage, Seen, Stage, TaskRun};
pub use setup::{ControllerSetup, RestoreError, RestorePoint, SetupError};
use setup::{FIRST_EPOCH, FIRST_GENERATION};
pub use timers::Timer;
use validate::Checked;

/// The controller of one streaming job. Pure: no clock, no I/O, no randomness.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    job: Job,
    config: Config,
    /// Which worker hosts which task.
    plan: Plan,
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
    /// When the job was first created: the time to live counts from here.
    created_at: Time,
    phase: Phase,
    generation: Generation,
    stopped_generation: Option<Generation>,
    tasks: Vec<TaskRun>,
    /// Tasks of the generation that finished or failed: nothing waits on them any more.
    ended_tasks: u32,
    /// Sources of the generation that read the end of their input.
    sources_ended: u32,
    /// Per worker: when it was last heard from, or that it is lost.
    last_seen: Vec<Seen>,
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

    /// A checkpoint asked for on demand, waiting for the one in flight (Running only).
    queued_request: Option<RequestId>,
    /// The stop level the controller escalated to.
    stop: Option<StopMode>,
    /// The strongest stop asked for (by a user or the time to live), as asked.
    stop_requested: Option<StopMode>,
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
    /// Whether a known bug is switched on: debug assertions of the invariants are then off,
    /// as the checks under test must find the bug themselves.
    #[cfg(feature = "mutants")]
    fn mutated(&self) -> bool {
        self.mutant.is_some()
    }

    #[cfg(not(feature = "mutants"))]
    fn mutated(&self) -> bool {
        false
    }

    // ---------------------------------------------------------------- getters

    /// A snapshot of the controller's state and counters.
    pub fn status(&self) -> Status {
        Status {
            state: self.phase.state(),
            generation: self.generation,
            last_epoch: self.last_started(),
            last_completed: self.last_completed,
            last_completed_committed: self.last_completed_committed,
            in_flight: self.checkpoint.as_ref().map(|c| InFlight {
                epoch: c.epoch,
                then_stop: c.then_stop,
                stage: self.stage_of(c.stage),
                request: c.request,
            }),
            queued_request: self.queued_request,
            stop: self.stop,
            stop_requested: self.stop_requested,
            final_checkpoint: self.final_epoch,
            restarts: self.restart.restarts(),
            stopped_generation: self.stopped_generation,
            counters: self.counters,
            now: self.now,
        }
    }

    /// Where a checkpoint at `stage` stands, for callers.
    fn stage_of(&self, stage: Stage) -> CheckpointStage {
        match stage {
            Stage::Barriers { remaining } => CheckpointStage::Barriers {
                acked: self.marks.len() as u32 - remaining,
                tasks: self.marks.len() as u32,
            },
            Stage::Persisting => CheckpointStage::Persisting,
            Stage::Committing { remaining } => CheckpointStage::Committing {
                committed: self.two_phase_tasks - remaining,
                tasks: self.two_phase_tasks,
            },
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
        let last_started = self.last_started()?;
        self.last_completed.map(|epoch| RestorePoint {
            generation: self.generation,
            epoch,
            committed: self.last_completed_committed,
            last_started,
            created_at: self.created_at,
        })
    }

    /// The last epoch started, by this controller or the one it resumes from.
    fn last_started(&self) -> Option<Epoch> {
        (self.next_epoch > FIRST_EPOCH).then(|| Epoch(self.next_epoch.0 - 1))
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
    #[inline]
    pub fn handle_timeout(&mut self, now: Time) {
        if now < self.now || self.phase.is_terminal() {
            return;
        }
        // Every input comes through here first: when nothing is due (nearly always), only the
        // clock moves. Debug builds always take the path that checks the invariants after.
        let due = self.timers.earliest().is_some_and(|(_, at)| at <= now);
        if due || cfg!(debug_assertions) {
            self.fire_due(now);
        } else {
            self.now = now;
        }
    }

    /// Fires every timer due by `now`, earliest first, each as of its own deadline; then the
    /// clock moves to `now` unless the job ended.
    #[inline(never)]
    fn fire_due(&mut self, now: Time) {
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
        if !self.phase.is_terminal() {
            self.now = now;
        }
        #[cfg(debug_assertions)]
        self.debug_check(Some(&before));
    }

    /// Takes one input that arrived at `now`.
    ///
    /// Timers come first: every timer due by `now` fires, as of its own deadline, exactly as
    /// [`Controller::handle_timeout`]`(now)` would. An input that arrives late therefore never
    /// outruns a deadline: a last ack that comes after its checkpoint's timeout finds the
    /// checkpoint aborted. Then the input is checked against the state the timers left. A
    /// refused input changes nothing beyond what those timers did, emits nothing of its own,
    /// and says why.
    #[inline(always)]
    pub fn handle(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        // A task's ack or commit that only counts is taken here, inline in the caller's loop;
        // the full path decides anything else, and would decide these the same way.
        let Input::Worker(FromWorker {
            worker,
            generation,
            event,
        }) = input
        else {
            return self.handle_in_full(now, input);
        };
        let counted = match event {
            WorkerEvent::CheckpointAcked { task, epoch } => {
                self.count_ack(now, worker, generation, task, epoch)
            }
            WorkerEvent::Committed { task, epoch } => {
                self.count_commit(now, worker, generation, task, epoch)
            }
            _ => false,
        };
        if counted {
            // An ack or a commit owns nothing: forgetting it frees nothing, and spares the
            // caller's loop the drop glue that would look for a reason string to free.
            std::mem::forget(event);
            return Ok(());
        }
        self.handle_in_full(now, Input::from_worker(worker, generation, event))
    }

    /// [`Controller::handle`], every input, every check: out of line.
    #[inline(never)]
    fn handle_in_full(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        if now < self.now {
            return Err(Rejected::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        if !bug!(self, Mutant::InputOutrunsTimers) {
            self.handle_timeout(now);
        }
        if self.phase.is_terminal() {
            return Err(Rejected::Terminal {
                state: self.phase.state(),
            });
        }
        let checked = self.validate(&input)?;
        #[cfg(debug_assertions)]
        let before = self.status();
        self.now = now;
        self.apply(input, checked);
        #[cfg(debug_assertions)]
        self.debug_check(Some(&before));
        Ok(())
    }

    fn debug_check(&self, before: Option<&Status>) {
        if cfg!(debug_assertions) && !self.mutated() {
            if let Err(violation) = invariants::check(before, self) {
                panic!("controller invariant broken: {violation}");
            }
        }
    }

    /// Which worker hosts which task: the placement the workers use too.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    // ---------------------------------------------------------------- applying inputs

    /// Applies a validated input. A task's ack or commit is applied from what checking it
    /// found (`checked`), without reading the input again.
    #[inline]
    fn apply(&mut self, input: Input, checked: Checked) {
        match checked {
            Checked::Ack { worker, slot } => {
                self.heard_from(worker);
                self.task_acked(slot);
            }
            Checked::Commit { worker, slot } => {
                self.heard_from(worker);
                self.task_committed(slot);
            }
            Checked::Input => self.apply_input(input),
        }
    }

    /// Applies any input but a task's ack or commit. Out of line, to keep those lean.
    #[inline(never)]
    fn apply_input(&mut self, input: Input) {
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
            Input::TriggerCheckpoint { request } => self.checkpoint_requested(request),
            Input::CleanupDone { before } => {
                self.timers.disarm(Timer::Cleanup);
                self.cleanup = None;
                self.retained.retain(|&e| e >= before);
                self.schedule_next_checkpoint();
            }
        }
    }

    /// Worker `w` (validated) spoke now: it is alive, unless already declared lost.
    #[inline(always)]
    fn heard_from(&mut self, w: usize) {
        if self.last_seen[w] != Seen::Lost {
            self.last_seen[w] = Seen::At(self.now);
        }
    }

    fn apply_worker(&mut self, msg: FromWorker) {
        let w = msg.worker.0 as usize;
        self.heard_from(w);
        match msg.event {
            WorkerEvent::Ready => self.worker_ready(w),
            WorkerEvent::Heartbeat => {}
            WorkerEvent::CheckpointAcked { task, .. } => self.task_acked(self.task_slot(task)),
            WorkerEvent::CheckpointFailed { task, reason, .. } => {
                self.checkpoint_failed(AbortReason::TaskFailed { task, reason })
            }
            WorkerEvent::Committed { task, .. } => self.task_committed(self.task_slot(task)),
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
        self.plan.index_of(task).expect("validated task")
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
                // Restore points leave 2^62 generations of room; each takes a failure.
                self.generation = Generation(self.generation.0.saturating_add(1));
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
        // A checkpoint asked for on demand is taken in Running only.
        if let Some(request) = self.queued_request.take() {
            self.emit(Event::CheckpointRequestAborted {
                request,
                epoch: None,
                reason: AbortReason::Superseded,
            });
        }
        self.emit(Event::Transition {
            from: Some(from),
            to: to_state,
            reason,
        });
    }
}
