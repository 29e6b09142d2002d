//! How long a real job takes to stop and to start, and what it costs: `quiesce run` (the
//! controller) with 4 worker processes on loopback TCP, parallelism 2 (sources on w0 and w1, the
//! keyed count on w2 and w3, the sinks on w0 and w1, so every record crosses workers twice),
//! 500 records/s per source partition (1,000 in all), a checkpoint every second, and a stop
//! asked 5.5 s after the job runs — half an interval away from the periodic checkpoints.
//!
//! For each of the checkpoint, graceful and immediate stops, each round in a fresh state
//! directory, it reports:
//! - the controller's own span, from its `StopRequested` event to its transition to `Stopped`
//!   (`t_ms` of the two lines, the controller's clock, whole milliseconds);
//! - the client's, by this bench's clock, from just before it connects to the controller and
//!   speaks the admin protocol (what `quiesce stop` does) to reading the `Stopped` line on the
//!   run's stdout, to the `Ended` frame on the admin connection (what `quiesce stop` waits
//!   for), and to the exit of the `quiesce run` process (which reaps every worker first);
//! - start → Running: from spawning `quiesce run` to reading its transition to `Running`, and
//!   the controller's own Scheduling → Running span;
//! - peak memory: VmHWM (and VmRSS) of the controller and every worker, read from /proc just
//!   before the stop.
//!
//! Then one run at the sources' highest rate (1,000,000 records/s per partition asked, capped
//! by `max_poll_records` per 10 ms read) stopped with a checkpoint after 10 s: committed records
//! per second, counted from the sinks' committed files.
//!
//! A measurement, not a test: targets are printed beside the figures, never asserted. It exits
//! non-zero only when a run fails (does not start, fails, does not stop, exits non-zero, or
//! commits a record twice or leaves a gap); every process it started is killed on the way out.
//!
//! `cargo bench -p quiesce-runtime --bench stop`; after `--`: `--rounds N` (7), `--stop-after
//! DURATION` (5.5s), `--throughput-for DURATION` (10s), and any of `checkpoint`, `graceful`,
//! `immediate`, `throughput` to run only those parts (a filter naming none of them runs nothing).

use futures_util::{SinkExt, StreamExt};
use quiesce_core::worker::Partition;
use quiesce_core::{Generation, StopMode};
use quiesce_runtime::net;
use quiesce_runtime::store::{ControlFile, StateDir};
use quiesce_runtime::wire::{Frame, Hello, Peer, Token, PROTOCOL};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

const QUIESCE: &str = env!("CARGO_BIN_EXE_quiesce");
const WORKERS: u32 = 4;
const PARALLELISM: u32 = 2;
/// Records per second per source partition: 1,000 in all.
const RATE: u32 = 500;
const MAX_RATE: u32 = 1_000_000;
const CHECKPOINT_INTERVAL: &str = "1s";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

const START_TARGET_MS: f64 = 200.0;
const RSS_TARGET_MIB: f64 = 50.0;

/// A stop mode the bench measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Checkpoint,
    Graceful,
    Immediate,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Checkpoint, Mode::Graceful, Mode::Immediate];

    fn name(self) -> &'static str {
        match self {
            Mode::Checkpoint => "checkpoint",
            Mode::Graceful => "graceful",
            Mode::Immediate => "immediate",
        }
    }

    fn stop(self) -> StopMode {
        match self {
            Mode::Checkpoint => StopMode::Checkpoint,
            Mode::Graceful => StopMode::Graceful,
            Mode::Immediate => StopMode::Immediate,
        }
    }

    /// The median the stop should reach, in milliseconds.
    fn target_ms(self) -> f64 {
        match self {
            Mode::Checkpoint | Mode::Graceful => 20.0,
            Mode::Immediate => 5.0,
        }
    }
}

