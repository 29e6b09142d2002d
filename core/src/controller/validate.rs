//! Validation of inputs: pure, so a refused input changes nothing.

use super::*;

/// What checking an input established, handed to applying it so that nothing is looked up
/// twice: a task's ack or commit (the bulk of all inputs) is applied from this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checked {
    /// Worker `worker` reports that the task at dense index `slot` acked the checkpoint in
    /// flight.
    Ack { worker: usize, slot: usize },
    /// Worker `worker` reports that the sink at dense index `slot` committed the checkpoint in
    /// flight.
    Commit { worker: usize, slot: usize },
    /// Any other input: applied from the input itself.
    Input,
}

impl Controller {
    /// Checks `input` against the current state without changing anything.
    #[inline]
    pub(super) fn validate(&self, input: &Input) -> Result<Checked, Rejected> {
        match input {
            Input::Worker(msg) => self.validate_worker(msg),
            _ => self.validate_control(input).map(|()| Checked::Input),
        }
    }

    /// Checks an input from the user, the scheduler or storage.
    #[inline(never)]
    fn validate_control(&self, input: &Input) -> Result<(), Rejected> {
        match input {
            Input::Stop(mode) => match self.stop {
                Some(current) if *mode <= current => Err(Rejected::StopNotStronger {
                    current,
                    requested: *mode,
                }),
                _ => Ok(()),
            },
            Input::Worker(msg) => self.validate_worker(msg).map(|_| ()),
            Input::TriggerCheckpoint { request } => self.validate_request(*request),
            Input::SchedulerFailed { generation, .. } => {
                self.check_generation(*generation)?;
                self.expect(
                    matches!(self.phase, Phase::Scheduling { .. }),
                    InputKind::SchedulerFailed,
                )
            }
            Input::WorkerExited { worker, generation } => {
                self.check_generation(*generation)?;
                self.check_worker(*worker)?;
                Ok(())
            }
            Input::WorkersStopped { generation } => {
                self.check_generation(*generation)?;
                let killing = matches!(
                    self.phase,
                    Phase::StopWorkers { .. } | Phase::Recovering(RecoveryStage::Killing { .. })
                );
                self.expect(killing, InputKind::WorkersStopped)
            }
            Input::MetadataPersisted { epoch } | Input::MetadataPersistFailed { epoch, .. } => {
                match &self.checkpoint {
                    Some(c) if c.epoch != *epoch => Err(Rejected::WrongEpoch {
                        got: *epoch,
                        expected: Some(c.epoch),
                    }),
                    Some(c) if c.stage == Stage::Persisting => Ok(()),
                    // The epoch is in flight, but still collecting acks or already stored.
                    Some(c) => Err(Rejected::NotPersisting {
                        epoch: *epoch,
                        stage: self.stage_of(c.stage),
                    }),
                    None => Err(Rejected::WrongEpoch {
                        got: *epoch,
                        expected: None,
                    }),
                }
            }
            Input::CleanupDone { before } => match self.cleanup {
                Some(expected) if expected == *before => Ok(()),
                expected => Err(Rejected::WrongCleanup {
                    got: *before,
                    expected,
                }),
            },
        }
    }

    #[inline]
    pub(super) fn check_generation(&self, got: Generation) -> Result<(), Rejected> {
        let previous = got.0.checked_add(1) == Some(self.generation.0);
        if got == self.generation || (previous && bug!(self, Mutant::AcceptOldGenerationAck)) {
            Ok(())
        } else {
            Err(Rejected::WrongGeneration {
                got,
                current: self.generation,
            })
        }
    }

    #[inline]
    pub(super) fn check_worker(&self, worker: WorkerId) -> Result<usize, Rejected> {
        let w = worker.0 as usize;
        if w < self.last_seen.len() {
            Ok(w)
        } else {
            Err(Rejected::UnknownWorker { worker })
        }
    }

    /// The dense index of `task`, checking that `worker` hosts it.
    #[inline(always)]
    pub(super) fn check_task(&self, worker: WorkerId, task: TaskId) -> Result<usize, Rejected> {
        let placed = self
            .plan
            .locate(task)
            .ok_or(Rejected::UnknownTask { task })?;
        if placed.worker != worker {
            return Err(Rejected::TaskNotOnWorker { task, worker });
        }
        Ok(placed.index)
    }

    #[inline(always)]
    pub(super) fn check_running_task(
        &self,
        worker: WorkerId,
        task: TaskId,
    ) -> Result<usize, Rejected> {
        let i = self.check_task(worker, task)?;
        if !self.tasks[i].alive() {
            return Err(Rejected::TaskNotRunning { task });
        }
        Ok(i)
    }

