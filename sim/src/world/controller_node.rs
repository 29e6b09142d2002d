//! The controller's node: the core's controller, driven by the run-loop contract, with the
//! parts of its environment a deployment co-locates with it — the scheduler, the metadata
//! store, cleanup — and the user, who asks for stops and checkpoints as the scenario plans.

use super::scheduler;
use super::shared::{ToController, World};
use super::wait::{wait, Timed};
use crate::env::{End, Kill};
use crate::oracle::{self, RecoveryClock, StopClock};
use crate::scenario::{Scenario, StopAt};
use crate::tracefile::{controller_setup, Traced};
use quiesce_core::controller::Controller;
use quiesce_core::trace::MachineId;
use quiesce_core::{
    Event, Input, Output, Reason, RequestId, State, StopJobMode, Stopping, Time, WorkerInput,
};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// Something the controller's environment owes it, at a time.
#[derive(Debug)]
pub enum Local {
    /// An input for the controller (an effect's outcome, a user's request).
    Input(Input),
    /// The scheduler starts a generation's workers.
    Start {
        generation: quiesce_core::Generation,
        restore: Option<quiesce_core::Epoch>,
    },
    /// The scheduler has killed a generation's workers and confirms it.
    Killed(quiesce_core::Generation),
    /// Metadata of a checkpoint is stored (or failed to be).
    Persisted {
        epoch: quiesce_core::Epoch,
        generation: quiesce_core::Generation,
        ok: bool,
    },
    /// Old checkpoints are deleted.
    Cleaned(quiesce_core::Epoch),
}

