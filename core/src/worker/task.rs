//! The state of one hosted task: its input channels, its role, its checkpoint progress.

use super::io::{Item, Partition};
use super::keyed::KeyedState;
use super::ledger::SinkState;
use super::TaskPhase;
use crate::types::{Epoch, TaskId};
use std::collections::{BTreeMap, VecDeque};

/// Whether a channel's items are being taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum ChannelState {
    Open,
    /// Its barrier for `epoch` has been taken: items behind it wait until every channel has
    /// delivered that barrier (alignment).
    Blocked {
        epoch: Epoch,
        then_stop: bool,
    },
    /// Its last item (end of stream or final barrier) has been taken.
    Ended,
}

/// One input channel of a task, from one upstream subtask.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct InputChannel {
    pub from: TaskId,
    /// Whether the upstream subtask is on the same worker.
    pub local: bool,
    pub queue: VecDeque<Item>,
    pub state: ChannelState,
    /// The `seq` the next item from a remote upstream must carry.
    pub next_seq: u64,
    /// The newest barrier received (taken or queued), or the restored checkpoint.
    pub last_barrier: Option<Epoch>,
    /// The last item has been received: nothing may follow.
    pub closed: bool,
}

impl InputChannel {
    pub fn new(from: TaskId, local: bool, restored: Option<Epoch>) -> InputChannel {
        InputChannel {
            from,
            local,
            queue: VecDeque::new(),
            state: ChannelState::Open,
            next_seq: 0,
            last_barrier: restored,
            closed: false,
        }
    }
}

/// What a task does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Role {
    Source { next_offset: u64 },
    Transform,
    Keyed(KeyedState),
    Sink(SinkState),
}

/// One hosted task.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Task {
    pub id: TaskId,
    pub role: Role,
    pub phase: TaskPhase,
    /// Sorted by upstream task.
    pub inputs: Vec<InputChannel>,
    /// The last item (end of stream or final barrier) has gone to every output channel.
    pub outputs_closed: bool,
    /// A source whose partition has ended: it reads no more, and still answers barriers.
    pub input_ended: bool,
    pub last_aligned: Option<Epoch>,
    /// Snapshots asked for and not yet answered, with their `then_stop`.
    pub pending: BTreeMap<Epoch, bool>,
    /// The highest offset received from each partition (taken or queued).
    pub high_in: BTreeMap<Partition, u64>,
}

impl Task {
    pub fn is_source(&self) -> bool {
        matches!(self.role, Role::Source { .. })
    }

    pub fn two_phase_sink(&self) -> Option<&SinkState> {
        match &self.role {
            Role::Sink(sink) if sink.two_phase_commit => Some(sink),
            _ => None,
        }
    }

    pub fn input_index(&self, from: TaskId) -> Option<usize> {
        self.inputs.binary_search_by(|c| c.from.cmp(&from)).ok()
    }

    /// The next item of the first open channel that has one.
    ///
    /// `skip_alignment` re-introduces the bug of taking records behind a barrier before the
    /// alignment completes (see the `mutants` feature).
    pub fn next_item(&mut self, skip_alignment: bool) -> Option<(usize, Item)> {
        if self.phase.is_over() {
            return None;
        }
        self.inputs.iter_mut().enumerate().find_map(|(c, ch)| {
            let blocked_record = skip_alignment
                && matches!(ch.state, ChannelState::Blocked { .. })
                && matches!(ch.queue.front(), Some(Item::Record(_)));
            if ch.state == ChannelState::Open || blocked_record {
                ch.queue.pop_front().map(|item| (c, item))
            } else {
                None
            }
        })
    }

    /// The barrier being aligned: the oldest one a channel is blocked on.
    pub fn aligning(&self) -> Option<Epoch> {
        self.inputs
            .iter()
            .filter_map(|c| match c.state {
                ChannelState::Blocked { epoch, .. } => Some(epoch),
                _ => None,
            })
            .min()
    }

    pub fn all_inputs_ended(&self) -> bool {
        self.inputs.iter().all(|c| c.state == ChannelState::Ended)
    }

    /// Queues an item received on channel `c` (already checked, if it came from afar).
    pub fn receive(&mut self, c: usize, item: Item) {
        let Some(ch) = self.inputs.get_mut(c) else {
            return;
        };
        if ch.closed || ch.state == ChannelState::Ended {
            return;
        }
        match item {
            Item::Record(record) => {
                let high = self
                    .high_in
                    .entry(record.partition)
                    .or_insert(record.offset);
                *high = (*high).max(record.offset);
            }
            Item::Barrier { epoch, then_stop } => {
                ch.last_barrier = Some(epoch);
                ch.closed = then_stop;
            }
            Item::EndOfStream => ch.closed = true,
        }
        ch.queue.push_back(item);
    }

    /// Forgets everything in flight: the task has ended.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.outputs_closed = true;
        for ch in &mut self.inputs {
            ch.queue.clear();
            ch.state = ChannelState::Ended;
            ch.closed = true;
        }
        if let Role::Sink(sink) = &mut self.role {
            sink.drop_all();
        }
    }

    pub fn queued(&self) -> u64 {
        self.inputs.iter().map(|c| c.queue.len() as u64).sum()
    }
}
