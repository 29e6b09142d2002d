mod support;
use support::*;

// One test per legal edge of the controller's state machine: each asserts the transition event
// (from, to, reason), the key effects, the armed timers and the final state.

use quiesce_core::controller::is_legal_transition;
use quiesce_core::controller::timers::Timer;
use quiesce_core::{
    AbortReason, Command, Config, Epoch, Event, Generation, Input, Output, Reason, State,
    StopJobMode, StopMode, Stopping, Time, ToWorker, WorkerEvent, WorkerId,
};

const E1: Epoch = Epoch(1);
const E2: Epoch = Epoch(2);

const SCHEDULING: State = State::Scheduling;
const RUNNING: State = State::Running;
const CHECKPOINT_STOPPING: State = State::CheckpointStopping;
const GRACEFUL: State = State::Stopping(Stopping::StopJob(StopJobMode::Graceful));
const IMMEDIATE: State = State::Stopping(Stopping::StopJob(StopJobMode::Immediate));
const STOP_WORKERS: State = State::Stopping(Stopping::StopWorkers);
const RECOVERING: State = State::Recovering;
const FINISHING: State = State::Finishing;
const STOPPED: State = State::Stopped;
const FINISHED: State = State::Finished;
const FAILED: State = State::Failed;

/// Every state of the design, for exhaustive checks of `is_legal_transition`.
const ALL_STATES: [State; 11] = [
    SCHEDULING,
    RUNNING,
    CHECKPOINT_STOPPING,
    GRACEFUL,
    IMMEDIATE,
    STOP_WORKERS,
    RECOVERING,
    FINISHING,
    STOPPED,
    FINISHED,
    FAILED,
];

fn g(n: u64) -> Generation {
    Generation(n)
}

fn one(from: State, to: State, reason: Reason) -> Vec<(Option<State>, State, Reason)> {
    vec![(Some(from), to, reason)]
}

fn kill(generation: u64) -> Output {
    Output::StopWorkers {
        generation: g(generation),
    }
}

fn release(generation: u64) -> Output {
    Output::ReleaseWorkers {
        generation: g(generation),
    }
}

fn send(worker: u32, generation: u64, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: ToWorker {
            generation: g(generation),
            command,
        },
    }
}

fn stop_cmd(mode: StopJobMode) -> Command {
    Command::Stop { mode }
}

fn abort(epoch: Epoch) -> Command {
    Command::Abort { epoch }
}

fn timer(h: &Harness, which: Timer) -> Option<Time> {
    h.c.timers().find(|&(t, _)| t == which).map(|(_, at)| at)
}

fn no_timers(h: &Harness) -> bool {
    h.c.timers().next().is_none()
}

fn has_event(out: &[Output], event: Event) -> bool {
    out.contains(&Output::Event(event))
}

fn task_failed(h: &mut Harness, t: quiesce_core::TaskId) {
    let w = h.c.job().worker_of(t).unwrap().0;
    h.worker(
        w,
        WorkerEvent::TaskFailed {
            task: t,
            reason: "boom".into(),
        },
    )
    .expect("task failure accepted");
}

fn worker_exited(h: &mut Harness, w: u32) {
    let generation = h.generation();
    h.input(Input::WorkerExited {
        worker: WorkerId(w),
        generation,
    })
    .expect("worker exit accepted");
}

fn failed_reason(t: quiesce_core::TaskId) -> Reason {
    Reason::TaskFailed {
        task: t,
        reason: "boom".into(),
    }
}

/// Running with the final checkpoint (epoch 1) of a checkpoint stop just started at time 0.
fn checkpoint_stopping() -> Harness {
    let mut h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    assert_eq!(h.state(), CHECKPOINT_STOPPING);
    h
}

/// Running, then a stop of the given kind at time 0.
fn stop_job(mode: StopJobMode) -> Harness {
    let mut h = Harness::running();
    h.stop(mode.into()).unwrap();
    h.take();
    h
}

/// Running, then source subtask 0 ended at time 0.
/// Running, then every source reads the end of its input at time 0: Finishing, with the
/// final checkpoint E1 in flight.
fn finishing() -> Harness {
    let mut h = Harness::running();
    end_inputs(&mut h);
    h.take();
    assert_eq!(h.state(), FINISHING);
    assert_eq!(h.c.status().final_checkpoint, Some(E1));
    h
}

fn end_inputs(h: &mut Harness) {
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
}

/// Running, then a task failure at time 0: Recovering, killing generation 1.
fn recovering() -> Harness {
    let mut h = Harness::running();
    task_failed(&mut h, task(MAP, 0));
    h.take();
    assert_eq!(h.state(), RECOVERING);
    h
}

// ------------------------------------------------------------------------ (new) -> Scheduling

#[test]
fn transition_new_to_scheduling_on_created() {
    let mut h = Harness::new();
    let out = h.take();
    assert_eq!(transitions(&out), vec![(None, SCHEDULING, Reason::Created)]);
    assert_eq!(
        effects(&out),
        vec![Output::StartWorkers {
            generation: g(1),
            restore: None
        }]
    );
    assert_eq!(h.state(), SCHEDULING);
    assert_eq!(timer(&h, Timer::Scheduling), Some(Time(7_000)));
}

// ------------------------------------------------------------------------ Scheduling -> ...

#[test]
fn transition_scheduling_to_running_on_workers_ready() {
    let mut h = Harness::new();
    h.take();
    h.at(10);
    h.worker(0, WorkerEvent::Ready).unwrap();
    assert!(h.take().is_empty(), "one worker ready is not enough");
    assert_eq!(h.state(), SCHEDULING);
    h.worker(1, WorkerEvent::Ready).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(SCHEDULING, RUNNING, Reason::WorkersReady)
    );
    assert!(effects(&out).is_empty(), "{out:?}");
    assert_eq!(h.state(), RUNNING);
    assert_eq!(timer(&h, Timer::Scheduling), None);
    assert_eq!(timer(&h, Timer::Heartbeat), Some(Time(60_010)));
    assert_eq!(timer(&h, Timer::Healthy), Some(Time(600_010)));
    assert_eq!(timer(&h, Timer::CheckpointInterval), Some(Time(1_010)));
}

#[test]
fn transition_scheduling_to_running_on_workers_ready_resends_pending_commits() {
    let mut h = Harness::running();
    h.at(1_000);
    h.ack_all(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    task_failed(&mut h, task(SRC, 1));
    h.confirm_stopped().unwrap();
    h.at(1_100);
    h.take();
    assert_eq!(h.state(), SCHEDULING);
    h.ready_all();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(SCHEDULING, RUNNING, Reason::WorkersReady)
    );
    assert_eq!(
        effects(&out),
        vec![
            send(0, 2, Command::Commit { epoch: E1 }),
            send(1, 2, Command::Commit { epoch: E1 }),
        ]
    );
    assert_eq!(h.state(), RUNNING);
    assert_eq!(timer(&h, Timer::CheckpointTimeout), Some(Time(6_100)));
}

