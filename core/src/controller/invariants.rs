//! The safety invariants of the design, as one function.
//!
//! [`check`] is asserted after every `handle*` call in debug builds; the model checker and the
//! simulator call the same function. Each check names its [`Property`].

use super::{Controller, Phase, RecoveryStage, Stage};
use crate::controller::io::{Input, Rejected, State, Status};
use crate::controller::timers::Timer;
use crate::property::Property;
use crate::protocol::StopMode;
use crate::protocol::WorkerEvent;

pub use crate::property::Violation;

fn ensure(ok: bool, property: Property, detail: impl FnOnce() -> String) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation {
            property,
            detail: detail(),
        })
    }
}

/// Checks every safety invariant of `c`, and, given the status before the last step, every
/// property of that step.
pub fn check(before: Option<&Status>, c: &Controller) -> Result<(), Violation> {
    check_state(c)?;
    if let Some(before) = before {
        check_step(before, &c.status())?;
    }
    Ok(())
}

fn check_state(c: &Controller) -> Result<(), Violation> {
    let state = c.phase.state();
    ensure(overdue(c).is_none(), Property::DeadlinesAhead, || {
        format!("{:?} is due before now ({})", overdue(c), c.now)
    })?;
    check_bounded(c, state)?;
    check_checkpoint(c, state)?;
    check_resolution(c)?;
    check_generations(c, state)?;
    check_stop(c, state)?;
    check_tasks(c)?;
    check_no_needless_wait(c, state)
}

/// A timer still armed with a deadline before the controller's time, if any: after every step,
/// each timer due by then has fired.
fn overdue(c: &Controller) -> Option<(Timer, crate::Time)> {
    c.timers.armed().find(|&(_, at)| at < c.now)
}

/// single_checkpoint_in_flight, epochs_increase, commit_after_persist, no_periodic_after_stop.
fn check_checkpoint(c: &Controller, state: State) -> Result<(), Violation> {
    if let Some(last) = c.last_completed {
        ensure(last < c.next_epoch, Property::EpochsIncrease, || {
            format!(
                "completed {last} is not below the next epoch {}",
                c.next_epoch
            )
        })?;
    }
    let Some(cp) = &c.checkpoint else {
        return Ok(());
    };
    ensure(
        matches!(
            state,
            State::Running | State::CheckpointStopping | State::Finishing
        ),
        Property::SingleCheckpointInFlight,
        || format!("checkpoint {} in flight in {state}", cp.epoch),
    )?;
    ensure(cp.epoch < c.next_epoch, Property::EpochsIncrease, || {
        format!(
            "in-flight {} is not below the next epoch {}",
            cp.epoch, c.next_epoch
        )
    })?;
    match cp.stage {
        Stage::Committing { remaining } => {
            ensure(
                c.last_completed == Some(cp.epoch) && !c.last_completed_committed,
                Property::CommitAfterPersist,
                || {
                    format!(
                        "committing {} but last persisted is {:?}",
                        cp.epoch, c.last_completed
                    )
                },
            )?;
            let marked = c
                .marks
                .iter()
                .zip(&c.two_phase)
                .filter(|(m, t)| **m && **t)
                .count();
            ensure(
                marked as u32 + remaining == c.two_phase_tasks,
                Property::CommitAfterPersist,
                || {
                    format!(
                        "{marked} commits seen + {remaining} to come != {} sinks",
                        c.two_phase_tasks
                    )
                },
            )?;
        }
        Stage::Barriers { remaining } => {
            let marked = c.marks.iter().filter(|m| **m).count();
            ensure(
                marked + remaining as usize == c.marks.len(),
                Property::SingleCheckpointInFlight,
                || {
                    format!(
                        "{marked} acks + {remaining} to come != {} tasks",
                        c.marks.len()
                    )
                },
            )?;
            ensure(
                c.last_completed < Some(cp.epoch),
                Property::EpochsIncrease,
                || {
                    format!(
                        "in-flight {} not above completed {:?}",
                        cp.epoch, c.last_completed
                    )
                },
            )?;
        }
        Stage::Persisting => {
            ensure(
                c.last_completed < Some(cp.epoch),
                Property::EpochsIncrease,
                || {
                    format!(
                        "in-flight {} not above completed {:?}",
                        cp.epoch, c.last_completed
                    )
                },
            )?;
        }
    }
    ensure(
        cp.then_stop == (c.final_epoch == Some(cp.epoch)),
        Property::NoPeriodicAfterStop,
        || {
            format!(
                "checkpoint {} then_stop={} but final is {:?}",
                cp.epoch, cp.then_stop, c.final_epoch
            )
        },
    )?;
    ensure(
        c.timers.is_armed(Timer::CheckpointTimeout),
        Property::CheckpointResolves,
        || format!("checkpoint {} in flight without a timeout", cp.epoch),
    )
}

