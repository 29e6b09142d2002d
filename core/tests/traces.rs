//! Traces as files: recorded line by line as JSON Lines, read back, replayed with every step's
//! outcome checked; the first divergence, a foreign format, a damaged or cut trace, several
//! machines in one trace, and machines running a planted bug.

mod support;

use quiesce_core::controller::Controller;
use quiesce_core::trace::{
    replay, Chain, ControllerRecorder, Divergence, Header, Line, MachineId, MemoryRecorder,
    Outcome, Recorder, ReplayError, Replayer, FORMAT,
};
use quiesce_core::worker::WorkerSetup;
use quiesce_core::worker::{Worker, WorkerConfig, WorkerInput};
use quiesce_core::ControllerSetup;
use quiesce_core::WorkerId;
use quiesce_core::{Epoch, FromWorker, Generation, Input, Job, StopMode, Time, WorkerEvent};
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;
use support::{config, job};

fn to_text<M: quiesce_core::trace::Machine>(lines: &[Line<M>]) -> String {
    lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("a line serialises") + "\n")
        .collect()
}

fn from_text<M: quiesce_core::trace::Machine>(text: &str) -> Vec<Line<M>> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a line parses"))
        .collect()
}

fn worker(c: &MemoryRecorder<Controller>, w: u32, event: WorkerEvent) -> Input {
    let generation = c.machine().status().generation;
    Input::Worker(FromWorker {
        worker: WorkerId(w),
        generation,
        event,
    })
}

/// A job brought to Running, through its first checkpoint's acks, then a refused input and a
/// force stop: construction outputs, accepted, refused and timeout steps.
fn a_run(setup: ControllerSetup) -> MemoryRecorder<Controller> {
    let job = setup.job.clone();
    let mut c = ControllerRecorder::in_memory(setup).expect("a valid setup");
    for w in 0..job.workers {
        let ready = worker(&c, w, WorkerEvent::Ready);
        c.handle(Time(5), ready).expect("ready");
    }
    let due = c.poll_timeout().expect("a checkpoint is due");
    c.handle_timeout(due);
    for task in job.tasks() {
        let w = job.worker_of(task).expect("a task of the job").0;
        let ack = worker(
            &c,
            w,
            WorkerEvent::CheckpointAcked {
                task,
                epoch: Epoch(1),
            },
        );
        c.handle(due, ack).expect("an ack");
    }
    let stale = Input::Worker(FromWorker {
        worker: WorkerId(0),
        generation: Generation(7),
        event: WorkerEvent::Ready,
    });
    assert!(c.handle(due, stale).is_err());
    c.handle(due.plus_ms(1), Input::Stop(StopMode::Force))
        .expect("a stop");
    c.handle_timeout(due.plus_ms(60_000));
    c
}

fn setup() -> ControllerSetup {
    ControllerSetup::new(job(), config(), Time(0))
}

#[test]
fn a_controller_streams_one_json_line_per_call_and_the_text_replays_every_step() {
    let text = Rc::new(RefCell::new(String::new()));
    let sink = {
        let text = Rc::clone(&text);
        move |line: &Line<Controller>| {
            let mut text = text.borrow_mut();
            text.push_str(&serde_json::to_string(line).expect("a line serialises"));
            text.push('\n');
        }
    };
    let lines = || text.borrow().lines().count();
    let mut c = Recorder::new(setup(), sink).expect("a valid setup");
    // The header and the setup line are out before the first call.
    assert_eq!(lines(), 2);
    let ready = worker_of_recorder(&c, 0);
    c.handle(Time(5), ready).expect("ready");
    assert_eq!(lines(), 3, "each call is handed over as it happens");
    c.handle_timeout(Time(6));
    assert_eq!(lines(), 4);
    c.handle(Time(7), Input::Stop(StopMode::Force))
        .expect("a stop");
    c.handle_timeout(Time(40_000));
    let status = c.machine().status();
    let chain = c.chain();
    let _sink = c.finish(Outcome::Ended);
    assert_eq!(lines(), 7);

    let replayed = replay(from_text::<Controller>(&text.borrow())).expect("the trace replays");
    assert_eq!(replayed.machine.status(), status);
    assert_eq!(replayed.steps, 4);
    assert_eq!(replayed.header, Header::current());
    let footer = replayed.footer.expect("a footer");
    assert_eq!((footer.lines, footer.hash), (chain.lines(), chain.digest()));
    assert_eq!(footer.outcome, Outcome::Ended);
}