#[test]
fn transition_scheduling_to_recovering_on_scheduling_timeout() {
    let mut h = Harness::new();
    h.take();
    h.worker(0, WorkerEvent::Ready).unwrap();
    h.at(6_999);
    assert!(h.take().is_empty());
    h.at(7_000);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(SCHEDULING, RECOVERING, Reason::SchedulingTimedOut)
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
    assert_eq!(timer(&h, Timer::Kill), Some(Time(9_000)));
    assert_eq!(timer(&h, Timer::Scheduling), None);
}

#[test]
fn transition_scheduling_to_recovering_on_scheduler_failed() {
    let mut h = Harness::new();
    h.take();
    h.input(Input::SchedulerFailed {
        generation: g(1),
        reason: "no slots".into(),
    })
    .unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            SCHEDULING,
            RECOVERING,
            Reason::SchedulerFailed("no slots".into())
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_scheduling_to_recovering_on_task_failed() {
    let mut h = Harness::new();
    h.take();
    task_failed(&mut h, task(SINK, 1));
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(SCHEDULING, RECOVERING, failed_reason(task(SINK, 1)))
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_scheduling_to_recovering_on_worker_exited() {
    let mut h = Harness::new();
    h.take();
    worker_exited(&mut h, 1);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::WorkerLost {
            worker: WorkerId(1)
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            SCHEDULING,
            RECOVERING,
            Reason::WorkerLost {
                worker: WorkerId(1)
            }
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_scheduling_to_stop_workers_on_stop_during_scheduling() {
    for mode in [
        StopMode::Checkpoint,
        StopMode::Graceful,
        StopMode::Immediate,
        StopMode::Force,
    ] {
        let mut h = Harness::new();
        h.take();
        h.worker(0, WorkerEvent::Ready).unwrap();
        h.stop(mode).unwrap();
        let out = h.take();
        assert!(has_event(&out, Event::StopRequested { mode }));
        assert_eq!(
            transitions(&out),
            one(SCHEDULING, STOP_WORKERS, Reason::StopRequested(mode))
        );
        assert_eq!(effects(&out), vec![kill(1)], "{mode}");
        assert_eq!(h.state(), STOP_WORKERS);
        assert_eq!(h.c.status().stop, Some(StopMode::Force));
        assert_eq!(timer(&h, Timer::Kill), Some(Time(2_000)));
        assert_eq!(timer(&h, Timer::Scheduling), None);
    }
}

// ------------------------------------------------------------------------ Running -> ...

#[test]
fn transition_running_to_checkpoint_stopping_on_stop_checkpoint() {
    let mut h = Harness::running();
    h.at(500);
    h.stop(StopMode::Checkpoint).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            CHECKPOINT_STOPPING,
            Reason::StopRequested(StopMode::Checkpoint)
        )
    );
    assert!(has_event(
        &out,
        Event::CheckpointStarted {
            epoch: E1,
            then_stop: true
        }
    ));
    assert_eq!(
        commands(&out),
        to_both(Command::Checkpoint {
            epoch: E1,
            then_stop: true
        })
    );
    assert_eq!(effects(&out).len(), 2, "only the two barriers: {out:?}");
    assert_eq!(h.state(), CHECKPOINT_STOPPING);
    assert_eq!(h.c.status().final_checkpoint, Some(E1));
    assert_eq!(timer(&h, Timer::FinalCheckpoint), Some(Time(5_500)));
    assert_eq!(timer(&h, Timer::CheckpointInterval), None);
    assert_eq!(timer(&h, Timer::Healthy), None);
}

#[test]
fn transition_running_to_stop_job_graceful_on_stop_graceful() {
    let mut h = Harness::running();
    h.stop(StopMode::Graceful).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RUNNING, GRACEFUL, Reason::StopRequested(StopMode::Graceful))
    );
    assert_eq!(commands(&out), to_both(stop_cmd(StopJobMode::Graceful)));
    assert_eq!(effects(&out).len(), 2);
    assert_eq!(h.state(), GRACEFUL);
    assert_eq!(h.c.status().stop, Some(StopMode::Graceful));
    assert_eq!(timer(&h, Timer::Stop), Some(Time(3_000)));
    assert_eq!(timer(&h, Timer::CheckpointInterval), None);
}

#[test]
fn transition_running_to_stop_job_immediate_on_stop_immediate() {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    assert_eq!(h.c.status().in_flight.map(|f| f.epoch), Some(E1));
    h.stop(StopMode::Immediate).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate)
        )
    );
    assert!(has_event(
        &out,
        Event::CheckpointAborted {
            epoch: E1,
            reason: AbortReason::Superseded
        }
    ));
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().in_flight, None);
    assert_eq!(timer(&h, Timer::Stop), Some(Time(4_000)));
    assert_eq!(timer(&h, Timer::CheckpointTimeout), None);
}

#[test]
fn transition_running_to_stop_workers_on_stop_force() {
    let mut h = Harness::running();
    h.at(200);
    h.stop(StopMode::Force).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Force)
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), STOP_WORKERS);
    assert_eq!(timer(&h, Timer::Kill), Some(Time(2_200)));
    assert_eq!(h.c.timers().count(), 1, "only the kill timer");
}

#[test]
fn transition_running_to_recovering_on_task_failure() {
    let mut h = Harness::running();
    task_failed(&mut h, task(MAP, 1));
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RUNNING, RECOVERING, failed_reason(task(MAP, 1)))
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
    assert_eq!(timer(&h, Timer::Kill), Some(Time(2_000)));
    assert_eq!(timer(&h, Timer::Heartbeat), None);
    assert_eq!(timer(&h, Timer::Healthy), None);
}

#[test]
fn transition_running_to_recovering_on_task_failure_aborts_the_checkpoint_in_flight() {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    task_failed(&mut h, task(MAP, 1));
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RUNNING, RECOVERING, failed_reason(task(MAP, 1)))
    );
    assert_eq!(
        effects(&out),
        vec![send(0, 1, abort(E1)), send(1, 1, abort(E1)), kill(1)]
    );
}

