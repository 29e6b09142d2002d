//! Replay: a trace's lines fed back to a fresh machine, every outcome checked against the
//! recorded one.

use super::hash::{Chain, Digest};
use super::line::{Footer, Header, Line, MachineId, SetupLine, StepLine, FORMAT};
use super::{Machine, Step, StepOutcome};
use serde::Serialize;
use std::fmt;

/// The first step whose outcome differs from the recorded one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence<M: Machine> {
    /// The step: 0 is the construction, then 1, 2, … for the machine's steps in order.
    pub step: u64,
    /// What the trace says the step produced.
    pub expected: StepOutcome<M::Output, M::Rejected>,
    /// What the machine produced on replay.
    pub actual: StepOutcome<M::Output, M::Rejected>,
}

/// Why a trace could not be replayed to the end.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError<M: Machine> {
    /// The trace was written in a format this core does not read.
    UnknownFormat {
        /// The trace's format.
        found: u32,
        /// The one this core reads ([`FORMAT`]).
        supported: u32,
    },
    /// The first line is not a header.
    NoHeader,
    /// A line where its type cannot be (a second header, a step before any setup, anything
    /// after the footer). Lines are numbered from 1.
    Misplaced {
        /// The line's number.
        line: u64,
        /// The line's type (`setup`, `step` …).
        found: &'static str,
    },
    /// A setup or step line of a machine other than the one this replay follows.
    OtherMachine {
        /// The line's number.
        line: u64,
        /// The machine the line names.
        found: MachineId,
        /// The machine of the trace's setup line.
        expected: MachineId,
    },
    /// The trace ended before any setup line.
    NoSetup,
    /// The setup does not build a machine.
    Setup(M::SetupError),
    /// A step produced another outcome than recorded.
    Diverged(Divergence<M>),
    /// The footer's line count or hash disagrees with the lines before it.
    FooterMismatch {
        /// What the footer says: lines and hash.
        recorded: (u64, Digest),
        /// What was read: lines and hash.
        read: (u64, Digest),
    },
}

impl<M: Machine> fmt::Display for ReplayError<M>
where
    M::SetupError: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::UnknownFormat { found, supported } => write!(
                f,
                "trace format {found} is not readable by this core (it reads format {supported})"
            ),
            ReplayError::NoHeader => f.write_str("the trace does not begin with a header line"),
            ReplayError::Misplaced { line, found } => {
                write!(f, "line {line}: a {found} line cannot come here")
            }
            ReplayError::OtherMachine {
                line,
                found,
                expected,
            } => write!(
                f,
                "line {line}: a line of {found} in the trace of {expected}"
            ),
            ReplayError::NoSetup => f.write_str("the trace has no setup line"),
            ReplayError::Setup(e) => write!(f, "the trace's setup builds no machine: {e}"),
            ReplayError::Diverged(d) => write!(
                f,
                "step {} diverged: recorded {:?}, replayed {:?}",
                d.step, d.expected, d.actual
            ),
            ReplayError::FooterMismatch { recorded, read } => write!(
                f,
                "the footer says {} lines hashing to {}, the trace has {} lines hashing to {}",
                recorded.0, recorded.1, read.0, read.1
            ),
        }
    }
}

impl<M: Machine> std::error::Error for ReplayError<M> where M::SetupError: fmt::Display {}

/// A trace replayed to its end.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Replayed<M: Machine> {
    /// The machine after its last step.
    pub machine: M,
    /// The trace's header.
    pub header: Header,
    /// The number of steps replayed (not counting the construction).
    pub steps: u64,
    /// The footer, checked; `None` for a trace cut short.
    pub footer: Option<Footer>,
}

/// Where a [`Replayer`] stands in the trace.
#[derive(Clone, Debug)]
enum Stage<M: Machine> {
    Start,
    Headed(Header),
    Running {
        header: Header,
        machine: M,
        id: MachineId,
    },
    Ended(Replayed<M>),
}

/// Replays a trace line by line, as it is read, checking each step's outcome against the
/// recorded one; stops at the first line that is wrong. It follows one machine: a trace that
/// interleaves several is split by [`MachineId`] first, the lines of the others handed to
/// [`Replayer::pass`] so that the footer still checks.
#[derive(Clone, Debug)]
pub struct Replayer<M: Machine> {
    stage: Stage<M>,
    chain: Chain,
    steps: u64,
}

impl<M: Machine> Default for Replayer<M> {
    fn default() -> Self {
        Replayer::new()
    }
}

impl<M: Machine> Replayer<M> {
    /// A replayer before the first line.
    pub fn new() -> Replayer<M> {
        Replayer {
            stage: Stage::Start,
            chain: Chain::new(),
            steps: 0,
        }
    }

    /// The machine, once built.
    pub fn machine(&self) -> Option<&M> {
        match &self.stage {
            Stage::Running { machine, .. } => Some(machine),
            Stage::Ended(r) => Some(&r.machine),
            Stage::Start | Stage::Headed(_) => None,
        }
    }

