//! Swarm faults: each kind on or off per seed, with its own rate, and the timed plan of the
//! kinds that strike at a moment (hangs, crashes, task failures, clogs, resets).

use crate::choices::{Concern, Stream};
use quiesce_core::{Job, TaskId, WorkerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A kind of fault the environment can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A worker stops running (SIGSTOP) for a while: timers and messages wait.
    WorkerHang,
    /// A worker's process dies.
    WorkerCrash,
    /// A snapshot takes long to store.
    SnapshotSlow,
    /// A snapshot cannot be stored.
    SnapshotFails,
    /// A commit into the external system takes long; later effects of that worker wait.
    CommitSlow,
    /// A commit fails: the worker dies before it reports the commit (fail-stop).
    CommitFails,
    /// A task's own code fails.
    TaskFails,
    /// Messages are slower and more jittery than usual.
    LinkDelay,
    /// A link stalls for a while (a partition); its messages wait, in order.
    LinkClog,
    /// A connection breaks: what is in flight on it is lost.
    LinkReset,
    /// Single control messages are lost (opt-in: breaks the reliable-link assumption).
    ControlLoss,
    /// Control messages overtake each other (opt-in: breaks the FIFO assumption).
    ControlReorder,
    /// A worker's heartbeats do not reach the controller for a while.
    HeartbeatLoss,
    /// A worker ignores stop commands.
    IgnoresStop,
    /// The scheduler is slow to start workers.
    SchedulerSlow,
    /// The scheduler fails to start a generation.
    SchedulerStartFails,
    /// The scheduler is slow to confirm that workers were killed.
    KillSlow,
    /// The scheduler never confirms a kill.
    KillNeverConfirmed,
    /// Persisting checkpoint metadata is slow.
    PersistSlow,
    /// Persisting checkpoint metadata fails.
    PersistFails,
    /// Cleaning up old checkpoints is slow.
    CleanupSlow,
    /// The controller's process stalls for a while (a long pause, CPU starvation): it takes
    /// its inputs and timers late.
    ControllerStall,
}

/// How a fault kind's rate is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateUnit {
    /// Events per simulated minute of the chaos phase (a timed plan).
    PerMinute,
    /// Share of the operations it applies to, in percent.
    Percent,
    /// Share of the messages it applies to, in per mille.
    PerMille,
    /// Extra delay per message, up to this many milliseconds.
    ExtraMs,
}

