//! What happens to a job over a run: the records its sources read, when its input ends, the
//! stop requests and on-demand checkpoints, and how long the chaos phase lasts.

use crate::choices::Stream;
use quiesce_core::StopMode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The records the sources read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Workload {
    /// Every source task reads a batch this often.
    pub read_every_ms: u64,
    /// Records per batch; 0 is a control-plane-only run.
    pub batch: u32,
    /// When every partition ends (ms after the start), if it does.
    pub end_of_input_ms: Option<u64>,
}

impl Workload {
    /// Light by default: a batch of up to 5 records every 0.1 to 2 s per source task, none on
    /// one seed in five; on one seed in four the input ends within `chaos_ms`.
    pub fn draw(s: &mut Stream, chaos_ms: u64) -> Workload {
        let control_only = s.percent(20);
        let batch = s.range_u32(1, 5);
        let read_every_ms = s.range(100, 2_000);
        let ends = s.percent(25);
        let end_of_input_ms = s.range(1_000, chaos_ms.max(1_000));
        Workload {
            read_every_ms,
            batch: if control_only { 0 } else { batch },
            end_of_input_ms: ends.then_some(end_of_input_ms),
        }
    }
}

/// When a stop request is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAt {
    /// At a time (ms after the start).
    Time {
        /// ms after the start.
        at_ms: u64,
    },
    /// This long after the controller first enters Recovering (never, if it does not).
    Recovering {
        /// ms after entering Recovering.
        after_ms: u64,
    },
}

/// One stop request of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StopRequest {
    /// When.
    pub at: StopAt,
    /// Which mode.
    pub mode: StopMode,
}

/// What the user asks of the job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StopPlan {
    /// Stop requests during the run, stronger, weaker or equal to each other.
    pub requests: Vec<StopRequest>,
    /// The stop made once the chaos phase is over and the environment healed, if the job has
    /// not ended by then.
    pub closing: StopMode,
    /// Times (ms after the start) of on-demand checkpoint requests.
    pub checkpoints: Vec<u64>,
}

/// Every stop mode, weakest first.
const MODES: [StopMode; 4] = [
    StopMode::Checkpoint,
    StopMode::Graceful,
    StopMode::Immediate,
    StopMode::Force,
];

impl StopPlan {
    /// On half the seeds no request before the closing stop (so that the run reaches the
    /// liveness phase); on the others one of five patterns: one request, an escalation chain,
    /// a request followed by a weaker or equal one, a request while the first generation is
    /// still being scheduled, or one during the first recovery.
    pub fn draw(s: &mut Stream, chaos_ms: u64) -> StopPlan {
        let pattern = if s.percent(50) { 0 } else { s.range(1, 5) };
        let mode = |s: &mut Stream| MODES[s.range(0, 3) as usize];
        let at = |s: &mut Stream| StopAt::Time {
            at_ms: s.range(1, chaos_ms),
        };
        let requests = match pattern {
            0 => Vec::new(),
            1 => vec![StopRequest {
                at: at(s),
                mode: mode(s),
            }],
            2 => escalation(s, chaos_ms),
            3 => {
                let first = s.range(1, 3) as usize;
                let again = s.range(0, first as u64) as usize;
                let at_ms = s.range(1, chaos_ms);
                let gap_ms = s.range(0, 10_000);
                vec![
                    StopRequest {
                        at: StopAt::Time { at_ms },
                        mode: MODES[first],
                    },
                    StopRequest {
                        at: StopAt::Time {
                            at_ms: at_ms + gap_ms,
                        },
                        mode: MODES[again],
                    },
                ]
            }
            // Workers answer Ready after a few ms at the least: this lands in Scheduling.
            4 => vec![StopRequest {
                at: StopAt::Time {
                    at_ms: s.range(0, 3),
                },
                mode: mode(s),
            }],
            _ => vec![StopRequest {
                at: StopAt::Recovering {
                    after_ms: s.range(0, 2_000),
                },
                mode: mode(s),
            }],
        };
        let closing = match s.range(0, 9) {
            0..=5 => StopMode::Checkpoint,
            6 | 7 => StopMode::Graceful,
            8 => StopMode::Immediate,
            _ => StopMode::Force,
        };
        let checkpoints = (0..s.range(0, 3)).map(|_| s.range(1, chaos_ms)).collect();
        StopPlan {
            requests,
            closing,
            checkpoints,
        }
    }
}

/// Two to four requests of rising modes, each 0 to 20 s after the last, or on one chain in
/// two 0 to 50 ms after it (so that a stronger stop meets the weaker one still at work: a
/// final checkpoint takes tens of ms when nothing slows it).
fn escalation(s: &mut Stream, chaos_ms: u64) -> Vec<StopRequest> {
    let mut at_ms = s.range(1, chaos_ms);
    let mut level = s.range(0, 2) as usize;
    let quick = s.percent(50);
    let mut requests = Vec::new();
    for _ in 0..s.range(2, 4) {
        requests.push(StopRequest {
            at: StopAt::Time { at_ms },
            mode: MODES[level],
        });
        level = (level + s.range(1, 3) as usize).min(MODES.len() - 1);
        at_ms += if quick {
            s.range(0, 50)
        } else {
            s.range(0, 20_000)
        };
    }
    requests
}

/// How long each phase lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phases {
    /// Faults strike during `0..chaos_ms`; then the environment heals (but for permanent
    /// faults).
    pub chaos_ms: u64,
    /// After the chaos, the closing stop waits this long, so that a healed job can recover.
    pub settle_ms: u64,
}

impl Phases {
    /// Chaos of 5 s to 5 min (to 10 min on one seed in four), then 0 to 30 s to settle.
    pub fn draw(s: &mut Stream) -> Phases {
        let long = s.percent(25);
        let chaos_ms = if long {
            s.range(5_000, 600_000)
        } else {
            s.range(5_000, 300_000)
        };
        Phases {
            chaos_ms,
            settle_ms: s.range(0, 30_000),
        }
    }
}

impl fmt::Display for StopAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopAt::Time { at_ms } => write!(f, "at {}", crate::scenario::seconds(*at_ms)),
            StopAt::Recovering { after_ms } => {
                write!(f, "{after_ms} ms into the first recovery")
            }
        }
    }
}

impl fmt::Display for StopRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.mode, self.at)
    }
}
