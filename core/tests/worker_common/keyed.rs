//! The exactly-once check of keyed state: a keyed task's counts must be what the records
//! imply, in every snapshot (what the sources' positions in the same checkpoint imply) and at
//! the end of a run (what the sinks committed implies). A record counted twice, or lost from
//! the state while its offset was passed, breaks one of them.

use super::Cluster;
use quiesce_core::worker::{Key, Partition, Record, TaskSnapshot};
use quiesce_core::{Epoch, Job, OperatorId, OperatorKind, TaskId};
use std::collections::{BTreeMap, BTreeSet};

pub fn keyed(name: &str, parallelism: u32) -> quiesce_core::Operator {
    quiesce_core::Operator {
        name: name.into(),
        kind: OperatorKind::KeyedCount,
        parallelism,
    }
}

/// The running count per key of `records`.
pub fn key_counts<'a>(records: impl IntoIterator<Item = &'a Record>) -> BTreeMap<Key, u64> {
    let mut counts = BTreeMap::new();
    for &r in records {
        *counts.entry(Key::of(r)).or_insert(0) += 1;
    }
    counts
}

/// Whether a path of edges leads from `from` to `to`.
pub fn feeds(job: &Job, from: OperatorId, to: OperatorId) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(op) = stack.pop() {
        for next in job.outputs_of(op) {
            if next == to {
                return true;
            }
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    false
}

fn kind(job: &Job, op: OperatorId) -> Option<OperatorKind> {
    job.operator(op).map(|o| o.kind)
}

pub fn keyed_operators(job: &Job) -> Vec<OperatorId> {
    (0..job.operators.len() as u32)
        .map(OperatorId)
        .filter(|&op| kind(job, op) == Some(OperatorKind::KeyedCount))
        .collect()
}

/// The source tasks whose partitions routing sends to keyed task `task`.
fn sources_of(job: &Job, task: TaskId) -> Vec<TaskId> {
    let parallelism = job.operator(task.operator).map_or(1, |o| o.parallelism);
    job.tasks()
        .filter(|s| kind(job, s.operator) == Some(OperatorKind::Source))
        .filter(|s| feeds(job, s.operator, task.operator))
        .filter(|&s| Partition::of_source(s).route(parallelism) == task.subtask)
        .collect()
}

/// Every keyed snapshot in `store` whose sources' snapshots of the same checkpoint are there
/// too holds exactly the counts of the records before the sources' positions. Returns how
/// many snapshots it checked.
pub fn check_keyed_snapshots(
    job: &Job,
    store: &BTreeMap<(Epoch, TaskId), TaskSnapshot>,
) -> Result<usize, String> {
    let mut checked = 0;
    for ((epoch, task), snapshot) in store {
        let TaskSnapshot::Keyed { counts } = snapshot else {
            continue;
        };
        let mut records = Vec::new();
        let mut complete = true;
        for source in sources_of(job, *task) {
            match store.get(&(*epoch, source)) {
                Some(TaskSnapshot::Source { next_offset }) => {
                    let partition = Partition::of_source(source);
                    records.extend((0..*next_offset).map(|offset| Record { partition, offset }));
                }
                _ => complete = false,
            }
        }
        if !complete {
            continue;
        }
        let expected = key_counts(&records);
        let actual: BTreeMap<Key, u64> = counts.iter().copied().collect();
        if actual != expected {
            return Err(format!(
                "keyed task {task} at {epoch}: counts {actual:?}, the sources' positions \
                 imply {expected:?}"
            ));
        }
        checked += 1;
    }
    Ok(checked)
}

impl Cluster {
    /// The counts of keyed operator `op`, merged over its subtasks, in the current workers.
    pub fn keyed_state(&self, op: OperatorId) -> BTreeMap<Key, u64> {
        let mut merged = BTreeMap::new();
        for task in self.job.tasks().filter(|t| t.operator == op) {
            let worker = &self.workers[self.worker_of(task)];
            for (&key, &n) in worker.keyed_counts(task).into_iter().flatten() {
                assert!(merged.insert(key, n).is_none(), "key {key} in two subtasks");
            }
        }
        merged
    }

    /// Each keyed operator's counts now are what every two-phase-commit sink downstream of
    /// it committed: per key, as many of its records. For a run that ended with every record
    /// through the keyed tasks committed (a checkpoint stop, a graceful stop, the end of
    /// input). Returns how many (keyed operator, sink) pairs it compared.
    pub fn check_keyed_against_commits(&self) -> Result<usize, String> {
        let job = &self.job;
        let by_sink = self.committed_by_sink();
        let mut checked = 0;
        for op in keyed_operators(job) {
            let state = self.keyed_state(op);
            let sinks = (0..job.operators.len() as u32)
                .map(OperatorId)
                .filter(|&s| {
                    kind(job, s)
                        == Some(OperatorKind::Sink {
                            two_phase_commit: true,
                        })
                        && feeds(job, op, s)
                });
            for sink in sinks {
                let committed = by_sink.get(&sink).map(Vec::as_slice).unwrap_or_default();
                let through_op = committed
                    .iter()
                    .filter(|r| feeds(job, r.partition.source, op));
                let expected = key_counts(through_op);
                if state != expected {
                    return Err(format!(
                        "keyed {op}: counts {state:?}, sink {sink} committed {expected:?}"
                    ));
                }
                checked += 1;
            }
        }
        Ok(checked)
    }

    /// [`check_keyed_snapshots`] over the cluster's store.
    pub fn check_keyed_snapshots(&self) -> Result<usize, String> {
        check_keyed_snapshots(&self.job, &self.store)
    }
}