#[test]
fn transition_running_to_recovering_on_heartbeat_loss() {
    let config = Config {
        heartbeat_timeout_ms: 500,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.take();
    assert_eq!(timer(&h, Timer::Heartbeat), Some(Time(500)));
    h.at(300);
    h.worker(0, WorkerEvent::Heartbeat).unwrap();
    h.at(499);
    assert!(h.take().is_empty());
    h.at(500);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::WorkerLost {
            worker: WorkerId(1)
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            RECOVERING,
            Reason::WorkerLost {
                worker: WorkerId(1)
            }
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_running_to_recovering_on_heartbeat_loss_of_a_worker_that_stopped_beating() {
    let config = Config {
        heartbeat_timeout_ms: 500,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.take();
    // Both beat at 400; worker 1 keeps beating, worker 0 falls silent.
    h.at(400);
    h.worker(0, WorkerEvent::Heartbeat).unwrap();
    h.worker(1, WorkerEvent::Heartbeat).unwrap();
    h.at(500);
    assert!(transitions(&h.take()).is_empty(), "both were heard at 400");
    assert_eq!(timer(&h, Timer::Heartbeat), Some(Time(900)));
    h.at(800);
    h.worker(1, WorkerEvent::Heartbeat).unwrap();
    h.at(900);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            RECOVERING,
            Reason::WorkerLost {
                worker: WorkerId(0)
            }
        )
    );
}

#[test]
fn transition_running_to_recovering_on_worker_exited() {
    let mut h = Harness::running();
    worker_exited(&mut h, 0);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::WorkerLost {
            worker: WorkerId(0)
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            RECOVERING,
            Reason::WorkerLost {
                worker: WorkerId(0)
            }
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_running_to_recovering_on_too_many_checkpoint_failures() {
    // tolerable_checkpoint_failures = 1: the second consecutive failure recovers.
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    h.worker(
        0,
        WorkerEvent::CheckpointFailed {
            task: task(SRC, 0),
            epoch: E1,
            reason: "disk full".into(),
        },
    )
    .unwrap();
    let out = h.take();
    assert!(transitions(&out).is_empty(), "one failure is tolerated");
    assert_eq!(commands(&out), to_both(abort(E1)));
    assert_eq!(h.state(), RUNNING);
    assert_eq!(timer(&h, Timer::CheckpointInterval), Some(Time(2_000)));

    h.at(2_000);
    h.take();
    assert_eq!(h.c.status().in_flight.map(|f| f.epoch), Some(E2));
    h.at(6_999);
    assert!(h.take().is_empty());
    h.at(7_000);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::CheckpointAborted {
            epoch: E2,
            reason: AbortReason::TimedOut
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            RECOVERING,
            Reason::TooManyCheckpointFailures { consecutive: 2 }
        )
    );
    assert_eq!(
        effects(&out),
        vec![send(0, 1, abort(E2)), send(1, 1, abort(E2)), kill(1)]
    );
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_running_to_recovering_on_commit_timeout() {
    let mut h = Harness::running();
    h.at(1_000);
    h.ack_all(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.take();
    h.at(5_999);
    assert!(h.take().is_empty());
    h.at(6_000);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RUNNING,
            RECOVERING,
            Reason::CheckpointCommitTimedOut { epoch: E1 }
        )
    );
    assert_eq!(
        effects(&out),
        vec![kill(1)],
        "a complete checkpoint is not aborted"
    );
    assert_eq!(h.c.status().last_completed, Some(E1));
    assert!(!h.c.status().last_completed_committed);
}

#[test]
fn transition_running_to_recovering_on_unexpected_non_source_task_finished() {
    for t in [task(MAP, 0), task(SINK, 1)] {
        let mut h = Harness::running();
        h.finish(t).unwrap();
        let out = h.take();
        assert_eq!(
            transitions(&out),
            one(RUNNING, RECOVERING, Reason::TaskFinishedEarly { task: t })
        );
        assert_eq!(effects(&out), vec![kill(1)]);
        assert_eq!(h.state(), RECOVERING);
    }
}

#[test]
fn transition_running_to_finishing_once_every_source_input_ended() {
    let mut h = Harness::running();
    h.at(1_000);
    h.take();
    h.at(1_200);
    h.worker(0, WorkerEvent::InputEnded { task: task(SRC, 0) })
        .unwrap();
    assert!(h.take().is_empty(), "one source still reads");
    assert_eq!(h.state(), RUNNING);
    h.worker(1, WorkerEvent::InputEnded { task: task(SRC, 1) })
        .unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RUNNING, FINISHING, Reason::SourcesFinished)
    );
    assert!(
        effects(&out).is_empty(),
        "the periodic checkpoint in flight goes on"
    );
    assert_eq!(timer(&h, Timer::FinalCheckpoint), Some(Time(6_200)));
    assert_eq!(timer(&h, Timer::CheckpointInterval), None);
    // Ended sources still ack; once E1 is committed the final checkpoint follows.
    h.complete_checkpoint(E1);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::CheckpointStarted {
            epoch: E2,
            then_stop: true
        }
    ));
    let mut expected = to_both(Command::Commit { epoch: E1 });
    expected.extend(to_both(Command::Checkpoint {
        epoch: E2,
        then_stop: true,
    }));
    assert_eq!(commands(&out), expected);
}

#[test]
fn transition_running_to_recovering_on_a_source_finishing_without_a_final_checkpoint() {
    let mut h = Harness::running();
    h.finish(task(SRC, 0)).unwrap();
    assert_eq!(
        transitions(&h.take()),
        one(
            RUNNING,
            RECOVERING,
            Reason::TaskFinishedEarly { task: task(SRC, 0) }
        )
    );
}

// ------------------------------------------------------------------------ CheckpointStopping -> ...