struct Options {
    rounds: usize,
    stop_after: Duration,
    throughput_for: Duration,
    modes: Vec<Mode>,
    throughput: bool,
    /// A filter naming none of the parts.
    nothing: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 7,
        stop_after: Duration::from_millis(5_500),
        throughput_for: Duration::from_secs(10),
        modes: Vec::new(),
        throughput: false,
        nothing: None,
    };
    let mut named = false;
    let mut unknown = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "--rounds" => {
                o.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
                if o.rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
            }
            "--stop-after" => {
                o.stop_after = humantime::parse_duration(&value("--stop-after")?)
                    .map_err(|e| format!("--stop-after: {e}"))?
            }
            "--throughput-for" => {
                o.throughput_for = humantime::parse_duration(&value("--throughput-for")?)
                    .map_err(|e| format!("--throughput-for: {e}"))?
            }
            "checkpoint" | "graceful" | "immediate" | "throughput" => {
                named = true;
                match Mode::ALL.iter().find(|m| m.name() == a) {
                    Some(&m) => o.modes.push(m),
                    None => o.throughput = true,
                }
            }
            other if other.starts_with('-') => return Err(format!("unknown flag {other}")),
            // A filter `cargo bench -- NAME` passes to every bench: when it names none of our
            // parts, there is nothing to run here (as with a criterion bench).
            other => unknown.push(other.to_string()),
        }
    }
    if !named && !unknown.is_empty() {
        o.nothing = Some(unknown.join(" "));
    }
    if !named {
        o.modes = Mode::ALL.to_vec();
        o.throughput = true;
    }
    Ok(o)
}

/// One line of the run's stdout, stamped when the bench read it.
struct Line {
    at: Instant,
    raw: String,
    v: Value,
}

impl Line {
    fn event(&self) -> &str {
        self.v["event"].as_str().unwrap_or("")
    }

    fn t_ms(&self) -> Option<u64> {
        self.v["t_ms"].as_u64()
    }

    /// The state a transition goes to, when it is a plain name.
    fn to(&self) -> Option<&str> {
        (self.event() == "Transition")
            .then(|| self.v["to"].as_str())
            .flatten()
    }

    fn u32_field(&self, name: &str) -> Option<u32> {
        self.v[name].as_u64().and_then(|n| u32::try_from(n).ok())
    }
}

/// A `quiesce run` the bench started, and everything it printed.
struct Run {
    child: tokio::process::Child,
    pid: u32,
    lines: mpsc::UnboundedReceiver<Line>,
    seen: Vec<Line>,
    spawned: Instant,
    command: String,
    state: PathBuf,
    stderr: PathBuf,
    reaped: bool,
    // Last: removed after the processes are gone.
    _dir: tempfile::TempDir,
}

fn run_args(state: &Path, rate: u32) -> Vec<String> {
    vec![
        "run".into(),
        "--workers".into(),
        WORKERS.to_string(),
        "--parallelism".into(),
        PARALLELISM.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--checkpoint-interval".into(),
        CHECKPOINT_INTERVAL.into(),
        "--state-dir".into(),
        state.display().to_string(),
        "--events".into(),
        "json".into(),
    ]
}

