//! Links: per-link FIFO delivery with seeded delays, clogs (partitions) and resets (broken
//! connections), and the inbox where a node keeps what is on its way to it.
//!
//! A sender stamps each message with its delivery time and the link's connection number
//! ([`Links::send`]); the receiver keeps it in its [`Inbox`] until then and asks the link, as
//! it comes due, whether to take it, wait for a clog to end, or drop it because its connection
//! broke ([`Links::arrive`]). Messages on one link never overtake each other: a delivery time
//! is never before the link's previous one, and ties keep the sending order.

use crate::choices::{Concern, Stream};
use quiesce_core::{Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One end of a link: the controller's node or a worker slot's current incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The controller (with the scheduler and the stores).
    Controller,
    /// A worker slot.
    Worker(WorkerId),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Controller => f.write_str("controller"),
            End::Worker(w) => write!(f, "{w}"),
        }
    }
}

/// A directed link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId {
    /// The sender.
    pub from: End,
    /// The receiver.
    pub to: End,
}

impl LinkId {
    /// The two links between the controller and worker slot `w`.
    pub fn control(w: WorkerId) -> [LinkId; 2] {
        [
            LinkId {
                from: End::Controller,
                to: End::Worker(w),
            },
            LinkId {
                from: End::Worker(w),
                to: End::Controller,
            },
        ]
    }

    /// Every link worker slot `w` is an end of, in a world of `workers` slots: its two control
    /// links, and the data links to and from every other slot (data between tasks of one
    /// worker never leaves it).
    pub fn of_worker(w: WorkerId, workers: u32) -> Vec<LinkId> {
        let mut links = LinkId::control(w).to_vec();
        for other in (0..workers).map(WorkerId).filter(|&o| o != w) {
            let (me, them) = (End::Worker(w), End::Worker(other));
            links.push(LinkId { from: me, to: them });
            links.push(LinkId { from: them, to: me });
        }
        links
    }
}

/// What a sender attaches to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The link.
    pub link: LinkId,
    /// When it is due at the receiver.
    pub at: Time,
    /// The link's connection when it was sent; a reset starts a new one.
    pub connection: u64,
    /// Sending order over all links, to keep ties in order.
    pub seq: u64,
}

/// What the receiver does with a message that came due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arrival {
    /// Take it now.
    Deliver,
    /// The link is clogged: keep it until then.
    Wait(Time),
    /// Its connection broke while it was in flight: it is lost.
    Lost,
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkState {
    last_at: Time,
    connection: u64,
    clogged_until: Option<Time>,
}

/// Every link of a run, and the delays they draw.
#[derive(Clone, Debug)]
pub struct Links {
    links: BTreeMap<LinkId, LinkState>,
    stream: Stream,
    base_ms: (u64, u64),
    seq: u64,
}

impl Links {
    /// The links of the run of `seed`: every message takes a base delay drawn once per run
    /// (a lower bound of 0 to 2 ms, an upper one of 1 to 10 ms), plus any extra a fault adds.
    pub fn new(seed: u64) -> Links {
        let mut stream = Stream::new(seed, Concern::Links);
        let lo = stream.range(0, 2);
        let hi = stream.range(lo.max(1), 10);
        Links {
            links: BTreeMap::new(),
            stream,
            base_ms: (lo, hi),
            seq: 0,
        }
    }

    /// Stamps a message sent on `link` at `now`: its delivery time is the base delay plus up to
    /// `extra_ms` of jitter, but never before the link's previous delivery (FIFO).
    pub fn send(&mut self, now: Time, link: LinkId, extra_ms: u64) -> Stamp {
        self.stamp(now, link, extra_ms, 0)
    }

    /// Like [`Links::send`], but the message is held back `hold_ms` past its FIFO time, and
    /// later messages may overtake it: the opt-in reorder fault.
    pub fn send_held_back(
        &mut self,
        now: Time,
        link: LinkId,
        extra_ms: u64,
        hold_ms: u64,
    ) -> Stamp {
        self.stamp(now, link, extra_ms, hold_ms)
    }

    fn stamp(&mut self, now: Time, link: LinkId, extra_ms: u64, hold_ms: u64) -> Stamp {
        let delay = self.stream.range(self.base_ms.0, self.base_ms.1)
            + if extra_ms > 0 {
                self.stream.range(0, extra_ms)
            } else {
                0
            };
        let state = self.links.entry(link).or_default();
        let at = now.plus_ms(delay).max(state.last_at);
        if hold_ms == 0 {
            state.last_at = at;
        }
        let at = at.plus_ms(hold_ms);
        self.seq += 1;
        Stamp {
            link,
            at,
            connection: state.connection,
            seq: self.seq,
        }
    }

