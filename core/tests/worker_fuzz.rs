//! One worker fed arbitrary inputs, most of them wrong: it never panics, keeps its
//! invariants, and an input it refuses leaves it exactly as it was, with nothing emitted
//! (beyond the timers due by its time). An input at or past a deadline does exactly what
//! `handle_timeout` and then the input would. Every checkpoint the worker snapshotted whole
//! restores to the keyed counts it holds. Every run is recorded, and its trace replays to
//! the same outcomes.

mod worker_common;

use proptest::prelude::*;
use quiesce_core::trace::{replay, Line, Machine, Outcome};
use quiesce_core::worker::trace::WorkerRecorder;
use quiesce_core::worker::{
    Channel, Item, Partition, Record, Restore, TaskSnapshot, Worker, WorkerConfig, WorkerInput,
    WorkerOutput, WorkerSetup,
};
use quiesce_core::{
    Command, Epoch, Generation, OperatorId, OperatorKind, StopJobMode, TaskId, Time, ToWorker,
    WorkerId,
};
use std::collections::BTreeMap;
use worker_common::*;

const G: Generation = Generation(3);

fn task_id() -> impl Strategy<Value = TaskId> {
    (0..4u32, 0..3u32).prop_map(|(op, subtask)| TaskId {
        operator: OperatorId(op),
        subtask,
    })
}

fn epoch() -> impl Strategy<Value = Epoch> {
    (0..7u64).prop_map(Epoch)
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => ((0..2u32, 0..3u32), 0..8u64).prop_map(|((source, index), offset)| {
            Item::Record(Record { partition: Partition { source: OperatorId(source), index }, offset })
        }),
        2 => (epoch(), any::<bool>()).prop_map(|(epoch, then_stop)| Item::Barrier { epoch, then_stop }),
        1 => Just(Item::EndOfStream),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        3 => (epoch(), prop::bool::weighted(0.2))
            .prop_map(|(epoch, then_stop)| Command::Checkpoint { epoch, then_stop }),
        2 => epoch().prop_map(|epoch| Command::Commit { epoch }),
        1 => epoch().prop_map(|epoch| Command::Abort { epoch }),
        1 => prop_oneof![Just(StopJobMode::Graceful), Just(StopJobMode::Immediate)]
            .prop_map(|mode| Command::Stop { mode }),
    ]
}

fn input() -> impl Strategy<Value = WorkerInput> {
    let generation = prop_oneof![5 => Just(G), 1 => (0..5u64).prop_map(Generation)];
    prop_oneof![
        3 => (generation.clone(), command())
            .prop_map(|(generation, command)| WorkerInput::Command(ToWorker { generation, command })),
        6 => (generation, task_id(), task_id(), 0..4u64, item()).prop_map(|(generation, from, to, seq, item)| {
            WorkerInput::Data { generation, channel: Channel { from, to }, seq, item }
        }),
        3 => (task_id(), prop_oneof![5 => 0..4u32, 1 => Just(u32::MAX)])
            .prop_map(|(task, count)| WorkerInput::SourceRecords { task, count }),
        1 => task_id().prop_map(|task| WorkerInput::SourceExhausted { task }),
        3 => (task_id(), epoch()).prop_map(|(task, epoch)| WorkerInput::SnapshotDone { task, epoch }),
        1 => (task_id(), epoch()).prop_map(|(task, epoch)| WorkerInput::SnapshotFailed {
            task,
            epoch,
            reason: "x".into(),
        }),
        1 => task_id().prop_map(|task| WorkerInput::TaskError { task, reason: "x".into() }),
    ]
}

/// The channels from other workers into this one, and the `seq` each expects next: a data
/// input made plausible travels on one of them, in sequence, so that barriers of both
/// workers meet and tasks align, snapshot and commit.
struct Channels {
    remote: Vec<Channel>,
    next_seq: BTreeMap<Channel, u64>,
}

impl Channels {
    fn of(setup: &WorkerSetup) -> Channels {
        let job = &setup.job;
        let mut remote = Vec::new();
        for to in job.tasks_of(setup.worker) {
            for up in job.inputs_of(to.operator) {
                let parallelism = job.operator(up).map_or(0, |o| o.parallelism);
                for subtask in 0..parallelism {
                    let from = TaskId {
                        operator: up,
                        subtask,
                    };
                    if job.worker_of(from) != Some(setup.worker) {
                        remote.push(Channel { from, to });
                    }
                }
            }
        }
        Channels {
            remote,
            next_seq: BTreeMap::new(),
        }
    }

    /// A data input moved onto a real channel, next in sequence, of this generation (its
    /// random `seq` picks the channel); anything else as it was.
    fn plausible(&self, input: WorkerInput) -> WorkerInput {
        match input {
            WorkerInput::Data { seq, item, .. } if !self.remote.is_empty() => {
                let channel = self.remote[seq as usize % self.remote.len()];
                let seq = self.next_seq.get(&channel).copied().unwrap_or(0);
                WorkerInput::Data {
                    generation: G,
                    channel,
                    seq,
                    item,
                }
            }
            other => other,
        }
    }

