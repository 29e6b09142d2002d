//! `quiesce verify`: whether the committed sink output of a state directory is exactly once.
//!
//! What must be committed follows from how the run ended: after a graceful stop that drained
//! generation `g`, every record `g`'s sources read (their final positions); otherwise every
//! record below the source offsets of the last committed checkpoint. Every two-phase-commit
//! sink must hold each of those once, and no record (below or above) more than once. The
//! keyed tasks' counts in the last committed checkpoint must be what its records imply.
//!
//! Offsets are shown as ranges, half-open like the committed files': `10..20, 31` is ten
//! offsets from 10 and then 31.

use crate::store::{StateDir, STATE_FORMAT};
use quiesce_core::worker::{Key, Partition, TaskSnapshot};
use quiesce_core::{Epoch, Generation, Job, OperatorId, OperatorKind, TaskId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;

type Offsets = BTreeMap<Partition, u64>;
/// How often each offset was committed, per sink operator and partition (saturating).
type Tallies = BTreeMap<(OperatorId, Partition), Vec<u16>>;

/// The most offsets of one partition that are counted: far above any run's, low enough that a
/// corrupt file cannot exhaust memory (two bytes per offset).
const MAX_OFFSETS: u64 = 1 << 28;
/// How many ranges a line of the report shows before it elides the rest.
const SHOWN_RANGES: usize = 8;

/// What the committed output must hold, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// No checkpoint was committed: nothing had to be.
    Nothing,
    /// Every record below the source offsets of this committed checkpoint.
    Committed(Epoch),
    /// A graceful stop drained this generation: every record its sources read.
    Drained(Generation),
}

/// One source partition's records at one two-phase-commit sink operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionCheck {
    /// The sink operator's name (unique in the job).
    pub sink: String,
    /// The partition.
    pub partition: Partition,
    /// Every offset below this one must be committed.
    pub expected: u64,
    /// How many records of the partition the sink committed, each repeat counted (up to
    /// 65535 of one offset).
    pub committed: u64,
    /// Offsets below `expected` never committed.
    pub missing: Vec<Range<u64>>,
    /// Offsets committed more than once.
    pub duplicated: Vec<Range<u64>>,
}

/// A keyed task whose checkpointed counts are not what the committed records imply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedIssue {
    /// The checkpoint holds no (readable, keyed) snapshot of the task.
    NoSnapshot {
        /// The keyed task.
        task: TaskId,
        /// What was wrong, naming the file.
        reason: String,
    },
    /// A key's count differs.
    Count {
        /// The keyed task.
        task: TaskId,
        /// The key.
        key: Key,
        /// The count in the snapshot (0 if the key is absent).
        held: u64,
        /// The count the records below the checkpoint imply.
        implied: u64,
    },
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What had to be committed.
    pub basis: Basis,
    /// Every two-phase-commit sink operator's partitions, in job and partition order.
    pub partitions: Vec<PartitionCheck>,
    /// Keyed counts that disagree with the records, at the last committed checkpoint.
    pub keyed: Vec<KeyedIssue>,
}

impl Report {
    /// Whether every expected record is committed once, none twice, and every keyed count
    /// agrees.
    pub fn exactly_once(&self) -> bool {
        self.keyed.is_empty() && self.missing() == 0 && self.duplicated() == 0
    }

    /// How many offsets are missing, over every sink and partition.
    pub fn missing(&self) -> u64 {
        self.partitions.iter().map(|p| span(&p.missing)).sum()
    }

    /// How many offsets are committed more than once, over every sink and partition.
    pub fn duplicated(&self) -> u64 {
        self.partitions.iter().map(|p| span(&p.duplicated)).sum()
    }
}

/// Checks the state directory's committed output; `Err` names a file that is missing or
/// unreadable, or a source that left no position to check against.
pub fn verify(dir: &StateDir) -> Result<Report, String> {
    let run = dir.read_run()?;
    check_format(&dir.run_file(), run.format)?;
    let restore = dir.read_restore()?;
    check_format(&dir.restore_file(), restore.format)?;
    let job = &run.job;
    let drained = restore.ended.as_ref().and_then(|e| e.drained);
    let (basis, expected) = match (drained, restore.last_committed) {
        (Some(g), _) => (Basis::Drained(g), drained_offsets(dir, job, g)?),
        (None, Some(e)) => (Basis::Committed(e), source_offsets_at(dir, job, e)?),
        (None, None) => (Basis::Nothing, sources(job).map(|p| (p, 0)).collect()),
    };
    if let Some((p, n)) = expected.iter().find(|(_, &n)| n > MAX_OFFSETS) {
        return Err(format!("{}: {n} records, too many to count", part_name(*p)));
    }
    let counts = count_commits(dir, job)?;
    let keyed = match restore.last_committed {
        Some(e) => check_keyed(dir, job, e)?,
        None => Vec::new(),
    };
    let partitions = check_sinks(job, &expected, &counts);
    Ok(Report {
        basis,
        partitions,
        keyed,
    })
}