    /// What to do with a message that came due at `now`.
    pub fn arrive(&self, now: Time, stamp: &Stamp) -> Arrival {
        let state = self.links.get(&stamp.link).copied().unwrap_or_default();
        if state.connection != stamp.connection {
            return Arrival::Lost;
        }
        match state.clogged_until {
            Some(until) if until > now => Arrival::Wait(until),
            _ => Arrival::Deliver,
        }
    }

    /// Stalls `link` until `until`: its messages wait, in order.
    pub fn clog(&mut self, link: LinkId, until: Time) {
        let state = self.links.entry(link).or_default();
        state.clogged_until = Some(state.clogged_until.map_or(until, |u| u.max(until)));
        // Later messages are not due before the clog ends either.
        state.last_at = state.last_at.max(until);
    }

    /// Ends every clog (the environment heals).
    pub fn unclog_all(&mut self) {
        for state in self.links.values_mut() {
            state.clogged_until = None;
        }
    }

    /// Breaks `link`'s connection: everything in flight on it is lost; later messages go over
    /// a new connection.
    pub fn reset(&mut self, link: LinkId) {
        let state = self.links.entry(link).or_default();
        state.connection += 1;
    }
}

/// What is on its way to one node, in delivery order (time, then sending order).
#[derive(Clone, Debug)]
pub struct Inbox<M> {
    queue: BTreeMap<(Time, u64), (Stamp, M)>,
}

impl<M> Default for Inbox<M> {
    fn default() -> Self {
        Inbox {
            queue: BTreeMap::new(),
        }
    }
}

impl<M> Inbox<M> {
    /// Keeps `message` until its stamp's time.
    pub fn push(&mut self, stamp: Stamp, message: M) {
        self.queue.insert((stamp.at, stamp.seq), (stamp, message));
    }

    /// When the next message is due.
    pub fn next_at(&self) -> Option<Time> {
        self.queue.keys().next().map(|&(at, _)| at)
    }

    /// The next message due by `now`, as the links decide: delivered, or dropped (lost) and the
    /// next one tried; one that must wait for a clog is kept, under its new time.
    pub fn pop_due(&mut self, now: Time, links: &Links) -> Option<(Stamp, M)> {
        loop {
            match self.pop_arrival(now, links)? {
                (stamp, message, Arrival::Deliver) => return Some((stamp, message)),
                _ => continue,
            }
        }
    }

    /// Like [`Inbox::pop_due`], but a message lost to a broken connection is handed out too
    /// ([`Arrival::Lost`]), for a receiver whose end of the connection notices the loss (a data
    /// channel numbers its items: a gap is a broken channel).
    pub fn pop_arrival(&mut self, now: Time, links: &Links) -> Option<(Stamp, M, Arrival)> {
        loop {
            let (&key, _) = self.queue.iter().next().filter(|(k, _)| k.0 <= now)?;
            // The key was just read from the queue.
            let (mut stamp, message) = self.queue.remove(&key)?;
            match links.arrive(now, &stamp) {
                Arrival::Wait(until) => {
                    stamp.at = until;
                    self.queue.insert((until, stamp.seq), (stamp, message));
                }
                arrival => return Some((stamp, message, arrival)),
            }
        }
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: LinkId = LinkId {
        from: End::Worker(WorkerId(0)),
        to: End::Controller,
    };

    fn deliver_all(inbox: &mut Inbox<u32>, links: &Links) -> Vec<(Time, u32)> {
        let mut out = Vec::new();
        while let Some(at) = inbox.next_at() {
            if let Some((_, m)) = inbox.pop_due(at, links) {
                out.push((at, m));
            }
        }
        out
    }

    #[test]
    fn a_link_keeps_its_order_whatever_the_jitter() {
        let mut links = Links::new(3);
        let mut inbox = Inbox::default();
        for i in 0..500 {
            let stamp = links.send(Time(i / 10), UP, 200);
            inbox.push(stamp, i as u32);
        }
        let got = deliver_all(&mut inbox, &links);
        assert_eq!(got.len(), 500);
        assert!(got.windows(2).all(|w| w[0].1 < w[1].1 && w[0].0 <= w[1].0));
    }

    #[test]
    fn a_clog_holds_messages_in_order_until_it_ends() {
        let mut links = Links::new(1);
        let mut inbox = Inbox::default();
        let first = links.send(Time(0), UP, 0);
        inbox.push(first, 1);
        links.clog(UP, Time(5_000));
        inbox.push(links.send(Time(1), UP, 0), 2);
        assert_eq!(inbox.pop_due(first.at, &links), None, "held by the clog");
        let got = deliver_all(&mut inbox, &links);
        assert_eq!(got, vec![(Time(5_000), 1), (Time(5_000), 2)]);
    }

    #[test]
    fn a_reset_loses_what_is_in_flight_but_not_what_follows() {
        let mut links = Links::new(2);
        let mut inbox = Inbox::default();
        inbox.push(links.send(Time(0), UP, 0), 1);
        links.reset(UP);
        inbox.push(links.send(Time(0), UP, 0), 2);
        let got: Vec<u32> = deliver_all(&mut inbox, &links)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, vec![2]);
    }

