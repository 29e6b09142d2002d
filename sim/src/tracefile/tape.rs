//! The tape every machine of a run records onto: the run's hash over every line, and the
//! lines' text, with the trace format's own running hash for the footer, when the run is to
//! be written out.

use super::EnvEvent;
use crate::scenario::Scenario;
use quiesce_core::controller::Controller;
use quiesce_core::trace::{
    Chain, EnvLine, Footer, Header, Line, Machine, Outcome, Step, TraceSink,
};
use quiesce_core::Time;
use serde::Serialize;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

/// A line whose machine type does not matter (header, environment, footer): their JSON, and
/// their hash, are the same whatever the machines of the trace.
type AnyLine = Line<Controller, EnvEvent>;

/// A run's trace as it is written: the header and the scenario, then each machine's lines
/// (every machine's [`Traced`](super::Traced) holds a handle, so their lines interleave in
/// the order they happen), environment lines, and the footer.
///
/// Two hashes: the run's, which a sweep keeps for every seed, and the format's [`Chain`],
/// which the footer carries, kept only with the text (a failing seed's re-run). The chain
/// walks every line's serde data byte by byte, field names included, so that it is stable
/// across builds and readable back from JSON; over every step of every seed of a sweep that
/// would cost about as much as the run itself. The run's hash is SipHash with fixed keys over
/// the same content (each step's machine, time, input, refusal and outputs; each other line's
/// own chain digest): the same in both kinds of run, so a re-run that writes a trace must
/// arrive at the sweep's hash of the seed.
#[derive(Clone, Debug)]
pub struct Tape(Arc<Mutex<Reel>>);

#[derive(Debug)]
struct Reel {
    /// The run's hash.
    hash: u64,
    /// The format's running hash of the lines, kept with the text only.
    chain: Chain,
    /// The JSON Lines so far, when kept.
    text: Option<String>,
    /// The first line that would not serialise (a line is plain data: never expected).
    error: Option<String>,
    /// Whether the footer was written: nothing may follow it.
    ended: bool,
}

impl Tape {
    /// A tape for a run of `scenario` with the known bug `mutant` (its CLI name), holding
    /// its header and scenario lines; it keeps the text if `keep_text`.
    pub fn new(scenario: &Scenario, mutant: Option<String>, keep_text: bool) -> Tape {
        let tape = Tape(Arc::new(Mutex::new(Reel {
            hash: 0,
            chain: Chain::new(),
            text: keep_text.then(String::new),
            error: None,
            ended: false,
        })));
        tape.push(&AnyLine::Header(Header::current()));
        let scenario = Box::new(scenario.clone());
        tape.env(Time(0), EnvEvent::Scenario { mutant, scenario });
        tape
    }

    /// Writes an environment line.
    pub fn env(&self, at: Time, event: EnvEvent) {
        self.push(&AnyLine::Env(EnvLine { at, event }));
    }

    /// The run's hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.reel().hash
    }

    /// The format's running hash of every line so far (the one a footer carries), if this
    /// tape keeps the text.
    pub fn chain(&self) -> Option<Chain> {
        let reel = self.reel();
        reel.text.is_some().then_some(reel.chain)
    }

    /// Ends the trace with its footer; the text of the whole trace, if kept.
    pub fn finish(&self, outcome: Outcome) -> Result<Option<String>, String> {
        let chain = self.reel().chain;
        self.push(&AnyLine::Footer(Footer {
            outcome,
            lines: chain.lines(),
            hash: chain.digest(),
        }));
        let mut reel = self.reel();
        reel.ended = true;
        match reel.error.take() {
            Some(e) => Err(e),
            None => Ok(reel.text.take()),
        }
    }

    /// Whether the tape keeps the text (and the footer's hash).
    pub fn keeps_text(&self) -> bool {
        self.reel().text.is_some()
    }

    fn reel(&self) -> MutexGuard<'_, Reel> {
        // One thread writes a run's tape; a poisoned lock means a panic ended the run, and
        // what was written before it is still worth reading.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line the run's hash takes by its own chain digest (a header, an environment line,
    /// a footer, a machine's setup: a few per run).
    pub(super) fn push<L: Serialize>(&self, line: &L) {
        let mut one = Chain::new();
        one.push(line);
        self.write(line, one.digest().0);
    }

    /// A hasher that has taken the run's hash so far: a step hashed piece by piece, then
    /// [`Tape::set_hash`].
    pub(super) fn hasher(&self) -> DefaultHasher {
        let mut h = DefaultHasher::new();
        self.reel().hash.hash(&mut h);
        h
    }

    pub(super) fn set_hash(&self, hash: u64) {
        let mut reel = self.reel();
        if !reel.ended {
            reel.hash = hash;
        }
    }

    /// Chains `content` (what identifies `line`) into the run's hash; with the text kept,
    /// also `line` itself into the format's chain and the text.
    fn write<L: Serialize>(&self, line: &L, content: impl Hash) {
        let mut reel = self.reel();
        if reel.ended {
            return;
        }
        let mut h = DefaultHasher::new();
        (reel.hash, content).hash(&mut h);
        reel.hash = h.finish();
        if reel.text.is_none() {
            return;
        }
        reel.chain.push(line);
        let Some(text) = reel.text.as_mut() else {
            return;
        };
        match serde_json::to_string(line) {
            Ok(json) => {
                text.push_str(&json);
                text.push('\n');
            }
            Err(e) => {
                reel.error.get_or_insert(e.to_string());
            }
        }
    }
}

impl<M: Machine> TraceSink<M, EnvEvent> for Tape
where
    M::Input: Hash,
    M::Output: Hash,
    M::Rejected: Hash,
{
    fn line(&mut self, line: &Line<M, EnvEvent>) {
        let Line::Step(s) = line else {
            return self.push(line);
        };
        let (at, input) = match &s.step {
            Step::Input { at, input } => (*at, Some(input)),
            Step::Timeout { at } => (*at, None),
            _ => return self.push(line),
        };
        // The same content, in the same order, as `Traced::Hashed` hashes it.
        let content = (s.machine, at, input, s.rejected.as_ref(), &s.outputs[..]);
        self.write(line, content);
    }
}
