//! Task placement: which worker hosts which task of a job.
//!
//! The controller, every worker and a runtime must agree on it exactly — a worker refuses a
//! record for a task it does not host, and the controller a report from the wrong worker — so
//! it is defined here once, and everything else asks a [`Plan`].

use crate::types::{Job, JobError, TaskId, TaskIndex, WorkerId};
use std::sync::Arc;

/// The placement rule: the task at dense index `index` (its position in [`Job::tasks`]) runs
/// on worker `index % workers`, so the tasks are dealt round-robin, operator by operator.
///
/// `None` for a job without workers.
pub(crate) fn round_robin(index: usize, workers: u32) -> Option<WorkerId> {
    let worker = index.checked_rem(workers as usize)?;
    // Below `workers`, a u32.
    Some(WorkerId(u32::try_from(worker).unwrap_or(u32::MAX)))
}

/// Where one task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Placement {
    /// The task's position in [`Job::tasks`] order: a dense index in `0..plan.len()`, handy
    /// for per-task tables.
    pub index: usize,
    /// The worker that hosts the task.
    pub worker: WorkerId,
}

/// The job plan: which worker hosts which task, looked up in O(1) both ways.
///
/// Built once from a valid [`Job`]; the controller, every [`Worker`](crate::Worker) and a
/// runtime (to start each worker with its tasks, and to route data between workers) use the
/// same plan, so they cannot disagree. Tasks are dealt round-robin in [`Job::tasks`] order:
/// task `i` runs on worker `i % workers`.
///
/// Cloning is cheap: the tables are shared.
///
/// ```
/// use quiesce_core::*;
///
/// let op = |name: &str, kind, parallelism| Operator { name: name.into(), kind, parallelism };
/// let job = Job {
///     name: "plan".into(),
///     operators: vec![
///         op("src", OperatorKind::Source, 2),
///         op("sink", OperatorKind::Sink { two_phase_commit: true }, 3),
///     ],
///     edges: vec![Edge { from: OperatorId(0), to: OperatorId(1) }],
///     workers: 2,
/// };
/// let plan = Plan::new(&job)?;
/// let task = |operator, subtask| TaskId { operator: OperatorId(operator), subtask };
///
/// // Five tasks dealt to two workers in job order: src/0, sink/0, sink/2 on worker 0.
/// assert_eq!(plan.len(), 5);
/// assert_eq!(plan.tasks_of(WorkerId(0)), [task(0, 0), task(1, 0), task(1, 2)]);
/// assert_eq!(plan.tasks_of(WorkerId(1)), [task(0, 1), task(1, 1)]);
/// assert_eq!(plan.worker_of(task(1, 1)), Some(WorkerId(1)));
/// assert_eq!(plan.locate(task(1, 2)), Some(Placement { index: 4, worker: WorkerId(0) }));
///
/// // Tasks and workers the job does not have are not placed.
/// assert_eq!(plan.worker_of(task(1, 3)), None);
/// assert!(plan.tasks_of(WorkerId(2)).is_empty());
/// # Ok::<(), JobError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    workers: u32,
    index: TaskIndex,
    /// Per dense task index: the worker hosting it.
    hosts: Arc<[WorkerId]>,
    /// Every task grouped by worker, each group in job order; worker `w`'s tasks are
    /// `hosted[starts[w]..starts[w + 1]]`.
    hosted: Arc<[TaskId]>,
    starts: Arc<[usize]>,
}

impl Plan {
    /// The plan of `job`, or why the job is invalid (see [`Job::validate`]).
    pub fn new(job: &Job) -> Result<Plan, JobError> {
        job.validate()?;
        Ok(Plan::of_valid(job))
    }

    /// The plan of a job already validated.
    pub(crate) fn of_valid(job: &Job) -> Plan {
        let index = TaskIndex::new(job);
        let workers = job.workers;
        // A valid job has at least one worker; without, no task is placed.
        let hosts: Vec<WorkerId> = (0..index.len())
            .map_while(|i| round_robin(i, workers))
            .collect();
        // Grouped by worker; the sort is stable, so each group stays in job order.
        let mut by_worker: Vec<(WorkerId, TaskId)> =
            hosts.iter().copied().zip(job.tasks()).collect();
        by_worker.sort_by_key(|&(host, _)| host);
        let mut starts = vec![0usize; workers as usize + 1];
        for (host, _) in &by_worker {
            starts[host.0 as usize + 1] += 1;
        }
        for w in 0..workers as usize {
            starts[w + 1] += starts[w];
        }
        let hosted: Vec<TaskId> = by_worker.into_iter().map(|(_, task)| task).collect();
        Plan {
            workers,
            index,
            hosts: hosts.into(),
            hosted: hosted.into(),
            starts: starts.into(),
        }
    }

    /// The number of workers.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the plan places no task (never, for a valid job).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Where `task` runs, or `None` if the job has no such task.
    #[inline(always)]
    pub fn locate(&self, task: TaskId) -> Option<Placement> {
        let index = self.index.index(task)?;
        let worker = *self.hosts.get(index)?;
        Some(Placement { index, worker })
    }

    /// The worker that hosts `task`, or `None` if the job has no such task.
    #[inline]
    pub fn worker_of(&self, task: TaskId) -> Option<WorkerId> {
        self.locate(task).map(|p| p.worker)
    }

    /// The dense index of `task` (its position in [`Job::tasks`]), or `None` if the job has
    /// no such task.
    #[inline]
    pub fn index_of(&self, task: TaskId) -> Option<usize> {
        self.index.index(task)
    }

    /// The tasks `worker` hosts, in job order (empty for a worker the job does not have).
    pub fn tasks_of(&self, worker: WorkerId) -> &[TaskId] {
        let w = worker.0 as usize;
        match (self.starts.get(w), self.starts.get(w + 1)) {
            (Some(&start), Some(&end)) => &self.hosted[start..end],
            _ => &[],
        }
    }

    /// The worker hosting each task, by dense index.
    pub fn hosts(&self) -> &[WorkerId] {
        &self.hosts
    }
}
