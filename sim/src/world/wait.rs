//! The two waiting primitives of every node: a local queue of timed events, and the wait for
//! the next message or deadline that never sleeps past a due deadline.

use super::shared::World;
use quiesce_core::Time;
use std::collections::BTreeMap;
use tokio::sync::mpsc::UnboundedReceiver;

/// Events a node owes itself, in time order (ties in the order they were pushed).
#[derive(Debug)]
pub struct Timed<T> {
    queue: BTreeMap<(Time, u64), T>,
    seq: u64,
}

impl<T> Default for Timed<T> {
    fn default() -> Self {
        Timed {
            queue: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T> Timed<T> {
    /// Keeps `event` until `at`.
    pub fn push(&mut self, at: Time, event: T) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Time> {
        self.queue.keys().next().map(|&(at, _)| at)
    }

    /// The next event due by `now`.
    pub fn pop_due(&mut self, now: Time) -> Option<T> {
        let (&key, _) = self.queue.iter().next().filter(|(k, _)| k.0 <= now)?;
        self.queue.remove(&key)
    }
}

/// Waits for the next message, or until `deadline`. A deadline already due returns at once
/// (madsim would sleep at least 1 ms); the select is biased, as an unbiased one draws from
/// tokio's own random generator. `None` when the deadline came first, or the sender is gone.
pub async fn wait<M>(
    world: &World,
    deadline: Option<Time>,
    rx: &mut UnboundedReceiver<M>,
) -> Option<M> {
    match deadline {
        Some(d) if d <= world.now() => None,
        Some(d) => {
            let until = world.instant(d);
            tokio::select! {
                biased;
                m = rx.recv() => m,
                _ = madsim::time::sleep_until(until) => None,
            }
        }
        None => rx.recv().await,
    }
}
