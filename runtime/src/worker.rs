//! The worker process (`quiesce worker`, started by the scheduler only): the core's worker
//! machine over a real mini-pipeline — sources yielding numbered records at a rate, the keyed
//! counting operator, a two-phase-commit file sink — with data connections to every other
//! worker of its generation.
//!
//! It greets the controller, waits for its assignment, connects to its peers and loads its
//! restore state; only then is its machine built (which reports Ready at once). It never exits
//! by itself: it ends when the controller says so, when the controller's connection closes, on
//! SIGTERM, or with its parent (a parent-death signal).

use crate::clock::Clock;
use crate::net;
use crate::store::{FinalPosition, StateDir};
use crate::wire::{Assign, DataItem, Frame, Hello, Peer, SourceConfig, Token, PROTOCOL};
use bytes::Bytes;
use quiesce_core::worker::{Restore, TaskPhase, WorkerInput, WorkerOutput};
use quiesce_core::{
    Epoch, Generation, OperatorKind, Plan, StopJobMode, TaskId, Time, Worker, WorkerEvent,
    WorkerId, WorkerSetup,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Who this worker is and where its controller is.
#[derive(Clone, Debug)]
pub struct WorkerArgs {
    /// Its slot.
    pub worker: WorkerId,
    /// Its generation.
    pub generation: Generation,
    /// The controller's listener.
    pub controller: SocketAddr,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The run's token.
    pub token: Token,
}

/// Everything the worker's loop is told.
enum Ev {
    Control(Result<Frame, String>),
    ControlClosed(String),
    /// An inbound data connection from a peer passed its greeting.
    PeerIn(WorkerId, mpsc::Sender<Bytes>, tokio::task::AbortHandle),
    Data(WorkerId, Result<Frame, String>),
    DataClosed(WorkerId, String),
    Snapshot(TaskId, Epoch, Result<(), String>),
}

/// The most items in one data frame.
const ITEMS_PER_FRAME: usize = 1024;
/// How many frames may wait for a peer before the sources stop reading: at most this many
/// times [`ITEMS_PER_FRAME`] records queue ahead of a barrier.
const HIGH_WATER_FRAMES: usize = 16;
/// How long the data mesh may take to come up.
const MESH_TIMEOUT_MS: u64 = 10_000;

/// Runs the worker until it is told to end. An error ends the process non-zero.
pub async fn run(args: WorkerArgs) -> Result<(), String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ev>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding the data listener: {e}"))?;
    let data_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let hello = Hello {
        protocol: PROTOCOL,
        token: args.token,
        peer: Peer::Worker {
            worker: args.worker,
            generation: args.generation,
            data: data_addr,
        },
    };
    let conn = net::connect(args.controller, hello).await?;
    let (on_frame, on_close) = (tx.clone(), tx.clone());
    let (control, _) = net::split(
        conn,
        move |f| on_frame.send(Ev::Control(f)).is_ok(),
        move |why| {
            let _ = on_close.send(Ev::ControlClosed(why));
        },
    );
    tokio::task::spawn_local(accept_peers(listener, args.clone(), tx.clone()));
    // Peers that got their assignment first connect already: keep what they send.
    let mut early = Vec::new();
    let assign = loop {
        match rx.recv().await {
            Some(Ev::Control(Ok(Frame::Assign(a)))) => break a,
            Some(Ev::Control(Ok(Frame::Shutdown))) | Some(Ev::ControlClosed(_)) | None => {
                return Ok(())
            }
            Some(Ev::Control(other)) => tracing::warn!(?other, "unexpected before the assignment"),
            Some(ev) => early.push(ev),
        }
    };
    let mut w = Running::start(args, assign, control, tx, &mut rx, early).await?;
    w.run(&mut rx).await
}

/// Accepts data connections from peers of the same generation.
async fn accept_peers(
    listener: tokio::net::TcpListener,
    args: WorkerArgs,
    tx: mpsc::UnboundedSender<Ev>,
) {
    net::accept_loop(listener, move |stream, from| {
        let (tx, args) = (tx.clone(), args.clone());
        async move {
            let (hello, mut conn) = match net::accept_hello(stream, &args.token).await {
                Ok(ok) => ok,
                Err(reason) => return tracing::warn!(%from, %reason, "refused a data connection"),
            };
            let peer = match hello.peer {
                Peer::Data {
                    from: p,
                    generation,
                } if generation == args.generation && p != args.worker => p,
                other => {
                    let reason = format!(
                        "{other} may not send data to {} of {}",
                        args.worker, args.generation
                    );
                    tracing::warn!(%from, %reason, "refused a data connection");
                    return net::refuse(&mut conn, &reason).await;
                }
            };
            if net::welcome(&mut conn).await.is_err() {
                return;
            }
            let (on_frame, on_close) = (tx.clone(), tx.clone());
            let (writer, reader) = net::split(
                conn,
                move |f| on_frame.send(Ev::Data(peer, f)).is_ok(),
                move |why| {
                    let _ = on_close.send(Ev::DataClosed(peer, why));
                },
            );
            let _ = tx.send(Ev::PeerIn(peer, writer, reader));
        }
    })
    .await;
}

