//! Identifiers, time and the job description shared by both machines.

use crate::plan;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A point on the embedder's monotonic clock, in milliseconds.
///
/// The core never reads a clock: every call takes `now: Time`, and time may not go backwards.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The time `ms` milliseconds after `self`, saturating at the end of time.
    #[must_use]
    pub const fn plus_ms(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (zero if `earlier` is later).
    #[must_use]
    pub const fn ms_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// One (re)start of the job. Every message carries it; messages of another generation are
/// rejected, so a zombie worker can never act on a newer run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Generation(pub u64);

/// A checkpoint number. Epochs strictly increase over the whole life of a job, across
/// generations: an epoch is never reused, so a late message for an old epoch is recognisable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u64);

/// A worker slot of the job, `0..job.workers`. The same slot is refilled in every generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkerId(pub u32);

/// An operator of the job: its index in [`Job::operators`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperatorId(pub u32);

/// One parallel instance of an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId {
    /// The operator it is an instance of.
    pub operator: OperatorId,
    /// Which instance, `0..parallelism`.
    pub subtask: u32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.operator.0, self.subtask)
    }
}

macro_rules! display_newtype {
    ($($ty:ident => $prefix:literal),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    )*};
}
display_newtype!(Generation => "g", Epoch => "e", WorkerId => "w", OperatorId => "op");

/// What an operator does with records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OperatorKind {
    /// Reads records from partitions; has no inputs.
    Source,
    /// Consumes and produces records; has at least one input and one output.
    Transform,
    /// A transform with state: it keeps a running count of the records it has seen per key
    /// (the key derived from the record: [`crate::worker::Key`]) and forwards every record.
    /// Its counts are part of its checkpoint snapshot and restored with it. It stands in the
    /// graph where a transform may.
    KeyedCount,
    /// Writes records out; has no outputs. A two-phase-commit sink pre-commits at each barrier
    /// and makes the data visible only on the controller's commit for that epoch.
    Sink {
        /// Exactly once through pre-commits and the controller's commits; without it, every
        /// record is written as it arrives (at least once).
        two_phase_commit: bool,
    },
}

/// An operator of the job's dataflow graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operator {
    /// A name for people: logs and reports.
    pub name: String,
    /// What it does with records.
    pub kind: OperatorKind,
    /// Number of subtasks, at least 1.
    pub parallelism: u32,
}

/// A data edge: every subtask of `from` may send to every subtask of `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// The upstream operator.
    pub from: OperatorId,
    /// The downstream operator.
    pub to: OperatorId,
}

/// The job: a DAG of operators with parallelism, hosted on `workers` worker slots.
///
/// Task `i` in [`Job::tasks`] order runs on worker `i % workers`. [`Job::builder`] is the
/// short way to write one:
///
/// ```
/// use quiesce_core::Job;
///
/// let job = Job::builder("copy", 2).source("read", 2).sink("write", 2).edge("read", "write");
/// let job = job.build()?;
/// assert_eq!(job.tasks().count(), 4);
/// # Ok::<(), quiesce_core::JobError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Job {
    /// A name for people: logs and reports.
    pub name: String,
    /// The operators; [`OperatorId`] `i` is `operators[i]`.
    pub operators: Vec<Operator>,
    /// The data edges between operators.
    pub edges: Vec<Edge>,
    /// The number of worker slots, `WorkerId(0..workers)`.
    pub workers: u32,
}