#[test]
fn transition_checkpoint_stopping_to_stopped_on_final_checkpoint_committed() {
    let mut h = checkpoint_stopping();
    h.ack_all(E1);
    assert_eq!(
        effects(&h.take()),
        vec![Output::PersistMetadata {
            epoch: E1,
            generation: g(1)
        }]
    );
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    assert_eq!(commands(&h.take()), to_both(Command::Commit { epoch: E1 }));
    h.commit_all(E1);
    let out = h.take();
    assert!(has_event(&out, Event::CheckpointCommitted { epoch: E1 }));
    assert!(transitions(&out).is_empty(), "tasks still running");
    let tasks = h.tasks();
    let (last, rest) = tasks.split_last().unwrap();
    for &(_, t) in rest {
        h.finish(t).unwrap();
    }
    assert_eq!(h.state(), CHECKPOINT_STOPPING);
    assert!(h.take().is_empty());
    h.finish(last.1).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            STOPPED,
            Reason::FinalCheckpointCommitted { epoch: E1 }
        )
    );
    assert_eq!(effects(&out), vec![release(1)]);
    assert_eq!(h.state(), STOPPED);
    assert!(no_timers(&h));
    let status = h.c.status();
    assert_eq!(status.last_completed, Some(E1));
    assert!(status.last_completed_committed);
    assert_eq!(status.stop, Some(StopMode::Checkpoint));
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_graceful_on_stop_graceful() {
    let mut h = checkpoint_stopping();
    h.at(100);
    h.stop(StopMode::Graceful).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            GRACEFUL,
            Reason::StopRequested(StopMode::Graceful)
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Graceful)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), GRACEFUL);
    assert_eq!(timer(&h, Timer::Stop), Some(Time(3_100)));
    assert_eq!(timer(&h, Timer::FinalCheckpoint), None);
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_stop_immediate() {
    let mut h = checkpoint_stopping();
    h.stop(StopMode::Immediate).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate)
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_final_checkpoint_timer() {
    let mut h = checkpoint_stopping();
    h.complete_checkpoint(E1);
    h.take();
    assert_eq!(timer(&h, Timer::CheckpointTimeout), None);
    assert_eq!(timer(&h, Timer::FinalCheckpoint), Some(Time(5_000)));
    h.at(4_999);
    assert!(h.take().is_empty());
    h.at(5_000);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::FinalCheckpointTimedOut
        )
    );
    assert_eq!(
        effects(&out),
        to_both(stop_cmd(StopJobMode::Immediate))
            .into_iter()
            .map(|(w, c)| send(w, 1, c))
            .collect::<Vec<_>>()
    );
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
    assert_eq!(timer(&h, Timer::Stop), Some(Time(8_000)));
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_final_checkpoint_timed_out() {
    // The final checkpoint never gets its acks: its own timeout and the final-checkpoint
    // deadline coincide, and the stop escalates once, as timed out.
    let mut h = checkpoint_stopping();
    h.at(4_999);
    assert!(h.take().is_empty());
    h.at(5_000);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::CheckpointAborted {
            epoch: E1,
            reason: AbortReason::TimedOut
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::FinalCheckpointTimedOut
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_task_failure() {
    let mut h = checkpoint_stopping();
    task_failed(&mut h, task(SINK, 0));
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(CHECKPOINT_STOPPING, IMMEDIATE, failed_reason(task(SINK, 0)))
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
}

#[test]
fn transition_checkpoint_stopping_to_stop_workers_on_lost_worker() {
    // The lost worker's tasks can never stop themselves: only a kill ends them.
    let mut h = checkpoint_stopping();
    worker_exited(&mut h, 1);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::WorkerLost {
            worker: WorkerId(1)
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            STOP_WORKERS,
            Reason::WorkerLost {
                worker: WorkerId(1)
            }
        )
    );
    assert_eq!(commands(&out), to_both(abort(E1)));
    assert!(out.contains(&Output::StopWorkers {
        generation: Generation(1)
    }));
    assert_eq!(h.state(), STOP_WORKERS);
    assert_eq!(h.c.status().stop, Some(StopMode::Force));
}

#[test]
fn transition_checkpoint_stopping_to_stop_workers_on_heartbeat_loss() {
    let config = Config {
        heartbeat_timeout_ms: 500,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    h.at(400);
    h.worker(1, WorkerEvent::Heartbeat).unwrap();
    h.at(500);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            STOP_WORKERS,
            Reason::WorkerLost {
                worker: WorkerId(0)
            }
        )
    );
    assert_eq!(h.state(), STOP_WORKERS);
    assert_eq!(
        timer(&h, Timer::Heartbeat),
        None,
        "nothing left to watch: the kill decides"
    );
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_final_checkpoint_failure() {
    let mut h = checkpoint_stopping();
    h.ack(task(SRC, 0), E1).unwrap();
    h.worker(
        1,
        WorkerEvent::CheckpointFailed {
            task: task(MAP, 1),
            epoch: E1,
            reason: "snapshot".into(),
        },
    )
    .unwrap();
    let out = h.take();
    assert!(has_event(
        &out,
        Event::CheckpointAborted {
            epoch: E1,
            reason: AbortReason::TaskFailed {
                task: task(MAP, 1),
                reason: "snapshot".into()
            }
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::FinalCheckpointFailed { epoch: E1 }
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_persist_failure() {
    let mut h = checkpoint_stopping();
    h.ack_all(E1);
    h.take();
    h.input(Input::MetadataPersistFailed {
        epoch: E1,
        reason: "store down".into(),
    })
    .unwrap();
    let out = h.take();
    assert!(has_event(
        &out,
        Event::CheckpointAborted {
            epoch: E1,
            reason: AbortReason::PersistFailed {
                reason: "store down".into()
            }
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::FinalCheckpointFailed { epoch: E1 }
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().last_completed, None);
}

#[test]
fn transition_checkpoint_stopping_to_stop_job_immediate_on_task_finished_early() {
    let mut h = checkpoint_stopping();
    // The map has not acked the final checkpoint: it may not finish yet.
    h.finish(task(MAP, 0)).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            IMMEDIATE,
            Reason::TaskFinishedEarly { task: task(MAP, 0) }
        )
    );
    assert_eq!(h.state(), IMMEDIATE);
}

#[test]
fn transition_checkpoint_stopping_to_stop_workers_on_stop_force() {
    let mut h = checkpoint_stopping();
    h.at(300);
    h.stop(StopMode::Force).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            CHECKPOINT_STOPPING,
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Force)
        )
    );
    assert_eq!(
        effects(&out),
        vec![send(0, 1, abort(E1)), send(1, 1, abort(E1)), kill(1)]
    );
    assert_eq!(h.state(), STOP_WORKERS);
    assert_eq!(timer(&h, Timer::Kill), Some(Time(2_300)));
    assert_eq!(timer(&h, Timer::FinalCheckpoint), None);
}

// ------------------------------------------------------------------------ StopJob -> ...

#[test]
fn transition_stop_job_graceful_to_stop_job_immediate_on_stop_immediate_keeping_the_deadline() {
    let mut h = stop_job(StopJobMode::Graceful);
    assert_eq!(timer(&h, Timer::Stop), Some(Time(3_000)));
    h.finish(task(SRC, 0)).unwrap();
    h.at(1_000);
    h.stop(StopMode::Immediate).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            GRACEFUL,
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate)
        )
    );
    assert_eq!(commands(&out), to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(effects(&out).len(), 2);
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
    assert_eq!(
        timer(&h, Timer::Stop),
        Some(Time(3_000)),
        "the stop deadline counts from the first stop request"
    );
    h.at(2_999);
    assert!(h.take().is_empty());
    h.at(3_000);
    assert_eq!(
        transitions(&h.take()),
        one(IMMEDIATE, STOP_WORKERS, Reason::StopTimedOut)
    );
}

#[test]
fn transition_stop_job_graceful_to_stopped_on_all_tasks_finished() {
    let mut h = stop_job(StopJobMode::Graceful);
    let tasks = h.tasks();
    let (last, rest) = tasks.split_last().unwrap();
    for &(_, t) in rest {
        h.finish(t).unwrap();
    }
    assert!(h.take().is_empty());
    assert_eq!(h.state(), GRACEFUL);
    h.at(2_000);
    h.finish(last.1).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(GRACEFUL, STOPPED, Reason::AllTasksFinished)
    );
    assert_eq!(effects(&out), vec![release(1)]);
    assert_eq!(h.state(), STOPPED);
    assert!(no_timers(&h));
}

#[test]
fn transition_stop_job_immediate_to_stopped_on_all_tasks_finished() {
    let mut h = stop_job(StopJobMode::Immediate);
    h.finish_all();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(IMMEDIATE, STOPPED, Reason::AllTasksFinished)
    );
    assert_eq!(effects(&out), vec![release(1)]);
    assert_eq!(h.state(), STOPPED);
    assert!(no_timers(&h));
}

#[test]
fn transition_stop_job_to_stop_workers_on_stop_timeout() {
    for mode in [StopJobMode::Graceful, StopJobMode::Immediate] {
        let mut h = stop_job(mode);
        let from = State::Stopping(Stopping::StopJob(mode));
        h.finish(task(SRC, 0)).unwrap();
        h.at(2_999);
        assert!(h.take().is_empty());
        h.at(3_000);
        let out = h.take();
        assert_eq!(
            transitions(&out),
            one(from, STOP_WORKERS, Reason::StopTimedOut)
        );
        assert_eq!(effects(&out), vec![kill(1)]);
        assert_eq!(h.state(), STOP_WORKERS);
        assert_eq!(h.c.status().stop, Some(StopMode::Force));
        assert_eq!(timer(&h, Timer::Kill), Some(Time(5_000)));
    }
}

