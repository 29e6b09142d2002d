//! Traces: everything a machine was told, in order, so that any run can be replayed exactly
//! and its decisions inspected.
//!
//! A [`Trace`] holds what built the machine (its setup) and each step (an input, or a timeout
//! call) with its time. Both machines of the crate — the controller and the worker — are
//! deterministic [`Machine`]s, so [`replay`] rebuilds the very same outputs, step by step. The
//! format is plain serde: the simulator and the runtime store it as JSON.
//!
//! ```
//! use quiesce_core::controller::Controller;
//! use quiesce_core::trace::{replay, ControllerSetup, Recorder};
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
//! let setup = ControllerSetup { job, config: Config::default(), start: Time(0), restore: None };
//! let mut run = Recorder::<Controller>::new(setup)?;
//! run.handle(Time(3), Input::Stop(StopMode::Force)).unwrap();
//! run.handle_timeout(Time(40_000));
//! let _carried_out = run.drain();
//! let replayed = replay::<Controller>(run.trace())?;
//! assert!(replayed.outputs().eq(run.outputs()));
//! assert_eq!(replayed.machine.status(), run.machine().status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::Config;
use crate::controller::io::{Input, Output, Rejected};
use crate::controller::{Controller, RestorePoint, SetupError};
use crate::types::{Job, Time};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// A deterministic sans-IO machine: built from a setup, driven by timed inputs and timeout
/// calls, drained of outputs.
pub trait Machine: Sized {
    /// Everything that builds the machine; the head of its trace.
    type Setup: Clone + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;
    type Rejected: Clone + Debug;
    type SetupError;

    fn build(setup: &Self::Setup) -> Result<Self, Self::SetupError>;
    fn handle(&mut self, now: Time, input: Self::Input) -> Result<(), Self::Rejected>;
    fn handle_timeout(&mut self, now: Time);
    fn poll_output(&mut self) -> Option<Self::Output>;
    fn poll_timeout(&self) -> Option<Time>;
}

/// One call made to a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Step<I> {
    Input { at: Time, input: I },
    Timeout { at: Time },
}

/// Everything needed to rebuild a machine's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace<S, I> {
    pub setup: S,
    pub steps: Vec<Step<I>>,
}

/// What a step produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome<O, R> {
    /// The refusal, for a refused input.
    pub rejected: Option<R>,
    /// The outputs the step emitted, in order.
    pub outputs: Vec<O>,
}

/// The trace type of a machine.
pub type TraceOf<M> = Trace<<M as Machine>::Setup, <M as Machine>::Input>;
/// The step outcome type of a machine.
pub type OutcomeOf<M> = StepOutcome<<M as Machine>::Output, <M as Machine>::Rejected>;

/// A machine that records every call into a [`Trace`], and every output it emitted.
#[derive(Clone, Debug)]
pub struct Recorder<M: Machine> {
    machine: M,
    trace: TraceOf<M>,
    /// Outputs of the construction, then of each step.
    outcomes: Vec<OutcomeOf<M>>,
    /// Outcomes before this index were taken by [`Recorder::drain`].
    drained: usize,
}

impl<M: Machine> Recorder<M> {
    pub fn new(setup: M::Setup) -> Result<Recorder<M>, M::SetupError> {
        let machine = M::build(&setup)?;
        let trace = Trace {
            setup,
            steps: Vec::new(),
        };
        let mut r = Recorder {
            machine,
            trace,
            outcomes: Vec::new(),
            drained: 0,
        };
        r.record(None);
        Ok(r)
    }

    /// The machine, for reading its state.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    pub fn handle(&mut self, now: Time, input: M::Input) -> Result<(), M::Rejected> {
        self.trace.steps.push(Step::Input {
            at: now,
            input: input.clone(),
        });
        let result = self.machine.handle(now, input);
        self.record(result.clone().err());
        result
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.trace.steps.push(Step::Timeout { at: now });
        self.machine.handle_timeout(now);
        self.record(None);
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.machine.poll_timeout()
    }

    /// The outputs emitted since the last call, to carry out.
    pub fn drain(&mut self) -> Vec<M::Output> {
        let fresh = self.outcomes[self.drained..]
            .iter()
            .flat_map(|o| o.outputs.clone())
            .collect();
        self.drained = self.outcomes.len();
        fresh
    }

    fn record(&mut self, rejected: Option<M::Rejected>) {
        let outputs = std::iter::from_fn(|| self.machine.poll_output()).collect();
        self.outcomes.push(StepOutcome { rejected, outputs });
    }

    pub fn trace(&self) -> &TraceOf<M> {
        &self.trace
    }

    /// Every output emitted so far, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &M::Output> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }

    /// The construction's outcome, then one per step.
    pub fn outcomes(&self) -> &[OutcomeOf<M>] {
        &self.outcomes
    }
}

/// A replayed run.
#[derive(Clone, Debug)]
pub struct Replay<M: Machine> {
    /// The construction's outcome, then one per step of the trace.
    pub outcomes: Vec<OutcomeOf<M>>,
    /// The machine after the last step.
    pub machine: M,
}

impl<M: Machine> Replay<M> {
    /// Every output, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &M::Output> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }
}

/// Rebuilds a run from its trace. Pure and deterministic: the outcomes equal the recorded ones.
pub fn replay<M: Machine>(trace: &TraceOf<M>) -> Result<Replay<M>, M::SetupError> {
    let mut machine = M::build(&trace.setup)?;
    let drain = |m: &mut M| std::iter::from_fn(|| m.poll_output()).collect();
    let mut outcomes = vec![StepOutcome {
        rejected: None,
        outputs: drain(&mut machine),
    }];
    for step in &trace.steps {
        let rejected = match step {
            Step::Input { at, input } => machine.handle(*at, input.clone()).err(),
            Step::Timeout { at } => {
                machine.handle_timeout(*at);
                None
            }
        };
        outcomes.push(StepOutcome {
            rejected,
            outputs: drain(&mut machine),
        });
    }
    Ok(Replay { outcomes, machine })
}

/// What builds a controller: [`Controller::restore`]'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerSetup {
    pub job: Job,
    pub config: Config,
    pub start: Time,
    pub restore: Option<RestorePoint>,
}

/// A controller's trace.
pub type ControllerTrace = TraceOf<Controller>;

impl Machine for Controller {
    type Setup = ControllerSetup;
    type Input = Input;
    type Output = Output;
    type Rejected = Rejected;
    type SetupError = SetupError;

    fn build(s: &ControllerSetup) -> Result<Controller, SetupError> {
        Controller::restore(s.job.clone(), s.config, s.start, s.restore)
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