/// Why a job description was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobError {
    /// The job has no operators.
    NoOperators,
    /// The job has no worker slots.
    NoWorkers,
    /// An operator has parallelism 0.
    ZeroParallelism {
        /// The operator.
        operator: OperatorId,
    },
    /// An edge names an operator the job does not have.
    UnknownOperator {
        /// The edge.
        edge: Edge,
    },
    /// An edge leads from an operator to itself.
    SelfLoop {
        /// The operator.
        operator: OperatorId,
    },
    /// The same edge appears twice.
    DuplicateEdge {
        /// The edge.
        edge: Edge,
    },
    /// The operator graph has a cycle.
    Cycle,
    /// A source has an input edge.
    SourceWithInput {
        /// The operator.
        operator: OperatorId,
    },
    /// A sink has an output edge.
    SinkWithOutput {
        /// The operator.
        operator: OperatorId,
    },
    /// A sink has no input edge: no barrier could ever reach it.
    SinkWithoutInput {
        /// The operator.
        operator: OperatorId,
    },
    /// A transform has no input edge.
    TransformWithoutInput {
        /// The operator.
        operator: OperatorId,
    },
    /// A transform has no output edge.
    TransformWithoutOutput {
        /// The operator.
        operator: OperatorId,
    },
    /// A source has no output edge.
    SourceWithoutOutput {
        /// The operator.
        operator: OperatorId,
    },
    /// The job has no source.
    NoSource,
    /// The job has no sink.
    NoSink,
    /// More worker slots than tasks: some worker would host nothing.
    MoreWorkersThanTasks {
        /// The worker slots.
        workers: u32,
        /// The tasks.
        tasks: u64,
    },
    /// More tasks than [`Job::MAX_TASKS`].
    TooManyTasks {
        /// The tasks.
        tasks: u64,
    },
    /// Two paths lead from `from` to `to`: each operator sends a record to each of its
    /// outputs, so it would reach `to` twice, and a task cannot tell that copy from a
    /// duplicate.
    MultiplePaths {
        /// Where the paths part.
        from: OperatorId,
        /// Where they meet.
        to: OperatorId,
    },
    /// [`JobBuilder`](crate::JobBuilder): two operators have this name.
    DuplicateOperatorName {
        /// The name.
        name: String,
    },
    /// [`JobBuilder`](crate::JobBuilder): an edge names no operator of the job.
    NoOperatorNamed {
        /// The name.
        name: String,
    },
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::NoOperators => write!(f, "the job has no operators"),
            JobError::NoWorkers => write!(f, "the job needs at least one worker"),
            JobError::ZeroParallelism { operator } => {
                write!(f, "operator {operator} has parallelism 0")
            }
            JobError::UnknownOperator { edge } => {
                write!(
                    f,
                    "edge {}->{} names an unknown operator",
                    edge.from, edge.to
                )
            }
            JobError::SelfLoop { operator } => write!(f, "operator {operator} feeds itself"),
            JobError::DuplicateEdge { edge } => {
                write!(f, "edge {}->{} appears twice", edge.from, edge.to)
            }
            JobError::Cycle => write!(f, "the operator graph has a cycle"),
            JobError::SourceWithInput { operator } => {
                write!(f, "source {operator} has an input")
            }
            JobError::SinkWithOutput { operator } => write!(f, "sink {operator} has an output"),
            JobError::SinkWithoutInput { operator } => {
                write!(
                    f,
                    "sink {operator} has no input: no barrier could ever reach it"
                )
            }
            JobError::TransformWithoutInput { operator } => {
                write!(f, "transform {operator} has no input")
            }
            JobError::TransformWithoutOutput { operator } => {
                write!(f, "transform {operator} has no output")
            }
            JobError::SourceWithoutOutput { operator } => {
                write!(f, "source {operator} has no output")
            }
            JobError::NoSource => write!(f, "the job has no source"),
            JobError::NoSink => write!(f, "the job has no sink"),
            JobError::MultiplePaths { from, to } => {
                write!(f, "more than one path leads from {from} to {to}")
            }
            JobError::MoreWorkersThanTasks { workers, tasks } => {
                write!(
                    f,
                    "{workers} workers for {tasks} tasks: some would host nothing"
                )
            }
            JobError::DuplicateOperatorName { name } => {
                write!(f, "two operators are named {name:?}")
            }
            JobError::NoOperatorNamed { name } => {
                write!(f, "an edge names {name:?}, which is no operator of the job")
            }
            JobError::TooManyTasks { tasks } => {
                write!(
                    f,
                    "{tasks} tasks is more than the supported {}",
                    Job::MAX_TASKS
                )
            }
        }
    }
}

impl std::error::Error for JobError {}

impl Job {
    /// The largest number of tasks a job may have.
    pub const MAX_TASKS: u64 = 1 << 24;

