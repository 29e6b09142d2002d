//! What a sweep exercised: the controller's transitions (against every legal one), its events
//! and refusals, and the fault kinds that actually struck — so that a user can see what the
//! suite tested, not just that it passed.

use crate::scenario::FaultKind;
use quiesce_core::controller::is_legal_transition;
use quiesce_core::{Event, Rejected, State, StopJobMode, Stopping};
use std::collections::BTreeMap;
use std::fmt::{self, Debug, Write};

/// Every state of the controller.
pub const STATES: [State; 11] = [
    State::Scheduling,
    State::Running,
    State::CheckpointStopping,
    State::Stopping(Stopping::StopJob(StopJobMode::Graceful)),
    State::Stopping(Stopping::StopJob(StopJobMode::Immediate)),
    State::Stopping(Stopping::StopWorkers),
    State::Recovering,
    State::Finishing,
    State::Stopped,
    State::Finished,
    State::Failed,
];

/// Every legal transition of the design, `from -> to`.
pub fn legal_transitions() -> Vec<(State, State)> {
    let mut all = Vec::new();
    for from in STATES {
        for to in STATES {
            if is_legal_transition(from, to) {
                all.push((from, to));
            }
        }
    }
    all
}

/// The name of an enum value's variant, from its `Debug` form.
fn variant(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    let end = text.find([' ', '(', '{']).unwrap_or(text.len());
    text[..end].to_string()
}

fn state_name(s: State) -> String {
    match s {
        State::Stopping(Stopping::StopJob(m)) => format!("Stopping({m:?})"),
        State::Stopping(Stopping::StopWorkers) => "Stopping(StopWorkers)".into(),
        other => format!("{other:?}"),
    }
}

/// How often each thing was seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Transitions `from -> to`, by name.
    pub transitions: BTreeMap<String, u64>,
    /// Controller events, by variant.
    pub events: BTreeMap<String, u64>,
    /// Refused controller inputs, by reason.
    pub rejections: BTreeMap<String, u64>,
    /// Faults that struck, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
}

impl Coverage {
    /// Counts a controller event (a transition counts as its pair of states too).
    pub fn event(&mut self, event: &Event) {
        if let Event::Transition {
            from: Some(from),
            to,
            ..
        } = event
        {
            let key = format!("{} -> {}", state_name(*from), state_name(*to));
            *self.transitions.entry(key).or_default() += 1;
        }
        *self.events.entry(variant(event)).or_default() += 1;
    }

    /// Counts a refused input.
    pub fn rejection(&mut self, rejected: &Rejected) {
        *self.rejections.entry(variant(rejected)).or_default() += 1;
    }

    /// Counts a fault that struck.
    pub fn fault(&mut self, kind: FaultKind) {
        *self.faults.entry(kind).or_default() += 1;
    }

    /// Adds another run's counts.
    pub fn merge(&mut self, other: &Coverage) {
        let add = |into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>| {
            for (k, n) in from {
                *into.entry(k.clone()).or_default() += n;
            }
        };
        add(&mut self.transitions, &other.transitions);
        add(&mut self.events, &other.events);
        add(&mut self.rejections, &other.rejections);
        for (k, n) in &other.faults {
            *self.faults.entry(*k).or_default() += n;
        }
    }

    /// The legal transitions never taken.
    pub fn unreached_transitions(&self) -> Vec<String> {
        legal_transitions()
            .into_iter()
            .map(|(f, t)| format!("{} -> {}", state_name(f), state_name(t)))
            .filter(|k| !self.transitions.contains_key(k))
            .collect()
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let legal = legal_transitions().len();
        let unreached = self.unreached_transitions();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "transitions: {} of {legal} legal ones reached",
            legal - unreached.len()
        );
        for (k, n) in &self.transitions {
            let _ = writeln!(out, "  {n:>9}  {k}");
        }
        for k in &unreached {
            let _ = writeln!(out, "  {:>9}  {k}", "never");
        }
        let _ = writeln!(out, "events:");
        for (k, n) in &self.events {
            let _ = writeln!(out, "  {n:>9}  {k}");
        }
        let _ = writeln!(out, "refused inputs:");
        for (k, n) in &self.rejections {
            let _ = writeln!(out, "  {n:>9}  {k}");
        }
        let _ = writeln!(out, "faults that struck:");
        for kind in FaultKind::ALL {
            match self.faults.get(&kind) {
                Some(n) => {
                    let _ = writeln!(out, "  {n:>9}  {kind}");
                }
                None => {
                    let _ = writeln!(out, "  {:>9}  {kind}", "never");
                }
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{Reason, StopMode};

    #[test]
    fn transitions_are_counted_against_the_legal_ones() {
        let mut c = Coverage::default();
        let legal = legal_transitions();
        assert!(legal.contains(&(State::Scheduling, State::Running)));
        assert!(!legal.contains(&(State::Stopped, State::Running)));
        assert_eq!(c.unreached_transitions().len(), legal.len());
        c.event(&Event::Transition {
            from: Some(State::Scheduling),
            to: State::Running,
            reason: Reason::WorkersReady,
        });
        c.event(&Event::StopRequested {
            mode: StopMode::Force,
        });
        assert_eq!(c.unreached_transitions().len(), legal.len() - 1);
        assert_eq!(c.events.get("Transition"), Some(&1));
        assert_eq!(c.events.get("StopRequested"), Some(&1));
        let mut total = Coverage::default();
        total.merge(&c);
        total.merge(&c);
        assert_eq!(total.transitions.get("Scheduling -> Running"), Some(&2));
        assert!(total.to_string().contains("1 of"));
    }
}