#[test]
fn transition_stop_job_to_stop_workers_on_task_failure() {
    for mode in [StopJobMode::Graceful, StopJobMode::Immediate] {
        let mut h = stop_job(mode);
        let from = State::Stopping(Stopping::StopJob(mode));
        h.at(100);
        task_failed(&mut h, task(SINK, 1));
        let out = h.take();
        assert_eq!(
            transitions(&out),
            one(from, STOP_WORKERS, failed_reason(task(SINK, 1)))
        );
        assert_eq!(effects(&out), vec![kill(1)]);
        assert_eq!(h.state(), STOP_WORKERS);
        assert_eq!(h.c.status().stop, Some(StopMode::Force));
        assert_eq!(timer(&h, Timer::Kill), Some(Time(2_100)));
        assert_eq!(timer(&h, Timer::Stop), None);
    }
}

#[test]
fn transition_stop_job_to_stop_workers_on_lost_worker() {
    for mode in [StopJobMode::Graceful, StopJobMode::Immediate] {
        let mut h = stop_job(mode);
        let from = State::Stopping(Stopping::StopJob(mode));
        worker_exited(&mut h, 0);
        let out = h.take();
        assert!(has_event(
            &out,
            Event::WorkerLost {
                worker: WorkerId(0)
            }
        ));
        assert_eq!(
            transitions(&out),
            one(
                from,
                STOP_WORKERS,
                Reason::WorkerLost {
                    worker: WorkerId(0)
                }
            )
        );
        assert_eq!(effects(&out), vec![kill(1)]);
        assert_eq!(h.state(), STOP_WORKERS);
    }
}

#[test]
fn transition_stop_job_to_stop_workers_on_heartbeat_loss() {
    let config = Config {
        heartbeat_timeout_ms: 500,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.stop(StopMode::Graceful).unwrap();
    h.take();
    h.at(500);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            GRACEFUL,
            STOP_WORKERS,
            Reason::WorkerLost {
                worker: WorkerId(0)
            }
        )
    );
    assert_eq!(effects(&out), vec![kill(1)]);
}

#[test]
fn transition_stop_job_to_stop_workers_on_stop_force() {
    for mode in [StopJobMode::Graceful, StopJobMode::Immediate] {
        let mut h = stop_job(mode);
        let from = State::Stopping(Stopping::StopJob(mode));
        h.stop(StopMode::Force).unwrap();
        let out = h.take();
        assert_eq!(
            transitions(&out),
            one(from, STOP_WORKERS, Reason::StopRequested(StopMode::Force))
        );
        assert_eq!(effects(&out), vec![kill(1)]);
        assert_eq!(h.state(), STOP_WORKERS);
    }
}

// ------------------------------------------------------------------------ StopWorkers -> ...

#[test]
fn transition_stop_workers_to_stopped_on_workers_stopped() {
    let mut h = Harness::running();
    h.stop(StopMode::Force).unwrap();
    h.take();
    h.at(1_500);
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(STOP_WORKERS, STOPPED, Reason::WorkersStopped)
    );
    assert!(
        effects(&out).is_empty(),
        "killed workers need no release: {out:?}"
    );
    assert_eq!(h.state(), STOPPED);
    assert_eq!(h.c.status().stopped_generation, Some(g(1)));
    assert!(no_timers(&h));
}

#[test]
fn transition_stop_workers_to_failed_on_kill_unconfirmed() {
    // force_timeout_ms = 2000, force_retries = 2, force_retry_backoff_ms = 500 (doubling).
    let mut h = Harness::running();
    let start = 100;
    h.at(start);
    h.stop(StopMode::Force).unwrap();
    assert_eq!(effects(&h.take()), vec![kill(1)]);

    // Attempt 1 waits 2000 ms, then a pause of 500 ms.
    h.at(start + 1_999);
    assert!(h.take().is_empty());
    h.at(start + 2_000);
    assert!(h.take().is_empty(), "the first re-ask comes after a pause");
    assert_eq!(timer(&h, Timer::Kill), Some(Time(start + 2_500)));
    h.at(start + 2_500);
    let out = h.take();
    assert_eq!(
        out,
        vec![
            Output::Event(Event::KillRetried {
                generation: g(1),
                attempt: 2
            }),
            kill(1),
        ]
    );
    // Attempt 2 waits 2000 ms, then a pause of 1000 ms.
    h.at(start + 4_500);
    assert!(h.take().is_empty());
    assert_eq!(timer(&h, Timer::Kill), Some(Time(start + 5_500)));
    h.at(start + 5_500);
    let out = h.take();
    assert_eq!(
        out,
        vec![
            Output::Event(Event::KillRetried {
                generation: g(1),
                attempt: 3
            }),
            kill(1),
        ]
    );
    // Attempt 3 (the last retry) waits 2000 ms, then the job has failed.
    assert_eq!(h.state(), STOP_WORKERS);
    h.at(start + 7_499);
    assert!(h.take().is_empty());
    h.at(start + 7_500);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            STOP_WORKERS,
            FAILED,
            Reason::KillUnconfirmed { attempts: 3 }
        )
    );
    assert!(effects(&out).is_empty());
    assert_eq!(h.state(), FAILED);
    assert!(no_timers(&h));
    assert_eq!(
        7_500,
        h.c.config().force_bound_ms(),
        "the kill took exactly the force bound"
    );
}

#[test]
fn transition_stop_workers_to_failed_on_kill_unconfirmed_when_woken_late() {
    // A driver that only wakes long after every deadline gets the same retries, each as of
    // its own deadline, and the job fails within the force bound.
    let mut h = Harness::running();
    h.stop(StopMode::Force).unwrap();
    h.take();
    h.at(100_000);
    let out = h.take();
    assert_eq!(
        out,
        vec![
            Output::Event(Event::KillRetried {
                generation: g(1),
                attempt: 2
            }),
            kill(1),
            Output::Event(Event::KillRetried {
                generation: g(1),
                attempt: 3
            }),
            kill(1),
            Output::Event(Event::Transition {
                from: Some(STOP_WORKERS),
                to: FAILED,
                reason: Reason::KillUnconfirmed { attempts: 3 }
            }),
        ]
    );
    assert_eq!(h.state(), FAILED);
    assert!(h.c.status().now <= Time(h.c.config().force_bound_ms()));
}

#[test]
fn transition_stop_workers_to_failed_on_kill_unconfirmed_with_default_force_settings() {
    let config = Config {
        force_timeout_ms: Config::default().force_timeout_ms,
        force_retries: Config::default().force_retries,
        force_retry_backoff_ms: Config::default().force_retry_backoff_ms,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.stop(StopMode::Force).unwrap();
    h.take();
    let mut retries = Vec::new();
    let mut failed_at = None;
    while let Some(at) = h.c.poll_timeout() {
        h.at(at.0);
        for o in h.take() {
            match o {
                Output::Event(Event::KillRetried { attempt, .. }) => retries.push((at.0, attempt)),
                Output::Event(Event::Transition { to: FAILED, .. }) => failed_at = Some(at.0),
                _ => {}
            }
        }
    }
    // 30 s wait, 1 s pause, 30 s, 2 s, 30 s, 4 s, 30 s.
    assert_eq!(retries, vec![(31_000, 2), (63_000, 3), (97_000, 4)]);
    assert_eq!(failed_at, Some(127_000));
    assert_eq!(failed_at, Some(config.force_bound_ms()));
}

// ------------------------------------------------------------------------ Recovering -> ...

#[test]
fn transition_recovering_to_scheduling_on_restart_backoff() {
    let mut h = Harness::running();
    h.at(1_000);
    h.complete_checkpoint(E1);
    h.at(1_200);
    h.take();
    task_failed(&mut h, task(SRC, 0));
    assert_eq!(effects(&h.take()), vec![kill(1)]);
    h.at(1_300);
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert_eq!(
        out,
        vec![Output::Event(Event::RestartScheduled {
            delay_ms: 100,
            restarts: 1
        })]
    );
    assert_eq!(h.state(), RECOVERING);
    assert_eq!(timer(&h, Timer::RestartBackoff), Some(Time(1_400)));
    h.at(1_399);
    assert!(h.take().is_empty());
    h.at(1_400);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RECOVERING, SCHEDULING, Reason::RestartBackoffElapsed)
    );
    assert_eq!(
        effects(&out),
        vec![Output::StartWorkers {
            generation: g(2),
            restore: Some(E1)
        }]
    );
    assert_eq!(h.state(), SCHEDULING);
    let status = h.c.status();
    assert_eq!(status.generation, g(2));
    assert_eq!(status.stopped_generation, Some(g(1)));
    assert_eq!(status.restarts, 1);
    assert_eq!(status.counters.restarts, 1);
    assert_eq!(timer(&h, Timer::Scheduling), Some(Time(8_400)));
    h.ready_all();
    assert_eq!(h.state(), RUNNING);
}