/// single_checkpoint_in_flight: every checkpoint started is completed, aborted, or the one in
/// flight.
fn check_resolution(c: &Controller) -> Result<(), Violation> {
    let open = matches!(&c.checkpoint, Some(cp) if !matches!(cp.stage, Stage::Committing { .. }));
    let counters = c.counters;
    let resolved = counters.checkpoints_completed + counters.checkpoints_aborted;
    let unresolved = counters.checkpoints_started.saturating_sub(resolved);
    ensure(
        unresolved == u64::from(open),
        Property::SingleCheckpointInFlight,
        || {
            format!(
                "{unresolved} checkpoints started and not resolved, {} tracked",
                u8::from(open)
            )
        },
    )?;
    Ok(())
}

/// Every wait has a timeout: each non-terminal state has the timer that bounds it; terminal
/// states have none.
fn check_bounded(c: &Controller, state: State) -> Result<(), Violation> {
    // The stop timeout bounds StopJob alone; the final checkpoint's timer bounds the whole of
    // CheckpointStopping and Finishing, the tasks' finish included.
    let stop_timeout_elsewhere =
        c.timers.is_armed(Timer::Stop) && !matches!(c.phase, Phase::StopJob(_));
    ensure(!stop_timeout_elsewhere, Property::StopTerminates, || {
        format!("the stop timeout is armed in {state}")
    })?;
    let bound = match &c.phase {
        Phase::Scheduling { .. } => Some(Timer::Scheduling),
        Phase::Running => Some(Timer::Heartbeat),
        Phase::CheckpointStopping | Phase::Finishing => Some(Timer::FinalCheckpoint),
        Phase::StopJob(_) => Some(Timer::Stop),
        Phase::StopWorkers { .. } | Phase::Recovering(RecoveryStage::Killing { .. }) => {
            Some(Timer::Kill)
        }
        Phase::Recovering(RecoveryStage::Backoff) => Some(Timer::RestartBackoff),
        Phase::Stopped | Phase::Finished | Phase::Failed => None,
    };
    match bound {
        Some(timer) => ensure(c.timers.is_armed(timer), Property::StopTerminates, || {
            format!("{state} waits without its {timer:?} timer")
        }),
        None => ensure(
            c.timers.armed().next().is_none() && c.cleanup.is_none(),
            Property::TerminalAbsorbs,
            || {
                format!(
                    "{state} still has timers armed: {:?}",
                    c.timers.armed().collect::<Vec<_>>()
                )
            },
        ),
    }
}

/// single_generation_running: a generation above the first starts only once the one before
/// it is confirmed gone.
fn check_generations(c: &Controller, state: State) -> Result<(), Violation> {
    let first = c.generation == super::FIRST_GENERATION && c.stopped_generation.is_none();
    let previous_gone = c
        .stopped_generation
        .is_some_and(|g| g.0.saturating_add(1) >= c.generation.0);
    ensure(
        first || previous_gone,
        Property::SingleGenerationRunning,
        || {
            format!(
                "{} in {state} but last confirmed gone is {:?}",
                c.generation, c.stopped_generation
            )
        },
    )?;
    ensure(
        c.stopped_generation.is_none_or(|g| g <= c.generation),
        Property::SingleGenerationRunning,
        || {
            format!(
                "{:?} confirmed gone is above the current {}",
                c.stopped_generation, c.generation
            )
        },
    )
}

