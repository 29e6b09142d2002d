//! What a step is checked for: its outputs, and the controller after it.

use super::{same, Timer};
use crate::support::{self, transitions, Harness};
use quiesce_core::{Command, Epoch, Event, Output, Reason, State, StopMode};

/// One check of a step's outputs or of the controller after it, with why it matters.
pub struct Check {
    what: What,
    why: Option<&'static str>,
}

enum What {
    Quiet,
    Outputs(Vec<Output>),
    Effects(Vec<Output>),
    EffectCount(usize),
    HasEffect(Output),
    Commands(Vec<(u32, Command)>),
    HasEvent(Event),
    Transitions(Vec<(Option<State>, State, Reason)>),
    State(State),
    Timer(Timer, Option<u64>),
    TimerCount(usize),
    StopMode(Option<StopMode>),
    FinalCheckpoint(Option<Epoch>),
    InFlight(Option<Epoch>),
    LastCompleted(Option<Epoch>),
    LastCompletedCommitted(bool),
    Generation(u64),
    StoppedGeneration(Option<u64>),
    Restarts(u32),
    RestartCount(u64),
    RestorePoint(Option<(Epoch, bool)>),
    ForceBound(u64),
    NowWithinForceBound,
}

impl Check {
    /// Says why the check matters; shown when it fails.
    pub fn why(mut self, why: &'static str) -> Check {
        self.why = Some(why);
        self
    }

    pub(super) fn assert(&self, context: &str, out: &[Output], h: &Harness) {
        let context = match self.why {
            Some(why) => format!("{context} [{why}]"),
            None => context.to_owned(),
        };
        let c = &context;
        let status = h.c.status();
        match &self.what {
            What::Quiet => same(c, "outputs", out.to_vec(), vec![]),
            What::Outputs(v) => same(c, "outputs", out.to_vec(), v.clone()),
            What::Effects(v) => same(c, "effects", support::effects(out), v.clone()),
            What::EffectCount(n) => same(c, "number of effects", support::effects(out).len(), *n),
            What::HasEffect(o) => among(c, o, out),
            What::Commands(v) => same(c, "commands", support::commands(out), v.clone()),
            What::HasEvent(e) => among(c, &Output::Event(e.clone()), out),
            What::Transitions(v) => same(c, "transitions", transitions(out), v.clone()),
            What::State(s) => same(c, "state", h.state(), *s),
            What::Timer(t, at) => same(c, &format!("{t:?} timer"), timer_at(h, *t), *at),
            What::TimerCount(n) => same(c, "armed timers", h.c.timers().count(), *n),
            What::StopMode(m) => same(c, "status stop", status.stop, *m),
            What::FinalCheckpoint(e) => same(c, "final checkpoint", status.final_checkpoint, *e),
            What::InFlight(e) => same(c, "epoch in flight", status.in_flight.map(|f| f.epoch), *e),
            What::LastCompleted(e) => same(c, "last completed", status.last_completed, *e),
            What::LastCompletedCommitted(b) => same(
                c,
                "last completed committed",
                status.last_completed_committed,
                *b,
            ),
            What::Generation(n) => same(c, "generation", status.generation.0, *n),
            What::StoppedGeneration(n) => same(
                c,
                "stopped generation",
                status.stopped_generation.map(|g| g.0),
                *n,
            ),
            What::Restarts(n) => same(c, "restarts", status.restarts, *n),
            What::RestartCount(n) => same(c, "restarts counter", status.counters.restarts, *n),
            What::RestorePoint(p) => same(
                c,
                "restore point",
                h.c.restore_point().map(|r| (r.epoch, r.committed)),
                *p,
            ),
            What::ForceBound(ms) => same(c, "force bound", h.c.config().force_bound_ms(), *ms),
            What::NowWithinForceBound => {
                let bound_ms = h.c.config().force_bound_ms();
                assert!(
                    status.now.0 <= bound_ms,
                    "{c}: now {} is past the force bound {bound_ms}",
                    status.now
                );
            }
        }
    }
}