    /// Checks that the job is a well-formed DAG that every worker has work in.
    pub fn validate(&self) -> Result<(), JobError> {
        if self.operators.is_empty() {
            return Err(JobError::NoOperators);
        }
        if self.workers == 0 {
            return Err(JobError::NoWorkers);
        }
        let mut tasks: u64 = 0;
        for (i, op) in self.operators.iter().enumerate() {
            if op.parallelism == 0 {
                return Err(JobError::ZeroParallelism { operator: op_id(i) });
            }
            tasks += u64::from(op.parallelism);
        }
        if tasks > Self::MAX_TASKS {
            return Err(JobError::TooManyTasks { tasks });
        }
        if u64::from(self.workers) > tasks {
            return Err(JobError::MoreWorkersThanTasks {
                workers: self.workers,
                tasks,
            });
        }
        self.validate_edges()?;
        self.validate_kinds()?;
        let Some(order) = self.topological_order() else {
            return Err(JobError::Cycle);
        };
        self.validate_single_paths(&order)
    }

    /// Refuses two different paths between two operators (a diamond). Where two such paths
    /// last meet, an operator has two inputs that share an ancestor (or one is the other's
    /// ancestor): for each operator with several inputs, walk back from each input and look
    /// for an operator reached from two of them. `order` is a topological order.
    fn validate_single_paths(&self, order: &[OperatorId]) -> Result<(), JobError> {
        let n = self.operators.len();
        let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); n];
        for edge in &self.edges {
            inputs[edge.to.0 as usize].push(edge.from.0 as usize);
        }
        // reached[op]: the (operator, input) whose backward walk last reached `op`.
        let mut reached: Vec<Option<(usize, usize)>> = vec![None; n];
        let mut stack = Vec::new();
        for &to in order {
            let to = to.0 as usize;
            if inputs[to].len() < 2 {
                continue;
            }
            for (branch, &first) in inputs[to].iter().enumerate() {
                stack.push(first);
                while let Some(op) = stack.pop() {
                    match reached[op] {
                        Some((m, b)) if m == to && b != branch => {
                            return Err(JobError::MultiplePaths {
                                from: op_id(op),
                                to: op_id(to),
                            });
                        }
                        Some((m, _)) if m == to => continue,
                        _ => {}
                    }
                    reached[op] = Some((to, branch));
                    stack.extend_from_slice(&inputs[op]);
                }
            }
        }
        Ok(())
    }

    fn validate_edges(&self) -> Result<(), JobError> {
        let n = self.operators.len();
        let mut seen = std::collections::BTreeSet::new();
        for &edge in &self.edges {
            if edge.from.0 as usize >= n || edge.to.0 as usize >= n {
                return Err(JobError::UnknownOperator { edge });
            }
            if edge.from == edge.to {
                return Err(JobError::SelfLoop {
                    operator: edge.from,
                });
            }
            if !seen.insert((edge.from, edge.to)) {
                return Err(JobError::DuplicateEdge { edge });
            }
        }
        Ok(())
    }

    fn validate_kinds(&self) -> Result<(), JobError> {
        let (mut sources, mut sinks) = (0, 0);
        for (i, op) in self.operators.iter().enumerate() {
            let id = op_id(i);
            let has_in = self.edges.iter().any(|e| e.to == id);
            let has_out = self.edges.iter().any(|e| e.from == id);
            match op.kind {
                OperatorKind::Source if has_in => {
                    return Err(JobError::SourceWithInput { operator: id })
                }
                OperatorKind::Source if !has_out => {
                    return Err(JobError::SourceWithoutOutput { operator: id })
                }
                OperatorKind::Source => sources += 1,
                OperatorKind::Sink { .. } if has_out => {
                    return Err(JobError::SinkWithOutput { operator: id })
                }
                OperatorKind::Sink { .. } if !has_in => {
                    return Err(JobError::SinkWithoutInput { operator: id })
                }
                OperatorKind::Sink { .. } => sinks += 1,
                OperatorKind::Transform | OperatorKind::KeyedCount if !has_in => {
                    return Err(JobError::TransformWithoutInput { operator: id })
                }
                OperatorKind::Transform | OperatorKind::KeyedCount if !has_out => {
                    return Err(JobError::TransformWithoutOutput { operator: id })
                }
                OperatorKind::Transform | OperatorKind::KeyedCount => {}
            }
        }
        if sources == 0 {
            return Err(JobError::NoSource);
        }
        if sinks == 0 {
            return Err(JobError::NoSink);
        }
        Ok(())
    }

    /// Operators in an order where every edge goes forward, or `None` if the graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<OperatorId>> {
        let n = self.operators.len();
        let mut indegree = vec![0usize; n];
        for e in &self.edges {
            indegree[e.to.0 as usize] += 1;
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(op_id(i));
            for e in self.edges.iter().filter(|e| e.from.0 as usize == i) {
                let to = e.to.0 as usize;
                indegree[to] -= 1;
                if indegree[to] == 0 {
                    ready.push(to);
                }
            }
        }
        (order.len() == n).then_some(order)
    }

    /// The operators feeding `op`.
    pub fn inputs_of(&self, op: OperatorId) -> impl Iterator<Item = OperatorId> + '_ {
        self.edges
            .iter()
            .filter(move |e| e.to == op)
            .map(|e| e.from)
    }

    /// Whether a path of edges leads from operator `from` to operator `to` (`false` for
    /// `from == to`: the graph has no cycles).
    pub fn feeds(&self, from: OperatorId, to: OperatorId) -> bool {
        let mut seen = vec![false; self.operators.len()];
        let mut stack = vec![to];
        while let Some(op) = stack.pop() {
            for input in self.inputs_of(op) {
                if input == from {
                    return true;
                }
                if let Some(s) = seen.get_mut(input.0 as usize).filter(|s| !**s) {
                    *s = true;
                    stack.push(input);
                }
            }
        }
        false
    }

    /// The operators `op` feeds.
    pub fn outputs_of(&self, op: OperatorId) -> impl Iterator<Item = OperatorId> + '_ {
        self.edges
            .iter()
            .filter(move |e| e.from == op)
            .map(|e| e.to)
    }

    /// The operator with this id, if any.
    pub fn operator(&self, op: OperatorId) -> Option<&Operator> {
        self.operators.get(op.0 as usize)
    }

    /// Every task of the job, operator by operator, subtask by subtask.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.operators.iter().enumerate().flat_map(|(i, op)| {
            (0..op.parallelism).map(move |subtask| TaskId {
                operator: op_id(i),
                subtask,
            })
        })
    }

    /// The worker that hosts `task`, as its [`Plan`](crate::Plan) places it. For many lookups, build the
    /// plan once: this one costs O(operators).
    pub fn worker_of(&self, task: TaskId) -> Option<WorkerId> {
        let index = TaskIndex::new(self).index(task)?;
        plan::round_robin(index, self.workers)
    }

    /// The tasks hosted by `worker`, as its [`Plan`](crate::Plan) places them (see [`Plan::tasks_of`](crate::Plan::tasks_of)).
    pub fn tasks_of(&self, worker: WorkerId) -> Vec<TaskId> {
        self.tasks()
            .enumerate()
            .filter(|&(i, _)| plan::round_robin(i, self.workers) == Some(worker))
            .map(|(_, t)| t)
            .collect()
    }
}

