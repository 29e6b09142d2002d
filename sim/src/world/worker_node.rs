//! A worker incarnation's node: the core's worker machine, driven by the run-loop contract,
//! carrying out its effects against the environment.

use super::shared::{ToWorker, World};
use super::wait::{wait, Timed};
use crate::env::{End, Read};
use crate::oracle::{self, Class, Failure};
use crate::tracefile::{EnvEvent, Traced};
use quiesce_core::trace::MachineId;
use quiesce_core::worker::{TaskPhase, WorkerInput, WorkerOutput};
use quiesce_core::{
    Command, Epoch, FromWorker, Generation, Input, OperatorKind, Property, TaskId, Time, Worker,
    WorkerEvent, WorkerId,
};
use tokio::sync::mpsc::UnboundedReceiver;

/// Something the worker's own environment owes it, at a time.
#[derive(Debug)]
enum Local {
    /// A snapshot write completed (or failed).
    Snapshot {
        task: TaskId,
        epoch: Epoch,
        stored: Option<quiesce_core::worker::TaskSnapshot>,
    },
}

/// The worker agent of slot `w` in `generation`: runs until its node is killed, its process
/// fails (a failed commit), or the run is over.
pub async fn run(world: World, mut worker: Traced<Worker>, mut rx: UnboundedReceiver<ToWorker>) {
    let status = worker.machine().status();
    let (w, generation) = (status.worker, status.generation);
    let me = MachineId::Worker {
        worker: w,
        generation,
    };
    let (scenario, ignores_stop) = {
        let now = world.now();
        let mut s = world.lock();
        let scenario = s.scenario.clone();
        let ignores = s.effects.ignores_stop(&scenario, now.0);
        s.note_effects(now, me);
        (scenario, ignores)
    };
    let sources: Vec<TaskId> = worker
        .machine()
        .status()
        .tasks
        .iter()
        .map(|t| t.task)
        .filter(|t| {
            scenario
                .job
                .operator(t.operator)
                .is_some_and(|o| o.kind == OperatorKind::Source)
        })
        .collect();
    {
        // Where each source starts: its restore point's offset, or the partition's start.
        let mut s = world.lock();
        for t in worker
            .machine()
            .status()
            .tasks
            .iter()
            .filter(|t| sources.contains(&t.task))
        {
            let next = t.next_offset.unwrap_or(0);
            s.partitions.reached(t.task, generation, next);
        }
    }
    let alarm = {
        let s = world.lock();
        let me = s.incarnations.iter().rev();
        me.filter(|i| i.worker == w && i.generation == generation)
            .map(|i| i.alarm.clone())
            .next()
            .unwrap_or_default()
    };
    let mut local: Timed<Local> = Timed::default();
    // A workload that never yields a record (the control plane alone) needs no reads: each
    // would wake the node for nothing.
    let reads = scenario.workload.batch > 0 || scenario.workload.end_of_input_ms.is_some();
    let mut next_read = (reads && !sources.is_empty()).then(|| world.now());
    loop {
        if !carry_out(&world, &mut worker, w, generation, &mut local).await {
            return;
        }
        if world.over() {
            return;
        }
        // Read after carrying out: a slow commit lets time pass.
        let now = world.now();
        if let Some(input) = world.worker_message(w, now) {
            if ignores_stop
                && matches!(
                    &input,
                    WorkerInput::Command(m) if matches!(m.command, Command::Stop { .. })
                )
            {
                world.env(now, EnvEvent::StopIgnored { machine: me });
                continue;
            }
            handle(&world, &mut worker, (w, generation), now, input);
            continue;
        }
        if let Some(event) = local.pop_due(now) {
            let input = match event {
                Local::Snapshot {
                    task,
                    epoch,
                    stored: Some(state),
                } => {
                    world.lock().checkpoints.put(epoch, task, state);
                    WorkerInput::SnapshotDone { task, epoch }
                }
                Local::Snapshot { task, epoch, .. } => WorkerInput::SnapshotFailed {
                    task,
                    epoch,
                    reason: "the checkpoint store refused the write".into(),
                },
            };
            handle(&world, &mut worker, (w, generation), now, input);
            continue;
        }
        if next_read.is_some_and(|t| t <= now) {
            read(&world, &mut worker, (w, generation), &sources, now);
            next_read = Some(now.plus_ms(scenario.workload.read_every_ms));
            continue;
        }
        if worker.poll_timeout().is_some_and(|t| t <= now) {
            worker.handle_timeout(now);
            world.step(now);
            if let Err(v) = worker.machine().check_invariants() {
                world.fail(Failure::new(Class::Correctness, v.property, now, v.detail));
            }
            continue;
        }
        let deadline = [
            world.worker_message_at(w),
            local.next_at(),
            next_read,
            worker.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(ToWorker::Local(input)) = wait(&world, &alarm, deadline, &mut rx).await {
            let now = world.now();
            handle(&world, &mut worker, (w, generation), now, input);
        }
    }
}

/// Which worker incarnation: its slot and generation.
type Me = (WorkerId, Generation);

/// One input to the worker, with the checks that follow it; whether the worker took it.
fn handle(
    world: &World,
    worker: &mut Traced<Worker>,
    me: Me,
    now: Time,
    input: WorkerInput,
) -> bool {
    let (_, generation) = me;
    let checked = matches!(
        input,
        WorkerInput::Command(_)
            | WorkerInput::SnapshotDone { .. }
            | WorkerInput::SnapshotFailed { .. }
    );
    let fenced = oracle::claimed_generation(&input).is_some();
    let copy = fenced.then(|| input.clone());
    // An input at or past a deadline: the worker must first fire what is due, exactly as a
    // timeout would. Kept to check against, only then (two clones per late input): the
    // recorder takes the real worker's outputs for the trace, so the late answer is made on
    // a copy that keeps its own.
    let timely = worker.poll_timeout().is_some_and(|t| t <= now).then(|| {
        let mut timely = worker.machine().clone();
        timely.handle_timeout(now);
        let timely_result = timely.handle(now, input.clone());
        let mut late = worker.machine().clone();
        let late_result = late.handle(now, input.clone());
        (late, late_result, timely, timely_result)
    });
    let result = worker.handle(now, input);
    world.step(now);
    if let Some((late, late_result, timely, timely_result)) = timely {
        let checked =
            oracle::timers_before_inputs(&late, timely, &late_result, &timely_result, now);
        if let Err(f) = checked {
            world.fail(f);
        }
    }
    if let Some(input) = copy {
        if let Err(f) = oracle::fencing(generation, &input, &result, now) {
            world.fail(f);
        }
    }
    if checked {
        if let Err(v) = worker.machine().check_invariants() {
            world.fail(Failure::new(Class::Correctness, v.property, now, v.detail));
        }
    }
    result.is_ok()
}

/// The sources' connectors announce what they read.
fn read(world: &World, worker: &mut Traced<Worker>, me: Me, sources: &[TaskId], now: Time) {
    let status = worker.machine().status();
    for &task in sources {
        let Some(t) = status.tasks.iter().find(|t| t.task == task) else {
            continue;
        };
        if t.phase != TaskPhase::Running || t.input_ended {
            continue;
        }
        let next = t.next_offset.unwrap_or(0);
        let read = {
            let mut s = world.lock();
            let workload = s.scenario.workload;
            s.partitions.read(&workload, task, now.0, next)
        };
        let input = match read {
            Read::Records(count) => WorkerInput::SourceRecords { task, count },
            Read::Exhausted => WorkerInput::SourceExhausted { task },
            Read::Nothing => continue,
        };
        if handle(world, worker, me, now, input) {
            if let Read::Records(count) = read {
                let reached = next + u64::from(count);
                world.lock().partitions.reached(task, me.1, reached);
            }
        }
    }
}

/// Carries out every output of the worker, in order. False when the worker's process died
/// doing so (a failed commit).
async fn carry_out(
    world: &World,
    worker: &mut Traced<Worker>,
    w: WorkerId,
    generation: Generation,
    local: &mut Timed<Local>,
) -> bool {
    while let Some(out) = worker.poll_output() {
        let now = world.now();
        match out {
            WorkerOutput::ToController(msg) => send_up(world, now, machine_id(w, generation), msg),
            WorkerOutput::SendData {
                to_worker,
                generation,
                channel,
                seq,
                item,
            } => {
                let input = WorkerInput::Data {
                    generation,
                    channel,
                    seq,
                    item,
                };
                world.to_worker(now, End::Worker(w), to_worker, input);
            }
            WorkerOutput::Snapshot { task, epoch, state } => {
                let outcome = {
                    let mut s = world.lock();
                    let scenario = s.scenario.clone();
                    let outcome = s.effects.snapshot(&scenario, now.0);
                    s.note_effects(now, machine_id(w, generation));
                    outcome
                };
                let stored = outcome.ok.then_some(state);
                let event = Local::Snapshot {
                    task,
                    epoch,
                    stored,
                };
                local.push(now.plus_ms(outcome.after_ms), event);
            }
            WorkerOutput::Write { task, record } => world.lock().ledger.write(task, record),
            WorkerOutput::Commit {
                task,
                transaction,
                records,
            } => {
                let outcome = {
                    let mut s = world.lock();
                    let scenario = s.scenario.clone();
                    let outcome = s.effects.commit(&scenario, now.0);
                    s.note_effects(now, machine_id(w, generation));
                    outcome
                };
                if outcome.after_ms > 0 {
                    // A commit is a blocking call into the external system: the worker does
                    // nothing else meanwhile, and what follows it (its report) waits.
                    let until = world.instant(now.plus_ms(outcome.after_ms));
                    madsim::time::sleep_until(until).await;
                }
                if !outcome.ok {
                    die(world, w, generation);
                    return false;
                }
                let at = world.now();
                let committed = world.lock().ledger.commit(task, transaction, &records);
                if let Err(v) = committed {
                    world.fail(Failure::new(
                        Class::Correctness,
                        Property::ExactlyOnce,
                        at,
                        v.to_string(),
                    ));
                }
            }
        }
    }
    true
}

/// A worker's message to the controller, unless its heartbeats are being lost.
fn send_up(world: &World, now: Time, from: MachineId, msg: FromWorker) {
    let MachineId::Worker { worker: w, .. } = from else {
        return;
    };
    if msg.event == WorkerEvent::Heartbeat {
        let lost = world
            .lock()
            .heartbeats_lost_until
            .get(w.0 as usize)
            .is_some_and(|&until| now < until);
        if lost {
            return;
        }
    }
    world.to_controller(now, from, Input::Worker(msg));
}

/// The machine id of worker `w` of `generation`.
fn machine_id(w: WorkerId, generation: Generation) -> MachineId {
    MachineId::Worker {
        worker: w,
        generation,
    }
}

/// The worker's process dies by itself: the scheduler notices (or not) after a while.
pub fn die(world: &World, w: WorkerId, generation: Generation) {
    let now = world.now();
    let mut s = world.lock();
    let Some(i) = s
        .incarnations
        .iter()
        .rposition(|i| i.worker == w && i.generation == generation && i.alive)
    else {
        return;
    };
    s.incarnations[i].alive = false;
    let noticed = s.effects.exit_noticed();
    s.trace.env(
        now,
        EnvEvent::Died {
            worker: w,
            generation,
            noticed_after_ms: noticed,
        },
    );
    if let Some(after) = noticed {
        let input = Input::WorkerExited {
            worker: w,
            generation,
        };
        let _ = s
            .controller
            .send(super::shared::ToController::At(now.plus_ms(after), input));
    }
}
