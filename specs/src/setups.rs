//! The small configurations the explorer covers: a job, a controller configuration and the
//! bounds that keep the state space finite.

use quiesce_core::{
    Config, Edge, Job, Operator, OperatorId, OperatorKind, RestartStrategy, TaskId, WorkerId,
};

/// One configuration to explore exhaustively.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The name the command line selects it by.
    pub name: &'static str,
    /// One line on what it covers.
    pub about: &'static str,
    pub job: Job,
    pub config: Config,
    pub bounds: Bounds,
}

/// What keeps an exploration finite. A state beyond a bound is still checked; only its
/// successors are not explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Periodic checkpoints of a later epoch are not explored further. The final checkpoint
    /// of a checkpoint stop is exempt, so every stop is followed to its end.
    pub max_epoch: u64,
    /// Generations after this one are not explored further.
    pub max_generation: u64,
    /// Whether workers send heartbeats (else heartbeat loss is out of reach: the timeout is
    /// set beyond every other deadline).
    pub heartbeats: bool,
    /// Faults injected in one run: task, checkpoint, metadata store, worker and scheduler
    /// failures. Stale messages are not faults: they are refused.
    /// `None`: no budget beyond the others.
    pub max_faults: Option<u8>,
    /// Stop requests in one run (the TTL's stop is not one of them).
    /// `None`: every stronger mode may follow (at most four requests are accepted).
    pub max_stops: Option<u8>,
    /// Checkpoints asked for on demand and accepted in one run (0: none is asked for). Past
    /// the budget, a request is still sent while another waits, and must be refused.
    pub max_requests: u8,
    /// Whether sources may report the end of their input (the job then finishes through a
    /// final checkpoint).
    pub end_of_input: bool,
    /// If set, time may also pass by this much short of the next deadline, so that inputs
    /// arrive between deadlines (else they arrive only at deadlines).
    pub tick_ms: Option<u64>,
    /// Whether the environment sends the inputs that must be refused: messages of the
    /// previous generation, acks of an old epoch, cleanups never asked for.
    pub stale: bool,
    /// Whether workers' messages and the store's answers may also arrive late: at the
    /// earliest deadline, handled without a `handle_timeout` first.
    pub late: bool,
}

/// A heartbeat timeout that never expires within an exploration.
const NEVER_MS: u64 = 1 << 40;

/// Durations chosen so that the deadlines interleave: the checkpoint timeout outlasts two
/// intervals, a stop outlasts a checkpoint interval, a kill is retried once.
fn base_config() -> Config {
    Config {
        checkpoint_interval_ms: 10,
        min_pause_ms: 5,
        checkpoint_timeout_ms: 20,
        tolerable_checkpoint_failures: 1,
        retained_checkpoints: 1,
        cleanup_timeout_ms: 5,
        stop_timeout_ms: 10,
        force_timeout_ms: 5,
        force_retries: 1,
        force_retry_backoff_ms: 5,
        heartbeat_timeout_ms: NEVER_MS,
        scheduling_timeout_ms: 10,
        restart_strategy: RestartStrategy::FixedDelay {
            delay_ms: 5,
            max_restarts: 1,
        },
        healthy_duration_ms: NEVER_MS,
        ttl_ms: None,
        jitter_seed: 1,
    }
}

const BASE_BOUNDS: Bounds = Bounds {
    max_epoch: 3,
    max_generation: 2,
    max_faults: None,
    max_stops: None,
    max_requests: 0,
    end_of_input: true,
    tick_ms: None,
    heartbeats: false,
    stale: true,
    late: false,
};

fn operator(name: &str, kind: OperatorKind, parallelism: u32) -> Operator {
    Operator {
        name: name.into(),
        kind,
        parallelism,
    }
}

/// A chain of operators `source -> [map ->] sink(two-phase commit)`.
fn chain(name: &str, parallelism: u32, with_map: bool, workers: u32) -> Job {
    let mut operators = vec![operator("src", OperatorKind::Source, parallelism)];
    if with_map {
        operators.push(operator("map", OperatorKind::Transform, parallelism));
    }
    operators.push(operator(
        "sink",
        OperatorKind::Sink {
            two_phase_commit: true,
        },
        parallelism,
    ));
    let edges = (1..operators.len() as u32)
        .map(|to| Edge {
            from: OperatorId(to - 1),
            to: OperatorId(to),
        })
        .collect();
    Job {
        name: name.into(),
        operators,
        edges,
        workers,
    }
}

