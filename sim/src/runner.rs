//! Sweeps: seeds run one after the other, each in a fresh runtime on a fresh thread, with a
//! line per failure and a summary; the exit code tells the most severe class of failure.
//!
//! Exit codes: 0 every seed passed; 2 the command line was wrong, or the binary cannot
//! simulate (built without `--cfg madsim`); 3 a crash (a panic, or the step budget ran out);
//! 4 a liveness failure; 5 a correctness failure (a safety invariant or a data guarantee);
//! 6 nondeterminism; 7 a needless escalation. With several classes, the most severe decides:
//! 5 > 4 > 6 > 7 > 3.

use crate::coverage::Coverage;
use crate::oracle::{Class, Failure};
use crate::planted::Planted;
use quiesce_core::State;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Core steps a run may take at most: catches livelocks in which simulated time stands still.
pub const STEP_BUDGET: u64 = 5_000_000;

/// What a sweep runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// The first seed.
    pub start_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// A known bug to switch on.
    pub planted: Option<Planted>,
    /// Whether the opt-in fault kinds are drawn.
    pub opt_in_faults: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Run every seed twice and compare the runs' hashes.
    pub check_determinism: bool,
    /// Which share of the seeds this machine runs.
    pub shard: Shard,
}

/// Shard `index` (0-based) of `count`: the seeds whose place in the sweep is `index` modulo
/// `count`. The shards of a sweep split it with nothing run twice and nothing left out,
/// whatever each machine's `--jobs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which one, from 0.
    pub index: u64,
    /// Of how many.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parses `K/N` (1-based K, as people count shards: `1/4` to `4/4`).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not K/N"))?;
        let k: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("{k:?} is not a number"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: K must be 1 to N"));
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }
}

impl Sweep {
    /// How many seeds this shard of the sweep runs.
    pub fn len(&self) -> u64 {
        let Shard { index, count } = self.shard;
        self.seeds.saturating_sub(index).div_ceil(count.max(1))
    }

    /// Whether this shard runs no seed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `j`-th seed this shard runs.
    pub fn seed(&self, j: u64) -> u64 {
        let place = self.shard.index + j * self.shard.count.max(1);
        self.start_seed.wrapping_add(place)
    }

    /// The command that runs `seed` alone, as this sweep ran it.
    pub fn reproduce(&self, seed: u64) -> String {
        let mut cmd = format!("sim/quiesce-sim run --seeds 1 --start-seed {seed}");
        if let Some(p) = self.planted {
            cmd.push_str(&format!(" --mutant {}", p.cli_name()));
        }
        if self.opt_in_faults {
            cmd.push_str(" --opt-in-faults");
        }
        if self.check_determinism {
            cmd.push_str(" --check-determinism");
        }
        cmd
    }
}

/// How one seed went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// The controller's terminal state, or the failure.
    pub outcome: Result<State, Failure>,
    /// Simulated time, in ms.
    pub simulated_ms: u64,
    /// Core steps.
    pub steps: u64,
    /// The running hash of every core step.
    pub hash: u64,
    /// What it exercised.
    pub coverage: Coverage,
}

/// What a sweep found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Failed seeds per class.
    pub failed: BTreeMap<Class, u64>,
    /// Passed seeds per terminal state.
    pub ended: BTreeMap<String, u64>,
    /// Simulated time over all seeds, in ms.
    pub simulated_ms: u64,
    /// Core steps over all seeds.
    pub steps: u64,
    /// Wall-clock time of the sweep.
    pub wall: Duration,
    /// What the seeds exercised, together.
    pub coverage: Coverage,
}

impl Summary {
    /// Counts one seed.
    pub fn add(&mut self, r: &SeedResult) {
        self.seeds += 1;
        self.simulated_ms += r.simulated_ms;
        self.steps += r.steps;
        self.coverage.merge(&r.coverage);
        match &r.outcome {
            Ok(state) => {
                self.passed += 1;
                *self.ended.entry(format!("{state:?}")).or_default() += 1;
            }
            Err(f) => *self.failed.entry(f.class).or_default() += 1,
        }
    }

    /// The sweep's exit code: 0, or the code of the most severe class that failed.
    pub fn exit_code(&self) -> u8 {
        Class::most_severe(self.failed.keys().copied()).map_or(0, Class::exit_code)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: u64 = self.failed.values().sum();
        write!(
            f,
            "{} seeds: {} passed, {failed} failed",
            self.seeds, self.passed
        )?;
        if failed > 0 {
            let classes: Vec<String> = self
                .failed
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            write!(f, " ({})", classes.join(", "))?;
        }
        let wall_s = self.wall.as_secs_f64().max(1e-9);
        let sim_s = self.simulated_ms as f64 / 1_000.0;
        write!(
            f,
            " | {sim_s:.0} sim-s in {wall_s:.2} s = {:.0}x | {:.1} seeds/s | {:.2} M core steps/s",
            sim_s / wall_s,
            self.seeds as f64 / wall_s,
            self.steps as f64 / wall_s / 1e6
        )?;
        let ended: Vec<String> = self.ended.iter().map(|(s, n)| format!("{s} {n}")).collect();
        if !ended.is_empty() {
            write!(f, "\nended: {}", ended.join(", "))?;
        }
        Ok(())
    }
}

