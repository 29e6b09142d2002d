//! `quiesce run`: checks the flags and the state directory, builds the controller's setup —
//! fresh, or resumed from the restore point on disk — and runs it.

use crate::clock::Clock;
use crate::controller::{self, RunSetup};
use crate::events::{EventFormat, Printer};
use crate::store::{ControlFile, RestoreFile, RunFile, StateDir, STATE_FORMAT};
use crate::wire::{SourceConfig, Token};
use quiesce_core::{
    Config, ControllerSetup, Job, OperatorKind, State, StopMode, Time, WorkerConfig,
};
use std::path::PathBuf;
use std::time::Duration;

/// A stop mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A final checkpoint, then stop: resumable with `--restore`.
    Checkpoint,
    /// Sources stop, every record read drains to the sinks and is committed: not resumable.
    Graceful,
    /// Tasks stop now; resumable from the last checkpoint.
    Immediate,
    /// The workers are killed; resumable from the last checkpoint.
    Force,
}

impl From<Mode> for StopMode {
    fn from(m: Mode) -> StopMode {
        match m {
            Mode::Checkpoint => StopMode::Checkpoint,
            Mode::Graceful => StopMode::Graceful,
            Mode::Immediate => StopMode::Immediate,
            Mode::Force => StopMode::Force,
        }
    }
}

/// The flags of `quiesce run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Worker processes [default: 2, or the resumed run's].
    #[arg(long)]
    pub workers: Option<u32>,
    /// Subtasks of each operator [default: 3, or the resumed run's].
    #[arg(long)]
    pub parallelism: Option<u32>,
    /// Time between periodic checkpoints, e.g. 500ms, 10s [default: the configuration's, 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub checkpoint_interval: Option<Duration>,
    /// Ask a stop this long after every task first runs [default: run until a signal or
    /// `quiesce stop`].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub stop_after: Option<Duration>,
    /// The stop `--stop-after` asks.
    #[arg(long, value_enum, default_value_t = Mode::Checkpoint)]
    pub stop_mode: Mode,
    /// Where the run keeps its checkpoints, sink output and logs. Must be empty or absent,
    /// unless `--restore`.
    #[arg(long, default_value = "quiesce-state")]
    pub state_dir: PathBuf,
    /// Resume the job whose state is in `--state-dir` from its restore point.
    #[arg(long)]
    pub restore: bool,
    /// The controller's configuration, a JSON object of `quiesce_core::Config` fields (every
    /// field optional), e.g. {"stop_timeout_ms": 2000}.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the controller's trace (JSON Lines), to replay every decision later.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// How events are printed on stdout.
    #[arg(long, value_enum, default_value_t = EventFormat::Human)]
    pub events: EventFormat,
    /// Records per second each source partition yields [default: 100, or the resumed run's].
    #[arg(long)]
    pub rate: Option<u32>,
}

/// Why a run did not start.
#[derive(Debug)]
pub enum LaunchError {
    /// A flag, the configuration or the state directory is not usable.
    Usage(String),
    /// Something the runtime needs failed.
    Internal(String),
}

/// The job every run runs: sources, a keyed count, a two-phase-commit sink.
pub fn job(workers: u32, parallelism: u32) -> Result<Job, String> {
    Job::builder("quiesce", workers)
        .source("read", parallelism)
        .operator("count", OperatorKind::KeyedCount, parallelism)
        .sink("write", parallelism)
        .edge("read", "count")
        .edge("count", "write")
        .build()
        .map_err(|e| e.to_string())
}

fn usage(e: impl Into<String>) -> LaunchError {
    LaunchError::Usage(e.into())
}