pub(crate) fn op_id(index: usize) -> OperatorId {
    // Operators are indexed by u32 in the wire format; a Vec longer than u32::MAX operators
    // cannot be described by it, and validation bounds the task count far below that.
    OperatorId(u32::try_from(index).unwrap_or(u32::MAX))
}

/// Dense numbering of a job's tasks: O(1) from [`TaskId`] to `0..len`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaskIndex {
    /// `offsets[op]` is the index of subtask 0 of `op`; the last entry is the task count.
    offsets: Vec<usize>,
}

impl TaskIndex {
    /// The numbering of `job`'s tasks in [`Job::tasks`] order.
    pub fn new(job: &Job) -> TaskIndex {
        let mut offsets = Vec::with_capacity(job.operators.len() + 1);
        let mut next = 0usize;
        for op in &job.operators {
            offsets.push(next);
            next += op.parallelism as usize;
        }
        offsets.push(next);
        TaskIndex { offsets }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// The dense index of `task`, or `None` if the job has no such task.
    #[inline(always)]
    pub fn index(&self, task: TaskId) -> Option<usize> {
        let op = task.operator.0 as usize;
        let start = *self.offsets.get(op)?;
        let end = *self.offsets.get(op + 1)?;
        let index = start.checked_add(task.subtask as usize)?;
        (index < end).then_some(index)
    }
}
