//! How the environment carries out effects: how long each takes and whether it fails, drawn
//! per fault kind from that kind's own stream (so switching one kind off leaves the others'
//! draws alone) and from a latency stream when no fault is involved.

use crate::choices::{Concern, Stream};
use crate::scenario::{FaultKind, Scenario};
use std::collections::BTreeMap;

/// How an effect turns out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// It completes (or fails) this long after it was asked for.
    pub after_ms: u64,
    /// Whether it succeeds.
    pub ok: bool,
}

/// How a kill of a generation's workers turns out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// The scheduler confirms it after this long.
    ConfirmedAfter(u64),
    /// The scheduler never confirms it.
    Unconfirmed,
}

/// What happens to one control message (opt-in faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// It goes over its link as usual.
    Deliver,
    /// It is lost.
    Lose,
    /// It is held back this long, and later messages may overtake it.
    HoldBack(u64),
}

/// The environment's seeded decisions about effects.
#[derive(Clone, Debug)]
pub struct Effects {
    seed: u64,
    latency: Stream,
    kinds: BTreeMap<FaultKind, Stream>,
    struck: BTreeMap<FaultKind, u64>,
    /// The faults that struck since [`Effects::take_recent`] was last called, in order.
    recent: Vec<FaultKind>,
}

impl Effects {
    /// The decisions of the run of `seed`.
    pub fn new(seed: u64) -> Effects {
        Effects {
            seed,
            latency: Stream::new(seed, Concern::Latency),
            kinds: BTreeMap::new(),
            struck: BTreeMap::new(),
            recent: Vec::new(),
        }
    }

    /// How often each kind of fault struck an operation so far.
    pub fn struck(&self) -> &BTreeMap<FaultKind, u64> {
        &self.struck
    }

    /// The faults that struck since the last call, in order (for the trace).
    pub fn take_recent(&mut self) -> Vec<FaultKind> {
        std::mem::take(&mut self.recent)
    }

    fn count(&mut self, kind: FaultKind) {
        *self.struck.entry(kind).or_default() += 1;
        self.recent.push(kind);
    }

    fn stream(&mut self, kind: FaultKind) -> &mut Stream {
        let seed = self.seed;
        self.kinds
            .entry(kind)
            .or_insert_with(|| Stream::new(seed, Concern::Effects(kind)))
    }

    /// Whether a fault of `kind` strikes this operation at `now_ms` (a percent rate).
    fn strikes(&mut self, scenario: &Scenario, kind: FaultKind, now_ms: u64) -> bool {
        let strikes = match scenario.rate_at(kind, now_ms) {
            Some(rate) => self.stream(kind).percent(rate),
            None => false,
        };
        if strikes {
            self.count(kind);
        }
        strikes
    }

    /// An extra delay from `kind`'s stream, if a fault of `kind` strikes.
    fn slowed(&mut self, scenario: &Scenario, kind: FaultKind, now_ms: u64, hi_ms: u64) -> u64 {
        if self.strikes(scenario, kind, now_ms) {
            self.stream(kind).range(1_000, hi_ms)
        } else {
            0
        }
    }

    /// Storing a task's snapshot: 1 to 20 ms, up to 30 s more when slow; it may fail.
    pub fn snapshot(&mut self, scenario: &Scenario, now_ms: u64) -> Outcome {
        let base = self.latency.range(1, 20);
        let slow = self.slowed(scenario, FaultKind::SnapshotSlow, now_ms, 30_000);
        let fails = self.strikes(scenario, FaultKind::SnapshotFails, now_ms);
        Outcome {
            after_ms: base + slow,
            ok: !fails,
        }
    }

    /// A commit into the external system: instant, up to 30 s when slow; when it fails, the
    /// worker dies before it reports the commit.
    pub fn commit(&mut self, scenario: &Scenario, now_ms: u64) -> Outcome {
        let slow = self.slowed(scenario, FaultKind::CommitSlow, now_ms, 30_000);
        let fails = self.strikes(scenario, FaultKind::CommitFails, now_ms);
        Outcome {
            after_ms: slow,
            ok: !fails,
        }
    }

    /// Persisting checkpoint metadata: 1 to 20 ms, up to 30 s more when slow; it may fail.
    pub fn persist(&mut self, scenario: &Scenario, now_ms: u64) -> Outcome {
        let base = self.latency.range(1, 20);
        let slow = self.slowed(scenario, FaultKind::PersistSlow, now_ms, 30_000);
        let fails = self.strikes(scenario, FaultKind::PersistFails, now_ms);
        Outcome {
            after_ms: base + slow,
            ok: !fails,
        }
    }