#[test]
fn transition_recovering_to_failed_on_restart_budget_exhausted() {
    // FixedDelay { delay_ms: 100, max_restarts: 2 }.
    let mut h = Harness::new();
    for generation in 1..=3u64 {
        assert_eq!(h.generation(), g(generation));
        h.input(Input::SchedulerFailed {
            generation: g(generation),
            reason: "no slots".into(),
        })
        .unwrap();
        h.confirm_stopped().unwrap();
        if generation < 3 {
            let now = h.now.0;
            h.at(now + 100);
            assert_eq!(h.state(), SCHEDULING);
        }
    }
    let out = h.take();
    assert_eq!(
        transitions(&out).last().cloned(),
        Some((Some(RECOVERING), FAILED, Reason::RestartBudgetExhausted))
    );
    assert_eq!(
        effects(&out).last(),
        Some(&kill(3)),
        "failed only after generation 3 is confirmed gone"
    );
    assert_eq!(h.state(), FAILED);
    assert_eq!(h.c.status().stopped_generation, Some(g(3)));
    assert!(no_timers(&h));
}

#[test]
fn transition_recovering_to_failed_on_kill_unconfirmed() {
    let mut h = recovering();
    for at in [2_000, 2_500, 4_500, 5_500] {
        h.at(at);
        assert_eq!(h.state(), RECOVERING);
    }
    h.at(7_499);
    assert_eq!(h.state(), RECOVERING);
    h.take();
    h.at(7_500);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RECOVERING, FAILED, Reason::KillUnconfirmed { attempts: 3 })
    );
    assert_eq!(h.state(), FAILED);
}

#[test]
fn transition_recovering_to_stop_workers_on_stop_while_killing() {
    let mut h = recovering();
    h.at(2_000);
    h.take();
    h.stop(StopMode::Immediate).unwrap();
    let out = h.take();
    assert!(has_event(
        &out,
        Event::StopRequested {
            mode: StopMode::Immediate
        }
    ));
    assert_eq!(
        transitions(&out),
        one(
            RECOVERING,
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Immediate)
        )
    );
    assert!(
        effects(&out).is_empty(),
        "the kill under way goes on: {out:?}"
    );
    assert_eq!(h.state(), STOP_WORKERS);
    assert_eq!(h.c.status().stop, Some(StopMode::Force));
    assert_eq!(
        timer(&h, Timer::Kill),
        Some(Time(2_500)),
        "the kill keeps its schedule"
    );
    h.confirm_stopped().unwrap();
    assert_eq!(
        transitions(&h.take()),
        one(STOP_WORKERS, STOPPED, Reason::WorkersStopped)
    );
    assert_eq!(h.generation(), g(1), "no new generation was started");
}

#[test]
fn transition_recovering_to_stopped_on_stop_during_backoff() {
    let mut h = recovering();
    h.confirm_stopped().unwrap();
    h.take();
    assert_eq!(timer(&h, Timer::RestartBackoff), Some(Time(100)));
    h.at(50);
    h.stop(StopMode::Graceful).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            RECOVERING,
            STOPPED,
            Reason::StopRequested(StopMode::Graceful)
        )
    );
    assert!(effects(&out).is_empty(), "{out:?}");
    assert_eq!(h.state(), STOPPED);
    assert_eq!(h.generation(), g(1));
    assert!(no_timers(&h));
}

#[test]
fn transition_recovering_to_stopped_on_ttl_during_backoff() {
    let config = Config {
        ttl_ms: Some(80),
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    task_failed(&mut h, task(MAP, 0));
    h.confirm_stopped().unwrap();
    h.take();
    h.at(80);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(RECOVERING, STOPPED, Reason::TtlExpired)
    );
    assert_eq!(h.state(), STOPPED);
}

// ------------------------------------------------------------------------ Finishing -> ...

#[test]
fn transition_finishing_to_finished_on_final_checkpoint_committed() {
    let mut h = finishing();
    h.ack_and_finish_all_but_sinks(E1);
    assert_eq!(
        effects(&h.take()),
        vec![Output::PersistMetadata {
            epoch: E1,
            generation: Generation(1)
        }]
    );
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    h.take();
    assert_eq!(h.state(), FINISHING, "the sinks have not finished yet");
    for (w, t) in h.sinks() {
        h.worker(w, WorkerEvent::TaskFinished { task: t }).unwrap();
    }
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            FINISHING,
            FINISHED,
            Reason::FinalCheckpointCommitted { epoch: E1 }
        )
    );
    assert_eq!(effects(&out), vec![release(1)]);
    assert_eq!(
        h.c.restore_point().map(|r| (r.epoch, r.committed)),
        Some((E1, true))
    );
    assert!(no_timers(&h));
}

#[test]
fn transition_finishing_to_recovering_on_task_failure() {
    let mut h = finishing();
    task_failed(&mut h, task(MAP, 1));
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(FINISHING, RECOVERING, failed_reason(task(MAP, 1)))
    );
    assert_eq!(
        effects(&out),
        vec![send(0, 1, abort(E1)), send(1, 1, abort(E1)), kill(1)]
    );
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn transition_finishing_to_recovering_on_lost_worker() {
    let mut h = finishing();
    worker_exited(&mut h, 1);
    assert_eq!(
        transitions(&h.take()),
        one(
            FINISHING,
            RECOVERING,
            Reason::WorkerLost {
                worker: WorkerId(1)
            }
        )
    );
}

#[test]
fn transition_finishing_to_recovering_on_final_checkpoint_timeout() {
    let mut h = finishing();
    assert_eq!(timer(&h, Timer::FinalCheckpoint), Some(Time(5_000)));
    h.at(4_999);
    assert!(h.take().is_empty());
    h.at(5_000);
    assert_eq!(
        transitions(&h.take()),
        one(FINISHING, RECOVERING, Reason::FinalCheckpointTimedOut)
    );
}

