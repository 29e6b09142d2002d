//! Shared helpers of the end-to-end tests: a [`Fixture`] (a fresh state directory and a
//! configuration whose every timeout is short), a [`Run`] guard around `quiesce run --events
//! json`, and one-shot commands (`verify`, `stop`, a run expected to be refused).
//!
//! Every wait has a deadline derived from the test's configuration. With
//! `QUIESCE_E2E_VERBOSE=1`, every run prints its events, its stderr and its workers' logs as it
//! ends (`cargo test … -- --nocapture`). A [`Run`] records the pid
//! of every worker its controller reports; when it is dropped it kills the controller if it
//! still runs, checks that no worker of its state directory is left alive (zombies aside), kills
//! any that is, and fails the test if there was one.
#![allow(dead_code)]

use quiesce_core::{Config, RestartStrategy};
use rustix::process::Signal;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod procs;
use procs::{alive, finish, proc_stat, wait_child, workers_of};
pub use procs::{signal, Finished, WorkerProc};

/// The `quiesce` binary under test.
#[track_caller]
pub fn quiesce_bin() -> &'static str {
    env!("CARGO_BIN_EXE_quiesce")
}

/// Added to every bound: a debug build on a small shared machine starts processes slowly.
pub const SLACK: Duration = Duration::from_secs(3);

/// How long workers may outlive their controller's end: the controller reaps them on every way
/// out, and a parent-death signal kills them when it is killed itself.
pub const WORKERS_GONE_WITHIN: Duration = Duration::from_secs(3);

/// The end-to-end tests of one binary run one at a time: each starts several processes and
/// checks time bounds, which a second test on the same two cores would blur.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The configuration the tests run with: every timeout short, so that every path ends within a
/// few seconds.
pub fn test_config() -> Config {
    Config {
        checkpoint_interval_ms: 300,
        min_pause_ms: 100,
        checkpoint_timeout_ms: 2_000,
        stop_timeout_ms: 1_000,
        force_timeout_ms: 1_000,
        force_retries: 1,
        force_retry_backoff_ms: 200,
        heartbeat_timeout_ms: 1_000,
        scheduling_timeout_ms: 5_000,
        restart_strategy: RestartStrategy::FixedDelay {
            delay_ms: 200,
            max_restarts: 3,
        },
        ..Config::default()
    }
}

/// A test's directory: the state directory (absent until the first run) and the configuration
/// file, plus the logs of every process the test starts.
pub struct Fixture {
    /// Removed at the end of a test that passes, kept for a look after one that fails.
    root: Option<tempfile::TempDir>,
    /// The state directory.
    pub state: PathBuf,
    /// The configuration every run gets.
    pub config: Config,
    config_file: PathBuf,
    processes: usize,
}

impl Fixture {
    /// A fresh directory and [`test_config`].
    pub fn new() -> Fixture {
        Fixture::with_config(test_config())
    }

    /// A fresh directory and `config`.
    pub fn with_config(config: Config) -> Fixture {
        config
            .validate()
            .expect("the test's configuration is valid");
        let root = tempfile::tempdir().expect("a temporary directory");
        let config_file = root.path().join("config.json");
        std::fs::write(&config_file, serde_json::to_vec(&config).unwrap()).unwrap();
        Fixture {
            state: root.path().join("state"),
            root: Some(root),
            config,
            config_file,
            processes: 0,
        }
    }

    /// The test's directory.
    pub fn root(&self) -> &Path {
        self.root.as_ref().expect("the directory is there").path()
    }

    /// The state directory as an argument.
    pub fn state_arg(&self) -> &str {
        self.state.to_str().expect("a UTF-8 temporary path")
    }

    /// How long a generation may take to start and run: the scheduling timeout, and slack.
    pub fn start_bound(&self) -> Duration {
        Duration::from_millis(self.config.scheduling_timeout_ms) + SLACK
    }

    /// How long a stop may take, from its request to the exit: the configuration's stop bound,
    /// and slack.
    pub fn stop_bound(&self) -> Duration {
        Duration::from_millis(self.config.stop_bound_ms()) + SLACK
    }

