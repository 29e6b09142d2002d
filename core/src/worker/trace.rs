//! Worker traces: the worker is a [`Machine`], so [`crate::trace`]'s recorder and replay serve
//! it as they serve the controller.
//!
//! A [`WorkerTrace`] holds what [`Worker::new`] took ([`WorkerSetup`]) and each step (an
//! input, or a timeout call) with its time; [`replay`] rebuilds the very same outputs. Plain
//! serde: store it as JSON next to the controller's trace.
//!
//! ```
//! use quiesce_core::worker::trace::{replay, WorkerRecorder, WorkerSetup};
//! use quiesce_core::worker::{Worker, WorkerConfig, WorkerInput};
//! use quiesce_core::*;
//! # let job = Job {
//! #     name: "t".into(),
//! #     operators: vec![
//! #         Operator { name: "s".into(), kind: OperatorKind::Source, parallelism: 1 },
//! #         Operator { name: "k".into(), kind: OperatorKind::Sink { two_phase_commit: true }, parallelism: 1 },
//! #     ],
//! #     edges: vec![Edge { from: OperatorId(0), to: OperatorId(1) }],
//! #     workers: 1,
//! # };
//! let source = TaskId { operator: OperatorId(0), subtask: 0 };
//! let mut run = WorkerRecorder::new(WorkerSetup {
//!     job,
//!     worker: WorkerId(0),
//!     generation: Generation(1),
//!     config: WorkerConfig::default(),
//!     restore: None,
//!     start: Time(0),
//! })?;
//! run.handle(Time(1), WorkerInput::SourceRecords { task: source, count: 2 }).unwrap();
//! let stop = Command::Stop { mode: StopJobMode::Graceful };
//! run.handle(Time(2), WorkerInput::Command(ToWorker { generation: Generation(1), command: stop }))
//!     .unwrap();
//! run.handle_timeout(Time(5_000));
//! let _carried_out = run.drain();
//! let replayed = replay::<Worker>(run.trace())?;
//! assert!(replayed.outputs().eq(run.outputs()));
//! assert_eq!(replayed.machine.status(), run.machine().status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::WorkerRejected;
use super::{Restore, Worker, WorkerConfig, WorkerError, WorkerInput, WorkerOutput};
use crate::trace::{Machine, Recorder, TraceOf};
use crate::types::{Generation, Job, Time, WorkerId};
use serde::{Deserialize, Serialize};

pub use crate::trace::{replay, Step};

/// What builds a worker: [`Worker::new`]'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSetup {
    pub job: Job,
    pub worker: WorkerId,
    pub generation: Generation,
    pub config: WorkerConfig,
    pub restore: Option<Restore>,
    pub start: Time,
}

/// A worker's trace.
pub type WorkerTrace = TraceOf<Worker>;

/// A worker that records every call into a [`WorkerTrace`].
pub type WorkerRecorder = Recorder<Worker>;

impl Machine for Worker {
    type Setup = WorkerSetup;
    type Input = WorkerInput;
    type Output = WorkerOutput;
    type Rejected = WorkerRejected;
    type SetupError = WorkerError;

    fn build(s: &WorkerSetup) -> Result<Worker, WorkerError> {
        Worker::new(
            &s.job,
            s.worker,
            s.generation,
            s.config,
            s.restore.clone(),
            s.start,
        )
    }

    fn handle(&mut self, now: Time, input: WorkerInput) -> Result<(), WorkerRejected> {
        Worker::handle(self, now, input)
    }

    fn handle_timeout(&mut self, now: Time) {
        Worker::handle_timeout(self, now)
    }

    fn poll_output(&mut self) -> Option<WorkerOutput> {
        Worker::poll_output(self)
    }

    fn poll_timeout(&self) -> Option<Time> {
        Worker::poll_timeout(self)
    }
}