/// checkpoint_stop_commits_final and the stop level matching the state.
fn check_stop(c: &Controller, state: State) -> Result<(), Violation> {
    if state == State::Stopped && c.stop == Some(StopMode::Checkpoint) {
        let committed = c.final_epoch.is_some()
            && c.last_completed == c.final_epoch
            && c.last_completed_committed
            && c.tasks.iter().all(|t| *t == super::TaskRun::Finished);
        ensure(committed, Property::CheckpointStopCommitsFinal, || {
            format!(
                "Stopped by a checkpoint stop with final {:?}, completed {:?} (committed {}), {}/{} tasks finished",
                c.final_epoch,
                c.last_completed,
                c.last_completed_committed,
                c.ended_tasks,
                c.tasks.len()
            )
        })?;
    }
    if state == State::Finished {
        let committed = c.final_epoch.is_some()
            && c.last_completed == c.final_epoch
            && c.last_completed_committed
            && c.tasks.iter().all(|t| *t == super::TaskRun::Finished);
        ensure(committed, Property::EndOfInputCommitsFinal, || {
            format!(
                "Finished with final {:?}, completed {:?} (committed {})",
                c.final_epoch, c.last_completed, c.last_completed_committed
            )
        })?;
    }
    let level_matches = match &c.phase {
        Phase::CheckpointStopping => c.stop == Some(StopMode::Checkpoint),
        Phase::StopJob(mode) => c.stop == Some((*mode).into()),
        Phase::Running | Phase::Scheduling { .. } | Phase::Recovering(_) | Phase::Finishing => {
            c.stop.is_none()
        }
        _ => true,
    };
    ensure(level_matches, Property::EscalationMonotone, || {
        format!("stop level {:?} in {state}", c.stop)
    })?;
    ensure(
        c.stop_requested <= c.stop,
        Property::EscalationImmediate,
        || {
            format!(
                "a {:?} stop was asked for but the level is {:?}",
                c.stop_requested, c.stop
            )
        },
    )
}

fn check_tasks(c: &Controller) -> Result<(), Violation> {
    let ended = c.tasks.iter().filter(|t| !t.alive()).count();
    ensure(
        ended == c.ended_tasks as usize,
        Property::TaskAccounting,
        || format!("{ended} tasks ended but {} counted", c.ended_tasks),
    )
}

/// no_needless_wait: once every task of the generation has ended, a stop that waits on its
/// tasks (CheckpointStopping, StopJob) or the end of input (Finishing) is over, unless its
/// final checkpoint is still in flight, collecting what its tasks sent before they finished
/// (acks, commits) or waiting for its metadata to be stored. Nothing is left for a timer.
/// Likewise a checkpoint asked for on demand waits only while Running with a checkpoint or a
/// cleanup in flight.
fn check_no_needless_wait(c: &Controller, state: State) -> Result<(), Violation> {
    if let Some(request) = c.queued_request {
        let blocked = c.phase == Phase::Running && (c.checkpoint.is_some() || c.cleanup.is_some());
        let in_flight = c.checkpoint.as_ref().and_then(|cp| cp.request);
        ensure(
            blocked && in_flight != Some(request),
            Property::NoNeedlessWait,
            || {
                format!(
                    "request {} waits in {state} with {:?} in flight and cleanup {:?}",
                    request.0,
                    c.checkpoint.as_ref().map(|cp| cp.epoch),
                    c.cleanup
                )
            },
        )?;
    }
    if (c.ended_tasks as usize) < c.tasks.len() {
        return Ok(());
    }
    let waits = matches!(
        c.phase,
        Phase::CheckpointStopping | Phase::StopJob(_) | Phase::Finishing
    );
    let final_in_flight = !matches!(c.phase, Phase::StopJob(_))
        && c.checkpoint
            .as_ref()
            .is_some_and(|cp| Some(cp.epoch) == c.final_epoch);
    ensure(!waits || final_in_flight, Property::NoNeedlessWait, || {
        format!(
            "every task ended but {state} waits on, final checkpoint {:?} in flight {:?}",
            c.final_epoch,
            c.checkpoint.as_ref().map(|cp| cp.epoch)
        )
    })
}

/// The properties of one step: epochs_increase, escalation_monotone, terminal_absorbs.
fn check_step(before: &Status, after: &Status) -> Result<(), Violation> {
    if before.stop.is_some() && after.last_epoch > before.last_epoch {
        let final_started = after.in_flight.is_some_and(|f| f.then_stop)
            || after.final_checkpoint == after.last_epoch;
        ensure(final_started, Property::NoPeriodicAfterStop, || {
            format!(
                "{:?} started after the stop request is not the final checkpoint",
                after.last_epoch
            )
        })?;
    }
    ensure(
        after.last_epoch >= before.last_epoch,
        Property::EpochsIncrease,
        || {
            format!(
                "last epoch went from {:?} to {:?}",
                before.last_epoch, after.last_epoch
            )
        },
    )?;
    ensure(
        after.last_completed >= before.last_completed,
        Property::EpochsIncrease,
        || {
            format!(
                "completed went from {:?} to {:?}",
                before.last_completed, after.last_completed
            )
        },
    )?;
    ensure(
        after.stop >= before.stop,
        Property::EscalationMonotone,
        || format!("stop level went from {:?} to {:?}", before.stop, after.stop),
    )?;
    ensure(
        after.generation >= before.generation,
        Property::SingleGenerationRunning,
        || {
            format!(
                "generation went from {} to {}",
                before.generation, after.generation
            )
        },
    )?;
    if before.state.is_terminal() {
        ensure(after == before, Property::TerminalAbsorbs, || {
            format!("{} changed: {before:?} -> {after:?}", before.state)
        })?;
    }
    Ok(())
}

