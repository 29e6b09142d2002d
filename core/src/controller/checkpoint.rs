//! Periodic and final checkpoints: trigger, acks, persist, commits, cleanup, aborts.

use super::*;

impl Controller {
    /// In Running with nothing in flight: starts the checkpoint asked for on demand, if one
    /// waits, or a periodic checkpoint if it is due, or arms the interval timer for when it
    /// will be. Anything else disarms it.
    pub(super) fn schedule_next_checkpoint(&mut self) {
        if self.phase != Phase::Running || self.checkpoint.is_some() || self.cleanup.is_some() {
            self.timers.disarm(Timer::CheckpointInterval);
            return;
        }
        if let Some(request) = self.queued_request.take() {
            self.start_checkpoint(false, Some(request));
            return;
        }
        let due = self
            .interval_anchor
            .plus_ms(self.config.checkpoint_interval_ms)
            .max(self.pause_anchor.plus_ms(self.config.min_pause_ms));
        if due <= self.now {
            self.start_checkpoint(false, None);
        } else {
            self.timers.arm(Timer::CheckpointInterval, due);
        }
    }

    /// Asked for now (`request`), while Running: it starts at once unless a checkpoint or a
    /// cleanup is in flight; then it waits, and starts as soon as that one is over.
    pub(super) fn checkpoint_requested(&mut self, request: RequestId) {
        if self.checkpoint.is_some() && bug!(self, Mutant::RequestBesideInflight) {
            self.start_checkpoint(false, Some(request));
            return;
        }
        self.queued_request = Some(request);
        if self.checkpoint.is_some() || self.cleanup.is_some() {
            self.emit(Event::CheckpointRequestQueued { request });
        }
        self.schedule_next_checkpoint();
    }

