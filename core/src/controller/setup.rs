//! Building a controller: a new job, or one resumed from a restore point.

use super::*;

/// The first generation of a job.
pub(super) const FIRST_GENERATION: Generation = Generation(1);

/// The first epoch of a job.
pub(super) const FIRST_EPOCH: Epoch = Epoch(1);

/// Why a controller could not be created.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum SetupError {
    /// The job is not a valid dataflow.
    Job(JobError),
    /// The configuration is zero, contradictory or out of range somewhere.
    Config(ConfigError),
    /// The restore point cannot come from a controller of this job.
    Restore(RestoreError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Job(e) => write!(f, "invalid job: {e}"),
            SetupError::Config(e) => write!(f, "invalid {e}"),
            SetupError::Restore(e) => write!(f, "invalid restore point: {e}"),
        }
    }
}

/// Why a restore point was refused. A restore point comes from disk: it is checked like any
/// other input, never trusted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum RestoreError {
    /// A generation or epoch is 0: both count from 1.
    Zero {
        /// The field that is 0.
        field: &'static str,
    },
    /// A generation or epoch too close to the end of its type for the job to go on
    /// counting from it.
    TooLarge {
        /// The field that is too large.
        field: &'static str,
        /// The largest value accepted.
        max: u64,
    },
    /// The last epoch started is below the last completed one, which must have been started.
    LastStartedBelowEpoch {
        /// The last completed epoch.
        epoch: Epoch,
        /// The last epoch started, as recorded.
        last_started: Epoch,
    },
    /// The job was created after the time the controller is built at.
    CreatedInTheFuture {
        /// When the restore point says the job was created.
        created_at: Time,
        /// The time the controller is built at.
        now: Time,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Zero { field } => write!(f, "{field} must be at least 1"),
            RestoreError::TooLarge { field, max } => write!(f, "{field} must be at most {max}"),
            RestoreError::LastStartedBelowEpoch {
                epoch,
                last_started,
            } => write!(
                f,
                "last started epoch {last_started} is below the completed epoch {epoch}"
            ),
            RestoreError::CreatedInTheFuture { created_at, now } => {
                write!(f, "the job was created at {created_at}, after now ({now})")
            }
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<RestoreError> for SetupError {
    fn from(e: RestoreError) -> Self {
        SetupError::Restore(e)
    }
}

impl std::error::Error for SetupError {}

impl From<JobError> for SetupError {
    fn from(e: JobError) -> Self {
        SetupError::Job(e)
    }
}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Config(e)
    }
}

/// Where a job resumes: the last checkpoint a previous controller completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestorePoint {
    /// The last generation the previous controller started; the new one starts above it.
    pub generation: Generation,
    /// The last completed (persisted) checkpoint.
    pub epoch: Epoch,
    /// Whether every two-phase-commit sink committed it. If not, the commits are re-sent
    /// once the job runs again.
    pub committed: bool,
    /// The last epoch the previous controller started (completed or not): the new one
    /// numbers its checkpoints above it, so no epoch is ever reused.
    pub last_started: Epoch,
    /// When the job was first created (by the first controller, on the same clock as the
    /// `now` of every later one): the time to live counts from here across restores.
    pub created_at: Time,
}

impl RestorePoint {
    /// The largest generation and epoch a restore point may hold: `2^62` leaves room for
    /// `2^62` more restarts and checkpoints, more than any job can take (each needs at least
    /// one input), so the counters never reach the end of their type.
    pub const MAX_COUNTER: u64 = 1 << 62;

    /// Checks that a controller could have written this restore point, for a controller
    /// built at `now`.
    pub fn validate(&self, now: Time) -> Result<(), RestoreError> {
        let counters = [
            ("generation", self.generation.0),
            ("epoch", self.epoch.0),
            ("last_started", self.last_started.0),
        ];
        for (field, value) in counters {
            if value == 0 {
                return Err(RestoreError::Zero { field });
            }
            if value > Self::MAX_COUNTER {
                return Err(RestoreError::TooLarge {
                    field,
                    max: Self::MAX_COUNTER,
                });
            }
        }
        if self.last_started < self.epoch {
            return Err(RestoreError::LastStartedBelowEpoch {
                epoch: self.epoch,
                last_started: self.last_started,
            });
        }
        if self.created_at > now {
            return Err(RestoreError::CreatedInTheFuture {
                created_at: self.created_at,
                now,
            });
        }
        Ok(())
    }
}

