//! Trace files of the controller: the core's versioned JSON Lines format, written from the
//! inputs and timeouts a run gave the controller, and replayed without the simulator.
//!
//! A run that records keeps only the controller's setup and its steps (time, and input or
//! timeout). The file is made afterwards by driving a fresh controller through the core's
//! [`Recorder`] with those steps: the machine is deterministic, so the outputs it records are
//! the run's. `quiesce-sim replay FILE` rebuilds the controller from the file alone, checks
//! every output against the recorded one ([`quiesce_core::trace::replay`]) and prints the
//! decisions in order.

use crate::planted::Planted;
use crate::scenario::Scenario;
use quiesce_core::controller::Controller;
use quiesce_core::trace::{replay, Chain, EnvLine, Footer, Header, Line, Outcome, Recorder, Step};
use quiesce_core::{ControllerSetup, Event, Input, Output, Time};
use std::fmt::Write;

/// A trace line as this writer makes it: environment events are JSON values.
type TraceLine = Line<Controller, serde_json::Value>;

/// The controller of `scenario`, with the known bug `planted` if it is a controller's.
pub fn controller_setup(scenario: &Scenario, planted: Option<Planted>) -> ControllerSetup {
    let setup = ControllerSetup::new(scenario.job.clone(), scenario.config, Time(0));
    match planted {
        #[cfg(feature = "mutants")]
        Some(Planted::Controller(m)) => setup.with_mutant(m),
        _ => setup,
    }
}

/// The trace file (JSON Lines) of a controller built from `setup` and given `steps`, ending
/// with `outcome`. Its second line, right after the header, is the environment line that names
/// the run's scenario and planted bug, so that `shrink` can run it again.
pub fn write(
    setup: ControllerSetup,
    scenario: &Scenario,
    planted: Option<Planted>,
    steps: &[Step<Input>],
    outcome: Outcome,
) -> Result<String, String> {
    let mut text = String::new();
    let mut chain = Chain::new();
    let mut failed = None;
    let mut sink = |line: &TraceLine| match serde_json::to_string(line) {
        Ok(json) => {
            chain.push(line);
            text.push_str(&json);
            text.push('\n');
        }
        Err(e) => failed = Some(e.to_string()),
    };
    sink(&Line::Header(Header::current()));
    sink(&Line::Env(EnvLine {
        at: Time(0),
        event: serde_json::json!({
            "kind": "scenario",
            "mutant": planted.map(Planted::cli_name),
            "scenario": scenario,
        }),
    }));
    let mut r = Recorder::join(setup, &mut sink).map_err(|e| format!("setup refused: {e}"))?;
    for step in steps {
        match step {
            // A refusal is recorded in its line; the run went on after it, and so does this.
            Step::Input { at, input } => drop(r.handle(*at, input.clone())),
            Step::Timeout { at } => r.handle_timeout(*at),
            _ => return Err("a step of a kind this writer does not know".into()),
        }
        r.drain();
    }
    drop(r);
    if let Some(e) = failed {
        return Err(e);
    }
    let footer: TraceLine = Line::Footer(Footer {
        outcome,
        lines: chain.lines(),
        hash: chain.digest(),
    });
    let json = serde_json::to_string(&footer).map_err(|e| e.to_string())?;
    text.push_str(&json);
    text.push('\n');
    Ok(text)
}

/// A trace replayed: how many steps, and the decisions (state transitions) in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Steps replayed, every output as recorded.
    pub steps: u64,
    /// The transitions, in order: time and a line for people.
    pub timeline: Vec<(Time, String)>,
}

/// Replays a controller trace file: every line must parse (a line that does not is named by
/// its number), and every step must produce exactly the outputs recorded.
pub fn replay_text(text: &str) -> Result<Replayed, String> {
    let mut lines = Vec::new();
    for (n, raw) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: TraceLine =
            serde_json::from_str(raw).map_err(|e| format!("line {}: {e}", n + 1))?;
        lines.push(line);
    }
    let mut timeline = Vec::new();
    for line in &lines {
        let (at, outputs) = match line {
            Line::Setup(s) => (Time(0), &s.outputs),
            Line::Step(s) => (step_time(&s.step), &s.outputs),
            _ => continue,
        };
        for out in outputs {
            if let Output::Event(Event::Transition { from, to, reason }) = out {
                let from = from.map_or("start".to_string(), |f| format!("{f:?}"));
                timeline.push((at, format!("{from} -> {to:?}: {reason:?}")));
            }
        }
    }
    let replayed = replay(lines).map_err(|e| format!("{e:?}"))?;
    Ok(Replayed {
        steps: replayed.steps,
        timeline,
    })
}

fn step_time(step: &Step<Input>) -> Time {
    match step {
        Step::Input { at, .. } | Step::Timeout { at } => *at,
        _ => Time(0),
    }
}

impl Replayed {
    /// The timeline for people, one decision a line.
    pub fn timeline_text(&self) -> String {
        let mut out = String::new();
        for (at, what) in &self.timeline {
            let _ = writeln!(out, "{:>12}  {what}", crate::scenario::seconds(at.0));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::StopMode;

    fn steps() -> Vec<Step<Input>> {
        vec![
            Step::Input {
                at: Time(3),
                input: Input::Stop(StopMode::Force),
            },
            Step::Timeout { at: Time(40_000) },
        ]
    }

    #[test]
    fn a_written_trace_replays_with_its_decisions() {
        let scenario = Scenario::from_seed(1);
        let setup = controller_setup(&scenario, None);
        let text = write(setup, &scenario, None, &steps(), Outcome::Ended).expect("writes");
        let replayed = replay_text(&text).expect("replays");
        assert_eq!(replayed.steps, 2);
        assert!(replayed.timeline[0].1.starts_with("start -> Scheduling"));
        assert!(replayed.timeline_text().contains("StopWorkers"));
    }

    #[test]
    fn a_corrupted_trace_is_refused_with_its_line_number() {
        let scenario = Scenario::from_seed(1);
        let setup = controller_setup(&scenario, None);
        let text = write(setup, &scenario, None, &steps(), Outcome::Ended).expect("writes");
        let mut lines: Vec<&str> = text.lines().collect();
        lines[2] = "{\"type\":\"step\",\"oops\":1}";
        let broken = lines.join("\n");
        let error = replay_text(&broken).unwrap_err();
        assert!(error.starts_with("line 3:"), "{error}");
        // A changed output is a divergence, not a parse error.
        let tampered = text.replacen("StopWorkers", "Running", 1);
        assert!(replay_text(&tampered).is_err());
    }
}
