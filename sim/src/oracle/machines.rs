//! Checks at the machines: the controller's invariants after each step, fencing and timers
//! before inputs at a worker's shell, and escalations no fault explains.

use super::{Check, Class, Failure};
use quiesce_core::controller::{invariants, Controller};
use quiesce_core::worker::{WorkerInput, WorkerRejected};
use quiesce_core::{Event, Generation, Input, Property, Reason, Rejected, Status, Time, Worker};

/// The controller's invariants after a step: [`invariants::check_input`] after an input,
/// [`invariants::check`] after a timeout (`input` is `None`). `before` is the status before the
/// step.
pub fn controller_step(
    before: &Status,
    input: Option<(&Input, &Result<(), Rejected>)>,
    after: &Controller,
    at: Time,
) -> Result<(), Failure> {
    let checked = match input {
        Some((input, result)) => invariants::check_input(before, input, result, after),
        None => invariants::check(Some(before), after),
    };
    checked.map_err(|v| Failure::new(Class::Correctness, v.property, at, v.detail))
}

/// The generation an input to a worker claims, if it claims one.
pub fn claimed_generation(input: &WorkerInput) -> Option<Generation> {
    match input {
        WorkerInput::Command(m) => Some(m.generation),
        WorkerInput::Data { generation, .. } => Some(*generation),
        _ => None,
    }
}

/// Fencing at a worker's shell: an input of another generation than the worker's must be
/// refused.
pub fn fencing(
    own: Generation,
    input: &WorkerInput,
    result: &Result<(), WorkerRejected>,
    at: Time,
) -> Result<(), Failure> {
    match claimed_generation(input) {
        Some(g) if g != own && result.is_ok() => Err(Failure::new(
            Class::Correctness,
            Property::StaleGenerationInert,
            at,
            format!("a worker of generation {own} accepted {input:?} of generation {g}"),
        )),
        _ => Ok(()),
    }
}

/// Timers before inputs at a worker: `late` took an input at or past its deadline; `timely`
/// is the same worker that fired its due timers first and then took the same input. Both
/// must answer alike, emit the same outputs, and end in the same state.
pub fn timers_before_inputs(
    late: &Worker,
    mut timely: Worker,
    result: &Result<(), WorkerRejected>,
    timely_result: &Result<(), WorkerRejected>,
    at: Time,
) -> Result<(), Failure> {
    let mut late = late.clone();
    let drain = |w: &mut Worker| std::iter::from_fn(|| w.poll_output()).collect::<Vec<_>>();
    let (late_out, timely_out) = (drain(&mut late), drain(&mut timely));
    if result == timely_result && late_out == timely_out && late == timely {
        return Ok(());
    }
    Err(Failure::new(
        Class::Correctness,
        Property::TimersBeforeInputs,
        at,
        format!(
            "a late input ({result:?}, {} outputs) did not act as if the due timers fired first \
             ({timely_result:?}, {} outputs)",
            late_out.len(),
            timely_out.len()
        ),
    ))
}

/// Needless escalation: an escalation a timeout forced (a stop that timed out, a final
/// checkpoint that timed out) or a kill left unconfirmed, in a run where no fault has struck
/// yet. Without a fault every effect answers within tens of milliseconds, far below every
/// timeout a scenario draws, so nothing should have had to wait that long.
pub fn needless_escalation(event: &Event, fault_struck: bool, at: Time) -> Result<(), Failure> {
    if fault_struck {
        return Ok(());
    }
    let what = match event {
        Event::Transition {
            reason:
                reason @ (Reason::StopTimedOut
                | Reason::FinalCheckpointTimedOut
                | Reason::KillUnconfirmed { .. }),
            to,
            ..
        } => format!("{to:?} for {reason:?}"),
        Event::KillRetried { attempt, .. } => format!("kill asked again (attempt {attempt})"),
        _ => return Ok(()),
    };
    Err(Failure::new(
        Class::NeedlessEscalation,
        Check::NoNeedlessEscalation,
        at,
        format!("{what}, though no fault had struck"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{Command, Epoch, State, StopJobMode, ToWorker};

    #[test]
    fn fencing_fails_only_when_another_generation_is_accepted() {
        let input = WorkerInput::Command(ToWorker {
            generation: Generation(2),
            command: Command::Stop {
                mode: StopJobMode::Immediate,
            },
        });
        let refused = Err(WorkerRejected::WrongGeneration {
            got: Generation(2),
            current: Generation(1),
        });
        assert_eq!(fencing(Generation(1), &input, &refused, Time(5)), Ok(()));
        assert_eq!(fencing(Generation(2), &input, &Ok(()), Time(5)), Ok(()));
        let failure = fencing(Generation(1), &input, &Ok(()), Time(5)).unwrap_err();
        assert_eq!(failure.property, Property::StaleGenerationInert);
        assert_eq!(failure.class, Class::Correctness);
        let local = WorkerInput::SnapshotDone {
            task: quiesce_core::TaskId {
                operator: quiesce_core::OperatorId(0),
                subtask: 0,
            },
            epoch: Epoch(1),
        };
        assert_eq!(fencing(Generation(1), &local, &Ok(()), Time(5)), Ok(()));
    }

    #[test]
    fn an_escalation_by_timeout_is_needless_only_when_no_fault_struck() {
        use quiesce_core::{StopJobMode, Stopping};
        let timed_out = Event::Transition {
            from: Some(State::Stopping(Stopping::StopJob(StopJobMode::Graceful))),
            to: State::Stopping(Stopping::StopWorkers),
            reason: Reason::StopTimedOut,
        };
        let failure = needless_escalation(&timed_out, false, Time(3)).unwrap_err();
        assert_eq!(failure.class, Class::NeedlessEscalation);
        assert_eq!(failure.property, Check::NoNeedlessEscalation);
        assert_eq!(needless_escalation(&timed_out, true, Time(3)), Ok(()));
        let retried = Event::KillRetried {
            generation: Generation(1),
            attempt: 2,
        };
        assert!(needless_escalation(&retried, false, Time(3)).is_err());
        let asked = Event::Transition {
            from: Some(State::Running),
            to: State::Stopping(Stopping::StopWorkers),
            reason: Reason::StopRequested(quiesce_core::StopMode::Force),
        };
        assert_eq!(
            needless_escalation(&asked, false, Time(3)),
            Ok(()),
            "the user asked"
        );
    }
}
