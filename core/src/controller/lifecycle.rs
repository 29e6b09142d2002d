//! Scheduling a generation, its tasks and workers, and failure.

use super::*;

impl Controller {
    /// Starts the current generation. The first one comes from nowhere, later ones from
    /// Recovering.
    pub(super) fn enter_scheduling(&mut self, reason: Reason) {
        let workers = self.job.workers;
        let scheduling = Phase::Scheduling {
            ready: vec![false; workers as usize],
            waiting: workers,
        };
        if reason == Reason::Created {
            self.phase = scheduling;
            self.emit(Event::Transition {
                from: None,
                to: State::Scheduling,
                reason,
            });
        } else {
            self.transition(scheduling, reason);
        }
        self.tasks.fill(TaskRun::Running);
        self.ended_tasks = 0;
        self.sources_ended = 0;
        self.consecutive_failures = 0;
        self.final_epoch = None;
        self.outputs.push_back(Output::StartWorkers {
            generation: self.generation,
            restore: self.last_completed,
        });
        self.timers.arm(
            Timer::Scheduling,
            self.now.plus_ms(self.config.scheduling_timeout_ms),
        );
    }

    pub(super) fn worker_ready(&mut self, w: usize) {
        let Phase::Scheduling { ready, waiting } = &mut self.phase else {
            return;
        };
        ready[w] = true;
        *waiting -= 1;
        if *waiting == 0 {
            self.enter_running();
        }
    }

    pub(super) fn enter_running(&mut self) {
        let now = self.now;
        self.timers.disarm(Timer::Scheduling);
        self.transition(Phase::Running, Reason::WorkersReady);
        self.last_seen.fill(Seen::At(now));
        self.timers.arm(
            Timer::Heartbeat,
            now.plus_ms(self.config.heartbeat_timeout_ms),
        );
        self.timers
            .arm(Timer::Healthy, now.plus_ms(self.config.healthy_duration_ms));
        self.interval_anchor = now;
        self.pause_anchor = now;
        match self.last_completed {
            Some(epoch) if !self.last_completed_committed => self.start_commit(epoch),
            _ => self.schedule_next_checkpoint(),
        }
        // Sources that ended while starting: the job finishes right away.
        if self.phase == Phase::Running {
            self.finish_if_inputs_ended();
        }
    }

    /// Task `i` finished. Every finish counts at once, whatever else it leads to: nothing
    /// waits for it again.
    pub(super) fn task_finished(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        #[cfg(feature = "mutants")]
        if matches!(self.phase, Phase::CheckpointStopping | Phase::Finishing)
            && bug!(self, Mutant::UncountedEarlyFinish)
        {
            return self.task_finished_uncounted(task, i);
        }
        let fits_final = self.finish_fits_final(i);
        self.mark_finished(i);
        match self.phase {
            Phase::CheckpointStopping | Phase::Finishing if fits_final => {
                self.progress_final_checkpoint()
            }
            Phase::CheckpointStopping | Phase::Finishing => {
                self.final_checkpoint_failed(Reason::TaskFinishedEarly { task })
            }
            Phase::StopJob(_) => {
                if self.ended_tasks as usize == self.tasks.len() {
                    self.terminate(Phase::Stopped, Reason::AllTasksFinished);
                }
            }
            // Tasks finish only with a final checkpoint or on a stop.
            _ => self.fail(Reason::TaskFinishedEarly { task }),
        }
    }

    /// The known bug: a finish ahead of the ack or commit it follows is taken as an early
    /// finish, and is not counted.
    #[cfg(feature = "mutants")]
    fn task_finished_uncounted(&mut self, task: TaskId, i: usize) {
        let acked = match &self.checkpoint {
            Some(c) if c.then_stop => match c.stage {
                Stage::Barriers { .. } => self.marks[i] && !self.two_phase[i],
                Stage::Persisting => !self.two_phase[i],
                Stage::Committing { .. } => !self.two_phase[i] || self.marks[i],
            },
            _ => self.finish_fits_final(i),
        };
        if acked {
            self.mark_finished(i);
            self.progress_final_checkpoint();
        } else {
            self.final_checkpoint_failed(Reason::TaskFinishedEarly { task });
        }
    }

    /// Source `task` read the end of its input; once every source did, the job finishes
    /// through a final checkpoint.
    pub(super) fn input_ended(&mut self, task: TaskId) {
        let i = self.task_slot(task);
        self.tasks[i] = TaskRun::InputEnded;
        self.sources_ended += 1;
        if self.phase == Phase::Running {
            self.finish_if_inputs_ended();
        }
    }

