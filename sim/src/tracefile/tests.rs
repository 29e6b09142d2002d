//! Trace files written onto a [`Tape`] by a controller and its workers wired to each other
//! (a small run without the simulator: messages go straight across), and read back.

use super::*;
use quiesce_core::controller::Controller;
use quiesce_core::trace::{Outcome, Step};
use quiesce_core::worker::{Worker, WorkerInput, WorkerOutput};
use quiesce_core::{Input, Output, Property, StopMode, WorkerSetup};

/// A run of seed 3's job, its effects carried out at once: the controller starts
/// generation 1, every worker reports ready, checkpoints run for a while, then a forced stop;
/// the tape, and how many workers it has.
fn run_onto(keep_text: bool) -> (Tape, u32) {
    let scenario = Scenario::from_seed(3);
    let tape = Tape::new(&scenario, None, keep_text);
    let setup = controller_setup(&scenario, None);
    let mut c: Traced<Controller> = Traced::join(setup, tape.clone()).expect("a valid setup");
    let mut workers: Vec<Traced<Worker>> = Vec::new();
    let mut to_controller: Vec<Input> = Vec::new();
    let mut to_workers: Vec<(WorkerId, WorkerInput)> = Vec::new();
    let mut now = Time(0);
    for round in 0..600 {
        now = Time(now.0 + 50);
        if round == 500 {
            to_controller.push(Input::Stop(StopMode::Force));
        }
        if round == 200 {
            let fault = Fault::Crash {
                worker: WorkerId(0),
            };
            tape.env(now, EnvEvent::Fault { fault });
        }
        for input in std::mem::take(&mut to_controller) {
            drop(c.handle(now, input));
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        while let Some(out) = c.poll_output() {
            let input = match out {
                Output::StartWorkers { generation, .. } if workers.is_empty() => {
                    for w in 0..scenario.job.workers {
                        let ws = WorkerSetup::new(
                            scenario.job.clone(),
                            WorkerId(w),
                            generation,
                            scenario.worker_config,
                            now,
                        );
                        workers.push(Traced::join(ws, tape.clone()).expect("a valid setup"));
                    }
                    continue;
                }
                Output::Send { worker, message } => {
                    to_workers.push((worker, WorkerInput::Command(message)));
                    continue;
                }
                Output::PersistMetadata { epoch, .. } => Input::MetadataPersisted { epoch },
                Output::Cleanup { before } => Input::CleanupDone { before },
                Output::StopWorkers { generation } => Input::WorkersStopped { generation },
                _ => continue,
            };
            to_controller.push(input);
        }
        for (w, input) in std::mem::take(&mut to_workers) {
            drop(workers[w.0 as usize].handle(now, input));
        }
        for (w, worker) in workers.iter_mut().enumerate() {
            if worker.poll_timeout().is_some_and(|t| t <= now) {
                worker.handle_timeout(now);
            }
            while let Some(out) = worker.poll_output() {
                match out {
                    WorkerOutput::ToController(m) => to_controller.push(Input::Worker(m)),
                    WorkerOutput::Snapshot { task, epoch, .. } => {
                        let done = WorkerInput::SnapshotDone { task, epoch };
                        to_workers.push((WorkerId(w as u32), done));
                    }
                    WorkerOutput::SendData {
                        to_worker,
                        generation,
                        channel,
                        seq,
                        item,
                    } => {
                        let data = WorkerInput::Data {
                            generation,
                            channel,
                            seq,
                            item,
                        };
                        to_workers.push((to_worker, data));
                    }
                    _ => {}
                }
            }
        }
    }
    let failure = Failure::new(
        crate::oracle::Class::Correctness,
        Property::ExactlyOnce,
        now,
        "for the test",
    );
    tape.env(now, EnvEvent::Failed { failure });
    (tape, scenario.job.workers)
}

/// The small run's trace file, and how many workers it has.
fn small_run() -> (String, u32) {
    let (tape, workers) = run_onto(true);
    let outcome = Outcome::CheckFailed {
        property: Property::ExactlyOnce,
        detail: "for the test".into(),
    };
    let text = tape.finish(outcome).expect("lines serialise");
    (text.expect("the tape kept its text"), workers)
}

#[test]
fn a_run_hashes_the_same_whether_it_keeps_its_text_or_not() {
    let (kept, _) = run_onto(true);
    let (hashed, _) = run_onto(false);
    assert_eq!(kept.hash(), hashed.hash());
    assert!(kept.chain().is_some() && hashed.chain().is_none());
    // And the hash tells runs apart: one more line, another hash.
    hashed.env(Time(1), EnvEvent::Healed);
    assert_ne!(kept.hash(), hashed.hash());
}

fn worker(w: u32, g: u64) -> MachineId {
    MachineId::Worker {
        worker: WorkerId(w),
        generation: Generation(g),
    }
}

/// Line `n` (from 1) of `text` replaced by what `edit` makes of it.
fn edit_line(text: &str, n: usize, edit: impl Fn(&str) -> String) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[n - 1] = edit(&lines[n - 1]);
    lines.join("\n") + "\n"
}

