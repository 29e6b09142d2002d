//! Oracles as values: a failed check is a [`Failure`] with a class, the property it breaks, a
//! detail and the simulated time, and it ends the run.
//!
//! The checks themselves are pure functions of what the world saw, so that they can be tested
//! without running a world: the controller's invariants after each step ([`controller_step`]),
//! fencing at a worker's shell ([`fencing`]), the stop bound ([`StopClock`]), the recovery
//! bound ([`RecoveryClock`]), and what the sinks must hold when the controller ends
//! ([`end_of_run`]).

use crate::env::{CheckpointStore, Partitions, SinkLedger};
use quiesce_core::controller::{invariants, Controller};
use quiesce_core::worker::{Key, Partition, Record, TaskSnapshot, WorkerInput, WorkerRejected};
use quiesce_core::{
    Config, Epoch, Event, Generation, Input, Job, OperatorId, OperatorKind, Property, Reason,
    Rejected, RestorePoint, State, Status, TaskId, Time, Worker,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of failure: each has its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A panic, or a run that exhausted its step budget without simulated time passing.
    Crash,
    /// Something that must happen within a bound did not.
    Liveness,
    /// A safety invariant or a data guarantee broke.
    Correctness,
    /// The same seed ran differently twice.
    Nondeterminism,
    /// A stop escalated by a timeout, or a kill went unconfirmed, though no fault had struck:
    /// a needless escalation (every check of safety and liveness may still hold).
    NeedlessEscalation,
}

impl Class {
    /// Every class, in order of severity (most severe first).
    pub const BY_SEVERITY: [Class; 5] = [
        Class::Correctness,
        Class::Liveness,
        Class::Nondeterminism,
        Class::NeedlessEscalation,
        Class::Crash,
    ];

    /// The exit code of a sweep whose most severe failure is of this class.
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Crash => 3,
            Class::Liveness => 4,
            Class::Correctness => 5,
            Class::Nondeterminism => 6,
            Class::NeedlessEscalation => 7,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Crash => "crash",
            Class::Liveness => "liveness",
            Class::Correctness => "correctness",
            Class::Nondeterminism => "nondeterminism",
            Class::NeedlessEscalation => "needless-escalation",
        }
    }

    /// The most severe of `classes`, if any.
    pub fn most_severe(classes: impl IntoIterator<Item = Class>) -> Option<Class> {
        let classes: Vec<Class> = classes.into_iter().collect();
        Class::BY_SEVERITY.into_iter().find(|c| classes.contains(c))
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a failure breaks: a property the core names, or one of the simulator's own checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A property shared by the spec, the core's invariants and the planted bugs.
    Property(Property),
    /// A run is a function of its seed: running it again takes the same steps.
    Deterministic,
    /// A run takes at most [`crate::runner::STEP_BUDGET`] core steps.
    StepBudget,
    /// The core accepts every setup a scenario draws.
    SetupAccepted,
    /// A stop ends without a timeout or an unconfirmed kill unless a fault explains it.
    NoNeedlessEscalation,
}

impl From<Property> for Check {
    fn from(p: Property) -> Check {
        Check::Property(p)
    }
}

impl PartialEq<Property> for Check {
    fn eq(&self, other: &Property) -> bool {
        *self == Check::Property(*other)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Property(p) => f.pad(p.name()),
            Check::Deterministic => f.pad("deterministic"),
            Check::StepBudget => f.pad("step_budget"),
            Check::SetupAccepted => f.pad("setup_accepted"),
            Check::NoNeedlessEscalation => f.pad("no_needless_escalation"),
        }
    }
}

/// A failed check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub class: Class,
    /// What it breaks.
    pub property: Check,
    /// What happened, in one line.
    pub detail: String,
    /// When (simulated).
    pub at: Time,
}

impl Failure {
    /// A failure of `class` breaking `property` at `at`.
    pub fn new(
        class: Class,
        property: impl Into<Check>,
        at: Time,
        detail: impl Into<String>,
    ) -> Failure {
        Failure {
            class,
            property: property.into(),
            detail: detail.into(),
            at,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} at {}: {}",
            self.class,
            self.property,
            crate::scenario::seconds(self.at.0),
            self.detail
        )
    }
}

