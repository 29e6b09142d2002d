//! One job's life as a Flink or Arroyo operator would watch it: periodic checkpoints, a worker
//! that dies mid-checkpoint and a recovery from the last completed checkpoint, then a stop
//! whose final checkpoint hangs on one stuck sink and escalates — immediate, then force.
//!
//! The controller is the real one; the scheduler, the metadata store and the workers are a
//! small, well-behaved in-memory environment, except for the two faults of the story. Every
//! input the controller takes (`in`) and every decision it makes (`do` for an effect, `event`
//! for what it reports) is printed with its time. Heartbeats run every 5 s and are shown only
//! when refused.
//!
//! Usage: `cargo run -p quiesce-core --example walkthrough [-- --fail-at-ms MS --stop-at-ms MS]`

use quiesce_core::ControllerSetup;
use quiesce_core::{
    Command, Config, Controller, Event, Generation, Input, Job, JobError, Output, State,
    StopJobMode, StopMode, Stopping, TaskId, Time, WorkerEvent, WorkerId,
};
use std::collections::BTreeMap;
use std::process::ExitCode;

const HEARTBEAT_EVERY_MS: u64 = 5_000;
/// The sink task that hangs on its external system in the second generation.
const STUCK: TaskId = TaskId {
    operator: quiesce_core::OperatorId(2),
    subtask: 2,
};

fn job() -> Result<Job, JobError> {
    Job::builder("clicks-per-user", 3)
        .source("kafka-source", 3)
        .transform("count-by-user", 3)
        .sink("warehouse-sink", 3)
        .edge("kafka-source", "count-by-user")
        .edge("count-by-user", "warehouse-sink")
        .build()
}

fn config() -> Config {
    Config {
        checkpoint_timeout_ms: 20_000,
        stop_timeout_ms: 10_000,
        ..Config::default()
    }
}

/// What happens next in the environment.
enum Next {
    Input(Input),
    /// Every live worker sends its heartbeat.
    Heartbeats,
    /// A worker's process dies.
    Crash(WorkerId),
}

/// A scheduler, a metadata store and workers that answer every effect in a few ms, except
/// that worker 1 exits at `fail_at` and, in the second generation, task [`STUCK`] never
/// finishes its part of a final checkpoint nor stops.
struct Environment {
    job: Job,
    queue: BTreeMap<(Time, u64), Next>,
    seq: u64,
    /// The generation whose workers are up, and which of them are alive.
    up: Option<(Generation, Vec<bool>)>,
    /// The final checkpoint's epoch, once sent.
    final_epoch: Option<quiesce_core::Epoch>,
    /// Tasks of the generation that are up which have finished.
    finished: Vec<TaskId>,
}

impl Environment {
    fn at(&mut self, time: Time, next: Next) {
        self.seq += 1;
        self.queue.insert((time, self.seq), next);
    }

    fn report(&mut self, time: Time, worker: WorkerId, event: WorkerEvent) {
        if let Some((generation, alive)) = &self.up {
            if alive[worker.0 as usize] {
                let input = Input::from_worker(worker, *generation, event);
                self.at(time, Next::Input(input));
            }
        }
    }

    /// Whether `task` hangs: the stuck sink, once the job is stopping.
    fn stuck(&self, task: TaskId) -> bool {
        task == STUCK && self.final_epoch.is_some()
    }

    fn finish(&mut self, time: Time, worker: WorkerId, task: TaskId) {
        if !self.finished.contains(&task) {
            self.finished.push(task);
            self.report(time, worker, WorkerEvent::TaskFinished { task });
        }
    }

