//! The world on madsim (simulation build only): madsim is the executor, the clock and the node
//! manager; one node runs the controller (with the scheduler, the stores and the user), and
//! each worker incarnation gets a fresh node of its own. A hang is `pause`/`resume`, a crash is
//! `kill`. Messages go over the simulator's own links ([`crate::env::link`]), so every
//! environment decision comes from the scenario's seeded streams; madsim's random generator
//! only orders tasks that are ready at the same instant.
//!
//! The supervisor (the future `block_on` runs) plays the nemesis: it carries out the fault
//! plan, heals the environment when the chaos phase ends, and waits for the controller to end,
//! for a failure, or for the run's last deadline.

mod controller_node;
mod scheduler;
mod shared;
mod supervisor;
mod wait;
mod worker_node;

use crate::coverage::Coverage;
use crate::env::{CheckpointStore, Effects, Links, MetadataStore, Partitions, SinkLedger};
use crate::oracle::Failure;
use crate::planted::Planted;
use crate::scenario::Scenario;
use crate::tracefile::{EnvEvent, Tape};
use madsim::runtime::{Handle, Runtime};
use quiesce_core::trace::{Outcome, Step};
use quiesce_core::{Input, State, Time};
use shared::{Shared, World};
use std::sync::Arc;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held; the controller ended in this state.
    Passed(State),
    /// A check failed.
    Failed(Failure),
}

/// What a run reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub verdict: Verdict,
    /// Simulated time at the end, in ms.
    pub simulated_ms: u64,
    /// Core steps (controller and workers).
    pub steps: u64,
    /// Worker incarnations started.
    pub incarnations: u64,
    /// The run's hash over its trace's lines (every machine's setup and steps, every
    /// environment line, the verdict; see [`Tape`]): equal for two runs that took the same
    /// steps.
    pub hash: u64,
    /// What the run exercised.
    pub coverage: Coverage,
}

/// Runs `scenario` (with the known bug `planted`, if any) in a fresh runtime seeded with the
/// scenario's seed, keeping only its trace's hash. Panics of the core or the world are the
/// caller's to catch.
pub fn run(scenario: &Scenario, planted: Option<Planted>) -> RunReport {
    let mutant = planted.map(Planted::cli_name);
    run_on(scenario, planted, &Tape::new(scenario, mutant, false))
}

/// Like [`run`], also keeping the controller's steps (read back from the run's trace, kept
/// whole for this): for tests and failed seeds, not for sweeps.
pub fn run_recorded(
    scenario: &Scenario,
    planted: Option<Planted>,
) -> (RunReport, Vec<Step<Input>>) {
    let tape = Tape::new(scenario, planted.map(Planted::cli_name), true);
    let report = run_on(scenario, planted, &tape);
    // The tape keeps its text; every line of it is plain data that serialises, and reads back
    // into the types it was written from.
    let text = tape.finish(Outcome::Ended).ok().flatten();
    let text = text.expect("the run's trace, kept whole");
    let steps = crate::tracefile::controller_steps(&text).expect("a trace reads back");
    (report, steps)
}

/// Like [`run`], recording onto `trace` (made for this scenario and bug): the caller keeps
/// its handle, to write the trace out, or to end it after a panic.
pub fn run_on(scenario: &Scenario, planted: Option<Planted>, trace: &Tape) -> RunReport {
    let scenario = Arc::new(scenario.clone());
    let runtime = Runtime::with_seed_and_config(scenario.seed, madsim::Config::default());
    let seed = scenario.seed;
    let trace = trace.clone();
    runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let workers = scenario.job.workers as usize;
        let world = World::new(Shared {
            scenario: scenario.clone(),
            planted,
            t0: madsim::time::Instant::now(),
            links: Links::new(seed),
            effects: Effects::new(seed),
            checkpoints: CheckpointStore::default(),
            metadata: MetadataStore::default(),
            ledger: SinkLedger::default(),
            partitions: Partitions::default(),
            incarnations: Vec::new(),
            killed: Default::default(),
            controller: tx,
            controller_inbox: Default::default(),
            controller_alarm: Default::default(),
            worker_inboxes: (0..workers).map(|_| Default::default()).collect(),
            heartbeats_lost_until: vec![Time(0); workers],
            failure: None,
            ended: None,
            steps: 0,
            trace: trace.clone(),
            coverage: Default::default(),
            controller_stalls: Vec::new(),
        });
        let node = Handle::current().create_node().name("controller").build();
        let controller = node.spawn(controller_node::run(world.clone(), rx));
        supervisor::run(&world, &scenario, controller, node.id()).await;
        let now = world.now();
        let mut s = world.lock();
        let struck = s.effects.struck().clone();
        for (kind, n) in struck {
            *s.coverage.faults.entry(kind).or_default() += n;
        }
        let verdict = match (&s.failure, s.ended) {
            (Some(f), _) => Verdict::Failed(f.clone()),
            (None, Some((state, _))) => Verdict::Passed(state),
            (None, None) => Verdict::Failed(supervisor::unended(&scenario, now)),
        };
        let event = match &verdict {
            Verdict::Passed(state) => EnvEvent::Passed { state: *state },
            Verdict::Failed(failure) => EnvEvent::Failed {
                failure: failure.clone(),
            },
        };
        trace.env(now, event);
        RunReport {
            seed,
            verdict,
            simulated_ms: now.0,
            steps: s.steps,
            incarnations: s.incarnations.len() as u64,
            hash: trace.hash(),
            coverage: std::mem::take(&mut s.coverage),
        }
    })
}
