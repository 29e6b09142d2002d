//! Breadth-first exploration of every reachable state of the real controller.
//!
//! A state is a [`Controller`] (time is part of it) plus a few ghost facts the timed
//! properties need. From each state the environment may send any input of a fixed menu —
//! every worker message that could matter, scheduler and store outcomes, user stops, stale and
//! duplicate messages — or let time pass to the next deadline. Outputs are drained after every
//! step and are not part of the state. Every transition is checked against the core's own
//! invariants ([`invariants::check_input`] for inputs, [`invariants::check`] for timeouts) and
//! against the properties of [`EXPLORER_PROPERTIES`]; the first violation of each property is
//! kept with the shortest trace that reaches it.
//!
//! Because time only moves to the next deadline, a bounded liveness property ("terminal within
//! the bound") is a safety property here: a reachable non-terminal state past the bound is a
//! violation, and the run where the environment stays silent and only time passes is one of
//! the runs explored.

use crate::setups::{placed_tasks, Setup};
use quiesce_core::controller::invariants::{self, Violation};
#[cfg(feature = "mutants")]
use quiesce_core::controller::mutants::Mutant;
use quiesce_core::controller::{Controller, ControllerSetup, SetupError};
use quiesce_core::{
    Epoch, Event, FromWorker, Generation, Input, OperatorKind, Output, Property, RequestId,
    RestartStrategy, State, Status, StopMode, TaskId, Time, WorkerEvent, WorkerId,
};
use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The properties the core's invariant checks report (see `specs/PROPERTIES.md`).
pub const CORE_PROPERTIES: [Property; 15] = [
    Property::SingleCheckpointInFlight,
    Property::EpochsIncrease,
    Property::CommitAfterPersist,
    Property::NoPeriodicAfterStop,
    Property::EscalationMonotone,
    Property::TerminalAbsorbs,
    Property::StaleGenerationInert,
    Property::SingleGenerationRunning,
    Property::CheckpointStopCommitsFinal,
    Property::EndOfInputCommitsFinal,
    Property::EscalationImmediate,
    Property::DeadTaskEscalates,
    Property::StopTerminates,
    Property::CheckpointResolves,
    Property::TaskAccounting,
];

/// The properties the explorer checks on top of the core's, from what it sees across steps.
/// It also checks two of the core's across steps, for checkpoints asked for on demand:
/// `checkpoint_resolves` (every request accepted is answered once, by its name, completed or
/// aborted; until then it waits or is in flight) and `no_needless_wait` (below).
pub const EXPLORER_PROPERTIES: [Property; 7] = [
    // A refused input changes nothing and emits nothing.
    Property::RefusedInert,
    // After a timeout every deadline lies ahead (else time could stand still); after an input
    // none lies behind.
    Property::DeadlinesAhead,
    // A non-terminal state is at most `stop_bound_ms()` after the first stop took effect.
    Property::StopTerminatesWithinBound,
    // A checkpoint started at `s` is no longer in flight at `s + checkpoint_timeout_ms`.
    Property::CheckpointResolvesWithinTimeout,
    // From a failure, Running again or a terminal state within the restart policy's bound.
    Property::RecoveryResolves,
    // No input and no timeout makes the controller panic.
    Property::NoPanic,
    // Once every task of the generation told its end, a stop (or the end of input) ends, or
    // recovers, in that step; a checkpoint asked for on demand is not overtaken by a periodic
    // one while it waits.
    Property::NoNeedlessWait,
];

/// What the environment does in one step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Input(Input),
    /// Time passes to the earliest deadline, and the due timers fire.
    Timeout,
    /// Time passes by this many ms, short of the earliest deadline: later inputs arrive
    /// between deadlines.
    Wait(u64),
    /// The input arrives just past the earliest deadline ([`LATE_BY_MS`]), handled without a
    /// `handle_timeout` before it: the controller must fire the timers due first.
    Late(Input),
}

/// How far past the earliest deadline a late input arrives: strictly past it, so a timer left
/// unfired by the input is overdue and `timers_before_inputs` sees it.
pub const LATE_BY_MS: u64 = 1;

/// One step of a counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When it happened (for a timeout: the deadline).
    pub at: Time,
    pub action: Action,
    /// The controller's state after it.
    pub after: State,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={:>4}ms  ", self.at.0)?;
        match &self.action {
            Action::Timeout => f.write_str("time passes, due timers fire")?,
            Action::Wait(ms) => write!(f, "{ms} ms pass")?,
            Action::Input(input) => write!(f, "{input}")?,
            Action::Late(input) => write!(f, "late, no timeout first: {input}")?,
        }
        write!(f, "  -> {}", self.after)
    }
}

/// A property violation with the shortest run that reaches it from the initial state.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub violation: Violation,
    pub trace: Vec<Step>,
}

/// When an exploration ends early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Explore every reachable state (violating states are not expanded).
    Exhausted,
    /// Stop at the first violation of this property.
    Violated(Property),
}

/// How to explore.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Give up after this many distinct states.
    pub max_states: usize,
    /// Threads that expand states (each BFS level is split among them).
    pub threads: usize,
    pub until: Until,
    /// Call the progress callback every this many new states.
    pub progress_every: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_states: 8_000_000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            until: Until::Exhausted,
            progress_every: 100_000,
        }
    }
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Distinct states reached (checked), including the initial one.
    pub states: usize,
    /// Steps taken (every action from every expanded state).
    pub transitions: u64,
    /// The BFS depth reached: the longest shortest run.
    pub depth: usize,
    /// States beyond the bounds of the setup: checked, not expanded.
    pub pruned: usize,
    /// Whether every reachable state within the bounds was explored.
    pub complete: bool,
    /// The first violation of each property, in the order found.
    pub violations: Vec<Counterexample>,
    pub elapsed: Duration,
}

impl Outcome {
    /// The counterexample for `property`, if it was violated.
    pub fn violation_of(&self, property: Property) -> Option<&Counterexample> {
        self.violations
            .iter()
            .find(|v| v.violation.property == property)
    }
}

