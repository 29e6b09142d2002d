//! The shrinking driver (simulation build): runs the candidates, bounded by a number of runs,
//! and makes the smaller trace.

use super::{shrink_steps, Shrinker, Size, TraceFile, Tried};
use crate::oracle::{Check, Class, Failure};
use crate::planted::Planted;
use crate::runner::{recorded_trace, run_scenario};
use crate::tracefile::{controller_setup, replay_text, write};
use crate::world::Verdict;
use quiesce_core::trace::Outcome;

/// How much shrinking may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Simulated runs, the first (which checks that the trace's run still fails) included.
    pub max_runs: u64,
    /// Replays of the controller's steps (microseconds each).
    pub max_replays: u64,
}

/// A run shrunk.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The failure both the original and the smaller run end in (class and property).
    pub failure: Failure,
    /// Simulated runs tried.
    pub runs: u64,
    /// Replays of the controller's steps tried.
    pub replays: u64,
    /// Whether the run budget ran out before shrinking was done.
    pub spent: bool,
    /// The size before.
    pub before: Size,
    /// The size after.
    pub after: Size,
    /// The edits kept, in order.
    pub kept: Vec<String>,
    /// Whether the controller's steps were cut: the trace then holds the controller only,
    /// fed inputs no whole run need send.
    pub controller_only: bool,
    /// The smaller trace.
    pub text: String,
}

/// Shrinks the failing run traced in `text`; `progress` gets a line for people per run.
pub fn shrink(
    text: &str,
    limits: Limits,
    mut progress: impl FnMut(&str),
) -> Result<Shrunk, String> {
    let file = TraceFile::parse(text)?;
    let planted = match &file.mutant {
        None => None,
        Some(name) => Some(Planted::from_name(name).ok_or_else(|| {
            format!("the trace plants {name:?}, a bug this binary does not know")
        })?),
    };
    let first = run_scenario(file.scenario.clone(), planted);
    let failure = match first.outcome {
        Err(f) => f,
        Ok(state) => {
            return Err(format!(
                "the trace's scenario ran again and passed ({state:?}): nothing to shrink"
            ))
        }
    };
    if let Some(p) = file.property.filter(|&p| failure.property != p) {
        return Err(format!(
            "the trace's footer says {p}, but its scenario ran again fails otherwise: {failure}"
        ));
    }
    progress(&format!(
        "run 1: the trace's scenario fails again: {failure}"
    ));
    let target = (failure.class, failure.property);
    let (mut runs, mut steps) = (1, first.steps);
    let shrinker = Shrinker::new(file.scenario.clone(), |what: &str, candidate| {
        if runs >= limits.max_runs {
            return Tried::OutOfBudget;
        }
        runs += 1;
        let r = run_scenario(candidate.clone(), planted);
        let failed_alike = matches!(&r.outcome, Err(f) if (f.class, f.property) == target);
        // A run that fails alike but later would make the trace longer: not smaller.
        let same = failed_alike && r.steps <= steps;
        let verdict = match &r.outcome {
            _ if same => {
                steps = r.steps;
                "still fails: kept".to_string()
            }
            _ if failed_alike => format!("fails alike, but in {} core steps, not {steps}", r.steps),
            Ok(state) => format!("passes ({state:?})"),
            Err(f) => format!("fails otherwise ({}/{})", f.class, f.property),
        };
        progress(&format!(
            "run {runs}/{}: {what}: {verdict}",
            limits.max_runs
        ));
        if same {
            Tried::Fails
        } else {
            Tried::Passes
        }
    })
    .run();
    let (best, kept, spent) = (
        shrinker.best().clone(),
        shrinker.kept().to_vec(),
        shrinker.spent(),
    );
    let recorded = recorded_trace(&best, planted)?;
    runs += 1;
    let mut failure = match recorded.report.verdict {
        Verdict::Failed(f) if (f.class, f.property) == target => f,
        other => {
            return Err(format!(
                "the smaller scenario, recorded, ended otherwise: {other:?}"
            ))
        }
    };
    let mut out = recorded.text;
    let (mut replays, mut controller_only) = (0, false);
    if let (Class::Correctness, Check::Property(property)) = target {
        let setup = controller_setup(&best, planted);
        match shrink_steps(&setup, &recorded.steps, target.1, limits.max_replays) {
            Some(s) => {
                replays = s.replays;
                progress(&format!(
                    "{} replays: the controller's steps {} -> {}",
                    s.replays,
                    recorded.steps.len(),
                    s.steps.len()
                ));
                if s.steps.len() < recorded.steps.len() {
                    let outcome = Outcome::CheckFailed {
                        property,
                        detail: s.failure.detail.clone(),
                    };
                    out = write(setup, &best, planted, &s.steps, outcome)?;
                    failure = s.failure;
                    controller_only = true;
                }
            }
            None => progress("the controller's steps alone do not break it: they stay as run"),
        }
    }
    replay_text(&out).map_err(|e| format!("the smaller trace does not replay: {e}"))?;
    Ok(Shrunk {
        failure,
        runs,
        replays,
        spent,
        before: file.size,
        after: Size::of(&best, &out),
        kept,
        controller_only,
        text: out,
    })
}