fn worker_of_recorder<K: quiesce_core::trace::TraceSink<Controller>>(
    c: &Recorder<Controller, K>,
    w: u32,
) -> Input {
    Input::Worker(FromWorker {
        worker: WorkerId(w),
        generation: c.machine().status().generation,
        event: WorkerEvent::Ready,
    })
}

#[test]
fn a_changed_output_is_reported_at_its_step_with_what_was_recorded_and_what_came_out() {
    let lines = a_run(setup()).finish(Outcome::Ended);
    assert!(replay(lines.clone()).is_ok());
    // Every line that carries outcomes: the setup (step 0), then each step.
    let with_outputs: Vec<(usize, u64)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Line::Setup(_) | Line::Step(_)))
        .enumerate()
        .map(|(step, (i, _))| (i, step as u64))
        .filter(|&(i, _)| match &lines[i] {
            Line::Setup(s) => !s.outputs.is_empty(),
            Line::Step(s) => !s.outputs.is_empty(),
            _ => false,
        })
        .collect();
    assert!(with_outputs.len() >= 3, "{with_outputs:?}");
    for (i, step) in with_outputs {
        let mut changed = lines.clone();
        let (recorded, expected) = match &mut changed[i] {
            Line::Setup(s) => (s.outputs.clone(), s.outputs.pop()),
            Line::Step(s) => (s.outputs.clone(), s.outputs.pop()),
            _ => unreachable!(),
        };
        assert!(expected.is_some());
        match replay(changed) {
            Err(ReplayError::Diverged(Divergence {
                step: at,
                expected,
                actual,
            })) => {
                assert_eq!(at, step);
                assert_eq!(expected.outputs, recorded[..recorded.len() - 1]);
                assert_eq!(actual.outputs, recorded);
            }
            other => panic!("step {step}: {other:?}"),
        }
    }
}

