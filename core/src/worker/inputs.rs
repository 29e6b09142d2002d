//! Inputs from other workers and from the environment: data items, source records, the
//! outcome of snapshots, task failures.

#[cfg(feature = "mutants")]
use super::mutants::WorkerMutant;
use super::task::{ChannelState, Role};
use super::{Channel, Item, Partition, Record, TaskPhase, Worker, WorkerRejected};
use crate::protocol::WorkerEvent;
use crate::types::{Epoch, Generation, TaskId};

impl Worker {
    pub(super) fn on_data(
        &mut self,
        generation: Generation,
        channel: Channel,
        seq: u64,
        item: Item,
    ) -> Result<(), WorkerRejected> {
        if generation != self.generation && !bug!(self, WorkerMutant::AcceptOtherGeneration) {
            return Err(WorkerRejected::WrongGeneration {
                got: generation,
                current: self.generation,
            });
        }
        let t = self.hosted(channel.to)?;
        if self.plan.index_of(channel.from).is_none() {
            return Err(WorkerRejected::UnknownTask { task: channel.from });
        }
        if self.worker_of(channel.from) == Some(self.worker) {
            return Err(WorkerRejected::LocalChannel { channel });
        }
        let task = &self.tasks[t];
        let Some(c) = task.input_index(channel.from) else {
            return Err(WorkerRejected::NotAChannel { channel });
        };
        if task.phase.is_over() {
            return Err(WorkerRejected::TaskNotRunning { task: channel.to });
        }
        let ch = &task.inputs[c];
        if seq != ch.next_seq {
            return Err(WorkerRejected::OutOfOrder {
                channel,
                expected: ch.next_seq,
                got: seq,
            });
        }
        if ch.closed || ch.state == ChannelState::Ended {
            return Err(WorkerRejected::ChannelClosed { channel });
        }
        match item {
            Item::Record(record) => {
                if !self.routes_through(record, channel) {
                    return Err(WorkerRejected::Misrouted { channel, record });
                }
                if let Some(&last) = task.high_in.get(&record.partition) {
                    if record.offset <= last {
                        return Err(WorkerRejected::OffsetNotIncreasing {
                            channel,
                            record,
                            last,
                        });
                    }
                }
            }
            Item::Barrier { epoch, .. } => {
                if ch.last_barrier.is_some_and(|last| epoch <= last) {
                    return Err(WorkerRejected::BarrierNotIncreasing {
                        channel,
                        epoch,
                        last: ch.last_barrier,
                    });
                }
                self.saw_epoch(epoch);
            }
            Item::EndOfStream => {}
        }
        let task = &mut self.tasks[t];
        task.inputs[c].next_seq += 1;
        task.receive(c, item);
        Ok(())
    }

    pub(super) fn on_source_records(
        &mut self,
        task: TaskId,
        count: u32,
    ) -> Result<(), WorkerRejected> {
        let t = self.reading_source(task)?;
        let max = self.config.max_poll_records;
        let Role::Source { next_offset } = self.tasks[t].role else {
            return Err(WorkerRejected::NotASource { task });
        };
        if count > max || next_offset.checked_add(u64::from(count)).is_none() {
            return Err(WorkerRejected::TooManyRecords { count, max });
        }
        let partition = Partition::of_source(task);
        for offset in next_offset..next_offset + u64::from(count) {
            self.emit(t, Item::Record(Record { partition, offset }));
        }
        self.tasks[t].role = Role::Source {
            next_offset: next_offset + u64::from(count),
        };
        Ok(())
    }

    /// The source's partition has ended. It reports so once and stays alive: later barriers
    /// snapshot its end position, and it finishes with the final (`then_stop`) checkpoint or
    /// a stop. No end of stream goes downstream, so no sink commits the tail directly: the
    /// data after the last checkpoint stays open until the final checkpoint's commit.
    pub(super) fn on_source_exhausted(&mut self, task: TaskId) -> Result<(), WorkerRejected> {
        let t = self.reading_source(task)?;
        self.tasks[t].input_ended = true;
        self.report(WorkerEvent::InputEnded { task });
        Ok(())
    }

    pub(super) fn on_snapshot_done(
        &mut self,
        task: TaskId,
        epoch: Epoch,
    ) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].pending.remove(&epoch).is_none() {
            return Err(WorkerRejected::NoSnapshotPending { task, epoch });
        }
        self.report(WorkerEvent::CheckpointAcked { task, epoch });
        if let TaskPhase::FinalCheckpoint {
            epoch: last,
            acked: false,
        } = self.tasks[t].phase
        {
            if last == epoch {
                let two_phase = self.tasks[t].two_phase_sink().is_some();
                if two_phase && self.committed_through.is_none_or(|c| c < epoch) {
                    self.tasks[t].phase = TaskPhase::FinalCheckpoint { epoch, acked: true };
                } else {
                    self.finish(t);
                }
            }
        }
        Ok(())
    }

    pub(super) fn on_snapshot_failed(
        &mut self,
        task: TaskId,
        epoch: Epoch,
        reason: String,
    ) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].pending.remove(&epoch).is_none() {
            return Err(WorkerRejected::NoSnapshotPending { task, epoch });
        }
        self.report(WorkerEvent::CheckpointFailed {
            task,
            epoch,
            reason,
        });
        Ok(())
    }

    pub(super) fn on_task_error(
        &mut self,
        task: TaskId,
        reason: String,
    ) -> Result<(), WorkerRejected> {
        let t = self.hosted(task)?;
        if self.tasks[t].phase.is_over() {
            return Err(WorkerRejected::TaskNotRunning { task });
        }
        self.tasks[t].clear();
        self.tasks[t].phase = TaskPhase::Failed;
        self.report(WorkerEvent::TaskFailed { task, reason });
        Ok(())
    }
}
