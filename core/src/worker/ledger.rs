//! What a sink holds, and the ledger that accounts for every record that went through it.

use super::io::{Record, Transaction};
use crate::types::Epoch;

/// What a sink holds, and its ledger: every record that came in (restored with a pre-commit,
/// or taken from an input) went out exactly one way: still held, committed, written, or
/// dropped with the task.
///
/// The counters move with the records, in the same methods, so that checking the balance
/// costs the same whatever the sink holds: the check after every step reads counters, and
/// only the full check ([`SinkState::recount`]) looks at the records themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct SinkState {
    pub two_phase_commit: bool,
    /// Records since the last barrier: the open transaction.
    open: Vec<Record>,
    /// Pre-committed transactions awaiting the controller's commit, oldest first.
    sealed: Vec<Transaction>,
    /// The records in `sealed`, counted as they move.
    sealed_records: u64,
    /// Records of pre-commits restored from a checkpoint.
    restored: u64,
    /// Records taken from the input channels.
    accepted: u64,
    committed: u64,
    written: u64,
    /// Records lost with the task (an immediate stop or a failure).
    dropped: u64,
    /// A graceful stop drained the sink: it committed everything it held and finished.
    pub drained: bool,
}

impl SinkState {
    pub fn new(two_phase_commit: bool) -> SinkState {
        SinkState {
            two_phase_commit,
            ..SinkState::default()
        }
    }

    pub fn open(&self) -> &[Record] {
        &self.open
    }

    pub fn sealed(&self) -> &[Transaction] {
        &self.sealed
    }

    /// Every record the sink holds now.
    pub fn held(&self) -> u64 {
        self.open.len() as u64 + self.sealed_records
    }

    /// Takes a record from an input: into the open transaction, or, without two-phase
    /// commit, straight out (the record to write is returned).
    pub fn take(&mut self, record: Record) -> Option<Record> {
        self.accepted += 1;
        if self.two_phase_commit {
            self.open.push(record);
            None
        } else {
            self.written += 1;
            Some(record)
        }
    }

    /// Holds a restored snapshot's pre-commits (already checked), leaving out empty ones.
    pub fn restore(&mut self, pending: Vec<Transaction>) {
        self.sealed = pending
            .into_iter()
            .filter(|t| !t.records.is_empty())
            .collect();
        self.sealed_records = count(&self.sealed);
        self.restored = self.sealed_records;
    }

    /// Moves the open transaction into a pre-commit for `epoch` (if it holds anything).
    pub fn seal(&mut self, epoch: Epoch) {
        if !self.open.is_empty() {
            let records = std::mem::take(&mut self.open);
            self.sealed_records += records.len() as u64;
            self.sealed.push(Transaction { epoch, records });
        }
    }

    /// Commits every pre-commit up to `epoch`, oldest first, and hands them out.
    ///
    /// `keep` re-introduces the bug of committing them without letting go of them (see the
    /// `mutants` feature): the ledger then counts them both held and committed.
    pub fn commit_through(&mut self, epoch: Epoch, keep: bool) -> Vec<Transaction> {
        let done = if keep {
            let kept = self.sealed.iter().take_while(|t| t.epoch <= epoch);
            kept.cloned().collect()
        } else {
            let keep_from = self
                .sealed
                .iter()
                .position(|t| t.epoch > epoch)
                .unwrap_or(self.sealed.len());
            let rest = self.sealed.split_off(keep_from);
            let done = std::mem::replace(&mut self.sealed, rest);
            self.sealed_records -= count(&done);
            done
        };
        self.committed += count(&done);
        done
    }

    /// Commits everything held, for a graceful stop's drain: the pre-commits under their
    /// epochs, then the open transaction's records.
    pub fn commit_all(&mut self) -> (Vec<Transaction>, Vec<Record>) {
        self.drained = true;
        let sealed = std::mem::take(&mut self.sealed);
        let open = std::mem::take(&mut self.open);
        self.sealed_records = 0;
        self.committed += count(&sealed) + open.len() as u64;
        (sealed, open)
    }

    /// Drops the pre-commit of `epoch` as a transaction; its records go back into the open
    /// transaction, so the next pre-commit carries them.
    ///
    /// The open transaction may already hold records carried from a later aborted epoch (its
    /// abort arrived first), so the records are merged in offset order rather than put in
    /// front: each partition's records stay in the order they arrived.
    ///
    /// `lose_records` re-introduces the bug of dropping them (see the `mutants` feature).
    pub fn abort(&mut self, epoch: Epoch, lose_records: bool) {
        if let Some(pos) = self.sealed.iter().position(|t| t.epoch == epoch) {
            let mut records = self.sealed.remove(pos).records;
            self.sealed_records -= records.len() as u64;
            if lose_records {
                self.dropped += records.len() as u64;
                return;
            }
            records.append(&mut self.open);
            // Records order by (partition, offset): a partition's offsets arrive increasing.
            records.sort_unstable();
            self.open = records;
        }
    }

    /// Loses everything held.
    pub fn drop_all(&mut self) {
        self.dropped += self.held();
        self.open.clear();
        self.sealed.clear();
        self.sealed_records = 0;
    }

    /// The ledger balances: every record in is held, committed, written or dropped. Reads
    /// counters only.
    pub fn balance(&self) -> Result<(), String> {
        let in_ = self.restored + self.accepted;
        let out = self.held() + self.committed + self.written + self.dropped;
        if in_ != out {
            return Err(format!(
                "sink ledger: {in_} records in, {out} accounted for"
            ));
        }
        if !self.two_phase_commit && self.held() != 0 {
            return Err("a sink without two-phase commit holds records".into());
        }
        Ok(())
    }

    /// The full check of the records held: the pre-commits' count is the one the ledger
    /// keeps. One pass over the records.
    pub fn recount(&self) -> Result<(), String> {
        let sealed = count(&self.sealed);
        if sealed != self.sealed_records {
            return Err(format!(
                "sink ledger: {} records counted in pre-commits, {sealed} there",
                self.sealed_records
            ));
        }
        Ok(())
    }
}

fn count(transactions: &[Transaction]) -> u64 {
    transactions.iter().map(|t| t.records.len() as u64).sum()
}
