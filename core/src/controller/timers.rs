//! The controller's timers: a fixed table keyed by an enum.

use crate::types::Time;
use serde::{Deserialize, Serialize};

/// Every timer the controller can arm. Each has at most one deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Timer {
    /// The next periodic checkpoint is due.
    CheckpointInterval,
    /// The checkpoint in flight must be complete and committed by now.
    CheckpointTimeout,
    /// The final checkpoint of a checkpoint stop must be committed and every task finished.
    FinalCheckpoint,
    /// The cleanup in progress is abandoned if not confirmed by now.
    Cleanup,
    /// A stop (or the drain of Finishing) must have finished every task by now.
    Stop,
    /// Confirmation of a kill is due, or the pause before re-asking it is over.
    Kill,
    /// The earliest moment a worker may have missed its heartbeat deadline.
    Heartbeat,
    /// Every worker of the generation must be ready by now.
    Scheduling,
    /// The pause before the next generation is over.
    RestartBackoff,
    /// The job's time to live is over.
    Ttl,
    /// The job has been Running long enough to refill the restart budget.
    Healthy,
}

impl Timer {
    pub const ALL: [Timer; 11] = [
        Timer::CheckpointInterval,
        Timer::CheckpointTimeout,
        Timer::FinalCheckpoint,
        Timer::Cleanup,
        Timer::Stop,
        Timer::Kill,
        Timer::Heartbeat,
        Timer::Scheduling,
        Timer::RestartBackoff,
        Timer::Ttl,
        Timer::Healthy,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// Deadlines indexed by [`Timer`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timers {
    deadlines: [Option<Time>; Timer::ALL.len()],
}

impl Timers {
    pub fn arm(&mut self, timer: Timer, at: Time) {
        self.deadlines[timer.slot()] = Some(at);
    }

    pub fn disarm(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
    }

    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.deadlines[timer.slot()]
    }

    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Disarms every timer but those in `keep`.
    pub fn disarm_all_but(&mut self, keep: &[Timer]) {
        for timer in Timer::ALL {
            if !keep.contains(&timer) {
                self.disarm(timer);
            }
        }
    }

    /// The earliest armed deadline and its timer.
    pub fn earliest(&self) -> Option<(Timer, Time)> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|at| (t, at)))
            .min_by_key(|&(t, at)| (at, t.slot()))
    }

    /// Every armed timer with its deadline.
    pub fn armed(&self) -> impl Iterator<Item = (Timer, Time)> + '_ {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|at| (t, at)))
    }
}