/// Progress of a running exploration.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: usize,
    pub depth: usize,
    pub frontier: usize,
    pub elapsed: Duration,
}

/// Ghost facts: what the timed properties need to remember about the run so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Ghost {
    /// When a stop first took effect (user request or TTL).
    stop_at: Option<Time>,
    /// The checkpoint in flight and when it started.
    checkpoint: Option<(Epoch, Time)>,
    /// When the job failed, and the deadline by which it must run again or have ended.
    recovery: Option<(Time, Time)>,
    /// Faults the environment injected so far (bounded by [`crate::setups::Bounds`]).
    faults: u8,
    /// Stop requests the user made so far (bounded likewise).
    stops: u8,
    /// Checkpoints asked for on demand and accepted so far (bounded likewise); the next
    /// request is named `RequestId(requests + 1)`.
    requests: u8,
    /// The requests accepted and not yet answered (bit i: `RequestId(i)`).
    unanswered: u64,
    /// The tasks (bit i: the i-th of [`Explorer::tasks`]) whose end, finished or failed, the
    /// controller accepted since it last started listening to the workers.
    told: u64,
}

/// One explored state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct World {
    c: Controller,
    ghost: Ghost,
}

/// The time bounds the design promises for a configuration.
#[derive(Clone, Copy, Debug)]
struct Limits {
    stop_bound_ms: u64,
    checkpoint_timeout_ms: u64,
    force_bound_ms: u64,
    /// Longest single cycle of a recovery, restart budget permitting: kill, back off,
    /// schedule. `None` when the strategy has no restart count (failure rate): then no
    /// overall bound exists, since failures spaced beyond the window restart forever.
    cycle_ms: Option<u64>,
    max_restarts: u32,
}

impl Limits {
    fn of(setup: &Setup) -> Limits {
        let config = &setup.config;
        let force_bound_ms = config.force_bound_ms();
        let delay_ms = config.restart_strategy.max_delay_ms().max(1);
        let max_restarts = match config.restart_strategy {
            RestartStrategy::FixedDelay { max_restarts, .. }
            | RestartStrategy::ExponentialDelay { max_restarts, .. } => Some(max_restarts),
            _ => None,
        };
        Limits {
            stop_bound_ms: config.stop_bound_ms(),
            checkpoint_timeout_ms: config.checkpoint_timeout_ms,
            force_bound_ms,
            cycle_ms: max_restarts
                .map(|_| force_bound_ms + delay_ms + config.scheduling_timeout_ms),
            max_restarts: max_restarts.unwrap_or(0),
        }
    }

    /// The deadline of a recovery that starts at `now` with `restarts` of the budget spent:
    /// every restart left may take a whole cycle (kill, back off, schedule — and the new
    /// generation may fail again while scheduling); the last kill ends the job (budget spent,
    /// or a stop during the last scheduling).
    fn recovery_deadline(&self, now: Time, restarts: u32) -> Option<Time> {
        let left = u64::from(self.max_restarts.saturating_sub(restarts));
        self.cycle_ms
            .map(|cycle| now.plus_ms(left * cycle + self.force_bound_ms))
    }
}

/// Identity hashing for fingerprints, which are already uniform.
#[derive(Default)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Visited = HashSet<u64, BuildHasherDefault<Fingerprint>>;

fn fingerprint(w: &World) -> u64 {
    // SipHash with fixed keys: deterministic across runs. With 64 bits, a collision (which
    // would only hide a state, never invent a violation) has odds below 2e-6 at 8M states.
    let mut h = DefaultHasher::new();
    w.hash(&mut h);
    h.finish()
}

/// The result of one step from a state.
enum Next {
    /// The state did not change (a refused input).
    Same,
    New(Box<World>),
    Violated(Violation),
}

/// Successors of one BFS level, found by one thread.
#[derive(Default)]
struct Expansion {
    /// (fingerprint, state, parent node, action index)
    found: Vec<(u64, Box<World>, u32, u16)>,
    violations: Vec<(u32, u16, Violation)>,
    transitions: u64,
    pruned: usize,
}

/// Explores one [`Setup`].
pub struct Explorer {
    setup: Setup,
    tasks: Vec<(WorkerId, TaskId)>,
    /// The two-phase-commit sinks.
    sinks: Vec<(WorkerId, TaskId)>,
    sources: Vec<(WorkerId, TaskId)>,
    workers: Vec<WorkerId>,
    limits: Limits,
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
}

/// The most checkpoint requests one run may have accepted: each has a bit of
/// [`Ghost::unanswered`], and one more is asked for past the budget.
const MAX_REQUESTS: u8 = 62;

const STOP_MODES: [StopMode; 4] = [
    StopMode::Checkpoint,
    StopMode::Graceful,
    StopMode::Immediate,
    StopMode::Force,
];

impl Explorer {
    /// An explorer of the correct controller on `setup`.
    pub fn new(setup: Setup) -> Result<Explorer, SetupError> {
        // Refuse a bad setup up front rather than on the first state.
        Controller::new(ControllerSetup::new(
            setup.job.clone(),
            setup.config,
            Time(0),
        ))?;
        let tasks = placed_tasks(&setup.job);
        let of_kind = |wanted: fn(OperatorKind) -> bool| -> Vec<(WorkerId, TaskId)> {
            tasks
                .iter()
                .copied()
                .filter(|(_, t)| wanted(setup.job.operators[t.operator.0 as usize].kind))
                .collect()
        };
        let sinks = of_kind(|k| {
            matches!(
                k,
                OperatorKind::Sink {
                    two_phase_commit: true
                }
            )
        });
        let sources = of_kind(|k| matches!(k, OperatorKind::Source));
        Ok(Explorer {
            limits: Limits::of(&setup),
            workers: (0..setup.job.workers).map(WorkerId).collect(),
            tasks,
            sinks,
            sources,
            setup,
            #[cfg(feature = "mutants")]
            mutant: None,
        })
    }