impl RateUnit {
    fn suffix(self) -> &'static str {
        match self {
            RateUnit::PerMinute => "/min",
            RateUnit::Percent => "%",
            RateUnit::PerMille => "‰",
            RateUnit::ExtraMs => " ms",
        }
    }
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 22] = [
        FaultKind::WorkerHang,
        FaultKind::WorkerCrash,
        FaultKind::SnapshotSlow,
        FaultKind::SnapshotFails,
        FaultKind::CommitSlow,
        FaultKind::CommitFails,
        FaultKind::TaskFails,
        FaultKind::LinkDelay,
        FaultKind::LinkClog,
        FaultKind::LinkReset,
        FaultKind::ControlLoss,
        FaultKind::ControlReorder,
        FaultKind::HeartbeatLoss,
        FaultKind::IgnoresStop,
        FaultKind::SchedulerSlow,
        FaultKind::SchedulerStartFails,
        FaultKind::KillSlow,
        FaultKind::KillNeverConfirmed,
        FaultKind::PersistSlow,
        FaultKind::PersistFails,
        FaultKind::CleanupSlow,
        FaultKind::ControllerStall,
    ];

    /// Its place in [`FaultKind::ALL`].
    pub fn index(self) -> usize {
        // Every kind is in ALL.
        FaultKind::ALL
            .iter()
            .position(|&k| k == self)
            .unwrap_or(usize::MAX)
    }

    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::WorkerHang => "worker-hang",
            FaultKind::WorkerCrash => "worker-crash",
            FaultKind::SnapshotSlow => "snapshot-slow",
            FaultKind::SnapshotFails => "snapshot-fails",
            FaultKind::CommitSlow => "commit-slow",
            FaultKind::CommitFails => "commit-fails",
            FaultKind::TaskFails => "task-fails",
            FaultKind::LinkDelay => "link-delay",
            FaultKind::LinkClog => "link-clog",
            FaultKind::LinkReset => "link-reset",
            FaultKind::ControlLoss => "control-loss",
            FaultKind::ControlReorder => "control-reorder",
            FaultKind::HeartbeatLoss => "heartbeat-loss",
            FaultKind::IgnoresStop => "ignores-stop",
            FaultKind::SchedulerSlow => "scheduler-slow",
            FaultKind::SchedulerStartFails => "scheduler-start-fails",
            FaultKind::KillSlow => "kill-slow",
            FaultKind::KillNeverConfirmed => "kill-never-confirmed",
            FaultKind::PersistSlow => "persist-slow",
            FaultKind::PersistFails => "persist-fails",
            FaultKind::CleanupSlow => "cleanup-slow",
            FaultKind::ControllerStall => "controller-stall",
        }
    }

    /// How its rate is counted.
    pub fn unit(self) -> RateUnit {
        match self {
            FaultKind::WorkerHang
            | FaultKind::WorkerCrash
            | FaultKind::TaskFails
            | FaultKind::LinkClog
            | FaultKind::LinkReset
            | FaultKind::HeartbeatLoss
            | FaultKind::ControllerStall => RateUnit::PerMinute,
            FaultKind::ControlLoss => RateUnit::PerMille,
            FaultKind::LinkDelay => RateUnit::ExtraMs,
            _ => RateUnit::Percent,
        }
    }

    /// The range a rate is drawn from, when the kind is on.
    fn rate_range(self) -> (u32, u32) {
        match self.unit() {
            RateUnit::PerMinute => (1, 4),
            RateUnit::PerMille => (1, 20),
            RateUnit::ExtraMs => (5, 500),
            RateUnit::Percent => match self {
                // A share of every incarnation, every start or every kill: rare is enough.
                FaultKind::IgnoresStop
                | FaultKind::SchedulerStartFails
                | FaultKind::KillNeverConfirmed => (1, 10),
                _ => (2, 40),
            },
        }
    }

    /// Whether it breaks an assumption the core documents (reliable, FIFO control links): off
    /// unless asked for, and its failures are a class of their own.
    pub fn opt_in(self) -> bool {
        matches!(self, FaultKind::ControlLoss | FaultKind::ControlReorder)
    }

    /// Whether a seed may keep it on through the liveness phase: the controller must still end
    /// every stop within its bound (by force, or by declaring the job Failed).
    pub fn may_be_permanent(self) -> bool {
        matches!(self, FaultKind::IgnoresStop | FaultKind::KillNeverConfirmed)
    }

    /// Whether it strikes at planned moments (see [`FaultPlan`]) rather than per operation.
    pub fn is_planned(self) -> bool {
        self.unit() == RateUnit::PerMinute
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Which fault kinds a seed switched on, and how hard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swarm {
    /// The kinds that are on, with their rate (in the kind's [`RateUnit`]).
    pub rates: BTreeMap<FaultKind, u32>,
    /// The kinds that stay on in the liveness phase.
    pub permanent: BTreeSet<FaultKind>,
}

impl Swarm {
    /// Each kind on with probability one half (opt-in kinds only when `opt_in`), with a rate
    /// drawn from its range.
    pub fn draw(s: &mut Stream, opt_in: bool) -> Swarm {
        let mut swarm = Swarm::default();
        for kind in FaultKind::ALL {
            // Draw for every kind, on or not, so that one kind's switch never shifts another's.
            let on = s.percent(50);
            let (lo, hi) = kind.rate_range();
            let rate = s.range_u32(lo, hi);
            let permanent = s.percent(25);
            if on && (opt_in || !kind.opt_in()) {
                swarm.rates.insert(kind, rate);
                if permanent && kind.may_be_permanent() {
                    swarm.permanent.insert(kind);
                }
            }
        }
        swarm
    }

    /// The rate of `kind` in the chaos phase, if it is on.
    pub fn rate(&self, kind: FaultKind) -> Option<u32> {
        self.rates.get(&kind).copied()
    }

    /// The rate of `kind` in the liveness phase: only permanent kinds stay on.
    pub fn liveness_rate(&self, kind: FaultKind) -> Option<u32> {
        if self.permanent.contains(&kind) {
            self.rate(kind)
        } else {
            None
        }
    }
}

/// A fault that strikes at a planned moment of the chaos phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The worker in this slot (whatever incarnation runs then) hangs for a while.
    Hang {
        /// The worker slot.
        worker: WorkerId,
        /// How long.
        for_ms: u64,
    },
    /// The worker in this slot dies.
    Crash {
        /// The worker slot.
        worker: WorkerId,
    },
    /// A task's own code fails.
    TaskFails {
        /// The task.
        task: TaskId,
    },
    /// A worker's links stall, both ways: those to the controller, and its data links to and
    /// from every other worker.
    Clog {
        /// The worker slot.
        worker: WorkerId,
        /// How long.
        for_ms: u64,
    },
    /// A worker's connections break, to the controller and to and from every other worker:
    /// what is in flight is lost (a data channel that lost an item breaks, and its receiving
    /// task fails).
    Reset {
        /// The worker slot.
        worker: WorkerId,
    },
    /// A worker's heartbeats are lost for a while.
    HeartbeatLoss {
        /// The worker slot.
        worker: WorkerId,
        /// How long.
        for_ms: u64,
    },
    /// The controller's process stalls.
    ControllerStall {
        /// How long.
        for_ms: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::Hang { worker, for_ms } => write!(f, "hang {worker} for {for_ms} ms"),
            Fault::Crash { worker } => write!(f, "crash {worker}"),
            Fault::TaskFails { task } => write!(f, "task {task} fails"),
            Fault::Clog { worker, for_ms } => write!(f, "clog {worker} for {for_ms} ms"),
            Fault::Reset { worker } => write!(f, "reset {worker}'s links"),
            Fault::HeartbeatLoss { worker, for_ms } => {
                write!(f, "lose {worker}'s heartbeats for {for_ms} ms")
            }
            Fault::ControllerStall { for_ms } => write!(f, "stall the controller for {for_ms} ms"),
        }
    }
}

