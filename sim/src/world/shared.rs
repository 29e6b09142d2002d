//! What every node of the world can reach: the environment (links, stores, effects), the
//! registry of worker incarnations, the messages in flight between nodes, and the run's first
//! failure.
//!
//! The world runs on one thread, so the lock is never contended; it is never held across an
//! await.

use super::wait::{self, SharedAlarm};
use crate::coverage::Coverage;
use crate::env::{
    Arrival, CheckpointStore, Control, Effects, End, Inbox, LinkId, Links, MetadataStore,
    Partitions, SinkLedger, Stamp,
};
use crate::oracle::{Check, Class, Failure};
use crate::planted::Planted;
use crate::scenario::{FaultKind, Scenario};
use crate::tracefile::{EnvEvent, Tape};
use madsim::task::NodeId;
use madsim::time::{Duration, Instant, TimeHandle};
use quiesce_core::trace::MachineId;
use quiesce_core::worker::WorkerInput;
use quiesce_core::{Generation, Input, State, Time, WorkerId};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::UnboundedSender;

/// What reaches the controller's node directly (workers' messages over links wait in its
/// inbox).
#[derive(Debug)]
pub enum ToController {
    /// A notice of the environment (the scheduler saw a worker exit), due at a time.
    At(Time, Input),
}

/// What reaches a worker's node directly (messages over links wait in its slot's inbox).
#[derive(Debug)]
pub enum ToWorker {
    /// Something of the worker's own process (its task's code failed).
    Local(WorkerInput),
}

/// One incarnation of a worker slot: a generation's worker on its own node.
#[derive(Debug)]
pub struct Incarnation {
    /// The slot.
    pub worker: WorkerId,
    /// The generation.
    pub generation: Generation,
    /// Its node.
    pub node: NodeId,
    /// Its inbox.
    pub tx: UnboundedSender<ToWorker>,
    /// Wakes it when a message on its way comes due.
    pub alarm: SharedAlarm,
    /// Whether its process is still alive (not killed, not crashed, not exited).
    pub alive: bool,
}

/// The state every node shares.
pub struct Shared {
    /// The scenario being run.
    pub scenario: Arc<Scenario>,
    /// A known bug switched on, if any.
    pub planted: Option<Planted>,
    /// When the run started: simulated time 0.
    pub t0: Instant,
    /// The links and their delays.
    pub links: Links,
    /// The seeded outcomes of effects.
    pub effects: Effects,
    /// Task snapshots.
    pub checkpoints: CheckpointStore,
    /// Completed checkpoints.
    pub metadata: MetadataStore,
    /// What the sinks made visible.
    pub ledger: SinkLedger,
    /// Where partitions ended.
    pub partitions: Partitions,
    /// Every worker incarnation ever started, in order.
    pub incarnations: Vec<Incarnation>,
    /// The generations the scheduler has killed (it starts none of them again).
    pub killed: BTreeSet<Generation>,
    /// The controller's inbox.
    pub controller: UnboundedSender<ToController>,
    /// The workers' messages in flight to the controller.
    pub controller_inbox: Inbox<Input>,
    /// Wakes the controller when one of them comes due.
    pub controller_alarm: SharedAlarm,
    /// Per worker slot, the messages in flight to it. They belong to the network, not to a
    /// process: what is still in flight when an incarnation dies reaches the next one, which
    /// must refuse what another generation sent (fencing).
    pub worker_inboxes: Vec<Inbox<WorkerInput>>,
    /// Per worker slot, until when its heartbeats are lost.
    pub heartbeats_lost_until: Vec<Time>,
    /// The run's first failure: it ends the run.
    pub failure: Option<Failure>,
    /// The controller's terminal state, and when it got there.
    pub ended: Option<(State, Time)>,
    /// Core steps so far (controller and workers).
    pub steps: u64,
    /// The run's trace: every machine records onto it, and so does the environment. Its
    /// running hash is the run's.
    pub trace: Tape,
    /// What the run exercised.
    pub coverage: Coverage,
    /// When the controller's process stood still, `[from, to)`.
    pub controller_stalls: Vec<(Time, Time)>,
}

use crate::runner::STEP_BUDGET;

/// A handle on the shared state, and on the runtime's clock.
#[derive(Clone)]
pub struct World {
    shared: Arc<Mutex<Shared>>,
    // The clock itself, read without the lock: every turn of every node reads it, and
    // `Instant::now()` would find it through the thread's runtime context each time.
    clock: TimeHandle,
    t0: Instant,
}

impl World {
    /// Wraps the shared state; inside the runtime, whose clock it reads.
    pub fn new(shared: Shared) -> World {
        World {
            t0: shared.t0,
            shared: Arc::new(Mutex::new(shared)),
            clock: TimeHandle::current(),
        }
    }

    /// The shared state, locked.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // One thread runs the whole world: a poisoned lock means a panic already ends the run.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulated time now, in ms since the start: what `Instant::now()` tells inside the
    /// runtime.
    pub fn now(&self) -> Time {
        let elapsed = self.clock.now_instant().saturating_duration_since(self.t0);
        Time(elapsed.as_millis() as u64)
    }

    /// The instant of simulated time `t`.
    pub fn instant(&self, t: Time) -> Instant {
        self.t0 + Duration::from_millis(t.0)
    }

    /// Whether the run is over (a failure, or the controller ended).
    pub fn over(&self) -> bool {
        let s = self.lock();
        s.failure.is_some() || s.ended.is_some()
    }

    /// Records a failure; the first one counts.
    pub fn fail(&self, failure: Failure) {
        let mut s = self.lock();
        if s.failure.is_none() {
            s.failure = Some(failure);
        }
    }

