//! Worker traces: the worker is a [`Machine`], so [`crate::trace`]'s recorder, lines and
//! replay serve it as they serve the controller.
//!
//! A worker's trace is a header, a setup line with its [`WorkerSetup`], then one line per input or timeout call with what it produced; [`replay`] rebuilds
//! the machine and checks every step against them.
//!
//! ```
//! use quiesce_core::trace::{replay, Outcome};
//! use quiesce_core::worker::trace::WorkerRecorder;
//! use quiesce_core::worker::{WorkerConfig, WorkerInput};
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
//! let setup = WorkerSetup::new(job, WorkerId(0), Generation(1), WorkerConfig::default(), Time(0));
//! let mut run = WorkerRecorder::in_memory(setup)?;
//! run.handle(Time(1), WorkerInput::SourceRecords { task: source, count: 2 })?;
//! let stop = Command::Stop { mode: StopJobMode::Graceful };
//! run.handle(Time(2), WorkerInput::Command(ToWorker { generation: Generation(1), command: stop }))?;
//! run.handle_timeout(Time(5_000));
//! let _carried_out = run.drain();
//! let status = run.machine().status();
//! let lines = run.finish(Outcome::Ended);
//! assert_eq!(replay(lines)?.machine.status(), status);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{Worker, WorkerError, WorkerInput, WorkerOutput, WorkerRejected, WorkerSetup};
use crate::trace::{Line, Machine, MachineId, MemoryRecorder};
use crate::types::Time;

pub use crate::trace::{replay, Step};

/// A line of a worker's trace.
pub type WorkerLine<E = crate::trace::NoEnv> = Line<Worker, E>;

/// A worker that records every call, keeping its trace in memory.
pub type WorkerRecorder = MemoryRecorder<Worker>;

impl Machine for Worker {
    type Setup = WorkerSetup;
    type Input = WorkerInput;
    type Output = WorkerOutput;
    type Rejected = WorkerRejected;
    type SetupError = WorkerError;

    fn build(setup: &WorkerSetup) -> Result<Worker, WorkerError> {
        Worker::new(setup.clone())
    }

    fn id(s: &WorkerSetup) -> MachineId {
        MachineId::Worker {
            worker: s.worker,
            generation: s.generation,
        }
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
