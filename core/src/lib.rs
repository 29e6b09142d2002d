//! quiesce-core: the pure protocol of quiesce, a controller for streaming pipelines that decides
//! when to take checkpoints and how to stop a job, with every wait bounded and every failure
//! escalated.
//!
//! The crate holds two sans-IO state machines — the [`Controller`] of a job and the
//! [`worker`] side of the protocol — and the message types between them. Neither reads a clock,
//! touches a file or socket, spawns a thread or draws a random number: time and the outcome of
//! every effect come in as inputs, and every decision comes out as an [`Output`] value. The same
//! machines run under the model checker, the simulator and the real runtime.
//!
//! # The run loop
//!
//! An embedder drives a controller like this, and in no other way:
//!
//! 1. After **every** call to [`Controller::new`], [`Controller::handle`] or
//!    [`Controller::handle_timeout`], drain [`Controller::poll_output`] until it returns `None`
//!    and carry out each effect (start or kill workers, send a message, persist metadata,
//!    clean up); report each effect's outcome back as an [`Input`].
//! 2. Then sleep until the earliest of the next input and [`Controller::poll_timeout`]; when
//!    the deadline comes, call [`Controller::handle_timeout`] with the current time.
//! 3. Time is a monotonic [`Time`] in milliseconds and never goes backwards. A refused input
//!    ([`Rejected`]) changes nothing and emits nothing beyond the timers due by its time (which
//!    fire before any input is taken): log it and carry on.
//!
//! # Example: a tiny job from start to a checkpoint stop
//!
//! ```
//! use quiesce_core::*;
//!
//! // One source feeding one two-phase-commit sink, on one worker.
//! let job = Job::builder("tiny", 1).source("src", 1).sink("sink", 1).edge("src", "sink").build()?;
//! let (src, sink) = (TaskId { operator: OperatorId(0), subtask: 0 }, TaskId { operator: OperatorId(1), subtask: 0 });
//! let mut c = Controller::new(ControllerSetup::new(job, Config::default(), Time(0)))?;
//! let g = c.status().generation;
//! let from_worker = |event| Input::from_worker(WorkerId(0), g, event);
//! let drain = |c: &mut Controller| std::iter::from_fn(|| c.poll_output()).collect::<Vec<_>>();
//!
//! assert!(drain(&mut c).contains(&Output::StartWorkers { generation: g, restore: None }));
//! c.handle(Time(5), from_worker(WorkerEvent::Ready))?;
//! assert_eq!(c.state(), State::Running);
//!
//! // The first periodic checkpoint is due one interval later.
//! let due = c.poll_timeout().unwrap();
//! c.handle_timeout(due);
//! let e1 = Epoch(1);
//! assert!(drain(&mut c).contains(&Output::Send {
//!     worker: WorkerId(0),
//!     message: ToWorker { generation: g, command: Command::Checkpoint { epoch: e1, then_stop: false } },
//! }));
//! for task in [src, sink] {
//!     c.handle(due, from_worker(WorkerEvent::CheckpointAcked { task, epoch: e1 }))?;
//! }
//! assert!(drain(&mut c).contains(&Output::PersistMetadata { epoch: e1, generation: g }));
//! c.handle(due, Input::MetadataPersisted { epoch: e1 })?;
//! c.handle(due, from_worker(WorkerEvent::Committed { task: sink, epoch: e1 }))?;
//! assert_eq!(c.status().last_completed, Some(e1));
//!
//! // Stop with a final checkpoint: every task acks, finishes, and the sink commits first.
//! let now = due.plus_ms(100);
//! c.handle(now, Input::Stop(StopMode::Checkpoint))?;
//! assert_eq!(c.state(), State::CheckpointStopping);
//! let e2 = Epoch(2);
//! c.handle(now, from_worker(WorkerEvent::CheckpointAcked { task: src, epoch: e2 }))?;
//! c.handle(now, from_worker(WorkerEvent::TaskFinished { task: src }))?;
//! c.handle(now, from_worker(WorkerEvent::CheckpointAcked { task: sink, epoch: e2 }))?;
//! c.handle(now, Input::MetadataPersisted { epoch: e2 })?;
//! c.handle(now, from_worker(WorkerEvent::Committed { task: sink, epoch: e2 }))?;
//! c.handle(now, from_worker(WorkerEvent::TaskFinished { task: sink }))?;
//! assert_eq!(c.state(), State::Stopped);
//! assert_eq!(c.restore_point().map(|r| (r.epoch, r.committed)), Some((e2, true)));
//! assert_eq!(c.poll_timeout(), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! # Driving both machines
//!
//! A runtime (or a simulator) hosts one [`Controller`] and one [`Worker`] per worker slot, and
//! carries each machine's outputs to the other as inputs:
//!
//! | effect | what the environment does | answered by |
//! | --- | --- | --- |
//! | [`Output::StartWorkers`] | build a [`Worker`] for each [`WorkerId`] of the job's [`Plan`]; with `restore`, each restores its tasks' [`TaskSnapshot`]s of that checkpoint ([`WorkerSetup::with_restore`]) | each worker's [`WorkerEvent::Ready`], or [`Input::SchedulerFailed`] |
//! | [`Output::Send`] | deliver the command to that worker as [`WorkerInput::Command`] | the worker's reports |
//! | [`WorkerOutput::ToController`] | deliver to the controller as [`Input::Worker`]: heartbeats, acks, commits, finishes, failures | — |
//! | [`WorkerOutput::SendData`] | deliver to `to_worker` as [`WorkerInput::Data`], in `seq` order per channel | — |
//! | [`WorkerOutput::Snapshot`] | store the task's state durably | [`WorkerInput::SnapshotDone`] or [`WorkerInput::SnapshotFailed`] |
//! | [`WorkerOutput::Commit`], [`WorkerOutput::Write`] | make the records visible in the external system | — |
//! | [`Output::PersistMetadata`] | store the checkpoint's metadata durably | [`Input::MetadataPersisted`] or [`Input::MetadataPersistFailed`] |
//! | [`Output::StopWorkers`] | kill the generation's processes | [`Input::WorkersStopped`] |
//! | [`Output::Cleanup`] | delete older checkpoints | [`Input::CleanupDone`] |
//!
//! A source's connector announces what it read with [`WorkerInput::SourceRecords`] and the end
//! of its input with [`WorkerInput::SourceExhausted`]. Both machines keep timers (the
//! controller's checkpoints and timeouts, each worker's heartbeat): wake at the earliest
//! `poll_timeout` of them all and call `handle_timeout`. Messages between one pair of machines
//! keep their order. Below, a controller and two workers run in memory, every effect
//! succeeding at once, until a graceful stop at 25 s; the loop is the whole runtime.
//!
//! ```
//! use quiesce_core::*;
//! use std::collections::VecDeque;
//!
//! // A source on worker 0 feeds a two-phase-commit sink on worker 1.
//! let job = Job::builder("pipe", 2).source("src", 1).sink("sink", 1).edge("src", "sink").build()?;
//! let src = TaskId { operator: OperatorId(0), subtask: 0 };
//! let mut c = Controller::new(ControllerSetup::new(job.clone(), Config::default(), Time(0)))?;
//! let (mut workers, mut now, mut committed) = (Vec::<Worker>::new(), Time(0), Vec::new());
//! // Every message in flight, in order, and whom it is for.
//! enum To { Controller(Input), Worker(usize, WorkerInput) }
//! let mut wire = VecDeque::new();
//! let mut stop_at = Some(Time(25_000));
//! while !matches!(c.state(), State::Stopped | State::Finished | State::Failed) {
//!     while let Some(out) = c.poll_output() {
//!         match out {
//!             Output::StartWorkers { generation, .. } => {
//!                 let setup = |w| WorkerSetup::new(job.clone(), WorkerId(w), generation, WorkerConfig::default(), now);
//!                 workers = (0..2).map(|w| Worker::new(setup(w))).collect::<Result<_, _>>()?;
//!                 // The source's connector has ten records to read.
//!                 wire.push_back(To::Worker(0, WorkerInput::SourceRecords { task: src, count: 10 }));
//!             }
//!             Output::Send { worker, message } => wire.push_back(To::Worker(worker.0 as usize, WorkerInput::Command(message))),
//!             Output::PersistMetadata { epoch, .. } => wire.push_back(To::Controller(Input::MetadataPersisted { epoch })),
//!             Output::Cleanup { before } => wire.push_back(To::Controller(Input::CleanupDone { before })),
//!             Output::StopWorkers { generation } => wire.push_back(To::Controller(Input::WorkersStopped { generation })),
//!             Output::ReleaseWorkers { .. } | Output::Event(_) => {}
//!         }
//!     }
//!     for (w, worker) in workers.iter_mut().enumerate() {
//!         while let Some(out) = worker.poll_output() {
//!             match out {
//!                 WorkerOutput::ToController(msg) => wire.push_back(To::Controller(Input::Worker(msg))),
//!                 WorkerOutput::SendData { to_worker, generation, channel, seq, item } => wire.push_back(
//!                     To::Worker(to_worker.0 as usize, WorkerInput::Data { generation, channel, seq, item })),
//!                 // A real worker stores the state durably before it answers.
//!                 WorkerOutput::Snapshot { task, epoch, .. } => wire.push_back(To::Worker(w, WorkerInput::SnapshotDone { task, epoch })),
//!                 WorkerOutput::Commit { records, .. } => committed.extend(records),
//!                 WorkerOutput::Write { record, .. } => committed.push(record),
//!             }
//!         }
//!     }
//!     match wire.pop_front() {
//!         Some(To::Controller(input)) => c.handle(now, input)?,
//!         Some(To::Worker(w, input)) => workers[w].handle(now, input)?,
//!         // Nothing in flight: time passes to the next deadline, or to the stop request.
//!         None => {
//!             let due = workers.iter().filter_map(Worker::poll_timeout).chain(c.poll_timeout()).min();
//!             match (stop_at, due) {
//!                 (Some(at), Some(due)) if at <= due => { now = at; stop_at = None; c.handle(now, Input::Stop(StopMode::Graceful))?; }
//!                 (_, Some(due)) => { now = due; c.handle_timeout(now); workers.iter_mut().for_each(|w| w.handle_timeout(now)); }
//!                 (_, None) => unreachable!("a job that has not ended always has a deadline"),
//!             }
//!         }
//!     }
//! }
//! assert_eq!(c.state(), State::Stopped);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Whether the known bug `$kind::$bug` is switched on in `$machine`: never without the `mutants`
/// feature, where the planted bugs do not exist at all.
macro_rules! bug {
    ($machine:expr, $kind:ident :: $bug:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $machine.mutant == Some($kind::$bug);
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }};
}

mod config;
pub mod controller;
mod display;
mod job_builder;
mod plan;
mod property;
mod protocol;
pub mod trace;
mod types;
pub mod worker;

pub use config::{Config, ConfigError, RestartStrategy};
pub use controller::io::{
    AbortReason, CheckpointStage, Counters, Event, InFlight, Input, InputKind, Output, Reason,
    Rejected, RequestId, State, Status, Stopping,
};
pub use controller::{Controller, ControllerSetup, RestorePoint, SetupError};
pub use job_builder::JobBuilder;
pub use plan::{Placement, Plan};
pub use property::{Property, Violation};
pub use protocol::{Command, FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
pub use types::{
    Edge, Epoch, Generation, Job, JobError, Operator, OperatorId, OperatorKind, TaskId, Time,
    WorkerId,
};
pub use worker::{
    Restore, TaskSnapshot, Worker, WorkerConfig, WorkerError, WorkerInput, WorkerOutput,
    WorkerRejected, WorkerSetup, WorkerStatus,
};