/// Fails unless `expected` is among the step's outputs.
fn among(context: &str, expected: &Output, out: &[Output]) {
    assert!(
        out.contains(expected),
        "{context}: an output is missing\n  expected: {expected:?}\n    among: {out:?}"
    );
}

/// When `timer` is armed for, if it is.
pub fn timer_at(h: &Harness, timer: Timer) -> Option<u64> {
    h.c.timers().find(|&(t, _)| t == timer).map(|(_, at)| at.0)
}

fn check(what: What) -> Check {
    Check { what, why: None }
}

/// The step emitted nothing.
pub fn quiet() -> Check {
    check(What::Quiet)
}

/// The step emitted exactly these outputs, in order.
pub fn outputs(v: impl Into<Vec<Output>>) -> Check {
    check(What::Outputs(v.into()))
}

/// The step's effects (outputs other than events) are exactly these, in order.
pub fn effects(v: impl Into<Vec<Output>>) -> Check {
    check(What::Effects(v.into()))
}

pub fn effect_count(n: usize) -> Check {
    check(What::EffectCount(n))
}

pub fn has_effect(o: Output) -> Check {
    check(What::HasEffect(o))
}

/// The commands the step sent are exactly these, as (worker, command), in order.
pub fn commands(v: impl Into<Vec<(u32, Command)>>) -> Check {
    check(What::Commands(v.into()))
}

pub fn has_event(e: Event) -> Check {
    check(What::HasEvent(e))
}

/// The step's transitions are exactly these; for steps other than the case's own transition.
pub fn transitions_are(v: impl Into<Vec<(Option<State>, State, Reason)>>) -> Check {
    check(What::Transitions(v.into()))
}

/// The step caused exactly this one transition.
pub fn transition(from: State, to: State, reason: Reason) -> Check {
    transitions_are([(Some(from), to, reason)])
}

pub fn no_transition() -> Check {
    transitions_are([])
}

pub fn state(s: State) -> Check {
    check(What::State(s))
}

pub fn armed(timer: Timer, at_ms: u64) -> Check {
    check(What::Timer(timer, Some(at_ms)))
}

pub fn unarmed(timer: Timer) -> Check {
    check(What::Timer(timer, None))
}

pub fn timer_count(n: usize) -> Check {
    check(What::TimerCount(n))
}

pub fn no_timers() -> Check {
    timer_count(0)
}

/// `status().stop`.
pub fn stop_mode(m: Option<StopMode>) -> Check {
    check(What::StopMode(m))
}

pub fn final_checkpoint(e: Option<Epoch>) -> Check {
    check(What::FinalCheckpoint(e))
}

pub fn in_flight(e: Option<Epoch>) -> Check {
    check(What::InFlight(e))
}

pub fn last_completed(e: Option<Epoch>) -> Check {
    check(What::LastCompleted(e))
}

pub fn last_completed_committed(b: bool) -> Check {
    check(What::LastCompletedCommitted(b))
}

pub fn generation(n: u64) -> Check {
    check(What::Generation(n))
}

pub fn stopped_generation(n: Option<u64>) -> Check {
    check(What::StoppedGeneration(n))
}

/// `status().restarts`: restarts since the last healthy period.
pub fn restarts(n: u32) -> Check {
    check(What::Restarts(n))
}

/// `status().counters.restarts`: restarts ever.
pub fn restart_count(n: u64) -> Check {
    check(What::RestartCount(n))
}

/// The restore point's epoch and whether it is committed.
pub fn restore_point(p: Option<(Epoch, bool)>) -> Check {
    check(What::RestorePoint(p))
}

/// The config's bound on a kill, retries included.
pub fn force_bound(ms: u64) -> Check {
    check(What::ForceBound(ms))
}

pub fn now_within_force_bound() -> Check {
    check(What::NowWithinForceBound)
}
