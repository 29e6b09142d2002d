//! The worker side of the protocol: the tasks a worker hosts, the records and barriers between
//! them, snapshots, two-phase commit, and the three ways a task ends.
//!
//! [`Worker`] is a pure, sans-IO state machine like the controller: time and every outcome come
//! in as [`WorkerInput`]s, every effect comes out as a [`WorkerOutput`]. It never reads a clock,
//! never draws a random number, never blocks and never panics on any input sequence.
//!
//! # Driving it
//!
//! After [`Worker::new`] and after every [`Worker::handle`] or [`Worker::handle_timeout`] call,
//! drain [`Worker::poll_output`] until it returns `None`, then arm a timer for
//! [`Worker::poll_timeout`] and call [`Worker::handle_timeout`] when it fires (a spurious call
//! does nothing). A refused input ([`WorkerRejected`]) changes nothing and emits nothing.
//!
//! ```
//! use quiesce_core::worker::{TransactionId, Worker, WorkerConfig, WorkerInput, WorkerOutput};
//! use quiesce_core::{Command, Edge, Epoch, Generation, Job, Operator, OperatorId, OperatorKind};
//! use quiesce_core::{TaskId, Time, ToWorker, WorkerId};
//!
//! let job = Job {
//!     name: "copy".into(),
//!     operators: vec![
//!         Operator { name: "read".into(), kind: OperatorKind::Source, parallelism: 1 },
//!         Operator {
//!             name: "write".into(),
//!             kind: OperatorKind::Sink { two_phase_commit: true },
//!             parallelism: 1,
//!         },
//!     ],
//!     edges: vec![Edge { from: OperatorId(0), to: OperatorId(1) }],
//!     workers: 1,
//! };
//! let generation = Generation(1);
//! let source = TaskId { operator: OperatorId(0), subtask: 0 };
//! let sink = TaskId { operator: OperatorId(1), subtask: 0 };
//! let command = |command| WorkerInput::Command(ToWorker { generation, command });
//!
//! let mut w =
//!     Worker::new(&job, WorkerId(0), generation, WorkerConfig::default(), None, Time(0))?;
//! w.handle(Time(1), WorkerInput::SourceRecords { task: source, count: 3 })?;
//! w.handle(Time(2), command(Command::Checkpoint { epoch: Epoch(1), then_stop: false }))?;
//! for task in [source, sink] {
//!     w.handle(Time(3), WorkerInput::SnapshotDone { task, epoch: Epoch(1) })?;
//! }
//! w.handle(Time(4), command(Command::Commit { epoch: Epoch(1) }))?;
//!
//! let committed: Vec<_> = std::iter::from_fn(|| w.poll_output())
//!     .filter_map(|out| match out {
//!         WorkerOutput::Commit { transaction: TransactionId::Epoch(e), records, .. } => {
//!             Some((e, records.iter().map(|r| r.offset).collect::<Vec<_>>()))
//!         }
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(committed, vec![(Epoch(1), vec![0, 1, 2])]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The data path
//!
//! Task `i` in [`Job::tasks`] order runs on worker `i % workers`. Source subtask `s` of
//! operator `o` reads [`Partition`] `{ source: o, index: s }`; when told that `count` records
//! are available ([`WorkerInput::SourceRecords`]) it reads them at its next offsets. A
//! [`Record`] is its (partition, offset).
//!
//! Edges are all-to-all between the subtasks of the two operators: each pair is a
//! [`Channel`]. A record goes to every downstream operator, to the subtask
//! [`Partition::route`] picks: `(source + index) % parallelism`, keyed by partition, so each
//! partition's records follow one path and stay in offset order. Barriers and end of stream go
//! to every subtask. Channels are FIFO. Within a worker they are queues; between workers the
//! worker emits [`WorkerOutput::SendData`] and takes [`WorkerInput::Data`], numbered per
//! channel and stamped with the generation, and refuses other generations, gaps, repeats,
//! reordering, misrouted records and offsets a task has already received. The job may have
//! only one path between any two operators ([`Job::validate`] refuses others with
//! [`JobError::MultiplePaths`](crate::JobError::MultiplePaths)).
//!
//! # Checkpoints
//!
//! On [`Command::Checkpoint`] each source records its next offset, asks for a snapshot
//! ([`WorkerOutput::Snapshot`]) and sends the barrier on. Any other task aligns the barrier
//! across all its input channels: a channel that has delivered it is blocked, and the items
//! behind it wait until every channel has delivered it (a channel that has ended counts as
//! delivered); then the task asks for its snapshot, forwards the barrier and takes the held
//! items in order. Every task acks ([`WorkerEvent::CheckpointAcked`]) once the environment
//! reports its snapshot stored ([`WorkerInput::SnapshotDone`]), or reports
//! [`WorkerEvent::CheckpointFailed`] instead. Snapshots are asynchronous: records keep flowing
//! meanwhile.
//!
//! # Two-phase-commit sinks
//!
//! The records a sink takes between two barriers form its open transaction. At the barrier of
//! epoch `E` it pre-commits them as `E`'s [`Transaction`]; its snapshot holds every
//! pre-commit not yet committed. On [`Command::Commit`] for `E` it commits every pre-commit up
//! to `E` ([`WorkerOutput::Commit`], one per transaction, with [`TransactionId::Epoch`]) and
//! reports [`WorkerEvent::Committed`]: an older pre-commit still held is part of `E`'s snapshot
//! too (its abort has not arrived yet, or it was restored). A repeated commit is a no-op.
//!
//! [`Command::Abort`] for `E` drops `E`'s pre-commit as a transaction, and no other. Its records
//! are not lost: the sources do not rewind while the job keeps running, so the records go back
//! into the open transaction (each partition in offset order) and are pre-committed with the
//! next barrier. The abort may reach the sink after the next barrier (controller messages and
//! data travel on different channels); that later pre-commit stays as it was. A barrier of an
//! aborted epoch still flows (so alignment never waits on it) but takes no snapshot and seals
//! nothing.
//!
//! A sink without two-phase commit writes each record out as it takes it
//! ([`WorkerOutput::Write`]): at least once, as a restore reads again what came after the
//! checkpoint.
//!
//! On a restore from checkpoint `R` (a new generation, [`Restore`]), sources start at their
//! snapshot offsets and sinks hold their snapshot's pre-commits, all up to `R`; anything else
//! uncommitted was lost with the old generation and is read again. `R`'s metadata is persisted,
//! so its pre-commits are committed on the controller's commit of `R` (or, if it does not
//! re-send one because `R` was fully committed, with the next commit). The old generation may
//! have committed some of them already: transactions are identified by (sink task, epoch), a
//! pre-commit never changes once sealed, and the external system ignores a repeated commit of
//! the same identity.
//!
//! # How tasks end
//!
//! - `then_stop` checkpoint: a task finishes right after its part of it: sources after
//!   sending the barrier, other tasks after forwarding it, each once its snapshot is acked;
//!   two-phase-commit sinks only after committing it. If that checkpoint is aborted the tasks
//!   halt and wait for a stop.
//! - [`StopJobMode::Graceful`]: sources stop reading and send end of stream; each task
//!   finishes once every input has ended, after everything before the end went through; a
//!   two-phase-commit sink then commits everything it holds directly (its pre-commits under
//!   their epochs, the rest as [`TransactionId::Drain`]), so a graceful stop delivers every
//!   record read before it, and afterwards answers a commit with [`WorkerEvent::Committed`]
//!   (it committed everything). Only a graceful stop sends end of stream.
//! - [`StopJobMode::Immediate`]: every task finishes at once; in-flight records are dropped.
//! - End of input ([`WorkerInput::SourceExhausted`]): the source reports
//!   [`WorkerEvent::InputEnded`] (once; it then refuses more records) and stays alive. It
//!   sends no end of stream, so nothing downstream ends and no sink commits on its own: the
//!   source answers later barriers, periodic or final, with its end position, and finishes
//!   with the job's final checkpoint like every other task. Once every source has ended, the
//!   controller takes that `then_stop` checkpoint; a two-phase-commit sink pre-commits the
//!   tail under it and commits it with the checkpoint's commit. The tail is thus part of a
//!   persisted checkpoint before anyone commits it, and a restore (even after the end of
//!   input) never reads again what a sink committed. A restored source does not know that
//!   its input ended: it reads on from its snapshot position, and the environment reports
//!   the end again when it gets there.
//!
//! Every task that ends reports [`WorkerEvent::TaskFinished`] (or `TaskFailed`). The worker
//! reports [`WorkerEvent::Ready`] at once (its tasks start with it) and
//! [`WorkerEvent::Heartbeat`] every [`WorkerConfig::heartbeat_interval_ms`].
//!
//! # Invariants
//!
//! [`Worker::check_invariants`] checks barrier alignment (a blocked channel's barrier is newer
//! than the last aligned one, ended channels hold nothing), the sink ledger (every record a sink
//! took is held, committed, written or dropped exactly once, held records are distinct) and
//! the epoch bookkeeping. Debug builds assert it after every `handle*` call.
//!
//! # Replay and planted bugs
//!
//! [`trace`] records a worker's inputs and replays them to the very same outputs, as
//! [`crate::trace`] does for the controller. With the `mutants` feature, [`mutants`] can switch
//! a known bug on, to prove that the checks of the simulator and the tests catch it.

mod config;
mod invariants;
mod io;
pub mod mutants;
mod task;
pub mod trace;

pub use config::WorkerConfig;
pub use io::{
    Channel, Item, Partition, Record, Restore, TaskPhase, TaskSnapshot, TaskStatus, Transaction,
    TransactionId, WorkerError, WorkerInput, WorkerOutput, WorkerRejected, WorkerStatus,
};

use crate::protocol::{Command, FromWorker, StopJobMode, ToWorker, WorkerEvent};
use crate::types::WorkerId;
use crate::types::{Epoch, Generation, Job, OperatorId, OperatorKind, TaskId, TaskIndex, Time};
use mutants::WorkerMutant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use task::{ChannelState, InputChannel, Role, SinkState, Task};

/// Most aborted epochs remembered at once; the oldest is forgotten first (its late barriers
/// would then only take a snapshot nobody asks about).
const MAX_ABORTED: usize = 1024;

/// The worker machine. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    job: Job,
    task_index: TaskIndex,
    /// The operators each operator feeds.
    downstream: Vec<Vec<OperatorId>>,
    worker: WorkerId,
    generation: Generation,
    config: WorkerConfig,
    now: Time,
    next_heartbeat: Time,
    restored: Option<Epoch>,
    /// The newest `Checkpoint` command.
    last_checkpoint: Option<Epoch>,
    /// The newest epoch heard of: checkpoint, barrier or restore.
    last_epoch: Option<Epoch>,
    committed_through: Option<Epoch>,
    aborted: BTreeSet<Epoch>,
    stop: Option<StopJobMode>,
    /// Sorted by task id.
    tasks: Vec<Task>,
    /// The `seq` of the next item on each channel to another worker.
    out_seq: BTreeMap<Channel, u64>,
    outputs: VecDeque<WorkerOutput>,
    #[cfg(feature = "mutants")]
    mutant: Option<WorkerMutant>,
}

