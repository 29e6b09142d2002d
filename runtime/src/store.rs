//! The state directory: everything a run leaves on disk, each file written atomically (a
//! temporary file in the same directory, written, fsynced, renamed over the target, then the
//! directory fsynced), so a crash leaves either the old file or the new one, never half.
//!
//! ```text
//! STATE/
//!   run.json                        the job, configuration and source rate of the run
//!   restore.json                    where a restart resumes (or why it cannot), and how it ended
//!   control.json                    the controller's address and token (owner-only), while it runs
//!   checkpoints/e00000000012/       one completed or attempted checkpoint
//!     t0-1.snap                     a task's snapshot (postcard behind a magic and version)
//!     _metadata                     written last, once every task acked: the completeness marker
//!   sink/t2-0/e00000000012.json     a committed transaction of sink task 2/0, as offset ranges
//!   sink/t2-0/drain-g3.json         the records a graceful stop drained in generation 3
//!   final/g3-t0-1.json              where source 0/1 of generation 3 stood when it finished
//!   logs/g3-w1.log                  worker 1 of generation 3's log
//!   traces/controller.jsonl         with --record
//! ```

use quiesce_core::worker::{Partition, Record, TaskSnapshot, TransactionId};
use quiesce_core::{
    Config, Epoch, Generation, Job, OperatorId, RestorePoint, State, StopMode, TaskId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::wire::{SourceConfig, Token};

/// The version of the state directory's layout and files.
pub const STATE_FORMAT: u32 = 1;
const SNAPSHOT_MAGIC: &[u8; 8] = b"QSNAP\0\0\x01";

/// The directory holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Creates `dir` and its missing ancestors, each made durable in its parent: a file written
/// into a new directory must not vanish with the directory after a crash.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => fs::File::open(parent_of(dir))?.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_of(path);
    create_dir_durable(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}

/// Writes `value` as pretty JSON, atomically and durably.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON file, naming it in the error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// What `run.json` holds: what a restore must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// The job.
    pub job: Job,
    /// The controller's configuration.
    pub config: Config,
    /// The sources' rate.
    pub sources: SourceConfig,
}

/// How a run ended, in `restore.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// The terminal state.
    pub state: State,
    /// Why, for people.
    pub reason: String,
    /// Whether a graceful stop drained every task of `generation`: every record its sources
    /// read is then committed.
    pub drained: Option<Generation>,
}

/// What `restore.json` holds. Written before any effect that depends on it is carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFile {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// Where a restart resumes; `None` before a checkpoint completed or after a graceful stop.
    pub restore: Option<RestorePoint>,
    /// The last checkpoint every sink committed.
    pub last_committed: Option<Epoch>,
    /// The strongest stop asked of the run, if any.
    pub stop: Option<StopMode>,
    /// How the run ended, once it has.
    pub ended: Option<Ending>,
}

/// What `control.json` holds: how `quiesce stop` reaches the running controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlFile {
    /// The controller's listener.
    pub addr: std::net::SocketAddr,
    /// The run's token, hex.
    pub token: String,
    /// The controller's process id.
    pub pid: u32,
}

/// A committed transaction's records as ranges of offsets per partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedFile {
    /// The sink task.
    pub task: TaskId,
    /// The transaction.
    pub transaction: TransactionId,
    /// `(partition, first offset, offset after the last)`, in the order committed.
    pub ranges: Vec<(Partition, u64, u64)>,
}

impl CommittedFile {
    /// Folds records into ranges of consecutive offsets.
    pub fn new(task: TaskId, transaction: TransactionId, records: &[Record]) -> CommittedFile {
        let mut ranges: Vec<(Partition, u64, u64)> = Vec::new();
        for r in records {
            match ranges.last_mut() {
                Some((p, _, end)) if *p == r.partition && *end == r.offset => *end += 1,
                _ => ranges.push((r.partition, r.offset, r.offset + 1)),
            }
        }
        CommittedFile {
            task,
            transaction,
            ranges,
        }
    }
}

/// Where a finished source stood, in `final/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalPosition {
    /// The source task.
    pub task: TaskId,
    /// Its generation.
    pub generation: Generation,
    /// The offset after the last record it read.
    pub next_offset: u64,
}

/// A checkpoint's `_metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The checkpoint.
    pub epoch: Epoch,
    /// The generation that took it.
    pub generation: Generation,
}

