//! `quiesce-sim`: print a seed's scenario, or sweep seeds through the simulated world.

use clap::{Parser, Subcommand};
use quiesce_sim::scenario::{Options, Scenario};
use std::process::ExitCode;

/// Exit code of a command line that cannot be carried out as asked (clap's own for usage).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "quiesce-sim",
    version,
    about = "Deterministic simulation of quiesce"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the scenario a seed simulates: job, configuration, workload, stops, faults.
    Scenario {
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Also draw the fault kinds that break the links' guarantees (loss, reorder).
        #[arg(long)]
        opt_in_faults: bool,
        /// Print it as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Run seeds through the simulated world (simulation build only).
    Run {
        /// How many seeds.
        #[arg(long)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start_seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scenario {
            seed,
            opt_in_faults,
            json,
        } => {
            let s = Scenario::generate(seed, Options { opt_in_faults });
            if json {
                // A scenario is plain data: it always serialises.
                let text = serde_json::to_string_pretty(&s).expect("a scenario serialises");
                println!("{text}");
            } else {
                print!("{s}");
            }
            ExitCode::SUCCESS
        }
        Command::Run { .. } => {
            eprintln!(
                "{}",
                if cfg!(madsim) {
                    "quiesce-sim: the simulated world is not built yet"
                } else {
                    NOT_SIMULATION
                }
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// What a normal build says when asked to simulate.
const NOT_SIMULATION: &str = "quiesce-sim: this binary was built without `--cfg madsim` and \
cannot simulate; run `sim/quiesce-sim run ...`, which builds it with \
RUSTFLAGS=\"--cfg madsim\" in target/sim";
