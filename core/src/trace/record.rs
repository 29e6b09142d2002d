//! Recording: a machine wrapped so that every call becomes a trace line, handed to a sink as
//! it happens.

use super::hash::Chain;
use super::line::{Footer, Header, Line, MachineId, NoEnv, Outcome, SetupLine, StepLine};
use super::{Machine, Step};
use crate::types::Time;
use serde::Serialize;
use std::collections::VecDeque;
use std::marker::PhantomData;

/// Where a [`Recorder`] puts each line, as soon as it is made: a file writer, a ring buffer of
/// recent steps, a channel, a `Vec` (for tests). A sink that can fail (a full disk) keeps its
/// error for its owner to look at: the machine's run does not depend on its trace.
pub trait TraceSink<M: Machine, E = NoEnv> {
    /// Takes one line.
    fn line(&mut self, line: &Line<M, E>);
}

/// Any closure taking a line is a sink.
impl<M: Machine, E, F: FnMut(&Line<M, E>)> TraceSink<M, E> for F {
    fn line(&mut self, line: &Line<M, E>) {
        self(line)
    }
}

/// Keeps every line in memory: for tests, and for runs short enough to hold.
impl<M: Machine, E: Clone> TraceSink<M, E> for Vec<Line<M, E>> {
    fn line(&mut self, line: &Line<M, E>) {
        self.push(line.clone())
    }
}

/// Drops every line: a run that keeps only its [`Recorder::chain`], to compare re-runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discard;

impl<M: Machine, E> TraceSink<M, E> for Discard {
    fn line(&mut self, _: &Line<M, E>) {}
}

/// A recorder that keeps its trace in memory.
pub type MemoryRecorder<M> = Recorder<M, Vec<Line<M>>>;

/// A machine that hands a line to its sink for every call made to it: the setup, then each
/// input or timeout with the refusal or outputs it produced. It keeps nothing but the machine,
/// the outputs not yet polled and a [`Chain`] of its lines, so a long run records in constant
/// memory.
///
/// Drive it exactly like the machine: call, then [`poll_output`](Recorder::poll_output) until
/// `None`, then sleep until [`poll_timeout`](Recorder::poll_timeout).
#[derive(Clone, Debug)]
pub struct Recorder<M: Machine, K, E = NoEnv> {
    machine: M,
    id: MachineId,
    sink: K,
    chain: Chain,
    /// Outputs recorded and not yet polled.
    pending: VecDeque<M::Output>,
    env: PhantomData<fn() -> E>,
}

impl<M: Machine> MemoryRecorder<M> {
    /// A recorder of a whole trace, kept in a `Vec` of lines.
    pub fn in_memory(setup: M::Setup) -> Result<MemoryRecorder<M>, M::SetupError> {
        Recorder::new(setup, Vec::new())
    }

    /// Every line so far.
    pub fn lines(&self) -> &[Line<M>] {
        &self.sink
    }
}

impl<M: Machine, K: TraceSink<M, E>, E: Serialize> Recorder<M, K, E> {
    /// Builds the machine and starts a trace of it alone: a header, then its setup line.
    pub fn new(setup: M::Setup, mut sink: K) -> Result<Recorder<M, K, E>, M::SetupError> {
        let machine = M::build(&setup)?;
        let mut chain = Chain::new();
        let header = Line::Header(Header::current());
        chain.push(&header);
        sink.line(&header);
        Ok(Recorder::start(machine, setup, sink, chain))
    }

    /// Builds the machine into a trace that its sink's owner has begun (and will end): only
    /// the setup line. A simulator interleaves its machines this way.
    pub fn join(setup: M::Setup, sink: K) -> Result<Recorder<M, K, E>, M::SetupError> {
        let machine = M::build(&setup)?;
        Ok(Recorder::start(machine, setup, sink, Chain::new()))
    }

    fn start(machine: M, setup: M::Setup, sink: K, chain: Chain) -> Recorder<M, K, E> {
        let mut r = Recorder {
            id: M::id(&setup),
            machine,
            sink,
            chain,
            pending: VecDeque::new(),
            env: PhantomData,
        };
        let outputs = r.take_outputs();
        r.emit(Line::Setup(SetupLine {
            machine: r.id,
            setup,
            outputs,
        }));
        r
    }

    /// Hands an input to the machine, and records it with its outcome.
    pub fn handle(&mut self, now: Time, input: M::Input) -> Result<(), M::Rejected> {
        let step = Step::Input {
            at: now,
            input: input.clone(),
        };
        let result = self.machine.handle(now, input);
        self.step(step, result.clone().err());
        result
    }

    /// Tells the machine the time, and records it with the outputs of the timers that fired.
    pub fn handle_timeout(&mut self, now: Time) {
        self.machine.handle_timeout(now);
        self.step(Step::Timeout { at: now }, None);
    }

    /// The next output to carry out.
    pub fn poll_output(&mut self) -> Option<M::Output> {
        self.pending.pop_front()
    }

    /// Every output not yet polled, in order.
    pub fn drain(&mut self) -> Vec<M::Output> {
        self.pending.drain(..).collect()
    }

    /// The machine's next deadline.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.machine.poll_timeout()
    }

    /// The machine, for reading its state.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The sink.
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The digest of the lines recorded so far (by [`Recorder::join`]: this machine's only).
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// Ends the trace with a footer saying how the run ended; gives the sink back.
    pub fn finish(mut self, outcome: Outcome) -> K {
        let footer = Line::Footer(Footer {
            outcome,
            lines: self.chain.lines(),
            hash: self.chain.digest(),
        });
        self.sink.line(&footer);
        self.sink
    }

    /// The machine and the sink, without a footer: for a recorder that [joined](Recorder::join)
    /// a trace, or a run cut short on purpose.
    pub fn into_parts(self) -> (M, K) {
        (self.machine, self.sink)
    }

    fn step(&mut self, step: Step<M::Input>, rejected: Option<M::Rejected>) {
        let outputs = self.take_outputs();
        self.emit(Line::Step(StepLine {
            machine: self.id,
            step,
            rejected,
            outputs,
        }));
    }

    fn take_outputs(&mut self) -> Vec<M::Output> {
        std::iter::from_fn(|| self.machine.poll_output()).collect()
    }

    /// Hands the line over, then keeps its outputs for the caller to poll.
    fn emit(&mut self, line: Line<M, E>) {
        self.chain.push(&line);
        self.sink.line(&line);
        if let Line::Setup(SetupLine { outputs, .. }) | Line::Step(StepLine { outputs, .. }) = line
        {
            self.pending.extend(outputs);
        }
    }
}