    /// How long a run with `--stop-after after` may take from its start to its exit.
    pub fn run_bound(&self, after: Duration) -> Duration {
        self.start_bound() + after + self.stop_bound()
    }

    fn log_path(&mut self, what: &str) -> PathBuf {
        self.processes += 1;
        self.root()
            .join(format!("{:02}-{what}.log", self.processes))
    }

    /// Starts `quiesce run` on the state directory, with the test's configuration, two workers
    /// of parallelism 2, JSON events, and `extra` flags.
    pub fn run(&mut self, extra: &[&str]) -> Run {
        self.run_with_env(extra, &[])
    }

    /// [`Fixture::run`] with extra environment variables.
    pub fn run_with_env(&mut self, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let stderr = self.log_path("run");
        let mut cmd = Command::new(quiesce_bin());
        cmd.arg("run")
            .args(["--events", "json", "--workers", "2", "--parallelism", "2"])
            .arg("--config")
            .arg(&self.config_file)
            .arg("--state-dir")
            .arg(&self.state)
            .args(extra)
            .env_remove("QUIESCE_TOKEN")
            .envs(env.iter().copied());
        Run::spawn(cmd, self.state.clone(), stderr)
    }

    /// Runs `quiesce ARGS` to its end, within `within`: its exit status and output.
    pub fn quiesce(&mut self, args: &[&str], within: Duration) -> Finished {
        let log = self.log_path(args.first().copied().unwrap_or("quiesce"));
        finish(args, &log, within)
    }

