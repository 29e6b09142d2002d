//! Processes: one-shot `quiesce` commands run to their end, and the workers a run started,
//! found and checked in /proc.

use super::quiesce_bin;
use rustix::process::{kill_process, Pid, Signal};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A command that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `quiesce ARGS` with its output in `log`(`.out`), killed if it outlives `within`.
#[track_caller]
pub(super) fn finish(args: &[&str], log: &Path, within: Duration) -> Finished {
    let out_path = log.with_extension("out");
    let mut child = Command::new(quiesce_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawning quiesce");
    let status = match wait_child(&mut child, within) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "quiesce {} did not end within {within:?}\n--- stdout\n{}\n--- stderr\n{}",
                args.join(" "),
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(log).unwrap_or_default(),
    }
}

/// Waits for a child to exit, polling, until `within` has passed.
pub(super) fn wait_child(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process the controller started, as it reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerProc {
    /// Its slot.
    pub worker: u64,
    /// Its generation.
    pub generation: u64,
    /// Its pid.
    pub pid: u32,
    /// When it started (field 22 of /proc/PID/stat), to tell a reused pid from it.
    pub(super) start: Option<u64>,
}

/// `/proc/PID/stat`: the state letter and the start time, if the process exists.
pub(super) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is the state; field 22 the start time: index 19 after the state.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the process runs (or is stopped): it exists, is not a zombie, and is the one
/// recorded (not a reused pid).
pub(super) fn alive(pid: u32, start: Option<u64>) -> bool {
    match proc_stat(pid) {
        None => false,
        Some((state, _)) if state == 'Z' || state == 'X' => false,
        Some((_, started)) => start.is_none_or(|s| s == started),
    }
}

/// Every live `quiesce worker` process whose `--state-dir` is `state`, found in /proc: workers
/// whose start the controller had no time to report are found too.
pub(super) fn workers_of(state: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let state = state.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_worker = args.get(1) == Some(&&b"worker"[..])
            && args
                .windows(2)
                .any(|w| w[0] == b"--state-dir" && w[1] == state);
        if is_worker && alive(pid, None) {
            found.push(pid);
        }
    }
    found
}

pub(super) fn pid(raw: u32) -> Pid {
    Pid::from_raw(raw as i32).expect("a positive pid")
}

/// Sends `signal` to `raw`, ignoring a process already gone.
pub fn signal(raw: u32, signal: Signal) {
    let _ = kill_process(pid(raw), signal);
}