    /// Plays the scheduler, the store and the workers in answer to `output`.
    fn answer(&mut self, now: Time, output: &Output) {
        match output {
            Output::StartWorkers { generation, .. } => {
                self.up = Some((*generation, vec![true; self.job.workers as usize]));
                self.finished.clear();
                for w in 0..self.job.workers {
                    let at = now.plus_ms(40 + 10 * u64::from(w));
                    self.report(at, WorkerId(w), WorkerEvent::Ready);
                }
            }
            Output::Send { worker, message } => self.command(now, *worker, &message.command),
            Output::PersistMetadata { epoch, .. } => {
                let input = Input::MetadataPersisted { epoch: *epoch };
                self.at(now.plus_ms(25), Next::Input(input));
            }
            Output::Cleanup { before } => {
                let input = Input::CleanupDone { before: *before };
                self.at(now.plus_ms(30), Next::Input(input));
            }
            Output::StopWorkers { generation } => {
                self.up = None;
                let input = Input::WorkersStopped {
                    generation: *generation,
                };
                self.at(now.plus_ms(100), Next::Input(input));
            }
            Output::ReleaseWorkers { .. } | Output::Event(_) => {}
        }
    }

    /// A worker's tasks carry out a command and report; the stuck task says nothing.
    fn command(&mut self, now: Time, worker: WorkerId, command: &Command) {
        if let Command::Checkpoint {
            epoch,
            then_stop: true,
        } = *command
        {
            self.final_epoch = Some(epoch);
        }
        let tasks: Vec<TaskId> = (self.job.tasks_of(worker).into_iter())
            .filter(|&task| !self.stuck(task))
            .collect();
        match *command {
            Command::Checkpoint { epoch, then_stop } => {
                for (i, &task) in tasks.iter().enumerate() {
                    let at = now.plus_ms(15 * (i as u64 + 1));
                    self.report(at, worker, WorkerEvent::CheckpointAcked { task, epoch });
                    if then_stop && !is_sink(task) {
                        self.finish(at.plus_ms(1), worker, task);
                    }
                }
            }
            Command::Commit { epoch } => {
                let last = self.final_epoch == Some(epoch);
                for &task in tasks.iter().filter(|&&task| is_sink(task)) {
                    self.report(
                        now.plus_ms(8),
                        worker,
                        WorkerEvent::Committed { task, epoch },
                    );
                    if last {
                        self.finish(now.plus_ms(9), worker, task);
                    }
                }
            }
            Command::Stop { .. } => {
                for &task in &tasks {
                    self.finish(now.plus_ms(5), worker, task);
                }
            }
            // An abort needs no answer: these tasks keep no pre-commits to drop.
            _ => {}
        }
    }

    /// `worker`'s process dies; the scheduler sees it exit.
    fn crash(&mut self, now: Time, worker: WorkerId) {
        if let Some((generation, alive)) = &mut self.up {
            alive[worker.0 as usize] = false;
            let input = Input::WorkerExited {
                worker,
                generation: *generation,
            };
            self.at(now, Next::Input(input));
        }
    }

    /// The heartbeats of every live worker, sent now; the next ones are due in 5 s.
    fn heartbeats(&mut self, now: Time) -> Vec<Input> {
        self.at(now.plus_ms(HEARTBEAT_EVERY_MS), Next::Heartbeats);
        let Some((generation, alive)) = &self.up else {
            return Vec::new();
        };
        (0..self.job.workers)
            .filter(|&w| alive[w as usize])
            .map(|w| Input::from_worker(WorkerId(w), *generation, WorkerEvent::Heartbeat))
            .collect()
    }
}

fn is_sink(task: TaskId) -> bool {
    task.operator == STUCK.operator
}

fn print(now: Time, tag: &str, line: impl std::fmt::Display) {
    println!("{:>9}  {tag:<5}  {line}", now.to_string());
}

fn print_output(now: Time, output: &Output) {
    match output {
        Output::Event(event @ Event::Transition { .. }) => print(now, "state", event),
        Output::Event(event) => print(now, "event", event),
        effect => print(now, "do", effect),
    }
}

struct Args {
    fail_at_ms: u64,
    stop_at_ms: u64,
}

impl Args {
    const DEFAULT: Args = Args {
        fail_at_ms: 20_200,
        stop_at_ms: 45_000,
    };
}

/// The states the default story passes through, in order (others may come between).
const STORY: [State; 6] = [
    State::Recovering,
    State::Running,
    State::CheckpointStopping,
    State::Stopping(Stopping::StopJob(StopJobMode::Immediate)),
    State::Stopping(Stopping::StopWorkers),
    State::Stopped,
];