/// The controller's invariants after a step: [`invariants::check_input`] after an input,
/// [`invariants::check`] after a timeout (`input` is `None`). `before` is the status before the
/// step.
pub fn controller_step(
    before: &Status,
    input: Option<(&Input, &Result<(), Rejected>)>,
    after: &Controller,
    at: Time,
) -> Result<(), Failure> {
    let checked = match input {
        Some((input, result)) => invariants::check_input(before, input, result, after),
        None => invariants::check(Some(before), after),
    };
    checked.map_err(|v| Failure::new(Class::Correctness, v.property, at, v.detail))
}

/// The generation an input to a worker claims, if it claims one.
pub fn claimed_generation(input: &WorkerInput) -> Option<Generation> {
    match input {
        WorkerInput::Command(m) => Some(m.generation),
        WorkerInput::Data { generation, .. } => Some(*generation),
        _ => None,
    }
}

/// Fencing at a worker's shell: an input of another generation than the worker's must be
/// refused.
pub fn fencing(
    own: Generation,
    input: &WorkerInput,
    result: &Result<(), WorkerRejected>,
    at: Time,
) -> Result<(), Failure> {
    match claimed_generation(input) {
        Some(g) if g != own && result.is_ok() => Err(Failure::new(
            Class::Correctness,
            Property::StaleGenerationInert,
            at,
            format!("a worker of generation {own} accepted {input:?} of generation {g}"),
        )),
        _ => Ok(()),
    }
}

/// Timers before inputs at a worker: `late` took an input at or past its deadline; `timely`
/// is the same worker that fired its due timers first and then took the same input. Both
/// must answer alike, emit the same outputs, and end in the same state.
pub fn timers_before_inputs(
    late: &Worker,
    mut timely: Worker,
    result: &Result<(), WorkerRejected>,
    timely_result: &Result<(), WorkerRejected>,
    at: Time,
) -> Result<(), Failure> {
    let mut late = late.clone();
    let drain = |w: &mut Worker| std::iter::from_fn(|| w.poll_output()).collect::<Vec<_>>();
    let (late_out, timely_out) = (drain(&mut late), drain(&mut timely));
    if result == timely_result && late_out == timely_out && late == timely {
        return Ok(());
    }
    Err(Failure::new(
        Class::Correctness,
        Property::TimersBeforeInputs,
        at,
        format!(
            "a late input ({result:?}, {} outputs) did not act as if the due timers fired first \
             ({timely_result:?}, {} outputs)",
            late_out.len(),
            timely_out.len()
        ),
    ))
}

/// Needless escalation: an escalation a timeout forced (a stop that timed out, a final
/// checkpoint that timed out) or a kill left unconfirmed, in a run where no fault has struck
/// yet. Without a fault every effect answers within tens of milliseconds, far below every
/// timeout a scenario draws, so nothing should have had to wait that long.
pub fn needless_escalation(event: &Event, fault_struck: bool, at: Time) -> Result<(), Failure> {
    if fault_struck {
        return Ok(());
    }
    let what = match event {
        Event::Transition {
            reason:
                reason @ (Reason::StopTimedOut
                | Reason::FinalCheckpointTimedOut
                | Reason::KillUnconfirmed { .. }),
            to,
            ..
        } => format!("{to:?} for {reason:?}"),
        Event::KillRetried { attempt, .. } => format!("kill asked again (attempt {attempt})"),
        _ => return Ok(()),
    };
    Err(Failure::new(
        Class::NeedlessEscalation,
        Check::NoNeedlessEscalation,
        at,
        format!("{what}, though no fault had struck"),
    ))
}

/// The stop bound: once a stop is accepted (or the time to live expires), the controller must
/// be in a terminal state within [`quiesce_core::Config::stop_bound_ms`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopClock {
    stopped_at: Option<Time>,
}

impl StopClock {
    /// A stop was accepted at `at` (the first one counts).
    pub fn stop(&mut self, at: Time) {
        self.stopped_at.get_or_insert(at);
    }

    /// When the first stop was accepted.
    pub fn stopped_at(&self) -> Option<Time> {
        self.stopped_at
    }

    /// When the controller must be terminal, if a stop was accepted.
    pub fn deadline(&self, bound_ms: u64) -> Option<Time> {
        self.stopped_at.map(|t| t.plus_ms(bound_ms))
    }

