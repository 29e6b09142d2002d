//! Table-driven transition cases. A case reaches a source state, applies one input or timeout,
//! and checks the one transition that step causes, the state it ends in, and the outputs,
//! timers and status that matter. Steps before the transition (to reach the source state) and
//! after it (to follow its consequences) may carry checks of their own.
//!
//! One driver runs every case of a table and reports each failing case by name, with the
//! step that failed and the expected and actual values.

mod checks;
mod fixtures;

pub mod checkpoint_stopping;
pub mod finishing;
pub mod recovering;
pub mod running;
pub mod scheduling;
pub mod stop_job;
pub mod stop_workers;

pub use checks::*;
pub use fixtures::*;

use crate::support::transitions;
pub use crate::support::{config, task, to_both, Harness, MAP, SINK, SRC};
use quiesce_core::{
    Command, Input, Output, Reason, State, StopMode, TaskId, WorkerEvent, WorkerId,
};
use std::fmt::{self, Debug};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Every case of every table.
pub fn all_cases() -> Vec<Case> {
    [
        scheduling::cases(),
        running::cases(),
        checkpoint_stopping::cases(),
        stop_job::cases(),
        stop_workers::cases(),
        recovering::cases(),
        finishing::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One input or timeout applied to the controller. Every input must be accepted.
pub enum When {
    /// The controller is created: the outputs of the case's `given` are this step's.
    Created,
    /// Time moves to this instant; every due timer fires.
    At(u64),
    /// Nothing is due before this instant (time moves to one millisecond before it and
    /// nothing is emitted), then time moves to it.
    Deadline(u64),
    Input(Input),
    /// An event from this worker, in the current generation.
    Worker(u32, WorkerEvent),
    /// An event from the worker hosting this task, in the current generation.
    FromTask(TaskId, WorkerEvent),
    /// The scheduler saw this worker of the current generation exit.
    WorkerExited(u32),
    /// The scheduler confirms the current generation's workers are gone.
    WorkersStopped,
    /// Every worker reports ready, one after the other.
    AllReady,
    /// Every task reports finished, one after the other.
    AllFinish,
    /// A named sequence of inputs, each of which must be accepted.
    Run(&'static str, fn(&mut Harness)),
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Created => f.write_str("creation"),
            When::At(ms) => write!(f, "time {ms}"),
            When::Deadline(ms) => write!(f, "deadline {ms}"),
            When::Input(input) => write!(f, "{input:?}"),
            When::Worker(w, event) => write!(f, "worker {w}: {event:?}"),
            When::FromTask(t, event) => write!(f, "host of {t}: {event:?}"),
            When::WorkerExited(w) => write!(f, "worker {w} exited"),
            When::WorkersStopped => f.write_str("workers stopped"),
            When::AllReady => f.write_str("every worker ready"),
            When::AllFinish => f.write_str("every task finished"),
            When::Run(label, _) => f.write_str(label),
        }
    }
}

pub fn at(ms: u64) -> When {
    When::At(ms)
}

pub fn deadline(ms: u64) -> When {
    When::Deadline(ms)
}

pub fn input(input: Input) -> When {
    When::Input(input)
}

pub fn stop(mode: StopMode) -> When {
    When::Input(Input::Stop(mode))
}

pub fn worker(w: u32, event: WorkerEvent) -> When {
    When::Worker(w, event)
}

pub fn finish(t: TaskId) -> When {
    When::FromTask(t, WorkerEvent::TaskFinished { task: t })
}

/// The task fails with the reason [`failed_reason`] expects.
pub fn task_failed(t: TaskId) -> When {
    When::FromTask(
        t,
        WorkerEvent::TaskFailed {
            task: t,
            reason: FAILURE.into(),
        },
    )
}

pub fn run(label: &'static str, f: fn(&mut Harness)) -> When {
    When::Run(label, f)
}

/// Applies `when` and returns the outputs it caused.
fn apply(h: &mut Harness, when: &When, context: &str) -> Vec<Output> {
    let accepted = |result: Result<(), quiesce_core::Rejected>| {
        if let Err(rejected) = result {
            panic!("{context}: {when} was rejected: {rejected:?}");
        }
    };
    match when {
        When::Created => {}
        When::At(ms) => h.at(*ms),
        When::Deadline(ms) => {
            assert!(
                *ms > h.now.0,
                "{context}: deadline {ms} is not in the future"
            );
            h.at(ms - 1);
            same(context, "outputs before the deadline", h.take(), vec![]);
            h.at(*ms);
        }
        When::Input(i) => accepted(h.input(i.clone())),
        When::Worker(w, event) => accepted(h.worker(*w, event.clone())),
        When::FromTask(t, event) => {
            let w = host(h, *t);
            accepted(h.worker(w, event.clone()));
        }
        When::WorkerExited(w) => {
            let generation = h.generation();
            accepted(h.input(Input::WorkerExited {
                worker: WorkerId(*w),
                generation,
            }));
        }
        When::WorkersStopped => accepted(h.confirm_stopped()),
        When::AllReady => h.ready_all(),
        When::AllFinish => h.finish_all(),
        When::Run(_, f) => f(h),
    }
    h.take()
}

/// Fails with the context, what was compared, and the expected and actual values.
pub(crate) fn same<T: PartialEq + Debug>(context: &str, what: &str, actual: T, expected: T) {
    if actual != expected {
        panic!("{context}: {what}\n  expected: {expected:?}\n    actual: {actual:?}");
    }
}

/// A step with its checks.
struct Step {
    when: When,
    checks: Vec<Check>,
}

impl Step {
    fn run(&self, h: &mut Harness, context: &str) {
        let context = format!("{context} ({})", self.when);
        let out = apply(h, &self.when, &context);
        for check in &self.checks {
            check.assert(&context, &out, h);
        }
    }
}

/// A case before its transition is given: a name, how to reach the source state, and checked
/// steps on the way.
pub struct Given {
    name: String,
    given: Box<dyn Fn() -> Harness>,
    before: Vec<Step>,
}

/// Starts a case: `given` builds the harness; its outputs are dropped unless the transition
/// is the creation itself.
pub fn case(name: impl Into<String>, given: impl Fn() -> Harness + 'static) -> Given {
    Given {
        name: name.into(),
        given: Box::new(given),
        before: Vec::new(),
    }
}

impl Given {
    /// A step on the way to the source state, with its checks.
    pub fn before(mut self, when: When, checks: impl IntoIterator<Item = Check>) -> Given {
        self.before.push(Step {
            when,
            checks: checks.into_iter().collect(),
        });
        self
    }

    /// The transition under test: in `from`, `when` causes exactly one transition, to `to`
    /// for `reason`.
    pub fn edge(
        self,
        from: impl Into<Option<State>>,
        when: When,
        to: State,
        reason: Reason,
    ) -> Case {
        Case {
            name: self.name,
            given: self.given,
            before: self.before,
            from: from.into(),
            when,
            to,
            reason,
            checks: Vec::new(),
            after: Vec::new(),
        }
    }
}

/// One transition case; see the module docs.
pub struct Case {
    pub name: String,
    given: Box<dyn Fn() -> Harness>,
    before: Vec<Step>,
    pub from: Option<State>,
    when: When,
    pub to: State,
    reason: Reason,
    checks: Vec<Check>,
    after: Vec<Step>,
}

impl Case {
    /// Checks of the transition step's outputs and of the controller after it.
    pub fn expect(mut self, checks: impl IntoIterator<Item = Check>) -> Case {
        self.checks.extend(checks);
        self
    }

    /// A step after the transition, with its checks.
    pub fn after(mut self, when: When, checks: impl IntoIterator<Item = Check>) -> Case {
        self.after.push(Step {
            when,
            checks: checks.into_iter().collect(),
        });
        self
    }

    /// Runs the case; panics with the case's name on the first check that fails.
    pub fn run(&self) {
        let name = &self.name;
        let mut h = (self.given)();
        let created = matches!(self.when, When::Created);
        if !created {
            h.take();
        }
        assert!(
            !created || self.before.is_empty(),
            "case `{name}`: nothing can come before the creation"
        );
        for (i, step) in self.before.iter().enumerate() {
            step.run(&mut h, &format!("case `{name}`, before step {}", i + 1));
        }
        let context = format!("case `{name}`, the transition ({})", self.when);
        if let Some(from) = self.from {
            same(&context, "source state", h.state(), from);
        }
        let out = apply(&mut h, &self.when, &context);
        same(
            &context,
            "transitions",
            transitions(&out),
            vec![(self.from, self.to, self.reason.clone())],
        );
        same(&context, "state", h.state(), self.to);
        for check in &self.checks {
            check.assert(&context, &out, &h);
        }
        for (i, step) in self.after.iter().enumerate() {
            step.run(&mut h, &format!("case `{name}`, after step {}", i + 1));
        }
    }
}

/// Runs every case, then fails naming each case that failed (each one's own message, with
/// expected and actual, is printed above).
pub fn run_all(cases: &[Case]) {
    assert!(!cases.is_empty(), "an empty table checks nothing");
    let failed: Vec<&str> = cases
        .iter()
        .filter(|case| catch_unwind(AssertUnwindSafe(|| case.run())).is_err())
        .map(|case| case.name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed: {failed:#?}",
        failed.len(),
        cases.len()
    );
}