    /// Counts a core step (its line is on the trace already); past the budget the run fails.
    pub fn step(&self, now: Time) {
        let mut s = self.lock();
        s.steps += 1;
        if s.steps > STEP_BUDGET && s.failure.is_none() {
            s.failure = Some(Failure::new(
                Class::Crash,
                Check::StepBudget,
                now,
                format!("more than {STEP_BUDGET} core steps: a livelock"),
            ));
        }
    }

    /// Writes an environment line on the run's trace.
    pub fn env(&self, at: Time, event: EnvEvent) {
        let trace = self.lock().trace.clone();
        trace.env(at, event);
    }

    /// Sends a worker's message to the controller over the worker's link.
    pub fn to_controller(&self, now: Time, from: MachineId, input: Input) {
        let mut s = self.lock();
        let MachineId::Worker { worker, .. } = from else {
            return;
        };
        let link = LinkId {
            from: End::Worker(worker),
            to: End::Controller,
        };
        let Some(stamp) = s.send_control(now, link, from) else {
            return;
        };
        s.controller_inbox.push(stamp, input);
        wait::lock(&s.controller_alarm).ring_by(stamp.at, self.instant(stamp.at));
    }

    /// Sends `input` from `from` to worker slot `to`, if an incarnation of it is alive.
    pub fn to_worker(&self, now: Time, from: End, to: WorkerId, input: WorkerInput) {
        let mut s = self.lock();
        let Some(i) = s.current(to) else { return };
        let link = LinkId {
            from,
            to: End::Worker(to),
        };
        let stamp = if matches!(input, WorkerInput::Command(_)) {
            let Some(stamp) = s.send_control(now, link, MachineId::Controller) else {
                return;
            };
            stamp
        } else {
            let extra = s.link_extra_ms(now);
            s.links.send(now, link, extra)
        };
        let Some(inbox) = s.worker_inboxes.get_mut(to.0 as usize) else {
            return;
        };
        inbox.push(stamp, input);
        // A node that dies meanwhile no longer listens; the message waits for the next one.
        wait::lock(&s.incarnations[i].alarm).ring_by(stamp.at, self.instant(stamp.at));
    }

    /// The next message for slot `w` due by `now`. A data item of the slot's current
    /// generation lost to a broken connection breaks its channel (the receiver refuses the gap
    /// that follows): the receiving task fails, as it would on a connection error.
    pub fn worker_message(&self, w: WorkerId, now: Time) -> Option<WorkerInput> {
        let mut s = self.lock();
        let current = s.current(w).map(|i| s.incarnations[i].generation);
        let Shared {
            worker_inboxes,
            links,
            ..
        } = &mut *s;
        let inbox = worker_inboxes.get_mut(w.0 as usize)?;
        loop {
            match inbox.pop_arrival(now, links)? {
                (_, input, Arrival::Deliver) => return Some(input),
                (
                    stamp,
                    WorkerInput::Data {
                        generation,
                        channel,
                        ..
                    },
                    _,
                ) if Some(generation) == current => {
                    let reason = format!(
                        "its input channel {channel} broke: the connection from {} was reset",
                        stamp.link.from
                    );
                    return Some(WorkerInput::TaskError {
                        task: channel.to,
                        reason,
                    });
                }
                _ => continue,
            }
        }
    }

    /// The next message for the controller due by `now`.
    pub fn controller_message(&self, now: Time) -> Option<Input> {
        let mut s = self.lock();
        let Shared {
            controller_inbox,
            links,
            ..
        } = &mut *s;
        controller_inbox.pop_due(now, links).map(|(_, input)| input)
    }

    /// When the next message for slot `w` is due.
    pub fn worker_message_at(&self, w: WorkerId) -> Option<Time> {
        self.lock()
            .worker_inboxes
            .get(w.0 as usize)
            .and_then(Inbox::next_at)
    }
}

impl Shared {
    /// How long the controller stood still between `from` and `to`: the bounds it keeps are
    /// on its own time, and a process that does not run cannot keep them.
    pub fn stalled_ms(&self, from: Time, to: Time) -> u64 {
        self.controller_stalls
            .iter()
            .map(|&(a, b)| b.min(to).0.saturating_sub(a.max(from).0))
            .sum()
    }

    /// The extra delay of messages at `now`: up to the link-delay fault's rate while it is on.
    fn link_extra_ms(&mut self, now: Time) -> u64 {
        let extra = self
            .scenario
            .rate_at(FaultKind::LinkDelay, now.0)
            .map_or(0, u64::from);
        if extra > 0 {
            self.coverage.fault(FaultKind::LinkDelay);
        }
        extra
    }

    /// Writes an environment line for each fault that struck an operation of `machine`
    /// since the last call.
    pub fn note_effects(&mut self, now: Time, machine: MachineId) {
        for fault in self.effects.take_recent() {
            self.trace.env(now, EnvEvent::Effect { fault, machine });
        }
    }

    /// Stamps a control message from `sender` on `link`, unless an opt-in fault loses it.
    fn send_control(&mut self, now: Time, link: LinkId, sender: MachineId) -> Option<Stamp> {
        let extra = self.link_extra_ms(now);
        let scenario = self.scenario.clone();
        let control = self.effects.control(&scenario, now.0);
        self.note_effects(now, sender);
        match control {
            Control::Deliver => Some(self.links.send(now, link, extra)),
            Control::Lose => None,
            Control::HoldBack(ms) => Some(self.links.send_held_back(now, link, extra, ms)),
        }
    }

    /// The index of worker slot `w`'s latest incarnation, if it is alive.
    pub fn current(&self, w: WorkerId) -> Option<usize> {
        self.incarnations
            .iter()
            .rposition(|i| i.worker == w)
            .filter(|&i| self.incarnations[i].alive)
    }
}