/// The paths of one state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// Its root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether it holds anything.
    pub fn is_used(&self) -> bool {
        fs::read_dir(&self.root).is_ok_and(|mut d| d.next().is_some())
    }

    /// `run.json`.
    pub fn run_file(&self) -> PathBuf {
        self.root.join("run.json")
    }

    /// `restore.json`.
    pub fn restore_file(&self) -> PathBuf {
        self.root.join("restore.json")
    }

    /// `control.json`.
    pub fn control_file(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// A checkpoint's directory.
    pub fn checkpoint_dir(&self, epoch: Epoch) -> PathBuf {
        self.root
            .join("checkpoints")
            .join(format!("e{:011}", epoch.0))
    }

    /// A task's snapshot in a checkpoint.
    pub fn snapshot_file(&self, epoch: Epoch, task: TaskId) -> PathBuf {
        self.checkpoint_dir(epoch)
            .join(format!("t{}-{}.snap", task.operator.0, task.subtask))
    }

    /// A checkpoint's completeness marker.
    pub fn metadata_file(&self, epoch: Epoch) -> PathBuf {
        self.checkpoint_dir(epoch).join("_metadata")
    }

    /// A sink task's directory of committed transactions.
    pub fn sink_dir(&self, task: TaskId) -> PathBuf {
        self.root
            .join("sink")
            .join(format!("t{}-{}", task.operator.0, task.subtask))
    }

    /// A committed transaction's file.
    pub fn committed_file(&self, task: TaskId, transaction: TransactionId) -> PathBuf {
        let name = match transaction {
            TransactionId::Epoch(e) => format!("e{:011}.json", e.0),
            TransactionId::Drain(g) => format!("drain-g{}.json", g.0),
            other => format!("{other:?}.json"),
        };
        self.sink_dir(task).join(name)
    }

    /// Where a finished source's position is kept.
    pub fn final_file(&self, generation: Generation, task: TaskId) -> PathBuf {
        self.root.join("final").join(format!(
            "g{}-t{}-{}.json",
            generation.0, task.operator.0, task.subtask
        ))
    }

    /// A worker's log.
    pub fn log_file(&self, generation: Generation, worker: quiesce_core::WorkerId) -> PathBuf {
        self.root
            .join("logs")
            .join(format!("g{}-w{}.log", generation.0, worker.0))
    }

    /// Writes a task's snapshot durably.
    pub fn write_snapshot(
        &self,
        epoch: Epoch,
        task: TaskId,
        state: &TaskSnapshot,
    ) -> io::Result<()> {
        let mut bytes = SNAPSHOT_MAGIC.to_vec();
        bytes.extend(postcard::to_stdvec(state).map_err(io::Error::other)?);
        write_atomic(&self.snapshot_file(epoch, task), &bytes)
    }

    /// Reads a task's snapshot of a completed checkpoint.
    pub fn read_snapshot(&self, epoch: Epoch, task: TaskId) -> Result<TaskSnapshot, String> {
        let path = self.snapshot_file(epoch, task);
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let body = bytes
            .strip_prefix(SNAPSHOT_MAGIC.as_slice())
            .ok_or_else(|| format!("{}: not a snapshot of this format", path.display()))?;
        postcard::from_bytes(body).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether checkpoint `epoch` is complete: its metadata is written.
    pub fn is_complete(&self, epoch: Epoch) -> bool {
        self.metadata_file(epoch).is_file()
    }

    /// Commits a transaction: a no-op if it is already committed (the identity is the file).
    pub fn commit(
        &self,
        task: TaskId,
        transaction: TransactionId,
        records: &[Record],
    ) -> io::Result<()> {
        let path = self.committed_file(task, transaction);
        if path.exists() {
            // Committed before, perhaps by a process killed before it synced the directory.
            return fs::File::open(parent_of(&path))?.sync_all();
        }
        write_json(&path, &CommittedFile::new(task, transaction, records))
    }

    /// Deletes every checkpoint below `before`.
    pub fn cleanup(&self, before: Epoch) -> io::Result<()> {
        let dir = self.root.join("checkpoints");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let epoch = name
                .to_str()
                .and_then(|n| n.strip_prefix('e'))
                .and_then(|n| n.parse::<u64>().ok());
            if epoch.is_some_and(|e| e < before.0) {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// Every committed transaction of every sink task.
    pub fn committed(&self) -> Result<Vec<CommittedFile>, String> {
        let mut out = Vec::new();
        let root = self.root.join("sink");
        let Ok(tasks) = fs::read_dir(&root) else {
            return Ok(out);
        };
        for task in tasks {
            let task = task.map_err(|e| format!("{}: {e}", root.display()))?;
            let files =
                fs::read_dir(task.path()).map_err(|e| format!("{}: {e}", task.path().display()))?;
            for file in files {
                let path = file.map_err(|e| e.to_string())?.path();
                if path.extension().is_some_and(|x| x == "json") {
                    out.push(read_json(&path)?);
                }
            }
        }
        Ok(out)
    }

    /// Where every source of `generation` stood when it finished.
    pub fn final_positions(&self, generation: Generation) -> Result<Vec<FinalPosition>, String> {
        let dir = self.root.join("final");
        let prefix = format!("g{}-", generation.0);
        let Ok(files) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for file in files {
            let file = file.map_err(|e| e.to_string())?;
            if file
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
            {
                out.push(read_json(&file.path())?);
            }
        }
        Ok(out)
    }

    /// Reads `restore.json`.
    pub fn read_restore(&self) -> Result<RestoreFile, String> {
        read_json(&self.restore_file())
    }

    /// Reads `run.json`.
    pub fn read_run(&self) -> Result<RunFile, String> {
        read_json(&self.run_file())
    }

    /// Takes the state directory for this process alone (an exclusive lock on `.lock`, held
    /// while the returned file is open): two controllers on one directory would number their
    /// epochs and generations alike and commit into the same sink.
    pub fn lock(&self) -> Result<fs::File, String> {
        use rustix::fs::{flock, FlockOperation};
        let path = self.root.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        flock(&file, FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| format!("another quiesce run holds {}", self.root.display()))?;
        Ok(file)
    }

    /// Writes `control.json`, readable by its owner only.
    pub fn write_control(&self, addr: std::net::SocketAddr, token: &Token) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let control = ControlFile {
            addr,
            token: token.to_hex(),
            pid: std::process::id(),
        };
        let path = self.control_file();
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
        tmp.write_all(&serde_json::to_vec_pretty(&control).map_err(io::Error::other)?)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The operator id of a task, for readers that only need its index.
pub fn operator_index(op: OperatorId) -> usize {
    op.0 as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::worker::Transaction;

    fn task(o: u32, s: u32) -> TaskId {
        TaskId {
            operator: OperatorId(o),
            subtask: s,
        }
    }

    #[test]
    fn snapshots_round_trip_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path());
        let snap = TaskSnapshot::Sink {
            pending: vec![Transaction {
                epoch: Epoch(3),
                records: vec![],
            }],
        };
        s.write_snapshot(Epoch(3), task(2, 1), &snap).unwrap();
        assert_eq!(s.read_snapshot(Epoch(3), task(2, 1)).unwrap(), snap);
        fs::write(s.snapshot_file(Epoch(3), task(0, 0)), b"garbage").unwrap();
        assert!(s
            .read_snapshot(Epoch(3), task(0, 0))
            .unwrap_err()
            .contains("not a snapshot"));
        assert!(s.read_snapshot(Epoch(4), task(0, 0)).is_err());
    }

    #[test]
    fn a_commit_is_idempotent_and_records_fold_into_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path());
        let p = Partition {
            source: OperatorId(0),
            index: 1,
        };
        let rec = |offset| Record {
            partition: p,
            offset,
        };
        let records = [rec(4), rec(5), rec(6), rec(9)];
        let t = TransactionId::Epoch(Epoch(2));
        s.commit(task(2, 0), t, &records).unwrap();
        s.commit(task(2, 0), t, &[rec(100)]).unwrap();
        let committed = s.committed().unwrap();
        assert_eq!(committed.len(), 1);
        assert_eq!(committed[0].ranges, vec![(p, 4, 7), (p, 9, 10)]);
    }

    #[test]
    fn a_state_directory_is_held_by_one_run_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path());
        let held = s.lock().unwrap();
        let refused = s.lock().unwrap_err();
        assert!(refused.contains("another quiesce run holds"), "{refused}");
        drop(held);
        assert!(s.lock().is_ok());
    }

    #[test]
    fn a_write_creates_the_directories_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("c.json");
        write_json(&path, &7).unwrap();
        assert_eq!(read_json::<u32>(&path).unwrap(), 7);
        write_json(&path, &8).unwrap();
        assert_eq!(read_json::<u32>(&path).unwrap(), 8);
    }

    #[test]
    fn cleanup_deletes_only_older_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path());
        for e in 1..=4 {
            s.write_snapshot(Epoch(e), task(0, 0), &TaskSnapshot::Stateless)
                .unwrap();
        }
        s.cleanup(Epoch(3)).unwrap();
        assert!(s.read_snapshot(Epoch(2), task(0, 0)).is_err());
        assert!(s.read_snapshot(Epoch(3), task(0, 0)).is_ok());
    }
}
