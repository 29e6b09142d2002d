//! A process's clock for its machine: milliseconds on a monotonic clock, counted from a base
//! taken from the wall clock at start, so that a restored controller's times continue those of
//! the run it resumes.

use quiesce_core::Time;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Monotonic milliseconds from a base.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    base_ms: u64,
}

impl Clock {
    /// A clock starting now at the wall clock's milliseconds, or at `at_least` if the wall
    /// clock is behind it (a resumed job must not start before it was created).
    pub fn start(at_least: Time) -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            start: Instant::now(),
            base_ms: wall.max(at_least.0),
        }
    }

    /// The time now.
    pub fn now(&self) -> Time {
        Time(self.base_ms + self.start.elapsed().as_millis() as u64)
    }

    /// The instant at which the clock reads `t` (now, if `t` has passed).
    pub fn instant(&self, t: Time) -> Instant {
        self.start + Duration::from_millis(t.0.saturating_sub(self.base_ms))
    }
}
