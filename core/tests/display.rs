//! Every controller input, output, event and rejection and every protocol message prints as
//! one line in domain words: a few exact strings pinned, and one value of every variant checked
//! to print a distinct line with no Debug rendering leaking through.

use quiesce_core::{
    AbortReason, Command, Epoch, Event, Generation, Input, InputKind, OperatorId, Output, Reason,
    Rejected, State, StopJobMode, StopMode, Stopping, TaskId, Time, ToWorker, WorkerEvent,
    WorkerId,
};

const SINK: TaskId = TaskId {
    operator: OperatorId(2),
    subtask: 0,
};

fn one_line(text: &str) {
    assert!(!text.is_empty());
    // A brace would be a Debug rendering leaking through.
    assert!(!text.contains(['\n', '{', '}']), "{text:?}");
}

#[test]
fn inputs_and_outputs_read_as_domain_sentences() {
    let ack = Input::from_worker(
        WorkerId(1),
        Generation(2),
        WorkerEvent::CheckpointAcked {
            task: SINK,
            epoch: Epoch(5),
        },
    );
    assert_eq!(
        ack.to_string(),
        "worker 1 (gen 2): ack epoch 5 from task 2/0"
    );
    let send = Output::Send {
        worker: WorkerId(0),
        message: ToWorker {
            generation: Generation(2),
            command: Command::Checkpoint {
                epoch: Epoch(3),
                then_stop: true,
            },
        },
    };
    assert_eq!(
        send.to_string(),
        "send to worker 0 (gen 2): checkpoint epoch 3 (then stop)"
    );
    let persist = Output::PersistMetadata {
        epoch: Epoch(3),
        generation: Generation(2),
    };
    assert_eq!(persist.to_string(), "persist metadata of epoch 3 (gen 2)");
}

#[test]
fn rejections_say_what_is_wrong() {
    let stale = Rejected::WrongGeneration {
        got: Generation(1),
        current: Generation(2),
    };
    assert_eq!(
        stale.to_string(),
        "rejected: stale generation 1 (current 2)"
    );
    let future = Rejected::WrongGeneration {
        got: Generation(3),
        current: Generation(2),
    };
    assert_eq!(
        future.to_string(),
        "rejected: unknown generation 3 (current 2)"
    );
    let unexpected = Rejected::Unexpected {
        input: InputKind::CheckpointAcked,
        state: State::Scheduling,
    };
    assert_eq!(
        unexpected.to_string(),
        "rejected: a checkpoint ack is unexpected in Scheduling"
    );
}

#[test]
fn transitions_name_both_states_and_the_reason() {
    let escalated = Event::Transition {
        from: Some(State::CheckpointStopping),
        to: State::Stopping(Stopping::StopJob(StopJobMode::Immediate)),
        reason: Reason::FinalCheckpointTimedOut,
    };
    assert_eq!(
        escalated.to_string(),
        "CheckpointStopping -> Stopping(StopJob(immediate)): final checkpoint timed out"
    );
    let first = Event::Transition {
        from: None,
        to: State::Scheduling,
        reason: Reason::Created,
    };
    assert_eq!(first.to_string(), "-> Scheduling: job created");
}

#[test]
fn free_text_stays_on_one_line() {
    let reason = "disk full\nretry later".to_string();
    let failed = Input::MetadataPersistFailed {
        epoch: Epoch(4),
        reason: reason.clone(),
    };
    assert_eq!(
        failed.to_string(),
        "persisting metadata of epoch 4 failed: \"disk full\\nretry later\""
    );
    let event = WorkerEvent::TaskFailed { task: SINK, reason };
    one_line(&event.to_string());
}

