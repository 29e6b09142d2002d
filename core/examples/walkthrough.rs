//! Walks one job from start through periodic checkpoints to a checkpoint stop, with a
//! well-behaved in-memory environment, and prints every decision of the controller with its
//! time.
//!
//! Usage: `cargo run -p quiesce-core --example walkthrough [-- --stop-at-ms MS]`

use quiesce_core::controller::Controller;
use quiesce_core::{
    Command, Config, Edge, Event, FromWorker, Input, Job, Operator, OperatorId, OperatorKind,
    Output, StopMode, Time, WorkerEvent, WorkerId,
};
use std::collections::BTreeMap;
use std::process::ExitCode;

const HEARTBEAT_EVERY_MS: u64 = 5_000;

fn job() -> Job {
    let op = |name: &str, kind| Operator {
        name: name.into(),
        kind,
        parallelism: 3,
    };
    Job {
        name: "clicks-per-user".into(),
        operators: vec![
            op("kafka-source", OperatorKind::Source),
            op("count-by-user", OperatorKind::Transform),
            op(
                "warehouse-sink",
                OperatorKind::Sink {
                    two_phase_commit: true,
                },
            ),
        ],
        edges: vec![
            Edge {
                from: OperatorId(0),
                to: OperatorId(1),
            },
            Edge {
                from: OperatorId(1),
                to: OperatorId(2),
            },
        ],
        workers: 3,
    }
}

/// Inputs the environment will deliver, by time (then by the order they were scheduled).
struct Environment {
    queue: BTreeMap<(Time, u64), Input>,
    seq: u64,
}

impl Environment {
    fn at(&mut self, time: Time, input: Input) {
        self.seq += 1;
        self.queue.insert((time, self.seq), input);
    }

    /// Plays a well-behaved scheduler, store and set of workers in answer to `output`.
    fn answer(&mut self, c: &Controller, now: Time, output: &Output) {
        let job = c.job();
        let generation = c.status().generation;
        let from = |worker: WorkerId, event| {
            Input::Worker(FromWorker {
                worker,
                generation,
                event,
            })
        };
        match output {
            Output::StartWorkers { .. } => {
                for w in 0..job.workers {
                    self.at(
                        now.plus_ms(40 + 10 * u64::from(w)),
                        from(WorkerId(w), WorkerEvent::Ready),
                    );
                }
            }
            Output::Send { worker, message } => match message.command {
                Command::Checkpoint { epoch, then_stop } => {
                    for (i, task) in job.tasks_of(*worker).into_iter().enumerate() {
                        let t = now.plus_ms(15 * (i as u64 + 1));
                        self.at(
                            t,
                            from(*worker, WorkerEvent::CheckpointAcked { task, epoch }),
                        );
                        let sink = matches!(
                            job.operators[task.operator.0 as usize].kind,
                            OperatorKind::Sink { .. }
                        );
                        if then_stop && !sink {
                            self.at(
                                t.plus_ms(1),
                                from(*worker, WorkerEvent::TaskFinished { task }),
                            );
                        }
                    }
                }
                Command::Commit { epoch } => {
                    let final_checkpoint = c.status().final_checkpoint == Some(epoch);
                    for task in job.tasks_of(*worker) {
                        if matches!(
                            job.operators[task.operator.0 as usize].kind,
                            OperatorKind::Sink { .. }
                        ) {
                            self.at(
                                now.plus_ms(8),
                                from(*worker, WorkerEvent::Committed { task, epoch }),
                            );
                            if final_checkpoint {
                                self.at(
                                    now.plus_ms(9),
                                    from(*worker, WorkerEvent::TaskFinished { task }),
                                );
                            }
                        }
                    }
                }
                _ => {}
            },
            Output::PersistMetadata { epoch, .. } => {
                self.at(now.plus_ms(25), Input::MetadataPersisted { epoch: *epoch })
            }
            Output::Cleanup { before } => {
                self.at(now.plus_ms(30), Input::CleanupDone { before: *before })
            }
            Output::StopWorkers { generation } => self.at(
                now.plus_ms(100),
                Input::WorkersStopped {
                    generation: *generation,
                },
            ),
            _ => {}
        }
    }
}

fn describe(output: &Output) -> String {
    match output {
        Output::Event(Event::Transition { from, to, reason }) => match from {
            Some(from) => format!("state {from} -> {to}  ({reason:?})"),
            None => format!("state {to}  ({reason:?})"),
        },
        Output::Event(event) => format!("event {event:?}"),
        Output::Send { worker, message } => format!(
            "send  {worker} {} {:?}",
            message.generation, message.command
        ),
        effect => format!("do    {effect:?}"),
    }
}

fn parse_args() -> Result<u64, String> {
    let mut args = std::env::args().skip(1);
    let mut stop_at_ms = 35_000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stop-at-ms" => {
                let value = args.next().ok_or("--stop-at-ms needs a value")?;
                stop_at_ms = value
                    .parse()
                    .map_err(|_| format!("--stop-at-ms: not a number: {value}"))?;
            }
            "-h" | "--help" => {
                println!("walkthrough [--stop-at-ms MS]: run one job through checkpoints to a checkpoint stop");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(stop_at_ms)
}

fn main() -> ExitCode {
    let stop_at_ms = match parse_args() {
        Ok(ms) => ms,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = Config::default();
    let mut c = match Controller::new(job(), config, Time(0)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut env = Environment {
        queue: BTreeMap::new(),
        seq: 0,
    };
    env.at(Time(stop_at_ms), Input::Stop(StopMode::Checkpoint));
    for w in 0..c.job().workers {
        let mut t = HEARTBEAT_EVERY_MS;
        while t < stop_at_ms + config.stop_bound_ms() {
            let generation = c.status().generation;
            env.at(
                Time(t),
                Input::Worker(FromWorker {
                    worker: WorkerId(w),
                    generation,
                    event: WorkerEvent::Heartbeat,
                }),
            );
            t += HEARTBEAT_EVERY_MS;
        }
    }
    let mut now = Time(0);
    loop {
        while let Some(output) = c.poll_output() {
            println!("[{now:>9}] {}", describe(&output));
            env.answer(&c, now, &output);
        }
        if c.state().is_terminal() {
            break;
        }
        let next_input = env.queue.keys().next().map(|&(t, _)| t);
        match (next_input, c.poll_timeout()) {
            (Some(t), Some(deadline)) if deadline < t => {
                now = deadline;
                c.handle_timeout(now);
            }
            (Some(_), _) => {
                let ((t, _), input) = env.queue.pop_first().expect("a next input");
                now = t;
                if let Err(rejected) = c.handle(now, input) {
                    println!("[{now:>9}] refused {rejected}");
                }
            }
            (None, Some(deadline)) => {
                now = deadline;
                c.handle_timeout(now);
            }
            (None, None) => {
                eprintln!("error: the controller waits on nothing in {}", c.state());
                return ExitCode::FAILURE;
            }
        }
    }
    let status = c.status();
    println!(
        "[{now:>9}] done: {} after {} checkpoints; restore point {:?}",
        status.state,
        status.counters.checkpoints_completed,
        c.restore_point()
    );
    ExitCode::SUCCESS
}