    pub(super) fn finish_if_inputs_ended(&mut self) {
        if self.sources_ended < self.sources {
            return;
        }
        self.timers.disarm(Timer::CheckpointInterval);
        self.timers.disarm(Timer::Healthy);
        self.timers.arm(
            Timer::FinalCheckpoint,
            self.now.plus_ms(self.config.checkpoint_timeout_ms),
        );
        self.transition(Phase::Finishing, Reason::SourcesFinished);
        self.progress_final_checkpoint();
    }

    pub(super) fn mark_finished(&mut self, i: usize) {
        debug_assert!(self.tasks[i].alive(), "validated: the task was alive");
        self.tasks[i] = TaskRun::Finished;
        self.ended_tasks += 1;
    }

    /// Whether a finish of task `i` fits the final checkpoint: the task did its whole part
    /// of it. A finish may overtake the ack or commit its worker sent before it; what is on
    /// its way still counts when it arrives. A two-phase-commit sink finishes only after
    /// committing, and no commit is asked before the metadata is persisted: its finish
    /// before that is early.
    pub(super) fn finish_fits_final(&self, i: usize) -> bool {
        let Some(final_epoch) = self.final_epoch else {
            return false;
        };
        match &self.checkpoint {
            Some(c) if c.epoch == final_epoch => match c.stage {
                Stage::Barriers { .. } | Stage::Persisting => !self.two_phase[i],
                Stage::Committing { .. } => true,
            },
            Some(_) => false,
            None => self.last_completed == Some(final_epoch) && self.last_completed_committed,
        }
    }

    pub(super) fn task_failed(&mut self, task: TaskId, reason: String) {
        let reason = Reason::TaskFailed { task, reason };
        let stopping = matches!(self.phase, Phase::CheckpointStopping | Phase::StopJob(_));
        if stopping && bug!(self, Mutant::WaitOnDeadTask) {
            return;
        }
        match self.phase {
            Phase::CheckpointStopping => self.escalate(StopMode::Immediate, reason),
            Phase::StopJob(_) => self.escalate(StopMode::Force, reason),
            _ => self.fail(reason),
        }
    }

    pub(super) fn worker_lost(&mut self, worker: WorkerId) {
        match self.phase {
            Phase::StopWorkers { .. } | Phase::Recovering(_) => return,
            _ => {}
        }
        self.last_seen[worker.0 as usize] = Seen::Lost;
        self.emit(Event::WorkerLost { worker });
        let reason = Reason::WorkerLost { worker };
        let stopping = matches!(self.phase, Phase::CheckpointStopping | Phase::StopJob(_));
        if stopping && bug!(self, Mutant::WaitOnDeadTask) {
            return;
        }
        match self.phase {
            // Its tasks can no longer stop themselves: only a kill ends them.
            Phase::CheckpointStopping | Phase::StopJob(_) => self.escalate(StopMode::Force, reason),
            _ => self.fail(reason),
        }
    }

    pub(super) fn check_heartbeats(&mut self) {
        let timeout = self.config.heartbeat_timeout_ms;
        let lost = self
            .last_seen
            .iter()
            .position(|seen| seen.deadline(timeout).is_some_and(|at| at <= self.now));
        if let Some(w) = lost {
            self.worker_lost(WorkerId(w as u32));
        }
        if matches!(
            self.phase,
            Phase::Running | Phase::CheckpointStopping | Phase::StopJob(_) | Phase::Finishing
        ) {
            let earliest = self
                .last_seen
                .iter()
                .filter_map(|s| s.deadline(timeout))
                .min();
            match earliest {
                Some(at) => self.timers.arm(Timer::Heartbeat, at),
                None => self.timers.disarm(Timer::Heartbeat),
            }
        }
    }

    /// A failure outside a stop: kill the generation, then restart or fail.
    pub(super) fn fail(&mut self, reason: Reason) {
        self.abort_checkpoint(AbortReason::Superseded);
        self.timers.disarm_all_but(&[Timer::Ttl]);
        self.cleanup = None;
        let kill = self.ask_first_kill();
        let failed_at = self.now;
        self.transition(
            Phase::Recovering(RecoveryStage::Killing { kill, failed_at }),
            reason,
        );
    }
}
