//! The controller process's run loop: the core's controller, driven by its contract.
//!
//! Every input — a frame from a worker or `quiesce stop`, a scheduler event, a file write
//! completing, a signal — arrives on one channel. The loop drains the core's outputs and
//! carries each out without blocking (socket writes go to per-connection writer tasks through
//! bounded queues, file writes to blocking threads whose completions come back on the channel),
//! then waits for the next input or the earliest deadline. A change of the restore point is
//! written durably before any effect that followed it is carried out: the effects queue up
//! behind the write, while timers and inputs go on.

use crate::clock::Clock;
use crate::events::Printer;
use crate::sched::{Launch, Scheduler, SchedulerEvent};
use crate::store::{Ending, Metadata, RestoreFile, StateDir, STATE_FORMAT};
use crate::wire::{Frame, Peer, SourceConfig, Token};
use bytes::Bytes;
use quiesce_core::trace::{Outcome, Recorder};
use quiesce_core::{
    Controller, ControllerSetup, Epoch, Event, Generation, Input, Job, Output, Reason, State,
    StopMode, WorkerConfig, WorkerId,
};
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

mod conns;
mod ctl;

use conns::accept_loop;
pub use conns::check_from_worker;
use ctl::{Ctl, JsonLines};

/// Everything a run needs.
pub struct RunSetup {
    /// The core's setup (job, config, start, restore point).
    pub setup: ControllerSetup,
    /// The workers' machine configuration.
    pub worker_config: WorkerConfig,
    /// The sources' rate.
    pub sources: SourceConfig,
    /// The state directory.
    pub state: StateDir,
    /// The last checkpoint every sink committed, from a previous run.
    pub last_committed: Option<Epoch>,
    /// Ask this stop this long after the job first runs.
    pub stop_after: Option<(std::time::Duration, StopMode)>,
    /// Write the controller's trace here.
    pub record: Option<PathBuf>,
    /// The run's token.
    pub token: Token,
    /// The listener (already bound).
    pub listener: tokio::net::TcpListener,
    /// The controller's clock.
    pub clock: Clock,
    /// Arguments passed on to workers (log settings).
    pub log_args: Vec<String>,
    /// Grace between SIGTERM and SIGKILL for a worker.
    pub kill_grace_ms: u64,
}

/// How the run ended.
#[derive(Clone, Debug)]
pub struct RunEnd {
    /// The terminal state.
    pub state: State,
    /// Why, for people.
    pub reason: String,
}

/// A connection id, unique in the run.
type ConnId = u64;

/// Everything the loop is told.
enum Ev {
    /// A peer passed the token check and says who it is; the loop answers whether it may be.
    Greeted {
        from: SocketAddr,
        peer: Peer,
        reply: oneshot::Sender<Result<ConnId, String>>,
    },
    /// An accepted connection's writer and reader are running.
    Connected {
        id: ConnId,
        writer: mpsc::Sender<Bytes>,
        reader: AbortHandle,
    },
    Frame(ConnId, Result<Frame, String>),
    Closed(ConnId, String),
    Refused {
        from: SocketAddr,
        reason: String,
    },
    Sched(SchedulerEvent),
    RestoreWritten(Result<(), String>),
    MetadataWritten(Epoch, Result<(), String>),
    CleanedUp(Epoch, Result<(), String>),
}

/// Who an accepted connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Worker(WorkerId, Generation),
    Admin,
}

struct ConnState {
    who: Who,
    writer: Option<mpsc::Sender<Bytes>>,
    reader: Option<AbortHandle>,
    data: Option<SocketAddr>,
}

/// An effect waiting its turn, or a restore-point write it must wait for.
enum Queued {
    Effect(Output),
    Persist(RestoreFile),
}

