//! Worker traces: everything a worker was told, in order, so that any run of a worker can be
//! replayed exactly, as [`crate::trace`] does for the controller.
//!
//! A [`WorkerTrace`] holds what [`Worker::new`] took and each step (an input, or a timeout
//! call) with its time. The worker is deterministic, so [`replay`] rebuilds the very same
//! outputs, step by step. Plain serde: store it as JSON next to the controller's trace.
//!
//! ```
//! use quiesce_core::worker::trace::{replay, WorkerRecorder};
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
//! let mut run = WorkerRecorder::new(
//!     job, WorkerId(0), Generation(1), WorkerConfig::default(), None, Time(0),
//! )?;
//! run.handle(Time(1), WorkerInput::SourceRecords { task: source, count: 2 }).unwrap();
//! let stop = Command::Stop { mode: StopJobMode::Graceful };
//! run.handle(Time(2), WorkerInput::Command(ToWorker { generation: Generation(1), command: stop }))
//!     .unwrap();
//! run.handle_timeout(Time(5_000));
//! let _carried_out = run.drain();
//! let replayed = replay(run.trace())?;
//! assert!(replayed.outputs().eq(run.outputs()));
//! assert_eq!(replayed.status, run.worker().status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{Restore, Worker, WorkerConfig, WorkerError, WorkerInput, WorkerOutput};
use super::{WorkerRejected, WorkerStatus};
use crate::types::{Generation, Job, Time, WorkerId};
use serde::{Deserialize, Serialize};

/// One call made to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerStep {
    Input { at: Time, input: WorkerInput },
    Timeout { at: Time },
}

/// Everything needed to rebuild a worker's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerTrace {
    pub job: Job,
    pub worker: WorkerId,
    pub generation: Generation,
    pub config: WorkerConfig,
    pub restore: Option<Restore>,
    pub start: Time,
    pub steps: Vec<WorkerStep>,
}

/// What a step produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStepOutcome {
    /// The refusal, for a refused input.
    pub rejected: Option<WorkerRejected>,
    /// The outputs the step emitted, in order.
    pub outputs: Vec<WorkerOutput>,
}

/// A worker that records every call into a [`WorkerTrace`], and every output it emitted.
#[derive(Clone, Debug)]
pub struct WorkerRecorder {
    worker: Worker,
    trace: WorkerTrace,
    /// Outputs of the construction, then of each step.
    outcomes: Vec<WorkerStepOutcome>,
    /// Outcomes before this index were taken by [`WorkerRecorder::drain`].
    drained: usize,
}

impl WorkerRecorder {
    pub fn new(
        job: Job,
        worker: WorkerId,
        generation: Generation,
        config: WorkerConfig,
        restore: Option<Restore>,
        start: Time,
    ) -> Result<WorkerRecorder, WorkerError> {
        let w = Worker::new(&job, worker, generation, config, restore.clone(), start)?;
        let trace = WorkerTrace {
            job,
            worker,
            generation,
            config,
            restore,
            start,
            steps: Vec::new(),
        };
        let mut r = WorkerRecorder {
            worker: w,
            trace,
            outcomes: Vec::new(),
            drained: 0,
        };
        r.record(None);
        Ok(r)
    }

    /// The worker, for reading its status.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    pub fn handle(&mut self, now: Time, input: WorkerInput) -> Result<(), WorkerRejected> {
        self.trace.steps.push(WorkerStep::Input {
            at: now,
            input: input.clone(),
        });
        let result = self.worker.handle(now, input);
        self.record(result.clone().err());
        result
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.trace.steps.push(WorkerStep::Timeout { at: now });
        self.worker.handle_timeout(now);
        self.record(None);
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.worker.poll_timeout()
    }

    /// The outputs emitted since the last call, to carry out.
    pub fn drain(&mut self) -> Vec<WorkerOutput> {
        let fresh = self.outcomes[self.drained..]
            .iter()
            .flat_map(|o| o.outputs.clone())
            .collect();
        self.drained = self.outcomes.len();
        fresh
    }

    fn record(&mut self, rejected: Option<WorkerRejected>) {
        let outputs = std::iter::from_fn(|| self.worker.poll_output()).collect();
        self.outcomes.push(WorkerStepOutcome { rejected, outputs });
    }

    pub fn trace(&self) -> &WorkerTrace {
        &self.trace
    }

    /// Every output emitted so far, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &WorkerOutput> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }

    /// The construction's outcome, then one per step.
    pub fn outcomes(&self) -> &[WorkerStepOutcome] {
        &self.outcomes
    }
}

/// A replayed run.
#[derive(Clone, Debug)]
pub struct WorkerReplay {
    /// The construction's outcome, then one per step of the trace.
    pub outcomes: Vec<WorkerStepOutcome>,
    /// The worker after the last step.
    pub status: WorkerStatus,
}

impl WorkerReplay {
    /// Every output, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &WorkerOutput> {
        self.outcomes.iter().flat_map(|o| &o.outputs)
    }
}

/// Rebuilds a worker's run from its trace. Pure and deterministic: the outcomes equal the
/// recorded ones.
pub fn replay(trace: &WorkerTrace) -> Result<WorkerReplay, WorkerError> {
    let mut w = Worker::new(
        &trace.job,
        trace.worker,
        trace.generation,
        trace.config,
        trace.restore.clone(),
        trace.start,
    )?;
    let drain = |w: &mut Worker| std::iter::from_fn(|| w.poll_output()).collect();
    let mut outcomes = vec![WorkerStepOutcome {
        rejected: None,
        outputs: drain(&mut w),
    }];
    for step in &trace.steps {
        let rejected = match step {
            WorkerStep::Input { at, input } => w.handle(*at, input.clone()).err(),
            WorkerStep::Timeout { at } => {
                w.handle_timeout(*at);
                None
            }
        };
        outcomes.push(WorkerStepOutcome {
            rejected,
            outputs: drain(&mut w),
        });
    }
    Ok(WorkerReplay {
        outcomes,
        status: w.status(),
    })
}