/// Runs one seed on a fresh thread (so that nothing of one runtime's thread-local state leaks
/// into the next), turning a panic into a crash failure. Only the run's hash is kept.
#[cfg(madsim)]
pub fn run_seed(sweep: &Sweep, seed: u64) -> SeedResult {
    use crate::scenario::{Options, Scenario};
    let options = Options {
        opt_in_faults: sweep.opt_in_faults,
    };
    run_scenario(Scenario::generate(seed, options), sweep.planted)
}

/// Runs `scenario` (drawn from a seed, or edited by `shrink`) like [`run_seed`].
#[cfg(madsim)]
pub fn run_scenario(scenario: crate::scenario::Scenario, planted: Option<Planted>) -> SeedResult {
    let (report, _) = run_onto(scenario, planted, false);
    SeedResult {
        seed: report.seed,
        outcome: match report.verdict {
            crate::world::Verdict::Passed(state) => Ok(state),
            crate::world::Verdict::Failed(f) => Err(f),
        },
        simulated_ms: report.simulated_ms,
        steps: report.steps,
        hash: report.hash,
        coverage: report.coverage,
    }
}

/// Runs `scenario` on a fresh thread onto a fresh tape that keeps its text if `keep_text`;
/// the tape ends with the verdict's line (after a panic too: the report then says so), not
/// yet with its footer.
#[cfg(madsim)]
fn run_onto(
    scenario: crate::scenario::Scenario,
    planted: Option<Planted>,
    keep_text: bool,
) -> (crate::world::RunReport, crate::tracefile::Tape) {
    use crate::tracefile::{EnvEvent, Tape};
    use crate::world::{self, RunReport, Verdict};
    use quiesce_core::{Property, Time};
    let seed = scenario.seed;
    let tape = Tape::new(&scenario, planted.map(Planted::cli_name), keep_text);
    let on = tape.clone();
    let joined = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || world::run_on(&scenario, planted, &on))
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|p| panic_text(p.as_ref())));
    let report = joined.unwrap_or_else(|text| {
        let failure = Failure::new(
            Class::Crash,
            Property::NoPanic,
            Time(0),
            format!("panic: {text}"),
        );
        // The machines' lines up to the panic are on the tape; the verdict ends them.
        let event = EnvEvent::Failed {
            failure: failure.clone(),
        };
        tape.env(Time(0), event);
        RunReport {
            seed,
            verdict: Verdict::Failed(failure),
            simulated_ms: 0,
            steps: 0,
            incarnations: 0,
            hash: tape.hash(),
            coverage: Coverage::default(),
        }
    });
    (report, tape)
}

/// Runs `seed` a second time (on another fresh thread, after whatever ran before) and turns a
/// run that took other steps into a nondeterminism failure.
#[cfg(madsim)]
pub fn recheck(sweep: &Sweep, first: SeedResult) -> SeedResult {
    use quiesce_core::Time;
    let again = run_seed(sweep, first.seed);
    if again.hash == first.hash && again.outcome == first.outcome {
        return first;
    }
    let detail = format!(
        "two runs differ: hash {:016x} then {:016x}, {} then {} core steps",
        first.hash, again.hash, first.steps, again.steps
    );
    SeedResult {
        outcome: Err(Failure::new(
            Class::Nondeterminism,
            crate::oracle::Check::Deterministic,
            Time(first.simulated_ms.min(again.simulated_ms)),
            detail,
        )),
        ..first
    }
}

