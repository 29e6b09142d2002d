//! Known bugs of the core, switched on by name (`--mutant NAME`) to show that the simulator's
//! checks catch them. They exist only with the `mutants` feature.

#[cfg(feature = "mutants")]
use quiesce_core::controller::mutants::Mutant;
#[cfg(feature = "mutants")]
use quiesce_core::worker::mutants::WorkerMutant;
use quiesce_core::Property;
use serde::{Deserialize, Serialize};

/// A known bug of the controller or of the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Planted {
    /// A controller bug.
    #[cfg(feature = "mutants")]
    Controller(Mutant),
    /// A worker bug.
    #[cfg(feature = "mutants")]
    Worker(WorkerMutant),
}

impl Planted {
    /// Every known bug: the controller's, then the workers'.
    pub fn all() -> Vec<Planted> {
        #[cfg(feature = "mutants")]
        {
            let controller = Mutant::ALL.into_iter().map(Planted::Controller);
            controller
                .chain(WorkerMutant::ALL.into_iter().map(Planted::Worker))
                .collect()
        }
        #[cfg(not(feature = "mutants"))]
        Vec::new()
    }

    /// The bug named `name` (its machine's name for it; a worker bug that shares its name
    /// with a controller bug is `worker:NAME`).
    pub fn from_name(name: &str) -> Option<Planted> {
        let (worker_only, name) = match name.strip_prefix("worker:") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        Planted::all()
            .into_iter()
            .filter(|p| !worker_only || p.is_worker())
            .find(|p| p.name() == name)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "mutants")]
            Planted::Controller(m) => m.name(),
            #[cfg(feature = "mutants")]
            Planted::Worker(m) => m.name(),
        }
    }

    /// The name `--mutant` takes: its name, or `worker:NAME` for a worker bug whose name a
    /// controller bug has too.
    pub fn cli_name(self) -> String {
        let shared = Planted::all()
            .into_iter()
            .any(|p| p != self && p.name() == self.name());
        if shared && self.is_worker() {
            format!("worker:{}", self.name())
        } else {
            self.name().to_string()
        }
    }

    /// The property that must catch it.
    pub fn property(self) -> Property {
        match self {
            #[cfg(feature = "mutants")]
            Planted::Controller(m) => m.property(),
            #[cfg(feature = "mutants")]
            Planted::Worker(m) => m.property(),
        }
    }

    fn is_worker(self) -> bool {
        match self {
            #[cfg(feature = "mutants")]
            Planted::Controller(_) => false,
            #[cfg(feature = "mutants")]
            Planted::Worker(_) => true,
        }
    }
}

#[cfg(all(test, feature = "mutants"))]
mod tests {
    use super::*;

    #[test]
    fn every_bug_is_found_by_its_name() {
        for p in Planted::all() {
            assert_eq!(
                Planted::from_name(&p.cli_name()),
                Some(p),
                "{}",
                p.cli_name()
            );
        }
        let twice = Planted::Worker(WorkerMutant::InputOutrunsTimers);
        assert_eq!(twice.cli_name(), "worker:input-outruns-timers");
        assert_eq!(Planted::from_name("no-such-bug"), None);
    }
}
