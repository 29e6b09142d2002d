//! How fast the simulator runs an explicit default scenario: 4 workers, 16 tasks (a source, a
//! keyed count, a transform and a two-phase-commit sink, 4 subtasks each, so records cross
//! workers), 10 simulated minutes of chaos with each seed's swarm faults, light data (one
//! record a second per source task), then a checkpoint stop; the same without data (the
//! control plane alone); and the same without faults, for scale. Reports seeds per second on
//! one core, simulated seconds per wall second, and core steps per second, beside the targets.
//! A measurement, not a test: it asserts nothing about speed.
//!
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim cargo bench -p quiesce-sim`
//! (`-- SEEDS` to change the number of seeds, 200 by default; `-- default`, `-- control` or
//! `-- no-faults` to run only those variants). Pin it to a core (`taskset -c 1`) on a shared
//! machine: the figures by thread CPU time then tell what one core does when it is not shared.

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "the simulator's bench runs only in the simulation build: RUSTFLAGS=\"--cfg madsim\" \
         CARGO_TARGET_DIR=target/sim cargo bench -p quiesce-sim"
    );
}

#[cfg(madsim)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200);
    let named: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-') && a.parse::<u64>().is_err())
        .map(String::as_str)
        .collect();
    bench::describe();
    for variant in bench::VARIANTS {
        if named.is_empty() || named.iter().any(|n| variant.name.starts_with(n)) {
            bench::run(&variant, seeds);
        }
    }
}

#[cfg(madsim)]
mod bench {
    use quiesce_core::{Config, Job, OperatorKind, StopMode, WorkerConfig};
    use quiesce_sim::scenario::{FaultPlan, Phases, Scenario, StopPlan, Workload};
    use quiesce_sim::world::{self, Verdict};
    use std::time::Instant;

    const CHAOS_MS: u64 = 600_000;
    const SETTLE_MS: u64 = 10_000;
    const READ_EVERY_MS: u64 = 1_000;

    /// One way of running the bench's scenario, and what it should reach.
    pub struct Variant {
        pub name: &'static str,
        /// Records per source task per read.
        batch: u32,
        faults: bool,
        /// Seeds per second on one core, and simulated seconds per wall second.
        target: Option<(f64, f64)>,
    }

    pub const VARIANTS: [Variant; 3] = [
        Variant {
            name: "default (swarm faults, light cross-worker data)",
            batch: 1,
            faults: true,
            target: Some((100.0, 60_000.0)),
        },
        Variant {
            name: "control plane only (swarm faults, no data)",
            batch: 0,
            faults: true,
            target: Some((250.0, 150_000.0)),
        },
        Variant {
            name: "no-faults (light cross-worker data, for scale)",
            batch: 1,
            faults: false,
            target: None,
        },
    ];

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

    /// Prints the scenario every variant runs, from the values it is built of.
    pub fn describe() {
        let job = job();
        let (c, w) = (Config::default(), WorkerConfig::default());
        println!(
            "scenario: {} workers, {} tasks (src -> keyed count -> map -> two-phase-commit sink, \
             4 subtasks each; the keyed count takes its input by key, so records cross workers)",
            job.workers,
            job.tasks().count()
        );
        println!(
            "  {} s of chaos, {} s settling, then a checkpoint stop; checkpoint every {} s, \
             heartbeat every {} s; per seed: its swarm of faults (kinds on and rates from the \
             seed) and a fault plan drawn over the chaos phase",
            CHAOS_MS / 1_000,
            SETTLE_MS / 1_000,
            c.checkpoint_interval_ms / 1_000,
            w.heartbeat_interval_ms / 1_000,
        );
        println!(
            "  data: one record per source task every {} ms (4 records/s); control plane: none. \
             Seeds 0.. in a row on this thread; per s of wall time and of this thread's CPU time",
            READ_EVERY_MS
        );
    }

    /// Seed `seed`'s swarm of faults (or none) on the explicit job, configuration and plan.
    fn scenario(seed: u64, v: &Variant) -> Scenario {
        let mut s = Scenario::from_seed(seed);
        if !v.faults {
            s.swarm = Default::default();
        }
        s.job = job();
        s.config = Config {
            jitter_seed: seed,
            ..Config::default()
        };
        s.worker_config = WorkerConfig::default();
        s.workload = Workload {
            read_every_ms: READ_EVERY_MS,
            batch: v.batch,
            end_of_input_ms: None,
        };
        s.phases = Phases {
            chaos_ms: CHAOS_MS,
            settle_ms: SETTLE_MS,
        };
        s.stops = StopPlan {
            requests: Vec::new(),
            closing: StopMode::Checkpoint,
            checkpoints: Vec::new(),
        };
        s.plan = FaultPlan::draw(seed, &s.swarm, &s.job, CHAOS_MS);
        s
    }

    /// This thread's CPU time so far, in seconds (Linux; `None` elsewhere). Read from /proc:
    /// inside the simulation the clocks are virtual.
    fn thread_cpu_s() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // The fields after the command name (which may hold spaces), from field 3 on.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // Clock ticks of 10 ms: USER_HZ is 100 on every Linux platform Rust supports.
        Some(ticks / 100.0)
    }

    pub fn run(v: &Variant, seeds: u64) {
        let (mut sim_ms, mut steps, mut failed, mut struck) = (0u64, 0u64, 0u64, 0u64);
        let cpu0 = thread_cpu_s();
        let started = Instant::now();
        for seed in 0..seeds {
            let report = world::run(&scenario(seed, v), None);
            sim_ms += report.simulated_ms;
            steps += report.steps;
            struck += report.coverage.faults.values().sum::<u64>();
            if let Verdict::Failed(f) = report.verdict {
                failed += 1;
                eprintln!("  seed {seed}: {f}");
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu0.and_then(|c0| thread_cpu_s().map(|c1| c1 - c0));
        let per = |n: u64| n as f64 / seeds.max(1) as f64;
        println!("{}:", v.name);
        println!(
            "  {seeds} seeds ({failed} failed), per seed {:.0} simulated s, {:.0} core steps, \
             {:.1} fault strikes (each message a link-delay fault slows counts)",
            per(sim_ms) / 1_000.0,
            per(steps),
            per(struck)
        );
        let figures = |label: &str, secs: f64| {
            let rate = seeds as f64 / secs;
            let speed = sim_ms as f64 / 1_000.0 / secs;
            let verdict = match v.target {
                Some((r, x)) => format!(
                    "   target >= {r:.0} seeds/s {}, >= {x:.0}x {}",
                    if rate >= r { "met" } else { "NOT met" },
                    if speed >= x { "met" } else { "NOT met" }
                ),
                None => String::new(),
            };
            println!(
                "  by {label:<4} {secs:6.2} s: {rate:6.1} seeds/s, {speed:7.0}x, \
                 {:.2} M core steps/s{verdict}",
                steps as f64 / secs / 1e6
            );
        };
        figures("wall", wall);
        match cpu {
            Some(cpu) if cpu > 0.0 => figures("cpu", cpu),
            _ => println!("  (no thread CPU time on this platform)"),
        }
    }
}
