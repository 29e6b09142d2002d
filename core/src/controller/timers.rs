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
    /// The final checkpoint of a checkpoint stop or of the end of input (Finishing) must be
    /// committed and every task finished by now: the one bound of both (`checkpoint_timeout_ms`
    /// from the start of the stop or of Finishing).
    FinalCheckpoint,
    /// The cleanup in progress is abandoned if not confirmed by now.
    Cleanup,
    /// A graceful or immediate stop (StopJob) must have finished every task by now.
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
    /// Every timer, in declaration order (the order that breaks ties between equal deadlines).
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

/// Deadlines indexed by [`Timer`], with the earliest one kept up to date on every change so
/// that [`Timers::earliest`] (the driver's `poll_timeout`, called once per event loop turn) is
/// a field read rather than a search.
///
/// Ties between equal deadlines go to the timer declared first in [`Timer`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Deadlines", into = "Deadlines")]
pub struct Timers {
    deadlines: [Option<Time>; Timer::ALL.len()],
    /// The earliest armed deadline: always equal to [`Timers::scan`]. Derived from
    /// `deadlines`, so equality and hashing see the same thing with or without it.
    earliest: Option<(Timer, Time)>,
}

/// The serialised form of [`Timers`]: the deadlines alone (the earliest is derived).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Deadlines {
    deadlines: [Option<Time>; Timer::ALL.len()],
}

impl From<Deadlines> for Timers {
    fn from(d: Deadlines) -> Timers {
        let mut timers = Timers {
            deadlines: d.deadlines,
            earliest: None,
        };
        timers.earliest = timers.scan();
        timers
    }
}

impl From<Timers> for Deadlines {
    fn from(t: Timers) -> Deadlines {
        Deadlines {
            deadlines: t.deadlines,
        }
    }
}

impl Timers {
    /// Arms `timer` at `at`, replacing any deadline it had.
    pub fn arm(&mut self, timer: Timer, at: Time) {
        self.deadlines[timer.slot()] = Some(at);
        match self.earliest {
            // Earlier than the earliest (or tied, and first in slot order): it is the new one.
            Some((t, e)) if (at, timer.slot()) < (e, t.slot()) => self.earliest = Some((timer, at)),
            None => self.earliest = Some((timer, at)),
            // The earliest itself moved later: another timer may now come first.
            Some((t, _)) if t == timer => self.earliest = self.scan(),
            Some(_) => {}
        }
        self.debug_check();
    }

    /// Disarms `timer` (nothing happens if it is not armed).
    pub fn disarm(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
        if matches!(self.earliest, Some((t, _)) if t == timer) {
            self.earliest = self.scan();
        }
        self.debug_check();
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.deadlines[timer.slot()]
    }

    /// Whether `timer` has a deadline.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Disarms every timer but those in `keep`.
    pub fn disarm_all_but(&mut self, keep: &[Timer]) {
        for timer in Timer::ALL {
            if !keep.contains(&timer) {
                self.deadlines[timer.slot()] = None;
            }
        }
        // One search for the whole batch rather than one per disarmed timer.
        self.earliest = self.scan();
        self.debug_check();
    }

    /// The earliest armed deadline and its timer (ties: first in [`Timer`] order). O(1).
    #[inline]
    pub fn earliest(&self) -> Option<(Timer, Time)> {
        self.earliest
    }

    /// Every armed timer with its deadline.
    pub fn armed(&self) -> impl Iterator<Item = (Timer, Time)> + '_ {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|at| (t, at)))
    }

    /// The earliest armed deadline, searched for over the whole table.
    fn scan(&self) -> Option<(Timer, Time)> {
        self.armed().min_by_key(|&(t, at)| (at, t.slot()))
    }

    fn debug_check(&self) {
        debug_assert_eq!(self.earliest, self.scan(), "the kept earliest deadline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Arm(Timer, Time),
        Disarm(Timer),
        DisarmAllBut(u16),
    }

    fn timer() -> impl Strategy<Value = Timer> {
        (0..Timer::ALL.len()).prop_map(|i| Timer::ALL[i])
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct times, so that ties between timers are common.
        prop_oneof![
            4 => (timer(), 0..6u64).prop_map(|(t, at)| Op::Arm(t, Time(at))),
            2 => timer().prop_map(Op::Disarm),
            1 => any::<u16>().prop_map(Op::DisarmAllBut),
        ]
    }

    /// The earliest deadline as the table was searched before it was kept: every armed
    /// timer, lowest deadline, ties to the lowest slot.
    fn brute_force(t: &Timers) -> Option<(Timer, Time)> {
        let mut best: Option<(Timer, Time)> = None;
        for (slot, deadline) in t.deadlines.iter().enumerate() {
            if let Some(at) = *deadline {
                if best.is_none_or(|(_, b)| at < b) {
                    best = Some((Timer::ALL[slot], at));
                }
            }
        }
        best
    }

    fn apply(t: &mut Timers, op: Op) {
        match op {
            Op::Arm(timer, at) => t.arm(timer, at),
            Op::Disarm(timer) => t.disarm(timer),
            Op::DisarmAllBut(mask) => {
                let keep: Vec<Timer> = Timer::ALL
                    .into_iter()
                    .filter(|t| mask & (1 << t.slot()) != 0)
                    .collect();
                t.disarm_all_but(&keep);
            }
        }
    }

    proptest! {
        #[test]
        fn kept_earliest_is_the_earliest_of_the_table(ops in prop::collection::vec(op(), 0..64)) {
            let mut t = Timers::default();
            for op in ops {
                apply(&mut t, op);
                prop_assert_eq!(t.earliest(), brute_force(&t), "after {:?}", op);
            }
            let round_trip: Timers =
                serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            prop_assert_eq!(round_trip.earliest(), brute_force(&t));
            prop_assert_eq!(round_trip, t);
        }
    }

    #[test]
    fn ties_go_to_the_first_timer_in_slot_order() {
        let mut t = Timers::default();
        t.arm(Timer::Healthy, Time(5));
        t.arm(Timer::Heartbeat, Time(5));
        assert_eq!(t.earliest(), Some((Timer::Heartbeat, Time(5))));
        t.arm(Timer::CheckpointInterval, Time(5));
        assert_eq!(t.earliest(), Some((Timer::CheckpointInterval, Time(5))));
        // The earliest moving later hands over to the next in line.
        t.arm(Timer::CheckpointInterval, Time(9));
        assert_eq!(t.earliest(), Some((Timer::Heartbeat, Time(5))));
        t.disarm(Timer::Heartbeat);
        assert_eq!(t.earliest(), Some((Timer::Healthy, Time(5))));
        t.disarm_all_but(&[Timer::CheckpointInterval]);
        assert_eq!(t.earliest(), Some((Timer::CheckpointInterval, Time(9))));
        t.disarm(Timer::CheckpointInterval);
        assert_eq!(t.earliest(), None);
    }
}
