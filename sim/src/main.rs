//! `quiesce-sim`: print a seed's scenario, or sweep seeds through the simulated world.

use clap::{Parser, Subcommand};
use quiesce_sim::planted::Planted;
use quiesce_sim::runner::{Shard, Sweep};
use quiesce_sim::scenario::{Options, Scenario};
use quiesce_sim::tracefile::Only;
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
    ///
    /// Exit codes: 0 every seed passed; 2 usage, or a binary built without `--cfg madsim`;
    /// 3 crash (a panic, or the step budget ran out); 4 liveness; 5 correctness;
    /// 6 nondeterminism; 7 needless escalation. With several classes the most severe decides:
    /// 5 > 4 > 6 > 7 > 3.
    Run {
        /// How many seeds.
        #[arg(long)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start_seed: u64,
        /// Switch on a known bug of the core by name (see `quiesce-sim mutants`).
        #[arg(long)]
        mutant: Option<String>,
        /// Also draw the fault kinds that break the links' guarantees (loss, reorder).
        #[arg(long)]
        opt_in_faults: bool,
        /// Stop at the first failing seed.
        #[arg(long)]
        fail_fast: bool,
        /// Print a line for every seed, passed or not.
        #[arg(long)]
        verbose: bool,
        /// Run every seed twice and fail (exit 6) if the two runs differ.
        #[arg(long)]
        check_determinism: bool,
        /// Print what the seeds exercised: transitions, events, refusals, faults that struck.
        #[arg(long)]
        coverage: bool,
        /// Write the trace of every failing seed into this directory, as `seed-S.jsonl`: the
        /// scenario, every machine's setup and steps, what the environment did, the verdict.
        /// The seed is run again, recording; the re-run must take the same steps and hash the
        /// same as the sweep's run, or no trace is written.
        #[arg(long)]
        traces: Option<std::path::PathBuf>,
        /// Run only shard K of N of the seeds (`--shard 2/4`): N machines with K = 1..N split a
        /// sweep with nothing run twice.
        #[arg(long, value_parser = Shard::parse)]
        shard: Option<Shard>,
        /// Seeds run at once, each on a thread of its own (results are reported in seed order
        /// whatever the count).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// List the known bugs `--mutant` can switch on, with the property that must catch each.
    Mutants,
    /// Replay a trace (written by `run --traces DIR`) from the file alone, without the
    /// simulator: every machine is rebuilt from its setup line and driven through its steps,
    /// every output checked against the recorded one, and the footer's hash against the
    /// lines. Prints the decisions in order: time, machine, its state after, the decision,
    /// and the input or deadline it answered.
    ///
    /// A line that does not parse, a format this build does not read, or an output that
    /// differs is refused with its line number (exit 1).
    Replay {
        /// The trace file.
        trace: std::path::PathBuf,
        /// Which machines to rebuild: `all`, `controller`, or `worker:W/G` (worker slot W of
        /// generation G). Every line is still read and hashed.
        #[arg(long, default_value = "all", value_parser = Only::parse)]
        machine: Only,
    },
    /// Shrink a failing run's trace (simulation build only): fault kinds off one by one, then
    /// the fault plan and the environment's choices, then (for a failure of the controller's
    /// invariants) the controller's input steps; every edit is kept only if the run still
    /// fails the same property (same class) in no more core steps. Writes the smaller trace,
    /// checks that it replays, and says how much smaller it is.
    ///
    /// Exit codes: 0 shrunk (or nothing could go); 1 the trace's run no longer fails as its
    /// footer says, or the smaller trace could not be written; 2 usage, or a binary built
    /// without `--cfg madsim`.
    Shrink {
        /// The trace file (written by `run --traces DIR`).
        trace: std::path::PathBuf,
        /// Where to write the smaller trace (default: next to it, as NAME.shrunk.jsonl).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Simulated runs to try at most (each a whole run of a candidate scenario).
        #[arg(long, default_value_t = 500)]
        max_runs: u64,
        /// Replays of the controller's steps to try at most (microseconds each).
        #[arg(long, default_value_t = 20_000)]
        max_replays: u64,
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
        Command::Replay { trace, machine } => {
            let text = match std::fs::read_to_string(&trace) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("quiesce-sim: {}: {e}", trace.display());
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            match quiesce_sim::tracefile::replay_machines(&text, machine) {
                Ok(replayed) => {
                    print!("{}", replayed.timeline_text());
                    println!("{}", replayed.summary());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("quiesce-sim: {}: {e}", trace.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Shrink {
            trace,
            out,
            max_runs,
            max_replays,
        } => {
            let out = out.unwrap_or_else(|| shrunk_path(&trace));
            shrink_or_refuse(&trace, &out, max_runs, max_replays)
        }
        Command::Mutants => {
            let all = Planted::all();
            if all.is_empty() {
                eprintln!(
                    "quiesce-sim: built without the `mutants` feature: no known bug to plant"
                );
            }
            for p in all {
                println!("{:<40} {}", p.cli_name(), p.property());
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            seeds,
            start_seed,
            mutant,
            opt_in_faults,
            fail_fast,
            verbose,
            check_determinism,
            coverage,
            traces,
            shard,
            jobs,
        } => {
            let planted = match mutant.as_deref().map(|m| (m, Planted::from_name(m))) {
                None => None,
                Some((_, Some(p))) => Some(p),
                Some((name, None)) => {
                    eprintln!("quiesce-sim: no known bug named {name:?}; `quiesce-sim mutants` lists them");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let sweep = Sweep {
                start_seed,
                seeds,
                planted,
                opt_in_faults,
                fail_fast,
                check_determinism,
                shard: shard.unwrap_or_default(),
            };
            let report = Report {
                verbose,
                coverage,
                traces,
            };
            sweep_or_refuse(&sweep, jobs, &report)
        }
    }
}

/// What a sweep prints beyond its failures and summary.
#[cfg_attr(not(madsim), allow(dead_code))]
struct Report {
    /// A line for every seed.
    verbose: bool,
    /// The coverage table.
    coverage: bool,
    /// Where to write failing seeds' traces.
    traces: Option<std::path::PathBuf>,
}

/// What a normal build says when asked to simulate.
#[cfg(not(madsim))]
const NOT_SIMULATION: &str = "quiesce-sim: this binary was built without `--cfg madsim` and \
cannot simulate; run `sim/quiesce-sim run ...`, which builds it with \
RUSTFLAGS=\"--cfg madsim\" in target/sim";

/// NAME.shrunk.jsonl beside the trace NAME.jsonl.
fn shrunk_path(trace: &std::path::Path) -> std::path::PathBuf {
    let stem = trace
        .file_stem()
        .map_or("trace".into(), |s| s.to_string_lossy());
    trace.with_file_name(format!("{stem}.shrunk.jsonl"))
}

#[cfg(not(madsim))]
fn shrink_or_refuse(_: &std::path::Path, _: &std::path::Path, _: u64, _: u64) -> ExitCode {
    eprintln!("{NOT_SIMULATION}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(madsim)]
fn shrink_or_refuse(
    trace: &std::path::Path,
    out: &std::path::Path,
    max_runs: u64,
    max_replays: u64,
) -> ExitCode {
    use quiesce_sim::shrink::{shrink, Limits};
    let text = match std::fs::read_to_string(trace) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("quiesce-sim: {}: {e}", trace.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let limits = Limits {
        max_runs,
        max_replays,
    };
    let shrunk = match shrink(&text, limits, |line| eprintln!("shrink: {line}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quiesce-sim: {}: {e}", trace.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(out, &shrunk.text) {
        eprintln!("quiesce-sim: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    print!("{}", shrink_report(&shrunk, out));
    ExitCode::SUCCESS
}

#[cfg(madsim)]
fn shrink_report(s: &quiesce_sim::shrink::Shrunk, out: &std::path::Path) -> String {
    let (b, a) = (&s.before, &s.after);
    let pct = |before: u64, after: u64| 100 * after / before.max(1);
    let mut text = format!(
        "still {}/{}: {}\n",
        s.failure.class, s.failure.property, s.failure.detail
    );
    text += &format!(
        "tried {} runs{} and {} replays\n",
        s.runs,
        if s.spent { " (the budget ran out)" } else { "" },
        s.replays
    );
    text += &format!("fault kinds on:    {} -> {}\n", b.kinds, a.kinds);
    text += &format!("planned faults:    {} -> {}\n", b.planned, a.planned);
    text += &format!("controller steps:  {} -> {}\n", b.steps, a.steps);
    text += &format!(
        "trace:             {} -> {} lines, {} -> {} bytes ({} %)\n",
        b.lines,
        a.lines,
        b.bytes,
        a.bytes,
        pct(b.bytes, a.bytes)
    );
    if s.controller_only {
        text += "the controller's steps were cut in pure replay: the trace holds the controller \
                 fed only the inputs that break the property\n";
    }
    let path = out.display();
    text += &format!("wrote {path}; it replays (quiesce-sim replay {path})\n");
    text
}

#[cfg(not(madsim))]
fn sweep_or_refuse(_: &Sweep, _: usize, _: &Report) -> ExitCode {
    eprintln!("{NOT_SIMULATION}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(madsim)]
fn sweep_or_refuse(sweep: &Sweep, jobs: usize, report: &Report) -> ExitCode {
    use quiesce_sim::scenario::seconds;
    let mut progress = Progress::new(sweep.len());
    let summary = quiesce_sim::runner::run(sweep, jobs, |r| {
        if let (true, Ok(state)) = (report.verbose, &r.outcome) {
            let (at, steps) = (seconds(r.simulated_ms), r.steps);
            progress.println(format!(
                "pass seed {} {state:?} at {at}, {steps} core steps",
                r.seed
            ));
        }
        if let Err(f) = &r.outcome {
            let mut text = format!(
                "FAIL seed {} {f}\n  reproduce: {}",
                r.seed,
                sweep.reproduce(r.seed)
            );
            if let Some(dir) = &report.traces {
                match quiesce_sim::runner::write_trace(sweep, r, dir) {
                    Ok(path) => {
                        let path = path.display();
                        text += &format!("\n  trace:     {path} (quiesce-sim replay {path})");
                    }
                    Err(e) => text += &format!("\n  trace:     not written: {e}"),
                }
            }
            progress.println(text);
        }
        progress.seed_done(r.outcome.is_err());
    });
    progress.finish();
    if report.coverage {
        print!("{}", summary.coverage);
    }
    println!("{summary}");
    ExitCode::from(summary.exit_code())
}

/// A sweep's progress on stderr: a bar on a terminal, a plain line per tenth of the sweep
/// otherwise (readable in a CI log). Lines about seeds go to stdout, above the bar.
#[cfg(madsim)]
enum Progress {
    Bar {
        bar: indicatif::ProgressBar,
        failed: u64,
    },
    Lines {
        total: u64,
        done: u64,
        failed: u64,
    },
}

#[cfg(madsim)]
impl Progress {
    fn new(total: u64) -> Progress {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                total,
                done: 0,
                failed: 0,
            };
        }
        let bar = indicatif::ProgressBar::new(total);
        // The template is a constant known to parse.
        let style = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
        )
        .expect("a valid progress template");
        bar.set_style(style);
        Progress::Bar { bar, failed: 0 }
    }

    fn println(&self, text: String) {
        match self {
            Progress::Bar { bar, .. } => bar.suspend(|| println!("{text}")),
            Progress::Lines { .. } => println!("{text}"),
        }
    }

    fn seed_done(&mut self, failed_now: bool) {
        match self {
            Progress::Bar { bar, failed } => {
                bar.inc(1);
                if failed_now {
                    *failed += 1;
                    bar.set_message(format!("{failed} failed"));
                }
            }
            Progress::Lines {
                total,
                done,
                failed,
            } => {
                *done += 1;
                *failed += u64::from(failed_now);
                let tenth = |n: u64| n * 10 / *total;
                if *total >= 100 && tenth(*done) != tenth(*done - 1) {
                    eprintln!("progress: {done}/{total} seeds, {failed} failed");
                }
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}
