//! Keyed operator state: the running count per key that an
//! [`OperatorKind::KeyedCount`](crate::OperatorKind::KeyedCount) task keeps, its snapshot and
//! its restore.

use super::io::{Partition, Record};
use crate::types::{Job, OperatorKind, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key of a record, derived from it alone: its partition and its offset modulo
/// [`Key::PER_PARTITION`].
///
/// A key never spans partitions, and records are routed by partition, so every record of a
/// key reaches the same subtask of a keyed operator: one task owns each key's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// The partition its records come from.
    pub partition: Partition,
    /// Which of the partition's keys: `offset % PER_PARTITION`.
    pub bucket: u32,
}

impl Key {
    /// How many keys one partition's records fall into.
    pub const PER_PARTITION: u32 = 4;

    /// The key of `record`.
    #[must_use]
    pub fn of(record: Record) -> Key {
        // The remainder is below PER_PARTITION, so it fits in a u32.
        let bucket = (record.offset % u64::from(Key::PER_PARTITION)) as u32;
        Key {
            partition: record.partition,
            bucket,
        }
    }
}

/// A keyed task's state: how many records of each key it has taken, and the ledger that
/// accounts for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct KeyedState {
    counts: BTreeMap<Key, u64>,
    /// Records counted in the restored state.
    restored: u64,
    /// Records taken from the inputs since.
    taken: u64,
}

impl KeyedState {
    /// Counts `record` under its key.
    pub fn count(&mut self, record: Record) {
        *self.counts.entry(Key::of(record)).or_insert(0) += 1;
        self.taken += 1;
    }

    pub fn counts(&self) -> &BTreeMap<Key, u64> {
        &self.counts
    }

    /// The counts as a snapshot: by key, in key order.
    pub fn snapshot(&self) -> Vec<(Key, u64)> {
        self.counts.iter().map(|(&k, &n)| (k, n)).collect()
    }

    /// Takes the counts of a snapshot, already checked by [`check_restored_counts`].
    pub fn restore(&mut self, counts: Vec<(Key, u64)>) {
        self.restored = counts.iter().map(|&(_, n)| n).sum();
        self.counts = counts.into_iter().collect();
    }

    /// The full check: the counts add up to what was restored and taken, and no key is
    /// counted as zero. Costs one pass over the keys, so it is not part of the per-step check.
    pub fn recount(&self) -> Result<(), String> {
        if self.counts.values().any(|&n| n == 0) {
            return Err("a key counted zero times".into());
        }
        let total: u64 = self.counts.values().sum();
        let expected = self.restored + self.taken;
        if total != expected {
            return Err(format!(
                "keyed ledger: counts add up to {total}, {} restored and {} taken",
                self.restored, self.taken
            ));
        }
        Ok(())
    }
}

/// Checks a restored keyed task's counts: keys in strictly increasing order, no zero count,
/// the sum within range, and every key one that routing sends to `task`: of a partition of
/// a source upstream of its operator, that reaches this subtask.
pub(super) fn check_restored_counts(
    job: &Job,
    task: TaskId,
    counts: &[(Key, u64)],
) -> Result<(), &'static str> {
    if !counts.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err("keyed counts out of key order, or a key twice");
    }
    let mut total: u64 = 0;
    for &(key, n) in counts {
        if n == 0 {
            return Err("a key counted zero times");
        }
        total = total.checked_add(n).ok_or("keyed counts overflow")?;
        if key.bucket >= Key::PER_PARTITION {
            return Err("a key outside its partition's keys");
        }
        if !owns(job, task, key.partition) {
            return Err("a key of a partition that never reaches this task");
        }
    }
    Ok(())
}

/// Whether records of `partition` reach `task`: the partition is a source subtask's, the
/// source is upstream of the task's operator, and routing picks this subtask.
fn owns(job: &Job, task: TaskId, partition: Partition) -> bool {
    let Some(source) = job.operator(partition.source) else {
        return false;
    };
    let parallelism = job.operator(task.operator).map_or(0, |o| o.parallelism);
    source.kind == OperatorKind::Source
        && partition.index < source.parallelism
        && partition.route(parallelism) == task.subtask
        && job.feeds(partition.source, task.operator)
}
