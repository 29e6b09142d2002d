//! quiesce-core: the pure protocol of quiesce.
#![forbid(unsafe_code)]

pub mod config;
pub mod controller;
pub mod protocol;
pub mod types;
pub mod worker;

pub use config::{Config, ConfigError, RestartStrategy};
pub use controller::io::*;
pub use protocol::{Command, FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
pub use types::{
    Edge, Epoch, Generation, Job, JobError, Operator, OperatorId, OperatorKind, TaskId, TaskIndex,
    Time, WorkerId,
};
pub use worker::{
    Worker, WorkerConfig, WorkerError, WorkerInput, WorkerOutput, WorkerRejected, WorkerStatus,
};
