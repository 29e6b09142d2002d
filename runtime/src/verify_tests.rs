//! Tests of `quiesce verify` on state directories built by hand.

use super::*;
use crate::store::{write_json, Ending, FinalPosition, RestoreFile, RunFile};
use crate::wire::SourceConfig;
use quiesce_core::worker::{Record, TransactionId};
use quiesce_core::{Config, State};

fn t(operator: u32, subtask: u32) -> TaskId {
    TaskId {
        operator: OperatorId(operator),
        subtask,
    }
}

fn rec(index: u32, offset: u64) -> Record {
    Record {
        partition: Partition::of_source(t(0, index)),
        offset,
    }
}

fn tx(e: u64) -> TransactionId {
    TransactionId::Epoch(Epoch(e))
}

fn write_restore(dir: &StateDir, last_committed: Option<Epoch>, drained: Option<Generation>) {
    let (state, reason) = (State::Stopped, String::from("stopped"));
    let ended = drained.map(|g| Ending {
        state,
        reason,
        drained: Some(g),
    });
    let (format, restore, stop) = (STATE_FORMAT, None, None);
    let file = RestoreFile {
        format,
        restore,
        last_committed,
        stop,
        ended,
    };
    write_json(&dir.restore_file(), &file).unwrap();
}

/// read (op 0) -> count (op 1, keyed) -> write (op 2), two subtasks each: partition p0#i
/// reaches subtask i of both.
fn state_dir(last_committed: Option<Epoch>) -> (tempfile::TempDir, StateDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::new(tmp.path());
    let job = Job::builder("j", 2)
        .source("read", 2)
        .operator("count", OperatorKind::KeyedCount, 2)
        .sink("write", 2)
        .edge("read", "count")
        .edge("count", "write")
        .build()
        .unwrap();
    let sources = SourceConfig {
        records_per_sec: 10,
        read_every_ms: 100,
    };
    let (format, config) = (STATE_FORMAT, Config::default());
    let run = RunFile {
        format,
        job,
        config,
        sources,
    };
    write_json(&dir.run_file(), &run).unwrap();
    write_restore(&dir, last_committed, None);
    (tmp, dir)
}

/// Checkpoint `e` with the sources at `next`, the keyed counts counted record by record.
fn checkpoint(dir: &StateDir, e: Epoch, next: [u64; 2]) {
    for (i, next_offset) in (0..).zip(next) {
        let source = TaskSnapshot::Source { next_offset };
        dir.write_snapshot(e, t(0, i), &source).unwrap();
        let mut counts = BTreeMap::new();
        for offset in 0..next_offset {
            *counts.entry(Key::of(rec(i, offset))).or_insert(0) += 1;
        }
        let keyed = TaskSnapshot::Keyed {
            counts: counts.into_iter().collect(),
        };
        dir.write_snapshot(e, t(1, i), &keyed).unwrap();
    }
}

/// Commits offsets of partition p0#i at the sink task it is routed to.
fn commit(dir: &StateDir, tx: TransactionId, i: u32, offsets: impl Iterator<Item = u64>) {
    let records: Vec<Record> = offsets.map(|o| rec(i, o)).collect();
    dir.commit(t(2, i), tx, &records).unwrap();
}

/// Checkpoint e2 at [5, 7], committed in two transactions.
fn committed_run() -> (tempfile::TempDir, StateDir) {
    let (tmp, dir) = state_dir(Some(Epoch(2)));
    checkpoint(&dir, Epoch(2), [5, 7]);
    commit(&dir, tx(1), 0, 0..3);
    commit(&dir, tx(2), 0, 3..5);
    commit(&dir, tx(1), 1, 0..4);
    commit(&dir, tx(2), 1, 4..7);
    (tmp, dir)
}

/// Verifies `dir`, asserting the whole report reads `text`.
fn report(dir: &StateDir, text: &str) -> Report {
    let report = verify(dir).unwrap();
    assert_eq!(report.to_string(), text);
    report
}

#[test]
fn exact_output_holds() {
    let (_tmp, dir) = committed_run();
    let text = "\
sink write p0#0: 0..5 expected, 5 committed, 0 missing, 0 duplicated
sink write p0#1: 0..7 expected, 7 committed, 0 missing, 0 duplicated
exactly-once: holds for 12 records in 2 partitions (up to checkpoint e2, committed)";
    assert!(report(&dir, text).exactly_once());
}

#[test]
fn a_missing_record_fails_naming_the_range() {
    let (_tmp, dir) = state_dir(Some(Epoch(2)));
    checkpoint(&dir, Epoch(2), [5, 7]);
    commit(&dir, tx(1), 0, 0..5);
    commit(&dir, tx(1), 1, (0..2).chain(4..6));
    let text = "\
sink write p0#0: 0..5 expected, 5 committed, 0 missing, 0 duplicated
sink write p0#1: 0..7 expected, 4 committed, 3 missing (2..4, 6), 0 duplicated
exactly-once: VIOLATED: 3 missing, 0 duplicated, 0 keys disagree";
    let report = report(&dir, text);
    assert!(!report.exactly_once());
    assert_eq!(report.partitions[1].missing, vec![2..4, 6..7]);
}

