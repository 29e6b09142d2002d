//! Oracles as values: a failed check is a [`Failure`] with a class, the property it breaks, a
//! detail and the simulated time, and it ends the run.
//!
//! The checks themselves are pure functions of what the world saw, so that they can be tested
//! without running a world: at the machines (the controller's invariants after each step
//! ([`controller_step`]), fencing at a worker's shell ([`fencing`]), timers before inputs at a
//! worker, needless escalations), the bounds ([`StopClock`], [`RecoveryClock`]), and the data
//! (keyed state at each checkpoint, what the sinks hold when the controller ends:
//! [`end_of_run`], and after a graceful stop: [`graceful_drain`]).

use quiesce_core::{Property, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

mod bounds;
mod data;
mod machines;

pub use bounds::{RecoveryClock, StopClock};
pub use data::{end_of_run, graceful_drain, keyed_state, Ending};
pub use machines::{
    claimed_generation, controller_step, fencing, needless_escalation, timers_before_inputs,
};

/// What kind of failure: each has its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A panic, or a run that exhausted its step budget without simulated time passing.
    Crash,
    /// Something that must happen within a bound did not.
    Liveness,
    /// A safety invariant or a data guarantee broke.
    Correctness,
    /// The same seed ran differently twice.
    Nondeterminism,
    /// A stop escalated by a timeout, or a kill went unconfirmed, though no fault had struck:
    /// a needless escalation (every check of safety and liveness may still hold).
    NeedlessEscalation,
}

impl Class {
    /// Every class, in order of severity (most severe first).
    pub const BY_SEVERITY: [Class; 5] = [
        Class::Correctness,
        Class::Liveness,
        Class::Nondeterminism,
        Class::NeedlessEscalation,
        Class::Crash,
    ];

    /// The exit code of a sweep whose most severe failure is of this class.
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Crash => 3,
            Class::Liveness => 4,
            Class::Correctness => 5,
            Class::Nondeterminism => 6,
            Class::NeedlessEscalation => 7,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Crash => "crash",
            Class::Liveness => "liveness",
            Class::Correctness => "correctness",
            Class::Nondeterminism => "nondeterminism",
            Class::NeedlessEscalation => "needless-escalation",
        }
    }

    /// The most severe of `classes`, if any.
    pub fn most_severe(classes: impl IntoIterator<Item = Class>) -> Option<Class> {
        let classes: Vec<Class> = classes.into_iter().collect();
        Class::BY_SEVERITY.into_iter().find(|c| classes.contains(c))
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a failure breaks: a property the core names, or one of the simulator's own checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A property shared by the spec, the core's invariants and the planted bugs.
    Property(Property),
    /// A run is a function of its seed: running it again takes the same steps.
    Deterministic,
    /// A run takes at most [`crate::runner::STEP_BUDGET`] core steps.
    StepBudget,
    /// The core accepts every setup a scenario draws.
    SetupAccepted,
    /// A stop ends without a timeout or an unconfirmed kill unless a fault explains it.
    NoNeedlessEscalation,
}

impl From<Property> for Check {
    fn from(p: Property) -> Check {
        Check::Property(p)
    }
}

impl PartialEq<Property> for Check {
    fn eq(&self, other: &Property) -> bool {
        *self == Check::Property(*other)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Property(p) => f.pad(p.name()),
            Check::Deterministic => f.pad("deterministic"),
            Check::StepBudget => f.pad("step_budget"),
            Check::SetupAccepted => f.pad("setup_accepted"),
            Check::NoNeedlessEscalation => f.pad("no_needless_escalation"),
        }
    }
}

/// A failed check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub class: Class,
    /// What it breaks.
    pub property: Check,
    /// What happened, in one line.
    pub detail: String,
    /// When (simulated).
    pub at: Time,
}

impl Failure {
    /// A failure of `class` breaking `property` at `at`.
    pub fn new(
        class: Class,
        property: impl Into<Check>,
        at: Time,
        detail: impl Into<String>,
    ) -> Failure {
        Failure {
            class,
            property: property.into(),
            detail: detail.into(),
            at,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} at {}: {}",
            self.class,
            self.property,
            crate::scenario::seconds(self.at.0),
            self.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_severe_class_decides_the_exit_code() {
        assert_eq!(Class::most_severe([]), None);
        let all = [
            Class::Crash,
            Class::NeedlessEscalation,
            Class::Nondeterminism,
            Class::Liveness,
            Class::Correctness,
        ];
        assert_eq!(Class::most_severe(all), Some(Class::Correctness));
        assert_eq!(
            Class::most_severe([Class::Crash, Class::Nondeterminism]),
            Some(Class::Nondeterminism)
        );
        assert_eq!(
            Class::most_severe([Class::Crash, Class::NeedlessEscalation]),
            Some(Class::NeedlessEscalation)
        );
        let mut codes: Vec<u8> = all.iter().map(|c| c.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Class::BY_SEVERITY.len(), "distinct exit codes");
        assert!(codes.iter().all(|&c| c != 0 && c != 1 && c != 2));
    }
}