/// Everything [`check`] checks, plus the properties of the input that made the step:
/// timers_before_inputs (the timers due by the input's time fired before it, accepted or
/// not), no_needless_wait (an accepted finish or failure of a task counts it as ended at
/// once, so that nothing waits for it again), stale_generation_inert (a message of another
/// generation is refused),
/// escalation_immediate (an accepted stop request takes effect in the same step), and
/// dead_task_escalates (a failed task or lost worker during a stop escalates at once).
///
/// `before` is the status before the call; the timers that fire first are part of the step.
pub fn check_input(
    before: &Status,
    input: &Input,
    result: &Result<(), Rejected>,
    after: &Controller,
) -> Result<(), Violation> {
    ensure(
        overdue(after).is_none(),
        Property::TimersBeforeInputs,
        || {
            format!(
                "{input:?} taken at {} with {:?} still due",
                after.now,
                overdue(after)
            )
        },
    )?;
    check(Some(before), after)?;
    if result.is_err() {
        return Ok(());
    }
    let now = after.status();
    if let Input::Worker(crate::FromWorker {
        event: WorkerEvent::TaskFinished { task } | WorkerEvent::TaskFailed { task, .. },
        ..
    }) = input
    {
        let ended = after
            .plan
            .index_of(*task)
            .is_some_and(|i| !after.tasks[i].alive());
        ensure(ended, Property::NoNeedlessWait, || {
            format!("accepted {input:?} but {task} still counts as running")
        })?;
    }
    let generation = match input {
        Input::Worker(msg) => Some(msg.generation),
        Input::SchedulerFailed { generation, .. }
        | Input::WorkerExited { generation, .. }
        | Input::WorkersStopped { generation } => Some(*generation),
        _ => None,
    };
    // Only a timer starts a generation, and timers fire before the input: the input was
    // taken in the generation it finds.
    if let Some(generation) = generation {
        ensure(
            generation == now.generation,
            Property::StaleGenerationInert,
            || {
                format!(
                    "accepted {input:?} of {generation} while {} runs",
                    now.generation
                )
            },
        )?;
    }
    if let Input::Stop(mode) = input {
        ensure(
            now.state.is_terminal() || now.stop >= Some(*mode),
            Property::EscalationImmediate,
            || {
                format!(
                    "accepted stop {mode} but the stop level is {:?} in {}",
                    now.stop, now.state
                )
            },
        )?;
    }
    let dead = matches!(
        input,
        Input::Worker(crate::FromWorker {
            event: WorkerEvent::TaskFailed { .. },
            ..
        }) | Input::WorkerExited { .. }
    );
    let stopping = matches!(
        before.state,
        State::CheckpointStopping | State::Stopping(crate::Stopping::StopJob(_))
    );
    if dead && stopping {
        ensure(now.stop > before.stop, Property::DeadTaskEscalates, || {
            format!(
                "{input:?} in {} left the stop at {:?}",
                before.state, now.stop
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ControllerSetup, FromWorker, Generation, Job, Time, WorkerId};

    /// A graceful stop of a one-worker job, Running at 0.
    fn stopping_gracefully() -> Controller {
        let job = Job::builder("t", 1)
            .source("src", 1)
            .sink("sink", 1)
            .edge("src", "sink")
            .build()
            .expect("a valid job");
        let mut c = Controller::new(ControllerSetup::new(job, Config::default(), Time(0)))
            .expect("a valid setup");
        let ready = Input::Worker(FromWorker {
            worker: WorkerId(0),
            generation: Generation(1),
            event: WorkerEvent::Ready,
        });
        c.handle(Time(0), ready).expect("ready");
        c.handle(Time(0), Input::Stop(StopMode::Graceful))
            .expect("stop");
        c
    }

    #[test]
    fn a_stop_that_waits_on_after_every_task_ended_breaks_no_needless_wait() {
        let mut c = stopping_gracefully();
        assert_eq!(check(None, &c), Ok(()));
        // What a stop that missed its last finish would look like.
        c.tasks.fill(super::super::TaskRun::Finished);
        c.ended_tasks = c.tasks.len() as u32;
        let violation = check(None, &c).expect_err("every task ended, the stop waits on");
        assert_eq!(violation.property, Property::NoNeedlessWait);
    }
}