    /// Explores the controller with the known bug `mutant` re-introduced.
    #[cfg(feature = "mutants")]
    pub fn with_mutant(mut self, mutant: Mutant) -> Explorer {
        self.mutant = Some(mutant);
        self
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Tightens the bounds the timed properties promise, to prove that they bite.
    #[cfg(test)]
    fn with_limits(mut self, tighten: impl FnOnce(&mut Limits)) -> Explorer {
        tighten(&mut self.limits);
        self
    }

    fn initial(&self) -> World {
        // `new` already built a controller from this very setup.
        let setup = ControllerSetup::new(self.setup.job.clone(), self.setup.config, Time(0));
        #[cfg(feature = "mutants")]
        let setup = match self.mutant {
            Some(m) => setup.with_mutant(m),
            None => setup,
        };
        let mut c = Controller::new(setup).expect("the setup was validated by Explorer::new");
        // The first outputs (start the workers) are the environment's to act on.
        while c.poll_output().is_some() {}
        World {
            c,
            ghost: Ghost::default(),
        }
    }

    /// Whether `w` lies beyond the bounds: checked, not expanded.
    fn pruned(&self, w: &World) -> bool {
        let s = w.c.status();
        let bounds = &self.setup.bounds;
        let periodic_beyond = s
            .last_epoch
            .is_some_and(|e| e.0 > bounds.max_epoch && s.final_checkpoint != Some(e));
        periodic_beyond || s.generation.0 > bounds.max_generation
    }

    fn msg(worker: WorkerId, generation: Generation, event: WorkerEvent) -> Action {
        Action::Input(Input::Worker(FromWorker {
            worker,
            generation,
            event,
        }))
    }

    /// Everything the environment may do in `w`, in a fixed order (traces are replayed by
    /// index into this list).
    fn actions(&self, w: &World) -> Vec<Action> {
        let c = &w.c;
        let s = c.status();
        let g = s.generation;
        let bounds = &self.setup.bounds;
        let faults = bounds.max_faults.is_none_or(|max| w.ghost.faults < max);
        let mut out = Vec::with_capacity(64);
        if let Some(at) = c.poll_timeout() {
            out.push(Action::Timeout);
            if let Some(tick) = bounds.tick_ms {
                if c.status().now.plus_ms(tick) < at {
                    out.push(Action::Wait(tick));
                }
            }
        }
        if bounds.max_stops.is_none_or(|max| w.ghost.stops < max) {
            out.extend(STOP_MODES.map(|m| Action::Input(Input::Stop(m))));
        }
        if bounds.max_requests > 0 {
            Self::request_actions(w, &s, bounds.max_requests.min(MAX_REQUESTS), &mut out);
        }
        if faults {
            out.push(Action::Input(Input::SchedulerFailed {
                generation: g,
                reason: String::new(),
            }));
        }
        out.push(Action::Input(Input::WorkersStopped { generation: g }));
        for &worker in &self.workers {
            if faults {
                out.push(Action::Input(Input::WorkerExited {
                    worker,
                    generation: g,
                }));
            }
            out.push(Self::msg(worker, g, WorkerEvent::Ready));
            if self.setup.bounds.heartbeats {
                out.push(Self::msg(worker, g, WorkerEvent::Heartbeat));
            }
        }
        if let Some(f) = s.in_flight {
            let epoch = f.epoch;
            for &(worker, task) in &self.tasks {
                out.push(Self::msg(
                    worker,
                    g,
                    WorkerEvent::CheckpointAcked { task, epoch },
                ));
                if faults {
                    out.push(Self::msg(
                        worker,
                        g,
                        WorkerEvent::CheckpointFailed {
                            task,
                            epoch,
                            reason: String::new(),
                        },
                    ));
                }
            }
            for &(worker, task) in &self.sinks {
                out.push(Self::msg(worker, g, WorkerEvent::Committed { task, epoch }));
            }
            out.push(Action::Input(Input::MetadataPersisted { epoch }));
            if faults {
                out.push(Action::Input(Input::MetadataPersistFailed {
                    epoch,
                    reason: String::new(),
                }));
            }
        }
        if bounds.end_of_input {
            for &(worker, task) in &self.sources {
                out.push(Self::msg(worker, g, WorkerEvent::InputEnded { task }));
            }
        }
        for &(worker, task) in &self.tasks {
            out.push(Self::msg(worker, g, WorkerEvent::TaskFinished { task }));
            if faults {
                out.push(Self::msg(
                    worker,
                    g,
                    WorkerEvent::TaskFailed {
                        task,
                        reason: String::new(),
                    },
                ));
            }
        }
        // The cleanup asked for is of an epoch up to the last completed one.
        let completed = s.last_completed.map_or(0, |e| e.0);
        for e in 1..=completed {
            out.push(Action::Input(Input::CleanupDone { before: Epoch(e) }));
        }
        if self.setup.bounds.stale {
            self.stale_actions(&s, &mut out);
        }
        if bounds.late && c.poll_timeout().is_some() {
            let late: Vec<Action> = out
                .iter()
                .filter_map(|a| match a {
                    Action::Input(i) if races_timers(i) => Some(Action::Late(i.clone())),
                    _ => None,
                })
                .collect();
            out.extend(late);
        }
        out
    }

    /// Checkpoints asked for on demand: a new request while the budget lasts (refused outside
    /// Running), past it one while another waits (refused: one waits at most), and the name
    /// of the one waiting or in flight again (refused as a duplicate).
    fn request_actions(w: &World, s: &Status, budget: u8, out: &mut Vec<Action>) {
        let trigger = |request| Action::Input(Input::TriggerCheckpoint { request });
        let waiting = s.queued_request;
        if w.ghost.requests < budget || waiting.is_some() {
            out.push(trigger(RequestId(u64::from(w.ghost.requests) + 1)));
        }
        let in_flight = s.in_flight.and_then(|f| f.request);
        out.extend(waiting.into_iter().chain(in_flight).map(trigger));
    }

    /// Inputs that must be refused: the previous generation's messages (a zombie worker, a
    /// late confirmation), acks and commits of an epoch no longer in flight, a cleanup never
    /// asked for. Duplicate acks and commits come from the per-task messages above.
    fn stale_actions(&self, s: &quiesce_core::Status, out: &mut Vec<Action>) {
        let (w0, t0) = self.tasks[0];
        let epoch = s.in_flight.map(|f| f.epoch).or(s.last_epoch);
        if s.generation.0 > 1 {
            let old = Generation(s.generation.0 - 1);
            out.push(Self::msg(w0, old, WorkerEvent::Heartbeat));
            if let Some(epoch) = epoch {
                out.push(Self::msg(
                    w0,
                    old,
                    WorkerEvent::CheckpointAcked { task: t0, epoch },
                ));
            }
            out.push(Self::msg(
                w0,
                old,
                WorkerEvent::TaskFailed {
                    task: t0,
                    reason: String::new(),
                },
            ));
            out.push(Action::Input(Input::WorkersStopped { generation: old }));
            out.push(Action::Input(Input::WorkerExited {
                worker: w0,
                generation: old,
            }));
        }
        if let Some(last) = s.last_epoch.filter(|e| e.0 > 1) {
            let late = Epoch(last.0 - 1);
            out.push(Self::msg(
                w0,
                s.generation,
                WorkerEvent::CheckpointAcked {
                    task: t0,
                    epoch: late,
                },
            ));
            if let Some(&(ws, sink)) = self.sinks.first() {
                out.push(Self::msg(
                    ws,
                    s.generation,
                    WorkerEvent::Committed {
                        task: sink,
                        epoch: late,
                    },
                ));
            }
        }
        let next = s.last_completed.map_or(1, |e| e.0 + 1);
        out.push(Action::Input(Input::CleanupDone {
            before: Epoch(next),
        }));
    }

    /// Takes `action` in `w` and checks every property of the step and of the new state.
    fn step(&self, w: &World, action: &Action) -> Next {
        let run = panic::catch_unwind(AssertUnwindSafe(|| self.step_checked(w, action)));
        match run {
            Ok(Ok(next)) => next,
            Ok(Err(violation)) => Next::Violated(violation),
            Err(payload) => Next::Violated(panic_violation(payload.as_ref())),
        }
    }

    fn step_checked(&self, w: &World, action: &Action) -> Result<Next, Violation> {
        let before = w.c.status();
        let mut c = w.c.clone();
        let drained = match action {
            Action::Input(input) | Action::Late(input) => {
                let late = matches!(action, Action::Late(_));
                let now = match (late, c.poll_timeout()) {
                    (true, Some(at)) => at.plus_ms(LATE_BY_MS),
                    _ => c.status().now,
                };
                let result = c.handle(now, input.clone());
                if let Err(rejected) = &result {
                    // A refused input changes nothing but the timers due by its time, which
                    // fire first, exactly as `handle_timeout` fires them.
                    let mut timed = w.c.clone();
                    if late {
                        timed.handle_timeout(now);
                    }
                    let emitted: Vec<Output> = std::iter::from_fn(|| c.poll_output()).collect();
                    let expected: Vec<Output> =
                        std::iter::from_fn(|| timed.poll_output()).collect();
                    if c != timed || emitted != expected {
                        return Err(Violation {
                            property: Property::RefusedInert,
                            detail: format!(
                                "refused {input:?} ({rejected}) but changed the controller \
                                 or emitted {emitted:?}"
                            ),
                        });
                    }
                    // Unchanged (or as the timeout action leaves it), so every invariant of
                    // the state held already when it was reached, and a refused step has no
                    // step property to break.
                    return Ok(Next::Same);
                }
                let drained = drain(&mut c);
                invariants::check_input(&before, input, &result, &c)?;
                if let Some(at) = c.poll_timeout().filter(|&at| at < now) {
                    return Err(Violation {
                        property: Property::DeadlinesAhead,
                        detail: format!("after {input:?} at {now} a deadline is at {at}"),
                    });
                }
                drained
            }
            Action::Wait(ms) => {
                let at = c.status().now.plus_ms(*ms);
                c.handle_timeout(at);
                let drained = drain(&mut c);
                invariants::check(Some(&before), &c)?;
                if c.status().now != at {
                    return Err(Violation {
                        property: Property::DeadlinesAhead,
                        detail: format!("time did not move to {at} short of every deadline"),
                    });
                }
                drained
            }
            Action::Timeout => {
                let Some(at) = c.poll_timeout() else {
                    return Ok(Next::Same);
                };
                c.handle_timeout(at);
                let drained = drain(&mut c);
                invariants::check(Some(&before), &c)?;
                if let Some(next) = c.poll_timeout().filter(|&next| next <= at) {
                    return Err(Violation {
                        property: Property::DeadlinesAhead,
                        detail: format!("after the timers due at {at} fired, one is due at {next}"),
                    });
                }
                drained
            }
        };
        let mut ghost =
            self.observe(&w.ghost, &c, drained.ran, self.ended_task(&before, action))?;
        // Counted only under a budget: an unbounded count would tell apart states that are
        // otherwise the same.
        let bounds = &self.setup.bounds;
        let mut accepted = None;
        if let Action::Input(input) | Action::Late(input) = action {
            if bounds.max_faults.is_some() && is_fault(input) {
                ghost.faults += 1;
            }
            if bounds.max_stops.is_some() && matches!(input, Input::Stop(_)) {
                ghost.stops += 1;
            }
            if let Input::TriggerCheckpoint { request } = input {
                ghost.requests = ghost.requests.saturating_add(1);
                accepted = Some(*request);
            }
        }
        ghost.unanswered =
            observe_requests(ghost.unanswered, &before, &c.status(), accepted, &drained)?;
        Ok(Next::New(Box::new(World { c, ghost })))
    }

    /// Every task, as bits of [`Ghost::told`] (setups have at most 64 tasks).
    fn all_tasks(&self) -> u64 {
        u64::MAX >> (64 - self.tasks.len())
    }

    /// The task whose end (finished or failed) an accepted `action` told the controller of,
    /// as a bit of [`Ghost::told`].
    fn ended_task(&self, before: &quiesce_core::Status, action: &Action) -> u64 {
        let (Action::Input(Input::Worker(FromWorker {
            generation, event, ..
        }))
        | Action::Late(Input::Worker(FromWorker {
            generation, event, ..
        }))) = action
        else {
            return 0;
        };
        let task = match event {
            WorkerEvent::TaskFinished { task } | WorkerEvent::TaskFailed { task, .. } => task,
            _ => return 0,
        };
        if *generation != before.generation {
            return 0;
        }
        self.tasks
            .iter()
            .position(|(_, t)| t == task)
            .map_or(0, |i| 1 << i)
    }

    /// Updates the ghost facts for the new state `c` (`ran`: the step entered Running; `ended`:
    /// the task whose end it told of) and checks the properties that span steps.
    fn observe(
        &self,
        prev: &Ghost,
        c: &Controller,
        ran: bool,
        ended: u64,
    ) -> Result<Ghost, Violation> {
        let s = c.status();
        let now = s.now;
        let terminal = s.state.is_terminal();
        let mut g = *prev;
        let stopping = matches!(
            s.state,
            State::CheckpointStopping
                | State::Finishing
                | State::Stopping(quiesce_core::Stopping::StopJob(_))
        );
        // Outside these states the controller does not listen to the workers (or, Running,
        // takes an end as a failure): what they told before is forgotten.
        g.told = if stopping || s.state == State::Running {
            g.told | ended
        } else {
            0
        };
        // As in the core's own check: a final checkpoint still in flight may wait for what the
        // tasks sent before they ended (an ack or a commit their finish overtook).
        let final_in_flight =
            !matches!(s.state, State::Stopping(quiesce_core::Stopping::StopJob(_)))
                && s.in_flight
                    .is_some_and(|f| Some(f.epoch) == s.final_checkpoint);
        if stopping && !final_in_flight && g.told == self.all_tasks() {
            return Err(Violation::new(
                Property::NoNeedlessWait,
                format!(
                    "every task has ended, yet the controller waits in {}",
                    s.state
                ),
            ));
        }
        if g.stop_at.is_none() && s.stop.is_some() {
            g.stop_at = Some(now);
        }
        g.checkpoint = s.in_flight.map(|f| match prev.checkpoint {
            Some((epoch, since)) if epoch == f.epoch => (epoch, since),
            _ => (f.epoch, now),
        });
        // Running again, if only for an instant, ends a recovery; a failure after it starts
        // a new one.
        if ran {
            g.recovery = None;
        }
        match s.state {
            State::Running => g.recovery = None,
            _ if terminal => g.recovery = None,
            State::Recovering if g.recovery.is_none() => {
                g.recovery = self
                    .limits
                    .recovery_deadline(now, s.restarts)
                    .map(|deadline| (now, deadline));
            }
            _ => {}
        }
        if let Some(at) = g.stop_at {
            let bound = at.plus_ms(self.limits.stop_bound_ms);
            if !terminal && now > bound {
                return Err(Violation {
                    property: Property::StopTerminatesWithinBound,
                    detail: format!(
                        "stop at {at}, still {} at {now}, past the bound {bound}",
                        s.state
                    ),
                });
            }
        }
        if let Some((epoch, since)) = g.checkpoint {
            let bound = since.plus_ms(self.limits.checkpoint_timeout_ms);
            if now >= bound {
                return Err(Violation {
                    property: Property::CheckpointResolvesWithinTimeout,
                    detail: format!("{epoch} started at {since} still in flight at {now}"),
                });
            }
        }
        if let Some((since, deadline)) = g.recovery {
            if !terminal && now > deadline {
                return Err(Violation {
                    property: Property::RecoveryResolves,
                    detail: format!(
                        "failed at {since}, still {} at {now}, past {deadline}",
                        s.state
                    ),
                });
            }
        }
        Ok(g)
    }

    /// Expands one slice of a BFS level.
    fn expand(&self, level: &[(Box<World>, u32)], visited: &Visited) -> Expansion {
        let mut x = Expansion::default();
        // States this thread already found in this level.
        let mut fresh = Visited::default();
        for (w, id) in level {
            if self.pruned(w) {
                x.pruned += 1;
                continue;
            }
            for (i, action) in self.actions(w).iter().enumerate() {
                x.transitions += 1;
                // Action lists are far shorter than u16::MAX.
                let i = i as u16;
                match self.step(w, action) {
                    Next::Same => {}
                    Next::New(next) => {
                        let fp = fingerprint(&next);
                        if !visited.contains(&fp) && fresh.insert(fp) {
                            x.found.push((fp, next, *id, i));
                        }
                    }
                    Next::Violated(v) => x.violations.push((*id, i, v)),
                }
            }
        }
        x
    }

    /// Explores every reachable state within the bounds (or until `options.until`).
    pub fn run(&self, options: &Options, progress: &mut dyn FnMut(&Progress)) -> Outcome {
        let started = Instant::now();
        let init = self.initial();
        let mut outcome = Outcome {
            states: 1,
            transitions: 0,
            depth: 0,
            pruned: 0,
            complete: true,
            violations: Vec::new(),
            elapsed: Duration::ZERO,
        };
        let checked = panic::catch_unwind(AssertUnwindSafe(|| invariants::check(None, &init.c)));
        let initial = match checked {
            Ok(Ok(())) => None,
            Ok(Err(violation)) => Some(violation),
            Err(payload) => Some(panic_violation(payload.as_ref())),
        };
        if let Some(violation) = initial {
            outcome.violations.push(Counterexample {
                violation,
                trace: Vec::new(),
            });
            outcome.elapsed = started.elapsed();
            return outcome;
        }
        let mut visited = Visited::default();
        visited.insert(fingerprint(&init));
        // Per state: its parent and the index of the action that reached it.
        let mut nodes: Vec<(u32, u16)> = vec![(u32::MAX, 0)];
        let mut level: Vec<(Box<World>, u32)> = vec![(Box::new(init), 0)];
        let mut seen: HashSet<Property> = HashSet::new();
        let mut next_report = options.progress_every;
        let threads = options.threads.max(1);
        while !level.is_empty() {
            let chunk = level.len().div_ceil(threads);
            let expansions: Vec<Expansion> = if threads == 1 || level.len() < 64 {
                vec![self.expand(&level, &visited)]
            } else {
                std::thread::scope(|scope| {
                    let visited = &visited;
                    let handles: Vec<_> = level
                        .chunks(chunk)
                        .map(|part| scope.spawn(move || self.expand(part, visited)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| match h.join() {
                            Ok(x) => x,
                            // Panics inside a step are caught there; one here is a bug of
                            // the explorer itself.
                            Err(payload) => panic::resume_unwind(payload),
                        })
                        .collect()
                })
            };
            let mut next_level = Vec::new();
            let mut stop = false;
            for x in expansions {
                outcome.transitions += x.transitions;
                outcome.pruned += x.pruned;
                for (parent, action, violation) in x.violations {
                    if !seen.insert(violation.property) {
                        continue;
                    }
                    if options.until == Until::Violated(violation.property) {
                        stop = true;
                    }
                    let trace = self.trace(&nodes, parent, action);
                    outcome.violations.push(Counterexample { violation, trace });
                }
                for (fp, world, parent, action) in x.found {
                    if outcome.states >= options.max_states {
                        outcome.complete = false;
                        break;
                    }
                    if !visited.insert(fp) {
                        continue;
                    }
                    // At most `max_states` nodes, far below u32::MAX in practice.
                    let id = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
                    nodes.push((parent, action));
                    next_level.push((world, id));
                    outcome.states += 1;
                    if outcome.states >= next_report {
                        next_report = outcome.states + options.progress_every;
                        progress(&Progress {
                            states: outcome.states,
                            depth: outcome.depth + 1,
                            frontier: next_level.len(),
                            elapsed: started.elapsed(),
                        });
                    }
                }
            }
            drop(level);
            if !next_level.is_empty() {
                outcome.depth += 1;
            }
            if stop || !outcome.complete {
                outcome.complete &= !stop || next_level.is_empty();
                break;
            }
            level = next_level;
        }
        outcome.elapsed = started.elapsed();
        outcome
    }

    /// Replays the run that reaches node `parent` and then takes action `last`.
    fn trace(&self, nodes: &[(u32, u16)], parent: u32, last: u16) -> Vec<Step> {
        let mut path = vec![last];
        let mut node = parent;
        while node != 0 {
            let (p, a) = nodes[node as usize];
            path.push(a);
            node = p;
        }
        path.reverse();
        let mut w = self.initial();
        let mut steps = Vec::with_capacity(path.len());
        for (n, &i) in path.iter().enumerate() {
            let actions = self.actions(&w);
            // The actions of a state are a function of the state: the replay takes the very
            // step the exploration took.
            let action = actions[i as usize].clone();
            let at = match action {
                Action::Timeout => w.c.poll_timeout().unwrap_or(w.c.status().now),
                Action::Wait(ms) => w.c.status().now.plus_ms(ms),
                Action::Input(_) => w.c.status().now,
                Action::Late(_) => {
                    w.c.poll_timeout()
                        .map_or(w.c.status().now, |at| at.plus_ms(LATE_BY_MS))
                }
            };
            let next = self.step(&w, &action);
            let last_step = n + 1 == path.len();
            match next {
                Next::New(next) => {
                    steps.push(Step {
                        at,
                        action,
                        after: next.c.state(),
                    });
                    w = *next;
                }
                Next::Violated(_) | Next::Same => {
                    // Only the last step violates; apply it unchecked to show where it led.
                    debug_assert!(last_step, "the replay diverged from the exploration");
                    let mut c = w.c.clone();
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| match &action {
                        Action::Input(input) | Action::Late(input) => {
                            let _ = c.handle(at, input.clone());
                        }
                        Action::Timeout | Action::Wait(_) => c.handle_timeout(at),
                    }));
                    steps.push(Step {
                        at,
                        action,
                        after: c.state(),
                    });
                    break;
                }
            }
        }
        steps
    }
}

