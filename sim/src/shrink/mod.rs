//! Shrinking a failing run: `quiesce-sim shrink TRACE` reads the scenario and planted bug from
//! a trace file's second line, runs it again, and keeps every edit after which the run still
//! fails the same way (same class, same property) in no more core steps than before, so that
//! the trace never grows:
//!
//! 1. each fault kind switched off, one by one;
//! 2. the fault plan cut by delta debugging, planned faults made shorter, rates lowered, then
//!    the stop plan, the workload, the phases and the job made smaller or calmer;
//! 3. for a failure of the controller's own invariants, its input steps cut by delta debugging
//!    in pure replay: the result is then a controller-only trace, which may hold an input
//!    sequence no environment sends, and is still the bug (the controller keeps its safety
//!    properties for any input sequence).
//!
//! Stages 1 and 2 run the simulated world, so the command needs the simulation build; the
//! edits ([`Shrinker`]), [`ddmin`] and the step shrinker ([`shrink_steps`]) are pure.

mod ddmin;
mod edits;
mod steps;

pub use ddmin::{ddmin, Tried};
pub use edits::{without_kind, Shrinker};
pub use steps::{first_violation, shrink_steps, ShrunkSteps};

use crate::scenario::Scenario;
use quiesce_core::Property;
use serde_json::Value;

/// What a trace file says about the run it records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFile {
    /// The run's scenario (the environment line right after the header).
    pub scenario: Scenario,
    /// The planted bug, by its command-line name.
    pub mutant: Option<String>,
    /// The property the footer says failed, if it names one.
    pub property: Option<Property>,
    /// Its size.
    pub size: Size,
}

/// How big a run is, in the figures `shrink` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// Fault kinds on.
    pub kinds: usize,
    /// Planned faults.
    pub planned: usize,
    /// The controller's steps in the trace.
    pub steps: u64,
    /// Lines of the trace.
    pub lines: u64,
    /// Bytes of the trace.
    pub bytes: u64,
}

impl Size {
    /// The size of `scenario`'s run, as traced in `text`.
    pub fn of(scenario: &Scenario, text: &str) -> Size {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let steps = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "step" && v["machine"] == "controller")
            .count();
        Size {
            kinds: scenario.swarm.rates.len(),
            planned: scenario.plan.faults.len(),
            steps: steps as u64,
            lines: lines.len() as u64,
            bytes: text.len() as u64,
        }
    }
}

impl TraceFile {
    /// Reads a trace's scenario line (the second), and its footer's property; an error names
    /// the line.
    pub fn parse(text: &str) -> Result<TraceFile, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let json = |(n, raw): (usize, &str)| {
            serde_json::from_str::<Value>(raw)
                .map(|v| (n + 1, v))
                .map_err(|e| format!("line {}: {e}", n + 1))
        };
        let (_, header) = json(lines.next().ok_or("the trace is empty")?)?;
        if header["type"] != "header" {
            return Err("line 1: not a header line".into());
        }
        let (n, env) = json(lines.next().ok_or("the trace has no second line")?)?;
        let event = &env["event"];
        if env["type"] != "env" || event["kind"] != "scenario" {
            return Err(format!(
                "line {n}: not the scenario line (a trace written by `run --traces` has it second)"
            ));
        }
        let scenario: Scenario = serde_json::from_value(event["scenario"].clone())
            .map_err(|e| format!("line {n}: the scenario: {e}"))?;
        let mutant = event["mutant"].as_str().map(str::to_string);
        let mut property = None;
        for line in lines {
            let (n, v) = json(line)?;
            if v["type"] == "footer" {
                let failed = &v["outcome"]["check_failed"]["property"];
                if !failed.is_null() {
                    property = Some(
                        serde_json::from_value(failed.clone())
                            .map_err(|e| format!("line {n}: the footer's property: {e}"))?,
                    );
                }
            }
        }
        let size = Size::of(&scenario, text);
        Ok(TraceFile {
            scenario,
            mutant,
            property,
            size,
        })
    }
}

#[cfg(madsim)]
mod run;
#[cfg(madsim)]
pub use run::{shrink, Limits, Shrunk};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracefile::{controller_setup, write};
    use quiesce_core::trace::{Outcome, Step};
    use quiesce_core::{Input, StopMode, Time};

    #[test]
    fn a_written_trace_gives_back_its_scenario_and_property() {
        let scenario = Scenario::from_seed(11);
        let setup = controller_setup(&scenario, None);
        let steps = vec![Step::Input {
            at: Time(3),
            input: Input::Stop(StopMode::Force),
        }];
        let outcome = Outcome::CheckFailed {
            property: Property::StopTerminates,
            detail: "late".into(),
        };
        let text = write(setup, &scenario, None, &steps, outcome).expect("writes");
        let file = TraceFile::parse(&text).expect("parses");
        assert_eq!(file.scenario, scenario);
        assert_eq!(
            (file.mutant, file.property),
            (None, Some(Property::StopTerminates))
        );
        assert_eq!(file.size.steps, 1);
        assert_eq!(file.size.lines, 5, "header, scenario, setup, step, footer");
        assert_eq!(file.size.kinds, scenario.swarm.rates.len());
        let without: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| l)
            .collect();
        let error = TraceFile::parse(&without.join("\n")).unwrap_err();
        assert!(
            error.starts_with("line 2: not the scenario line"),
            "{error}"
        );
    }
}