/// A fault and when it strikes (ms after the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlannedFault {
    /// When, in ms after the start.
    pub at_ms: u64,
    /// What.
    pub fault: Fault,
}

/// The planned faults of a run, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults, sorted by time (ties keep the order of [`FaultKind::ALL`]).
    pub faults: Vec<PlannedFault>,
}

/// No more planned faults of one kind than this: a limit on everything.
const MAX_PLANNED_PER_KIND: usize = 64;

impl FaultPlan {
    /// The plan of every planned kind that is on, each from its own stream, within
    /// `0..chaos_ms`.
    pub fn draw(seed: u64, swarm: &Swarm, job: &Job, chaos_ms: u64) -> FaultPlan {
        let mut faults = Vec::new();
        for kind in FaultKind::ALL.into_iter().filter(|k| k.is_planned()) {
            let Some(rate) = swarm.rate(kind) else {
                continue;
            };
            let mut s = Stream::new(seed, Concern::Fault(kind));
            let mut at_ms = 0;
            for _ in 0..MAX_PLANNED_PER_KIND {
                let Some(gap) = s.gap_ms(rate) else { break };
                at_ms += gap;
                if at_ms >= chaos_ms {
                    break;
                }
                let fault = draw_fault(&mut s, kind, job);
                faults.push(PlannedFault { at_ms, fault });
            }
        }
        // Stable: equal times keep the kinds' order.
        faults.sort_by_key(|f| f.at_ms);
        FaultPlan { faults }
    }
}

/// The kind a planned fault belongs to.
pub fn kind_of(fault: &Fault) -> FaultKind {
    match fault {
        Fault::Hang { .. } => FaultKind::WorkerHang,
        Fault::Crash { .. } => FaultKind::WorkerCrash,
        Fault::TaskFails { .. } => FaultKind::TaskFails,
        Fault::Clog { .. } => FaultKind::LinkClog,
        Fault::Reset { .. } => FaultKind::LinkReset,
        Fault::HeartbeatLoss { .. } => FaultKind::HeartbeatLoss,
        Fault::ControllerStall { .. } => FaultKind::ControllerStall,
    }
}

fn draw_fault(s: &mut Stream, kind: FaultKind, job: &Job) -> Fault {
    let worker = WorkerId(s.range_u32(0, job.workers.saturating_sub(1)));
    match kind {
        // Sometimes shorter, sometimes longer than any heartbeat timeout.
        FaultKind::WorkerHang => Fault::Hang {
            worker,
            for_ms: s.range(100, 60_000),
        },
        FaultKind::WorkerCrash => Fault::Crash { worker },
        FaultKind::LinkClog => Fault::Clog {
            worker,
            for_ms: s.range(10, 40_000),
        },
        FaultKind::LinkReset => Fault::Reset { worker },
        FaultKind::HeartbeatLoss => Fault::HeartbeatLoss {
            worker,
            for_ms: s.range(1_000, 60_000),
        },
        FaultKind::ControllerStall => Fault::ControllerStall {
            for_ms: s.range(1, 3_000),
        },
        _ => {
            let tasks: Vec<TaskId> = job.tasks().collect();
            // A valid job has a task; the first one stands in should it have none.
            let first = TaskId {
                operator: quiesce_core::OperatorId(0),
                subtask: 0,
            };
            let task = s.pick(&tasks).copied().unwrap_or(first);
            Fault::TaskFails { task }
        }
    }
}

/// A rate with its unit, for people.
pub fn rate_text(kind: FaultKind, rate: u32) -> String {
    format!("{rate}{}", kind.unit().suffix())
}
