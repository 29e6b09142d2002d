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