/// The loop's state.
struct Driver {
    ctl: Ctl,
    job: Job,
    clock: Clock,
    state: StateDir,
    sched: Box<dyn Scheduler>,
    launch: Launch,
    worker_config: WorkerConfig,
    sources: SourceConfig,
    printer: Printer,
    tx: mpsc::UnboundedSender<Ev>,
    conns: BTreeMap<ConnId, ConnState>,
    next_conn: ConnId,
    /// The generation started last, its restore epoch, and who of it has connected.
    generation: Option<(Generation, Option<Epoch>)>,
    greeted: BTreeMap<WorkerId, ConnId>,
    assigned: bool,
    /// Generations this controller asked to stop or release: their exits are expected.
    ending: Vec<Generation>,
    /// Exits reported before their connection closed: delivered at the close, or at the bound.
    pending_exits: Vec<(WorkerId, Generation, Instant)>,
    queue: VecDeque<Queued>,
    persisting: bool,
    queued_restore: RestoreFile,
    written_restore: RestoreFile,
    last_committed: Option<Epoch>,
    stop: Option<StopMode>,
    ended: Option<Ending>,
    stop_after: Option<(std::time::Duration, StopMode)>,
    stop_at: Option<Instant>,
    signals: u32,
    fatal: Option<String>,
}

/// How long an exit waits for its connection's last frames.
const EXIT_WAITS_FOR_CLOSE_MS: u64 = 1_000;

/// Runs a job to its end.
pub async fn run(setup: RunSetup, printer: Printer) -> Result<RunEnd, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ev>();
    let addr = setup.listener.local_addr().map_err(|e| e.to_string())?;
    setup
        .state
        .write_control(addr, &setup.token)
        .map_err(|e| format!("writing the control file: {e}"))?;
    let (sched_tx, mut sched_rx) = mpsc::unbounded_channel();
    let exe = std::env::current_exe().map_err(|e| format!("finding the quiesce binary: {e}"))?;
    let sched = crate::sched::ProcessScheduler::new(exe, setup.kill_grace_ms, sched_tx);
    let forward = tx.clone();
    tokio::task::spawn_local(async move {
        while let Some(e) = sched_rx.recv().await {
            let _ = forward.send(Ev::Sched(e));
        }
    });
    tokio::task::spawn_local(accept_loop(setup.listener, setup.token, tx.clone()));
    let job = setup.setup.job.clone();
    let ctl = match &setup.record {
        None => Ctl::Plain(Box::new(
            Controller::new(setup.setup).map_err(|e| e.to_string())?,
        )),
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let file =
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let sink = JsonLines {
                out: std::io::LineWriter::new(file),
                error: None,
            };
            Ctl::Recorded(Box::new(
                Recorder::new(setup.setup, sink).map_err(|e| e.to_string())?,
            ))
        }
    };
    let initial = RestoreFile {
        format: STATE_FORMAT,
        restore: ctl.machine().restore_point(),
        last_committed: setup.last_committed,
        stop: None,
        ended: None,
    };
    let launch = Launch {
        controller: addr,
        token: setup.token,
        state_dir: setup.state.root().to_path_buf(),
        workers: job.workers,
        log_args: setup.log_args,
    };
    let now = setup.clock.now();
    printer.runtime(
        now,
        "Listening",
        json!({ "addr": addr.to_string(), "pid": std::process::id() }),
        || format!("listening on {addr} (pid {})", std::process::id()),
    );
    let mut d = Driver {
        ctl,
        job,
        clock: setup.clock,
        state: setup.state,
        sched: Box::new(sched),
        launch,
        worker_config: setup.worker_config,
        sources: setup.sources,
        printer,
        tx,
        conns: BTreeMap::new(),
        next_conn: 1,
        generation: None,
        greeted: BTreeMap::new(),
        assigned: false,
        ending: Vec::new(),
        pending_exits: Vec::new(),
        queue: VecDeque::new(),
        persisting: false,
        queued_restore: initial.clone(),
        written_restore: initial,
        last_committed: setup.last_committed,
        stop: None,
        ended: None,
        stop_after: setup.stop_after,
        stop_at: None,
        signals: 0,
        fatal: None,
    };
    // The restore point as the run starts (a restored one is already on disk).
    d.queue
        .push_back(Queued::Persist(d.written_restore.clone()));
    let result = d.run_loop(&mut rx).await;
    d.finish().await;
    result
}