/// Runs the controller until it ends or the run is over.
pub async fn run(world: World, mut rx: UnboundedReceiver<ToController>) {
    let (scenario, planted, trace) = {
        let s = world.lock();
        (s.scenario.clone(), s.planted, s.trace.clone())
    };
    let mut c: Traced<Controller> = match Traced::join(controller_setup(&scenario, planted), trace)
    {
        Ok(c) => c,
        Err(e) => {
            let at = world.now();
            world.fail(oracle::Failure::new(
                oracle::Class::Crash,
                oracle::Check::SetupAccepted,
                at,
                format!("the scenario's setup was refused: {e}"),
            ));
            return;
        }
    };
    let alarm = world.lock().controller_alarm.clone();
    let mut local: Timed<Local> = Timed::default();
    plan_user(&scenario, &mut local);
    let mut clocks = Clocks::default();
    let bound_ms = scenario.config.stop_bound_ms();
    loop {
        let now = world.now();
        carry_out(&world, &mut c, &scenario, &mut local, &mut clocks);
        if let Some((state, at)) = terminal(c.machine(), now) {
            let checked = {
                let s = world.lock();
                let ending = oracle::Ending {
                    state,
                    restore: c.machine().restore_point(),
                    last_completed: c.machine().status().last_completed,
                };
                let job = &s.scenario.job;
                let drained = || {
                    if !clocks.drained {
                        return Ok(());
                    }
                    let generation = c.machine().status().generation;
                    oracle::graceful_drain(job, generation, &s.partitions, &s.ledger, at)
                };
                oracle::end_of_run(job, &ending, &s.checkpoints, &s.partitions, &s.ledger, at)
                    .and_then(|()| drained())
            };
            if let Err(f) = checked {
                world.fail(f);
            }
            world.lock().ended = Some((state, at));
            return;
        }
        let (stop_bound_ms, recovery_extra_ms) = {
            let s = world.lock();
            let stalled = |since: Option<Time>| since.map_or(0, |t| s.stalled_ms(t, now));
            (
                bound_ms + stalled(clocks.stop.stopped_at()),
                stalled(clocks.recovery.since()),
            )
        };
        if let Err(f) = clocks.stop.check(now, false, stop_bound_ms) {
            world.fail(f);
        }
        if let Err(f) = clocks
            .recovery
            .check(now, c.machine().state(), recovery_extra_ms)
        {
            world.fail(f);
        }
        if world.over() {
            return;
        }
        if let Some(input) = world.controller_message(now) {
            handle(&world, &mut c, now, input, &mut clocks.stop);
            continue;
        }
        if let Some(event) = local.pop_due(now) {
            if let Some(input) = scheduler::carry_out(&world, &scenario, now, event) {
                handle(&world, &mut c, now, input, &mut clocks.stop);
            }
            continue;
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            let before = c.machine().status();
            c.handle_timeout(now);
            world.step(now);
            if let Err(f) = oracle::controller_step(&before, None, c.machine(), now) {
                world.fail(f);
            }
            continue;
        }
        let deadline = [
            world.lock().controller_inbox.next_at(),
            local.next_at(),
            c.poll_timeout(),
            // Wake just past the bounds, to see whether they were kept.
            clocks.stop.deadline(stop_bound_ms).map(|t| t.plus_ms(1)),
            clocks
                .recovery
                .deadline(recovery_extra_ms)
                .map(|t| t.plus_ms(1)),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(ToController::At(at, input)) = wait(&world, &alarm, deadline, &mut rx).await {
            local.push(at, Local::Input(input));
        }
    }
}

/// The oracles' clocks, whether the first recovery was seen (for the user's plan), and
/// whether a graceful stop drained the job (every task finished).
#[derive(Default)]
struct Clocks {
    stop: StopClock,
    recovery: RecoveryClock,
    recovered_once: bool,
    drained: bool,
}

/// The controller's state and when it was reached, once terminal.
fn terminal(c: &Controller, now: Time) -> Option<(State, Time)> {
    let state = c.state();
    state.is_terminal().then_some((state, now))
}

/// The user's requests that come at a fixed time: stops, on-demand checkpoints, and the
/// closing stop once the environment has healed.
fn plan_user(scenario: &Scenario, local: &mut Timed<Local>) {
    for r in &scenario.stops.requests {
        if let StopAt::Time { at_ms } = r.at {
            local.push(Time(at_ms), Local::Input(Input::Stop(r.mode)));
        }
    }
    for (n, &at_ms) in scenario.stops.checkpoints.iter().enumerate() {
        let request = RequestId(n as u64 + 1);
        local.push(
            Time(at_ms),
            Local::Input(Input::TriggerCheckpoint { request }),
        );
    }
    let closing = Input::Stop(scenario.stops.closing);
    local.push(Time(scenario.closing_stop_ms()), Local::Input(closing));
}

/// One input to the controller, with the invariants checked after it.
fn handle(
    world: &World,
    c: &mut Traced<Controller>,
    now: Time,
    input: Input,
    stops: &mut StopClock,
) {
    let before = c.machine().status();
    let result = c.handle(now, input.clone());
    world.step(now);
    if let Err(f) = oracle::controller_step(&before, Some((&input, &result)), c.machine(), now) {
        world.fail(f);
    }
    if let Err(r) = &result {
        world.lock().coverage.rejection(r);
    }
    if matches!(input, Input::Stop(_)) && result.is_ok() {
        stops.stop(now);
    }
}

/// Carries out every output of the controller, in order.
fn carry_out(
    world: &World,
    c: &mut Traced<Controller>,
    scenario: &Arc<Scenario>,
    local: &mut Timed<Local>,
    clocks: &mut Clocks,
) {
    while let Some(out) = c.poll_output() {
        let now = world.now();
        match out {
            Output::StartWorkers {
                generation,
                restore,
            } => {
                let outcome = {
                    let mut s = world.lock();
                    let outcome = s.effects.start(scenario, now.0);
                    s.note_effects(now, MachineId::Controller);
                    outcome
                };
                if outcome.ok {
                    local.push(
                        now.plus_ms(outcome.after_ms),
                        Local::Start {
                            generation,
                            restore,
                        },
                    );
                } else {
                    let reason = "the scheduler could not start the workers".to_string();
                    let input = Input::SchedulerFailed { generation, reason };
                    local.push(now.plus_ms(outcome.after_ms), Local::Input(input));
                }
            }
            Output::StopWorkers { generation } => {
                let kill = {
                    let mut s = world.lock();
                    let kill = s.effects.kill(scenario, now.0);
                    s.note_effects(now, MachineId::Controller);
                    kill
                };
                // A kill that is never confirmed leaves the workers running: zombies.
                if let Kill::ConfirmedAfter(ms) = kill {
                    local.push(now.plus_ms(ms), Local::Killed(generation));
                }
            }
            Output::Send { worker, message } => {
                let input = WorkerInput::Command(message);
                world.to_worker(now, End::Controller, worker, input);
            }
            Output::PersistMetadata { epoch, generation } => {
                let outcome = {
                    let mut s = world.lock();
                    let outcome = s.effects.persist(scenario, now.0);
                    s.note_effects(now, MachineId::Controller);
                    outcome
                };
                local.push(
                    now.plus_ms(outcome.after_ms),
                    Local::Persisted {
                        epoch,
                        generation,
                        ok: outcome.ok,
                    },
                );
            }
            Output::Cleanup { before } => {
                let after = {
                    let mut s = world.lock();
                    let after = s.effects.cleanup(scenario, now.0);
                    s.note_effects(now, MachineId::Controller);
                    after
                };
                local.push(now.plus_ms(after), Local::Cleaned(before));
            }
            Output::ReleaseWorkers { .. } => {}
            Output::Event(event) => {
                let struck = {
                    let mut s = world.lock();
                    s.coverage.event(&event);
                    !s.coverage.faults.is_empty() || !s.effects.struck().is_empty()
                };
                if let Err(f) = oracle::needless_escalation(&event, struck, now) {
                    world.fail(f);
                }
                if let Event::CheckpointCompleted { epoch } = event {
                    let s = world.lock();
                    let checked = oracle::keyed_state(&s.scenario.job, epoch, &s.checkpoints, now);
                    drop(s);
                    if let Err(f) = checked {
                        world.fail(f);
                    }
                }
                observe(scenario, now, &event, local, clocks);
            }
        }
    }
}

/// What the user and the oracles learn from the controller's events.
fn observe(
    scenario: &Scenario,
    now: Time,
    event: &Event,
    local: &mut Timed<Local>,
    clocks: &mut Clocks,
) {
    let Event::Transition { from, to, reason } = event else {
        return;
    };
    clocks.recovery.enter(*to, now, &scenario.config);
    let graceful = Some(State::Stopping(Stopping::StopJob(StopJobMode::Graceful)));
    clocks.drained = *to == State::Stopped && *from == graceful;
    // The time to live ends the job like a stop request, with the same bound.
    if *reason == Reason::TtlExpired {
        clocks.stop.stop(now);
    }
    if *to == State::Recovering && !clocks.recovered_once {
        clocks.recovered_once = true;
        for r in &scenario.stops.requests {
            if let StopAt::Recovering { after_ms } = r.at {
                local.push(now.plus_ms(after_ms), Local::Input(Input::Stop(r.mode)));
            }
        }
    }
}