/// What the explorer reads from the outputs of one step.
#[derive(Default)]
struct Drained {
    /// The job entered Running (possibly to leave it again in the same step, e.g. for
    /// Finishing).
    ran: bool,
    /// Checkpoints started that are not a final one.
    started: u32,
    /// The requests whose checkpoint started.
    served: Vec<RequestId>,
    /// The requests answered: completed or aborted, in the order told.
    answered: Vec<RequestId>,
}

/// Drains the outputs of the last step.
fn drain(c: &mut Controller) -> Drained {
    let mut d = Drained::default();
    while let Some(output) = c.poll_output() {
        let Output::Event(event) = output else {
            continue;
        };
        match event {
            Event::Transition {
                to: State::Running, ..
            } => d.ran = true,
            Event::CheckpointStarted {
                then_stop: false, ..
            } => d.started += 1,
            Event::CheckpointRequestStarted { request, .. } => d.served.push(request),
            Event::CheckpointRequestCompleted { request, .. }
            | Event::CheckpointRequestAborted { request, .. } => d.answered.push(request),
            _ => {}
        }
    }
    d
}

/// The bit of [`Ghost::unanswered`] for `request`; none for a name the explorer never gives.
fn request_bit(request: RequestId) -> u64 {
    match request.0 {
        n @ 1..=63 => 1 << n,
        _ => 0,
    }
}