#[test]
fn transition_finishing_to_recovering_on_final_checkpoint_failure() {
    let mut h = finishing();
    h.worker(
        1,
        WorkerEvent::CheckpointFailed {
            task: task(SINK, 1),
            epoch: E1,
            reason: "disk".into(),
        },
    )
    .unwrap();
    assert_eq!(
        transitions(&h.take()),
        one(
            FINISHING,
            RECOVERING,
            Reason::FinalCheckpointFailed { epoch: E1 }
        )
    );
}

#[test]
fn transition_finishing_to_recovering_on_a_task_finishing_before_its_part() {
    let mut h = finishing();
    h.finish(task(MAP, 0)).unwrap();
    assert_eq!(
        transitions(&h.take()),
        one(
            FINISHING,
            RECOVERING,
            Reason::TaskFinishedEarly { task: task(MAP, 0) }
        )
    );
}

#[test]
fn transition_finishing_to_recovering_restores_the_end_checkpoint_and_resends_its_commits() {
    let mut h = finishing();
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.take();
    task_failed(&mut h, task(SINK, 0));
    h.take();
    h.confirm_stopped().unwrap();
    h.at(100);
    assert_eq!(
        effects(&h.take()),
        vec![Output::StartWorkers {
            generation: Generation(2),
            restore: Some(E1)
        }]
    );
    h.ready_all();
    assert_eq!(
        commands(&h.take()),
        vec![
            (0, Command::Commit { epoch: E1 }),
            (1, Command::Commit { epoch: E1 })
        ]
    );
}

#[test]
fn transition_finishing_to_checkpoint_stopping_on_stop_checkpoint() {
    let mut h = finishing();
    h.stop(StopMode::Checkpoint).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            FINISHING,
            CHECKPOINT_STOPPING,
            Reason::StopRequested(StopMode::Checkpoint)
        )
    );
    assert!(
        commands(&out).is_empty(),
        "the final checkpoint in flight serves the stop"
    );
    h.ack_and_finish_all_but_sinks(E1);
    h.input(Input::MetadataPersisted { epoch: E1 }).unwrap();
    h.commit_all(E1);
    for (w, t) in h.sinks() {
        h.worker(w, WorkerEvent::TaskFinished { task: t }).unwrap();
    }
    assert_eq!(h.state(), STOPPED);
    assert_eq!(h.c.status().stop, Some(StopMode::Checkpoint));
}

#[test]
fn transition_finishing_to_stop_job_graceful_on_stop_graceful() {
    let mut h = finishing();
    h.stop(StopMode::Graceful).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            FINISHING,
            GRACEFUL,
            Reason::StopRequested(StopMode::Graceful)
        )
    );
    let mut expected = to_both(abort(E1));
    expected.extend(to_both(stop_cmd(StopJobMode::Graceful)));
    assert_eq!(commands(&out), expected);
    assert_eq!(h.state(), GRACEFUL);
    assert_eq!(timer(&h, Timer::Stop), Some(Time(3_000)));
}

#[test]
fn transition_finishing_to_stop_job_immediate_on_stop_immediate() {
    let mut h = finishing();
    h.at(1_000);
    h.stop(StopMode::Immediate).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            FINISHING,
            IMMEDIATE,
            Reason::StopRequested(StopMode::Immediate)
        )
    );
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
    h.finish_all();
    assert_eq!(
        transitions(&h.take()),
        one(IMMEDIATE, STOPPED, Reason::AllTasksFinished)
    );
}

#[test]
fn transition_finishing_to_stop_workers_on_stop_force() {
    let mut h = finishing();
    h.stop(StopMode::Force).unwrap();
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(
            FINISHING,
            STOP_WORKERS,
            Reason::StopRequested(StopMode::Force)
        )
    );
    assert!(effects(&out).contains(&kill(1)));
    h.confirm_stopped().unwrap();
    assert_eq!(h.state(), STOPPED);
}

// ------------------------------------------------------------------------ TTL and healthy period

