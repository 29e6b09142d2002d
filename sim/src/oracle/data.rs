//! Checks of the data: keyed state at every completed checkpoint, and what the sinks hold
//! when the controller ends.

use super::{Class, Failure};
use crate::env::{CheckpointStore, Partitions, SinkLedger};
use quiesce_core::worker::{Key, Partition, Record, TaskSnapshot};
use quiesce_core::{
    Epoch, Generation, Job, OperatorId, OperatorKind, Property, RestorePoint, State, TaskId, Time,
};
use std::collections::BTreeMap;

/// Keyed state at a completed checkpoint: each keyed task's snapshot holds exactly the counts
/// per key that the records below the checkpoint's source offsets imply (those of the
/// partitions routed to it). Records have keys `offset % Key::PER_PARTITION`, so the counts
/// follow from the offsets alone.
pub fn keyed_state(
    job: &Job,
    epoch: Epoch,
    checkpoints: &CheckpointStore,
    at: Time,
) -> Result<(), Failure> {
    let fail = |detail: String| Failure::new(Class::Correctness, Property::ExactlyOnce, at, detail);
    let mut offsets = Vec::new();
    for task in job.tasks() {
        if job.operator(task.operator).map(|o| o.kind) == Some(OperatorKind::Source) {
            match checkpoints.get(epoch, task) {
                Some(TaskSnapshot::Source { next_offset }) => offsets.push((task, *next_offset)),
                _ => {
                    return Err(fail(format!(
                        "checkpoint {epoch} has no snapshot of {task}"
                    )))
                }
            }
        }
    }
    for task in job.tasks() {
        let Some(op) = job.operator(task.operator) else {
            continue;
        };
        if op.kind != OperatorKind::KeyedCount {
            continue;
        }
        let held: BTreeMap<Key, u64> = match checkpoints.get(epoch, task) {
            Some(TaskSnapshot::Keyed { counts }) => counts.iter().copied().collect(),
            _ => {
                return Err(fail(format!(
                    "checkpoint {epoch} has no keyed snapshot of {task}"
                )))
            }
        };
        let mut implied = BTreeMap::new();
        for &(source, next) in &offsets {
            let partition = Partition::of_source(source);
            if partition.route(op.parallelism) != task.subtask
                || !job.feeds(source.operator, task.operator)
            {
                continue;
            }
            let per = u64::from(Key::PER_PARTITION);
            for bucket in 0..Key::PER_PARTITION {
                let n = next / per + u64::from(u64::from(bucket) < next % per);
                if n > 0 {
                    implied.insert(Key { partition, bucket }, n);
                }
            }
        }
        if held != implied {
            let differs = implied
                .iter()
                .find(|(k, n)| held.get(k) != Some(n))
                .map(|(k, n)| format!("{k:?}: {n} implied, {:?} held", held.get(k)))
                .unwrap_or_else(|| "keys no record implies".to_string());
            return Err(fail(format!(
                "keyed state of {task} at checkpoint {epoch} is not what its records imply: {differs}"
            )));
        }
    }
    Ok(())
}

/// Where the controller ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    /// Its terminal state.
    pub state: State,
    /// Its restore point ([`quiesce_core::Controller::restore_point`]).
    pub restore: Option<RestorePoint>,
    /// Its last completed checkpoint (also after a graceful drain, which has no restore point).
    pub last_completed: Option<Epoch>,
}