    #[test]
    fn links_are_independent_and_seeded() {
        let other = LinkId {
            from: End::Controller,
            to: End::Worker(WorkerId(0)),
        };
        let stamps = |seed| {
            let mut links = Links::new(seed);
            (0..20)
                .map(|i| {
                    links
                        .send(Time(i), if i % 2 == 0 { UP } else { other }, 50)
                        .at
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(stamps(9), stamps(9));
        let mut links = Links::new(9);
        links.clog(UP, Time(1_000));
        // A clog of one link does not hold the other.
        let s = links.send(Time(0), other, 0);
        assert_eq!(links.arrive(s.at, &s), Arrival::Deliver);
    }

    #[test]
    fn a_held_back_message_is_overtaken_by_later_ones() {
        let mut links = Links::new(4);
        let mut inbox = Inbox::default();
        inbox.push(links.send_held_back(Time(0), UP, 0, 100), 1);
        inbox.push(links.send(Time(1), UP, 0), 2);
        let got: Vec<u32> = deliver_all(&mut inbox, &links)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, vec![2, 1]);
    }

    #[test]
    fn a_worker_s_links_are_its_control_links_and_its_data_links_both_ways() {
        let (w0, w1, w2) = (WorkerId(0), WorkerId(1), WorkerId(2));
        let links = LinkId::of_worker(w1, 3);
        assert_eq!(links.len(), 6);
        for link in LinkId::control(w1) {
            assert!(links.contains(&link));
        }
        for other in [w0, w2] {
            let (me, them) = (End::Worker(w1), End::Worker(other));
            assert!(links.contains(&LinkId { from: me, to: them }));
            assert!(links.contains(&LinkId { from: them, to: me }));
        }
        assert!(links
            .iter()
            .all(|l| l.from == End::Worker(w1) || l.to == End::Worker(w1)));
        assert_eq!(LinkId::of_worker(w0, 1), LinkId::control(w0).to_vec());
    }

    #[test]
    fn a_data_link_clogs_and_resets_like_a_control_link_and_its_losses_are_seen() {
        let data = LinkId {
            from: End::Worker(WorkerId(0)),
            to: End::Worker(WorkerId(1)),
        };
        let mut links = Links::new(6);
        let mut inbox = Inbox::default();
        let first = links.send(Time(0), data, 0);
        inbox.push(first, 1);
        for link in LinkId::of_worker(WorkerId(1), 2) {
            links.clog(link, Time(3_000));
        }
        inbox.push(links.send(Time(1), data, 0), 2);
        assert_eq!(
            inbox.pop_arrival(first.at, &links),
            None,
            "held by the clog"
        );
        assert_eq!(inbox.next_at(), Some(Time(3_000)));
        for link in LinkId::of_worker(WorkerId(0), 2) {
            links.reset(link);
        }
        inbox.push(links.send(Time(2), data, 0), 3);
        let mut seen = Vec::new();
        while let Some(at) = inbox.next_at() {
            while let Some((_, m, arrival)) = inbox.pop_arrival(at, &links) {
                seen.push((m, arrival));
            }
        }
        assert_eq!(
            seen,
            vec![
                (1, Arrival::Lost),
                (2, Arrival::Lost),
                (3, Arrival::Deliver)
            ],
            "in flight across the reset: lost, and handed out as lost; then a new connection"
        );
    }
}