impl Run {
    fn spawn(rate: u32) -> Result<Run, String> {
        let dir = tempfile::Builder::new()
            .prefix("quiesce-bench-")
            .tempdir()
            .map_err(|e| format!("a temporary directory: {e}"))?;
        let state = dir.path().join("state");
        let stderr = dir.path().join("controller.log");
        let log = std::fs::File::create(&stderr).map_err(|e| format!("{stderr:?}: {e}"))?;
        let args = run_args(&state, rate);
        let command = format!("quiesce {}", args.join(" "));
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(QUIESCE)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawning {QUIESCE}: {e}"))?;
        let pid = child.id().ok_or("quiesce run exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(raw)) = reader.next_line().await {
                let at = Instant::now();
                let v = serde_json::from_str(&raw).unwrap_or(Value::Null);
                if tx.send(Line { at, raw, v }).is_err() {
                    return;
                }
            }
        });
        Ok(Run {
            child,
            pid,
            lines,
            seen: Vec::new(),
            spawned,
            command,
            state,
            stderr,
            reaped: false,
            _dir: dir,
        })
    }

    /// Reads lines until one satisfies `want` (its index in `seen`), or `deadline` passes
    /// (`None`). The job failing, or ending otherwise, or stdout closing first is an error.
    async fn until(
        &mut self,
        deadline: Instant,
        what: &str,
        want: impl Fn(&Line) -> bool,
    ) -> Result<Option<usize>, String> {
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.lines.recv()).await;
            let line = match next {
                Err(_) => return Ok(None),
                Ok(None) => return Err(format!("the run's stdout closed before {what}")),
                Ok(Some(line)) => line,
            };
            let hit = want(&line);
            let to = line.to().map(str::to_string);
            self.seen.push(line);
            if hit {
                return Ok(Some(self.seen.len() - 1));
            }
            match to.as_deref() {
                Some("Failed") => return Err(format!("the job failed before {what}")),
                Some(s @ ("Stopped" | "Finished")) => {
                    return Err(format!("the job ended {s} before {what}"))
                }
                _ => {}
            }
        }
    }

    /// Like [`Run::until`], but not seeing the line by `deadline` is an error.
    async fn expect(
        &mut self,
        within: Duration,
        what: &str,
        want: impl Fn(&Line) -> bool,
    ) -> Result<usize, String> {
        self.until(Instant::now() + within, what, want)
            .await?
            .ok_or_else(|| format!("no {what} within {} s", within.as_secs()))
    }

    /// The first line satisfying `want`, among those read.
    fn find(&self, want: impl Fn(&Line) -> bool) -> Option<&Line> {
        self.seen.iter().find(|l| want(l))
    }

    fn worker_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .seen
            .iter()
            .filter(|l| l.event() == "WorkerStarted")
            .filter_map(|l| l.u32_field("pid"))
            .collect();
        pids.extend(children_of(self.pid));
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn generation(&self) -> Generation {
        let g = self
            .seen
            .iter()
            .filter(|l| l.event() == "WorkerStarted")
            .filter_map(|l| l.v["generation"].as_u64())
            .max();
        Generation(g.unwrap_or(1))
    }

    /// SIGKILL to every worker still the controller's child, then to the controller.
    fn kill_all(&mut self) {
        if self.reaped {
            return;
        }
        for w in self.worker_pids() {
            if parent_of(w) == Some(self.pid) {
                sigkill(w);
            }
        }
        let _ = self.child.start_kill();
    }

    /// Kills everything, reaps the controller, and says what went wrong with what the run left.
    async fn abort(mut self, error: String) -> String {
        self.kill_all();
        if !self.reaped {
            let _ = tokio::time::timeout(EXIT_TIMEOUT, self.child.wait()).await;
            self.reaped = true;
        }
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        let mut out = format!("{error}\n  command: {}\n", self.command);
        let last: Vec<&str> = self.seen.iter().rev().take(15).map(|l| &*l.raw).collect();
        out.push_str("  last stdout lines:\n");
        for raw in last.into_iter().rev() {
            out.push_str(&format!("    {raw}\n"));
        }
        let mut logs = vec![("controller stderr".to_string(), self.stderr.clone())];
        if let Ok(entries) = std::fs::read_dir(self.state.join("logs")) {
            let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            logs.extend(files.into_iter().map(|p| (p.display().to_string(), p)));
        }
        for (name, path) in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(10).collect();
            if !tail.is_empty() {
                out.push_str(&format!("  {name} (last lines):\n"));
                for l in tail.into_iter().rev() {
                    out.push_str(&format!("    {l}\n"));
                }
            }
        }
        out
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // A panic's way out: kill_on_drop covers the controller, this its workers too.
        self.kill_all();
    }
}