    /// Deleting old checkpoints: 1 to 50 ms, up to 2 min more when slow.
    pub fn cleanup(&mut self, scenario: &Scenario, now_ms: u64) -> u64 {
        let base = self.latency.range(1, 50);
        base + self.slowed(scenario, FaultKind::CleanupSlow, now_ms, 120_000)
    }

    /// Starting a generation's workers: 1 to 50 ms, up to 30 s more when slow; it may fail.
    pub fn start(&mut self, scenario: &Scenario, now_ms: u64) -> Outcome {
        let base = self.latency.range(1, 50);
        let slow = self.slowed(scenario, FaultKind::SchedulerSlow, now_ms, 30_000);
        let fails = self.strikes(scenario, FaultKind::SchedulerStartFails, now_ms);
        Outcome {
            after_ms: base + slow,
            ok: !fails,
        }
    }

    /// Killing a generation's workers: confirmed after 1 to 20 ms, up to 60 s more when slow,
    /// or never.
    pub fn kill(&mut self, scenario: &Scenario, now_ms: u64) -> Kill {
        let base = self.latency.range(1, 20);
        let slow = self.slowed(scenario, FaultKind::KillSlow, now_ms, 60_000);
        if self.strikes(scenario, FaultKind::KillNeverConfirmed, now_ms) {
            Kill::Unconfirmed
        } else {
            Kill::ConfirmedAfter(base + slow)
        }
    }

    /// How long the scheduler takes to notice that a worker's process died: 1 to 100 ms, or
    /// never on one crash in five (the controller then finds out by the missing heartbeats).
    pub fn exit_noticed(&mut self) -> Option<u64> {
        let after = self.latency.range(1, 100);
        let never = self.latency.percent(20);
        (!never).then_some(after)
    }

    /// The fate of a control message sent at `now_ms`: lost (per mille), held back 1 to 200 ms
    /// (percent), or delivered. Never decided for data: data channels stay FIFO, and lose
    /// items only to a reset, which breaks the channel.
    pub fn control(&mut self, scenario: &Scenario, now_ms: u64) -> Control {
        if let Some(per_mille) = scenario.rate_at(FaultKind::ControlLoss, now_ms) {
            if self.stream(FaultKind::ControlLoss).per_mille(per_mille) {
                self.count(FaultKind::ControlLoss);
                return Control::Lose;
            }
        }
        if self.strikes(scenario, FaultKind::ControlReorder, now_ms) {
            return Control::HoldBack(self.stream(FaultKind::ControlReorder).range(1, 200));
        }
        Control::Deliver
    }

    /// Whether a new worker incarnation ignores stop commands.
    pub fn ignores_stop(&mut self, scenario: &Scenario, now_ms: u64) -> bool {
        self.strikes(scenario, FaultKind::IgnoresStop, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed with `kind` on (and, for the test, every other kind off).
    fn only(kind: FaultKind, rate: u32) -> Scenario {
        let mut s = Scenario::from_seed(5);
        s.swarm.rates.clear();
        s.swarm.permanent.clear();
        s.swarm.rates.insert(kind, rate);
        s
    }

    #[test]
    fn a_kind_that_is_off_never_strikes() {
        let s = only(FaultKind::PersistSlow, 100);
        let mut e = Effects::new(1);
        for now in 0..200 {
            assert!(e.snapshot(&s, now).ok);
            assert!(e.persist(&s, now).ok);
            assert!(e.start(&s, now).ok);
            assert!(matches!(e.kill(&s, now), Kill::ConfirmedAfter(ms) if ms <= 20));
            assert!(!e.ignores_stop(&s, now));
            assert_eq!(e.control(&s, now), Control::Deliver);
        }
    }

    #[test]
    fn a_kind_that_is_on_strikes_in_chaos_only_unless_permanent() {
        let mut s = only(FaultKind::KillNeverConfirmed, 100);
        let chaos = s.phases.chaos_ms;
        let mut e = Effects::new(1);
        assert_eq!(e.kill(&s, 0), Kill::Unconfirmed);
        assert!(matches!(e.kill(&s, chaos), Kill::ConfirmedAfter(_)));
        s.swarm.permanent.insert(FaultKind::KillNeverConfirmed);
        assert_eq!(e.kill(&s, chaos), Kill::Unconfirmed);
        let s = only(FaultKind::PersistSlow, 100);
        assert!(e.persist(&s, 0).after_ms >= 1_000);
    }

    #[test]
    fn switching_one_kind_off_leaves_the_others_draws_alone() {
        let mut both = only(FaultKind::SnapshotFails, 50);
        both.swarm.rates.insert(FaultKind::SnapshotSlow, 50);
        let one = only(FaultKind::SnapshotFails, 50);
        let (mut a, mut b) = (Effects::new(3), Effects::new(3));
        for now in 0..500 {
            assert_eq!(a.snapshot(&both, now).ok, b.snapshot(&one, now).ok);
        }
    }
}
