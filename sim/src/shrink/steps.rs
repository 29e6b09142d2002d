//! The third stage, for a failure of the controller's own invariants: its input steps, cut by
//! delta debugging and replayed without the simulator (microseconds a try). The controller
//! promises its safety properties for any input sequence, so a smaller sequence that breaks
//! the same property is the same bug, even if no environment would send exactly it.

use super::ddmin::{ddmin, Tried};
use crate::oracle::{controller_step, Check, Failure};
use quiesce_core::controller::Controller;
use quiesce_core::trace::Step;
use quiesce_core::{ControllerSetup, Input};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The first step after which the controller's invariants fail, with the failure; `None` if
/// they hold throughout (or the setup builds no controller, or the controller panics).
pub fn first_violation(setup: &ControllerSetup, steps: &[Step<Input>]) -> Option<(usize, Failure)> {
    // A panic of the controller is no failure of an invariant: the candidate just does not
    // fail the same way.
    catch_unwind(AssertUnwindSafe(|| replay(setup, steps)))
        .ok()
        .flatten()
}

fn replay(setup: &ControllerSetup, steps: &[Step<Input>]) -> Option<(usize, Failure)> {
    let mut c = Controller::new(setup.clone()).ok()?;
    while c.poll_output().is_some() {}
    for (i, step) in steps.iter().enumerate() {
        let before = c.status();
        let checked = match step {
            Step::Input { at, input } => {
                let result = c.handle(*at, input.clone());
                controller_step(&before, Some((input, &result)), &c, *at)
            }
            Step::Timeout { at } => {
                c.handle_timeout(*at);
                controller_step(&before, None, &c, *at)
            }
            // A kind of step this replay does not know changes nothing.
            _ => Ok(()),
        };
        if let Err(f) = checked {
            return Some((i, f));
        }
        // The run carries out every output before the next step; nothing here needs them.
        while c.poll_output().is_some() {}
    }
    None
}

/// Steps shrunk: the ones kept, and how many replays it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShrunkSteps {
    /// The steps kept, in their order; the controller's invariants fail after the last.
    pub steps: Vec<Step<Input>>,
    /// The failure they end in.
    pub failure: Failure,
    /// Replays tried.
    pub replays: u64,
}

/// The steps of `steps` that still make the controller built from `setup` break `property`,
/// found in at most `max_replays` replays; `None` if `steps` themselves do not break it.
pub fn shrink_steps(
    setup: &ControllerSetup,
    steps: &[Step<Input>],
    property: Check,
    max_replays: u64,
) -> Option<ShrunkSteps> {
    let breaks = |steps: &[Step<Input>]| {
        first_violation(setup, steps).filter(|(_, f)| f.property == property)
    };
    let (last, _) = breaks(steps)?;
    // Nothing after the failing step matters.
    let mut replays = 1;
    let kept = ddmin(steps[..=last].to_vec(), |candidate| {
        if replays >= max_replays {
            return Tried::OutOfBudget;
        }
        replays += 1;
        match breaks(candidate) {
            Some(_) => Tried::Fails,
            None => Tried::Passes,
        }
    });
    // ddmin keeps only candidates that broke the property, so this finds it again.
    let (last, failure) = breaks(&kept)?;
    Some(ShrunkSteps {
        steps: kept[..=last].to_vec(),
        failure,
        replays,
    })
}

