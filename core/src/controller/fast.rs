//! The fast path of a task's ack or commit, the bulk of all inputs.
//!
//! Taken inline in [`Controller::handle`] when the full path would accept the input and do no
//! more than count it: nothing is due by its time, and it is not the last ack or commit of its
//! stage. It runs the full path's checks, in a form that reads each table once, and applies
//! the same effect (the clock, the worker's last-seen time, the task's mark). Anything else —
//! a refusal, a due timer, the last of a stage, a late ack from a finished task, a planted bug
//! — goes the full way, which decides it exactly as before.

use super::*;

impl Controller {
    /// Counts the ack of `task` for `epoch`, reported by `worker` of `generation` at `now`, if
    /// it is accepted and only counts. Returns whether it did; if not, nothing changed.
    #[inline(always)]
    pub(super) fn count_ack(
        &mut self,
        now: Time,
        worker: WorkerId,
        generation: Generation,
        task: TaskId,
        epoch: Epoch,
    ) -> bool {
        let Some((w, i)) = self.counting(now, worker, generation, task, epoch) else {
            return false;
        };
        // A task that finished ahead of its ack of the final checkpoint: the full path.
        if !self.tasks[i].alive() || self.marks[i] {
            return false;
        }
        let Some(Checkpoint {
            stage: Stage::Barriers { remaining },
            ..
        }) = &self.checkpoint
        else {
            return false;
        };
        if *remaining <= 1 {
            return false;
        }
        self.count(now, w, i);
        true
    }

    /// Counts the commit of `task` for `epoch`, reported by `worker` of `generation` at `now`,
    /// if it is accepted and only counts. Returns whether it did; if not, nothing changed.
    #[inline(always)]
    pub(super) fn count_commit(
        &mut self,
        now: Time,
        worker: WorkerId,
        generation: Generation,
        task: TaskId,
        epoch: Epoch,
    ) -> bool {
        let Some((w, i)) = self.counting(now, worker, generation, task, epoch) else {
            return false;
        };
        if !self.two_phase[i] || self.marks[i] {
            return false;
        }
        let Some(Checkpoint {
            stage: Stage::Committing { remaining },
            ..
        }) = &self.checkpoint
        else {
            return false;
        };
        if *remaining <= 1 {
            return false;
        }
        self.count(now, w, i);
        true
    }

    /// Counts the ack or commit of the task at dense index `i`, from worker `w` at `now`:
    /// what the full path does with one that is not the last of its stage.
    #[inline(always)]
    fn count(&mut self, now: Time, w: usize, i: usize) {
        #[cfg(debug_assertions)]
        let before = self.status();
        if let Some(Checkpoint {
            stage: Stage::Barriers { remaining } | Stage::Committing { remaining },
            ..
        }) = &mut self.checkpoint
        {
            *remaining -= 1;
        }
        self.marks[i] = true;
        self.now = now;
        self.heard_from(w);
        #[cfg(debug_assertions)]
        self.debug_check(Some(&before));
    }

