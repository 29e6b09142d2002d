//! The sources' connectors: what each source task reads, and where its partition ends.

use crate::scenario::Workload;
use quiesce_core::{Generation, TaskId};
use std::collections::BTreeMap;

/// What a source task's connector announces at a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// This many new records.
    Records(u32),
    /// The end of its partition.
    Exhausted,
    /// Nothing this time.
    Nothing,
}

/// The most records a restored source reads at once while catching up to its partition's end.
const CATCH_UP: u64 = 1_000;

/// Where each partition ended, the first time it did. A source restored from before its end
/// reads on up to the end and announces it again, as a replayable partition would.
///
/// Also how far each generation's reader of a partition got: every record below that offset
/// was handed to the source task (restored from a checkpoint, or read since).
#[derive(Clone, Debug, Default)]
pub struct Partitions {
    ends: BTreeMap<TaskId, u64>,
    read_to: BTreeMap<(TaskId, Generation), u64>,
}

impl Partitions {
    /// The read of source `task`, whose next offset is `next_offset`, at `now_ms`.
    pub fn read(
        &mut self,
        workload: &Workload,
        task: TaskId,
        now_ms: u64,
        next_offset: u64,
    ) -> Read {
        if let Some(&end) = self.ends.get(&task) {
            return if next_offset < end {
                // Below CATCH_UP, so it fits.
                Read::Records((end - next_offset).min(CATCH_UP) as u32)
            } else {
                Read::Exhausted
            };
        }
        if workload.end_of_input_ms.is_some_and(|end| now_ms >= end) {
            self.ends.insert(task, next_offset);
            return Read::Exhausted;
        }
        if workload.batch == 0 {
            Read::Nothing
        } else {
            Read::Records(workload.batch)
        }
    }

    /// Where `task`'s partition ended, if it has.
    pub fn end_of(&self, task: TaskId) -> Option<u64> {
        self.ends.get(&task).copied()
    }

    /// Source `task` of `generation` holds every record of its partition below `next_offset`
    /// (from its restore point, or read since). Positions only grow.
    pub fn reached(&mut self, task: TaskId, generation: Generation, next_offset: u64) {
        let at = self.read_to.entry((task, generation)).or_default();
        *at = (*at).max(next_offset);
    }

    /// How far source `task` of `generation` got: it was handed every record below this.
    pub fn read_to(&self, task: TaskId, generation: Generation) -> Option<u64> {
        self.read_to.get(&(task, generation)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::OperatorId;

    const SRC: TaskId = TaskId {
        operator: OperatorId(0),
        subtask: 0,
    };

    #[test]
    fn a_partition_ends_once_and_a_restored_source_catches_up_to_the_end() {
        let w = Workload {
            read_every_ms: 100,
            batch: 3,
            end_of_input_ms: Some(1_000),
        };
        let mut p = Partitions::default();
        assert_eq!(p.read(&w, SRC, 900, 0), Read::Records(3));
        assert_eq!(p.read(&w, SRC, 1_000, 2_500), Read::Exhausted);
        assert_eq!(p.end_of(SRC), Some(2_500));
        // Restored from offset 400: reads up to 2,500 again, then ends there.
        assert_eq!(p.read(&w, SRC, 5_000, 400), Read::Records(1_000));
        assert_eq!(p.read(&w, SRC, 5_100, 2_400), Read::Records(100));
        assert_eq!(p.read(&w, SRC, 5_200, 2_500), Read::Exhausted);
    }

    #[test]
    fn a_control_plane_run_reads_nothing() {
        let w = Workload {
            read_every_ms: 100,
            batch: 0,
            end_of_input_ms: None,
        };
        assert_eq!(
            Partitions::default().read(&w, SRC, 50_000, 0),
            Read::Nothing
        );
    }

    #[test]
    fn each_generation_s_reader_keeps_its_own_position() {
        let (g1, g2) = (Generation(1), Generation(2));
        let mut p = Partitions::default();
        assert_eq!(p.read_to(SRC, g1), None);
        p.reached(SRC, g1, 40);
        p.reached(SRC, g1, 10);
        // Restored from an earlier checkpoint: the next generation starts lower.
        p.reached(SRC, g2, 25);
        assert_eq!(p.read_to(SRC, g1), Some(40), "positions only grow");
        assert_eq!(p.read_to(SRC, g2), Some(25));
    }
}