impl Driver {
    async fn run_loop(&mut self, rx: &mut mpsc::UnboundedReceiver<Ev>) -> Result<RunEnd, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let far = || Instant::now() + std::time::Duration::from_secs(86_400 * 365);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            self.pump();
            if let Some(fatal) = self.fatal.take() {
                return Err(fatal);
            }
            if let Some(end) = self.over() {
                return Ok(end);
            }
            let deadline = self.deadline();
            if deadline != armed {
                sleep.as_mut().reset(deadline.unwrap_or_else(far));
                armed = deadline;
            }
            tokio::select! {
                biased;
                () = &mut sleep, if armed.is_some() => { armed = None; self.on_deadline(); }
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => return Err("every input channel closed".into()),
                },
                _ = sigint.recv() => self.on_signal("SIGINT"),
                _ = sigterm.recv() => self.on_signal("SIGTERM"),
            }
        }
    }

    /// The run is over: a terminal state, every effect carried out, its ending on disk.
    fn over(&self) -> Option<RunEnd> {
        let ended = self.ended.as_ref()?;
        let settled = self.queue.is_empty() && !self.persisting;
        (settled && self.written_restore == self.queued_restore).then(|| RunEnd {
            state: ended.state,
            reason: ended.reason.clone(),
        })
    }

    /// The earliest of the core's deadline, the stop-after request and the pending exits.
    fn deadline(&self) -> Option<Instant> {
        let core = self.ctl.poll_timeout().map(|t| self.clock.instant(t));
        let exits = self.pending_exits.iter().map(|p| p.2);
        core.into_iter().chain(self.stop_at).chain(exits).min()
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.stop_at.is_some_and(|at| at <= now) {
            self.stop_at = None;
            if let Some((_, mode)) = self.stop_after {
                self.handle(Input::Stop(mode));
            }
        }
        let due: Vec<_> = self
            .pending_exits
            .iter()
            .filter(|p| p.2 <= now)
            .map(|p| (p.0, p.1))
            .collect();
        self.pending_exits.retain(|p| p.2 > now);
        for (worker, generation) in due {
            self.handle(Input::WorkerExited { worker, generation });
        }
        if self
            .ctl
            .poll_timeout()
            .is_some_and(|t| t <= self.clock.now())
        {
            let now = self.clock.now();
            self.ctl.handle_timeout(now);
        }
    }

    fn on_signal(&mut self, name: &str) {
        self.signals += 1;
        let mode = match self.signals {
            1 => StopMode::Checkpoint,
            2 => StopMode::Immediate,
            3 => StopMode::Force,
            _ => {
                self.fatal = Some(format!(
                    "{name} a fourth time: killing every worker and leaving"
                ));
                return;
            }
        };
        tracing::info!(signal = name, %mode, "stop requested by signal");
        self.handle(Input::Stop(mode));
    }

    /// Hands an input to the core, logging a refusal.
    fn handle(&mut self, input: Input) -> bool {
        let now = self.clock.now();
        let shown = input.to_string();
        match self.ctl.handle(now, input) {
            Ok(()) => true,
            Err(rejected) => {
                tracing::debug!(input = %shown, %rejected, "the controller refused an input");
                false
            }
        }
    }

    /// Takes the core's outputs into the queue — behind a write of the restore point if it
    /// changed — and carries out what may go.
    fn pump(&mut self) {
        let mut outputs = Vec::new();
        while let Some(out) = self.ctl.poll_output() {
            if let Output::Event(e) = &out {
                self.note(e);
            }
            outputs.push(out);
        }
        let restore = self.restore_file();
        if restore != self.queued_restore {
            self.queued_restore = restore.clone();
            self.queue.push_back(Queued::Persist(restore));
        }
        self.queue.extend(outputs.into_iter().map(Queued::Effect));
        while !self.persisting {
            match self.queue.pop_front() {
                None => break,
                Some(Queued::Effect(out)) => self.carry_out(out),
                Some(Queued::Persist(restore)) => self.persist_restore(restore),
            }
        }
    }

    fn restore_file(&self) -> RestoreFile {
        let point = self.ctl.machine().restore_point();
        let committed = point.filter(|p| p.committed).map(|p| p.epoch);
        RestoreFile {
            format: STATE_FORMAT,
            restore: point,
            last_committed: self.last_committed.max(committed),
            stop: self.stop,
            ended: self.ended.clone(),
        }
    }

    fn persist_restore(&mut self, restore: RestoreFile) {
        self.persisting = true;
        let path = self.state.restore_file();
        let tx = self.tx.clone();
        self.written_restore = restore.clone();
        tokio::task::spawn_blocking(move || {
            let result = crate::store::write_json(&path, &restore).map_err(|e| e.to_string());
            let _ = tx.send(Ev::RestoreWritten(result));
        });
    }

    /// Keeps what the restore file records, and prints the event.
    fn note(&mut self, e: &Event) {
        let now = self.clock.now();
        self.printer.core(now, e);
        match e {
            Event::CheckpointCommitted { epoch } => {
                self.last_committed = self.last_committed.max(Some(*epoch))
            }
            Event::StopRequested { mode } => self.stop = self.stop.max(Some(*mode)),
            Event::Transition { to, reason, .. } if to.is_terminal() => {
                let c = self.ctl.machine();
                let drained = *to == State::Stopped
                    && *reason == Reason::AllTasksFinished
                    && self.stop == Some(StopMode::Graceful)
                    && c.restore_point().is_none();
                self.ended = Some(Ending {
                    state: *to,
                    reason: reason.to_string(),
                    drained: drained.then(|| c.status().generation),
                });
            }
            Event::Transition {
                to: State::Running, ..
            } if self.stop_at.is_none() => {
                if let Some((after, _)) = self.stop_after.filter(|_| self.stop.is_none()) {
                    self.stop_at = Some(Instant::now() + after);
                }
            }
            _ => {}
        }
    }

    fn carry_out(&mut self, out: Output) {
        match out {
            Output::StartWorkers {
                generation,
                restore,
            } => {
                self.generation = Some((generation, restore));
                self.greeted.clear();
                self.assigned = false;
                self.sched.start(generation, &self.launch);
            }
            Output::StopWorkers { generation } => {
                self.ending.push(generation);
                self.sched.stop(generation);
            }
            Output::ReleaseWorkers { generation } => {
                self.ending.push(generation);
                self.send_generation(generation, &Frame::Shutdown);
                self.sched.release(generation);
            }
            Output::Send { worker, message } => {
                let to = Who::Worker(worker, message.generation);
                self.send_to(to, Frame::ToWorker(message).encode());
            }
            Output::PersistMetadata { epoch, generation } => {
                let (state, tx) = (self.state.clone(), self.tx.clone());
                tokio::task::spawn_blocking(move || {
                    let result = crate::store::write_json(
                        &state.metadata_file(epoch),
                        &Metadata { epoch, generation },
                    );
                    let _ = tx.send(Ev::MetadataWritten(
                        epoch,
                        result.map_err(|e| e.to_string()),
                    ));
                });
            }
            Output::Cleanup { before } => {
                let (state, tx) = (self.state.clone(), self.tx.clone());
                tokio::task::spawn_blocking(move || {
                    let result = state.cleanup(before).map_err(|e| e.to_string());
                    let _ = tx.send(Ev::CleanedUp(before, result));
                });
            }
            Output::Event(_) => {}
        }
    }

    fn on_event(&mut self, ev: Ev) {
        match ev {
            Ev::Greeted { from, peer, reply } => {
                let answer = self.admit(&peer);
                if let Err(reason) = &answer {
                    self.refuse(format!("{peer} at {from}"), reason.clone());
                }
                let _ = reply.send(answer);
            }
            Ev::Connected { id, writer, reader } => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.writer = Some(writer);
                    conn.reader = Some(reader);
                }
                self.maybe_assign();
            }
            Ev::Frame(id, frame) => self.on_frame(id, frame),
            Ev::Closed(id, why) => self.on_closed(id, why),
            Ev::Refused { from, reason } => self.refuse(from.to_string(), reason),
            Ev::Sched(e) => self.on_sched(e),
            // A failed write leaves the queue blocked: nothing that depends on the restore
            // point may go out, and the run ends.
            Ev::RestoreWritten(Ok(())) => self.persisting = false,
            Ev::RestoreWritten(Err(e)) => {
                self.fatal = Some(format!("writing the restore point: {e}"));
            }
            Ev::MetadataWritten(epoch, Ok(())) => {
                self.handle(Input::MetadataPersisted { epoch });
            }
            Ev::MetadataWritten(epoch, Err(reason)) => {
                self.handle(Input::MetadataPersistFailed { epoch, reason });
            }
            Ev::CleanedUp(before, Ok(())) => {
                self.handle(Input::CleanupDone { before });
            }
            Ev::CleanedUp(before, Err(e)) => tracing::warn!(%before, error = %e, "cleanup failed"),
        }
    }

    fn on_sched(&mut self, e: SchedulerEvent) {
        let now = self.clock.now();
        match e {
            SchedulerEvent::Started {
                generation,
                worker,
                pid,
            } => {
                self.printer.runtime(
                    now,
                    "WorkerStarted",
                    json!({ "worker": worker.0, "generation": generation.0, "pid": pid }),
                    || format!("worker {worker} of {generation} started (pid {pid})"),
                );
            }
            SchedulerEvent::Failed { generation, reason } => {
                self.handle(Input::SchedulerFailed { generation, reason });
            }
            SchedulerEvent::Exited {
                generation,
                worker,
                status,
            } => {
                self.printer.runtime(
                    now,
                    "WorkerExited",
                    json!({ "worker": worker.0, "generation": generation.0, "status": status }),
                    || format!("worker {worker} of {generation} exited: {status}"),
                );
                if self.ending.contains(&generation) {
                    return;
                }
                let open = self
                    .conns
                    .values()
                    .any(|c| c.who == Who::Worker(worker, generation));
                if open {
                    let bound =
                        Instant::now() + std::time::Duration::from_millis(EXIT_WAITS_FOR_CLOSE_MS);
                    self.pending_exits.push((worker, generation, bound));
                } else {
                    self.handle(Input::WorkerExited { worker, generation });
                }
            }
            SchedulerEvent::Stopped { generation } => {
                self.handle(Input::WorkersStopped { generation });
            }
        }
    }

    /// Every way out: tell admins, kill and reap every worker, close the trace.
    async fn finish(mut self) {
        let state = self.ctl.machine().state();
        let admins: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.who == Who::Admin)
            .map(|(&id, _)| id)
            .collect();
        // Only a job that ended says so; a controller that gives up just closes.
        if self.ended.is_some() {
            for id in admins {
                self.send_to_id(id, Frame::Ended { state });
            }
        }
        self.sched.shutdown().await;
        let _ = std::fs::remove_file(self.state.control_file());
        if let Ctl::Recorded(r) = self.ctl {
            let mut sink = r.finish(Outcome::Ended);
            let flushed = sink.out.flush().map_err(|e| e.to_string());
            if let Some(e) = sink.error.or(flushed.err()) {
                tracing::error!(error = %e, "the trace could not be written in full");
            }
        }
        // Give the writer tasks a moment to hand over the last frames (Ended to admins).
        tokio::task::yield_now().await;
        self.printer.close();
    }
}
