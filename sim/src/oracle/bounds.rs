//! The bounds in time the controller keeps: every stop ends within the stop bound, every
//! recovery within the restart policy's.

use super::{Class, Failure};
use quiesce_core::{Config, Property, State, Time};

/// The stop bound: once a stop is accepted (or the time to live expires), the controller must
/// be in a terminal state within [`quiesce_core::Config::stop_bound_ms`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopClock {
    stopped_at: Option<Time>,
}

impl StopClock {
    /// A stop was accepted at `at` (the first one counts).
    pub fn stop(&mut self, at: Time) {
        self.stopped_at.get_or_insert(at);
    }

    /// When the first stop was accepted.
    pub fn stopped_at(&self) -> Option<Time> {
        self.stopped_at
    }

    /// When the controller must be terminal, if a stop was accepted.
    pub fn deadline(&self, bound_ms: u64) -> Option<Time> {
        self.stopped_at.map(|t| t.plus_ms(bound_ms))
    }

    /// Fails if at `now` the controller is not terminal past the deadline.
    pub fn check(&self, now: Time, terminal: bool, bound_ms: u64) -> Result<(), Failure> {
        match (self.stopped_at, self.deadline(bound_ms)) {
            (Some(at), Some(deadline)) if !terminal && now > deadline => Err(Failure::new(
                Class::Liveness,
                Property::StopTerminatesWithinBound,
                now,
                format!(
                    "stopped at {} and not terminal {} ms later (bound {bound_ms} ms)",
                    crate::scenario::seconds(at.0),
                    now.ms_since(at)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The recovery bound: a job that enters Recovering leaves it within the force bound (the old
/// generation's kill) plus the longest restart delay, and a generation being scheduled is
/// running (or given up) within the scheduling timeout. So after a failure the job is Running
/// again, or terminal, within the restart policy's bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryClock {
    due: Option<(State, Time, Time)>,
}

impl RecoveryClock {
    /// The controller entered `to` at `at`.
    pub fn enter(&mut self, to: State, at: Time, config: &Config) {
        let bound_ms = match to {
            State::Recovering => config
                .force_bound_ms()
                .saturating_add(config.restart_strategy.max_delay_ms()),
            State::Scheduling => config.scheduling_timeout_ms,
            _ => {
                self.due = None;
                return;
            }
        };
        self.due = Some((to, at, at.plus_ms(bound_ms)));
    }

    /// When the controller entered its current recovery state.
    pub fn since(&self) -> Option<Time> {
        self.due.map(|(_, since, _)| since)
    }

    /// When the controller must have left its current recovery state, `extra_ms` later than
    /// the bound (the time the controller itself stood still).
    pub fn deadline(&self, extra_ms: u64) -> Option<Time> {
        self.due.map(|(_, _, t)| t.plus_ms(extra_ms))
    }

    /// Fails if at `now` the controller is still in that state past its deadline (plus
    /// `extra_ms`).
    pub fn check(&self, now: Time, state: State, extra_ms: u64) -> Result<(), Failure> {
        let deadline = self.deadline(extra_ms);
        match (self.due, deadline) {
            (Some((waiting, _, _)), Some(deadline)) if state == waiting && now > deadline => {
                Err(Failure::new(
                    Class::Liveness,
                    Property::RecoveryResolves,
                    now,
                    format!(
                        "still {state:?} {} ms past its bound",
                        now.ms_since(deadline)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_clock_fails_past_the_bound_only() {
        let mut clock = StopClock::default();
        assert_eq!(
            clock.check(Time(1_000_000), false, 10),
            Ok(()),
            "no stop yet"
        );
        clock.stop(Time(100));
        clock.stop(Time(500));
        assert_eq!(
            clock.deadline(1_000),
            Some(Time(1_100)),
            "the first stop counts"
        );
        assert_eq!(clock.check(Time(1_100), false, 1_000), Ok(()));
        assert_eq!(clock.check(Time(5_000), true, 1_000), Ok(()));
        let failure = clock.check(Time(1_101), false, 1_000).unwrap_err();
        assert_eq!(failure.property, Property::StopTerminatesWithinBound);
        assert_eq!(failure.class, Class::Liveness);
    }

    #[test]
    fn the_recovery_clock_bounds_each_state_of_a_recovery() {
        let config = Config::default();
        let mut clock = RecoveryClock::default();
        clock.enter(State::Recovering, Time(1_000), &config);
        let bound = config.force_bound_ms() + config.restart_strategy.max_delay_ms();
        let due = Time(1_000 + bound);
        assert_eq!(clock.deadline(0), Some(due));
        assert_eq!(clock.check(due, State::Recovering, 0), Ok(()));
        assert_eq!(clock.check(due.plus_ms(5), State::Recovering, 5), Ok(()));
        let late = clock
            .check(due.plus_ms(1), State::Recovering, 0)
            .unwrap_err();
        assert_eq!(late.property, Property::RecoveryResolves);
        assert_eq!(late.class, Class::Liveness);
        clock.enter(State::Scheduling, due, &config);
        let due = due.plus_ms(config.scheduling_timeout_ms);
        assert_eq!(clock.deadline(0), Some(due));
        assert!(clock.check(due.plus_ms(1), State::Scheduling, 0).is_err());
        clock.enter(State::Running, due, &config);
        assert_eq!(clock.deadline(0), None);
        assert_eq!(clock.check(Time(u64::MAX / 2), State::Running, 0), Ok(()));
    }
}
