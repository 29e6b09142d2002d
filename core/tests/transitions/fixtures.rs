//! States, outputs and source states shared by the transition tables.

use crate::support::*;
use quiesce_core::{
    Command, Config, Epoch, Event, Generation, Input, Output, Reason, State, StopJobMode, StopMode,
    Stopping, TaskId, ToWorker, WorkerEvent, WorkerId,
};

pub use quiesce_core::controller::Timer;

pub const E1: Epoch = Epoch(1);
pub const E2: Epoch = Epoch(2);

pub const SCHEDULING: State = State::Scheduling;
pub const RUNNING: State = State::Running;
pub const CHECKPOINT_STOPPING: State = State::CheckpointStopping;
pub const GRACEFUL: State = State::Stopping(Stopping::StopJob(StopJobMode::Graceful));
pub const IMMEDIATE: State = State::Stopping(Stopping::StopJob(StopJobMode::Immediate));
pub const STOP_WORKERS: State = State::Stopping(Stopping::StopWorkers);
pub const RECOVERING: State = State::Recovering;
pub const FINISHING: State = State::Finishing;
pub const STOPPED: State = State::Stopped;
pub const FINISHED: State = State::Finished;
pub const FAILED: State = State::Failed;

/// Every state of the design, for exhaustive checks of the transition table.
pub const ALL_STATES: [State; 11] = [
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

/// The reason every failing task of these tables gives.
pub const FAILURE: &str = "boom";

pub fn failed_reason(t: TaskId) -> Reason {
    Reason::TaskFailed {
        task: t,
        reason: FAILURE.into(),
    }
}

/// The reason for a transition caused by the loss of worker `w`.
pub fn lost(w: u32) -> Reason {
    Reason::WorkerLost {
        worker: WorkerId(w),
    }
}

pub fn worker_lost(w: u32) -> Event {
    Event::WorkerLost {
        worker: WorkerId(w),
    }
}

pub fn g(n: u64) -> Generation {
    Generation(n)
}

pub fn kill(generation: u64) -> Output {
    Output::StopWorkers {
        generation: g(generation),
    }
}

pub fn release(generation: u64) -> Output {
    Output::ReleaseWorkers {
        generation: g(generation),
    }
}

pub fn send(worker: u32, generation: u64, command: Command) -> Output {
    Output::Send {
        worker: WorkerId(worker),
        message: ToWorker {
            generation: g(generation),
            command,
        },
    }
}

pub fn stop_cmd(mode: StopJobMode) -> Command {
    Command::Stop { mode }
}

pub fn abort(epoch: Epoch) -> Command {
    Command::Abort { epoch }
}

/// `first` then `then`, each sent to both workers.
pub fn to_both_then(first: Command, then: Command) -> Vec<(u32, Command)> {
    let mut both = to_both(first);
    both.extend(to_both(then));
    both
}

/// The one place these tables build a controller, so that a change to how one is built
/// touches one line.
pub fn harness(config: Config) -> Harness {
    Harness::with(job(), config)
}

/// The test config with a short heartbeat timeout.
pub fn heartbeat_timeout(ms: u64) -> Config {
    Config {
        heartbeat_timeout_ms: ms,
        ..config()
    }
}

pub fn ttl(ms: u64) -> Config {
    Config {
        ttl_ms: Some(ms),
        ..config()
    }
}

/// Running in generation 1 at time 0, with `config`.
pub fn running_with(config: Config) -> Harness {
    let mut h = harness(config);
    h.ready_all();
    h
}

pub fn running() -> Harness {
    Harness::running()
}

/// Running, then a checkpoint stop at time 0: its final checkpoint is epoch 1.
pub fn checkpoint_stopping() -> Harness {
    let mut h = Harness::running();
    h.stop(StopMode::Checkpoint).unwrap();
    assert_eq!(h.state(), CHECKPOINT_STOPPING);
    h
}

/// Running, then a stop of the given kind at time 0.
pub fn stop_job(mode: StopJobMode) -> Harness {
    let mut h = Harness::running();
    h.stop(mode.into()).unwrap();
    h
}

/// Running, then every source reads the end of its input at time 0: Finishing, with the
/// final checkpoint E1 in flight.
pub fn finishing() -> Harness {
    let mut h = Harness::running();
    for (w, t) in h.tasks() {
        if t.operator == SRC {
            h.worker(w, WorkerEvent::InputEnded { task: t }).unwrap();
        }
    }
    assert_eq!(h.state(), FINISHING);
    assert_eq!(h.c.status().final_checkpoint, Some(E1));
    h
}

/// Running, then a task failure at time 0: Recovering, killing generation 1.
pub fn recovering() -> Harness {
    let mut h = Harness::running();
    fail(&mut h, task(MAP, 0));
    assert_eq!(h.state(), RECOVERING);
    h
}

/// `t` fails with the reason [`failed_reason`] expects.
pub fn fail(h: &mut Harness, t: TaskId) {
    let w = host(h, t);
    h.worker(
        w,
        WorkerEvent::TaskFailed {
            task: t,
            reason: FAILURE.into(),
        },
    )
    .expect("task failure accepted");
}

pub fn persisted(h: &mut Harness, epoch: Epoch) {
    h.input(Input::MetadataPersisted { epoch })
        .expect("persisted");
}

/// The worker hosting `t`.
pub fn host(h: &Harness, t: TaskId) -> u32 {
    h.c.job()
        .worker_of(t)
        .unwrap_or_else(|| panic!("{t} is not a task of the job"))
        .0
}

/// Every task but sink 1, the last of the job, finishes.
pub fn finish_all_but_sink_1(h: &mut Harness) {
    for (_, t) in h.tasks() {
        if t != task(SINK, 1) {
            h.finish(t).expect("finish");
        }
    }
}