/// Every configuration, smallest first. The default run explores all but `wide`.
pub fn all() -> Vec<Setup> {
    vec![
        Setup {
            name: "on-demand",
            about: "source(1) -> sink(2pc,1) on 1 worker; checkpoints asked for on demand \
                    (2 accepted; duplicates, a third while one waits, and any outside Running \
                    refused); 2 epochs, 1 fault, no stop request (the end of input leaves \
                    Running instead)",
            job: chain("on-demand", 1, false, 1),
            config: base_config(),
            bounds: Bounds {
                max_epoch: 2,
                max_faults: Some(1),
                max_stops: Some(0),
                max_requests: 2,
                ..BASE_BOUNDS
            },
        },
        Setup {
            name: "tiny",
            about: "source(1) -> sink(2pc,1) on 1 worker; 2 epochs, 1 restart, 2 stop \
                    requests; inputs also late (at a deadline, no timeout first)",
            job: chain("tiny", 1, false, 1),
            config: base_config(),
            bounds: Bounds {
                max_epoch: 2,
                // A stop and one escalation: with late inputs, unbounded requests grow the
                // space past 8M states, and longer chains are explored without late inputs.
                max_stops: Some(2),
                late: true,
                ..BASE_BOUNDS
            },
        },
        Setup {
            name: "heartbeat",
            about: "source(1) -> sink(2pc,1) on 1 worker; heartbeats sent and lost \
                    (timeout 12 ms); 1 epoch, no end of input",
            job: chain("heartbeat", 1, false, 1),
            config: Config {
                heartbeat_timeout_ms: 12,
                ..base_config()
            },
            bounds: Bounds {
                max_epoch: 1,
                heartbeats: true,
                end_of_input: false,
                ..BASE_BOUNDS
            },
        },
        Setup {
            name: "recovery",
            about: "source(1) -> sink(2pc,1) on 1 worker; exponential backoff with jitter, \
                    2 restarts, healthy reset, TTL; 1 epoch",
            job: chain("recovery", 1, false, 1),
            config: Config {
                restart_strategy: RestartStrategy::ExponentialDelay {
                    initial_delay_ms: 3,
                    max_delay_ms: 5,
                    jitter_percent: 50,
                    max_restarts: 2,
                },
                healthy_duration_ms: 14,
                ttl_ms: Some(60),
                ..base_config()
            },
            bounds: Bounds {
                max_epoch: 1,
                max_generation: 3,
                ..BASE_BOUNDS
            },
        },
        Setup {
            name: "pipeline",
            about: "source(2) -> sink(2pc,2) on 2 workers (2 workers x 2 tasks); 1 epoch, \
                    1 fault, 1 stop request, no end of input",
            job: chain("pipeline", 2, false, 2),
            config: base_config(),
            bounds: Bounds {
                max_epoch: 1,
                max_faults: Some(1),
                max_stops: Some(1),
                end_of_input: false,
                ..BASE_BOUNDS
            },
        },
        Setup {
            name: "wide",
            about: "source(2) -> map(2) -> sink(2pc,2) on 2 workers (2 workers x 3 tasks); \
                    1 epoch, no fault, 1 stop request, no end of input",
            job: chain("wide", 2, true, 2),
            config: base_config(),
            bounds: Bounds {
                max_epoch: 1,
                max_faults: Some(0),
                max_stops: Some(1),
                end_of_input: false,
                ..BASE_BOUNDS
            },
        },
    ]
}

/// The configurations explored when none is named.
pub fn default_names() -> Vec<&'static str> {
    all()
        .into_iter()
        .map(|s| s.name)
        .filter(|&n| n != "wide")
        .collect()
}

/// The configuration called `name`.
pub fn named(name: &str) -> Option<Setup> {
    all().into_iter().find(|s| s.name == name)
}

/// Every task of `job` with the worker that hosts it.
pub fn placed_tasks(job: &Job) -> Vec<(WorkerId, TaskId)> {
    job.tasks()
        .map(|t| {
            // Tasks of a job are dealt round-robin to its workers; every task has one.
            let w = job.worker_of(t).expect("a task of the job has a worker");
            (w, t)
        })
        .collect()
}