impl Worker {
    /// Starts the tasks `worker` hosts in `generation`, from `restore` if given. Reports
    /// [`WorkerEvent::Ready`] at once.
    pub fn new(
        job: &Job,
        worker: WorkerId,
        generation: Generation,
        config: WorkerConfig,
        restore: Option<Restore>,
        now: Time,
    ) -> Result<Worker, WorkerError> {
        job.validate().map_err(WorkerError::Job)?;
        config.validate().map_err(WorkerError::Config)?;
        if worker.0 >= job.workers {
            return Err(WorkerError::UnknownWorker {
                worker,
                workers: job.workers,
            });
        }
        let task_index = TaskIndex::new(job);
        let downstream = (0..job.operators.len())
            .map(|op| {
                let op = OperatorId(u32::try_from(op).unwrap_or(u32::MAX));
                job.outputs_of(op).collect()
            })
            .collect();
        let restored = restore.as_ref().map(|r| r.epoch);
        let mut w = Worker {
            job: job.clone(),
            task_index,
            downstream,
            worker,
            generation,
            config,
            now,
            next_heartbeat: now.plus_ms(config.heartbeat_interval_ms),
            restored,
            last_checkpoint: None,
            last_epoch: restored,
            committed_through: None,
            aborted: BTreeSet::new(),
            stop: None,
            tasks: Vec::new(),
            out_seq: BTreeMap::new(),
            outputs: VecDeque::new(),
            #[cfg(feature = "mutants")]
            mutant: None,
        };
        w.tasks = job
            .tasks_of(worker)
            .into_iter()
            .map(|id| w.start_task(id))
            .collect();
        if let Some(restore) = restore {
            w.restore(restore)?;
        }
        w.report(WorkerEvent::Ready);
        w.debug_check();
        Ok(w)
    }