    #[inline(always)]
    pub(super) fn validate_worker(&self, msg: &FromWorker) -> Result<Checked, Rejected> {
        self.check_generation(msg.generation)?;
        let w = self.check_worker(msg.worker)?;
        if !self.phase.listens_to_workers() {
            return Err(self.unexpected(input_kind(&msg.event)));
        }
        match &msg.event {
            WorkerEvent::Ready => match &self.phase {
                Phase::Scheduling { ready, .. } if ready[w] => {
                    Err(Rejected::DuplicateReady { worker: msg.worker })
                }
                Phase::Scheduling { .. } => Ok(Checked::Input),
                _ => Err(self.unexpected(InputKind::Ready)),
            },
            WorkerEvent::Heartbeat => Ok(Checked::Input),
            WorkerEvent::CheckpointAcked { task, epoch } => {
                let i = self.check_task(msg.worker, *task)?;
                if !self.tasks[i].alive() && !self.finished_in_final(i) {
                    return Err(Rejected::TaskNotRunning { task: *task });
                }
                self.validate_ack(*task, i, *epoch)?;
                Ok(Checked::Ack { worker: w, slot: i })
            }
            WorkerEvent::CheckpointFailed { task, epoch, .. } => {
                let i = self.check_running_task(msg.worker, *task)?;
                self.validate_ack(*task, i, *epoch)?;
                Ok(Checked::Input)
            }
            WorkerEvent::Committed { task, epoch } => {
                let i = self.check_task(msg.worker, *task)?;
                self.validate_commit(*task, i, *epoch)?;
                Ok(Checked::Commit { worker: w, slot: i })
            }
            WorkerEvent::InputEnded { task } => {
                let i = self.check_running_task(msg.worker, *task)?;
                if !self.source[i] {
                    return Err(Rejected::NotASource { task: *task });
                }
                if self.tasks[i] == TaskRun::InputEnded {
                    return Err(Rejected::DuplicateInputEnded { task: *task });
                }
                Ok(Checked::Input)
            }
            WorkerEvent::TaskFinished { task } | WorkerEvent::TaskFailed { task, .. } => {
                self.check_running_task(msg.worker, *task)?;
                // A starting task can fail, but it cannot finish.
                let scheduling = matches!(self.phase, Phase::Scheduling { .. });
                let kind = input_kind(&msg.event);
                self.expect(!(scheduling && kind == InputKind::TaskFinished), kind)?;
                Ok(Checked::Input)
            }
        }
    }

    /// A checkpoint asked for now: Running only, one waiting at a time, each name once.
    fn validate_request(&self, request: RequestId) -> Result<(), Rejected> {
        self.expect(self.phase == Phase::Running, InputKind::TriggerCheckpoint)?;
        let in_flight = self.checkpoint.as_ref().and_then(|c| c.request);
        if in_flight == Some(request) || self.queued_request == Some(request) {
            return Err(Rejected::DuplicateCheckpointRequest { request });
        }
        match self.queued_request {
            Some(pending) => Err(Rejected::CheckpointRequestPending { pending }),
            None => Ok(()),
        }
    }

    /// `Ok` if `ok`, else `input` is unexpected in the current state.
    #[inline]
    pub(super) fn expect(&self, ok: bool, input: InputKind) -> Result<(), Rejected> {
        if ok {
            Ok(())
        } else {
            Err(self.unexpected(input))
        }
    }

    /// `input` is not expected in the current state. Out of line: the state is worked out
    /// for a refusal only, never on the path of an accepted input.
    #[cold]
    pub(super) fn unexpected(&self, input: InputKind) -> Rejected {
        Rejected::Unexpected {
            input,
            state: self.phase.state(),
        }
    }

    /// Whether task `i` finished while the final checkpoint is in flight. Its ack of that
    /// checkpoint, sent before its finish, may arrive after it and still counts.
    fn finished_in_final(&self, i: usize) -> bool {
        let final_in_flight = self.checkpoint.as_ref().is_some_and(|c| c.then_stop);
        final_in_flight && self.tasks[i] == TaskRun::Finished
    }

    /// An ack or a failure report for `epoch` from task `i`.
    #[inline(always)]
    pub(super) fn validate_ack(
        &self,
        task: TaskId,
        i: usize,
        epoch: Epoch,
    ) -> Result<(), Rejected> {
        match &self.checkpoint {
            Some(c) if c.epoch != epoch => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: Some(c.epoch),
            }),
            Some(Checkpoint {
                stage: Stage::Barriers { .. },
                ..
            }) if self.marks[i] => Err(Rejected::DuplicateAck { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Barriers { .. },
                ..
            }) => Ok(()),
            // Every task acked already: this one is a repeat.
            Some(_) => Err(Rejected::DuplicateAck { task, epoch }),
            None => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: None,
            }),
        }
    }

    #[inline(always)]
    pub(super) fn validate_commit(
        &self,
        task: TaskId,
        i: usize,
        epoch: Epoch,
    ) -> Result<(), Rejected> {
        match &self.checkpoint {
            Some(c) if c.epoch != epoch => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: Some(c.epoch),
            }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) if !self.two_phase[i] => Err(Rejected::NotParticipating { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) if self.marks[i] => Err(Rejected::DuplicateCommit { task, epoch }),
            Some(Checkpoint {
                stage: Stage::Committing { .. },
                ..
            }) => Ok(()),
            Some(_) => Err(self.unexpected(InputKind::Committed)),
            None => Err(Rejected::WrongEpoch {
                got: epoch,
                expected: None,
            }),
        }
    }
}

#[inline]
pub(super) fn input_kind(event: &WorkerEvent) -> InputKind {
    match event {
        WorkerEvent::Ready => InputKind::Ready,
        WorkerEvent::Heartbeat => InputKind::Heartbeat,
        WorkerEvent::CheckpointAcked { .. } => InputKind::CheckpointAcked,
        WorkerEvent::CheckpointFailed { .. } => InputKind::CheckpointFailed,
        WorkerEvent::Committed { .. } => InputKind::Committed,
        WorkerEvent::InputEnded { .. } => InputKind::InputEnded,
        WorkerEvent::TaskFinished { .. } => InputKind::TaskFinished,
        WorkerEvent::TaskFailed { .. } => InputKind::TaskFailed,
    }
}
