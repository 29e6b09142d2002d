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
//! does nothing). An input whose time is at or past [`Worker::poll_timeout`] first fires every
//! timer due by then, exactly as [`Worker::handle_timeout`] would, and only then applies: a
//! late input never outruns a deadline, whether or not the embedder's timer fired first. A
//! refused input ([`WorkerRejected`]) changes nothing and emits nothing beyond those timers.
//!
//! ```
//! use quiesce_core::worker::{TransactionId, Worker, WorkerConfig, WorkerInput, WorkerOutput};
//! use quiesce_core::worker::WorkerSetup;
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
//! let setup = WorkerSetup::new(job, WorkerId(0), generation, WorkerConfig::default(), Time(0));
//! let mut w = Worker::new(setup)?;
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
//! Tasks run where the job's [`Plan`] places them: task `i` in [`Job::tasks`]
//! order on worker `i % workers`. Source subtask `s` of operator `o` reads [`Partition`]
//! `{ source: o, index: s }`; when told that `count` records are available
//! ([`WorkerInput::SourceRecords`]) it reads them at its next offsets. A [`Record`] is its
//! (partition, offset).
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
//! # Keyed state
//!
//! A [`KeyedCount`](crate::OperatorKind::KeyedCount) task keeps a running count per [`Key`]
//! of the records it takes, and forwards every record. A record's key is derived from the
//! record alone (its partition, and its offset modulo [`Key::PER_PARTITION`]); records are
//! routed by partition, so one subtask owns each key. At a barrier it snapshots its counts
//! ([`TaskSnapshot::Keyed`]): alignment holds back what came after the barrier on any input,
//! so the counts are exactly those of the records before the sources' snapshot positions. A
//! restore takes them back (and refuses counts of keys that cannot reach the task), and the
//! sources read on from their positions, so no record is counted twice or lost across a
//! restore.
//!
//! That is what the exactly-once checks of the tests ask of keyed state, in every run with
//! crashes and restores: every keyed snapshot holds, per key, the count of the records below
//! the source positions of the same checkpoint; and when a run ends with everything committed
//! (a checkpoint stop, a graceful stop, the end of input), each keyed operator's counts are,
//! per key, the records its downstream two-phase-commit sinks committed.
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
//! than the last aligned one, ended channels hold nothing), the sink ledger (every record a
//! sink took is held, committed, written or dropped exactly once) and the epoch bookkeeping.
//! Debug builds assert it after every `handle*` call, so it costs the same whatever the tasks
//! hold: the ledger's counters move with the records, and the check reads counters, never
//! records. [`Worker::check_invariants_full`] adds what needs a pass over everything held (a
//! sink's records are distinct and in offset order, its counters match its records, a keyed
//! task's counts add up to what it restored and took); tests run it at checkpoints and at
//! the end of runs.
//!
//! # Replay and planted bugs
//!
//! [`trace`] records every call made to a worker with what it produced, and replays it,
//! checking each step, as [`crate::trace`] does for the controller. With the `mutants` feature,
//! a [`WorkerSetup`] can name a known bug (`worker::mutants`) for the worker to run, to prove that
//! the checks of the simulator and the tests catch it; its trace records the bug.
//!
//! [`Command::Checkpoint`]: crate::Command::Checkpoint
//! [`Command::Commit`]: crate::Command::Commit
//! [`Command::Abort`]: crate::Command::Abort

mod commands;
mod config;
mod display;
mod flow;
mod inputs;
mod invariants;
mod io;
mod keyed;
mod ledger;
#[cfg(feature = "mutants")]
pub mod mutants;
mod rejected;
mod restore;
mod setup;
mod status;
mod task;
pub mod trace;

pub use config::WorkerConfig;
pub use io::{
    Channel, Item, Partition, Record, Restore, TaskSnapshot, Transaction, TransactionId,
    WorkerInput, WorkerOutput,
};
pub use keyed::Key;
pub use rejected::{WorkerError, WorkerRejected};
pub use setup::WorkerSetup;
pub use status::{TaskPhase, TaskStatus, WorkerStatus};

use crate::plan::Plan;
use crate::protocol::{FromWorker, StopJobMode, WorkerEvent};
use crate::types::WorkerId;
use crate::types::{Epoch, Generation, Job, OperatorId, OperatorKind, TaskId, Time};
use keyed::KeyedState;
use ledger::SinkState;
#[cfg(feature = "mutants")]
use mutants::WorkerMutant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use task::{InputChannel, Role, Task};

/// Most aborted epochs remembered at once; the oldest is forgotten first (its late barriers
/// would then only take a snapshot nobody asks about).
const MAX_ABORTED: usize = 1024;

/// The worker machine. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Worker {
    job: Job,
    /// Which worker hosts which task: the controller's placement.
    plan: Plan,
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
    /// Starts the tasks the setup's worker hosts in its generation, from its restore state if
    /// given. Reports [`WorkerEvent::Ready`] at once.
    ///
    /// Takes the setup by value: the worker keeps the job and consumes the restore state (which
    /// holds every pre-committed record), so nothing is copied unless the caller keeps a copy.
    pub fn new(setup: WorkerSetup) -> Result<Worker, WorkerError> {
        let WorkerSetup {
            job,
            worker,
            generation,
            config,
            restore,
            start: now,
            #[cfg(feature = "mutants")]
            mutant,
        } = setup;
        job.validate().map_err(WorkerError::Job)?;
        config.validate().map_err(WorkerError::Config)?;
        if worker.0 >= job.workers {
            return Err(WorkerError::UnknownWorker {
                worker,
                workers: job.workers,
            });
        }
        let plan = Plan::of_valid(&job);
        let downstream = (0..job.operators.len())
            .map(|op| {
                let op = OperatorId(u32::try_from(op).unwrap_or(u32::MAX));
                job.outputs_of(op).collect()
            })
            .collect();
        let restored = restore.as_ref().map(|r| r.epoch);
        let mut w = Worker {
            job,
            plan,
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
            mutant,
        };
        w.tasks = w
            .plan
            .tasks_of(worker)
            .iter()
            .map(|&id| w.start_task(id))
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
            Some(OperatorKind::KeyedCount) => Role::Keyed(KeyedState::default()),
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

    /// Whether a known bug is switched on: debug assertions of the invariants are then off,
    /// as the checks under test must find the bug themselves.
    #[cfg(all(debug_assertions, feature = "mutants"))]
    fn mutated(&self) -> bool {
        self.mutant.is_some()
    }

    #[cfg(all(debug_assertions, not(feature = "mutants")))]
    fn mutated(&self) -> bool {
        false
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
        // A late input must not outrun a deadline: what was due by `now` happened first.
        let due = self.poll_timeout().is_some_and(|deadline| now >= deadline);
        if due && !bug!(self, WorkerMutant::InputOutrunsTimers) {
            self.now = now;
            self.fire_due(now);
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
        self.fire_due(now);
        self.debug_check();
    }

    /// Fires every timer due by `now`: the heartbeat, the worker's one timer, which counts
    /// its next interval from `now` (a late worker sends one heartbeat, not a burst).
    fn fire_due(&mut self, now: Time) {
        if now >= self.next_heartbeat {
            self.report(WorkerEvent::Heartbeat);
            self.next_heartbeat = now.plus_ms(self.config.heartbeat_interval_ms);
        }
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
        self.plan.worker_of(task)
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
        if !self.mutated() {
            if let Err(violation) = self.check_invariants() {
                panic!("worker invariant broken: {violation}");
            }
        }
    }
}