    fn start_task(&self, id: TaskId) -> Task {
        let kind = self.job.operator(id.operator).map(|op| op.kind);
        let role = match kind {
            Some(OperatorKind::Source) => Role::Source { next_offset: 0 },
            Some(OperatorKind::Sink { two_phase_commit }) => {
                Role::Sink(SinkState::new(two_phase_commit))
            }
            Some(OperatorKind::Transform) | None => Role::Transform,
        };
        let mut inputs = Vec::new();
        for up in self.job.inputs_of(id.operator) {
            let parallelism = self.job.operator(up).map_or(0, |op| op.parallelism);
            for subtask in 0..parallelism {
                let from = TaskId {
                    operator: up,
                    subtask,
                };
                let local = self.worker_of(from) == Some(self.worker);
                inputs.push(InputChannel::new(from, local, self.restored));
            }
        }
        inputs.sort_by_key(|c| c.from);
        Task {
            id,
            role,
            phase: TaskPhase::Running,
            inputs,
            outputs_closed: false,
            input_ended: false,
            last_aligned: self.restored,
            pending: BTreeMap::new(),
            high_in: BTreeMap::new(),
        }
    }

    fn restore(&mut self, restore: Restore) -> Result<(), WorkerError> {
        let bad = |task: TaskId, reason: &str| WorkerError::BadRestore {
            task,
            reason: reason.to_string(),
        };
        let mut seen = BTreeSet::new();
        for (id, snapshot) in restore.tasks {
            let Some(t) = self.task_position(id) else {
                return Err(bad(id, "the task is not on this worker"));
            };
            if !seen.insert(id) {
                return Err(bad(id, "two snapshots for one task"));
            }
            match (&mut self.tasks[t].role, snapshot) {
                (Role::Source { next_offset }, TaskSnapshot::Source { next_offset: at }) => {
                    *next_offset = at;
                }
                (Role::Transform, TaskSnapshot::Stateless) => {}
                (Role::Sink(sink), TaskSnapshot::Stateless) if !sink.two_phase_commit => {}
                (Role::Sink(sink), TaskSnapshot::Sink { pending }) if sink.two_phase_commit => {
                    check_restored_pending(&pending, restore.epoch).map_err(|r| bad(id, r))?;
                    sink.sealed = pending
                        .into_iter()
                        .filter(|t| !t.records.is_empty())
                        .collect();
                    sink.restored = sink.held();
                }
                _ => return Err(bad(id, "the snapshot is of another kind of task")),
            }
        }
        for task in &self.tasks {
            let needed = task.is_source() || task.two_phase_sink().is_some();
            if needed && !seen.contains(&task.id) {
                return Err(bad(task.id, "no snapshot for a stateful task"));
            }
        }
        Ok(())
    }

