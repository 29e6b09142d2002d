//! What builds a worker.

#[cfg(feature = "mutants")]
use super::mutants::WorkerMutant;
use super::{Restore, WorkerConfig};
use crate::types::{Generation, Job, Time, WorkerId};
use serde::{Deserialize, Serialize};

/// What builds a worker ([`Worker::new`](super::Worker::new)): the job, which worker of which
/// generation, its config and start time, the state it restores, and (with the `mutants`
/// feature) the known bug it runs. Trace setup lines store it as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkerSetup {
    /// The whole job: the worker derives the tasks it hosts from it.
    pub job: Job,
    /// Which worker slot this is.
    pub worker: WorkerId,
    /// The generation it runs.
    pub generation: Generation,
    /// Its settings.
    pub config: WorkerConfig,
    /// The snapshots its tasks restore; `None` to start from the beginning of the input.
    pub restore: Option<Restore>,
    /// The time of the construction.
    pub start: Time,
    /// The known bug the worker runs with (see [`WorkerMutant`]); never in production.
    #[cfg(feature = "mutants")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<WorkerMutant>,
}

impl WorkerSetup {
    /// Worker `worker` of `generation`, starting from the beginning of the input at `start`.
    pub fn new(
        job: Job,
        worker: WorkerId,
        generation: Generation,
        config: WorkerConfig,
        start: Time,
    ) -> WorkerSetup {
        WorkerSetup {
            job,
            worker,
            generation,
            config,
            restore: None,
            start,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// The same, restoring `restore`.
    #[must_use]
    pub fn with_restore(mut self, restore: Restore) -> WorkerSetup {
        self.restore = Some(restore);
        self
    }

    /// The same, running the known bug `mutant`.
    #[cfg(feature = "mutants")]
    #[must_use]
    pub fn with_mutant(mut self, mutant: WorkerMutant) -> WorkerSetup {
        self.mutant = Some(mutant);
        self
    }
}