/// What the sinks must hold when the controller ends, given where it ended.
///
/// - If its last completed checkpoint is fully committed (`restore.committed`), every
///   two-phase-commit sink holds every record below that checkpoint's source offsets.
/// - Every sink without two-phase commit wrote every record below the last completed
///   checkpoint's source offsets (at least once: it acked the barrier after them).
/// - If it ended Finished, every sink holds every record up to each partition's end.
///
/// Records committed twice are caught earlier, as they happen ([`SinkLedger::commit`]).
pub fn end_of_run(
    job: &Job,
    ending: &Ending,
    checkpoints: &CheckpointStore,
    partitions: &Partitions,
    ledger: &SinkLedger,
    at: Time,
) -> Result<(), Failure> {
    let sources: Vec<TaskId> = job
        .tasks()
        .filter(|t| {
            job.operator(t.operator)
                .is_some_and(|o| o.kind == OperatorKind::Source)
        })
        .collect();
    let missing =
        |detail: String| Failure::new(Class::Correctness, Property::ExactlyOnce, at, detail);
    let offset_at = |epoch: Epoch, task: TaskId| match checkpoints.get(epoch, task) {
        Some(TaskSnapshot::Source { next_offset }) => Ok(*next_offset),
        _ => Err(missing(format!(
            "completed checkpoint {epoch} has no source snapshot of {task}"
        ))),
    };
    if let Some(r) = ending.restore.filter(|r| r.committed) {
        for &task in &sources {
            let next = offset_at(r.epoch, task)?;
            sinks_hold(job, ledger, task, next, Some(true))
                .map_err(|d| missing(format!("{d}, below checkpoint {} (committed)", r.epoch)))?;
        }
    }
    if let Some(epoch) = ending.last_completed {
        for &task in &sources {
            let next = offset_at(epoch, task)?;
            sinks_hold(job, ledger, task, next, Some(false))
                .map_err(|d| missing(format!("{d}, below checkpoint {epoch} (completed)")))?;
        }
    }
    if ending.state == State::Finished {
        for &task in &sources {
            let Some(end) = partitions.end_of(task) else {
                return Err(missing(format!(
                    "Finished, but {task}'s partition never ended"
                )));
            };
            sinks_hold(job, ledger, task, end, None)
                .map_err(|d| missing(format!("{d}, though the job Finished")))?;
        }
    }
    Ok(())
}

/// A graceful stop delivers every record read before it: once a graceful stop has drained the
/// job (every task of `generation` finished, none failed or was killed), every sink committed
/// (two-phase commit) or wrote (without) every record that generation's sources held — from
/// their restore point, or read since. The sources read nothing after the stop: they finish at
/// once and send end of stream, and each task drains what it holds before it finishes.
pub fn graceful_drain(
    job: &Job,
    generation: Generation,
    partitions: &Partitions,
    ledger: &SinkLedger,
    at: Time,
) -> Result<(), Failure> {
    for task in job.tasks() {
        if job.operator(task.operator).map(|o| o.kind) != Some(OperatorKind::Source) {
            continue;
        }
        // A source that was never handed a record has nothing to deliver.
        let next = partitions.read_to(task, generation).unwrap_or(0);
        sinks_hold(job, ledger, task, next, None).map_err(|d| {
            Failure::new(
                Class::Correctness,
                Property::ExactlyOnce,
                at,
                format!("{d}, though a graceful stop drained {generation} (read below {next})"),
            )
        })?;
    }
    Ok(())
}