/// The number (from 1) of the first line that contains every one of `parts`.
fn line_with(text: &str, parts: &[&str]) -> usize {
    text.lines()
        .position(|l| parts.iter().all(|p| l.contains(p)))
        .expect("such a line")
        + 1
}

#[test]
fn a_trace_of_a_controller_and_its_workers_replays_every_machine() {
    let (text, workers) = small_run();
    let second = text.lines().nth(1).expect("a second line");
    assert!(
        second.starts_with(
            r#"{"type":"env","at":0,"event":{"kind":"scenario","mutant":null,"scenario":{"seed":3,"#
        ),
        "{second}"
    );
    let replayed = replay_text(&text).expect("replays");
    assert_eq!(replayed.machines.len(), 1 + workers as usize);
    assert_eq!(replayed.lines, text.lines().count() as u64);
    assert!(replayed.machines.values().all(|&steps| steps > 0));
    let footer = replayed.footer.as_ref().expect("a footer");
    assert!(matches!(footer.outcome, Outcome::CheckFailed { .. }));
    // The machines' lines interleave: a worker's line comes between two of the controller's.
    let kinds: Vec<bool> = text
        .lines()
        .filter(|l| l.contains(r#""type":"step""#))
        .map(|l| l.contains(r#""machine":"controller""#))
        .collect();
    assert!(kinds.windows(2).any(|w| w == [true, false]));
    assert!(kinds.windows(2).any(|w| w == [false, true]));
    let timeline = replayed.timeline_text();
    for expected in [
        "controller",
        "-> Running: every worker ready",
        "worker 0 (generation 1)",
        "ready",
        "checkpoint epoch 1 completed",
        "fault: ",
        "FAILED correctness/exactly_once",
        "<- a deadline",
    ] {
        assert!(timeline.contains(expected), "{expected:?} in\n{timeline}");
    }
}

#[test]
fn replay_rebuilds_only_the_machine_asked_for_and_still_checks_the_footer() {
    let (text, _) = small_run();
    let only = Only::parse("worker:0/1").expect("parses");
    assert_eq!(only, Only::Machine(worker(0, 1)));
    let replayed = replay_machines(&text, only).expect("replays");
    assert_eq!(
        replayed.machines.keys().copied().collect::<Vec<_>>(),
        [worker(0, 1)]
    );
    assert!(replayed
        .timeline
        .iter()
        .all(|e| e.who == "worker 0 (generation 1)"));
    let controller = replay_machines(&text, Only::parse("controller").expect("parses"));
    let controller = controller.expect("replays");
    assert_eq!(controller.machines.len(), 1);
    assert!(controller.timeline.iter().all(|e| e.who == "controller"));
    // A machine the trace does not hold is named, with the ones it does.
    let error = replay_machines(&text, Only::Machine(worker(0, 9))).unwrap_err();
    assert!(
        error.contains("no worker 0 (generation 9)") && error.contains("controller"),
        "{error}"
    );
    for bad in ["worker", "worker:1", "worker:a/1", "workers:1/1", "ctl"] {
        assert!(Only::parse(bad).is_err(), "{bad}");
    }
    // A line of a machine not replayed, changed: the footer's hash no longer matches.
    let n = line_with(&text, &[r#""machine":"controller""#, "Running"]);
    let tampered = edit_line(&text, n, |l| l.replacen("Running", "Failed", 1));
    let error = replay_machines(&tampered, only).unwrap_err();
    let last = text.lines().count();
    assert!(
        error.starts_with(&format!("line {last}: the footer says")),
        "{error}"
    );
}

#[test]
fn a_corrupted_line_is_refused_with_its_number() {
    let (text, _) = small_run();
    let broken = edit_line(&text, 5, |l| l[..l.len() / 2].to_string());
    let error = replay_text(&broken).unwrap_err();
    assert!(error.starts_with("line 5: not a trace line"), "{error}");
    // Valid JSON, but no trace line.
    let broken = edit_line(&text, 7, |_| r#"{"type":"step","oops":1}"#.to_string());
    let error = replay_text(&broken).unwrap_err();
    assert!(error.starts_with("line 7: "), "{error}");
    // A step of a machine that was never set up.
    let n = line_with(&text, &[r#""type":"step","machine":{"worker""#]);
    let broken = edit_line(&text, n, |l| {
        l.replacen(
            r#""generation":1}},"step""#,
            r#""generation":5}},"step""#,
            1,
        )
    });
    let error = replay_text(&broken).unwrap_err();
    assert!(
        error.starts_with(&format!("line {n}: a step of worker")),
        "{error}"
    );
}

#[test]
fn a_trace_of_an_unknown_format_is_refused_at_its_first_line() {
    let (text, _) = small_run();
    let newer = edit_line(&text, 1, |l| {
        l.replacen(r#""format":1"#, r#""format":99"#, 1)
    });
    let error = replay_text(&newer).unwrap_err();
    assert!(
        error.starts_with("line 1: trace format 99 is not readable"),
        "{error}"
    );
    let headless = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    let error = replay_text(&headless).unwrap_err();
    assert!(error.starts_with("line 1: "), "{error}");
    assert_eq!(replay_text("").unwrap_err(), "the trace is empty");
}

#[test]
fn a_tampered_output_is_a_divergence_naming_its_line_and_machine() {
    let (text, _) = small_run();
    let n = line_with(&text, &[r#""machine":"controller""#, r#""to":"Running""#]);
    let tampered = edit_line(&text, n, |l| {
        l.replacen(r#""to":"Running""#, r#""to":"Failed""#, 1)
    });
    let error = replay_text(&tampered).unwrap_err();
    assert!(
        error.starts_with(&format!("line {n}: controller diverged at its step")),
        "{error}"
    );
    assert!(
        error.contains("Failed") && error.contains("Running"),
        "{error}"
    );
    // A worker's output: a ready report turned into a heartbeat.
    let n = line_with(&text, &[r#""type":"setup""#, r#""worker":1"#, "Ready"]);
    let tampered = edit_line(&text, n, |l| l.replacen("Ready", "Heartbeat", 1));
    let error = replay_text(&tampered).unwrap_err();
    assert!(
        error.starts_with(&format!(
            "line {n}: worker 1 (generation 1) diverged at its step 0"
        )),
        "{error}"
    );
}

#[test]
fn a_controller_alone_writes_a_trace_whose_steps_read_back() {
    let scenario = Scenario::from_seed(1);
    let steps = vec![
        Step::Input {
            at: Time(3),
            input: Input::Stop(StopMode::Force),
        },
        Step::Timeout { at: Time(40_000) },
    ];
    let setup = controller_setup(&scenario, None);
    let text = write(setup, &scenario, None, &steps, Outcome::Ended).expect("writes");
    assert_eq!(controller_steps(&text), Ok(steps));
    let replayed = replay_text(&text).expect("replays");
    assert_eq!(replayed.steps(), 2);
    assert!(replayed.timeline_text().contains("Stopping(StopWorkers)"));
}

/// The runtime writes the same format: a trace `quiesce run --record` made of a real run
/// (2 worker processes, checkpoints every 200 ms, a checkpoint stop) replays here, every
/// output as recorded.
#[test]
fn a_trace_the_runtime_recorded_replays() {
    let text = include_str!("../../../tests/data/runtime-controller.jsonl");
    let replayed = replay_text(text).expect("the runtime's trace replays");
    assert!(replayed.steps() > 10, "{}", replayed.summary());
    assert!(replayed.footer.is_some(), "{}", replayed.summary());
    let last = replayed.timeline.last().expect("a timeline");
    assert!(last.state.contains("Stopped"), "{last:?}");
}
