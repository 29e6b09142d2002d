//! Stops and their escalation: checkpoint, graceful, immediate, force; termination.

use super::*;

/// The shortest pause before a restart: the next generation never starts in the step that
/// confirmed the last one gone, however short the configured delay.
const MIN_RESTART_DELAY_MS: u64 = 1;

/// The number of the first ask to kill a generation's workers.
const FIRST_KILL_ATTEMPT: u32 = 1;

impl Controller {
    pub(super) fn request_stop(&mut self, mode: StopMode, reason: Reason) {
        if self.stop.is_some_and(|current| mode <= current) {
            return;
        }
        // Remembered as asked, whatever level the stop takes (a stop while scheduling or
        // recovering kills the half-started run at once).
        self.stop_requested = Some(mode);
        self.emit(Event::StopRequested { mode });
        let in_final = self.phase == Phase::CheckpointStopping;
        if in_final && mode == StopMode::Force && bug!(self, Mutant::ForceIgnoredInFinalCheckpoint)
        {
            return;
        }
        match self.phase {
            Phase::Scheduling { .. } => self.enter_stop_workers(reason),
            Phase::Recovering(RecoveryStage::Killing { kill, .. }) => {
                self.set_stop(StopMode::Force);
                self.transition(Phase::StopWorkers { kill }, reason);
            }
            Phase::Recovering(RecoveryStage::Backoff) => {
                self.set_stop(StopMode::Force);
                self.terminate(Phase::Stopped, reason);
            }
            Phase::StopWorkers { kill, .. } => {
                self.set_stop(StopMode::Force);
                self.phase = Phase::StopWorkers { kill };
            }
            _ => self.escalate(mode, reason),
        }
    }

    pub(super) fn set_stop(&mut self, mode: StopMode) {
        self.stop = Some(self.stop.map_or(mode, |current| current.max(mode)));
    }

    /// Moves a running (or stopping) job to the stop step for `mode`.
    pub(super) fn escalate(&mut self, mode: StopMode, reason: Reason) {
        self.set_stop(mode);
        match mode {
            StopMode::Checkpoint => self.enter_checkpoint_stopping(reason),
            StopMode::Graceful => self.enter_stop_job(StopJobMode::Graceful, reason),
            StopMode::Immediate => self.enter_stop_job(StopJobMode::Immediate, reason),
            StopMode::Force => self.enter_stop_workers(reason),
        }
    }

    pub(super) fn enter_checkpoint_stopping(&mut self, reason: Reason) {
        self.timers.disarm(Timer::CheckpointInterval);
        self.timers.disarm(Timer::Healthy);
        if !bug!(self, Mutant::NoFinalCheckpointTimeout) {
            self.timers.arm(
                Timer::FinalCheckpoint,
                self.now.plus_ms(self.config.checkpoint_timeout_ms),
            );
        }
        self.transition(Phase::CheckpointStopping, reason);
        if bug!(self, Mutant::SecondCheckpointInFlight) && self.checkpoint.is_some() {
            self.start_checkpoint(true, None);
            return;
        }
        self.progress_final_checkpoint();
    }

    /// Starts the final checkpoint (of a checkpoint stop, or of the end of input) once nothing
    /// is in flight; ends the job once it is committed and every task finished.
    pub(super) fn progress_final_checkpoint(&mut self) {
        if self.checkpoint.is_some() {
            return;
        }
        let Some(epoch) = self.final_epoch else {
            self.start_checkpoint(true, None);
            return;
        };
        let committed = self.last_completed == Some(epoch) && self.last_completed_committed;
        if committed && self.ended_tasks as usize == self.tasks.len() {
            let reason = Reason::FinalCheckpointCommitted { epoch };
            match self.phase {
                Phase::Finishing => self.terminate(Phase::Finished, reason),
                _ => self.terminate(Phase::Stopped, reason),
            }
        }
    }

    /// The final checkpoint cannot complete: a checkpoint stop escalates, the end of input
    /// recovers (the sinks committed nothing past the last checkpoint, so nothing is lost or
    /// repeated).
    pub(super) fn final_checkpoint_failed(&mut self, reason: Reason) {
        match self.phase {
            Phase::Finishing => self.fail(reason),
            _ => self.escalate(StopMode::Immediate, reason),
        }
    }