fn sigkill(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// The parent of `pid`, from /proc/PID/stat.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The children of every thread of `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.filter_map(|t| t.ok()) {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// VmHWM and VmRSS of a process, in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("/proc/{pid}/status has no {name}"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Peak and resident memory of the controller and its workers, in KiB.
#[derive(Clone, Copy, Default)]
struct Memory {
    controller_hwm: u64,
    worker_hwm_max: u64,
    hwm_sum: u64,
    rss_sum: u64,
    processes: usize,
}

fn memory(run: &Run) -> Result<Memory, String> {
    let mut m = Memory::default();
    let (hwm, rss) = memory_kib(run.pid)?;
    m.controller_hwm = hwm;
    m.hwm_sum = hwm;
    m.rss_sum = rss;
    m.processes = 1;
    for w in run.worker_pids() {
        let (hwm, rss) = memory_kib(w)?;
        m.worker_hwm_max = m.worker_hwm_max.max(hwm);
        m.hwm_sum += hwm;
        m.rss_sum += rss;
        m.processes += 1;
    }
    Ok(m)
}

/// What the sinks committed: records, and how the offsets of each partition lie.
struct Committed {
    records: u64,
    /// Where the sources stood when they finished, if they wrote it.
    read: Option<u64>,
    /// Offsets committed twice or skipped.
    anomalies: Vec<String>,
}

fn committed(state: &Path, generation: Generation) -> Result<Committed, String> {
    let dir = StateDir::new(state);
    let mut by: BTreeMap<Partition, Vec<(u64, u64)>> = BTreeMap::new();
    for file in dir.committed()? {
        for (p, start, end) in file.ranges {
            by.entry(p).or_default().push((start, end));
        }
    }
    let mut out = Committed {
        records: 0,
        read: None,
        anomalies: Vec::new(),
    };
    for (p, mut ranges) in by {
        ranges.sort_unstable();
        let mut next = 0;
        for (start, end) in ranges {
            if start > next {
                out.anomalies.push(format!(
                    "partition {}/{}: offsets {next}..{start} missing",
                    p.source.0, p.index
                ));
            } else if start < next {
                out.anomalies.push(format!(
                    "partition {}/{}: offsets {start}..{} committed twice",
                    p.source.0,
                    p.index,
                    next.min(end)
                ));
            }
            out.records += end - start;
            next = next.max(end);
        }
    }
    let finals = dir.final_positions(generation)?;
    if !finals.is_empty() {
        out.read = Some(finals.iter().map(|f| f.next_offset).sum());
    }
    Ok(out)
}

/// The client's times for one stop.
struct Asked {
    /// Just before connecting.
    at: Instant,
    /// Connected and welcomed.
    connected: Instant,
    frames: mpsc::UnboundedReceiver<(Instant, Result<Frame, String>)>,
}

/// Asks the controller on `state` to stop, as `quiesce stop` does: reads the control file,
/// then (timed from here) connects, greets, and sends the stop; the frames that come back are
/// stamped as they arrive.
async fn ask_stop(state: &Path, mode: StopMode) -> Result<Asked, String> {
    let control: ControlFile =
        quiesce_runtime::store::read_json(&StateDir::new(state).control_file())?;
    let token = Token::from_hex(&control.token)?;
    let at = Instant::now();
    let hello = Hello {
        protocol: PROTOCOL,
        token,
        peer: Peer::Admin,
    };
    let mut conn = net::connect(control.addr, hello).await?;
    let connected = Instant::now();
    conn.send(Frame::Stop(mode).encode())
        .await
        .map_err(|e| format!("asking the stop: {e}"))?;
    let (tx, frames) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(next) = conn.next().await {
            let at = Instant::now();
            let frame = next
                .map_err(|e| e.to_string())
                .and_then(|b| Frame::decode(&b));
            if tx.send((at, frame)).is_err() {
                return;
            }
        }
    });
    Ok(Asked {
        at,
        connected,
        frames,
    })
}