/// A source's reading: records are owed at the configured rate.
struct SourceState {
    task: TaskId,
    /// Thousandths of a record owed.
    credit: u64,
}

struct Running {
    args: WorkerArgs,
    machine: Worker,
    plan: Plan,
    clock: Clock,
    state: StateDir,
    control: mpsc::Sender<Bytes>,
    out: BTreeMap<WorkerId, mpsc::Sender<Bytes>>,
    /// The writers of inbound data connections: held so the connections stay open.
    _inbound: BTreeMap<WorkerId, mpsc::Sender<Bytes>>,
    sources: Vec<SourceState>,
    source_config: SourceConfig,
    max_poll: u32,
    last_read: Instant,
    tx: mpsc::UnboundedSender<Ev>,
    /// What arrived while the mesh came up.
    early: Vec<Ev>,
}

impl Running {
    /// Connects to every peer, waits for every peer to connect, loads the restore state and
    /// builds the machine.
    async fn start(
        args: WorkerArgs,
        assign: Assign,
        control: mpsc::Sender<Bytes>,
        tx: mpsc::UnboundedSender<Ev>,
        rx: &mut mpsc::UnboundedReceiver<Ev>,
        before: Vec<Ev>,
    ) -> Result<Running, String> {
        let plan = Plan::new(&assign.job).map_err(|e| format!("the assigned job: {e}"))?;
        let mut out = BTreeMap::new();
        for &(peer, addr) in assign.peers.iter().filter(|p| p.0 != args.worker) {
            let hello = Hello {
                protocol: PROTOCOL,
                token: args.token,
                peer: Peer::Data {
                    from: args.worker,
                    generation: args.generation,
                },
            };
            let conn = net::connect(addr, hello).await?;
            let lost = tx.clone();
            let (writer, _) = net::split(
                conn,
                |_| true,
                move |why| {
                    let _ = lost.send(Ev::DataClosed(peer, why));
                },
            );
            out.insert(peer, writer);
        }
        let mut inbound = BTreeMap::new();
        let mut early = Vec::new();
        let is_peer = |p: WorkerId| p != args.worker && assign.peers.iter().any(|q| q.0 == p);
        let take = |inbound: &mut BTreeMap<_, _>, p, w, reader: tokio::task::AbortHandle| {
            if is_peer(p) && !inbound.contains_key(&p) {
                inbound.insert(p, w);
            } else {
                tracing::warn!(peer = %p, "refused a data connection: not a peer, or a second one");
                reader.abort();
            }
        };
        for ev in before {
            match ev {
                Ev::PeerIn(p, w, reader) => take(&mut inbound, p, w, reader),
                ev => early.push(ev),
            }
        }
        let deadline = Instant::now() + Duration::from_millis(MESH_TIMEOUT_MS);
        let others = assign.peers.iter().filter(|p| p.0 != args.worker).count();
        while inbound.len() < others {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => {
                    return Err(format!(
                        "only {} of {others} peers connected in time",
                        inbound.len()
                    ))
                }
                Ok(Some(Ev::PeerIn(p, w, reader))) => take(&mut inbound, p, w, reader),
                Ok(Some(Ev::ControlClosed(_))) | Ok(None) => {
                    return Err("the controller left".into())
                }
                // Data from a peer that is up already: it waits for the machine.
                Ok(Some(ev)) => early.push(ev),
            }
        }
        let state = StateDir::new(&args.state_dir);
        let tasks = plan.tasks_of(args.worker).to_vec();
        let clock = Clock::start(Time(0));
        let mut setup = WorkerSetup::new(
            assign.job.clone(),
            args.worker,
            args.generation,
            assign.config,
            clock.now(),
        );
        if let Some(epoch) = assign.restore {
            match load_restore(&state, epoch, &tasks) {
                Ok(restore) => setup = setup.with_restore(restore),
                Err(reason) => {
                    let failed = Frame::StartFailed {
                        reason: reason.clone(),
                    };
                    let _ = control.try_send(failed.encode());
                    // The controller ends this generation; wait for it (bounded), so that the
                    // frame goes out before the process does.
                    let bound = Instant::now() + Duration::from_millis(MESH_TIMEOUT_MS);
                    while let Ok(Some(ev)) = tokio::time::timeout_at(bound, rx.recv()).await {
                        if matches!(ev, Ev::ControlClosed(_) | Ev::Control(Ok(Frame::Shutdown))) {
                            break;
                        }
                    }
                    return Err(reason);
                }
            }
        }
        let machine = Worker::new(setup).map_err(|e| format!("the worker machine: {e:?}"))?;
        let sources = tasks
            .iter()
            .filter(|t| {
                assign
                    .job
                    .operator(t.operator)
                    .is_some_and(|o| o.kind == OperatorKind::Source)
            })
            .map(|&task| SourceState { task, credit: 0 })
            .collect();
        Ok(Running {
            max_poll: assign.config.max_poll_records,
            args,
            machine,
            plan,
            clock,
            state,
            control,
            out,
            _inbound: inbound,
            sources,
            source_config: assign.sources,
            last_read: Instant::now(),
            tx,
            early,
        })
    }

    async fn run(&mut self, rx: &mut mpsc::UnboundedReceiver<Ev>) -> Result<(), String> {
        for ev in std::mem::take(&mut self.early) {
            if !self.on_event(ev)? {
                return Ok(());
            }
        }
        loop {
            self.carry_out().await?;
            let read_at = self.last_read + Duration::from_millis(self.source_config.read_every_ms);
            let timer = self.machine.poll_timeout().map(|t| self.clock.instant(t));
            let read = (!self.sources.is_empty()).then_some(read_at);
            let deadline = timer.into_iter().chain(read).min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = sleep => {
                    if self.machine.poll_timeout().is_some_and(|t| t <= self.clock.now()) {
                        self.machine.handle_timeout(self.clock.now());
                    }
                    if Instant::now() >= read_at {
                        self.read_sources();
                    }
                }
                ev = rx.recv() => match ev {
                    None => return Ok(()),
                    Some(ev) => if !self.on_event(ev)? { return Ok(()) },
                },
            }
        }
    }

    fn handle(&mut self, input: WorkerInput) {
        let now = self.clock.now();
        if let Err(rejected) = self.machine.handle(now, input) {
            tracing::warn!(?rejected, "the worker refused an input");
        }
    }

    /// False when the worker should end.
    fn on_event(&mut self, ev: Ev) -> Result<bool, String> {
        match ev {
            Ev::Control(Ok(Frame::ToWorker(msg))) => self.handle(WorkerInput::Command(msg)),
            Ev::Control(Ok(Frame::Shutdown)) => return Ok(false),
            Ev::Control(other) => tracing::warn!(?other, "an unexpected frame from the controller"),
            Ev::ControlClosed(why) => {
                tracing::info!(%why, "the controller's connection closed");
                return Ok(false);
            }
            Ev::PeerIn(p, _, reader) => {
                tracing::warn!(peer = %p, "refused a data connection after the mesh was up");
                reader.abort();
            }
            Ev::Data(from, Ok(Frame::Data(items))) => self.on_data(from, items)?,
            Ev::Data(from, other) => {
                return Err(format!("an unexpected frame from {from}: {other:?}"))
            }
            Ev::DataClosed(peer, why) => {
                // Once every task here is over, a peer leaving is the generation ending.
                if self.machine.status().all_tasks_over() {
                    tracing::info!(%peer, %why, "a peer left after every task here ended");
                    return Ok(false);
                }
                // Items on its channels would be lost: the core refuses the gap anyway.
                return Err(format!("the data connection with {peer} ended ({why})"));
            }
            Ev::Snapshot(task, epoch, Ok(())) => {
                self.handle(WorkerInput::SnapshotDone { task, epoch })
            }
            Ev::Snapshot(task, epoch, Err(reason)) => self.handle(WorkerInput::SnapshotFailed {
                task,
                epoch,
                reason,
            }),
        }
        Ok(true)
    }

    /// Items from `from`: each must travel from a task `from` hosts to one this worker hosts.
    fn on_data(&mut self, from: WorkerId, items: Vec<DataItem>) -> Result<(), String> {
        for DataItem { channel, seq, item } in items {
            let hosted = self.plan.worker_of(channel.from) == Some(from)
                && self.plan.worker_of(channel.to) == Some(self.args.worker);
            if !hosted {
                return Err(format!(
                    "{from} sent an item on {channel}, which is not its to send to us"
                ));
            }
            let generation = self.args.generation;
            self.handle(WorkerInput::Data {
                generation,
                channel,
                seq,
                item,
            });
        }
        Ok(())
    }

    /// Announces what each running source has read since the last time, unless a peer's
    /// queue is past its high-water mark (backpressure).
    fn read_sources(&mut self) {
        let now = Instant::now();
        let elapsed_ms = now.duration_since(self.last_read).as_millis() as u64;
        self.last_read = now;
        let cap = u64::from(self.max_poll) * 1000;
        let rate = u64::from(self.source_config.records_per_sec);
        let blocked = self
            .out
            .values()
            .any(|w| w.max_capacity() - w.capacity() > HIGH_WATER_FRAMES);
        for i in 0..self.sources.len() {
            let s = &mut self.sources[i];
            s.credit = (s.credit + rate * elapsed_ms).min(cap);
            let task = s.task;
            let count = (s.credit / 1000) as u32;
            if count == 0 || blocked || self.machine.task_phase(task) != Some(TaskPhase::Running) {
                continue;
            }
            self.sources[i].credit -= u64::from(count) * 1000;
            self.handle(WorkerInput::SourceRecords { task, count });
        }
    }

    /// Carries out every output in order; data for a peer goes out as one frame per drain.
    async fn carry_out(&mut self) -> Result<(), String> {
        let mut data: BTreeMap<WorkerId, Vec<DataItem>> = BTreeMap::new();
        while let Some(out) = self.machine.poll_output() {
            match out {
                WorkerOutput::ToController(msg) => {
                    if let WorkerEvent::TaskFinished { task } = msg.event {
                        self.save_final_position(task).await?;
                    }
                    self.control
                        .try_send(Frame::FromWorker(msg).encode())
                        .map_err(|e| format!("the controller does not read: {e}"))?;
                }
                WorkerOutput::SendData {
                    to_worker,
                    channel,
                    seq,
                    item,
                    ..
                } => {
                    data.entry(to_worker)
                        .or_default()
                        .push(DataItem { channel, seq, item });
                }
                WorkerOutput::Snapshot { task, epoch, state } => {
                    let (dir, tx) = (self.state.clone(), self.tx.clone());
                    tokio::task::spawn_blocking(move || {
                        let result = dir
                            .write_snapshot(epoch, task, &state)
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Ev::Snapshot(task, epoch, result));
                    });
                }
                WorkerOutput::Commit {
                    task,
                    transaction,
                    records,
                } => {
                    // Durable before anything that follows it in this drain goes out.
                    let dir = self.state.clone();
                    tokio::task::spawn_blocking(move || dir.commit(task, transaction, &records))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("committing {transaction:?} of {task}: {e}"))?;
                }
                WorkerOutput::Write { task, record } => {
                    return Err(format!("{task} wrote {record} at least once: this pipeline has two-phase-commit sinks only"));
                }
            }
        }
        for (peer, items) in data {
            let writer = self
                .out
                .get(&peer)
                .ok_or_else(|| format!("no data connection to {peer}"))?;
            for chunk in items.chunks(ITEMS_PER_FRAME) {
                writer
                    .send(Frame::Data(chunk.to_vec()).encode())
                    .await
                    .map_err(|_| format!("the data connection to {peer} is gone"))?;
            }
        }
        Ok(())
    }

    /// Where a finished source stood: what a graceful stop must have delivered.
    async fn save_final_position(&mut self, task: TaskId) -> Result<(), String> {
        let status = self.machine.status();
        // Only a graceful drain promises every record read: other stops end at a checkpoint,
        // and need not wait for this write.
        if status.stop != Some(StopJobMode::Graceful) {
            return Ok(());
        }
        let Some(next_offset) = status
            .tasks
            .iter()
            .find(|t| t.task == task)
            .and_then(|t| t.next_offset)
        else {
            return Ok(());
        };
        let position = FinalPosition {
            task,
            generation: self.args.generation,
            next_offset,
        };
        let path = self.state.final_file(self.args.generation, task);
        tokio::task::spawn_blocking(move || crate::store::write_json(&path, &position))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("saving where {task} stopped: {e}"))
    }
}

/// Arranges for this process to be killed when its parent dies, and leaves at once if the
/// parent is already gone (it died before the arrangement took).
pub fn die_with_parent(parent: u32) -> Result<(), String> {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| format!("prctl: {e}"))?;
    if getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
        return Err("the controller that started this worker is gone".into());
    }
    Ok(())
}

/// This worker's tasks' snapshots of a completed checkpoint.
fn load_restore(state: &StateDir, epoch: Epoch, tasks: &[TaskId]) -> Result<Restore, String> {
    if !state.is_complete(epoch) {
        return Err(format!(
            "checkpoint {epoch} is not complete: it has no metadata"
        ));
    }
    let tasks = tasks
        .iter()
        .map(|&t| state.read_snapshot(epoch, t).map(|s| (t, s)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Restore { epoch, tasks })
}
