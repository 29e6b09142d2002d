//! The controller's commands: checkpoint, commit, abort, stop.

#[cfg(feature = "mutants")]
use super::mutants::WorkerMutant;
use super::task::Role;
use super::{Item, TaskPhase, TransactionId, Worker, WorkerOutput, WorkerRejected, MAX_ABORTED};
use crate::protocol::{Command, StopJobMode, ToWorker, WorkerEvent};
use crate::types::Epoch;

impl Worker {
    pub(super) fn on_command(&mut self, message: ToWorker) -> Result<(), WorkerRejected> {
        if message.generation != self.generation && !bug!(self, WorkerMutant::AcceptOtherGeneration)
        {
            return Err(WorkerRejected::WrongGeneration {
                got: message.generation,
                current: self.generation,
            });
        }
        match message.command {
            Command::Checkpoint { epoch, then_stop } => self.on_checkpoint(epoch, then_stop),
            Command::Commit { epoch } => self.on_commit(epoch),
            Command::Abort { epoch } => self.on_abort(epoch),
            Command::Stop { mode } => {
                self.on_stop(mode);
                Ok(())
            }
        }
    }

    fn on_checkpoint(&mut self, epoch: Epoch, then_stop: bool) -> Result<(), WorkerRejected> {
        if let Some(mode) = self.stop {
            return Err(WorkerRejected::Stopping { mode });
        }
        let last = self
            .last_checkpoint
            .max(self.restored)
            .max(self.committed_through);
        if last.is_some_and(|last| epoch <= last) {
            return Err(WorkerRejected::EpochNotIncreasing { epoch, last });
        }
        self.last_checkpoint = Some(epoch);
        self.saw_epoch(epoch);
        for t in 0..self.tasks.len() {
            let task = &self.tasks[t];
            if task.is_source() && task.phase == TaskPhase::Running && !task.outputs_closed {
                self.take_part(t, epoch, then_stop);
            }
        }
        Ok(())
    }

    fn on_commit(&mut self, epoch: Epoch) -> Result<(), WorkerRejected> {
        if self.last_epoch.is_none_or(|last| epoch > last) {
            return Err(WorkerRejected::UnknownEpoch { epoch });
        }
        if self.aborted.contains(&epoch) {
            return Err(WorkerRejected::EpochAborted { epoch });
        }
        if self.committed_through.is_some_and(|c| epoch <= c) {
            return Ok(());
        }
        // The controller commits an epoch once every task acked it: a task still running
        // that has not aligned it means the commit is premature.
        if let Some(task) = self
            .tasks
            .iter()
            .find(|t| !t.phase.is_over() && t.last_aligned.is_none_or(|a| a < epoch))
        {
            return Err(WorkerRejected::NotAligned {
                task: task.id,
                epoch,
            });
        }
        self.committed_through = Some(epoch);
        // Every task has aligned `epoch`, so no barrier of an older epoch is still on its way.
        self.aborted.retain(|&a| a > epoch);
        let keep = bug!(self, WorkerMutant::CommitKeepsPreCommits);
        for t in 0..self.tasks.len() {
            let task = &mut self.tasks[t];
            let id = task.id;
            if task.phase.is_over() {
                // A sink that a graceful stop drained committed everything it held, this
                // epoch's data included: say so, or the commit phase would wait in vain.
                if task.two_phase_sink().is_some_and(|s| s.drained) {
                    self.report(WorkerEvent::Committed { task: id, epoch });
                }
                continue;
            }
            let Role::Sink(sink) = &mut task.role else {
                continue;
            };
            if !sink.two_phase_commit {
                continue;
            }
            for txn in sink.commit_through(epoch, keep) {
                self.outputs.push_back(WorkerOutput::Commit {
                    task: id,
                    transaction: TransactionId::Epoch(txn.epoch),
                    records: txn.records,
                });
            }
            self.report(WorkerEvent::Committed { task: id, epoch });
            if let TaskPhase::FinalCheckpoint {
                epoch: last,
                acked: true,
            } = self.tasks[t].phase
            {
                if last <= epoch {
                    self.finish(t);
                }
            }
        }
        Ok(())
    }

    fn on_abort(&mut self, epoch: Epoch) -> Result<(), WorkerRejected> {
        if self
            .committed_through
            .max(self.restored)
            .is_some_and(|c| epoch <= c)
        {
            return Err(WorkerRejected::EpochCompleted { epoch });
        }
        if !self.aborted.insert(epoch) {
            return Ok(());
        }
        let drop_records = bug!(self, WorkerMutant::AbortDropsRecords);
        if self.aborted.len() > MAX_ABORTED {
            self.aborted.pop_first();
        }
        for t in 0..self.tasks.len() {
            let task = &mut self.tasks[t];
            if task.phase.is_over() {
                continue;
            }
            task.pending.remove(&epoch);
            if let Role::Sink(sink) = &mut task.role {
                sink.abort(epoch, drop_records);
            }
            if let TaskPhase::FinalCheckpoint { epoch: last, .. } = task.phase {
                if last == epoch {
                    task.phase = TaskPhase::Halted { epoch };
                }
            }
            self.try_end(t);
        }
        Ok(())
    }

    fn on_stop(&mut self, mode: StopJobMode) {
        match (self.stop, mode) {
            (Some(StopJobMode::Immediate), _)
            | (Some(StopJobMode::Graceful), StopJobMode::Graceful) => {}
            (_, StopJobMode::Immediate) => {
                self.stop = Some(StopJobMode::Immediate);
                for t in 0..self.tasks.len() {
                    if !self.tasks[t].phase.is_over() {
                        self.finish(t);
                    }
                }
            }
            (None, StopJobMode::Graceful) => {
                self.stop = Some(StopJobMode::Graceful);
                for t in 0..self.tasks.len() {
                    if self.tasks[t].is_source() && !self.tasks[t].phase.is_over() {
                        self.emit(t, Item::EndOfStream);
                        self.finish(t);
                    }
                }
                for t in 0..self.tasks.len() {
                    self.try_end(t);
                }
            }
        }
    }
}
