//! Trace files: the core's versioned JSON Lines format ([`quiesce_core::trace`]) holding a
//! whole simulated run — every machine and what the environment did — and their replay
//! without the simulator.
//!
//! A trace file is, line by line:
//!
//! 1. the core's header (format and core version);
//! 2. the scenario, as an environment line at time 0:
//!    `{"type":"env","at":0,"event":{"kind":"scenario","mutant":…,"scenario":{…}}}` — the
//!    seed's whole world and the known bug it ran with (the CLI name, or null), so that a
//!    reader (`shrink`) can run it again;
//! 3. the setup and step lines of the controller and of every worker incarnation (each names
//!    its [`MachineId`]: `"controller"`, or `{"worker":{"worker":W,"generation":G}}`),
//!    interleaved in the order they happened, written by the core's [`Recorder`] as each
//!    machine runs;
//! 4. environment lines ([`EnvEvent`]) for what the simulator did that no step line shows:
//!    faults that struck, effects that failed or were slow, processes that died, stop
//!    commands a worker ignored, and at the end the verdict;
//! 5. a footer: the outcome and the running hash ([`Chain`]) of every line before it.
//!
//! Deliveries are not environment lines: every message that reached a machine is already
//! the input of one of its step lines, so a line per delivery would double the file for
//! nothing. What never reached anyone (a lost control message, heartbeats dropped for a
//! while) is named by the fault's line instead.
//!
//! Every run writes its trace onto a [`Tape`]: a sweep keeps only the run's hash of the
//! lines, a failing seed's re-run keeps the text as well (and the footer's hash), and must
//! arrive at the same run's hash, or its trace is not written. [`replay_text`] rebuilds each
//! machine from the file alone, checks every output and prints the decisions.
//!
//! [`Recorder`]: quiesce_core::trace::Recorder
//! [`Chain`]: quiesce_core::trace::Chain

mod read;
mod tape;
mod traced;

pub use read::{controller_steps, replay_machines, replay_text, Entry, Only, Replayed};
pub use tape::Tape;
pub use traced::{Hashing, Traced};

use crate::oracle::Failure;
use crate::planted::Planted;
use crate::scenario::{Fault, FaultKind, Scenario};
use quiesce_core::controller::Controller;
use quiesce_core::trace::{MachineId, Outcome, Step};
use quiesce_core::{ControllerSetup, Generation, Input, State, Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The controller of `scenario`, with the known bug `planted` if it is a controller's.
pub fn controller_setup(scenario: &Scenario, planted: Option<Planted>) -> ControllerSetup {
    let setup = ControllerSetup::new(scenario.job.clone(), scenario.config, Time(0));
    match planted {
        #[cfg(feature = "mutants")]
        Some(Planted::Controller(m)) => setup.with_mutant(m),
        _ => setup,
    }
}

/// The trace file of a controller alone, built from `setup` and given `steps`, ending with
/// `outcome`: the header, the scenario's line (naming `scenario` and `planted`), the
/// controller's lines, the footer. A step refused is recorded refused, and the run goes on.
pub fn write(
    setup: ControllerSetup,
    scenario: &Scenario,
    planted: Option<Planted>,
    steps: &[Step<Input>],
    outcome: Outcome,
) -> Result<String, String> {
    let tape = Tape::new(scenario, planted.map(Planted::cli_name), true);
    let mut c: Traced<Controller> =
        Traced::join(setup, tape.clone()).map_err(|e| format!("setup refused: {e}"))?;
    for step in steps {
        match step {
            Step::Input { at, input } => drop(c.handle(*at, input.clone())),
            Step::Timeout { at } => c.handle_timeout(*at),
            _ => return Err("a step of a kind this writer does not know".into()),
        }
        while c.poll_output().is_some() {}
    }
    tape.finish(outcome)?
        .ok_or_else(|| "the tape kept no text".into())
}

/// What the simulator's environment did: the event of a trace's environment lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnvEvent {
    /// The world the run simulates (always the trace's second line, at time 0).
    Scenario {
        /// The known bug switched on, by its CLI name.
        mutant: Option<String>,
        /// The scenario.
        scenario: Box<Scenario>,
    },
    /// A planned fault struck (a hang, a crash, a task failure, a clog, a reset, heartbeats
    /// lost, the controller stalled).
    Fault {
        /// The fault.
        fault: Fault,
    },
    /// A hang or a stall is over: the machine's process runs again.
    Resumed {
        /// The machine.
        machine: MachineId,
    },
    /// The chaos phase is over: every fault but the permanent ones heals.
    Healed,
    /// A fault of an effect struck one operation of a machine (a snapshot, a commit, a
    /// metadata write, a start or kill of workers, a cleanup, a control message).
    Effect {
        /// Which fault.
        fault: FaultKind,
        /// The machine whose operation it struck.
        machine: MachineId,
    },
    /// A worker's process died (crashed, or its commit failed); the scheduler notices after
    /// this long, or never.
    Died {
        /// The worker slot.
        worker: WorkerId,
        /// Its generation.
        generation: Generation,
        /// When the scheduler reports the exit, if ever.
        noticed_after_ms: Option<u64>,
    },
    /// A worker that ignores stops dropped a stop command without handling it.
    StopIgnored {
        /// The worker.
        machine: MachineId,
    },
    /// The run passed: every check held, the controller ended in this state.
    Passed {
        /// The controller's terminal state.
        state: State,
    },
    /// The run failed a check.
    Failed {
        /// The failure.
        failure: Failure,
    },
}

impl fmt::Display for EnvEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvEvent::Scenario {
                mutant: Some(m),
                scenario,
            } => write!(f, "scenario of seed {} with bug {m}", scenario.seed),
            EnvEvent::Scenario { scenario, .. } => write!(f, "scenario of seed {}", scenario.seed),
            EnvEvent::Fault { fault } => write!(f, "fault: {fault}"),
            EnvEvent::Resumed { machine } => write!(f, "{machine} runs again"),
            EnvEvent::Healed => f.write_str("chaos over: the environment heals"),
            EnvEvent::Effect { fault, machine } => write!(f, "{fault} strikes {machine}"),
            EnvEvent::Died {
                worker,
                generation,
                noticed_after_ms,
            } => {
                write!(f, "worker {} (gen {}) died", worker.0, generation.0)?;
                match noticed_after_ms {
                    Some(ms) => write!(f, "; the scheduler notices after {ms} ms"),
                    None => f.write_str("; the scheduler never notices"),
                }
            }
            EnvEvent::StopIgnored { machine } => write!(f, "{machine} ignores a stop command"),
            EnvEvent::Passed { state } => write!(f, "passed: the job ended {state}"),
            EnvEvent::Failed { failure } => write!(f, "FAILED {failure}"),
        }
    }
}

#[cfg(test)]
mod tests;
