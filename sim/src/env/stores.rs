//! The external systems a job writes to: the checkpoint store (task snapshots), the metadata
//! store (completed checkpoints), and the sinks' external system, which doubles as the data
//! ledger that catches a record committed twice the moment it happens.

use quiesce_core::worker::{Record, Restore, TaskSnapshot, TransactionId};
use quiesce_core::{Epoch, Generation, Job, OperatorId, TaskId, WorkerId};
use std::collections::BTreeMap;
use std::fmt;

/// Task snapshots by checkpoint. A snapshot lands only when its write completes: one in
/// flight when its worker dies is never stored.
#[derive(Clone, Debug, Default)]
pub struct CheckpointStore {
    snapshots: BTreeMap<(Epoch, TaskId), TaskSnapshot>,
}

/// A restore asked for a checkpoint whose snapshots are not all in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSnapshot {
    /// The checkpoint.
    pub epoch: Epoch,
    /// The task with no snapshot.
    pub task: TaskId,
}

impl fmt::Display for MissingSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no snapshot of {} in checkpoint {}",
            self.task, self.epoch
        )
    }
}

impl CheckpointStore {
    /// Stores a task's snapshot of `epoch`.
    pub fn put(&mut self, epoch: Epoch, task: TaskId, state: TaskSnapshot) {
        self.snapshots.insert((epoch, task), state);
    }

    /// Deletes every checkpoint older than `before`.
    pub fn cleanup(&mut self, before: Epoch) {
        self.snapshots = self.snapshots.split_off(&(
            before,
            TaskId {
                operator: OperatorId(0),
                subtask: 0,
            },
        ));
    }

    /// What `worker` restores from checkpoint `epoch`: every one of its tasks' snapshots.
    pub fn restore_for(
        &self,
        job: &Job,
        worker: WorkerId,
        epoch: Epoch,
    ) -> Result<Restore, MissingSnapshot> {
        let tasks = job
            .tasks_of(worker)
            .into_iter()
            .map(|task| match self.snapshots.get(&(epoch, task)) {
                Some(s) => Ok((task, s.clone())),
                None => Err(MissingSnapshot { epoch, task }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Restore { epoch, tasks })
    }

    /// The snapshot of `task` in checkpoint `epoch`.
    pub fn get(&self, epoch: Epoch, task: TaskId) -> Option<&TaskSnapshot> {
        self.snapshots.get(&(epoch, task))
    }

    /// How many snapshots are stored.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }
}

/// Completed checkpoints, as the metadata store has them.
#[derive(Clone, Debug, Default)]
pub struct MetadataStore {
    persisted: BTreeMap<Epoch, Generation>,
}

impl MetadataStore {
    /// Stores that checkpoint `epoch` of `generation` is complete.
    pub fn persist(&mut self, epoch: Epoch, generation: Generation) {
        self.persisted.insert(epoch, generation);
    }

    /// The latest completed checkpoint.
    pub fn latest(&self) -> Option<Epoch> {
        self.persisted.keys().next_back().copied()
    }

    /// Whether checkpoint `epoch` is complete.
    pub fn contains(&self, epoch: Epoch) -> bool {
        self.persisted.contains_key(&epoch)
    }
}

/// A record delivered against the sinks' guarantee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataViolation {
    /// A two-phase-commit sink made a record visible a second time.
    CommittedTwice {
        /// The sink operator.
        sink: OperatorId,
        /// The record.
        record: Record,
        /// The transaction that committed it again.
        transaction: TransactionId,
    },
    /// A transaction committed again with other records than the first time.
    TransactionChanged {
        /// The sink task.
        task: TaskId,
        /// The transaction.
        transaction: TransactionId,
    },
}

impl fmt::Display for DataViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataViolation::CommittedTwice {
                sink,
                record,
                transaction,
            } => write!(
                f,
                "record {record} committed twice by sink {sink} (again in {transaction:?})"
            ),
            DataViolation::TransactionChanged { task, transaction } => write!(
                f,
                "{task} committed {transaction:?} again with other records"
            ),
        }
    }
}

/// The sinks' external system: what each sink made visible, checked as it happens.
///
/// Per (sink operator, partition) a bitset of committed offsets: a record committed twice by
/// a two-phase-commit sink is caught in O(1) at the commit that repeats it. A transaction may
/// be committed again (a recovery re-sends the commit of a checkpoint that was persisted but
/// not fully committed), but only with the very same records: the external system takes the
/// transaction id as an idempotency key.
#[derive(Clone, Debug, Default)]
pub struct SinkLedger {
    committed: BTreeMap<(OperatorId, quiesce_core::worker::Partition), Bitset>,
    transactions: BTreeMap<(TaskId, TransactionId), Vec<Record>>,
    written: BTreeMap<(OperatorId, quiesce_core::worker::Partition), Bitset>,
    records_committed: u64,
}

