//! The data path: tasks take items from their input channels, align barriers, take their
//! part of checkpoints, end, and send items on.

#[cfg(feature = "mutants")]
use super::mutants::WorkerMutant;
use super::task::{ChannelState, Role};
use super::{Channel, Item, Record, TaskPhase, TaskSnapshot, TransactionId, Worker, WorkerOutput};
use crate::protocol::{StopJobMode, WorkerEvent};
use crate::types::{Epoch, TaskId};

impl Worker {
    /// Takes every item that can be taken, until nothing moves.
    pub(super) fn run(&mut self) {
        loop {
            let mut moved = false;
            for t in 0..self.tasks.len() {
                let skip_alignment = bug!(self, WorkerMutant::NoAlignment);
                while let Some((c, item)) = self.tasks[t].next_item(skip_alignment) {
                    moved = true;
                    self.take(t, c, item);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Task `t` takes `item` from its input channel `c`.
    fn take(&mut self, t: usize, c: usize, item: Item) {
        match item {
            Item::Record(record) => self.on_record(t, record),
            Item::Barrier { epoch, then_stop } => {
                self.tasks[t].inputs[c].state = ChannelState::Blocked { epoch, then_stop };
                self.try_align(t);
                self.try_end(t);
            }
            Item::EndOfStream => {
                self.tasks[t].inputs[c].state = ChannelState::Ended;
                self.try_align(t);
                self.try_end(t);
            }
        }
    }

    fn on_record(&mut self, t: usize, record: Record) {
        let id = self.tasks[t].id;
        match &mut self.tasks[t].role {
            Role::Source { .. } => {}
            Role::Transform => self.emit(t, Item::Record(record)),
            Role::Keyed(state) => {
                state.count(record);
                self.emit(t, Item::Record(record));
            }
            Role::Sink(sink) => {
                if let Some(record) = sink.take(record) {
                    self.outputs
                        .push_back(WorkerOutput::Write { task: id, record });
                }
            }
        }
    }

    /// Completes every alignment that has all its barriers.
    fn try_align(&mut self, t: usize) {
        loop {
            let task = &self.tasks[t];
            if task.phase != TaskPhase::Running {
                return;
            }
            let Some(epoch) = task.aligning() else { return };
            let ready = task
                .inputs
                .iter()
                .all(|c| matches!(c.state, ChannelState::Blocked { .. } | ChannelState::Ended));
            if !ready {
                return;
            }
            let then_stop = task.inputs.iter().any(|c| {
                c.state
                    == ChannelState::Blocked {
                        epoch,
                        then_stop: true,
                    }
            });
            for ch in &mut self.tasks[t].inputs {
                if then_stop {
                    ch.queue.clear();
                    ch.state = ChannelState::Ended;
                    ch.closed = true;
                } else if matches!(ch.state, ChannelState::Blocked { epoch: e, .. } if e == epoch) {
                    ch.state = ChannelState::Open;
                }
            }
            self.take_part(t, epoch, then_stop);
        }
    }

    /// Task `t`'s part of checkpoint `epoch`, once its barrier is aligned (a source: injected):
    /// snapshot (unless the epoch is aborted), forward the barrier, and for a final
    /// checkpoint close the outputs.
    pub(super) fn take_part(&mut self, t: usize, epoch: Epoch, then_stop: bool) {
        let aborted = self.aborted.contains(&epoch);
        self.saw_epoch(epoch);
        let task = &mut self.tasks[t];
        task.last_aligned = Some(epoch);
        if !aborted {
            let state = match &mut task.role {
                Role::Source { next_offset } => TaskSnapshot::Source {
                    next_offset: *next_offset,
                },
                Role::Sink(sink) if sink.two_phase_commit => {
                    sink.seal(epoch);
                    TaskSnapshot::Sink {
                        pending: sink.sealed().to_vec(),
                    }
                }
                Role::Keyed(state) => TaskSnapshot::Keyed {
                    counts: state.snapshot(),
                },
                Role::Sink(_) | Role::Transform => TaskSnapshot::Stateless,
            };
            task.pending.insert(epoch, then_stop);
            let id = task.id;
            self.outputs.push_back(WorkerOutput::Snapshot {
                task: id,
                epoch,
                state,
            });
        }
        self.emit(t, Item::Barrier { epoch, then_stop });
        if then_stop {
            let task = &mut self.tasks[t];
            task.outputs_closed = true;
            task.phase = if aborted {
                TaskPhase::Halted { epoch }
            } else {
                TaskPhase::FinalCheckpoint {
                    epoch,
                    acked: false,
                }
            };
        }
    }

    /// Finishes task `t` if all its inputs have ended and it may drain: it is running, or a
    /// graceful stop releases it from a final checkpoint. Only a graceful stop sends end of
    /// stream (a source whose partition ended does not), so only it drains a task, and a
    /// two-phase-commit sink commits what it holds directly only then.
    pub(super) fn try_end(&mut self, t: usize) {
        let task = &self.tasks[t];
        if task.is_source() || !task.all_inputs_ended() {
            return;
        }
        let drain = match task.phase {
            TaskPhase::Running => true,
            TaskPhase::FinalCheckpoint { .. } | TaskPhase::Halted { .. } => {
                self.stop == Some(StopJobMode::Graceful)
            }
            TaskPhase::Finished | TaskPhase::Failed => false,
        };
        if !drain {
            return;
        }
        self.emit(t, Item::EndOfStream);
        let generation = self.generation;
        let task = &mut self.tasks[t];
        let id = task.id;
        if let Role::Sink(sink) = &mut task.role {
            if sink.two_phase_commit {
                let (sealed, open) = sink.commit_all();
                let mut commits: Vec<_> = sealed
                    .into_iter()
                    .map(|txn| (TransactionId::Epoch(txn.epoch), txn.records))
                    .collect();
                if !open.is_empty() {
                    commits.push((TransactionId::Drain(generation), open));
                }
                for (transaction, records) in commits {
                    self.outputs.push_back(WorkerOutput::Commit {
                        task: id,
                        transaction,
                        records,
                    });
                }
            }
        }
        self.finish(t);
    }

    /// Task `t` ends normally; anything it still holds is dropped.
    pub(super) fn finish(&mut self, t: usize) {
        let task = &mut self.tasks[t];
        task.clear();
        task.phase = TaskPhase::Finished;
        let id = task.id;
        self.report(WorkerEvent::TaskFinished { task: id });
    }

    /// Sends `item` from task `t` on its output channels: a record to the one subtask of each
    /// downstream operator its partition routes to, anything else to every subtask.
    pub(super) fn emit(&mut self, t: usize, item: Item) {
        let task = &self.tasks[t];
        if task.outputs_closed {
            return;
        }
        let from = task.id;
        let op = from.operator.0 as usize;
        let count = self.downstream.get(op).map_or(0, Vec::len);
        for k in 0..count {
            let to_op = self.downstream[op][k];
            let parallelism = self.job.operator(to_op).map_or(0, |o| o.parallelism);
            match item {
                Item::Record(record) => {
                    let to = TaskId {
                        operator: to_op,
                        subtask: record.partition.route(parallelism),
                    };
                    self.deliver(Channel { from, to }, item);
                }
                Item::Barrier { .. } | Item::EndOfStream => {
                    for subtask in 0..parallelism {
                        let to = TaskId {
                            operator: to_op,
                            subtask,
                        };
                        self.deliver(Channel { from, to }, item);
                    }
                }
            }
        }
    }

    fn deliver(&mut self, channel: Channel, item: Item) {
        let Some(to_worker) = self.worker_of(channel.to) else {
            return;
        };
        if to_worker == self.worker {
            if let Some(t) = self.task_position(channel.to) {
                let task = &mut self.tasks[t];
                // A task that has ended drops what reaches it, as a remote worker refuses it.
                if !task.phase.is_over() {
                    if let Some(c) = task.input_index(channel.from) {
                        task.receive(c, item);
                    }
                }
            }
        } else {
            let next = self.out_seq.entry(channel).or_insert(0);
            let seq = *next;
            *next += 1;
            self.outputs.push_back(WorkerOutput::SendData {
                to_worker,
                generation: self.generation,
                channel,
                seq,
                item,
            });
        }
    }
}
