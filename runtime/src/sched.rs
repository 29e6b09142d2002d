//! The scheduler: starts and kills a generation's workers. Its commands return at once; what
//! becomes of them comes back later as [`SchedulerEvent`]s, which the controller's loop turns
//! into the core's inputs. A Kubernetes backend would implement the same trait.

use crate::wire::Token;
use quiesce_core::{Generation, WorkerId};
use rustix::process::{kill_process, Pid, Signal};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a backend reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchedulerEvent {
    /// A worker process is running.
    Started {
        /// Its generation.
        generation: Generation,
        /// Its slot.
        worker: WorkerId,
        /// Its process id.
        pid: u32,
    },
    /// The generation could not be started (`Input::SchedulerFailed`).
    Failed {
        /// The generation.
        generation: Generation,
        /// Why, for people.
        reason: String,
    },
    /// A worker process exited and was reaped (`Input::WorkerExited`).
    Exited {
        /// Its generation.
        generation: Generation,
        /// Its slot.
        worker: WorkerId,
        /// How it ended, for people.
        status: String,
    },
    /// Every process of a generation asked to stop is reaped (`Input::WorkersStopped`).
    Stopped {
        /// The generation.
        generation: Generation,
    },
}

/// What a worker needs to find its controller.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The controller's listener.
    pub controller: SocketAddr,
    /// The run's token.
    pub token: Token,
    /// The state directory.
    pub state_dir: PathBuf,
    /// How many workers the generation has.
    pub workers: u32,
    /// Extra arguments for the worker (its log filter and format).
    pub log_args: Vec<String>,
}

/// Starts and kills workers. Object-safe: the backend is chosen at run time.
pub trait Scheduler {
    /// Starts every worker of `generation`; answered by `Started` per worker or `Failed`.
    fn start(&mut self, generation: Generation, launch: &Launch);
    /// Kills every worker of `generation`: asks them to end, and forces them after a grace
    /// period. Answered by `Stopped` once every one is gone. A repeat kills at once.
    fn stop(&mut self, generation: Generation);
    /// Ends the workers of a generation that is over; no answer.
    fn release(&mut self, generation: Generation);
    /// Kills every worker and waits until each is gone (bounded): for every way out of the
    /// controller.
    fn shutdown(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>>;
}

/// A command to a worker's watcher task.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// SIGTERM now, SIGKILL after the grace period.
    Term,
    /// SIGKILL now.
    Now,
}

#[derive(Default)]
struct GenerationState {
    alive: u32,
    stopping: bool,
    stopped_sent: bool,
}

struct Proc {
    kill: mpsc::UnboundedSender<Kill>,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Runs workers as child processes of the controller: each in its own process group (a
/// terminal's Ctrl-C reaches only the controller), killed when the controller dies.
pub struct ProcessScheduler {
    exe: PathBuf,
    grace_ms: u64,
    events: mpsc::UnboundedSender<SchedulerEvent>,
    procs: BTreeMap<(Generation, WorkerId), Proc>,
    generations: BTreeMap<Generation, Rc<RefCell<GenerationState>>>,
}

impl ProcessScheduler {
    /// A scheduler that runs `exe worker …`, waits `grace_ms` between SIGTERM and SIGKILL, and
    /// reports on `events`.
    pub fn new(exe: PathBuf, grace_ms: u64, events: mpsc::UnboundedSender<SchedulerEvent>) -> Self {
        ProcessScheduler {
            exe,
            grace_ms,
            events,
            procs: BTreeMap::new(),
            generations: BTreeMap::new(),
        }
    }

    fn spawn(
        &mut self,
        generation: Generation,
        worker: WorkerId,
        launch: &Launch,
    ) -> Result<(), String> {
        let dir = crate::store::StateDir::new(&launch.state_dir);
        let log = dir.log_file(generation, worker);
        std::fs::create_dir_all(log.parent().expect("a log file has a directory"))
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let log = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("worker")
            .args(["--worker", &worker.0.to_string()])
            .args(["--generation", &generation.0.to_string()])
            .args(["--controller", &launch.controller.to_string()])
            .arg("--state-dir")
            .arg(&launch.state_dir)
            .args(["--parent", &std::process::id().to_string()])
            .args(&launch.log_args)
            .env("QUIESCE_TOKEN", launch.token.to_hex())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.exe.display()))?;
        let pid = child.id().ok_or("the worker exited at once")?;
        let state = self.generations.entry(generation).or_default().clone();
        state.borrow_mut().alive += 1;
        let (kill, mut commands) = mpsc::unbounded_channel();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let events = self.events.clone();
        let grace = Duration::from_millis(self.grace_ms);
        tokio::task::spawn_local(async move {
            let raw = Pid::from_raw(pid as i32).expect("a child's pid is positive");
            let mut force_at: Option<tokio::time::Instant> = None;
            let status = loop {
                let force = async {
                    match force_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    status = child.wait() => break status,
                    command = commands.recv() => match command {
                        // The child is not reaped while this task holds it unwaited, so the
                        // pid is still its own.
                        Some(Kill::Term) => {
                            let _ = kill_process(raw, Signal::TERM);
                            force_at.get_or_insert(tokio::time::Instant::now() + grace);
                        }
                        Some(Kill::Now) | None => { let _ = kill_process(raw, Signal::KILL); }
                    },
                    () = force => {
                        let _ = kill_process(raw, Signal::KILL);
                        force_at = None;
                    }
                }
            };
            let status = match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("could not be waited for: {e}"),
            };
            let _ = events.send(SchedulerEvent::Exited {
                generation,
                worker,
                status,
            });
            let mut s = state.borrow_mut();
            s.alive -= 1;
            if s.stopping && s.alive == 0 && !s.stopped_sent {
                s.stopped_sent = true;
                let _ = events.send(SchedulerEvent::Stopped { generation });
            }
            let _ = done_tx.send(());
        });
        self.procs.insert(
            (generation, worker),
            Proc {
                kill,
                done: Some(done),
            },
        );
        let _ = self.events.send(SchedulerEvent::Started {
            generation,
            worker,
            pid,
        });
        Ok(())
    }

    fn signal(&self, generation: Generation, kill: Kill) {
        for ((g, _), p) in self.procs.range((generation, WorkerId(0))..) {
            if *g != generation {
                break;
            }
            let _ = p.kill.send(kill);
        }
    }
}

impl Scheduler for ProcessScheduler {
    fn start(&mut self, generation: Generation, launch: &Launch) {
        for w in 0..launch.workers {
            if let Err(reason) = self.spawn(generation, WorkerId(w), launch) {
                let _ = self
                    .events
                    .send(SchedulerEvent::Failed { generation, reason });
                return;
            }
        }
    }

    fn stop(&mut self, generation: Generation) {
        let state = self.generations.entry(generation).or_default().clone();
        let mut s = state.borrow_mut();
        let repeat = s.stopping;
        s.stopping = true;
        if s.alive == 0 {
            if !s.stopped_sent {
                s.stopped_sent = true;
                let _ = self.events.send(SchedulerEvent::Stopped { generation });
            }
            return;
        }
        drop(s);
        self.signal(generation, if repeat { Kill::Now } else { Kill::Term });
    }

    fn release(&mut self, generation: Generation) {
        self.signal(generation, Kill::Term);
    }

    fn shutdown(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(async move {
            for p in self.procs.values() {
                let _ = p.kill.send(Kill::Now);
            }
            for p in self.procs.values_mut() {
                if let Some(done) = p.done.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
                }
            }
        })
    }
}
