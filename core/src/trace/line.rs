//! The lines of a trace: serde types, one value per line of a JSON Lines file.

use super::hash::Digest;
use super::{Machine, Step, StepOutcome};
use crate::property::Property;
use crate::types::{Generation, Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The trace format this core writes and reads. A reader refuses any other
/// ([`ReplayError::UnknownFormat`](super::ReplayError::UnknownFormat)).
pub const FORMAT: u32 = 1;

/// The first line of every trace: what wrote it. `format` and `core` keep their names and
/// types in every format, so that a reader can always tell a trace it cannot read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// The trace format ([`FORMAT`] when written by this core).
    pub format: u32,
    /// The version of the core that wrote the trace (`quiesce-core`'s package version).
    pub core: String,
}

impl Header {
    /// The header this core writes.
    pub fn current() -> Header {
        Header {
            format: FORMAT,
            core: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Which machine a setup or step line is about. A trace may interleave several machines (a
/// simulator's controller and workers); a worker is named by its slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineId {
    /// The job's controller.
    Controller,
    /// A worker of one generation.
    Worker {
        /// The worker's slot.
        worker: WorkerId,
        /// The generation it runs.
        generation: Generation,
    },
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineId::Controller => f.write_str("controller"),
            MachineId::Worker { worker, generation } => {
                write!(f, "worker {} (generation {})", worker.0, generation.0)
            }
        }
    }
}

/// No environment lines: the event type of a trace that holds machines' lines only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoEnv {}

/// One line of a trace of machine `M`, with environment events of type `E`.
///
/// A trace is a header, then for each machine a setup line followed by its step lines
/// (machines may interleave, each line names its machine), environment lines anywhere after
/// the header, and at the end a footer. A trace cut short (the writer died) has no footer and
/// still replays up to its last line.
///
/// Lines are internally tagged (`"type": "header"` …), so they need a self-describing format
/// such as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    bound(serialize = "E: Serialize", deserialize = "E: Deserialize<'de>")
)]
pub enum Line<M: Machine, E = NoEnv> {
    /// What wrote the trace.
    Header(Header),
    /// A machine is built.
    Setup(SetupLine<M>),
    /// A call to a machine, with what it produced.
    Step(StepLine<M>),
    /// Something the environment did, for the reader (a crash, a partition, a verdict).
    Env(EnvLine<E>),
    /// The end of the trace.
    Footer(Footer),
}

/// A machine is built from `setup`; building it emitted `outputs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SetupLine<M: Machine> {
    /// The machine built.
    pub machine: MachineId,
    /// What built it.
    pub setup: M::Setup,
    /// What the construction emitted, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<M::Output>,
}

/// One call to a machine and its outcome: the refusal, or the outputs it emitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct StepLine<M: Machine> {
    /// The machine called.
    pub machine: MachineId,
    /// The call.
    pub step: Step<M::Input>,
    /// The refusal, for a refused input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<M::Rejected>,
    /// The outputs the call emitted, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<M::Output>,
}

impl<M: Machine> StepLine<M> {
    /// What the step produced.
    pub fn outcome(&self) -> StepOutcome<M::Output, M::Rejected> {
        StepOutcome {
            rejected: self.rejected.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

/// Something the environment did at `at`: opaque to the core, replayed by nobody, kept for
/// whoever reads the trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvLine<E> {
    /// When it happened.
    pub at: Time,
    /// What happened.
    pub event: E,
}

/// The last line: how the run ended, and a digest of every line before this one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Footer {
    /// How the run ended.
    pub outcome: Outcome,
    /// The number of lines before the footer.
    pub lines: u64,
    /// The running hash of those lines (see [`Chain`](super::Chain)).
    pub hash: Digest,
}

/// How a traced run ended, as its writer saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The run ended and the writer found nothing wrong.
    Ended,
    /// A check of the writer failed: the property it holds the run to, and what broke it, in
    /// one line.
    CheckFailed {
        /// The property that failed.
        property: Property,
        /// What broke it.
        detail: String,
    },
}
