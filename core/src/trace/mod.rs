//! Traces: every call made to a machine, with what it produced, so that any run can be
//! replayed exactly, checked step by step, and read.
//!
//! Both machines of the crate — the controller and the worker — are deterministic
//! [`Machine`]s. A [`Recorder`] wraps one and hands a [`Line`] to a [`TraceSink`] for every
//! call, as it happens: its setup, then each input or timeout with its time, the refusal or the
//! outputs it produced. A [`Replayer`] (or [`replay`]) builds a fresh machine from the setup,
//! makes the same calls and checks every outcome against the recorded one; the first that
//! differs is a [`Divergence`]: its step number, what was recorded, what came out.
//!
//! # Format
//!
//! A trace is a sequence of lines, serde values meant to be written one JSON object per line
//! (JSON Lines): a header with the format version ([`FORMAT`]) and the version of the core
//! that wrote it; for each machine a setup line (which machine, its setup — including the
//! planted bug it runs, if any — and what the construction emitted) followed by its step
//! lines; environment lines (opaque to the core: a simulator's crashes and partitions); and a
//! footer with how the run ended and a running hash of every line before it ([`Chain`]). One
//! controller's run, abridged:
//!
//! ```text
//! {"type":"header","format":1,"core":"0.1.0"}
//! {"type":"setup","machine":"controller","setup":{"job":{…},"config":{…},"start":0,"restore":null},"outputs":[{"Event":{"Transition":{"from":null,"to":"Scheduling","reason":"Created"}}},{"StartWorkers":{"generation":1,"restore":null}}]}
//! {"type":"step","machine":"controller","step":{"input":{"at":5,"input":{"Worker":{"worker":0,"generation":1,"event":"Ready"}}}},"outputs":[{"Event":{"Transition":{"from":"Scheduling","to":"Running","reason":"WorkersReady"}}}]}
//! {"type":"step","machine":"controller","step":{"input":{"at":6,"input":{"Worker":{"worker":0,"generation":7,"event":"Ready"}}}},"rejected":{"WrongGeneration":{"got":7,"current":1}}}
//! {"type":"step","machine":"controller","step":{"timeout":{"at":10005}},"outputs":[{"Event":{"CheckpointStarted":{"epoch":1,"then_stop":false}}},{"Send":{…}}]}
//! {"type":"footer","outcome":"ended","lines":5,"hash":"2ad3a9988ccdd309"}
//! ```
//!
//! A simulator interleaves its machines in one trace (each line names its [`MachineId`]) with
//! its own environment lines; a runtime writes one trace per machine. The core only defines the
//! lines: encoding them (JSON for both) is the writer's business. A reader refuses a trace of
//! another format with [`ReplayError::UnknownFormat`] before it reads further; a trace cut
//! short (its writer died) has no footer and replays up to its last line.
//!
//! ```
//! use quiesce_core::controller::Controller;
//! use quiesce_core::trace::{replay, Line, Outcome, Recorder};
//! use quiesce_core::*;
//! # let job = Job {
//! #     name: "t".into(),
//! #     operators: vec![
//! #         Operator { name: "s".into(), kind: OperatorKind::Source, parallelism: 1 },
//! #         Operator { name: "k".into(), kind: OperatorKind::Sink { two_phase_commit: false }, parallelism: 1 },
//! #     ],
//! #     edges: vec![Edge { from: OperatorId(0), to: OperatorId(1) }],
//! #     workers: 1,
//! # };
//! // Each line goes out as JSON the moment it is made.
//! let mut file = String::new();
//! let sink = |line: &Line<Controller>| {
//!     file.push_str(&serde_json::to_string(line).expect("a line serialises"));
//!     file.push('\n');
//! };
//! let mut run = Recorder::new(ControllerSetup::new(job, Config::default(), Time(0)), sink)?;
//! while let Some(_effect) = run.poll_output() { /* carry it out */ }
//! run.handle(Time(3), Input::Stop(StopMode::Force))?;
//! run.handle_timeout(Time(40_000));
//! let status = run.machine().status();
//! run.finish(Outcome::Ended);
//!
//! let lines = file.lines().map(serde_json::from_str::<Line<Controller>>);
//! let replayed = replay(lines.collect::<Result<Vec<_>, _>>()?)?;
//! assert_eq!(replayed.machine.status(), status);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod hash;
mod line;
mod record;
mod replay;

