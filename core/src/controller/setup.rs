//! Building a controller: a new job, or one resumed from a restore point.

use super::*;

/// Why a controller could not be created.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum SetupError {
    Job(JobError),
    Config(ConfigError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Job(e) => write!(f, "invalid job: {e}"),
            SetupError::Config(e) => write!(f, "invalid {e}"),
        }
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
}

impl Controller {
    /// A controller for a new job, about to schedule its first generation.
    pub fn new(job: Job, config: Config, now: Time) -> Result<Controller, SetupError> {
        Controller::restore(job, config, now, None)
    }

    /// A controller for a job that resumes from `restore` (see [`RestorePoint`]).
    pub fn restore(
        job: Job,
        config: Config,
        now: Time,
        restore: Option<RestorePoint>,
    ) -> Result<Controller, SetupError> {
        job.validate()?;
        config.validate()?;
        let index = TaskIndex::new(&job);
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
        let mut commit_workers: Vec<WorkerId> = (0..index.len())
            .filter(|&i| two_phase[i])
            .map(|i| WorkerId((i % workers) as u32))
            .collect();
        commit_workers.sort_unstable();
        commit_workers.dedup();
        let tasks = index.len();
        let mut c = Controller {
            two_phase_tasks: two_phase.iter().filter(|&&b| b).count() as u32,
            two_phase,
            commit_workers,
            sources: source.iter().filter(|&&b| b).count() as u32,
            source,
            index,
            now,
            phase: Phase::Failed,
            generation: Generation(restore.map_or(1, |r| r.generation.0 + 1)),
            stopped_generation: restore.map(|r| r.generation),
            tasks: vec![TaskRun::Running; tasks],
            ended_tasks: 0,
            sources_ended: 0,
            last_seen: vec![Seen::At(now); workers],
            timers: Timers::default(),
            checkpoint: None,
            marks: vec![false; tasks],
            next_epoch: Epoch(restore.map_or(1, |r| r.epoch.max(r.last_started).0 + 1)),
            last_completed: restore.map(|r| r.epoch),
            last_completed_committed: restore.is_none_or(|r| r.committed),
            retained: restore.map(|r| r.epoch).into_iter().collect(),
            cleanup: None,
            consecutive_failures: 0,
            interval_anchor: now,
            pause_anchor: now,
            stop: None,
            drained: false,
            final_epoch: None,
            restart: RestartPolicy::new(config.restart_strategy, config.jitter_seed),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            #[cfg(feature = "mutants")]
            mutant: None,
            job,
            config,
        };
        if let Some(ttl_ms) = c.config.ttl_ms {
            c.timers.arm(Timer::Ttl, now.plus_ms(ttl_ms));
        }
        c.enter_scheduling(Reason::Created);
        c.debug_check(None);
        Ok(c)
    }

    /// Re-introduces a known bug (see [`Mutant`]). Debug assertions of the invariants are
    /// off for a mutated controller: the checks under test must find the bug themselves.
    #[cfg(feature = "mutants")]
    pub fn with_mutant(mut self, mutant: Mutant) -> Controller {
        self.mutant = Some(mutant);
        self
    }
}