    /// `quiesce verify` on the state directory exits 0: the committed output is exactly once.
    #[track_caller]
    pub fn assert_verified(&mut self) {
        let state = self.state_arg().to_string();
        let out = self.quiesce(&["verify", "--state-dir", &state], SLACK * 10);
        assert_eq!(
            out.status.code(),
            Some(0),
            "quiesce verify --state-dir {state} exited {:?}: exactly-once does not hold, or it \
             could not be checked\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }

    /// A run on the state directory that must be refused before it starts (exit 2); its stderr.
    #[track_caller]
    pub fn assert_run_refused(&mut self, extra: &[&str]) -> String {
        let state = self.state_arg().to_string();
        let config = self.config_file.to_str().unwrap().to_string();
        let mut args = vec![
            "run",
            "--events",
            "json",
            "--config",
            &config,
            "--state-dir",
            &state,
        ];
        args.extend_from_slice(extra);
        let out = self.quiesce(&args, self.start_bound());
        assert_eq!(
            out.status.code(),
            Some(2),
            "quiesce {} should be refused with exit 2\n--- stdout\n{}\n--- stderr\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        assert!(
            out.stdout.trim().is_empty(),
            "a refused run printed events: {}",
            out.stdout
        );
        out.stderr
    }

    /// `quiesce stop --mode MODE` on the state directory, which waits until the job has ended:
    /// its exit status and output.
    #[track_caller]
    pub fn stop(&mut self, mode: &str) -> Finished {
        let state = self.state_arg().to_string();
        let within = self.stop_bound() + SLACK;
        self.quiesce(&["stop", "--mode", mode, "--state-dir", &state], within)
    }

    /// A checkpoint stop after `after`, a restore of it and a second one: both end Stopped at
    /// their final checkpoint.
    #[track_caller]
    pub fn restore_and_checkpoint_stop(&mut self, after: &str) -> Vec<Value> {
        let mut run = self.run(&["--restore", "--stop-after", after]);
        let status = run.wait_exit(self.run_bound(humantime::parse_duration(after).unwrap()));
        assert!(status.success(), "the restored run exited {status:?}");
        run.assert_stopped_at_final_checkpoint();
        run.events().to_vec()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(root) = self.root.take() {
                eprintln!("the test's directory is kept: {}", root.keep().display());
            }
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// A running `quiesce run --events json`: its events as they come, and the workers it started.
pub struct Run {
    child: Child,
    status: Option<ExitStatus>,
    state: PathBuf,
    stderr: PathBuf,
    rx: Receiver<Value>,
    /// Every event received so far, in order.
    seen: Vec<Value>,
    /// Where [`Run::wait_event`] looks from.
    cursor: usize,
    workers: Arc<Mutex<Vec<WorkerProc>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Whether stdout has ended (every event is in `seen`).
    ended: bool,
}

impl Run {
    fn spawn(mut cmd: Command, state: PathBuf, stderr: PathBuf) -> Run {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawning quiesce run");
        let stdout = child.stdout.take().unwrap();
        let workers = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let recorded = workers.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str::<Value>(&line).unwrap_or_else(
                    |e| serde_json::json!({ "event": "NotJson", "line": line, "error": e.to_string() }),
                );
                if event["event"] == "WorkerStarted" {
                    let raw = event["pid"].as_u64().unwrap_or(0) as u32;
                    recorded.lock().unwrap().push(WorkerProc {
                        worker: event["worker"].as_u64().unwrap_or(u64::MAX),
                        generation: event["generation"].as_u64().unwrap_or(0),
                        pid: raw,
                        start: proc_stat(raw).map(|s| s.1),
                    });
                }
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            status: None,
            state,
            stderr,
            rx,
            seen: Vec::new(),
            cursor: 0,
            workers,
            reader: Some(reader),
            ended: false,
        }
    }

    /// The controller's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the controller a signal.
    pub fn signal(&self, sig: Signal) {
        assert!(self.status.is_none(), "the controller has exited already");
        signal(self.pid(), sig);
    }

    /// Every worker the controller reported starting so far.
    pub fn workers(&self) -> Vec<WorkerProc> {
        self.workers.lock().unwrap().clone()
    }

    /// The pid of worker `worker` of `generation`, as reported.
    #[track_caller]
    pub fn worker_pid(&self, worker: u64, generation: u64) -> u32 {
        self.workers()
            .iter()
            .find(|w| w.worker == worker && w.generation == generation)
            .unwrap_or_else(|| panic!("no worker {worker} of generation {generation} was started"))
            .pid
    }

    /// The generation whose workers connected last.
    #[track_caller]
    pub fn current_generation(&mut self) -> u64 {
        self.events()
            .iter()
            .filter(|e| is(e, "WorkerConnected"))
            .filter_map(|e| e["generation"].as_u64())
            .max()
            .expect("no worker has connected")
    }

    /// Whether a worker the controller started still runs.
    pub fn worker_alive(&self, w: &WorkerProc) -> bool {
        alive(w.pid, w.start)
    }

    /// Every event received so far.
    pub fn events(&mut self) -> &[Value] {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    /// The first event from the cursor on that satisfies `pred`, waiting until `within` has
    /// passed; the cursor moves past it. Fails the test, showing the events, on timeout or if
    /// the run ends first.
    #[track_caller]
    pub fn wait_event(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.seen[self.cursor..].iter().position(&pred) {
                self.cursor += i + 1;
                return self.seen[self.cursor - 1].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => self.seen.push(e),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {within:?}\n{}", self.summary())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    let status = self.child.wait().ok();
                    self.status = status;
                    panic!(
                        "the run ended ({status:?}) before {what}\n{}",
                        self.summary()
                    )
                }
            }
        }
    }

    /// The controller's listener, from its `Listening` event.
    #[track_caller]
    pub fn listening_addr(&mut self, within: Duration) -> std::net::SocketAddr {
        let e = self.first("Listening", |e| is(e, "Listening"), within);
        e["addr"].as_str().unwrap().parse().unwrap()
    }

    /// The first event ever that satisfies `pred` (waiting for it), without moving the cursor.
    #[track_caller]
    pub fn first(&mut self, what: &str, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
        let cursor = self.cursor;
        self.cursor = 0;
        let e = self.wait_event(what, pred, within);
        self.cursor = cursor.max(self.cursor);
        e
    }

    /// Waits for the controller to exit, then for the last of its events.
    #[track_caller]
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let Some(status) = wait_child(&mut self.child, within) else {
            panic!(
                "quiesce run did not exit within {within:?}\n{}",
                self.summary()
            );
        };
        self.status = Some(status);
        self.drain_to_end();
        status
    }

    /// Collects the events still in the pipe after the controller has exited.
    fn drain_to_end(&mut self) {
        if let Some(reader) = self.reader.take() {
            // Stdout closes when the controller exits (its workers' stdout is /dev/null).
            let _ = reader.join();
        }
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
        self.ended = true;
    }

    /// Asserts that the run stopped on its final checkpoint: its last transition is to
    /// Stopped, committed by the final checkpoint of a checkpoint stop.
    #[track_caller]
    pub fn assert_stopped_at_final_checkpoint(&mut self) {
        let last = self.last_transition();
        assert!(
            last["to"] == "Stopped" && last["reason"].get("FinalCheckpointCommitted").is_some(),
            "the run did not stop on its final checkpoint: {last}\n{}",
            self.summary()
        );
    }

    /// The last Transition event received.
    pub fn last_transition(&mut self) -> Value {
        self.events()
            .iter()
            .rev()
            .find(|e| is(e, "Transition"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The events, the controller's stderr and the tail of every worker log, for a failure.
    pub fn summary(&mut self) -> String {
        let mut s = String::from("--- events\n");
        for e in self.events() {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s.push_str("--- controller stderr\n");
        s.push_str(&std::fs::read_to_string(&self.stderr).unwrap_or_default());
        if let Ok(logs) = std::fs::read_dir(self.state.join("logs")) {
            let mut logs: Vec<_> = logs.flatten().map(|e| e.path()).collect();
            logs.sort();
            for log in logs {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(20)..];
                s.push_str(&format!("--- {}\n{}\n", log.display(), tail.join("\n")));
            }
        }
        s
    }

    /// The workers of this run still alive, by the controller's reports and by /proc.
    fn live_workers(&self) -> Vec<u32> {
        let mut live: Vec<u32> = self
            .workers()
            .iter()
            .filter(|w| alive(w.pid, w.start))
            .map(|w| w.pid)
            .collect();
        for p in workers_of(&self.state) {
            if !live.contains(&p) {
                live.push(p);
            }
        }
        live
    }

    /// Waits until every worker of this run is gone, up to `within`: those still alive then.
    pub fn workers_left_after(&self, within: Duration) -> Vec<u32> {
        let deadline = Instant::now() + within;
        loop {
            let live = self.live_workers();
            if live.is_empty() || Instant::now() >= deadline {
                return live;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let exited =
            self.status.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) || self.ended;
        if !exited {
            // A test that failed, or one that leaves the controller running on purpose.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Every way out of the controller ends its workers: its own shutdown, or (when it is
        // killed) their parent-death signal.
        let left = self.workers_left_after(WORKERS_GONE_WITHIN);
        for &p in &left {
            signal(p, Signal::KILL);
        }
        let verbose = std::env::var_os("QUIESCE_E2E_VERBOSE").is_some();
        let summary = if panicking || verbose || !left.is_empty() {
            self.summary()
        } else {
            String::new()
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if verbose && !panicking {
            eprintln!("{summary}");
        }
        if panicking {
            eprintln!("{summary}");
            if !left.is_empty() {
                eprintln!(
                    "workers left alive {WORKERS_GONE_WITHIN:?} after the controller ended: {left:?}"
                );
            }
        } else if !left.is_empty() {
            panic!(
                "workers left alive {WORKERS_GONE_WITHIN:?} after the controller ended: \
                 {left:?} (killed now)\n{summary}"
            );
        }
    }
}

/// Whether `e` is an event named `name`.
pub fn is(e: &Value, name: &str) -> bool {
    e["event"] == name
}

/// A transition to the state named `to` ("Running", "Recovering", "Stopped" …).
pub fn transition_to(to: &'static str) -> impl Fn(&Value) -> bool {
    move |e| is(e, "Transition") && e["to"] == to
}

/// The event's controller time.
pub fn t_ms(e: &Value) -> u64 {
    e["t_ms"].as_u64().expect("every event has t_ms")
}
