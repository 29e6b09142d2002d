//! The waiting primitives of every node: a local queue of timed events, the wait for the next
//! message or deadline that never sleeps past a due deadline, and the alarm by which senders
//! wake a node when their message comes due.

use super::shared::World;
use madsim::time::{Instant, Sleep};
use quiesce_core::Time;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
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

/// A sleeping node's wake-up: until when it sleeps, and its task's waker. A sender arms it for
/// a message's due time ([`Alarm::ring_by`]), so the node wakes once, when the message is due,
/// rather than at once to find it not due yet and again when it is.
#[derive(Debug, Default)]
pub struct Alarm {
    /// The node's task, while the node sleeps.
    waker: Option<Waker>,
    /// Until when it sleeps (`None`: until a message).
    at: Option<Time>,
    /// The timers senders armed, kept until the node wakes.
    armed: Vec<Pin<Box<Sleep>>>,
}

/// A node's alarm, shared with whoever sends to it.
pub type SharedAlarm = Arc<Mutex<Alarm>>;

/// The alarm, locked.
pub fn lock(alarm: &SharedAlarm) -> MutexGuard<'_, Alarm> {
    // One thread runs the whole world: a poisoned lock means a panic already ends the run.
    alarm.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alarm {
    /// A message for the node comes due at `at` (the instant `until`): if the node sleeps past
    /// it, it wakes then instead. A node that is awake looks at its inbox before it sleeps.
    pub fn ring_by(&mut self, at: Time, until: Instant) {
        let Some(waker) = &self.waker else { return };
        if self.at.is_some_and(|t| t <= at) {
            return;
        }
        self.at = Some(at);
        let mut sleep = Box::pin(madsim::time::sleep_until(until));
        // Polling registers the timer, with the node's waker; a deadline already reached
        // (a message with no delay) wakes the node at once.
        if sleep
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_ready()
        {
            waker.wake_by_ref();
        }
        self.armed.push(sleep);
    }
}

/// Waits for the next message, or until `deadline`, or until a sender's message comes due
/// (see [`Alarm`]). A deadline already due returns at once (madsim would sleep at least 1 ms).
/// `None` when a deadline came first, or the sender is gone.
pub async fn wait<M>(
    world: &World,
    alarm: &SharedAlarm,
    deadline: Option<Time>,
    rx: &mut UnboundedReceiver<M>,
) -> Option<M> {
    if deadline.is_some_and(|d| d <= world.now()) {
        return None;
    }
    let mut own = deadline.map(|d| Box::pin(madsim::time::sleep_until(world.instant(d))));
    let got = std::future::poll_fn(|cx| {
        if let Poll::Ready(m) = rx.poll_recv(cx) {
            return Poll::Ready(m);
        }
        let mut a = lock(alarm);
        if a.waker.is_none() {
            // The first poll: arm the node's own deadline, then sleep.
            if let Some(sleep) = own.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
            }
            a.waker = Some(cx.waker().clone());
            a.at = deadline;
            return Poll::Pending;
        }
        // Woken by a timer: the node's own, one a sender armed, or one left from an earlier
        // wait (madsim's timers cannot be cancelled), which is not due.
        if a.at.is_some_and(|t| t <= world.now()) {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await;
    let mut a = lock(alarm);
    a.waker = None;
    a.at = None;
    a.armed.clear();
    got
}