impl SinkLedger {
    /// A two-phase-commit sink task commits `transaction`.
    pub fn commit(
        &mut self,
        task: TaskId,
        transaction: TransactionId,
        records: &[Record],
    ) -> Result<(), DataViolation> {
        if let Some(first) = self.transactions.get(&(task, transaction)) {
            return if first == records {
                Ok(())
            } else {
                Err(DataViolation::TransactionChanged { task, transaction })
            };
        }
        self.transactions
            .insert((task, transaction), records.to_vec());
        for &record in records {
            let bits = self
                .committed
                .entry((task.operator, record.partition))
                .or_default();
            if !bits.insert(record.offset) {
                return Err(DataViolation::CommittedTwice {
                    sink: task.operator,
                    record,
                    transaction,
                });
            }
            self.records_committed += 1;
        }
        Ok(())
    }

    /// A sink without two-phase commit writes a record (at least once: repeats are allowed).
    pub fn write(&mut self, task: TaskId, record: Record) {
        self.written
            .entry((task.operator, record.partition))
            .or_default()
            .insert(record.offset);
    }

    /// Whether sink operator `sink` has committed (two-phase) or written `record`.
    pub fn has(&self, sink: OperatorId, record: Record) -> bool {
        let key = (sink, record.partition);
        let in_set =
            |m: &BTreeMap<_, Bitset>| m.get(&key).is_some_and(|b| b.contains(record.offset));
        in_set(&self.committed) || in_set(&self.written)
    }

    /// How many records two-phase-commit sinks have committed.
    pub fn records_committed(&self) -> u64 {
        self.records_committed
    }
}

/// A growable set of small integers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// Adds `i`; false if it was there.
    fn insert(&mut self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, i % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let had = self.words[word] & (1 << bit) != 0;
        self.words[word] |= 1 << bit;
        !had
    }

    fn contains(&self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, i % 64);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::worker::Partition;

    fn task(op: u32, subtask: u32) -> TaskId {
        TaskId {
            operator: OperatorId(op),
            subtask,
        }
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

    #[test]
    fn a_record_committed_twice_is_caught_at_once() {
        let mut ledger = SinkLedger::default();
        let t1 = TransactionId::Epoch(Epoch(1));
        let t2 = TransactionId::Epoch(Epoch(2));
        assert_eq!(ledger.commit(task(1, 0), t1, &[rec(0), rec(1)]), Ok(()));
        // The same transaction again, as a recovery re-sends it: idempotent.
        assert_eq!(ledger.commit(task(1, 0), t1, &[rec(0), rec(1)]), Ok(()));
        assert_eq!(
            ledger.commit(task(1, 0), t1, &[rec(0)]),
            Err(DataViolation::TransactionChanged {
                task: task(1, 0),
                transaction: t1
            })
        );
        assert_eq!(
            ledger.commit(task(1, 1), t2, &[rec(2), rec(1)]),
            Err(DataViolation::CommittedTwice {
                sink: OperatorId(1),
                record: rec(1),
                transaction: t2
            })
        );
        // Another sink operator has its own copy of every record.
        assert_eq!(ledger.commit(task(2, 0), t1, &[rec(0), rec(1)]), Ok(()));
        assert!(ledger.has(OperatorId(1), rec(0)) && !ledger.has(OperatorId(1), rec(7)));
    }

    #[test]
    fn writes_may_repeat() {
        let mut ledger = SinkLedger::default();
        ledger.write(task(1, 0), rec(500));
        ledger.write(task(1, 0), rec(500));
        assert!(ledger.has(OperatorId(1), rec(500)));
        assert_eq!(ledger.records_committed(), 0);
    }

    #[test]
    fn a_restore_needs_every_snapshot_and_cleanup_removes_old_ones() {
        let job = Job::builder("j", 1)
            .source("s", 1)
            .sink("k", 1)
            .edge("s", "k")
            .build()
            .expect("a valid job");
        let mut store = CheckpointStore::default();
        store.put(
            Epoch(1),
            task(0, 0),
            TaskSnapshot::Source { next_offset: 4 },
        );
        assert_eq!(
            store.restore_for(&job, WorkerId(0), Epoch(1)),
            Err(MissingSnapshot {
                epoch: Epoch(1),
                task: task(1, 0)
            })
        );
        store.put(Epoch(1), task(1, 0), TaskSnapshot::Sink { pending: vec![] });
        store.put(
            Epoch(2),
            task(0, 0),
            TaskSnapshot::Source { next_offset: 9 },
        );
        let restore = store
            .restore_for(&job, WorkerId(0), Epoch(1))
            .expect("complete");
        assert_eq!(restore.tasks.len(), 2);
        store.cleanup(Epoch(2));
        assert!(store.get(Epoch(1), task(0, 0)).is_none());
        assert!(store.get(Epoch(2), task(0, 0)).is_some());
    }
}