    /// Fails if at `now` the controller is not terminal past the deadline.
    pub fn check(&self, now: Time, terminal: bool, bound_ms: u64) -> Result<(), Failure> {
        match (self.stopped_at, self.deadline(bound_ms)) {
            (Some(at), Some(deadline)) if !terminal && now > deadline => Err(Failure::new(
                Class::Liveness,
                Property::StopTerminatesWithinBound,
                now,
                format!(
                    "stopped at {} and not terminal {} ms later (bound {bound_ms} ms)",
                    crate::scenario::seconds(at.0),
                    now.ms_since(at)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The recovery bound: a job that enters Recovering leaves it within the force bound (the old
/// generation's kill) plus the longest restart delay, and a generation being scheduled is
/// running (or given up) within the scheduling timeout. So after a failure the job is Running
/// again, or terminal, within the restart policy's bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryClock {
    due: Option<(State, Time, Time)>,
}

impl RecoveryClock {
    /// The controller entered `to` at `at`.
    pub fn enter(&mut self, to: State, at: Time, config: &Config) {
        let bound_ms = match to {
            State::Recovering => config
                .force_bound_ms()
                .saturating_add(config.restart_strategy.max_delay_ms()),
            State::Scheduling => config.scheduling_timeout_ms,
            _ => {
                self.due = None;
                return;
            }
        };
        self.due = Some((to, at, at.plus_ms(bound_ms)));
    }

    /// When the controller entered its current recovery state.
    pub fn since(&self) -> Option<Time> {
        self.due.map(|(_, since, _)| since)
    }

    /// When the controller must have left its current recovery state, `extra_ms` later than
    /// the bound (the time the controller itself stood still).
    pub fn deadline(&self, extra_ms: u64) -> Option<Time> {
        self.due.map(|(_, _, t)| t.plus_ms(extra_ms))
    }

    /// Fails if at `now` the controller is still in that state past its deadline (plus
    /// `extra_ms`).
    pub fn check(&self, now: Time, state: State, extra_ms: u64) -> Result<(), Failure> {
        let deadline = self.deadline(extra_ms);
        match (self.due, deadline) {
            (Some((waiting, _, _)), Some(deadline)) if state == waiting && now > deadline => {
                Err(Failure::new(
                    Class::Liveness,
                    Property::RecoveryResolves,
                    now,
                    format!(
                        "still {state:?} {} ms past its bound",
                        now.ms_since(deadline)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Keyed state at a completed checkpoint: each keyed task's snapshot holds exactly the counts
/// per key that the records below the checkpoint's source offsets imply (those of the
/// partitions routed to it). Records have keys `offset % Key::PER_PARTITION`, so the counts
/// follow from the offsets alone.
pub fn keyed_state(
    job: &Job,
    epoch: Epoch,
    checkpoints: &CheckpointStore,
    at: Time,
) -> Result<(), Failure> {
    let fail = |detail: String| Failure::new(Class::Correctness, Property::ExactlyOnce, at, detail);
    let mut offsets = Vec::new();
    for task in job.tasks() {
        if job.operator(task.operator).map(|o| o.kind) == Some(OperatorKind::Source) {
            match checkpoints.get(epoch, task) {
                Some(TaskSnapshot::Source { next_offset }) => offsets.push((task, *next_offset)),
                _ => {
                    return Err(fail(format!(
                        "checkpoint {epoch} has no snapshot of {task}"
                    )))
                }
            }
        }
    }
    for task in job.tasks() {
        let Some(op) = job.operator(task.operator) else {
            continue;
        };
        if op.kind != OperatorKind::KeyedCount {
            continue;
        }
        let held: BTreeMap<Key, u64> = match checkpoints.get(epoch, task) {
            Some(TaskSnapshot::Keyed { counts }) => counts.iter().copied().collect(),
            _ => {
                return Err(fail(format!(
                    "checkpoint {epoch} has no keyed snapshot of {task}"
                )))
            }
        };
        let mut implied = BTreeMap::new();
        for &(source, next) in &offsets {
            let partition = Partition::of_source(source);
            if partition.route(op.parallelism) != task.subtask
                || !upstream(job, source.operator, task.operator)
            {
                continue;
            }
            let per = u64::from(Key::PER_PARTITION);
            for bucket in 0..Key::PER_PARTITION {
                let n = next / per + u64::from(u64::from(bucket) < next % per);
                if n > 0 {
                    implied.insert(Key { partition, bucket }, n);
                }
            }
        }
        if held != implied {
            let differs = implied
                .iter()
                .find(|(k, n)| held.get(k) != Some(n))
                .map(|(k, n)| format!("{k:?}: {n} implied, {:?} held", held.get(k)))
                .unwrap_or_else(|| "keys no record implies".to_string());
            return Err(fail(format!(
                "keyed state of {task} at checkpoint {epoch} is not what its records imply: {differs}"
            )));
        }
    }
    Ok(())
}

/// Whether a path of edges leads from operator `from` to operator `to`.
fn upstream(job: &Job, from: OperatorId, to: OperatorId) -> bool {
    let mut stack = vec![to];
    let mut seen = vec![false; job.operators.len()];
    while let Some(op) = stack.pop() {
        for input in job.inputs_of(op) {
            if input == from {
                return true;
            }
            if let Some(s) = seen.get_mut(input.0 as usize).filter(|s| !**s) {
                *s = true;
                stack.push(input);
            }
        }
    }
    false
}

/// What the sinks must hold when the controller ends, given where it ended.
///
/// - If its last completed checkpoint is fully committed (`restore.committed`), every
///   two-phase-commit sink holds every record below that checkpoint's source offsets.
/// - If it ended Finished, every such sink holds every record up to each partition's end.
///
/// Records committed twice are caught earlier, as they happen ([`SinkLedger::commit`]).
pub fn end_of_run(
    job: &Job,
    state: State,
    restore: Option<RestorePoint>,
    checkpoints: &CheckpointStore,
    partitions: &Partitions,
    ledger: &SinkLedger,
    at: Time,
) -> Result<(), Failure> {
    let sources: Vec<TaskId> = job
        .tasks()
        .filter(|t| {
            job.operator(t.operator)
                .is_some_and(|o| o.kind == OperatorKind::Source)
        })
        .collect();
    let missing =
        |detail: String| Failure::new(Class::Correctness, Property::ExactlyOnce, at, detail);
    if let Some(r) = restore.filter(|r| r.committed) {
        for &task in &sources {
            let next = match checkpoints.get(r.epoch, task) {
                Some(TaskSnapshot::Source { next_offset }) => *next_offset,
                _ => {
                    return Err(missing(format!(
                        "checkpoint {} (committed) has no source snapshot of {task}",
                        r.epoch
                    )))
                }
            };
            sinks_hold(job, ledger, task, next)
                .map_err(|d| missing(format!("{d}, below checkpoint {} (committed)", r.epoch)))?;
        }
    }
    if state == State::Finished {
        for &task in &sources {
            let Some(end) = partitions.end_of(task) else {
                return Err(missing(format!(
                    "Finished, but {task}'s partition never ended"
                )));
            };
            sinks_hold(job, ledger, task, end)
                .map_err(|d| missing(format!("{d}, though the job Finished")))?;
        }
    }
    Ok(())
}

/// Whether every two-phase-commit sink holds every record of `source`'s partition below
/// `next`; if not, which record is missing where.
fn sinks_hold(job: &Job, ledger: &SinkLedger, source: TaskId, next: u64) -> Result<(), String> {
    let partition = Partition::of_source(source);
    for (i, op) in job.operators.iter().enumerate() {
        if op.kind
            != (OperatorKind::Sink {
                two_phase_commit: true,
            })
        {
            continue;
        }
        let sink = OperatorId(i as u32);
        if let Some(offset) = (0..next).find(|&o| {
            !ledger.has(
                sink,
                Record {
                    partition,
                    offset: o,
                },
            )
        }) {
            return Err(format!(
                "sink {} never committed {partition}@{offset}",
                op.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{Command, Epoch, StopJobMode, ToWorker};
    use quiesce_core::{Job, OperatorId};

    #[test]
    fn the_most_severe_class_decides_the_exit_code() {
        assert_eq!(Class::most_severe([]), None);
        let all = [
            Class::Crash,
            Class::NeedlessEscalation,
            Class::Nondeterminism,
            Class::Liveness,
            Class::Correctness,
        ];
        assert_eq!(Class::most_severe(all), Some(Class::Correctness));
        assert_eq!(
            Class::most_severe([Class::Crash, Class::Nondeterminism]),
            Some(Class::Nondeterminism)
        );
        assert_eq!(
            Class::most_severe([Class::Crash, Class::NeedlessEscalation]),
            Some(Class::NeedlessEscalation)
        );
        let mut codes: Vec<u8> = all.iter().map(|c| c.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Class::BY_SEVERITY.len(), "distinct exit codes");
        assert!(codes.iter().all(|&c| c != 0 && c != 1 && c != 2));
    }

    #[test]
    fn fencing_fails_only_when_another_generation_is_accepted() {
        let input = WorkerInput::Command(ToWorker {
            generation: Generation(2),
            command: Command::Stop {
                mode: StopJobMode::Immediate,
            },
        });
        let refused = Err(WorkerRejected::WrongGeneration {
            got: Generation(2),
            current: Generation(1),
        });
        assert_eq!(fencing(Generation(1), &input, &refused, Time(5)), Ok(()));
        assert_eq!(fencing(Generation(2), &input, &Ok(()), Time(5)), Ok(()));
        let failure = fencing(Generation(1), &input, &Ok(()), Time(5)).unwrap_err();
        assert_eq!(failure.property, Property::StaleGenerationInert);
        assert_eq!(failure.class, Class::Correctness);
        let local = WorkerInput::SnapshotDone {
            task: quiesce_core::TaskId {
                operator: quiesce_core::OperatorId(0),
                subtask: 0,
            },
            epoch: Epoch(1),
        };
        assert_eq!(fencing(Generation(1), &local, &Ok(()), Time(5)), Ok(()));
    }

    #[test]
    fn the_stop_clock_fails_past_the_bound_only() {
        let mut clock = StopClock::default();
        assert_eq!(
            clock.check(Time(1_000_000), false, 10),
            Ok(()),
            "no stop yet"
        );
        clock.stop(Time(100));
        clock.stop(Time(500));
        assert_eq!(
            clock.deadline(1_000),
            Some(Time(1_100)),
            "the first stop counts"
        );
        assert_eq!(clock.check(Time(1_100), false, 1_000), Ok(()));
        assert_eq!(clock.check(Time(5_000), true, 1_000), Ok(()));
        let failure = clock.check(Time(1_101), false, 1_000).unwrap_err();
        assert_eq!(failure.property, Property::StopTerminatesWithinBound);
        assert_eq!(failure.class, Class::Liveness);
    }

    fn copy_job() -> Job {
        Job::builder("copy", 1)
            .source("src", 1)
            .sink("out", 1)
            .edge("src", "out")
            .build()
            .expect("a valid job")
    }

    fn rec(offset: u64) -> Record {
        Record {
            partition: Partition {
                source: OperatorId(0),
                index: 0,
            },
            offset,
        }
    }

    const SRC: TaskId = TaskId {
        operator: OperatorId(0),
        subtask: 0,
    };
    const OUT: TaskId = TaskId {
        operator: OperatorId(1),
        subtask: 0,
    };

    fn point(committed: bool) -> Option<RestorePoint> {
        Some(RestorePoint {
            generation: Generation(1),
            epoch: Epoch(1),
            committed,
            last_started: Epoch(1),
            created_at: Time(0),
        })
    }

    #[test]
    fn the_sinks_must_hold_everything_below_a_committed_checkpoint() {
        use quiesce_core::worker::TransactionId;
        let job = copy_job();
        let mut store = CheckpointStore::default();
        store.put(Epoch(1), SRC, TaskSnapshot::Source { next_offset: 3 });
        let mut ledger = SinkLedger::default();
        let t1 = TransactionId::Epoch(Epoch(1));
        ledger
            .commit(OUT, t1, &[rec(0), rec(2)])
            .expect("distinct records");
        let parts = Partitions::default();
        let check = |restore, ledger: &SinkLedger| {
            end_of_run(
                &job,
                State::Stopped,
                restore,
                &store,
                &parts,
                ledger,
                Time(9),
            )
        };
        let failure = check(point(true), &ledger).unwrap_err();
        assert_eq!(failure.property, Property::ExactlyOnce);
        assert!(failure.detail.contains("op0#p0@1"), "{}", failure.detail);
        // Not fully committed yet: a later run commits it; nothing to demand now.
        assert_eq!(check(point(false), &ledger), Ok(()));
        let t2 = TransactionId::Epoch(Epoch(2));
        ledger.commit(OUT, t2, &[rec(1)]).expect("distinct records");
        assert_eq!(check(point(true), &ledger), Ok(()));
    }

    #[test]
    fn a_finished_job_delivered_every_record_of_every_partition() {
        use crate::scenario::Workload;
        use quiesce_core::worker::TransactionId;
        let job = copy_job();
        let store = CheckpointStore::default();
        let mut parts = Partitions::default();
        let mut ledger = SinkLedger::default();
        let check = |parts: &Partitions, ledger: &SinkLedger| {
            end_of_run(&job, State::Finished, None, &store, parts, ledger, Time(9))
        };
        assert!(check(&parts, &ledger).is_err(), "no partition ended");
        let w = Workload {
            read_every_ms: 1,
            batch: 1,
            end_of_input_ms: Some(0),
        };
        parts.read(&w, SRC, 0, 2);
        assert!(check(&parts, &ledger).is_err(), "nothing committed");
        let t = TransactionId::Epoch(Epoch(1));
        ledger
            .commit(OUT, t, &[rec(0), rec(1)])
            .expect("distinct records");
        assert_eq!(check(&parts, &ledger), Ok(()));
    }

    #[test]
    fn the_recovery_clock_bounds_each_state_of_a_recovery() {
        let config = Config::default();
        let mut clock = RecoveryClock::default();
        clock.enter(State::Recovering, Time(1_000), &config);
        let bound = config.force_bound_ms() + config.restart_strategy.max_delay_ms();
        let due = Time(1_000 + bound);
        assert_eq!(clock.deadline(0), Some(due));
        assert_eq!(clock.check(due, State::Recovering, 0), Ok(()));
        assert_eq!(clock.check(due.plus_ms(5), State::Recovering, 5), Ok(()));
        let late = clock
            .check(due.plus_ms(1), State::Recovering, 0)
            .unwrap_err();
        assert_eq!(late.property, Property::RecoveryResolves);
        assert_eq!(late.class, Class::Liveness);
        clock.enter(State::Scheduling, due, &config);
        let due = due.plus_ms(config.scheduling_timeout_ms);
        assert_eq!(clock.deadline(0), Some(due));
        assert!(clock.check(due.plus_ms(1), State::Scheduling, 0).is_err());
        clock.enter(State::Running, due, &config);
        assert_eq!(clock.deadline(0), None);
        assert_eq!(clock.check(Time(u64::MAX / 2), State::Running, 0), Ok(()));
    }

    #[test]
    fn keyed_state_must_match_the_records_below_the_checkpoint() {
        let job = Job::builder("keyed", 1)
            .source("src", 1)
            .operator("count", quiesce_core::OperatorKind::KeyedCount, 1)
            .sink("out", 1)
            .edge("src", "count")
            .edge("count", "out")
            .build()
            .expect("a valid job");
        let count = TaskId {
            operator: OperatorId(1),
            subtask: 0,
        };
        let key = |bucket| Key {
            partition: Partition::of_source(SRC),
            bucket,
        };
        let mut store = CheckpointStore::default();
        store.put(Epoch(3), SRC, TaskSnapshot::Source { next_offset: 6 });
        let keyed = |counts: Vec<(Key, u64)>| TaskSnapshot::Keyed { counts };
        // Offsets 0..6: buckets 0 and 1 twice, 2 and 3 once.
        store.put(
            Epoch(3),
            count,
            keyed(vec![(key(0), 2), (key(1), 2), (key(2), 1), (key(3), 1)]),
        );
        assert_eq!(keyed_state(&job, Epoch(3), &store, Time(1)), Ok(()));
        // Counts that forgot what came before a restore.
        store.put(
            Epoch(3),
            count,
            keyed(vec![(key(0), 1), (key(1), 1), (key(2), 1), (key(3), 1)]),
        );
        let failure = keyed_state(&job, Epoch(3), &store, Time(1)).unwrap_err();
        assert_eq!(failure.property, Property::ExactlyOnce);
        assert!(
            keyed_state(&job, Epoch(4), &store, Time(1)).is_err(),
            "no such checkpoint"
        );
    }

    #[test]
    fn an_escalation_by_timeout_is_needless_only_when_no_fault_struck() {
        use quiesce_core::{StopJobMode, Stopping};
        let timed_out = Event::Transition {
            from: Some(State::Stopping(Stopping::StopJob(StopJobMode::Graceful))),
            to: State::Stopping(Stopping::StopWorkers),
            reason: Reason::StopTimedOut,
        };
        let failure = needless_escalation(&timed_out, false, Time(3)).unwrap_err();
        assert_eq!(failure.class, Class::NeedlessEscalation);
        assert_eq!(failure.property, Check::NoNeedlessEscalation);
        assert_eq!(needless_escalation(&timed_out, true, Time(3)), Ok(()));
        let retried = Event::KillRetried {
            generation: Generation(1),
            attempt: 2,
        };
        assert!(needless_escalation(&retried, false, Time(3)).is_err());
        let asked = Event::Transition {
            from: Some(State::Running),
            to: State::Stopping(Stopping::StopWorkers),
            reason: Reason::StopRequested(quiesce_core::StopMode::Force),
        };
        assert_eq!(
            needless_escalation(&asked, false, Time(3)),
            Ok(()),
            "the user asked"
        );
    }
}