    /// The checks an ack and a commit share, as the full path makes them (see
    /// `validate_worker`), for one that can only count: the worker's index and the task's
    /// dense index if they pass.
    #[inline(always)]
    fn counting(
        &self,
        now: Time,
        worker: WorkerId,
        generation: Generation,
        task: TaskId,
        epoch: Epoch,
    ) -> Option<(usize, usize)> {
        // Nothing due by `now` (so the timers would only move the clock), and the clock does
        // not go back.
        let quiet = now >= self.now && self.timers.earliest().is_none_or(|(_, at)| at > now);
        let listening = self.phase.listens_to_workers() && !self.phase.is_terminal();
        if !quiet || !listening || generation != self.generation || self.mutated() {
            return None;
        }
        let w = worker.0 as usize;
        if w >= self.last_seen.len() {
            return None;
        }
        let placed = self.plan.locate(task)?;
        if placed.worker != worker {
            return None;
        }
        match &self.checkpoint {
            Some(c) if c.epoch == epoch => Some((w, placed.index)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OperatorId;
    use proptest::prelude::*;

    /// source(2) -> map(2) -> two-phase-commit sink(2) on two workers, with short timers so
    /// that checkpoints start, time out, and workers go missing within a few steps.
    fn controller() -> Controller {
        let job = Job::builder("fast", 2)
            .source("src", 2)
            .transform("map", 2)
            .sink("sink", 2)
            .edge("src", "map")
            .edge("map", "sink")
            .build()
            .expect("a valid job");
        let config = Config {
            checkpoint_interval_ms: 10,
            min_pause_ms: 10,
            checkpoint_timeout_ms: 40,
            heartbeat_timeout_ms: 200,
            ..Config::default()
        };
        Controller::new(ControllerSetup::new(job, config, Time(0))).expect("a valid setup")
    }

    /// One input, described relative to the controller's state so that most are plausible:
    /// `pick` chooses the task, `off` how the worker, generation and epoch stray from the
    /// right ones, `dt` how far the clock moves (or goes back).
    #[derive(Clone, Copy, Debug)]
    struct Step {
        kind: u8,
        pick: usize,
        off: u8,
        dt: i64,
    }

    fn step() -> impl Strategy<Value = Step> {
        let dt = prop_oneof![4 => Just(0i64), 4 => 1..4i64, 1 => 30..60i64, 1 => Just(-1i64)];
        (0..10u8, 0..7usize, 0..12u8, dt).prop_map(|(kind, pick, off, dt)| Step {
            kind,
            pick,
            off,
            dt,
        })
    }

    /// The input and time `s` describes in the state of `c`.
    fn input(c: &Controller, s: Step) -> (Time, Input) {
        let now = Time(c.now.0.saturating_add_signed(s.dt));
        let tasks: Vec<TaskId> = c.job().tasks().collect();
        let task = tasks.get(s.pick).copied().unwrap_or(TaskId {
            operator: OperatorId(9),
            subtask: 0,
        });
        let host = c.plan().worker_of(task).unwrap_or(WorkerId(0));
        let worker = match s.off {
            9 => WorkerId(1 - host.0.min(1)),
            10 => WorkerId(2),
            _ => host,
        };
        let generation = match s.off {
            11 => Generation(c.generation.0.saturating_sub(1)),
            8 => Generation(c.generation.0 + 1),
            _ => c.generation,
        };
        let in_flight = c.checkpoint.as_ref().map_or(c.next_epoch, |cp| cp.epoch);
        let epoch = match s.off {
            7 => Epoch(in_flight.0 + 1),
            6 => Epoch(in_flight.0.saturating_sub(1)),
            _ => in_flight,
        };
        let event = match s.kind {
            0..=4 => WorkerEvent::CheckpointAcked { task, epoch },
            5 | 6 => WorkerEvent::Committed { task, epoch },
            7 => WorkerEvent::Ready,
            8 => WorkerEvent::TaskFinished { task },
            _ => {
                let input = match s.off % 3 {
                    0 => Input::MetadataPersisted { epoch },
                    1 => Input::WorkersStopped { generation },
                    _ => Input::Stop(StopMode::Checkpoint),
                };
                return (now, input);
            }
        };
        (now, Input::from_worker(worker, generation, event))
    }

    proptest! {
        /// The fast path decides every input as the full path does: the same answer and the
        /// same controller after it, in every state a run reaches.
        #[test]
        fn the_fast_path_agrees_with_the_full_path(steps in prop::collection::vec(step(), 1..120)) {
            let mut c = controller();
            for s in steps {
                let (now, input) = input(&c, s);
                let mut full = c.clone();
                let expected = full.handle_in_full(now, input.clone());
                let got = c.handle(now, input.clone());
                prop_assert_eq!(&got, &expected, "{:?} at {}", input, now);
                prop_assert!(c == full, "{:?} at {}: the controllers differ", input, now);
                while c.poll_output().is_some() {}
            }
        }
    }

    /// The fast path is taken where it should be, and only there: a plain ack or commit counts
    /// in place; a repeat, the last of a stage and a stray one are left to the full path.
    #[test]
    fn acks_and_commits_that_only_count_take_the_fast_path() {
        let mut c = controller();
        let g = c.generation;
        for w in 0..2 {
            c.handle(
                Time(0),
                Input::from_worker(WorkerId(w), g, WorkerEvent::Ready),
            )
            .expect("ready");
        }
        c.handle_timeout(Time(10));
        let epoch = c.checkpoint.as_ref().expect("a checkpoint started").epoch;
        let tasks: Vec<(TaskId, WorkerId)> = c
            .job()
            .tasks()
            .map(|t| (t, c.plan().worker_of(t).expect("placed")))
            .collect();
        let (last, rest) = tasks.split_last().expect("tasks");
        let (first, host) = rest[0];
        let other = WorkerId(1 - host.0);
        assert!(
            !c.count_ack(Time(10), other, g, first, epoch),
            "wrong worker"
        );
        assert!(
            !c.count_ack(Time(10), host, g, first, Epoch(epoch.0 + 1)),
            "wrong epoch"
        );
        assert!(!c.count_ack(Time(10), host, Generation(g.0 + 1), first, epoch));
        for &(task, host) in rest {
            assert!(
                c.count_ack(Time(10), host, g, task, epoch),
                "{task:?} counts"
            );
        }
        assert!(!c.count_ack(Time(10), host, g, first, epoch), "a repeat");
        assert!(
            !c.count_ack(Time(10), last.1, g, last.0, epoch),
            "the last ack"
        );
        c.handle(
            Time(10),
            Input::from_worker(
                last.1,
                g,
                WorkerEvent::CheckpointAcked {
                    task: last.0,
                    epoch,
                },
            ),
        )
        .expect("the last ack");
        c.handle(Time(10), Input::MetadataPersisted { epoch })
            .expect("persisted");
        let sinks: Vec<&(TaskId, WorkerId)> = tasks
            .iter()
            .filter(|(t, _)| t.operator == OperatorId(2))
            .collect();
        let (source, source_host) = tasks[0];
        assert!(
            !c.count_commit(Time(10), source_host, g, source, epoch),
            "not a sink"
        );
        assert!(c.count_commit(Time(10), sinks[0].1, g, sinks[0].0, epoch));
        assert!(
            !c.count_commit(Time(10), sinks[0].1, g, sinks[0].0, epoch),
            "a repeat"
        );
        assert!(
            !c.count_commit(Time(10), sinks[1].1, g, sinks[1].0, epoch),
            "the last"
        );
        // Nothing is counted once a timer is due: the timers come first.
        assert!(!c.count_commit(Time(1_000_000), sinks[1].1, g, sinks[1].0, epoch));
    }
}
