//! `quiesce-specs`: explores the real controller over small configurations and prints, per
//! configuration, the states explored and whether every property held; with `--mutants`,
//! also checks that each known bug is caught by the property named for it.

use clap::Parser;
use quiesce_specs::explore::{
    Counterexample, Explorer, Options, CORE_PROPERTIES, EXPLORER_PROPERTIES,
};
use quiesce_specs::setups::{self, Setup};
use std::process::ExitCode;
use std::time::Duration;

/// Exhaustive exploration of the quiesce controller against its named properties.
#[derive(Parser, Debug)]
#[command(name = "quiesce-specs", version)]
struct Cli {
    /// Explore only this configuration (repeatable; `all` for every one). By default every
    /// configuration but `wide` is explored. See `--list`.
    #[arg(long = "config", value_name = "NAME")]
    configs: Vec<String>,
    /// Also explore each known bug re-introduced in the core (needs the `mutants` feature)
    /// and require that the property named for it catches it.
    #[arg(long)]
    mutants: bool,
    /// Give up on a configuration after this many distinct states; a search cut short fails.
    #[arg(long, value_name = "N", default_value_t = 8_000_000)]
    max_states: usize,
    /// Threads that expand states (default: the available cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Override the epoch bound of the selected configurations.
    #[arg(long, value_name = "N")]
    max_epoch: Option<u64>,
    /// Override the generation bound of the selected configurations.
    #[arg(long, value_name = "N")]
    max_generation: Option<u64>,
    /// Override the fault budget of the selected configurations (`none`: unbounded).
    #[arg(long, value_name = "N|none", value_parser = parse_budget)]
    max_faults: Option<Budget>,
    /// Override the stop-request budget of the selected configurations (`none`: unbounded).
    #[arg(long, value_name = "N|none", value_parser = parse_budget)]
    max_stops: Option<Budget>,
    /// Override the budget of checkpoints asked for on demand of the selected configurations
    /// (0: none is asked for).
    #[arg(long, value_name = "N")]
    max_requests: Option<u8>,
    /// Let time also pass by N ms short of the next deadline, so that inputs arrive between
    /// deadlines too (`none`: only at deadlines). Grows the state space quickly.
    #[arg(long, value_name = "N|none", value_parser = parse_tick)]
    tick_ms: Option<Tick>,
    /// List the configurations and the properties, then exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        list();
        return ExitCode::SUCCESS;
    }
    let selected = match select(&cli.configs) {
        Ok(mut selected) => {
            for setup in &mut selected {
                let b = &mut setup.bounds;
                b.max_epoch = cli.max_epoch.unwrap_or(b.max_epoch);
                b.max_generation = cli.max_generation.unwrap_or(b.max_generation);
                b.max_faults = cli.max_faults.map_or(b.max_faults, |Budget(n)| n);
                b.max_stops = cli.max_stops.map_or(b.max_stops, |Budget(n)| n);
                b.max_requests = cli.max_requests.unwrap_or(b.max_requests);
                b.tick_ms = cli.tick_ms.map_or(b.tick_ms, |Tick(n)| n);
            }
            selected
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.max_states == 0 {
        eprintln!("error: --max-states must be at least 1");
        return ExitCode::from(2);
    }
    if cli.mutants && !cfg!(feature = "mutants") {
        eprintln!(
            "error: --mutants needs the known bugs compiled in; rebuild with the `mutants` \
             feature:\n  cargo run -p quiesce-specs --release --features mutants -- --mutants"
        );
        return ExitCode::from(2);
    }
    let options = Options {
        max_states: cli.max_states,
        threads: cli.threads.unwrap_or(Options::default().threads).max(1),
        ..Options::default()
    };
    let mut failed = false;

    let properties = CORE_PROPERTIES.len() + EXPLORER_PROPERTIES.len();
    println!(
        "{:<14} {:<10} {:>10} {:>12} {:>6}  {:<24} {:>8}",
        "properties", "config", "states", "transitions", "depth", "result", "time"
    );
    for setup in &selected {
        let explorer = match Explorer::new(setup.clone()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: configuration {}: {e}", setup.name);
                return ExitCode::from(2);
            }
        };
        let outcome = explorer.run(&options, &mut |p| {
            eprintln!(
                "  {}: {} states, depth {}, frontier {}, {:.1}s",
                setup.name,
                p.states,
                p.depth,
                p.frontier,
                p.elapsed.as_secs_f64()
            )
        });
        let result = if !outcome.violations.is_empty() {
            failed = true;
            format!("VIOLATED ({})", outcome.violations.len())
        } else if outcome.complete {
            "ok".to_string()
        } else {
            // A truncated search proves nothing about the states it did not reach.
            failed = true;
            "INCOMPLETE (--max-states)".to_string()
        };
        println!(
            "{:<14} {:<10} {:>10} {:>12} {:>6}  {:<24} {:>8}",
            format!("all {properties}"),
            setup.name,
            outcome.states,
            outcome.transitions,
            outcome.depth,
            result,
            seconds(outcome.elapsed)
        );
        for cx in &outcome.violations {
            print_counterexample(cx);
        }
    }

    if cli.mutants {
        failed |= !run_mutants(&selected, &options);
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A budget of the bounds: a count, or none at all.
#[derive(Clone, Copy, Debug)]
struct Budget(Option<u8>);

fn parse_budget(s: &str) -> Result<Budget, String> {
    if s == "none" {
        return Ok(Budget(None));
    }
    s.parse::<u8>()
        .map(|n| Budget(Some(n)))
        .map_err(|e| format!("expected a count up to 255 or `none`: {e}"))
}

/// A tick: a duration, or none.
#[derive(Clone, Copy, Debug)]
struct Tick(Option<u64>);

fn parse_tick(s: &str) -> Result<Tick, String> {
    match s {
        "none" => Ok(Tick(None)),
        _ => match s.parse::<u64>() {
            Ok(0) => Err("a tick must be at least 1 ms".into()),
            Ok(n) => Ok(Tick(Some(n))),
            Err(e) => Err(format!("expected milliseconds or `none`: {e}")),
        },
    }
}

fn select(names: &[String]) -> Result<Vec<Setup>, String> {
    let names: Vec<String> = if names.is_empty() {
        setups::default_names()
            .into_iter()
            .map(String::from)
            .collect()
    } else if names.iter().any(|n| n == "all") {
        setups::all()
            .into_iter()
            .map(|s| s.name.to_string())
            .collect()
    } else {
        names.to_vec()
    };
    names
        .iter()
        .map(|n| {
            setups::named(n).ok_or_else(|| {
                let known: Vec<_> = setups::all().into_iter().map(|s| s.name).collect();
                format!(
                    "no configuration named `{n}`; known: {} (or `all`)",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn list() {
    println!("configurations:");
    for s in setups::all() {
        println!("  {:<10} {}", s.name, s.about);
        println!("             bounds: {:?}", s.bounds);
    }
    println!(
        "properties checked by the core ({}):",
        CORE_PROPERTIES.len()
    );
    for p in CORE_PROPERTIES {
        println!("  {p}");
    }
    println!(
        "properties checked by the explorer ({}):",
        EXPLORER_PROPERTIES.len()
    );
    for p in EXPLORER_PROPERTIES {
        println!("  {p}");
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn print_counterexample(cx: &Counterexample) {
    println!("  {}: {}", cx.violation.property, cx.violation.detail);
    for (i, step) in cx.trace.iter().enumerate() {
        println!("    {:>3}. {step}", i + 1);
    }
}

/// States of the shallow search that looks for a known bug in every configuration before any
/// is searched whole.
#[cfg(feature = "mutants")]
const SHALLOW_STATES: usize = 100_000;

/// Explores every known bug on the selected configurations, smallest first, until its
/// property catches it: first a shallow search of each, then whole ones. Returns whether
/// every one was caught.
#[cfg(feature = "mutants")]
fn run_mutants(selected: &[Setup], options: &Options) -> bool {
    use quiesce_core::controller::mutants::Mutant;
    use quiesce_specs::explore::{Outcome, Until};
    println!();
    let mut all_caught = true;
    for mutant in Mutant::ALL {
        let property = mutant.property();
        let mut other: Vec<String> = Vec::new();
        let mut caught: Option<(&Setup, Outcome)> = None;
        // A bug shows within a few steps where its configuration reaches it at all: a shallow
        // search of every configuration first, so that one out of reach of the first
        // configurations does not wait for their whole searches; then the whole searches.
        let passes = [SHALLOW_STATES.min(options.max_states), options.max_states];
        'passes: for max_states in passes {
            for setup in selected {
                let explorer = match Explorer::new(setup.clone()) {
                    Ok(e) => e.with_mutant(mutant),
                    Err(e) => {
                        eprintln!("error: configuration {}: {e}", setup.name);
                        return false;
                    }
                };
                let options = Options {
                    until: Until::Violated(property),
                    max_states,
                    ..*options
                };
                let outcome = explorer.run(&options, &mut |_| {});
                if outcome.violation_of(property).is_some() {
                    caught = Some((setup, outcome));
                    break 'passes;
                }
                other.extend(
                    outcome
                        .violations
                        .iter()
                        .map(|v| v.violation.property.to_string()),
                );
            }
        }
        match caught {
            Some((setup, outcome)) => {
                // Checked just above: the outcome has this property's counterexample.
                let cx = outcome.violation_of(property).expect("caught");
                println!(
                    "revert {:<34} caught by  {:<28} (trace: {} steps; {}, {} states, {})",
                    mutant.name(),
                    property.name(),
                    cx.trace.len(),
                    setup.name,
                    outcome.states,
                    seconds(outcome.elapsed)
                );
                for (i, step) in cx.trace.iter().enumerate() {
                    println!("    {:>3}. {step}", i + 1);
                }
            }
            None => {
                all_caught = false;
                other.sort_unstable();
                other.dedup();
                println!(
                    "revert {:<34} NOT caught by {property} (violated instead: {})",
                    mutant.name(),
                    if other.is_empty() {
                        "nothing".to_string()
                    } else {
                        other.join(", ")
                    }
                );
            }
        }
    }
    all_caught
}

#[cfg(not(feature = "mutants"))]
fn run_mutants(_: &[Setup], _: &Options) -> bool {
    // main refuses --mutants without the feature before getting here.
    false
}
