//! The scheduler and the stores, as the controller's node carries out its effects: starting a
//! generation's workers (one fresh node per incarnation, restored from the checkpoint store),
//! killing them, persisting metadata, deleting old checkpoints.

use super::controller_node::Local;
use super::shared::{Incarnation, World};
use super::worker_node;
use crate::oracle::{Class, Failure};
use crate::planted::Planted;
use crate::scenario::Scenario;
use crate::tracefile::Traced;
use madsim::runtime::Handle;
use quiesce_core::{Epoch, Generation, Input, Property, Time, Worker, WorkerId, WorkerSetup};

/// Carries out a due effect of the controller's environment; its outcome, if the controller
/// hears of one.
pub fn carry_out(world: &World, scenario: &Scenario, now: Time, event: Local) -> Option<Input> {
    match event {
        Local::Input(input) => Some(input),
        Local::Start {
            generation,
            restore,
        } => start(world, scenario, now, generation, restore),
        Local::Killed(generation) => {
            kill(world, generation);
            Some(Input::WorkersStopped { generation })
        }
        Local::Persisted {
            epoch,
            generation,
            ok,
        } => {
            if ok {
                world.lock().metadata.persist(epoch, generation);
                Some(Input::MetadataPersisted { epoch })
            } else {
                let reason = "the metadata store refused the write".to_string();
                Some(Input::MetadataPersistFailed { epoch, reason })
            }
        }
        Local::Cleaned(before) => {
            world.lock().checkpoints.cleanup(before);
            Some(Input::CleanupDone { before })
        }
    }
}

/// Kills every live worker of `generation`.
fn kill(world: &World, generation: Generation) {
    let mut s = world.lock();
    s.killed.insert(generation);
    let handle = Handle::current();
    for i in s.incarnations.iter_mut() {
        if i.generation == generation && i.alive {
            i.alive = false;
            handle.kill(i.node);
        }
    }
}

/// Starts every worker of `generation`, each on a fresh node, restored from checkpoint
/// `restore`. A generation whose kill was already carried out is not started (the scheduler
/// takes its commands in order); a restore point the store cannot serve is the scheduler's
/// failure.
fn start(
    world: &World,
    scenario: &Scenario,
    now: Time,
    generation: Generation,
    restore: Option<Epoch>,
) -> Option<Input> {
    let planted = {
        let s = world.lock();
        if s.killed.contains(&generation) {
            return None;
        }
        if let Some(old) = s
            .incarnations
            .iter()
            .find(|i| i.alive && i.generation != generation)
        {
            let detail = format!(
                "generation {generation} starts while {} of generation {} is alive",
                old.worker, old.generation
            );
            drop(s);
            world.fail(Failure::new(
                Class::Correctness,
                Property::SingleGenerationRunning,
                now,
                detail,
            ));
            return None;
        }
        s.planted
    };
    let mut workers = Vec::new();
    for w in 0..scenario.job.workers {
        match build(
            world,
            scenario,
            planted,
            WorkerId(w),
            generation,
            restore,
            now,
        ) {
            Ok(worker) => workers.push(worker),
            Err(reason) => return Some(Input::SchedulerFailed { generation, reason }),
        }
    }
    let handle = Handle::current();
    for worker in workers {
        let w = worker.machine().status().worker;
        let node = handle
            .create_node()
            .name(format!("{w}.{generation}"))
            .build();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        world.lock().incarnations.push(Incarnation {
            worker: w,
            generation,
            node: node.id(),
            tx,
            alarm: Default::default(),
            alive: true,
        });
        node.spawn(worker_node::run(world.clone(), worker, rx));
    }
    None
}

/// Builds one worker of a generation, restored from the store, recording onto the run's
/// trace from its setup on.
fn build(
    world: &World,
    scenario: &Scenario,
    planted: Option<Planted>,
    w: WorkerId,
    generation: Generation,
    restore: Option<Epoch>,
    now: Time,
) -> Result<Traced<Worker>, String> {
    let mut setup = WorkerSetup::new(
        scenario.job.clone(),
        w,
        generation,
        scenario.worker_config,
        now,
    );
    if let Some(epoch) = restore {
        let r = world
            .lock()
            .checkpoints
            .restore_for(&scenario.job, w, epoch)
            .map_err(|e| format!("cannot restore {w}: {e}"))?;
        setup = setup.with_restore(r);
    }
    #[cfg(feature = "mutants")]
    if let Some(Planted::Worker(m)) = planted {
        setup = setup.with_mutant(m);
    }
    #[cfg(not(feature = "mutants"))]
    let _ = planted;
    let trace = world.lock().trace.clone();
    Traced::join(setup, trace).map_err(|e| format!("cannot build {w}: {e:?}"))
}