fn check_format(path: &Path, format: u32) -> Result<(), String> {
    let wrong = || format!("{}: format {format}, not {STATE_FORMAT}", path.display());
    (format == STATE_FORMAT).then_some(()).ok_or_else(wrong)
}

/// Every source task of the job.
fn sources(job: &Job) -> impl Iterator<Item = Partition> + '_ {
    job.tasks()
        .filter(|t| kind(job, t.operator) == Some(OperatorKind::Source))
        .map(Partition::of_source)
}

fn kind(job: &Job, op: OperatorId) -> Option<OperatorKind> {
    job.operator(op).map(|o| o.kind)
}

const TWO_PHASE_SINK: OperatorKind = OperatorKind::Sink {
    two_phase_commit: true,
};

/// Each source's next offset in checkpoint `epoch`.
fn source_offsets_at(dir: &StateDir, job: &Job, epoch: Epoch) -> Result<Offsets, String> {
    let offset = |p: Partition| match dir.read_snapshot(epoch, task_of(p))? {
        TaskSnapshot::Source { next_offset } => Ok((p, next_offset)),
        _ => Err(format!(
            "{}: not a source",
            dir.snapshot_file(epoch, task_of(p)).display()
        )),
    };
    sources(job).map(offset).collect()
}

/// Each source's final position in drained generation `g`.
fn drained_offsets(dir: &StateDir, job: &Job, g: Generation) -> Result<Offsets, String> {
    let finals = dir.final_positions(g)?;
    let offset = |p: Partition| match finals.iter().find(|f| f.task == task_of(p)) {
        Some(f) => Ok((p, f.next_offset)),
        None => Err(format!(
            "source {} of {g} left no final position",
            task_name(task_of(p))
        )),
    };
    sources(job).map(offset).collect()
}

fn task_of(p: Partition) -> TaskId {
    let (operator, subtask) = (p.source, p.index);
    TaskId { operator, subtask }
}

/// Counts every committed offset per sink operator and partition.
fn count_commits(dir: &StateDir, job: &Job) -> Result<Tallies, String> {
    let mut tallies = Tallies::new();
    for file in dir.committed()? {
        let path = dir.committed_file(file.task, file.transaction);
        if kind(job, file.task.operator) != Some(TWO_PHASE_SINK) {
            return Err(format!("{}: not a sink of the job", path.display()));
        }
        for &(partition, start, end) in &file.ranges {
            if start > end || end > MAX_OFFSETS {
                return Err(format!("{}: bad range {start}..{end}", path.display()));
            }
            let counts = tallies.entry((file.task.operator, partition)).or_default();
            // Both are at most MAX_OFFSETS, so they fit in a usize.
            let (start, end) = (start as usize, end as usize);
            counts.resize(counts.len().max(end), 0);
            counts[start..end]
                .iter_mut()
                .for_each(|c| *c = c.saturating_add(1));
        }
    }
    Ok(tallies)
}

/// One check per sink operator and partition: its upstream sources' and any it committed.
fn check_sinks(job: &Job, expected: &Offsets, tallies: &Tallies) -> Vec<PartitionCheck> {
    let mut out = Vec::new();
    for (i, op) in job.operators.iter().enumerate() {
        let sink = OperatorId(u32::try_from(i).unwrap_or(u32::MAX));
        if op.kind != TWO_PHASE_SINK {
            continue;
        }
        let feeds_sink = |p: &&Partition| job.feeds(p.source, sink);
        let mut parts: BTreeSet<Partition> = expected.keys().filter(feeds_sink).copied().collect();
        parts.extend(tallies.keys().filter(|k| k.0 == sink).map(|k| k.1));
        for p in parts {
            let want = expected.get(&p).filter(|_| feeds_sink(&&p));
            let counts = tallies.get(&(sink, p)).map_or(&[][..], |c| &c[..]);
            out.push(check_partition(
                &op.name,
                p,
                counts,
                want.copied().unwrap_or(0),
            ));
        }
    }
    out
}

/// A partition's commit counts at sink `sink`, checked against the offset every record below
/// must be committed.
fn check_partition(
    sink: &str,
    partition: Partition,
    counts: &[u16],
    expected: u64,
) -> PartitionCheck {
    // Both are below MAX_OFFSETS, so they fit in a usize.
    let count = |o: u64| counts.get(o as usize).copied().unwrap_or(0);
    PartitionCheck {
        sink: sink.to_string(),
        partition,
        expected,
        committed: counts.iter().map(|&c| u64::from(c)).sum(),
        missing: runs(0..expected, |o| count(o) == 0),
        duplicated: runs(0..counts.len() as u64, |o| count(o) > 1),
    }
}

/// The offsets of `offsets` that satisfy `pred`, as maximal ranges.
fn runs(offsets: Range<u64>, pred: impl Fn(u64) -> bool) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for o in offsets.filter(|&o| pred(o)) {
        match out.last_mut() {
            Some(r) if r.end == o => r.end += 1,
            _ => out.push(o..o + 1),
        }
    }
    out
}

