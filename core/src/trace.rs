//! Traces: everything a controller was told, in order, so that any run can be replayed
//! exactly and its decisions inspected.
//!
//! A [`Trace`] holds the job, the config, the restore point and each step (an input, or a
//! timeout call) with its time. The controller is deterministic, so [`replay`] rebuilds the
//! very same outputs, step by step. The format is plain serde: the simulator and the runtime
//! store it as JSON.
//!
//! ```
//! use quiesce_core::trace::{replay, Recorder};
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
//! let mut run = Recorder::new(job, Config::default(), Time(0), None)?;
//! run.handle(Time(3), Input::Stop(StopMode::Force)).unwrap();
//! run.handle_timeout(Time(40_000));
//! let _carried_out = run.drain();
//! let replayed = replay(run.trace())?;
//! assert!(replayed.outputs().eq(run.outputs()));
//! assert_eq!(replayed.status, run.controller().status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::Config;
use crate::controller::io::{Input, Output, Rejected, Status};
use crate::controller::{Controller, RestorePoint, SetupError};
use crate::types::{Job, Time};
use serde::{Deserialize, Serialize};

/// One call made to a controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Step {
    Input { at: Time, input: Input },
    Timeout { at: Time },
}

/// Everything needed to rebuild a controller's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub job: Job,
    pub config: Config,
    pub restore: Option<RestorePoint>,
    pub start: Time,
    pub steps: Vec<Step>,
}

/// What a step produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The refusal, for a refused input.
    pub rejected: Option<Rejected>,
    /// The outputs the step emitted, in order.
    pub outputs: Vec<Output>,
}

/// A controller that records every call into a [`Trace`], and every output it emitted.
#[derive(Clone, Debug)]
pub struct Recorder {
    controller: Controller,
    trace: Trace,
    /// Outputs of the construction, then of each step.
    outcomes: Vec<StepOutcome>,
    /// Outcomes before this index were taken by [`Recorder::drain`].
    drained: usize,
}

impl Recorder {
    pub fn new(
        job: Job,
        config: Config,
        start: Time,
        restore: Option<RestorePoint>,
    ) -> Result<Recorder, SetupError> {
        let controller = Controller::restore(job.clone(), config, start, restore)?;
        let trace = Trace {
            job,
            config,
            restore,
            start,
            steps: Vec::new(),
        };
        let mut r = Recorder {
            controller,
            trace,
            outcomes: Vec::new(),
            drained: 0,
        };
        r.record(None);
        Ok(r)
    }

    /// The controller, for reading its status.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    pub fn handle(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        self.trace.steps.push(Step::Input {
            at: now,
            input: input.clone(),
        });
        let result = self.controller.handle(now, input);
        self.record(result.clone().err());
        result
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.trace.steps.push(Step::Timeout { at: now });
        self.controller.handle_timeout(now);
        self.record(None);
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.controller.poll_timeout()
    }

    /// The outputs emitted since the last call, to carry out.
    pub fn drain(&mut self) -> Vec<Output> {
        let fresh = self.outcomes[self.drained..]
            .iter()
            .flat_map(|o| o.outputs.clone())
            .collect();
        self.drained = self.outcomes.len();
        fresh
    }

    fn record(&mut self, rejected: Option<Rejected>) {
        let outputs: Vec<Output> = std::iter::from_fn(|| self.controller.poll_output()).collect();
        self.outcomes.push(StepOutcome { rejected, outputs });
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Every output emitted so far, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &Output> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }

    /// The construction's outcome, then one per step.
    pub fn outcomes(&self) -> &[StepOutcome] {
        &self.outcomes
    }
}

/// A replayed run.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The construction's outcome, then one per step of the trace.
    pub outcomes: Vec<StepOutcome>,
    /// The controller after the last step.
    pub status: Status,
}

impl Replay {
    /// Every output, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &Output> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }
}

/// Rebuilds a run from its trace. Pure and deterministic: the outcomes equal the recorded ones.
pub fn replay(trace: &Trace) -> Result<Replay, SetupError> {
    let mut c = Controller::restore(trace.job.clone(), trace.config, trace.start, trace.restore)?;
    let drain = |c: &mut Controller| std::iter::from_fn(|| c.poll_output()).collect();
    let mut outcomes = vec![StepOutcome {
        rejected: None,
        outputs: drain(&mut c),
    }];
    for s in &trace.steps {
        let rejected = match s {
            Step::Input { at, input } => c.handle(*at, input.clone()).err(),
            Step::Timeout { at } => {
                c.handle_timeout(*at);
                None
            }
        };
        outcomes.push(StepOutcome {
            rejected,
            outputs: drain(&mut c),
        });
    }
    Ok(Replay {
        outcomes,
        status: c.status(),
    })
}