#[test]
fn a_changed_rejection_is_a_divergence_too() {
    let mut lines = a_run(setup()).finish(Outcome::Ended);
    let (i, step) = lines
        .iter()
        .filter(|l| matches!(l, Line::Setup(_) | Line::Step(_)))
        .enumerate()
        .find_map(|(step, l)| match l {
            Line::Step(s) if s.rejected.is_some() => Some(step),
            _ => None,
        })
        .map(|step| (step + 1, step as u64))
        .expect("the run has a refused input");
    let Line::Step(s) = &mut lines[i] else {
        panic!("line {i} is a step")
    };
    let rejected = s.rejected.take();
    match replay(lines) {
        Err(ReplayError::Diverged(d)) => {
            assert_eq!(d.step, step);
            assert_eq!((d.expected.rejected, d.actual.rejected), (None, rejected));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_trace_of_another_format_is_refused_by_its_header() {
    // A later format may change every line; its header still parses, and is refused first.
    let text = r#"{"type":"header","format":2,"core":"9.0.0","compression":"zstd"}"#;
    let header: Line<Controller> = serde_json::from_str(text).expect("a header parses");
    let err = replay([header]).expect_err("format 2 is unknown");
    assert_eq!(
        err,
        ReplayError::UnknownFormat {
            found: 2,
            supported: FORMAT
        }
    );
    assert!(err.to_string().contains("format 2"), "{err}");
    // So is a trace that does not begin with a header.
    let lines = a_run(setup()).finish(Outcome::Ended);
    assert_eq!(
        replay(lines[1..].to_vec()).unwrap_err(),
        ReplayError::NoHeader
    );
}

#[test]
fn a_cut_trace_replays_to_its_last_line_and_a_damaged_one_fails_its_footer() {
    let lines = a_run(setup()).finish(Outcome::Ended);
    let n = lines.len();
    // The writer died before the footer: everything up to there replays.
    let cut = replay(lines[..n - 1].to_vec()).expect("a cut trace replays");
    assert_eq!(cut.footer, None);
    // The footer counts the lines and hashes them.
    let mut short = lines.clone();
    let Some(Line::Footer(f)) = short.last_mut() else {
        panic!("the last line is the footer")
    };
    f.lines -= 1;
    assert!(matches!(
        replay(short),
        Err(ReplayError::FooterMismatch { .. })
    ));
    // A step whose outcome is kept but whose time was changed still replays, but not its hash.
    let mut retimed = lines.clone();
    let last_timeout = retimed.iter_mut().rev().find_map(|l| match l {
        Line::Step(s) if s.rejected.is_none() && s.outputs.is_empty() => Some(s),
        _ => None,
    });
    if let Some(s) = last_timeout {
        s.step = quiesce_core::trace::Step::Timeout { at: Time(1) };
    }
    let Err(err) = replay(retimed.clone()) else {
        panic!("a damaged trace passed")
    };
    assert!(
        matches!(
            err,
            ReplayError::FooterMismatch { .. } | ReplayError::Diverged(_)
        ),
        "{err:?}"
    );
    // Anything after the footer is misplaced.
    let mut after = lines.clone();
    after.push(lines[0].clone());
    assert!(matches!(
        replay(after),
        Err(ReplayError::Misplaced {
            found: "header",
            ..
        })
    ));
}

#[test]
fn the_running_hash_of_a_fixed_trace_is_pinned_and_survives_json() {
    let lines: Vec<Line<Controller, String>> = vec![
        Line::Header(Header {
            format: 1,
            core: "0.1.0".into(),
        }),
        Line::Env(quiesce_core::trace::EnvLine {
            at: Time(120_000),
            event: "worker 1 killed".into(),
        }),
    ];
    let mut chain = Chain::new();
    let mut through_json = Chain::new();
    for line in &lines {
        chain.push(line);
        let text = serde_json::to_string(line).expect("a line serialises");
        let back: Line<Controller, String> = serde_json::from_str(&text).expect("parses");
        through_json.push(&back);
    }
    assert_eq!(chain, through_json);
    assert_eq!(chain.lines(), 2);
    // The digest is part of the format: it must not change with the platform or the compiler.
    // (Computed by hand from the encoding in the `Chain` docs: FNV-1a 64 over
    // MAP "type" "header" "format" 1 "core" "0.1.0" END LINE, then the env line alike.)
    assert_eq!(chain.digest().to_string(), "bd04689ae60428b7");
}

/// The machine a line is about, read before the line's type is known (as a simulator splits
/// its one trace by machine).
#[derive(Deserialize)]
struct Route {
    machine: Option<MachineId>,
}

#[test]
fn a_controller_and_a_worker_interleave_in_one_trace_with_environment_lines() {
    type Event = String;
    struct File {
        text: String,
        chain: Chain,
    }
    impl File {
        fn write<L: serde::Serialize>(&mut self, line: &L) {
            self.chain.push(line);
            self.text
                .push_str(&serde_json::to_string(line).expect("a line serialises"));
            self.text.push('\n');
        }
    }
    let file = Rc::new(RefCell::new(File {
        text: String::new(),
        chain: Chain::new(),
    }));
    let header: Line<Controller, Event> = Line::Header(Header::current());
    file.borrow_mut().write(&header);
    let to_file = |file: &Rc<RefCell<File>>| {
        let file = Rc::clone(file);
        move |line: &Line<Controller, Event>| file.borrow_mut().write(line)
    };
    let to_file_w = |file: &Rc<RefCell<File>>| {
        let file = Rc::clone(file);
        move |line: &Line<Worker, Event>| file.borrow_mut().write(line)
    };

    let job: Job = job();
    let mut c = Recorder::join(setup(), to_file(&file)).expect("a valid setup");
    let generation = c.machine().status().generation;
    let mut w0 = Recorder::join(
        WorkerSetup::new(
            job.clone(),
            WorkerId(0),
            generation,
            WorkerConfig::default(),
            Time(1),
        ),
        to_file_w(&file),
    )
    .expect("a valid worker");
    // The worker's Ready goes to the controller; an environment note in between.
    let ready = w0
        .drain()
        .into_iter()
        .find_map(|o| match o {
            quiesce_core::WorkerOutput::ToController(event) => Some(Input::Worker(event)),
            _ => None,
        })
        .expect("the worker reports ready");
    let note: Line<Controller, Event> = Line::Env(quiesce_core::trace::EnvLine {
        at: Time(2),
        event: "link 0->controller delayed".into(),
    });
    file.borrow_mut().write(&note);
    c.handle(Time(3), ready).expect("ready");
    w0.handle(
        Time(4),
        WorkerInput::SourceRecords {
            task: job.tasks().next().unwrap(),
            count: 2,
        },
    )
    .expect("records");
    c.handle(Time(5), Input::Stop(StopMode::Force))
        .expect("a stop");
    let _ = (c.drain(), w0.drain());
    let (controller, worker) = (c.machine().status(), w0.machine().status());
    let footer: Line<Controller, Event> = {
        let f = file.borrow();
        Line::Footer(quiesce_core::trace::Footer {
            outcome: Outcome::Ended,
            lines: f.chain.lines(),
            hash: f.chain.digest(),
        })
    };
    file.borrow_mut().write(&footer);

    // Each machine replays from the one trace; the other's lines are passed for the footer.
    let text = file.borrow().text.clone();
    let mut rc = Replayer::<Controller>::new();
    let mut rw = Replayer::<Worker>::new();
    for l in text.lines() {
        let route: Route = serde_json::from_str(l).expect("a line parses");
        match route.machine {
            Some(MachineId::Worker { .. }) => {
                let line: Line<Worker, Event> = serde_json::from_str(l).expect("a worker line");
                rc.pass(&line).expect("passed");
                rw.line(line).expect("replays");
            }
            _ => {
                let line: Line<Controller, Event> = serde_json::from_str(l).expect("a line");
                if route.machine.is_some() {
                    rw.pass(&line).expect("passed");
                } else {
                    // Header, environment and footer lines belong to every machine's replay.
                    let shared: Line<Worker, Event> = serde_json::from_str(l).expect("the same");
                    rw.line(shared).expect("shared lines");
                }
                rc.line(line).expect("replays");
            }
        }
    }
    let (rc, rw) = (
        rc.finish().expect("complete"),
        rw.finish().expect("complete"),
    );
    assert_eq!(rc.machine.status(), controller);
    assert_eq!(rw.machine.status(), worker);
    assert!(rc.footer.is_some() && rw.footer.is_some());
    assert_eq!((rc.steps, rw.steps), (2, 1));
}

#[test]
fn lines_out_of_place_are_refused() {
    let lines = a_run(setup()).finish(Outcome::Ended);
    let header = lines[0].clone();
    let step = lines[2].clone();
    // A step before any setup.
    assert!(matches!(
        replay(vec![header.clone(), step.clone()]),
        Err(ReplayError::Misplaced {
            line: 2,
            found: "step"
        })
    ));
    // A header and nothing else: no machine to give back.
    assert_eq!(replay(vec![header]).unwrap_err(), ReplayError::NoSetup);
    // A step of another machine.
    let mut other = lines.clone();
    let Line::Step(s) = &mut other[2] else {
        panic!("line 3 is a step")
    };
    s.machine = MachineId::Worker {
        worker: WorkerId(0),
        generation: Generation(1),
    };
    assert!(matches!(
        replay(other),
        Err(ReplayError::OtherMachine { line: 3, .. })
    ));
}

#[test]
fn a_setup_without_a_planted_bug_says_nothing_of_bugs() {
    let json = serde_json::to_string(&setup()).expect("serialises");
    assert!(!json.contains("mutant"), "{json}");
    let w = WorkerSetup::new(
        job(),
        WorkerId(0),
        Generation(1),
        WorkerConfig::default(),
        Time(0),
    );
    let json = serde_json::to_string(&w).expect("serialises");
    assert!(!json.contains("mutant"), "{json}");
}

/// A build without planted bugs refuses a trace of a machine that ran one, rather than
/// replaying it against the correct machine.
#[cfg(not(feature = "mutants"))]
#[test]
fn without_the_mutants_feature_a_setup_naming_a_bug_does_not_parse() {
    let mut json: serde_json::Value = serde_json::to_value(setup()).expect("serialises");
    json["mutant"] = "CommitBeforePersist".into();
    let err = serde_json::from_value::<ControllerSetup>(json).expect_err("refused");
    assert!(err.to_string().contains("unknown field `mutant`"), "{err}");
}

#[cfg(feature = "mutants")]
mod mutants {
    use super::*;
    use quiesce_core::controller::mutants::Mutant;
    use quiesce_core::worker::mutants::WorkerMutant;
    use quiesce_core::worker::trace::WorkerRecorder;
    use quiesce_core::{Command, Output};

    #[test]
    fn a_mutated_controller_records_its_bug_and_replays_against_it() {
        let mutated = setup().with_mutant(Mutant::CommitBeforePersist);
        let lines = a_run(mutated).finish(Outcome::Ended);
        let text = to_text(&lines);
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .contains(r#""mutant":"CommitBeforePersist""#));
        // The bug is in the outputs: sinks were told to commit before the persist.
        let commits_early = lines.iter().any(|l| match l {
            Line::Step(s) => s.outputs.iter().any(|o| {
                matches!(o, Output::Send { message, .. }
                if matches!(message.command, Command::Commit { .. }))
            }),
            _ => false,
        });
        assert!(commits_early);
        let replayed = replay(from_text::<Controller>(&text)).expect("replays against the bug");
        assert!(replayed.footer.is_some());
        // Against the correct controller, the same trace diverges where the bug acts.
        let mut correct = from_text::<Controller>(&text);
        let Line::Setup(s) = &mut correct[1] else {
            panic!("line 2 is the setup")
        };
        s.setup.mutant = None;
        assert!(matches!(replay(correct), Err(ReplayError::Diverged(_))));
    }

    #[test]
    fn a_mutated_worker_records_its_bug_and_replays_against_it() {
        let mut j = support::job_with(1, true);
        // One worker hosts every task, so that the barriers align without data links.
        j.workers = 1;
        let g = Generation(1);
        let setup = WorkerSetup::new(j.clone(), WorkerId(0), g, WorkerConfig::default(), Time(0))
            .with_mutant(WorkerMutant::CommitKeepsPreCommits);
        let mut w = WorkerRecorder::in_memory(setup).expect("a valid worker");
        let command = |command| {
            WorkerInput::Command(quiesce_core::ToWorker {
                generation: g,
                command,
            })
        };
        let tasks: Vec<_> = j.tasks().collect();
        w.handle(
            Time(1),
            WorkerInput::SourceRecords {
                task: tasks[0],
                count: 2,
            },
        )
        .unwrap();
        for e in 1..=2 {
            let (epoch, at) = (Epoch(e), Time(10 * e));
            w.handle(
                at,
                command(Command::Checkpoint {
                    epoch,
                    then_stop: false,
                }),
            )
            .unwrap();
            for &task in &tasks {
                w.handle(at, WorkerInput::SnapshotDone { task, epoch })
                    .unwrap();
            }
            w.handle(at, command(Command::Commit { epoch })).unwrap();
        }
        let text = to_text(&w.finish(Outcome::Ended));
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .contains(r#""mutant":"CommitKeepsPreCommits""#));
        assert!(replay(from_text::<Worker>(&text)).is_ok());
        let mut correct = from_text::<Worker>(&text);
        let Line::Setup(s) = &mut correct[1] else {
            panic!("line 2 is the setup")
        };
        s.setup.mutant = None;
        assert!(matches!(replay(correct), Err(ReplayError::Diverged(_))));
    }
}

#[test]
fn a_run_that_failed_a_check_says_which_property_in_its_footer() {
    let outcome = Outcome::CheckFailed {
        property: quiesce_core::Property::ExactlyOnce,
        detail: "offset 7 of partition 0/0 committed twice".into(),
    };
    let lines = a_run(setup()).finish(outcome.clone());
    let text = to_text(&lines);
    let last = text.lines().last().expect("a footer");
    assert!(last.contains(r#""property":"exactly_once""#), "{last}");
    let replayed = replay(from_text::<Controller>(&text)).expect("the trace replays");
    assert_eq!(replayed.footer.map(|f| f.outcome), Some(outcome));
}