#[cfg(madsim)]
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs every seed of `sweep` on `jobs` threads (each seed in a runtime of its own), handing
/// each result to `each` in seed order, whatever order they finish in: the output of a sweep
/// does not depend on `jobs`.
#[cfg(madsim)]
pub fn run(sweep: &Sweep, jobs: usize, mut each: impl FnMut(&SeedResult)) -> Summary {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<(u64, SeedResult)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sweep.len() || stop.load(Ordering::Relaxed) {
                    return;
                }
                let seed = sweep.seed(i);
                let mut result = run_seed(sweep, seed);
                if sweep.check_determinism {
                    result = recheck(sweep, result);
                }
                // The receiver outlives every sender: it is dropped after the scope.
                let _ = tx.send((i, result));
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut expected = 0;
        let mut done = false;
        for (i, result) in rx {
            pending.insert(i, result);
            while let Some(result) = pending.remove(&expected) {
                expected += 1;
                if done {
                    continue;
                }
                summary.add(&result);
                each(&result);
                if sweep.fail_fast && result.outcome.is_err() {
                    done = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    });
    summary.wall = started.elapsed();
    summary
}

/// Runs `result`'s seed again, keeping its trace's text, and writes the trace to
/// `dir/seed-S.jsonl`. The re-run must take the very steps the sweep's run took: the same
/// number of core steps and the same trace hash (the sweep kept nothing but these), or
/// nothing is written.
#[cfg(madsim)]
pub fn write_trace(
    sweep: &Sweep,
    result: &SeedResult,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    use crate::scenario::{Options, Scenario};
    let options = Options {
        opt_in_faults: sweep.opt_in_faults,
    };
    let scenario = Scenario::generate(result.seed, options);
    let recorded = recorded_trace(&scenario, sweep.planted)?;
    let again = &recorded.report;
    if (again.steps, again.hash) != (result.steps, result.hash) {
        return Err(format!(
            "the recorded re-run took other steps than the sweep's run ({} core steps hashing \
             to {:016x}, then {} hashing to {:016x}): the seed does not run deterministically",
            result.steps, result.hash, again.steps, again.hash
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("seed-{}.jsonl", result.seed));
    std::fs::write(&path, recorded.text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A run recorded, with its trace.
#[cfg(madsim)]
#[derive(Clone, Debug)]
pub struct Recorded {
    /// How the run went (a panic is a crash failure).
    pub report: crate::world::RunReport,
    /// The controller's steps.
    pub steps: Vec<quiesce_core::trace::Step<quiesce_core::Input>>,
    /// The trace file's text.
    pub text: String,
}

/// Runs `scenario` (on a fresh thread) keeping its trace: every machine, the environment,
/// the verdict and the footer.
#[cfg(madsim)]
pub fn recorded_trace(
    scenario: &crate::scenario::Scenario,
    planted: Option<Planted>,
) -> Result<Recorded, String> {
    use crate::oracle::Check;
    use crate::world::Verdict;
    use quiesce_core::trace::Outcome;
    let (report, tape) = run_onto(scenario.clone(), planted, true);
    let outcome = match &report.verdict {
        Verdict::Failed(Failure {
            property: Check::Property(property),
            detail,
            ..
        }) => Outcome::CheckFailed {
            property: *property,
            detail: detail.clone(),
        },
        // A check of the simulator's own, or a pass: the verdict's line says which.
        _ => Outcome::Ended,
    };
    let text = tape
        .finish(outcome)?
        .ok_or("the re-run's trace kept no text")?;
    let steps = crate::tracefile::controller_steps(&text)?;
    Ok(Recorded {
        report,
        steps,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{Property, Time};

    fn result(seed: u64, outcome: Result<State, Failure>) -> SeedResult {
        SeedResult {
            seed,
            outcome,
            simulated_ms: 60_000,
            steps: 1_000,
            hash: 7,
            coverage: Coverage::default(),
        }
    }

    #[test]
    fn the_summary_counts_and_picks_the_most_severe_exit_code() {
        let mut s = Summary::default();
        s.add(&result(0, Ok(State::Stopped)));
        assert_eq!(s.exit_code(), 0);
        let crash = Failure::new(Class::Crash, Property::NoPanic, Time(0), "boom");
        s.add(&result(1, Err(crash)));
        assert_eq!(s.exit_code(), 3);
        let late = Failure::new(
            Class::Liveness,
            Property::StopTerminatesWithinBound,
            Time(9),
            "late",
        );
        s.add(&result(2, Err(late)));
        assert_eq!(s.exit_code(), 4);
        assert_eq!((s.seeds, s.passed, s.steps), (3, 1, 3_000));
        let text = s.to_string();
        assert!(
            text.starts_with("3 seeds: 1 passed, 2 failed (crash 1, liveness 1)"),
            "{text}"
        );
    }

    #[test]
    fn the_reproducing_command_names_the_seed_and_the_options() {
        let sweep = Sweep {
            start_seed: 0,
            seeds: 100,
            planted: None,
            opt_in_faults: true,
            fail_fast: false,
            check_determinism: false,
            shard: Shard::default(),
        };
        assert_eq!(
            sweep.reproduce(42),
            "sim/quiesce-sim run --seeds 1 --start-seed 42 --opt-in-faults"
        );
    }

    #[test]
    fn shards_split_a_sweep_with_nothing_twice_and_nothing_left_out() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        for (seeds, count) in [(10, 3), (9, 3), (2, 4), (0, 2), (7, 1)] {
            let mut all = Vec::new();
            for index in 0..count {
                let sweep = Sweep {
                    start_seed: 100,
                    seeds,
                    planted: None,
                    opt_in_faults: false,
                    fail_fast: false,
                    check_determinism: false,
                    shard: Shard { index, count },
                };
                all.extend((0..sweep.len()).map(|j| sweep.seed(j)));
            }
            all.sort_unstable();
            assert_eq!(
                all,
                (100..100 + seeds).collect::<Vec<_>>(),
                "{seeds} in {count}"
            );
        }
    }
}