    fn accepted(&mut self, input: &WorkerInput) {
        if let WorkerInput::Data { channel, .. } = input {
            *self.next_seq.entry(*channel).or_insert(0) += 1;
        }
    }
}

/// Every checkpoint for which the worker snapshotted all its stateful tasks restores: a
/// worker built from those snapshots holds the keyed counts they say.
fn restores_keyed_state(setup: &WorkerSetup, outputs: Vec<WorkerOutput>) -> Result<(), String> {
    let mut by_epoch: BTreeMap<Epoch, Vec<(TaskId, TaskSnapshot)>> = BTreeMap::new();
    for out in outputs {
        if let WorkerOutput::Snapshot { task, epoch, state } = out {
            by_epoch.entry(epoch).or_default().push((task, state));
        }
    }
    let stateful = setup.job.tasks_of(setup.worker).into_iter().filter(|t| {
        match setup.job.operator(t.operator).map(|o| o.kind) {
            Some(OperatorKind::Sink { two_phase_commit }) => two_phase_commit,
            Some(OperatorKind::Transform) | None => false,
            Some(_) => true,
        }
    });
    let stateful: Vec<TaskId> = stateful.collect();
    for (epoch, tasks) in by_epoch {
        if !stateful.iter().all(|s| tasks.iter().any(|(t, _)| t == s)) {
            continue;
        }
        let restore = Restore {
            epoch,
            tasks: tasks.clone(),
        };
        let worker = <Worker as Machine>::build(&setup.clone().with_restore(restore))
            .map_err(|e| format!("the snapshots of {epoch} do not restore: {e}"))?;
        for (task, state) in tasks {
            if let TaskSnapshot::Keyed { counts } = state {
                let held: Vec<_> = worker
                    .keyed_counts(task)
                    .into_iter()
                    .flatten()
                    .map(|(&k, &n)| (k, n))
                    .collect();
                if held != counts {
                    return Err(format!("{task} restored {held:?} from {counts:?}"));
                }
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
        .min(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn worker_survives_arbitrary_inputs_a_refused_one_changes_nothing_and_its_trace_replays(
        which in 0..2usize,
        steps in prop::collection::vec(
            (input(), 0..3u64, prop::bool::weighted(0.1), prop::bool::weighted(0.7)),
            0..80,
        ),
        // Large steps reach the heartbeat's deadline with inputs, not only with timeouts.
        dt_ms in prop_oneof![Just(1u64), Just(400)],
    ) {
        // Sources, a keyed count and sinks over two workers: worker 1 has local and remote
        // channels, sources and sinks of both kinds.
        let jobs = [
            job(
                vec![source("read", 2), keyed("count", 2), sink("out", 2, true)],
                &[(0, 1), (1, 2)],
                2,
            ),
            job(
                vec![source("a", 1), source("b", 2), sink("exact", 2, true), sink("plain", 1, false)],
                &[(0, 2), (1, 2), (1, 3)],
                2,
            ),
        ];
        let job = jobs[which].clone();
        let config = WorkerConfig::default();
        let setup = WorkerSetup::new(job, WorkerId(1), G, config, Time(100));
        let mut w = WorkerRecorder::in_memory(setup.clone()).expect("valid");
        let mut snapshots = Vec::new();
        let mut channels = Channels::of(&setup);
        let mut now = Time(100);
        for (input, dt, backwards, plausible) in steps {
            let input = if plausible { channels.plausible(input) } else { input };
            now = if backwards { Time(now.0.saturating_sub(5)) } else { now.plus_ms(dt * dt_ms) };
            snapshots.extend(w.drain());
            // What the timers due by `now` do on their own: a refused input does no more.
            let mut before = w.machine().clone();
            let due = before.poll_timeout().is_some_and(|d| now >= d);
            if due {
                let checked = timers_fire_before(&before, now, input.clone());
                prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
                before.handle_timeout(now);
            }
            let timer_outputs = drain(&mut before);
            let result = w.handle(now, input.clone());
            if result.is_err() {
                prop_assert!(w.machine() == &before, "a refused input changed the worker");
                prop_assert_eq!(w.drain(), timer_outputs, "a refused input emitted output");
            } else {
                channels.accepted(&input);
            }
            prop_assert!(w.machine().check_invariants().is_ok(), "{:?}", w.machine().check_invariants());
            if dt == 2 {
                w.handle_timeout(now);
            }
        }
        snapshots.extend(w.drain());
        let restored = restores_keyed_state(&setup, snapshots);
        prop_assert!(restored.is_ok(), "{}", restored.unwrap_err());
        // The run's trace, through JSON Lines and back, replays to the very same outcome at
        // every step.
        let status = w.machine().status();
        let json: Vec<String> = w.finish(Outcome::Ended).iter()
            .map(|line| serde_json::to_string(line).expect("serialisable"))
            .collect();
        let lines = json.iter().map(|l| serde_json::from_str::<Line<Worker>>(l).expect("parses"));
        let replayed = replay(lines).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(replayed.machine.status(), status);
    }
}