    /// Takes the next line.
    pub fn line<E: Serialize>(&mut self, line: Line<M, E>) -> Result<(), ReplayError<M>> {
        let number = self.chain.lines() + 1;
        if let Line::Footer(footer) = line {
            return self.footer(number, footer);
        }
        self.chain.push(&line);
        let stage = std::mem::replace(&mut self.stage, Stage::Start);
        let misplaced = |found| ReplayError::Misplaced {
            line: number,
            found,
        };
        self.stage = match (stage, line) {
            (Stage::Start, Line::Header(header)) => Stage::Headed(check_format(header)?),
            (Stage::Start, _) => return Err(ReplayError::NoHeader),
            (Stage::Headed(header), Line::Setup(setup)) => build(number, header, setup)?,
            (
                Stage::Running {
                    header,
                    mut machine,
                    id,
                },
                Line::Step(step),
            ) => {
                if step.machine != id {
                    return Err(ReplayError::OtherMachine {
                        line: number,
                        found: step.machine,
                        expected: id,
                    });
                }
                self.steps += 1;
                check_step(&mut machine, self.steps, step)?;
                Stage::Running {
                    header,
                    machine,
                    id,
                }
            }
            (Stage::Running { id, .. }, Line::Setup(s)) if s.machine != id => {
                return Err(ReplayError::OtherMachine {
                    line: number,
                    found: s.machine,
                    expected: id,
                })
            }
            (stage @ (Stage::Headed(_) | Stage::Running { .. }), Line::Env(_)) => stage,
            (_, line) => return Err(misplaced(type_of(&line))),
        };
        Ok(())
    }

    /// Takes a setup, step or environment line of another machine of the same trace:
    /// counted and hashed for the footer, not replayed.
    pub fn pass<N: Machine, E: Serialize>(
        &mut self,
        line: &Line<N, E>,
    ) -> Result<(), ReplayError<M>> {
        let number = self.chain.lines() + 1;
        match (&self.stage, line) {
            (Stage::Start, _) => Err(ReplayError::NoHeader),
            (Stage::Ended(_), _) | (_, Line::Header(_) | Line::Footer(_)) => {
                Err(ReplayError::Misplaced {
                    line: number,
                    found: type_of(line),
                })
            }
            (Stage::Headed(_) | Stage::Running { .. }, _) => {
                self.chain.push(line);
                Ok(())
            }
        }
    }

    /// The end of the lines: the replayed machine, with the footer if the trace had one.
    pub fn finish(self) -> Result<Replayed<M>, ReplayError<M>> {
        match self.stage {
            Stage::Start => Err(ReplayError::NoHeader),
            Stage::Headed(_) => Err(ReplayError::NoSetup),
            Stage::Running {
                header, machine, ..
            } => Ok(Replayed {
                machine,
                header,
                steps: self.steps,
                footer: None,
            }),
            Stage::Ended(replayed) => Ok(replayed),
        }
    }

    fn footer(&mut self, number: u64, footer: Footer) -> Result<(), ReplayError<M>> {
        let read = (self.chain.lines(), self.chain.digest());
        let recorded = (footer.lines, footer.hash);
        if recorded != read {
            return Err(ReplayError::FooterMismatch { recorded, read });
        }
        self.stage = match std::mem::replace(&mut self.stage, Stage::Start) {
            Stage::Running {
                header, machine, ..
            } => Stage::Ended(Replayed {
                machine,
                header,
                steps: self.steps,
                footer: Some(footer),
            }),
            Stage::Start => return Err(ReplayError::NoHeader),
            Stage::Headed(_) => return Err(ReplayError::NoSetup),
            Stage::Ended(_) => {
                return Err(ReplayError::Misplaced {
                    line: number,
                    found: "footer",
                })
            }
        };
        Ok(())
    }
}

/// Replays a whole trace (see [`Replayer`]).
pub fn replay<M: Machine, E: Serialize>(
    lines: impl IntoIterator<Item = Line<M, E>>,
) -> Result<Replayed<M>, ReplayError<M>> {
    let mut replayer = Replayer::new();
    for line in lines {
        replayer.line(line)?;
    }
    replayer.finish()
}

fn check_format<M: Machine>(header: Header) -> Result<Header, ReplayError<M>> {
    if header.format == FORMAT {
        Ok(header)
    } else {
        Err(ReplayError::UnknownFormat {
            found: header.format,
            supported: FORMAT,
        })
    }
}

fn build<M: Machine>(
    number: u64,
    header: Header,
    line: SetupLine<M>,
) -> Result<Stage<M>, ReplayError<M>> {
    let mut machine = M::build(&line.setup).map_err(ReplayError::Setup)?;
    let id = M::id(&line.setup);
    if id != line.machine {
        return Err(ReplayError::OtherMachine {
            line: number,
            found: line.machine,
            expected: id,
        });
    }
    let expected = StepOutcome {
        rejected: None,
        outputs: line.outputs,
    };
    compare(&mut machine, 0, expected, None)?;
    Ok(Stage::Running {
        header,
        machine,
        id,
    })
}

fn check_step<M: Machine>(
    machine: &mut M,
    number: u64,
    line: StepLine<M>,
) -> Result<(), ReplayError<M>> {
    let rejected = match line.step {
        Step::Input { at, input } => machine.handle(at, input).err(),
        Step::Timeout { at } => {
            machine.handle_timeout(at);
            None
        }
    };
    let expected = StepOutcome {
        rejected: line.rejected,
        outputs: line.outputs,
    };
    compare(machine, number, expected, rejected)
}

fn compare<M: Machine>(
    machine: &mut M,
    step: u64,
    expected: StepOutcome<M::Output, M::Rejected>,
    rejected: Option<M::Rejected>,
) -> Result<(), ReplayError<M>> {
    let actual = StepOutcome {
        rejected,
        outputs: std::iter::from_fn(|| machine.poll_output()).collect(),
    };
    if actual == expected {
        Ok(())
    } else {
        Err(ReplayError::Diverged(Divergence {
            step,
            expected,
            actual,
        }))
    }
}

fn type_of<M: Machine, E>(line: &Line<M, E>) -> &'static str {
    match line {
        Line::Header(_) => "header",
        Line::Setup(_) => "setup",
        Line::Step(_) => "step",
        Line::Env(_) => "env",
        Line::Footer(_) => "footer",
    }
}