/// Runs a job; the exit code: 0 Stopped or Finished, 1 Failed.
pub async fn run(args: RunArgs, log_args: Vec<String>) -> Result<u8, LaunchError> {
    let state = StateDir::new(&args.state_dir);
    let previous = if args.restore {
        Some(previous_run(&state)?)
    } else {
        None
    };
    if previous.is_none() && state.is_used() {
        return Err(usage(format!(
            "{} is in use by an earlier run: resume it with --restore, or choose an empty directory \
             (a fresh run there would reuse its epoch and generation numbers and lose data)",
            state.root().display()
        )));
    }
    let old = previous.as_ref().map(|(run, _)| run);
    let workers = args.workers.or(old.map(|r| r.job.workers)).unwrap_or(2);
    let parallelism = args
        .parallelism
        .or(old
            .and_then(|r| r.job.operators.first())
            .map(|o| o.parallelism))
        .unwrap_or(3);
    let job = job(workers, parallelism).map_err(usage)?;
    if let Some(old) = old.filter(|r| r.job.operators != job.operators) {
        return Err(usage(format!(
            "the state was written by a job of parallelism {}: restore it with the same parallelism",
            old.job.operators.first().map_or(0, |o| o.parallelism)
        )));
    }
    let mut config = match (&args.config, old) {
        (Some(path), _) => crate::store::read_json::<Config>(path).map_err(usage)?,
        (None, Some(old)) => old.config,
        (None, None) => Config::default(),
    };
    if let Some(every) = args.checkpoint_interval {
        config.checkpoint_interval_ms = every.as_millis() as u64;
        config.min_pause_ms = config.min_pause_ms.min(config.checkpoint_interval_ms);
    }
    config
        .validate()
        .map_err(|e| usage(format!("configuration: {e}")))?;
    let sources = SourceConfig {
        records_per_sec: args
            .rate
            .or(old.map(|r| r.sources.records_per_sec))
            .unwrap_or(100),
        read_every_ms: 10,
    };
    crate::store::create_dir_durable(state.root())
        .map_err(|e| usage(format!("{}: {e}", state.root().display())))?;
    let _lock = state.lock().map_err(usage)?;
    let run_file = RunFile {
        format: STATE_FORMAT,
        job: job.clone(),
        config,
        sources,
    };
    crate::store::write_json(&state.run_file(), &run_file)
        .map_err(|e| LaunchError::Internal(format!("writing run.json: {e}")))?;
    let token = match std::env::var("QUIESCE_TOKEN") {
        Ok(hex) => Token::from_hex(&hex).map_err(|e| usage(format!("QUIESCE_TOKEN: {e}")))?,
        Err(_) => Token::random().map_err(|e| LaunchError::Internal(format!("a token: {e}")))?,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| LaunchError::Internal(format!("binding the listener: {e}")))?;
    let restore = previous.as_ref().and_then(|(_, r)| r.restore);
    let clock = Clock::start(restore.map_or(Time(0), |r| r.created_at));
    let mut setup = ControllerSetup::new(job, config, clock.now());
    if let Some(point) = restore {
        setup = setup.with_restore(point);
    }
    let worker_config = WorkerConfig {
        heartbeat_interval_ms: (config.heartbeat_timeout_ms / 10).max(1),
        ..WorkerConfig::default()
    };
    let kill_grace_ms = (config.force_timeout_ms / 3).clamp(1, 2_000);
    let run = RunSetup {
        setup,
        worker_config,
        sources,
        state,
        last_committed: previous.as_ref().and_then(|(_, r)| r.last_committed),
        stop_after: args.stop_after.map(|d| (d, args.stop_mode.into())),
        record: args.record,
        token,
        listener,
        clock,
        log_args,
        kill_grace_ms,
    };
    let printer = Printer::new(args.events, clock.now());
    let end = controller::run(run, printer)
        .await
        .map_err(LaunchError::Internal)?;
    if end.state == State::Failed {
        eprintln!("the job failed: {}", end.reason);
        return Ok(1);
    }
    Ok(0)
}

/// The run a `--restore` resumes, refused when it cannot be resumed exactly once.
fn previous_run(state: &StateDir) -> Result<(RunFile, RestoreFile), LaunchError> {
    let root = state.root().display();
    if !state.run_file().is_file() {
        return Err(usage(format!(
            "{root} holds no run to restore (no run.json)"
        )));
    }
    if let Ok(control) = crate::store::read_json::<ControlFile>(&state.control_file()) {
        if alive(control.pid) {
            return Err(usage(format!(
                "a controller (pid {}) is running on {root}: stop it first",
                control.pid
            )));
        }
    }
    let run: RunFile = state.read_run().map_err(usage)?;
    let restore: RestoreFile = state.read_restore().map_err(usage)?;
    if restore.restore.is_none() {
        let why = match &restore.ended {
            Some(e) if e.drained.is_some() => "the job ended with a graceful stop, whose sinks committed data past its last checkpoint: resuming would repeat that data".to_string(),
            _ if restore.stop == Some(StopMode::Graceful) => "a graceful stop was sent: its sinks may have committed data past the last checkpoint, so resuming could repeat it".to_string(),
            _ => "no checkpoint had completed".to_string(),
        };
        return Err(usage(format!("{root} cannot be restored: {why}")));
    }
    Ok((run, restore))
}

fn alive(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    rustix::process::test_kill_process(pid).is_ok() && pid != rustix::process::getpid()
}