/// One round's figures.
struct Round {
    start_to_running_ms: f64,
    scheduling_to_running_ms: f64,
    memory: Memory,
    /// The controller's StopRequested → Stopped.
    stop_ms: f64,
    /// The client's: request → Stopped line, → Ended frame, → process exit.
    to_stopped_ms: f64,
    to_ended_ms: Option<f64>,
    to_exit_ms: f64,
    connect_ms: f64,
    /// The controller's Running → Stopped.
    ran_ms: f64,
    committed: Committed,
    notes: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn span_ms(from: &Line, to: &Line) -> f64 {
    to.t_ms()
        .unwrap_or(0)
        .saturating_sub(from.t_ms().unwrap_or(0)) as f64
}

/// Starts a run, lets it run `stop_after`, stops it with `mode`, and measures.
async fn round(mode: Mode, rate: u32, stop_after: Duration) -> Result<Round, String> {
    let mut run = Run::spawn(rate)?;
    match measure(&mut run, mode, stop_after).await {
        Ok(r) => Ok(r),
        Err(e) => Err(run.abort(e).await),
    }
}

async fn measure(run: &mut Run, mode: Mode, stop_after: Duration) -> Result<Round, String> {
    let running = run
        .expect(START_TIMEOUT, "the transition to Running", |l| {
            l.to() == Some("Running")
        })
        .await?;
    let running_at = run.seen[running].at;
    let start_to_running_ms = ms(running_at - run.spawned);
    let scheduling = run
        .find(|l| l.to() == Some("Scheduling"))
        .ok_or("no transition to Scheduling before Running")?;
    let scheduling_to_running_ms = span_ms(scheduling, &run.seen[running]);

    // Let it run, reading its lines as they come.
    let stop_at = running_at + stop_after;
    run.until(stop_at, "the stop was asked", |_| false).await?;

    let memory = memory(run)?;
    let mut asked = ask_stop(&run.state, mode.stop())
        .await
        .map_err(|e| format!("asking the stop: {e}"))?;
    let stopped = run
        .expect(STOP_TIMEOUT, "the transition to Stopped", |l| {
            l.to() == Some("Stopped")
        })
        .await?;
    let to_stopped_ms = ms(run.seen[stopped].at - asked.at);
    let status = tokio::time::timeout(EXIT_TIMEOUT, run.child.wait())
        .await
        .map_err(|_| {
            format!(
                "quiesce run did not exit within {} s of its Stopped line",
                EXIT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("waiting for quiesce run: {e}"))?;
    let exited = Instant::now();
    run.reaped = true;
    if !status.success() {
        return Err(format!("quiesce run exited with {status} after Stopped"));
    }
    // Whatever it printed last.
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(1), run.lines.recv()).await
    {
        run.seen.push(line);
    }
    let requested = run
        .find(|l| l.event() == "StopRequested")
        .ok_or("no StopRequested event")?;
    let stop_ms = span_ms(requested, &run.seen[stopped]);
    let ran_ms = span_ms(&run.seen[running], &run.seen[stopped]);

    let mut notes = Vec::new();
    let mut to_ended_ms = None;
    while let Ok(Some((at, frame))) =
        tokio::time::timeout(Duration::from_secs(1), asked.frames.recv()).await
    {
        match frame {
            Ok(Frame::StopAnswer { accepted: true, .. }) => {}
            Ok(Frame::StopAnswer {
                accepted: false,
                detail,
            }) => return Err(format!("the controller refused the stop: {detail}")),
            Ok(Frame::Ended { state }) => {
                if state != quiesce_core::State::Stopped {
                    return Err(format!(
                        "the admin connection was told the job ended {state}"
                    ));
                }
                to_ended_ms = Some(ms(at - asked.at));
            }
            Ok(other) => notes.push(format!("an unexpected {} frame", other.kind())),
            Err(e) => notes.push(format!("the admin connection: {e}")),
        }
    }
    if to_ended_ms.is_none() {
        notes.push("no Ended frame on the admin connection".into());
    }
    for w in run.worker_pids() {
        if std::path::Path::new(&format!("/proc/{w}")).exists() && parent_of(w) == Some(run.pid) {
            notes.push(format!(
                "worker pid {w} still there after the controller exited"
            ));
        }
    }
    let committed = committed(&run.state, run.generation())?;
    if !committed.anomalies.is_empty() {
        return Err(format!(
            "the committed output is not exactly once: {}",
            committed.anomalies.join("; ")
        ));
    }
    if mode != Mode::Immediate {
        if let Some(read) = committed.read.filter(|&r| r != committed.records) {
            notes.push(format!(
                "the sources read {read} records, the sinks committed {}",
                committed.records
            ));
        }
    }
    Ok(Round {
        start_to_running_ms,
        scheduling_to_running_ms,
        memory,
        stop_ms,
        to_stopped_ms,
        to_ended_ms,
        to_exit_ms: ms(exited - asked.at),
        connect_ms: ms(asked.connected - asked.at),
        ran_ms,
        committed,
        notes,
    })
}

/// min, median, max.
fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((v[0], median, v[n - 1]))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One row of the table: a measure's min / median / max beside its target on the median.
fn row(what: &str, values: &[f64], unit: &str, target: Option<f64>) {
    let Some((min, median, max)) = stats(values) else {
        println!("  {what:<44} {:>8} {:>8} {:>8}", "-", "-", "-");
        return;
    };
    let target = match target {
        Some(t) => format!("≤ {t:<6} {}", if median <= t { "met" } else { "MISSED" }),
        None => String::new(),
    };
    // Counts are whole; times and sizes to a tenth.
    let p = if unit.is_empty() { 0 } else { 1 };
    println!("  {what:<44} {min:>8.p$} {median:>8.p$} {max:>8.p$}  {unit:<4} {target}");
}

fn header(title: &str) {
    println!(
        "{title:<46} {:>8} {:>8} {:>8}  {:<4} target (median)",
        "min", "median", "max", ""
    );
}

fn main() -> ExitCode {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(filter) = &opts.nothing {
        println!(
            "stop bench: {filter} names none of checkpoint, graceful, immediate, throughput: nothing to run"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(bench(opts))
}

async fn bench(opts: Options) -> ExitCode {
    let began = Instant::now();
    let load_start = load_average();
    println!("quiesce stop bench");
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("binary:  {QUIESCE}");
    println!(
        "each run: quiesce {} (in a fresh temporary directory)",
        run_args(Path::new("DIR/state"), RATE).join(" ")
    );
    println!(
        "job: {WORKERS} workers, parallelism {PARALLELISM} (sources on w0,w1, keyed count on w2,w3, sinks on \
         w0,w1: records cross workers), {RATE} records/s per source partition ({} in all), a checkpoint \
         every {CHECKPOINT_INTERVAL}, the stop asked {} s after Running, {} rounds per mode (modes interleaved)",
        RATE * PARALLELISM,
        opts.stop_after.as_secs_f64(),
        opts.rounds
    );
    println!(
        "machine: {} cores; load average at start: {load_start}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();

    let mut failures: Vec<String> = Vec::new();
    let mut results: BTreeMap<&str, Vec<Round>> = BTreeMap::new();
    for r in 1..=opts.rounds {
        for &mode in &opts.modes {
            match round(mode, RATE, opts.stop_after).await {
                Ok(x) => {
                    println!(
                        "{:<10} round {r}/{}: stop {:>3.0} ms controller, {:>6.1} ms to Stopped line, {:>6} ms to Ended, \
                         {:>6.1} ms to exit (connect {:.1}); start→Running {:>5.1} ms; ΣVmHWM {:.1} MiB; {} records committed{}",
                        mode.name(),
                        opts.rounds,
                        x.stop_ms,
                        x.to_stopped_ms,
                        x.to_ended_ms.map_or("-".into(), |v| format!("{v:.1}")),
                        x.to_exit_ms,
                        x.connect_ms,
                        x.start_to_running_ms,
                        mib(x.memory.hwm_sum),
                        x.committed.records,
                        if x.notes.is_empty() { String::new() } else { format!(" [{}]", x.notes.join("; ")) }
                    );
                    results.entry(mode.name()).or_default().push(x);
                }
                Err(e) => {
                    println!("{:<10} round {r}/{}: FAILED: {e}", mode.name(), opts.rounds);
                    failures.push(format!("{} round {r}", mode.name()));
                }
            }
        }
    }

    let mut max_rate: Option<Result<Round, String>> = None;
    if opts.throughput {
        println!(
            "max-rate run: --rate {MAX_RATE}, checkpoint stop {} s after Running ...",
            opts.throughput_for.as_secs_f64()
        );
        let r = round(Mode::Checkpoint, MAX_RATE, opts.throughput_for).await;
        if let Err(e) = &r {
            println!("max-rate run: FAILED: {e}");
            failures.push("max-rate run".into());
        }
        max_rate = Some(r);
    }
    println!();

    let all: Vec<&Round> = results.values().flatten().collect();
    if !results.is_empty() {
        header("stop latency");
        for &mode in &opts.modes {
            let Some(rs) = results.get(mode.name()) else {
                continue;
            };
            let t = Some(mode.target_ms());
            println!("{} stop ({} rounds)", mode.name(), rs.len());
            let col =
                |f: &dyn Fn(&Round) -> Option<f64>| rs.iter().filter_map(f).collect::<Vec<_>>();
            row(
                "controller: StopRequested → Stopped",
                &col(&|x| Some(x.stop_ms)),
                "ms",
                t,
            );
            row(
                "client: request → Stopped line on stdout",
                &col(&|x| Some(x.to_stopped_ms)),
                "ms",
                t,
            );
            row(
                "client: request → Ended frame (quiesce stop)",
                &col(&|x| x.to_ended_ms),
                "ms",
                None,
            );
            row(
                "client: request → run exited, workers reaped",
                &col(&|x| Some(x.to_exit_ms)),
                "ms",
                None,
            );
            row(
                "  of which connect + greeting",
                &col(&|x| Some(x.connect_ms)),
                "ms",
                None,
            );
            row(
                "records committed",
                &col(&|x| Some(x.committed.records as f64)),
                "",
                None,
            );
        }
        println!();
        header(&format!("start ({} runs)", all.len()));
        let col = |f: &dyn Fn(&Round) -> f64| all.iter().map(|x| f(x)).collect::<Vec<_>>();
        row(
            "bench: spawn quiesce run → Running line",
            &col(&|x| x.start_to_running_ms),
            "ms",
            Some(START_TARGET_MS),
        );
        row(
            "controller: Scheduling → Running",
            &col(&|x| x.scheduling_to_running_ms),
            "ms",
            None,
        );
        println!();
        let processes = all.first().map_or(0, |x| x.memory.processes);
        header(&format!(
            "memory just before the stop ({processes} processes)"
        ));
        row(
            "Σ VmHWM, controller + workers",
            &col(&|x| mib(x.memory.hwm_sum)),
            "MiB",
            Some(RSS_TARGET_MIB),
        );
        row(
            "Σ VmRSS, controller + workers",
            &col(&|x| mib(x.memory.rss_sum)),
            "MiB",
            None,
        );
        row(
            "VmHWM, controller",
            &col(&|x| mib(x.memory.controller_hwm)),
            "MiB",
            None,
        );
        row(
            "VmHWM, largest worker",
            &col(&|x| mib(x.memory.worker_hwm_max)),
            "MiB",
            None,
        );
        println!();
    }
    if let Some(Ok(x)) = &max_rate {
        let secs = x.ran_ms / 1000.0;
        println!("records/s at the sources' highest rate (--rate {MAX_RATE} per partition, ceiling {} records/s: max_poll_records per 10 ms read)", 2 * MAX_RATE);
        println!(
            "  {} records committed in {secs:.2} s (controller: Running → Stopped) = {:.0} records/s{}",
            x.committed.records,
            x.committed.records as f64 / secs,
            x.committed
                .read
                .map_or(String::new(), |r| format!("; sources read {r}"))
        );
        println!(
            "  its checkpoint stop: {:.0} ms controller, {:.1} ms to Stopped line, {:.1} ms to exit; ΣVmHWM {:.1} MiB (controller {:.1}, largest worker {:.1}){}",
            x.stop_ms,
            x.to_stopped_ms,
            x.to_exit_ms,
            mib(x.memory.hwm_sum),
            mib(x.memory.controller_hwm),
            mib(x.memory.worker_hwm_max),
            if x.notes.is_empty() { String::new() } else { format!(" [{}]", x.notes.join("; ")) }
        );
        println!();
    }
    println!("peers, for scale (figures on this kind of machine, not measured here):");
    println!("  Flink 1.20: stop-with-savepoint ~350 ms, drain ~370 ms, cancel ~33 ms, ~9 s to start a local cluster, ~1 GiB RSS");
    println!("  Spark Streaming: graceful stop ~1.7 s");
    println!();
    println!("load average at end: {}", load_average());
    println!("bench time: {:.1} s", began.elapsed().as_secs_f64());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("FAILED runs: {}", failures.join(", "));
        ExitCode::FAILURE
    }
}