/// Checks the requests of one step and returns those still unanswered after it.
/// checkpoint_resolves: each accepted request (`accepted`, or among `unanswered`) is answered
/// once, by its name, and until then waits or is in flight. no_needless_wait: a request that
/// waited before the step is not overtaken by a periodic checkpoint in it.
fn observe_requests(
    unanswered: u64,
    before: &Status,
    after: &Status,
    accepted: Option<RequestId>,
    drained: &Drained,
) -> Result<u64, Violation> {
    let mut open = unanswered | accepted.map_or(0, request_bit);
    for &request in &drained.answered {
        let bit = request_bit(request);
        if open & bit == 0 {
            return Err(Violation::new(
                Property::CheckpointResolves,
                format!(
                    "request {} answered, but none of that name is open",
                    request.0
                ),
            ));
        }
        open &= !bit;
    }
    if let Some(waiting) = before.queued_request {
        if drained.started > 0 && !drained.served.contains(&waiting) {
            return Err(Violation::new(
                Property::NoNeedlessWait,
                format!(
                    "a periodic checkpoint started while request {} waited",
                    waiting.0
                ),
            ));
        }
    }
    let held = [
        after.queued_request,
        after.in_flight.and_then(|f| f.request),
    ];
    let mut left = open;
    while left != 0 {
        let n = u64::from(left.trailing_zeros());
        left &= left - 1;
        if !held.contains(&Some(RequestId(n))) {
            return Err(Violation::new(
                Property::CheckpointResolves,
                format!(
                    "request {n} was accepted and never answered, yet neither waits nor is in \
                     flight in {}",
                    after.state
                ),
            ));
        }
    }
    Ok(open)
}