/// Whether every sink (only those with two-phase commit, or only those without, when
/// `two_phase` says) holds every record of `source`'s partition below `next`; if not, which
/// record is missing where.
fn sinks_hold(
    job: &Job,
    ledger: &SinkLedger,
    source: TaskId,
    next: u64,
    two_phase: Option<bool>,
) -> Result<(), String> {
    let partition = Partition::of_source(source);
    for (i, op) in job.operators.iter().enumerate() {
        let OperatorKind::Sink { two_phase_commit } = op.kind else {
            continue;
        };
        if two_phase.is_some_and(|t| t != two_phase_commit) {
            continue;
        }
        let sink = OperatorId(i as u32);
        if let Some(offset) = (0..next).find(|&o| {
            !ledger.has(
                sink,
                Record {
                    partition,
                    offset: o,
                },
            )
        }) {
            return Err(format!(
                "sink {} never delivered {partition}@{offset}",
                op.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_job() -> Job {
        Job::builder("copy", 1)
            .source("src", 1)
            .sink("out", 1)
            .edge("src", "out")
            .build()
            .expect("a valid job")
    }

    fn rec(offset: u64) -> Record {
        Record {
            partition: Partition {
                source: OperatorId(0),
                index: 0,
            },
            offset,
        }
    }

    const SRC: TaskId = TaskId {
        operator: OperatorId(0),
        subtask: 0,
    };
    const OUT: TaskId = TaskId {
        operator: OperatorId(1),
        subtask: 0,
    };

    fn point(committed: bool) -> Option<RestorePoint> {
        Some(RestorePoint {
            generation: Generation(1),
            epoch: Epoch(1),
            committed,
            last_started: Epoch(1),
            created_at: Time(0),
        })
    }

    #[test]
    fn the_sinks_must_hold_everything_below_a_committed_checkpoint() {
        use quiesce_core::worker::TransactionId;
        let job = copy_job();
        let mut store = CheckpointStore::default();
        store.put(Epoch(1), SRC, TaskSnapshot::Source { next_offset: 3 });
        let mut ledger = SinkLedger::default();
        let t1 = TransactionId::Epoch(Epoch(1));
        ledger
            .commit(OUT, t1, &[rec(0), rec(2)])
            .expect("distinct records");
        let parts = Partitions::default();
        let check = |restore: Option<RestorePoint>, ledger: &SinkLedger| {
            let ending = Ending {
                state: State::Stopped,
                restore,
                last_completed: restore.map(|r| r.epoch),
            };
            end_of_run(&job, &ending, &store, &parts, ledger, Time(9))
        };
        let failure = check(point(true), &ledger).unwrap_err();
        assert_eq!(failure.property, Property::ExactlyOnce);
        assert!(failure.detail.contains("op0#p0@1"), "{}", failure.detail);
        // Not fully committed yet: a later run commits it; nothing to demand now.
        assert_eq!(check(point(false), &ledger), Ok(()));
        let t2 = TransactionId::Epoch(Epoch(2));
        ledger.commit(OUT, t2, &[rec(1)]).expect("distinct records");
        assert_eq!(check(point(true), &ledger), Ok(()));
    }

    #[test]
    fn a_finished_job_delivered_every_record_of_every_partition() {
        use crate::scenario::Workload;
        use quiesce_core::worker::TransactionId;
        let job = copy_job();
        let store = CheckpointStore::default();
        let mut parts = Partitions::default();
        let mut ledger = SinkLedger::default();
        let check = |parts: &Partitions, ledger: &SinkLedger| {
            let ending = Ending {
                state: State::Finished,
                restore: None,
                last_completed: None,
            };
            end_of_run(&job, &ending, &store, parts, ledger, Time(9))
        };
        assert!(check(&parts, &ledger).is_err(), "no partition ended");
        let w = Workload {
            read_every_ms: 1,
            batch: 1,
            end_of_input_ms: Some(0),
        };
        parts.read(&w, SRC, 0, 2);
        assert!(check(&parts, &ledger).is_err(), "nothing committed");
        let t = TransactionId::Epoch(Epoch(1));
        ledger
            .commit(OUT, t, &[rec(0), rec(1)])
            .expect("distinct records");
        assert_eq!(check(&parts, &ledger), Ok(()));
    }

    #[test]
    fn keyed_state_must_match_the_records_below_the_checkpoint() {
        let job = Job::builder("keyed", 1)
            .source("src", 1)
            .operator("count", quiesce_core::OperatorKind::KeyedCount, 1)
            .sink("out", 1)
            .edge("src", "count")
            .edge("count", "out")
            .build()
            .expect("a valid job");
        let count = TaskId {
            operator: OperatorId(1),
            subtask: 0,
        };
        let key = |bucket| Key {
            partition: Partition::of_source(SRC),
            bucket,
        };
        let mut store = CheckpointStore::default();
        store.put(Epoch(3), SRC, TaskSnapshot::Source { next_offset: 6 });
        let keyed = |counts: Vec<(Key, u64)>| TaskSnapshot::Keyed { counts };
        // Offsets 0..6: buckets 0 and 1 twice, 2 and 3 once.
        store.put(
            Epoch(3),
            count,
            keyed(vec![(key(0), 2), (key(1), 2), (key(2), 1), (key(3), 1)]),
        );
        assert_eq!(keyed_state(&job, Epoch(3), &store, Time(1)), Ok(()));
        // Counts that forgot what came before a restore.
        store.put(
            Epoch(3),
            count,
            keyed(vec![(key(0), 1), (key(1), 1), (key(2), 1), (key(3), 1)]),
        );
        let failure = keyed_state(&job, Epoch(3), &store, Time(1)).unwrap_err();
        assert_eq!(failure.property, Property::ExactlyOnce);
        assert!(
            keyed_state(&job, Epoch(4), &store, Time(1)).is_err(),
            "no such checkpoint"
        );
    }

    #[test]
    fn a_sink_without_two_phase_commit_wrote_everything_below_a_completed_checkpoint() {
        let job = Job::builder("plain", 1)
            .source("src", 1)
            .operator(
                "out",
                OperatorKind::Sink {
                    two_phase_commit: false,
                },
                1,
            )
            .edge("src", "out")
            .build()
            .expect("a valid job");
        let mut store = CheckpointStore::default();
        store.put(Epoch(2), SRC, TaskSnapshot::Source { next_offset: 2 });
        let mut ledger = SinkLedger::default();
        ledger.write(OUT, rec(0));
        // A graceful drain leaves no restore point; the last completed checkpoint counts.
        let ending = Ending {
            state: State::Stopped,
            restore: None,
            last_completed: Some(Epoch(2)),
        };
        let check = |ledger: &SinkLedger| {
            end_of_run(
                &job,
                &ending,
                &store,
                &Partitions::default(),
                ledger,
                Time(9),
            )
        };
        let failure = check(&ledger).unwrap_err();
        assert!(failure.detail.contains("op0#p0@1"), "{}", failure.detail);
        ledger.write(OUT, rec(1));
        ledger.write(OUT, rec(1));
        assert_eq!(check(&ledger), Ok(()), "twice is fine: at least once");
    }

    #[test]
    fn a_graceful_drain_delivered_every_record_its_sources_held() {
        use quiesce_core::worker::TransactionId;
        let job = copy_job();
        let (g1, g2) = (Generation(1), Generation(2));
        let mut parts = Partitions::default();
        parts.reached(SRC, g1, 5);
        // Restored from offset 2 and read on to 3: what g1 read past 2 is not g2's to deliver.
        parts.reached(SRC, g2, 2);
        parts.reached(SRC, g2, 3);
        let mut ledger = SinkLedger::default();
        let check = |ledger: &SinkLedger| graceful_drain(&job, g2, &parts, ledger, Time(7));
        let t1 = TransactionId::Epoch(Epoch(1));
        ledger.commit(OUT, t1, &[rec(0), rec(1)]).expect("distinct");
        // A ledger that lost the last record read before the stop.
        let failure = check(&ledger).unwrap_err();
        assert_eq!(failure.property, Property::ExactlyOnce);
        assert_eq!(failure.class, Class::Correctness);
        assert!(failure.detail.contains("op0#p0@2"), "{}", failure.detail);
        let drained = TransactionId::Drain(g2);
        ledger.commit(OUT, drained, &[rec(2)]).expect("distinct");
        assert_eq!(check(&ledger), Ok(()));
        assert!(
            graceful_drain(&job, g1, &parts, &ledger, Time(7)).is_err(),
            "g1 read up to 5"
        );
        assert_eq!(
            graceful_drain(&job, Generation(3), &parts, &ledger, Time(7)),
            Ok(()),
            "a generation that read nothing"
        );
    }
}
