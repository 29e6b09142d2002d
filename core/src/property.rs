//! The named properties of quiesce, one enum for every place that checks or reports them.
//!
//! The invariant checks of both machines, the planted bugs (`mutants`), the exhaustive
//! explorer, the Promela model and `specs/PROPERTIES.md` all speak of a property by its
//! [`Property::name`]. A check that fails says which one broke with a [`Violation`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares [`Property`] with its stable names, from one list so that the enum, its names and
/// [`Property::ALL`] cannot drift apart.
macro_rules! properties {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A named property. [`Property::name`] is its stable name, the one
        /// `specs/PROPERTIES.md`, the model and every report use; serde writes it the same way.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum Property {
            $($(#[$doc])* $variant,)*
        }

        impl Property {
            /// Every property, in declaration order.
            pub const ALL: &'static [Property] = &[$(Property::$variant,)*];

            /// The stable snake_case name, e.g. `single_checkpoint_in_flight`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Property::$variant => $name,)*
                }
            }
        }
    };
}

properties! {
    // ---- the controller: in the model, the core's checks and the explorer
    /// At most one checkpoint is in flight (barriers, persist, commits).
    SingleCheckpointInFlight => "single_checkpoint_in_flight",
    /// Each checkpoint's epoch is above every epoch started before, across generations too.
    EpochsIncrease => "epochs_increase",
    /// Sinks are told to commit an epoch only once its metadata is durable.
    CommitAfterPersist => "commit_after_persist",
    /// Once a stop is requested, no periodic checkpoint starts.
    NoPeriodicAfterStop => "no_periodic_after_stop",
    /// The stop level never decreases and matches the state.
    EscalationMonotone => "escalation_monotone",
    /// A stop request stronger than the stop level takes effect in the same step.
    EscalationImmediate => "escalation_immediate",
    /// Stopped, Finished and Failed are final: nothing changes in them.
    TerminalAbsorbs => "terminal_absorbs",
    /// A message of another generation changes nothing (controller and worker alike).
    StaleGenerationInert => "stale_generation_inert",
    /// A generation starts only once the workers of the one before are confirmed gone.
    SingleGenerationRunning => "single_generation_running",
    /// During a stop, a task failure or a lost worker raises the stop level in the same step.
    DeadTaskEscalates => "dead_task_escalates",
    /// A checkpoint stop that never escalated ends with its final checkpoint committed.
    CheckpointStopCommitsFinal => "checkpoint_stop_commits_final",
    /// The end of input ends the job with its final checkpoint committed.
    EndOfInputCommitsFinal => "end_of_input_commits_final",
    /// Once every task of the generation has ended, a stop ends without waiting for a timer.
    NoNeedlessWait => "no_needless_wait",
    /// Every stop request leads to a terminal state (every wait on the way is bounded).
    StopTerminates => "stop_terminates",
    /// Every checkpoint started is completed or aborted.
    CheckpointResolves => "checkpoint_resolves",
    /// After a failure, the job runs again or ends.
    RecoveryResolves => "recovery_resolves",
    // ---- the controller, with time: checked by the explorer, not by the untimed model
    /// A stop ends within the bound the configuration promises.
    StopTerminatesWithinBound => "stop_terminates_within_bound",
    /// A checkpoint is no longer in flight once its timeout has passed.
    CheckpointResolvesWithinTimeout => "checkpoint_resolves_within_timeout",
    /// An input handled at or past an armed deadline is applied after every timer due by then
    /// has fired, exactly as if `handle_timeout` had been called first.
    TimersBeforeInputs => "timers_before_inputs",
    /// After a step, no deadline lies behind the current time.
    DeadlinesAhead => "deadlines_ahead",
    /// A refused input changes nothing and emits nothing.
    RefusedInert => "refused_inert",
    /// No input, timeout, setup or restore point makes a machine panic.
    NoPanic => "no_panic",
    /// The controller's own bookkeeping of its tasks is consistent.
    TaskAccounting => "task_accounting",
    // ---- the worker
    /// Every record is committed once: none lost, none twice, across aborts and restores.
    ExactlyOnce => "exactly_once",
    /// A task's snapshot and pre-commit of an epoch hold exactly what came before its barrier.
    BarrierAlignment => "barrier_alignment",
    /// The worker's own bookkeeping of its tasks, channels and epochs is consistent.
    WorkerAccounting => "worker_accounting",
}

impl Property {
    /// The property named `name` (its [`Property::name`]), if there is one.
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A broken property: which one, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The property that broke.
    pub property: Property,
    /// What was seen, in one line.
    pub detail: String,
}

impl Violation {
    /// A violation of `property`, seen as `detail`.
    pub fn new(property: Property, detail: impl Into<String>) -> Violation {
        Violation {
            property,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_snake_case_and_round_trip() {
        let mut names: Vec<_> = Property::ALL.iter().map(|p| p.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Property::ALL.len());
        for &p in Property::ALL {
            assert_eq!(Property::from_name(p.name()), Some(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(Property::from_name("no_such_property"), None);
    }

    #[test]
    fn serde_writes_the_name() {
        for &p in Property::ALL {
            let json = serde_json::to_string(&p).expect("a unit variant serialises");
            assert_eq!(json, format!("\"{}\"", p.name()));
            let back: Property = serde_json::from_str(&json).expect("its own name parses");
            assert_eq!(back, p);
        }
    }

    #[test]
    fn a_violation_reads_as_property_then_detail() {
        let v = Violation::new(Property::EpochsIncrease, "e3 after e4");
        assert_eq!(v.to_string(), "epochs_increase: e3 after e4");
    }
}