/// Compares every keyed task's counts in checkpoint `epoch` with what its records imply.
fn check_keyed(dir: &StateDir, job: &Job, epoch: Epoch) -> Result<Vec<KeyedIssue>, String> {
    let keyed = |t: &TaskId| kind(job, t.operator) == Some(OperatorKind::KeyedCount);
    let tasks: Vec<TaskId> = job.tasks().filter(keyed).collect();
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let offsets = source_offsets_at(dir, job, epoch)?;
    let mut issues = Vec::new();
    for task in tasks {
        let held: BTreeMap<Key, u64> = match dir.read_snapshot(epoch, task) {
            Ok(TaskSnapshot::Keyed { counts }) => counts.into_iter().collect(),
            other => {
                let path = dir.snapshot_file(epoch, task);
                let wrong = || format!("{}: not a keyed snapshot", path.display());
                let reason = other.err().unwrap_or_else(wrong);
                issues.push(KeyedIssue::NoSnapshot { task, reason });
                continue;
            }
        };
        let implied = implied_counts(job, task, &offsets);
        let keys: BTreeSet<Key> = held.keys().chain(implied.keys()).copied().collect();
        for key in keys {
            let held = held.get(&key).copied().unwrap_or(0);
            let implied = implied.get(&key).copied().unwrap_or(0);
            if held != implied {
                issues.push(KeyedIssue::Count {
                    task,
                    key,
                    held,
                    implied,
                });
            }
        }
    }
    Ok(issues)
}

/// The counts per key of the records below `offsets` that routing sends to keyed `task`: a
/// record's key is its offset modulo [`Key::PER_PARTITION`], so they follow from the offsets.
fn implied_counts(job: &Job, task: TaskId, offsets: &Offsets) -> BTreeMap<Key, u64> {
    let parallelism = job.operator(task.operator).map_or(1, |o| o.parallelism);
    let per = u64::from(Key::PER_PARTITION);
    let mut implied = BTreeMap::new();
    for (&partition, &next) in offsets {
        let routed = partition.route(parallelism) == task.subtask;
        if !routed || !job.feeds(partition.source, task.operator) {
            continue;
        }
        for bucket in 0..Key::PER_PARTITION {
            let n = next / per + u64::from(u64::from(bucket) < next % per);
            if n > 0 {
                implied.insert(Key { partition, bucket }, n);
            }
        }
    }
    implied
}

/// How many offsets `ranges` hold.
fn span(ranges: &[Range<u64>]) -> u64 {
    ranges.iter().map(|r| r.end - r.start).sum()
}

fn task_name(t: TaskId) -> String {
    format!("t{}-{}", t.operator.0, t.subtask)
}

fn part_name(p: Partition) -> String {
    format!("p{}#{}", p.source.0, p.index)
}

/// `count what (ranges)`, the ranges elided past [`SHOWN_RANGES`].
fn ranges(what: &str, ranges: &[Range<u64>]) -> String {
    let count = span(ranges);
    if ranges.is_empty() {
        return format!("{count} {what}");
    }
    let show = |r: &Range<u64>| match r.end - r.start {
        1 => r.start.to_string(),
        _ => format!("{r:?}"),
    };
    let mut shown: Vec<String> = ranges.iter().take(SHOWN_RANGES).map(show).collect();
    if ranges.len() > SHOWN_RANGES {
        shown.push("…".into());
    }
    format!("{count} {what} ({})", shown.join(", "))
}

impl fmt::Display for PartitionCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sink {} {}: 0..{} expected, {} committed, {}, {}",
            self.sink,
            part_name(self.partition),
            self.expected,
            self.committed,
            ranges("missing", &self.missing),
            ranges("duplicated", &self.duplicated),
        )
    }
}

impl fmt::Display for KeyedIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedIssue::NoSnapshot { task, reason } => {
                write!(f, "{}: no keyed snapshot: {reason}", task_name(*task))
            }
            KeyedIssue::Count {
                task,
                key,
                held,
                implied,
            } => {
                let (t, p) = (task_name(*task), part_name(key.partition));
                let b = key.bucket;
                write!(
                    f,
                    "{t}: key {p}/b{b} holds {held}, the committed records imply {implied}"
                )
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Offsets::new();
        for p in &self.partitions {
            writeln!(f, "{p}")?;
            parts.insert(p.partition, p.expected);
        }
        for k in &self.keyed {
            writeln!(f, "{k}")?;
        }
        if !self.exactly_once() {
            let (missing, duplicated) = (self.missing(), self.duplicated());
            let keys = self.keyed.len();
            let counts =
                format!("{missing} missing, {duplicated} duplicated, {keys} keys disagree");
            return write!(f, "exactly-once: VIOLATED: {counts}");
        }
        let basis = match self.basis {
            Basis::Nothing => "nothing committed yet".to_string(),
            Basis::Committed(e) => format!("up to checkpoint {e}, committed"),
            Basis::Drained(g) => format!("graceful stop drained {g}: every record read"),
        };
        let (records, n) = (parts.values().sum::<u64>(), parts.len());
        write!(
            f,
            "exactly-once: holds for {records} records in {n} partitions ({basis})"
        )
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