    /// Re-introduces a known bug (see [`WorkerMutant`]). Debug assertions of the invariants
    /// are off for a mutated worker: the checks under test must find the bug themselves.
    #[cfg(feature = "mutants")]
    pub fn with_mutant(mut self, mutant: WorkerMutant) -> Worker {
        self.mutant = Some(mutant);
        self
    }

    /// Whether the known bug `m` is switched on (never, without the `mutants` feature).
    #[inline]
    fn bug(&self, m: WorkerMutant) -> bool {
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

    // ---- getters ----

    pub fn worker(&self) -> WorkerId {
        self.worker
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The tasks this worker hosts, in [`Job::tasks`] order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks.iter().map(|t| t.id)
    }

    /// The phase of a hosted task.
    pub fn task_phase(&self, task: TaskId) -> Option<TaskPhase> {
        self.task_position(task).map(|t| self.tasks[t].phase)
    }

    /// A two-phase-commit sink's pre-committed, uncommitted transactions, oldest first.
    pub fn pre_commits(&self, task: TaskId) -> Option<&[Transaction]> {
        let t = self.task_position(task)?;
        self.tasks[t].two_phase_sink().map(|s| s.sealed.as_slice())
    }

    /// A two-phase-commit sink's open transaction: records since its last pre-commit.
    pub fn open_transaction(&self, task: TaskId) -> Option<&[Record]> {
        let t = self.task_position(task)?;
        self.tasks[t].two_phase_sink().map(|s| s.open.as_slice())
    }

    /// Everything about the worker, for callers, tests and the model checker.
    pub fn status(&self) -> WorkerStatus {
        let tasks = self
            .tasks
            .iter()
            .map(|t| {
                let sink = t.two_phase_sink();
                TaskStatus {
                    task: t.id,
                    phase: t.phase,
                    last_aligned: t.last_aligned,
                    aligning: t.aligning(),
                    queued: t.queued(),
                    pending_snapshots: t.pending.keys().copied().collect(),
                    next_offset: match t.role {
                        Role::Source { next_offset } => Some(next_offset),
                        _ => None,
                    },
                    input_ended: t.input_ended,
                    open_records: sink.map_or(0, |s| s.open.len() as u64),
                    pre_commits: sink
                        .map_or(Vec::new(), |s| s.sealed.iter().map(|t| t.epoch).collect()),
                }
            })
            .collect();
        WorkerStatus {
            worker: self.worker,
            generation: self.generation,
            restored: self.restored,
            last_epoch: self.last_epoch,
            committed_through: self.committed_through,
            stop: self.stop,
            tasks,
            now: self.now,
        }
    }

    // ---- inputs ----

    /// Takes one input. A refused input changes nothing and emits nothing.
    pub fn handle(&mut self, now: Time, input: WorkerInput) -> Result<(), WorkerRejected> {
        if now < self.now {
            return Err(WorkerRejected::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        let result = match input {
            WorkerInput::Command(message) => self.on_command(message),
            WorkerInput::Data {
                generation,
                channel,
                seq,
                item,
            } => self.on_data(generation, channel, seq, item),
            WorkerInput::SourceRecords { task, count } => self.on_source_records(task, count),
            WorkerInput::SourceExhausted { task } => self.on_source_exhausted(task),
            WorkerInput::SnapshotDone { task, epoch } => self.on_snapshot_done(task, epoch),
            WorkerInput::SnapshotFailed {
                task,
                epoch,
                reason,
            } => self.on_snapshot_failed(task, epoch, reason),
            WorkerInput::TaskError { task, reason } => self.on_task_error(task, reason),
        };
        if result.is_ok() {
            self.now = now;
            self.run();
        }
        self.debug_check();
        result
    }

    /// Fires the timers due at `now`. A spurious call (nothing due, or time going backwards)
    /// does nothing.
    pub fn handle_timeout(&mut self, now: Time) {
        if now < self.now {
            return;
        }
        self.now = now;
        if now >= self.next_heartbeat {
            self.report(WorkerEvent::Heartbeat);
            self.next_heartbeat = now.plus_ms(self.config.heartbeat_interval_ms);
        }
        self.debug_check();
    }

    // ---- outputs ----

    /// The next effect to carry out, oldest first.
    pub fn poll_output(&mut self) -> Option<WorkerOutput> {
        self.outputs.pop_front()
    }

    /// When [`Worker::handle_timeout`] is next due: the heartbeat timer, always armed.
    pub fn poll_timeout(&self) -> Option<Time> {
        Some(self.next_heartbeat)
    }

    // ---- commands ----

    fn on_command(&mut self, message: ToWorker) -> Result<(), WorkerRejected> {
        if message.generation != self.generation && !self.bug(WorkerMutant::AcceptOtherGeneration) {
            return Err(WorkerRejected::WrongGeneration {
                got: message.generation,
                current: self.generation,
            });
        }
        match message.command {
            Command::Checkpoint { epoch, then_stop } => self.on_checkpoint(epoch, then_stop),
            Command::Commit { epoch } => self.on_commit(epoch),
            Command::Abort { epoch } => self.on_abort(epoch),
            Command::Stop { mode } => {
                self.on_stop(mode);
                Ok(())
            }
        }
    }

    fn on_checkpoint(&mut self, epoch: Epoch, then_stop: bool) -> Result<(), WorkerRejected> {
        if let Some(mode) = self.stop {
            return Err(WorkerRejected::Stopping { mode });
        }
        let last = self
            .last_checkpoint
            .max(self.restored)
            .max(self.committed_through);
        if last.is_some_and(|last| epoch <= last) {
            return Err(WorkerRejected::EpochNotIncreasing { epoch, last });
        }
        self.last_checkpoint = Some(epoch);
        self.saw_epoch(epoch);
        for t in 0..self.tasks.len() {
            let task = &self.tasks[t];
            if task.is_source() && task.phase == TaskPhase::Running && !task.outputs_closed {
                self.take_part(t, epoch, then_stop);
            }
        }
        Ok(())
    }

    fn on_commit(&mut self, epoch: Epoch) -> Result<(), WorkerRejected> {
        if self.last_epoch.is_none_or(|last| epoch > last) {
            return Err(WorkerRejected::UnknownEpoch { epoch });
        }
        if self.aborted.contains(&epoch) {
            return Err(WorkerRejected::EpochAborted { epoch });
        }
        if self.committed_through.is_some_and(|c| epoch <= c) {
            return Ok(());
        }
        // The controller commits an epoch once every task acked it: a task still running
        // that has not aligned it means the commit is premature.
        if let Some(task) = self
            .tasks
            .iter()
            .find(|t| !t.phase.is_over() && t.last_aligned.is_none_or(|a| a < epoch))
        {
            return Err(WorkerRejected::NotAligned {
                task: task.id,
                epoch,
            });
        }
        self.committed_through = Some(epoch);
        // Every task has aligned `epoch`, so no barrier of an older epoch is still on its way.
        self.aborted.retain(|&a| a > epoch);
        let keep = self.bug(WorkerMutant::CommitKeepsPreCommits);
        for t in 0..self.tasks.len() {
            let task = &mut self.tasks[t];
            let id = task.id;
            if task.phase.is_over() {
                // A sink that a graceful stop drained committed everything it held, this
                // epoch's data included: say so, or the commit phase would wait in vain.
                if task.two_phase_sink().is_some_and(|s| s.drained) {
                    self.report(WorkerEvent::Committed { task: id, epoch });
                }
                continue;
            }
            let Role::Sink(sink) = &mut task.role else {
                continue;
            };
            if !sink.two_phase_commit {
                continue;
            }
            let transactions = if keep {
                sink.sealed
                    .iter()
                    .filter(|t| t.epoch <= epoch)
                    .cloned()
                    .collect()
            } else {
                sink.take_sealed_through(epoch)
            };
            for txn in transactions {
                sink.committed += txn.records.len() as u64;
                self.outputs.push_back(WorkerOutput::Commit {
                    task: id,
                    transaction: TransactionId::Epoch(txn.epoch),
                    records: txn.records,
                });
            }
            self.report(WorkerEvent::Committed { task: id, epoch });
            if let TaskPhase::FinalCheckpoint {
                epoch: last,
                acked: true,
            } = self.tasks[t].phase
            {
                if last <= epoch {
                    self.finish(t);
                }
            }
        }
        Ok(())
    }

    fn on_abort(&mut self, epoch: Epoch) -> Result<(), WorkerRejected> {
        if self
            .committed_through
            .max(self.restored)
            .is_some_and(|c| epoch <= c)
        {
            return Err(WorkerRejected::EpochCompleted { epoch });
        }
        if !self.aborted.insert(epoch) {
            return Ok(());
        }
        let drop_records = self.bug(WorkerMutant::AbortDropsRecords);
        if self.aborted.len() > MAX_ABORTED {
            self.aborted.pop_first();
        }
        for t in 0..self.tasks.len() {
            let task = &mut self.tasks[t];
            if task.phase.is_over() {
                continue;
            }
            task.pending.remove(&epoch);
            if let Role::Sink(sink) = &mut task.role {
                sink.abort(epoch, drop_records);
            }
            if let TaskPhase::FinalCheckpoint { epoch: last, .. } = task.phase {
                if last == epoch {
                    task.phase = TaskPhase::Halted { epoch };
                }
            }
            self.try_end(t);
        }
        Ok(())
    }

    fn on_stop(&mut self, mode: StopJobMode) {
        match (self.stop, mode) {
            (Some(StopJobMode::Immediate), _)
            | (Some(StopJobMode::Graceful), StopJobMode::Graceful) => {}
            (_, StopJobMode::Immediate) => {
                self.stop = Some(StopJobMode::Immediate);
                for t in 0..self.tasks.len() {
                    if !self.tasks[t].phase.is_over() {
                        self.finish(t);
                    }
                }
            }
            (None, StopJobMode::Graceful) => {
                self.stop = Some(StopJobMode::Graceful);
                for t in 0..self.tasks.len() {
                    if self.tasks[t].is_source() && !self.tasks[t].phase.is_over() {
                        self.emit(t, Item::EndOfStream);
                        self.finish(t);
                    }
                }
                for t in 0..self.tasks.len() {
                    self.try_end(t);
                }
            }
        }
    }

    // ---- data and environment ----

    fn on_data(
        &mut self,
        generation: Generation,
        channel: Channel,
        seq: u64,
        item: Item,
    ) -> Result<(), WorkerRejected> {
        if generation != self.generation && !self.bug(WorkerMutant::AcceptOtherGeneration) {
            return Err(WorkerRejected::WrongGeneration {
                got: generation,
                current: self.generation,
            });
        }
        let t = self.hosted(channel.to)?;
        if self.task_index.index(channel.from).is_none() {
            return Err(WorkerRejected::UnknownTask { task: channel.from });
        }
        if self.worker_of(channel.from) == Some(self.worker) {
            return Err(WorkerRejected::LocalChannel { channel });
        }
        let task = &self.tasks[t];
        let Some(c) = task.input_index(channel.from) else {
            return Err(WorkerRejected::NotAChannel { channel });
        };
        if task.phase.is_over() {
            return Err(WorkerRejected::TaskNotRunning { task: channel.to });
        }
        let ch = &task.inputs[c];
        if seq != ch.next_seq {
            return Err(WorkerRejected::OutOfOrder {
                channel,
                expected: ch.next_seq,
                got: seq,
            });
        }
        if ch.closed || ch.state == ChannelState::Ended {
            return Err(WorkerRejected::ChannelClosed { channel });
        }
        match item {
            Item::Record(record) => {
                if !self.routes_through(record, channel) {
                    return Err(WorkerRejected::Misrouted { channel, record });
                }
                if let Some(&last) = task.high_in.get(&record.partition) {
                    if record.offset <= last {
                        return Err(WorkerRejected::OffsetNotIncreasing {
                            channel,
                            record,
                            last,
                        });
                    }
                }
            }
            Item::Barrier { epoch, .. } => {
                if ch.last_barrier.is_some_and(|last| epoch <= last) {
                    return Err(WorkerRejected::BarrierNotIncreasing {
                        channel,
                        epoch,
                        last: ch.last_barrier,
                    });
                }
                self.saw_epoch(epoch);
            }
            Item::EndOfStream => {}
        }
        let task = &mut self.tasks[t];
        task.inputs[c].next_seq += 1;
        task.receive(c, item);
        Ok(())
    }

    fn on_source_records(&mut self, task: TaskId, count: u32) -> Result<(), WorkerRejected> {
        let t = self.reading_source(task)?;
        let max = self.config.max_poll_records;
        let Role::Source { next_offset } = self.tasks[t].role else {
            return Err(WorkerRejected::NotASource { task });
        };
        if count > max || next_offset.checked_add(u64::from(count)).is_none() {
            return Err(WorkerRejected::TooManyRecords { count, max });
        }
        let partition = Partition::of_source(task);
        for offset in next_offset..next_offset + u64::from(count) {
            self.emit(t, Item::Record(Record { partition, offset }));
        }
        self.tasks[t].role = Role::Source {
            next_offset: next_offset + u64::from(count),
        };
        Ok(())
    }

    /// The source's partition has ended. It reports so once and stays alive: later barriers
    /// snapshot its end position, and it finishes with the final (`then_stop`) checkpoint or
    /// a stop. No end of stream goes downstream, so no sink commits the tail directly: the
    /// data after the last checkpoint stays open until the final checkpoint's commit.
    fn on_source_exhausted(&mut self, task: TaskId) -> Result<(), WorkerRejected> {
        let t = self.reading_source(task)?;
        self.tasks[t].input_ended = true;
        self.report(WorkerEvent::InputEnded { task });
        Ok(())
    }

    fn on_snapshot_done(&mut self, task: TaskId, epoch: Epoch) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].pending.remove(&epoch).is_none() {
            return Err(WorkerRejected::NoSnapshotPending { task, epoch });
        }
        self.report(WorkerEvent::CheckpointAcked { task, epoch });
        if let TaskPhase::FinalCheckpoint {
            epoch: last,
            acked: false,
        } = self.tasks[t].phase
        {
            if last == epoch {
                let two_phase = self.tasks[t].two_phase_sink().is_some();
                if two_phase && self.committed_through.is_none_or(|c| c < epoch) {
                    self.tasks[t].phase = TaskPhase::FinalCheckpoint { epoch, acked: true };
                } else {
                    self.finish(t);
                }
            }
        }
        Ok(())
    }

    fn on_snapshot_failed(
        &mut self,
        task: TaskId,
        epoch: Epoch,
        reason: String,
    ) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].pending.remove(&epoch).is_none() {
            return Err(WorkerRejected::NoSnapshotPending { task, epoch });
        }
        self.report(WorkerEvent::CheckpointFailed {
            task,
            epoch,
            reason,
        });
        Ok(())
    }

    fn on_task_error(&mut self, task: TaskId, reason: String) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].phase.is_over() {
            return Err(WorkerRejected::TaskNotRunning { task });
        }
        self.tasks[t].clear();
        self.tasks[t].phase = TaskPhase::Failed;
        self.report(WorkerEvent::TaskFailed { task, reason });
        Ok(())
    }

    // ---- the data path ----

    /// Takes every item that can be taken, until nothing moves.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            for t in 0..self.tasks.len() {
                let skip_alignment = self.bug(WorkerMutant::NoAlignment);
                while let Some((c, item)) = self.tasks[t].next_item(skip_alignment) {
                    moved = true;
                    self.take(t, c, item);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Task `t` takes `item` from its input channel `c`.
    fn take(&mut self, t: usize, c: usize, item: Item) {
        match item {
            Item::Record(record) => self.on_record(t, record),
            Item::Barrier { epoch, then_stop } => {
                self.tasks[t].inputs[c].state = ChannelState::Blocked { epoch, then_stop };
                self.try_align(t);
                self.try_end(t);
            }
            Item::EndOfStream => {
                self.tasks[t].inputs[c].state = ChannelState::Ended;
                self.try_align(t);
                self.try_end(t);
            }
        }
    }

    fn on_record(&mut self, t: usize, record: Record) {
        let id = self.tasks[t].id;
        match &mut self.tasks[t].role {
            Role::Source { .. } => {}
            Role::Transform => self.emit(t, Item::Record(record)),
            Role::Sink(sink) => {
                sink.accepted += 1;
                if sink.two_phase_commit {
                    sink.open.push(record);
                } else {
                    sink.written += 1;
                    self.outputs
                        .push_back(WorkerOutput::Write { task: id, record });
                }
            }
        }
    }

    /// Completes every alignment that has all its barriers.
    fn try_align(&mut self, t: usize) {
        loop {
            let task = &self.tasks[t];
            if task.phase != TaskPhase::Running {
                return;
            }
            let Some(epoch) = task.aligning() else { return };
            let ready = task
                .inputs
                .iter()
                .all(|c| matches!(c.state, ChannelState::Blocked { .. } | ChannelState::Ended));
            if !ready {
                return;
            }
            let then_stop = task.inputs.iter().any(|c| {
                c.state
                    == ChannelState::Blocked {
                        epoch,
                        then_stop: true,
                    }
            });
            for ch in &mut self.tasks[t].inputs {
                if then_stop {
                    ch.queue.clear();
                    ch.state = ChannelState::Ended;
                    ch.closed = true;
                } else if matches!(ch.state, ChannelState::Blocked { epoch: e, .. } if e == epoch) {
                    ch.state = ChannelState::Open;
                }
            }
            self.take_part(t, epoch, then_stop);
        }
    }

    /// Task `t`'s part of checkpoint `epoch`, once its barrier is aligned (a source: injected):
    /// snapshot (unless the epoch is aborted), forward the barrier, and for a final
    /// checkpoint close the outputs.
    fn take_part(&mut self, t: usize, epoch: Epoch, then_stop: bool) {
        let aborted = self.aborted.contains(&epoch);
        self.saw_epoch(epoch);
        let task = &mut self.tasks[t];
        task.last_aligned = Some(epoch);
        if !aborted {
            let state = match &mut task.role {
                Role::Source { next_offset } => TaskSnapshot::Source {
                    next_offset: *next_offset,
                },
                Role::Sink(sink) if sink.two_phase_commit => {
                    sink.seal(epoch);
                    TaskSnapshot::Sink {
                        pending: sink.sealed.clone(),
                    }
                }
                Role::Sink(_) | Role::Transform => TaskSnapshot::Stateless,
            };
            task.pending.insert(epoch, then_stop);
            let id = task.id;
            self.outputs.push_back(WorkerOutput::Snapshot {
                task: id,
                epoch,
                state,
            });
        }
        self.emit(t, Item::Barrier { epoch, then_stop });
        if then_stop {
            let task = &mut self.tasks[t];
            task.outputs_closed = true;
            task.phase = if aborted {
                TaskPhase::Halted { epoch }
            } else {
                TaskPhase::FinalCheckpoint {
                    epoch,
                    acked: false,
                }
            };
        }
    }

    /// Finishes task `t` if all its inputs have ended and it may drain: it is running, or a
    /// graceful stop releases it from a final checkpoint. Only a graceful stop sends end of
    /// stream (a source whose partition ended does not), so only it drains a task, and a
    /// two-phase-commit sink commits what it holds directly only then.
    fn try_end(&mut self, t: usize) {
        let task = &self.tasks[t];
        if task.is_source() || !task.all_inputs_ended() {
            return;
        }
        let drain = match task.phase {
            TaskPhase::Running => true,
            TaskPhase::FinalCheckpoint { .. } | TaskPhase::Halted { .. } => {
                self.stop == Some(StopJobMode::Graceful)
            }
            TaskPhase::Finished | TaskPhase::Failed => false,
        };
        if !drain {
            return;
        }
        self.emit(t, Item::EndOfStream);
        let generation = self.generation;
        let task = &mut self.tasks[t];
        let id = task.id;
        if let Role::Sink(sink) = &mut task.role {
            if sink.two_phase_commit {
                sink.drained = true;
                let mut commits = Vec::new();
                for txn in std::mem::take(&mut sink.sealed) {
                    commits.push((TransactionId::Epoch(txn.epoch), txn.records));
                }
                if !sink.open.is_empty() {
                    commits.push((
                        TransactionId::Drain(generation),
                        std::mem::take(&mut sink.open),
                    ));
                }
                for (transaction, records) in commits {
                    sink.committed += records.len() as u64;
                    self.outputs.push_back(WorkerOutput::Commit {
                        task: id,
                        transaction,
                        records,
                    });
                }
            }
        }
        self.finish(t);
    }

    /// Task `t` ends normally; anything it still holds is dropped.
    fn finish(&mut self, t: usize) {
        let task = &mut self.tasks[t];
        task.clear();
        task.phase = TaskPhase::Finished;
        let id = task.id;
        self.report(WorkerEvent::TaskFinished { task: id });
    }

    /// Sends `item` from task `t` on its output channels: a record to the one subtask of each
    /// downstream operator its partition routes to, anything else to every subtask.
    fn emit(&mut self, t: usize, item: Item) {
        let task = &self.tasks[t];
        if task.outputs_closed {
            return;
        }
        let from = task.id;
        let op = from.operator.0 as usize;
        let count = self.downstream.get(op).map_or(0, Vec::len);
        for k in 0..count {
            let to_op = self.downstream[op][k];
            let parallelism = self.job.operator(to_op).map_or(0, |o| o.parallelism);
            match item {
                Item::Record(record) => {
                    let to = TaskId {
                        operator: to_op,
                        subtask: record.partition.route(parallelism),
                    };
                    self.deliver(Channel { from, to }, item);
                }
                Item::Barrier { .. } | Item::EndOfStream => {
                    for subtask in 0..parallelism {
                        let to = TaskId {
                            operator: to_op,
                            subtask,
                        };
                        self.deliver(Channel { from, to }, item);
                    }
                }
            }
        }
    }

    fn deliver(&mut self, channel: Channel, item: Item) {
        let Some(to_worker) = self.worker_of(channel.to) else {
            return;
        };
        if to_worker == self.worker {
            if let Some(t) = self.task_position(channel.to) {
                let task = &mut self.tasks[t];
                // A task that has ended drops what reaches it, as a remote worker refuses it.
                if !task.phase.is_over() {
                    if let Some(c) = task.input_index(channel.from) {
                        task.receive(c, item);
                    }
                }
            }
        } else {
            let next = self.out_seq.entry(channel).or_insert(0);
            let seq = *next;
            *next += 1;
            self.outputs.push_back(WorkerOutput::SendData {
                to_worker,
                generation: self.generation,
                channel,
                seq,
                item,
            });
        }
    }

    // ---- helpers ----

    fn report(&mut self, event: WorkerEvent) {
        self.outputs
            .push_back(WorkerOutput::ToController(FromWorker {
                worker: self.worker,
                generation: self.generation,
                event,
            }));
    }

    fn saw_epoch(&mut self, epoch: Epoch) {
        self.last_epoch = self.last_epoch.max(Some(epoch));
    }

    fn worker_of(&self, task: TaskId) -> Option<WorkerId> {
        let index = self.task_index.index(task)?;
        // The index is below the task count, which validation bounds far below u32::MAX.
        let worker = index % self.job.workers.max(1) as usize;
        Some(WorkerId(u32::try_from(worker).unwrap_or(u32::MAX)))
    }

    fn task_position(&self, task: TaskId) -> Option<usize> {
        self.tasks.binary_search_by(|t| t.id.cmp(&task)).ok()
    }

    fn hosted(&self, task: TaskId) -> Result<usize, WorkerRejected> {
        if let Some(t) = self.task_position(task) {
            return Ok(t);
        }
        match self.worker_of(task) {
            None => Err(WorkerRejected::UnknownTask { task }),
            Some(worker) => Err(WorkerRejected::TaskNotOnWorker { task, worker }),
        }
    }

    /// A hosted source that still reads its partition.
    fn reading_source(&self, task: TaskId) -> Result<usize, WorkerRejected> {
        let t = self.hosted(task)?;
        let source = &self.tasks[t];
        if !source.is_source() {
            return Err(WorkerRejected::NotASource { task });
        }
        if source.phase != TaskPhase::Running || source.outputs_closed {
            return Err(WorkerRejected::TaskNotRunning { task });
        }
        if source.input_ended {
            return Err(WorkerRejected::InputEnded { task });
        }
        Ok(t)
    }

    /// Whether routing sends `record` along `channel`.
    fn routes_through(&self, record: Record, channel: Channel) -> bool {
        let parallelism = |op: OperatorId| self.job.operator(op).map_or(0, |o| o.parallelism);
        let from_ok = match self.job.operator(channel.from.operator).map(|o| o.kind) {
            Some(OperatorKind::Source) => record.partition == Partition::of_source(channel.from),
            _ => record.partition.route(parallelism(channel.from.operator)) == channel.from.subtask,
        };
        from_ok && record.partition.route(parallelism(channel.to.operator)) == channel.to.subtask
    }

    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        if WorkerMutant::ALL.iter().all(|&m| !self.bug(m)) {
            if let Err(violation) = self.check_invariants() {
                panic!("worker invariant broken: {violation}");
            }
        }
    }
}

/// Checks a restored sink's pre-commits: oldest first, none newer than the restored
/// checkpoint, each partition in offset order within a transaction, no record twice.
fn check_restored_pending(pending: &[Transaction], restored: Epoch) -> Result<(), &'static str> {
    let mut seen = BTreeSet::new();
    let mut last: Option<Epoch> = None;
    for txn in pending {
        if txn.epoch > restored {
            return Err("a pre-commit newer than the restored checkpoint");
        }
        if last.is_some_and(|l| txn.epoch <= l) {
            return Err("pre-commits out of epoch order");
        }
        last = Some(txn.epoch);
        let mut high: BTreeMap<_, u64> = BTreeMap::new();
        for r in &txn.records {
            if high.get(&r.partition).is_some_and(|&h| r.offset <= h) {
                return Err("a pre-commit's records are out of offset order");
            }
            high.insert(r.partition, r.offset);
            if !seen.insert(*r) {
                return Err("a record in two pre-commits");
            }
        }
    }
    Ok(())
}
