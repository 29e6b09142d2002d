//! Planted bugs: each known controller bug, switched on through the `mutants` feature, is
//! caught by the invariant check under the property named for it. Proof that the checks the
//! debug assertions, the proptest and the model checker rely on have teeth.
#![cfg(feature = "mutants")]

mod support;

use quiesce_core::controller::invariants::{self, Violation};
use quiesce_core::controller::mutants::Mutant;
use quiesce_core::controller::Controller;
use quiesce_core::{
    ControllerSetup, Epoch, FromWorker, Generation, Input, RequestId, StopMode, Time, WorkerEvent,
    WorkerId,
};
use support::*;

/// Drives a mutated controller, checking every step; returns the first violation.
struct Probe {
    c: Controller,
    now: Time,
}

impl Probe {
    fn new(mutant: Mutant) -> Probe {
        let setup = ControllerSetup::new(job(), config(), Time(0)).with_mutant(mutant);
        let c = Controller::new(setup).unwrap();
        Probe { c, now: Time(0) }
    }

    fn input(&mut self, input: Input) -> Result<(), Violation> {
        let before = self.c.status();
        let result = self.c.handle(self.now, input.clone());
        while self.c.poll_output().is_some() {}
        invariants::check_input(&before, &input, &result, &self.c)
    }

    /// Moves time to `ms` without firing the timers due by then.
    fn late(&mut self, ms: u64) {
        self.now = Time(ms);
    }

    fn at(&mut self, ms: u64) -> Result<(), Violation> {
        let before = self.c.status();
        self.now = Time(ms);
        self.c.handle_timeout(self.now);
        while self.c.poll_output().is_some() {}
        invariants::check(Some(&before), &self.c)
    }

    fn worker(&mut self, w: u32, event: WorkerEvent) -> Result<(), Violation> {
        let generation = self.c.status().generation;
        self.from(w, generation, event)
    }

    fn from(
        &mut self,
        w: u32,
        generation: Generation,
        event: WorkerEvent,
    ) -> Result<(), Violation> {
        self.input(Input::Worker(FromWorker {
            worker: WorkerId(w),
            generation,
            event,
        }))
    }

    fn running(&mut self) -> Result<(), Violation> {
        self.worker(0, WorkerEvent::Ready)?;
        self.worker(1, WorkerEvent::Ready)
    }

    fn ack_all(&mut self, epoch: Epoch) -> Result<(), Violation> {
        for task in self.c.job().tasks().collect::<Vec<_>>() {
            let w = self.c.job().worker_of(task).unwrap().0;
            self.worker(w, WorkerEvent::CheckpointAcked { task, epoch })?;
        }
        Ok(())
    }
}

fn caught(mutant: Mutant, scenario: impl Fn(&mut Probe) -> Result<(), Violation>) {
    let mut probe = Probe::new(mutant);
    match scenario(&mut probe) {
        Err(violation) => assert_eq!(
            violation.property,
            mutant.property(),
            "{} caught by the wrong property: {violation}",
            mutant.name()
        ),
        Ok(()) => panic!("{} was not caught", mutant.name()),
    }
    // The same scenario on the correct controller holds every property.
    let mut correct = Probe {
        c: Controller::new(ControllerSetup::new(job(), config(), Time(0))).unwrap(),
        now: Time(0),
    };
    if let Err(violation) = scenario(&mut correct) {
        panic!(
            "{}: the correct controller broke {violation}",
            mutant.name()
        );
    }
}

#[test]
fn mutant_no_final_checkpoint_timeout_is_caught_by_stop_terminates() {
    caught(Mutant::NoFinalCheckpointTimeout, |p| {
        p.running()?;
        p.input(Input::Stop(StopMode::Checkpoint))
    });
}

#[test]
fn mutant_force_ignored_in_final_checkpoint_is_caught_by_escalation_immediate() {
    caught(Mutant::ForceIgnoredInFinalCheckpoint, |p| {
        p.running()?;
        p.input(Input::Stop(StopMode::Checkpoint))?;
        p.input(Input::Stop(StopMode::Force))
    });
}

#[test]
fn mutant_second_checkpoint_in_flight_is_caught_by_single_checkpoint_in_flight() {
    caught(Mutant::SecondCheckpointInFlight, |p| {
        p.running()?;
        p.at(1_000)?;
        p.input(Input::Stop(StopMode::Checkpoint))
    });
}

#[test]
fn mutant_commit_before_persist_is_caught_by_commit_after_persist() {
    caught(Mutant::CommitBeforePersist, |p| {
        p.running()?;
        p.at(1_000)?;
        p.ack_all(Epoch(1))
    });
}

#[test]
fn mutant_accept_old_generation_ack_is_caught_by_stale_generation_inert() {
    caught(Mutant::AcceptOldGenerationAck, |p| {
        p.running()?;
        p.worker(
            0,
            WorkerEvent::TaskFailed {
                task: task(SRC, 0),
                reason: "x".into(),
            },
        )?;
        p.input(Input::WorkersStopped {
            generation: Generation(1),
        })?;
        p.at(100)?;
        p.running()?;
        p.from(0, Generation(1), WorkerEvent::Heartbeat)
    });
}

#[test]
fn mutant_wait_on_dead_task_is_caught_by_dead_task_escalates() {
    caught(Mutant::WaitOnDeadTask, |p| {
        p.running()?;
        p.input(Input::Stop(StopMode::Graceful))?;
        p.worker(
            1,
            WorkerEvent::TaskFailed {
                task: task(MAP, 1),
                reason: "x".into(),
            },
        )
    });
}

#[test]
fn mutant_input_outruns_timers_is_caught_by_timers_before_inputs() {
    caught(Mutant::InputOutrunsTimers, |p| {
        p.running()?;
        p.at(1_000)?;
        // Checkpoint E1 times out at 6,000; its acks arrive at 7,000, reported by no timeout.
        p.late(7_000);
        p.ack_all(Epoch(1))
    });
}

#[test]
fn mutant_uncounted_early_finish_is_caught_by_no_needless_wait() {
    caught(Mutant::UncountedEarlyFinish, |p| {
        p.running()?;
        p.input(Input::Stop(StopMode::Checkpoint))?;
        // The map's finish overtakes its ack of the final checkpoint.
        p.worker(0, WorkerEvent::TaskFinished { task: task(MAP, 0) })
    });
}

#[test]
fn mutant_request_beside_inflight_is_caught_by_single_checkpoint_in_flight() {
    caught(Mutant::RequestBesideInflight, |p| {
        p.running()?;
        // The periodic checkpoint is in flight: the request must wait for it.
        p.at(1_000)?;
        p.input(Input::TriggerCheckpoint {
            request: RequestId(1),
        })
    });
}

/// Each planted bug is told apart by its name (in switches, reports and traces). Two bugs may
/// break the same property: a second checkpoint beside the one in flight, started by a stop or
/// by a request, is one broken promise reached by two paths.
#[test]
fn mutants_each_have_a_distinct_name() {
    let mut names: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Mutant::ALL.len());
}