/// What builds a controller: its job, config and start time, where it resumes, and (with
/// the `mutants` feature) the known bug it runs. Trace setup lines store it as is.
///
/// ```
/// # use quiesce_core::*;
/// # use quiesce_core::controller::{Controller, RestorePoint, SetupError};
/// # let job = Job {
/// #     name: "t".into(),
/// #     operators: vec![
/// #         Operator { name: "s".into(), kind: OperatorKind::Source, parallelism: 1 },
/// #         Operator { name: "k".into(), kind: OperatorKind::Sink { two_phase_commit: true }, parallelism: 1 },
/// #     ],
/// #     edges: vec![Edge { from: OperatorId(0), to: OperatorId(1) }],
/// #     workers: 1,
/// # };
/// # let restore_point = RestorePoint {
/// #     generation: Generation(3), epoch: Epoch(7), committed: true, last_started: Epoch(8), created_at: Time(0),
/// # };
/// let fresh = Controller::new(ControllerSetup::new(job.clone(), Config::default(), Time(0)))?;
/// let resumed = ControllerSetup::new(job, Config::default(), Time(0)).with_restore(restore_point);
/// assert_eq!(Controller::new(resumed)?.status().generation, Generation(4));
/// # Ok::<(), SetupError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControllerSetup {
    /// The job to run.
    pub job: Job,
    /// How to run it.
    pub config: Config,
    /// The time of the construction.
    pub start: Time,
    /// Where the job resumes; `None` for a new job.
    pub restore: Option<RestorePoint>,
    /// The known bug the controller runs with (see [`Mutant`]); never in production.
    #[cfg(feature = "mutants")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<Mutant>,
}

impl ControllerSetup {
    /// A new job's controller, started at `start`.
    pub fn new(job: Job, config: Config, start: Time) -> ControllerSetup {
        ControllerSetup {
            job,
            config,
            start,
            restore: None,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// The same, resuming from `restore`.
    #[must_use]
    pub fn with_restore(mut self, restore: RestorePoint) -> ControllerSetup {
        self.restore = Some(restore);
        self
    }

    /// The same, running the known bug `mutant`. Debug assertions of the invariants are off
    /// for a mutated controller: the checks under test must find the bug themselves.
    #[cfg(feature = "mutants")]
    #[must_use]
    pub fn with_mutant(mut self, mutant: Mutant) -> ControllerSetup {
        self.mutant = Some(mutant);
        self
    }
}

impl Controller {
    /// Builds a controller from its setup: a new job about to schedule its first generation,
    /// or, with a restore point, a job that resumes (see [`RestorePoint`]). The job, the
    /// configuration and the restore point are all checked: a bad one is an error.
    ///
    /// Takes the setup by value: the controller keeps the job, so a caller that wants the
    /// setup too (a trace recorder) clones it, and nobody else pays for a copy.
    pub fn new(setup: ControllerSetup) -> Result<Controller, SetupError> {
        let ControllerSetup {
            job,
            config,
            start: now,
            restore,
            #[cfg(feature = "mutants")]
            mutant,
        } = setup;
        job.validate()?;
        config.validate()?;
        if let Some(restore) = &restore {
            restore.validate(now)?;
        }
        let plan = Plan::of_valid(&job);
        let kinds: Vec<OperatorKind> = job
            .tasks()
            .map(|t| job.operators[t.operator.0 as usize].kind)
            .collect();
        let two_phase: Vec<bool> = kinds
            .iter()
            .map(|k| {
                matches!(
                    k,
                    OperatorKind::Sink {
                        two_phase_commit: true
                    }
                )
            })
            .collect();
        let source: Vec<bool> = kinds
            .iter()
            .map(|k| matches!(k, OperatorKind::Source))
            .collect();
        let workers = job.workers as usize;
        let mut commit_workers: Vec<WorkerId> = plan
            .hosts()
            .iter()
            .zip(&two_phase)
            .filter_map(|(&host, &two_phase)| two_phase.then_some(host))
            .collect();
        commit_workers.sort_unstable();
        commit_workers.dedup();
        let tasks = plan.len();
        let mut c = Controller {
            two_phase_tasks: two_phase.iter().filter(|&&b| b).count() as u32,
            two_phase,
            commit_workers,
            sources: source.iter().filter(|&&b| b).count() as u32,
            source,
            plan,
            now,
            created_at: restore.map_or(now, |r| r.created_at),
            phase: Phase::Failed,
            // Validated: the counters are far below u64::MAX.
            generation: restore.map_or(FIRST_GENERATION, |r| Generation(r.generation.0 + 1)),
            stopped_generation: restore.map(|r| r.generation),
            tasks: vec![TaskRun::Running; tasks],
            ended_tasks: 0,
            sources_ended: 0,
            last_seen: vec![Seen::At(now); workers],
            timers: Timers::default(),
            checkpoint: None,
            marks: vec![false; tasks],
            next_epoch: restore.map_or(FIRST_EPOCH, |r| Epoch(r.last_started.0 + 1)),
            last_completed: restore.map(|r| r.epoch),
            last_completed_committed: restore.is_none_or(|r| r.committed),
            retained: restore.map(|r| r.epoch).into_iter().collect(),
            cleanup: None,
            consecutive_failures: 0,
            interval_anchor: now,
            pause_anchor: now,
            stop: None,
            stop_requested: None,
            queued_request: None,
            drained: false,
            final_epoch: None,
            restart: RestartPolicy::new(config.restart_strategy, config.jitter_seed),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            #[cfg(feature = "mutants")]
            mutant,
            job,
            config,
        };
        if let Some(ttl_ms) = c.config.ttl_ms {
            // A job restored past its time to live stops at once.
            let deadline = c.created_at.plus_ms(ttl_ms).max(now);
            c.timers.arm(Timer::Ttl, deadline);
        }
        c.enter_scheduling(Reason::Created);
        c.debug_check(None);
        Ok(c)
    }
}