#[cfg(all(test, feature = "mutants"))]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::tracefile::controller_setup;
    use quiesce_core::controller::mutants::Mutant;
    use quiesce_core::{Event, Output, Property, Time, WorkerEvent, WorkerId};

    /// A run of a controller with `mutant` planted: its workers get ready, send heartbeats every
    /// 500 ms (and one of them a message of a generation that does not exist), the controller's
    /// timers fire when due, and every checkpoint it starts is acked by all its tasks at once.
    fn planted_run(mutant: Mutant) -> (ControllerSetup, Vec<Step<Input>>) {
        let scenario = Scenario::from_seed(7);
        let setup = controller_setup(&scenario, None).with_mutant(mutant);
        let mut c = Controller::new(setup.clone()).expect("a drawn setup builds");
        let mut steps = Vec::new();
        let job = scenario.job.clone();
        let mut apply = |c: &mut Controller, step: Step<Input>| {
            match &step {
                Step::Input { at, input } => drop(c.handle(*at, input.clone())),
                Step::Timeout { at } => c.handle_timeout(*at),
                _ => {}
            }
            steps.push(step);
            std::iter::from_fn(|| c.poll_output()).collect::<Vec<_>>()
        };
        let from = |w: u32, event| Input::from_worker(WorkerId(w), c_generation(), event);
        for w in 0..job.workers {
            apply(
                &mut c,
                Step::Input {
                    at: Time(5),
                    input: from(w, WorkerEvent::Ready),
                },
            );
        }
        let stale = Input::from_worker(
            WorkerId(0),
            quiesce_core::Generation(9),
            WorkerEvent::Heartbeat,
        );
        apply(
            &mut c,
            Step::Input {
                at: Time(6),
                input: stale,
            },
        );
        for t in (500..=40_000).step_by(500).map(Time) {
            let mut outputs = Vec::new();
            while let Some(at) = c.poll_timeout().filter(|&at| at <= t) {
                outputs.extend(apply(&mut c, Step::Timeout { at }));
            }
            for w in 0..job.workers {
                outputs.extend(apply(
                    &mut c,
                    Step::Input {
                        at: t,
                        input: from(w, WorkerEvent::Heartbeat),
                    },
                ));
            }
            for out in outputs {
                if let Output::Event(Event::CheckpointStarted { epoch, .. }) = out {
                    for task in job.tasks() {
                        let w = job.worker_of(task).expect("every task has a worker").0;
                        let ack = WorkerEvent::CheckpointAcked { task, epoch };
                        apply(
                            &mut c,
                            Step::Input {
                                at: t,
                                input: from(w, ack),
                            },
                        );
                    }
                }
            }
        }
        (setup, steps)
    }

    /// The generation of the run's only incarnation (no worker fails in [`planted_run`]).
    fn c_generation() -> quiesce_core::Generation {
        quiesce_core::Generation(1)
    }

    #[test]
    fn a_planted_bug_shrinks_to_steps_none_of_which_can_go() {
        let (setup, steps) = planted_run(Mutant::CommitBeforePersist);
        let property = Check::Property(Property::CommitAfterPersist);
        let (at, failure) = first_violation(&setup, &steps).expect("the bug is caught");
        assert_eq!(failure.property, property, "{failure}");
        let shrunk = shrink_steps(&setup, &steps, property, 10_000).expect("it shrinks");
        assert!(
            shrunk.steps.len() < at + 1,
            "{} of {}",
            shrunk.steps.len(),
            at + 1
        );
        assert_eq!(shrunk.failure.property, property);
        let (last, again) = first_violation(&setup, &shrunk.steps).expect("still caught");
        assert_eq!((last + 1, again.property), (shrunk.steps.len(), property));
        // One-minimal: without any one of the kept steps, the property holds.
        for i in 0..shrunk.steps.len() {
            let mut fewer = shrunk.steps.clone();
            fewer.remove(i);
            let caught = first_violation(&setup, &fewer).map(|(_, f)| f.property);
            assert_ne!(caught, Some(property), "step {i} could go too");
        }
        // The same steps without the bug break nothing.
        let clean = controller_setup(&Scenario::from_seed(7), None);
        assert_eq!(first_violation(&clean, &steps), None);
    }

    #[test]
    fn steps_that_do_not_break_the_property_do_not_shrink() {
        let (setup, steps) = planted_run(Mutant::CommitBeforePersist);
        let other = Check::Property(Property::StopTerminates);
        assert_eq!(shrink_steps(&setup, &steps, other, 100), None);
    }
}