/// One value of every variant of every rendered type: each prints one line in words, and
/// no two print the same.
#[test]
fn every_variant_prints_one_distinct_line() {
    let (t, e, g, w) = (SINK, Epoch(3), Generation(2), WorkerId(1));
    let r = || "boom".to_string();
    let events = [
        WorkerEvent::Ready,
        WorkerEvent::Heartbeat,
        WorkerEvent::CheckpointAcked { task: t, epoch: e },
        WorkerEvent::CheckpointFailed {
            task: t,
            epoch: e,
            reason: r(),
        },
        WorkerEvent::Committed { task: t, epoch: e },
        WorkerEvent::InputEnded { task: t },
        WorkerEvent::TaskFinished { task: t },
        WorkerEvent::TaskFailed {
            task: t,
            reason: r(),
        },
    ];
    let commands = [
        Command::Checkpoint {
            epoch: e,
            then_stop: false,
        },
        Command::Checkpoint {
            epoch: e,
            then_stop: true,
        },
        Command::Commit { epoch: e },
        Command::Abort { epoch: e },
        Command::Stop {
            mode: StopJobMode::Graceful,
        },
        Command::Stop {
            mode: StopJobMode::Immediate,
        },
    ];
    let mut inputs: Vec<Input> = events
        .iter()
        .map(|event| Input::from_worker(w, g, event.clone()))
        .collect();
    inputs.extend([
        Input::Stop(StopMode::Checkpoint),
        Input::Stop(StopMode::Force),
        Input::SchedulerFailed {
            generation: g,
            reason: r(),
        },
        Input::WorkerExited {
            worker: w,
            generation: g,
        },
        Input::WorkersStopped { generation: g },
        Input::MetadataPersisted { epoch: e },
        Input::MetadataPersistFailed {
            epoch: e,
            reason: r(),
        },
        Input::CleanupDone { before: e },
    ]);
    let reasons = [
        Reason::Created,
        Reason::WorkersReady,
        Reason::StopRequested(StopMode::Graceful),
        Reason::TtlExpired,
        Reason::SchedulingTimedOut,
        Reason::SchedulerFailed(r()),
        Reason::TaskFailed {
            task: t,
            reason: r(),
        },
        Reason::TaskFinishedEarly { task: t },
        Reason::WorkerLost { worker: w },
        Reason::TooManyCheckpointFailures { consecutive: 4 },
        Reason::CheckpointCommitTimedOut { epoch: e },
        Reason::FinalCheckpointTimedOut,
        Reason::FinalCheckpointFailed { epoch: e },
        Reason::StopTimedOut,
        Reason::SourcesFinished,
        Reason::AllTasksFinished,
        Reason::FinalCheckpointCommitted { epoch: e },
        Reason::WorkersStopped,
        Reason::KillUnconfirmed { attempts: 4 },
        Reason::RestartBudgetExhausted,
        Reason::RestartBackoffElapsed,
    ];
    let aborts = [
        AbortReason::TimedOut,
        AbortReason::TaskFailed {
            task: t,
            reason: r(),
        },
        AbortReason::PersistFailed { reason: r() },
        AbortReason::Superseded,
    ];
    let mut outputs: Vec<Output> = commands
        .iter()
        .map(|command| Output::Send {
            worker: w,
            message: ToWorker {
                generation: g,
                command: command.clone(),
            },
        })
        .collect();
    outputs.extend([
        Output::StartWorkers {
            generation: g,
            restore: None,
        },
        Output::StartWorkers {
            generation: g,
            restore: Some(e),
        },
        Output::StopWorkers { generation: g },
        Output::ReleaseWorkers { generation: g },
        Output::PersistMetadata {
            epoch: e,
            generation: g,
        },
        Output::Cleanup { before: e },
    ]);
    let mut events: Vec<Event> = reasons
        .iter()
        .map(|reason| Event::Transition {
            from: Some(State::Running),
            to: State::Recovering,
            reason: reason.clone(),
        })
        .collect();
    events.extend(aborts.iter().map(|reason| Event::CheckpointAborted {
        epoch: e,
        reason: reason.clone(),
    }));
    events.extend([
        Event::StopRequested {
            mode: StopMode::Immediate,
        },
        Event::CheckpointStarted {
            epoch: e,
            then_stop: false,
        },
        Event::CheckpointStarted {
            epoch: e,
            then_stop: true,
        },
        Event::CheckpointAcked { epoch: e },
        Event::CheckpointCompleted { epoch: e },
        Event::CommitStarted { epoch: e, tasks: 2 },
        Event::CheckpointCommitted { epoch: e },
        Event::CleanupStarted { before: e },
        Event::CleanupAbandoned { before: e },
        Event::WorkerLost { worker: w },
        Event::KillRetried {
            generation: g,
            attempt: 2,
        },
        Event::RestartScheduled {
            delay_ms: 500,
            restarts: 1,
        },
        Event::RestartBudgetReset,
    ]);
    outputs.extend(events.into_iter().map(Output::Event));
    let states = [
        State::Scheduling,
        State::Running,
        State::CheckpointStopping,
        State::Stopping(Stopping::StopJob(StopJobMode::Graceful)),
        State::Stopping(Stopping::StopJob(StopJobMode::Immediate)),
        State::Stopping(Stopping::StopWorkers),
        State::Recovering,
        State::Finishing,
        State::Stopped,
        State::Finished,
        State::Failed,
    ];
    let lines: Vec<String> = inputs
        .iter()
        .map(ToString::to_string)
        .chain(outputs.iter().map(ToString::to_string))
        .chain(states.iter().map(ToString::to_string))
        .chain([Time(61_005).to_string()])
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for line in &lines {
        one_line(line);
        assert!(seen.insert(line), "{line:?} printed twice");
    }
}