/// Whether `input` may race a timer: a worker's message or the store's answer, which the
/// explorer also delivers late, at the earliest deadline.
fn races_timers(input: &Input) -> bool {
    matches!(
        input,
        Input::Worker(_) | Input::MetadataPersisted { .. } | Input::MetadataPersistFailed { .. }
    )
}

/// Whether `input` is a fault the environment injects (counted against the fault budget).
fn is_fault(input: &Input) -> bool {
    matches!(
        input,
        Input::SchedulerFailed { .. }
            | Input::WorkerExited { .. }
            | Input::MetadataPersistFailed { .. }
            | Input::Worker(FromWorker {
                event: WorkerEvent::CheckpointFailed { .. } | WorkerEvent::TaskFailed { .. },
                ..
            })
    )
}

/// A panic as a violation of [`Property::NoPanic`], with its message as the detail. In builds
/// with debug assertions the core checks its own invariants after every step and panics when
/// one breaks; the message names the property, but it is not read back here: `specs/check`
/// explores an optimised build, where the explorer's own checks name every property.
fn panic_violation(payload: &(dyn std::any::Any + Send)) -> Violation {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    Violation::new(Property::NoPanic, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setups;

    /// The tiny job with tight bounds: a few thousand states, fast even unoptimised.
    fn small() -> Setup {
        let mut setup = setups::named("tiny").expect("built-in");
        setup.bounds.max_epoch = 1;
        setup.bounds.max_faults = Some(1);
        setup.bounds.max_stops = Some(2);
        setup
    }

    fn options(until: Until) -> Options {
        Options {
            max_states: 2_000_000,
            until,
            ..Options::default()
        }
    }

    #[test]
    fn the_correct_controller_holds_every_property_on_a_small_setup() {
        let explorer = Explorer::new(small()).expect("valid setup");
        let outcome = explorer.run(&options(Until::Exhausted), &mut |_| {});
        assert!(outcome.complete);
        assert!(
            outcome.violations.is_empty(),
            "{:#?}",
            outcome.violations.first()
        );
        assert!(outcome.states > 1_000, "{} states", outcome.states);
        assert!(outcome.pruned > 0, "the epoch bound was reached");
        assert!(outcome.depth > 10);
    }

    #[test]
    fn the_correct_controller_holds_every_property_with_checkpoints_on_demand() {
        // Tens of thousands of states: one epoch, no fault, no late input.
        let mut setup = setups::named("on-demand").expect("built-in");
        setup.bounds.max_epoch = 1;
        setup.bounds.max_faults = Some(0);
        let outcome = Explorer::new(setup.clone())
            .expect("valid setup")
            .run(&options(Until::Exhausted), &mut |_| {});
        assert!(outcome.complete);
        assert!(
            outcome.violations.is_empty(),
            "{:#?}",
            outcome.violations.first()
        );
        setup.bounds.max_requests = 0;
        let without = Explorer::new(setup)
            .expect("valid setup")
            .run(&options(Until::Exhausted), &mut |_| {});
        assert!(
            outcome.states > without.states,
            "the requests were explored"
        );
    }

    const R1: RequestId = RequestId(1);

    /// A correct controller of the tiny job in Running at 10 ms, its periodic checkpoint in
    /// flight, and its status before and after `R1` is asked for (and waits).
    fn a_request_waits() -> (Status, Status) {
        let setup = setups::named("tiny").expect("built-in");
        let mut c =
            Controller::new(ControllerSetup::new(setup.job, setup.config, Time(0))).expect("valid");
        c.handle(
            Time(0),
            Input::from_worker(WorkerId(0), Generation(1), WorkerEvent::Ready),
        )
        .expect("ready");
        c.handle_timeout(Time(10));
        assert!(c.status().in_flight.is_some());
        let before = c.status();
        c.handle(Time(10), Input::TriggerCheckpoint { request: R1 })
            .expect("accepted");
        assert_eq!(c.status().queued_request, Some(R1));
        (before, c.status())
    }

    /// The request checks of the explorer have teeth: a request forgotten, answered without
    /// being open, or overtaken while it waits is a violation; a request that waits is not.
    #[test]
    fn the_request_checks_catch_a_request_forgotten_answered_twice_or_overtaken() {
        let (before, waits) = a_request_waits();
        let quiet = Drained::default();
        let open = observe_requests(0, &before, &waits, Some(R1), &quiet);
        assert_eq!(open, Ok(request_bit(R1)));
        // Accepted, yet neither waiting nor in flight, and never answered.
        let forgotten = observe_requests(0, &before, &before, Some(R1), &quiet);
        assert_eq!(
            forgotten.map_err(|v| v.property),
            Err(Property::CheckpointResolves)
        );
        // Answered, but not open: a second answer, or one for a request never made.
        let answered = Drained {
            answered: vec![R1],
            ..Drained::default()
        };
        let twice = observe_requests(0, &waits, &waits, None, &answered);
        assert_eq!(
            twice.map_err(|v| v.property),
            Err(Property::CheckpointResolves)
        );
        assert_eq!(
            observe_requests(request_bit(R1), &waits, &before, None, &answered),
            Ok(0)
        );
        // A periodic checkpoint starts while the request waits, and not for it.
        let periodic = Drained {
            started: 1,
            ..Drained::default()
        };
        let overtaken = observe_requests(request_bit(R1), &waits, &waits, None, &periodic);
        assert_eq!(
            overtaken.map_err(|v| v.property),
            Err(Property::NoNeedlessWait)
        );
        let served = Drained {
            started: 1,
            served: vec![R1],
            ..Drained::default()
        };
        assert!(observe_requests(request_bit(R1), &waits, &waits, None, &served).is_ok());
    }

    #[test]
    fn every_setup_is_valid_and_named_once() {
        let all = setups::all();
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for setup in all {
            let explorer = Explorer::new(setup).expect("valid setup");
            // Ghost::told has a bit per task.
            assert!((1..=64).contains(&explorer.tasks.len()));
        }
        for name in setups::default_names() {
            assert!(setups::named(name).is_some());
        }
    }

    #[test]
    fn an_invalid_setup_is_refused_with_its_reason() {
        let mut setup = small();
        setup.config.stop_timeout_ms = 0;
        let err = Explorer::new(setup).err().expect("refused");
        assert!(err.to_string().contains("stop_timeout_ms"), "{err}");
    }

    /// Each timed property of the explorer, given a bound the controller cannot keep, finds a
    /// run that breaks it: the checks have teeth.
    #[test]
    fn the_timed_properties_catch_a_bound_that_is_too_tight() {
        type Tighten = fn(&mut Limits);
        let cases: [(Property, Tighten); 3] = [
            (Property::StopTerminatesWithinBound, |l| {
                l.stop_bound_ms = 10
            }),
            (Property::CheckpointResolvesWithinTimeout, |l| {
                l.checkpoint_timeout_ms = 5
            }),
            (Property::RecoveryResolves, |l| l.force_bound_ms = 1),
        ];
        for (property, tighten) in cases {
            // Heartbeat deadlines fall inside a checkpoint: a state in mid-checkpoint is seen.
            let mut setup = setups::named("heartbeat").expect("built-in");
            setup.bounds.max_epoch = 1;
            setup.bounds.max_faults = Some(1);
            setup.bounds.max_stops = Some(2);
            let explorer = Explorer::new(setup)
                .expect("valid setup")
                .with_limits(tighten);
            let outcome = explorer.run(&options(Until::Violated(property)), &mut |_| {});
            let cx = outcome
                .violation_of(property)
                .unwrap_or_else(|| panic!("{property} not violated: {:?}", outcome.violations));
            assert!(!cx.trace.is_empty());
            assert_eq!(outcome.violations.len(), 1, "{:?}", outcome.violations);
        }
    }

    #[test]
    fn a_counterexample_replays_from_the_initial_state() {
        let explorer = Explorer::new(small())
            .expect("valid setup")
            .with_limits(|l| l.stop_bound_ms = 10);
        let outcome = explorer.run(
            &options(Until::Violated(Property::StopTerminatesWithinBound)),
            &mut |_| {},
        );
        let cx = &outcome.violations[0];
        // Replaying the inputs of the trace on a fresh controller leads to the same states.
        let setup = small();
        let mut c =
            Controller::new(ControllerSetup::new(setup.job, setup.config, Time(0))).expect("valid");
        for step in &cx.trace {
            match &step.action {
                Action::Input(input) | Action::Late(input) => {
                    c.handle(step.at, input.clone()).expect("accepted")
                }
                Action::Timeout | Action::Wait(_) => c.handle_timeout(step.at),
            }
            assert_eq!(c.state(), step.after, "at {step}");
        }
        let last = cx.trace.last().expect("a step");
        assert!(last.at.0 > 10, "{last}");
        assert!(!c.state().is_terminal());
        // Each step prints on one line.
        assert!(cx.trace.iter().all(|s| !s.to_string().contains('\n')));
    }

    #[test]
    fn a_step_is_described_in_domain_terms() {
        let step = Step {
            at: Time(15),
            action: Action::Input(Input::Worker(FromWorker {
                worker: WorkerId(1),
                generation: Generation(2),
                event: WorkerEvent::CheckpointAcked {
                    task: TaskId {
                        operator: quiesce_core::OperatorId(0),
                        subtask: 1,
                    },
                    epoch: Epoch(3),
                },
            })),
            after: State::Running,
        };
        assert_eq!(
            step.to_string(),
            "t=  15ms  worker 1 (gen 2): ack epoch 3 from task 0/1  -> Running"
        );
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn every_known_bug_is_caught_by_its_property() {
        for mutant in Mutant::ALL {
            let property = mutant.property();
            // With a checkpoint asked for on demand, for the bugs of that path.
            let mut setup = small();
            setup.bounds.max_requests = 1;
            let explorer = Explorer::new(setup)
                .expect("valid setup")
                .with_mutant(mutant);
            let outcome = explorer.run(&options(Until::Violated(property)), &mut |_| {});
            let cx = outcome.violation_of(property).unwrap_or_else(|| {
                panic!(
                    "{} not caught by {property}; violated: {:?}",
                    mutant.name(),
                    outcome.violations
                )
            });
            assert!(!cx.trace.is_empty(), "{}", mutant.name());
        }
    }
}
