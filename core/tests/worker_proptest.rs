//! One controller and two or three workers under arbitrary interleavings: any queue may move
//! next (messages are reordered across channels, never within one), snapshots and persists
//! fail, workers crash, sources reach the end of their input, time jumps. Neither machine may
//! panic or break an invariant, and no sink commits a record twice, in any run. Then
//! everything heals and the job ends one of three ways: a checkpoint stop, a graceful stop,
//! or every input ending (the job finishes through a final checkpoint). If it ends that way,
//! the sinks hold exactly the records it promises, and each keyed count is what they hold.
//! In every run, every keyed snapshot holds what its checkpoint's source positions imply.

mod worker_common;

use proptest::prelude::*;
use quiesce_core::{OperatorKind, State, StopMode, WorkerId};
use worker_common::system::{config, Action, Owed, System};
use worker_common::*;

fn jobs() -> Vec<quiesce_core::Job> {
    vec![
        // source(2) -> sink(2), two workers.
        job(
            vec![source("read", 2), sink("write", 2, true)],
            &[(0, 1)],
            2,
        ),
        // source(2) -> keyed count(3) -> sink(2), three workers.
        job(
            vec![source("read", 2), keyed("count", 3), sink("write", 2, true)],
            &[(0, 1), (1, 2)],
            3,
        ),
        // Two sources joined by a keyed count, fanned out to two sinks, two workers.
        job(
            vec![
                source("left", 1),
                source("right", 2),
                keyed("join", 2),
                sink("a", 1, true),
                sink("b", 2, true),
            ],
            &[(0, 2), (1, 2), (2, 3), (2, 4)],
            2,
        ),
        // source(2) -> map(2) -> a two-phase-commit sink and a plain one, three workers.
        job(
            vec![
                source("read", 2),
                transform("map", 2),
                sink("exact", 1, true),
                sink("plain", 2, false),
            ],
            &[(0, 1), (1, 2), (1, 3)],
            3,
        ),
    ]
}

/// One step of the schedule: a kind and an argument that picks among what is possible.
type Step = (u8, u16);

fn apply_step(sys: &mut System, (kind, arg): Step) {
    let arg = usize::from(arg);
    let action = match kind % 200 {
        0..=119 => {
            let actions = sys.actions();
            if actions.is_empty() {
                return;
            }
            actions[arg % actions.len()].clone()
        }
        120..=129 => {
            let n = sys.cluster.snapshot_requests.len();
            if n == 0 {
                return;
            }
            Action::Snapshot(arg % n, false)
        }
        130..=134 => match sys.owed.iter().position(|o| matches!(o, Owed::Persist(_))) {
            Some(i) => Action::Effect(i, false),
            None => return,
        },
        135..=164 => {
            let sources = sys.sources();
            Action::Read(sources[arg % sources.len()], 1 + (arg % 4) as u32)
        }
        165..=194 => Action::Tick,
        195 | 197 => {
            let sources = sys.sources();
            Action::Exhaust(sources[arg % sources.len()])
        }
        196 => {
            let tasks: Vec<_> = sys.cluster.job.tasks().collect();
            Action::Fail(tasks[arg % tasks.len()])
        }
        198 => Action::Stop(
            [
                StopMode::Checkpoint,
                StopMode::Graceful,
                StopMode::Immediate,
                StopMode::Force,
            ][arg % 4],
        ),
        _ => Action::Crash(WorkerId((arg % sys.cluster.workers.len()) as u32)),
    };
    sys.apply(action);
}

fn cases() -> u32 {
    // A case is a few hundred cheap steps: 10 000 cases take seconds in the ci profile.
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
        .min(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn worker_and_controller_survive_arbitrary_interleavings_without_committing_twice(
        which in 0..4usize,
        end in 0..3u8,
        steps in prop::collection::vec((any::<u8>(), any::<u16>()), 0..240),
    ) {
        let job = &jobs()[which];
        let mut sys = System::new(job, config());
        for &step in &steps {
            apply_step(&mut sys, step);
        }
        // Heal: no more faults, every queue moves, and a checkpoint or graceful stop is asked
        // for (a stronger stop already under way stays), or every input ends.
        match end {
            0 => sys.apply(Action::Stop(StopMode::Checkpoint)),
            1 => sys.apply(Action::Stop(StopMode::Graceful)),
            _ => {}
        }
        if end == 2 {
            sys.run_to_end_of_input(400);
        } else {
            sys.run_to_end(400);
        }
        let status = sys.controller.status();
        prop_assert!(status.state.is_terminal());
        let by_sink = sys.cluster.committed_by_sink();
        for records in by_sink.values() {
            assert_distinct(records);
        }
        // Every keyed snapshot, in any run, holds what its checkpoint's positions imply.
        let keyed = sys.cluster.check_keyed_snapshots();
        prop_assert!(keyed.is_ok(), "{}", keyed.unwrap_err());
        let expected = match (status.state, status.stop) {
            (State::Finished, _) => {
                // Every source ended and answered the final checkpoint with its end.
                let last = status.final_checkpoint.expect("a final checkpoint");
                let positions = sys.positions_at(last);
                prop_assert_eq!(&positions, &sys.positions_now());
                prop_assert_eq!(positions.len(), sys.sources().len());
                Some(records_below(&positions))
            }
            (State::Stopped, Some(StopMode::Checkpoint)) => {
                let last = status.final_checkpoint.expect("a final checkpoint");
                Some(records_below(&sys.positions_at(last)))
            }
            (State::Stopped, Some(StopMode::Graceful)) => {
                Some(records_below(&sys.positions_now()))
            }
            _ => None,
        };
        if let Some(expected) = expected {
            let sinks = job.tasks().map(|t| t.operator).filter(|&op| {
                matches!(
                    job.operator(op).map(|o| o.kind),
                    Some(OperatorKind::Sink { two_phase_commit: true })
                )
            });
            for op in sinks.collect::<std::collections::BTreeSet<_>>() {
                let records = by_sink.get(&op).cloned().unwrap_or_default();
                prop_assert_eq!(records, expected.clone(), "sink {}", op);
            }
            // Each key's count is what the sinks committed: no record counted twice or lost.
            let keyed = sys.cluster.check_keyed_against_commits();
            prop_assert!(keyed.is_ok(), "{}", keyed.unwrap_err());
            // A sink without two-phase commit writes at least once.
            let plain = job.operators.iter().position(|o| {
                o.kind == OperatorKind::Sink { two_phase_commit: false }
            });
            if let Some(op) = plain {
                let written: std::collections::BTreeSet<_> = sys
                    .cluster
                    .writes
                    .iter()
                    .filter(|(t, _)| t.operator.0 as usize == op)
                    .map(|(_, r)| *r)
                    .collect();
                prop_assert!(expected.iter().all(|r| written.contains(r)));
            }
        }
    }
}
