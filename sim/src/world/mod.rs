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
use madsim::runtime::{Handle, Runtime};
use quiesce_core::trace::Step;
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
    /// The running hash of every core step: equal for two runs that took the same steps.
    pub hash: u64,
    /// What the run exercised.
    pub coverage: Coverage,
}

/// Runs `scenario` (with the known bug `planted`, if any) in a fresh runtime seeded with the
/// scenario's seed. Panics of the core or the world are the caller's to catch.
pub fn run(scenario: &Scenario, planted: Option<Planted>) -> RunReport {
    run_with(scenario, planted, false).0
}

/// Like [`run`], also keeping the controller's steps (to write its trace), which costs a
/// clone of every input: for re-running a failed seed, not for sweeps.
pub fn run_recorded(
    scenario: &Scenario,
    planted: Option<Planted>,
) -> (RunReport, Vec<Step<Input>>) {
    let (report, steps) = run_with(scenario, planted, true);
    (report, steps.unwrap_or_default())
}

fn run_with(
    scenario: &Scenario,
    planted: Option<Planted>,
    record: bool,
) -> (RunReport, Option<Vec<Step<Input>>>) {
    let scenario = Arc::new(scenario.clone());
    let runtime = Runtime::with_seed_and_config(scenario.seed, madsim::Config::default());
    let seed = scenario.seed;
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
            worker_inboxes: (0..workers).map(|_| Default::default()).collect(),
            heartbeats_lost_until: vec![Time(0); workers],
            failure: None,
            ended: None,
            steps: 0,
            hash: 0,
            coverage: Default::default(),
            controller_stalls: Vec::new(),
            recording: record.then(Vec::new),
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
        let report = RunReport {
            seed,
            verdict,
            simulated_ms: now.0,
            steps: s.steps,
            incarnations: s.incarnations.len() as u64,
            hash: s.hash,
            coverage: std::mem::take(&mut s.coverage),
        };
        (report, s.recording.take())
    })
}
