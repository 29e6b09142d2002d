//! How fast the simulator runs an explicit default scenario: 4 workers, 16 tasks (a source, a
//! keyed count, a transform and a two-phase-commit sink, 4 subtasks each, so records cross
//! workers), 10 simulated minutes of chaos with each seed's swarm faults, light data (one
//! record a second per source task), then a checkpoint stop; the same without data (the
//! control plane alone); and the same without faults, for scale. Reports seeds per second on one core, simulated seconds per wall
//! second, and core steps per second. A measurement, not a test: it asserts nothing about
//! speed.
//!
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim cargo bench -p quiesce-sim`
//! (`-- SEEDS` to change the number of seeds, 200 by default).

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "the simulator's bench runs only in the simulation build: RUSTFLAGS=\"--cfg madsim\" \
         CARGO_TARGET_DIR=target/sim cargo bench -p quiesce-sim"
    );
}

#[cfg(madsim)]
fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let runs = [
        ("default (light data)", 1, true),
        ("control plane only", 0, true),
        ("light data, no faults", 1, false),
    ];
    for (name, batch, faults) in runs {
        bench::run(name, batch, faults, seeds);
    }
}

#[cfg(madsim)]
mod bench {
    use quiesce_core::{Config, Job, OperatorKind, StopMode, WorkerConfig};
    use quiesce_sim::scenario::{FaultPlan, Phases, Scenario, StopPlan, Workload};
    use quiesce_sim::world::{self, Verdict};
    use std::time::Instant;

    const CHAOS_MS: u64 = 600_000;

    fn job() -> Job {
        Job::builder("bench", 4)
            .source("src", 4)
            .operator("count", OperatorKind::KeyedCount, 4)
            .transform("map", 4)
            .sink("out", 4)
            .edge("src", "count")
            .edge("count", "map")
            .edge("map", "out")
            .build()
            .expect("the bench's job is valid")
    }

    /// Seed `seed`'s swarm of faults (or none) on the explicit job, configuration and plan.
    fn scenario(seed: u64, batch: u32, faults: bool) -> Scenario {
        let mut s = Scenario::from_seed(seed);
        if !faults {
            s.swarm = Default::default();
        }
        s.job = job();
        s.config = Config {
            jitter_seed: seed,
            ..Config::default()
        };
        s.worker_config = WorkerConfig::default();
        s.workload = Workload {
            read_every_ms: 1_000,
            batch,
            end_of_input_ms: None,
        };
        s.phases = Phases {
            chaos_ms: CHAOS_MS,
            settle_ms: 10_000,
        };
        s.stops = StopPlan {
            requests: Vec::new(),
            closing: StopMode::Checkpoint,
            checkpoints: Vec::new(),
        };
        s.plan = FaultPlan::draw(seed, &s.swarm, &s.job, CHAOS_MS);
        s
    }

    pub fn run(name: &str, batch: u32, faults: bool, seeds: u64) {
        let (mut sim_ms, mut steps, mut failed) = (0u64, 0u64, 0u64);
        let started = Instant::now();
        for seed in 0..seeds {
            let report = world::run(&scenario(seed, batch, faults), None);
            sim_ms += report.simulated_ms;
            steps += report.steps;
            if let Verdict::Failed(f) = report.verdict {
                failed += 1;
                eprintln!("  seed {seed}: {f}");
            }
        }
        let wall = started.elapsed().as_secs_f64();
        println!(
            "{name}: {seeds} seeds ({failed} failed) in {wall:.2} s: {:.1} seeds/s, {:.0}x, \
             {:.2} M core steps/s, {:.0} core steps/seed",
            seeds as f64 / wall,
            sim_ms as f64 / 1_000.0 / wall,
            steps as f64 / wall / 1e6,
            steps as f64 / seeds as f64
        );
    }
}
