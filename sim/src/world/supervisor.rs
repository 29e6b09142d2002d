//! The supervisor: carries out the fault plan during the chaos phase, heals the environment
//! when it ends (but for the faults the seed made permanent), and waits for the run to end.

use super::shared::{ToWorker, World};
use super::wait::Timed;
use super::worker_node;
use crate::env::LinkId;
use crate::oracle::{Class, Failure};
use crate::scenario::{kind_of, Fault, FaultKind, Scenario};
use crate::tracefile::EnvEvent;
use madsim::runtime::Handle;
use madsim::task::JoinHandle;
use madsim::task::NodeId;
use quiesce_core::trace::MachineId;
use quiesce_core::worker::WorkerInput;
use quiesce_core::{Property, Time};

/// Slack past the closing stop's bound before the supervisor gives up on the run.
const SLACK_MS: u64 = 10_000;

/// What the supervisor does at a time.
#[derive(Debug)]
enum Act {
    /// A planned fault strikes.
    Strike(Fault),
    /// A hung node runs again.
    Resume(NodeId),
    /// The stalled controller runs again.
    ResumeController,
    /// The chaos phase ends: everything but permanent faults heals.
    Heal,
}

/// The run's last deadline: the closing stop plus its bound, and some slack.
fn last_deadline(scenario: &Scenario) -> Time {
    Time(scenario.closing_stop_ms())
        .plus_ms(scenario.config.stop_bound_ms())
        .plus_ms(SLACK_MS)
}

/// The failure of a run that reached its last deadline without ending.
pub fn unended(scenario: &Scenario, now: Time) -> Failure {
    Failure::new(
        Class::Liveness,
        Property::StopTerminates,
        now,
        format!(
            "not terminal by {}, the closing stop's bound",
            crate::scenario::seconds(last_deadline(scenario).0)
        ),
    )
}

/// Runs the nemesis until the controller's task ends or the last deadline passes.
pub async fn run(
    world: &World,
    scenario: &Scenario,
    mut controller: JoinHandle<()>,
    controller_node: NodeId,
) {
    let mut acts: Timed<Act> = Timed::default();
    for p in &scenario.plan.faults {
        acts.push(Time(p.at_ms), Act::Strike(p.fault));
    }
    acts.push(Time(scenario.phases.chaos_ms), Act::Heal);
    let mut hung: Vec<NodeId> = Vec::new();
    let mut stalled = false;
    let end = last_deadline(scenario);
    loop {
        let now = world.now();
        if now > end {
            return;
        }
        if let Some(act) = acts.pop_due(now) {
            match act {
                Act::Strike(Fault::ControllerStall { for_ms }) => {
                    if !stalled {
                        stalled = true;
                        Handle::current().pause(controller_node);
                        let until = now.plus_ms(for_ms).min(Time(scenario.phases.chaos_ms));
                        world.lock().controller_stalls.push((now, until));
                        acts.push(until, Act::ResumeController);
                        world.lock().coverage.fault(FaultKind::ControllerStall);
                        let fault = Fault::ControllerStall {
                            for_ms: until.0.saturating_sub(now.0),
                        };
                        world.env(now, EnvEvent::Fault { fault });
                    }
                }
                Act::Strike(fault) => {
                    if strike(world, scenario, now, fault, &mut acts, &mut hung) {
                        world.lock().coverage.fault(kind_of(&fault));
                        world.env(now, EnvEvent::Fault { fault });
                    }
                }
                Act::Resume(node) => {
                    if resume(&mut hung, node) {
                        if let Some(machine) = incarnation_of(world, node) {
                            world.env(now, EnvEvent::Resumed { machine });
                        }
                    }
                }
                Act::ResumeController => {
                    stalled = false;
                    Handle::current().resume(controller_node);
                    let machine = MachineId::Controller;
                    world.env(now, EnvEvent::Resumed { machine });
                }
                Act::Heal => {
                    world.env(now, EnvEvent::Healed);
                    for node in std::mem::take(&mut hung) {
                        Handle::current().resume(node);
                    }
                    world.lock().links.unclog_all();
                }
            }
            continue;
        }
        let next = acts.next_at().map_or(end, |t| t.min(end)).plus_ms(0);
        let until = world.instant(next.max(now.plus_ms(1)));
        tokio::select! {
            biased;
            _ = &mut controller => return,
            _ = madsim::time::sleep_until(until) => {}
        }
    }
}

/// Resumes `node` if it is still hung; whether it was.
fn resume(hung: &mut Vec<NodeId>, node: NodeId) -> bool {
    let Some(i) = hung.iter().position(|&n| n == node) else {
        return false;
    };
    hung.remove(i);
    Handle::current().resume(node);
    true
}

/// The worker incarnation running on `node`.
fn incarnation_of(world: &World, node: NodeId) -> Option<MachineId> {
    let s = world.lock();
    let i = s.incarnations.iter().find(|i| i.node == node)?;
    Some(MachineId::Worker {
        worker: i.worker,
        generation: i.generation,
    })
}

/// A planned fault strikes the current incarnation of its worker slot; false if it found
/// nothing to strike.
fn strike(
    world: &World,
    scenario: &Scenario,
    now: Time,
    fault: Fault,
    acts: &mut Timed<Act>,
    hung: &mut Vec<NodeId>,
) -> bool {
    let chaos_end = Time(scenario.phases.chaos_ms);
    match fault {
        Fault::Hang { worker, for_ms } => {
            let node = {
                let s = world.lock();
                s.current(worker).map(|i| s.incarnations[i].node)
            };
            let Some(node) = node.filter(|n| !hung.contains(n)) else {
                return false;
            };
            Handle::current().pause(node);
            hung.push(node);
            acts.push(now.plus_ms(for_ms).min(chaos_end), Act::Resume(node));
            true
        }
        Fault::Crash { worker } => {
            let found = {
                let s = world.lock();
                s.current(worker)
                    .map(|i| (s.incarnations[i].node, s.incarnations[i].generation))
            };
            let Some((node, generation)) = found else {
                return false;
            };
            Handle::current().kill(node);
            hung.retain(|&n| n != node);
            worker_node::die(world, worker, generation);
            true
        }
        Fault::TaskFails { task } => {
            let Some(worker) = scenario.job.worker_of(task) else {
                return false;
            };
            let s = world.lock();
            let Some(i) = s.current(worker) else {
                return false;
            };
            let reason = "the task's code failed".to_string();
            let input = WorkerInput::TaskError { task, reason };
            // A node that died meanwhile has no task left to fail.
            s.incarnations[i].tx.send(ToWorker::Local(input)).is_ok()
        }
        Fault::Clog { worker, for_ms } => {
            let until = now.plus_ms(for_ms).min(chaos_end);
            let mut s = world.lock();
            for link in LinkId::of_worker(worker, scenario.job.workers) {
                s.links.clog(link, until);
            }
            true
        }
        Fault::Reset { worker } => {
            let mut s = world.lock();
            for link in LinkId::of_worker(worker, scenario.job.workers) {
                s.links.reset(link);
            }
            true
        }
        Fault::HeartbeatLoss { worker, for_ms } => {
            let until = now.plus_ms(for_ms).min(chaos_end);
            let mut s = world.lock();
            let Some(slot) = s.heartbeats_lost_until.get_mut(worker.0 as usize) else {
                return false;
            };
            *slot = (*slot).max(until);
            true
        }
        // The supervisor stalls the controller itself (it knows the controller's node).
        Fault::ControllerStall { .. } => false,
    }
}