#[test]
fn transition_running_to_stop_job_immediate_on_ttl_expired() {
    let config = Config {
        ttl_ms: Some(500),
        ..config()
    };
    let mut h = Harness::with(job(), config);
    assert_eq!(timer(&h, Timer::Ttl), Some(Time(500)));
    h.ready_all();
    h.take();
    h.at(499);
    assert!(h.take().is_empty());
    h.at(500);
    let out = h.take();
    assert!(has_event(
        &out,
        Event::StopRequested {
            mode: StopMode::Immediate
        }
    ));
    assert_eq!(
        transitions(&out),
        one(RUNNING, IMMEDIATE, Reason::TtlExpired)
    );
    assert_eq!(commands(&out), to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(h.state(), IMMEDIATE);
    assert_eq!(h.c.status().stop, Some(StopMode::Immediate));
    assert_eq!(timer(&h, Timer::Ttl), None);
    assert_eq!(timer(&h, Timer::Stop), Some(Time(3_500)));
}

#[test]
fn ttl_counts_from_creation_across_a_restart() {
    let config = Config {
        ttl_ms: Some(5_000),
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.at(200);
    task_failed(&mut h, task(SRC, 0));
    h.confirm_stopped().unwrap();
    h.at(300);
    h.ready_all();
    h.take();
    assert_eq!(h.generation(), g(2));
    assert_eq!(timer(&h, Timer::Ttl), Some(Time(5_000)));
    h.at(5_000);
    assert_eq!(
        transitions(&h.take()),
        one(RUNNING, IMMEDIATE, Reason::TtlExpired)
    );
}

#[test]
fn healthy_duration_resets_the_restart_budget() {
    let config = Config {
        healthy_duration_ms: 2_000,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.at(2_000);
    assert!(
        !has_event(&h.take(), Event::RestartBudgetReset),
        "a full budget is not reported as reset"
    );

    // Spend the whole budget of 2 restarts.
    for _ in 0..2 {
        let now = h.now.0;
        task_failed(&mut h, task(SRC, 0));
        h.confirm_stopped().unwrap();
        h.at(now + 100);
        h.ready_all();
    }
    h.take();
    let started = h.now.0;
    assert_eq!(h.c.status().restarts, 2);
    assert_eq!(timer(&h, Timer::Healthy), Some(Time(started + 2_000)));
    h.at(started + 1_999);
    assert!(!has_event(&h.take(), Event::RestartBudgetReset));
    h.at(started + 2_000);
    let out = h.take();
    assert!(has_event(&out, Event::RestartBudgetReset), "{out:?}");
    assert!(transitions(&out).is_empty());
    assert_eq!(h.c.status().restarts, 0);

    // With a full budget again, the next failure restarts instead of failing the job.
    task_failed(&mut h, task(SRC, 1));
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert!(has_event(
        &out,
        Event::RestartScheduled {
            delay_ms: 100,
            restarts: 1
        }
    ));
    assert_eq!(h.state(), RECOVERING);
}

#[test]
fn without_a_healthy_period_the_budget_is_not_reset() {
    let config = Config {
        healthy_duration_ms: 2_000,
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    for _ in 0..2 {
        let now = h.now.0;
        h.at(now + 1_000);
        task_failed(&mut h, task(SRC, 0));
        h.confirm_stopped().unwrap();
        h.at(now + 1_100);
        h.ready_all();
    }
    let now = h.now.0;
    h.at(now + 1_000);
    task_failed(&mut h, task(SRC, 0));
    h.confirm_stopped().unwrap();
    let out = h.take();
    assert!(!has_event(&out, Event::RestartBudgetReset));
    assert_eq!(
        transitions(&out).last().cloned(),
        Some((Some(RECOVERING), FAILED, Reason::RestartBudgetExhausted))
    );
}

// ------------------------------------------------------------------------ the transition table

#[test]
fn is_legal_transition_accepts_exactly_the_edges_of_the_design() {
    let expected: Vec<(State, State)> = vec![
        (SCHEDULING, RUNNING),
        (SCHEDULING, RECOVERING),
        (SCHEDULING, STOP_WORKERS),
        (RUNNING, CHECKPOINT_STOPPING),
        (RUNNING, GRACEFUL),
        (RUNNING, IMMEDIATE),
        (RUNNING, STOP_WORKERS),
        (RUNNING, RECOVERING),
        (RUNNING, FINISHING),
        (CHECKPOINT_STOPPING, GRACEFUL),
        (CHECKPOINT_STOPPING, IMMEDIATE),
        (CHECKPOINT_STOPPING, STOP_WORKERS),
        (CHECKPOINT_STOPPING, STOPPED),
        (GRACEFUL, IMMEDIATE),
        (GRACEFUL, STOP_WORKERS),
        (GRACEFUL, STOPPED),
        (IMMEDIATE, STOP_WORKERS),
        (IMMEDIATE, STOPPED),
        (STOP_WORKERS, STOPPED),
        (STOP_WORKERS, FAILED),
        (RECOVERING, SCHEDULING),
        (RECOVERING, FAILED),
        (RECOVERING, STOP_WORKERS),
        (RECOVERING, STOPPED),
        (FINISHING, FINISHED),
        (FINISHING, RECOVERING),
        (FINISHING, CHECKPOINT_STOPPING),
        (FINISHING, GRACEFUL),
        (FINISHING, IMMEDIATE),
        (FINISHING, STOP_WORKERS),
    ];
    let mut legal = Vec::new();
    for from in ALL_STATES {
        for to in ALL_STATES {
            if is_legal_transition(from, to) {
                legal.push((from, to));
            }
        }
    }
    for pair in &expected {
        assert!(
            legal.contains(pair),
            "{} -> {} should be legal",
            pair.0,
            pair.1
        );
    }
    assert_eq!(legal.len(), expected.len(), "{legal:?}");
}

#[test]
fn is_legal_transition_rejects_illegal_pairs() {
    let illegal = [
        (SCHEDULING, STOPPED),
        (SCHEDULING, FAILED),
        (SCHEDULING, FINISHING),
        (SCHEDULING, CHECKPOINT_STOPPING),
        (SCHEDULING, IMMEDIATE),
        (RUNNING, SCHEDULING),
        (RUNNING, STOPPED),
        (RUNNING, FAILED),
        (RUNNING, FINISHED),
        (CHECKPOINT_STOPPING, RUNNING),
        (CHECKPOINT_STOPPING, RECOVERING),
        (CHECKPOINT_STOPPING, FAILED),
        (IMMEDIATE, GRACEFUL),
        (GRACEFUL, CHECKPOINT_STOPPING),
        (GRACEFUL, RECOVERING),
        (IMMEDIATE, FAILED),
        (STOP_WORKERS, IMMEDIATE),
        (STOP_WORKERS, RUNNING),
        (STOP_WORKERS, RECOVERING),
        (RECOVERING, RUNNING),
        (RECOVERING, IMMEDIATE),
        (FINISHING, STOPPED),
        (FINISHING, FAILED),
        (FINISHING, RUNNING),
    ];
    for (from, to) in illegal {
        assert!(!is_legal_transition(from, to), "{from} -> {to} is illegal");
    }
    for state in ALL_STATES {
        assert!(
            !is_legal_transition(state, state),
            "{state} -> {state} is not a transition"
        );
    }
}

#[test]
fn terminal_states_have_no_outgoing_transition() {
    for from in [STOPPED, FINISHED, FAILED] {
        assert!(from.is_terminal());
        for to in ALL_STATES {
            assert!(!is_legal_transition(from, to), "{from} -> {to}");
        }
    }
    for state in ALL_STATES {
        assert_eq!(
            state.is_terminal(),
            [STOPPED, FINISHED, FAILED].contains(&state),
            "{state}"
        );
    }
}

#[test]
fn terminal_states_absorb_timeouts() {
    let mut h = stop_job(StopJobMode::Immediate);
    h.finish_all();
    h.take();
    let before = h.c.clone();
    h.at(1_000_000);
    assert!(h.take().is_empty());
    assert_eq!(h.c, before);
    assert_eq!(h.c.poll_timeout(), None);
}

// ------------------------------------------------------------------------ regressions

#[test]
fn ttl_expiring_during_a_graceful_stop_escalates_it_to_immediate() {
    // The TTL is an immediate stop request; a stronger request escalates a weaker stop at once
    // (as it does a checkpoint stop, see the next test), keeping the graceful stop's deadline.
    let config = Config {
        ttl_ms: Some(2_000),
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.at(1_000);
    h.stop(StopMode::Graceful).unwrap();
    h.take();
    h.at(2_000);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(GRACEFUL, IMMEDIATE, Reason::TtlExpired)
    );
    assert_eq!(commands(&out), to_both(stop_cmd(StopJobMode::Immediate)));
    assert_eq!(timer(&h, Timer::Stop), Some(Time(4_000)));
}

#[test]
fn ttl_expiring_during_a_checkpoint_stop_escalates_it_to_immediate() {
    let config = Config {
        ttl_ms: Some(2_000),
        ..config()
    };
    let mut h = Harness::with(job(), config);
    h.ready_all();
    h.at(500);
    h.stop(StopMode::Checkpoint).unwrap();
    h.take();
    h.at(2_000);
    let out = h.take();
    assert_eq!(
        transitions(&out),
        one(CHECKPOINT_STOPPING, IMMEDIATE, Reason::TtlExpired)
    );
    assert_eq!(h.state(), IMMEDIATE);
}

#[test]
fn a_task_failure_during_a_checkpoint_stop_does_not_wait_for_the_dead_task() {
    // "A task failure or lost worker during a stop escalates at once; nothing waits on a dead
    // task": StopJob(immediate) ends once every other task finished.
    let mut h = checkpoint_stopping();
    task_failed(&mut h, task(MAP, 0));
    h.at(100);
    for (_, t) in h.tasks() {
        if t != task(MAP, 0) {
            h.finish(t).unwrap();
        }
    }
    assert!(
        matches!(h.state(), STOP_WORKERS | STOPPED),
        "still {} at 100 ms, waiting for the failed task until 3000 ms",
        h.state()
    );
}

#[test]
fn a_lost_worker_during_a_checkpoint_stop_does_not_wait_for_its_dead_tasks() {
    // Worker 1 is gone, so its three tasks can never finish: the workers are killed at once.
    let mut h = checkpoint_stopping();
    worker_exited(&mut h, 1);
    assert_eq!(h.state(), STOP_WORKERS);
    h.confirm_stopped().unwrap();
    assert_eq!(h.state(), STOPPED);
}
