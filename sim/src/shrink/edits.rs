//! The first two stages of shrinking, on the scenario: fault kinds off one by one, then the
//! fault plan and the environment's choices made smaller or calmer. Every edit is a candidate
//! scenario that is kept only if a run of it still fails as the original did; the runs are the
//! caller's ([`Shrinker::new`] takes the test), so that this part is pure.

use super::ddmin::{ddmin, Tried};
use crate::scenario::{kind_of, Fault, FaultKind, Scenario};
use std::collections::BTreeSet;

/// A scenario being shrunk, with the test every candidate must fail.
pub struct Shrinker<F> {
    best: Scenario,
    test: F,
    kept: Vec<String>,
    spent: bool,
    /// Candidates that did not fail, as JSON: a later pass does not run them again.
    passed: BTreeSet<String>,
}

/// `scenario` with `kind` off: no rate, not permanent, none of its planned faults.
pub fn without_kind(scenario: &Scenario, kind: FaultKind) -> Scenario {
    let mut s = scenario.clone();
    s.swarm.rates.remove(&kind);
    s.swarm.permanent.remove(&kind);
    s.plan.faults.retain(|p| kind_of(&p.fault) != kind);
    s
}

/// A value [`Shrinker::lower`] made from a u32: it lies between the floor and that u32.
fn narrow(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// How long a planned fault lasts, if it lasts.
fn duration(fault: &Fault) -> Option<u64> {
    match *fault {
        Fault::Hang { for_ms, .. }
        | Fault::Clog { for_ms, .. }
        | Fault::HeartbeatLoss { for_ms, .. }
        | Fault::ControllerStall { for_ms } => Some(for_ms),
        Fault::Crash { .. } | Fault::TaskFails { .. } | Fault::Reset { .. } => None,
    }
}

/// The same fault, lasting `ms`.
fn lasting(fault: Fault, ms: u64) -> Fault {
    match fault {
        Fault::Hang { worker, .. } => Fault::Hang { worker, for_ms: ms },
        Fault::Clog { worker, .. } => Fault::Clog { worker, for_ms: ms },
        Fault::HeartbeatLoss { worker, .. } => Fault::HeartbeatLoss { worker, for_ms: ms },
        Fault::ControllerStall { .. } => Fault::ControllerStall { for_ms: ms },
        other => other,
    }
}

impl<F: FnMut(&str, &Scenario) -> Tried> Shrinker<F> {
    /// Shrinks `scenario`, which fails `test`; `test` is told what each candidate changed.
    /// Every candidate `test` finds failing is taken at once (so a test may compare it with
    /// the last one it failed, such as by the length of its run).
    pub fn new(scenario: Scenario, test: F) -> Shrinker<F> {
        Shrinker {
            best: scenario,
            test,
            kept: Vec::new(),
            spent: false,
            passed: BTreeSet::new(),
        }
    }

    /// The smallest scenario seen failing so far.
    pub fn best(&self) -> &Scenario {
        &self.best
    }

    /// What was kept, in order.
    pub fn kept(&self) -> &[String] {
        &self.kept
    }

    /// Whether the budget of tries ran out.
    pub fn spent(&self) -> bool {
        self.spent
    }

    /// Both stages, again while a pass still shrinks (an edit of the second stage can make a
    /// fault kind removable), at most three passes.
    pub fn run(mut self) -> Shrinker<F> {
        for _ in 0..3 {
            let before = self.kept.len();
            self.kinds_off();
            self.environment();
            if self.kept.len() == before || self.spent {
                break;
            }
        }
        self
    }

    /// Tries `candidate`; keeps it if it still fails.
    fn keep(&mut self, what: String, candidate: Scenario) -> bool {
        if candidate == self.best || self.tried(&what, &candidate) != Tried::Fails {
            return false;
        }
        self.best = candidate;
        self.kept.push(what);
        true
    }

    /// Runs the test on `candidate`, unless the budget is spent or it did not fail before.
    fn tried(&mut self, what: &str, candidate: &Scenario) -> Tried {
        // A scenario is plain data: it always serialises.
        let json = serde_json::to_string(candidate).unwrap_or_default();
        if self.spent {
            return Tried::OutOfBudget;
        }
        if self.passed.contains(&json) {
            return Tried::Passes;
        }
        let tried = (self.test)(what, candidate);
        match tried {
            Tried::Passes => drop(self.passed.insert(json)),
            Tried::OutOfBudget => self.spent = true,
            Tried::Fails => {}
        }
        tried
    }

    /// Stage 1: each fault kind that is on, switched off.
    pub fn kinds_off(&mut self) {
        for kind in FaultKind::ALL {
            if self.best.swarm.rate(kind).is_some() {
                let candidate = without_kind(&self.best, kind);
                self.keep(format!("{kind} off"), candidate);
            }
        }
    }

    /// Stage 2: the fault plan, the fault kinds' rates, the stop plan, the workload, the
    /// phases and the job, each made smaller or calmer.
    pub fn environment(&mut self) {
        self.plan();
        self.durations();
        self.rates();
        for kind in self.best.swarm.permanent.clone() {
            let mut s = self.best.clone();
            s.swarm.permanent.remove(&kind);
            self.keep(format!("{kind} not permanent"), s);
        }
        self.stops();
        self.workload();
        let mut s = self.best.clone();
        s.config.ttl_ms = None;
        self.keep("no time to live".into(), s);
        self.phases();
        self.topology();
    }

    /// The planned faults, by delta debugging; then every planned kind left without a fault
    /// switched off.
    fn plan(&mut self) {
        self.sublist("planned faults", |s| &mut s.plan.faults);
        for kind in FaultKind::ALL.into_iter().filter(|k| k.is_planned()) {
            let planned = self
                .best
                .plan
                .faults
                .iter()
                .any(|p| kind_of(&p.fault) == kind);
            if self.best.swarm.rate(kind).is_some() && !planned {
                let candidate = without_kind(&self.best, kind);
                self.keep(format!("{kind} off (nothing planned)"), candidate);
            }
        }
    }

    /// Each planned fault that lasts, made to last less.
    fn durations(&mut self) {
        for i in 0..self.best.plan.faults.len() {
            let Some(ms) = duration(&self.best.plan.faults[i].fault) else {
                continue;
            };
            self.lower(&format!("planned fault {i} lasting"), ms, 1, |s, v| {
                s.plan.faults[i].fault = lasting(s.plan.faults[i].fault, v);
            });
        }
    }

    /// Each rate of a kind that strikes per operation or message, lowered (a planned kind's
    /// rate only drew its plan, which is shrunk directly).
    fn rates(&mut self) {
        for kind in FaultKind::ALL.into_iter().filter(|k| !k.is_planned()) {
            let Some(rate) = self.best.swarm.rate(kind) else {
                continue;
            };
            self.lower(&format!("{kind} rate"), rate.into(), 1, |s, v| {
                s.swarm.rates.insert(kind, narrow(v));
            });
        }
    }

    fn stops(&mut self) {
        self.sublist("stop requests", |s| &mut s.stops.requests);
        for i in (0..self.best.stops.checkpoints.len()).rev() {
            let mut s = self.best.clone();
            s.stops.checkpoints.remove(i);
            self.keep(format!("on-demand checkpoint {i} dropped"), s);
        }
    }

    fn workload(&mut self) {
        let mut s = self.best.clone();
        s.workload.end_of_input_ms = None;
        self.keep("input never ends".into(), s);
        if self.best.workload.batch > 0 {
            let mut s = self.best.clone();
            s.workload.batch = 0;
            if !self.keep("no records".into(), s) {
                let batch = self.best.workload.batch.into();
                self.lower("records per batch", batch, 1, |s, v| {
                    s.workload.batch = narrow(v);
                });
            }
        }
    }

    /// No settling before the closing stop; the chaos phase as short as the plan allows.
    fn phases(&mut self) {
        let mut s = self.best.clone();
        s.phases.settle_ms = 0;
        self.keep("no settling".into(), s);
        let last = self.best.plan.faults.iter().map(|p| p.at_ms + 1).max();
        let floor = last.unwrap_or(1).max(1);
        let chaos = self.best.phases.chaos_ms;
        self.lower("chaos phase ms", chaos, floor, |s, v| s.phases.chaos_ms = v);
    }

    /// Fewer workers and less parallelism, while the job stays valid (a planned fault of a
    /// worker or task that no longer exists strikes nothing).
    fn topology(&mut self) {
        let workers = self.best.job.workers.into();
        self.lower("workers", workers, 1, |s, v| {
            s.job.workers = narrow(v);
        });
        for i in 0..self.best.job.operators.len() {
            let op = &self.best.job.operators[i];
            let what = format!("{} parallelism", op.name);
            self.lower(&what, op.parallelism.into(), 1, |s, v| {
                s.job.operators[i].parallelism = narrow(v);
            });
        }
    }

    /// A list of the scenario cut by delta debugging.
    fn sublist<T: Clone>(&mut self, what: &str, list: impl Fn(&mut Scenario) -> &mut Vec<T>) {
        let mut base = self.best.clone();
        let all = list(&mut base).clone();
        let n = all.len();
        let kept = ddmin(all, |items| {
            let mut s = base.clone();
            *list(&mut s) = items.to_vec();
            self.tried(&format!("{} of {n} {what}", items.len()), &s)
        });
        if kept.len() < n {
            self.kept.push(format!("{what} {n} -> {}", kept.len()));
            *list(&mut self.best) = kept;
        }
    }

    /// Lowers a number from `current` toward `floor`: the floor itself first, then halfway
    /// steps while they still fail. A candidate whose job or config is invalid is not run.
    fn lower(&mut self, what: &str, current: u64, floor: u64, set: impl Fn(&mut Scenario, u64)) {
        let try_value = |this: &mut Self, from: u64, to: u64| {
            let mut s = this.best.clone();
            set(&mut s, to);
            let valid = s.job.validate().is_ok() && s.config.validate().is_ok();
            valid && this.keep(format!("{what} {from} -> {to}"), s)
        };
        if current <= floor || try_value(self, current, floor) {
            return;
        }
        let mut at = current;
        loop {
            let next = floor + (at - floor) / 2;
            if next <= floor || !try_value(self, at, next) {
                return;
            }
            at = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::PlannedFault;
    use quiesce_core::WorkerId;

    fn crash_of_worker_0(p: &PlannedFault) -> bool {
        p.fault
            == Fault::Crash {
                worker: WorkerId(0),
            }
    }

    /// A stand-in for a run: fails while snapshots fail and worker 0 crashes.
    fn fails(s: &Scenario) -> bool {
        s.swarm.rate(FaultKind::SnapshotFails).is_some()
            && s.plan.faults.iter().any(crash_of_worker_0)
    }

    fn seed_with_much_to_shrink() -> Scenario {
        (0..10_000)
            .map(Scenario::from_seed)
            .find(|s| fails(s) && s.swarm.rates.len() >= 8 && s.plan.faults.len() >= 10)
            .expect("some seed has snapshot failures, a crash of worker 0 and more")
    }

    #[test]
    fn only_what_the_failure_needs_is_left() {
        let original = seed_with_much_to_shrink();
        let mut tries = 0;
        let shrunk = Shrinker::new(original.clone(), |_: &str, s: &Scenario| {
            tries += 1;
            if fails(s) {
                Tried::Fails
            } else {
                Tried::Passes
            }
        })
        .run();
        let best = shrunk.best();
        assert!(fails(best));
        let on: Vec<FaultKind> = best.swarm.rates.keys().copied().collect();
        assert_eq!(on, vec![FaultKind::WorkerCrash, FaultKind::SnapshotFails]);
        assert_eq!(best.plan.faults.len(), 1);
        assert!(crash_of_worker_0(&best.plan.faults[0]));
        assert_eq!(best.swarm.rate(FaultKind::SnapshotFails), Some(1));
        assert!(best.swarm.permanent.is_empty() && best.stops.requests.is_empty());
        assert_eq!((best.workload.batch, best.phases.settle_ms), (0, 0));
        assert_eq!(best.phases.chaos_ms, best.plan.faults[0].at_ms + 1);
        assert_eq!(best.job.workers, 1);
        assert!(best.job.operators.iter().all(|o| o.parallelism == 1));
        // What was not the run's to change stays.
        assert_eq!(
            (best.seed, best.config.jitter_seed),
            (original.seed, original.config.jitter_seed)
        );
        assert!(!shrunk.spent() && !shrunk.kept().is_empty());
        drop(shrunk);
        assert!(tries > 0);
    }

    #[test]
    fn a_spent_budget_leaves_a_scenario_seen_failing() {
        let original = seed_with_much_to_shrink();
        for budget in [0, 1, 3, 10] {
            let mut left = budget;
            let shrunk = Shrinker::new(original.clone(), |_: &str, s: &Scenario| {
                if left == 0 {
                    return Tried::OutOfBudget;
                }
                left -= 1;
                if fails(s) {
                    Tried::Fails
                } else {
                    Tried::Passes
                }
            })
            .run();
            assert!(fails(shrunk.best()), "budget {budget}");
            assert!(shrunk.spent(), "budget {budget}");
        }
    }

    #[test]
    fn a_kind_switched_off_takes_its_planned_faults_along() {
        let s = seed_with_much_to_shrink();
        let off = without_kind(&s, FaultKind::WorkerCrash);
        assert_eq!(off.swarm.rate(FaultKind::WorkerCrash), None);
        assert!(off
            .plan
            .faults
            .iter()
            .all(|p| kind_of(&p.fault) != FaultKind::WorkerCrash));
        assert!(off.plan.faults.len() < s.plan.faults.len());
    }
}