#[test]
fn records_committed_under_two_transactions_fail() {
    let (_tmp, dir) = committed_run();
    commit(&dir, tx(3), 0, 0..3);
    // Above the checkpoint's offsets, a repeat counts too.
    commit(&dir, tx(3), 1, 9..10);
    commit(&dir, tx(4), 1, 9..10);
    let text = "\
sink write p0#0: 0..5 expected, 8 committed, 0 missing, 3 duplicated (0..3)
sink write p0#1: 0..7 expected, 9 committed, 0 missing, 1 duplicated (9)
exactly-once: VIOLATED: 0 missing, 4 duplicated, 0 keys disagree";
    assert!(!report(&dir, text).exactly_once());
}

#[test]
fn a_keyed_count_off_by_one_fails() {
    let (_tmp, dir) = committed_run();
    // p0#1 below 7: buckets 0, 1 and 2 twice, 3 once; one count too many for bucket 2.
    let key = |bucket| Key {
        partition: rec(1, 0).partition,
        bucket,
    };
    let counts = vec![(key(0), 2), (key(1), 2), (key(2), 3), (key(3), 1)];
    let keyed = TaskSnapshot::Keyed { counts };
    dir.write_snapshot(Epoch(2), t(1, 1), &keyed).unwrap();
    let text = "\
sink write p0#0: 0..5 expected, 5 committed, 0 missing, 0 duplicated
sink write p0#1: 0..7 expected, 7 committed, 0 missing, 0 duplicated
t1-1: key p0#1/b2 holds 3, the committed records imply 2
exactly-once: VIOLATED: 0 missing, 0 duplicated, 1 keys disagree";
    let report = report(&dir, text);
    let (task, key, held, implied) = (t(1, 1), key(2), 3, 2);
    assert_eq!(
        report.keyed,
        vec![KeyedIssue::Count {
            task,
            key,
            held,
            implied
        }]
    );
}

#[test]
fn a_missing_keyed_snapshot_fails() {
    let (_tmp, dir) = committed_run();
    std::fs::remove_file(dir.snapshot_file(Epoch(2), t(1, 0))).unwrap();
    let report = verify(&dir).unwrap();
    assert!(!report.exactly_once());
    let text = report.to_string();
    assert!(text.contains("\nt1-0: no keyed snapshot: "), "{text}");
    assert!(
        text.ends_with("VIOLATED: 0 missing, 0 duplicated, 1 keys disagree"),
        "{text}"
    );
}

#[test]
fn a_graceful_drain_expects_the_final_positions() {
    let (_tmp, dir) = committed_run();
    let generation = Generation(3);
    write_restore(&dir, Some(Epoch(2)), Some(generation));
    for (i, next_offset) in [(0, 9), (1, 7)] {
        let task = t(0, i);
        let position = FinalPosition {
            task,
            generation,
            next_offset,
        };
        write_json(&dir.final_file(generation, task), &position).unwrap();
    }
    commit(&dir, TransactionId::Drain(generation), 0, 5..8);
    let text = "\
sink write p0#0: 0..9 expected, 8 committed, 1 missing (8), 0 duplicated
sink write p0#1: 0..7 expected, 7 committed, 0 missing, 0 duplicated
exactly-once: VIOLATED: 1 missing, 0 duplicated, 0 keys disagree";
    assert!(!report(&dir, text).exactly_once());
    commit(&dir, tx(3), 0, 8..9);
    let text = "\
sink write p0#0: 0..9 expected, 9 committed, 0 missing, 0 duplicated
sink write p0#1: 0..7 expected, 7 committed, 0 missing, 0 duplicated
exactly-once: holds for 16 records in 2 partitions (graceful stop drained g3: every record read)";
    assert!(report(&dir, text).exactly_once());
    std::fs::remove_file(dir.final_file(generation, t(0, 1))).unwrap();
    let error = verify(&dir).unwrap_err();
    assert_eq!(error, "source t0-1 of g3 left no final position");
}

#[test]
fn nothing_committed_and_nothing_due_holds() {
    let (_tmp, dir) = state_dir(None);
    let text = "\
sink write p0#0: 0..0 expected, 0 committed, 0 missing, 0 duplicated
sink write p0#1: 0..0 expected, 0 committed, 0 missing, 0 duplicated
exactly-once: holds for 0 records in 2 partitions (nothing committed yet)";
    assert!(report(&dir, text).exactly_once());
}

#[test]
fn a_corrupt_or_missing_file_is_an_error_naming_it() {
    let (_tmp, dir) = committed_run();
    std::fs::write(dir.restore_file(), b"{ not json").unwrap();
    assert!(verify(&dir).unwrap_err().contains("restore.json"));
    std::fs::remove_file(dir.run_file()).unwrap();
    assert!(verify(&dir).unwrap_err().contains("run.json"));
}
