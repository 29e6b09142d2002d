//! A short way to describe a [`Job`]: operators by name, edges between names.

use crate::types::{op_id, Edge, Job, JobError, Operator, OperatorKind};

impl Job {
    /// Starts describing a job named `name` hosted on `workers` worker slots; see
    /// [`JobBuilder`].
    pub fn builder(name: impl Into<String>, workers: u32) -> JobBuilder {
        JobBuilder {
            job: Job {
                name: name.into(),
                operators: Vec::new(),
                edges: Vec::new(),
                workers,
            },
            edges: Vec::new(),
        }
    }
}

/// Describes a [`Job`] by operator names: operators in order, then edges between names.
/// [`JobBuilder::build`] resolves the names and validates the job.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct JobBuilder {
    job: Job,
    edges: Vec<(String, String)>,
}

impl JobBuilder {
    /// Adds a source operator with `parallelism` subtasks.
    pub fn source(self, name: impl Into<String>, parallelism: u32) -> JobBuilder {
        self.operator(name, OperatorKind::Source, parallelism)
    }

    /// Adds a (stateless) transform operator with `parallelism` subtasks.
    pub fn transform(self, name: impl Into<String>, parallelism: u32) -> JobBuilder {
        self.operator(name, OperatorKind::Transform, parallelism)
    }

    /// Adds a two-phase-commit sink (exactly once) with `parallelism` subtasks. A sink that
    /// writes each record at once is `operator(name, OperatorKind::Sink { two_phase_commit:
    /// false }, parallelism)`.
    pub fn sink(self, name: impl Into<String>, parallelism: u32) -> JobBuilder {
        let kind = OperatorKind::Sink {
            two_phase_commit: true,
        };
        self.operator(name, kind, parallelism)
    }

    /// Adds an operator of any kind.
    pub fn operator(
        mut self,
        name: impl Into<String>,
        kind: OperatorKind,
        parallelism: u32,
    ) -> JobBuilder {
        self.job.operators.push(Operator {
            name: name.into(),
            kind,
            parallelism,
        });
        self
    }

    /// Adds a data edge from the operator named `from` to the one named `to`.
    pub fn edge(mut self, from: impl Into<String>, to: impl Into<String>) -> JobBuilder {
        self.edges.push((from.into(), to.into()));
        self
    }

    /// The job, once its names resolve (each operator name used once, each edge naming
    /// operators of the job) and it passes [`Job::validate`].
    pub fn build(self) -> Result<Job, JobError> {
        let JobBuilder { mut job, edges } = self;
        let ops = &job.operators;
        for (i, op) in ops.iter().enumerate() {
            if ops[..i].iter().any(|other| other.name == op.name) {
                return Err(JobError::DuplicateOperatorName {
                    name: op.name.clone(),
                });
            }
        }
        let id = |name: String| match ops.iter().position(|op| op.name == name) {
            Some(i) => Ok(op_id(i)),
            None => Err(JobError::NoOperatorNamed { name }),
        };
        let edges = edges
            .into_iter()
            .map(|(from, to)| {
                Ok(Edge {
                    from: id(from)?,
                    to: id(to)?,
                })
            })
            .collect::<Result<Vec<_>, JobError>>()?;
        job.edges = edges;
        job.validate()?;
        Ok(job)
    }
}