pub use hash::{Chain, Digest};
pub use line::{
    EnvLine, Footer, Header, Line, MachineId, NoEnv, Outcome, SetupLine, StepLine, FORMAT,
};
pub use record::{Discard, MemoryRecorder, Recorder, TraceSink};
pub use replay::{replay, Divergence, ReplayError, Replayed, Replayer};

use crate::controller::io::{Input, Output, Rejected};
use crate::controller::{Controller, ControllerSetup, SetupError};
use crate::types::Time;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// A deterministic sans-IO machine: built from a setup, driven by timed inputs and timeout
/// calls, drained of outputs. The same setup and calls give the same outputs, always. A
/// machine is a value: it can be copied and compared (a refused input leaves it equal).
pub trait Machine: Clone + Debug + Eq {
    /// Everything that builds the machine; the head of its trace.
    type Setup: Clone + Debug + Eq + Serialize + DeserializeOwned;
    /// What the machine is told.
    type Input: Clone + Debug + Eq + Serialize + DeserializeOwned;
    /// What it decides.
    type Output: Clone + Debug + Eq + Serialize + DeserializeOwned;
    /// Why it refuses an input.
    type Rejected: Clone + Debug + Eq + Serialize + DeserializeOwned;
    /// Why a setup builds no machine.
    type SetupError: Debug;

    /// Builds the machine.
    fn build(setup: &Self::Setup) -> Result<Self, Self::SetupError>;
    /// The machine a setup builds, as trace lines name it.
    fn id(setup: &Self::Setup) -> MachineId;
    /// Takes an input at `now`; a refused input changes nothing.
    fn handle(&mut self, now: Time, input: Self::Input) -> Result<(), Self::Rejected>;
    /// Tells the machine the time: due timers fire.
    fn handle_timeout(&mut self, now: Time);
    /// The next output.
    fn poll_output(&mut self) -> Option<Self::Output>;
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Time>;
}

/// One call made to a machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step<I> {
    /// `handle(at, input)`.
    Input {
        /// The time of the call.
        at: Time,
        /// The input.
        input: I,
    },
    /// `handle_timeout(at)`.
    Timeout {
        /// The time of the call.
        at: Time,
    },
}

/// What a step produced.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepOutcome<O, R> {
    /// The refusal, for a refused input.
    pub rejected: Option<R>,
    /// The outputs the step emitted, in order.
    pub outputs: Vec<O>,
}

/// A controller that records every call, keeping its trace in memory.
pub type ControllerRecorder = MemoryRecorder<Controller>;

/// A line of a controller's trace.
pub type ControllerLine<E = NoEnv> = Line<Controller, E>;

impl Machine for Controller {
    type Setup = ControllerSetup;
    type Input = Input;
    type Output = Output;
    type Rejected = Rejected;
    type SetupError = SetupError;

    fn build(setup: &ControllerSetup) -> Result<Controller, SetupError> {
        Controller::new(setup.clone())
    }

    fn id(_: &ControllerSetup) -> MachineId {
        MachineId::Controller
    }

    fn handle(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        Controller::handle(self, now, input)
    }

    fn handle_timeout(&mut self, now: Time) {
        Controller::handle_timeout(self, now)
    }

    fn poll_output(&mut self) -> Option<Output> {
        Controller::poll_output(self)
    }

    fn poll_timeout(&self) -> Option<Time> {
        Controller::poll_timeout(self)
    }
}