/// Whether `states` passes through every state of [`STORY`] in order.
fn tells_the_story(states: &[State]) -> bool {
    let mut rest = states.iter();
    STORY.iter().all(|wanted| rest.any(|state| state == wanted))
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args::DEFAULT;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let field = match arg.as_str() {
            "--fail-at-ms" => &mut parsed.fail_at_ms,
            "--stop-at-ms" => &mut parsed.stop_at_ms,
            "-h" | "--help" => {
                println!(
                    "walkthrough [--fail-at-ms MS] [--stop-at-ms MS]: one job through \
                     checkpoints, a worker failure (default 20200) and a stuck checkpoint \
                     stop (default 45000)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        };
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        *field = value
            .parse()
            .map_err(|_| format!("{arg}: not a number: {value}"))?;
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (job, config) = match job() {
        Ok(job) => (job, config()),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut c = match Controller::new(ControllerSetup::new(job.clone(), config, Time(0))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "job {}: task 0/i is kafka-source[i], 1/i count-by-user[i], 2/i warehouse-sink[i] \
         (two-phase commit)",
        job.name
    );
    println!("on 3 workers: worker i hosts tasks 0/i, 1/i and 2/i");
    println!(
        "checkpoint every {} s, timeout {} s; stop timeout {} s; worker 1 exits at {}; \
         a checkpoint stop is asked at {}",
        config.checkpoint_interval_ms / 1000,
        config.checkpoint_timeout_ms / 1000,
        config.stop_timeout_ms / 1000,
        Time(args.fail_at_ms),
        Time(args.stop_at_ms),
    );
    println!();
    let mut env = Environment {
        job,
        queue: BTreeMap::new(),
        seq: 0,
        up: None,
        final_epoch: None,
        finished: Vec::new(),
    };
    env.at(Time(HEARTBEAT_EVERY_MS), Next::Heartbeats);
    env.at(Time(args.fail_at_ms), Next::Crash(WorkerId(1)));
    env.at(
        Time(args.stop_at_ms),
        Next::Input(Input::Stop(StopMode::Checkpoint)),
    );
    let mut now = Time(0);
    let mut states = Vec::new();
    loop {
        while let Some(output) = c.poll_output() {
            print_output(now, &output);
            if let Output::Event(Event::Transition { to, .. }) = output {
                states.push(to);
            }
            env.answer(now, &output);
        }
        if c.state().is_terminal() {
            break;
        }
        let next_at = env.queue.keys().next().map(|&(t, _)| t);
        match c.poll_timeout() {
            Some(deadline) if next_at.is_none_or(|t| deadline <= t) => {
                now = deadline;
                c.handle_timeout(now);
                continue;
            }
            _ => {}
        }
        let Some(((t, _), next)) = env.queue.pop_first() else {
            eprintln!("error: the controller waits on nothing in {}", c.state());
            return ExitCode::FAILURE;
        };
        now = t;
        match next {
            Next::Heartbeats => {
                for heartbeat in env.heartbeats(now) {
                    if let Err(rejected) = c.handle(now, heartbeat.clone()) {
                        print(now, "in", heartbeat);
                        print(now, "", rejected);
                    }
                }
            }
            Next::Crash(worker) => env.crash(now, worker),
            Next::Input(input) => {
                print(now, "in", &input);
                if let Err(rejected) = c.handle(now, input) {
                    print(now, "", rejected);
                }
            }
        }
    }
    let status = c.status();
    println!();
    println!(
        "{} at {now}; checkpoints completed {}, aborted {}; restarts {}; restore point {}",
        status.state,
        status.counters.checkpoints_completed,
        status.counters.checkpoints_aborted,
        status.counters.restarts,
        match c.restore_point() {
            Some(r) => format!("epoch {} (gen {})", r.epoch.0, r.generation.0),
            None => "none".into(),
        }
    );
    let default =
        (args.fail_at_ms, args.stop_at_ms) == (Args::DEFAULT.fail_at_ms, Args::DEFAULT.stop_at_ms);
    if default && !tells_the_story(&states) {
        let story: Vec<String> = STORY.iter().map(State::to_string).collect();
        eprintln!(
            "error: the job did not pass through {} in order",
            story.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