    /// Starts the next checkpoint: a final one (`then_stop`), or one in Running, periodic or
    /// asked for by `request`.
    pub(super) fn start_checkpoint(&mut self, then_stop: bool, request: Option<RequestId>) {
        let epoch = self.next_epoch;
        // Restore points leave 2^62 epochs of room; each takes a checkpoint.
        self.next_epoch = Epoch(epoch.0.saturating_add(1));
        self.marks.fill(false);
        self.checkpoint = Some(Checkpoint {
            epoch,
            then_stop,
            stage: Stage::Barriers {
                remaining: self.marks.len() as u32,
            },
            request,
        });
        if then_stop {
            self.final_epoch = Some(epoch);
        }
        self.counters.checkpoints_started += 1;
        self.interval_anchor = self.now;
        self.timers.disarm(Timer::CheckpointInterval);
        // The bug drops the timeout of a checkpoint stop's final checkpoint only: the end of
        // input's final checkpoint (Finishing) keeps its own.
        let stopping = then_stop && self.phase == Phase::CheckpointStopping;
        if !(stopping && bug!(self, Mutant::NoFinalCheckpointTimeout)) {
            self.timers.arm(
                Timer::CheckpointTimeout,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.emit(Event::CheckpointStarted { epoch, then_stop });
        if let Some(request) = request {
            self.emit(Event::CheckpointRequestStarted { request, epoch });
        }
        self.broadcast(&Command::Checkpoint { epoch, then_stop });
    }

    /// The task at dense index `i` acked the checkpoint in flight.
    #[inline]
    pub(super) fn task_acked(&mut self, i: usize) {
        let Some(c) = &mut self.checkpoint else {
            return;
        };
        let Stage::Barriers { remaining } = &mut c.stage else {
            return;
        };
        self.marks[i] = true;
        *remaining -= 1;
        if *remaining > 0 {
            return;
        }
        let epoch = c.epoch;
        // Without a two-phase-commit sink there is nothing to commit early: the bug does nothing.
        if self.two_phase_tasks > 0 && bug!(self, Mutant::CommitBeforePersist) {
            self.start_commit(epoch);
            return;
        }
        if let Some(c) = &mut self.checkpoint {
            c.stage = Stage::Persisting;
        }
        self.emit(Event::CheckpointAcked { epoch });
        self.outputs.push_back(Output::PersistMetadata {
            epoch,
            generation: self.generation,
        });
    }

    pub(super) fn metadata_persisted(&mut self, epoch: Epoch) {
        self.last_completed = Some(epoch);
        self.last_completed_committed = false;
        self.retained.push_back(epoch);
        self.consecutive_failures = 0;
        self.counters.checkpoints_completed += 1;
        self.emit(Event::CheckpointCompleted { epoch });
        if let Some(request) = self.checkpoint.as_ref().and_then(|c| c.request) {
            self.emit(Event::CheckpointRequestCompleted { request, epoch });
        }
        self.start_commit(epoch);
    }

    /// Asks every two-phase-commit sink to commit the persisted `epoch`.
    pub(super) fn start_commit(&mut self, epoch: Epoch) {
        if self.two_phase_tasks == 0 {
            self.checkpoint = None;
            self.commit_done(epoch);
            return;
        }
        let then_stop = self.final_epoch == Some(epoch);
        self.marks.fill(false);
        self.checkpoint = Some(Checkpoint {
            epoch,
            then_stop,
            stage: Stage::Committing {
                remaining: self.two_phase_tasks,
            },
            // Complete, its request answered: the commits are every checkpoint's.
            request: None,
        });
        if !self.timers.is_armed(Timer::CheckpointTimeout) {
            // Re-sending the commits of a restored checkpoint: bounded like a checkpoint.
            self.timers.arm(
                Timer::CheckpointTimeout,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.emit(Event::CommitStarted {
            epoch,
            tasks: self.two_phase_tasks,
        });
        // By index: the list is the job's, fixed, and copying it would allocate every round.
        for k in 0..self.commit_workers.len() {
            let worker = self.commit_workers[k];
            self.send(worker, Command::Commit { epoch });
        }
    }

    /// The sink at dense index `i` committed the checkpoint in flight.
    #[inline]
    pub(super) fn task_committed(&mut self, i: usize) {
        let Some(c) = &mut self.checkpoint else {
            return;
        };
        let Stage::Committing { remaining } = &mut c.stage else {
            return;
        };
        self.marks[i] = true;
        *remaining -= 1;
        if *remaining == 0 {
            let epoch = c.epoch;
            self.checkpoint = None;
            self.commit_done(epoch);
        }
    }

    /// The checkpoint `epoch` is complete and committed.
    pub(super) fn commit_done(&mut self, epoch: Epoch) {
        self.last_completed_committed = true;
        self.timers.disarm(Timer::CheckpointTimeout);
        self.pause_anchor = self.now;
        self.emit(Event::CheckpointCommitted { epoch });
        self.start_cleanup();
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing => self.progress_final_checkpoint(),
            _ => self.schedule_next_checkpoint(),
        }
    }

    pub(super) fn start_cleanup(&mut self) {
        if self.cleanup.is_some() || self.phase != Phase::Running {
            return;
        }
        let keep = self.config.retained_checkpoints as usize;
        if self.retained.len() <= keep {
            return;
        }
        let before = self.retained[self.retained.len() - keep];
        self.cleanup = Some(before);
        self.timers.arm(
            Timer::Cleanup,
            self.now.plus_ms(self.config.cleanup_timeout_ms),
        );
        self.emit(Event::CleanupStarted { before });
        self.outputs.push_back(Output::Cleanup { before });
    }

    pub(super) fn checkpoint_timed_out(&mut self) {
        match self.checkpoint.as_ref().map(|c| (c.epoch, c.stage)) {
            Some((epoch, Stage::Committing { .. })) => {
                // Complete but not committed: only a restart re-sends the commits for sure.
                let reason = Reason::CheckpointCommitTimedOut { epoch };
                match self.phase {
                    Phase::CheckpointStopping | Phase::Finishing => {
                        self.final_checkpoint_failed(reason)
                    }
                    _ => self.fail(reason),
                }
            }
            Some(_) => self.checkpoint_failed(AbortReason::TimedOut),
            None => {}
        }
    }

    /// The checkpoint in flight failed before completion.
    pub(super) fn checkpoint_failed(&mut self, reason: AbortReason) {
        let timed_out = reason == AbortReason::TimedOut;
        let Some(epoch) = self.abort_checkpoint(reason) else {
            return;
        };
        self.pause_anchor = self.now;
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing if self.final_epoch == Some(epoch) => {
                let reason = if timed_out {
                    Reason::FinalCheckpointTimedOut
                } else {
                    Reason::FinalCheckpointFailed { epoch }
                };
                self.final_checkpoint_failed(reason)
            }
            // The periodic checkpoint the final one waited for is over, one way or the other.
            Phase::CheckpointStopping | Phase::Finishing => self.progress_final_checkpoint(),
            _ => {
                self.consecutive_failures += 1;
                let consecutive = self.consecutive_failures;
                if consecutive > self.config.tolerable_checkpoint_failures {
                    self.fail(Reason::TooManyCheckpointFailures { consecutive });
                } else {
                    self.schedule_next_checkpoint();
                }
            }
        }
    }

    /// Drops the checkpoint in flight. One not yet complete is aborted at the workers; a
    /// complete one waiting for commits is kept as the restore point, commits re-sent later.
    pub(super) fn abort_checkpoint(&mut self, reason: AbortReason) -> Option<Epoch> {
        let c = self.checkpoint.take()?;
        self.timers.disarm(Timer::CheckpointTimeout);
        if !matches!(c.stage, Stage::Committing { .. }) {
            self.counters.checkpoints_aborted += 1;
            if let Some(request) = c.request {
                self.emit(Event::CheckpointAborted {
                    epoch: c.epoch,
                    reason: reason.clone(),
                });
                self.emit(Event::CheckpointRequestAborted {
                    request,
                    epoch: Some(c.epoch),
                    reason,
                });
            } else {
                self.emit(Event::CheckpointAborted {
                    epoch: c.epoch,
                    reason,
                });
            }
            self.broadcast(&Command::Abort { epoch: c.epoch });
        }
        Some(c.epoch)
    }
}