    pub(super) fn enter_stop_job(&mut self, mode: StopJobMode, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        // The TTL stays: it escalates a graceful stop to immediate.
        self.timers
            .disarm_all_but(&[Timer::Stop, Timer::Heartbeat, Timer::Cleanup, Timer::Ttl]);
        // Escalating from graceful keeps the deadline already running.
        if !matches!(self.phase, Phase::StopJob(_)) {
            self.timers
                .arm(Timer::Stop, self.now.plus_ms(self.config.stop_timeout_ms));
        }
        self.transition(Phase::StopJob(mode), reason);
        self.drained |= mode == StopJobMode::Graceful;
        self.broadcast(&Command::Stop { mode });
        if self.ended_tasks as usize == self.tasks.len() {
            self.terminate(Phase::Stopped, Reason::AllTasksFinished);
        }
    }

    pub(super) fn enter_stop_workers(&mut self, reason: Reason) {
        self.set_stop(StopMode::Force);
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[Timer::Cleanup]);
        let kill = self.ask_first_kill();
        self.transition(Phase::StopWorkers { kill }, reason);
    }

    /// Asks the scheduler to kill the current generation's workers, for the first time.
    pub(super) fn ask_first_kill(&mut self) -> Kill {
        self.ask_kill(FIRST_KILL_ATTEMPT)
    }

    /// Asks the scheduler to kill the current generation's workers.
    fn ask_kill(&mut self, attempt: u32) -> Kill {
        if attempt > FIRST_KILL_ATTEMPT {
            self.emit(Event::KillRetried {
                generation: self.generation,
                attempt,
            });
        }
        self.outputs.push_back(Output::StopWorkers {
            generation: self.generation,
        });
        self.timers
            .arm(Timer::Kill, self.now.plus_ms(self.config.force_timeout_ms));
        Kill {
            attempt,
            pausing: false,
        }
    }

    pub(super) fn kill_timer(&mut self) {
        let kill = match &self.phase {
            Phase::StopWorkers { kill, .. }
            | Phase::Recovering(RecoveryStage::Killing { kill, .. }) => *kill,
            _ => return,
        };
        let next = if kill.pausing {
            self.ask_kill(kill.attempt + 1)
        } else if kill.attempt > self.config.force_retries {
            let attempts = kill.attempt;
            self.terminate(Phase::Failed, Reason::KillUnconfirmed { attempts });
            return;
        } else {
            let pause_ms = self.config.force_retry_pause_ms(kill.attempt);
            self.timers.arm(Timer::Kill, self.now.plus_ms(pause_ms));
            Kill {
                attempt: kill.attempt,
                pausing: true,
            }
        };
        match &mut self.phase {
            Phase::StopWorkers { kill, .. }
            | Phase::Recovering(RecoveryStage::Killing { kill, .. }) => *kill = next,
            _ => {}
        }
    }

    pub(super) fn workers_stopped(&mut self, generation: Generation) {
        self.stopped_generation = Some(generation);
        self.timers.disarm(Timer::Kill);
        match self.phase {
            Phase::StopWorkers { .. } => self.terminate(Phase::Stopped, Reason::WorkersStopped),
            Phase::Recovering(RecoveryStage::Killing { failed_at, .. }) => {
                self.restart_or_fail(failed_at)
            }
            _ => {}
        }
    }

    /// The failed generation is gone: back off before the next one, or fail if the restart
    /// budget is spent.
    fn restart_or_fail(&mut self, failed_at: Time) {
        match self.restart.next_delay_ms(failed_at) {
            None => self.terminate(Phase::Failed, Reason::RestartBudgetExhausted),
            Some(delay_ms) => {
                self.emit(Event::RestartScheduled {
                    delay_ms,
                    restarts: self.restart.restarts(),
                });
                self.phase = Phase::Recovering(RecoveryStage::Backoff);
                let delay_ms = delay_ms.max(MIN_RESTART_DELAY_MS);
                self.timers
                    .arm(Timer::RestartBackoff, self.now.plus_ms(delay_ms));
            }
        }
    }

    pub(super) fn terminate(&mut self, to: Phase, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[]);
        self.cleanup = None;
        // Every task finished by itself: the processes only need reaping.
        let release = matches!(to, Phase::Stopped | Phase::Finished)
            && self.ended_tasks as usize == self.tasks.len()
            && self.phase.listens_to_workers();
        self.transition(to, reason);
        if release {
            self.outputs.push_back(Output::ReleaseWorkers {
                generation: self.generation,
            });
        }
    }
}
